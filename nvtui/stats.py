"""Load-run statistics: the whole run's latency histogram and a bounded series of per-interval summaries,
so charts and reports never walk every sample. The histogram and its layout are `nvtui.backend.histogram`'s
(the C load engine fills the same layout below the session layer).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from nvtui.backend.histogram import LatencyHistogram


@dataclass(frozen=True)
class Interval:
    """One slice of a load run: when it ended (seconds since the start), how many completed, latencies."""

    t: float
    count: int
    errors: int
    mean_ns: float
    p50_ns: int
    p99_ns: int
    max_ns: int

    @property
    def iops(self) -> float:
        return self.count / INTERVAL_S


INTERVAL_S = 0.25


class LoadStats:
    """Whole-run histogram plus a bounded series of per-interval summaries for the live chart."""

    def __init__(self, keep_intervals: int = 2400, parent: LoadStats | None = None) -> None:
        self.parent = parent  # an aggregate (several namespaces' runs) that sees every sample too
        self.total = LatencyHistogram()
        self.errors = 0
        self.series: deque[Interval] = deque(maxlen=keep_intervals)
        self._current = LatencyHistogram()
        self._current_errors = 0
        self.started = time.monotonic()
        self._interval_start = self.started
        self.finished: float | None = None

    def record(self, latency_ns: int, ok: bool = True) -> None:
        self._roll()  # close elapsed intervals first: this sample belongs to the current one
        self.total.record(latency_ns)
        self._current.record(latency_ns)
        if not ok:
            self.errors += 1
            self._current_errors += 1
        if self.parent is not None:
            self.parent.record(latency_ns, ok)

    def merge_counts(
        self, counts: Sequence[int], total_ns: int, min_ns: int, max_ns: int, errors: int = 0
    ) -> None:
        self.total.merge_counts(counts, total_ns, min_ns, max_ns)
        self._current.merge_counts(counts, total_ns, min_ns, max_ns)
        self.errors += errors
        self._current_errors += errors
        if self.parent is not None:
            self.parent.tick()  # as `record` does: the counts belong to the parent's current interval
            self.parent.merge_counts(counts, total_ns, min_ns, max_ns, errors)

    def _roll(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        while now - self._interval_start >= INTERVAL_S:
            cur = self._current
            self.series.append(
                Interval(
                    t=self._interval_start + INTERVAL_S - self.started,
                    count=cur.count,
                    errors=self._current_errors,
                    mean_ns=cur.mean_ns,
                    p50_ns=cur.percentile(50),
                    p99_ns=cur.percentile(99),
                    max_ns=cur.max_ns,
                )
            )
            self._current = LatencyHistogram()
            self._current_errors = 0
            self._interval_start += INTERVAL_S

    def tick(self) -> None:
        """Close the intervals that have elapsed even when nothing completed (a stalled device shows 0)."""
        self._roll()

    def finish(self) -> None:
        self.finished = time.monotonic()

    @property
    def elapsed_s(self) -> float:
        end = self.finished if self.finished is not None else time.monotonic()
        return max(end - self.started, 1e-9)

    @property
    def iops(self) -> float:
        return self.total.count / self.elapsed_s

    def summary(self) -> dict[str, float | int]:
        h = self.total
        out: dict[str, float | int] = {
            "ios": h.count,
            "errors": self.errors,
            "seconds": round(self.elapsed_s, 3),
            "iops": round(self.iops, 1),
            "mean_ns": round(h.mean_ns),
            "min_ns": h.min_ns,
            "max_ns": h.max_ns,
        }
        for p, v in h.percentiles().items():
            out[f"p{p:g}_ns"] = v
        return out
