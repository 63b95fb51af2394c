"""The spec's name for every completion status code (SCT, SC).

Sources: NVMe Base 2.0 (Fig. 100 Status Code Type values, Fig. 101/102 Generic Command Status, Fig. 103
Command Specific Status, Fig. 104 Media and Data Integrity Errors, Fig. 105 Path Related Status), the NVM
Command Set 1.0 (generic 80h-84h, command specific 80h-83h, media 80h-88h), the Key Value Command Set 1.0
(generic 85h-89h) and the Zoned Namespace Command Set 1.1 (command specific B6h-BFh).

A status code's meaning can depend on the command (Fabrics commands reuse command specific 80h-84h); names
here are those of the admin and I/O commands this tool sends.
"""

from __future__ import annotations

SCT_GENERIC = 0x0
SCT_COMMAND_SPECIFIC = 0x1
SCT_MEDIA = 0x2
SCT_PATH = 0x3
SCT_VENDOR = 0x7

# NVMe Base 2.0, Fig. 100; 4h-6h are reserved.
SCT_NAMES: dict[int, str] = {
    SCT_GENERIC: "Generic Command Status",
    SCT_COMMAND_SPECIFIC: "Command Specific Status",
    SCT_MEDIA: "Media and Data Integrity Errors",
    SCT_PATH: "Path Related Status",
    SCT_VENDOR: "Vendor Specific",
}

# NVMe Base 2.0, Fig. 102 (00h-2Ah; 29h-2Ah from the Flexible Data Placement TP), NVM Command Set 1.0
# (80h-84h) and Key Value Command Set 1.0 (85h-89h).
GENERIC_STATUS: dict[int, str] = {
    0x00: "Successful Completion",
    0x01: "Invalid Command Opcode",
    0x02: "Invalid Field in Command",
    0x03: "Command ID Conflict",
    0x04: "Data Transfer Error",
    0x05: "Commands Aborted due to Power Loss Notification",
    0x06: "Internal Error",
    0x07: "Command Abort Requested",
    0x08: "Command Aborted due to SQ Deletion",
    0x09: "Command Aborted due to Failed Fused Command",
    0x0A: "Command Aborted due to Missing Fused Command",
    0x0B: "Invalid Namespace or Format",
    0x0C: "Command Sequence Error",
    0x0D: "Invalid SGL Segment Descriptor",
    0x0E: "Invalid Number of SGL Descriptors",
    0x0F: "Data SGL Length Invalid",
    0x10: "Metadata SGL Length Invalid",
    0x11: "SGL Descriptor Type Invalid",
    0x12: "Invalid Use of Controller Memory Buffer",
    0x13: "PRP Offset Invalid",
    0x14: "Atomic Write Unit Exceeded",
    0x15: "Operation Denied",
    0x16: "SGL Offset Invalid",
    0x18: "Host Identifier Inconsistent Format",
    0x19: "Keep Alive Timer Expired",
    0x1A: "Keep Alive Timeout Invalid",
    0x1B: "Command Aborted due to Preempt and Abort",
    0x1C: "Sanitize Failed",
    0x1D: "Sanitize In Progress",
    0x1E: "SGL Data Block Granularity Invalid",
    0x1F: "Command Not Supported for Queue in CMB",
    0x20: "Namespace is Write Protected",
    0x21: "Command Interrupted",
    0x22: "Transient Transport Error",
    0x23: "Command Prohibited by Command and Feature Lockdown",
    0x24: "Admin Command Media Not Ready",
    0x29: "FDP Disabled",
    0x2A: "Invalid Placement Handle List",
    # I/O Command Set specific: NVM
    0x80: "LBA Out of Range",
    0x81: "Capacity Exceeded",
    0x82: "Namespace Not Ready",
    0x83: "Reservation Conflict",
    0x84: "Format In Progress",
    # I/O Command Set specific: Key Value
    0x85: "Invalid Value Size",
    0x86: "Invalid Key Size",
    0x87: "KV Key Does Not Exist",
    0x88: "Unrecovered Error",
    0x89: "Key Exists",
}

# NVMe Base 2.0, Fig. 103 (00h-2Dh, and the Streams directive's 7Fh), NVM Command Set 1.0 (80h-83h),
# Zoned Namespace Command Set 1.1 (B6h-B7h for the Zone Random Write Area, B8h-BFh).
COMMAND_SPECIFIC_STATUS: dict[int, str] = {
    0x00: "Completion Queue Invalid",
    0x01: "Invalid Queue Identifier",
    0x02: "Invalid Queue Size",
    0x03: "Abort Command Limit Exceeded",
    0x05: "Asynchronous Event Request Limit Exceeded",
    0x06: "Invalid Firmware Slot",
    0x07: "Invalid Firmware Image",
    0x08: "Invalid Interrupt Vector",
    0x09: "Invalid Log Page",
    0x0A: "Invalid Format",
    0x0B: "Firmware Activation Requires Conventional Reset",
    0x0C: "Invalid Queue Deletion",
    0x0D: "Feature Identifier Not Saveable",
    0x0E: "Feature Not Changeable",
    0x0F: "Feature Not Namespace Specific",
    0x10: "Firmware Activation Requires NVM Subsystem Reset",
    0x11: "Firmware Activation Requires Controller Level Reset",
    0x12: "Firmware Activation Requires Maximum Time Violation",
    0x13: "Firmware Activation Prohibited",
    0x14: "Overlapping Range",
    0x15: "Namespace Insufficient Capacity",
    0x16: "Namespace Identifier Unavailable",
    0x18: "Namespace Already Attached",
    0x19: "Namespace Is Private",
    0x1A: "Namespace Not Attached",
    0x1B: "Thin Provisioning Not Supported",
    0x1C: "Controller List Invalid",
    0x1D: "Device Self-test In Progress",
    0x1E: "Boot Partition Write Prohibited",
    0x1F: "Invalid Controller Identifier",
    0x20: "Invalid Secondary Controller State",
    0x21: "Invalid Number of Controller Resources",
    0x22: "Invalid Resource Identifier",
    0x23: "Sanitize Prohibited While Persistent Memory Region is Enabled",
    0x24: "ANA Group Identifier Invalid",
    0x25: "ANA Attach Failed",
    0x26: "Insufficient Capacity",
    0x27: "Namespace Attachment Limit Exceeded",
    0x28: "Prohibition of Command Execution Not Supported",
    0x29: "I/O Command Set Not Supported",
    0x2A: "I/O Command Set Not Enabled",
    0x2B: "I/O Command Set Combination Rejected",
    0x2C: "Invalid I/O Command Set",
    0x2D: "Identifier Unavailable",
    0x7F: "Stream Resource Allocation Failed",
    # I/O Command Set specific: NVM
    0x80: "Conflicting Attributes",
    0x81: "Invalid Protection Information",
    0x82: "Attempted Write to Read Only Range",
    0x83: "Command Size Limit Exceeded",
    # I/O Command Set specific: Zoned Namespace
    0xB6: "Invalid Zone Operation Request",
    0xB7: "ZRWA Resources Unavailable",
    0xB8: "Zone Boundary Error",
    0xB9: "Zone Is Full",
    0xBA: "Zone Is Read Only",
    0xBB: "Zone Is Offline",
    0xBC: "Zone Invalid Write",
    0xBD: "Too Many Active Zones",
    0xBE: "Too Many Open Zones",
    0xBF: "Invalid Zone State Transition",
}

# NVMe Base 2.0, Fig. 104, with the NVM Command Set 1.0 codes (80h-88h).
MEDIA_STATUS: dict[int, str] = {
    0x80: "Write Fault",
    0x81: "Unrecovered Read Error",
    0x82: "End-to-end Guard Check Error",
    0x83: "End-to-end Application Tag Check Error",
    0x84: "End-to-end Reference Tag Check Error",
    0x85: "Compare Failure",
    0x86: "Access Denied",
    0x87: "Deallocated or Unwritten Logical Block",
    0x88: "End-to-end Storage Tag Check Error",
}

# NVMe Base 2.0, Fig. 105: 60h-6Fh are errors the controller detected, 70h-7Fh errors the host detected.
PATH_STATUS: dict[int, str] = {
    0x00: "Internal Path Error",
    0x01: "Asymmetric Access Persistent Loss",
    0x02: "Asymmetric Access Inaccessible",
    0x03: "Asymmetric Access Transition",
    0x60: "Controller Pathing Error",
    0x70: "Host Pathing Error",
    0x71: "Command Aborted By Host",
}

STATUS_NAMES: dict[int, dict[int, str]] = {
    SCT_GENERIC: GENERIC_STATUS,
    SCT_COMMAND_SPECIFIC: COMMAND_SPECIFIC_STATUS,
    SCT_MEDIA: MEDIA_STATUS,
    SCT_PATH: PATH_STATUS,
}

VENDOR_SPECIFIC_SC_MIN = 0xC0  # C0h-FFh of every status code type are vendor specific


def status_name(sct: int, sc: int) -> str:
    """The spec's name for status code `sc` of status code type `sct`, or a name saying why there is none."""
    if sct == SCT_VENDOR:
        return f"Vendor Specific Status {sc:#04x}"
    name = STATUS_NAMES.get(sct, {}).get(sc)
    if name is not None:
        return name
    if sct in STATUS_NAMES and sc >= VENDOR_SPECIFIC_SC_MIN:
        return f"Vendor Specific ({SCT_NAMES[sct]}, SC {sc:#04x})"
    return f"Reserved (SCT {sct:#x}, SC {sc:#04x})"


def _folded(name: str) -> str:
    return " ".join(name.lower().replace("-", " ").replace("_", " ").split())


def status_by_name(name: str) -> int | None:
    """The 11-bit status (SCT << 8 | SC) the spec's `name` stands for (case, hyphens and underscores
    aside: "invalid-field-in-command"), or None when no status has that name."""
    wanted = _folded(name)
    for sct, codes in STATUS_NAMES.items():
        for sc, spec_name in codes.items():
            if _folded(spec_name) == wanted:
                return sct << 8 | sc
    return None
