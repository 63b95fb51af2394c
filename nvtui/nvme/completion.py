"""The completion of a passthrough command: status split into its parts, result dword(s), latency.

Linux hands back the completion queue entry's 15-bit Status Field (CQE DW3 bits 31:17, the Phase Tag
dropped): SC bits 7:0, SCT bits 10:8, CRD bits 12:11, More bit 13, DNR bit 14 (NVMe Base 2.0, Fig. 101).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nvtui.nvme.status_names import SCT_NAMES, status_name


@dataclass(frozen=True)
class Status:
    value: int  # the 15-bit status field, as the kernel returns it

    def __post_init__(self) -> None:
        if not 0 <= self.value <= 0x7FFF:
            raise ValueError(f"status field {self.value:#x} out of range 0-0x7fff")

    @property
    def sc(self) -> int:
        return self.value & 0xFF

    @property
    def sct(self) -> int:
        return (self.value >> 8) & 0x7

    @property
    def crd(self) -> int:
        return (self.value >> 11) & 0x3

    @property
    def more(self) -> bool:
        return bool(self.value & 0x2000)

    @property
    def dnr(self) -> bool:
        return bool(self.value & 0x4000)

    @property
    def ok(self) -> bool:
        return self.sct == 0 and self.sc == 0

    @property
    def name(self) -> str:
        return status_name(self.sct, self.sc)

    @property
    def sct_name(self) -> str:
        return SCT_NAMES.get(self.sct, f"Status Code Type {self.sct:#x}")

    @classmethod
    def make(cls, sct: int, sc: int, *, dnr: bool = False, more: bool = False, crd: int = 0) -> Status:
        return cls((sc & 0xFF) | (sct & 0x7) << 8 | (crd & 0x3) << 11 | more << 13 | dnr << 14)

    def to_json(self) -> dict[str, object]:
        return {
            "value": self.value, "sct": self.sct, "sc": self.sc, "name": self.name,
            "dnr": self.dnr, "more": self.more, "crd": self.crd,
        }  # fmt: skip

    def __str__(self) -> str:
        flags = "".join(f" {n}" for n, on in (("DNR", self.dnr), ("MORE", self.more)) if on)
        return f"{self.name} (SCT {self.sct:#x}, SC {self.sc:#04x}{flags})"


SUCCESS = Status(0)


@dataclass(frozen=True)
class Completion:
    """What came back: status, the command-specific result (DW0, or DW0|DW1<<32 from a big CQE),
    the time from submission to completion, and the data/metadata read from the controller."""

    status: Status
    result: int = 0
    latency_ns: int = 0
    data: bytes | None = field(default=None, repr=False)
    metadata: bytes | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.status.ok
