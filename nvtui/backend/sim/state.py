"""Where the simulated controller keeps its state between runs, and the lock that keeps it single-owner.

One directory (`state_dir()`) holds, per controller: `sim0.json` (everything but the blocks, saved
atomically by writing `sim0.json.tmp` and renaming it), `sim0nN.img` / `sim0nN.meta` (sparse block and
metadata files) and `sim0.lock`, held with `flock(LOCK_EX)` while a process has the controller open.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from pathlib import Path

from nvtui.errors import DeviceError
from nvtui.locations import state_dir

__all__ = ["STATE_SCHEMA", "ControllerLock", "load_state", "save_state", "state_dir"]

STATE_SCHEMA = 1



class ControllerLock:
    """An exclusive flock on `<dir>/<name>.lock`; a second process waits up to `timeout` seconds, then
    gets a DeviceError naming the process that holds it."""

    def __init__(self, path: Path, timeout: float) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(self.fd, 32, 0).decode("ascii", "replace").strip() or "another process"
                    os.close(self.fd)
                    raise DeviceError(
                        f"the simulated controller in {path.parent} is in use by process {holder}; "
                        "close it there, or point NVTUI_SIM_DIR at another directory"
                    ) from None
                time.sleep(0.05)
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        if self.fd < 0:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self.fd, 0)
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = -1


def load_state(path: Path) -> tuple[dict[str, object] | None, str | None]:
    """The saved state, or (None, a one-line notice) when it is missing or unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"simulator state {path} unreadable ({exc.strerror}); starting a fresh controller"
    try:
        state = json.loads(text)
        if not isinstance(state, dict) or state.get("schema") != STATE_SCHEMA:
            raise ValueError(f"not a schema {STATE_SCHEMA} state file")
    except ValueError as exc:
        return None, f"simulator state {path} is corrupt ({str(exc)[:80]}); starting a fresh controller"
    return state, None


def save_state(path: Path, state: dict[str, object]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(state, fh, separators=(",", ":"))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
