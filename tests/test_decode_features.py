"""Get Features DW0 decoding, checked against values assembled from the bit positions in the spec's
feature figures (NVMe Base 2.0 section 5.27.1)."""

from __future__ import annotations

import json

import pytest

from nvtui.nvme.decode import decode
from nvtui.nvme.decode.base import Field, Record
from nvtui.nvme.decode.features import FEATURE_NAMES


def dw0(value: int) -> bytes:
    return value.to_bytes(4, "little")


def feature(fid: int, value: int) -> Record:
    rec = decode("feature-result", dw0(value), fid=fid)
    json.dumps(rec.to_json())
    return rec


def field(record: Record, name: str) -> Field:
    item = record[name]
    assert isinstance(item, Field)
    return item


def test_arbitration() -> None:
    rec = feature(0x01, 3 << 24 | 7 << 16 | 15 << 8 | 0x3)  # HPW, MPW, LPW (0's based), AB
    assert rec.to_json() == {"ab": 3, "lpw": 15, "mpw": 7, "hpw": 3}
    assert field(rec, "ab").meaning == "8 commands"
    assert field(rec, "lpw").meaning == "16 commands"
    assert field(feature(0x01, 0x7), "ab").meaning == "no limit"


def test_power_management() -> None:
    assert feature(0x02, 0b010 << 5 | 4).to_json() == {"ps": 4, "wh": 2}


def test_temperature_threshold() -> None:
    rec = feature(0x04, 1 << 20 | 0x2 << 16 | 343)  # THSEL under, TMPSEL sensor 2, TMPTH 343 K
    assert rec.to_json() == {"tmpth": 343, "tmpsel": 2, "thsel": 1}
    assert "70 °C" in field(rec, "tmpth").meaning
    assert field(rec, "tmpsel").meaning == "temperature sensor 2"
    assert field(rec, "thsel").meaning == "under temperature threshold"
    assert field(feature(0x04, 0xF << 16), "tmpsel").meaning == "all temperature sensors"


def test_error_recovery() -> None:
    rec = feature(0x05, 1 << 16 | 25)
    assert rec.to_json() == {"tler": 25, "dulbe": True}
    assert field(rec, "tler").meaning == "2,500 ms"


def test_volatile_write_cache() -> None:
    assert feature(0x06, 1).value("wce") is True
    assert feature(0x06, 0xFFFF_FFFE).value("wce") is False


def test_number_of_queues_is_zero_based() -> None:
    rec = feature(0x07, 31 << 16 | 63)  # NCQA 31, NSQA 63
    assert rec.to_json() == {"nsqa": 63, "ncqa": 31}
    assert field(rec, "nsqa").meaning == "64 I/O submission queues"
    assert field(rec, "ncqa").meaning == "32 I/O completion queues"
    assert field(rec, "ncqa").bits == (16, 31)


def test_interrupt_coalescing_and_vector_configuration() -> None:
    rec = feature(0x08, 10 << 8 | 4)
    assert rec.to_json() == {"thr": 4, "time": 10}
    assert field(rec, "time").meaning == "1,000 µs"
    assert field(rec, "thr").meaning == "5 completion entries"
    assert feature(0x09, 1 << 16 | 0x1F).to_json() == {"iv": 0x1F, "cd": True}


def test_write_atomicity_and_apst() -> None:
    assert feature(0x0A, 1).to_json() == {"dn": True}
    assert feature(0x0C, 1).to_json() == {"apste": True}
    assert feature(0x0C, 0).to_json() == {"apste": False}


def test_asynchronous_event_configuration() -> None:
    rec = feature(0x0B, 1 << 31 | 1 << 27 | 1 << 9 | 1 << 8 | 0b11)
    out = rec.to_json()
    assert out["shcw"] == 0b11
    assert (out["nan"], out["fan"], out["tln"], out["anacn"]) == (True, True, False, False)
    assert (out["zdcn"], out["dlpcn"], out["egealcn"]) == (True, True, False)
    assert field(rec, "shcw").meaning == "available spare, temperature"
    assert field(rec, "fan").meaning == "firmware activation notices"
    assert field(rec, "tln").meaning == ""


def test_keep_alive_and_thermal_management() -> None:
    rec = feature(0x0F, 120_000)
    assert rec.to_json() == {"kato": 120_000}
    assert field(rec, "kato").meaning == "120,000 ms"
    rec = feature(0x10, 353 << 16 | 343)  # TMT1 353 K, TMT2 343 K
    assert rec.to_json() == {"tmt2": 343, "tmt1": 353}
    assert "80 °C" in field(rec, "tmt1").meaning
    assert field(feature(0x10, 0), "tmt1").meaning == "disabled"


def test_single_bit_features() -> None:
    assert feature(0x11, 1).to_json() == {"noppme": True}
    assert feature(0x81, 1).to_json() == {"exhid": True}
    assert feature(0x83, 1).to_json() == {"ptpl": True}
    assert feature(0x80, 0x1FF).to_json() == {"pbslc": 0xFF}


def test_reservation_notification_mask() -> None:
    rec = feature(0x82, 0b1010)
    assert rec.to_json() == {"regpre": True, "resrel": False, "respre": True}


def test_namespace_write_protection() -> None:
    rec = feature(0x84, 0x2)
    assert rec.to_json() == {"wps": 2}
    assert field(rec, "wps").meaning == "write protect until power cycle"


def test_unknown_or_missing_fid_decodes_as_dw0() -> None:
    assert feature(0xC0, 0xDEADBEEF).to_json() == {"dw0": 0xDEADBEEF}
    assert decode("feature-result", dw0(5)).to_json() == {"dw0": 5}
    assert decode("feature-result", dw0(5), fid="6").to_json() == {"dw0": 5}


@pytest.mark.parametrize("fid", [0x01, 0x04, 0x07, 0x0B, 0x10, 0x84, 0xC0])
def test_dw0_is_its_four_bytes_whatever_length_is_given(fid: int) -> None:
    dword = b"\xa5\x5a\xc3\x3c"
    whole = decode("feature-result", dword, fid=fid).to_json()
    assert decode("feature-result", dword + b"\xff" * 4, fid=fid).to_json() == whole  # past DW0: not DW0
    for short in (b"", dword[:1], dword[:2]):
        shown = decode("feature-result", short, fid=fid).to_json()
        assert list(shown) == list(whole)  # every field of the feature named, none invented
        json.dumps(shown)


def test_short_data_shows_missing_bytes_as_not_transferred() -> None:
    assert decode("feature-result", b"\x3f", fid=0x07).to_json() == {"nsqa": None, "ncqa": None}
    assert decode("feature-result", b"\x01", fid=0x06).to_json() == {"wce": True}  # bit 0 came


def test_feature_names() -> None:
    expected = {
        0x01: "Arbitration",
        0x06: "Volatile Write Cache",
        0x07: "Number of Queues",
        0x0D: "Host Memory Buffer",
        0x0E: "Timestamp",
        0x12: "Read Recovery Level Config",
        0x13: "Predictable Latency Mode Config",
        0x16: "Host Behavior Support",
        0x17: "Sanitize Config",
        0x18: "Endurance Group Event Configuration",
        0x19: "I/O Command Set Profile",
        0x1D: "Flexible Data Placement",
        0x1E: "FDP Events",
        0x80: "Software Progress Marker",
        0x84: "Namespace Write Protection Config",
    }
    for fid, name in expected.items():
        assert FEATURE_NAMES[fid] == name
    assert all(0 < fid <= 0xFF for fid in FEATURE_NAMES)
