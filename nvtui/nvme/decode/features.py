"""Get Features results (NVMe Base 2.0 section 5.27.1): the completion's Dword 0, per Feature Identifier.

The `feature-result` decoder takes the 4-byte little-endian DW0 as its data and the feature's `fid` as
context; a feature this module does not know decodes as one field `dw0`. Field names are the spec's
abbreviations of the feature's attributes, lowercased (`wce`, `nsqa`, `ncqa`, `tmpth`, `kato`, ...).
"""

from __future__ import annotations

from nvtui.nvme.decode.base import (
    Bits,
    Flag,
    Meaning,
    Record,
    Spec,
    U,
    decode_layout,
    decoder,
    enum_meaning,
    flags_meaning,
)

FEATURE_NAMES: dict[int, str] = {
    0x01: "Arbitration",
    0x02: "Power Management",
    0x03: "LBA Range Type",
    0x04: "Temperature Threshold",
    0x05: "Error Recovery",
    0x06: "Volatile Write Cache",
    0x07: "Number of Queues",
    0x08: "Interrupt Coalescing",
    0x09: "Interrupt Vector Configuration",
    0x0A: "Write Atomicity Normal",
    0x0B: "Asynchronous Event Configuration",
    0x0C: "Autonomous Power State Transition",
    0x0D: "Host Memory Buffer",
    0x0E: "Timestamp",
    0x0F: "Keep Alive Timer",
    0x10: "Host Controlled Thermal Management",
    0x11: "Non-Operational Power State Config",
    0x12: "Read Recovery Level Config",
    0x13: "Predictable Latency Mode Config",
    0x14: "Predictable Latency Mode Window",
    0x15: "LBA Status Information Attributes",
    0x16: "Host Behavior Support",
    0x17: "Sanitize Config",
    0x18: "Endurance Group Event Configuration",
    0x19: "I/O Command Set Profile",
    0x1A: "Spinup Control",
    0x1B: "Power Loss Signaling Config",
    0x1C: "Performance Characteristics",
    0x1D: "Flexible Data Placement",
    0x1E: "FDP Events",
    0x1F: "Namespace Admin Label",
    0x20: "Key Value Configuration",
    0x21: "Controller Data Queue",
    0x7D: "Enhanced Controller Metadata",
    0x7E: "Controller Metadata",
    0x7F: "Namespace Metadata",
    0x80: "Software Progress Marker",
    0x81: "Host Identifier",
    0x82: "Reservation Notification Mask",
    0x83: "Reservation Persistence",
    0x84: "Namespace Write Protection Config",
    0x85: "Boot Partition Write Protection Config",
}


# --- meanings -------------------------------------------------------------------------------------------


def zero_based(unit: str) -> Meaning:
    """A 0's based count: the field holds one less than the real number."""
    return lambda v: f"{v + 1} {unit}"


def scaled(step: int, unit: str) -> Meaning:
    return lambda v: f"{v * step:,} {unit}"


def kelvin(v: int) -> str:
    return f"{v} K ({v - 273} °C)" if v else "disabled"


def arbitration_burst(v: int) -> str:
    return "no limit" if v == 0x7 else f"{1 << v} commands"


TMPSEL_NAMES = {0x0: "composite temperature", **{n: f"temperature sensor {n}" for n in range(1, 9)}}
TMPSEL_NAMES[0xF] = "all temperature sensors"
THSEL_NAMES = {0: "over temperature threshold", 1: "under temperature threshold"}
SMART_WARNING_NAMES = {
    0: "available spare",
    1: "temperature",
    2: "reliability",
    3: "read-only",
    4: "volatile memory backup",
    5: "persistent memory region read-only",
}
WRITE_PROTECT_NAMES = {
    0: "no write protect",
    1: "write protect",
    2: "write protect until power cycle",
    3: "permanent write protect",
}

# --- DW0 layouts, by Feature Identifier ------------------------------------------------------------------

FEATURE_LAYOUTS: dict[int, tuple[Spec, ...]] = {
    0x01: (  # Fig. 318
        Bits("ab", 0, 4, 0, 2, arbitration_burst),
        Bits("lpw", 0, 4, 8, 15, zero_based("commands")),
        Bits("mpw", 0, 4, 16, 23, zero_based("commands")),
        Bits("hpw", 0, 4, 24, 31, zero_based("commands")),
    ),
    0x02: (  # Fig. 319
        Bits("ps", 0, 4, 0, 4),
        Bits("wh", 0, 4, 5, 7),
    ),
    0x04: (  # Fig. 322
        Bits("tmpth", 0, 4, 0, 15, kelvin),
        Bits("tmpsel", 0, 4, 16, 19, enum_meaning(TMPSEL_NAMES)),
        Bits("thsel", 0, 4, 20, 21, enum_meaning(THSEL_NAMES)),
    ),
    0x05: (  # Fig. 324
        Bits("tler", 0, 4, 0, 15, scaled(100, "ms")),
        Flag("dulbe", 0, 4, 16, "deallocated or unwritten logical block error enabled"),
    ),
    0x06: (Flag("wce", 0, 4, 0, "volatile write cache enabled"),),  # Fig. 325
    0x07: (  # Fig. 327
        Bits("nsqa", 0, 4, 0, 15, zero_based("I/O submission queues")),
        Bits("ncqa", 0, 4, 16, 31, zero_based("I/O completion queues")),
    ),
    0x08: (  # Fig. 328
        Bits("thr", 0, 4, 0, 7, zero_based("completion entries")),
        Bits("time", 0, 4, 8, 15, scaled(100, "µs")),
    ),
    0x09: (  # Fig. 329
        Bits("iv", 0, 4, 0, 15),
        Flag("cd", 0, 4, 16, "coalescing disabled"),
    ),
    0x0A: (Flag("dn", 0, 4, 0, "atomic write normal disabled"),),  # Fig. 330
    0x0B: (  # Fig. 331; bit 27 from ZNS 1.1
        Bits("shcw", 0, 4, 0, 7, flags_meaning(SMART_WARNING_NAMES)),
        Flag("nan", 0, 4, 8, "namespace attribute notices"),
        Flag("fan", 0, 4, 9, "firmware activation notices"),
        Flag("tln", 0, 4, 10, "telemetry log notices"),
        Flag("anacn", 0, 4, 11, "asymmetric namespace access change notices"),
        Flag("plealcn", 0, 4, 12, "predictable latency event aggregate log change notices"),
        Flag("lsin", 0, 4, 13, "LBA status information notices"),
        Flag("egealcn", 0, 4, 14, "endurance group event aggregate log change notices"),
        Flag("nnsshdn", 0, 4, 15, "normal NVM subsystem shutdown notices"),
        Flag("zdcn", 0, 4, 27, "zone descriptor changed notices"),
        Flag("dlpcn", 0, 4, 31, "discovery log page change notices"),
    ),
    0x0C: (Flag("apste", 0, 4, 0, "autonomous power state transitions enabled"),),  # Fig. 332
    0x0D: (  # Fig. 335
        Flag("ehm", 0, 4, 0, "host memory buffer enabled"),
        Flag("mr", 0, 4, 1, "memory return"),
    ),
    0x0F: (U("kato", 0, 4, scaled(1, "ms")),),  # Fig. 340
    0x10: (  # Fig. 342
        Bits("tmt2", 0, 4, 0, 15, kelvin),
        Bits("tmt1", 0, 4, 16, 31, kelvin),
    ),
    0x11: (Flag("noppme", 0, 4, 0, "non-operational power state permissive mode enabled"),),
    0x12: (Bits("rrl", 0, 4, 0, 7),),
    0x13: (Flag("plme", 0, 4, 0, "predictable latency mode enabled"),),
    0x17: (Flag("nodrm", 0, 4, 0, "no-deallocate response mode"),),
    0x19: (Bits("iocsci", 0, 4, 0, 8),),
    0x80: (Bits("pbslc", 0, 4, 0, 7),),  # Fig. 356
    0x81: (Flag("exhid", 0, 4, 0, "extended (128-bit) host identifier"),),  # Fig. 358
    0x82: (  # Fig. 361
        Flag("regpre", 0, 4, 1, "registration preempted notifications masked"),
        Flag("resrel", 0, 4, 2, "reservation released notifications masked"),
        Flag("respre", 0, 4, 3, "reservation preempted notifications masked"),
    ),
    0x83: (Flag("ptpl", 0, 4, 0, "persist through power loss"),),  # Fig. 363
    0x84: (Bits("wps", 0, 4, 0, 2, enum_meaning(WRITE_PROTECT_NAMES)),),  # Fig. 365
}

UNKNOWN_LAYOUT: tuple[Spec, ...] = (U("dw0", 0, 4),)


@decoder("feature-result")
def decode_feature_result(data: bytes, **context: object) -> Record:
    """Get Features DW0 (`data`, 4 bytes little-endian) for the feature `context["fid"]`."""
    fid = context.get("fid")
    layout = FEATURE_LAYOUTS.get(fid, UNKNOWN_LAYOUT) if isinstance(fid, int) else UNKNOWN_LAYOUT
    return decode_layout("feature-result", data, layout)
