"""SVG snapshots of the Scripts screen at 120x40 and 80x24: a script recorded on two namespaces, replayed on
the devices it recorded (every step the same) and mapped all to one (the zone step differs). The header and
the outcome column are in view at both sizes.

Deterministic: the simulator in this test's own folder (`NVTUI_SIM_DIR`), no modelled latency shown, a
script written by hand (no timestamps), the table focused (no input cursor to blink).
Update after a deliberate UI change: `.venv/bin/pytest tests/test_snapshots_scripts.py --snapshot-update`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from nvtui.app import NvtuiApp
from nvtui.screens.scripts import ScriptsScreen
from tests.pilots import isolate_tui, until

TWO_DEVICES = """\
nvtui-script: 2
steps:
  - command: identify
    device: sim0n1
    fields: {cns: 1}
    expect: {sct: 0, sc: 0, name: Successful Completion}
  - command: get-log-page
    device: sim0n1
    fields: {lid: 2, numd: 128}
    expect: {sct: 0, sc: 0, name: Successful Completion}
  - command: read
    device: sim0n1
    fields: {slba: 0, nlb: 1}
    expect: {sct: 0, sc: 0, name: Successful Completion}
  - command: zone-mgmt-recv
    device: sim0n2
    fields: {slba: 0, numd: 64}
    expect: {sct: 0, sc: 0, name: Successful Completion}
  - command: get-features
    device: sim0n2
    fields: {fid: 4}
    expect: {sct: 0, sc: 0, name: Successful Completion}
"""


@pytest.fixture
def script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    isolate_tui(tmp_path, monkeypatch)
    path = tmp_path / "two-devices.yaml"
    path.write_text(TWO_DEVICES)
    return path


def replayed(script: Path, mapping: list[str]) -> Any:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, NvtuiApp)
        await until(pilot, lambda: app.catalogue is not None and app.controllers and app.device, "start-up")
        await pilot.press("f6")
        await until(pilot, lambda: isinstance(app.screen, ScriptsScreen), "the Scripts screen")
        screen = app.screen
        assert isinstance(screen, ScriptsScreen)
        screen.open_script(script)
        if mapping:
            await pilot.press("m")
            await until(pilot, lambda: type(app.screen).__name__ == "PathPrompt", "the mapping prompt")
            await pilot.press("ctrl+u", *" ".join(mapping), "enter")
            await until(pilot, lambda: app.screen is screen and screen.device_specs == mapping, "the mapping")
        await pilot.press("r")
        await until(pilot, lambda: len(screen.outcomes) == 5, "the replay")
        await app.workers.wait_for_complete()
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
def test_a_two_device_script_replayed_where_it_was_recorded(
    snap_compare: Any, script: Path, size: tuple[int, int]
) -> None:
    app = NvtuiApp(include_real_devices=False)
    assert snap_compare(app, terminal_size=size, run_before=replayed(script, []))


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
def test_a_two_device_script_mapped_all_to_one(
    snap_compare: Any, script: Path, size: tuple[int, int]
) -> None:
    app = NvtuiApp(include_real_devices=False)
    assert snap_compare(app, terminal_size=size, run_before=replayed(script, ["sim0n1"]))
