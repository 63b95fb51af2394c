"""The simulated controller: its persistent state, command dispatch, counters, events and error log.

Commands execute atomically when submitted (the asyncio loop is single-threaded), so a zone's write pointer
or a block's contents never change halfway through another command; the backend then waits out the modelled
latency. The command handlers live in `admin.py` (admin queue) and `io.py` (NVM and ZNS I/O).
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nvtui.backend.sim import identity
from nvtui.backend.sim.errors import CommandFailed, invalid_namespace, invalid_opcode
from nvtui.backend.sim.features import FeatureStore
from nvtui.backend.sim.namespace import NAMESPACE_SPECS, Namespace
from nvtui.backend.sim.state import STATE_SCHEMA, ControllerLock, load_state, save_state
from nvtui.backend.sim.zones import ZoneState
from nvtui.nvme.command import Command
from nvtui.nvme.completion import SUCCESS, Status

NSID_ALL = 0xFFFF_FFFF

COUNTERS = (
    "data_read_bytes", "data_written_bytes", "host_read_commands", "host_write_commands", "busy_ns",
    "power_cycles", "power_on_seconds", "unsafe_shutdowns", "media_errors", "error_count",
)  # fmt: skip


@dataclass
class Outcome:
    """What a handler produced: status, CQE result, data for the host, and the latency class it costs."""

    status: Status = SUCCESS
    result: int = 0
    data: bytes | None = None
    metadata: bytes | None = None
    kind: str = "admin"
    nbytes: int = 0


@dataclass
class SelfTest:
    code: int  # 1 short, 2 extended
    nsid: int
    started: float  # controller clock
    duration: float


class SimController:
    """One simulated NVMe controller with its namespaces, owned by one process at a time (flock)."""

    def __init__(
        self, directory: Path, *, lock_timeout: float = 2.0, clock: Callable[[], float] = time.monotonic
    ):
        self.directory = directory
        self.name = identity.CONTROLLER_NAME
        directory.mkdir(parents=True, exist_ok=True)
        self.lock = ControllerLock(directory / f"{self.name}.lock", lock_timeout)
        self.clock = clock
        self.state_path = directory / f"{self.name}.json"
        self.notice: str | None = None
        self.refs = 0
        self._rng = random.Random()
        self.powered_on = clock()
        self._cid = 0
        self.timestamp: tuple[int, float] | None = None  # Timestamp feature: (ms set by the host, when)
        try:
            self.namespaces = {
                nsid: Namespace(spec, directory, f"{self.name}n{nsid}")
                for nsid, spec in NAMESPACE_SPECS.items()
            }
            self._load()
        except BaseException:
            self.lock.release()
            raise
        # AER plumbing: outstanding requests, events that found none waiting, event types masked until read.
        self.aer_waiters: list[asyncio.Future[int]] = []
        self.pending_events: list[int] = []
        self.masked_logs: set[int] = set()
        self.save()  # records the power cycle and the "not shut down cleanly yet" mark

    # --- persistence -------------------------------------------------------------------------------------

    def _fresh(self, *, erase: bool) -> None:
        self.serial = f"NVTSIM{secrets.token_hex(4).upper()}"
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.features = FeatureStore()
        self.error_log: list[dict[str, int]] = []
        self.self_test_results: list[dict[str, int]] = []
        self.self_test: SelfTest | None = None
        self.changed_namespaces: list[int] = []
        if erase:  # blocks without a state file that describes them are stale
            for ns in self.namespaces.values():
                ns.format(0)

    def _load(self) -> None:
        state, notice = load_state(self.state_path)
        self._fresh(erase=state is None)
        if state is None:
            self.notice = notice
        else:
            try:
                self._restore(state)
            except (KeyError, TypeError, ValueError) as exc:
                reason = str(exc)[:80]
                self.notice = f"simulator state {self.state_path} is corrupt ({reason}); starting afresh"
                self._fresh(erase=True)
        self.counters["power_cycles"] += 1
        for ns in self.namespaces.values():
            if ns.zones is not None:
                ns.zones.power_cycle()

    def _restore(self, state: dict[str, object]) -> None:
        serial = state["serial"]
        if not isinstance(serial, str) or not serial.isascii() or len(serial) > 20:
            raise ValueError("bad serial number")
        self.serial = serial
        counters = state["counters"]
        if not isinstance(counters, dict):
            raise ValueError("bad counters")
        for key in COUNTERS:
            self.counters[key] = int(counters.get(key, 0))
        if state.get("clean_shutdown") is False:
            self.counters["unsafe_shutdowns"] += 1
        self.features.load(state.get("saved_features", {}))
        errors, tests = state.get("error_log", []), state.get("self_test_log", [])
        self.error_log = (
            [{k: int(v) for k, v in e.items()} for e in errors] if isinstance(errors, list) else []
        )
        self.self_test_results = (
            [{k: int(v) for k, v in t.items()} for t in tests] if isinstance(tests, list) else []
        )
        if state.get("self_test_running"):  # the extended test was cut off by the power cycle
            running = state["self_test_running"]
            assert isinstance(running, dict)
            self.self_test = SelfTest(int(running["code"]), int(running["nsid"]), 0.0, 0.0)
            self._finish_self_test(result=0x2)  # aborted by a Controller Level Reset
        changed = state.get("changed_namespaces", [])
        self.changed_namespaces = [int(n) for n in changed] if isinstance(changed, list) else []
        namespaces = state["namespaces"]
        if not isinstance(namespaces, dict):
            raise ValueError("bad namespaces")
        for nsid, ns in self.namespaces.items():
            ns_state = namespaces.get(str(nsid))
            if isinstance(ns_state, dict):
                ns.load(ns_state)

    def to_json(self, *, clean: bool) -> dict[str, object]:
        counters = dict(self.counters)
        counters["power_on_seconds"] = self.power_on_seconds
        return {
            "schema": STATE_SCHEMA,
            "controller": self.name,
            "serial": self.serial,
            "clean_shutdown": clean,
            "counters": counters,
            "saved_features": self.features.saved_json(),
            "error_log": self.error_log,
            "self_test_log": self.self_test_results,
            "self_test_running": {"code": self.self_test.code, "nsid": self.self_test.nsid}
            if self.self_test
            else None,
            "changed_namespaces": self.changed_namespaces,
            "namespaces": {str(nsid): ns.to_json() for nsid, ns in self.namespaces.items()},
        }

    def save(self, *, clean: bool = False) -> None:
        save_state(self.state_path, self.to_json(clean=clean))

    def shutdown(self) -> None:
        """Power off cleanly: abort outstanding AERs, flush, save, release the lock."""
        for fut in self.aer_waiters:
            if not fut.done():
                fut.set_result(-1)  # completed as Command Aborted due to SQ Deletion
        self.aer_waiters.clear()
        for ns in self.namespaces.values():
            ns.sync()
        self.save(clean=True)
        for ns in self.namespaces.values():
            ns.close()
        self.lock.release()

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

    # --- dispatch ----------------------------------------------------------------------------------------

    def execute(self, cmd: Command) -> Outcome:
        """Run one command (AER excepted: see `aer_wait`) and complete it, logging an error status."""
        from nvtui.backend.sim import admin, io

        self.poll_self_test()
        try:
            if cmd.admin:
                handler = admin.HANDLERS.get(cmd.opcode)
                if handler is None:
                    raise invalid_opcode()
                return handler.run(self, cmd)
            return io.execute(self, cmd)
        except CommandFailed as failure:
            self.log_error(cmd, failure)
            return Outcome(status=failure.status, kind="admin" if cmd.admin else "other")

    def namespace(self, nsid: int) -> Namespace:
        ns = self.namespaces.get(nsid)
        if ns is None:
            raise invalid_namespace()
        return ns

    def log_error(self, cmd: Command, failure: CommandFailed) -> None:
        """Error Information log entry (NVMe Base 2.0, Fig. 205), newest first, ELPE + 1 kept."""
        self.counters["error_count"] += 1
        entry = {
            "error_count": self.counters["error_count"],
            "sqid": 0 if cmd.admin else 1,
            "cmdid": self.next_cid(),
            "status_field": failure.status.value << 1,  # bit 0 is the phase tag
            "parm_error_location": failure.param,
            "lba": failure.lba or 0,
            "nsid": cmd.nsid,
        }
        self.error_log.insert(0, entry)
        del self.error_log[identity.ELPE + 1 :]

    # --- device self-test --------------------------------------------------------------------------------

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
        self.self_test_results.insert(0, {
            "status": test.code << 4 | result,
            "valid": 0x1 if nsid_valid else 0x0,  # NSIDV: the namespace field holds the tested namespace
            "power_on_hours": self.power_on_hours,
            "nsid": test.nsid if nsid_valid else 0,
        })  # fmt: skip
        del self.self_test_results[20:]

    def start_self_test(self, code: int, nsid: int) -> None:
        duration = 0.0 if code == 1 else identity.EDSTT * 60.0
        self.self_test = SelfTest(code, nsid, self.clock(), duration)
        if duration == 0.0:
            self._finish_self_test(result=0x0)

    def abort_self_test(self, result: int) -> None:
        self._finish_self_test(result)

    # --- asynchronous events -----------------------------------------------------------------------------

    def raise_event(self, event_type: int, info: int, lid: int, aec_bit: int) -> None:
        """Report an asynchronous event if Asynchronous Event Configuration enables it and the same log page
        is not already awaiting a read (NVMe Base 2.0, 5.2: an event type is masked until its log is read)."""
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
        """The controller takes a zone Read Only or Offline on its own (as worn media would)."""
        ns = self.namespace(nsid)
        if ns.zones is None:
            raise ValueError(f"namespace {nsid} is not zoned")
        zone = ns.zones.zone_of(zslba)
        ns.zones.make(zone, state)
        if state is ZoneState.OFFLINE:
            ns.zero(zone.zslba, ns.zones.zsze, deallocate=True)
        self.raise_event(0x2, 0xEF, 0xBF, aec_bit=27)  # Notice: Zone Descriptor Changed (ZNS 1.1, 5.5)
