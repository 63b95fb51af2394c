"""Get Features results (NVMe Base 2.0 section 5.27.1): the completion's Dword 0, per Feature Identifier.

The `feature-result` decoder takes the 4-byte little-endian DW0 as its data and the command's `fid` and
`sel` as context, and decodes it with the layout of that feature (nvtui/structures/features.yaml); with SEL
011b, DW0 holds the feature's supported capabilities (saveable, namespace specific, changeable), not its
value, and decodes as `feature-capabilities`. A feature without a layout decodes as one field `dw0`.
"""

from __future__ import annotations

from nvtui.nvme.decode.base import Record, decoder

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


# Feature Identifier -> the layout of its Dword 0 (nvtui/structures/features.yaml)
FEATURE_STRUCTURES: dict[int, str] = {
    0x01: "feature-arbitration",
    0x02: "feature-power-management",
    0x04: "feature-temperature-threshold",
    0x05: "feature-error-recovery",
    0x06: "feature-volatile-write-cache",
    0x07: "feature-number-of-queues",
    0x08: "feature-interrupt-coalescing",
    0x09: "feature-interrupt-vector-config",
    0x0A: "feature-write-atomicity",
    0x0B: "feature-async-event-config",
    0x0C: "feature-apst",
    0x0D: "feature-host-memory-buffer",
    0x0F: "feature-keep-alive-timer",
    0x10: "feature-host-thermal-management",
    0x11: "feature-non-op-power-state-config",
    0x12: "feature-read-recovery-level",
    0x13: "feature-predictable-latency-config",
    0x17: "feature-sanitize-config",
    0x19: "feature-io-command-set-profile",
    0x80: "feature-software-progress-marker",
    0x81: "feature-host-identifier",
    0x82: "feature-reservation-notification-mask",
    0x83: "feature-reservation-persistence",
    0x84: "feature-namespace-write-protection",
}
SEL_SUPPORTED_CAPABILITIES = 0b011


def feature_structure(fid: object, sel: object = 0) -> str:
    """The layout that decodes Get Features DW0 for `fid` read with select `sel`."""
    if sel == SEL_SUPPORTED_CAPABILITIES:
        return "feature-capabilities"
    return FEATURE_STRUCTURES.get(fid, "feature-dw0") if isinstance(fid, int) else "feature-dw0"


@decoder("feature-result")
def decode_feature_result(data: bytes, **context: object) -> Record:
    """Get Features DW0 (`data`, 4 bytes little-endian) for the feature `context["fid"]`, read with
    `context["sel"]` (SEL 011b: the supported capabilities)."""
    from nvtui import structures

    record = structures.decode(feature_structure(context.get("fid"), context.get("sel", 0)), data, **context)
    return Record("feature-result", record.items, record.offset)
