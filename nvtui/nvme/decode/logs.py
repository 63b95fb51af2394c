"""Log page decoders (Get Log Page, NVMe Base 2.0 section 5.16.1): Error Information, SMART / Health,
Firmware Slot, Changed Namespace List, Commands Supported and Effects, Device Self-test.

Names: the spec's abbreviation where it gives one (`afi`, `csupp`, `lbcc`, `sct`, `sc`, ...); otherwise the
name the kernel's `struct nvme_smart_log` / libnvme's JSON output uses, in snake_case (`spare_thresh`,
`endu_grp_crit_warn_sumry`, `ctrl_busy_time`, `num_err_log_entries`, `thm_temp1_trans_count`, ...).
Where those are terse or clash, a plain snake_case spelling of the spec's field name
(`host_read_commands`, `temp_sensor_1`..`temp_sensor_8`, `power_on_hours`, `failing_lba`, `segment_number`).
The Commands Supported and Effects bits 31:20 are the spec's Command Scope, `csp`.

Records inside a Group carry offsets relative to the start of their own element (as `decode_group` makes
them); the Group's own offset and width place the array in the buffer.
"""

from __future__ import annotations

from dataclasses import replace

from nvtui.nvme.completion import Status
from nvtui.nvme.decode.base import (
    B,
    Bits,
    Field,
    Flag,
    Group,
    Meaning,
    Record,
    S,
    Spec,
    U,
    bits,
    decode_group,
    decode_layout,
    decoder,
    enum_meaning,
    flags_meaning,
    le,
)

# --- shared meanings ------------------------------------------------------------------------------------


def kelvin(v: int) -> str:
    return f"{v} K ({v - 273} °C)"


def sensor_kelvin(v: int) -> str:
    """A temperature sensor reading: 0 means the sensor is not implemented."""
    return kelvin(v) if v else "not reported"


def count(v: int) -> str:
    return f"{v:,}"


def per_unit(unit: str) -> Meaning:
    return lambda v: f"{v:,} {unit}"


def data_units(v: int) -> str:
    # One data unit is 1000 units of 512 bytes (NVMe Base 2.0, Fig. 207, Data Units Read)
    return f"{v:,} × 512,000 bytes = {v * 512_000 / 1e9:,.2f} GB"


def percent(v: int) -> str:
    return f"{v}%"


def status_field_name(v: int) -> str:
    """The Error Information log's Status Field: bit 0 is the phase tag, bits 15:1 the status."""
    return Status((v >> 1) & 0x7FFF).name


# --- Error Information (Log Identifier 01h; NVMe Base 2.0, Fig. 206) -------------------------------------

ERROR_ENTRY_SIZE = 64

TRTYPE_NAMES = {0: "not reported", 1: "RDMA", 2: "Fibre Channel", 3: "TCP", 0xFE: "intra-host"}
CSI_NAMES = {0: "NVM", 1: "Key Value", 2: "Zoned Namespace", 3: "Subsystem Local Memory", 4: "Computational"}


def parm_error_location(v: int) -> str:
    if v == 0xFFFF:
        return "not applicable"
    return f"byte {v & 0xFF}, bit {(v >> 8) & 0x7}"


def vendor_log(v: int) -> str:
    return f"more in log page {v:#04x}" if v else "none"


ERROR_ENTRY: tuple[Spec, ...] = (
    U("error_count", 0, 8),
    U("sqid", 8, 2),
    U("cid", 10, 2),
    U("status_field", 12, 2, status_field_name),
    U("parm_error_location", 14, 2, parm_error_location),
    U("lba", 16, 8),
    U("nsid", 24, 4),
    U("vs", 28, 1, vendor_log),
    U("trtype", 29, 1, enum_meaning(TRTYPE_NAMES)),
    U("csi", 30, 1, enum_meaning(CSI_NAMES)),
    U("opcode", 31, 1),
    U("cmd_specific_info", 32, 8),
    U("trtype_specific", 40, 2),
    U("log_page_version", 63, 1),
)


def _error_entry(data: bytes, base: int) -> Record:
    return decode_layout("error-entry", data, ERROR_ENTRY, base)


@decoder("error-log")
def decode_error_log(data: bytes, **context: object) -> Record:
    """Every whole 64-byte entry up to the first one whose Error Count is 0 (an unused entry)."""
    used = 0
    for i in range(len(data) // ERROR_ENTRY_SIZE):
        if le(data, i * ERROR_ENTRY_SIZE, 8) == 0:
            break
        used += 1
    return Record("error-log", (decode_group("entries", data, 0, ERROR_ENTRY_SIZE, used, _error_entry),))


# --- SMART / Health Information (Log Identifier 02h; NVMe Base 2.0, Fig. 207) ----------------------------

CRITICAL_WARNING_NAMES = {
    0: "available spare below threshold",
    1: "temperature threshold",
    2: "NVM subsystem reliability degraded",
    3: "media read-only",
    4: "volatile memory backup failed",
    5: "persistent memory region read-only",
}
ENDURANCE_GROUP_WARNING_NAMES = {
    0: "available spare below threshold",
    2: "reliability degraded",
    3: "read-only",
}

SMART_LOG: tuple[Spec, ...] = (
    U("critical_warning", 0, 1, flags_meaning(CRITICAL_WARNING_NAMES)),
    U("temperature", 1, 2, kelvin),
    U("avail_spare", 3, 1, percent),
    U("spare_thresh", 4, 1, percent),
    U("percent_used", 5, 1, percent),
    U("endu_grp_crit_warn_sumry", 6, 1, flags_meaning(ENDURANCE_GROUP_WARNING_NAMES)),
    U("data_units_read", 32, 16, data_units),
    U("data_units_written", 48, 16, data_units),
    U("host_read_commands", 64, 16, count),
    U("host_write_commands", 80, 16, count),
    U("ctrl_busy_time", 96, 16, per_unit("minutes")),
    U("power_cycles", 112, 16, count),
    U("power_on_hours", 128, 16, per_unit("hours")),
    U("unsafe_shutdowns", 144, 16, count),
    U("media_errors", 160, 16, count),
    U("num_err_log_entries", 176, 16, count),
    U("warning_temp_time", 192, 4, per_unit("minutes")),
    U("critical_comp_time", 196, 4, per_unit("minutes")),
    *(U(f"temp_sensor_{n}", 200 + 2 * (n - 1), 2, sensor_kelvin) for n in range(1, 9)),
    U("thm_temp1_trans_count", 216, 4, count),
    U("thm_temp2_trans_count", 220, 4, count),
    U("thm_temp1_total_time", 224, 4, per_unit("seconds")),
    U("thm_temp2_total_time", 228, 4, per_unit("seconds")),
)


@decoder("smart-log")
def decode_smart_log(data: bytes, **context: object) -> Record:
    return decode_layout("smart-log", data, SMART_LOG)


# --- Firmware Slot Information (Log Identifier 03h; NVMe Base 2.0, Fig. 208) -----------------------------


def active_firmware_info(v: int) -> str:
    active, following = v & 0x7, (v >> 4) & 0x7
    text = f"running slot {active}"
    return f"{text}, slot {following} at next reset" if following else text


def next_slot(v: int) -> str:
    return f"slot {v}" if v else "not indicated"


FIRMWARE_SLOT_LOG: tuple[Spec, ...] = (
    U("afi", 0, 1, active_firmware_info),
    Bits("active_slot", 0, 1, 0, 2),
    Bits("next_slot", 0, 1, 4, 6, next_slot),
    *(S(f"frs{n}", 8 * n, 8) for n in range(1, 8)),
)


@decoder("firmware-slot-log")
def decode_firmware_slot_log(data: bytes, **context: object) -> Record:
    return decode_layout("firmware-slot-log", data, FIRMWARE_SLOT_LOG)


# --- Changed Namespace List (Log Identifier 04h; NVMe Base 2.0, Fig. 209) --------------------------------

CHANGED_NS_MAX = 1024
NSID_OVERFLOW = 0xFFFFFFFF


def changed_nsid(v: int) -> str:
    return "more than 1024 namespaces changed" if v == NSID_OVERFLOW else ""


CHANGED_NS_ENTRY: tuple[Spec, ...] = (U("nsid", 0, 4, changed_nsid),)


def _changed_ns(data: bytes, base: int) -> Record:
    return decode_layout("changed-ns", data, CHANGED_NS_ENTRY, base)


@decoder("changed-ns-list-log")
def decode_changed_ns_list_log(data: bytes, **context: object) -> Record:
    """The non-zero entries: the list holds them first, zero-filled after the last."""
    listed = 0
    for i in range(min(len(data) // 4, CHANGED_NS_MAX)):
        if le(data, 4 * i, 4) == 0:
            break
        listed += 1
    return Record("changed-ns-list-log", (decode_group("nsids", data, 0, 4, listed, _changed_ns),))


# --- Commands Supported and Effects (Log Identifier 05h; NVMe Base 2.0, Figs. 210-211) --------------------

EFFECTS_ENTRIES = 256
ADMIN_OFFSET = 0
IO_OFFSET = EFFECTS_ENTRIES * 4

CSE_NAMES = {
    0: "no restriction",
    1: "one at a time per namespace",
    2: "one at a time per NVM subsystem",
}
COMMAND_SCOPE_NAMES = {
    0: "namespace",
    1: "controller",
    2: "NVM set",
    3: "endurance group",
    4: "domain",
    5: "NVM subsystem",
}

EFFECTS_ENTRY: tuple[Spec, ...] = (
    Flag("csupp", 0, 4, 0, "command supported"),
    Flag("lbcc", 0, 4, 1, "may change logical block content"),
    Flag("ncc", 0, 4, 2, "may change namespace capabilities"),
    Flag("nic", 0, 4, 3, "may change the namespace inventory"),
    Flag("ccc", 0, 4, 4, "may change controller capabilities"),
    Bits("cser", 0, 4, 14, 15),
    Bits("cse", 0, 4, 16, 18, enum_meaning(CSE_NAMES)),
    Flag("uss", 0, 4, 19, "UUID selection supported"),
    Bits("csp", 0, 4, 20, 31, flags_meaning(COMMAND_SCOPE_NAMES)),
)


def _effects_group(name: str, data: bytes, offset: int) -> Group:
    """Only the supported opcodes; each record names its opcode (its place in the array)."""
    records = []
    for opcode in range(EFFECTS_ENTRIES):
        base = offset + 4 * opcode
        if not le(data, base, 4) & 1:
            continue
        entry = decode_layout(f"{name}-entry", data, EFFECTS_ENTRY, base)
        where = Field("opcode", 0, 0, opcode, opcode, f"{name}[{opcode}] at byte {base}")
        records.append(Record(entry.name, (where, *entry.items), entry.offset))
    return Group(name, offset, 4 * EFFECTS_ENTRIES, tuple(records))


@decoder("effects-log")
def decode_effects_log(data: bytes, **context: object) -> Record:
    return Record(
        "effects-log",
        (_effects_group("acs", data, ADMIN_OFFSET), _effects_group("iocs", data, IO_OFFSET)),
    )


def supported_opcodes(data: bytes) -> tuple[set[int], set[int]]:
    """(admin, I/O) opcodes whose CSUPP bit is set in a Commands Supported and Effects log."""

    def supported(offset: int) -> set[int]:
        return {op for op in range(EFFECTS_ENTRIES) if le(data, offset + 4 * op, 4) & 1}

    return supported(ADMIN_OFFSET), supported(IO_OFFSET)


# --- Device Self-test (Log Identifier 06h; NVMe Base 2.0, Figs. 212-213) ---------------------------------

SELF_TEST_RESULTS = 20
SELF_TEST_RESULT_SIZE = 28
SELF_TEST_HEADER = 4

CURRENT_OPERATION_NAMES = {
    0x0: "no device self-test in progress",
    0x1: "short device self-test",
    0x2: "extended device self-test",
    0xE: "vendor specific",
}
OPERATION_NAMES = {
    0x1: "short device self-test",
    0x2: "extended device self-test",
    0xE: "vendor specific",
}
RESULT_NAMES = {
    0x0: "completed without error",
    0x1: "aborted by a Device Self-test command",
    0x2: "aborted by a Controller Level Reset",
    0x3: "aborted: namespace removed from the namespace inventory",
    0x4: "aborted by a Format NVM command",
    0x5: "fatal or unknown test error, did not complete",
    0x6: "completed with a failed segment (which one is not known)",
    0x7: "completed with one or more failed segments (the first is in segment_number)",
    0x8: "aborted for an unknown reason",
    0x9: "aborted by a sanitize operation",
    0xF: "entry not used",
}
VALID_DIAGNOSTIC_NAMES = {0: "nsid valid", 1: "failing_lba valid", 2: "sct valid", 3: "sc valid"}

SELF_TEST_LOG: tuple[Spec, ...] = (
    Bits("current_operation", 0, 1, 0, 3, enum_meaning(CURRENT_OPERATION_NAMES)),
    Bits("completion", 1, 1, 0, 6, percent),
)
SELF_TEST_RESULT: tuple[Spec, ...] = (
    Bits("operation", 0, 1, 4, 7, enum_meaning(OPERATION_NAMES)),
    Bits("result", 0, 1, 0, 3, enum_meaning(RESULT_NAMES)),
    U("segment_number", 1, 1),
    U("vdi", 2, 1, flags_meaning(VALID_DIAGNOSTIC_NAMES)),
    U("power_on_hours", 4, 8, per_unit("hours")),
    U("nsid", 12, 4),
    U("failing_lba", 16, 8),
    Bits("sct", 24, 1, 0, 2),
    U("sc", 25, 1),
    B("vs", 26, 2),
)


def _self_test_result(data: bytes, base: int) -> Record:
    entry = decode_layout("self-test-result", data, SELF_TEST_RESULT, base)
    if le(data, base + 2, 1) & 0b1100 != 0b1100:
        return entry  # SCT and SC not both reported valid: no status to name
    status = Status.make(bits(le(data, base + 24, 1), 0, 2), le(data, base + 25, 1))
    items = entry.items
    named = (replace(i, meaning=status.name) if isinstance(i, Field) and i.name == "sc" else i for i in items)
    return Record(entry.name, tuple(named), entry.offset)


@decoder("self-test-log")
def decode_self_test_log(data: bytes, **context: object) -> Record:
    head = decode_layout("self-test-log", data, SELF_TEST_LOG)
    present = max(0, (len(data) - SELF_TEST_HEADER) // SELF_TEST_RESULT_SIZE)
    results = decode_group(
        "results",
        data,
        SELF_TEST_HEADER,
        SELF_TEST_RESULT_SIZE,
        min(SELF_TEST_RESULTS, present),
        _self_test_result,
    )
    return Record(head.name, (*head.items, results))
