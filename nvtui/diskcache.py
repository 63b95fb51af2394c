"""Validated results kept on disk between runs, so a start does not re-validate what did not change.

Validating a catalogue or command script file (YAML + pydantic) costs more at start-up than everything
else nvtui does before sending a command, most of it importing pydantic and YAML and building the schemas.
What it produces depends only on the file's bytes, its path and the code that validated it, so the result
is kept under `cache_dir()` and reused while all of these are the same:

- the file's content (a SHA-256 of its bytes: any edit is seen, whatever its mtime; a `touch` alone is not
  a change),
- its path (results name their source file and lines), and what else the caller adds (decoder names),
- nvtui's version, the Python version, and the size and mtime of the modules that produced the result and
  of the libraries they use (`code_stamp`), so an upgrade or an edited checkout never reads an old result.

Entries are data only: JSON written by `nvtui.jsondata` from the result's type hints and read back as that
type, so reading the cache can never run code (a pickle could). nvtui often runs as root, so the cache
cannot be redirected either: the folder must be the user's alone (`locations.private_dir`; one owned by
someone else, or that group or others can write, is refused with one warning line and nvtui runs without
the cache), entries are written whole through a temporary file made exclusively beside them and renamed into
place (`safeio.write_atomic`: a planted symlink is replaced, never followed) and read without following a
symlink, up to `MAX_ENTRY_BYTES` (`safeio.read_private`). An entry that is unreadable, too big, not valid
JSON of the expected type, or for another key counts as absent; any other failure to read or write the
cache only loses the speed-up. At most `MAX_ENTRIES` entries of a kind are kept, the least recently used go
first.

`$NVTUI_CACHE_DIR` names the directory (`off` disables the cache); the default is
`$XDG_CACHE_HOME/nvtui` (`~/.cache/nvtui`).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import stat
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TypeVar

from nvtui import __version__
from nvtui.locations import UnsafeFolder, cache_dir, private_dir

FORMAT = 2  # of the entries; bump when their layout changes (1: pickles)
MAX_ENTRIES = 64  # per kind; the least recently used go first
MAX_ENTRY_BYTES = 64 << 20  # a bigger result is not kept (a 4 MiB catalogue's is well under)
SUFFIX = ".json"

T = TypeVar("T")

_FOLDERS: dict[Path, Path | None] = {}  # each cache folder checked once per process


def code_stamp(
    files: Iterable[str | Path], packages: Iterable[str] = ()
) -> tuple[tuple[str, str, int, int], ...]:
    """What identifies the code that shapes a cached result: (what, path, size, mtime) of each module file
    and of each package's `__init__` (found, not imported: an upgrade of pydantic or PyYAML rewrites it)."""
    paths = [("file", str(f)) for f in files]
    for name in packages:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        paths.append((name, str(spec.origin) if spec is not None and spec.origin else ""))
    out = []
    for what, path in paths:
        try:
            st = os.stat(path)
        except OSError:
            out.append((what, path, -1, -1))
        else:
            out.append((what, path, st.st_size, st.st_mtime_ns))
    return tuple(out)


def make_key(kind: str, content: bytes, *parts: object) -> str:
    """The key of a result computed from `content` and `parts` (reprs of plain values)."""
    h = hashlib.sha256()
    meta = (FORMAT, __version__, sys.version_info[:3], kind, parts)
    h.update(repr(meta).encode())
    h.update(b"\0")
    h.update(content)
    return h.hexdigest()


def folder() -> Path | None:
    """The cache folder, made sure to be the user's alone; None when the cache is off or the folder is
    refused (said once, on stderr: nvtui then runs without the cache)."""
    directory = cache_dir()
    if directory is None:
        return None
    if directory not in _FOLDERS:
        try:
            _FOLDERS[directory] = private_dir(directory, what="cache folder")
        except UnsafeFolder as exc:
            print(f"nvtui: warning: {exc}; running without the disk cache", file=sys.stderr)
            _FOLDERS[directory] = None
    return _FOLDERS[directory]


def _entry(directory: Path, kind: str, key: str) -> Path:
    return directory / f"{kind}-{key[:40]}{SUFFIX}"


def load(kind: str, key: str, expected: type[T]) -> T | None:
    """The stored result of type `expected` for `key`, or None (absent, unreadable, too big, a symlink,
    not the expected data, or for another key)."""
    import json

    from nvtui.jsondata import JsonDataError, from_json
    from nvtui.safeio import TooLong, read_private

    directory = folder()
    if directory is None:
        return None
    path = _entry(directory, kind, key)
    try:
        doc = json.loads(read_private(path, MAX_ENTRY_BYTES))
        if type(doc) is not dict or doc.get("format") != FORMAT or doc.get("key") != key:
            return None
        value = from_json(doc["value"], expected)
    except (OSError, TooLong, ValueError, KeyError, JsonDataError, RecursionError):
        return None  # absent, truncated, from an incompatible nvtui: all mean "not cached"
    with contextlib.suppress(OSError):
        os.utime(path, follow_symlinks=False)  # recently used: pruned last
    return value


def store(kind: str, key: str, value: object) -> None:
    """Keep `value` (a dataclass) under `key` (best effort: a read-only or full disk only loses the
    speed-up; a result bigger than `MAX_ENTRY_BYTES` is not kept)."""
    import json

    from nvtui.jsondata import to_json
    from nvtui.safeio import write_atomic

    directory = folder()
    if directory is None:
        return
    try:
        doc = {"format": FORMAT, "key": key, "value": to_json(value, type(value))}
        data = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError, RecursionError):
        return  # not data this cache can hold: computed again next time
    if len(data) > MAX_ENTRY_BYTES:
        return
    try:
        write_atomic(_entry(directory, kind, key), data, durable=False)
    except OSError:
        return
    _prune(directory, kind)


def _prune(directory: Path, kind: str) -> None:
    with contextlib.suppress(OSError):
        entries = []
        for p in directory.glob(f"{kind}-*"):
            with contextlib.suppress(OSError):
                st = p.lstat()
                if p.name.endswith(SUFFIX) and stat.S_ISREG(st.st_mode):
                    entries.append((st.st_mtime_ns, p))
                else:
                    p.unlink()  # a pickle of an older nvtui, or anything else: not an entry
        entries.sort()
        for _mtime, p in entries[: max(0, len(entries) - MAX_ENTRIES)]:
            with contextlib.suppress(OSError):
                p.unlink()
