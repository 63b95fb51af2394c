"""What nvtui needs from a zone report beyond showing it: each zone's start, capacity, write pointer and
state. The report is a layout (nvtui/structures/zns.yaml), read here through the engine."""

from __future__ import annotations

from nvtui.nvme.decode.base import Group

__all__ = ["zone_states"]


def zone_states(data: bytes, zdes_bytes: int = 0) -> list[tuple[int, int, int, int]]:
    """(zslba, zcap, wp, zone state) per whole zone of a report; the state is the 4-bit ZS value (e.g. 0xE
    Full). A descriptor the data holds only part of is left out."""
    from nvtui import structures

    zones = structures.decode("zone-report", data, zdes_bytes=zdes_bytes)["zones"]
    assert isinstance(zones, Group)
    out = []
    for zone in zones.records:
        values = [zone.value(name) for name in ("zslba", "zcap", "wp", "zs")]
        if all(isinstance(v, int) for v in values) and zone.offset + 64 + zdes_bytes <= len(data):
            out.append(tuple(values))
    return out  # type: ignore[return-value]
