"""A failure of a screen's work is said once, by the screens' one handler (`SectionScreen.say_failure`), as a
notification with the site's title, severity and timeout; the app keeps running. A device error while
sending also has the devices looked for again (the device may have gone)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.notifications import Notification

from nvtui.app import NvtuiApp
from nvtui.errors import DeviceError
from nvtui.screens.scripts import ScriptsScreen
from tests.pilots import until
from tests.test_app import SIZE, compose, make_app, ready, sim_env  # noqa: F401  (sim_env: autouse)
from tests.test_scripts_screen import opened
from tests.test_snapshots_scripts import TWO_DEVICES


def said(app: NvtuiApp, title: str) -> list[Notification]:
    return [n for n in app._notifications if n.title == title]


async def test_a_device_error_while_sending_is_said_as_not_sent_and_the_devices_are_rescanned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import nvtui.backend.discovery as discovery
    import nvtui.screens.compose as compose_screen

    async def unplugged(*_args: Any) -> None:
        raise DeviceError("sim0n1: No such device (the controller was removed)")

    scans = []
    real_list = discovery.list_controllers
    monkeypatch.setattr(discovery, "list_controllers", lambda: scans.append(1) or real_list())
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await compose(pilot, "identify", cns="controller")
        monkeypatch.setattr(compose_screen, "send_watched", unplugged)
        before = len(scans)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: said(app, "Not sent"), "the failure said")
        (note,) = said(app, "Not sent")
        assert note.message == "sim0n1: No such device (the controller was removed)"
        assert (note.severity, note.timeout) == ("error", 8)
        await until(pilot, lambda: len(scans) > before, "the devices looked for again")


async def test_a_bug_during_a_replay_is_said_as_an_internal_error_and_the_app_keeps_running(
    sim_env: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import nvtui.scripts

    async def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("a bug below the screen")

    monkeypatch.setattr(nvtui.scripts, "replay", broken)
    script = sim_env / "two-devices.yaml"
    script.write_text(TWO_DEVICES)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, script)
        await pilot.press("r")
        await until(pilot, lambda: said(app, "Replay stopped"), "the failure said")
        (note,) = said(app, "Replay stopped")
        assert note.message == "internal error: RuntimeError: a bug below the screen"
        assert (note.severity, note.timeout) == ("error", 10)
        assert app.is_running and app.screen is screen


async def test_a_script_that_cannot_be_read_is_said_with_its_file_and_line(sim_env: Path) -> None:  # noqa: F811
    script = sim_env / "broken.yaml"
    script.write_text("steps:\n  - command: [\n")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, script)
        await until(pilot, lambda: said(app, "Cannot open the script"), "the failure said")
        (note,) = said(app, "Cannot open the script")
        assert str(script) in note.message and ":" in note.message
        assert (note.severity, note.timeout) == ("error", 10)
        assert isinstance(app.screen, ScriptsScreen) and screen.script is None
