"""`SimBackend`: an open simulated device (sim0, sim0n1, sim0n2) speaking the backend protocol.

All opens in one process share one `SimController` per state directory (like /dev/nvme0 and /dev/ng0n1
sharing one drive), counted by reference; the last close powers it off and saves. Another process that opens
the same state directory waits up to `lock_timeout` seconds for the flock, then gets a DeviceError.

Asynchronous Event Request: the command stays outstanding until the controller has an event to report
(Format NVM -> namespace attribute changed, a temperature threshold crossed, a zone going read-only or
offline). To keep a caller from waiting forever, a non-zero `Command.timeout_ms` bounds the wait (DeviceError,
as the kernel's timeout would), cancelling the awaiting task withdraws the request, and closing the device
completes outstanding requests with Command Aborted due to SQ Deletion.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from nvtui.backend.base import BackendBase
from nvtui.backend.sim import identity
from nvtui.backend.sim.controller import SimController
from nvtui.backend.sim.errors import SC_ABORTED_SQ_DELETION, SCT_GENERIC
from nvtui.backend.sim.latency import LatencyModel
from nvtui.backend.sim.state import state_dir
from nvtui.backend.sim.zones import ZoneState
from nvtui.errors import DeviceError, UsageError
from nvtui.locations import ENV_SIM_LATENCY
from nvtui.nvme.command import Command, DataDirection
from nvtui.nvme.completion import Completion, Status

SIM_DEVICES: dict[str, int] = {"sim0": 0, "sim0n1": 1, "sim0n2": 2}
OPCODE_AER = 0x0C

_controllers: dict[Path, SimController] = {}


def _acquire(directory: Path, lock_timeout: float) -> SimController:
    key = directory.resolve() if directory.exists() else directory.absolute()
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
    key = directory.resolve() if directory.exists() else directory.absolute()
    return _controllers.get(key)


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
        try:
            self.controller = _acquire(self.directory, lock_timeout)
        except OSError as exc:
            raise DeviceError(
                f"cannot open the simulated controller in {self.directory}: {exc.strerror}"
            ) from None
        self.notice = self.controller.notice
        self._closed = False
        self._aers: set[asyncio.Future[int]] = set()

    async def submit(self, cmd: Command) -> Completion:
        start = time.perf_counter_ns()
        if self._closed:
            raise DeviceError(f"{self.device} is closed")
        if not cmd.admin and self.nsid == 0:
            raise DeviceError(
                f"{self.device} is a controller: I/O commands need a namespace device such as sim0n1"
            )
        if cmd.data_len > identity.MAX_TRANSFER or cmd.metadata_len > identity.MAX_TRANSFER:
            raise DeviceError(
                f"a {cmd.data_len}-byte transfer exceeds the controller's {identity.MAX_TRANSFER}-byte limit "
                "(MDTS); the kernel refuses it (EINVAL)"
            )
        ctrl = self.controller
        if cmd.admin and cmd.opcode == OPCODE_AER and not ctrl.pending_events:
            return await self._await_event(cmd, start)
        outcome = ctrl.execute(cmd)
        delay = self.latency.draw_ns(outcome.kind, outcome.nbytes)
        if delay:
            ctrl.counters["busy_ns"] += delay
            await asyncio.sleep(delay / 1e9)
        reads = cmd.direction in (DataDirection.CONTROLLER_TO_HOST, DataDirection.BIDIRECTIONAL)
        return Completion(
            status=outcome.status,
            result=outcome.result,
            latency_ns=time.perf_counter_ns() - start,
            data=_fit(outcome.data, cmd.data_len) if reads else None,
            metadata=_fit(outcome.metadata, cmd.metadata_len) if reads and cmd.metadata_len else None,
        )

    async def _await_event(self, cmd: Command, start: int) -> Completion:
        ctrl = self.controller
        if len(ctrl.aer_waiters) > identity.AERL:
            outcome = ctrl.execute(cmd)  # Asynchronous Event Request Limit Exceeded
            return Completion(outcome.status, latency_ns=time.perf_counter_ns() - start)
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        ctrl.aer_waiters.append(fut)
        self._aers.add(fut)
        try:
            if cmd.timeout_ms:
                dw0 = await asyncio.wait_for(asyncio.shield(fut), cmd.timeout_ms / 1000)
            else:
                dw0 = await fut
        except asyncio.TimeoutError:
            raise DeviceError(
                f"Asynchronous Event Request: no event within {cmd.timeout_ms} ms (timed out, as the kernel "
                "would)"
            ) from None
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
        self.controller.inject_zone_condition(nsid, zslba, states[state])

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
