"""The layout language and its engine: decode and encode from YAML layouts, errors one line each."""

from __future__ import annotations

from pathlib import Path

import pytest

from nvtui import structures
from nvtui.catalogue import load_catalogue
from nvtui.catalogue.loader import check_file
from nvtui.structures.engine import EncodeError

EXAMPLE = Path(__file__).parent.parent / "examples" / "vendor-acme.yaml"


def _file(tmp_path: Path, body: str, name: str = "cat.yaml") -> Path:
    path = tmp_path / name
    path.write_text("version: 1\ncommands: []\nstructures:\n" + body)
    return path


def test_the_built_in_layouts_load_without_a_problem() -> None:
    assert structures.builtin_errors() == ()
    assert structures.quick_ids() == set(structures.ids())


def test_a_field_past_the_transferred_bytes_is_absent_not_zero() -> None:
    data = bytearray(512)
    data[1:3] = (310).to_bytes(2, "little")
    record = structures.decode("smart-log", bytes(data[:40]))
    assert record["temperature"].value == 310  # type: ignore[union-attr]
    assert record["temperature"].meaning == "310 K (37 °C)"  # type: ignore[union-attr]
    assert record.to_json()["data_units_read"] is None  # bytes 32..47: only 40 came
    assert record["power_on_hours"].meaning == "not transferred"  # type: ignore[union-attr]


def test_bit_slices_enums_flags_and_arrays_built_by_hand() -> None:
    # Device Self-test log (NVMe Base 2.0, Figs. 212-213): byte 0 bits 3:0 current operation, byte 1 bits
    # 6:0 completion, results from byte 4, 28 bytes each: byte 0 bits 7:4 operation, 3:0 result, byte 2 VDI
    data = bytearray(564)
    data[0] = 0x2
    data[1] = 40
    entry = 4
    data[entry] = 0x1 << 4 | 0x7
    data[entry + 1] = 3
    data[entry + 2] = 0b0010
    data[entry + 16 : entry + 24] = (0x1234).to_bytes(8, "little")
    record = structures.decode("self-test-log", bytes(data))
    out = record.to_json()
    assert out["current_operation"] == 2 and out["completion"] == 40
    assert record["current_operation"].meaning == "extended device self-test"  # type: ignore[union-attr]
    first = out["results"][0]  # type: ignore[index]
    assert first["operation"] == 1 and first["result"] == 7 and first["segment_number"] == 3  # type: ignore[index]
    assert first["failing_lba"] == 0x1234 and first["vdi"] == 2  # type: ignore[index]
    assert len(out["results"]) == 20  # type: ignore[arg-type]


def test_encode_writes_named_values_and_refuses_what_does_not_fit() -> None:
    raw = structures.encode("smart-log", {"temperature": 300, "data_units_read": 1 << 100})
    assert len(raw) == 512 and raw[1:3] == (300).to_bytes(2, "little")
    assert int.from_bytes(raw[32:48], "little") == 1 << 100
    with pytest.raises(EncodeError, match=r"smart-log.temperature: 65536 does not fit in 16 bits"):
        structures.encode("smart-log", {"temperature": 1 << 16})
    with pytest.raises(EncodeError, match="no field named 'temprature'"):
        structures.encode("smart-log", {"temprature": 1})
    effects = structures.encode("effects-log", {"acs": [{"opcode": 6, "csupp": True, "cse": 1}]})
    assert int.from_bytes(effects[24:28], "little") == 1 | 1 << 16


def test_bad_structures_get_one_line_each_with_file_line_and_field(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        """\
  - id: overlapping
    name: x
    spec: y
    size: 8
    fields:
      - {name: a, at: 0, size: 4}
      - {name: b, at: 2, size: 4}
  - id: past-the-end
    name: x
    spec: y
    size: 4
    fields:
      - {name: a, at: 2, size: 4}
  - id: odd-unit
    name: x
    spec: y
    size: 4
    fields:
      - {name: a, at: 0, size: 4, unit: furlongs}
  - id: no-count-field
    name: x
    spec: y
    size: 8
    fields:
      - {name: n, at: 0, type: array, of: smart-log, stride: 4, count: {field: nope}}
  - id: good
    name: x
    spec: y
    size: 4
    fields:
      - {name: a, at: 0, size: 4}
""",
    )
    lines = [str(e) for e in check_file(path)]
    assert len(lines) == 4, lines
    assert all("\n" not in line for line in lines)
    assert lines[0].startswith(f"{path}:10: overlapping: field fields.b.at: field 'b' (bytes 2..5) overlaps")
    assert (
        lines[1].startswith(f"{path}:16: past-the-end: field fields.a.at:") and "past the 4-byte" in lines[1]
    )
    assert lines[2].startswith(f"{path}:22: odd-unit: field fields.a.unit:") and "furlongs" in lines[2]
    assert f"{path}:28: no-count-field: field fields.n.count: no field named 'nope'" in lines[3]
    catalogue = load_catalogue([path], user_dir=False)
    assert len([e for e in catalogue.errors if e.file == path]) == 4
    assert "good" in structures.ids() and "overlapping" not in structures.ids()


def test_a_user_catalogue_adds_a_structure_and_a_decode_rule_names_it() -> None:
    catalogue = load_catalogue([EXAMPLE], user_dir=False)
    assert [e for e in catalogue.errors if e.file == EXAMPLE] == []
    data = bytearray(512)
    data[2] = 2
    data[4] = 0b0010
    data[8] = 0b11111110  # throttle level 2 (bits 1:0), reserved bits set
    data[48:52] = b"B123"
    data[64:72] = bytes([7, 0, 55, 1, 0x10, 0, 0, 0])
    record = structures.decode("acme-health-log", bytes(data))
    out = record.to_json()
    assert out["health_flags"] == 2 and record["health_flags"].meaning == "thermal throttling active"  # type: ignore[union-attr]
    assert out["throttle_level"] == 2 and out["firmware_build"] == "B123"
    assert out["dies"] == [{"die_id": 7, "wear_percent": 55, "bad_block_pct": 1, "erase_count": 16}, {
        "die_id": 0, "wear_percent": 0, "bad_block_pct": 0, "erase_count": 0}]  # fmt: skip
    assert "reserved_8" not in out
