"""The Key Value namespace of the simulated controller (KV Command Set 1.0): its key index and its commands
(Store, Retrieve, Delete, Exist, List).

Values live in the namespace's image file like an NVM namespace's blocks, in 4 KiB units (`KV_UNIT`): a value
takes a run of free units (next fit over the namespace's allocation bitmap), and the index maps each key to
its first unit, its size and a CRC-32 of its bytes. A Store writes the new value into free units first, then
its record (the index change and the units allocated) goes to the journal, and only then are the units of the
value it replaced discarded: a kill -9 at any point leaves the old value or the new one, whole. A Retrieve
checks the CRC-32: a value whose units no longer hold what was stored (the image damaged under the simulator)
completes with Unrecovered Error (88h), as a drive reports data its ECC cannot correct.

Statuses (KV Command Set 1.0, Generic Command Status 85h-89h): Invalid Value Size (a value larger than the
KV format's VML), Invalid Key Size (KL 0 or above KML), KV Key Does Not Exist (Retrieve, Delete, Exist of an
absent key; a Store that must overwrite), Unrecovered Error, Key Exists (a Store that must not overwrite).
Capacity Exceeded when no run of free units is long enough or the namespace holds MNK keys.
"""

from __future__ import annotations

import bisect
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nvtui.backend.sim.errors import (
    SC_DATA_SGL_LENGTH_INVALID,
    SCT_GENERIC,
    CommandFailed,
    cdw_byte,
    invalid_field,
)
from nvtui.backend.sim.specs import KV_MAX_KEY, KV_MAX_KEYS, KV_MAX_VALUE, KV_UNIT
from nvtui.backend.sim.state import Damaged, as_dict, as_int, as_list
from nvtui.nvme.command import Command
from nvtui.structures import encode

if TYPE_CHECKING:
    from nvtui.backend.sim.controller import Outcome, SimController
    from nvtui.backend.sim.namespace import Namespace
    from nvtui.backend.sim.storage import Bitmap

# Generic Command Status values of the KV Command Set (1.0, Fig. "Generic Command Status Values")
SC_CAPACITY_EXCEEDED = 0x81
SC_INVALID_VALUE_SIZE = 0x85
SC_INVALID_KEY_SIZE = 0x86
SC_KEY_DOES_NOT_EXIST = 0x87
SC_UNRECOVERED_ERROR = 0x88
SC_KEY_EXISTS = 0x89

# Store options (CDW11 bits 15:8) and Retrieve options
SO_MUST_EXIST, SO_MUST_NOT_EXIST, SO_COMPRESS = 1 << 0, 1 << 1, 1 << 2
RO_RAW = 1 << 0  # return the value as stored (uncompressed): every value here is stored as given
LIST_HEADER = 4  # Number of Returned Keys
LIST_ENTRY_HEADER = 2  # Key Length, before each key (each entry padded to a dword)


@dataclass(frozen=True)
class Value:
    """Where a value is kept: its first unit, its size in bytes, and the CRC-32 of its bytes."""

    unit: int
    size: int
    crc: int

    @property
    def units(self) -> int:
        return -(-self.size // KV_UNIT)

    def to_json(self) -> list[int]:
        return [self.unit, self.size, self.crc]


class KvIndex:
    """The keys of one Key Value namespace and where their values are; `changes` holds what the running
    command changed (a key's new place, or None when it was deleted), as its journal record carries it."""

    def __init__(self, units: int) -> None:
        self.units = units  # storage units of the namespace
        self.values: dict[bytes, Value] = {}
        self.changes: dict[bytes, Value | None] = {}
        self._sorted: list[bytes] | None = []
        self._cursor = 0  # where the next search for free units starts (next fit)

    # --- changes ---------------------------------------------------------------------------------------

    def put(self, key: bytes, value: Value) -> None:
        if key not in self.values:
            self._sorted = None
        self.values[key] = value
        self.changes[key] = value

    def remove(self, key: bytes) -> None:
        del self.values[key]
        self._sorted = None
        self.changes[key] = None

    def keys_from(self, start: bytes) -> list[bytes]:
        """The keys in byte order, from `start` (or the first key after it) on."""
        if self._sorted is None:
            self._sorted = sorted(self.values)
        return self._sorted[bisect.bisect_left(self._sorted, start) :]

    def find_space(self, alloc: Bitmap, units: int) -> int | None:
        """The first unit of a run of `units` free units (next fit from the last allocation), or None."""
        for lo, hi in ((self._cursor, self.units), (0, self.units)):
            for start, end in alloc.runs(lo, hi, False):
                if end - start >= units:
                    self._cursor = start + units
                    return start
        return None

    # --- the journal and the checkpoint ----------------------------------------------------------------

    def delta(self) -> dict[str, list[int] | None] | None:
        if not self.changes:
            return None
        return {key.hex(): None if v is None else v.to_json() for key, v in self.changes.items()}

    def begin(self) -> None:
        if self.changes:
            self.changes = {}

    def to_json(self) -> dict[str, list[int]]:
        return {key.hex(): value.to_json() for key, value in self.values.items()}

    def apply(self, rec: object, where: str) -> None:
        """A journal record's changes (`delta`), each checked."""
        for text, raw in as_dict(rec, where).items():
            key = _key_of(text, where)
            if raw is None:
                if key not in self.values:
                    raise Damaged(f"{where}.{text[:32]} deletes a key the namespace does not hold")
                self.remove(key)
            else:
                self.put(key, self._value(raw, f"{where}.{text[:32]}"))
        self.changes = {}
        if len(self.values) > KV_MAX_KEYS:
            raise Damaged(f"{where}: the namespace would hold {len(self.values)} keys, at most {KV_MAX_KEYS}")

    def load(self, state: object, where: str, alloc: Bitmap) -> None:
        """The index `to_json` wrote, checked whole: every value within the namespace, no two sharing a
        unit, and exactly the units the allocation map says are in use taken by values."""
        entries = as_dict(state, where)
        if len(entries) > KV_MAX_KEYS:
            raise Damaged(f"{where} has {len(entries)} keys, at most {KV_MAX_KEYS}")
        values = {
            _key_of(text, where): self._value(raw, f"{where}.{text[:32]}") for text, raw in entries.items()
        }
        taken = sorted((v.unit, v.unit + v.units, k) for k, v in values.items() if v.units)
        end = 0
        for start, stop, key in taken:
            if start < end:
                raise Damaged(f"{where}.{key.hex()} shares storage units with another value")
            if next(alloc.runs(start, stop, False), None) is not None:
                raise Damaged(f"{where}.{key.hex()} lies in units the allocation map says are free")
            end = stop
        used = sum(stop - start for start, stop, _ in taken)
        if used != alloc.count:
            raise Damaged(f"{where}: values take {used} storage units, the allocation map says {alloc.count}")
        self.values, self.changes, self._sorted = values, {}, None

    def _value(self, raw: object, where: str) -> Value:
        cells = as_list(raw, where)
        if len(cells) != 3:
            raise Damaged(f"{where} is not [first unit, size, crc]")
        size = as_int(cells[1], f"{where}[1]", 0, KV_MAX_VALUE)
        units = -(-size // KV_UNIT)
        unit = as_int(cells[0], f"{where}[0]", 0, max(0, self.units - units))
        return Value(unit, size, as_int(cells[2], f"{where}[2]", 0, 0xFFFF_FFFF))


def _key_of(text: str, where: str) -> bytes:
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise Damaged(f"{where}.{text[:32]} is not a key in hex") from None
    if not 1 <= len(key) <= KV_MAX_KEY or key.hex() != text:
        raise Damaged(f"{where}.{text[:32]} is not a key of 1 to {KV_MAX_KEY} bytes in lowercase hex")
    return key


# --- the commands ---------------------------------------------------------------------------------------


def _outcome(**kw: object) -> Outcome:
    from nvtui.backend.sim.controller import Outcome

    return Outcome(**kw)  # type: ignore[arg-type]


def _fail(sc: int) -> CommandFailed:
    return CommandFailed(SCT_GENERIC, sc)


def command_key(cmd: Command, *, empty_ok: bool = False) -> bytes:
    """The key a command carries: KL bytes (CDW11 7:0) of CDW2, CDW3, CDW14, CDW15, byte 0 in CDW2 7:0."""
    kl = cmd.cdw11 & 0xFF
    if kl > KV_MAX_KEY or (kl == 0 and not empty_ok):
        raise CommandFailed(SCT_GENERIC, SC_INVALID_KEY_SIZE, param=cdw_byte(11))
    packed = cmd.cdw2 | cmd.cdw3 << 32 | cmd.cdw14 << 64 | cmd.cdw15 << 96
    return packed.to_bytes(16, "little")[:kl]


def _index(ns: Namespace) -> KvIndex:
    assert ns.kv is not None
    return ns.kv


def _found(ns: Namespace, key: bytes) -> Value:
    value = _index(ns).values.get(key)
    if value is None:
        raise _fail(SC_KEY_DOES_NOT_EXIST)
    return value


def store(ctrl: SimController, ns: Namespace, cmd: Command) -> Outcome:
    key = command_key(cmd)
    size = cmd.cdw10  # Value Size
    options = cmd.cdw11 >> 8 & 0xFF
    if options & ~(SO_MUST_EXIST | SO_MUST_NOT_EXIST) or options == SO_MUST_EXIST | SO_MUST_NOT_EXIST:
        raise invalid_field(cdw_byte(11) + 1)  # compression is not supported; the two conditions clash
    if size > KV_MAX_VALUE:
        raise CommandFailed(SCT_GENERIC, SC_INVALID_VALUE_SIZE, param=cdw_byte(10))
    if cmd.data_len < size or len(cmd.data or b"") < size:
        raise CommandFailed(SCT_GENERIC, SC_DATA_SGL_LENGTH_INVALID)
    index = _index(ns)
    old = index.values.get(key)
    if old is None and options & SO_MUST_EXIST:
        raise _fail(SC_KEY_DOES_NOT_EXIST)
    if old is not None and options & SO_MUST_NOT_EXIST:
        raise _fail(SC_KEY_EXISTS)
    if old is None and len(index.values) >= KV_MAX_KEYS:
        raise _fail(SC_CAPACITY_EXCEEDED)
    value = (cmd.data or b"")[:size]
    units = -(-size // KV_UNIT)
    unit = index.find_space(ns.alloc, units) if units else 0
    if unit is None:
        raise _fail(SC_CAPACITY_EXCEEDED)
    if units:
        ns.write(unit, units, value.ljust(units * KV_UNIT, b"\0"))
    if old is not None and old.units:
        ns.zero(old.unit, old.units, deallocate=True)  # discarded once the record is written
    index.put(key, Value(unit, size, zlib.crc32(value)))
    c = ctrl.counters
    c["host_write_commands"] += 1
    c["data_written_bytes"] += size
    return _outcome(kind="write", nbytes=size)


def retrieve(ctrl: SimController, ns: Namespace, cmd: Command) -> Outcome:
    key = command_key(cmd)
    if cmd.cdw11 >> 8 & 0xFF & ~RO_RAW:
        raise invalid_field(cdw_byte(11) + 1)
    found = _found(ns, key)
    value = ns.read(found.unit, found.units)[: found.size] if found.units else b""
    if zlib.crc32(value) != found.crc:
        ctrl.counters["media_errors"] += 1
        raise _fail(SC_UNRECOVERED_ERROR)
    given = min(cmd.cdw10, cmd.data_len, found.size)  # Host Buffer Size: a longer value is cut to it
    ctrl.counters["host_read_commands"] += 1
    ctrl.counters["data_read_bytes"] += given
    return _outcome(data=value[:given], result=found.size, kind="read", nbytes=given)


def delete(ctrl: SimController, ns: Namespace, cmd: Command) -> Outcome:
    key = command_key(cmd)
    found = _found(ns, key)
    if found.units:
        ns.zero(found.unit, found.units, deallocate=True)
    _index(ns).remove(key)
    ctrl.counters["host_write_commands"] += 1
    return _outcome(kind="trim")


def exist(ctrl: SimController, ns: Namespace, cmd: Command) -> Outcome:
    _found(ns, command_key(cmd))
    return _outcome(kind="other")


def list_keys(ctrl: SimController, ns: Namespace, cmd: Command) -> Outcome:
    """The keys from the one given (KL 0: from the first) in byte order, as many as fit the host buffer
    (CDW10, and the buffer given); the completion's DW0 is the number returned."""
    start = command_key(cmd, empty_ok=True)
    room = min(cmd.cdw10, cmd.data_len)
    if room < LIST_HEADER:
        raise invalid_field(cdw_byte(10))
    used, keys = LIST_HEADER, []
    for key in _index(ns).keys_from(start):
        entry = -(-(LIST_ENTRY_HEADER + len(key)) // 4) * 4
        if used + entry > room:
            break
        keys.append({"kl": len(key), "key": key})
        used += entry
    data = encode("kv-list-data", {"nrk": len(keys), "keys": keys})
    ctrl.counters["host_read_commands"] += 1
    return _outcome(data=data, result=len(keys), kind="read", nbytes=len(data))


KvHandler = Callable[["SimController", "Namespace", Command], "Outcome"]
# opcode -> handler, and whether it changes stored data (its Commands Supported and Effects LBCC bit)
KV_COMMANDS: dict[int, tuple[KvHandler, bool]] = {
    0x01: (store, True),
    0x02: (retrieve, False),
    0x06: (list_keys, False),
    0x10: (delete, True),
    0x14: (exist, False),
}
# The command groups for reservations (Base 2.0, "Command Behavior in the Presence of a Reservation"):
# Store and Delete change the namespace, Retrieve, List and Exist read it.
KV_READ_GROUP = frozenset({0x02, 0x06, 0x14})
KV_WRITE_GROUP = frozenset({0x00, 0x01, 0x10})
