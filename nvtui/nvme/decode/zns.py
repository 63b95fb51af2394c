"""Zone Management Receive data (NVMe Zoned Namespace Command Set 1.1): the Report Zones and Extended
Report Zones data structures.

A 64-byte header (`nr_zones`, Number of Zones) is followed by zone descriptors of 64 bytes (ZNS 1.1,
Fig. 37); with Extended Report Zones each descriptor is followed by its Zone Descriptor Extension of
ZDES × 64 bytes (`context["zdes_bytes"]`, 0 for a plain report). Field names are the spec's abbreviations.
"""

from __future__ import annotations

from nvtui.nvme.decode.base import (
    B,
    Bits,
    Record,
    Spec,
    U,
    bits,
    decode_group,
    decode_layout,
    decoder,
    enum_meaning,
    flags_meaning,
    le,
)

HEADER_SIZE = 64
DESCRIPTOR_SIZE = 64

ZONE_TYPE_NAMES = {0x2: "Sequential Write Required"}
ZONE_STATE_NAMES = {
    0x1: "Empty",
    0x2: "Implicitly Opened",
    0x3: "Explicitly Opened",
    0x4: "Closed",
    0xD: "Read Only",
    0xE: "Full",
    0xF: "Offline",
}
ZONE_ATTRIBUTE_NAMES = {
    0: "zfc (zone finished by controller)",
    1: "fzr (finish zone recommended)",
    2: "rzr (reset zone recommended)",
    3: "zrwav (zone random write area valid)",
    7: "zdev (zone descriptor extension valid)",
}

REPORT_HEADER: tuple[Spec, ...] = (U("nr_zones", 0, 8),)
ZONE_DESCRIPTOR: tuple[Spec, ...] = (
    Bits("zt", 0, 1, 0, 3, enum_meaning(ZONE_TYPE_NAMES)),
    Bits("zs", 1, 1, 4, 7, enum_meaning(ZONE_STATE_NAMES)),
    U("za", 2, 1, flags_meaning(ZONE_ATTRIBUTE_NAMES)),
    U("zai", 3, 1),
    U("zcap", 8, 8),
    U("zslba", 16, 8),
    U("wp", 24, 8),
)


def _zdes_bytes(context: dict[str, object]) -> int:
    zdes = context.get("zdes_bytes", 0)
    if not isinstance(zdes, int) or isinstance(zdes, bool) or zdes < 0:
        raise ValueError(f"zdes_bytes must be a non-negative byte count, got {zdes!r}")
    return zdes


def _zones_present(data: bytes, stride: int) -> int:
    """How many whole descriptors (with their extensions) the report both claims and holds."""
    return max(0, min(le(data, 0, 8), (len(data) - HEADER_SIZE) // stride))


@decoder("zone-report")
def decode_zone_report(data: bytes, **context: object) -> Record:
    zdes = _zdes_bytes(context)
    stride = DESCRIPTOR_SIZE + zdes
    layout = (*ZONE_DESCRIPTOR, B("zde", DESCRIPTOR_SIZE, zdes)) if zdes else ZONE_DESCRIPTOR

    def zone(buf: bytes, base: int) -> Record:
        return decode_layout("zone-descriptor", buf, layout, base)

    head = decode_layout("zone-report", data, REPORT_HEADER)
    zones = decode_group("zones", data, HEADER_SIZE, stride, _zones_present(data, stride), zone)
    return Record(head.name, (*head.items, zones))


def zone_states(data: bytes, zdes_bytes: int = 0) -> list[tuple[int, int, int, int]]:
    """(zslba, zcap, wp, zone state) per zone of a report; the state is the 4-bit ZS value (e.g. 0xE Full)."""
    stride = DESCRIPTOR_SIZE + zdes_bytes
    out = []
    for i in range(_zones_present(data, stride)):
        base = HEADER_SIZE + i * stride
        state = bits(le(data, base + 1, 1), 4, 7)
        out.append((le(data, base + 16, 8), le(data, base + 8, 8), le(data, base + 24, 8), state))
    return out
