from __future__ import annotations

import random

import pytest

from nvtui.backend.histogram import BUCKETS, LatencyHistogram, bucket_high, bucket_low, bucket_of
from nvtui.stats import LoadStats


@pytest.mark.parametrize("value", [0, 1, 31, 32, 33, 63, 64, 65, 1000, 4095, 4096, 123_456_789, 10**13])
def test_value_falls_inside_its_bucket(value: int) -> None:
    b = bucket_of(value)
    assert bucket_low(b) <= value <= bucket_high(b)


def test_buckets_are_contiguous_and_within_three_percent() -> None:
    for i in range(1, BUCKETS - 1):
        assert bucket_low(i) == bucket_high(i - 1) + 1
        assert (bucket_high(i) - bucket_low(i)) <= max(1, bucket_low(i) // 32)


def test_percentiles_match_sorted_samples_within_bucket_precision() -> None:
    rng = random.Random(7)
    samples = [int(rng.lognormvariate(11, 0.6)) for _ in range(20000)]
    h = LatencyHistogram()
    for s in samples:
        h.record(s)
    ordered = sorted(samples)
    for p in (50, 90, 99, 99.9):
        exact = ordered[max(0, int(-(-len(ordered) * p // 100)) - 1)]
        got = h.percentile(p)
        assert exact <= got <= exact * 1.035 + 1, (p, exact, got)
    assert h.min_ns == ordered[0] and h.max_ns == ordered[-1] and h.count == len(samples)
    assert h.percentile(100) == ordered[-1]


def test_merge_counts_equals_recording_each() -> None:
    a, b, both = LatencyHistogram(), LatencyHistogram(), LatencyHistogram()
    for v in range(100, 5000, 7):
        a.record(v)
        both.record(v)
    for v in range(7000, 9000, 3):
        b.record(v)
        both.record(v)
    a.merge(b)
    assert list(a.counts) == list(both.counts)
    assert (a.count, a.total_ns, a.min_ns, a.max_ns) == (both.count, both.total_ns, both.min_ns, both.max_ns)
    with pytest.raises(ValueError, match="buckets"):
        a.merge_counts([1, 2, 3], 6, 1, 3)


def test_load_stats_series_and_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr("nvtui.stats.time.monotonic", lambda: now[0])
    stats = LoadStats()
    for i in range(10):
        stats.record(1000 + i, ok=i != 3)
    now[0] += 0.3
    stats.record(5000)
    now[0] += 0.6
    stats.tick()  # an idle interval still appears, with count 0
    stats.finish()
    assert [iv.count for iv in stats.series] == [10, 1, 0]
    assert stats.series[0].errors == 1
    s = stats.summary()
    assert s["ios"] == 11 and s["errors"] == 1 and s["max_ns"] == 5000 and s["min_ns"] == 1000
    assert s["iops"] == pytest.approx(11 / 0.9, abs=0.06)


def test_a_namespaces_stats_add_into_their_parent_as_they_come() -> None:
    total = LoadStats()
    one, two = LoadStats(parent=total), LoadStats(parent=total)
    one.record(1000)
    one.record(3000, ok=False)
    other = LatencyHistogram()
    for v in (2000, 4000, 8000):
        other.record(v)
    two.merge_counts(other.counts, other.total_ns, other.min_ns, other.max_ns, errors=1)
    assert (one.total.count, two.total.count, total.total.count) == (2, 3, 5)
    assert (one.errors, two.errors, total.errors) == (1, 1, 2)
    assert (total.total.min_ns, total.total.max_ns, total.total.total_ns) == (1000, 8000, 18000)
