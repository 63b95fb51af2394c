"""What the simulated namespaces are (formats, size, zones): plain data, so discovery can describe them
without loading the simulator itself."""

from __future__ import annotations

from dataclasses import dataclass

GIB = 1 << 30
MIB = 1 << 20


@dataclass(frozen=True)
class LbaFormat:
    lbads: int  # log2 of the data size
    ms: int = 0  # metadata bytes per block (separate buffer: this simulator sets no extended LBAs)
    rp: int = 0  # relative performance, 0 best .. 3 degraded

    @property
    def data_size(self) -> int:
        return 1 << self.lbads


@dataclass(frozen=True)
class NamespaceSpec:
    nsid: int
    size_bytes: int
    formats: tuple[LbaFormat, ...]
    zoned: bool = False
    zone_size_bytes: int = 0
    zone_cap_bytes: int = 0
    max_active: int = 0  # zones; MAR reports this minus one
    max_open: int = 0  # zones; MOR reports this minus one

    @property
    def csi(self) -> int:
        return 2 if self.zoned else 0  # Command Set Identifier: NVM 0h, Zoned Namespace 2h


NAMESPACE_SPECS: dict[int, NamespaceSpec] = {
    1: NamespaceSpec(
        nsid=1,
        size_bytes=GIB,
        formats=(LbaFormat(9, 0, rp=1), LbaFormat(12, 0, rp=0), LbaFormat(9, 8, rp=2)),
    ),
    2: NamespaceSpec(
        nsid=2,
        size_bytes=GIB,
        formats=(LbaFormat(12, 0, rp=0),),
        zoned=True,
        zone_size_bytes=64 * MIB,
        zone_cap_bytes=62 * MIB,
        max_active=14,
        max_open=12,
    ),
}
