"""A whole telemetry log being fetched (`nvtui.telemetry`): bytes read of the log's size, as a bar."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, ProgressBar, Static


class TelemetryProgress(ModalScreen[None]):
    """The dialog over a whole-log fetch: what is read, where to, how far; Esc stops it (the file is left
    as it was)."""

    DEFAULT_CSS = """
    TelemetryProgress {
        align: center middle;
        background: $background 60%;
    }
    TelemetryProgress > Vertical {
        width: 64;
        max-width: 100%;
        height: auto;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    TelemetryProgress .title {
        text-style: bold;
    }
    TelemetryProgress #telemetry-bytes {
        margin: 1 0 0 0;
    }
    TelemetryProgress #telemetry-keys {
        margin: 1 0 0 0;
        color: $text-muted;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "stop", "Stop")]

    def __init__(self, what: str, on_stop: object) -> None:
        super().__init__()
        self.what = what
        self._on_stop = on_stop

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.what, classes="title")
            yield ProgressBar(total=None, show_eta=False, id="telemetry-bar")
            yield Static("reading the header", id="telemetry-bytes")
            yield Static("Esc stops (the file is left as it was)", id="telemetry-keys")

    def advance(self, done: int, total: int) -> None:
        self.query_one(ProgressBar).update(total=total, progress=done)
        self.query_one("#telemetry-bytes", Static).update(f"{done:,} of {total:,} bytes")

    def action_stop(self) -> None:
        if callable(self._on_stop):
            self._on_stop()
