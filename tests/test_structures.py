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


def test_a_vendor_log_page_is_named_and_decoded_from_the_user_catalogue_alone() -> None:
    """examples/vendor-acme.yaml's `extend:` gives the built-in get-log-page the name acme-health for LID
    C0h and a decode rule naming its own layout: `get-log-page lid=acme-health` decodes with no Python."""
    catalogue = load_catalogue([EXAMPLE], user_dir=False)
    assert not [e for e in catalogue.errors if e.file == EXAMPLE]
    glp = catalogue.get("get-log-page")
    lid = next(f for f in glp.fields if f.name == "lid")
    assert lid.parse("acme-health") == 0xC0
    values = {"lid": 0xC0, "nsid": 0xFFFFFFFF, "numd": 128}
    assert glp.decoder_for(values) == "acme-health-log"
    assert glp.decoder_for({**values, "lid": 0x02}) == "smart-log"  # the built-in rules still apply
    builtin = load_catalogue(user_dir=False).get("get-log-page")
    assert "acme-health" not in next(f for f in builtin.fields if f.name == "lid").values


def test_an_extension_that_cannot_apply_is_one_error_line(tmp_path: Path) -> None:
    path = tmp_path / "ext.yaml"
    path.write_text(
        "version: 1\nextend:\n"
        "  - id: get-log-page\n    values: {lid: {smart-again: 0x05}}\n"  # a second name for 05h: fine
        "  - id: no-such-command\n    values: {lid: {x: 1}}\n"
        "  - id: get-log-page\n    values: {lid: {too-big: 0x1ff}}\n"
        "  - id: get-log-page\n    decode: [{when: {lid: 0xc1}, decoder: no-such-layout}]\n"
    )
    lines = [str(e) for e in check_file(path)]
    assert len(lines) == 3, lines
    assert f"{path}:5: extend no-such-command: field id: no command 'no-such-command' to extend" in lines
    assert any(line.startswith(f"{path}:7: extend get-log-page: field values.lid.too-big:") for line in lines)
    assert any("unknown decoder 'no-such-layout'" in line and line.startswith(f"{path}:9:") for line in lines)


def test_supported_capabilities_decode_as_capabilities_not_as_the_value() -> None:
    """Get Features SEL 011b: DW0 bits 0-2 are saveable, namespace specific, changeable (NVMe Base 2.0,
    Fig. 327), whatever the feature; the issue saw temperature-threshold's 5 shown as "5 K (-268 °C)"."""
    from nvtui.nvme.decode import decode

    record = decode("feature-result", (0b101).to_bytes(4, "little"), fid=0x04, sel=3)
    assert record.to_json() == {"saveable": True, "ns_specific": False, "changeable": True}
    assert "K" not in " ".join(f.meaning for _, f, _ in record.flat())
    assert decode("feature-result", (343).to_bytes(4, "little"), fid=0x04, sel=0).to_json()["tmpth"] == 343


def test_new_structures_decode_byte_images_built_from_their_figures() -> None:
    # I/O Command Set Independent Identify Namespace (NVMe Base 2.0, Fig. 283): NSFEAT byte 0, NMIC 1,
    # RESCAP 2, FPI 3, ANAGRPID 7:4, NSATTR 8, NVMSETID 11:10, ENDGID 13:12, NSTAT 14
    data = bytearray(4096)
    data[0], data[1], data[2], data[3] = 0x09, 0x01, 0x03, 0x85
    data[4:8] = (7).to_bytes(4, "little")
    data[8], data[14] = 1, 1
    data[10:12], data[12:14] = (2).to_bytes(2, "little"), (3).to_bytes(2, "little")
    out = structures.decode("identify-ns-independent", bytes(data)).to_json()
    assert out == {"nsfeat": 9, "nmic": 1, "rescap": 3, "fpi": 0x85, "anagrpid": 7, "nsattr": 1,
                   "nvmsetid": 2, "endgid": 3, "nstat": 1}  # fmt: skip
    # Changed Zone List (ZNS 1.1, Fig. 25): number of zone identifiers (2 bytes), reserved to byte 7, then
    # ZSLBAs of 8 bytes
    log = bytearray(4096)
    log[0:2] = (2).to_bytes(2, "little")
    log[8:16], log[16:24] = (0x8000).to_bytes(8, "little"), (0x10000).to_bytes(8, "little")
    assert structures.decode("changed-zone-list", bytes(log)).to_json() == {
        "nrzid": 2, "zids": [{"zslba": 0x8000}, {"zslba": 0x10000}]}  # fmt: skip
    # Identify I/O Command Set data structure (NVMe Base 2.0, Fig. 290): 512 vectors of 8 bytes
    vectors = bytearray(4096)
    vectors[0], vectors[8] = 0b101, 0b001
    iocsc = structures.decode("io-command-set-vectors", bytes(vectors)).to_json()["iocsc"]
    assert (
        isinstance(iocsc, list)
        and len(iocsc) == 512
        and iocsc[:3] == [{"iocsv": 5}, {"iocsv": 1}, {"iocsv": 0}]
    )
    # Dataset Management Range (NVM 1.0, Fig. 41): context attributes 3:0, length 7:4, starting LBA 15:8
    rng = (0x11).to_bytes(4, "little") + (8).to_bytes(4, "little") + (0x1234).to_bytes(8, "little")
    assert structures.decode("dsm-range-list", rng * 2, nr=2).to_json()["ranges"] == [
        {"cattr": 0x11, "length": 8, "slba": 0x1234}] * 2  # fmt: skip
    # Copy Source Range format 0 (NVM 1.0, Fig. 39): SLBA 15:8, NLB 17:16 (0's based), EILBRT 27:24,
    # ELBAT 29:28, ELBATM 31:30
    src = bytes(8) + (0x40).to_bytes(8, "little") + (7).to_bytes(2, "little") + bytes(6) + bytes(4) + bytes(4)
    assert structures.decode("copy-source-range-list", src, nr=1).to_json()["ranges"] == [
        {"slba": 0x40, "nlb": 7, "eilbrt": 0, "elbat": 0, "elbatm": 0}]  # fmt: skip


def test_a_simulator_state_written_before_the_layouts_loads_under_the_new_names(tmp_path: Path) -> None:
    from nvtui.backend.sim.controller import _current_names

    assert _current_names({"cmdid": 3, "status": 0x17, "valid": 1, "nsid": 1, "power_on_hours": 2}) == {
        "cid": 3, "operation": 1, "result": 7, "vdi": 1, "nsid": 1, "power_on_hours": 2}  # fmt: skip


VARIABLE = b"""\
version: 1
structures:
  - id: counted-with-trailer
    name: a count, that many 2-byte entries, then a trailer of VSIZE bytes after them
    spec: test
    size: fields-end
    fields:
      - {name: n, at: 0, size: 1}
      - {name: vsize, at: 1, size: 1}
      - {name: items, at: 2, type: array, of: entry, stride: 2, count: {field: n}}
      - {name: trailer, at: 2, at_plus: {field: n, scale: 2}, size: {field: vsize}, type: bytes}
  - id: entry
    name: an entry
    spec: test
    size: 2
    fields:
      - {name: v, at: 0, size: 2}
  - id: two-lists
    name: two of them, one after the other
    spec: test
    size: until-end
    fields:
      - {name: lists, at: 0, type: array, of: counted-with-trailer, count: 2}
  - id: sized
    name: a descriptor as long as its first byte says
    spec: test
    size: {field: dsze}
    fields:
      - {name: dsze, at: 0, size: 1}
      - {name: a, at: 1, size: 1}
      - {name: b, at: 2, size: 1}
  - id: descriptors
    name: sized descriptors, one after the other
    spec: test
    size: until-end
    fields:
      - {name: descs, at: 0, type: array, of: sized, count: until-end}
"""


def _registry() -> dict[str, structures.Layout]:
    result = structures.parse_text("variable.yaml", VARIABLE)
    assert [str(e) for e in result.errors] == []
    return {layout.id: layout for layout in result.layouts}


def test_a_field_placed_after_a_counted_list_and_a_structure_ending_with_its_fields() -> None:
    from nvtui.structures import engine

    reg = _registry()
    first = bytes([2, 3, 0x11, 0x00, 0x22, 0x00, 0xAA, 0xBB, 0xCC])  # 2 entries, then 3 trailer bytes
    second = bytes([0, 1, 0xDD])  # no entries: the trailer starts right after the header
    out = engine.decode(reg, "two-lists", first + second, {})
    lists = out.to_json()["lists"]
    assert lists == [
        {"n": 2, "vsize": 3, "items": [{"v": 0x11}, {"v": 0x22}], "trailer": "aabbcc"},
        {"n": 0, "vsize": 1, "items": [], "trailer": "dd"},
    ]
    flat = {path: offset for path, _, offset in out.flat()}
    assert flat["lists[0].trailer"] == 6 and flat["lists[1].trailer"] == 11  # absolute offsets
    assert engine.encode(reg, "two-lists", {"lists": lists}, {}) == first + second
    with pytest.raises(EncodeError, match="its place follows from field 'n'"):
        engine.encode(reg, "counted-with-trailer", {"vsize": 1, "trailer": "ee"}, {})


def test_an_element_sized_by_its_own_field_is_that_long_whatever_its_fields() -> None:
    from nvtui.structures import engine

    reg = _registry()
    # 5 bytes (2 past the fields: vendor data), then 2 (cuts field b off: absent), then 3
    data = bytes([5, 1, 2, 0xEE, 0xEE, 2, 3, 3, 5, 6])
    descs = engine.decode(reg, "descriptors", data, {}).to_json()["descs"]
    assert descs == [{"dsze": 5, "a": 1, "b": 2}, {"dsze": 2, "a": 3, "b": None}, {"dsze": 3, "a": 5, "b": 6}]
    assert engine.encode(reg, "sized", {"dsze": 2, "a": 3}, {}) == bytes([2, 3])
    with pytest.raises(EncodeError, match="more than the structure's 2"):
        engine.encode(reg, "sized", {"dsze": 2, "a": 3, "b": 4}, {})


def test_a_place_after_a_field_that_is_not_before_it_is_one_error_line(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        """\
  - id: placed-after-nothing
    name: x
    spec: y
    size: fields-end
    fields:
      - {name: a, at: 0, size: 1, at_plus: {field: later}}
      - {name: later, at: 1, size: 1}
""",
    )
    lines = [str(e) for e in check_file(path)]
    assert len(lines) == 1 and "fields.a.at_plus: no field named 'later' before this one" in lines[0], lines
