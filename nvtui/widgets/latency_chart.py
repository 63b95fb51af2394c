"""Latency charts (textual-plotext) drawn from aggregated `LoadStats`, never from single samples: the
time chart plots one point per 0.25 s interval, the histogram merges the log-linear buckets into a few
dozen bars. The owner calls `draw(stats)` on a timer, so redraw cost does not grow with the IOPS."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual_plotext import PlotextPlot

if TYPE_CHECKING:
    from nvtui.stats import LoadStats

MAX_POINTS = 240  # the time chart keeps the last minute at 0.25 s per point
HISTOGRAM_BARS = 24


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


class StatsChart(PlotextPlot):
    """A chart of one view of `LoadStats`; subclasses say which in `plot`."""

    DEFAULT_CSS = """
    StatsChart {
        height: 1fr;
        min-height: 6;
    }
    """
    TITLE = ""
    XLABEL = ""

    def on_mount(self) -> None:
        self.draw(None)

    def draw(self, stats: LoadStats | None) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(self.TITLE)
        if self.XLABEL:
            plt.xlabel(self.XLABEL)
        if stats is not None:
            self.plot(stats)
        self.refresh()

    def plot(self, stats: LoadStats) -> None:
        raise NotImplementedError


class LatencyOverTime(StatsChart):
    """p50 and p99 latency of each 0.25 s interval."""

    TITLE = "latency over time (µs): p50, p99"
    XLABEL = "s"

    def plot(self, stats: LoadStats) -> None:
        series = list(stats.series)[-MAX_POINTS:]
        if series:
            ts = [round(i.t, 2) for i in series]
            self.plt.plot(ts, [_us(i.p50_ns) for i in series], label="p50", marker="braille")
            self.plt.plot(ts, [_us(i.p99_ns) for i in series], label="p99", marker="braille")


class LatencyHistogram(StatsChart):
    """How many commands completed in each latency range over the whole run."""

    TITLE = "latency histogram (µs)"

    def plot(self, stats: LoadStats) -> None:
        bars = merge_buckets(stats.total.buckets())
        if bars:
            self.plt.bar([x for x, _ in bars], [c for _, c in bars], width=0.8)
