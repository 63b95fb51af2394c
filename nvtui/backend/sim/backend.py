"""`SimBackend`: an open simulated device (sim0, sim0n1, sim0n2) speaking the backend protocol.

All opens in one process share one `SimController` per state directory (like /dev/nvme0 and /dev/ng0n1
sharing one drive), counted by reference; the last close in the process closes it (and the last process
shuts it down cleanly). Other processes use the same controller at the same time: each command takes the
state folder's lock for as long as it executes (not while its modelled latency passes), so a process waits
at most `lock_timeout` seconds for another's command, then gets a DeviceError naming that process.

As the Linux driver does, an I/O command whose NSID is not the namespace device's own is refused before it
reaches the controller (DeviceError: the kernel fails it with EINVAL and logs it).

Asynchronous Event Request: the command stays outstanding until the controller has an event to report
(Format NVM -> namespace attribute changed, a temperature threshold crossed, a zone going read-only or
offline; raised here or by another process using the controller). To keep a caller from waiting forever, a
non-zero `Command.timeout_ms` bounds the wait (DeviceError, as the kernel's timeout would), cancelling the
awaiting task withdraws the request, and closing the device completes outstanding requests with Command
Aborted due to SQ Deletion.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from nvtui.backend.base import Answers, BackendBase
from nvtui.backend.sim import identity
from nvtui.backend.sim.controller import SimController
from nvtui.backend.sim.errors import SC_ABORTED_SQ_DELETION, SCT_GENERIC
from nvtui.backend.sim.latency import LatencyModel
from nvtui.backend.sim.state import state_dir
from nvtui.backend.sim.zones import ZoneState
from nvtui.errors import CommandTimeout, DeviceError, UsageError
from nvtui.locations import ENV_SIM_LATENCY
from nvtui.nvme.command import Command, DataDirection
from nvtui.nvme.completion import Completion, Status

# The controller and every namespace it may have (Namespace Management allocates NSIDs 1..NN): a namespace not
# allocated or not attached opens, and the controller answers its I/O with Invalid Namespace or Format.
SIM_DEVICES: dict[str, int] = {"sim0": 0, **{f"sim0n{nsid}": nsid for nsid in range(1, identity.NN + 1)}}
OPCODE_AER = 0x0C
AER_POLL_S = 0.2  # how often a waiting Asynchronous Event Request looks for events other processes raised

_controllers: dict[Path, SimController] = {}


def _key(directory: Path) -> Path:
    return Path(os.path.abspath(directory))


def _acquire(directory: Path, lock_timeout: float) -> SimController:
    key = _key(directory)
    ctrl = _controllers.get(key)
    if ctrl is None:
        ctrl = SimController(directory, lock_timeout=lock_timeout)
        _controllers[key] = ctrl
    ctrl.refs += 1
    return ctrl


def _release(ctrl: SimController) -> None:
    ctrl.refs -= 1
    if ctrl.refs <= 0:
        for key, value in list(_controllers.items()):
            if value is ctrl:
                del _controllers[key]
        ctrl.shutdown()


def live_controller(directory: Path) -> SimController | None:
    """The controller this process has open for `directory`, if any."""
    return _controllers.get(_key(directory))


def _fit(data: bytes | None, length: int) -> bytes:
    data = data or b""
    return data[:length] if len(data) >= length else data.ljust(length, b"\0")


class SimBackend(BackendBase):
    kind = "sim"

    def __init__(
        self,
        device: str = "sim0n1",
        *,
        directory: Path | None = None,
        latency: str | LatencyModel | None = None,
        lock_timeout: float = 2.0,
        answers: Answers | None = None,
    ) -> None:
        name = device.removeprefix("/dev/")
        if name not in SIM_DEVICES:
            raise UsageError(f"unknown simulated device {device!r} (choose from {', '.join(SIM_DEVICES)})")
        self.device = name
        self.nsid = SIM_DEVICES[name]
        if isinstance(latency, LatencyModel):
            self.latency = latency
        else:
            self.latency = LatencyModel.parse(
                latency if latency is not None else os.environ.get(ENV_SIM_LATENCY)
            )
        self.directory = directory if directory is not None else state_dir()
        self.lock_timeout = lock_timeout
        try:
            self.controller = _acquire(self.directory, lock_timeout)
        except OSError as exc:
            raise DeviceError(
                f"cannot open the simulated controller in {self.directory}: {exc.strerror or exc}"
            ) from None
        self._closed = False
        self._aers: set[asyncio.Future[int]] = set()
        self.answers = answers  # the catalogue's `simulate:` answers, before the controller's own

    @property  # type: ignore[override]
    def notice(self) -> str | None:
        """What the controller has to tell the user (a crash recovered from), shown once."""
        notices = self.controller.notices
        if not notices:
            return None
        text = "; ".join(notices)
        notices.clear()
        return text

    @notice.setter
    def notice(self, value: str | None) -> None:
        if value:
            self.controller.notices.append(value)

    async def submit(self, cmd: Command) -> Completion:
        start = time.perf_counter_ns()
        if self._closed:
            raise DeviceError(f"{self.device} is closed")
        if not cmd.admin and self.nsid == 0:
            raise DeviceError(
                f"{self.device} is a controller: I/O commands need a namespace device such as sim0n1"
            )
        if not cmd.admin and cmd.nsid != self.nsid:
            # The Linux driver's nvme_validate_passthru_nsid: a namespace's char device takes only commands
            # for that namespace (it logs "nsid (2) in cmd does not match nsid (1) of namespace").
            raise DeviceError(
                f"{self.device}: the command's nsid {cmd.nsid} is not this namespace's ({self.nsid}); "
                "the kernel refuses it (EINVAL) and sends nothing"
            )
        if cmd.data_len > identity.MAX_TRANSFER or cmd.metadata_len > identity.MAX_TRANSFER:
            raise DeviceError(
                f"a {cmd.data_len}-byte transfer exceeds the controller's {identity.MAX_TRANSFER}-byte limit "
                "(MDTS); the kernel refuses it (EINVAL)"
            )
        reads = cmd.direction in (DataDirection.CONTROLLER_TO_HOST, DataDirection.BIDIRECTIONAL)
        answer = self.answers(cmd) if self.answers is not None else None
        if answer is not None:  # a vendor command the catalogue simulates: no state of the drive changes
            if answer.source:
                self.controller.notices.append(f"answered by simulate: in the entry at {answer.source}")
            return Completion(
                status=Status(answer.status), result=answer.result, latency_ns=time.perf_counter_ns() - start,
                data=_fit(answer.data, cmd.data_len) if reads else None,
                metadata=bytes(cmd.metadata_len) if reads and cmd.metadata_len else None,
            )  # fmt: skip
        ctrl = self.controller
        if not ctrl.lock.try_acquire():  # taken at once unless another process is in a command
            await ctrl.lock.acquire_async(self.lock_timeout)
        try:  # no await until the lock is released: the command runs whole
            if cmd.admin and cmd.opcode == OPCODE_AER:
                ctrl.sync()
                waits = not ctrl.pending_events and len(ctrl.aer_waiters) <= identity.AERL
            else:
                waits = False
            outcome = None if waits else ctrl.execute(cmd, self.latency)
        finally:
            ctrl.lock.release()
        if outcome is None:
            return await self._await_event(cmd, start)
        if outcome.delay_ns:
            await asyncio.sleep(outcome.delay_ns / 1e9)
        return Completion(
            status=outcome.status,
            result=outcome.result,
            latency_ns=time.perf_counter_ns() - start,
            data=_fit(outcome.data, cmd.data_len) if reads else None,
            metadata=_fit(outcome.metadata, cmd.metadata_len) if reads and cmd.metadata_len else None,
        )

    async def _await_event(self, cmd: Command, start: int) -> Completion:
        ctrl = self.controller
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        ctrl.aer_waiters.append(fut)
        self._aers.add(fut)
        deadline = time.monotonic() + cmd.timeout_ms / 1000 if cmd.timeout_ms else None
        try:
            while not fut.done():
                wait = AER_POLL_S if deadline is None else min(AER_POLL_S, deadline - time.monotonic())
                if wait <= 0:
                    raise CommandTimeout(
                        f"Asynchronous Event Request: no event within {cmd.timeout_ms} ms (timed out, as the "
                        "kernel would)"
                    )
                await asyncio.wait([fut], timeout=wait)
                if not fut.done():
                    ctrl.poll()  # events another process raised (Format NVM there, ...)
            dw0 = fut.result()
        finally:
            self._aers.discard(fut)
            if fut in ctrl.aer_waiters:
                ctrl.aer_waiters.remove(fut)
        if dw0 < 0:  # the device was closed under it
            status = Status.make(SCT_GENERIC, SC_ABORTED_SQ_DELETION)
            return Completion(status, latency_ns=time.perf_counter_ns() - start)
        return Completion(Status(0), result=dw0, latency_ns=time.perf_counter_ns() - start)

    def inject_zone_condition(self, zslba: int, state: str, nsid: int = 2) -> None:
        """Fault injection, sim only: the controller takes the zone at `zslba` to "read-only" or "offline"."""
        states = {"read-only": ZoneState.READ_ONLY, "offline": ZoneState.OFFLINE}
        if state not in states:
            raise UsageError(f"zone condition {state!r}: choose read-only or offline")
        ctrl = self.controller
        ctrl.lock.acquire(self.lock_timeout)
        try:
            ctrl.transact(lambda: ctrl.inject_zone_condition(nsid, zslba, states[state]))
        finally:
            ctrl.lock.release()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for fut in list(self._aers):
            if not fut.done():
                fut.set_result(-1)
        _release(self.controller)


def open_sim(device: str, **options: object) -> SimBackend:
    """Open a simulated device by name (`sim0`, `sim0n1`, `sim0n2`); UsageError for any other name."""
    return SimBackend(device, **options)  # type: ignore[arg-type]
