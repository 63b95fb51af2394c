"""The simulated namespaces: what they are (formats, size, zones, a Key Value namespace's keys) and where
their blocks live.

A namespace keeps, besides its blocks, what the controller journals for each command: the allocation
changes (`changes`), the zones it touched (`zones.dirty`), whether it was formatted. Blocks a command
discards (Write Zeroes, deallocation, Zone Reset, Format NVM) are discarded only after the command's record is
in the journal (`discard_pending`), so a crash in between never leaves discarded data with a state that
still describes it; blocks a command writes are written before the record, and `repair` (run when the
controller powers on after a crash) discards what a write left in blocks the state says are unallocated.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from nvtui.backend.sim.errors import SC_WRITE_FAULT, SCT_MEDIA, CommandFailed
from nvtui.backend.sim.kv import KvIndex
from nvtui.backend.sim.specs import GIB, MIB, NAMESPACE_SPECS, NamespaceSpec
from nvtui.backend.sim.state import Damaged, as_dict, as_int, as_list, need
from nvtui.backend.sim.storage import Bitmap, BlockFile, RangeSet
from nvtui.backend.sim.zones import ZoneSet

__all__ = ["GIB", "MIB", "NAMESPACE_SPECS", "Namespace", "NamespaceSpec"]

WHOLE = None  # a pending discard of every block (Format NVM)


def write_fault(exc: OSError) -> CommandFailed:
    """The status of a write the image could not store whole. Write Fault (Media and Data Integrity Errors,
    SC 80h, NVMe Base 2.0 Fig. 104: "the write data could not be committed to the media") rather than
    Capacity Exceeded (Generic, SC 81h): that one means NUSE would pass NCAP, and this namespace's NCAP is its
    whole size, so Identify would contradict it. Full disk or quota: retrying may succeed once space is
    freed (DNR clear); a file size limit (EFBIG, `ulimit -f`) stays for the process's life (DNR set)."""
    import errno

    return CommandFailed(SCT_MEDIA, SC_WRITE_FAULT, dnr=exc.errno not in (errno.ENOSPC, errno.EDQUOT))


class Namespace:
    """One namespace's live state: its format, blocks, allocation map, marked-bad blocks and zones."""

    def __init__(
        self, spec: NamespaceSpec, directory: Path, name: str, *, format_index: int = 0, attached: bool = True
    ) -> None:
        self.spec = spec
        self.attached = attached  # attached to the controller (active): Namespace Attachment changes it
        self.uid = 0  # see controller.Allocated
        self.nsid = spec.nsid
        self.key = str(spec.nsid)  # its key in the state and the journal
        self.name = name
        self.data = BlockFile(directory / f"{name}.img")
        try:
            self.meta = BlockFile(directory / f"{name}.meta")
        except BaseException:
            self.data.close()
            raise
        self.format_index = 0
        self.uncorrectable = RangeSet()
        self.changes: list[list[int]] = []  # [slba, nlb, 1 allocated | 0 deallocated] since the last record
        self.pending: list[tuple[int, int] | None] = []  # blocks to discard once the record is written
        self.reformatted = False
        self.synced = False  # a Flush made this namespace's blocks durable
        self._apply_format(format_index)
        self.remember()

    def set_format(self, index: int) -> None:
        """The LBA format of a namespace just created (its blocks are all unallocated)."""
        self._apply_format(index)

    def format_index_of(self, value: object, where: str) -> int:
        return self._format_index(value, where)

    def _apply_format(self, index: int) -> None:
        self.format_index = index
        fmt = self.spec.formats[index]
        self.lba_size = fmt.lba_size
        self.ms = fmt.metadata_size
        self.lbads = fmt.lbads
        self.nsze = self.spec.size_bytes // self.lba_size
        self.alloc = Bitmap(self.nsze)
        self.zones: ZoneSet | None = None
        # a Key Value namespace: its keys, whose values take the storage units `alloc` marks (see kv.py)
        self.kv = KvIndex(self.nsze) if self.spec.kv else None
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
        """Store blocks whole, or fail the command with Write Fault (what part of it reached the image is
        discarded again where the blocks were unallocated, so they still read as zeros)."""
        if self.pending:
            self.discard_pending()  # a discard and a write in one command keep their order
        try:
            self.data.write(slba << self.lbads, data)
            if self.ms:
                self.meta.write(
                    slba * self.ms, (metadata or b"").ljust(nlb * self.ms, b"\0")[: nlb * self.ms]
                )
        except OSError as exc:
            self.forget_unrecorded(slba, nlb)
            raise write_fault(exc) from None
        self.alloc.set_range(slba, nlb, True)
        self.changes.append([slba, nlb, 1])
        if self.uncorrectable.ranges:
            self.uncorrectable.remove(slba, slba + nlb)

    def zero(self, slba: int, nlb: int, *, deallocate: bool) -> None:
        """Write Zeroes (deallocate=False keeps the blocks allocated) or deallocate (reads return zeros). The
        blocks are discarded once the command's record is in the journal (`discard_pending`)."""
        self.pending.append((slba, nlb))
        self.alloc.set_range(slba, nlb, not deallocate)
        self.changes.append([slba, nlb, 0 if deallocate else 1])
        if self.uncorrectable.ranges:
            self.uncorrectable.remove(slba, slba + nlb)

    def format(self, index: int) -> None:
        """Format NVM: every block erased, the new LBA format in force (the files are emptied once the new
        format is checkpointed)."""
        self.pending = [WHOLE]
        self.uncorrectable = RangeSet()
        self._apply_format(index)
        self.reformatted = True

    def discard_pending(self) -> None:
        pending, self.pending = self.pending, []
        for item in pending:
            if item is WHOLE:
                self.data.truncate()
                self.meta.truncate()
            else:
                slba, nlb = item
                self.data.zero(slba << self.lbads, nlb << self.lbads)
                if self.ms:
                    self.meta.zero(slba * self.ms, nlb * self.ms)

    def forget_unrecorded(self, slba: int, nlb: int) -> None:
        """Discard what an unrecorded write left in [slba, slba + nlb) where the state says unallocated."""
        for start, end in self.alloc.runs(slba, min(slba + nlb, self.nsze), False):
            with contextlib.suppress(OSError):  # best effort: `repair` tries again at the next power-on
                self.data.zero(start << self.lbads, (end - start) << self.lbads)
                if self.ms:
                    self.meta.zero(start * self.ms, (end - start) * self.ms)

    def repair(self) -> None:
        """After a crash: discard data found in blocks the state says are unallocated (a write whose record
        never reached the journal, a discard whose record did while the discard did not)."""
        for unit, blockfile in ((self.lba_size, self.data), (self.ms, self.meta)):
            if not unit:
                continue
            for start, end in list(blockfile.data_extents()):
                for s, e in self.alloc.runs(start // unit, min(-(-end // unit), self.nsze), False):
                    blockfile.zero(s * unit, (e - s) * unit)

    # --- the journal's view ------------------------------------------------------------------------------

    def remember(self) -> None:
        """The namespace as journaled so far (see SimController._remember)."""
        self._seen_ranges = self.uncorrectable.ranges
        self._seen_zchanged = list(self.zones.changed) if self.zones is not None else []
        self.begin()

    def begin(self) -> None:
        """Start a command: forget the last record's changes."""
        if self.changes:
            self.changes = []
        if self.kv is not None:
            self.kv.begin()
        self.reformatted = self.synced = False
        if self.zones is not None and self.zones.dirty:
            self.zones.dirty.clear()
            self.zones.reordered = False

    def delta(self) -> dict[str, object] | None:
        """What the command changed, as the journal records it (None when nothing); remembered as recorded."""
        zones = self.zones
        if (
            not (self.changes or self.reformatted or self.uncorrectable.ranges is not self._seen_ranges)
            and (zones is None or (not zones.dirty and zones.changed == self._seen_zchanged))
            and (self.kv is None or not self.kv.changes)
        ):
            return None  # the common case, decided quickly
        rec: dict[str, object] = {}
        if self.reformatted:
            rec["f"] = self.format_index
        if self.changes:
            rec["a"] = self.changes
        if self.uncorrectable.ranges is not self._seen_ranges:
            self._seen_ranges = self.uncorrectable.ranges
            rec["u"] = self.uncorrectable.to_json()
        if self.kv is not None and (kv := self.kv.delta()) is not None:
            rec["kv"] = kv
        if zones is not None:
            if zones.dirty:
                rec["z"] = zones.rows(zones.dirty)
            if zones.reordered:
                rec["zo"] = zones.order()
            if zones.changed != self._seen_zchanged:
                rec["zc"] = self._seen_zchanged = list(zones.changed)
        return rec

    def apply(self, rec: dict[str, object], where: str) -> None:
        """Replay one journal record's changes to this namespace."""
        if "f" in rec:
            self._apply_format(self._format_index(rec["f"], f"{where}.f"))
            self.uncorrectable = RangeSet()
        for n, change in enumerate(as_list(rec.get("a", []), f"{where}.a")):
            cells = as_list(change, f"{where}.a[{n}]")
            if len(cells) != 3:
                raise Damaged(
                    f"{where}.a[{n}] has {len(cells)} values, not 3 (first block, count, allocated)"
                )
            slba = as_int(cells[0], f"{where}.a[{n}][0]", 0, self.nsze - 1)
            nlb = as_int(cells[1], f"{where}.a[{n}][1]", 1, self.nsze - slba)
            self.alloc.set_range(slba, nlb, bool(as_int(cells[2], f"{where}.a[{n}][2]", 0, 1)))
        if "u" in rec:
            self.uncorrectable = self._ranges(rec["u"], f"{where}.u")
        if self.zones is not None:
            self.zones.apply(rec.get("z"), rec.get("zo"), rec.get("zc"), where)
        elif any(k in rec for k in ("z", "zo", "zc")):
            raise Damaged(f"{where} changes zones of a namespace that has none")
        if "kv" in rec:
            if self.kv is None:
                raise Damaged(f"{where} changes keys of a namespace that is not a Key Value namespace")
            self.kv.apply(rec["kv"], f"{where}.kv")

    # --- persistence -------------------------------------------------------------------------------------

    def to_json(self) -> dict[str, object]:
        state: dict[str, object] = {
            "format": self.format_index,
            "allocated": self.alloc.encode(),
            "uncorrectable": self.uncorrectable.to_json(),
        }
        if self.zones is not None:
            state["zones"] = self.zones.to_json()
        if self.kv is not None:
            state["kv"] = self.kv.to_json()
        return state

    def _format_index(self, value: object, where: str) -> int:
        count = len(self.spec.formats)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < count:
            raise Damaged(
                f"{where} = {str(value)[:20]}: no such LBA format (the namespace has 0..{count - 1})"
            )
        return value

    def _ranges(self, value: object, where: str) -> RangeSet:
        ranges = []
        for n, pair in enumerate(as_list(value, where, self.nsze)):
            cells = as_list(pair, f"{where}[{n}]")
            if len(cells) != 2:
                raise Damaged(f"{where}[{n}] is not a [first, end) pair")
            start = as_int(cells[0], f"{where}[{n}][0]", 0, self.nsze - 1)
            ranges.append([start, as_int(cells[1], f"{where}[{n}][1]", start + 1, self.nsze)])
        return RangeSet(ranges)

    def load(self, state: object, where: str) -> None:
        """The state `to_json` wrote; `Damaged` naming the first thing wrong with it."""
        state = as_dict(state, where)
        self._apply_format(self._format_index(need(state, "format", f"{where}."), f"{where}.format"))
        self.alloc = Bitmap.decode(self.nsze, need(state, "allocated", f"{where}."), f"{where}.allocated")
        self.uncorrectable = self._ranges(need(state, "uncorrectable", f"{where}."), f"{where}.uncorrectable")
        if self.zones is not None:
            self.zones.load(need(state, "zones", f"{where}."), f"{where}.zones")
        elif "zones" in state:
            raise Damaged(f"{where} has zones, but the namespace is not zoned")
        if self.kv is not None:
            self.kv.load(need(state, "kv", f"{where}."), f"{where}.kv", self.alloc)
        elif "kv" in state:
            raise Damaged(f"{where} has keys, but the namespace is not a Key Value namespace")

    def sync(self) -> None:
        self.data.sync()
        self.meta.sync()
        self.synced = True

    def close(self) -> None:
        self.data.close()
        self.meta.close()
