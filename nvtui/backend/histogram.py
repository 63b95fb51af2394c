"""The latency histogram's layout and the histogram itself: log-linear buckets (HdrHistogram's layout).

Values below 2**SUB_BITS nanoseconds get a bucket each; above that, every power of two is split into
2**SUB_BITS equal buckets, so any value is known to within 1/32 (about 3 %). It lives below the backends:
the C load engine fills an array of the same layout (engine.c's NVT_HIST_*, checked when it loads), and
`LatencyHistogram.merge_counts` adds such an array in one step; the session layer's `nvtui.stats` builds
its run statistics on it.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence

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
