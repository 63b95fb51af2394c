"""Log page decoders, checked against byte images written field by field at the spec's offsets
(NVMe Base 2.0: Error Information Fig. 206, SMART / Health Fig. 207, Firmware Slot Fig. 208,
Changed Namespace List Fig. 209, Commands Supported and Effects Figs. 210-211,
Device Self-test Figs. 212-213).
"""

from __future__ import annotations

import json

import pytest

from nvtui.nvme.completion import Status
from nvtui.nvme.decode import decode
from nvtui.nvme.decode.base import Field, Group, Record
from nvtui.nvme.decode.logs import supported_opcodes

MAX128 = 2**128 - 1


def put(buf: bytearray, offset: int, width: int, value: int) -> None:
    buf[offset : offset + width] = value.to_bytes(width, "little")


def field(record: Record, name: str) -> Field:
    item = record[name]
    assert isinstance(item, Field)
    return item


def group(record: Record, name: str) -> Group:
    item = record[name]
    assert isinstance(item, Group)
    return item


def roundtrips_as_json(record: Record) -> dict[str, object]:
    out = json.loads(json.dumps(record.to_json()))
    assert out == record.to_json()
    return out


# --- Error Information ----------------------------------------------------------------------------------


def error_entry(buf: bytearray, base: int, error_count: int, status_field: int = 0) -> None:
    put(buf, base + 0, 8, error_count)
    put(buf, base + 12, 2, status_field)


def test_error_log_entry_fields_at_spec_offsets() -> None:
    buf = bytearray(64 * 4)
    invalid_field = Status.make(0x0, 0x02, dnr=True)
    put(buf, 0, 8, 2**64 - 1)  # Error Count
    put(buf, 8, 2, 3)  # Submission Queue ID
    put(buf, 10, 2, 0x1234)  # Command ID
    put(buf, 12, 2, invalid_field.value << 1 | 1)  # Status Field, phase tag set
    put(buf, 14, 2, 4 << 8 | 17)  # Parameter Error Location: byte 17, bit 4
    put(buf, 16, 8, 0x1122334455667788)  # LBA
    put(buf, 24, 4, 7)  # Namespace
    put(buf, 28, 1, 0xC1)  # Vendor Specific Information Available
    put(buf, 29, 1, 3)  # Transport Type: TCP
    put(buf, 30, 1, 2)  # Command Set Indicator: ZNS
    put(buf, 31, 1, 0x7A)  # Opcode
    put(buf, 32, 8, 0xCAFEF00D)  # Command Specific Information
    put(buf, 40, 2, 0xBEEF)  # Transport Type Specific Information
    put(buf, 63, 1, 1)  # Log Page Version
    error_entry(buf, 64, 41)

    log = decode("error-log", bytes(buf))
    entries = group(log, "entries")
    assert (entries.offset, entries.width, len(entries.records)) == (0, 128, 2)
    first = entries.records[0]
    assert first.to_json() == {
        "error_count": 2**64 - 1,
        "sqid": 3,
        "cid": 0x1234,
        "status_field": invalid_field.value << 1 | 1,
        "parm_error_location": 0x0411,
        "lba": 0x1122334455667788,
        "nsid": 7,
        "vs": 0xC1,
        "trtype": 3,
        "csi": 2,
        "opcode": 0x7A,
        "cmd_specific_info": 0xCAFEF00D,
        "trtype_specific": 0xBEEF,
        "log_page_version": 1,
    }
    assert field(first, "status_field").meaning == "Invalid Field in Command"
    assert field(first, "parm_error_location").meaning == "byte 17, bit 4"
    assert field(first, "trtype").meaning == "TCP"
    assert field(first, "vs").meaning == "more in log page 0xc1"
    assert (field(first, "nsid").offset, field(first, "nsid").width) == (24, 4)
    assert entries.records[1].value("error_count") == 41
    roundtrips_as_json(log)


def test_error_log_status_name_drops_the_phase_bit() -> None:
    # SCT 1h / SC 05h sits in bits 15:1 as 0x20A (0x20B with the phase tag); read unshifted it would
    # wrongly be SCT 2h / SC 0Ah or 0Bh.
    status = Status.make(0x1, 0x05)
    for phase in (0, 1):
        buf = bytearray(64)
        error_entry(buf, 0, 1, status.value << 1 | phase)
        entry = group(decode("error-log", bytes(buf)), "entries").records[0]
        assert field(entry, "status_field").meaning == "Asynchronous Event Request Limit Exceeded"
        assert field(entry, "status_field").meaning != Status((status.value << 1 | phase) & 0x7FFF).name


def test_error_log_stops_at_the_first_unused_entry() -> None:
    buf = bytearray(64 * 8)
    error_entry(buf, 0, 9)
    error_entry(buf, 64, 8)
    error_entry(buf, 192, 7)  # after the zero entry at 128: not part of the log
    entries = group(decode("error-log", bytes(buf)), "entries")
    assert [r.value("error_count") for r in entries.records] == [9, 8]


def test_error_log_all_zero_has_no_entries() -> None:
    assert decode("error-log", bytes(4096)).to_json() == {"entries": []}


def test_error_log_truncated_lists_what_came_and_the_rest_as_not_transferred() -> None:
    buf = bytearray(64 * 2)
    error_entry(buf, 0, 2)
    error_entry(buf, 64, 1)
    _first, second = group(decode("error-log", bytes(buf[:100])), "entries").records
    assert second.value("error_count") == 1 and second.value("log_page_version") is None
    assert field(second, "log_page_version").meaning == "not transferred"
    (only,) = group(decode("error-log", bytes(buf[:63])), "entries").records
    assert only.value("error_count") == 2 and only.value("log_page_version") is None


# --- SMART / Health Information -------------------------------------------------------------------------

SMART_COUNTERS = {  # name: (offset, value written)
    "data_units_read": (32, MAX128),
    "data_units_written": (48, MAX128 - 1),
    "host_read_commands": (64, 2**127 + 5),
    "host_write_commands": (80, 2**64),
    "ctrl_busy_time": (96, 1440),
    "power_cycles": (112, 12),
    "power_on_hours": (128, 2**100),
    "unsafe_shutdowns": (144, 3),
    "media_errors": (160, 0),
    "num_err_log_entries": (176, MAX128),
}


def smart_image() -> bytearray:
    buf = bytearray(512)
    put(buf, 0, 1, 0b0010_0101)  # Critical Warning: spare, reliability, PMR read-only
    put(buf, 1, 2, 310)  # Composite Temperature, Kelvin
    put(buf, 3, 1, 97)  # Available Spare
    put(buf, 4, 1, 10)  # Available Spare Threshold
    put(buf, 5, 1, 255)  # Percentage Used (may exceed 100)
    put(buf, 6, 1, 0b1000)  # Endurance Group Critical Warning Summary: read-only
    for offset, value in SMART_COUNTERS.values():
        put(buf, offset, 16, value)
    put(buf, 192, 4, 60)  # Warning Composite Temperature Time
    put(buf, 196, 4, 2**32 - 1)  # Critical Composite Temperature Time
    for n in range(8):  # Temperature Sensors 1-8; sensor 3 not implemented
        put(buf, 200 + 2 * n, 2, 0 if n == 2 else 300 + n)
    put(buf, 216, 4, 11)  # Thermal Management Temperature 1 Transition Count
    put(buf, 220, 4, 22)
    put(buf, 224, 4, 33)  # Total Time For Thermal Management Temperature 1
    put(buf, 228, 4, 44)
    put(buf, 300, 8, 0xFFFF_FFFF_FFFF_FFFF)  # reserved bytes must not leak into any field
    return buf


def test_smart_log_fields_at_spec_offsets() -> None:
    smart = decode("smart-log", bytes(smart_image()))
    out = roundtrips_as_json(smart)
    assert out["critical_warning"] == 0b0010_0101
    assert out["temperature"] == 310
    assert (out["avail_spare"], out["spare_thresh"], out["percent_used"]) == (97, 10, 255)
    assert out["endu_grp_crit_warn_sumry"] == 0b1000
    for name, (offset, value) in SMART_COUNTERS.items():
        assert out[name] == value, name
        assert (field(smart, name).offset, field(smart, name).width) == (offset, 16)
    assert (out["warning_temp_time"], out["critical_comp_time"]) == (60, 2**32 - 1)
    assert [out[f"temp_sensor_{n}"] for n in range(1, 9)] == [300, 301, 0, 303, 304, 305, 306, 307]
    assert out["thm_temp1_trans_count"] == 11
    assert out["thm_temp2_trans_count"] == 22
    assert out["thm_temp1_total_time"] == 33
    assert out["thm_temp2_total_time"] == 44
    assert all(value != 0xFFFF_FFFF_FFFF_FFFF for value in out.values())


def test_smart_log_128_bit_counters_are_plain_json_integers() -> None:
    text = json.dumps(decode("smart-log", bytes(smart_image())).to_json())
    assert f'"data_units_read": {MAX128}' in text
    assert f'"num_err_log_entries": {MAX128}' in text


def test_smart_log_meanings() -> None:
    smart = decode("smart-log", bytes(smart_image()))
    warning = field(smart, "critical_warning").meaning
    assert "available spare below threshold" in warning
    assert "reliability degraded" in warning
    assert "persistent memory region read-only" in warning
    assert "temperature threshold" not in warning
    assert "37 °C" in field(smart, "temperature").meaning
    assert "310 K" in field(smart, "temperature").meaning
    assert field(smart, "temp_sensor_3").meaning == "not reported"
    assert "27 °C" in field(smart, "temp_sensor_1").meaning
    assert field(smart, "endu_grp_crit_warn_sumry").meaning == "read-only"
    assert field(smart, "percent_used").meaning == "255%"


def test_smart_log_data_units_meaning_is_thousands_of_512_byte_units() -> None:
    buf = bytearray(512)
    put(buf, 32, 16, 2_000_000)  # 2,000,000 × 512,000 bytes = 1,024 GB
    meaning = field(decode("smart-log", bytes(buf)), "data_units_read").meaning
    assert meaning == "2,000,000 × 512,000 bytes = 1,024.00 GB"


def test_smart_log_truncated_shows_missing_bytes_as_not_transferred() -> None:
    smart = decode("smart-log", bytes(smart_image()[:40]))
    out = roundtrips_as_json(smart)
    assert out["temperature"] == 310
    assert out["data_units_read"] is None  # only 8 of its 16 bytes arrived: not a value
    assert out["power_on_hours"] is None
    assert field(smart, "power_on_hours").meaning == "not transferred"
    assert decode("smart-log", b"").value("temperature") is None


# --- Firmware Slot Information --------------------------------------------------------------------------


def test_firmware_slot_log() -> None:
    buf = bytearray(512)
    put(buf, 0, 1, 0x32)  # AFI: running slot 2, slot 3 activated at next reset
    buf[8:16] = b"1.0.3   "  # FRS1
    buf[16:24] = b"2B2QEXM7"  # FRS2
    buf[56:64] = b"SLOT7\0\0\0"  # FRS7
    log = decode("firmware-slot-log", bytes(buf))
    out = roundtrips_as_json(log)
    assert (out["afi"], out["active_slot"], out["next_slot"]) == (0x32, 2, 3)
    assert field(log, "afi").meaning == "running slot 2, slot 3 at next reset"
    assert [out[f"frs{n}"] for n in range(1, 8)] == ["1.0.3", "2B2QEXM7", "", "", "", "", "SLOT7"]
    assert field(log, "frs2").offset == 16


def test_firmware_slot_log_without_a_pending_slot() -> None:
    log = decode("firmware-slot-log", bytes([0x01]))
    assert field(log, "afi").meaning == "running slot 1"
    assert field(log, "next_slot").meaning == "not indicated"
    assert log.value("frs1") is None  # not transferred


# --- Changed Namespace List -----------------------------------------------------------------------------


def test_changed_ns_list_lists_the_nonzero_nsids() -> None:
    buf = bytearray(4096)
    for i, nsid in enumerate((1, 5, 0x20)):
        put(buf, 4 * i, 4, nsid)
    log = decode("changed-ns-list-log", bytes(buf))
    assert roundtrips_as_json(log) == {"nsids": [{"nsid": 1}, {"nsid": 5}, {"nsid": 0x20}]}
    assert group(log, "nsids").width == 12


def test_changed_ns_list_overflow_marker() -> None:
    buf = bytearray(4096)
    put(buf, 0, 4, 0xFFFFFFFF)
    nsids = group(decode("changed-ns-list-log", bytes(buf)), "nsids").records
    assert [r.value("nsid") for r in nsids] == [0xFFFFFFFF]
    assert "more than 1024" in field(nsids[0], "nsid").meaning


def test_changed_ns_list_full_and_truncated() -> None:
    full = b"".join((n + 1).to_bytes(4, "little") for n in range(1024))
    assert len(group(decode("changed-ns-list-log", full), "nsids").records) == 1024
    assert len(group(decode("changed-ns-list-log", full + full), "nsids").records) == 1024
    assert len(group(decode("changed-ns-list-log", full[:10]), "nsids").records) == 2
    assert decode("changed-ns-list-log", b"").to_json() == {"nsids": []}


# --- Commands Supported and Effects ---------------------------------------------------------------------


def effects_image() -> bytearray:
    buf = bytearray(4096)
    put(buf, 4 * 0x06, 4, 1)  # ACS: Identify, supported, no effects
    # Format NVM: CSUPP, LBCC, NCC, NIC, CSE 2 (one at a time per subsystem), CSP namespace + NVM subsystem
    put(buf, 4 * 0x80, 4, 1 | 1 << 1 | 1 << 2 | 1 << 3 | 2 << 16 | (1 << 0 | 1 << 5) << 20)
    put(buf, 4 * 0x10, 4, 1 << 4)  # ACS 10h: CCC set but not supported: not listed
    put(buf, 1024 + 4 * 0x01, 4, 1 | 1 << 1 | 1 << 19)  # IOCS: Write, LBCC, USS
    put(buf, 1024 + 4 * 0x02, 4, 1 | 1 << 14)  # IOCS: Read, CSER = 1
    put(buf, 1024 + 4 * 0xFF, 4, 1 | 1 << 4)  # IOCS: the last opcode, CCC
    return buf


def test_effects_log_lists_only_supported_opcodes() -> None:
    log = decode("effects-log", bytes(effects_image()))
    acs, iocs = group(log, "acs"), group(log, "iocs")
    assert (acs.offset, acs.width, iocs.offset, iocs.width) == (0, 1024, 1024, 1024)
    assert [r.value("opcode") for r in acs.records] == [0x06, 0x80]
    assert [r.value("opcode") for r in iocs.records] == [0x01, 0x02, 0xFF]
    roundtrips_as_json(log)


def test_effects_log_bits() -> None:
    log = decode("effects-log", bytes(effects_image()))
    identify, format_nvm = group(log, "acs").records
    assert identify.to_json() == {
        "opcode": 6, "csupp": True, "lbcc": False, "ncc": False, "nic": False, "ccc": False,
        "cser": 0, "cse": 0, "uss": False, "csp": 0,
    }  # fmt: skip
    assert format_nvm.to_json() == {
        "opcode": 0x80, "csupp": True, "lbcc": True, "ncc": True, "nic": True, "ccc": False,
        "cser": 0, "cse": 2, "uss": False, "csp": 0b100001,
    }  # fmt: skip
    assert field(format_nvm, "csp").meaning == "namespace, NVM subsystem"
    assert field(format_nvm, "cse").meaning == "one at a time per NVM subsystem"
    write, read, last = group(log, "iocs").records
    assert (write.value("lbcc"), write.value("uss"), write.value("ccc")) == (True, True, False)
    assert read.value("cser") == 1
    assert last.value("ccc") is True


def test_supported_opcodes() -> None:
    assert supported_opcodes(bytes(effects_image())) == ({0x06, 0x80}, {0x01, 0x02, 0xFF})
    assert supported_opcodes(b"") == (set(), set())
    assert supported_opcodes(bytes(effects_image()[:1024])) == ({0x06, 0x80}, set())


def test_effects_log_truncated() -> None:
    log = decode("effects-log", bytes(effects_image()[: 1024 + 6]))
    assert [r.value("opcode") for r in group(log, "iocs").records] == [0x01]
    assert decode("effects-log", b"").to_json() == {"acs": [], "iocs": []}


# --- Device Self-test -----------------------------------------------------------------------------------


def self_test_image() -> bytearray:
    buf = bytearray(564)
    put(buf, 0, 1, 0x2)  # Current Device Self-Test Operation: extended
    put(buf, 1, 1, 45)  # Current Device Self-Test Completion: 45%
    for i in range(20):
        put(buf, 4 + 28 * i, 1, 0x0F)  # Device Self-test Status: entry not used
    r0 = 4  # newest result: a short test that completed cleanly, no diagnostics valid
    put(buf, r0 + 0, 1, 0x1 << 4 | 0x0)
    put(buf, r0 + 4, 8, 1000)
    r1 = 4 + 28  # an extended test with a failed segment and every diagnostic valid
    put(buf, r1 + 0, 1, 0x2 << 4 | 0x7)
    put(buf, r1 + 1, 1, 3)  # Segment Number
    put(buf, r1 + 2, 1, 0b1111)  # Valid Diagnostic Information: NSID, FLBA, SCT, SC
    put(buf, r1 + 4, 8, 2**64 - 2)  # Power On Hours
    put(buf, r1 + 12, 4, 1)  # Namespace Identifier
    put(buf, r1 + 16, 8, 0xABCDEF)  # Failing LBA
    put(buf, r1 + 24, 1, 0x2)  # Status Code Type: Media and Data Integrity Errors
    put(buf, r1 + 25, 1, 0x81)  # Status Code: Unrecovered Read Error
    put(buf, r1 + 26, 2, 0x5AA5)  # Vendor Specific
    return buf


def test_self_test_log_header_and_results() -> None:
    log = decode("self-test-log", bytes(self_test_image()))
    out = roundtrips_as_json(log)
    assert (out["current_operation"], out["completion"]) == (2, 45)
    assert field(log, "current_operation").meaning == "extended device self-test"
    assert field(log, "completion").meaning == "45%"
    results = group(log, "results")
    assert (results.offset, results.width, len(results.records)) == (4, 560, 20)
    clean, failed = results.records[0], results.records[1]
    assert (clean.value("operation"), clean.value("result"), clean.value("power_on_hours")) == (1, 0, 1000)
    assert field(clean, "operation").meaning == "short device self-test"
    assert field(clean, "result").meaning == "completed without error"
    assert field(clean, "sc").meaning == ""  # SC not valid: no status name
    assert failed.to_json() == {
        "operation": 2, "result": 7, "segment_number": 3, "vdi": 0b1111, "power_on_hours": 2**64 - 2,
        "nsid": 1, "failing_lba": 0xABCDEF, "sct": 2, "sc": 0x81, "vs": "a55a",
    }  # fmt: skip
    assert "failed segments" in field(failed, "result").meaning
    assert field(failed, "sc").meaning == "Unrecovered Read Error"
    assert field(failed, "vdi").meaning == "nsid valid, failing_lba valid, sct valid, sc valid"
    assert all(field(r, "result").meaning == "entry not used" for r in results.records[2:])


def test_self_test_log_truncated() -> None:
    image = bytes(self_test_image())
    results = group(decode("self-test-log", image[: 4 + 28 * 2 + 5]), "results").records
    assert len(results) == 3 and results[2].value("nsid") is None
    empty = decode("self-test-log", b"")
    assert empty.to_json() == {"current_operation": None, "completion": None, "results": []}
    assert len(group(decode("self-test-log", image + bytes(100)), "results").records) == 20


# --- every log decoder on awkward input -----------------------------------------------------------------

LOGS = ["error-log", "smart-log", "firmware-slot-log", "changed-ns-list-log", "effects-log", "self-test-log"]


@pytest.mark.parametrize("name", LOGS)
@pytest.mark.parametrize("length", [0, 1, 3, 63, 64, 65, 511, 513, 4095, 4096, 8192])
def test_log_decoders_take_any_length(name: str, length: int) -> None:
    data = bytes((i * 37 + 11) & 0xFF for i in range(length))
    record = decode(name, data)
    assert record.name == name
    json.dumps(record.to_json())
    for _, item, _ in record.flat():
        assert item.meaning is not None
