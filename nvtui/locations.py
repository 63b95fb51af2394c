"""Every folder nvtui reads or writes, and every `NVTUI_*` environment variable, in one place.

| what | where (first that applies) |
| --- | --- |
| user catalogues | `$XDG_CONFIG_HOME/nvtui/commands.d/`, `~/.config/nvtui/commands.d/` |
| settings | `$XDG_CONFIG_HOME/nvtui/settings.json`, `~/.config/nvtui/settings.json` |
| command scripts | `$XDG_DATA_HOME/nvtui/scripts/`, `~/.local/share/nvtui/scripts/` |
| simulator state | `$NVTUI_SIM_DIR`, `$XDG_STATE_HOME/nvtui/sim/`, `~/.local/state/nvtui/sim/` |
| disk cache | `$NVTUI_CACHE_DIR` (`off`: none), `$XDG_CACHE_HOME/nvtui/`, `~/.cache/nvtui/` |

One rule for every variable: an `NVTUI_*` path may start with `~` and may be relative (taken from the
working directory); an `XDG_*` path that is not absolute is ignored, as the XDG base directory
specification says.

nvtui often runs as root, so a folder it writes into must be its user's alone: `private_dir` creates
missing folders with mode 0700 and refuses, with a one-line error saying why (as ssh does with `~/.ssh`), a
folder that is a symlink, is owned by someone else, or that group or others can write, and a folder whose
parents someone else could rename it out of (writable by others without the sticky bit, or owned by another
user than root).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from nvtui.errors import UsageError

__all__ = [
    "ENV_CACHE_DIR",
    "ENV_DEBUG",
    "ENV_SIM_DIR",
    "ENV_SIM_LATENCY",
    "UnsafeFolder",
    "cache_dir",
    "config_dir",
    "data_dir",
    "private_dir",
    "scripts_dir",
    "settings_file",
    "state_dir",
    "user_catalogue_dir",
]

ENV_SIM_DIR = "NVTUI_SIM_DIR"  # the simulated controller's state folder
ENV_CACHE_DIR = "NVTUI_CACHE_DIR"  # the disk cache's folder, or `off`
ENV_SIM_LATENCY = "NVTUI_SIM_LATENCY"  # the simulator's latency model (`none`, `fast`, ...)
ENV_DEBUG = "NVTUI_DEBUG"  # set: internal errors show their traceback


class UnsafeFolder(UsageError):
    """A folder nvtui would write into is not safe to write into (exit 2: nothing was written)."""


def _explicit(name: str) -> Path | None:
    """An `NVTUI_*` path: `~` expanded, relative to the working directory; None when unset or empty."""
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    return Path(os.path.abspath(os.path.expanduser(value)))


def _xdg(name: str, *default: str) -> Path:
    """An `XDG_*` base directory: its value when absolute, else `~/<default>`."""
    value = os.environ.get(name, "")
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home().joinpath(*default)


def config_dir() -> Path:
    return _xdg("XDG_CONFIG_HOME", ".config") / "nvtui"


def user_catalogue_dir() -> Path:
    """Every `*.yaml` here is a user catalogue, loaded after the built-in one."""
    return config_dir() / "commands.d"


def settings_file() -> Path:
    return config_dir() / "settings.json"


def data_dir() -> Path:
    return _xdg("XDG_DATA_HOME", ".local", "share") / "nvtui"


def scripts_dir() -> Path:
    """Where the TUI saves command scripts by default and where the palette looks for them."""
    return data_dir() / "scripts"


def state_dir() -> Path:
    """The simulated controller's state: `$NVTUI_SIM_DIR`, else `$XDG_STATE_HOME/nvtui/sim`."""
    return _explicit(ENV_SIM_DIR) or _xdg("XDG_STATE_HOME", ".local", "state") / "nvtui" / "sim"


def cache_dir() -> Path | None:
    """The disk cache of validated files, or None when `NVTUI_CACHE_DIR=off`."""
    value = os.environ.get(ENV_CACHE_DIR)
    if value is not None and value.strip().lower() in ("", "off"):
        return None
    return _explicit(ENV_CACHE_DIR) or _xdg("XDG_CACHE_HOME", ".cache") / "nvtui"


# --- safety of the folders nvtui writes into ----------------------------------------------------------------


def _owner_ok(st: os.stat_result, uid: int) -> bool:
    return st.st_uid in (uid, 0)


def folder_problem(path: Path, *, uid: int | None = None) -> str | None:
    """Why `path` (an existing folder) is not safe to write into for user `uid` (default: effective), or
    None. The folder itself must be a real directory (not a symlink), owned by the user, with no write bit
    for group or others; each parent must be owned by the user or root and either not writable by others or
    sticky (like /tmp)."""
    uid = os.geteuid() if uid is None else uid
    try:
        st = os.lstat(path)
    except OSError as exc:
        return f"cannot inspect it ({exc.strerror})"
    if stat.S_ISLNK(st.st_mode):
        return "it is a symbolic link (nvtui never writes through one)"
    if not stat.S_ISDIR(st.st_mode):
        return "it is not a folder"
    if st.st_uid != uid:
        return f"it belongs to uid {st.st_uid}, not to you (uid {uid})"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"group or others can write to it (mode {stat.S_IMODE(st.st_mode):04o}); chmod go-w {path}"
    parent = path.parent
    seen = {path}
    while parent not in seen:
        seen.add(parent)
        try:
            pst = os.stat(parent)
        except OSError as exc:
            return f"cannot inspect its parent {parent} ({exc.strerror})"
        if not _owner_ok(pst, uid):
            return f"its parent {parent} belongs to uid {pst.st_uid}, neither you nor root"
        others_write = pst.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        if others_write and not pst.st_mode & stat.S_ISVTX:
            mode = stat.S_IMODE(pst.st_mode)
            return f"its parent {parent} can be written by group or others (mode {mode:04o}), not sticky"
        parent = parent.parent
    return None


def private_dir(path: Path, *, what: str = "folder", create: bool = True) -> Path:
    """`path`, made sure to be a folder only this user can write (created 0700 when missing, with any
    missing parents). `UnsafeFolder` names the folder and why otherwise; nothing is written then."""
    path = Path(os.path.abspath(path))
    if create:
        missing: list[Path] = []
        probe = path
        while not os.path.lexists(probe) and probe != probe.parent:
            missing.append(probe)
            probe = probe.parent
        for folder in reversed(missing):
            try:
                os.mkdir(folder, 0o700)
            except FileExistsError:
                pass  # made by a racing nvtui: checked below like any existing folder
            except OSError as exc:
                raise UnsafeFolder(f"cannot create the {what} {folder}: {exc.strerror}") from None
    problem = folder_problem(path)
    if problem is not None:
        raise UnsafeFolder(f"refusing the {what} {path}: {problem}")
    return path
