"""The simulated controller: its persistent state, command dispatch, counters, events and error log, and how
that state is kept and shared.

What is durable when:
- Against a kill -9 of the process: everything a command changed, once its completion is returned. The
  blocks it wrote are in the image files, then its record (counters, allocation, zones, features, error
  log, self-test, ...) is in the journal, both written to the kernel before `execute` returns; blocks it
  discards are discarded after the record is written. At the next power-on the journal is replayed onto
  the checkpoint and blocks the state says are unallocated are cleared (`Namespace.repair`), so a command
  cut off by the kill is either whole or absent.
- Against a crash of the machine or a power loss: what was acknowledged before the last Flush (the images
  and the journal are fsynced) or the last clean shutdown (fsync, then a checkpoint written durably).

Sharing: processes (the TUI, `nvtui run`, ...) use the controller at the same time. Each command takes the
folder lock, brings this process's view up to date with what others journaled since (`sync`: new records, or
the whole state after another process's checkpoint), executes, journals, and releases the lock. Outstanding
Asynchronous Event Requests, events not yet reported and the latency model stay per process (events another
process raises are reported here too, as on a drive with several controllers). The first process to open the
controller powers it on (a power cycle: open zones closed, saved features in force, a cut-off self-test
aborted, registrations and reservations cleared where Persist Through Power Loss is off); the last to close
it shuts it down cleanly.

Namespaces: `namespaces` holds the allocated ones (NSIDs 1..NN), each attached or not; `namespace(nsid)`
gives only an active (attached) one, as I/O and most admin commands need. Namespace Management and
Attachment journal the whole set (`nsm`, applied first when replayed) and checkpoint at once, as discovery
reads only the checkpoint; a deleted namespace's files are removed after its record is written, and files
of an NSID not allocated that a crash left are removed at power-on. Reservations, Streams and namespace
features follow the set (`_follow_namespaces`).

Commands execute atomically (the asyncio loop is single-threaded and the lock is held throughout), so a
zone's write pointer or a block's contents never change halfway through another command; the backend then
waits out the modelled latency without the lock. The handlers live in `admin.py` and `io.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import os
import random
import secrets
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from nvtui.backend.sim import features as F
from nvtui.backend.sim import identity
from nvtui.backend.sim.directives import Directives
from nvtui.backend.sim.errors import (
    SC_INTERNAL_ERROR,
    SC_SANITIZE_IN_PROGRESS,
    SC_WRITE_FAULT,
    SCT_GENERIC,
    SCT_MEDIA,
    CommandFailed,
    invalid_namespace,
    invalid_opcode,
)
from nvtui.backend.sim.fdp import Fdp
from nvtui.backend.sim.features import FeatureStore
from nvtui.backend.sim.firmware import Firmware
from nvtui.backend.sim.hostid import HostIdentifier
from nvtui.backend.sim.journal import CHECKPOINT_BYTES, Journal, encode
from nvtui.backend.sim.latency import LatencyModel
from nvtui.backend.sim.namespace import NAMESPACE_SPECS, Namespace
from nvtui.backend.sim.reservations import Reservations
from nvtui.backend.sim.sanitize import ALLOWED_ADMIN as SANITIZE_ALLOWED
from nvtui.backend.sim.sanitize import Sanitize
from nvtui.backend.sim.specs import CSI_NVM, OLD_FACTORY, TEMPLATES, created_spec
from nvtui.backend.sim.state import (
    JOURNAL_FILE,
    SESSION_FILE,
    STATE_FILE,
    STATE_SCHEMA,
    Damaged,
    FolderLock,
    SessionLock,
    StateDamaged,
    as_bool,
    as_dict,
    as_int,
    as_list,
    as_number,
    is_temporary,
    need,
    planted,
    read_state,
)
from nvtui.backend.sim.zones import ZoneState
from nvtui.errors import DeviceError
from nvtui.locations import private_dir
from nvtui.nvme.command import Command
from nvtui.nvme.completion import SUCCESS, Status
from nvtui.safeio import write_atomic

NSID_ALL = 0xFFFF_FFFF
SELF_TEST_RESULTS = 20


@dataclass(frozen=True)
class Allocated:
    """One allocated namespace as the state keeps it (`namespace_set`): its Command Set, its size, whether
    it is attached, and `uid`, drawn when Namespace Management creates it (0: a factory namespace), so a
    process that reloads the state tells a namespace deleted and created again under one NSID from the old
    one."""

    csi: int
    size: int
    attached: bool
    uid: int = 0

    def to_json(self) -> dict[str, object]:
        return {"csi": self.csi, "size": self.size, "attached": self.attached, "uid": self.uid}


FACTORY_SET = {nsid: Allocated(spec.csi, spec.size_bytes, True) for nsid, spec in NAMESPACE_SPECS.items()}
OLD_FACTORY_SET = {nsid: FACTORY_SET[nsid] for nsid in OLD_FACTORY}  # a state of schema 4 and older

COUNTERS = (
    "data_read_bytes", "data_written_bytes", "host_read_commands", "host_write_commands", "busy_ns",
    "power_cycles", "power_on_seconds", "unsafe_shutdowns", "media_errors", "error_count",
)  # fmt: skip

# The entries the controller keeps, field -> width in bits (Error Information, NVMe Base 2.0 Fig. 205;
# Self-test Result, Fig. 209): a state file's values are checked against them before any log is built.
# Names are the layouts' (nvtui/structures/logs.yaml), so an entry is encoded as kept.
ERROR_ENTRY_BITS = {
    "error_count": 64, "sqid": 16, "cid": 16, "status_field": 16, "parm_error_location": 16, "lba": 64,
    "nsid": 32,
}  # fmt: skip
SELF_TEST_RESULT_BITS = {"operation": 4, "result": 4, "vdi": 8, "power_on_hours": 64, "nsid": 32}


def _current_names(entry: dict[str, object]) -> dict[str, object]:
    """An entry a state file written before the layouts keeps under its old names (cmdid; status holding
    the operation in bits 7:4 and the result in 3:0; valid), under today's."""
    out = dict(entry)
    if "cmdid" in out and "cid" not in out:
        out["cid"] = out.pop("cmdid")
    if "valid" in out and "vdi" not in out:
        out["vdi"] = out.pop("valid")
    status = out.get("status")
    if isinstance(status, int) and not isinstance(status, bool) and "result" not in out:
        del out["status"]
        out["operation"], out["result"] = status >> 4 & 0xF, status & 0xF
    return out


T = TypeVar("T")


@dataclass
class Outcome:
    """What a handler produced: status, CQE result, data for the host, and the latency class it costs."""

    status: Status = SUCCESS
    result: int = 0
    data: bytes | None = None
    metadata: bytes | None = None
    kind: str = "admin"
    nbytes: int = 0
    delay_ns: int = 0  # the modelled service time (drawn while the command held the lock)


@dataclass
class SelfTest:
    code: int  # 1 short, 2 extended
    nsid: int
    started: float  # controller clock: wall-clock seconds, so another process sees the progress too
    duration: float


_ENCODER = json.JSONEncoder(separators=(",", ":"))


def _feature_keys(nsids: list[int]) -> dict[str, F.Feature]:
    """Every key a feature value may be stored under, and its feature."""
    keys: dict[str, F.Feature] = {}
    for fid, feature in F.FEATURES.items():
        if fid in (F.FID_RESERVATION_PERSISTENCE, F.FID_HOST_IDENTIFIER):  # kept apart: PTPL with the
            continue  # namespaces' reservations, the host identifier by the controller
        if fid == F.FID_TEMPERATURE_THRESHOLD:
            for sensor in (0, 1, 2):
                for kind in (0, 1):
                    keys[F.key(fid, sensor=sensor, threshold_type=kind)] = feature
        elif feature.ns_specific:
            for nsid in nsids:
                keys[F.key(fid, nsid)] = feature
        else:
            keys[F.key(fid)] = feature
    return keys


class SimController:
    """One simulated NVMe controller with its namespaces, shared by the processes that open it."""

    def __init__(
        self, directory: Path, *, lock_timeout: float = 2.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.directory = private_dir(Path(directory), what="simulator state folder")
        self.name = identity.CONTROLLER_NAME
        self.clock = clock
        self.lock_timeout = lock_timeout
        self.state_path = self.directory / STATE_FILE
        self.journal_path = self.directory / JOURNAL_FILE
        self.notices: list[str] = []  # one-line notices for the user, shown once
        self.refs = 0
        self._rng = random.Random()
        self._cid = 0
        self._feature_keys = _feature_keys(list(range(1, identity.NN + 1)))  # any NSID may be allocated
        self._stale = False
        self._needs_repair = False
        self._checkpoint_after = CHECKPOINT_BYTES
        self._new_errors: list[dict[str, int]] = []
        self._new_results: list[dict[str, int]] = []
        self._events: list[list[int]] = []
        self.checkpoint_due = False  # set by a command whose change discovery (which reads the state) shows
        # AER plumbing (per process): outstanding requests, events that found none waiting, masked types.
        self.aer_waiters: list[asyncio.Future[int]] = []
        self.pending_events: list[int] = []
        self.masked_logs: set[int] = set()
        self.journal: Journal | None = None
        self.namespaces: dict[int, Namespace] = {}  # the allocated namespaces (attached or not)
        self._ns_list: list[Namespace] = []
        self.doomed: list[str] = []  # files of the namespaces a command deleted: removed once journaled
        self.lock = FolderLock(self.directory)
        self.session: SessionLock | None = None
        try:
            self.lock.acquire(lock_timeout)
            try:
                self.session = SessionLock(self.directory / SESSION_FILE)
                self._set_namespaces(FACTORY_SET)
                first = self.session.join()
                self._open(first)
            finally:
                self.lock.release()
        except BaseException:
            self._close_files()
            raise

    # --- opening: the checkpoint, the journal, the power-on ----------------------------------------------

    def _open(self, first: bool) -> None:
        self._remove_stale_temporaries()
        try:
            state = read_state(self.state_path, self.lock.fd)
        except Damaged as exc:
            raise StateDamaged(self.state_path, str(exc)) from None
        clean = True
        if state is None:
            self._create()
        else:
            self._load(state)
            clean = bool(state["clean_shutdown"])
        if first:
            self._power_on(clean)
        self._remember()

    def _remove_stale_temporaries(self) -> None:
        """A checkpoint's temporary file left by a crash (the checkpoint it belonged to never took effect:
        the state and journal beside it are whole). Only files of our own names; a symlink is unlinked,
        never followed."""
        for name in os.listdir(self.lock.fd):
            if is_temporary(name):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name, dir_fd=self.lock.fd)
                self.notices.append(
                    f"removed {self.directory / name}, left by a checkpoint a crash interrupted "
                    "(the state beside it is whole)"
                )

    def _remove_files(self, names: list[str]) -> None:
        """Remove files of namespaces that no longer exist (deleted; or left by a crash after the delete was
        journaled). In the locked folder, by name: a symlink there is removed, never followed."""
        for name in names:
            try:
                os.unlink(name, dir_fd=self.lock.fd)
            except FileNotFoundError:
                pass
            except OSError as exc:
                self.notices.append(f"cannot remove {self.directory / name} ({exc.strerror})")

    def _exists(self, name: str) -> bool:
        """Whether the folder has a file of that name; a symlink there is refused (never followed)."""
        try:
            st = os.stat(name, dir_fd=self.lock.fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if stat.S_ISLNK(st.st_mode):
            raise planted(self.directory / name)
        return True

    def _create(self) -> None:
        """A new controller: only where nothing of an old one is left (its blocks would be lost)."""
        leftovers = [f"{ns.name}{suffix}" for ns in self.namespaces.values()
                     for suffix, f in ((".img", ns.data), (".meta", ns.meta)) if f.size]  # fmt: skip
        if self._exists(JOURNAL_FILE) and not self._journal_is_empty():
            leftovers.append(JOURNAL_FILE)
        if leftovers:
            raise StateDamaged(
                self.state_path, f"it is missing, while {', '.join(leftovers)} beside it hold a drive's data"
            )
        self.serial = f"NVTSIM{secrets.token_hex(4).upper()}"
        self._defaults()
        self.generation = 0

    def _journal_is_empty(self) -> bool:
        """A journal with no record: what a crash while a new drive was first saved leaves."""
        try:
            journal = Journal(self.journal_path, self.lock.fd)
        except Damaged:
            return False
        try:
            return not journal.read_new().records
        except Damaged:
            return False
        finally:
            journal.close()

    def _defaults(self) -> None:
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.features = FeatureStore()
        self.error_log: list[dict[str, int]] = []
        self.self_test_results: list[dict[str, int]] = []
        self.self_test: SelfTest | None = None
        self.changed_namespaces: list[int] = []
        self.timestamp: tuple[int, float] | None = None  # Timestamp feature: (ms set by the host, when)
        self.firmware = Firmware()
        self.sanitize = Sanitize()
        self.directives = Directives(self.stream_nsids())
        self.fdp = Fdp()
        self.reservations = {nsid: Reservations() for nsid in self.namespaces}
        self.host_id = HostIdentifier()  # Host Identifier (81h): a 64-bit 0h until the host sets one
        self.telemetry_generation = 0  # the last host-initiated telemetry capture's generation (log 07h)
        self.powered_on = self.clock()

    def _load(self, state: dict[str, object]) -> None:
        """The checkpoint, then the journal's records after it (`sync`'s full reload, and opening)."""
        try:
            self._restore(state)
        except Damaged as exc:
            raise StateDamaged(self.state_path, str(exc)) from None
        if self.journal is not None:
            self.journal.close()
            self.journal = None
        if state["schema"] == 1:  # before journals: the first checkpoint starts one
            if self._exists(JOURNAL_FILE):
                raise StateDamaged(self.journal_path, "it sits beside a state file older than journals")
            return
        if not self._exists(JOURNAL_FILE):  # a new drive writes its journal before its first state
            if not state["clean_shutdown"]:
                raise StateDamaged(
                    self.journal_path,
                    "it is missing, and with it what was acknowledged since the last checkpoint",
                )
            self.journal = self._new_journal(self.generation)
            self.notices.append(
                f"made a new {self.journal_path} (the drive was shut down cleanly: nothing is lost)"
            )
            return
        try:
            journal = Journal(self.journal_path, self.lock.fd)
        except Damaged as exc:
            raise StateDamaged(self.journal_path, str(exc)) from None
        if journal.generation == self.generation - 1:  # a crash between the checkpoint and its journal
            journal.close()
            self.journal = self._new_journal(self.generation)
            self.notices.append(f"finished a checkpoint of {self.state_path} that a crash interrupted")
            return
        if journal.generation != self.generation:
            journal.close()
            raise StateDamaged(
                self.journal_path,
                f"its generation {journal.generation} does not follow the state's {self.generation}",
            )
        self.journal = journal
        self._replay(live=False)

    def _new_journal(self, generation: int) -> Journal:
        self.lock.check_in_place()
        try:
            return Journal.create(self.journal_path, generation, self.lock.fd)
        except OSError as exc:
            raise DeviceError(
                f"cannot write the simulator's journal {self.journal_path}: {exc.strerror}"
            ) from None

    def _power_on(self, clean: bool) -> None:
        """The first process opens the controller: a power cycle. A crash before it also repairs the blocks
        (what a cut-off command left where the state says nothing is)."""
        if self.self_test is not None:
            self._finish_self_test(result=0x2)  # aborted by a Controller Level Reset (the power cycle)
        self.counters["power_cycles"] += 1
        if not clean:
            self.counters["unsafe_shutdowns"] += 1
        if not clean or self._needs_repair:
            for ns in self.namespaces.values():
                ns.repair()
            self._needs_repair = False
        self._remove_files([f"{self.name}n{nsid}{suffix}" for nsid in range(1, identity.NN + 1)
                            if nsid not in self.namespaces for suffix in (".img", ".meta")])  # fmt: skip
        self.features.power_on()
        self.timestamp = None
        downloaded = sum(len(piece) for piece in self.firmware.pieces.values())
        if downloaded:
            self.notices.append(
                f"the power cycle discarded {downloaded:,} bytes of a firmware image downloaded but not "
                "committed (a reset does; download and commit in one session, e.g. one `nvtui run` script)"
            )
        self.firmware.reset()  # a download is discarded; the image committed for the reset runs
        for ns in self.namespaces.values():
            if ns.zones is not None:
                ns.zones.power_cycle()
        self.directives.power_cycle()  # open streams close; Streams enabled and allocations stay
        cleared = [self.namespaces[nsid].name for nsid, res in self.reservations.items() if res.power_on()]
        if cleared:  # without PTPL, registrants and reservations are lost
            self.notices.append(
                f"the power cycle cleared the reservation registrations of {', '.join(cleared)} (Persist "
                "Through Power Loss is off: register with cptpl=persist, or run the steps in one session)"
            )
        self.powered_on = self.clock()
        self._checkpoint(clean=False)  # "not shut down cleanly yet", until the last process closes it

    # --- the state file ------------------------------------------------------------------------------------

    def _restore(self, state: dict[str, object]) -> None:
        """Every value of a checkpoint, checked: `Damaged` names the first that is wrong."""
        schema = state["schema"]
        controller = need(state, "controller", "")
        if controller != self.name:
            raise Damaged(f"controller is {str(controller)[:20]!r}, not {self.name!r}")
        serial = need(state, "serial", "")
        if (
            not isinstance(serial, str)
            or not serial.isascii()
            or not serial.isprintable()
            or not 0 < len(serial) <= 20
        ):
            raise Damaged("serial is not 1 to 20 printable ASCII characters")
        counters = as_dict(need(state, "counters", ""), "counters")
        unknown = sorted(set(counters) - set(COUNTERS))
        if unknown:
            raise Damaged(f"counters.{unknown[0][:30]} is not a counter this controller keeps")
        values = {
            k: as_int(need(counters, k, "counters."), f"counters.{k}", 0, (1 << 128) - 1) for k in COUNTERS
        }
        as_bool(need(state, "clean_shutdown", ""), "clean_shutdown")
        saved = self._features(need(state, "saved_features", ""), "saved_features", saved=True)
        errors = as_list(need(state, "error_log", ""), "error_log", identity.ELPE + 1)
        error_log = [self._entry(e, f"error_log[{i}]", ERROR_ENTRY_BITS) for i, e in enumerate(errors)]
        results = as_list(need(state, "self_test_log", ""), "self_test_log", SELF_TEST_RESULTS)
        self_test_log = [
            self._entry(r, f"self_test_log[{i}]", SELF_TEST_RESULT_BITS) for i, r in enumerate(results)
        ]
        running = self._self_test(need(state, "self_test_running", ""), "self_test_running", schema == 1)
        changed = self._nsids(need(state, "changed_namespaces", ""), "changed_namespaces")
        allocated = (  # before Namespace Management (schema 4 and older): namespaces 1 and 2, attached
            self._namespace_set(need(state, "namespace_set", ""), "namespace_set")
            if schema not in (1, 2, 3, 4) else OLD_FACTORY_SET
        )  # fmt: skip
        namespaces = as_dict(need(state, "namespaces", ""), "namespaces")
        extra = sorted(set(namespaces) - {str(n) for n in allocated})
        if extra:
            raise Damaged(f"namespaces.{extra[0][:20]} is not a namespace of this controller")
        for nsid in allocated:
            need(namespaces, str(nsid), "namespaces.")  # before a file of a namespace is opened (made)
        self._set_namespaces(allocated)
        for nsid, ns in self.namespaces.items():
            ns.load(need(namespaces, str(nsid), "namespaces."), f"namespaces.{nsid}")
        firmware, sanitize, directives = Firmware(), Sanitize(), Directives(self.stream_nsids())
        if schema not in (1, 2):  # before firmware and sanitize: the factory image, never sanitized
            firmware.restore(need(state, "firmware", ""), "firmware")
            sanitize = Sanitize.restore(need(state, "sanitize", ""), "sanitize")
        fdp = Fdp()  # before FDP state (schemas 1 to 3): the factory's, nothing written through it yet
        if schema not in (1, 2, 3):  # before directives and FDP: Streams never enabled
            directives = Directives.restore(need(state, "directives", ""), "directives", self.stream_nsids())
            fdp = Fdp.restore(need(state, "fdp", ""), "fdp")
        host_id, telemetry = HostIdentifier(), 0  # before them (schema 6 and older): never set, no capture
        if schema not in (1, 2, 3, 4, 5, 6):
            host_id = HostIdentifier.restore(need(state, "host_identifier", ""), "host_identifier")
            telemetry = as_int(need(state, "telemetry_generation", ""), "telemetry_generation", 0, 0xFF)
        reservations = (  # before reservations (schema 3 and older): none, the factory state
            self._reservations(need(state, "reservations", ""), "reservations", full=True, host=host_id)
            if schema not in (1, 2, 3) else {nsid: Reservations() for nsid in self.namespaces}
        )  # fmt: skip
        self.serial = serial
        self._defaults()
        self.reservations = reservations
        self.host_id, self.telemetry_generation = host_id, telemetry
        self.counters = values
        self.features.saved = saved
        self.features.power_on()
        self.error_log, self.self_test_results, self.self_test = error_log, self_test_log, running
        self.changed_namespaces = changed
        self.firmware, self.sanitize, self.directives, self.fdp = firmware, sanitize, directives, fdp
        if schema == 1:
            self.generation = 0
            self._needs_repair = False
            return
        self.generation = as_int(need(state, "generation", ""), "generation", 1)
        self.powered_on = as_number(need(state, "powered_on", ""), "powered_on")
        self.features.current = self._features(
            need(state, "current_features", ""), "current_features", saved=False
        )
        self.timestamp = self._timestamp(need(state, "timestamp", ""), "timestamp")
        self._needs_repair = as_bool(need(state, "repair", ""), "repair")

    def _reservations(
        self, value: object, where: str, *, full: bool, host: HostIdentifier
    ) -> dict[int, Reservations]:
        """Each namespace's reservation state (`full`: every namespace's, as a checkpoint has them), its
        registrant known by `host`, the host identifier in force."""
        state = as_dict(value, where)
        extra = sorted(set(state) - {str(n) for n in self.namespaces})
        if extra:
            raise Damaged(f"{where}.{extra[0][:20]} is not a namespace of this controller")
        out: dict[int, Reservations] = {}
        for nsid in self.namespaces:
            if full or str(nsid) in state:
                here = f"{where}.{nsid}"
                out[nsid] = Reservations.restore(need(state, str(nsid), f"{where}."), here, host.value)
        return out

    def _namespace_set(self, value: object, where: str) -> dict[int, Allocated]:
        """The allocated namespaces a state or a record names, checked (`Damaged` naming what is wrong)."""
        out: dict[int, Allocated] = {}
        for key, raw in as_dict(value, where).items():
            if not key.isdigit() or str(int(key)) != key or not 1 <= int(key) <= identity.NN:
                raise Damaged(
                    f"{where}.{key[:20]} is not a namespace identifier of this controller (1..{identity.NN})"
                )
            here = f"{where}.{key}"
            entry = as_dict(raw, here)
            unknown = sorted(set(entry) - {"csi", "size", "attached", "uid", "format"})
            if unknown:
                raise Damaged(f"{here}.{unknown[0][:20]} is not a field of an allocated namespace")
            csi = as_int(need(entry, "csi", f"{here}."), f"{here}.csi", 0, 0xFF)
            template = TEMPLATES.get(csi)
            if template is None:
                raise Damaged(
                    f"{here}.csi = {csi} is not a command set of this controller (0 NVM, 1 KV, 2 zoned)"
                )
            size = as_int(need(entry, "size", f"{here}."), f"{here}.size", 1, identity.TOTAL_CAPACITY)
            unit = template.zone_size_bytes if template.zoned else min(f.lba_size for f in template.formats)
            if size % unit:
                what = "zones" if template.zoned else "blocks"
                raise Damaged(f"{here}.size = {size} is not a whole number of {what}")
            attached = as_bool(need(entry, "attached", f"{here}."), f"{here}.attached")
            uid = as_int(need(entry, "uid", f"{here}."), f"{here}.uid", 0, 0xFFFF_FFFF)
            out[int(key)] = Allocated(csi, size, attached, uid)
        total = sum(a.size for a in out.values())
        if total > identity.TOTAL_CAPACITY:
            raise Damaged(
                f"{where}: the namespaces take {total:,} bytes, more than the capacity "
                f"({identity.TOTAL_CAPACITY:,})"
            )
        return dict(sorted(out.items()))

    def namespace_set(self) -> dict[int, Allocated]:
        return {nsid: Allocated(ns.spec.csi, ns.spec.size_bytes, ns.attached, ns.uid)
                for nsid, ns in self.namespaces.items()}  # fmt: skip

    def _set_namespaces(self, allocated: dict[int, Allocated]) -> list[int]:
        """Make the namespaces those `allocated` names: a namespace no longer there is closed (its files are
        the caller's to remove), a new one opened (in its first format). Returns the NSIDs opened; the state
        kept per namespace (reservations, streams, features) follows them (`_follow_namespaces`)."""
        opened: list[int] = []
        for nsid, ns in list(self.namespaces.items()):
            a = allocated.get(nsid)
            if a is None or (a.csi, a.size, a.uid) != (ns.spec.csi, ns.spec.size_bytes, ns.uid):
                ns.close()
                del self.namespaces[nsid]
        for nsid, a in sorted(allocated.items()):
            kept = self.namespaces.get(nsid)
            if kept is None:
                kept = Namespace(created_spec(nsid, a.csi, a.size), self.directory, f"{self.name}n{nsid}")
                kept.uid = a.uid
                self.namespaces[nsid] = kept
                opened.append(nsid)
            kept.attached = a.attached
        self.namespaces = dict(sorted(self.namespaces.items()))
        self._ns_list = list(self.namespaces.values())
        return opened

    def _follow_namespaces(self) -> None:
        """Reservations, streams and namespace features follow the allocated namespaces: a new namespace
        starts with none, a deleted one's go with it."""
        for nsid in list(self.reservations):
            if nsid not in self.namespaces:
                del self.reservations[nsid]
        for nsid in self.namespaces:
            self.reservations.setdefault(nsid, Reservations())
        streams = self.stream_nsids()
        if tuple(self.directives.streams) != streams:
            old = self.directives.streams
            fresh = Directives(streams).streams
            self.directives.streams = {n: old.get(n, fresh[n]) for n in streams}
            self.directives.dirty = True
        gone = {F.key(fid, nsid) for nsid in range(1, identity.NN + 1) if nsid not in self.namespaces
                for fid, feature in F.FEATURES.items() if feature.ns_specific}  # fmt: skip
        for store in (self.features.saved, self.features.current):
            for key in gone & set(store):
                del store[key]

    def stream_nsids(self) -> tuple[int, ...]:
        """The namespaces with Streams: the NVM ones (a zoned or Key Value namespace has none)."""
        return tuple(nsid for nsid, ns in self.namespaces.items() if ns.spec.csi == CSI_NVM)

    def active(self, nsid: int) -> Namespace | None:
        """The namespace `nsid` when it is allocated and attached (active), else None."""
        ns = self.namespaces.get(nsid)
        return ns if ns is not None and ns.attached else None

    def _features(self, value: object, where: str, *, saved: bool) -> dict[str, int]:
        out: dict[str, int] = {}
        for key, raw in as_dict(value, where).items():
            feature = self._feature_keys.get(key)
            if feature is None:
                raise Damaged(f"{where}: {key[:30]!r} is not a feature value this controller keeps")
            if saved and not feature.saveable:
                raise Damaged(f"{where}.{key}: {feature.name} cannot be saved")
            number = as_int(raw, f"{where}.{key}", 0, 0xFFFF_FFFF)
            if number & ~feature.mask:
                raise Damaged(f"{where}.{key} = {number:#x} sets bits {feature.name} does not have")
            out[key] = number
        return out

    @staticmethod
    def _entry(value: object, where: str, bits: dict[str, int]) -> dict[str, int]:
        entry = _current_names(as_dict(value, where))
        if set(entry) != set(bits):
            odd = sorted(set(entry) ^ set(bits))[0]
            raise Damaged(f"{where}.{odd[:30]} is {'missing' if odd in bits else 'not a field of the entry'}")
        return {k: as_int(entry[k], f"{where}.{k}", 0, (1 << width) - 1) for k, width in bits.items()}

    def _self_test(self, value: object, where: str, old: bool) -> SelfTest | None:
        if value is None:
            return None
        test = as_dict(value, where)
        code = as_int(need(test, "code", f"{where}."), f"{where}.code", 1, 2)
        nsid = as_int(need(test, "nsid", f"{where}."), f"{where}.nsid", 0, NSID_ALL)
        if old:  # schema 1 kept no clock: the power cycle aborts it anyway
            return SelfTest(code, nsid, 0.0, 0.0)
        started = as_number(need(test, "started", f"{where}."), f"{where}.started")
        return SelfTest(
            code, nsid, started, as_number(need(test, "duration", f"{where}."), f"{where}.duration")
        )

    def _nsids(self, value: object, where: str) -> list[int]:
        nsids = [
            as_int(n, f"{where}[{i}]", 1, identity.NN)
            for i, n in enumerate(as_list(value, where, identity.NN))
        ]
        if len(set(nsids)) != len(nsids):
            raise Damaged(f"{where} names a namespace twice")
        return nsids

    @staticmethod
    def _timestamp(value: object, where: str) -> tuple[int, float] | None:
        if value is None:
            return None
        cells = as_list(value, where)
        if len(cells) != 2:
            raise Damaged(f"{where} is not [milliseconds, when set]")
        return as_int(cells[0], f"{where}[0]", 0, (1 << 48) - 1), as_number(cells[1], f"{where}[1]")

    def to_json(self, *, clean: bool, generation: int) -> dict[str, object]:
        test = self.self_test
        return {
            "schema": STATE_SCHEMA,
            "controller": self.name,
            "serial": self.serial,
            "generation": generation,
            "clean_shutdown": clean,
            "repair": self._needs_repair,
            "powered_on": self.powered_on,
            "counters": dict(self.counters),
            "saved_features": dict(self.features.saved),
            "current_features": dict(self.features.current),
            "timestamp": list(self.timestamp) if self.timestamp is not None else None,
            "error_log": self.error_log,
            "self_test_log": self.self_test_results,
            "self_test_running": None
            if test is None
            else {"code": test.code, "nsid": test.nsid, "started": test.started, "duration": test.duration},
            "changed_namespaces": self.changed_namespaces,
            "firmware": self.firmware.to_json(),
            "sanitize": self.sanitize.to_json(),
            "directives": self.directives.to_json(),
            "fdp": self.fdp.to_json(),
            "reservations": {str(nsid): res.to_json() for nsid, res in self.reservations.items()},
            "host_identifier": self.host_id.to_json(),
            "telemetry_generation": self.telemetry_generation,
            "namespace_set": {str(nsid): a.to_json() for nsid, a in self.namespace_set().items()},
            "namespaces": {str(nsid): ns.to_json() for nsid, ns in self.namespaces.items()},
        }

    def _checkpoint(self, *, clean: bool = False) -> None:
        """Replace the state file with the whole state and start an empty journal of the next generation.
        The state file goes first: a crash in between leaves a journal one generation behind, whose records
        the new state already holds (`_load` then finishes the checkpoint)."""
        self.lock.check_in_place()
        now = self.clock()
        self.counters["power_on_seconds"] = self.power_on_seconds
        self.powered_on = now
        generation = self.generation + 1
        payload = json.dumps(self.to_json(clean=clean, generation=generation), separators=(",", ":"))
        if generation == 1:  # a new drive: its journal first, so a state without one is always damage
            self.journal = Journal.create(self.journal_path, generation, self.lock.fd)
            write_atomic(self.state_path, payload.encode())
            self.generation = generation
            return
        write_atomic(self.state_path, payload.encode())
        self.generation = generation
        old, self.journal = self.journal, None  # no record may follow the new state in the old journal
        if old is not None:
            old.close()
        self.journal = Journal.create(self.journal_path, generation, self.lock.fd)
        self._checkpoint_after = CHECKPOINT_BYTES
        self._seen_counters = self.counters.copy()  # power-on time folded in: in the state, not a change

    def save(self) -> None:
        """Called by handlers where a change must be durable when the command completes. Every change is:
        the command's journal record is written before it completes (and a format checkpoints at once)."""

    # --- keeping up with other processes -------------------------------------------------------------------

    def sync(self) -> None:
        """Bring this process's view up to date (the folder lock is held): the records other processes
        appended since, or the whole state after another process's checkpoint."""
        try:
            st = os.stat(JOURNAL_FILE, dir_fd=self.lock.fd, follow_symlinks=False)
        except FileNotFoundError:
            st = None
        journal = self.journal
        if self._stale or journal is None or st is None or st.st_ino != journal.ino:
            if journal is not None and not self._stale:
                self._replay(live=True)  # the rest of the journal another process checkpointed: its events
            self._reload()
        elif st.st_size != journal.size:
            self._replay(live=True)

    def _reload(self) -> None:
        try:
            state = read_state(self.state_path, self.lock.fd)
        except Damaged as exc:
            raise StateDamaged(self.state_path, str(exc)) from None
        if state is None:
            raise DeviceError(
                f"the simulator's state {self.state_path} disappeared while it was open (reset or moved); "
                "open the device again"
            )
        self._stale = True  # until the load completes
        self._load(state)
        self._stale = False
        self._remember()

    def _replay(self, *, live: bool) -> None:
        """Apply the journal's new records. `live`: they come from a process running beside this one, so
        the events they raise are reported here too."""
        assert self.journal is not None
        start = self.journal.size
        try:
            replay = self.journal.read_new()
            for n, record in enumerate(replay.records):
                try:
                    self._apply(record, "", live)
                except (Damaged, TypeError, ValueError, KeyError, IndexError, OverflowError) as exc:
                    raise Damaged(f"record {n + 1} after byte {start}: {str(exc).lstrip('.')}") from None
        except Damaged as exc:
            self._stale = True
            raise StateDamaged(self.journal_path, str(exc)[:200]) from None
        if replay.torn:
            self.notices.append(
                f"dropped the last record of {self.journal_path}, cut off by a crash while it was written "
                "(its command was never acknowledged)"
            )
        if replay.records:
            self._remember()

    def _apply(self, rec: dict[str, object], where: str, live: bool) -> None:
        if "nsm" in rec:  # Namespace Management or Attachment: first, so what follows finds the namespaces
            nsm = as_dict(rec["nsm"], f"{where}.nsm")
            for nsid in self._set_namespaces(self._namespace_set(nsm, f"{where}.nsm")):
                here = f"{where}.nsm.{nsid}"
                created = self.namespaces[nsid]
                index = need(as_dict(nsm[str(nsid)], here), "format", f"{here}.")
                created.set_format(created.format_index_of(index, f"{here}.format"))
            self._follow_namespaces()
        if "c" in rec:
            for key, value in as_dict(rec["c"], f"{where}.c").items():
                if key not in self.counters:
                    raise Damaged(f"{where}.c.{key[:30]} is not a counter")
                self.counters[key] = as_int(value, f"{where}.c.{key}", 0, (1 << 128) - 1)
        if "fs" in rec:
            self.features.saved = self._features(rec["fs"], f"{where}.fs", saved=True)
        if "fc" in rec:
            self.features.current = self._features(rec["fc"], f"{where}.fc", saved=False)
        if "ts" in rec:
            self.timestamp = self._timestamp(rec["ts"], f"{where}.ts")
        for i, entry in enumerate(as_list(rec.get("el", []), f"{where}.el")):
            self.error_log.insert(0, self._entry(entry, f"{where}.el[{i}]", ERROR_ENTRY_BITS))
            del self.error_log[identity.ELPE + 1 :]
        if "st" in rec:
            self.self_test = self._self_test(rec["st"], f"{where}.st", False)
        for i, entry in enumerate(as_list(rec.get("sr", []), f"{where}.sr")):
            self.self_test_results.insert(0, self._entry(entry, f"{where}.sr[{i}]", SELF_TEST_RESULT_BITS))
            del self.self_test_results[SELF_TEST_RESULTS:]
        if "cn" in rec:
            self.changed_namespaces = self._nsids(rec["cn"], f"{where}.cn")
        if rec.get("fwx"):  # the download was discarded (committed)
            self.firmware.pieces = {}
        if "fwp" in rec:
            self.firmware.add_pieces(rec["fwp"], f"{where}.fwp")
        if "fw" in rec:
            self.firmware.restore_summary(rec["fw"], f"{where}.fw")
        if "sn" in rec:
            self.sanitize = Sanitize.restore(rec["sn"], f"{where}.sn")
        if "dr" in rec:
            self.directives = Directives.restore(rec["dr"], f"{where}.dr", self.stream_nsids())
        if "fdp" in rec:
            self.fdp.apply_core(rec["fdp"], f"{where}.fdp")
        if "fdpe" in rec:
            self.fdp.add_events(rec["fdpe"], f"{where}.fdpe")
        if "hid" in rec:  # Set Features 81h: refused while the host is a registrant
            host_id = HostIdentifier.restore(rec["hid"], f"{where}.hid")
            if host_id != self.host_id and any(res.keys for res in self.reservations.values()):
                raise Damaged(f"{where}.hid changes the host identifier of a registrant")
            self.host_id = host_id
        if "tg" in rec:
            self.telemetry_generation = as_int(rec["tg"], f"{where}.tg", 0, 0xFF)
        if "rv" in rec:
            rv = self._reservations(rec["rv"], f"{where}.rv", full=False, host=self.host_id)
            self.reservations.update(rv)
        for key, nsrec in as_dict(rec.get("ns", {}), f"{where}.ns").items():
            ns = self.namespaces.get(int(key)) if key.isdigit() else None
            if ns is None:
                raise Damaged(f"{where}.ns.{key[:20]} is not a namespace")
            ns.apply(as_dict(nsrec, f"{where}.ns.{key}"), f"{where}.ns.{key}")
        for i, event in enumerate(as_list(rec.get("ev", []), f"{where}.ev")):
            cells = [as_int(v, f"{where}.ev[{i}]", 0, 0xFF) for v in as_list(event, f"{where}.ev[{i}]")]
            if len(cells) != 4 or cells[3] > 31:
                raise Damaged(f"{where}.ev[{i}] is not an event")
            if live:
                self.raise_event(*cells, record=False)

    # --- one command: sync, execute, journal ------------------------------------------------------------

    def _remember(self) -> None:
        """The state as journaled so far (the last checkpoint and every record): what `_delta` compares the
        state after a command with. Taken after loading and replaying; kept up to date by `_delta`."""
        features = self.features
        self._seen_counters = self.counters.copy()
        self._seen_saved = features.saved.copy()
        self._seen_current = features.current.copy()
        self._seen_timestamp = self.timestamp
        self._seen_self_test = self.self_test
        self._seen_changed = list(self.changed_namespaces)
        self._seen_sanitize = copy.copy(self.sanitize)
        self._seen_set = self.namespace_set()
        self.firmware.dirty = False  # a power cycle's reset is in the checkpoint it took
        self._seen_host_id = self.host_id
        self._seen_telemetry = self.telemetry_generation
        for res in self.reservations.values():
            res.dirty = False
        for ns in self._ns_list:
            ns.remember()

    def _begin(self) -> None:
        """Start a command: nothing of the last one is pending."""
        if self._new_errors:
            self._new_errors = []
        if self._new_results:
            self._new_results = []
        if self._events:
            self._events = []
        self.doomed = []
        self.checkpoint_due = False
        self.directives.dirty = False
        self.firmware.begin()
        self.fdp.begin()
        for ns in self._ns_list:
            ns.begin()

    def _delta(self) -> dict[str, object]:
        """What the command changed, as a journal record (empty when nothing), and remember it as recorded."""
        rec: dict[str, object] = {}
        allocated = self.namespace_set()
        if allocated != self._seen_set:  # Namespace Management or Attachment: the whole set, with the formats
            self._seen_set = allocated
            rec["nsm"] = {
                str(nsid): {**a.to_json(), "format": self.namespaces[nsid].format_index}
                for nsid, a in allocated.items()
            }
        counters, seen = self.counters, self._seen_counters
        if counters != seen:
            changed = {k: v for k, v in counters.items() if seen[k] != v}
            seen.update(changed)
            rec["c"] = changed
        features = self.features
        if features.saved != self._seen_saved:
            rec["fs"] = self._seen_saved = features.saved.copy()
        if features.current != self._seen_current:
            rec["fc"] = self._seen_current = features.current.copy()
        if self.timestamp != self._seen_timestamp:
            self._seen_timestamp = self.timestamp
            rec["ts"] = list(self.timestamp) if self.timestamp is not None else None
        if self._new_errors:
            rec["el"] = self._new_errors
        if self.self_test is not self._seen_self_test:
            test = self._seen_self_test = self.self_test
            rec["st"] = None if test is None else {
                "code": test.code, "nsid": test.nsid, "started": test.started, "duration": test.duration
            }  # fmt: skip
        if self._new_results:
            rec["sr"] = self._new_results
        if self.changed_namespaces != self._seen_changed:
            rec["cn"] = self._seen_changed = list(self.changed_namespaces)
        firmware = self.firmware
        if firmware.cleared:
            rec["fwx"] = True
        if firmware.new_pieces:
            rec["fwp"] = firmware.encoded(firmware.new_pieces)
        if firmware.dirty:  # set by a commit or a reset that changed the slots or the activation
            firmware.dirty = False
            rec["fw"] = firmware.summary()
        if self.sanitize != self._seen_sanitize:
            self._seen_sanitize = copy.copy(self.sanitize)
            rec["sn"] = self.sanitize.to_json()
        if self.directives.dirty:  # set by the commands that change it: nothing to compare per command
            self.directives.dirty = False
            rec["dr"] = self.directives.to_json()
        fdp = self.fdp
        if fdp.dirty:  # set by the handlers: a command that does not touch FDP compares nothing here
            rec["fdp"] = fdp.core()
        if fdp.new_events:
            rec["fdpe"] = fdp.new_events
        if self.host_id != self._seen_host_id:
            self._seen_host_id = self.host_id
            rec["hid"] = self.host_id.to_json()
        if self.telemetry_generation != self._seen_telemetry:
            rec["tg"] = self._seen_telemetry = self.telemetry_generation
        rv_rec = None
        for nsid, res in self.reservations.items():
            if res.dirty:  # set only by the reservation commands, Set Features 83h and the power cycle
                res.dirty = False
                if rv_rec is None:
                    rv_rec = rec["rv"] = {}
                rv_rec[str(nsid)] = res.to_json()
        ns_rec = None
        for ns in self._ns_list:
            delta = ns.delta()
            if delta:
                if ns_rec is None:
                    ns_rec = rec["ns"] = {}
                ns_rec[ns.key] = delta
        if self._events:
            rec["ev"] = self._events
        return rec

    def _commit(self) -> None:
        """Journal what the command changed (one write), checkpoint when due, make it durable after a
        Flush, then discard the blocks the record says are discarded. OSError: the record was not written."""
        reformatted = synced = discards = False
        for ns in self._ns_list:
            if ns.reformatted or ns.synced or ns.pending:  # rarely: a format, a flush, a discard
                reformatted |= ns.reformatted
                synced |= ns.synced
                discards |= bool(ns.pending)
        if reformatted or self.checkpoint_due:
            self.lock.check_in_place()  # checkpointed by path at once: refused before it is recorded
        rec = self._delta()
        if rec:
            if self.journal is None:  # a checkpoint failed between the state and its journal
                self.lock.check_in_place()
                self.journal = Journal.create(self.journal_path, self.generation, self.lock.fd)
            self.journal.append(encode(rec, _ENCODER))
        journal = self.journal
        due = journal is not None and journal.size >= self._checkpoint_after
        if reformatted or self.checkpoint_due or due:
            try:
                self._checkpoint()  # a format at once, so discovery (which reads only the state) sees it
            except (OSError, DeviceError) as exc:  # the journal holds it all; try again a while later
                self._checkpoint_after = (self.journal.size if self.journal else 0) + CHECKPOINT_BYTES // 4
                why = exc.strerror if isinstance(exc, OSError) else str(exc)
                self.notices.append(f"cannot checkpoint {self.state_path} ({why}); the journal keeps it")
        if synced and self.journal is not None:
            self.journal.sync()  # Flush: the records are durable, as the blocks are
        if self.doomed:  # a Namespace Management delete, now journaled: its blocks go with its files
            doomed, self.doomed = self.doomed, []
            self._remove_files(doomed)
        if discards:
            for ns in self._ns_list:
                if ns.pending:
                    try:
                        ns.discard_pending()
                    except OSError as exc:
                        self._needs_repair = True
                        self.notices.append(
                            f"cannot discard blocks of {ns.name} ({exc.strerror}): they read back as they "
                            "were until the simulator next starts"
                        )

    def _abandon(self) -> None:
        """A command could not be journaled (or failed inside): forget what it did in memory (the state is
        read again from the files) and discard what it wrote where the blocks were unallocated."""
        written = [(ns, [c for c in ns.changes if c[2]]) for ns in self.namespaces.values()]
        for ns in self.namespaces.values():
            ns.pending = []
        self.doomed = []
        self._reload()
        for ns, changes in written:
            for slba, nlb, _ in changes:
                ns.forget_unrecorded(slba, nlb)

    def transact(self, work: Callable[[], T]) -> T:
        """Run `work` as one command (the caller holds the folder lock): up to date first, journaled after.
        Anything but a journaling failure propagates after the in-memory state is read again."""
        self.sync()
        self._begin()
        try:
            result = work()
            self._commit()
        except BaseException:
            self._abandon()
            raise
        return result

    def execute(self, cmd: Command, latency: LatencyModel | None = None) -> Outcome:
        """Run one command (AER excepted: see the backend) and complete it, logging an error status. The
        caller holds the folder lock. When the command's record cannot be written, the command fails (Write
        Fault for I/O, Internal Error for admin) and changes nothing."""
        self.sync()
        self._begin()
        try:
            outcome = self._run(cmd)
            if latency is not None and latency.enabled:
                outcome.delay_ns = latency.draw_ns(outcome.kind, outcome.nbytes)
                self.counters["busy_ns"] += outcome.delay_ns
        except BaseException:
            self._abandon()
            raise
        try:
            self._commit()
        except DeviceError:
            self._abandon()
            raise
        except OSError:
            self._abandon()
            failure = (
                CommandFailed(SCT_GENERIC, SC_INTERNAL_ERROR, dnr=False)
                if cmd.admin
                else CommandFailed(SCT_MEDIA, SC_WRITE_FAULT, dnr=False)
            )  # the state could not be recorded: the command did not take effect
            self._begin()
            self.log_error(cmd, failure)
            try:
                self._commit()
            except OSError:
                self._abandon()  # not even the error log entry can be recorded
            return Outcome(status=failure.status, kind=outcome.kind, delay_ns=outcome.delay_ns)
        return outcome

    def _run(self, cmd: Command) -> Outcome:
        from nvtui.backend.sim import admin, io

        self.poll_self_test()
        self.poll_sanitize()
        try:
            if self.sanitize.running and not (cmd.admin and cmd.opcode in SANITIZE_ALLOWED):
                raise CommandFailed(SCT_GENERIC, SC_SANITIZE_IN_PROGRESS, dnr=False)
            if cmd.admin:
                handler = admin.HANDLERS.get(cmd.opcode)
                if handler is None:
                    raise invalid_opcode()
                return handler.run(self, cmd)
            return io.execute(self, cmd)
        except CommandFailed as failure:
            self.log_error(cmd, failure)
            return Outcome(status=failure.status, kind="admin" if cmd.admin else "other")

    def poll(self) -> None:
        """Catch up with other processes if the lock is free right now (an idle process waiting for an
        event)."""
        if self.lock.try_acquire():
            try:
                self.sync()
            finally:
                self.lock.release()

    # --- shutting down -------------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """This process closes the controller: outstanding AERs are aborted; the last process to close it
        flushes and checkpoints it as cleanly shut down. What was acknowledged is in the journal already,
        so a failure here loses nothing (the next start replays it and counts an unsafe shutdown)."""
        for fut in self.aer_waiters:
            if not fut.done():
                fut.set_result(-1)  # completed as Command Aborted due to SQ Deletion
        self.aer_waiters.clear()
        try:
            self.lock.acquire(self.lock_timeout)
            try:
                self.sync()
                if self.session is not None and self.session.alone():
                    for ns in self.namespaces.values():
                        ns.sync()
                    self._checkpoint(clean=True)
            finally:
                self.lock.release()
        except (DeviceError, OSError):
            pass
        finally:
            self._close_files()

    def _close_files(self) -> None:
        for ns in self.namespaces.values():
            ns.close()
        if self.journal is not None:
            self.journal.close()
            self.journal = None
        if self.session is not None:
            self.session.close()
            self.session = None
        self.lock.close()

    # --- clocks and counters -----------------------------------------------------------------------------

    @property
    def power_on_seconds(self) -> int:
        return self.counters["power_on_seconds"] + max(0, int(self.clock() - self.powered_on))

    @property
    def power_on_hours(self) -> int:
        return self.power_on_seconds // 3600

    def temperature(self) -> int:
        """Composite temperature in Kelvin: about 310 K, a degree or so of jitter."""
        return 310 + round(self._rng.gauss(0.0, 0.7))

    def next_cid(self) -> int:
        self._cid = (self._cid + 1) & 0xFFFF
        return self._cid

    # --- dispatch helpers ----------------------------------------------------------------------------------

    def namespace(self, nsid: int) -> Namespace:
        """The active namespace `nsid`: allocated and attached (Invalid Namespace or Format otherwise)."""
        ns = self.namespaces.get(nsid)
        if ns is None or not ns.attached:
            raise invalid_namespace()
        return ns

    def allocated(self, nsid: int) -> Namespace:
        """The allocated namespace `nsid`, attached or not (Invalid Namespace or Format otherwise)."""
        ns = self.namespaces.get(nsid)
        if ns is None:
            raise invalid_namespace()
        return ns

    # --- Namespace Management and Attachment (the checks are admin.py's) ---------------------------------

    def unallocated(self) -> int:
        """UNVMCAP (and the NVM set's, the endurance group's and the domain's unallocated capacity: one of
        each here): what no namespace takes (a namespace takes its whole size: no thin provisioning)."""
        return identity.TOTAL_CAPACITY - sum(ns.spec.size_bytes for ns in self.namespaces.values())

    def create_namespace(self, nsid: int, csi: int, size: int, lbaf: int) -> int:
        """A new namespace `nsid`, not attached, every block unallocated; returns its NSID."""
        allocated = self.namespace_set()
        allocated[nsid] = Allocated(csi, size, False, secrets.randbits(32) or 1)
        self._set_namespaces(allocated)
        ns = self.namespaces[nsid]
        ns.set_format(lbaf)
        ns.data.truncate()  # whatever a crash left under its names belonged to no namespace
        ns.meta.truncate()
        self._follow_namespaces()
        self.checkpoint_due = True  # discovery reads the checkpoint
        return nsid

    def delete_namespace(self, ns: Namespace) -> None:
        """Delete `ns`: detached first when attached (it becomes inactive: a Namespace Attribute Changed
        event); its blocks go with its files, removed once the command is journaled."""
        if ns.attached:
            self.namespace_changed(ns.nsid)
        if self.self_test is not None and self.self_test.nsid == ns.nsid:
            self.abort_self_test(result=0x3)  # aborted: the namespace it tests was removed
        allocated = self.namespace_set()
        del allocated[ns.nsid]
        self._set_namespaces(allocated)
        self._follow_namespaces()
        self.doomed += [f"{ns.name}.img", f"{ns.name}.meta"]
        self.checkpoint_due = True

    def attach_namespace(self, ns: Namespace, attach: bool) -> None:
        ns.attached = attach
        self.namespace_changed(ns.nsid)
        self.checkpoint_due = True

    def log_error(self, cmd: Command, failure: CommandFailed) -> None:
        """Error Information log entry (NVMe Base 2.0, Fig. 205), newest first, ELPE + 1 kept."""
        self.counters["error_count"] += 1
        entry = {
            "error_count": self.counters["error_count"] & 0xFFFF_FFFF_FFFF_FFFF,
            "sqid": 0 if cmd.admin else 1,
            "cid": self.next_cid(),
            "status_field": failure.status.value << 1 & 0xFFFF,  # bit 0 is the phase tag
            "parm_error_location": failure.param,
            "lba": failure.lba or 0,
            "nsid": cmd.nsid,
        }
        self.error_log.insert(0, entry)
        del self.error_log[identity.ELPE + 1 :]
        self._new_errors.insert(0, entry)

    # --- device self-test --------------------------------------------------------------------------------

    def poll_sanitize(self) -> None:
        self.sanitize.poll(self.clock(), self.counters["host_write_commands"])

    def poll_self_test(self) -> None:
        test = self.self_test
        if test is not None and self.clock() - test.started >= test.duration:
            self._finish_self_test(result=0x0)

    def _finish_self_test(self, result: int) -> None:
        test = self.self_test
        if test is None:
            return
        self.self_test = None
        nsid_valid = test.nsid not in (0, NSID_ALL)
        entry = {
            "operation": test.code,
            "result": result,
            "vdi": 0x1 if nsid_valid else 0x0,  # NSIDV: the namespace field holds the tested namespace
            "power_on_hours": self.power_on_hours,
            "nsid": test.nsid if nsid_valid else 0,
        }
        self.self_test_results.insert(0, entry)
        del self.self_test_results[SELF_TEST_RESULTS:]
        self._new_results.insert(0, entry)

    def start_self_test(self, code: int, nsid: int) -> None:
        duration = 0.0 if code == 1 else identity.EDSTT * 60.0
        self.self_test = SelfTest(code, nsid, self.clock(), duration)
        if duration == 0.0:
            self._finish_self_test(result=0x0)

    def abort_self_test(self, result: int) -> None:
        self._finish_self_test(result)

    # --- asynchronous events -----------------------------------------------------------------------------

    def raise_event(self, event_type: int, info: int, lid: int, aec_bit: int, *, record: bool = True) -> None:
        """Report an asynchronous event if Asynchronous Event Configuration enables it and the same log page
        is not already awaiting a read (NVMe Base 2.0, 5.2: an event type is masked until its log is read).
        `record`: journal it, so the other processes that have the controller open report it too."""
        if record:
            self._events.append([event_type, info, lid, aec_bit])
        if not self.features.current_value(0x0B) & (1 << aec_bit) or lid in self.masked_logs:
            return
        self.masked_logs.add(lid)
        dw0 = event_type | info << 8 | lid << 16
        while self.aer_waiters:
            fut = self.aer_waiters.pop(0)
            if not fut.done():
                fut.set_result(dw0)
                return
        self.pending_events.append(dw0)

    def log_read(self, lid: int, retain: bool) -> None:
        if not retain:
            self.masked_logs.discard(lid)

    def namespace_changed(self, nsid: int) -> None:
        if nsid not in self.changed_namespaces:
            self.changed_namespaces.append(nsid)
        self.raise_event(0x2, 0x00, 0x04, aec_bit=8)  # Notice: Namespace Attribute Changed

    def inject_zone_condition(self, nsid: int, zslba: int, state: ZoneState) -> None:
        """The controller takes a zone Read Only or Offline on its own (as worn media would); the caller
        runs it as a command (`transact`)."""
        ns = self.namespace(nsid)
        if ns.zones is None:
            raise ValueError(f"namespace {nsid} is not zoned")
        zone = ns.zones.zone_of(zslba)
        ns.zones.make(zone, state)
        if state is ZoneState.OFFLINE:
            ns.zero(zone.zslba, ns.zones.zsze, deallocate=True)
        self.raise_event(0x2, 0xEF, 0xBF, aec_bit=27)  # Notice: Zone Descriptor Changed (ZNS 1.1, 5.5)
