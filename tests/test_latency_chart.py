"""The latency charts draw in a thread: what they plot, that a picture built off the event loop reaches the
screen, that only the latest numbers are built, that a picture for another size is dropped, and that
closing a chart in the middle of a build leaves nothing behind."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.pilot import Pilot
from textual_plotext.plot import Plot

from nvtui.stats import INTERVAL_S, Interval, LoadStats
from nvtui.widgets.latency_chart import (
    MAX_DRAWN,
    ChartData,
    LatencyHistogram,
    LatencyOverTime,
    ansi_strips,
)


def run_stats(intervals: int, p99_us: int = 150, spike_at: int | None = None) -> LoadStats:
    """A run's statistics: `intervals` 0.25 s intervals (one with a 5 ms p99 at `spike_at`), 1,000 samples."""
    stats = LoadStats()
    for i in range(intervals):
        p99 = 5_000_000 if i == spike_at else p99_us * 1000
        stats.series.append(
            Interval(t=(i + 1) * INTERVAL_S, count=100, errors=0, mean_ns=40_000, p50_ns=40_000 + i,
                     p99_ns=p99, max_ns=p99)
        )  # fmt: skip
    for i in range(1000):
        stats.total.record(30_000 + 97 * i)
    return stats


class ChartApp(App[None]):
    def compose(self) -> ComposeResult:
        yield LatencyOverTime(id="chart")


async def until(pilot: Pilot[Any], condition: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.01)


class Gate:
    """Holds every build of the time chart until let through, one at a time; records where builds ran."""

    def __init__(self) -> None:
        self.passes = threading.Semaphore(0)
        self.threads: list[int] = []
        self.finished = 0
        self.waiting = 0

    def let_through(self, n: int = 1) -> None:
        for _ in range(n):
            self.passes.release()


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    gate = Gate()
    plot = LatencyOverTime.plot.__func__  # type: ignore[attr-defined]

    def gated(cls: type[LatencyOverTime], plt: Plot, data: ChartData) -> None:
        gate.threads.append(threading.get_ident())
        gate.waiting += 1
        assert gate.passes.acquire(timeout=10), "a build was never let through"
        gate.waiting -= 1
        plot(cls, plt, data)
        gate.finished += 1

    monkeypatch.setattr(LatencyOverTime, "plot", classmethod(gated))
    yield gate
    gate.let_through(100)  # never leave a worker thread waiting


def shown_text(chart: LatencyOverTime) -> str:
    """What the screen gets from the chart: its lines through Textual's styles cache."""
    lines = chart.render_lines(Region(0, 0, chart.size.width, chart.size.height))
    return "\n".join(line.text for line in lines)


def test_plotext_output_becomes_strips_with_the_same_characters_and_colours() -> None:
    plt = Plot()
    plt.theme("pro")
    plt.title("t")
    plt.plot([1.0, 2.0, 3.0], [1.0, 4.0, 2.0], label="p50", marker="braille")
    plt.plotsize(50, 12)
    plt._set_size(50, 12)
    ansi = plt.build()
    strips = ansi_strips(ansi)
    decoded = Text.from_ansi(ansi).split("\n")
    assert len(strips) == 12
    for strip, line in zip(strips, decoded, strict=False):
        ours = [(ch, seg.style) for seg in strip for ch in seg.text]
        rich = [(ch, span_style) for ch, span_style in _cells(line)]
        assert ours == rich


def _cells(line: Text) -> list[tuple[str, Any]]:
    """(character, Rich style) for each cell of a decoded line."""
    styles: list[Any] = [None] * len(line.plain)
    for span in line.spans:
        for i in range(span.start, span.end):
            styles[i] = span.style
    return list(zip(line.plain, styles, strict=True))


def test_the_time_chart_merges_intervals_past_its_points_and_keeps_a_spike() -> None:
    chart = LatencyOverTime()
    ts, _p50, p99 = chart.data(run_stats(240, spike_at=200))
    assert len(ts) <= MAX_DRAWN + 1
    assert ts[-1] == 60.0  # the newest interval is always the last point
    assert max(p99) == 5000.0  # µs: merged intervals keep their worst p99
    ts_short, _, _ = chart.data(run_stats(32))
    assert len(ts_short) == 32  # a short run: every interval a point


def test_the_histogram_shows_shares_of_all_commands() -> None:
    edges, shares = LatencyHistogram().data(run_stats(4))
    assert len(edges) == len(shares)
    assert sum(shares) == pytest.approx(100, abs=1)
    assert LatencyHistogram().data(LoadStats()) == ()


async def test_a_chart_is_drawn_in_a_thread_and_reaches_the_screen(gate: Gate) -> None:
    async with ChartApp().run_test(size=(70, 16)) as pilot:
        chart = pilot.app.query_one(LatencyOverTime)
        gate.let_through(100)
        chart.draw(run_stats(8))
        assert "p50" not in shown_text(chart)  # draw returned at once: nothing drawn yet
        await until(pilot, lambda: chart.current, "the picture")
        assert threading.get_ident() not in gate.threads
        shown = shown_text(chart)
        assert "p50" in shown and "p99" in shown and "latency over time" in shown
        assert "p50" in str(chart.render())


async def test_unchanged_numbers_are_not_drawn_again(gate: Gate) -> None:
    async with ChartApp().run_test(size=(70, 16)) as pilot:
        chart = pilot.app.query_one(LatencyOverTime)
        gate.let_through(100)
        await until(pilot, lambda: chart.current, "the empty chart")
        stats = run_stats(8)
        chart.draw(stats)
        await until(pilot, lambda: chart.current, "the picture")
        builds = chart.builds
        chart.draw(stats)
        chart.draw(run_stats(8))  # equal numbers in another object
        await pilot.pause(0.1)
        assert chart.builds == builds


async def building(pilot: Pilot[Any], gate: Gate) -> LatencyOverTime:
    """The app's chart, with its empty picture shown and a build of 3 intervals held at the gate."""
    chart = pilot.app.query_one(LatencyOverTime)
    await until(pilot, lambda: chart.current, "the empty chart")  # no data: plot is not called
    chart.draw(run_stats(3))
    await until(pilot, lambda: gate.waiting == 1, "the build to start")
    return chart


async def test_numbers_asked_for_during_a_build_wait_and_only_the_latest_is_built(gate: Gate) -> None:
    async with ChartApp().run_test(size=(70, 16)) as pilot:
        chart = await building(pilot, gate)
        builds = chart.builds
        for n in (4, 5, 6, 7):
            chart.draw(run_stats(n))
        await pilot.pause(0.1)
        assert chart.builds == builds  # one build at a time
        gate.let_through(2)
        await until(pilot, lambda: chart.current, "the latest picture")
        assert chart.builds == builds + 1  # 4, 5 and 6 were never built
        assert chart.shown is not None and len(chart.shown.data[0]) == 7


async def test_a_picture_built_for_another_size_is_dropped(gate: Gate) -> None:
    async with ChartApp().run_test(size=(70, 16)) as pilot:
        chart = await building(pilot, gate)
        builds, old_width = chart.builds, chart.size.width
        await pilot.resize_terminal(90, 16)
        await until(pilot, lambda: chart.size.width != old_width, "the resize")
        gate.let_through()
        await until(pilot, lambda: chart.builds == builds + 1, "the build at the new size")
        assert chart.shown is not None and chart.shown.data == ()  # the 3 intervals at the old width: dropped
        gate.let_through()
        await until(pilot, lambda: chart.current, "the picture at the new size")
        assert chart.shown is not None and chart.shown.width == chart.size.width != old_width


async def test_closing_a_chart_in_the_middle_of_a_build_leaves_nothing_behind(gate: Gate) -> None:
    async with ChartApp().run_test(size=(70, 16)) as pilot:
        app = pilot.app
        chart = await building(pilot, gate)
        shown = chart.shown
        await chart.remove()
        gate.let_through()
        await until(pilot, lambda: gate.finished == 1, "the build thread to finish")
        await pilot.pause(0.1)
        assert chart.shown is shown and not chart.is_attached  # the late picture went nowhere
        assert not [w for w in app.workers if not w.is_finished]
        assert app.return_code is None  # no error surfaced in the app


async def test_a_failing_build_shows_its_error_and_the_app_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(cls: type[LatencyOverTime], plt: Plot, data: ChartData) -> None:
        raise ValueError("no room")

    monkeypatch.setattr(LatencyOverTime, "plot", classmethod(broken))
    async with ChartApp().run_test(size=(70, 16)) as pilot:
        chart = pilot.app.query_one(LatencyOverTime)
        await until(pilot, lambda: chart.current, "the empty chart")
        chart.draw(run_stats(3))
        await until(pilot, lambda: "chart failed" in str(chart.render()), "the error")
        assert "no room" in shown_text(chart)
        builds = chart.builds
        await pilot.pause(0.1)
        assert chart.builds == builds  # not retried in a loop
        assert pilot.app.return_code is None


class TwoCharts(App[None]):
    def compose(self) -> ComposeResult:
        yield LatencyOverTime(id="chart-time")
        yield LatencyHistogram(id="chart-histogram")


async def test_two_charts_never_build_at_the_same_time(gate: Gate, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[str] = []
    plot = LatencyHistogram.plot.__func__  # type: ignore[attr-defined]

    def recorded(cls: type[LatencyHistogram], plt: Plot, data: ChartData) -> None:
        started.append("histogram")
        plot(cls, plt, data)

    monkeypatch.setattr(LatencyHistogram, "plot", classmethod(recorded))
    async with TwoCharts().run_test(size=(70, 30)) as pilot:
        time_chart = await building(pilot, gate)
        histogram = pilot.app.query_one(LatencyHistogram)
        histogram.draw(run_stats(3))
        await pilot.pause(0.2)
        assert histogram.building is not None and started == []  # its thread waits for the time chart's
        gate.let_through()
        await until(pilot, lambda: histogram.current and time_chart.current, "both pictures")
        assert started == ["histogram"]
