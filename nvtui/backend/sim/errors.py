"""NVMe statuses the simulated controller completes commands with, raised inside the command handlers."""

from __future__ import annotations

from nvtui.nvme.completion import Status

# Status Code Types (NVMe Base 2.0, Fig. 100)
SCT_GENERIC, SCT_COMMAND_SPECIFIC, SCT_MEDIA = 0, 1, 2

# Generic Command Status (Fig. 102) and its NVM command set values (NVM Command Set 1.0, Fig. 34)
SC_INVALID_OPCODE = 0x01
SC_INVALID_FIELD = 0x02
SC_INTERNAL_ERROR = 0x06
SC_ABORT_REQUESTED = 0x07
SC_ABORTED_SQ_DELETION = 0x08
SC_INVALID_NAMESPACE = 0x0B
SC_COMMAND_SEQUENCE_ERROR = 0x0C
SC_DATA_SGL_LENGTH_INVALID = 0x0F
SC_SANITIZE_IN_PROGRESS = 0x1D
SC_LBA_OUT_OF_RANGE = 0x80

# Command Specific Status (Fig. 103; NVM Fig. 35; ZNS 1.1 Fig. 24)
SC_AER_LIMIT_EXCEEDED = 0x05
SC_INVALID_LOG_PAGE = 0x09
SC_INVALID_FORMAT = 0x0A
SC_FEATURE_NOT_SAVEABLE = 0x0D
SC_FEATURE_NOT_NS_SPECIFIC = 0x0F
SC_NS_INSUFFICIENT_CAPACITY = 0x15
SC_NS_ID_UNAVAILABLE = 0x16
SC_NS_ALREADY_ATTACHED = 0x18
SC_NS_NOT_ATTACHED = 0x1A
SC_CONTROLLER_LIST_INVALID = 0x1C
SC_SELF_TEST_IN_PROGRESS = 0x1D
SC_INVALID_IO_COMMAND_SET = 0x2C
SC_COMMAND_SIZE_LIMIT_EXCEEDED = 0x83
SC_ZONE_BOUNDARY_ERROR = 0xB8
SC_ZONE_IS_FULL = 0xB9
SC_ZONE_IS_READ_ONLY = 0xBA
SC_ZONE_IS_OFFLINE = 0xBB
SC_ZONE_INVALID_WRITE = 0xBC
SC_TOO_MANY_ACTIVE_ZONES = 0xBD
SC_TOO_MANY_OPEN_ZONES = 0xBE
SC_INVALID_ZONE_STATE_TRANSITION = 0xBF

# Media and Data Integrity Errors (Fig. 104)
SC_WRITE_FAULT = 0x80
SC_UNRECOVERED_READ_ERROR = 0x81
SC_COMPARE_FAILURE = 0x85


class CommandFailed(Exception):
    """The controller completes the command with this status (and logs it in the Error Information log)."""

    def __init__(
        self, sct: int, sc: int, *, dnr: bool = True, lba: int | None = None, param: int = 0xFFFF
    ) -> None:
        super().__init__(f"SCT {sct:#x} SC {sc:#04x}")
        self.status = Status.make(sct, sc, dnr=dnr)
        self.lba = lba
        self.param = param  # Parameter Error Location: byte (7:0) and bit (10:8) in the command, or FFFFh


def invalid_field(param: int = 0xFFFF) -> CommandFailed:
    return CommandFailed(SCT_GENERIC, SC_INVALID_FIELD, param=param)


def invalid_namespace() -> CommandFailed:
    return CommandFailed(SCT_GENERIC, SC_INVALID_NAMESPACE, param=4)  # NSID is bytes 7:4 of the entry


def invalid_opcode() -> CommandFailed:
    return CommandFailed(SCT_GENERIC, SC_INVALID_OPCODE, param=0)


def lba_out_of_range(lba: int) -> CommandFailed:
    return CommandFailed(SCT_GENERIC, SC_LBA_OUT_OF_RANGE, lba=lba, param=40)  # CDW10 (SLBA) is at byte 40


def zone_error(sc: int, lba: int | None = None) -> CommandFailed:
    return CommandFailed(SCT_COMMAND_SPECIFIC, sc, lba=lba)


# The Parameter Error Location of CDWn: its byte offset in the 64-byte submission entry.
def cdw_byte(n: int) -> int:
    return 4 * n
