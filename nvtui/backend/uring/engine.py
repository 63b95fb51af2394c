"""The load engine from Python: `run_load` keeps `qd` reads or writes in flight for a while, entirely in
C (engine.c), on a ring of its own in a worker thread, and returns counts and a latency histogram.
`run_groups` runs several jobs at once: each group of jobs on one ring in a thread of its own, every
job (a namespace) with its own depth and counters.

A job goes through one of three interfaces (`EngineJob.interface`): `uring_cmd` (passthrough on the
namespace's char device), `block` (reads and writes on its block device, opened O_DIRECT) or `ioctl`
(the synchronous passthrough ioctl, from one C thread per I/O in flight).
"""

from __future__ import annotations

import asyncio
import mmap
import os
import random
import threading
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from nvtui.backend import histogram
from nvtui.backend.histogram import LatencyHistogram
from nvtui.backend.uring.ring import Ring, errno_name, load
from nvtui.errors import DeviceError, UsageError
from nvtui.nvme.completion import Status

PATTERNS = {
    "randread": (0x02, True),
    "randwrite": (0x01, True),
    "read": (0x02, False),
    "write": (0x01, False),
}
MAX_QD = 4096  # NVT_ENGINE_MAX_QD: per ring, over all its jobs
MAX_IOCTL_QD = 256  # the ioctl interface starts a thread per I/O in flight
MAX_JOBS_PER_RING = 256  # NVT_ENGINE_MAX_TARGETS
INTERFACES = ("uring_cmd", "block", "ioctl")


class EngineUnavailable(DeviceError):
    """This kernel or device cannot run the job as asked (the ring's setup, its registered buffers, or
    the first I/Os were refused); the message says which and why."""


def _check_layout(lib: Any) -> None:
    """The C engine fills nvtui.backend.histogram's histogram layout; a build of another layout is refused."""
    built = (lib.NVT_HIST_SUB_BITS, lib.NVT_HIST_MAX_SHIFT, lib.NVT_HIST_BUCKETS)
    if built != (histogram.SUB_BITS, histogram.MAX_SHIFT, histogram.BUCKETS):
        raise DeviceError(
            f"the compiled load engine's histogram layout {built} is not nvtui.backend.histogram's "
            f"{(histogram.SUB_BITS, histogram.MAX_SHIFT, histogram.BUCKETS)}: rebuild the extension"
        )


class Stoppable(Protocol):
    def is_set(self) -> bool: ...


@dataclass(frozen=True)
class LoadResult:
    """A load run, or one slice of it: counts and every I/O's latency in a `LatencyHistogram`."""

    pattern: str
    block_size: int
    qd: int
    ios: int
    errors: int
    first_error: str | None  # the first failed I/O's NVMe status or errno, by name
    bytes: int
    elapsed_ns: int
    enters: int  # io_uring_enter calls
    latency: LatencyHistogram = field(repr=False, compare=False)

    @property
    def iops(self) -> float:
        return self.ios / (self.elapsed_ns / 1e9) if self.elapsed_ns else 0.0

    @property
    def bandwidth(self) -> float:
        """Bytes per second."""
        return self.bytes / (self.elapsed_ns / 1e9) if self.elapsed_ns else 0.0


@dataclass(frozen=True)
class EngineJob:
    """One run of the C load engine, described: `pattern` I/Os of `block_size` bytes kept `qd` deep on
    namespace `nsid` through `fd` (its char device) for `seconds` (or `max_ios`, 0: no limit) over LBAs
    [first_lba, first_lba + lba_count). Write patterns overwrite that region.

    `interface`: how `fd` is driven: "uring_cmd" (fd: the char device), "block" (fd: the block device
    or a file, opened O_DIRECT; offsets are LBA x lba_size) or "ioctl" (the char device, `qd` threads).
    `fixed`: registered buffers; `iopoll`: a polled ring (the device needs poll queues); `sqpoll`: a
    kernel thread submits, the engine only fills the ring; `batched`: the SQEs a round of completions
    queues share one io_uring_enter (False: one enter each, fio's default). The engine runs in slices
    of `slice_seconds` (every I/O of a slice reaped before the next starts). An I/O the kernel fails
    with an errno (the device went away) ends the run once the I/Os in flight are reaped, unless
    `stop_on_errno` is False (host tests on fds that fail every NVMe command). A job out of range is a
    UsageError when built, naming the field and what it allows."""

    fd: int
    nsid: int
    lba_size: int
    lba_count: int
    metadata_size: int = 0  # separate metadata bytes per LBA (0: none)
    pattern: str = "randread"
    block_size: int = 4096
    qd: int = 32
    seconds: float = 5.0
    first_lba: int = 0
    max_ios: int = 0
    fixed: bool = False
    iopoll: bool = False
    seed: int = 1
    slice_seconds: float = 0.5
    stop_on_errno: bool = True
    interface: str = "uring_cmd"
    batched: bool = True
    sqpoll: bool = False
    not_after_ns: int = 0  # time.monotonic_ns() by which the run ends, its setup included (0: `seconds` after
    #                        its I/O starts): a caller with a wall-clock budget per run (the ladder) sets it
    data: bytes | None = None  # what every write writes (block_size bytes); None: random bytes from `seed`

    def __post_init__(self) -> None:
        if self.interface not in INTERFACES:
            raise UsageError(f"unknown interface {self.interface!r}; choose one of {', '.join(INTERFACES)}")
        if self.interface == "ioctl":
            if self.fixed or self.iopoll or self.sqpoll:
                raise UsageError("the ioctl interface has no ring: fixed, iopoll and sqpoll do not apply")
            if self.qd > MAX_IOCTL_QD:
                raise UsageError(
                    f"queue depth {self.qd} out of range 1-{MAX_IOCTL_QD} for the ioctl interface"
                )
        if self.pattern not in PATTERNS:
            raise UsageError(f"unknown pattern {self.pattern!r}; choose one of {', '.join(PATTERNS)}")
        if self.lba_size <= 0 or self.block_size <= 0 or self.block_size % self.lba_size:
            raise UsageError(
                f"block size {self.block_size} is not a multiple of the LBA size {self.lba_size}"
            )
        if not 1 <= self.qd <= MAX_QD:
            raise UsageError(f"queue depth {self.qd} out of range 1-{MAX_QD}")
        if self.lba_count < self.block_size // self.lba_size:
            raise UsageError(f"the region of {self.lba_count} LBAs is smaller than one I/O")
        if self.first_lba < 0 or self.max_ios < 0 or self.metadata_size < 0:
            raise UsageError("first_lba, max_ios and metadata_size must not be negative")
        if not self.seconds > 0:
            raise UsageError(f"duration {self.seconds} s: it must be more than 0")
        if self.data is not None and len(self.data) != self.block_size:
            raise UsageError(f"write data of {len(self.data)} bytes for {self.block_size}-byte writes")

    def ring_options(self) -> tuple[str, bool, bool, bool, float, float, int]:
        """What jobs sharing one ring must agree on."""
        return (
            self.interface, self.batched, self.iopoll, self.sqpoll, self.seconds, self.slice_seconds,
            self.not_after_ns,
        )  # fmt: skip


def _first_error(code: int) -> str:
    return errno_name(-code) if code < 0 else str(Status(code))


def _slice_result(ffi: Any, out: Any, pattern: str, block_size: int, qd: int) -> LoadResult:
    counts = array("Q")
    counts.frombytes(ffi.buffer(out.hist))
    latency = LatencyHistogram()
    latency.merge_counts(counts, out.lat_sum_ns, out.lat_min_ns, out.lat_max_ns)
    return LoadResult(
        pattern=pattern, block_size=block_size, qd=qd, ios=out.ios, errors=out.errors,
        first_error=_first_error(out.first_error) if out.errors else None, bytes=out.bytes,
        elapsed_ns=out.elapsed_ns, enters=out.enters, latency=latency,
    )  # fmt: skip


class _Group:
    """The jobs one worker thread runs on one ring, and what they share: buffers, a ring, the slices."""

    def __init__(self, jobs: Sequence[EngineJob], first_index: int) -> None:
        self.jobs = list(jobs)
        self.first_index = first_index  # of its first job in run_groups' flat order
        options = {job.ring_options() for job in self.jobs}
        if len(options) > 1:
            raise UsageError(
                "jobs on one ring must share the interface, batching, iopoll, sqpoll, duration and slice"
            )
        total = sum(job.qd for job in self.jobs)
        if self.jobs[0].interface != "ioctl" and total > MAX_QD:
            raise UsageError(f"a ring's jobs keep {total} I/Os in flight: at most {MAX_QD}")
        if len(self.jobs) > MAX_JOBS_PER_RING:
            raise UsageError(f"{len(self.jobs)} jobs on one ring: at most {MAX_JOBS_PER_RING}")
        self.total_qd = total


def _refused(what: str, exc: OSError) -> EngineUnavailable:
    return EngineUnavailable(f"{what}: {exc.strerror}")


def _run_group(
    group: _Group,
    deliver: Callable[[int, LoadResult], None] | None,
    stop: Stoppable | None,
    halt: threading.Event,
    start: threading.Barrier,
) -> list[LoadResult]:
    try:
        return _run_group_started(group, deliver, stop, halt, start)
    except BaseException:
        # A group that failed before the start must not keep the others waiting (after it, aborting the
        # barrier changes nothing); one that failed in the run ends the others within a slice.
        start.abort()
        halt.set()
        raise


def _run_group_started(
    group: _Group,
    deliver: Callable[[int, LoadResult], None] | None,
    stop: Stoppable | None,
    halt: threading.Event,
    start: threading.Barrier,
) -> list[LoadResult]:
    ffi, lib = load()
    _check_layout(lib)
    jobs, first = group.jobs, group.jobs[0]
    interface = first.interface
    ring: Ring | None = None
    if interface != "ioctl":
        try:  # created here: its completions are this thread's task work
            ring = Ring(
                max(group.total_qd, 1), iopoll=first.iopoll, sqpoll=first.sqpoll,
                passthrough=interface == "uring_cmd",
            )  # fmt: skip
        except OSError as exc:
            flags = "+".join(f for f, on in (("IOPOLL", first.iopoll), ("SQPOLL", first.sqpoll)) if on)
            raise _refused(f"the kernel refused an io_uring{' with ' + flags if flags else ''}", exc) from exc
    try:
        sizes = [job.qd * job.block_size for job in jobs]
        memory = mmap.mmap(-1, sum(sizes))  # page aligned, one slot per I/O in flight
        buffers: Any = ffi.from_buffer(memory)
        base = int(ffi.cast("uintptr_t", buffers))
        offsets = [sum(sizes[:k]) for k in range(len(jobs))]
        slot_bases = [sum(job.qd for job in jobs[:k]) for k in range(len(jobs))]
        for job, offset, size in zip(jobs, offsets, sizes, strict=True):
            if PATTERNS[job.pattern][0] == 0x01:
                fill = job.data * job.qd if job.data is not None else None
                memory[offset : offset + size] = fill or random.Random(job.seed).randbytes(size)
        if ring is not None and any(job.fixed for job in jobs):
            iov = [
                (base + offset + i * job.block_size, job.block_size)
                for job, offset in zip(jobs, offsets, strict=True)
                for i in range(job.qd)
            ]
            try:
                ring.register_buffers(iov)
            except OSError as exc:
                raise _refused(f"the kernel refused to register {len(iov)} buffers", exc) from exc
        keep: list[Any] = []
        params = ffi.new("struct nvt_engine_params[]", len(jobs))
        for k, job in enumerate(jobs):
            p = params[k]
            opcode, is_random = PATTERNS[job.pattern]
            p.fd, p.nsid, p.opcode, p.random = job.fd, job.nsid, opcode, int(is_random)
            p.lba_size, p.block_size = job.lba_size, job.block_size
            p.metadata_size = job.metadata_size if interface != "block" else 0
            p.qd, p.fixed, p.stop_on_errno = job.qd, int(job.fixed), int(job.stop_on_errno)
            p.interface = INTERFACES.index(interface)  # NVT_IF_URING_CMD, _BLOCK, _IOCTL
            p.batch = 0 if job.batched else 1
            p.buf_base = slot_bases[k]
            p.first_lba, p.lba_count = job.first_lba, job.lba_count
            p.seed, p.position = job.seed, 0
            p.buffers = ffi.cast("unsigned char *", buffers) + offsets[k]
            p.metadata = ffi.NULL
            if p.metadata_size:
                md_bytes = job.qd * (job.block_size // job.lba_size) * job.metadata_size
                metadata = ffi.new("unsigned char[]", md_bytes)
                keep.append(metadata)
                p.metadata = metadata
        return _slices(group, ring, params, deliver, stop, halt, start)
    finally:
        if ring is not None:
            ring.close()  # every I/O was reaped (or the ring failed): the buffers may go after this


def _slices(
    group: _Group,
    ring: Ring | None,
    params: Any,
    deliver: Callable[[int, LoadResult], None] | None,
    stop: Stoppable | None,
    halt: threading.Event,
    start: threading.Barrier,
) -> list[LoadResult]:
    ffi, lib = load()
    jobs, first = group.jobs, group.jobs[0]
    n = len(jobs)
    active = ffi.new("struct nvt_engine_params[]", n)
    outs = ffi.new("struct nvt_engine_result[]", n)
    totals = [LatencyHistogram() for _ in jobs]
    ios, errors, nbytes = [0] * n, [0] * n, [0] * n
    first_errors: list[str | None] = [None] * n
    enters = 0
    slice_ns = int(first.slice_seconds * 1e9) if first.slice_seconds > 0 else 0
    try:
        start.wait()
    except threading.BrokenBarrierError:
        raise DeviceError("another engine thread of this run failed before the start") from None
    begin = time.monotonic_ns()
    deadline = begin + int(first.seconds * 1e9)
    if first.not_after_ns:
        deadline = min(deadline, first.not_after_ns)
    checked = False  # the first slice's errors say whether the interface works here at all
    # With a wall-clock budget (not_after_ns), the last I/Os must also be reaped, and their slice counted,
    # within it: issuing stops early by the slowest completion of the slice before (at most a fifth of the
    # run) and by the longest a slice's counting took (under TCG, tens of milliseconds).
    drain_ns = post_ns = 0
    while not halt.is_set() and not (stop is not None and stop.is_set()):
        left = deadline - time.monotonic_ns() - drain_ns - post_ns
        running = [k for k, job in enumerate(jobs) if not (job.max_ios and ios[k] >= job.max_ios)]
        if left <= 0 or not running:
            break
        for i, k in enumerate(running):
            active[i] = params[k]
            active[i].duration_ns = min(left, slice_ns) if slice_ns else left
            active[i].max_ios = jobs[k].max_ios - ios[k] if jobs[k].max_ios else 0
        ret = lib.nvt_engine_run(ring._r if ring is not None else ffi.NULL, active, len(running), outs)
        ended = time.monotonic_ns()
        if ret < 0:
            raise DeviceError(f"load run failed: {errno_name(-ret)} ({os.strerror(-ret)})")
        for i, k in enumerate(running):
            out, job = outs[i], jobs[k]
            part = _slice_result(ffi, out, job.pattern, job.block_size, job.qd)
            ios[k] += part.ios
            errors[k] += part.errors
            nbytes[k] += part.bytes
            if first_errors[k] is None:
                first_errors[k] = part.first_error
            totals[k].merge(part.latency)
            params[k].seed, params[k].position = out.next_seed, out.next_position
            if deliver is not None:
                deliver(group.first_index + k, part)
            if job.stop_on_errno and out.first_error < 0:  # the kernel failed an I/O: drained, stopped
                failure = f"{job.pattern} on nsid {job.nsid} failed: {part.first_error}"
                if not checked and out.ios == out.errors:  # not one I/O went through: it cannot run here
                    raise EngineUnavailable(f"{job.interface} {failure}")
                raise DeviceError(failure)
        enters += outs[0].enters
        checked = True
        if first.not_after_ns:
            drain_ns = min(max(outs[i].lat_max_ns for i in range(len(running))), int(first.seconds * 0.2e9))
            post_ns = max(post_ns, time.monotonic_ns() - ended)
    elapsed = time.monotonic_ns() - begin
    results = []
    for k, job in enumerate(jobs):
        results.append(
            LoadResult(
                pattern=job.pattern, block_size=job.block_size, qd=job.qd, ios=ios[k], errors=errors[k],
                first_error=first_errors[k], bytes=nbytes[k], elapsed_ns=elapsed, enters=enters,
                latency=totals[k],
            )
        )
    return results


def run_nops(qd: int, seconds: float) -> LoadResult:
    """Keep `qd` IORING_OP_NOPs in flight for `seconds` through the engine, on a ring of its own, every
    NOP timed and counted in the histogram as an I/O would be: what the ring costs by itself, on any
    machine (no device; benchmarks/host_ring.py). Blocks the calling thread."""
    if not 1 <= qd <= MAX_QD:
        raise UsageError(f"queue depth {qd} out of range 1-{MAX_QD}")
    ffi, lib = load()
    _check_layout(lib)
    ring = Ring(qd)
    try:
        params = ffi.new("struct nvt_engine_params *")
        params.qd, params.nop, params.duration_ns = qd, 1, int(seconds * 1e9)
        out = ffi.new("struct nvt_engine_result *")
        ret = lib.nvt_engine_run(ring._r, params, 1, out)
        if ret < 0:
            raise DeviceError(f"NOP run failed: {errno_name(-ret)} ({os.strerror(-ret)})")
        return _slice_result(ffi, out, "nop", 0, qd)
    finally:
        ring.close()


async def run_groups(
    groups: Sequence[Sequence[EngineJob]],
    *,
    on_slice: Callable[[int, LoadResult], None] | None = None,
    stop: Stoppable | None = None,
) -> list[LoadResult]:
    """Run every group of jobs on a ring of its own, in a worker thread of its own, all starting together;
    one result per job, in the order of the jobs over the groups (`on_slice` gets that index with each
    slice's result, on the event loop's thread). The jobs of a group share one ring (their depths add
    up) and must agree on `EngineJob.ring_options`. Each result's `elapsed_ns` and `enters` are its
    ring's. `stop` or cancelling this call ends every group within one slice; the first group to fail
    ends the others the same way and its error is raised."""
    if not groups or not all(groups):
        raise UsageError("a run needs at least one group of at least one job")
    firsts = [sum(len(g) for g in groups[:i]) for i in range(len(groups))]
    built = [_Group(g, first) for g, first in zip(groups, firsts, strict=True)]
    loop = asyncio.get_running_loop()
    deliver: Callable[[int, LoadResult], None] | None = None
    if on_slice is not None:
        callback = on_slice

        def deliver(index: int, part: LoadResult) -> None:
            loop.call_soon_threadsafe(callback, index, part)

    halt = threading.Event()
    start = threading.Barrier(len(built))
    workers = [
        asyncio.ensure_future(asyncio.to_thread(_run_group, g, deliver, stop, halt, start)) for g in built
    ]
    try:
        done = await asyncio.shield(asyncio.gather(*workers, return_exceptions=True))
    except asyncio.CancelledError:
        halt.set()  # the C loops end at their slice's end; wait for them so the buffers outlive the I/O
        await asyncio.wait(workers)
        raise
    results: list[LoadResult] = []
    failures = [r for r in done if isinstance(r, BaseException)]
    if failures:
        # the group that failed first says why; "another engine thread failed" is only its echo
        raise next((f for f in failures if not _is_echo(f)), failures[0])
    for part in done:
        assert not isinstance(part, BaseException)
        results.extend(part)
    return results


def _is_echo(exc: BaseException) -> bool:
    return isinstance(exc, DeviceError) and "another engine thread" in str(exc)


async def run_load(
    job: EngineJob,
    *,
    on_slice: Callable[[LoadResult], None] | None = None,
    stop: Stoppable | None = None,
) -> LoadResult:
    """Run `job` on a ring of its own in a worker thread and return its counts and latencies.

    `on_slice` gets each slice's result on the event loop's thread, for a live chart; `stop` (an asyncio
    or threading Event) or cancelling this call ends the run within one slice. A kernel errno on an I/O
    ends it with a DeviceError (see EngineJob.stop_on_errno); EngineUnavailable when the kernel refuses
    the ring or its buffers, or fails the very first slice's every I/O."""
    callback = None if on_slice is None else (lambda _index, part: on_slice(part))
    (result,) = await run_groups([[job]], on_slice=callback, stop=stop)
    return result
