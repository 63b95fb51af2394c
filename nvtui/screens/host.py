"""What the screens need from the app, as a Protocol: its shared state (read by the screens, changed by the
app when a screen posts a message) and the settings. The app (`nvtui.app.NvtuiApp`) satisfies it, which mypy
checks there; the screens type against this and never import the app."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:
    from textual.app import App

    from nvtui.backend.base import ControllerInfo
    from nvtui.catalogue import Catalogue
    from nvtui.composition import Composition
    from nvtui.session import SendResult, Session


class Host(Protocol):
    """The app as the screens see it."""

    @property
    def device(self) -> str:
        """The device commands go to ("sim0n1", "ng0n1", "nvme0")."""

    @property
    def writable(self) -> bool:
        """False: destructive commands are refused. True: each one still asks first."""

    @property
    def catalogue(self) -> Catalogue | None: ...
    @property
    def controllers(self) -> tuple[ControllerInfo, ...]: ...
    @property
    def shown_result(self) -> SendResult | None: ...
    @property
    def composition(self) -> Composition | None:
        """What the Compose screen holds; the Load screen repeats it."""

    @property
    def session(self) -> Session | None:
        """The session commands are sent through (None while the catalogue loads)."""

    @property
    def backend_kind(self) -> str | None:
        """The backend asked for on the command line (None: the default for the device)."""


def host(app: App[Any]) -> Host:
    """The running app as a `Host` (every nvtui screen runs in one)."""
    return cast("Host", app)
