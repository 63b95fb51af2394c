"""The Host Identifier feature (Feature Identifier 81h, NVMe Base 2.0, 5.27.1): the identifier by which the
controller knows its one host for reservations, 64 bits, or 128 bits when set with EXHID (CDW11 bit 0).

Set Features takes it in the data buffer (bytes 7:0, or 15:0 with EXHID); Get Features returns it in the
same form, and only in the form it was set in (EXHID must match: Invalid Field otherwise, as SPDK's target
answers a mismatch). Rules the simulator applies:
- A host registered on any namespace may not change it (value or size): Command Sequence Error, since its
  registrations carry it. Setting the same identifier again succeeds and changes nothing.
- A 128-bit identifier of 0h is refused (Invalid Field): the extended form is meant to be unique (NVMe over
  Fabrics, the transport that requires it, requires it non-zero too). A 64-bit 0h is the value in force
  until a host sets one, and may be set again.
- A Reservation Report's data structure must match its size (EDS set for a 128-bit identifier, clear for a
  64-bit one): Host Identifier Inconsistent Format otherwise (reservations.py).

Kept through power cycles, as the PTPL state is (saving it, SV, is accepted and changes nothing more): on a
real controller the host sets it again after a reset, before it uses reservations; the simulator's one host
never changes its identity at a reset, so registrations kept with PTPL stay this host's. It is journaled
with the command that sets it and checkpointed with the rest (`SimController`), so every process sharing
the controller knows the same host.

Identify Controller's CTRATT bit 0 (128-bit Host Identifier Support) says EXHID is accepted (a host such as
nvme-cli that reads it then asks for the extended Reservation Report by default).
"""

from __future__ import annotations

from dataclasses import dataclass

from nvtui.backend.sim.state import Damaged, as_bool, as_dict, as_int, need

HOSTID_BITS = 128


@dataclass(frozen=True)
class HostIdentifier:
    """The host identifier in force: its value (the data buffer's bytes, little-endian) and its size."""

    value: int = 0
    extended: bool = False  # EXHID: a 128-bit identifier

    @property
    def size(self) -> int:
        return 16 if self.extended else 8

    def data(self) -> bytes:
        """The Host Identifier data Get Features returns."""
        return self.value.to_bytes(self.size, "little")

    def to_json(self) -> dict[str, object]:
        return {"hostid": self.value, "exhid": self.extended}

    @classmethod
    def restore(cls, value: object, where: str) -> HostIdentifier:
        state = as_dict(value, where)
        extra = sorted(set(state) - {"hostid", "exhid"})
        if extra:
            raise Damaged(f"{where}.{extra[0][:30]} is not a field of the host identifier")
        extended = as_bool(need(state, "exhid", f"{where}."), f"{where}.exhid")
        bits = HOSTID_BITS if extended else 64
        hostid = as_int(need(state, "hostid", f"{where}."), f"{where}.hostid", 0, (1 << bits) - 1)
        if extended and hostid == 0:
            raise Damaged(f"{where}.hostid is 0, which no 128-bit host identifier is")
        return cls(hostid, extended)
