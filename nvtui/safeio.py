"""Reading and writing files without being redirected, and without reading more than asked.

nvtui often runs as root, so every file it writes could be turned against the machine by whoever can plant
a symlink or a file in the folder. The rules, kept here so no caller has to remember them:

- nvtui's own files (state, cache, settings) live in a `locations.private_dir`, are opened with
  `O_NOFOLLOW` and created with mode 0600 (`open_private`);
- a file is replaced whole by writing a temporary file created exclusively in the same folder (`mkstemp`:
  `O_EXCL`, mode 0600) and renaming it over the target (`write_atomic`): a rename replaces a planted symlink,
  it never follows one;
- a file the user names for output (`--data-out`) is checked before anything is sent (`OutputFile`): its
  folder exists and is writable, and the name is not a folder, a symlink or a special file; the data goes to
  a temporary file reserved beside it then, renamed into place once the command completed;
- a file the user names for input is read only up to a bound, and only if it is a regular file or a block
  device (`read_input`): `/dev/zero`, a FIFO or a terminal would never end.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from nvtui.errors import UsageError

__all__ = ["OutputFile", "TooLong", "open_private", "read_input", "read_private", "write_atomic"]

O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class TooLong(UsageError):
    """An input is longer than the bound it is read with."""


def open_private(path: Path, flags: int, mode: int = 0o600) -> int:
    """`os.open` that never follows a symlink at `path` (ELOOP) and creates with `mode` (default 0600)."""
    return os.open(path, flags | O_NOFOLLOW | O_CLOEXEC, mode)


def read_private(path: Path, limit: int) -> bytes:
    """The bytes of one of nvtui's own files: no symlink followed, a regular file only, at most `limit`
    bytes (`TooLong` past it). OSError when it cannot be opened (FileNotFoundError when absent)."""
    fd = open_private(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(f"{path} is not a regular file")
        return _read_bounded(fd, limit, str(path))
    finally:
        os.close(fd)


def _read_bounded(fd: int, limit: int, what: str) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while total <= limit:
        chunk = os.read(fd, min(1 << 20, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if total > limit:
        raise TooLong(f"{what} is longer than {limit:,} bytes")
    return b"".join(chunks)


def write_atomic(path: Path, data: bytes, *, mode: int = 0o600, durable: bool = True) -> None:
    """Replace `path` with `data` whole: a temporary file made exclusively beside it, then a rename (which
    replaces whatever is at `path`, a symlink included, without following it). `durable`: fsync the file
    and the folder, so the new content survives a crash of the machine, not only of the process."""
    import tempfile  # (imported when writing: reading a file, as every start does, needs none of it)

    folder = path.parent
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if mode != 0o600:
                os.fchmod(f.fileno(), mode)
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        dfd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | O_CLOEXEC)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def read_input(path: Path, limit: int, what: str) -> bytes:
    """A user's input file, at most `limit` bytes; UsageError (one line, naming `what`) when it cannot be
    read, is not a regular file or block device, or is longer than `limit` (then at most `limit` + 1 bytes
    were read)."""
    try:
        fd = os.open(path, os.O_RDONLY | O_CLOEXEC | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise UsageError(f"{what} {path}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        kind = _special_kind(st.st_mode)
        if kind is not None:
            raise UsageError(f"{what} {path} is {kind}, not a file: give a regular file")
        try:
            return _read_bounded(fd, limit, f"{what} {path}")
        except TooLong:
            raise TooLong(f"{what} {path} is longer than the {limit:,} bytes the command moves") from None
        except OSError as exc:
            raise UsageError(f"{what} {path}: {exc.strerror}") from None
    finally:
        os.close(fd)


def _special_kind(mode: int) -> str | None:
    """What a file is when it is neither a regular file nor a block device (whose size is bounded)."""
    if stat.S_ISREG(mode) or stat.S_ISBLK(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


class OutputFile:
    """A file the user named for output, checked and reserved before anything is sent.

    `OutputFile(path, what)` raises UsageError when the folder is missing or not writable, or the name is a
    folder, a symlink or anything but a regular file; otherwise it holds a temporary file made exclusively
    in the same folder (so the space and the permission are proven). `commit(data)` writes it and renames
    it over `path`; `discard()` removes it. Used as a context manager, leaving without `commit` discards.
    `OutputFile.check(path, what)` makes the same checks without reserving anything (a preview).
    """

    def __init__(self, path: Path, what: str = "--data-out") -> None:
        self.path = Path(path)
        self.what = what
        st = self._checked(self.path, what)
        folder = self.path.parent
        self._mode = stat.S_IMODE(st.st_mode) if st is not None else 0o644 & ~_umask()
        import tempfile

        try:
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{self.path.name}.", suffix=".part")
        except OSError as exc:
            raise UsageError(f"{what} {self.path}: cannot write in {folder}: {exc.strerror}") from None
        self._fd: int | None = fd
        self._tmp: str | None = tmp

    @staticmethod
    def _checked(path: Path, what: str) -> os.stat_result | None:
        """What is at `path` now (None: nothing), or UsageError when it may not be written."""
        try:
            st: os.stat_result | None = os.lstat(path)
        except FileNotFoundError:
            st = None
        except OSError as exc:
            raise UsageError(f"{what} {path}: {exc.strerror}") from None
        if st is not None:
            if stat.S_ISLNK(st.st_mode):
                raise UsageError(f"{what} {path} is a symbolic link; name the file it points to")
            kind = _special_kind(st.st_mode) if not stat.S_ISREG(st.st_mode) else None
            if kind is not None:
                raise UsageError(f"{what} {path} is {kind}; give a regular file to write")
        folder = path.parent
        if not folder.is_dir():
            raise UsageError(f"{what} {path}: the folder {folder} does not exist")
        return st

    @classmethod
    def check(cls, path: Path, what: str = "--data-out") -> None:
        """UsageError when `path` could not be written as an output file; nothing is created."""
        path = Path(path)
        cls._checked(path, what)
        if not os.access(path.parent, os.W_OK | os.X_OK):
            raise UsageError(f"{what} {path}: cannot write in {path.parent}: Permission denied")

    def append(self, data: bytes) -> None:
        """Write `data` to the reserved file now (a long read kept as it arrives, not in memory); `commit`
        puts the file in place. UsageError when the write fails (the file is discarded then)."""
        if self._fd is None:
            raise RuntimeError("OutputFile already committed or discarded")
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            self.discard()
            raise UsageError(f"{self.what} {self.path}: {exc.strerror}") from None

    def commit(self, data: bytes) -> None:
        """Write `data` (after anything appended) and put it in place. UsageError when that fails; once the
        data is written, a failure to put it in place (the name taken by a folder meanwhile) leaves it in the
        temporary file, named in the message: what the device returned is never lost."""
        if self._fd is None or self._tmp is None:
            raise RuntimeError("OutputFile already committed or discarded")
        fd, tmp = self._fd, self._tmp
        self._fd = self._tmp = None
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fchmod(fd, self._mode)
        except OSError as exc:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise UsageError(f"{self.what} {self.path}: {exc.strerror}") from None
        os.close(fd)
        try:
            os.replace(tmp, self.path)
        except OSError as exc:
            raise UsageError(
                f"{self.what} {self.path}: {exc.strerror}; the {len(data):,} bytes are kept in {tmp}"
            ) from None

    def discard(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._tmp)
            self._tmp = None

    def __enter__(self) -> OutputFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()


def _umask() -> int:
    """The process's umask, read without changing it (os.umask would, for a moment, for every thread)."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    return 0o022
