"""The Watch chart: one numeric field of a re-sent command over time, drawn like the latency charts (off
the loop, in the chart process)."""

from __future__ import annotations

from nvtui.widgets.chart_build import ChartData
from nvtui.widgets.latency_chart import StatsChart


class WatchChart(StatsChart):
    KIND = "watch"

    def show_series(self, data: ChartData) -> None:
        """Draw `data` ((seconds...), (values...)); returns at once, the picture lands later."""
        self.wanted = data
        self._schedule()
