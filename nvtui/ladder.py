"""`nvtui bench DEV --ladder`: one workload through each interface to a namespace in turn, every rung in the
C load engine (no Python per I/O), so that what differs between two rungs is the interface alone.

The rungs, in order (`RUNGS`):
  1. block             the block device /dev/nvmeXnY, io_uring reads or writes, O_DIRECT
  2. block_fixed_poll  the same with registered buffers and polled completions (IOPOLL)
  3. ioctl             the synchronous passthrough ioctl on /dev/ngXnY, one C thread per I/O in flight
  4. uring_cmd         passthrough over io_uring (IORING_OP_URING_CMD)
  5. uring_cmd_fixed   + registered (fixed) buffers
  6. uring_cmd_iopoll  + polled completions
  7. uring_cmd_batch   + batched submission (the SQEs a round of completions queues share one enter)
  8. uring_cmd_sqpoll  + SQPOLL (a kernel thread submits; the engine only fills the ring and reaps)
Rungs 1-6 give every SQE an io_uring_enter of its own, as fio does by default (iodepth_batch_submit=1);
rung 7 is the first to batch. A rung this kernel or device cannot run is skipped with the reason.

`run_ladder` is the API the CLI and the Load screen's Compare view share: a `Workload` in, a `Ladder` out,
and `on_progress` called on the event loop's thread as each slice of each rung ends and as each rung ends.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nvtui.backend.histogram import LatencyHistogram
from nvtui.errors import UsageError

if TYPE_CHECKING:  # loaded when a rung runs, not with the CLI's parser
    from nvtui.load import Geometry, LoadJob

PATTERNS = ("randread", "randwrite", "read", "write")
WRITE_PATTERNS = frozenset({"randwrite", "write"})
MAX_QD = 4096
MAX_IOCTL_QD = 256  # the ioctl rung runs a thread per I/O in flight
SLICE_S = 0.25  # progress reports per rung: often enough for a live chart, rare enough to cost nothing


@dataclass(frozen=True)
class Rung:
    """One way to the device: an interface and the io_uring features on top of it."""

    name: str  # short, for JSON and tables
    title: str
    interface: str  # "block", "ioctl" or "uring_cmd" (EngineJob.interface)
    fixed: bool = False
    iopoll: bool = False
    batched: bool = False
    sqpoll: bool = False


RUNGS: tuple[Rung, ...] = (
    Rung("block", "block device, io_uring, O_DIRECT", "block"),
    Rung("block_fixed_poll", "block + registered buffers + IOPOLL", "block", fixed=True, iopoll=True),
    Rung("ioctl", "passthrough ioctl, a thread per I/O", "ioctl"),
    Rung("uring_cmd", "uring_cmd passthrough", "uring_cmd"),
    Rung("uring_cmd_fixed", "+ fixed buffers", "uring_cmd", fixed=True),
    Rung("uring_cmd_iopoll", "+ IOPOLL", "uring_cmd", fixed=True, iopoll=True),
    Rung("uring_cmd_batch", "+ batched submission", "uring_cmd", fixed=True, iopoll=True, batched=True),
    Rung("uring_cmd_sqpoll", "+ SQPOLL", "uring_cmd", fixed=True, iopoll=True, batched=True, sqpoll=True),
)
RUNG_NAMES = tuple(r.name for r in RUNGS)


@dataclass(frozen=True)
class Workload:
    """What every rung runs: `rw` I/Os of `bs` bytes, `qd` in flight, for `seconds`, over the whole
    namespace. `seed` fixes the random offsets, the same for every rung (None: a fresh one per ladder)."""

    rw: str = "randread"
    bs: int = 4096
    qd: int = 32
    seconds: float = 5.0
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.rw not in PATTERNS:
            raise UsageError(f"--rw {self.rw}: choose one of {', '.join(PATTERNS)}")
        if not 1 <= self.qd <= MAX_QD:
            raise UsageError(f"--qd {self.qd}: the queue depth must be 1-{MAX_QD}")
        if not 0 < self.seconds <= 86400:
            raise UsageError(f"--seconds {self.seconds}: the duration must be in (0, 86400]")
        if self.bs <= 0:
            raise UsageError(f"--bs {self.bs}: the block size must be positive")


@dataclass(frozen=True)
class LadderTarget:
    """Where the rungs go: the namespace's char device (passthrough rungs) and block device (block
    rungs), its LBA format and size. `poll_queues`: whether the namespace's queues can be polled (sysfs
    queue/io_poll); None when nothing says. Any of the paths may be None: the rungs needing it skip."""

    name: str
    nsid: int
    lba_size: int
    size_lbas: int
    char_dev: str | None
    block_dev: str | None
    metadata_size: int = 0  # separate metadata bytes per LBA
    extended: bool = False  # metadata interleaved with the data
    poll_queues: bool | None = None
    block_problem: str | None = None  # why the block device cannot take I/O, when sysfs says so
    uring_problem: str | None = None  # why this kernel refuses io_uring passthrough (discovery)
    max_transfer: int = 0  # bytes (MDTS), 0: no limit


@dataclass(frozen=True)
class RungResult:
    """A rung's outcome: its measurements, or `skipped` with the reason."""

    rung: Rung
    skipped: str | None = None
    ios: int = 0
    errors: int = 0
    first_error: str | None = None
    bytes: int = 0
    seconds: float = 0.0  # measured, from the first I/O to the last reaped
    cpu_seconds: float = 0.0  # the process's user + system time over the rung (every thread, SQPOLL's too)
    enters: int = 0
    latency: LatencyHistogram = field(default_factory=LatencyHistogram, repr=False, compare=False)
    vs_block: float | None = None  # IOPS over the block rung's (None: the block rung did not run)

    @property
    def ran(self) -> bool:
        return self.skipped is None

    @property
    def iops(self) -> float:
        return self.ios / self.seconds if self.seconds else 0.0

    @property
    def mb_s(self) -> float:
        """Megabytes (10**6) per second, as fio reports MB/s."""
        return self.bytes / self.seconds / 1e6 if self.seconds else 0.0

    @property
    def cpu_per_io_ns(self) -> float:
        return self.cpu_seconds * 1e9 / self.ios if self.ios else 0.0

    def to_json(self) -> dict[str, object]:
        doc: dict[str, object] = {"rung": self.rung.name, "title": self.rung.title}
        if self.skipped is not None:
            doc["skipped"] = self.skipped
            return doc
        h = self.latency
        doc |= {
            "iops": round(self.iops, 1),
            "mb_s": round(self.mb_s, 3),
            "p50_ns": h.percentile(50),
            "p99_ns": h.percentile(99),
            "p999_ns": h.percentile(99.9),
            "cpu_per_io_ns": round(self.cpu_per_io_ns, 1),
            "vs_block": None if self.vs_block is None else round(self.vs_block, 4),
            "ios": self.ios,
            "errors": self.errors,
            "first_error": self.first_error,
            "seconds": round(self.seconds, 6),
            "enters": self.enters,
        }
        return doc


@dataclass(frozen=True)
class Ladder:
    target: LadderTarget
    workload: Workload
    rungs: tuple[RungResult, ...]
    elapsed_s: float  # the whole ladder, from its first rung's setup to its last rung's end

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.rungs)

    def to_json(self) -> dict[str, object]:
        w = self.workload
        return {
            "device": self.target.name,
            "char_dev": self.target.char_dev,
            "block_dev": self.target.block_dev,
            "nsid": self.target.nsid,
            "rw": w.rw,
            "bs": w.bs,
            "qd": w.qd,
            "seconds_per_rung": w.seconds,
            "elapsed_s": round(self.elapsed_s, 3),
            "rungs": [r.to_json() for r in self.rungs],
        }


@dataclass(frozen=True)
class LadderProgress:
    """What `on_progress` gets: a slice of the running rung (`part`: the engine's LoadResult of that
    slice, with its latency histogram), or the rung's end (`result`: ran or skipped)."""

    index: int  # of the rung in RUNGS
    rung: Rung
    part: Any = None  # nvtui.backend.uring.LoadResult
    result: RungResult | None = None


def _read_sysfs(path: Path) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read(4096).strip()
    except OSError:
        return None


async def resolve_target(
    device: str, *, sysfs: Path = Path("/sys"), dev: Path = Path("/dev")
) -> LadderTarget:
    """The namespace behind `device` (ngXnY, /dev/ngXnY or /dev/nvmeXnY), its block device found through
    sysfs, its LBA format and size from Identify Namespace. UsageError for a controller or a simulated
    device (the ladder needs the kernel's interfaces)."""
    from nvtui.backend import is_simulated, open_backend
    from nvtui.backend.discovery import resolve_device, uring_cmd_problem
    from nvtui.load import namespace_geometry

    if is_simulated(device):
        raise UsageError(
            f"{device} is simulated: the ladder compares the kernel's interfaces to a real namespace"
        )
    path = resolve_device(device, sysfs=sysfs, dev=dev)
    if path.ns_dev is None:
        example = path.name.replace("nvme", "ng", 1) + "n1"
        raise UsageError(f"{device} is a controller: the ladder needs a namespace device such as {example}")
    backend = await open_backend(path.ns_dev, "ioctl")  # two Identify commands: the lightest backend
    try:
        geometry = await namespace_geometry(backend)
    finally:
        await backend.close()
    disk_name = "nvme" + path.name.removeprefix("ng")
    disk = sysfs / "block" / disk_name
    block_node = dev / disk_name
    block_dev: str | None = str(block_node)
    block_problem: str | None = None
    poll: bool | None = None
    if not disk.exists() or not block_node.exists():
        block_dev = None
        block_problem = (
            f"the kernel gives {path.name} no block device (a command set or format the block layer "
            "does not take)"
        )
    else:
        size = _read_sysfs(disk / "size")
        if size == "0":
            block_problem = f"{block_dev} has a capacity of 0: the block layer cannot use this format"
        io_poll = _read_sysfs(disk / "queue" / "io_poll")
        poll = None if io_poll is None else io_poll == "1"
    fmt = geometry.lba_format
    return LadderTarget(
        name=device, nsid=path.nsid, lba_size=fmt.lba_size, size_lbas=geometry.size_lbas,
        char_dev=path.ns_dev, block_dev=block_dev, metadata_size=fmt.metadata_size,
        extended=fmt.extended, poll_queues=poll, block_problem=block_problem,
        uring_problem=uring_cmd_problem(), max_transfer=geometry.max_transfer,
    )  # fmt: skip


def why_not(rung: Rung, target: LadderTarget, workload: Workload) -> str | None:
    """Why `rung` cannot run on `target` as far as one can tell without trying; None when it may."""
    if rung.interface == "block":
        if target.block_dev is None:
            return target.block_problem or f"{target.name} has no block device"
        if target.block_problem is not None:
            return target.block_problem
    else:
        if target.char_dev is None:
            return f"{target.name} has no NVMe generic char device for passthrough"
        if target.extended and target.metadata_size:
            return "the namespace interleaves metadata with its data: the engine's passthrough does not"
    if rung.interface == "uring_cmd" and target.uring_problem is not None:
        return target.uring_problem
    if rung.iopoll and target.poll_queues is False:
        return "the namespace's queues cannot be polled (no poll queues: load nvme with poll_queues=N)"
    if rung.interface == "ioctl" and workload.qd > MAX_IOCTL_QD:
        return f"the ioctl rung runs one thread per I/O in flight: at most {MAX_IOCTL_QD}, not {workload.qd}"
    return None


def rung_job(
    rung: Rung, target: LadderTarget, workload: Workload, *, seed: int, not_after_ns: int
) -> LoadJob:
    """The load job (nvtui.load.LoadJob) a rung runs: the workload's Read or Write moved over the whole
    namespace, through the rung's interface and io_uring features, ending by `not_after_ns`."""
    from nvtui.bench import PATTERNS as BENCH_PATTERNS
    from nvtui.bench import bench_command
    from nvtui.load import LoadJob

    geometry = target_geometry(target)
    # The ioctl rung starts its threads once per slice: one slice, or their start-up eats into the rung.
    slice_seconds = workload.seconds if rung.interface == "ioctl" else min(SLICE_S, workload.seconds)
    return LoadJob(
        bench_command(workload.rw, workload.bs, target.nsid, geometry, seed), queue_depth=workload.qd,
        seconds=workload.seconds, lba_pattern="random" if BENCH_PATTERNS[workload.rw][1] else "sequential",
        fixed_buffers=rung.fixed, poll=rung.iopoll, seed=seed, interface=rung.interface,
        batched=rung.batched, sqpoll=rung.sqpoll, slice_seconds=slice_seconds, not_after_ns=not_after_ns,
    )  # fmt: skip


def target_geometry(target: LadderTarget) -> Geometry:
    """What a load run needs to know of the target: its LBA format, size and largest transfer."""
    from nvtui.load import Geometry
    from nvtui.nvme.identify import LbaFormat

    fmt = LbaFormat(target.lba_size, target.metadata_size, extended=target.extended)
    return Geometry(fmt, target.size_lbas, target.max_transfer)


async def run_rung(
    rung: Rung,
    target: LadderTarget,
    workload: Workload,
    *,
    seed: int,
    on_slice: Callable[[Any], None] | None = None,
    stop: asyncio.Event | None = None,
) -> RungResult:
    """One rung: skipped with the reason when it cannot run here, else a load job (nvtui.load, as `nvtui
    bench` and the Load screen run) on the C engine over the target's device files. The rung has
    `workload.seconds` of wall time from this call, its setup (opening the device, the ring, its buffers,
    the engine's thread) included; its figures are over the time its I/Os ran."""
    from nvtui.backend.uring.backend import FileEngine
    from nvtui.load import run_engine_job

    not_after_ns = time.monotonic_ns() + int(workload.seconds * 1e9)
    reason = why_not(rung, target, workload)
    if reason is not None:
        return RungResult(rung, skipped=reason)
    job = rung_job(rung, target, workload, seed=seed, not_after_ns=not_after_ns)
    geometry = target_geometry(target)
    engine = FileEngine(
        target.nsid,
        geometry.lba_format,
        target.size_lbas,
        char_dev=target.char_dev,
        block_dev=target.block_dev,
    )
    outcome = await run_engine_job(engine, geometry, job, stop=stop, on_slice=on_slice)
    if outcome.failure is not None:  # the kernel refused the device, the ring, its buffers or every first I/O
        return RungResult(rung, skipped=outcome.failure)
    h = outcome.stats.total
    if h.count == 0 and outcome.stats.errors == 0 and not outcome.stopped:
        why = (
            f"no I/O completed within the rung's {workload.seconds:g} s: its setup (the device, the ring, "
            "its buffers) took the whole budget on this machine; give each rung more time"
        )
        return RungResult(rung, skipped=why)  # figures of nothing would read as 0 IOPS
    return RungResult(
        rung, ios=h.count, errors=outcome.stats.errors, first_error=outcome.first_error, bytes=outcome.bytes,
        seconds=outcome.seconds, cpu_seconds=outcome.cpu_seconds, enters=outcome.enters or 0, latency=h,
    )  # fmt: skip


def _slice_reporter(
    report: Callable[[LadderProgress], None], index: int, rung: Rung
) -> Callable[[Any], None]:
    def on_slice(part: Any) -> None:
        report(LadderProgress(index, rung, part=part))

    return on_slice


async def run_ladder_on(
    target: LadderTarget,
    workload: Workload,
    *,
    on_progress: Callable[[LadderProgress], None] | None = None,
    stop: asyncio.Event | None = None,
    rungs: Sequence[Rung] = RUNGS,
) -> Ladder:
    """Every rung of `rungs` on `target`, in order (see run_ladder). The write guard is the caller's."""
    # Loaded before the clock starts, not in the first rung: the engine's module, and a worker thread for
    # asyncio.to_thread (the first call starts the loop's executor: a second under TCG, without .pyc files).
    import nvtui.backend.uring.engine  # noqa: F401

    await asyncio.to_thread(int)

    seed = workload.seed if workload.seed is not None else int.from_bytes(os.urandom(8), "little") | 1
    results: list[RungResult] = []
    block_iops: float | None = None
    started = time.monotonic()
    for index, rung in enumerate(rungs):
        on_slice = None if on_progress is None else _slice_reporter(on_progress, index, rung)
        if stop is not None and stop.is_set():
            result = RungResult(rung, skipped="stopped before it started")
        else:
            result = await run_rung(rung, target, workload, seed=seed, on_slice=on_slice, stop=stop)
        if result.ran and rung.name == "block" and result.iops > 0:
            block_iops = result.iops
        if result.ran and block_iops is not None:
            result = replace(result, vs_block=result.iops / block_iops)
        results.append(result)
        if on_progress is not None:
            on_progress(LadderProgress(index, rung, result=result))
    return Ladder(target, workload, tuple(results), time.monotonic() - started)


async def run_ladder(
    device: str,
    workload: Workload,
    *,
    on_progress: Callable[[LadderProgress], None] | None = None,
    allow_destructive: bool = False,
    stop: asyncio.Event | None = None,
) -> Ladder:
    """Run `workload` through every rung of RUNGS on namespace `device`, one after another, and return
    each rung's figures (or why it was skipped) with its IOPS over the block rung's.

    Writes overwrite the namespace's data and are refused (UsageError) before anything is opened unless
    `allow_destructive`. `on_progress` is called on the event loop's thread with a LadderProgress after
    every slice (about SLICE_S) of the running rung and once at each rung's end; `stop` ends the rung
    running within a slice and skips the rest. Takes about len(RUNGS) x workload.seconds: skipped rungs
    take no time."""
    if workload.rw in WRITE_PATTERNS and not allow_destructive:
        raise UsageError(
            f"--rw {workload.rw} overwrites the data on {device}: add --allow-destructive to run it"
        )
    target = await resolve_target(device)
    from nvtui.bench import check_block_size

    check_block_size(workload.bs, target_geometry(target))
    if target.size_lbas < workload.bs // target.lba_size:
        raise UsageError(f"{device} holds {target.size_lbas} LBAs: less than one {workload.bs}-byte I/O")
    return await run_ladder_on(target, workload, on_progress=on_progress, stop=stop)
