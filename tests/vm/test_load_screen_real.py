"""The Load screen on QEMU's emulated namespace: Ctrl+L runs the interface ladder and the Compare view ends
with every rung, each measured (its latencies in the CDF) or skipped with the reason."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from textual.widgets import Input


async def test_the_ladder_fills_the_compare_view_rung_by_rung(ns_conventional: str) -> None:
    from nvtui.app import NvtuiApp
    from nvtui.ladder import RUNGS
    from nvtui.screens.load import LoadScreen
    from nvtui.widgets.compare import LatencyCdf, RungBars

    name = Path(ns_conventional).name
    app = NvtuiApp(device=name)
    loop = asyncio.get_running_loop()
    async with app.run_test(size=(120, 40)) as pilot:

        async def until(cond: Callable[[], object], what: str, timeout: float = 60) -> None:
            deadline = loop.time() + timeout
            while not cond():
                assert loop.time() < deadline, f"timed out waiting for {what}"
                await pilot.pause(0.05)

        await until(lambda: app.catalogue is not None and app.device == name and app.session, "start-up")
        await pilot.press("f5")
        await until(lambda: isinstance(app.screen, LoadScreen), "the Load screen")
        screen = app.screen
        assert isinstance(screen, LoadScreen)
        screen.query_one("#load-count", Input).value = ""
        screen.query_one("#load-seconds", Input).value = "1"  # a rung's setup comes out of its time
        screen.query_one("#load-qd", Input).value = "4"
        await pilot.press("ctrl+l")
        await until(lambda: screen.laddering, "the ladder to start")
        await until(lambda: not screen.laddering, "the ladder to end", timeout=120)
        await pilot.pause(0.2)
        rungs = screen.query_one(RungBars).rungs
        assert [r.name for r in rungs] == [r.name for r in RUNGS]
        for rung in rungs:
            assert not rung.running and (rung.skipped is not None or (rung.latency and rung.latency.count)), (
                rung
            )
        by_name = {r.name: r for r in rungs}
        assert by_name["uring_cmd"].skipped is None and by_name["uring_cmd"].iops > 0
        if by_name["block"].skipped is None:
            assert by_name["uring_cmd"].vs_block is not None
        assert screen.query_one(LatencyCdf).rungs == rungs
        shown = str(screen.query_one(RungBars).render())
        assert "uring_cmd" in shown and "IOPS" in shown
