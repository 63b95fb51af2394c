"""What reached a device: a backend wrapper that records every submitted command, the simulator's own
counters, and a checksum of a simulated namespace's blocks taken from its files, not through nvtui."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from nvtui.nvme.command import Command

IDENTIFY = 0x06
GET_LOG_PAGE = 0x02


@dataclass
class Recorder:
    """Every command any backend opened through `open_backend` was asked to submit, in order."""

    commands: list[Command] = field(default_factory=list)
    opened: list[str] = field(default_factory=list)

    def mark(self) -> int:
        return len(self.commands)

    def since(self, mark: int) -> list[Command]:
        return self.commands[mark:]

    def user_commands_since(self, mark: int) -> list[Command]:
        """Submissions other than the session's own queries: Identify Namespace (CNS 0), which it sends to
        learn the LBA format before it can check an I/O command's data length, and the namespace's command
        set (Identify CNS 3) and Commands Supported and Effects log, which tell it what an opcode changes."""
        return [c for c in self.since(mark) if not is_session_query(c)]


def is_session_query(cmd: Command) -> bool:
    identify = cmd.admin and cmd.opcode == IDENTIFY and cmd.cdw10 & 0xFF in (0, 3) and cmd.data_len == 4096
    effects = cmd.admin and cmd.opcode == GET_LOG_PAGE and cmd.cdw10 == (1023 << 16 | 0x05) and cmd.nsid == 0
    return identify or (effects and cmd.data_len == 4096)


class RecordingBackend:
    """Forwards everything to the real backend; `submit` records the command first."""

    def __init__(self, inner: Any, recorder: Recorder) -> None:
        self._inner = inner
        self._recorder = recorder

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def submit(self, cmd: Command) -> Any:
        self._recorder.commands.append(cmd)
        return await self._inner.submit(cmd)

    async def close(self) -> None:
        await self._inner.close()

    async def __aenter__(self) -> RecordingBackend:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def install_recorder(mp: pytest.MonkeyPatch) -> Recorder:
    """Route every `open_backend` the session, the CLI and the bench use through a RecordingBackend."""
    import nvtui.backend
    import nvtui.session

    recorder = Recorder()
    real_open = nvtui.backend.open_backend

    async def recording_open(device: str, kind: str | None = None, **options: object) -> Any:
        backend = await real_open(device, kind, **options)
        recorder.opened.append(device)
        return RecordingBackend(backend, recorder)

    mp.setattr(nvtui.backend, "open_backend", recording_open)
    mp.setattr(nvtui.session, "open_backend", recording_open)
    with contextlib.suppress(ImportError):
        import nvtui.bench

        if hasattr(nvtui.bench, "open_backend"):
            mp.setattr(nvtui.bench, "open_backend", recording_open)
    return recorder


@dataclass(frozen=True)
class CliRun:
    code: int
    out: str
    err: str
    raised: BaseException | None = None  # anything but SystemExit escaping main


def run_cli(argv: Sequence[str]) -> CliRun:
    """`nvtui.cli.main(argv)` in-process with stdout and stderr captured; SystemExit (argparse's exits)
    becomes the exit code, any other escaping exception is kept for the caller to fail on."""
    from nvtui.cli import main

    out, err = io.StringIO(), io.StringIO()
    raised: BaseException | None = None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        except BaseException as exc:  # the property under test is that nothing escapes
            code, raised = -1, exc
    return CliRun(code, out.getvalue(), err.getvalue(), raised)


# ---- the simulator's namespaces, read from its files -------------------------------------------------------


def sim_dir() -> Path:
    return Path(os.environ["NVTUI_SIM_DIR"])


def _file_digest(h: Any, path: Path) -> None:
    """Hash a sparse file by its data extents (a hole reads as zeros, so hashing only the data and where
    it lies is as strong as hashing all of it, and a 1 GiB image hashes in milliseconds)."""
    if not path.exists():
        h.update(b"absent")
        return
    size = path.stat().st_size
    h.update(f"size {size}".encode())
    with open(path, "rb") as f:
        fd = f.fileno()
        offset = 0
        while offset < size:
            try:
                start = os.lseek(fd, offset, os.SEEK_DATA)
            except OSError:  # ENXIO: only a hole remains
                break
            end = os.lseek(fd, start, os.SEEK_HOLE)
            f.seek(start)
            remaining = end - start
            h.update(f"@{start}".encode())
            while remaining:
                chunk = f.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                # An all-zero chunk inside a data extent equals a hole: hash it the same way.
                h.update(chunk if any(chunk) else f"zeros {len(chunk)}".encode())
                remaining -= len(chunk)
            offset = end


def namespace_checksum(*names: str) -> str:
    """sha256 over the simulated namespaces' block and metadata files and their format and zone state in
    sim0.json. The controller must be closed (nvtui saves and closes it at the end of each CLI run)."""
    h = hashlib.sha256()
    root = sim_dir()
    for name in names or ("sim0n1", "sim0n2"):
        for suffix in (".img", ".meta"):
            h.update(f"{name}{suffix}".encode())
            _file_digest(h, root / f"{name}{suffix}")
    state_file = root / "sim0.json"
    if state_file.exists():
        namespaces = json.loads(state_file.read_text()).get("namespaces") or {}
        for nsid, ns in sorted(namespaces.items()):
            h.update(f"{nsid} format {ns.get('format')} bad {ns.get('uncorrectable')}".encode())
            zones = ns["zones"]["zones"] if isinstance(ns.get("zones"), dict) else []
            for state, wp, *rest in zones:
                # Every open closes a zone the last run left open (a power cycle): not a change to the data.
                kind = "active" if state in (0x2, 0x3, 0x4) else state
                h.update(f"zone {kind} {wp} {rest}".encode())
    return h.hexdigest()


def sim_counters() -> dict[str, int]:
    """The simulator's saved counters (SMART host read/write commands and others)."""
    state_file = sim_dir() / "sim0.json"
    if not state_file.exists():
        return {}
    counters = json.loads(state_file.read_text()).get("counters", {})
    return {k: int(v) for k, v in counters.items() if k in ("host_read_commands", "host_write_commands")}
