"""The one decode result: layouts, flattening with absolute offsets, JSON."""

from __future__ import annotations

import json

from nvtui.nvme.decode import decode
from nvtui.structures.engine import decode as engine_decode
from nvtui.structures.layout import Amount, FieldSpec, Layout


def test_flat_gives_absolute_offsets_inside_groups() -> None:
    data = bytes(range(64))
    item = Layout("item", "item", "test", Amount(fixed=8), (FieldSpec("b", 2, Amount(fixed=2)),))
    three = {"of": "item", "stride": Amount(fixed=8), "count": Amount(fixed=3)}
    items = FieldSpec("items", 16, Amount(), "array", **three)  # type: ignore[arg-type]
    head = Layout("head", "head", "test", Amount(fixed=64), (FieldSpec("a", 0, Amount(fixed=4)), items))
    record = engine_decode({"item": item, "head": head}, "head", data, {})
    rows = [(path, off) for path, _f, off in record.flat()]
    assert rows == [("a", 0), ("items[0].b", 18), ("items[1].b", 26), ("items[2].b", 34)]
    assert [f.raw for _p, f, _o in record.flat()][1] == int.from_bytes(bytes([18, 19]), "little")


def test_error_log_entries_flatten_at_their_own_offsets() -> None:
    """Two 64-byte Error Information entries: sqid sits at byte 8 of each (NVMe Base 2.0, Fig. 206)."""
    data = bytearray(128)
    for i, base in enumerate((0, 64)):
        data[base : base + 8] = (i + 1).to_bytes(8, "little")  # error_count, non-zero
        data[base + 8 : base + 10] = (0x10 + i).to_bytes(2, "little")
    record = decode("error-log", bytes(data))
    sqids = {path: (off, f.raw) for path, f, off in record.flat() if path.endswith(".sqid")}
    assert sqids == {"entries[0].sqid": (8, 0x10), "entries[1].sqid": (72, 0x11)}
    json.dumps(record.to_json())


def test_effects_log_records_start_at_their_opcode_entry() -> None:
    data = bytearray(4096)
    data[4 * 0x06 : 4 * 0x06 + 4] = (1).to_bytes(4, "little")  # admin Identify supported
    data[1024 + 4 * 0x02 : 1024 + 4 * 0x02 + 4] = (1).to_bytes(4, "little")  # I/O Read supported
    record = decode("effects-log", bytes(data))
    offsets = {path: off for path, _f, off in record.flat() if path.endswith(".csupp")}
    assert offsets == {"acs[0].csupp": 24, "iocs[0].csupp": 1032}
