"""The TUI's settings, kept between runs in `locations.settings_file()` (JSON): the theme, the command timeout
(for commands whose catalogue entry gives none) and the scripts folder.

```json
{"theme": "textual-dark", "timeout": 30, "scripts_folder": "/home/me/nvme-scripts"}
```

Read bounded (and checked by hand: a start imports no pydantic), without following a symlink
(`safeio.read_private`); a bad file is one line naming the file, the line and the field
(`settings.json:3: field timeout: ...`), and the TUI keeps its defaults. Written whole
(`safeio.write_atomic`) into the private config folder.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from nvtui.errors import UsageError
from nvtui.locations import private_dir, scripts_dir, settings_file
from nvtui.nvme.timeouts import MAX_TIMEOUT_S, MIN_TIMEOUT_S
from nvtui.safeio import TooLong, read_private, write_atomic

SETTINGS_MAX_BYTES = 64 << 10
KNOWN = ("theme", "timeout", "scripts_folder")


@dataclass(frozen=True)
class Settings:
    theme: str | None = None
    timeout: int | None = None  # seconds; None: each entry's own, else 60
    scripts_folder: str | None = None  # None: `locations.scripts_dir()`

    def scripts_path(self) -> Path:
        return Path(self.scripts_folder).expanduser() if self.scripts_folder else scripts_dir()


def load_settings(path: Path | None = None) -> Settings:
    """The settings file's values (defaults when it is absent). UsageError `FILE:LINE: ...` when it is bad."""
    path = path or settings_file()
    try:
        raw = read_private(path, SETTINGS_MAX_BYTES)
    except FileNotFoundError:
        return Settings()
    except TooLong:
        raise UsageError(f"{path}:1: longer than {SETTINGS_MAX_BYTES:,} bytes: not a settings file") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
        data = json.loads(text)
    except UnicodeDecodeError:
        raise UsageError(f"{path}:1: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}:1: the settings are a JSON object ({{\"timeout\": 30, ...}})")
    values: dict[str, object] = {}
    for key, value in data.items():
        problem = _problem(key, value)
        if problem is not None:
            line = next((i for i, text_line in enumerate(text.splitlines(), 1) if f'"{key}"' in text_line), 1)
            raise UsageError(f"{path}:{line}: field {key}: {problem}")
        values[key] = value
    return Settings(**values)  # type: ignore[arg-type]


def _problem(key: str, value: object) -> str | None:
    """What is wrong with one setting (None: nothing). Checked by hand: pydantic is not imported to start."""
    if key == "timeout":
        if value is None:
            return None
        if type(value) is not int:
            return f"a whole number of seconds, not {json.dumps(value)[:40]}"
        if not MIN_TIMEOUT_S <= value <= MAX_TIMEOUT_S:
            return f"{value} out of range {MIN_TIMEOUT_S}-{MAX_TIMEOUT_S} seconds"
        return None
    if key in ("theme", "scripts_folder"):
        if value is None:
            return None
        if not isinstance(value, str) or not value or len(value) > 4096 or not value.isprintable():
            return f"a name (a non-empty line of text), not {json.dumps(value)[:40]}"
        return None
    return f"unknown setting (known: {', '.join(KNOWN)})"


def save_settings(settings: Settings, path: Path | None = None) -> None:
    """Write the settings whole (keys left at their default are not written)."""
    path = path or settings_file()
    private_dir(path.parent, what="config folder")
    body = {k: v for k, v in asdict(settings).items() if v is not None}
    try:
        write_atomic(path, (json.dumps(body, indent=2) + "\n").encode())
    except OSError as exc:
        raise UsageError(f"cannot save the settings to {path}: {exc.strerror or exc}") from None
