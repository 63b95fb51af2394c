"""A zoned namespace's geometry, asked from the device: zone size and capacity, number of zones, and the
open and active resources (ZNS 1.1: Identify Namespace for the Zoned Namespace Command Set, CNS 05h CSI 02h,
and one zone descriptor of a Report Zones)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nvtui.present import ZoneGeometry, zone_geometry, zone_rows

if TYPE_CHECKING:
    from nvtui.catalogue import Catalogue


async def probe_zone_geometry(
    catalogue: Catalogue, device: str, backend_kind: str | None = None
) -> tuple[ZoneGeometry | None, str | None]:
    """(the geometry, None), or (None, why it could not be learned). Through a session of its own, so the
    user's history is not touched."""
    from nvtui.nvme.decode import Field
    from nvtui.nvme.decode.identify import current_lba_format, lba_format_index
    from nvtui.session import Session, send_once

    probe = Session(catalogue, backend_kind)
    try:
        ident = await send_once(probe, device, "identify", ["cns=namespace"])
        if ident.decoded is None:
            return None, f"Identify Namespace: {ident.completion.status.name}"
        nsze, flbas, nlbaf = (ident.decoded[name] for name in ("nsze", "flbas", "nlbaf"))
        if not all(isinstance(f, Field) and isinstance(f.raw, int) for f in (nsze, flbas, nlbaf)):
            return None, "Identify Namespace did not decode"
        assert isinstance(nsze, Field) and isinstance(flbas, Field) and isinstance(nlbaf, Field)
        assert isinstance(nsze.raw, int) and isinstance(flbas.raw, int) and isinstance(nlbaf.raw, int)
        in_use = lba_format_index(flbas.raw, nlbaf.raw)
        zns = await send_once(probe, device, "identify", ["cns=csi-namespace", "csi=zns"])
        if zns.decoded is None:
            return None, f"Identify Namespace (ZNS): {zns.completion.status.name}"
        # One zone descriptor (64-byte header + 64 bytes) says the zone capacity.
        report = await send_once(probe, device, "zone-mgmt-recv", ["slba=0", "numd=32", "partial=1"])
        zones = zone_rows(report.decoded) if report.decoded is not None else None
        capacity = zones[0].zcap if zones else None
        try:
            block = current_lba_format(ident.decoded)[0]
        except ValueError:  # an LBA format the namespace cannot be in: count in 512-byte blocks
            block = 512
        geometry = zone_geometry(zns.decoded, in_use, nsze.raw, block, capacity)
        if geometry is None:
            return None, "the ZNS Identify Namespace gives no zone size for the LBA format in use"
        return geometry, None
    finally:
        await probe.close()

