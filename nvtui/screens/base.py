"""What every nvtui screen shares: the top bar naming the sections, a typed handle on the app's state, the
one handler that says a failure of the screen's work, and the theme's colours by role."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, ClassVar, Concatenate, ParamSpec, TypeVar

from rich.style import Style
from textual import on
from textual.app import ComposeResult
from textual.message import Message
from textual.reactive import var
from textual.screen import Screen
from textual.widgets import Footer

from nvtui.errors import DeviceError, NvtuiError
from nvtui.screens import messages
from nvtui.widgets.topbar import TopBar

if TYPE_CHECKING:
    from textual.notifications import SeverityLevel

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


INTERNAL_ERROR_TIMEOUT = 10.0  # seconds an internal error stays on screen: long enough to copy it


@dataclass
class Failed(Message):
    """What a screen's worker tried failed. Posted by `says_failures`; `SectionScreen` says it, in one
    place, as a notification with this title, severity and timeout."""

    text: str
    title: str = ""
    severity: SeverityLevel = "error"
    timeout: float | None = None
    rescan: bool = False
    """The device may have gone (a device error): the Devices screen looks again."""


def failed(exc: Exception, title: str = "", timeout: float | None = None, *, rescan: bool = False) -> Failed:
    """The `Failed` message for `exc`: an `NvtuiError` in its own one line, anything else as an internal
    error (the app keeps running and says what broke)."""
    if isinstance(exc, NvtuiError):
        return Failed(str(exc), title, timeout=timeout, rescan=rescan and isinstance(exc, DeviceError))
    return Failed(internal_error(exc), title, timeout=INTERNAL_ERROR_TIMEOUT)


P = ParamSpec("P")
S = TypeVar("S", bound="SectionScreen")
R = TypeVar("R")


def says_failures(
    title: str = "", timeout: float | None = None, *, rescan: bool = False
) -> Callable[
    [Callable[Concatenate[S, P], Awaitable[R]]], Callable[Concatenate[S, P], Awaitable[R | None]]
]:
    """Decorates a section screen's async method (a worker's body): a failure it raises ends it and is
    posted as `Failed` (with `title`, and `timeout` for an `NvtuiError`), which the screen says; the method
    then returns None. `rescan`: a device error also has the devices looked for again."""

    def decorate(
        method: Callable[Concatenate[S, P], Awaitable[R]],
    ) -> Callable[Concatenate[S, P], Awaitable[R | None]]:
        @functools.wraps(method)
        async def run(screen: S, /, *args: P.args, **kwargs: P.kwargs) -> R | None:
            try:
                return await method(screen, *args, **kwargs)
            except Exception as exc:  # never lose the app to a failure below: say what broke
                screen.post_message(failed(exc, title, timeout, rescan=rescan))
                return None

        return run

    return decorate


def says_failures_now(
    title: str = "", timeout: float | None = None, *, rescan: bool = False
) -> Callable[[Callable[Concatenate[S, P], R]], Callable[Concatenate[S, P], R | None]]:
    """`says_failures` for a method that runs at once (in the handler that calls it, not in a worker)."""

    def decorate(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R | None]:
        @functools.wraps(method)
        def run(screen: S, /, *args: P.args, **kwargs: P.kwargs) -> R | None:
            try:
                return method(screen, *args, **kwargs)
            except Exception as exc:  # never lose the app to a failure below: say what broke
                screen.post_message(failed(exc, title, timeout, rescan=rescan))
                return None

        return run

    return decorate


Styles = Mapping[str, Style]
"""The theme's colours by role (`error`, `warning`, `success`, `accent`, `muted`), from the section's
component classes: text drawn with them follows the theme."""

ROLES = ("error", "warning", "success", "accent", "muted")


def role(styles: Styles | None, name: str, *, bold: bool = False) -> Style:
    """The style of `name` (bold on top when asked); without `styles` (before the screen has its CSS), the
    text style only."""
    base = Style(bold=True) if bold else Style()
    return base + styles[name] if styles is not None and name in styles else base


class SectionScreen(Screen[None]):
    """A top-level section: top bar above, footer below, the section's own widgets between."""

    SECTION = ""
    COMPONENT_CLASSES: ClassVar[set[str]] = {f"section--{name}" for name in ROLES}
    DEFAULT_CSS = """
    SectionScreen > .section--error { color: $error; }
    SectionScreen > .section--warning { color: $warning; }
    SectionScreen > .section--success { color: $success; }
    SectionScreen > .section--accent { color: $accent; }
    SectionScreen > .section--muted { color: $text-muted; }
    """

    SHARED: ClassVar[tuple[str, ...]] = ("device", "writable")
    """The app's state this screen mirrors (each a `var` of the screen), so its widgets `data_bind` to it."""
    device: var[str] = var("")
    """The device commands go to (the app's, mirrored)."""
    writable: var[bool] = var(False)
    """Whether destructive commands may be sent (the app's, mirrored)."""

    def on_mount(self) -> None:
        for name in self.SHARED:
            self.watch(self.app, name, partial(setattr, self, name))

    def theme_styles(self) -> Styles:
        """The theme's colours by role, as Rich styles for the `Text` this screen draws."""
        return {name: self.get_component_rich_style(f"section--{name}", partial=True) for name in ROLES}

    @property
    def nvapp(self) -> Host:
        """The app's shared state (`self.app` for what every Textual app does)."""
        from nvtui.screens.host import host

        return host(self.app)

    def compose(self) -> ComposeResult:
        yield TopBar(SECTIONS, self.SECTION).data_bind(SectionScreen.device, SectionScreen.writable)
        yield from self.compose_body()
        yield Footer()

    def compose_body(self) -> ComposeResult:
        yield from ()

    @on(Failed)
    def say_failure(self, message: Failed) -> None:
        """The one place a failure of this screen's work becomes a notification."""
        message.stop()
        self.notify(message.text, title=message.title, severity=message.severity, timeout=message.timeout)
        if message.rescan:
            self.post_message(messages.RefreshDevices())
