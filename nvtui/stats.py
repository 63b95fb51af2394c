"""Latency statistics aggregated in buckets, so charts and reports never walk every sample.

The histogram is log-linear (HdrHistogram's layout): values below 2**SUB_BITS nanoseconds get a bucket each;
above that, every power of two is split into 2**SUB_BITS equal buckets, so any value is known to within
1/32 (about 3 %). The C load engine fills an array with the same layout; `LatencyHistogram.merge_counts`
adds such an array in one step.
"""

from __future__ import annotations

import time
from array import array
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

SUB_BITS = 5
SUB_COUNT = 1 << SUB_BITS
MAX_SHIFT = 40  # values up to 2**(40+SUB_BITS+1) ns (about 20 hours) are bucketed; larger ones clamp
BUCKETS = (MAX_SHIFT + 2) * SUB_COUNT
PERCENTILES = (50.0, 90.0, 99.0, 99.9)


def bucket_of(value_ns: int) -> int:
    if value_ns < SUB_COUNT:
        return max(value_ns, 0)
    shift = value_ns.bit_length() - SUB_BITS - 1
    if shift > MAX_SHIFT:
        return BUCKETS - 1
    return (shift + 1) * SUB_COUNT + ((value_ns >> shift) - SUB_COUNT)


def bucket_low(index: int) -> int:
    """The smallest value that falls in bucket `index`."""
    if index < SUB_COUNT:
        return index
    shift = index // SUB_COUNT - 1
    return (index % SUB_COUNT + SUB_COUNT) << shift


def bucket_high(index: int) -> int:
    """The largest value that falls in bucket `index`."""
    if index < SUB_COUNT:
        return index
    return bucket_low(index) + (1 << (index // SUB_COUNT - 1)) - 1


class LatencyHistogram:
    def __init__(self) -> None:
        self.counts = array("Q", bytes(8 * BUCKETS))
        self.count = 0
        self.total_ns = 0
        self.min_ns = 0
        self.max_ns = 0

    def record(self, value_ns: int) -> None:
        self.counts[bucket_of(value_ns)] += 1
        if self.count == 0 or value_ns < self.min_ns:
            self.min_ns = value_ns
        if value_ns > self.max_ns:
            self.max_ns = value_ns
        self.count += 1
        self.total_ns += value_ns

    def merge_counts(self, counts: Sequence[int], total_ns: int, min_ns: int, max_ns: int) -> None:
        """Add a bucket array of the same layout (e.g. filled by the C engine) and its summary."""
        if len(counts) != BUCKETS:
            raise ValueError(f"histogram has {len(counts)} buckets, expected {BUCKETS}")
        n = 0
        for i, c in enumerate(counts):
            if c:
                self.counts[i] += c
                n += c
        if not n:
            return
        self.min_ns = min_ns if self.count == 0 else min(self.min_ns, min_ns)
        self.max_ns = max(self.max_ns, max_ns)
        self.count += n
        self.total_ns += total_ns

    def merge(self, other: LatencyHistogram) -> None:
        self.merge_counts(other.counts, other.total_ns, other.min_ns, other.max_ns)

    @property
    def mean_ns(self) -> float:
        return self.total_ns / self.count if self.count else 0.0

    def percentile(self, p: float) -> int:
        """The value at percentile `p` (0-100): the upper edge of its bucket, clamped to the observed max."""
        if not self.count:
            return 0
        rank = max(1, -(-self.count * p // 100))  # ceil, at least the first sample
        seen = 0
        for i, c in enumerate(self.counts):
            seen += c
            if seen >= rank:
                return min(bucket_high(i), self.max_ns)
        return self.max_ns

    def percentiles(self, ps: Iterable[float] = PERCENTILES) -> dict[float, int]:
        return {p: self.percentile(p) for p in ps}

    def buckets(self) -> list[tuple[int, int, int]]:
        """(low_ns, high_ns, count) for every non-empty bucket, for a histogram chart."""
        return [(bucket_low(i), bucket_high(i), c) for i, c in enumerate(self.counts) if c]


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

    def __init__(self, keep_intervals: int = 2400) -> None:
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

    def merge_counts(
        self, counts: Sequence[int], total_ns: int, min_ns: int, max_ns: int, errors: int = 0
    ) -> None:
        self.total.merge_counts(counts, total_ns, min_ns, max_ns)
        self._current.merge_counts(counts, total_ns, min_ns, max_ns)
        self.errors += errors
        self._current_errors += errors

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
