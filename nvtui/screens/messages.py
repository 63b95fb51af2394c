"""Messages the screens post up to the app (messages up); the app answers by changing its state."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from nvtui.composition import Composition
    from nvtui.session import SendResult


class DeviceChosen(Message):
    def __init__(self, device: str) -> None:
        super().__init__()
        self.device = device


class RefreshDevices(Message):
    """Look for devices again."""


class Composed(Message):
    def __init__(self, composition: Composition | None) -> None:
        super().__init__()
        self.composition = composition


class OpenCommand(Message):
    """Open a catalogue command in the Compose screen (from the palette or the device details)."""

    def __init__(self, command_id: str, assignments: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.command_id = command_id
        self.assignments = dict(assignments or {})


class ShowResult(Message):
    def __init__(self, result: SendResult) -> None:
        super().__init__()
        self.result = result


class OpenScript(Message):
    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
