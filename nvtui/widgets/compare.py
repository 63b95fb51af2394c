"""The Load screen's Compare view: runs side by side (the interface ladder's rungs, or the Load screen's own
runs), as IOPS bars and their latency distributions overlaid as CDFs.

Both are drawn as text from each run's aggregated histogram (a few hundred buckets at most, one pass per
column), cheap enough to redraw on the event loop while a rung runs. A rung has a marker of its own as well
as a colour, so the overlay reads without colour too.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from nvtui.backend.histogram import LatencyHistogram

MARKERS = "●▲■◆✚✖○△"
BAR = "█"


@dataclass(frozen=True)
class Rung:
    """One run to compare: its name, its latencies so far, and its figures (a finished ladder rung's: the
    issue's `{"rung", "iops", "mb_s", "p50_ns", "p99_ns", "p999_ns", "cpu_per_io_ns", "vs_block"}`, or
    `{"rung", "skipped"}`)."""

    name: str
    latency: LatencyHistogram | None = None  # None: none measured (skipped, or not started)
    iops: float = 0.0
    mb_s: float | None = None
    cpu_per_io_ns: float | None = None
    vs_block: float | None = None
    skipped: str | None = None  # why the rung could not run
    running: bool = False

    @classmethod
    def from_json(cls, doc: Mapping[str, object], latency: LatencyHistogram | None = None) -> Rung:
        """A rung from its JSON object (as `nvtui bench --ladder --json` gives it), with its histogram."""

        def number(key: str) -> float | None:
            value = doc.get(key)
            return float(value) if isinstance(value, int | float) else None

        skipped = doc.get("skipped")
        return cls(
            name=str(doc.get("rung", "?")), latency=latency, iops=number("iops") or 0.0, mb_s=number("mb_s"),
            cpu_per_io_ns=number("cpu_per_io_ns"), vs_block=number("vs_block"),
            skipped=str(skipped) if skipped is not None else None,
        )  # fmt: skip


def _us(ns: float) -> str:
    us = ns / 1000
    return f"{us:,.0f}" if us >= 100 else f"{us:,.1f}"


class RungStyles:
    """Each rung's style by its place, from the widget's component classes (theme colours)."""

    def __init__(self, widget: Widget, count: int) -> None:
        self.styles = [
            widget.get_component_rich_style(f"compare--rung-{i}", partial=True) for i in range(count)
        ]

    def __getitem__(self, index: int) -> Style:
        return self.styles[index % len(self.styles)] if self.styles else Style()


class CompareWidget(Widget):
    """What both views share: the rungs (set as a whole; a live rung's histogram fills in place, and
    `refresh` redraws it) and the rung colours."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {f"compare--rung-{i}" for i in range(len(MARKERS))}
    DEFAULT_CSS = """
    CompareWidget .compare--rung-0 { color: $primary; }
    CompareWidget .compare--rung-1 { color: $warning; }
    CompareWidget .compare--rung-2 { color: $success; }
    CompareWidget .compare--rung-3 { color: $error; }
    CompareWidget .compare--rung-4 { color: $accent; }
    CompareWidget .compare--rung-5 { color: $secondary; }
    CompareWidget .compare--rung-6 { color: $foreground; }
    CompareWidget .compare--rung-7 { color: $text-muted; }
    """

    rungs: reactive[tuple[Rung, ...]] = reactive((), always_update=True, layout=True)

    def rung_styles(self) -> RungStyles:
        return RungStyles(self, len(MARKERS))


class RungBars(CompareWidget):
    """IOPS per rung as horizontal bars, with each rung's ratio to the block path (or why it was skipped)."""

    DEFAULT_CSS = """
    RungBars {
        height: auto;
    }
    """

    def render(self) -> Text:
        return rung_bars(self.rungs, self.size.width, self.rung_styles())


class LatencyCdf(CompareWidget):
    """The rungs' latency distributions overlaid: the share of I/Os at or below each latency (log scale)."""

    DEFAULT_CSS = """
    LatencyCdf {
        height: 1fr;
    }
    """

    def render(self) -> Text:
        return latency_cdf(self.rungs, self.size.width, self.size.height, self.rung_styles())


def rung_bars(rungs: Sequence[Rung], width: int, styles: RungStyles | None = None) -> Text:
    t = Text(no_wrap=True, overflow="ellipsis")
    if not rungs:
        t.append("Nothing to compare yet: each run (and each rung of a ladder) shows here.", style="dim")
        return t
    name_w = min(max(len(r.name) for r in rungs), 24)
    value_w = 24  # "1,234,567 IOPS  x1.23" and a little room
    bar_w = max(width - name_w - 2 - 2 - value_w, 4)
    top = max((r.iops for r in rungs if r.skipped is None), default=0.0) or 1.0
    for i, rung in enumerate(rungs):
        if i:
            t.append("\n")
        style = styles[i] if styles is not None else Style()
        t.append(f"{MARKERS[i % len(MARKERS)]} ", style=style)
        t.append(f"{rung.name[:name_w]:<{name_w}} ", style="bold")
        if rung.skipped is not None:
            t.append(f"skipped: {rung.skipped}", style="dim")
            continue
        if rung.latency is None and not rung.running:
            t.append("waiting", style="dim")
            continue
        filled = round(bar_w * rung.iops / top)
        t.append(BAR * filled, style=style)
        t.append(" " * (bar_w - filled + 1))
        t.append(f"{rung.iops:,.0f} IOPS")
        if rung.vs_block is not None:
            t.append(f"  x{rung.vs_block:.2f}", style="dim")
        if rung.running:
            t.append("  running", style="dim")
    return t


def _cdf_at(hist: LatencyHistogram) -> tuple[list[int], list[int]]:
    """(upper bucket edges, cumulative counts) of a histogram's non-empty buckets."""
    highs: list[int] = []
    cumulative: list[int] = []
    seen = 0
    for _low, high, count in hist.buckets():
        seen += count
        highs.append(high)
        cumulative.append(seen)
    return highs, cumulative


def latency_cdf(rungs: Sequence[Rung], width: int, height: int, styles: RungStyles | None = None) -> Text:
    """A text CDF plot: columns are latencies on a log scale from the fastest I/O to the slowest p99.9 of
    the rungs shown, rows the share of I/Os (100 % at the top); a legend line below."""
    measured = [(i, r) for i, r in enumerate(rungs) if r.latency is not None and r.latency.count]
    t = Text(no_wrap=True, overflow="crop")
    if not measured:
        t.append("No latencies yet.", style="dim")
        return t
    label_w = 5  # "100% "
    plot_w, plot_h = max(width - label_w, 8), max(height - 3, 3)  # an axis line, its labels, the legend
    lo = max(min(r.latency.min_ns for _, r in measured if r.latency), 1)  # type: ignore[union-attr]
    hi = max(max(r.latency.percentile(99.9) for _, r in measured if r.latency), lo + 1)  # type: ignore[union-attr]
    log_lo, log_hi = math.log(lo), math.log(hi)
    columns = [math.exp(log_lo + (log_hi - log_lo) * c / (plot_w - 1)) for c in range(plot_w)]
    grid: list[list[tuple[str, int] | None]] = [[None] * plot_w for _ in range(plot_h)]
    for index, rung in measured:
        assert rung.latency is not None
        highs, cumulative = _cdf_at(rung.latency)
        total = rung.latency.count
        for c, value in enumerate(columns):
            at = bisect_right(highs, value)
            share = cumulative[at - 1] / total if at else 0.0
            row = round((1.0 - share) * (plot_h - 1))
            grid[row][c] = (MARKERS[index % len(MARKERS)], index)
    for row_i, cells in enumerate(grid):
        share = 1.0 - row_i / (plot_h - 1)
        label = f"{share * 100:3.0f}%" if row_i in (0, plot_h // 2, plot_h - 1) else ""
        t.append(f"{label:>4} ", style="dim")
        for cell in cells:
            if cell is None:
                t.append(" ")
            else:
                t.append(cell[0], style=styles[cell[1]] if styles is not None else "")
        t.append("\n")
    t.append(" " * label_w + "└" + "─" * (plot_w - 1) + "\n", style="dim")
    left, middle, right = _us(lo), _us(math.sqrt(lo * hi)), f"{_us(hi)} µs"
    gap = plot_w - len(left) - len(middle) - len(right)
    axis = left + " " * max(gap // 2, 1) + middle + " " * max(gap - gap // 2, 1) + right
    t.append(" " * label_w + axis[:plot_w] + "\n", style="dim")
    for n, (index, rung) in enumerate(measured):
        style = styles[index] if styles is not None else Style()
        t.append(("  " if n else " " * label_w) + MARKERS[index % len(MARKERS)], style=style)
        t.append(f" {rung.name}", style="dim")
    return t
