"""The top line of every screen: the sections and their keys, the safety mode and the device in use."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget


class TopBar(Widget):
    """Sections with their keys on the left; READ-ONLY or WRITES ALLOWED and the device on the right.

    The app owns `device` and `writable`; each section screen mirrors them and binds the bar's (`data_bind`),
    so every screen shows the same state.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {"topbar--read-only", "topbar--writes-allowed"}
    DEFAULT_CSS = """
    TopBar {
        dock: top;
        height: 1;
        background: $panel;
        color: $text;
    }
    TopBar > .topbar--read-only { background: $success; color: $text; text-style: bold; }
    TopBar > .topbar--writes-allowed { background: $error; color: $text; text-style: bold; }
    """

    device: reactive[str] = reactive("")
    writable: reactive[bool] = reactive(False)

    def __init__(self, sections: tuple[tuple[str, str, str], ...], current: str) -> None:
        super().__init__()
        self.sections = sections
        self.current = current

    def render(self) -> Text:
        left = Text()
        if self.size.width >= 90:
            left.append(" nvtui ", style="bold")
        for mode, key, title in self.sections:
            label = f" {key.upper()} {title} "
            if mode == self.current:
                left.append(label, style="bold reverse")
            else:
                left.append(label, style="dim" if self.app.ansi_color else "")
        if self.writable:  # the badges in the theme's error and success colours
            badge = Text(" WRITES ALLOWED ", style=self.get_component_rich_style("topbar--writes-allowed"))
        else:
            badge = Text(" READ-ONLY ", style=self.get_component_rich_style("topbar--read-only"))
        right = Text.assemble(badge, (f" {self.device or 'no device'} ", "bold"))
        gap = max(1, self.size.width - left.cell_len - right.cell_len)
        return Text.assemble(left, " " * gap, right)
