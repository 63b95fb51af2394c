"""The one decode result: table-driven layouts, flattening with absolute offsets, JSON."""

from __future__ import annotations

import json

from nvtui.nvme.decode import decode
from nvtui.nvme.decode.base import U, decode_group, decode_layout


def test_flat_gives_absolute_offsets_inside_groups() -> None:
    data = bytes(range(64))
    group = decode_group(
        "items", data, 16, 8, 3, lambda d, base: decode_layout("item", d, [U("b", 2, 2)], base)
    )
    head = decode_layout("head", data, [U("a", 0, 4)])
    record = type(head)(head.name, (*head.items, group))
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
