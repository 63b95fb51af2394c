"""The latency charts draw off the event loop, in the chart process (or a thread while it starts): what
they plot, that a picture built off the loop reaches the screen, that only the latest numbers are built,
that a picture for another size is dropped, that closing a chart in the middle of a build leaves nothing
behind (no process either), and that a chart process that dies or hangs costs one picture, not the app.
The scheduling tests run both ways: every build in the chart process, and every build in the thread."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.pilot import Pilot
from textual_plotext.plot import Plot

from nvtui.stats import INTERVAL_S, Interval, LoadStats
from nvtui.widgets import chart_build, latency_chart
from nvtui.widgets.chart_build import Reply, Request
from nvtui.widgets.latency_chart import (
    MAX_DRAWN,
    ChartData,
    ChartServer,
    LatencyHistogram,
    LatencyOverTime,
    StatsChart,
    ansi_strips,
)
from tests.pilots import until


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


class Gate:
    """Holds every build of the time chart's numbers until let through, one at a time; records where
    builds ran and which charts' numbers were built, in order."""

    def __init__(self, where: str) -> None:
        self.where = where  # "process": every build in the chart process; "thread": in the worker thread
        self.passes = threading.Semaphore(0)
        self.threads: list[int] = []
        self.kinds: list[str] = []
        self.finished = 0
        self.waiting = 0

    def let_through(self, n: int = 1) -> None:
        for _ in range(n):
            self.passes.release()

    def hold(self, kind: str) -> None:
        self.kinds.append(kind)
        if kind != "time":
            return
        self.threads.append(threading.get_ident())
        self.waiting += 1
        assert self.passes.acquire(timeout=10), "a build was never let through"
        self.waiting -= 1


@pytest.fixture
def in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every build in the chart process: a build waits for it to start instead of building in its thread."""
    monkeypatch.setattr(ChartServer, "START_WAIT_S", 10.0)


@pytest.fixture(params=["process", "thread"])
def gate(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    gate = Gate(request.param)
    if gate.where == "process":
        monkeypatch.setattr(ChartServer, "START_WAIT_S", 10.0)
        build = ChartServer.build

        def gated_send(server: ChartServer, job: Request) -> Reply | None:
            if job.data:
                gate.hold(job.kind)
            try:
                reply = build(server, job)
                assert reply is not None and reply.pid != os.getpid()
                return reply
            finally:
                if job.data and job.kind == "time":
                    gate.finished += 1

        monkeypatch.setattr(ChartServer, "build", gated_send)
    else:
        monkeypatch.setattr(StatsChart, "IN_PROCESS", False)
        for chart in (LatencyOverTime, LatencyHistogram):
            plot = chart.plot.__func__  # type: ignore[attr-defined]

            def gated(cls: type[StatsChart], plt: Plot, data: ChartData, plot: Any = plot) -> None:
                gate.hold(cls.KIND)
                plot(cls, plt, data)
                if cls.KIND == "time":
                    gate.finished += 1

            monkeypatch.setattr(chart, "plot", classmethod(gated))
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
        assert (chart.built_in != os.getpid()) == (gate.where == "process")


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


@pytest.mark.parametrize("where", ["process", "thread"])
async def test_a_failing_build_shows_its_error_and_the_app_goes_on(
    where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ChartServer, "START_WAIT_S", 10.0)
    monkeypatch.setattr(StatsChart, "IN_PROCESS", where == "process")
    monkeypatch.setattr(LatencyOverTime, "data", lambda self, stats: ((1.0, 2.0),))  # no y values: fails
    async with ChartApp().run_test(size=(70, 16)) as pilot:
        chart = pilot.app.query_one(LatencyOverTime)
        await until(pilot, lambda: chart.current, "the empty chart")
        chart.draw(run_stats(3))
        await until(pilot, lambda: "chart failed" in str(chart.render()), "the error")
        assert "not enough values to unpack" in shown_text(chart)
        builds = chart.builds
        await pilot.pause(0.1)
        assert chart.builds == builds  # not retried in a loop
        assert pilot.app.return_code is None


class TwoCharts(App[None]):
    def compose(self) -> ComposeResult:
        yield LatencyOverTime(id="chart-time")
        yield LatencyHistogram(id="chart-histogram")


async def test_two_charts_never_build_at_the_same_time(gate: Gate) -> None:
    async with TwoCharts().run_test(size=(70, 30)) as pilot:
        time_chart = await building(pilot, gate)
        histogram = pilot.app.query_one(LatencyHistogram)
        histogram.draw(run_stats(3))
        await pilot.pause(0.2)
        assert histogram.building is not None and gate.kinds == ["time"]  # it waits for the time chart's
        gate.let_through()
        await until(pilot, lambda: histogram.current and time_chart.current, "both pictures")
        assert gate.kinds == ["time", "histogram"]


def chart_process(chart: StatsChart) -> int:
    """The pid of the chart process serving `chart` (started)."""
    assert chart._server is not None
    return chart_process_of(chart._server)


def gone(pid: int) -> bool:
    """Whether process `pid` has ended and been reaped (no zombie left)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def ends_soon(pid: int, within: float = 5.0) -> bool:
    """Whether process `pid` is gone (and reaped) within `within` seconds: a build in flight when the app
    closed has its process killed at once, and the build's thread reaps it as it ends."""
    deadline = time.monotonic() + within
    while not gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_the_chart_process_builds_the_same_picture_as_the_thread(in_process: None) -> None:
    data = LatencyOverTime().data(run_stats(12))
    request = Request("time", data, 70, 14, "pro", latency_chart.plotext_themes["pro"])
    server = ChartServer()
    try:
        reply = server.build(request)
        assert reply is not None and reply.error is None and reply.pid != os.getpid()
        assert reply.lines == chart_build.build(request)
        assert server.build(request) == reply  # the same process again
        pid = chart_process_of(server)
    finally:
        server.close()
    assert gone(pid) and server.build(request) is None  # closed: the caller builds it


def chart_process_of(server: ChartServer) -> int:
    assert server.proc is not None
    return server.proc.pid


async def test_the_first_picture_is_built_in_the_thread_while_the_process_starts() -> None:
    async with TwoCharts().run_test(size=(70, 30)) as pilot:
        time_chart = pilot.app.query_one(LatencyOverTime)
        histogram = pilot.app.query_one(LatencyHistogram)
        await until(pilot, lambda: time_chart.current and histogram.current, "the empty charts")
        assert os.getpid() in (time_chart.built_in, histogram.built_in)  # python starting: not waited for
        server = time_chart._server
        assert server is not None and server is histogram._server  # one process for both
        # Starting python and importing plotext takes well under a second alone, but CI runs this beside two
        # TCG guests: give the process a minute to say hello.
        started = lambda: server.proc is not None and latency_chart._readable(server._from, 0)  # noqa: E731
        await until(pilot, started, "the chart process's hello", timeout=60)
        time_chart.draw(run_stats(5))
        await until(pilot, lambda: time_chart.current, "the picture")
        assert time_chart.built_in == chart_process(time_chart)


async def test_the_chart_process_ends_with_the_app_and_with_the_charts(in_process: None) -> None:
    async with TwoCharts().run_test(size=(70, 30)) as pilot:
        chart = pilot.app.query_one(LatencyOverTime)
        await until(pilot, lambda: chart.current, "the empty chart")
        pid = chart_process(chart)
    assert ends_soon(pid)
    async with TwoCharts().run_test(size=(70, 30)) as pilot:
        charts = list(pilot.app.query(StatsChart))
        await until(pilot, lambda: all(c.current for c in charts), "the empty charts")
        server = charts[0]._server
        assert server is not None
        pid = chart_process(charts[0])
        os.kill(pid, signal.SIGSTOP)  # a build in flight: its thread waits for the process
        charts[0].draw(run_stats(4))
        await until(pilot, lambda: server.busy, "the build to reach the process")
        await charts[0].remove()
        assert not gone(pid)  # one chart still shown
        await charts[1].remove()
        await until(pilot, lambda: server.proc is None, "the build thread to give up and end the process")
        assert gone(pid) and not server.busy and server._from == server._to == -1
        await until(pilot, lambda: not [w for w in pilot.app.workers if not w.is_finished], "the workers")
        assert pilot.app.return_code is None


async def test_a_chart_process_that_dies_costs_one_picture_and_is_started_again(in_process: None) -> None:
    async with ChartApp().run_test(size=(70, 16)) as pilot:
        chart = pilot.app.query_one(LatencyOverTime)
        await until(pilot, lambda: chart.current, "the empty chart")
        first = chart_process(chart)
        os.kill(first, signal.SIGKILL)
        chart.draw(run_stats(4))
        await until(pilot, lambda: "chart failed" in str(chart.render()), "the error")
        assert "ChartProcessError" in shown_text(chart) and gone(first)
        chart.draw(run_stats(5))
        await until(pilot, lambda: chart.current and "p50" in shown_text(chart), "the next picture")
        assert chart.built_in == chart_process(chart) != first
        assert pilot.app.return_code is None


async def test_a_hung_chart_process_is_ended_and_after_too_many_the_thread_builds(
    in_process: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ChartServer, "REPLY_TIMEOUT_S", 0.3)
    monkeypatch.setattr(ChartServer, "MAX_STARTS", 1)
    async with ChartApp().run_test(size=(70, 16)) as pilot:
        chart = pilot.app.query_one(LatencyOverTime)
        await until(pilot, lambda: chart.current, "the empty chart")
        pid = chart_process(chart)
        os.kill(pid, signal.SIGSTOP)
        chart.draw(run_stats(4))
        await until(pilot, lambda: "chart failed" in str(chart.render()), "the error")
        assert "no picture in 0.3 s" in str(chart.render()) and gone(pid)
        chart.draw(run_stats(5))
        await until(pilot, lambda: chart.current and "p50" in shown_text(chart), "the next picture")
        assert chart.built_in == os.getpid()  # no more processes: built in the thread
