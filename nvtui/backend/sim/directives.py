"""Directives on the simulated controller: the Identify directive and the Streams directive (NVMe Base 2.0,
8.7 Directives, 9.2 Identify, 9.3 Streams; Directive Send 5.10, Directive Receive 5.9).

What the simulated drive does:
- Identify (type 00h), on every namespace: Return Parameters tells the directive types supported, enabled and
  kept across a controller level reset (Data Placement too, on the FDP namespace: fdp.py; FDP enables it,
  not this command); Enable Directive turns Streams on or off for a namespace. Identify itself is always
  enabled and cannot be turned off (Invalid Field).
- Streams (type 01h), on the NVM namespace (sim0n1) only; the zoned namespace reports it unsupported and
  its operations get Invalid Field. Return Parameters reports MSL streams in the NVM subsystem, those not
  allocated to a namespace (NSSA), those open (NSSO), and for the namespace its write size (SWS: 4 KiB in
  logical blocks), granularity (SGS) and its allocated (NSA) and open (NSO) streams. Allocate Resources takes
  up to NSR of the available streams for the namespace (fewer when fewer are left; none left, or some already
  allocated: Stream Resource Allocation Failed); Get Status lists the open stream identifiers; Release
  Identifier closes one stream (one not open: nothing to do); Release Resources closes every stream of the
  namespace and gives its allocation back. The Streams operations other than Return Parameters need Streams
  enabled (Invalid Field otherwise); turning Streams off releases the namespace's streams as Release
  Resources does.
- A Write with DTYPE 01h opens the stream its DSPEC names when it is not open: from the namespace's allocation
  when it has one (at most NSA open), else from the NVM subsystem's streams not allocated to any namespace (at
  most NSSA open that way). None left: Stream Resource Allocation Failed, and nothing is written. Stream 0 and
  a write with Streams not enabled: Invalid Field. Streams are a placement hint: the data lands where it would
  without one.
- Kept: which namespaces have Streams enabled and their allocations (Return Parameters says Streams persist
  across a controller level reset); the power cycle closes every open stream (controller memory).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nvtui.backend.sim.errors import SCT_COMMAND_SPECIFIC, CommandFailed, cdw_byte, invalid_field
from nvtui.backend.sim.state import Damaged, as_bool, as_dict, as_int, as_list, need

DTYPE_IDENTIFY, DTYPE_STREAMS, DTYPE_DATA_PLACEMENT = 0x00, 0x01, 0x02
MSL = 16  # streams in the NVM subsystem (Max Streams Limit)
STREAM_WRITE_BYTES = 4096  # SWS, in bytes (reported in logical blocks of the namespace's format)
STREAM_GRANULE_BYTES = 64 << 20  # SGS, in bytes (reported in units of SWS)
SC_STREAM_RESOURCE_ALLOCATION_FAILED = 0x7F
STREAM_ID_MAX = 0xFFFF


def allocation_failed() -> CommandFailed:
    return CommandFailed(SCT_COMMAND_SPECIFIC, SC_STREAM_RESOURCE_ALLOCATION_FAILED)


@dataclass
class NamespaceStreams:
    enabled: bool = False
    allocated: int = 0  # NSA
    open: list[int] = field(default_factory=list)  # sorted stream identifiers

    def to_json(self) -> dict[str, object]:
        return {"enabled": self.enabled, "allocated": self.allocated, "open": list(self.open)}


class Directives:
    """Streams state per namespace that supports them (`nsids`). Every change sets `dirty`, which the
    controller journals and clears."""

    def __init__(self, nsids: tuple[int, ...] = ()) -> None:
        self.streams: dict[int, NamespaceStreams] = {nsid: NamespaceStreams() for nsid in nsids}
        self.dirty = False

    def supports_streams(self, nsid: int) -> bool:
        return nsid in self.streams

    def enabled(self, nsid: int) -> bool:
        s = self.streams.get(nsid)
        return s is not None and s.enabled

    @property
    def available(self) -> int:
        """NSSA: the subsystem's streams not allocated to a namespace."""
        return MSL - sum(s.allocated for s in self.streams.values())

    @property
    def open_count(self) -> int:
        """NSSO: the subsystem's open streams."""
        return sum(len(s.open) for s in self.streams.values())

    def _shared_open(self) -> int:
        return sum(len(s.open) for s in self.streams.values() if not s.allocated)

    def _of(self, nsid: int, byte: int) -> NamespaceStreams:
        s = self.streams.get(nsid)
        if s is None:
            raise invalid_field(byte)  # Streams are not supported on this namespace
        return s

    def enable(self, nsid: int, dtype: int, on: bool) -> None:
        if dtype != DTYPE_STREAMS:  # Identify cannot be turned off; no other type is supported
            raise invalid_field(cdw_byte(12) + 1)
        s = self._of(nsid, cdw_byte(12) + 1)
        if not on:
            self._release(s)
        if s.enabled != on:
            s.enabled = on
            self.dirty = True

    def _enabled(self, nsid: int) -> NamespaceStreams:
        s = self._of(nsid, cdw_byte(11) + 1)
        if not s.enabled:
            raise invalid_field(cdw_byte(11) + 1)
        return s

    def allocate(self, nsid: int, requested: int) -> int:
        s = self._enabled(nsid)
        if s.allocated or not self.available or not requested:
            raise allocation_failed()
        s.allocated = min(requested, self.available)
        self.dirty = True
        return s.allocated

    def status(self, nsid: int) -> list[int]:
        return list(self._enabled(nsid).open)

    def release_identifier(self, nsid: int, sid: int) -> None:
        s = self._enabled(nsid)
        if sid in s.open:
            s.open.remove(sid)
            self.dirty = True

    def release_resources(self, nsid: int) -> None:
        self._release(self._enabled(nsid))

    def _release(self, s: NamespaceStreams) -> None:
        if s.open or s.allocated:
            s.open, s.allocated = [], 0
            self.dirty = True

    def write(self, nsid: int, sid: int) -> None:
        """A write with the Streams directive: the stream open (opened now when it was not)."""
        s = self.streams.get(nsid)
        if s is None or not s.enabled or sid == 0:
            raise invalid_field(cdw_byte(12) + 2)  # DTYPE: no Streams here; DSPEC 0 is no stream
        if sid in s.open:
            return
        if s.allocated:
            if len(s.open) >= s.allocated:
                raise allocation_failed()
        elif self._shared_open() >= self.available:
            raise allocation_failed()
        s.open.append(sid)
        s.open.sort()
        self.dirty = True

    def power_cycle(self) -> None:
        for s in self.streams.values():
            if s.open:
                s.open = []
                self.dirty = True

    def to_json(self) -> dict[str, object]:
        return {str(nsid): s.to_json() for nsid, s in self.streams.items()}

    @classmethod
    def restore(cls, value: object, where: str, nsids: tuple[int, ...]) -> Directives:
        state = as_dict(value, where)
        extra = sorted(set(state) - {str(n) for n in nsids})
        if extra:
            raise Damaged(f"{where}.{extra[0][:20]} is not a namespace with Streams")
        out = cls(nsids)
        for nsid in nsids:
            here = f"{where}.{nsid}"
            entry = as_dict(need(state, str(nsid), f"{where}."), here)
            enabled = as_bool(need(entry, "enabled", f"{here}."), f"{here}.enabled")
            allocated = as_int(need(entry, "allocated", f"{here}."), f"{here}.allocated", 0, MSL)
            raw = as_list(need(entry, "open", f"{here}."), f"{here}.open", MSL)
            opened = [as_int(v, f"{here}.open[{i}]", 1, STREAM_ID_MAX) for i, v in enumerate(raw)]
            if opened != sorted(set(opened)):
                raise Damaged(f"{here}.open is not a sorted list of distinct stream identifiers")
            if not enabled and (allocated or opened):
                raise Damaged(f"{here}: streams allocated or open while Streams are not enabled")
            if allocated and len(opened) > allocated:
                raise Damaged(f"{here}: {len(opened)} streams open, more than the {allocated} allocated")
            out.streams[nsid] = NamespaceStreams(enabled, allocated, opened)
        if out.available < 0:
            raise Damaged(f"{where}: more streams allocated than the {MSL} the subsystem has")
        if out._shared_open() > out.available:
            raise Damaged(f"{where}: more streams open than the subsystem has available")
        return out
