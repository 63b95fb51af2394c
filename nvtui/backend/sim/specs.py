"""What the simulated namespaces are (formats, size, zones, key-value limits): plain data, so discovery can
describe them without loading the simulator itself.

`NAMESPACE_SPECS` are the factory namespaces (a new drive has them, attached): sim0n1 (NVM), sim0n2 (zoned),
sim0n3 (Key Value). Namespace Management creates others from the same templates (`TEMPLATES`, per Command
Set Identifier): an NVM namespace has namespace 1's LBA formats, a zoned one namespace 2's formats, zone
size, zone capacity and zone limits, a Key Value one namespace 3's KV format; only the size and the NSID
differ.

A Key Value namespace has no logical blocks a host addresses: its size is in bytes, and the simulator keeps
its values in 4 KiB storage units (`KV_UNIT`, its one "format", never reported as an LBA format)."""

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
    kv: bool = False  # a Key Value namespace (KV Command Set 1.0)

    @property
    def csi(self) -> int:
        # Command Set Identifier: NVM 0h, Key Value 1h, Zoned Namespace 2h
        return CSI_KV if self.kv else CSI_ZONED if self.zoned else CSI_NVM

    @property
    def command_set(self) -> str:
        """The catalogue's name of its command set (the `set:` of its I/O commands)."""
        return COMMAND_SETS[self.csi]


CSI_NVM, CSI_KV, CSI_ZONED = 0x00, 0x01, 0x02
COMMAND_SETS = {CSI_NVM: "nvm", CSI_KV: "kv", CSI_ZONED: "zns"}

# The Key Value format (KV Command Set 1.0, Fig. 42) every KV namespace has: keys of 1 to 16 bytes, values
# up to what one command moves (MDTS: 512 KiB), at most KV_MAX_KEYS keys; values kept in 4 KiB units.
KV_UNIT = 4096
KV_MAX_KEY = 16
KV_MAX_VALUE = 512 << 10
KV_MAX_KEYS = 65536


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
    3: NamespaceSpec(nsid=3, size_bytes=256 * MIB, formats=(LbaFormat(KV_UNIT),), kv=True),
}

TEMPLATES: dict[int, NamespaceSpec] = {
    CSI_NVM: NAMESPACE_SPECS[1], CSI_KV: NAMESPACE_SPECS[3], CSI_ZONED: NAMESPACE_SPECS[2]
}
# What a drive made before the Key Value namespace has when its state names no namespace set (schema 4 and
# older): namespaces 1 and 2.
OLD_FACTORY = (1, 2)


def created_spec(nsid: int, csi: int, size_bytes: int) -> NamespaceSpec:
    """The spec of a namespace Namespace Management created (`csi` one of `TEMPLATES`)."""
    return replace(TEMPLATES[csi], nsid=nsid, size_bytes=size_bytes)
