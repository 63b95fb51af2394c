"""The Load screen's Compare view: IOPS bars and overlaid latency CDFs, from runs or ladder rungs."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest

from nvtui.app import NvtuiApp
from nvtui.backend.histogram import LatencyHistogram
from nvtui.widgets.compare import MARKERS, LatencyCdf, Rung, RungBars, latency_cdf, rung_bars
from tests.pilots import isolate_tui, load_screen, until


def histogram(center_us: float, spread: float = 0.3, n: int = 2000, seed: int = 1) -> LatencyHistogram:
    rng = random.Random(seed)
    h = LatencyHistogram()
    for _ in range(n):
        h.record(int(center_us * 1000 * rng.lognormvariate(0, spread)))
    return h


def ladder() -> list[Rung]:
    """Rungs as the ladder's JSON gives them, each with its histogram."""
    return [
        Rung.from_json({"rung": "block", "iops": 100_000, "mb_s": 409.6, "vs_block": 1.0}, histogram(80)),
        Rung.from_json({"rung": "uring_cmd", "iops": 125_000, "vs_block": 1.25}, histogram(64, seed=2)),
        Rung.from_json({"rung": "sqpoll", "skipped": "SQPOLL refused: EPERM"}),
        Rung.from_json({"rung": "iopoll", "iops": 150_000, "vs_block": 1.5}, histogram(50, seed=3)),
    ]


def test_a_rung_reads_the_ladders_json_shape() -> None:
    rungs = ladder()
    assert (rungs[0].name, rungs[0].iops, rungs[0].mb_s, rungs[0].vs_block) == ("block", 100_000, 409.6, 1.0)
    assert rungs[2].skipped == "SQPOLL refused: EPERM" and rungs[2].latency is None and rungs[2].iops == 0


def test_the_bars_are_as_long_as_the_iops_and_a_skipped_rung_says_why() -> None:
    lines = rung_bars(ladder(), 80).plain.splitlines()
    assert len(lines) == 4
    bars = [line.count("█") for line in lines]
    assert bars[3] > bars[1] > bars[0] > 0 and bars[2] == 0
    assert bars[0] / bars[3] == pytest.approx(100 / 150, abs=0.05)
    assert "150,000 IOPS  x1.50" in lines[3] and "skipped: SQPOLL refused: EPERM" in lines[2]
    assert all(len(line) <= 80 for line in lines)
    assert "Nothing to compare yet" in rung_bars([], 80).plain


def test_each_cdf_rises_left_to_right_and_the_faster_rung_rises_first() -> None:
    rungs = ladder()
    width, height = 70, 20
    plain = latency_cdf(rungs, width, height).plain.splitlines()
    assert len(plain) == height
    plot = plain[: height - 3]
    rows_of: dict[str, list[tuple[int, int]]] = {}
    for row, line in enumerate(plot):
        for col, char in enumerate(line[5:]):
            if char in MARKERS:
                rows_of.setdefault(char, []).append((col, row))
    assert set(rows_of) <= {MARKERS[0], MARKERS[1], MARKERS[3]}  # the skipped rung draws nothing
    for marks in rows_of.values():
        by_col = sorted(marks)
        assert all(a[1] >= b[1] for a, b in itertools.pairwise(by_col))  # up = more I/Os done

    def half_col(marker: str) -> int:  # the first column at or above the middle row
        return min(c for c, r in rows_of[marker] if r <= (height - 4) // 2)

    assert half_col(MARKERS[3]) < half_col(MARKERS[0])  # iopoll (50 us) before block (80 us)
    assert "block" in plain[-1] and "iopoll" in plain[-1] and "sqpoll" not in plain[-1]
    assert "No latencies yet" in latency_cdf([Rung("x")], 40, 10).plain


async def test_the_compare_view_shows_each_run_on_each_namespace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from textual.widgets import Input

    isolate_tui(tmp_path, monkeypatch)
    app = NvtuiApp(include_real_devices=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.catalogue is not None and app.controllers and app.device, "start-up")
        screen = await load_screen(pilot, count="100", qd="2")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: screen.stats is not None and not screen.running, "the first run")
        screen.query_one("#load-also", Input).value = "sim0n2"
        screen.query_one("#load-qd", Input).value = "4"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: len(screen.compared) == 3 and not screen.running, "the second run")
        await pilot.press("ctrl+t")
        await until(pilot, lambda: screen.comparing, "the Compare view")
        bars = screen.query_one(RungBars)
        names = [r.name for r in bars.rungs]
        assert names == ["sim0n1 fixed qd2", "sim0n1 fixed qd4", "sim0n2 fixed qd4"]
        assert all(r.latency is not None and r.latency.count == 100 for r in bars.rungs)
        assert screen.query_one(LatencyCdf).rungs == bars.rungs
        await pilot.pause(0.1)
        assert "sim0n2 fixed qd4" in str(bars.render())
        await pilot.press("ctrl+t")
        await until(pilot, lambda: not screen.comparing, "the run's charts again")


async def test_the_ladder_on_a_simulated_device_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate_tui(tmp_path, monkeypatch)
    app = NvtuiApp(include_real_devices=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.catalogue is not None and app.controllers and app.device, "start-up")
        screen = await load_screen(pilot, count="", seconds="1", qd="4")
        await pilot.press("ctrl+l")
        await until(pilot, lambda: bool(app._notifications), "the refusal")
        notes = [n.message for n in app._notifications]
        assert any("sim0n1 is simulated" in n for n in notes), notes
        assert screen.ladder is None and not screen.laddering


async def test_the_ladders_rungs_fill_the_compare_view_live_as_each_slice_and_rung_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Load screen drives nvtui.ladder.run_ladder (here a stand-in that reports as the real one does:
    slices of the running rung, then each rung's result, one skipped) and shows what it reports."""
    import asyncio

    from nvtui import ladder as ladder_module
    from nvtui.ladder import RUNGS, Ladder, LadderProgress, LadderTarget, RungResult, Workload

    isolate_tui(tmp_path, monkeypatch)
    seen: dict[str, object] = {}
    halfway = asyncio.Event()
    go_on = asyncio.Event()

    async def fake_run_ladder(
        device: str, workload: Workload, *, on_progress: object, **kw: object
    ) -> Ladder:
        seen.update(device=device, workload=workload, **kw)
        assert callable(on_progress)
        results = []
        for index, rung in enumerate(RUNGS):
            if rung.name == "uring_cmd_sqpoll":
                result = RungResult(rung, skipped="SQPOLL refused: EPERM")
            else:
                part = type("Part", (), {"latency": histogram(100 - 5 * index, seed=index), "ios": 2000,
                                         "elapsed_ns": 100_000_000})()  # fmt: skip
                on_progress(LadderProgress(index, rung, part=part))
                if index == 0:
                    halfway.set()
                    await go_on.wait()
                result = RungResult(rung, ios=2000 * (index + 1), seconds=0.1, latency=part.latency,
                                    vs_block=float(index + 1))  # fmt: skip
            on_progress(LadderProgress(index, rung, result=result))
            results.append(result)
        target = LadderTarget(device, 1, 512, 1 << 21, f"/dev/{device}", None)
        return Ladder(target, workload, tuple(results), 1.0)

    monkeypatch.setattr(ladder_module, "run_ladder", fake_run_ladder)
    app = NvtuiApp(include_real_devices=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.catalogue is not None and app.controllers and app.device, "start-up")
        screen = await load_screen(pilot, count="", seconds="2", qd="16")
        await pilot.press("ctrl+l")
        await until(pilot, lambda: halfway.is_set(), "the first rung's first slice")
        await pilot.pause(0.1)
        assert screen.comparing and screen.laddering
        bars = screen.query_one(RungBars)
        assert bars.rungs[0].running and bars.rungs[0].iops == pytest.approx(20_000)
        assert "waiting" in bars.render().plain.splitlines()[1]  # the next rung has not started
        go_on.set()
        await until(pilot, lambda: not screen.laddering, "the ladder's end")
        await pilot.pause(0.1)
        workload = seen["workload"]
        assert isinstance(workload, Workload)
        assert (seen["device"], workload.rw, workload.bs, workload.qd, workload.seconds) == (
            "sim0n1",
            "randread",
            4096,
            16,
            2.0,
        )
        rungs = bars.rungs
        assert [r.name for r in rungs] == [r.name for r in RUNGS]
        assert rungs[-1].skipped == "SQPOLL refused: EPERM" and not any(r.running for r in rungs)
        assert rungs[6].vs_block == 7.0 and rungs[6].iops == pytest.approx(140_000)
        assert screen.query_one(LatencyCdf).rungs == rungs
        shown = bars.render().plain
        assert "skipped: SQPOLL refused: EPERM" in shown and "x7.00" in shown
        notes = [n.message for n in app._notifications]
        assert any("Best: uring_cmd_batch at 140,000 IOPS, x7.00 the block path" in n for n in notes), notes
