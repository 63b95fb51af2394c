"""SVG snapshots of the Load screen's Compare view at 120x40 and 80x24: the ladder's rungs (one skipped) as
IOPS bars and overlaid latency CDFs. Deterministic: the rungs and their histograms are made here (a fixed
seed), not measured. Update after a deliberate change:
`.venv/bin/pytest tests/test_snapshots_load.py --snapshot-update`, then look at the SVGs."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from nvtui.app import NvtuiApp
from nvtui.screens.load import LoadScreen
from nvtui.widgets.compare import LatencyCdf, RungBars
from tests.pilots import fixed_simulator, until
from tests.test_compare_view import ladder

SIZES = [pytest.param((120, 40), id="120x40"), pytest.param((80, 24), id="80x24")]


@pytest.fixture(autouse=True)
def fixed_sim(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    sim_dir = Path(tempfile.gettempdir()) / f"nvtui-snap-{request.node.name}"
    with fixed_simulator(sim_dir, tmp_path, monkeypatch):
        yield sim_dir


@pytest.mark.parametrize("size", SIZES)
def test_compare_view_of_a_ladder(snap_compare: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, NvtuiApp)
        await until(pilot, lambda: app.catalogue is not None and app.controllers and app.device, "start-up")
        await pilot.press("f5")
        await until(pilot, lambda: isinstance(app.screen, LoadScreen), "the Load screen")
        screen = app.screen
        assert isinstance(screen, LoadScreen)
        await pilot.press("ctrl+t")
        await until(pilot, lambda: screen.comparing, "the Compare view")
        rungs = tuple(ladder())
        screen.query_one(RungBars).rungs = rungs
        screen.query_one(LatencyCdf).rungs = rungs
        await pilot.pause(0.2)

    assert snap_compare(NvtuiApp(include_real_devices=False), terminal_size=size, run_before=run_before)
