"""`nvtui bench`: load a namespace with reads or writes and measure IOPS, bandwidth, latency and CPU cost.

The run is one `nvtui.load.LoadJob`: a Read or Write of `bs` bytes moved at random or sequentially over the
namespace. On the uring backend the C load engine runs it (batched submit and reap, every I/O timed in C);
the simulator and the ioctl backend send each I/O through `submit`. Either way every I/O's latency lands in
one `LatencyHistogram`. Several namespaces at once, or one over several engine threads (`run_bench_many`),
run the C engine only: each thread its own ring, each namespace its own depth and figures, and the
aggregate. No printing here: the CLI renders a `BenchResult` or a `MultiBenchResult`. The interface ladder
is `nvtui.ladder`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nvtui.backend import open_backend
from nvtui.backend.histogram import LatencyHistogram
from nvtui.errors import DeviceError, UsageError
from nvtui.load import Geometry, LoadJob, cpu_seconds, namespace_geometry, run_job
from nvtui.nvme.command import Command

PATTERNS = {
    "randread": (0x02, True),
    "randwrite": (0x01, True),
    "read": (0x02, False),
    "write": (0x01, False),
}
WRITE_PATTERNS = frozenset({"randwrite", "write"})
MAX_QD = 4096
MAX_JOBS = 64


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
    cpu_seconds: float | None  # this process's user + system time over the run (None: not one device's)
    latency: LatencyHistogram
    enters: int | None = None  # io_uring_enter calls (engine only)
    path_events: tuple[str, ...] = ()  # a multipath namespace's path changes during the run (PathWatch)

    @property
    def iops(self) -> float:
        return self.ios / self.seconds if self.seconds else 0.0

    @property
    def mb_per_s(self) -> float:
        """Megabytes (10**6) per second, as fio reports MB/s."""
        return self.bytes / self.seconds / 1e6 if self.seconds else 0.0

    @property
    def cpu_per_io_ns(self) -> float | None:
        if self.cpu_seconds is None:
            return None
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
            "path_events": list(self.path_events),
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
            "cpu_seconds": None if self.cpu_seconds is None else round(self.cpu_seconds, 6),
            "cpu_per_io_ns": None if self.cpu_per_io_ns is None else round(self.cpu_per_io_ns, 1),
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
    """`_run_bench`, watching the paths of a multipath namespace meanwhile (sysfs, every 0.2 s): each path
    that goes, comes back or changes state is in the result's `path_events`, and a run that a lost last path
    ends says so in its error (`no_path_cause`)."""
    from nvtui.backend.discovery import PathWatch, no_path_cause

    watch = None if device.startswith("sim") else PathWatch(device)

    async def watching() -> None:
        while True:
            await asyncio.sleep(PATH_POLL_S)
            assert watch is not None
            watch.poll()

    watcher = asyncio.ensure_future(watching()) if watch is not None and watch.multipath else None
    try:
        result = await _run_bench(
            device, rw=rw, bs=bs, qd=qd, seconds=seconds, backend_kind=backend_kind,
            fixed_buffers=fixed_buffers, poll=poll, allow_destructive=allow_destructive, seed=seed,
        )  # fmt: skip
    except DeviceError as exc:
        cause = no_path_cause(device) if watch is not None and watch.multipath else None
        if cause is not None and cause not in str(exc):
            raise DeviceError(f"{exc}: {cause}") from exc
        raise
    finally:
        if watcher is not None:
            watcher.cancel()
    if watch is not None and watch.multipath:
        watch.poll()
        result = dataclasses.replace(result, path_events=tuple(watch.events))
    return result


PATH_POLL_S = 0.2


async def _run_bench(
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


# ---- several namespaces, several engine threads ------------------------------------------------------


@dataclass(frozen=True)
class MultiBenchResult:
    """A run over several namespaces or engine threads: each namespace's figures and the aggregate (its
    IOPS the sum of theirs over the longest run; its CPU the whole process's, which no single namespace's
    figures can split)."""

    jobs: int
    devices: tuple[BenchResult, ...]
    aggregate: BenchResult

    @property
    def errors(self) -> int:
        return self.aggregate.errors

    def to_json(self) -> dict[str, object]:
        return {
            "jobs": self.jobs,
            "devices": [d.to_json() for d in self.devices],
            "aggregate": self.aggregate.to_json(),
        }


@dataclass(frozen=True)
class _Namespace:
    device: str
    char_dev: str
    nsid: int
    geometry: Geometry


async def _namespace(device: str, bs: int) -> _Namespace:
    from nvtui.backend import is_simulated
    from nvtui.backend.discovery import resolve_device

    if is_simulated(device):
        raise UsageError(
            f"{device} is simulated: several devices or --jobs run the C engine on real namespaces"
        )
    path = resolve_device(device)
    if path.ns_dev is None:
        raise UsageError(f"{device} is a controller (admin commands only): bench needs namespace devices")
    backend = await open_backend(path.ns_dev, "ioctl")  # two Identify commands: the lightest backend
    try:
        geometry = await namespace_geometry(backend)
    finally:
        await backend.close()
    check_block_size(bs, geometry)
    if geometry.size_lbas < bs // geometry.lba_format.lba_size:
        raise UsageError(f"{device} holds {geometry.size_lbas} LBAs: less than one {bs}-byte I/O")
    if geometry.lba_format.extended and geometry.lba_format.metadata_size:
        raise UsageError(f"{device} interleaves metadata with data: the load engine does not")
    return _Namespace(device, path.ns_dev, path.nsid, geometry)


def split_jobs(devices: int, jobs: int, qd: int) -> list[list[tuple[int, int]]]:
    """How `jobs` engine threads share `devices` namespaces, each kept `qd` deep: per thread, its
    (device index, depth) pairs. Fewer threads than devices: each thread drives its devices at `qd` each
    on its one ring. More: each device's `qd` is split over the threads that drive it."""
    if jobs <= devices:
        return [[(d, qd) for d in range(devices) if d % jobs == t] for t in range(jobs)]
    threads_of = [[t for t in range(jobs) if t % devices == d] for d in range(devices)]
    most = max(len(ts) for ts in threads_of)
    if qd < most:
        raise UsageError(
            f"--qd {qd} is less than the {most} engine threads per device that --jobs {jobs} gives"
        )
    plan: list[list[tuple[int, int]]] = [[] for _ in range(jobs)]
    for d, ts in enumerate(threads_of):
        for i, t in enumerate(ts):
            plan[t].append((d, qd // len(ts) + (1 if i < qd % len(ts) else 0)))
    return plan


async def run_bench_many(
    devices: Sequence[str],
    *,
    rw: str = "randread",
    bs: int = 4096,
    qd: int = 32,
    seconds: float = 5.0,
    jobs: int = 1,
    fixed_buffers: bool = False,
    poll: bool = False,
    allow_destructive: bool = False,
    seed: int | None = None,
) -> MultiBenchResult:
    """Load every namespace of `devices` at once, `qd` deep each, from `jobs` engine threads (each with a
    ring of its own; see split_jobs) for `seconds`. The same checks as run_bench: writes refused unless
    `allow_destructive`, before any device is opened."""
    from nvtui.backend.uring.engine import EngineJob, run_groups

    if rw not in PATTERNS:
        raise UsageError(f"--rw {rw}: choose one of {', '.join(PATTERNS)}")
    if rw in WRITE_PATTERNS and not allow_destructive:
        raise UsageError(
            f"--rw {rw} overwrites the data on {', '.join(devices)}: add --allow-destructive to run it"
        )
    if not 1 <= qd <= MAX_QD:
        raise UsageError(f"--qd {qd}: the queue depth must be 1-{MAX_QD}")
    if not 1 <= jobs <= MAX_JOBS:
        raise UsageError(f"--jobs {jobs}: the engine threads must be 1-{MAX_JOBS}")
    if not 0 < seconds <= 86400:
        raise UsageError(f"--seconds {seconds}: the duration must be in (0, 86400]")
    if len(set(devices)) != len(devices):
        raise UsageError("a device is named twice: give each namespace once (--jobs runs more threads on it)")
    plan = split_jobs(len(devices), jobs, qd)
    if max(sum(depth for _, depth in thread) for thread in plan) > MAX_QD:
        raise UsageError(f"one engine thread would keep more than {MAX_QD} I/Os in flight: raise --jobs")
    if seed is None:
        seed = int.from_bytes(os.urandom(8), "little") | 1
    namespaces = [await _namespace(device, bs) for device in devices]
    fds: list[int] = []
    try:
        for ns in namespaces:
            try:
                fds.append(os.open(ns.char_dev, os.O_RDWR | os.O_CLOEXEC))
            except OSError as exc:
                raise DeviceError(f"cannot open {ns.char_dev}: {exc.strerror}") from exc
        groups: list[list[EngineJob]] = []
        for t, thread in enumerate(plan):
            group = []
            for d, depth in thread:
                g = namespaces[d].geometry
                fmt = g.lba_format
                job = EngineJob(
                    fd=fds[d], nsid=namespaces[d].nsid, lba_size=fmt.lba_size, lba_count=g.size_lbas,
                    metadata_size=fmt.separate_metadata, pattern=rw, block_size=bs, qd=depth, seconds=seconds,
                    fixed=fixed_buffers, iopoll=poll, seed=seed + 7919 * (t + 1) + d,
                )  # fmt: skip
                group.append(job)
            groups.append(group)
        cpu0 = cpu_seconds()
        results = await run_groups(groups)
        cpu = cpu_seconds() - cpu0
    finally:
        for fd in fds:
            os.close(fd)
    owners = [d for thread in plan for d, _ in thread]  # the device of each result, in run_groups' order
    per_device: list[BenchResult] = []
    for d, ns in enumerate(namespaces):
        mine = [r for r, owner in zip(results, owners, strict=True) if owner == d]
        per_device.append(_merged(ns.device, mine, rw, bs, qd, fixed_buffers, poll, None))
    aggregate = _merged("aggregate", results, rw, bs, qd * len(devices), fixed_buffers, poll, cpu)
    return MultiBenchResult(jobs, tuple(per_device), aggregate)


def _merged(
    device: str, runs: Sequence[Any], rw: str, bs: int, qd: int, fixed: bool, poll: bool, cpu: float | None
) -> BenchResult:
    """One BenchResult from engine results run side by side: counts add up over the longest of them."""
    latency = LatencyHistogram()
    for run in runs:
        latency.merge(run.latency)
    errors = [run for run in runs if run.errors]
    return BenchResult(
        device=device, backend="uring", engine="c", rw=rw, bs=bs, qd=qd, fixed_buffers=fixed, poll=poll,
        seconds=max(run.elapsed_ns for run in runs) / 1e9, ios=sum(run.ios for run in runs),
        errors=sum(run.errors for run in runs), first_error=errors[0].first_error if errors else None,
        bytes=sum(run.bytes for run in runs), cpu_seconds=cpu, latency=latency,
        enters=sum(run.enters for run in runs),
    )  # fmt: skip
