"""Reservations on the simulated controller (NVMe Base 2.0, 8.19 Reservations; 7.2 Reservation Acquire,
7.3 Reservation Register, 7.4 Reservation Release, 7.5 Reservation Report), one `Reservations` per namespace.

What is modelled, as the spec models it: registrants are hosts, known by their host identifier, each with
its reservation key; a reservation has a type (RTYPE 1-6) and a holder (the one registrant that acquired
it, or, for the two all-registrants types, every registrant). The Reservation Status data structure lists a
Registered Controller data structure per controller of a registrant host. Register (register, unregister,
replace), Acquire (acquire, preempt, preempt and abort), Release (release, clear) and Report follow 8.19 and
7.2-7.5, statuses by name: Reservation Conflict for a host that is not a registrant, a wrong CRKEY (unless
IEKEY), an acquire against a reservation held otherwise, a preempt whose PRKEY matches no registrant;
Invalid Field for a reserved action or type, a reserved CPTPL, a release whose type differs from the held
reservation's, a zero NRKEY, a zero PRKEY against a single-holder reservation. GEN counts every Register
that succeeds, every Preempt (and Preempt and Abort) and every Clear. IEKEY has the meaning of revision 1.3
and later (RESCAP bit 7): a Register (unregister, replace) skips the CRKEY check; an Acquire or a Release with
IEKEY set is refused with Invalid Field (as SPDK's target does; revision 1.2.1 let it skip the check there
too). Reads and writes under a reservation are allowed or refused
with Reservation Conflict by `allows`, the table of Base 2.0 Fig. "Command Behavior in the Presence of a
Reservation" (read group: Read, Compare, Verify, Zone Management Receive; write group: Write, Write
Uncorrectable, Write Zeroes, Dataset Management, Copy, Flush, Zone Management Send, Zone Append).

What is not modelled, and why it matters:
- A second host, and a second controller. The simulator has one controller (CNTLID from Identify) and one
  host, known by the identifier the Host Identifier feature (81h, hostid.py) holds: 0, a 64-bit identifier,
  until the host sets one. A Report's data structure must match its size (7.5): EDS set with a 64-bit
  identifier, or clear with a 128-bit one, is aborted with Host Identifier Inconsistent Format; the
  registrant's host identifier field carries it. With one host there is one registrant at most, and it
  holds any reservation there is (a holder is always a registrant, and unregistering the holder releases a
  single-holder reservation; the all-registrants types end with their last registrant). So this host's own
  reads and writes are never refused: `allows` is exercised by the tests with a non-registrant and a
  non-holder registrant, which only a second host could be here.
- Notifications. The Reservation Notification log (80h) tells a host that its registration was preempted,
  or that a reservation it was registered for was released or preempted, by *another* host; the issuing
  host gets none. With one host no notification can arise: the log page stays empty (LPC 0, no available
  pages) and the mask (feature 82h) is kept and read back but has nothing to mask.
- Outstanding commands: the simulator runs one command at a time, atomically, so Preempt and Abort has
  nothing to abort and behaves as Preempt.
- Admin commands (Format NVM, Sanitize, ...) are not checked against reservations: with one host, the
  host that would issue them holds any reservation there is.
- NRKEY 0: the spec does not say in so many words that a zero key cannot be registered; the simulator
  refuses it (Invalid Field), as SPDK's target does, since a zero PRKEY has a meaning of its own.

Persist Through Power Loss (RESCAP bit 0; CPTPL of Register; feature 83h): the PTPL state is itself kept
through power loss. At power-on (the first process opening the simulator) a namespace whose PTPL state is 0
loses its registrants, its reservation and its generation (the whole reservation state is volatile then);
with PTPL 1 they are kept. Either way a kill -9 loses nothing acknowledged, as for everything the simulator
acknowledges (though without PTPL the next power-on clears it, as any power-on does): the controller
journals a namespace's reservation state whenever `dirty` is set, and only the reservation commands, Set
Features 83h and the power cycle set it, so other commands cost nothing here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nvtui.backend.sim import identity
from nvtui.backend.sim.errors import SCT_GENERIC, CommandFailed, cdw_byte, invalid_field
from nvtui.backend.sim.state import Damaged, as_bool, as_dict, as_int, as_list, need

WRITE_EXCLUSIVE, EXCLUSIVE_ACCESS = 1, 2
WRITE_EXCLUSIVE_REGISTRANTS_ONLY, EXCLUSIVE_ACCESS_REGISTRANTS_ONLY = 3, 4
WRITE_EXCLUSIVE_ALL_REGISTRANTS, EXCLUSIVE_ACCESS_ALL_REGISTRANTS = 5, 6
RTYPES = range(1, 7)
ALL_REGISTRANTS = (WRITE_EXCLUSIVE_ALL_REGISTRANTS, EXCLUSIVE_ACCESS_ALL_REGISTRANTS)
# Identify Namespace RESCAP: PTPL (bit 0), the six types (bits 6:1), IEKEY with the 1.3 meaning (bit 7)
RESCAP = 0xFF

RREGA_REGISTER, RREGA_UNREGISTER, RREGA_REPLACE = 0, 1, 2
RACQA_ACQUIRE, RACQA_PREEMPT, RACQA_PREEMPT_AND_ABORT = 0, 1, 2
RRELA_RELEASE, RRELA_CLEAR = 0, 1
CPTPL_NO_CHANGE, CPTPL_CLEAR, CPTPL_SET = 0, 2, 3

# Generic Command Status (Base 2.0, Fig. 102; 83h is an NVM Command Set value)
SC_RESERVATION_CONFLICT = 0x83
SC_HOST_ID_INCONSISTENT_FORMAT = 0x18

KEY_LIMIT = (1 << 64) - 1
GEN_LIMIT = (1 << 32) - 1
HOSTS_LIMIT = 1  # registrants a state file may hold: one host
HOSTID_LIMIT = (1 << 128) - 1  # a host identifier: 64 bits, or 128 (EXHID)


def conflict() -> CommandFailed:
    return CommandFailed(SCT_GENERIC, SC_RESERVATION_CONFLICT)


@dataclass
class Reservations:
    """A namespace's registrants (host identifier -> key), its reservation and its PTPL state."""

    keys: dict[int, int] = field(default_factory=dict)
    rtype: int = 0  # 0: no reservation
    holder: int | None = None  # the holding host of a single-holder type; None for all-registrants types
    gen: int = 0
    ptpl: bool = False
    dirty: bool = False  # changed by the command being run: the controller journals it

    # --- who may do what ------------------------------------------------------------------------------

    def holds(self, host: int) -> bool:
        if self.rtype in ALL_REGISTRANTS:
            return host in self.keys
        return self.rtype != 0 and self.holder == host

    def allows(self, host: int, *, write: bool) -> bool:
        """Whether `host` may run a command of the read (or write) group: Base 2.0, Fig. "Command Behavior
        in the Presence of a Reservation"."""
        if self.rtype == 0 or self.holds(host):
            return True
        registrant = host in self.keys
        if self.rtype == WRITE_EXCLUSIVE:
            return not write
        if self.rtype == EXCLUSIVE_ACCESS:
            return False
        if self.rtype in (WRITE_EXCLUSIVE_REGISTRANTS_ONLY, WRITE_EXCLUSIVE_ALL_REGISTRANTS):
            return not write or registrant
        return registrant  # the exclusive access registrants-only and all-registrants types

    def check_access(self, host: int, *, write: bool) -> None:
        if not self.allows(host, write=write):
            raise conflict()

    def _registrant_key(self, host: int, iekey: bool, crkey: int) -> int:
        """The issuing host's key; Reservation Conflict when it is no registrant or CRKEY is not its key."""
        key = self.keys.get(host)
        if key is None or (not iekey and crkey != key):
            raise conflict()
        return key

    def _changed(self, *, count: bool) -> None:
        if count:
            self.gen = (self.gen + 1) & GEN_LIMIT
        self.dirty = True

    def _release(self) -> None:
        self.rtype, self.holder = 0, None

    def _unregister(self, hosts: list[int]) -> None:
        for host in hosts:
            del self.keys[host]
            if self.holder == host:  # a single-holder reservation ends with its holder's registration
                self._release()
        if self.rtype in ALL_REGISTRANTS and not self.keys:
            self._release()

    # --- the commands ---------------------------------------------------------------------------------

    def register(self, host: int, rrega: int, iekey: bool, cptpl: int, crkey: int, nrkey: int) -> None:
        if rrega > RREGA_REPLACE:
            raise invalid_field(cdw_byte(10))
        if cptpl == 1:  # reserved
            raise invalid_field(cdw_byte(10) + 3)
        if rrega == RREGA_REGISTER:
            if nrkey == 0:
                raise invalid_field(cdw_byte(10))
            key = self.keys.get(host)
            if key is not None and key != nrkey:  # registered already, with another key
                raise conflict()
            self.keys[host] = nrkey
        elif rrega == RREGA_UNREGISTER:
            self._registrant_key(host, iekey, crkey)
            self._unregister([host])
        else:
            if nrkey == 0:
                raise invalid_field(cdw_byte(10))
            self._registrant_key(host, iekey, crkey)
            self.keys[host] = nrkey
        if cptpl != CPTPL_NO_CHANGE:
            self.ptpl = cptpl == CPTPL_SET
        self._changed(count=True)

    def acquire(self, host: int, racqa: int, iekey: bool, rtype: int, crkey: int, prkey: int) -> None:
        if racqa > RACQA_PREEMPT_AND_ABORT:
            raise invalid_field(cdw_byte(10))
        if rtype not in RTYPES:
            raise invalid_field(cdw_byte(10) + 1)
        if iekey:  # 1.3 and later: no Ignore Existing Key for an Acquire
            raise invalid_field(cdw_byte(10))
        self._registrant_key(host, False, crkey)
        if racqa == RACQA_ACQUIRE:
            if self.rtype == 0:
                self._take(host, rtype)
                self._changed(count=False)
            elif not self.holds(host) or self.rtype != rtype:
                raise conflict()  # held by another, or by this host with another type
            return
        # Preempt (and Preempt and Abort: no command is ever outstanding here, nothing to abort)
        matching = [h for h, k in self.keys.items() if k == prkey]
        if self.rtype == 0:
            if not matching:
                raise conflict()
            self._unregister(matching)
        elif self.rtype in ALL_REGISTRANTS:
            if prkey == 0:  # every other registrant goes; the issuer holds the new reservation
                self._unregister([h for h in self.keys if h != host])
                self._take(host, rtype)
            elif not matching:
                raise conflict()
            else:
                self._unregister(matching)
        elif self.holder is not None and prkey == self.keys.get(self.holder):
            # the holder is preempted (or preempts itself: then only the type changes): registrants with
            # that key other than the issuer are unregistered, and the issuer holds the new reservation
            self._unregister([h for h in matching if h != host])
            self._take(host, rtype)
        elif prkey == 0:
            raise invalid_field(cdw_byte(10))  # PRKEY 0 preempts only an all-registrants reservation
        elif not matching:
            raise conflict()
        else:
            self._unregister(matching)
        self._changed(count=True)

    def _take(self, host: int, rtype: int) -> None:
        self.rtype = rtype
        self.holder = None if rtype in ALL_REGISTRANTS else host

    def release(self, host: int, rrela: int, iekey: bool, rtype: int, crkey: int) -> None:
        if rrela > RRELA_CLEAR or iekey:  # 1.3 and later: no Ignore Existing Key for a Release
            raise invalid_field(cdw_byte(10))
        self._registrant_key(host, False, crkey)
        if rrela == RRELA_CLEAR:
            self._release()
            self.keys.clear()
            self._changed(count=True)
            return
        if self.rtype == 0 or not self.holds(host):
            return  # nothing held by this host: success, nothing changes (8.19.6)
        if rtype != self.rtype:
            raise invalid_field(cdw_byte(10) + 1)
        self._release()
        self._changed(count=False)

    def report(self, eds: bool, extended: bool) -> dict[str, object]:
        """The Reservation Status data structure's values (extended with EDS), for `encode`. `extended`: the
        host identifier in force is a 128-bit one."""
        if eds != extended:  # the data structure does not match the host identifier's size (7.5)
            raise CommandFailed(SCT_GENERIC, SC_HOST_ID_INCONSISTENT_FORMAT, param=cdw_byte(11))
        registrants = [
            {
                "cntlid": identity.CNTLID,
                "rcsts": int(self.holds(host)),
                "rkey": key,
                "hostid": host.to_bytes(16, "little") if eds else host,
            }
            for host, key in sorted(self.keys.items())
        ]  # one Registered Controller data structure per controller of a registrant host: one each here
        return {
            "gen": self.gen, "rtype": self.rtype, "regctl": len(registrants), "ptpls": int(self.ptpl),
            "registrants": registrants,
        }  # fmt: skip

    def set_ptpl(self, ptpl: bool) -> None:
        """Set Features Reservation Persistence (83h)."""
        if ptpl != self.ptpl:
            self.ptpl = ptpl
            self.dirty = True

    def power_on(self) -> bool:
        """A power cycle: without PTPL the registrants, the reservation and the generation are lost.
        True when registrants were lost."""
        if self.ptpl or not (self.keys or self.rtype or self.gen):
            return False
        lost = bool(self.keys)
        self.keys.clear()
        self._release()
        self.gen = 0
        self.dirty = True
        return lost

    # --- the state file and the journal -------------------------------------------------------------

    def to_json(self) -> dict[str, object]:
        return {
            "keys": [[host, key] for host, key in sorted(self.keys.items())],
            "rtype": self.rtype, "holder": self.holder, "gen": self.gen, "ptpl": self.ptpl,
        }  # fmt: skip

    @classmethod
    def restore(cls, value: object, where: str, host: int) -> Reservations:
        """A namespace's reservation state from a checkpoint or a journal record, every value checked;
        `host`: the host identifier in force, the one a registrant can have."""
        state = as_dict(value, where)
        extra = sorted(set(state) - {"keys", "rtype", "holder", "gen", "ptpl"})
        if extra:
            raise Damaged(f"{where}.{extra[0][:30]} is not a field of the reservation state")
        keys: dict[int, int] = {}
        for i, cell in enumerate(as_list(need(state, "keys", f"{where}."), f"{where}.keys", HOSTS_LIMIT)):
            pair = as_list(cell, f"{where}.keys[{i}]")
            if len(pair) != 2:
                raise Damaged(f"{where}.keys[{i}] is not [host identifier, key]")
            registrant = as_int(pair[0], f"{where}.keys[{i}][0]", 0, HOSTID_LIMIT)
            if registrant != host:  # the one host, known by the identifier in force
                raise Damaged(f"{where}.keys[{i}][0] = {registrant:#x} is not the host identifier {host:#x}")
            keys[registrant] = as_int(pair[1], f"{where}.keys[{i}][1]", 1, KEY_LIMIT)
        rtype = as_int(need(state, "rtype", f"{where}."), f"{where}.rtype", 0, RTYPES.stop - 1)
        raw_holder = need(state, "holder", f"{where}.")
        holder = None if raw_holder is None else as_int(raw_holder, f"{where}.holder", 0, HOSTID_LIMIT)
        if rtype in ALL_REGISTRANTS:
            if holder is not None or not keys:
                raise Damaged(f"{where}: an all-registrants reservation has registrants and no single holder")
        elif rtype:
            if holder is None or holder not in keys:
                raise Damaged(f"{where}.holder is not a registrant, while a reservation is held")
        elif holder is not None:
            raise Damaged(f"{where}.holder is set, while no reservation is held")
        gen = as_int(need(state, "gen", f"{where}."), f"{where}.gen", 0, GEN_LIMIT)
        ptpl = as_bool(need(state, "ptpl", f"{where}."), f"{where}.ptpl")
        return cls(keys=keys, rtype=rtype, holder=holder, gen=gen, ptpl=ptpl)
