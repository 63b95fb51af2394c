"""Flexible Data Placement on the simulated controller (TP4146, in NVMe Base 2.1 and the NVM Command Set 1.1).

What the simulated drive is, as FDP tells it: endurance group 1 has FDP enabled with one configuration (index
0): one reclaim group, `NRUH` reclaim unit handles, reclaim units of `RUNS` bytes. Namespace 1 (NVM) has a
placement handle list of `NPH` handles, placement handle n referencing reclaim unit handle n; the zoned
namespace 2 has none (a write to it naming a placement handle is refused). With RGIF 0 a placement identifier
is the placement handle itself.

A Write (01h) to namespace 1 goes to the reclaim unit of its placement handle (DTYPE 2, DSPEC the placement
identifier), or of placement handle 0 without a directive; so do a Copy's destination blocks and a Write
Zeroes that writes its zeroes (one that deallocates them, DEAC, writes no media). The unit's available media
writes (RUAMW) go down by the blocks written; the write that fills it moves the handle to a new, erased unit
(Media Bytes Erased grows by `RUNS`; the spec logs no event for this: a filled unit is the normal case) and
the rest of the write goes there. Reclaim Unit Handle Update (I/O Management Send) moves a handle off a
partially written unit: the controller writes the rest of the unit with padding, so Media Bytes with Metadata
Written grows by what was left (the write amplification a host that abandons units causes), and it logs a
Reclaim Unit Not Fully Written event. A write naming a placement identifier the namespace does not have is
aborted with Invalid Field in Command and logs an Invalid Placement Identifier event (against placement handle
0's event enables: the identifier names no handle). A sanitize erases every reclaim unit of the group (Media
Bytes Erased grows by its capacity) and each handle starts an empty one. A Format NVM of namespace 1 discards
its data, so each of its placement handles whose unit holds any starts an empty one (`format`).

Feature 1Dh (FDP) and 1Eh (FDP Events) are kept in non-volatile memory with the reclaim units: the saved
value is the current one, and a power cycle changes nothing (the media state survives it; no reclaim unit
handle is modified, so no Controller Level Reset event). FDP can be neither enabled nor disabled while
namespaces exist in the endurance group (Command Sequence Error), and this simulator's namespaces always
exist. Every event type this controller can log is enabled at the factory.

The state is persisted like the rest of the controller's: the whole of it in the checkpoint (`to_json`), the
part a command changed in its journal record (`core`, `new_events`); `dirty` is set by the handlers, so a
command that does not touch FDP costs nothing here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nvtui.backend.sim import identity
from nvtui.backend.sim.state import Damaged, as_bool, as_dict, as_int, as_list, need

ENDGID = 1
NRG = 1  # reclaim groups
RGIF = 0  # bits of reclaim group identifier in a placement identifier
NRUH = 8  # reclaim unit handles in the endurance group
NPH = 4  # placement handles of namespace 1: placement handle n is reclaim unit handle n
FDP_NSID = 1
RUNS = 2 << 20  # reclaim unit nominal size: small, so a user fills one with a few writes
MAXPIDS = NRUH  # placement identifiers a Reclaim Unit Handle Update may list
MAX_EVENTS = 63  # the FDP Events log holds at most this many (64 + 63 * 64 bytes = 4 KiB)

# FDP event types (TP4146, figure "FDP Event Type"): the ones this controller can log
ET_RU_NOT_FULLY_WRITTEN = 0x00
ET_INVALID_PID = 0x03
EVENT_TYPES = (ET_RU_NOT_FULLY_WRITTEN, ET_INVALID_PID)
ALL_EVENTS = sum(1 << t for t in EVENT_TYPES)

# Generic command status values of FDP (NVMe Base 2.1): FDP Disabled
SC_FDP_DISABLED = 0x29

# The fields of a kept event, by the names of the `fdp-event` layout, and their widths in bits
EVENT_BITS = {
    "fdpet": 8, "piv": 1, "nsidv": 1, "lv": 1, "pid": 16, "timestamp": 48, "timestamp_origin": 3,
    "nsid": 32, "rgid": 16, "ruhid": 8,
}  # fmt: skip
BIG = (1 << 128) - 1  # the statistics are 128-bit counters


def parse_pid(pid: int) -> int | None:
    """The placement handle a placement identifier names in namespace 1, None when it names none."""
    rg = pid >> (16 - RGIF) if RGIF else 0
    ph = pid & ((1 << (16 - RGIF)) - 1)
    return ph if rg < NRG and ph < NPH else None


@dataclass
class Fdp:
    enabled: bool = True
    config: int = 0  # FDP configuration index in use
    avail: list[int] = field(default_factory=lambda: [RUNS] * NRUH)  # bytes left in each handle's unit
    hbmw: int = 0
    mbmw: int = 0
    mbe: int = 0
    enables: list[int] = field(default_factory=lambda: [ALL_EVENTS] * NPH)  # per placement handle
    host_events: list[dict[str, int]] = field(default_factory=list)  # oldest first
    dirty: bool = False  # the command being run changed the core state
    new_events: list[dict[str, int]] = field(default_factory=list)  # events the command being run logged

    def begin(self) -> None:
        if self.dirty:
            self.dirty = False
        if self.new_events:
            self.new_events = []

    # --- what the commands do -------------------------------------------------------------------------

    def write(self, ph: int, nbytes: int, meta_bytes: int) -> None:
        """`nbytes` of blocks (and their metadata) written through placement handle `ph`."""
        self.hbmw = min(BIG, self.hbmw + nbytes + meta_bytes)
        self.mbmw = min(BIG, self.mbmw + nbytes + meta_bytes)
        ruh, left = ph, nbytes
        while left:
            if left < self.avail[ruh]:
                self.avail[ruh] -= left
                break
            left -= self.avail[ruh]
            self._new_unit(ruh)  # filled: the handle references a new, erased unit
        self.dirty = True

    def _new_unit(self, ruh: int) -> None:
        self.avail[ruh] = RUNS
        self.mbe = min(BIG, self.mbe + RUNS)

    def update(self, ph: int, pid: int, clock: tuple[int, int]) -> None:
        """Reclaim Unit Handle Update of one placement handle: a partially written unit is padded to its end
        and left for a new one (a unit with nothing written yet is already what the host asks for)."""
        ruh = ph
        left = self.avail[ruh]
        if left == RUNS:
            return
        self.mbmw = min(BIG, self.mbmw + left)
        self._new_unit(ruh)
        self.log_event(ph, ET_RU_NOT_FULLY_WRITTEN, clock, pid=pid, ruhid=ruh)
        self.dirty = True

    def sanitize(self, capacity: int) -> None:
        """A sanitize erases every reclaim unit of the group (`capacity` bytes): each handle then references
        an empty one."""
        self.avail = [RUNS] * NRUH
        self.mbe = min(BIG, self.mbe + capacity // RUNS * RUNS)
        self.dirty = True

    def format(self) -> None:
        """Format NVM of namespace 1: its data is gone (erased with SES, deallocated without), so the units
        its placement handles reference hold nothing the host can read. As a drive would, rather than go on
        filling units behind discarded data, each handle whose unit is partly written starts a new, erased
        one (Media Bytes Erased grows by `RUNS` each); nothing is padded (the old data is discarded, not
        kept: MBMW stays), and no Reclaim Unit Not Fully Written event is logged (the host asked for it, as
        with a sanitize). An empty unit stays. Handles no placement handle references are not touched."""
        for ruh in range(NPH):  # placement handle n references reclaim unit handle n
            if self.avail[ruh] != RUNS:
                self._new_unit(ruh)
                self.dirty = True

    def invalid_pid(self, pid: int, clock: tuple[int, int]) -> None:
        self.log_event(0, ET_INVALID_PID, clock, pid=pid, ruhid=None)

    def log_event(self, ph: int, etype: int, clock: tuple[int, int], *, pid: int, ruhid: int | None) -> None:
        if not self.enables[ph] >> etype & 1:
            return
        ms, origin = clock
        event = {
            "fdpet": etype, "piv": 1, "nsidv": 1, "lv": 0 if ruhid is None else 1, "pid": pid,
            "timestamp": ms & ((1 << 48) - 1), "timestamp_origin": origin, "nsid": FDP_NSID, "rgid": 0,
            "ruhid": ruhid or 0,
        }  # fmt: skip
        self._keep(event)
        self.new_events.append(event)

    def _keep(self, event: dict[str, int]) -> None:
        self.host_events.append(event)
        del self.host_events[:-MAX_EVENTS]

    def set_enables(self, ph: int, types: list[int], enable: bool) -> None:
        mask = sum(1 << t for t in types)
        self.enables[ph] = self.enables[ph] | mask if enable else self.enables[ph] & ~mask
        self.dirty = True

    # --- persistence ----------------------------------------------------------------------------------

    def core(self) -> dict[str, object]:
        """Everything but the events: what a command's journal record carries when it changed FDP."""
        return {
            "enabled": self.enabled, "config": self.config, "avail": list(self.avail), "hbmw": self.hbmw,
            "mbmw": self.mbmw, "mbe": self.mbe, "enables": list(self.enables),
        }  # fmt: skip

    def to_json(self) -> dict[str, object]:
        return {**self.core(), "host_events": [dict(e) for e in self.host_events]}

    def apply_core(self, value: object, where: str, *, checkpoint: bool = False) -> None:
        """A journal record's core state (or, `checkpoint`, the checkpoint's, which holds the events too)."""
        state = as_dict(value, where)
        extra = sorted(set(state) - set(self.core()) - ({"host_events"} if checkpoint else set()))
        if extra:
            raise Damaged(f"{where}.{extra[0][:30]} is not a field of the FDP state")
        enabled = as_bool(need(state, "enabled", f"{where}."), f"{where}.enabled")
        config = as_int(need(state, "config", f"{where}."), f"{where}.config", 0, 0)
        avail = as_list(need(state, "avail", f"{where}."), f"{where}.avail")
        if len(avail) != NRUH:
            raise Damaged(f"{where}.avail has {len(avail)} reclaim unit handles, not {NRUH}")
        # a handle always references a unit with room: the write that fills one moves it on
        units = [as_int(v, f"{where}.avail[{i}]", 1, RUNS) for i, v in enumerate(avail)]
        hbmw = as_int(need(state, "hbmw", f"{where}."), f"{where}.hbmw", 0, BIG)
        mbmw = as_int(need(state, "mbmw", f"{where}."), f"{where}.mbmw", 0, BIG)
        if mbmw < hbmw:
            raise Damaged(f"{where}.mbmw = {mbmw} is less than the host bytes written ({hbmw})")
        mbe = as_int(need(state, "mbe", f"{where}."), f"{where}.mbe", 0, BIG)
        if mbe % RUNS:
            raise Damaged(f"{where}.mbe = {mbe} is not a whole number of reclaim units")
        enables = as_list(need(state, "enables", f"{where}."), f"{where}.enables")
        if len(enables) != NPH:
            raise Damaged(f"{where}.enables has {len(enables)} placement handles, not {NPH}")
        masks = [as_int(v, f"{where}.enables[{i}]", 0, ALL_EVENTS) for i, v in enumerate(enables)]
        for i, mask in enumerate(masks):
            if mask & ~ALL_EVENTS:
                raise Damaged(f"{where}.enables[{i}] = {mask:#x} enables an event type this controller lacks")
        self.enabled, self.config, self.avail = enabled, config, units
        self.hbmw, self.mbmw, self.mbe, self.enables = hbmw, mbmw, mbe, masks

    def add_events(self, value: object, where: str) -> None:
        for i, raw in enumerate(as_list(value, where, MAX_EVENTS)):
            self._keep(_event(raw, f"{where}[{i}]"))

    @classmethod
    def restore(cls, value: object, where: str) -> Fdp:
        fdp = cls()
        fdp.apply_core(value, where, checkpoint=True)
        state = as_dict(value, where)
        fdp.add_events(need(state, "host_events", f"{where}."), f"{where}.host_events")
        return fdp


def _event(value: object, where: str) -> dict[str, int]:
    entry = as_dict(value, where)
    if set(entry) != set(EVENT_BITS):
        odd = sorted(set(entry) ^ set(EVENT_BITS))[0]
        what = "missing" if odd in EVENT_BITS else "not a field of an event"
        raise Damaged(f"{where}.{odd[:30]} is {what}")
    event = {k: as_int(entry[k], f"{where}.{k}", 0, (1 << bits) - 1) for k, bits in EVENT_BITS.items()}
    if event["fdpet"] not in EVENT_TYPES:
        raise Damaged(f"{where}.fdpet = {event['fdpet']:#x} is not an event type this controller logs")
    if event["nsid"] not in (0, *range(1, identity.NN + 1)):
        raise Damaged(f"{where}.nsid = {event['nsid']} is not a namespace of this controller")
    if event["ruhid"] >= NRUH:
        raise Damaged(f"{where}.ruhid = {event['ruhid']} is not a reclaim unit handle of this controller")
    return event


def event_clock(timestamp: tuple[int, float] | None, powered_on: float, now: float) -> tuple[int, int]:
    """An event's timestamp as the Timestamp feature tells the time: (milliseconds, origin)."""
    if timestamp is None:  # never set: milliseconds since the power-on, origin 000b
        return int((now - powered_on) * 1000), 0
    base, set_at = timestamp
    return base + int((now - set_at) * 1000), 1
