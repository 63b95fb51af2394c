"""The load engine from Python: `run_load` keeps `qd` reads or writes in flight for a while, entirely in
C (engine.c), on a ring of its own in a worker thread, and returns counts and a latency histogram.
"""

from __future__ import annotations

import asyncio
import mmap
import os
import random
import threading
import time
from array import array
from collections.abc import Callable
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
MAX_QD = 4096  # NVT_ENGINE_MAX_QD


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

    `fixed`: registered buffers; `iopoll`: a polled ring (the device needs poll queues). The engine runs
    in slices of `slice_seconds` (every I/O of a slice reaped before the next starts). An I/O the kernel
    fails with an errno (the device went away) ends the run once the I/Os in flight are reaped, unless
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
    data: bytes | None = None  # what every write writes (block_size bytes); None: random bytes from `seed`

    def __post_init__(self) -> None:
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


def _run(
    job: EngineJob,
    deliver: Callable[[LoadResult], None] | None,
    stop: Stoppable | None,
    halt: threading.Event,
) -> LoadResult:
    ffi, lib = load()
    _check_layout(lib)
    opcode, is_random = PATTERNS[job.pattern]
    qd, block_size = job.qd, job.block_size
    ring = Ring(max(qd, 1), iopoll=job.iopoll)  # created here: its completions are this thread's task work
    try:
        memory = mmap.mmap(-1, qd * block_size)  # page aligned, one slot per I/O in flight
        if opcode == 0x01:
            fill = job.data * qd if job.data is not None else None
            memory[:] = fill or random.Random(job.seed).randbytes(qd * block_size)
        buffers: Any = ffi.from_buffer(memory)
        base = int(ffi.cast("uintptr_t", buffers))
        if job.fixed:
            ring.register_buffers([(base + i * block_size, block_size) for i in range(qd)])
        metadata: Any = ffi.NULL
        if job.metadata_size:
            metadata = ffi.new("unsigned char[]", qd * (block_size // job.lba_size) * job.metadata_size)
        params = ffi.new("struct nvt_engine_params *")
        params.fd, params.nsid, params.opcode, params.random = job.fd, job.nsid, opcode, int(is_random)
        params.lba_size, params.block_size, params.metadata_size = job.lba_size, block_size, job.metadata_size
        params.qd, params.fixed, params.stop_on_errno = qd, int(job.fixed), int(job.stop_on_errno)
        params.first_lba, params.lba_count = job.first_lba, job.lba_count
        params.seed, params.position = job.seed, 0
        params.buffers = ffi.cast("unsigned char *", buffers)
        params.metadata = metadata
        out = ffi.new("struct nvt_engine_result *")
        total = LatencyHistogram()
        ios = errors = nbytes = enters = 0
        first_error: str | None = None
        slice_ns = int(job.slice_seconds * 1e9) if job.slice_seconds > 0 else 0
        begin = time.monotonic_ns()
        deadline = begin + int(job.seconds * 1e9)
        while not halt.is_set() and not (stop is not None and stop.is_set()):
            left = deadline - time.monotonic_ns()
            if left <= 0 or (job.max_ios and ios >= job.max_ios):
                break
            params.duration_ns = min(left, slice_ns) if slice_ns else left
            params.max_ios = job.max_ios - ios if job.max_ios else 0
            ret = lib.nvt_engine_run(ring._r, params, out)
            if ret < 0:
                raise DeviceError(f"load run failed: {errno_name(-ret)} ({os.strerror(-ret)})")
            part = _slice_result(ffi, out, job.pattern, block_size, qd)
            ios, errors, nbytes, enters = (
                ios + part.ios,
                errors + part.errors,
                nbytes + part.bytes,
                enters + part.enters,
            )
            if first_error is None:
                first_error = part.first_error
            total.merge(part.latency)
            params.seed, params.position = out.next_seed, out.next_position
            if deliver is not None:
                deliver(part)
            if job.stop_on_errno and out.first_error < 0:  # the kernel failed an I/O: drained, stopped
                raise DeviceError(f"{job.pattern} on nsid {job.nsid} failed: {part.first_error}")
        return LoadResult(
            pattern=job.pattern, block_size=block_size, qd=qd, ios=ios, errors=errors,
            first_error=first_error, bytes=nbytes, elapsed_ns=time.monotonic_ns() - begin, enters=enters,
            latency=total,
        )  # fmt: skip
    finally:
        ring.close()  # every I/O was reaped (or the ring failed): the buffers may go after this


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
        ret = lib.nvt_engine_run(ring._r, params, out)
        if ret < 0:
            raise DeviceError(f"NOP run failed: {errno_name(-ret)} ({os.strerror(-ret)})")
        return _slice_result(ffi, out, "nop", 0, qd)
    finally:
        ring.close()


async def run_load(
    job: EngineJob,
    *,
    on_slice: Callable[[LoadResult], None] | None = None,
    stop: Stoppable | None = None,
) -> LoadResult:
    """Run `job` on a ring of its own in a worker thread and return its counts and latencies.

    `on_slice` gets each slice's result on the event loop's thread, for a live chart; `stop` (an asyncio
    or threading Event) or cancelling this call ends the run within one slice. A kernel errno on an I/O
    ends it with a DeviceError (see EngineJob.stop_on_errno)."""
    loop = asyncio.get_running_loop()
    deliver: Callable[[LoadResult], None] | None = None
    if on_slice is not None:
        callback = on_slice

        def deliver(part: LoadResult) -> None:
            loop.call_soon_threadsafe(callback, part)

    halt = threading.Event()
    worker = asyncio.ensure_future(asyncio.to_thread(_run, job, deliver, stop, halt))
    try:
        return await asyncio.shield(worker)
    except asyncio.CancelledError:
        halt.set()  # the C loop ends at its slice's end; wait for it so the buffers outlive the I/O
        await asyncio.wait([worker])
        raise
