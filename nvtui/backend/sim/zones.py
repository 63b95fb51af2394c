"""The zone state machine of a zoned namespace (Zoned Namespace Command Set 1.1, 2.1 and Fig. 6).

Active zones are those Implicitly Opened, Explicitly Opened or Closed (limited by MAR + 1); open zones are
the Implicitly and Explicitly Opened ones (limited by MOR + 1). When a write or an Open needs an open
resource and none is left, the controller closes the least recently implicitly opened zone, as the spec
asks; if every open zone was opened explicitly, the command fails with Too Many Open Zones.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from nvtui.backend.sim.errors import (
    SC_INVALID_ZONE_STATE_TRANSITION,
    SC_TOO_MANY_ACTIVE_ZONES,
    SC_TOO_MANY_OPEN_ZONES,
    SC_ZONE_BOUNDARY_ERROR,
    SC_ZONE_INVALID_WRITE,
    SC_ZONE_IS_FULL,
    SC_ZONE_IS_OFFLINE,
    SC_ZONE_IS_READ_ONLY,
    CommandFailed,
    zone_error,
)
from nvtui.backend.sim.state import Damaged, as_dict, as_int, as_list, need


class ZoneState(enum.IntEnum):
    """Zone State values of the zone descriptor's ZS field, bits 7:4 (ZNS 1.1, Fig. 39)."""

    EMPTY = 0x1
    IMPLICITLY_OPENED = 0x2
    EXPLICITLY_OPENED = 0x3
    CLOSED = 0x4
    READ_ONLY = 0xD
    FULL = 0xE
    OFFLINE = 0xF


OPEN_STATES = (ZoneState.IMPLICITLY_OPENED, ZoneState.EXPLICITLY_OPENED)
ACTIVE_STATES = (*OPEN_STATES, ZoneState.CLOSED)

# Zone Send Actions (ZNS 1.1, Fig. 31)
ZSA_CLOSE, ZSA_FINISH, ZSA_OPEN, ZSA_RESET, ZSA_OFFLINE = 0x1, 0x2, 0x3, 0x4, 0x5

# Zone Receive Action Specific Field filters (ZNS 1.1, Fig. 36): 0 lists every zone.
REPORT_FILTERS: dict[int, tuple[ZoneState, ...]] = {
    1: (ZoneState.EMPTY,), 2: (ZoneState.IMPLICITLY_OPENED,), 3: (ZoneState.EXPLICITLY_OPENED,),
    4: (ZoneState.CLOSED,), 5: (ZoneState.FULL,), 6: (ZoneState.READ_ONLY,), 7: (ZoneState.OFFLINE,),
}  # fmt: skip

ZONE_TYPE_SEQUENTIAL_WRITE_REQUIRED = 0x2
WP_INVALID = 0xFFFF_FFFF_FFFF_FFFF


@dataclass
class Zone:
    zslba: int
    zcap: int
    state: ZoneState = ZoneState.EMPTY
    wp: int = 0
    za: int = 0  # Zone Attributes (bit 0 ZFC: finished by controller)

    @property
    def end(self) -> int:
        """One past the last writable block: the write boundary."""
        return self.zslba + self.zcap

    @property
    def reported_wp(self) -> int:
        # The write pointer is not valid in Full, Read Only and Offline (ZNS 1.1, 2.1.1.1).
        if self.state is ZoneState.OFFLINE:
            return WP_INVALID
        return self.wp


class ZoneSet:
    def __init__(self, nsze: int, zsze: int, zcap: int, max_active: int, max_open: int) -> None:
        self.zsze, self.zcap = zsze, zcap
        self.max_active, self.max_open = max_active, max_open
        self.zones = [Zone(z, zcap, wp=z) for z in range(0, nsze, zsze)]
        self._implicit_order: list[int] = []  # indexes of implicitly opened zones, oldest first
        self.changed: list[int] = []  # ZSLBAs whose descriptor the controller changed (log BFh)
        self.dirty: set[int] = set()  # indexes of zones changed since the controller last journaled
        self.reordered = False  # a zone changed state since then (the implicitly opened order may differ)

    # --- counting ----------------------------------------------------------------------------------------

    def count(self, states: Iterable[ZoneState]) -> int:
        wanted = set(states)
        return sum(1 for z in self.zones if z.state in wanted)

    @property
    def open_count(self) -> int:
        return self.count(OPEN_STATES)

    @property
    def active_count(self) -> int:
        return self.count(ACTIVE_STATES)

    def index_of(self, lba: int) -> int:
        return lba // self.zsze

    def zone_of(self, lba: int) -> Zone:
        return self.zones[lba // self.zsze]

    def _set(self, zone: Zone, state: ZoneState) -> None:
        index = self.index_of(zone.zslba)
        if index in self._implicit_order:
            self._implicit_order.remove(index)
        if state is ZoneState.IMPLICITLY_OPENED:
            self._implicit_order.append(index)
        zone.state = state
        self.dirty.add(index)
        self.reordered = True

    def _need_resources(self, zone: Zone) -> None:
        """Make room for `zone` to become open (and active, if it is not yet)."""
        if zone.state is ZoneState.EMPTY and self.active_count >= self.max_active:
            raise zone_error(SC_TOO_MANY_ACTIVE_ZONES, zone.zslba)
        if zone.state not in OPEN_STATES and self.open_count >= self.max_open:
            if not self._implicit_order:
                raise zone_error(SC_TOO_MANY_OPEN_ZONES, zone.zslba)
            self._set(self.zones[self._implicit_order[0]], ZoneState.CLOSED)

    # --- writes ------------------------------------------------------------------------------------------

    def check_write(self, slba: int, nlb: int, *, append: bool = False) -> Zone:
        """Check a write of `nlb` blocks at `slba` (for Zone Append, `slba` is the zone's start) and open
        the zone implicitly; the caller writes the data and then calls `advance`."""
        zone = self.zone_of(slba)
        if zone.state is ZoneState.FULL:
            raise zone_error(SC_ZONE_IS_FULL, slba)
        if zone.state is ZoneState.READ_ONLY:
            raise zone_error(SC_ZONE_IS_READ_ONLY, slba)
        if zone.state is ZoneState.OFFLINE:
            raise zone_error(SC_ZONE_IS_OFFLINE, slba)
        start = zone.wp if append else slba
        if not append and slba != zone.wp:
            raise zone_error(SC_ZONE_INVALID_WRITE, slba)
        if start + nlb > zone.end:
            raise zone_error(SC_ZONE_BOUNDARY_ERROR, slba)
        if zone.state not in OPEN_STATES:
            self._need_resources(zone)
            self._set(zone, ZoneState.IMPLICITLY_OPENED)
        return zone

    def advance(self, zone: Zone, nlb: int) -> None:
        zone.wp += nlb
        self.dirty.add(self.index_of(zone.zslba))
        if zone.wp >= zone.end:
            self._set(zone, ZoneState.FULL)

    # --- Zone Management Send ----------------------------------------------------------------------------

    def action(self, zone: Zone, zsa: int) -> bool:
        """Apply one zone send action to one zone; True when the zone's blocks must be discarded."""
        state = zone.state
        if zsa == ZSA_OPEN:
            if state is ZoneState.EXPLICITLY_OPENED:
                return False
            if state not in (ZoneState.EMPTY, ZoneState.IMPLICITLY_OPENED, ZoneState.CLOSED):
                raise self._bad_transition(zone)
            self._need_resources(zone)
            self._set(zone, ZoneState.EXPLICITLY_OPENED)
            return False
        if zsa == ZSA_CLOSE:
            if state is ZoneState.CLOSED:
                return False
            if state not in OPEN_STATES:
                raise self._bad_transition(zone)
            # A zone closed with nothing written goes back to Empty (ZNS 1.1, 2.1.1.3.1).
            self._set(zone, ZoneState.EMPTY if zone.wp == zone.zslba else ZoneState.CLOSED)
            return False
        if zsa == ZSA_FINISH:
            if state is ZoneState.FULL:
                return False
            if state not in (ZoneState.EMPTY, *ACTIVE_STATES):
                raise self._bad_transition(zone)
            if state is ZoneState.EMPTY and self.active_count >= self.max_active:
                raise zone_error(SC_TOO_MANY_ACTIVE_ZONES, zone.zslba)
            zone.wp = zone.end
            self._set(zone, ZoneState.FULL)
            return False
        if zsa == ZSA_RESET:
            if state in (ZoneState.READ_ONLY, ZoneState.OFFLINE):
                raise self._bad_transition(zone)
            discard = zone.wp != zone.zslba
            zone.wp, zone.za = zone.zslba, 0
            self._set(zone, ZoneState.EMPTY)
            return discard
        if zsa == ZSA_OFFLINE:
            if state is ZoneState.OFFLINE:
                return False
            if state is not ZoneState.READ_ONLY:
                raise self._bad_transition(zone)
            self._set(zone, ZoneState.OFFLINE)
            return True
        raise ValueError(f"zone send action {zsa:#x}")

    def select_all(self, zsa: int) -> list[Zone]:
        """The zones a Select All action applies to (ZNS 1.1, Fig. 31), checked for resources up front so
        an Open of all Closed zones either opens them all or none."""
        eligible = {
            ZSA_CLOSE: OPEN_STATES,
            ZSA_FINISH: ACTIVE_STATES,
            ZSA_OPEN: (ZoneState.CLOSED,),
            ZSA_RESET: (*ACTIVE_STATES, ZoneState.FULL),
            ZSA_OFFLINE: (ZoneState.READ_ONLY,),
        }[zsa]
        zones = [z for z in self.zones if z.state in eligible]
        if zsa == ZSA_OPEN:
            implicit = len(self._implicit_order)
            if self.open_count - implicit + len(zones) > self.max_open:
                raise zone_error(SC_TOO_MANY_OPEN_ZONES)
        return zones

    @staticmethod
    def _bad_transition(zone: Zone) -> CommandFailed:
        return zone_error(SC_INVALID_ZONE_STATE_TRANSITION, zone.zslba)

    # --- faults the controller raises on its own ---------------------------------------------------------

    def make(self, zone: Zone, state: ZoneState) -> None:
        """The controller moves a zone to Read Only or Offline (media wear), recording the change."""
        if state not in (ZoneState.READ_ONLY, ZoneState.OFFLINE):
            raise ValueError(f"the controller only moves zones to Read Only or Offline, not {state.name}")
        self._set(zone, state)
        if zone.zslba not in self.changed:
            self.changed.append(zone.zslba)

    # --- persistence -------------------------------------------------------------------------------------

    def to_json(self) -> dict[str, object]:
        return {
            "zones": [[int(z.state), z.wp, z.za] for z in self.zones],
            "implicit_order": list(self._implicit_order),
            "changed": list(self.changed),
        }

    def rows(self, indexes: Iterable[int]) -> list[list[int]]:
        """The journal's form of some zones: [index, state, write pointer, attributes]."""
        return [[i, int(self.zones[i].state), self.zones[i].wp, self.zones[i].za] for i in sorted(indexes)]

    def order(self) -> list[int]:
        return list(self._implicit_order)

    def _row(self, zone: Zone, row: object, where: str) -> None:
        cells = as_list(row, where)
        if len(cells) != 3:
            raise Damaged(
                f"{where} has {len(cells)} values, a zone needs 3 (state, write pointer, attributes)"
            )
        code = as_int(cells[0], f"{where}[0] (state)", 0, 0xF)
        try:
            state = ZoneState(code)
        except ValueError:
            raise Damaged(f"{where}[0] = {code:#x} is not a zone state") from None
        wp = as_int(cells[1], f"{where}[1] (write pointer)")
        za = as_int(cells[2], f"{where}[2] (attributes)", 0, 0xFF)
        if state is not ZoneState.OFFLINE and not zone.zslba <= wp <= zone.end:
            raise Damaged(f"{where}: write pointer {wp:#x} outside the zone at {zone.zslba:#x}")
        if state is ZoneState.EMPTY and wp != zone.zslba:
            raise Damaged(f"{where}: an empty zone with its write pointer at {wp:#x}, not {zone.zslba:#x}")
        zone.state, zone.wp, zone.za = state, wp, za

    def _set_order(self, order: object, where: str) -> None:
        indexes = [
            as_int(i, f"{where}[{n}]", 0, len(self.zones) - 1) for n, i in enumerate(as_list(order, where))
        ]
        if len(set(indexes)) != len(indexes):
            raise Damaged(f"{where} names a zone twice")
        self._implicit_order = [i for i in indexes if self.zones[i].state is ZoneState.IMPLICITLY_OPENED]
        for i, zone in enumerate(self.zones):
            if zone.state is ZoneState.IMPLICITLY_OPENED and i not in self._implicit_order:
                self._implicit_order.append(i)

    def _set_changed(self, changed: object, where: str) -> None:
        starts = [as_int(x, f"{where}[{n}]") for n, x in enumerate(as_list(changed, where, len(self.zones)))]
        if any(x % self.zsze or x // self.zsze >= len(self.zones) for x in starts):
            raise Damaged(f"{where} holds a value that is not the start of a zone")
        self.changed = starts

    def _check_limits(self, where: str) -> None:
        if self.active_count > self.max_active or self.open_count > self.max_open:
            raise Damaged(
                f"{where}: {self.active_count} active and {self.open_count} open zones, more than the "
                f"{self.max_active} and {self.max_open} the namespace allows"
            )

    def load(self, data: object, where: str = "zones") -> None:
        """The zone table `to_json` wrote; `Damaged` naming the first thing wrong with it."""
        data = as_dict(data, where)
        rows = as_list(need(data, "zones", f"{where}."), f"{where}.zones")
        if len(rows) != len(self.zones):
            raise Damaged(f"{where}.zones has {len(rows)} zones, the namespace {len(self.zones)}")
        for i, (zone, row) in enumerate(zip(self.zones, rows, strict=True)):
            self._row(zone, row, f"{where}.zones[{i}]")
        self._set_order(need(data, "implicit_order", f"{where}."), f"{where}.implicit_order")
        self._set_changed(need(data, "changed", f"{where}."), f"{where}.changed")
        self._check_limits(where)
        self.dirty.clear()
        self.reordered = False

    def apply(self, rows: object, order: object, changed: object, where: str) -> None:
        """A journal record's zone changes (rows as `rows` gives them; None where nothing changed)."""
        if rows is not None:
            for n, row in enumerate(as_list(rows, f"{where}.z")):
                cells = as_list(row, f"{where}.z[{n}]")
                if not cells:
                    raise Damaged(f"{where}.z[{n}] is empty")
                index = as_int(cells[0], f"{where}.z[{n}][0]", 0, len(self.zones) - 1)
                self._row(self.zones[index], cells[1:], f"{where}.z[{n}]")
        if order is not None:
            self._set_order(order, f"{where}.zo")
        if changed is not None:
            self._set_changed(changed, f"{where}.zc")
        self._check_limits(where)

    def power_cycle(self) -> None:
        """Open zones are closed by a controller reset (ZNS 1.1, 2.1.1.2): no zone stays open across it."""
        for zone in self.zones:
            if zone.state in OPEN_STATES:
                self._set(zone, ZoneState.EMPTY if zone.wp == zone.zslba else ZoneState.CLOSED)
