"""The whole telemetry log from the Compose screen (Ctrl+G), on the simulator: the form names the log and
the output file, the fetch runs with its progress dialog, and the file holds the header and every data block
up to data area 3."""

from __future__ import annotations

from pathlib import Path

from test_app import compose, make_app, ready, said, sim_env
from textual.widgets import Input

from nvtui.backend.sim.logs2x import HOST_DALB
from tests.pilots import until

__all__ = ["sim_env"]  # the fixture: a fresh simulator, no user catalogues


async def test_ctrl_g_fetches_the_whole_telemetry_log_into_the_output_file(tmp_path: Path) -> None:
    out = tmp_path / "telemetry.bin"
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        screen = await compose(pilot, "telemetry-log")
        screen.query_one("#data-out", Input).value = str(out)
        await pilot.pause()
        await pilot.press("ctrl+g")
        await until(pilot, lambda: out.exists(), "the telemetry file", timeout=30)
        assert out.stat().st_size == 512 * (HOST_DALB[2] + 1)
        await until(pilot, lambda: said(app, "pieces into"), "the summary")
        assert out.read_bytes()[0] == 0x07  # the header's log identifier


async def test_ctrl_g_on_another_command_says_what_it_is_for() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await compose(pilot, "identify")
        await pilot.press("ctrl+g")
        await until(pilot, lambda: said(app, "whole telemetry log"), "the warning")
