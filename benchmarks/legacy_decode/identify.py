"""Identify data structures (Identify, admin opcode 06h): CNS 00h, 01h, 02h, 03h, 05h and 06h.

Every Identify data structure is 4096 bytes. Layout tables name each field by the spec's abbreviation,
lowercased, at the spec's byte offset; tables of repeated entries (LBA formats, power states) are groups.
Meanings that depend on another field (power in watts needs its scale, sizes in bytes need the LBA size)
are filled in after the table is walked.

As `decode_group` makes them (and as the other decoders do), the fields of a group's records carry offsets
relative to the start of their own entry; the Group's offset and width place the table in the buffer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from benchmarks.legacy_decode.base import (
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
    unit_meaning,
)

__all__ = [
    "IDENTIFY_DATA_SIZE",
    "current_lba_format",
    "decode_active_namespace_list",
    "decode_identify_controller",
    "decode_identify_ctrl_nvm",
    "decode_identify_ctrl_zns",
    "decode_identify_namespace",
    "decode_identify_ns_nvm",
    "decode_identify_ns_zns",
    "decode_namespace_descriptor_list",
    "lba_format_index",
]

IDENTIFY_DATA_SIZE = 4096
MAX_LBA_FORMATS = 64
MAX_POWER_STATES = 32
MAX_NSIDS = 1024

COMMAND_SETS = {0: "NVM Command Set", 1: "Key Value Command Set", 2: "Zoned Namespace Command Set"}


# --- meanings ---------------------------------------------------------------------------------------------


def _human_bytes(n: int) -> str:
    for unit, scale in (("EB", 10**18), ("PB", 10**15), ("TB", 10**12), ("GB", 10**9), ("MB", 10**6)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    if n >= 1000:
        return f"{n / 1000:.2f} kB"
    return f"{n} B"


def _bytes(n: int) -> str:
    return f"{n} bytes ({_human_bytes(n)})" if n >= 1000 else f"{n} bytes"


def _zeros_based(unit: str) -> Meaning:
    """A 0's based count: the field holds one less than the number it stands for."""
    return lambda v: f"{v + 1} {unit}"


def _or_zero(zero: str, meaning: Meaning) -> Meaning:
    return lambda v: zero if v == 0 else meaning(v)


def _hex(digits: int) -> Meaning:
    return lambda v: f"{v:0{digits}x}h"


def _kelvin(v: int) -> str:
    return "not reported" if v == 0 else f"{v} K ({v - 273} °C)"


def _version(v: int) -> str:
    # NVMe Base 2.0, Version (VS) register: MJR bits 31:16, MNR 15:8, TER 7:0
    if v == 0:
        return "not reported (before NVMe 1.2)"
    return f"{v >> 16}.{bits(v, 8, 15)}.{bits(v, 0, 7)}"


def _pages(v: int) -> str:
    """A power of two in units of the minimum memory page size (MDTS, ZASL, VSL, ...); 0 means no limit."""
    return "no limit" if v == 0 else f"{1 << v} x minimum memory page size (CAP.MPSMIN)"


def _joined(*parts: Callable[[int], str]) -> Meaning:
    """Meanings of several sub-fields of one value, the non-empty ones joined."""
    return lambda v: ", ".join(p for p in (part(v) for part in parts) if p)


def _sub(lsb: int, msb: int, meaning: Callable[[int], str]) -> Callable[[int], str]:
    return lambda v: meaning(bits(v, lsb, msb))


# --- table helpers ----------------------------------------------------------------------------------------


def _element(name: str, layout: Sequence[Spec]) -> Callable[[bytes, int], Record]:
    """One entry of a table of `layout`s: `element(data, base)` decodes the entry at `base`."""
    return lambda data, base: decode_layout(name, data, layout, base)


def _with_meanings(record: Record, meanings: dict[str, str]) -> Record:
    items = tuple(
        replace(item, meaning=meanings[item.name])
        if isinstance(item, Field) and item.name in meanings
        else item
        for item in record.items
    )
    return Record(record.name, items, record.offset)


def _by_offset(name: str, items: Iterable[Field | Group]) -> Record:
    return Record(name, tuple(sorted(items, key=lambda item: item.offset)))


def _count(context: dict[str, object], key: str, maximum: int) -> int:
    """How many entries of a table to decode: `context[key]` (a 0's based count, e.g. NLBAF) plus one."""
    value = context.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return min(value + 1, maximum)
    return maximum


def _int(field: Field | Group) -> int:
    if isinstance(field, Group) or not isinstance(field.raw, int):
        raise TypeError(f"{field.name} is not an integer field")
    return field.raw


# --- Identify Controller (CNS 01h) ------------------------------------------------------------------------

CMIC = {
    0: "multiple NVM subsystem ports",
    1: "multiple controllers",
    2: "SR-IOV virtual function",
    3: "asymmetric namespace access reporting",
}
OAES = {
    8: "Namespace Attribute Notices",
    9: "Firmware Activation Notices",
    11: "Asymmetric Namespace Access Change Notices",
    12: "Predictable Latency Event Aggregate Log Change Notices",
    13: "LBA Status Information Alert Notices",
    14: "Endurance Group Event Aggregate Log Page Change Notices",
    15: "Normal NVM Subsystem Shutdown event",
    27: "Zone Descriptor Changed Notices",
    31: "Discovery Log Page Change Notices",
}
CTRATT = {
    0: "128-bit Host Identifier",
    1: "Non-Operational Power State Permissive Mode",
    2: "NVM Sets",
    3: "Read Recovery Levels",
    4: "Endurance Groups",
    5: "Predictable Latency Mode",
    6: "Traffic Based Keep Alive",
    7: "Namespace Granularity",
    8: "SQ Associations",
    9: "UUID List",
    10: "Multi-Domain Subsystem",
    11: "Fixed Capacity Management",
    12: "Variable Capacity Management",
    13: "Delete Endurance Group",
    14: "Delete NVM Set",
    15: "Extended LBA Formats",
}
CNTRLTYPE = {
    0: "not reported",
    1: "I/O controller",
    2: "discovery controller",
    3: "administrative controller",
}
NVMSR = {0: "NVMe Storage Device (NVMESD)", 1: "NVMe Enclosure (NVMEE)"}
MEC = {0: "SMBus/I2C port management endpoint", 1: "PCIe port management endpoint"}
OACS = {
    0: "Security Send/Receive",
    1: "Format NVM",
    2: "Firmware Download/Commit",
    3: "Namespace Management",
    4: "Device Self-test",
    5: "Directives",
    6: "NVMe-MI Send/Receive",
    7: "Virtualization Management",
    8: "Doorbell Buffer Config",
    9: "Get LBA Status",
    10: "Command and Feature Lockdown",
}
LPA = {
    0: "SMART / Health log per namespace",
    1: "Commands Supported and Effects log",
    2: "extended data for Get Log Page",
    3: "Telemetry logs",
    4: "Persistent Event log",
}
ONCS = {
    0: "Compare",
    1: "Write Uncorrectable",
    2: "Dataset Management",
    3: "Write Zeroes",
    4: "Save and Select in Set/Get Features",
    5: "Reservations",
    6: "Timestamp",
    7: "Verify",
    8: "Copy",
}
FNA = {
    0: "format applies to all namespaces",
    1: "secure erase applies to all namespaces",
    2: "cryptographic erase",
    3: "format of all namespaces only (NSID FFFFFFFFh)",
}
NWPC = {0: "Write Protect", 1: "Write Protect Until Power Cycle", 2: "Permanent Write Protect"}
ANACAP = {
    0: "Optimized state",
    1: "Non-Optimized state",
    2: "Inaccessible state",
    3: "Persistent Loss state",
    4: "Change state",
    6: "ANAGRPID does not change while attached",
    7: "non-zero ANAGRPID in Namespace Management",
}
SANICAP = {0: "Crypto Erase", 1: "Block Erase", 2: "Overwrite", 29: "No-Deallocate Inhibited"}
SANICAP_NODMMAS = {
    0: "",
    1: "media not additionally modified after no-deallocate sanitize",
    2: "media additionally modified after no-deallocate sanitize",
}
SGLS_SUPPORT = {0: "SGLs not supported", 1: "SGLs supported", 2: "SGLs supported (dword alignment)"}
SGLS = {
    2: "Keyed SGL Data Block",
    16: "SGL Bit Bucket",
    17: "byte aligned contiguous metadata",
    18: "SGL longer than data",
    19: "MPTR to an SGL",
    20: "address as offset",
    21: "Transport SGL Data Block",
}
VWC_FLUSH = {
    0: "flush broadcast support not reported",
    2: "Flush with NSID FFFFFFFFh not supported",
    3: "Flush with NSID FFFFFFFFh supported",
}
DCTYPE = {0: "not reported", 1: "direct discovery controller", 2: "central discovery controller"}


def _frmw(v: int) -> str:
    parts = [f"{bits(v, 1, 3)} firmware slots"]
    if v & 1:
        parts.append("slot 1 read-only")
    if v >> 4 & 1:
        parts.append("activation without reset")
    if v >> 5 & 1:
        parts.append("multiple update detection")
    return ", ".join(parts)


def _rpmbs(v: int) -> str:
    units = bits(v, 0, 2)
    if units == 0:
        return "not supported"
    auth = "HMAC SHA-256" if bits(v, 3, 5) == 0 else f"authentication method {bits(v, 3, 5)}"
    total = (bits(v, 16, 23) + 1) * 128
    access = (bits(v, 24, 31) + 1) * 512
    return f"{units} RPMB units of {total} KiB, {auth}, access size {access} bytes"


def _entry_size(v: int) -> str:
    return f"required {1 << bits(v, 0, 3)} bytes, maximum {1 << bits(v, 4, 7)} bytes"


def _vwci(v: int) -> str:
    if not v >> 7:
        return "remaining VPD write cycles not reported"
    remaining = bits(v, 0, 6)
    return f"{remaining}{' or more' if remaining == 0x7F else ''} VPD write cycles remaining"


def _fwug(v: int) -> str:
    return {0: "not reported", 0xFF: "no restriction"}.get(v, f"{v * 4} KiB")


_ms100 = unit_meaning("ms", 100)
_kib4 = unit_meaning("KiB", 4)

# NVMe Base 2.0, Fig. 275: Identify Controller data structure, I/O Command Set Independent (CNS 01h)
IDENTIFY_CONTROLLER: tuple[Spec, ...] = (
    # Controller capabilities and features
    U("vid", 0, 2, _hex(4)),
    U("ssvid", 2, 2, _hex(4)),
    S("sn", 4, 20),
    S("mn", 24, 40),
    S("fr", 64, 8),
    U("rab", 72, 1, lambda v: f"{1 << v} commands"),
    U("ieee", 73, 3, lambda v: f"OUI {v:06x}h"),
    U("cmic", 76, 1, flags_meaning(CMIC)),
    U("mdts", 77, 1, _pages),
    U("cntlid", 78, 2, _hex(4)),
    U("ver", 80, 4, _version),
    U("rtd3r", 84, 4, _or_zero("not reported", unit_meaning("us"))),
    U("rtd3e", 88, 4, _or_zero("not reported", unit_meaning("us"))),
    U("oaes", 92, 4, flags_meaning(OAES)),
    U("ctratt", 96, 4, flags_meaning(CTRATT)),
    U("rrls", 100, 2, flags_meaning({n: f"level {n}" for n in range(16)})),
    U("cntrltype", 111, 1, enum_meaning(CNTRLTYPE)),
    B("fguid", 112, 16),
    U("crdt1", 128, 2, _ms100),
    U("crdt2", 130, 2, _ms100),
    U("crdt3", 132, 2, _ms100),
    # NVMe Management Interface
    U("nvmsr", 253, 1, flags_meaning(NVMSR)),
    U("vwci", 254, 1, _vwci),
    U("mec", 255, 1, flags_meaning(MEC)),
    # Admin command set attributes and optional controller capabilities
    U("oacs", 256, 2, flags_meaning(OACS)),
    U("acl", 258, 1, _zeros_based("concurrent Abort commands")),
    U("aerl", 259, 1, _zeros_based("outstanding Asynchronous Event Requests")),
    U("frmw", 260, 1, _frmw),
    U("lpa", 261, 1, flags_meaning(LPA)),
    U("elpe", 262, 1, _zeros_based("Error Information log entries")),
    U("npss", 263, 1, _zeros_based("power states")),
    U("avscc", 264, 1, flags_meaning({0: "admin vendor specific commands use the standard format"})),
    U("apsta", 265, 1, flags_meaning({0: "autonomous power state transitions"})),
    U("wctemp", 266, 2, _kelvin),
    U("cctemp", 268, 2, _kelvin),
    U("mtfa", 270, 2, _or_zero("not reported", _ms100)),
    U("hmpre", 272, 4, _kib4),
    U("hmmin", 276, 4, _kib4),
    U("tnvmcap", 280, 16, _bytes),
    U("unvmcap", 296, 16, _bytes),
    U("rpmbs", 312, 4, _rpmbs),
    U("edstt", 316, 2, unit_meaning("minutes")),
    U("dsto", 318, 1, flags_meaning({0: "one device self-test operation at a time"})),
    U("fwug", 319, 1, _fwug),
    U("kas", 320, 2, _or_zero("keep alive not supported", _ms100)),
    U("hctma", 322, 2, flags_meaning({0: "host controlled thermal management"})),
    U("mntmt", 324, 2, _kelvin),
    U("mxtmt", 326, 2, _kelvin),
    U("sanicap", 328, 4, _joined(flags_meaning(SANICAP), _sub(30, 31, enum_meaning(SANICAP_NODMMAS)))),
    U("hmminds", 332, 4, _kib4),
    U("hmmaxd", 336, 2, _or_zero("no limit", unit_meaning("descriptors"))),
    U("nsetidmax", 338, 2),
    U("endgidmax", 340, 2),
    U("anatt", 342, 1, unit_meaning("seconds")),
    U("anacap", 343, 1, flags_meaning(ANACAP)),
    U("anagrpmax", 344, 4),
    U("nanagrpid", 348, 4),
    U("pels", 352, 4, unit_meaning("KiB", 64)),
    U("domainid", 356, 2),
    U("megcap", 368, 16, _bytes),
    # NVM command set attributes
    U("sqes", 512, 1, _entry_size),
    U("cqes", 513, 1, _entry_size),
    U("maxcmd", 514, 2, _or_zero("not reported", unit_meaning("commands"))),
    U("nn", 516, 4),
    U("oncs", 520, 2, flags_meaning(ONCS)),
    U("fuses", 522, 2, flags_meaning({0: "Compare and Write"})),
    U("fna", 524, 1, flags_meaning(FNA)),
    U(
        "vwc",
        525,
        1,
        _joined(flags_meaning({0: "volatile write cache present"}), _sub(1, 2, enum_meaning(VWC_FLUSH))),
    ),
    U("awun", 526, 2, _zeros_based("logical blocks")),
    U("awupf", 528, 2, _zeros_based("logical blocks")),
    U("icsvscc", 530, 1, flags_meaning({0: "I/O vendor specific commands use the standard format"})),
    U("nwpc", 531, 1, flags_meaning(NWPC)),
    U("acwu", 532, 2, _zeros_based("logical blocks")),
    U("ocfs", 534, 2, flags_meaning({n: f"Copy Format {n}" for n in range(16)})),
    U("sgls", 536, 4, _joined(_sub(0, 1, enum_meaning(SGLS_SUPPORT)), flags_meaning(SGLS))),
    U("mnan", 540, 4, _or_zero("same as NN", unit_meaning("namespaces"))),
    U("maxdna", 544, 16, _or_zero("no limit", unit_meaning("namespace attachments"))),
    U("maxcna", 560, 4, _or_zero("no limit", unit_meaning("namespaces"))),
    S("subnqn", 768, 256),
    # NVMe over Fabrics
    U("ioccsz", 1792, 4, unit_meaning("bytes", 16)),
    U("iorcsz", 1796, 4, unit_meaning("bytes", 16)),
    U("icdoff", 1800, 2, unit_meaning("bytes", 16)),
    U("fcatt", 1802, 1, lambda v: "static controller model" if v & 1 else "dynamic controller model"),
    U("msdbd", 1803, 1, _or_zero("no limit", unit_meaning("descriptors"))),
    U("ofcs", 1804, 2, flags_meaning({0: "Disconnect command"})),
    U("dctype", 1806, 1, enum_meaning(DCTYPE)),
    # vendor specific
    B("vs", 3072, 1024),
)

PSD_OFFSET = 2048
PSD_SIZE = 32
POWER_SCALE = {0: "not reported", 1: "0.0001 W", 2: "0.01 W"}
ACTIVE_POWER_WORKLOAD = {
    0: "not reported",
    1: "Workload #1 (extended idle period with a burst of random writes)",
    2: "Workload #2 (heavy sequential writes)",
}

# NVMe Base 2.0, Fig. 276: Power State Descriptor data structure (32 bytes, PSD0 at byte 2048)
POWER_STATE_DESCRIPTOR: tuple[Spec, ...] = (
    U("mp", 0, 2),
    Flag("mxps", 3, 1, 0, "MP in 0.0001 W units"),
    Flag("nops", 3, 1, 1, "non-operational state"),
    U("enlat", 4, 4, _or_zero("not reported", unit_meaning("us"))),
    U("exlat", 8, 4, _or_zero("not reported", unit_meaning("us"))),
    Bits("rrt", 12, 1, 0, 4),
    Bits("rrl", 13, 1, 0, 4),
    Bits("rwt", 14, 1, 0, 4),
    Bits("rwl", 15, 1, 0, 4),
    U("idlp", 16, 2),
    Bits("ips", 18, 1, 6, 7, enum_meaning(POWER_SCALE)),
    U("actp", 20, 2),
    Bits("apw", 22, 1, 0, 2, enum_meaning(ACTIVE_POWER_WORKLOAD)),
    Bits("aps", 22, 1, 6, 7, enum_meaning(POWER_SCALE)),
)


def _watts(value: int, scale: int) -> str:
    """`value` in units given by a power scale (1: 0.0001 W, 2: 0.01 W)."""
    if scale == 1:
        return f"{value / 10000:.4f} W"
    if scale == 2:
        return f"{value / 100:.2f} W"
    return "not reported" if scale == 0 else f"reserved scale {scale}"


def _power_state(data: bytes, base: int) -> Record:
    record = decode_layout("psd", data, POWER_STATE_DESCRIPTOR, base)
    mp, mxps = _int(record["mp"]), _int(record["mxps"])
    return _with_meanings(
        record,
        {
            "mp": "not reported" if mp == 0 else _watts(mp, 1 if mxps else 2),
            "idlp": _watts(_int(record["idlp"]), _int(record["ips"])),
            "actp": _watts(_int(record["actp"]), _int(record["aps"])),
        },
    )


@decoder("identify-controller")
def decode_identify_controller(data: bytes, **context: object) -> Record:
    """Identify Controller (CNS 01h), with the npss+1 power state descriptors as group `psd`."""
    record = decode_layout("identify-controller", data, IDENTIFY_CONTROLLER)
    count = min(le(data, 263, 1) + 1, MAX_POWER_STATES)
    psd = decode_group("psd", data, PSD_OFFSET, PSD_SIZE, count, _power_state)
    return _by_offset(record.name, (*record.items, psd))


# --- Identify Namespace (CNS 00h) -------------------------------------------------------------------------

NSFEAT = {
    0: "thin provisioning (THINP)",
    1: "NAWUN/NAWUPF/NACWU valid (NSABP)",
    2: "Deallocated or Unwritten Logical Block error (DAE)",
    3: "NGUID/EUI64 never reused (UIDREUSE)",
    4: "NPWG/NPWA/NPDG/NPDA/NOWS valid (OPTPERF)",
}
MC = {0: "metadata in an extended data LBA", 1: "metadata in a separate buffer"}
DPC = {
    0: "Protection Information Type 1",
    1: "Protection Information Type 2",
    2: "Protection Information Type 3",
    3: "PI in the first bytes of metadata",
    4: "PI in the last bytes of metadata",
}
RESCAP = {
    0: "Persist Through Power Loss",
    1: "Write Exclusive",
    2: "Exclusive Access",
    3: "Write Exclusive - Registrants Only",
    4: "Exclusive Access - Registrants Only",
    5: "Write Exclusive - All Registrants",
    6: "Exclusive Access - All Registrants",
    7: "Ignore Existing Key (1.3 behaviour)",
}
DLFEAT_READ = {
    0: "read of deallocated blocks not reported",
    1: "deallocated blocks read as 00h",
    2: "deallocated blocks read as FFh",
}
RELATIVE_PERFORMANCE = {
    0: "Best performance",
    1: "Better performance",
    2: "Good performance",
    3: "Degraded performance",
}


def _dps(v: int) -> str:
    pi = bits(v, 0, 2)
    kind = "protection information disabled" if pi == 0 else f"Protection Information Type {pi}"
    if pi > 3:
        kind = f"reserved PI type {pi}"
    return f"{kind}, PI {'first' if v >> 3 & 1 else 'last'} in metadata" if pi else kind


def _fpi(v: int) -> str:
    if not v >> 7:
        return "format progress indicator not supported"
    return f"{bits(v, 0, 6)}% remains to be formatted"


def _lbads(v: int) -> str:
    return f"{1 << v} bytes" if v >= 9 else "not supported"


# NVM Command Set 1.0, Fig. 97: Identify Namespace data structure, NVM Command Set (CNS 00h)
IDENTIFY_NAMESPACE: tuple[Spec, ...] = (
    U("nsze", 0, 8),
    U("ncap", 8, 8),
    U("nuse", 16, 8),
    U("nsfeat", 24, 1, flags_meaning(NSFEAT)),
    U("nlbaf", 25, 1, _zeros_based("LBA formats")),
    U("flbas", 26, 1),
    U("mc", 27, 1, flags_meaning(MC)),
    U("dpc", 28, 1, flags_meaning(DPC)),
    U("dps", 29, 1, _dps),
    U("nmic", 30, 1, flags_meaning({0: "may be attached to two or more controllers"})),
    U("rescap", 31, 1, flags_meaning(RESCAP)),
    U("fpi", 32, 1, _fpi),
    U(
        "dlfeat",
        33,
        1,
        _joined(
            _sub(0, 2, enum_meaning(DLFEAT_READ)),
            flags_meaning({3: "Deallocate bit in Write Zeroes", 4: "guard is CRC of deallocated data"}),
        ),
    ),
    U("nawun", 34, 2, _zeros_based("logical blocks")),
    U("nawupf", 36, 2, _zeros_based("logical blocks")),
    U("nacwu", 38, 2, _zeros_based("logical blocks")),
    U("nabsn", 40, 2, _zeros_based("logical blocks")),
    U("nabo", 42, 2, unit_meaning("logical blocks")),
    U("nabspf", 44, 2, _zeros_based("logical blocks")),
    U("noiob", 46, 2, _or_zero("not reported", unit_meaning("logical blocks"))),
    U("nvmcap", 48, 16, _bytes),
    U("npwg", 64, 2, _zeros_based("logical blocks")),
    U("npwa", 66, 2, _zeros_based("logical blocks")),
    U("npdg", 68, 2, _zeros_based("logical blocks")),
    U("npda", 70, 2, _zeros_based("logical blocks")),
    U("nows", 72, 2, _zeros_based("logical blocks")),
    U("mssrl", 74, 2, unit_meaning("logical blocks")),
    U("mcl", 76, 4, unit_meaning("logical blocks")),
    U("msrc", 80, 1, _zeros_based("source ranges")),
    U("nulbaf", 82, 1, unit_meaning("unique capability LBA formats")),
    U("anagrpid", 92, 4),
    U("nsattr", 99, 1, flags_meaning({0: "write protected"})),
    U("nvmsetid", 100, 2),
    U("endgid", 102, 2),
    B("nguid", 104, 16),
    B("eui64", 120, 8),
    B("vs", 384, 3712),
)

LBAF_OFFSET = 128
LBAF_SIZE = 4

# NVM Command Set 1.0, Fig. 98: LBA Format data structure (bits 15:0 MS, 23:16 LBADS, 25:24 RP)
LBA_FORMAT: tuple[Spec, ...] = (
    U("ms", 0, 2, unit_meaning("bytes")),
    U("lbads", 2, 1, _lbads),
    Bits("rp", 3, 1, 0, 1, enum_meaning(RELATIVE_PERFORMANCE)),
)


def lba_format_index(flbas: int, nlbaf: int) -> int:
    """The LBA format in use: FLBAS bits 3:0, with bits 6:5 as bits 5:4 once there are more than 16 formats
    (NLBAF is 0's based); with 16 or fewer, bits 6:5 are reserved."""
    index = bits(flbas, 0, 3)
    if nlbaf + 1 > 16:
        index |= bits(flbas, 5, 6) << 4
    return index


def current_lba_format(source: Record | bytes) -> tuple[int, int, bool]:
    """(LBA data size in bytes, metadata bytes per LBA, metadata extended) of the format a namespace is in.

    `source` is an `identify-namespace` Record or the raw Identify Namespace data. Extended means the
    metadata travels at the end of each LBA's data (FLBAS bit 4), not in a separate buffer.
    Raises ValueError when FLBAS points past NLBAF or at a format whose LBADS is not supported (< 9).
    """
    if isinstance(source, Record):
        if source.name != "identify-namespace":
            raise ValueError(f"current_lba_format needs an identify-namespace record, not {source.name!r}")
        flbas, nlbaf = _int(source["flbas"]), _int(source["nlbaf"])
        index = lba_format_index(flbas, nlbaf)
        group = source["lbaf"]
        if not isinstance(group, Group) or index >= len(group.records):
            raise ValueError(f"FLBAS selects LBA format {index}, but NLBAF lists {nlbaf + 1}")
        chosen = group.records[index]
        ms, lbads = _int(chosen["ms"]), _int(chosen["lbads"])
    else:
        flbas, nlbaf = le(source, 26, 1), le(source, 25, 1)
        index = lba_format_index(flbas, nlbaf)
        if index > nlbaf:
            raise ValueError(f"FLBAS selects LBA format {index}, but NLBAF lists {nlbaf + 1}")
        entry = le(source, LBAF_OFFSET + index * LBAF_SIZE, LBAF_SIZE)
        ms, lbads = bits(entry, 0, 15), bits(entry, 16, 23)
    if lbads < 9:
        raise ValueError(f"LBA format {index} has LBADS {lbads}: not a supported LBA data size")
    return 1 << lbads, ms, bool(flbas >> 4 & 1)


@decoder("identify-namespace")
def decode_identify_namespace(data: bytes, **context: object) -> Record:
    """Identify Namespace (CNS 00h), with the nlbaf+1 LBA formats as group `lbaf`; sizes in blocks get
    their bytes in the meaning, using the format FLBAS selects."""
    record = decode_layout("identify-namespace", data, IDENTIFY_NAMESPACE)
    nlbaf = le(data, 25, 1)
    count = min(nlbaf + 1, MAX_LBA_FORMATS)
    lbaf = decode_group("lbaf", data, LBAF_OFFSET, LBAF_SIZE, count, _element("lbaf", LBA_FORMAT))
    record = _by_offset(record.name, (*record.items, lbaf))

    flbas = le(data, 26, 1)
    index = lba_format_index(flbas, nlbaf)
    placement = (
        "extended LBA (metadata after each block's data)" if flbas >> 4 & 1 else "separate metadata buffer"
    )
    meanings = {"flbas": f"LBA format {index}, {placement}"}
    try:
        lba_size, ms, _ = current_lba_format(record)
    except ValueError as err:
        meanings["flbas"] += f" ({err})"
        lba_size = 0
    else:
        meanings["flbas"] += f": {lba_size} bytes data, {ms} bytes metadata"
    for name, offset in (("nsze", 0), ("ncap", 8), ("nuse", 16)):
        blocks = le(data, offset, 8)
        meanings[name] = f"{blocks} logical blocks" + (
            f" ({_human_bytes(blocks * lba_size)})" if lba_size else ""
        )
    return _with_meanings(record, meanings)


# --- Active Namespace ID list (CNS 02h) -------------------------------------------------------------------


# NVMe Base 2.0, Identify Namespace List data structure: Identifier 0..1023, 4 bytes each
NSID_ENTRY: tuple[Spec, ...] = (U("nsid", 0, 4),)


@decoder("active-namespace-list")
def decode_active_namespace_list(data: bytes, **context: object) -> Record:
    """Active Namespace ID list (CNS 02h): up to 1024 NSIDs in increasing order,
    the unused entries zero; group `namespace_list` holds one record per non-zero NSID."""
    count = 0
    while count < MAX_NSIDS and le(data, 4 * count, 4) != 0:
        count += 1
    nsids = decode_group("namespace_list", data, 0, 4, count, _element("nsid", NSID_ENTRY))
    return Record("active-namespace-list", (nsids,))


# --- Namespace Identification Descriptor list (CNS 03h) ---------------------------------------------------

NIDT = {1: "IEEE Extended Unique Identifier (EUI64)", 2: "Namespace Globally Unique Identifier (NGUID)",
        3: "Universally Unique Identifier (UUID)", 4: "Command Set Identifier (CSI)"}  # fmt: skip


# NVMe Base 2.0, Namespace Identification Descriptor data structure (NIDT, NIDL, reserved, then the NID)
NID_DESCRIPTOR_HEAD: tuple[Spec, ...] = (U("nidt", 0, 1, enum_meaning(NIDT)), U("nidl", 1, 1))


def _nid_field(data: bytes, base: int, nidt: int, nidl: int) -> Field:
    """The NID of the descriptor at `base`: bytes 4 to 4+NIDL-1 of the descriptor."""
    if nidt == 4:
        csi = le(data, base + 4, 1)
        return Field("nid", 4, nidl, csi, csi, COMMAND_SETS.get(csi, f"reserved ({csi:#x})"))
    raw = bytes(data[base + 4 : base + 4 + nidl])
    meaning = ""
    if nidt == 3 and len(raw) == 16:
        import uuid  # only for a UUID descriptor

        meaning = str(uuid.UUID(bytes=raw))
    elif nidt in (1, 2):
        meaning = "-".join(f"{b:02x}" for b in raw)
    return Field("nid", 4, nidl, raw, raw.hex(), meaning)


@decoder("namespace-descriptor-list")
def decode_namespace_descriptor_list(data: bytes, **context: object) -> Record:
    """Namespace Identification Descriptor list (CNS 03h): NIDT, NIDL, then NIDL bytes of NID, one
    descriptor after another until a NIDT of 0h. Descriptors differ in length, so group `descriptors` has
    no fixed stride: each one starts where the one before ends (4 + its NIDL bytes on)."""
    records = []
    offset = 0
    while offset + 4 <= min(len(data), IDENTIFY_DATA_SIZE):
        nidt, nidl = data[offset], data[offset + 1]
        if nidt == 0:
            break
        head = decode_layout("nid_descriptor", data, NID_DESCRIPTOR_HEAD, offset)
        records.append(Record(head.name, (*head.items, _nid_field(data, offset, nidt, nidl)), head.offset))
        offset += 4 + nidl
    return Record("namespace-descriptor-list", (Group("descriptors", 0, offset, tuple(records)),))


# --- I/O Command Set specific Identify Namespace (CNS 05h) ------------------------------------------------

PIC = {
    0: "16b Guard PI storage tag support (16BPISTS)",
    1: "16b Guard PI storage tag mask (16BPISTM)",
    2: "storage tag check read support (STCRS)",
}
PIF = {
    0: "16b Guard Protection Information",
    1: "32b Guard Protection Information",
    2: "64b Guard Protection Information",
}

# NVM Command Set 1.0: I/O Command Set Specific Identify Namespace, NVM Command Set
# (CNS 05h, CSI 00h)
IDENTIFY_NS_NVM: tuple[Spec, ...] = (
    U("lbstm", 0, 8, _hex(16)),
    U("pic", 8, 1, flags_meaning(PIC)),
)
ELBAF_OFFSET = 12
ELBAF_SIZE = 4
# Extended LBA Format data structure: bits 6:0 STS, bits 8:7 PIF
EXTENDED_LBA_FORMAT: tuple[Spec, ...] = (
    Bits("sts", 0, 4, 0, 6, unit_meaning("storage tag bits")),
    Bits("pif", 0, 4, 7, 8, enum_meaning(PIF)),
)


@decoder("identify-ns-nvm")
def decode_identify_ns_nvm(data: bytes, **context: object) -> Record:
    """NVM Command Set Identify Namespace (CNS 05h, CSI 00h). Context `nlbaf` (from Identify Namespace)
    limits group `elbaf` to the formats in use; without it all 64 are decoded."""
    record = decode_layout("identify-ns-nvm", data, IDENTIFY_NS_NVM)
    count = _count(context, "nlbaf", MAX_LBA_FORMATS)
    elbaf = decode_group(
        "elbaf", data, ELBAF_OFFSET, ELBAF_SIZE, count, _element("elbaf", EXTENDED_LBA_FORMAT)
    )
    return Record(record.name, (*record.items, elbaf))


def _resources(v: int) -> str:
    return "no limit" if v == 0xFFFFFFFF else f"{v + 1} zones"


_seconds_or_not_reported = _or_zero("not reported", unit_meaning("seconds"))

# Zoned Namespace Command Set 1.1: I/O Command Set Specific Identify Namespace, Zoned Namespace
# Command Set (CNS 05h, CSI 02h)
IDENTIFY_NS_ZNS: tuple[Spec, ...] = (
    U("zoc", 0, 2, flags_meaning({0: "variable zone capacity (VZCAP)", 1: "zone active excursions (ZAE)"})),
    U(
        "ozcs",
        2,
        2,
        flags_meaning({0: "read across zone boundaries (RAZB)", 1: "zone random write area (ZRWASUP)"}),
    ),
    U("mar", 4, 4, _resources),
    U("mor", 8, 4, _resources),
    U("rrl", 12, 4, _seconds_or_not_reported),
    U("frl", 16, 4, _seconds_or_not_reported),
    U("rrl1", 20, 4, _seconds_or_not_reported),
    U("rrl2", 24, 4, _seconds_or_not_reported),
    U("rrl3", 28, 4, _seconds_or_not_reported),
    U("frl1", 32, 4, _seconds_or_not_reported),
    U("frl2", 36, 4, _seconds_or_not_reported),
    U("frl3", 40, 4, _seconds_or_not_reported),
    U("numzrwa", 44, 4, _zeros_based("ZRWA resources")),
    U("zrwafg", 48, 2, unit_meaning("logical blocks")),
    U("zrwasz", 50, 2, unit_meaning("logical blocks")),
    U("zrwacap", 52, 1, flags_meaning({0: "explicit ZRWA flush (EXPFLUSHSUP)"})),
    B("vs", 3840, 256),
)
LBAFE_OFFSET = 2816
LBAFE_SIZE = 16
# Zoned Namespace LBA Format Extension data structure
LBA_FORMAT_EXTENSION: tuple[Spec, ...] = (
    U("zsze", 0, 8, unit_meaning("logical blocks")),
    U("zdes", 8, 1, unit_meaning("bytes", 64)),
)


@decoder("identify-ns-zns")
def decode_identify_ns_zns(data: bytes, **context: object) -> Record:
    """Zoned Namespace Command Set Identify Namespace (CNS 05h, CSI 02h). Context `nlbaf` limits group
    `lbafe` to the formats in use; without it all 64 are decoded."""
    record = decode_layout("identify-ns-zns", data, IDENTIFY_NS_ZNS)
    count = _count(context, "nlbaf", MAX_LBA_FORMATS)
    lbafe = decode_group(
        "lbafe", data, LBAFE_OFFSET, LBAFE_SIZE, count, _element("lbafe", LBA_FORMAT_EXTENSION)
    )
    return _by_offset(record.name, (*record.items, lbafe))


# --- I/O Command Set specific Identify Controller (CNS 06h) -----------------------------------------------

# NVM Command Set 1.0: I/O Command Set Specific Identify Controller, NVM Command Set
# (CNS 06h, CSI 00h)
IDENTIFY_CTRL_NVM: tuple[Spec, ...] = (
    U("vsl", 0, 1, _pages),
    U("wzsl", 1, 1, _pages),
    U("wusl", 2, 1, _pages),
    U("dmrl", 3, 1, _or_zero("not reported", unit_meaning("ranges"))),
    U("dmrsl", 4, 4, _or_zero("not reported", unit_meaning("logical blocks"))),
    U("dmsl", 8, 8, _or_zero("not reported", unit_meaning("logical blocks"))),
)


@decoder("identify-ctrl-nvm")
def decode_identify_ctrl_nvm(data: bytes, **context: object) -> Record:
    """NVM Command Set Identify Controller (CNS 06h, CSI 00h): size limits of Verify, Write Zeroes,
    Write Uncorrectable and Dataset Management."""
    return decode_layout("identify-ctrl-nvm", data, IDENTIFY_CTRL_NVM)


# Zoned Namespace Command Set 1.1: I/O Command Set Specific Identify Controller, Zoned Namespace
# Command Set (CNS 06h, CSI 02h)
IDENTIFY_CTRL_ZNS: tuple[Spec, ...] = (U("zasl", 0, 1, lambda v: "same as MDTS" if v == 0 else _pages(v)),)


@decoder("identify-ctrl-zns")
def decode_identify_ctrl_zns(data: bytes, **context: object) -> Record:
    """Zoned Namespace Command Set Identify Controller (CNS 06h, CSI 02h): the Zone Append size limit."""
    return decode_layout("identify-ctrl-zns", data, IDENTIFY_CTRL_ZNS)
