"""`nvtui bench`: load a namespace with reads or writes and measure IOPS, bandwidth, latency and CPU cost.

The run is one `nvtui.load.LoadJob`: a Read or Write of `bs` bytes moved at random or sequentially over the
namespace. On the uring backend the C load engine runs it (batched submit and reap, every I/O timed in C);
the simulator and the ioctl backend send each I/O through `submit`. Either way every I/O's latency lands in
one `LatencyHistogram`. No printing here: the CLI renders a `BenchResult`.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

from nvtui.backend import open_backend
from nvtui.backend.histogram import LatencyHistogram
from nvtui.errors import DeviceError, UsageError
from nvtui.load import Geometry, LoadJob, namespace_geometry, run_job
from nvtui.nvme.command import Command

PATTERNS = {
    "randread": (0x02, True),
    "randwrite": (0x01, True),
    "read": (0x02, False),
    "write": (0x01, False),
}
WRITE_PATTERNS = frozenset({"randwrite", "write"})
MAX_QD = 4096


@dataclass(frozen=True)
class BenchResult:
    device: str
    backend: str
    engine: str  # "c" (the uring load engine) or "python" (load.run_load over submit)
    rw: str
    bs: int
    qd: int
    fixed_buffers: bool
    poll: bool
    seconds: float  # measured
    ios: int
    errors: int
    first_error: str | None
    bytes: int
    cpu_seconds: float  # this process's user + system time over the run
    latency: LatencyHistogram
    enters: int | None = None  # io_uring_enter calls (engine only)

    @property
    def iops(self) -> float:
        return self.ios / self.seconds if self.seconds else 0.0

    @property
    def mb_per_s(self) -> float:
        """Megabytes (10**6) per second, as fio reports MB/s."""
        return self.bytes / self.seconds / 1e6 if self.seconds else 0.0

    @property
    def cpu_per_io_ns(self) -> float:
        return self.cpu_seconds * 1e9 / self.ios if self.ios else 0.0

    def to_json(self) -> dict[str, object]:
        h = self.latency
        return {
            "device": self.device,
            "backend": self.backend,
            "engine": self.engine,
            "rw": self.rw,
            "bs": self.bs,
            "qd": self.qd,
            "fixed_buffers": self.fixed_buffers,
            "poll": self.poll,
            "seconds": round(self.seconds, 6),
            "ios": self.ios,
            "errors": self.errors,
            "first_error": self.first_error,
            "bytes": self.bytes,
            "iops": round(self.iops, 1),
            "mb_per_s": round(self.mb_per_s, 3),
            "latency_ns": {
                "min": h.min_ns,
                "mean": round(h.mean_ns),
                "p50": h.percentile(50),
                "p90": h.percentile(90),
                "p99": h.percentile(99),
                "p99.9": h.percentile(99.9),
                "max": h.max_ns,
            },
            "cpu_seconds": round(self.cpu_seconds, 6),
            "cpu_per_io_ns": round(self.cpu_per_io_ns, 1),
            "enters": self.enters,
        }


def check_block_size(bs: int, geometry: Geometry) -> None:
    """UsageError, one line naming the allowed values, unless bs is a multiple of the LBA size within MDTS."""
    lba, limit = geometry.lba_format.lba_size, geometry.max_transfer
    allowed = f"a multiple of the LBA size {lba}" + (f" up to the MDTS limit of {limit}" if limit else "")
    if bs <= 0 or bs % lba or (limit and bs > limit) or bs // lba > 65536:
        raise UsageError(f"--bs {bs}: the block size must be {allowed} bytes")


async def run_bench(
    device: str,
    *,
    rw: str = "randread",
    bs: int = 4096,
    qd: int = 32,
    seconds: float = 5.0,
    backend_kind: str | None = None,
    fixed_buffers: bool = False,
    poll: bool = False,
    allow_destructive: bool = False,
    seed: int | None = None,
) -> BenchResult:
    """Load `device` (a namespace) with `rw` I/Os of `bs` bytes at depth `qd` for `seconds`.

    Writes overwrite the whole namespace's data and are refused (UsageError) before the device is even
    opened unless `allow_destructive`. UsageError for a controller device, a bad block size or depth.
    `seed` fixes the random offsets (None: a fresh seed each run, so a read run does not retrace the
    offsets an earlier write run wrote)."""
    if seed is None:
        seed = int.from_bytes(os.urandom(8), "little") | 1
    if rw not in PATTERNS:
        raise UsageError(f"--rw {rw}: choose one of {', '.join(PATTERNS)}")
    if rw in WRITE_PATTERNS and not allow_destructive:
        raise UsageError(f"--rw {rw} overwrites the data on {device}: add --allow-destructive to run it")
    if not 1 <= qd <= MAX_QD:
        raise UsageError(f"--qd {qd}: the queue depth must be 1-{MAX_QD}")
    if not 0 < seconds <= 86400:
        raise UsageError(f"--seconds {seconds}: the duration must be in (0, 86400]")
    backend = await open_backend(device, backend_kind)  # plain: the engine sets up its own ring
    try:
        if backend.nsid == 0:
            raise UsageError(
                f"{device} is a controller (admin commands only): bench needs a namespace device such "
                f"as {device.removeprefix('/dev/').replace('nvme', 'ng', 1)}n1"
            )
        geometry = await namespace_geometry(backend)
        check_block_size(bs, geometry)
        if geometry.size_lbas < bs // geometry.lba_format.lba_size:
            raise UsageError(f"{device} holds {geometry.size_lbas} LBAs: less than one {bs}-byte I/O")
        if (fixed_buffers or poll) and backend.engine is None:
            raise UsageError(
                f"--fixed-buffers and --poll need the uring backend; {device} is open with {backend.kind}"
            )
        job = LoadJob(
            bench_command(rw, bs, backend.nsid, geometry, seed), queue_depth=qd, seconds=seconds,
            lba_pattern="random" if PATTERNS[rw][1] else "sequential", fixed_buffers=fixed_buffers,
            poll=poll, seed=seed,
        )  # fmt: skip
        outcome = await run_job(backend, job)
    finally:
        await backend.close()
    if outcome.failure is not None:
        raise DeviceError(outcome.failure)
    h = outcome.stats.total
    return BenchResult(
        device=device, backend=backend.kind, engine=outcome.engine, rw=rw, bs=bs, qd=qd,
        fixed_buffers=fixed_buffers, poll=poll, seconds=outcome.seconds, ios=h.count,
        errors=outcome.stats.errors, first_error=outcome.first_error, bytes=outcome.bytes,
        cpu_seconds=outcome.cpu_seconds, latency=h, enters=outcome.enters,
    )  # fmt: skip


def bench_command(rw: str, bs: int, nsid: int, geometry: Geometry, seed: int) -> Command:
    """The Read or Write of `bs` bytes at LBA 0 that the bench moves over the namespace; a write carries
    random data (from `seed`) and, when the namespace keeps metadata in a separate buffer, zeros for it."""
    opcode = PATTERNS[rw][0]
    fmt = geometry.lba_format
    nlb = bs // fmt.lba_size
    md_len = nlb * fmt.separate_metadata
    write = opcode == 0x01
    return Command(
        opcode=opcode, admin=False, nsid=nsid, cdw12=nlb - 1, data_len=bs, metadata_len=md_len,
        data=random.Random(seed).randbytes(bs) if write else None,
        metadata=bytes(md_len) if write and md_len else None,
    )  # fmt: skip
