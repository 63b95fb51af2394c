"""What the simulated namespaces are (formats, size, zones): plain data, so discovery can describe them
without loading the simulator itself.

`NAMESPACE_SPECS` are the factory namespaces (a new drive has them, attached). Namespace Management creates
others from the same templates (`TEMPLATES`, per Command Set Identifier): an NVM namespace has namespace 1's
LBA formats, a zoned one namespace 2's formats, zone size, zone capacity and zone limits; only the size and
the NSID differ."""

from __future__ import annotations

from dataclasses import dataclass, replace

from nvtui.nvme.identify import LbaFormat

GIB = 1 << 30
MIB = 1 << 20


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
        formats=(
            LbaFormat(512, relative_performance=1),
            LbaFormat(4096),
            LbaFormat(512, 8, relative_performance=2),
        ),
    ),
    2: NamespaceSpec(
        nsid=2,
        size_bytes=GIB,
        formats=(LbaFormat(4096),),
        zoned=True,
        zone_size_bytes=64 * MIB,
        zone_cap_bytes=62 * MIB,
        max_active=14,
        max_open=12,
    ),
}

CSI_NVM, CSI_ZONED = 0x00, 0x02
TEMPLATES: dict[int, NamespaceSpec] = {CSI_NVM: NAMESPACE_SPECS[1], CSI_ZONED: NAMESPACE_SPECS[2]}


def created_spec(nsid: int, csi: int, size_bytes: int) -> NamespaceSpec:
    """The spec of a namespace Namespace Management created (`csi` one of `TEMPLATES`)."""
    return replace(TEMPLATES[csi], nsid=nsid, size_bytes=size_bytes)
