"""The io_uring ring from Python: `Ring` wraps the C helpers (ring_core.c); `AsyncRing` puts it on an
asyncio event loop.

`AsyncRing` matches completions to futures by user_data and holds every buffer the kernel may touch
until that command's completion has been reaped, whatever happens to the caller (a cancelled task,
dropped references): the kernel writes into those buffers until then.

The compiled extension is imported lazily (`load`), so `nvtui` stays importable where it did not build.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import importlib
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nvtui.errors import DeviceError


class UringUnsupported(DeviceError):
    """The kernel (or this build) cannot do NVMe passthrough over io_uring; the ioctl backend can."""


class ControllerInaccessible(DeviceError):
    """The namespace's char device opens but its controller's does not: admin commands over uring_cmd need
    the controller's (the kernel refuses them on ngXnY), while the admin ioctl works on the namespace."""


def load() -> tuple[Any, Any]:
    """(ffi, lib) of the compiled ring helpers; UringUnsupported when the extension is not built."""
    try:
        module = importlib.import_module("nvtui.backend.uring._ring")
    except ImportError as exc:
        raise UringUnsupported(
            f"nvtui's io_uring extension is not built ({exc}); reinstall nvtui with a C compiler present"
        ) from exc
    return module.ffi, module.lib


# Where two names share a number, the one the kernel's io_uring and NVMe code returns.
_KERNEL_ERRNO_NAMES = {errno.EOPNOTSUPP: "EOPNOTSUPP", errno.EAGAIN: "EAGAIN", errno.EDEADLK: "EDEADLK"}


def errno_name(code: int) -> str:
    """ "EOPNOTSUPP" for 95 (Python's table says ENOTSUP), "ENOTTY" for 25, ..."""
    return _KERNEL_ERRNO_NAMES.get(code) or errno.errorcode.get(code, f"errno {code}")


def _os_error(neg_errno: int, what: str) -> OSError:
    code = -neg_errno
    return OSError(code, f"{what}: {errno_name(code)} ({os.strerror(code)})")


@dataclass(frozen=True)
class RawCompletion:
    """A reaped CQE: `res` (NVMe status field, or -errno), the big CQE's 64-bit result, latency."""

    user_data: int
    res: int
    result: int
    latency_ns: int


class Ring:
    """One io_uring, synchronous. By default with 128-byte SQEs and 32-byte CQEs (what NVMe passthrough
    needs); `passthrough=False` gives the 64- and 16-byte entries of a ring for plain reads and writes.

    `coop` adds COOP_TASKRUN | TASKRUN_FLAG (no IPI to run completions; right for an eventfd-driven
    loop that enters the kernel often anyway). `iopoll` makes it a polled ring: completions arrive
    only when someone enters the kernel with GETEVENTS, and the eventfd never fires. `sqpoll` gives it
    a kernel thread that takes the SQEs as they are published (it sleeps after `sq_thread_idle_ms`
    without work); the kernel refuses COOP_TASKRUN with it, so `coop` is ignored then.
    """

    def __init__(
        self,
        sq_entries: int = 64,
        *,
        cq_entries: int = 0,
        iopoll: bool = False,
        coop: bool = True,
        sqpoll: bool = False,
        passthrough: bool = True,
        sq_thread_idle_ms: int = 1000,
    ):
        self._ffi, self._lib = load()
        lib = self._lib
        self._r: Any = self._ffi.new("struct nvt_ring *")
        flags = (lib.NVT_SETUP_BASE if passthrough else 0) | (lib.IORING_SETUP_IOPOLL if iopoll else 0)
        if sqpoll:
            flags |= lib.IORING_SETUP_SQPOLL
        elif coop:
            flags |= lib.NVT_SETUP_COOP
        idle = sq_thread_idle_ms if sqpoll else 0
        ret = lib.nvt_ring_init_raw(self._r, sq_entries, cq_entries, flags, idle)
        if ret < 0:
            raise _os_error(ret, "io_uring_setup")
        self.fd: int = self._r.fd
        self.sq_entries: int = self._r.sq_entries
        self.cq_entries: int = self._r.cq_entries
        self.setup_flags: int = self._r.setup_flags
        self.features: int = self._r.features
        self.iopoll = iopoll
        self.sqpoll = sqpoll
        self._out: Any = self._ffi.new("struct nvt_completion[]", self.cq_entries)
        self._closed = False

    @property
    def lib(self) -> Any:
        return self._lib

    @property
    def ffi(self) -> Any:
        return self._ffi

    @property
    def space(self) -> int:
        """Free SQ slots."""
        return int(self._lib.nvt_sq_space(self._r))

    @property
    def pending(self) -> int:
        """SQEs prepared but not yet consumed by the kernel."""
        return int(self._lib.nvt_sq_pending(self._r))

    @property
    def cq_ready(self) -> int:
        return int(self._lib.nvt_cq_ready(self._r))

    @property
    def sq_flags(self) -> int:
        return int(self._lib.nvt_sq_flags(self._r))

    @property
    def cq_dropped(self) -> int:
        return int(self._lib.nvt_cq_dropped(self._r))

    def now_ns(self) -> int:
        """CLOCK_MONOTONIC, the clock reaped completions are stamped with."""
        return int(self._lib.nvt_now_ns())

    def prep_nop(self, user_data: int) -> bool:
        """Queue an IORING_OP_NOP; False when the SQ is full."""
        return bool(self._lib.nvt_prep_nop(self._r, user_data) == 0)

    def prep_read(self, fd: int, buf: Any, length: int, user_data: int, offset: int = -1) -> bool:
        """Queue an IORING_OP_READ into cffi buffer `buf` (offset -1: the file position); False when full."""
        ret = self._lib.nvt_prep_read(self._r, fd, buf, length, offset & 0xFFFFFFFFFFFFFFFF, user_data)
        return bool(ret == 0)

    def prep_uring_cmd(
        self, fd: int, cmd_op: int, cmd: bytes, user_data: int, *, fixed_index: int | None = None
    ) -> bool:
        """Queue an IORING_OP_URING_CMD carrying `cmd` (<= 80 bytes); False when the SQ is full.

        With `fixed_index` the data buffer is registered buffer `fixed_index` (IORING_URING_CMD_FIXED).
        """
        lib = self._lib
        flags, index = (0, 0) if fixed_index is None else (lib.IORING_URING_CMD_FIXED, fixed_index)
        ret = lib.nvt_prep_uring_cmd(self._r, fd, cmd_op, cmd, len(cmd), user_data, flags, index)
        if ret == -errno.EBUSY:
            return False
        if ret < 0:
            raise _os_error(ret, "prep_uring_cmd")
        return True

    def submit(self, min_complete: int = 0) -> int:
        """Hand prepared SQEs to the kernel, waiting for `min_complete` completions (0: don't wait).

        Returns how many SQEs the kernel took; 0 on EAGAIN/EBUSY (reap, then try again).
        On an IOPOLL ring every call also polls for completions once.
        """
        ret = int(self._lib.nvt_submit(self._r, min_complete, 0))
        if ret in (-errno.EAGAIN, -errno.EBUSY):
            return 0
        if ret < 0:
            raise _os_error(ret, "io_uring_enter")
        return ret

    def reap(self) -> list[tuple[int, int, int, int]]:
        """Every completion ready, as (user_data, res, result, time_ns); flushes CQ overflow."""
        got: list[tuple[int, int, int, int]] = []
        out = self._out
        while True:
            n = int(self._lib.nvt_reap(self._r, out, self.cq_entries))
            if n < 0:
                raise _os_error(n, "io_uring_enter (CQ overflow flush)")
            got.extend((out[i].user_data, out[i].res, out[i].result, out[i].time_ns) for i in range(n))
            if n < self.cq_entries:
                return got

    def register_eventfd(self, efd: int) -> None:
        ret = self._lib.nvt_register_eventfd(self._r, efd)
        if ret < 0:
            raise _os_error(ret, "IORING_REGISTER_EVENTFD")

    def register_buffers(self, buffers: list[tuple[int, int]]) -> None:
        """Register (address, length) buffers; SQEs name them by index."""
        iov = self._ffi.new("struct iovec[]", len(buffers))
        for i, (addr, length) in enumerate(buffers):
            iov[i].iov_base = self._ffi.cast("void *", addr)
            iov[i].iov_len = length
        ret = self._lib.nvt_register_buffers(self._r, iov, len(buffers))
        if ret < 0:
            raise _os_error(ret, "IORING_REGISTER_BUFFERS")

    def supports(self, opcode: int) -> bool:
        """IORING_REGISTER_PROBE: does this kernel know io_uring opcode `opcode`?"""
        ret = int(self._lib.nvt_probe_op(self._r, opcode))
        if ret < 0:
            raise _os_error(ret, "IORING_REGISTER_PROBE")
        return ret == 1

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._lib.nvt_ring_exit(self._r)


Finish = Callable[[RawCompletion], Any]
Prep = Callable[[int], bool]

# Buffers of commands still in the kernel when their ring had to close: kept for the process's life.
_ABANDONED: list[object] = []


@dataclass
class _InFlight:
    keep: tuple[object, ...]  # every buffer the kernel may read or write for this command
    submitted_ns: int
    finish: Finish | None  # runs at reap time, before anything else can reuse the buffers
    future: asyncio.Future[Any] | None  # None for a command waited for synchronously


class AsyncRing:
    """A `Ring` on an asyncio loop: many commands in flight, completions matched by user_data.

    A plain ring wakes the loop through an eventfd registered with it (`loop.add_reader`); an IOPOLL
    ring never signals it, so while commands are in flight a loop callback polls it (enter with
    GETEVENTS), spinning through `call_soon` for a while and then backing off to short timers.
    With `batch` > 1, SQEs are queued and handed to the kernel once per loop iteration (or when
    `batch` are waiting) instead of one io_uring_enter per command.
    """

    SPIN_POLLS = 64  # empty IOPOLL polls through call_soon before backing off to timers
    POLL_BACKOFF_S = 0.0002

    def __init__(self, ring: Ring, *, batch: int = 1):
        self.ring = ring
        self.batch = max(1, batch)
        self._inflight: dict[int, _InFlight] = {}
        self._sync_results: dict[int, Any] = {}
        self._backlog: deque[tuple[int, Prep]] = deque()
        self._next_user_data = 1
        self._in_kernel = 0  # prepared, not yet reaped
        self.most_in_flight = 0  # high-water mark of commands in the kernel at once
        self._queued = 0  # prepared, not yet submitted
        self._flush_scheduled = False
        self._poll_scheduled = False
        self._empty_polls = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broken: DeviceError | None = None
        self._closed = False
        self.eventfd: int | None = None
        if not ring.iopoll:
            self.eventfd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            try:
                ring.register_eventfd(self.eventfd)
            except OSError:
                os.close(self.eventfd)
                raise

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    # ---- submission ----

    def _attach(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            if self._loop is not None and self._inflight:
                raise DeviceError(
                    "an io_uring ring cannot move to another event loop with commands in flight"
                )
            if self._loop is not None and self.eventfd is not None:
                self._loop.remove_reader(self.eventfd)
            self._loop = loop
            if self.eventfd is not None:
                loop.add_reader(self.eventfd, self._on_eventfd)
        return loop

    def _check_usable(self) -> None:
        if self._closed:
            raise DeviceError("the io_uring ring is closed")
        if self._broken is not None:
            raise self._broken

    def start(
        self, prep: Prep, keep: tuple[object, ...] = (), finish: Finish | None = None
    ) -> asyncio.Future[Any]:
        """Queue one command; the future resolves to `finish(raw)` (or the RawCompletion itself).

        `prep(user_data)` fills an SQE and returns False when the SQ is full. Cancelling the future
        abandons the result, not the command: `keep` stays referenced until its CQE is reaped.
        """
        self._check_usable()
        loop = self._attach()
        future: asyncio.Future[Any] = loop.create_future()
        self._enqueue(prep, keep, finish, future)
        return future

    async def submit(self, prep: Prep, keep: tuple[object, ...] = (), finish: Finish | None = None) -> Any:
        return await self.start(prep, keep, finish)

    async def nop(self) -> RawCompletion:
        """One IORING_OP_NOP round trip."""
        ring = self.ring
        result: RawCompletion = await self.start(ring.prep_nop)
        return result

    def run_sync(self, prep: Prep, keep: tuple[object, ...] = (), finish: Finish | None = None) -> Any:
        """Submit one command and block this thread until it completes (for opening, before any loop
        is involved). Other completions reaped meanwhile are delivered as usual."""
        self._check_usable()
        user_data = self._enqueue(prep, keep, finish, None)
        while user_data in self._inflight:
            self._flush()
            if user_data in self._inflight and not self.ring.cq_ready:
                self.ring.submit(min_complete=1)
            self._drain()
        result = self._sync_results.pop(user_data)
        if isinstance(result, BaseException):
            raise result
        return result

    def _enqueue(self, prep: Prep, keep: tuple[object, ...], finish: Finish | None, future: Any) -> int:
        user_data = self._next_user_data
        self._next_user_data += 1
        self._inflight[user_data] = _InFlight(keep, self.ring.now_ns(), finish, future)
        if self._backlog or not self._prep(user_data, prep):
            # SQ full, or the CQ could not take another completion: hand the kernel what is queued
            # and try again; still no room, then wait for completions to make some.
            self._flush()
            if self._backlog or not self._prep(user_data, prep):
                self._backlog.append((user_data, prep))
                self._ensure_poll()
                return user_data
        self._after_prep()
        return user_data

    def _prep(self, user_data: int, prep: Prep) -> bool:
        # Never more in the kernel than the CQ holds: overflow is survivable, but slow.
        if self._in_kernel >= self.ring.cq_entries:
            return False
        try:
            ok = prep(user_data)
        except OSError as exc:
            self._deliver(user_data, DeviceError(str(exc)), 0)
            return True
        if ok:
            self._in_kernel += 1
            self._queued += 1
            self.most_in_flight = max(self.most_in_flight, self._in_kernel)
        return ok

    def _after_prep(self) -> None:
        if self.batch <= 1 or self._queued >= self.batch or self._loop is None:
            self._flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush_soon)

    def _flush_soon(self) -> None:
        self._flush_scheduled = False
        self._flush()

    def _flush(self) -> None:
        if not self._queued and not self.ring.iopoll:
            return
        try:
            taken = self.ring.submit()
        except OSError as exc:
            self._break(DeviceError(f"io_uring submission failed: {exc.strerror}"))
            return
        self._queued -= min(taken, self._queued)
        if self._queued and self._loop is not None and not self._flush_scheduled:
            # EAGAIN/EBUSY: the kernel is short of resources; try again shortly.
            self._flush_scheduled = True
            self._loop.call_later(self.POLL_BACKOFF_S, self._flush_soon)
        self._ensure_poll()

    # ---- completion ----

    def _on_eventfd(self) -> None:
        # The counter is not a completion count, and wake-ups may find the CQ empty: just drain.
        assert self.eventfd is not None
        with contextlib.suppress(BlockingIOError):
            os.eventfd_read(self.eventfd)
        self._drain()

    def _drain(self) -> int:
        try:
            completions = self.ring.reap()
        except OSError as exc:
            self._break(DeviceError(f"io_uring lost completions: {exc.strerror}"))
            return 0
        for user_data, res, result, time_ns in completions:
            entry = self._inflight.get(user_data)
            if entry is None:
                continue  # not ours (cannot happen unless the ring is shared)
            self._in_kernel -= 1
            raw = RawCompletion(user_data, res, result, max(0, time_ns - entry.submitted_ns))
            self._deliver(user_data, raw, time_ns)
        if completions and self._backlog:
            self._admit_backlog()
        return len(completions)

    def _deliver(self, user_data: int, raw: RawCompletion | BaseException, time_ns: int) -> None:
        entry = self._inflight.pop(user_data)
        outcome: Any = raw
        if isinstance(raw, RawCompletion) and entry.finish is not None:
            try:
                outcome = entry.finish(raw)
            except Exception as exc:
                outcome = exc
        entry.keep = ()  # the kernel is done with the buffers
        if entry.future is None:
            self._sync_results[user_data] = outcome
        elif not entry.future.done():
            if isinstance(outcome, BaseException):
                entry.future.set_exception(outcome)
            else:
                entry.future.set_result(outcome)

    def _admit_backlog(self) -> None:
        admitted = False
        while self._backlog:
            user_data, prep = self._backlog[0]
            if not self._prep(user_data, prep):
                break
            self._backlog.popleft()
            admitted = True
        if admitted:
            self._after_prep()

    def _ensure_poll(self) -> None:
        """IOPOLL rings only: keep a poller going while commands are in flight."""
        if self.ring.iopoll and self._inflight and not self._poll_scheduled and self._loop is not None:
            self._poll_scheduled = True
            self._empty_polls = 0
            self._loop.call_soon(self._poll)

    def _poll(self) -> None:
        self._poll_scheduled = False
        if self._closed or not self._inflight or self._loop is None:
            return
        try:
            taken = self.ring.submit()  # on an IOPOLL ring: submit anything queued, poll once, never block
        except OSError as exc:
            self._break(DeviceError(f"io_uring poll failed: {exc.strerror}"))
            return
        self._queued -= min(taken, self._queued)
        if self._drain():
            self._empty_polls = 0
        else:
            self._empty_polls += 1
        if self._inflight:
            self._poll_scheduled = True
            if self._empty_polls < self.SPIN_POLLS:
                self._loop.call_soon(self._poll)
            else:
                self._loop.call_later(self.POLL_BACKOFF_S, self._poll)

    def _break(self, error: DeviceError) -> None:
        """The ring itself failed: fail every waiter, but keep their buffers (the kernel may hold them)."""
        self._broken = error
        for user_data, entry in list(self._inflight.items()):
            _ABANDONED.append(entry.keep)
            if entry.future is None:
                self._sync_results[user_data] = error
            elif not entry.future.done():
                entry.future.set_exception(error)
        self._inflight.clear()
        self._backlog.clear()

    # ---- teardown ----

    async def close(self, timeout: float = 30.0) -> None:
        """Wait (up to `timeout` s) for commands in flight, then tear the ring down.

        Commands still in the kernel after that keep their buffers for the life of the process.
        """
        if self._closed:
            return
        if self._inflight and self._loop is not None and self._broken is None:
            self._flush()
            deadline = self._loop.time() + timeout
            while self._inflight and self._loop.time() < deadline and self._broken is None:
                self._ensure_poll()
                await asyncio.sleep(0.001)
        self.close_now()

    def close_now(self) -> None:
        if self._closed:
            return
        self._closed = True
        for entry in self._inflight.values():
            _ABANDONED.append(entry.keep)
            if entry.future is not None and not entry.future.done():
                entry.future.set_exception(
                    DeviceError("the io_uring ring was closed with the command in flight")
                )
        self._inflight.clear()
        if self.eventfd is not None:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(self.eventfd)
            os.close(self.eventfd)
            self.eventfd = None
        self.ring.close()
