"""Jump mode (after Posting's): every control of the Compose screen with a hint key; a digit jumps to its
control, letters narrow the list by name (`nl` leaves `nlb`), Enter jumps to the first left, Escape stays."""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

HINTS = "1234567890"


class JumpScreen(ModalScreen[str | None]):
    """Dismissed with the chosen control's id, or None."""

    DEFAULT_CSS = """
    JumpScreen {
        align: center middle;
    }
    JumpScreen > Vertical {
        width: 44;
        height: auto;
        max-height: 90%;
        border: round $accent;
        background: $surface;
        padding: 0 1;
    }
    JumpScreen #jump-typed {
        color: $text-muted;
    }
    JumpScreen #jump-list {
        height: auto;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Stay", show=False)]

    def __init__(self, targets: list[tuple[str, str]]) -> None:
        """`targets`: (name shown, control id), in the screen's order."""
        super().__init__()
        self.targets = targets
        self.typed = ""

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Jump to"
            yield Static("", id="jump-typed")
            yield Static("", id="jump-list")

    def on_mount(self) -> None:
        self._show()

    def shown(self) -> list[tuple[str, str]]:
        return [t for t in self.targets if t[0].startswith(self.typed)]

    def _show(self) -> None:
        shown = self.shown()
        lines = [f"[b $accent]{hint}[/] {name}" for hint, (name, _ident) in zip(HINTS, shown, strict=False)]
        if len(shown) > len(HINTS):  # the rest by name: the list stays short enough for 80x24
            lines.append(f"  [$text-muted]and {len(shown) - len(HINTS)} more: type a name[/]")
        self.query_one("#jump-list", Static).update("\n".join(lines) or "nothing by that name")
        typed = f"name: {self.typed}" if self.typed else "a digit, or type a name and Enter"
        self.query_one("#jump-typed", Static).update(typed)

    def on_key(self, event: events.Key) -> None:
        shown = self.shown()
        char = event.character or ""
        if char in HINTS and char and HINTS.index(char) < len(shown):
            event.stop()
            self.dismiss(shown[HINTS.index(char)][1])
        elif event.key == "enter":
            event.stop()
            self.dismiss(shown[0][1] if shown else None)
        elif event.key == "backspace":
            event.stop()
            self.typed = self.typed[:-1]
            self._show()
        elif char and (char.isalnum() or char in "-_"):
            event.stop()
            self.typed += char.lower()
            self._show()
