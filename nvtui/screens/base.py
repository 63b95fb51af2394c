"""What every nvtui screen shares: the top bar naming the sections, and a typed handle on the app's state."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer

from nvtui.widgets.topbar import TopBar

if TYPE_CHECKING:
    from nvtui.screens.host import Host

# (mode name, key, title): the app's sections, in the order the top bar shows them.
SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("devices", "f2", "Devices"),
    ("compose", "f3", "Compose"),
    ("result", "f4", "Result"),
    ("load", "f5", "Load"),
    ("scripts", "f6", "Scripts"),
)


def internal_error(exc: Exception) -> str:
    """One line for an unexpected failure: the app keeps running, and the message names what broke."""
    return f"internal error: {type(exc).__name__}: {exc}"


class SectionScreen(Screen[None]):
    """A top-level section: top bar above, footer below, the section's own widgets between."""

    SECTION = ""

    @property
    def nvapp(self) -> Host:
        """The app's shared state (`self.app` for what every Textual app does)."""
        from nvtui.screens.host import host

        return host(self.app)

    def compose(self) -> ComposeResult:
        yield TopBar(SECTIONS, self.SECTION)
        yield from self.compose_body()
        yield Footer()

    def compose_body(self) -> ComposeResult:
        yield from ()
