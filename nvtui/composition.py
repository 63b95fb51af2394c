"""A command as the user composed it in the TUI (catalogue id, field values as typed, data buffers): what the
Compose screen holds and the Load screen repeats. Plain data, no Textual, so the session layer can use it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


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
