"""Messages the screens post up to the app (messages up); the app answers by changing its state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from nvtui.session import SendResult


@dataclass(frozen=True)
class Composition:
    """A command as the user composed it: catalogue id, field values as typed, and the data buffer."""

    command_id: str
    assignments: Mapping[str, str] = field(default_factory=dict)
    data_len: int | None = None
    data_in: Path | None = None
    data_out: Path | None = None
    metadata_in: Path | None = None
    metadata_out: Path | None = None
    zero_metadata: bool = False
    no_data: bool = False

    def describe(self) -> str:
        fields = " ".join(f"{k}={v}" for k, v in self.assignments.items() if v != "")
        return f"{self.command_id} {fields}".strip()


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
