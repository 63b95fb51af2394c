"""Every layout in nvtui/structures (whoever wrote it): encode-then-decode round-trips, and it accounts for
every byte of its structure (fields plus declared reserved ranges)."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nvtui import structures
from nvtui.structures.layout import FieldSpec, Layout

IDS = sorted(structures.layouts())


def _size(layout: Layout) -> int | None:
    return layout.size.fixed


@pytest.mark.parametrize("sid", IDS)
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(data=st.data())
def test_encode_then_decode_round_trips(sid: str, data: st.DataObject) -> None:
    """Values decoded from any bytes encode to bytes that decode to the same values, and encoding those
    values again gives the same bytes: nothing a layout shows is lost or invented on the way back."""
    layout = structures.get(sid)
    size = _size(layout)
    if size is None:
        size = data.draw(st.integers(0, 600), label="size")
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    rng = random.Random(seed)
    raw = bytearray(rng.randbytes(size))
    if data.draw(st.booleans(), label="sparse"):  # mostly zeros, as real structures are
        for i in range(size):
            if rng.random() < 0.9:
                raw[i] = 0
    raw = bytes(raw)
    # Bytes past the end decode as null, which no encoding can say: start from what the first encoding made.
    canonical = structures.encode(sid, structures.decode(sid, raw).to_json())
    values = structures.decode(sid, canonical).to_json()
    assert structures.encode(sid, values) == canonical
    assert structures.decode(sid, structures.encode(sid, values)).to_json() == values


def _extent(layout: Layout, f: FieldSpec, size: int) -> tuple[int, int]:
    """The bits [start, end) a field may take; an array or a field whose size the data gives runs to
    the end of the structure at most."""
    if f.type == "array":
        if f.size.fixed:
            return 8 * f.at, 8 * (f.at + f.size.fixed)
        stride, count = f.stride, f.count
        if stride is not None and stride.fixed and count is not None:
            most = count.fixed if count.fixed is not None else count.max
            if most is not None:
                return 8 * f.at, 8 * min(size, f.at + stride.fixed * most)
        return 8 * f.at, 8 * size
    if f.type == "struct":
        inner = structures.get(f.of).size.fixed
        return 8 * f.at, 8 * (f.at + inner if inner is not None else size)
    if f.size.fixed is None:
        return 8 * f.at, 8 * size
    if f.lsb >= 0:
        return 8 * f.at + f.lsb, 8 * f.at + f.msb + 1
    return 8 * f.at, 8 * (f.at + f.size.fixed)


@pytest.mark.parametrize("sid", IDS)
def test_every_layout_accounts_for_every_bit(sid: str) -> None:
    """Fields and declared reserved ranges cover the whole structure, bit for bit: a gap is a field the
    layout forgot (or a reserved range it did not declare). A structure whose size the data gives is
    checked up to its furthest fixed field."""
    layout = structures.get(sid)
    spans = [(f, _extent(layout, f, layout.size.fixed or 0)) for f in layout.fields]
    size = layout.size.fixed
    if size is None:
        size = max((end + 7) // 8 for _, (_, end) in spans)
    covered = [False] * (8 * size)
    for _, (start, end) in spans:
        for bit in range(start, min(end, 8 * size)):
            covered[bit] = True
    gaps = [bit for bit, hit in enumerate(covered) if not hit]
    assert not gaps, (
        f"{sid}: bits not accounted for, from byte {gaps[0] // 8} bit {gaps[0] % 8} ({len(gaps)} bits)"
    )
