"""The load engine from Python: `run_load` keeps `qd` reads or writes in flight for a while, entirely in
C (engine.c), on a ring of its own in a worker thread, and returns counts and a latency histogram.
"""

from __future__ import annotations

import asyncio
import mmap
import os
import random
from dataclasses import dataclass, field
from typing import Any

from nvtui.backend.uring.ring import Ring, errno_name, load
from nvtui.errors import DeviceError, UsageError
from nvtui.nvme.completion import Status

PATTERNS = {
    "randread": (0x02, True),
    "randwrite": (0x01, True),
    "read": (0x02, False),
    "write": (0x01, False),
}


def bucket_bounds(index: int) -> tuple[int, int]:
    """[low, high] nanoseconds of histogram bucket `index` (see NVT_HIST_* in ring_core.h)."""
    sub_bits = 4
    sub = 1 << sub_bits
    if index < 2 * sub:
        return index, index
    shift = index // sub - 1
    mantissa = sub + index % sub
    return mantissa << shift, ((mantissa + 1) << shift) - 1


@dataclass(frozen=True)
class LoadResult:
    pattern: str
    block_size: int
    qd: int
    ios: int
    errors: int
    first_error: str | None  # the first failed I/O's NVMe status or errno, by name
    bytes: int
    elapsed_ns: int
    enters: int  # io_uring_enter calls
    lat_min_ns: int
    lat_max_ns: int
    lat_sum_ns: int
    histogram: dict[int, int] = field(repr=False)  # bucket index -> I/Os

    @property
    def iops(self) -> float:
        return self.ios / (self.elapsed_ns / 1e9) if self.elapsed_ns else 0.0

    @property
    def bandwidth(self) -> float:
        """Bytes per second."""
        return self.bytes / (self.elapsed_ns / 1e9) if self.elapsed_ns else 0.0

    @property
    def lat_mean_ns(self) -> float:
        return self.lat_sum_ns / self.ios if self.ios else 0.0

    def percentile(self, p: float) -> int:
        """Upper bound (ns) of the bucket holding the p-th percentile latency (0 < p <= 100)."""
        if not self.ios:
            return 0
        rank = p / 100 * self.ios
        seen = 0
        for index in sorted(self.histogram):
            seen += self.histogram[index]
            if seen >= rank:
                return min(bucket_bounds(index)[1], self.lat_max_ns)
        return self.lat_max_ns


def _run(
    fd: int,
    nsid: int,
    pattern: str,
    lba_size: int,
    metadata_size: int,
    block_size: int,
    qd: int,
    seconds: float,
    first_lba: int,
    lba_count: int,
    max_ios: int,
    fixed: bool,
    iopoll: bool,
    seed: int,
) -> LoadResult:
    ffi, lib = load()
    opcode, is_random = PATTERNS[pattern]
    ring = Ring(max(qd, 1), iopoll=iopoll)  # created here: its completions are this thread's task work
    try:
        memory = mmap.mmap(-1, qd * block_size)  # page aligned, one slot per I/O in flight
        if opcode == 0x01:
            memory[:] = random.Random(seed).randbytes(qd * block_size)
        buffers: Any = ffi.from_buffer(memory)
        base = int(ffi.cast("uintptr_t", buffers))
        if fixed:
            ring.register_buffers([(base + i * block_size, block_size) for i in range(qd)])
        metadata: Any = ffi.NULL
        if metadata_size:
            metadata = ffi.new("unsigned char[]", qd * (block_size // lba_size) * metadata_size)
        params = ffi.new("struct nvt_engine_params *")
        params.fd, params.nsid, params.opcode, params.random = fd, nsid, opcode, int(is_random)
        params.lba_size, params.block_size, params.metadata_size = lba_size, block_size, metadata_size
        params.qd, params.fixed = qd, int(fixed)
        params.first_lba, params.lba_count = first_lba, lba_count
        params.duration_ns, params.max_ios, params.seed = int(seconds * 1e9), max_ios, seed
        params.buffers = ffi.cast("unsigned char *", buffers)
        params.metadata = metadata
        out = ffi.new("struct nvt_engine_result *")
        ret = lib.nvt_engine_run(ring._r, params, out)
        if ret < 0:
            raise DeviceError(f"load run failed: {errno_name(-ret)} ({os.strerror(-ret)})")
        first_error: str | None = None
        if out.errors:
            code = out.first_error
            first_error = errno_name(-code) if code < 0 else str(Status(code))
        histogram = {i: int(out.hist[i]) for i in range(lib.NVT_HIST_BUCKETS) if out.hist[i]}
        return LoadResult(
            pattern=pattern, block_size=block_size, qd=qd, ios=out.ios, errors=out.errors,
            first_error=first_error, bytes=out.bytes, elapsed_ns=out.elapsed_ns, enters=out.enters,
            lat_min_ns=out.lat_min_ns, lat_max_ns=out.lat_max_ns, lat_sum_ns=out.lat_sum_ns,
            histogram=histogram,
        )  # fmt: skip
    finally:
        ring.close()  # every I/O was reaped (or the ring failed): the buffers may go after this


async def run_load(
    fd: int,
    nsid: int,
    *,
    lba_size: int,
    lba_count: int,
    metadata_size: int = 0,
    pattern: str = "randread",
    block_size: int = 4096,
    qd: int = 32,
    seconds: float = 5.0,
    first_lba: int = 0,
    max_ios: int = 0,
    fixed: bool = False,
    iopoll: bool = False,
    seed: int = 1,
) -> LoadResult:
    """Drive namespace char device `fd` with `pattern` I/Os of `block_size` at depth `qd` for `seconds`
    (or `max_ios`) over LBAs [first_lba, first_lba + lba_count). Writes overwrite that region."""
    if pattern not in PATTERNS:
        raise UsageError(f"unknown pattern {pattern!r}; choose one of {', '.join(PATTERNS)}")
    if block_size <= 0 or block_size % lba_size:
        raise UsageError(f"block size {block_size} is not a multiple of the LBA size {lba_size}")
    if not 1 <= qd <= 4096:
        raise UsageError(f"queue depth {qd} out of range 1-4096")
    if lba_count < block_size // lba_size:
        raise UsageError(f"the region of {lba_count} LBAs is smaller than one I/O")
    return await asyncio.to_thread(
        _run, fd, nsid, pattern, lba_size, metadata_size, block_size, qd, seconds, first_lba, lba_count,
        max_ios, fixed, iopoll, seed,
    )  # fmt: skip
