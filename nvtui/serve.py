"""`nvtui serve`: the TUI in a browser, through textual-serve (one nvtui process per browser tab).

It listens on 127.0.0.1 unless told otherwise. A non-loopback address is refused unless `--allow-remote` is
given, and even then a warning says the plain truth: whoever reaches the port drives the TUI as the user
who started it, and can send commands to every device that user can open. The TUI itself is unchanged: it
starts read-only and confirms every destructive command.
"""

from __future__ import annotations

import ipaddress
import shlex
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from nvtui.errors import UsageError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def loopback_only(host: str) -> bool:
    """Whether every address `host` names is a loopback address (127.0.0.0/8, ::1)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError as exc:
        raise UsageError(f"--host {host}: cannot resolve it ({exc.strerror or exc})") from None
    addresses = {str(info[4][0]) for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses)


def check_listen(host: str, port: int, allow_remote: bool) -> str | None:
    """None when nvtui may listen there as asked; else the warning to print (a remote address that was
    explicitly allowed). UsageError for a remote address not allowed, or a port out of range."""
    if not 1 <= port <= 65535:
        raise UsageError(f"--port {port} out of range 1-65535")
    if loopback_only(host):
        return None
    if not allow_remote:
        raise UsageError(
            f"refusing to listen on {host}: it is reachable from other machines, and whoever reaches "
            "the port "
            "can send commands to the devices; pass --allow-remote to do it anyway"
        )
    return (
        f"warning: listening on {host}:{port}, reachable from other machines: whoever reaches this "
        "port drives "
        "nvtui as this user and can send commands to every device this user can open"
    )


def tui_command(device: str | None, catalogue_files: Sequence[Path], backend: str | None) -> str:
    """The command textual-serve starts for each browser tab: this interpreter running nvtui's TUI."""
    argv = [sys.executable, "-m", "nvtui.cli"]
    if device:
        argv += ["--device", device]
    for f in catalogue_files:
        argv += ["--catalogue", str(Path(f).resolve())]
    if backend:
        argv += ["--backend", backend]
    return shlex.join(argv)


def serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    allow_remote: bool = False,
    device: str | None = None,
    catalogue_files: Sequence[Path] = (),
    backend: str | None = None,
) -> int:
    warning = check_listen(host, port, allow_remote)
    if warning:
        print(f"nvtui: {warning}", file=sys.stderr)
    try:
        from textual_serve.server import Server
    except ImportError:
        raise UsageError("textual-serve is not installed (pip install textual-serve)") from None
    shown = f"[{host}]" if ":" in host else host
    server = Server(
        tui_command(device, catalogue_files, backend),
        host=host,
        port=port,
        title="nvtui",
        public_url=f"http://{shown}:{port}",
    )
    server.serve()
    return 0
