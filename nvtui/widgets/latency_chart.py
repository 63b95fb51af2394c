"""Latency charts (textual-plotext) drawn from aggregated `LoadStats`, never from single samples: the
time chart plots one point per 0.25 s interval (neighbours merged once there are more than
`MAX_DRAWN`), the histogram merges the log-linear buckets into a few dozen bars.

Plotext is pure Python: one 120x17 chart costs 5-20 ms on a desktop and about 20x that under QEMU's TCG,
too long for the event loop, where a typed key would wait behind it, and too long for a thread of the
app too, which holds the GIL in 5 ms slices against the loop. So a chart is drawn in a process of its
own (`chart_build`, plotext only): `draw(stats)` (on the loop) takes a small immutable snapshot of what
to plot; a thread worker hands it to the chart process and waits for the picture's lines (holding no GIL
meanwhile), turns them into strips, and the widget shows those strips as they are. While the process
starts (after the first request) and if it keeps failing, the thread builds the picture itself. A
snapshot equal to the one shown is not drawn again, and while one build runs newer requests wait: only
the latest is built next.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import threading
from dataclasses import dataclass
from functools import lru_cache, partial
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from plotext._dict import themes as plotext_themes  # type: ignore[import-untyped]
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from textual.worker import Worker, WorkerState
from textual_plotext import PlotextPlot

from nvtui.stats import INTERVAL_S
from nvtui.widgets import chart_build
from nvtui.widgets.chart_build import ChartData, Lines, Reply, Request, ansi_runs

if TYPE_CHECKING:
    from textual.app import RenderResult
    from textual_plotext.plot import Plot

    from nvtui.stats import LoadStats

MAX_POINTS = 240  # the time chart keeps the last minute at 0.25 s per point
MAX_DRAWN = 60  # ... and draws at most this many: plotext's cost grows with the points (120: twice 60's)
HISTOGRAM_BARS = 24
# The chart process's program (`python -c`, so Python 3.10 works: `-P` came in 3.11): the current folder,
# which -c puts first on sys.path, is taken off, so no plotext.py lying there is imported in its place.
_SERVE = (
    "import sys; sys.path[:1] = [p for p in sys.path[:1] if p]; from nvtui.widgets.chart_build import serve; "
    "serve(int(sys.argv[1]), int(sys.argv[2]))"
)
BUILD_GROUP = "chart-build"
# One build at a time in the process: two threads at once would leave the event loop a third of the GIL
# instead of half, and the chart process answers one request at a time. A chart waiting here holds no GIL.
_BUILDING = threading.Lock()


class ChartProcessError(RuntimeError):
    """The chart process ended, or stopped answering, before a picture came back."""


class ChartBuildError(RuntimeError):
    """Plotext failed on a picture in the chart process (the message is the exception there)."""


class ChartServer:
    """The chart process of the charts on screen: started by the first build, ended (`close`) when the last
    of them unmounts; if it dies, the build in flight fails and the next one starts another. Its builds
    run in worker threads, one at a time (under `_BUILDING`); `close` on the event loop."""

    START_WAIT_S: ClassVar[float] = 0.0  # how long a build waits for a starting process (0: built here)
    REPLY_TIMEOUT_S: ClassVar[float] = 30.0  # a picture takes < 1 s under TCG: longer is a hung process
    MAX_STARTS: ClassVar[int] = 3  # processes started in all; then every picture is built in a thread

    def __init__(self) -> None:
        self._lock = threading.Lock()  # the process and its pipes, between a build thread and `close`
        self.proc: subprocess.Popen[bytes] | None = None
        self._to = self._from = -1  # our ends of the pipes to and from the process
        self.ready = False  # the process said it has imported plotext
        self.closed = False
        self.busy = False  # a build thread is using the pipes: it closes them, not `close`
        self.starts = 0

    def _start(self) -> None:
        to_child, from_app = os.pipe()
        to_app, from_child = os.pipe()
        root = str(Path(chart_build.__file__).resolve().parents[2])  # the nvtui this app runs
        path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
        env = dict(os.environ, PYTHONPATH=path)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _SERVE, str(to_child), str(from_child)],
                stdin=subprocess.DEVNULL,  # the terminal is the app's: the process never touches it
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=(to_child, from_child),
                env=env,
            )
        except OSError:
            os.close(from_app)
            os.close(to_app)
            raise
        finally:
            os.close(to_child)
            os.close(from_child)
            self.starts += 1
        self._to, self._from, self.ready = from_app, to_app, False

    def build(self, request: Request) -> Reply | None:
        """The chart process's answer to `request`, or None: the process is starting (or failed too often,
        or was closed), so the caller builds the picture itself. ChartProcessError: it died meanwhile."""
        with self._lock:
            if self.closed or (self.proc is None and self.starts >= self.MAX_STARTS):
                return None
            if self.proc is None:
                try:
                    self._start()
                except OSError:
                    return None  # no interpreter to start (counted as a start): built here
            self.busy = True
        failed = True  # until the picture is back: any exception on the way ends the process
        try:
            if not self.ready:
                if not _readable(self._from, self.START_WAIT_S):
                    failed = False
                    return None
                hello = chart_build.receive(self._from)
                if hello != chart_build.READY:
                    raise ChartProcessError(f"the chart process said {hello!r}")
                self.ready = True
            chart_build.send(self._to, request)
            if not _readable(self._from, self.REPLY_TIMEOUT_S):
                raise TimeoutError(f"no picture in {self.REPLY_TIMEOUT_S:g} s")
            reply = chart_build.receive(self._from)
            if not isinstance(reply, Reply):
                raise ChartProcessError(f"the chart process answered {reply!r}")
            failed = False
            return reply
        except (OSError, EOFError, TimeoutError) as exc:
            raise ChartProcessError(f"the chart process failed: {exc}") from exc
        finally:
            with self._lock:
                self.busy = False
                if failed or self.closed:
                    self._end()

    def close(self) -> None:
        """End the process (no picture is wanted any more); a build in flight fails, and closes the pipes."""
        with self._lock:
            self.closed = True
            if not self.busy:
                self._end()
            elif self.proc is not None:
                self.proc.kill()  # the build thread gets EOF and ends the rest

    def _end(self) -> None:
        """(under `_lock`, pipes not in use) Stop and reap the process, close the pipes."""
        for fd in (self._to, self._from):
            if fd >= 0:
                os.close(fd)
        self._to = self._from = -1
        self.ready = False
        if self.proc is not None:
            self.proc.kill()  # it holds nothing but a figure
            self.proc.wait()
            self.proc = None


def _readable(fd: int, timeout: float) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(timeout * 1000))


_server: ChartServer | None = None  # shared by the charts mounted (both on the Load screen)
_users = 0


def _acquire() -> ChartServer:
    global _server, _users
    if _server is None:
        _server = ChartServer()
    _users += 1
    return _server


def _release() -> None:
    global _server, _users
    _users -= 1
    if _users <= 0 and _server is not None:
        _server.close()
        _server, _users = None, 0


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


@lru_cache(maxsize=512)
def _sgr_style(codes: str) -> Style:
    """The Rich style of a run of SGR escapes (a chart has a handful of distinct runs: each parsed once)."""
    text = Text.from_ansi(codes + " ")
    style = text.spans[0].style if text.spans else Style.null()
    return Style.parse(style) if isinstance(style, str) else style


def strips(lines: Lines) -> list[Strip]:
    """A picture's (text, escapes) runs as one strip per line."""
    return [
        Strip([Segment(text, _sgr_style(codes) if codes else None) for text, codes in line]) for line in lines
    ]


def ansi_strips(ansi: str) -> list[Strip]:
    """Plotext's output as one strip per line."""
    return strips(ansi_runs(ansi))


@dataclass(frozen=True)
class ChartJob:
    """One picture to build: the data, at a size, in a plotext theme. Equal jobs give equal pictures."""

    data: ChartData
    width: int
    height: int
    theme: str


class StatsChart(PlotextPlot):
    """A chart of one view of `LoadStats`, built off the loop: subclasses say what to plot in `data` (on the
    loop, cheap) and which of `chart_build.PLOTS` draws it (`KIND`, in the chart process, or in the thread
    through `plot`)."""

    DEFAULT_CSS = """
    StatsChart {
        height: 1fr;
        min-height: 6;
    }
    StatsChart > .chart--error { color: $error; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {"chart--error"}
    KIND: ClassVar[str] = ""
    IN_PROCESS: ClassVar[bool] = True  # False: always built in the worker thread (tests; the old path)

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
        self.built_in = 0  # the pid of the process that built the picture shown
        self._server: ChartServer | None = None
        self._strips: list[Strip] = []
        self._pad: Style | None = None  # the background beyond the picture (rich_style walks the DOM: kept)

    def _register_theme(self, app_theme_name: str) -> None:
        """textual-plotext's hook on mount and on every change of the app's theme: the theme is known to
        plotext once it returns, so a picture in it can be built."""
        super()._register_theme(app_theme_name)
        self._schedule()

    def on_mount(self) -> None:  # (Textual also calls PlotextPlot's)
        self._server = _acquire()

    def on_unmount(self) -> None:
        self._server = None
        _release()

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
        """Plot `data` on `plt` (the thread path; the chart process calls `chart_build.PLOTS` itself)."""
        chart_build.PLOTS[cls.KIND][2](plt, data)

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
        server = self._server if self.IN_PROCESS else None
        self.run_worker(partial(self.build, job, server), thread=True, group=BUILD_GROUP, exit_on_error=False)

    @classmethod
    def build(cls, job: ChartJob, server: ChartServer | None = None) -> tuple[ChartJob, list[Strip], int]:
        """The picture of `job` and the pid that built it (runs in a worker thread: the chart process
        `server` builds it, or, while that starts, this thread on a plotext figure of its own)."""
        theme = plotext_themes.get(job.theme)
        request = Request(cls.KIND, job.data, job.width, job.height, job.theme, theme)
        with _BUILDING:
            reply = server.build(request) if server is not None else None
            if reply is None:
                lines, pid = chart_build.build(request, cls.plot), os.getpid()
            elif reply.error is not None:
                raise ChartBuildError(reply.error)
            else:
                lines, pid = reply.lines, reply.pid
        return job, strips(lines), pid

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group != BUILD_GROUP or event.state in (WorkerState.PENDING, WorkerState.RUNNING):
            return
        job_built, self.building = self.building, None
        if event.state == WorkerState.SUCCESS and worker.result is not None:
            job, lines, pid = worker.result
            current = self._job()
            if (job.width, job.height, job.theme) == (current.width, current.height, current.theme):
                self.shown, self._strips, self._pad, self.built_in = job, lines, self.rich_style, pid
                self.refresh()
            # else: drawn for a size or theme no longer shown: dropped, and drawn again below
        elif event.state == WorkerState.ERROR:
            self.shown = job_built  # not retried until something changes
            error = self.get_component_rich_style("chart--error", partial=True)
            self._strips = [Strip([Segment(f"chart failed: {worker.error!r}", error)])]
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

    KIND = "time"

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


class LatencyHistogram(StatsChart):
    """How the commands of the whole run spread over latency: the share of them in each range."""

    KIND = "histogram"

    def data(self, stats: LoadStats) -> ChartData:
        bars = merge_buckets(stats.total.buckets())
        total = sum(c for _, c in bars)
        if not total:
            return ()
        # Shares to 0.1 %: once a run has settled they barely move, and an unchanged chart is not redrawn.
        return (tuple(x for x, _ in bars), tuple(round(100 * c / total, 1) for _, c in bars))
