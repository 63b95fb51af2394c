"""`nvtui bench`: load a namespace with reads or writes and measure IOPS, bandwidth, latency and CPU cost.

Real devices on the uring backend run the C load engine (batched submit and reap, every I/O timed in C);
the simulator and the ioctl backend run a Python random or sequential LBA generator over
`nvtui.load.run_load`. Either way every I/O's latency lands in one `LatencyHistogram`. No printing here:
the CLI renders a `BenchResult`.
"""

from __future__ import annotations

import os
import random
import resource
import time
from dataclasses import dataclass
from typing import Any

from nvtui.backend import Backend, BackendBase, open_backend
from nvtui.backend.histogram import LatencyHistogram
from nvtui.errors import DeviceError, UsageError
from nvtui.load import EngineLoad, LoadSpec, run_load
from nvtui.nvme.command import Command
from nvtui.nvme.completion import Completion
from nvtui.nvme.decode.identify import current_lba_format

PATTERNS = {
    "randread": (0x02, True),
    "randwrite": (0x01, True),
    "read": (0x02, False),
    "write": (0x01, False),
}
WRITE_PATTERNS = frozenset({"randwrite", "write"})
ADMIN_IDENTIFY, CNS_NAMESPACE, CNS_CONTROLLER = 0x06, 0x00, 0x01
IDENTIFY_SIZE = 4096
MIN_PAGE_SIZE = (
    4096  # CAP.MPSMIN, the unit of MDTS: not readable from user space; 4 KiB on every known device
)
MAX_QD = 4096


@dataclass(frozen=True)
class Geometry:
    """What a bench needs to know about the namespace (Identify Namespace / Controller)."""

    lba_size: int
    metadata_size: int  # separate metadata bytes per LBA (0: none, or interleaved)
    extended: bool
    size_lbas: int  # NSZE
    max_transfer: int  # bytes (MDTS), 0: no limit


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


def _cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)  # every thread of the process: the engine's worker too
    return r.ru_utime + r.ru_stime


def check_block_size(bs: int, geometry: Geometry) -> None:
    """UsageError, one line naming the allowed values, unless bs is a multiple of the LBA size within MDTS."""
    lba, limit = geometry.lba_size, geometry.max_transfer
    allowed = f"a multiple of the LBA size {lba}" + (f" up to the MDTS limit of {limit}" if limit else "")
    if bs <= 0 or bs % lba or (limit and bs > limit) or bs // lba > 65536:
        raise UsageError(f"--bs {bs}: the block size must be {allowed} bytes")


async def _identify(backend: Backend, cns: int, nsid: int) -> bytes:
    done = await backend.submit(
        Command(opcode=ADMIN_IDENTIFY, admin=True, nsid=nsid, cdw10=cns, data_len=IDENTIFY_SIZE)
    )
    if not done.ok or done.data is None:
        raise DeviceError(f"{backend.device}: Identify (CNS {cns:#x}) failed: {done.status}")
    return done.data


async def geometry_of(backend: Backend) -> Geometry:
    ns = await _identify(backend, CNS_NAMESPACE, backend.nsid)
    ctrl = await _identify(backend, CNS_CONTROLLER, 0)
    try:
        lba_size, ms, extended = current_lba_format(ns)
    except ValueError as exc:
        raise DeviceError(f"{backend.device}: unusable Identify Namespace data: {exc}") from exc
    mdts = ctrl[77]  # Identify Controller MDTS: 2**n minimum pages (NVMe Base 2.0, Fig. 275); 0: no limit
    return Geometry(
        lba_size=lba_size,
        metadata_size=ms,
        extended=extended,
        size_lbas=int.from_bytes(ns[0:8], "little"),  # NSZE (NVMe Base 2.0, Fig. 276)
        max_transfer=MIN_PAGE_SIZE << mdts if mdts else 0,
    )


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
        geometry = await geometry_of(backend)
        check_block_size(bs, geometry)
        if geometry.size_lbas < bs // geometry.lba_size:
            raise UsageError(f"{device} holds {geometry.size_lbas} LBAs: less than one {bs}-byte I/O")
        if isinstance(backend, EngineLoad):
            engine: EngineLoad = backend
            return await _bench_engine(
                engine, backend, device, rw, bs, qd, seconds, fixed_buffers, poll, seed
            )
        if fixed_buffers or poll:
            raise UsageError(
                f"--fixed-buffers and --poll need the uring backend; {device} is open with {backend.kind}"
            )
        return await _bench_submit(backend, device, geometry, rw, bs, qd, seconds, seed)
    finally:
        await backend.close()


async def _bench_engine(
    engine: EngineLoad,
    backend: Backend,
    device: str,
    rw: str,
    bs: int,
    qd: int,
    seconds: float,
    fixed: bool,
    poll: bool,
    seed: int,
) -> BenchResult:
    cpu0 = _cpu_seconds()
    run: Any = await engine.run_load(
        pattern=rw, block_size=bs, qd=qd, seconds=seconds, fixed=fixed, iopoll=poll, seed=seed
    )
    cpu = _cpu_seconds() - cpu0
    return BenchResult(
        device=device, backend=backend.kind, engine="c", rw=rw, bs=bs, qd=qd, fixed_buffers=fixed, poll=poll,
        seconds=run.elapsed_ns / 1e9, ios=run.ios, errors=run.errors, first_error=run.first_error,
        bytes=run.bytes, cpu_seconds=cpu, latency=run.latency, enters=run.enters,
    )  # fmt: skip


class _FirstError(BackendBase):
    """Passes commands through and keeps the first failed completion's status name."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.kind, self.device, self.nsid = backend.kind, backend.device, backend.nsid
        self.first_error: str | None = None

    async def submit(self, cmd: Command) -> Completion:
        done = await self.backend.submit(cmd)
        if not done.ok and self.first_error is None:
            self.first_error = str(done.status)
        return done


async def _bench_submit(
    backend: Backend, device: str, geometry: Geometry, rw: str, bs: int, qd: int, seconds: float, seed: int
) -> BenchResult:
    opcode, is_random = PATTERNS[rw]
    nlb = bs // geometry.lba_size
    slots = geometry.size_lbas // nlb
    md_len = nlb * geometry.metadata_size if not geometry.extended else 0
    data = random.Random(seed).randbytes(bs) if opcode == 0x01 else None
    metadata = bytes(md_len) if opcode == 0x01 and md_len else None
    rng = random.Random(seed)
    nsid = backend.nsid

    def next_command(i: int) -> Command:
        slba = (rng.randrange(slots) if is_random else i % slots) * nlb
        return Command(
            opcode=opcode, admin=False, nsid=nsid, cdw10=slba & 0xFFFFFFFF, cdw11=slba >> 32, cdw12=nlb - 1,
            data_len=bs, metadata_len=md_len, data=data, metadata=metadata,
        )  # fmt: skip

    cpu0 = _cpu_seconds()
    t0 = time.monotonic()
    watched = _FirstError(backend)
    outcome = await run_load(watched, next_command, LoadSpec(queue_depth=qd, seconds=seconds))
    elapsed = time.monotonic() - t0
    cpu = _cpu_seconds() - cpu0
    if outcome.failure is not None:
        raise DeviceError(outcome.failure)
    h = outcome.stats.total
    errors = outcome.stats.errors
    return BenchResult(
        device=device, backend=backend.kind, engine="python", rw=rw, bs=bs, qd=qd, fixed_buffers=False,
        poll=False, seconds=elapsed, ios=h.count, errors=errors,
        first_error=watched.first_error, bytes=(h.count - errors) * bs,
        cpu_seconds=cpu, latency=h,
    )  # fmt: skip
