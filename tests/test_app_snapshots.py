"""SVG snapshots of each screen at 80x24 (pytest-textual-snapshot). Deterministic: a simulated controller in a
fixed directory with a fixed serial number, fixed modelled latency, and latencies pinned where shown.

Update after a deliberate UI change: `.venv/bin/pytest tests/test_app_snapshots.py --snapshot-update`,
then look at the SVGs under tests/__snapshots__/."""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from nvtui.app import NvtuiApp
from nvtui.screens.compose import ComposeScreen
from nvtui.screens.messages import OpenCommand
from nvtui.screens.result import ResultScreen
from nvtui.screens.scripts import ScriptsScreen
from nvtui.widgets.latency_chart import StatsChart
from tests.pilots import fixed_simulator, until

SIM_DIR = Path(tempfile.gettempdir()) / "nvtui-snapshot-sim"  # shown on the Devices screen: must not vary
SIZE = (80, 24)


@pytest.fixture(autouse=True)
def fixed_sim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    with fixed_simulator(SIM_DIR, tmp_path, monkeypatch):
        yield tmp_path


def make_app() -> NvtuiApp:
    return NvtuiApp(include_real_devices=False)


async def settle(pilot: Pilot[Any], condition: Any, timeout: float = 10.0) -> None:
    await until(pilot, condition, "the state to snapshot", timeout)
    # A frame for what `condition` saw to be drawn (waiting for every worker instead would hang: some run
    # as long as their screen).
    await pilot.pause(0.2)
    await pilot.wait_for_scheduled_animations()


async def started(pilot: Pilot[Any]) -> NvtuiApp:
    app = pilot.app
    assert isinstance(app, NvtuiApp)
    await settle(pilot, lambda: app.catalogue is not None and app.controllers and app.device)
    return app


def test_devices_screen(snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await started(pilot)
        await settle(
            pilot,
            lambda: (
                "Supported" in str(pilot.app.screen.query_one("#details-probe").render())
                and "checking" not in str(pilot.app.screen.query_one("#details-doctor").render())
            ),
        )

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_compose_screen(snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = await started(pilot)
        await pilot.press("f3")
        await settle(pilot, lambda: isinstance(app.screen, ComposeScreen) and app.screen.prepared is not None)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_result_screen(snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = await started(pilot)
        await pilot.press("f3")
        await settle(pilot, lambda: isinstance(app.screen, ComposeScreen) and app.screen.prepared is not None)
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: isinstance(app.screen, ResultScreen) and app.screen.result is not None)
        screen = app.screen
        assert isinstance(screen, ResultScreen) and screen.result is not None
        result = screen.result  # the measured latency varies run to run: pin it
        pinned = dataclasses.replace(result.completion, latency_ns=21_500)
        screen.show(dataclasses.replace(result, completion=pinned))
        await pilot.pause(0.1)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_load_screen(snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = await started(pilot)
        await pilot.press("f5")
        # The charts are drawn in a thread: wait until both show the (empty) figure at their size.
        await settle(
            pilot,
            lambda: (
                type(app.screen).__name__ == "LoadScreen"
                and all(chart.current for chart in app.screen.query(StatsChart))
            ),
        )

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_scripts_screen_after_a_replay(snap_compare: Any, fixed_sim: Path) -> None:
    script = fixed_sim / "check.yaml"
    script.write_text(
        "nvtui-script: 1\n"
        "steps:\n"
        "  - command: identify\n"
        "    fields: {cns: 1}\n"
        "    expect: {sct: 0, sc: 0, name: Successful Completion}\n"
        "  - command: get-features\n"
        "    fields: {fid: 0x7}\n"
        "    expect: {sct: 0, sc: 0, name: Successful Completion}\n"
        "  - command: get-log-page\n"
        "    fields: {lid: 0x99, numd: 16}\n"
        "    expect: {sct: 0, sc: 0, name: Successful Completion}\n"
    )

    async def run_before(pilot: Pilot[Any]) -> None:
        app = await started(pilot)
        await pilot.press("f6")
        await settle(pilot, lambda: isinstance(app.screen, ScriptsScreen))
        screen = app.screen
        assert isinstance(screen, ScriptsScreen)
        screen.open_script(script)
        await pilot.press("r")
        await settle(pilot, lambda: app.session is not None and len(app.session.history) == 3)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_destructive_confirmation(snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = await started(pilot)
        await pilot.press("ctrl+w")
        app.post_message(OpenCommand("format-nvm"))
        await settle(
            pilot,
            lambda: (
                isinstance(app.screen, ComposeScreen)
                and app.screen.prepared is not None
                and app.screen.prepared.defn.id == "format-nvm"
            ),
        )
        app.clear_notifications()
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: type(app.screen).__name__ == "ConfirmDestructive")

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)
