"""Latency charts (textual-plotext) drawn from aggregated `LoadStats`, never from single samples: the
time chart plots one point per 0.25 s interval (neighbours merged once there are more than
`MAX_DRAWN`), the histogram merges the log-linear buckets into a few dozen bars.

Plotext is pure Python: one 120x17 chart costs 5-20 ms on a desktop and about 20x that under QEMU's TCG,
too long for the event loop, where a typed key would wait behind it. So a chart is drawn off the loop:
`draw(stats)` (on the loop) takes a small immutable snapshot of what to plot; a thread worker builds the
plotext figure and turns its ANSI output into strips; the widget then shows those strips as they are.
A snapshot equal to the one shown is not drawn again, and while one build runs newer requests wait: only
the latest is built next.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache, partial
from itertools import groupby
from typing import TYPE_CHECKING

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from textual.worker import Worker, WorkerState
from textual_plotext import PlotextPlot
from textual_plotext.plot import Plot

from nvtui.stats import INTERVAL_S

if TYPE_CHECKING:
    from textual.app import RenderResult

    from nvtui.stats import LoadStats

MAX_POINTS = 240  # the time chart keeps the last minute at 0.25 s per point
MAX_DRAWN = 60  # ... and draws at most this many: plotext's cost grows with the points (120: twice 60's)
HISTOGRAM_BARS = 24
BUILD_GROUP = "chart-build"
# One plotext build at a time in the process: two threads at once would leave the event loop a third of
# the GIL instead of half. A chart waiting here holds no GIL.
_BUILDING = threading.Lock()

ChartData = tuple[tuple[float, ...], ...]
"""What a chart plots, as plain numbers (e.g. x values, then one tuple of y values per line)."""


def _us(ns: float) -> float:
    return round(ns / 1000, 1)


def merge_buckets(buckets: list[tuple[int, int, int]], bars: int = HISTOGRAM_BARS) -> list[tuple[float, int]]:
    """(bar's low edge in µs, count) for `bars` equal-width bars spanning the observed latencies; the
    slowest 0.1 % (the far tail) fold into the last bar so the body of the distribution stays readable."""
    if not buckets:
        return []
    total = sum(c for _, _, c in buckets)
    low = buckets[0][0]
    cut, seen = buckets[-1][1], 0
    for _lo, hi, count in buckets:
        seen += count
        if seen >= total * 0.999:
            cut = hi
            break
    width = max((cut - low) / bars, 1.0)
    counts = [0] * bars
    for lo, hi, count in buckets:
        mid = (lo + hi) / 2
        counts[min(int((mid - low) / width), bars - 1)] += count
    return [(_us(low + i * width), c) for i, c in enumerate(counts)]


SGR = re.compile(r"(\x1b\[[0-9;]*m)")
SGR_RESETS = ("\x1b[0m", "\x1b[m")


@lru_cache(maxsize=512)
def _sgr_style(codes: str) -> Style:
    """The Rich style of a run of SGR escapes (a chart has a handful of distinct runs: each parsed once)."""
    text = Text.from_ansi(codes + " ")
    style = text.spans[0].style if text.spans else Style.null()
    return Style.parse(style) if isinstance(style, str) else style


def ansi_strips(ansi: str) -> list[Strip]:
    """Plotext's output as one strip per line. Plotext writes characters and SGR escapes (colours, style,
    reset) only, so splitting at the escapes is enough, and much cheaper than Rich's general decoder."""
    strips = []
    for line in ansi.removesuffix("\n").split("\n"):
        segments = []
        codes = ""
        for i, part in enumerate(SGR.split(line)):
            if i % 2:  # an escape (split keeps them at the odd places)
                codes = "" if part in SGR_RESETS else codes + part
            elif part:
                segments.append(Segment(part, _sgr_style(codes) if codes else None))
        strips.append(Strip(segments))
    return strips


@dataclass(frozen=True)
class ChartJob:
    """One picture to build: the data, at a size, in a plotext theme. Equal jobs give equal pictures."""

    data: ChartData
    width: int
    height: int
    theme: str


class StatsChart(PlotextPlot):
    """A chart of one view of `LoadStats`, built in a thread: subclasses say what to plot in `data` (on the
    loop, cheap) and how in `plot` (in the thread, on a plotext figure of its own)."""

    DEFAULT_CSS = """
    StatsChart {
        height: 1fr;
        min-height: 6;
    }
    """
    TITLE = ""
    XLABEL = ""

    def __init__(
        self,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self.wanted: ChartData = ()  # what `draw` asked for last
        self.shown: ChartJob | None = None  # what the strips show
        self.building: ChartJob | None = None  # the build in flight: at most one
        self.builds = 0  # builds started (a figure for tests and the benchmark)
        self._strips: list[Strip] = []
        self._pad: Style | None = None  # the background beyond the picture (rich_style walks the DOM: kept)

    def _register_theme(self, app_theme_name: str) -> None:
        """textual-plotext's hook on mount and on every change of the app's theme: the theme is known to
        plotext once it returns, so a picture in it can be built."""
        super()._register_theme(app_theme_name)
        self._schedule()

    def on_resize(self) -> None:
        self._schedule()

    def watch_theme(self) -> None:
        self._schedule()

    def draw(self, stats: LoadStats | None) -> None:
        """Show `stats` (None: an empty chart) once a thread has drawn them; returns at once."""
        self.wanted = self.data(stats) if stats is not None else ()
        self._schedule()

    def data(self, stats: LoadStats) -> ChartData:
        raise NotImplementedError

    @classmethod
    def plot(cls, plt: Plot, data: ChartData) -> None:
        raise NotImplementedError

    @property
    def current(self) -> bool:
        """Whether the strips show what was last asked for, at this size."""
        return self.shown is not None and self.shown == self._job()

    def _job(self) -> ChartJob:
        theme = self._get_plotext_theme_name(self.app.theme)
        return ChartJob(self.wanted, self.size.width, self.size.height, theme)

    def _schedule(self) -> None:
        if not self.is_attached or self.building is not None or not self.size.area:
            return  # a build in flight schedules the next when it lands
        job = self._job()
        if job == self.shown:
            return
        self.building = job
        self.builds += 1
        self.run_worker(partial(self.build, job), thread=True, group=BUILD_GROUP, exit_on_error=False)

    @classmethod
    def build(cls, job: ChartJob) -> tuple[ChartJob, list[Strip]]:
        """The picture of `job` (runs in a worker thread: it touches nothing but its own figure)."""
        with _BUILDING:
            plt = Plot()
            plt.theme(job.theme)
            plt.title(cls.TITLE)
            if cls.XLABEL:
                plt.xlabel(cls.XLABEL)
            if job.data:
                cls.plot(plt, job.data)
            plt.plotsize(job.width, job.height)
            plt._set_size(job.width, job.height)  # as textual-plotext does: plotsize alone is not kept
            return job, ansi_strips(plt.build())

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group != BUILD_GROUP or event.state in (WorkerState.PENDING, WorkerState.RUNNING):
            return
        job_built, self.building = self.building, None
        if event.state == WorkerState.SUCCESS and worker.result is not None:
            job, strips = worker.result
            current = self._job()
            if (job.width, job.height, job.theme) == (current.width, current.height, current.theme):
                self.shown, self._strips, self._pad = job, strips, self.rich_style
                self.refresh()
            # else: drawn for a size or theme no longer shown: dropped, and drawn again below
        elif event.state == WorkerState.ERROR:
            self.shown = job_built  # not retried until something changes
            self._strips = [Strip([Segment(f"chart failed: {worker.error!r}", Style(color="red"))])]
            self.refresh()
        if event.state != WorkerState.CANCELLED:
            self._schedule()

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        strip = self._strips[y] if y < len(self._strips) else Strip.blank(width, self._pad)
        return strip.crop_extend(0, width, self._pad)

    def render(self) -> RenderResult:
        """The picture shown, as plain text (`render_line` draws it; this is for tests and tools)."""
        return Text("\n".join(strip.text for strip in self._strips))


class LatencyOverTime(StatsChart):
    """p50 and p99 latency of each 0.25 s interval."""

    TITLE = "latency over time (µs): p50, p99"
    XLABEL = "s"

    def data(self, stats: LoadStats) -> ChartData:
        series = list(stats.series)[-MAX_POINTS:]
        step = -(-len(series) // MAX_DRAWN)  # intervals per point: 1 up to MAX_DRAWN, then 2, 3, 4
        ts, p50, p99 = [], [], []
        # Merged by their number since the start, so a point keeps its intervals as the window slides;
        # p50 is their mean, p99 their max (a spike stays visible).
        for _, group in groupby(series, key=lambda i: round(i.t / INTERVAL_S) // step):
            part = list(group)
            ts.append(round(part[-1].t, 2))
            p50.append(_us(sum(i.p50_ns for i in part) / len(part)))
            p99.append(_us(max(i.p99_ns for i in part)))
        return (tuple(ts), tuple(p50), tuple(p99)) if ts else ()

    @classmethod
    def plot(cls, plt: Plot, data: ChartData) -> None:
        ts, p50, p99 = data
        plt.plot(ts, p50, label="p50", marker="braille")
        plt.plot(ts, p99, label="p99", marker="braille")


class LatencyHistogram(StatsChart):
    """How the commands of the whole run spread over latency: the share of them in each range."""

    TITLE = "latency histogram (µs): % of commands"

    def data(self, stats: LoadStats) -> ChartData:
        bars = merge_buckets(stats.total.buckets())
        total = sum(c for _, c in bars)
        if not total:
            return ()
        # Shares to 0.1 %: once a run has settled they barely move, and an unchanged chart is not redrawn.
        return (tuple(x for x, _ in bars), tuple(round(100 * c / total, 1) for _, c in bars))

    @classmethod
    def plot(cls, plt: Plot, data: ChartData) -> None:
        edges, shares = data
        plt.bar(edges, shares, width=0.8)
