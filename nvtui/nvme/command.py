"""The NVMe submission entry as Linux passthrough sees it, and its packing into the kernel's structs.

Layouts: `struct nvme_uring_cmd` (72 bytes, io_uring `IORING_OP_URING_CMD`) and
`struct nvme_passthru_cmd64` (80 bytes, `NVME_IOCTL_ADMIN64_CMD` / `NVME_IOCTL_IO64_CMD`), both from
`include/uapi/linux/nvme_ioctl.h`. The two share their first 72 bytes; the ioctl struct adds the result.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field, replace

# opcode flags rsvd1 nsid cdw2 cdw3 metadata addr metadata_len data_len cdw10..cdw15 timeout_ms rsvd2
_URING_CMD = struct.Struct("<BBHIIIQQII6III")
_PASSTHRU64 = struct.Struct("<BBHIIIQQII6IIIQ")
URING_CMD_SIZE = _URING_CMD.size  # 72
PASSTHRU_CMD64_SIZE = _PASSTHRU64.size  # 80

# Offsets of each member, as in the kernel header (checked against it by tests/test_command.py).
URING_CMD_OFFSETS: dict[str, int] = {
    "opcode": 0, "flags": 1, "rsvd1": 2, "nsid": 4, "cdw2": 8, "cdw3": 12, "metadata": 16, "addr": 24,
    "metadata_len": 32, "data_len": 36, "cdw10": 40, "cdw11": 44, "cdw12": 48, "cdw13": 52, "cdw14": 56,
    "cdw15": 60, "timeout_ms": 64, "rsvd2": 68,
}  # fmt: skip
PASSTHRU_CMD64_OFFSETS: dict[str, int] = {**URING_CMD_OFFSETS, "result": 72}

CDW_NAMES = ("nsid", "cdw2", "cdw3", "cdw10", "cdw11", "cdw12", "cdw13", "cdw14", "cdw15")
U32_MAX = 0xFFFFFFFF


class DataDirection(enum.IntEnum):
    """Data transfer direction, from an opcode's two low bits (NVMe Base 2.0, Fig. 28 / Fig. 91)."""

    NONE = 0b00
    HOST_TO_CONTROLLER = 0b01  # "write"
    CONTROLLER_TO_HOST = 0b10  # "read"
    BIDIRECTIONAL = 0b11

    @classmethod
    def of_opcode(cls, opcode: int) -> DataDirection:
        return cls(opcode & 0b11)

    @property
    def short(self) -> str:
        return {0: "none", 1: "write", 2: "read", 3: "bidirectional"}[self.value]

    @classmethod
    def from_short(cls, name: str) -> DataDirection:
        for member in cls:
            if member.short == name:
                return member
        raise ValueError(f"unknown data direction {name!r} (none, write, read, bidirectional)")


@dataclass(frozen=True)
class Command:
    """One passthrough command: the submission entry's host-settable fields plus the data it moves.

    `data` is the buffer sent to the controller (write direction); for reads the backend allocates
    `data_len` bytes and returns them in the `Completion`. `metadata`/`metadata_len` likewise.
    """

    opcode: int
    admin: bool
    nsid: int = 0
    cdw2: int = 0
    cdw3: int = 0
    cdw10: int = 0
    cdw11: int = 0
    cdw12: int = 0
    cdw13: int = 0
    cdw14: int = 0
    cdw15: int = 0
    flags: int = 0
    data_len: int = 0
    metadata_len: int = 0
    timeout_ms: int = 0
    data: bytes | None = field(default=None, repr=False)
    metadata: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not 0 <= self.opcode <= 0xFF:
            raise ValueError(f"opcode {self.opcode:#x} out of range 0x00-0xff")
        if not 0 <= self.flags <= 0xFF:
            raise ValueError(f"flags {self.flags:#x} out of range 0x00-0xff")
        for name in (*CDW_NAMES, "data_len", "metadata_len", "timeout_ms"):
            value = getattr(self, name)
            if not 0 <= value <= U32_MAX:
                raise ValueError(f"{name} {value:#x} out of range 0-0xffffffff")
        if self.data is not None and len(self.data) > self.data_len:
            raise ValueError(f"data is {len(self.data)} bytes but data_len is {self.data_len}")
        if self.metadata is not None and len(self.metadata) > self.metadata_len:
            have, want = len(self.metadata), self.metadata_len
            raise ValueError(f"metadata is {have} bytes but metadata_len is {want}")

    @property
    def direction(self) -> DataDirection:
        return DataDirection.of_opcode(self.opcode)

    @property
    def cdws(self) -> dict[str, int]:
        """nsid, cdw2, cdw3 and cdw10-cdw15 by name."""
        return {name: getattr(self, name) for name in CDW_NAMES}

    def plain_block_range(self) -> tuple[int, int] | None:
        """(SLBA, number of blocks) of an I/O command that carries nothing beyond its range (NVM Command Set
        1.0, Fig. 41: SLBA in CDW10-11, 0-based NLB in CDW12 15:0): no FUA, protection information, DSM
        hints, directives or flags. None otherwise. What a load engine or fio can repeat as it is."""
        if self.admin or any((self.cdw2, self.cdw3, self.cdw12 >> 16, self.cdw13, self.cdw14, self.cdw15)):
            return None
        if self.flags:
            return None
        return self.cdw10 | self.cdw11 << 32, (self.cdw12 & 0xFFFF) + 1

    def with_(self, **changes: object) -> Command:
        return replace(self, **changes)  # type: ignore[arg-type]

    def direction_problems(self, declared: DataDirection | None = None) -> list[str]:
        """What disagrees between the opcode's data direction bits, a declared direction and the lengths.

        nvme-cli users lose data exactly here: a read with no buffer, a write whose opcode says "read".
        """
        problems: list[str] = []
        bits = self.direction
        if declared is not None and declared != bits:
            problems.append(
                f"opcode {self.opcode:#04x} transfers {bits.short} data (bits 1:0 = {bits.value:02b}) "
                f"but the command declares {declared.short}"
            )
        if bits is DataDirection.NONE and self.data_len:
            problems.append(
                f"opcode {self.opcode:#04x} transfers no data (bits 1:0 = 00) but data_len is {self.data_len}"
            )
        expected = declared if declared is not None else bits
        if bits is not DataDirection.NONE and not self.data_len and expected is not DataDirection.NONE:
            problems.append(f"opcode {self.opcode:#04x} transfers {bits.short} data but data_len is 0")
        return problems

    def _fields(self, addr: int, metadata_addr: int) -> tuple[int, ...]:
        return (
            self.opcode, self.flags, 0, self.nsid, self.cdw2, self.cdw3, metadata_addr, addr,
            self.metadata_len, self.data_len, self.cdw10, self.cdw11, self.cdw12, self.cdw13,
            self.cdw14, self.cdw15, self.timeout_ms, 0,
        )  # fmt: skip

    def pack_uring_cmd(self, addr: int = 0, metadata_addr: int = 0) -> bytes:
        """`struct nvme_uring_cmd`, with the data/metadata buffer addresses the backend pinned."""
        return _URING_CMD.pack(*self._fields(addr, metadata_addr))

    def pack_passthru_cmd64(self, addr: int = 0, metadata_addr: int = 0) -> bytes:
        """`struct nvme_passthru_cmd64`, result zeroed (the kernel fills it)."""
        return _PASSTHRU64.pack(*self._fields(addr, metadata_addr), 0)

    def submission_entry(self) -> bytes:
        """The 64-byte submission queue entry as the controller sees it, with PRP/SGL and CID zero.

        NVMe Base 2.0, Fig. 88: CDW0 (opcode, fuse/psdt, CID), NSID, CDW2, CDW3, MPTR, DPTR, CDW10-15.
        """
        return struct.pack(
            "<BBHIII8x16x6I", self.opcode, 0, 0, self.nsid, self.cdw2, self.cdw3,
            self.cdw10, self.cdw11, self.cdw12, self.cdw13, self.cdw14, self.cdw15,
        )  # fmt: skip

    @classmethod
    def unpack_passthru_cmd64(cls, raw: bytes, admin: bool) -> tuple[Command, int, int, int]:
        """Parse a `struct nvme_passthru_cmd64`: (command without data, addr, metadata addr, result)."""
        (opcode, flags, _r1, nsid, cdw2, cdw3, md_addr, addr, md_len, data_len,
         c10, c11, c12, c13, c14, c15, timeout_ms, _r2, result) = _PASSTHRU64.unpack(raw)  # fmt: skip
        cmd = cls(
            opcode=opcode, admin=admin, nsid=nsid, cdw2=cdw2, cdw3=cdw3, cdw10=c10, cdw11=c11,
            cdw12=c12, cdw13=c13, cdw14=c14, cdw15=c15, flags=flags, data_len=data_len,
            metadata_len=md_len, timeout_ms=timeout_ms,
        )  # fmt: skip
        return cmd, addr, md_addr, result
