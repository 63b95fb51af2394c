"""The simulated namespaces: what they are (formats, size, zones) and where their blocks live."""

from __future__ import annotations

from pathlib import Path

from nvtui.backend.sim.specs import GIB, MIB, NAMESPACE_SPECS, LbaFormat, NamespaceSpec
from nvtui.backend.sim.storage import Bitmap, BlockFile, RangeSet
from nvtui.backend.sim.zones import ZoneSet

__all__ = ["GIB", "MIB", "NAMESPACE_SPECS", "LbaFormat", "Namespace", "NamespaceSpec"]


class Namespace:
    """One namespace's live state: its format, blocks, allocation map, marked-bad blocks and zones."""

    def __init__(self, spec: NamespaceSpec, directory: Path, name: str) -> None:
        self.spec = spec
        self.nsid = spec.nsid
        self.name = name
        self.data = BlockFile(directory / f"{name}.img")
        self.meta = BlockFile(directory / f"{name}.meta")
        self.format_index = 0
        self.uncorrectable = RangeSet()
        self._apply_format(0)

    def _apply_format(self, index: int) -> None:
        self.format_index = index
        fmt = self.spec.formats[index]
        self.lba_size = fmt.data_size
        self.ms = fmt.ms
        self.lbads = fmt.lbads
        self.nsze = self.spec.size_bytes // self.lba_size
        self.alloc = Bitmap(self.nsze)
        self.zones: ZoneSet | None = None
        if self.spec.zoned:
            self.zones = ZoneSet(
                self.nsze,
                self.spec.zone_size_bytes // self.lba_size,
                self.spec.zone_cap_bytes // self.lba_size,
                self.spec.max_active,
                self.spec.max_open,
            )

    @property
    def nuse(self) -> int:
        if self.zones is not None:  # a zoned namespace allocates exactly what lies below each write pointer
            return sum(z.wp - z.zslba for z in self.zones.zones if z.zslba <= z.wp <= z.zslba + z.zcap)
        return self.alloc.count

    # --- blocks ------------------------------------------------------------------------------------------

    def read(self, slba: int, nlb: int) -> bytes:
        return self.data.read(slba << self.lbads, nlb << self.lbads)

    def read_meta(self, slba: int, nlb: int) -> bytes:
        return self.meta.read(slba * self.ms, nlb * self.ms) if self.ms else b""

    def write(self, slba: int, nlb: int, data: bytes, metadata: bytes | None = None) -> None:
        self.data.write(slba << self.lbads, data)
        if self.ms:
            self.meta.write(slba * self.ms, (metadata or b"").ljust(nlb * self.ms, b"\0")[: nlb * self.ms])
        self.alloc.set_range(slba, nlb, True)
        if self.uncorrectable.ranges:
            self.uncorrectable.remove(slba, slba + nlb)

    def zero(self, slba: int, nlb: int, *, deallocate: bool) -> None:
        """Write Zeroes (deallocate=False keeps the blocks allocated) or deallocate (reads return zeros)."""
        self.data.zero(slba << self.lbads, nlb << self.lbads)
        if self.ms:
            self.meta.zero(slba * self.ms, nlb * self.ms)
        self.alloc.set_range(slba, nlb, not deallocate)
        if self.uncorrectable.ranges:
            self.uncorrectable.remove(slba, slba + nlb)

    def format(self, index: int) -> None:
        """Format NVM: every block erased, the new LBA format in force."""
        self.data.truncate()
        self.meta.truncate()
        self.uncorrectable = RangeSet()
        self._apply_format(index)

    # --- persistence -------------------------------------------------------------------------------------

    def to_json(self) -> dict[str, object]:
        state: dict[str, object] = {
            "format": self.format_index,
            "allocated": self.alloc.encode(),
            "uncorrectable": self.uncorrectable.to_json(),
        }
        if self.zones is not None:
            state["zones"] = self.zones.to_json()
        return state

    def load(self, state: dict[str, object]) -> None:
        index = state.get("format", 0)
        if not isinstance(index, int) or not 0 <= index < len(self.spec.formats):
            raise ValueError(f"{self.name}: LBA format {index!r} does not exist")
        self._apply_format(index)
        allocated = state.get("allocated")
        if isinstance(allocated, str):
            self.alloc = Bitmap.decode(self.nsze, allocated)
        bad = state.get("uncorrectable", [])
        self.uncorrectable = RangeSet(bad if isinstance(bad, list) else [])
        zones = state.get("zones")
        if self.zones is not None and isinstance(zones, dict):
            self.zones.load(zones)

    def sync(self) -> None:
        self.data.sync()
        self.meta.sync()

    def close(self) -> None:
        self.data.close()
        self.meta.close()
