"""The Textual app: it only wires the section screens together and holds what they share.

State flows down (the app's reactives `device`, `writable`, `catalogue`, `controllers`, `shown_result`,
which screens watch) and events flow up (screens post the messages in `nvtui.screens.messages`).
The NVMe work happens in the session layer (`nvtui.session.Session`), which the screens ask.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.reactive import var
from textual.screen import Screen

from nvtui.device_choice import chosen_device, mark_gone
from nvtui.errors import NvtuiError
from nvtui.numbers import parse_number
from nvtui.nvme.timeouts import DEFAULT_TIMEOUT_S, MAX_TIMEOUT_S, MIN_TIMEOUT_S
from nvtui.screens import messages
from nvtui.screens.base import SECTIONS
from nvtui.screens.devices import DevicesScreen
from nvtui.screens.palette import CatalogueCommands, DeviceCommands, ScriptCommands
from nvtui.settings import Settings, load_settings, save_settings

if TYPE_CHECKING:
    from textual.theme import Theme

    from nvtui.backend.base import ControllerInfo
    from nvtui.catalogue import Catalogue
    from nvtui.composition import Composition
    from nvtui.screens.host import Host
    from nvtui.session import SendResult, Session


def _later(module: str, name: str) -> Callable[[], Screen[Any]]:
    """A section screen imported when first shown: the first frame (Devices) does not wait for the
    others' imports (forms, tables, charts, Markdown)."""

    def make() -> Screen[Any]:
        screen: Screen[Any] = getattr(import_module(f"nvtui.screens.{module}"), name)()
        return screen

    return make


class NvtuiApp(App[int]):
    TITLE = "nvtui"
    CSS_PATH = "app.tcss"
    SCREENS: ClassVar = {
        "devices": DevicesScreen,
        "compose": _later("compose", "ComposeScreen"),
        "result": _later("result", "ResultScreen"),
        "load": _later("load", "LoadScreen"),
        "scripts": _later("scripts", "ScriptsScreen"),
    }
    MODES: ClassVar = {mode: mode for mode, _key, _title in SECTIONS}
    DEFAULT_MODE = "devices"
    COMMANDS = App.COMMANDS | {CatalogueCommands, DeviceCommands, ScriptCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "help", "Help"),
        *(Binding(key, f"switch_mode('{mode}')", title, show=False) for mode, key, title in SECTIONS),
        Binding("ctrl+w", "toggle_writes", "Writes", priority=True),
        Binding("ctrl+t", "set_timeout", "Timeout", show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    device: var[str] = var("")
    """The device commands go to ("sim0n1", "ng0n1", "nvme0")."""
    writable: var[bool] = var(False)
    """False (the default): destructive commands are refused. True: each one still asks first."""
    catalogue: var[Catalogue | None] = var(None)
    controllers: var[tuple[ControllerInfo, ...]] = var(())
    shown_result: var[SendResult | None] = var(None, always_update=True)
    composition: var[Composition | None] = var(None)
    """What the Compose screen holds; the Load screen repeats it."""

    def __init__(
        self,
        device: str | None = None,
        catalogue_files: Sequence[Path] = (),
        backend: str | None = None,
        *,
        include_real_devices: bool = True,
    ) -> None:
        super().__init__()
        self.requested_device = device
        self.catalogue_files = list(catalogue_files)
        self.backend_kind = backend
        self.include_real_devices = include_real_devices
        self.session: Session | None = None
        self.settings = Settings()

    def on_mount(self) -> None:
        try:
            self.settings = load_settings()
        except NvtuiError as exc:  # a bad settings file: said in one line, the defaults kept (and not saved)
            self.notify(str(exc), title="settings", severity="warning", timeout=10)
        if self.settings.theme in self.available_themes:
            self.theme = self.settings.theme
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        if self.requested_device:
            self.device = self.requested_device
        self.load_catalogue()
        self.discover_devices()

    async def on_unmount(self) -> None:
        if self.session is not None:
            await self.session.close()

    # --- background loading -------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="catalogue")
    def load_catalogue(self) -> None:
        from nvtui.catalogue import load_catalogue
        from nvtui.session import Session

        try:
            catalogue = load_catalogue(self.catalogue_files)
        except Exception as exc:  # a broken built-in catalogue: say so, keep the app usable
            self.call_from_thread(self.notify, f"catalogue: {exc}", severity="error", timeout=10)
            return
        for error in catalogue.errors:
            self.call_from_thread(self.notify, str(error), title="catalogue", severity="warning", timeout=8)
        session = Session(catalogue, self.backend_kind)
        self.call_from_thread(self._catalogue_loaded, catalogue, session)

    def _catalogue_loaded(self, catalogue: Catalogue, session: Session) -> None:
        session.default_timeout = self.settings.timeout
        self.session = session
        self.catalogue = catalogue

    @work(thread=True, exclusive=True, group="discovery")
    def discover_devices(self) -> None:
        from nvtui.backend.discovery import list_controllers

        try:
            found = list_controllers()
        except Exception as exc:
            self.call_from_thread(self.notify, f"device discovery: {exc}", severity="error")
            return
        if not self.include_real_devices:
            found = [c for c in found if c.simulated]
        self.call_from_thread(self._devices_found, tuple(found))

    def _devices_found(self, controllers: tuple[ControllerInfo, ...]) -> None:
        controllers = mark_gone(self.controllers, controllers)
        self.device = chosen_device(self.device, controllers)
        self.controllers = controllers

    # --- messages from the screens ------------------------------------------------------------------

    @on(messages.DeviceChosen)
    def handle_device_chosen(self, message: messages.DeviceChosen) -> None:
        self.device = message.device

    @on(messages.RefreshDevices)
    def handle_refresh_devices(self) -> None:
        self.discover_devices()

    @on(messages.Composed)
    def handle_composed(self, message: messages.Composed) -> None:
        self.composition = message.composition

    @on(messages.OpenCommand)
    async def handle_open_command(self, message: messages.OpenCommand) -> None:
        from nvtui.screens.compose import ComposeScreen

        await self.switch_mode("compose")
        compose = self.get_screen("compose", ComposeScreen)
        compose.open_command(message.command_id, message.assignments)

    @on(messages.ShowResult)
    async def handle_show_result(self, message: messages.ShowResult) -> None:
        self.shown_result = message.result
        await self.switch_mode("result")

    @on(messages.OpenScript)
    async def handle_open_script(self, message: messages.OpenScript) -> None:
        from nvtui.screens.scripts import ScriptsScreen

        await self.switch_mode("scripts")
        self.get_screen("scripts", ScriptsScreen).open_script(message.path)

    # --- actions ------------------------------------------------------------------------------------

    def action_help(self) -> None:
        from nvtui.screens.modals import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def _theme_changed(self, theme: Theme) -> None:
        if theme.name != self.settings.theme:
            self.save_settings(theme=theme.name)

    def save_settings(self, **changes: object) -> None:
        """Change settings and keep them for the next run (a file that cannot be written: said, kept here)."""
        self.settings = replace(self.settings, **changes)  # type: ignore[arg-type]
        if self.session is not None:
            self.session.default_timeout = self.settings.timeout
        try:
            save_settings(self.settings)
        except NvtuiError as exc:
            self.notify(str(exc), title="settings", severity="error", timeout=10)

    @work(exclusive=True, group="settings")
    async def action_set_timeout(self) -> None:
        """Ctrl+T: the timeout for commands whose catalogue entry gives none (kept in the settings file)."""
        from nvtui.screens.modals import PathPrompt

        current = str(self.settings.timeout or DEFAULT_TIMEOUT_S)
        title = f"Command timeout, seconds ({MIN_TIMEOUT_S}-{MAX_TIMEOUT_S}; entries with their own keep it)"
        answer = await self.push_screen_wait(PathPrompt(title, current, str(DEFAULT_TIMEOUT_S)))
        if answer is None:
            return
        seconds = parse_number(answer) if len(answer) <= 12 else None
        if seconds is None or not MIN_TIMEOUT_S <= seconds <= MAX_TIMEOUT_S:
            self.notify(f"timeout {answer!r}: a whole number of seconds, {MIN_TIMEOUT_S}-{MAX_TIMEOUT_S}",
                        title="Timeout not changed", severity="error")  # fmt: skip
            return
        self.save_settings(timeout=seconds)
        self.notify(f"Commands wait up to {seconds} s (unless their catalogue entry says otherwise).")

    def action_toggle_writes(self) -> None:
        self.writable = not self.writable
        if self.writable:
            self.notify(
                "Destructive commands may now be sent; each one still asks first. Ctrl+W: read-only again.",
                title="Writes allowed",
                severity="warning",
            )
        else:
            self.notify("Destructive commands are refused.", title="Read-only")


if TYPE_CHECKING:

    def _is_a_host(app: NvtuiApp) -> Host:
        return app  # mypy checks here that the app gives the screens what they need (nvtui.screens.host)


def run_app(device: str | None, catalogue_files: list[Path], backend: str | None) -> int:
    """The bare `nvtui` command: run the TUI until the user quits."""
    app = NvtuiApp(device, catalogue_files, backend)
    app.run()
    return app.return_code or 0
