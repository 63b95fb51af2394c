"""Identify (NVMe Base 2.0, 5.17) as nvtui sends it on its own, and the one LBA-format type.

`identify_command` is the one builder for the Identify commands nvtui needs without the catalogue (learning
a namespace's format, its size, the controller's MDTS, the command set). `LbaFormat` is an LBA format (NVM
Command Set 1.0, Fig. 98) wherever one appears: an entry of Identify Namespace's list, the one a namespace
is in (with FLBAS's extended-metadata bit), a simulated namespace's formats.
"""

from __future__ import annotations

from dataclasses import dataclass

from nvtui.nvme.command import Command

IDENTIFY_OPCODE = 0x06
IDENTIFY_SIZE = 4096  # every Identify data structure nvtui asks for is 4 KiB
# CNS values (NVMe Base 2.0, Fig. 273)
CNS_NAMESPACE = 0x00
CNS_CONTROLLER = 0x01
CNS_ACTIVE_NAMESPACES = 0x02
CNS_NS_DESCRIPTORS = 0x03
CNS_CSI_NAMESPACE = 0x05
CNS_CSI_CONTROLLER = 0x06

# Identify Namespace (NVM Command Set 1.0, Fig. 97): NSZE, NLBAF, FLBAS, the LBA format list.
NSZE_OFFSET, NLBAF_OFFSET, FLBAS_OFFSET = 0, 25, 26
LBAF_OFFSET, LBAF_SIZE, MAX_LBA_FORMATS = 128, 4, 64
MIN_LBADS = 9  # 512 bytes: "a value smaller than 9 is not supported"
# Identify Controller MDTS (NVMe Base 2.0, Fig. 275): 2**n units of CAP.MPSMIN; 0 means no limit.
MDTS_OFFSET = 77
RELATIVE_PERFORMANCE = ("Best performance", "Better performance", "Good performance", "Degraded performance")


def identify_command(cns: int, nsid: int = 0, *, csi: int = 0, cntid: int = 0) -> Command:
    """Identify with CNS `cns` (CDW10 7:0) for `nsid`, controller `cntid` (CDW10 31:16) and command set
    `csi` (CDW11 31:24), reading one 4 KiB structure (NVMe Base 2.0, Fig. 271-272)."""
    if not 0 <= cns <= 0xFF or not 0 <= csi <= 0xFF or not 0 <= cntid <= 0xFFFF:
        raise ValueError(f"Identify CNS {cns}, CSI {csi}, CNTID {cntid}: out of range")
    return Command(
        opcode=IDENTIFY_OPCODE, admin=True, nsid=nsid, cdw10=cns | cntid << 16, cdw11=csi << 24,
        data_len=IDENTIFY_SIZE,
    )  # fmt: skip


@dataclass(frozen=True)
class LbaFormat:
    """An LBA format: data bytes per block, metadata bytes per block, relative performance, and (for the
    format a namespace is in) whether the metadata is extended, at the end of each block's data (FLBAS
    bit 4), rather than in a separate buffer."""

    lba_size: int
    metadata_size: int = 0  # MS
    relative_performance: int = 0  # RP: 0 best .. 3 degraded
    extended: bool = False

    def __post_init__(self) -> None:
        if self.lba_size < 1 << MIN_LBADS or self.lba_size & (self.lba_size - 1):
            raise ValueError(f"LBA data size {self.lba_size}: not a power of two of at least 512 bytes")
        if not 0 <= self.metadata_size <= 0xFFFF or not 0 <= self.relative_performance <= 3:
            ms, rp = self.metadata_size, self.relative_performance
            raise ValueError(f"LBA format MS {ms}, RP {rp}: out of range (MS 0-65535, RP 0-3)")

    @property
    def lbads(self) -> int:
        """log2 of the data size, as the format's LBADS field holds it."""
        return self.lba_size.bit_length() - 1

    @property
    def separate_metadata(self) -> int:
        """Bytes of metadata per block that need their own buffer (0 when none, or extended)."""
        return 0 if self.extended else self.metadata_size

    @property
    def performance(self) -> str:
        return RELATIVE_PERFORMANCE[self.relative_performance]

    def dword(self) -> int:
        """The format as Identify Namespace lists it: MS in bits 15:0, LBADS 23:16, RP 25:24."""
        return self.metadata_size | self.lbads << 16 | self.relative_performance << 24

    @classmethod
    def from_dword(cls, dword: int, *, extended: bool = False) -> LbaFormat:
        lbads = dword >> 16 & 0xFF
        if lbads < MIN_LBADS:
            raise ValueError(f"LBADS {lbads}: not a supported LBA data size")
        return cls(1 << lbads, dword & 0xFFFF, dword >> 24 & 0b11, extended)


def lba_format_index(flbas: int, nlbaf: int) -> int:
    """The LBA format in use: FLBAS bits 3:0, with bits 6:5 as bits 5:4 once there are more than 16 formats
    (NLBAF is 0's based); with 16 or fewer, bits 6:5 are reserved."""
    index = flbas & 0xF
    if nlbaf + 1 > 16:
        index |= (flbas >> 5 & 0b11) << 4
    return index


def _byte(data: bytes, offset: int) -> int:
    return data[offset] if len(data) > offset else 0


def lba_formats(identify_namespace: bytes) -> tuple[tuple[LbaFormat | None, ...], int]:
    """Every LBA format Identify Namespace lists (None for an entry of an unsupported size) and the index
    of the one in use, whose entry alone carries FLBAS's extended bit."""
    nlbaf, flbas = _byte(identify_namespace, NLBAF_OFFSET), _byte(identify_namespace, FLBAS_OFFSET)
    in_use = lba_format_index(flbas, nlbaf)
    formats: list[LbaFormat | None] = []
    for i in range(min(nlbaf + 1, MAX_LBA_FORMATS)):
        at = LBAF_OFFSET + i * LBAF_SIZE
        dword = int.from_bytes(identify_namespace[at : at + LBAF_SIZE], "little")
        try:
            formats.append(LbaFormat.from_dword(dword, extended=i == in_use and bool(flbas >> 4 & 1)))
        except ValueError:
            formats.append(None)
    return tuple(formats), in_use


def lba_format_in_use(identify_namespace: bytes) -> LbaFormat:
    """The format a namespace is in, from its Identify Namespace data. ValueError when FLBAS points past
    NLBAF or at a format of an unsupported size (an inactive namespace's all-zero data, too)."""
    formats, index = lba_formats(identify_namespace)
    if index >= len(formats):
        raise ValueError(f"FLBAS selects LBA format {index}, but NLBAF lists {len(formats)}")
    chosen = formats[index]
    if chosen is None:
        at = LBAF_OFFSET + index * LBAF_SIZE
        lbads = identify_namespace[at + 2] if len(identify_namespace) > at + 2 else 0
        raise ValueError(f"LBA format {index} has LBADS {lbads}: not a supported LBA data size")
    return chosen


def namespace_size(identify_namespace: bytes) -> int:
    """NSZE: the namespace's size in logical blocks."""
    return int.from_bytes(identify_namespace[NSZE_OFFSET : NSZE_OFFSET + 8], "little")


def max_transfer(identify_controller: bytes, min_page_size: int = 4096) -> int:
    """The largest data transfer in bytes (MDTS in units of CAP.MPSMIN, which user space cannot read:
    4 KiB on every known device); 0 when the controller sets no limit."""
    mdts = _byte(identify_controller, MDTS_OFFSET)
    return min_page_size << mdts if mdts else 0


CSI_KV = 0x01
CSI_ZNS = 0x02


def zone_extension_bytes(identify_namespace: bytes, identify_ns_zns: bytes) -> int:
    """The Zone Descriptor Extension Size, in bytes, of the LBA format a zoned namespace is in: ZDES (64-byte
    units) of its LBA Format Extension (ZNS 1.1, Figs. 51-52), read through the identify-ns-zns layout."""
    from nvtui import structures

    nlbaf = _byte(identify_namespace, NLBAF_OFFSET)
    _, in_use = lba_formats(identify_namespace)
    extensions = structures.decode("identify-ns-zns", identify_ns_zns, nlbaf=nlbaf).to_json()["lbafe"]
    entry = extensions[in_use] if isinstance(extensions, list) and in_use < len(extensions) else None
    if not isinstance(entry, dict):
        raise ValueError(f"the ZNS Identify Namespace lists no LBA format extension {in_use}")
    zdes = entry.get("zdes")
    if not isinstance(zdes, int):
        raise ValueError(f"LBA format extension {in_use} was not transferred")
    return zdes * 64
