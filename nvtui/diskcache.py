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

Entries are pickles written atomically, in a directory only the user can read; an entry owned by anyone
else, unreadable or not matching its key counts as absent, and any failure to read or write the cache is
silent (the result is computed as if there were none). At most `MAX_ENTRIES` entries of a kind are kept,
the least recently used go first.

`$NVTUI_CACHE_DIR` names the directory (`off` disables the cache); the default is
`$XDG_CACHE_HOME/nvtui` (`~/.cache/nvtui`).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import pickle
import sys
from collections.abc import Iterable
from pathlib import Path

from nvtui import __version__
from nvtui.locations import cache_dir

FORMAT = 1  # of the entries; bump when their layout changes
MAX_ENTRIES = 64  # per kind; the least recently used go first


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
    meta = (FORMAT, __version__, sys.version_info[:3], pickle.HIGHEST_PROTOCOL, kind, parts)
    h.update(repr(meta).encode())
    h.update(b"\0")
    h.update(content)
    return h.hexdigest()


def _entry(directory: Path, kind: str, key: str) -> Path:
    return directory / f"{kind}-{key[:40]}.pickle"


def load(kind: str, key: str) -> object | None:
    """The stored result for `key`, or None (absent, unreadable, foreign, or for another key)."""
    directory = cache_dir()
    if directory is None:
        return None
    path = _entry(directory, kind, key)
    value: object
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_uid != os.getuid():
                return None  # only ever unpickle what this user wrote
            stored_key, value = pickle.load(f)
    except Exception:  # absent, truncated, from an incompatible nvtui: all mean "not cached"
        return None
    if stored_key != key:
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # recently used: pruned last
    return value


def store(kind: str, key: str, value: object) -> None:
    """Keep `value` under `key` (best effort: a read-only or full disk only loses the speed-up)."""
    directory = cache_dir()
    if directory is None:
        return
    target = _entry(directory, kind, key)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            pickle.dump((key, value), f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, target)
    except Exception:
        with contextlib.suppress(OSError):
            tmp.unlink()
        return
    _prune(directory, kind)


def _prune(directory: Path, kind: str) -> None:
    with contextlib.suppress(OSError):
        entries = []
        for p in directory.glob(f"{kind}-*.pickle"):
            with contextlib.suppress(OSError):
                entries.append((p.stat().st_mtime_ns, p))
        entries.sort()
        for _mtime, p in entries[: max(0, len(entries) - MAX_ENTRIES)]:
            with contextlib.suppress(OSError):
                p.unlink()
