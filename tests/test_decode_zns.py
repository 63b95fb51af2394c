"""Report Zones decoding, checked against byte images written at the ZNS Command Set 1.1 offsets:
a 64-byte header (Number of Zones, bytes 7:0) then 64-byte Zone Descriptors (Fig. 37: ZT byte 0 bits 3:0,
ZS byte 1 bits 7:4, ZA byte 2, ZAI byte 3, ZCAP bytes 15:8, ZSLBA bytes 23:16, WP bytes 31:24), each
followed by its Zone Descriptor Extension in an Extended Report Zones.
"""

from __future__ import annotations

import json

import pytest

from nvtui.nvme.decode import decode
from nvtui.nvme.decode.base import Field, Group, Record
from nvtui.nvme.decode.zns import zone_states

ZONE = 0x8000  # zone size in logical blocks, for the images below


def put(buf: bytearray, offset: int, width: int, value: int) -> None:
    buf[offset : offset + width] = value.to_bytes(width, "little")


def field(record: Record, name: str) -> Field:
    item = record[name]
    assert isinstance(item, Field)
    return item


def zones_of(record: Record) -> Group:
    item = record["zones"]
    assert isinstance(item, Group)
    return item


def report(zones: list[dict[str, int]], nr_zones: int | None = None, zdes_bytes: int = 0) -> bytes:
    stride = 64 + zdes_bytes
    buf = bytearray(64 + stride * len(zones))
    put(buf, 0, 8, len(zones) if nr_zones is None else nr_zones)
    put(buf, 8, 8, 0xFFFF_FFFF_FFFF_FFFF)  # reserved header bytes must not be read as a zone
    for i, zone in enumerate(zones):
        base = 64 + i * stride
        put(buf, base + 0, 1, zone.get("zt", 0x2))
        put(buf, base + 1, 1, zone["state"] << 4)
        put(buf, base + 2, 1, zone.get("za", 0))
        put(buf, base + 3, 1, zone.get("zai", 0))
        put(buf, base + 8, 8, zone.get("zcap", ZONE))
        put(buf, base + 16, 8, zone["zslba"])
        put(buf, base + 24, 8, zone["wp"])
        if zdes_bytes:
            buf[base + 64 : base + stride] = bytes([0xA0 + i]) * zdes_bytes
    return bytes(buf)


THREE_ZONES = [
    {"state": 0x1, "zslba": 0, "wp": 0},
    {"state": 0xE, "zslba": ZONE, "wp": 2 * ZONE, "za": 0b1000_0001, "zcap": ZONE - 16},
    {"state": 0x2, "zslba": 2 * ZONE, "wp": 2 * ZONE + 40, "za": 0b0110, "zai": 0x5},
]


def test_zone_report_fields() -> None:
    rec = decode("zone-report", report(THREE_ZONES))
    assert rec.value("nr_zones") == 3
    zones = zones_of(rec)
    assert (zones.offset, zones.width, len(zones.records)) == (64, 192, 3)
    assert json.loads(json.dumps(rec.to_json())) == {
        "nr_zones": 3,
        "zones": [
            {"zt": 2, "zs": 0x1, "za": 0, "zai": 0, "zcap": ZONE, "zslba": 0, "wp": 0},
            {"zt": 2, "zs": 0xE, "za": 0x81, "zai": 0, "zcap": ZONE - 16, "zslba": ZONE, "wp": 2 * ZONE},
            {
                "zt": 2,
                "zs": 0x2,
                "za": 0x06,
                "zai": 0x5,
                "zcap": ZONE,
                "zslba": 2 * ZONE,
                "wp": 2 * ZONE + 40,
            },
        ],
    }


def test_zone_type_and_attribute_meanings() -> None:
    empty, full, opened = zones_of(decode("zone-report", report(THREE_ZONES))).records
    assert field(empty, "zt").meaning == "Sequential Write Required"
    assert field(empty, "za").meaning == ""
    za = field(full, "za").meaning
    assert "zfc" in za and "zdev" in za and "rzr" not in za
    za = field(opened, "za").meaning
    assert "fzr" in za and "rzr" in za and "zfc" not in za
    assert field(full, "zs").bits == (4, 7)


@pytest.mark.parametrize(
    ("state", "name"),
    [
        (0x1, "Empty"),
        (0x2, "Implicitly Opened"),
        (0x3, "Explicitly Opened"),
        (0x4, "Closed"),
        (0xD, "Read Only"),
        (0xE, "Full"),
        (0xF, "Offline"),
    ],
)
def test_zone_state_names(state: int, name: str) -> None:
    (zone,) = zones_of(decode("zone-report", report([{"state": state, "zslba": 0, "wp": 0}]))).records
    assert zone.value("zs") == state
    assert field(zone, "zs").meaning == name


def test_zone_state_reserved_value_is_named_reserved() -> None:
    (zone,) = zones_of(decode("zone-report", report([{"state": 0x7, "zslba": 0, "wp": 0}]))).records
    assert "reserved" in field(zone, "zs").meaning


def test_extended_report_skips_each_zone_descriptor_extension() -> None:
    data = report(THREE_ZONES, zdes_bytes=128)
    rec = decode("zone-report", data, zdes_bytes=128)
    zones = zones_of(rec)
    assert (zones.offset, zones.width) == (64, 3 * 192)
    assert [z.value("zslba") for z in zones.records] == [0, ZONE, 2 * ZONE]
    assert [z.value("zde") for z in zones.records] == [bytes([0xA0 + i]).hex() * 128 for i in range(3)]
    assert (field(zones.records[0], "zde").offset, field(zones.records[0], "zde").width) == (64, 128)
    json.dumps(rec.to_json())


def test_plain_report_has_no_extension_field() -> None:
    (zone, *_) = zones_of(decode("zone-report", report(THREE_ZONES))).records
    with pytest.raises(KeyError):
        zone["zde"]


def test_zone_count_is_bounded_by_both_nr_zones_and_the_buffer() -> None:
    data = report(THREE_ZONES, nr_zones=2)
    assert len(zones_of(decode("zone-report", data)).records) == 2
    data = report(THREE_ZONES, nr_zones=1000)  # a partial report of a larger namespace
    assert decode("zone-report", data).value("nr_zones") == 1000
    assert len(zones_of(decode("zone-report", data)).records) == 3
    _first, cut = zones_of(decode("zone-report", data[: 64 + 64 + 30])).records
    assert cut.value("zcap") == ZONE - 16 and cut.value("wp") is None  # its write pointer did not come
    assert len(zone_states(data[: 64 + 64 + 63])) == 1


@pytest.mark.parametrize("length", [0, 1, 8, 63, 64, 100, 127, 128])
def test_short_reports_do_not_crash(length: int) -> None:
    data = report(THREE_ZONES)[:length]
    rec = decode("zone-report", data)
    json.dumps(rec.to_json())
    assert len(zones_of(rec).records) == max(0, (length - 64 + 63) // 64)  # a zone that began is listed
    assert zone_states(data) == zone_states(report(THREE_ZONES))[: max(0, (length - 64) // 64)]


def test_bad_zdes_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="zdes_bytes"):
        decode("zone-report", report(THREE_ZONES), zdes_bytes=-64)
    with pytest.raises(ValueError, match="zdes_bytes"):
        decode("zone-report", report(THREE_ZONES), zdes_bytes="64")


def test_zone_states_helper() -> None:
    assert zone_states(report(THREE_ZONES)) == [
        (0, ZONE, 0, 0x1),
        (ZONE, ZONE - 16, 2 * ZONE, 0xE),
        (2 * ZONE, ZONE, 2 * ZONE + 40, 0x2),
    ]
    extended = report(THREE_ZONES, zdes_bytes=64)
    assert zone_states(extended, zdes_bytes=64) == zone_states(report(THREE_ZONES))
    assert zone_states(b"") == []


# --- Extended Report Zones through the catalogue's rule: the extension size is the namespace's ZDES ---------


def _extended(device: str, facts: dict[str, object], missing: tuple[str, ...] = ()) -> tuple[object, ...]:
    """(facts the session learns from `device`, and the decode of a 3-zone extended report given `facts`)."""
    import asyncio

    from nvtui.catalogue import load_catalogue
    from nvtui.nvme.completion import Completion, Status
    from nvtui.session import Session

    async def go() -> tuple[object, ...]:
        session = Session(load_catalogue(user_dir=False))
        try:
            fields = ["zra=extended-report-zones", "numd=256"]
            prepared = await session.prepare(device, "zone-mgmt-recv", fields)
            learned = await session._device_facts(prepared)
            done = Completion(Status(0), data=report(THREE_ZONES, zdes_bytes=128))
            return learned, session._decode(prepared, done, facts, missing)
        finally:
            await session.close()

    return asyncio.run(go())


def test_an_extended_report_is_decoded_with_the_extension_size_the_namespace_reports() -> None:
    learned, (record, name, notices) = _extended("sim0n2", {"zdes_bytes": 128})  # type: ignore[misc]
    assert learned == ({"zdes_bytes": 0}, ())  # the simulated zoned namespace reports ZDES 0
    assert name == "zone-report" and notices == ()
    zones = zones_of(record)
    assert [z.value("zslba") for z in zones.records] == [0, ZONE, 2 * ZONE]
    assert [z.value("zde") for z in zones.records] == [bytes([0xA0 + i]).hex() * 128 for i in range(3)]


def test_without_the_extension_size_an_extended_report_is_shown_raw_not_misread() -> None:
    learned, (record, name, notices) = _extended("sim0n1", {}, ("zdes_bytes",))  # type: ignore[misc]
    assert learned == ({}, ("zdes_bytes",))  # a conventional namespace has no ZNS Identify Namespace
    assert record is None and name == "zone-report"
    assert notices and "not applied" in notices[0] and "zone descriptor extension size" in notices[0]


def test_the_simulator_refuses_an_extended_report_as_a_namespace_without_extensions_does(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from nvtui.cli import main

    code = main(["send", "sim0n2", "zone-mgmt-recv", "zra=extended-report-zones", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1 and out["status"]["name"] == "Invalid Field in Command" and out["decoded"] is None
