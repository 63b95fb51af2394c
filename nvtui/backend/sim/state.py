"""Where the simulated controller keeps its state, the locks that let processes share it, and what a
damaged state file is.

One folder (`state_dir()`, made and checked with `locations.private_dir`) holds, per controller:

| file | what |
| --- | --- |
| `sim0.json` | the checkpoint: everything but the blocks, replaced whole (`safeio.write_atomic`) |
| `sim0.journal` | a record per state-changing command since the checkpoint, written before it completes |
| `sim0nN.img`, `sim0nN.meta` | each allocated namespace's blocks (or values) and metadata (sparse; N 1..8) |
| `sim0.lock` | held shared by every process that has the controller open (who is first, who is last) |

Every command takes an exclusive `flock` on the folder itself (opened `O_DIRECTORY | O_NOFOLLOW`), which no
one can unlink from under it, for as long as it runs: processes share the controller command by command. Files
are opened with `O_NOFOLLOW` and created 0600 (`safeio.open_private`).

This module stays light: discovery (`sim_controllers`) reads the checkpoint through it without loading the
simulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import math
import os
import stat
import time
from pathlib import Path

from nvtui.errors import DeviceError, NvtuiError
from nvtui.locations import folder_problem, private_dir, state_dir
from nvtui.safeio import O_CLOEXEC, O_NOFOLLOW, open_private, read_private

__all__ = [
    "STATE_SCHEMA",
    "Damaged",
    "FolderLock",
    "SessionLock",
    "StateDamaged",
    "load_state",
    "read_state",
    "state_dir",
    "state_files",
]

# 1: before the journal, 2: before firmware slots, 3: before directives, FDP and reservations, 4: before
# Namespace Management (the factory namespaces 1 and 2, attached), 5: before Key Value namespaces, 6: before
# the Host Identifier and the telemetry generation (each read, and upgraded at the next checkpoint)
STATE_SCHEMA = 7
STATE_LIMIT = 64 << 20  # a checkpoint is a few hundred KiB at most: anything near this is not ours

CONTROLLER = "sim0"
STATE_FILE = f"{CONTROLLER}.json"
JOURNAL_FILE = f"{CONTROLLER}.journal"
SESSION_FILE = f"{CONTROLLER}.lock"
MAX_NSID = 8  # identity.NN: the namespace identifiers Namespace Management may allocate
NAMESPACE_FILES = tuple(f"{CONTROLLER}n{nsid}{suffix}" for nsid in (1, 2, 3) for suffix in (".img", ".meta"))
CREATED_FILES = tuple(
    f"{CONTROLLER}n{nsid}{suffix}" for nsid in range(4, MAX_NSID + 1) for suffix in (".img", ".meta")
)


def state_files() -> tuple[str, ...]:
    """The files of a new drive in the state folder (temporaries aside: see `is_temporary`)."""
    return (STATE_FILE, JOURNAL_FILE, SESSION_FILE, *NAMESPACE_FILES)


def owned_files() -> tuple[str, ...]:
    """Every file nvtui may keep in the state folder: a new drive's and those of namespaces Namespace
    Management creates (`sim0n3.img` ...)."""
    return (*state_files(), *CREATED_FILES)


def is_temporary(name: str) -> bool:
    """A temporary file of an interrupted checkpoint: `safeio.write_atomic`'s `.sim0.json.XXXX.tmp` (and the
    `sim0.json.tmp` of versions before the journal)."""
    if name == f"{STATE_FILE}.tmp":
        return True
    return name.endswith(".tmp") and any(name.startswith(f".{base}.") for base in (STATE_FILE, JOURNAL_FILE))


# --- damaged state ------------------------------------------------------------------------------------------


class Damaged(ValueError):
    """What is wrong with a state file, in a few words naming the place (`namespaces.2.zones.zones[3]`)."""


class StateDamaged(DeviceError):
    """The simulator's state cannot be trusted: refused, never replaced by an empty drive (exit 3)."""

    def __init__(self, path: Path, what: str) -> None:
        super().__init__(
            f"the simulator's state {path} is damaged: {what}; nothing was changed. To start over with an "
            f"empty drive, run `nvtui sim reset`, or move {path.parent} away to keep it"
        )


def read_state(path: Path, dir_fd: int | None = None) -> dict[str, object] | None:
    """The checkpoint as a mapping of the expected schema, None when there is none; `Damaged` otherwise.
    `dir_fd`: read it in that (locked) folder, wherever the folder is now."""
    try:
        if dir_fd is None:
            raw = read_private(path, STATE_LIMIT)
        else:
            fd = os.open(path.name, os.O_RDONLY | O_NOFOLLOW | O_CLOEXEC | os.O_NONBLOCK, dir_fd=dir_fd)
            with os.fdopen(fd, "rb") as f:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise Damaged("it is not a regular file")
                raw = f.read(STATE_LIMIT + 1)
            if len(raw) > STATE_LIMIT:
                raise Damaged(f"it is longer than {STATE_LIMIT:,} bytes")
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == getattr(os, "ELOOP", 40):
            raise Damaged("it is a symbolic link (nvtui never reads or writes through one)") from None
        raise Damaged(f"it cannot be read ({exc.strerror or exc})") from None
    except NvtuiError as exc:  # TooLong: far bigger than a checkpoint ever is
        raise Damaged(str(exc)) from None
    try:
        state = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise Damaged(f"not JSON ({str(exc)[:60]})") from None
    if not isinstance(state, dict):
        raise Damaged("not a JSON object")
    schema = state.get("schema")
    if schema not in range(1, STATE_SCHEMA + 1) or isinstance(schema, bool):
        raise Damaged(f"schema {schema!r} is not one this nvtui reads (1 to {STATE_SCHEMA})")
    return state


def load_state(path: Path) -> tuple[dict[str, object] | None, str | None]:
    """For discovery, which must not fail: (the checkpoint or None, what is wrong with it or None)."""
    try:
        return read_state(path), None
    except Damaged as exc:
        return None, str(exc)
    except Exception as exc:  # an unreadable file must not stop `nvtui list`
        return None, str(exc)[:80]


# Checks of the values read from a state file: each names the place, so the message says what is wrong where.


def need(obj: dict[str, object], key: str, where: str) -> object:
    if key not in obj:
        raise Damaged(f"{where}{key} is missing")
    return obj[key]


def as_dict(value: object, where: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise Damaged(f"{where} is not a mapping")
    return value


def as_list(value: object, where: str, limit: int | None = None) -> list[object]:
    if not isinstance(value, list):
        raise Damaged(f"{where} is not a list")
    if limit is not None and len(value) > limit:
        raise Damaged(f"{where} has {len(value)} entries, at most {limit} are possible")
    return value


def as_int(value: object, where: str, lo: int = 0, hi: int = (1 << 64) - 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise Damaged(f"{where} is not an integer ({str(value)[:20]!r})")
    if not lo <= value <= hi:
        raise Damaged(f"{where} = {value} is outside {lo}..{hi}")
    return value


def as_number(value: object, where: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
        raise Damaged(f"{where} is not a time ({str(value)[:20]!r})")
    return float(value)


def as_bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise Damaged(f"{where} is not true or false")
    return value


# --- the locks ----------------------------------------------------------------------------------------------


def _holders(st: os.stat_result) -> list[str]:
    """The processes holding a flock on the file `st` describes, from /proc/locks (Linux)."""
    found: list[str] = []
    with contextlib.suppress(OSError), open("/proc/locks", encoding="ascii", errors="replace") as f:
        for line in f:
            parts = line.split()
            # "1: FLOCK  ADVISORY  WRITE 4242 fd:01:1234 0 EOF" (blocked waiters are marked "->")
            if len(parts) < 6 or parts[1] != "FLOCK" or "->" in parts[:2]:
                continue
            dev = parts[5].split(":")
            try:
                same = int(dev[2]) == st.st_ino and int(dev[0], 16) == os.major(st.st_dev)
            except (IndexError, ValueError):
                continue
            if same and parts[4] != str(os.getpid()):
                found.append(parts[4])
    return found


class FolderLock:
    """An exclusive flock on the state folder itself, taken for each command and released after it.

    The folder is opened once (`O_DIRECTORY | O_NOFOLLOW`) and checked again through the descriptor: a
    folder swapped between `private_dir`'s check and the open is refused. Nested acquisitions in one process
    count up, so a checkpoint inside a command does not release the command's lock."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        try:
            self.fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        except OSError as exc:
            raise DeviceError(f"cannot open the simulator's folder {directory}: {exc.strerror}") from None
        st = os.fstat(self.fd)
        if st.st_uid != os.geteuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            os.close(self.fd)
            raise DeviceError(f"the simulator's folder {directory} changed while it was being opened")
        self.identity = (st.st_dev, st.st_ino)
        self.depth = 0

    def try_acquire(self) -> bool:
        if self.depth:
            self.depth += 1
            return True
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        self.depth = 1
        return True

    def acquire(self, timeout: float) -> None:
        """Wait up to `timeout` seconds (blocking the thread: opening and closing only)."""
        deadline = time.monotonic() + max(timeout, 0.0)
        while not self.try_acquire():
            if time.monotonic() >= deadline:
                raise self.busy(timeout)
            time.sleep(0.002)

    async def acquire_async(self, timeout: float) -> None:
        """Wait up to `timeout` seconds, letting the event loop run meanwhile. Returns holding the lock, with
        no await after taking it, so the caller's synchronous work is not interleaved with another task's."""
        if self.try_acquire():
            return
        deadline = time.monotonic() + max(timeout, 0.0)
        pause = 0.0005
        while True:
            await asyncio.sleep(pause)
            if self.try_acquire():
                return
            if time.monotonic() >= deadline:
                raise self.busy(timeout)
            pause = min(pause * 2, 0.01)

    def busy(self, timeout: float) -> DeviceError:
        holders = _holders(os.fstat(self.fd))
        who = f"process {', '.join(holders)}" if holders else "another process"
        return DeviceError(
            f"the simulated controller in {self.directory} has been busy in {who} for {timeout:g} s "
            "(a command that never ended, or a stopped process); end it, or point NVTUI_SIM_DIR at another "
            "folder"
        )

    def release(self) -> None:
        if self.depth == 0:
            return
        self.depth -= 1
        if self.depth == 0:
            fcntl.flock(self.fd, fcntl.LOCK_UN)

    def check_in_place(self) -> None:
        """Before writing by path: the folder at the path is still the one locked (not moved or replaced)."""
        try:
            st = os.stat(self.directory, follow_symlinks=False)
        except OSError:
            st = None
        if st is None or (st.st_dev, st.st_ino) != self.identity:
            raise DeviceError(
                f"the simulator's folder {self.directory} was moved or replaced while nvtui used it; "
                "nothing more is written there"
            )

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
            self.depth = 0


class SessionLock:
    """`sim0.lock`, held shared by every process that has the controller open, so a process knows whether
    it powers the controller on (the first) and off (the last). Taken and dropped under the `FolderLock`, so
    no two processes test it at once."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = path
        self.fd = open_named(path, os.O_RDWR | (os.O_CREAT if create else 0))

    def join(self) -> bool:
        """Hold the lock shared; True when no other process had the controller open."""
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            first = True
        except BlockingIOError:
            first = False
        fcntl.flock(self.fd, fcntl.LOCK_SH)  # never waits: exclusive holders exist only under the folder lock
        return first

    def alone(self) -> bool:
        """True when no other process has the controller open (then this one holds the lock exclusively)."""
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # Linux drops the shared lock trying
        except BlockingIOError:
            fcntl.flock(self.fd, fcntl.LOCK_SH)
            return False
        return True

    def holders(self) -> list[str]:
        return _holders(os.fstat(self.fd))

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # releases the flock
            self.fd = -1


def planted(path: Path) -> DeviceError:
    return DeviceError(
        f"{path} is a symbolic link; nvtui never writes through one (remove it, or run `nvtui sim reset`)"
    )


def open_named(path: Path, flags: int, dir_fd: int | None = None) -> int:
    """One of the simulator's own files, opened without following a symlink and created 0600; a symlink, a
    folder or a special file at the name is refused (DeviceError naming it), never written through.
    `dir_fd`: the name is opened in that (locked) folder, wherever the folder is now."""
    try:
        if dir_fd is None:
            fd = open_private(path, flags | os.O_NONBLOCK)
        else:
            fd = os.open(path.name, flags | os.O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC, 0o600, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == getattr(os, "ELOOP", 40):
            raise planted(path) from None
        raise DeviceError(f"cannot open {path}: {exc.strerror}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise DeviceError(f"{path} is not a regular file; nvtui keeps only its own files there")
    if st.st_uid != os.geteuid():
        os.close(fd)
        raise DeviceError(f"{path} belongs to uid {st.st_uid}, not to you (uid {os.geteuid()})")
    if st.st_mode & 0o077:  # made by an older nvtui (0644): a namespace image is the user's data alone
        os.fchmod(fd, 0o600)
    os.set_blocking(fd, True)
    return fd


# --- nvtui sim reset ----------------------------------------------------------------------------------------


def reset(directory: Path | None = None, *, lock_timeout: float = 2.0) -> list[str]:
    """Remove the simulator's files (and only those) from its folder, after taking its lock; refused while a
    process has the controller open. Returns the names removed. The folder itself stays."""
    directory = directory if directory is not None else state_dir()
    if not os.path.lexists(directory):
        return []
    directory = private_dir(directory, what="simulator state folder", create=False)
    lock = FolderLock(directory)
    try:
        lock.acquire(lock_timeout)
        session: SessionLock | None = None
        with contextlib.suppress(DeviceError):  # absent, or planted (a symlink): no nvtui holds it then
            session = SessionLock(directory / SESSION_FILE, create=False)
        try:
            if session is not None and not session.alone():
                who = ", ".join(session.holders()) or "another process"
                raise DeviceError(
                    f"the simulated controller in {directory} is open in process {who}: close it there first"
                )
            names = sorted(os.listdir(lock.fd))
            ours = [name for name in names if name in owned_files() or is_temporary(name)]
            for name in ours:
                if stat.S_ISDIR(os.stat(name, dir_fd=lock.fd, follow_symlinks=False).st_mode):
                    raise DeviceError(
                        f"{directory / name} is a folder, not a file nvtui made: move it away first "
                        "(nothing was removed)"
                    )
            for name in ours:
                os.unlink(name, dir_fd=lock.fd)  # a symlink is removed, never followed
            return ours
        finally:
            if session is not None:
                session.close()
    finally:
        lock.release()
        lock.close()


def folder_refusal(directory: Path) -> str | None:
    """Why discovery should say the folder cannot be used (None when it is fine or does not exist yet)."""
    if not os.path.lexists(directory):
        return None
    return folder_problem(directory)
