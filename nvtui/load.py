"""Load runs, for the CLI (`nvtui bench`) and the Load screen: a `LoadJob` in, statistics out.

A job is a command repeated `queue_depth` deep for a count or a time, its LBAs fixed (the command as it
is, every time) or moved over a region sequentially or at random. `run_job` chooses how: the backend's load
engine when it has one and the command is a plain Read or Write (no Python per I/O; the engine reports in
short slices, each merged into the same `LoadStats`, so a live chart keeps up), else the backend's
`submit`, with the event loop given a turn now and then. `run_jobs` runs several at once (one per
namespace), each into its own statistics and all into one aggregate. Nothing here tests which backend it
holds: a backend says whether it has an engine and what its LBA format is.
"""

from __future__ import annotations

import asyncio
import random
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nvtui.backend.base import ENGINE_INTERFACES, Backend, EngineRequest, EngineResult, LoadEngine
from nvtui.errors import DeviceError, UsageError
from nvtui.nvme.command import Command
from nvtui.nvme.identify import (
    CNS_CONTROLLER,
    CNS_NAMESPACE,
    LbaFormat,
    identify_command,
    max_transfer,
    namespace_size,
)
from nvtui.stats import INTERVAL_S, LoadStats

MAX_QUEUE_DEPTH = 4096
LBA_PATTERNS = ("fixed", "sequential", "random")
OPC_WRITE, OPC_READ = 0x01, 0x02
ENGINE_SLICE_S = INTERVAL_S / 2  # short enough for a live chart, long enough that draining costs < 1 %
YIELD_EVERY = 32  # completions between forced yields, so a backend that never waits cannot starve a UI
MAX_NLB = 65536  # NLB is 16 bits, 0-based


@dataclass(frozen=True)
class LoadJob:
    """One load run: `command` repeated `queue_depth` deep until `count` commands or `seconds` (at least
    one of the two; the count wins when both are given).

    `lba_pattern`: "fixed" sends the command as it is every time; "sequential" and "random" move its SLBA
    (keeping its size) over the region [first_lba, first_lba + lba_count) (None: to the namespace's end),
    sequential wrapping at the end. Only a command with a plain block range (SLBA in CDW10-11, NLB in CDW12
    and nothing else there) can move. `fixed_buffers` and `poll` ask the backend's engine for registered
    buffers and polled completions, `interface`, `batched` and `sqpoll` for a rung of the interface ladder
    (nvtui.backend.base.EngineRequest); `seed` fixes the random LBAs (and the engine's write data when the
    command carries none). `slice_seconds`: how often the engine reports (the live chart's pace);
    `not_after_ns`: a time.monotonic_ns() by which the run ends whatever its count or duration, its setup
    included (0: none), for a caller with a wall-clock budget per run (the interface ladder's rungs)."""

    command: Command
    queue_depth: int = 1
    count: int | None = None
    seconds: float | None = None
    lba_pattern: str = "fixed"
    first_lba: int = 0
    lba_count: int | None = None
    fixed_buffers: bool = False
    poll: bool = False
    seed: int = 1
    interface: str = "uring_cmd"
    batched: bool = True
    sqpoll: bool = False
    slice_seconds: float = ENGINE_SLICE_S
    not_after_ns: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.queue_depth <= MAX_QUEUE_DEPTH:
            raise UsageError(f"queue depth {self.queue_depth} out of range 1-{MAX_QUEUE_DEPTH}")
        if self.count is None and self.seconds is None:
            raise UsageError("a load run needs a count or a duration")
        if self.count is not None and self.count < 1:
            raise UsageError(f"count {self.count} out of range: at least 1")
        if self.seconds is not None and not 0 < self.seconds <= 86400:
            raise UsageError(f"duration {self.seconds} s out of range (0, 86400]")
        if self.lba_pattern not in LBA_PATTERNS:
            raise UsageError(f"LBA pattern {self.lba_pattern!r}: choose one of {', '.join(LBA_PATTERNS)}")
        if self.lba_pattern != "fixed" and self.block_range is None:
            raise UsageError(
                f"a {self.lba_pattern} LBA pattern moves a Read or Write over the namespace: "
                f"{'an admin command' if self.command.admin else f'opcode {self.command.opcode:#04x}'} "
                "with other fields set has no plain block range to move"
            )
        if self.interface not in ENGINE_INTERFACES:
            raise UsageError(f"interface {self.interface!r}: choose one of {', '.join(ENGINE_INTERFACES)}")
        if self.first_lba < 0 or (self.lba_count is not None and self.lba_count < 1):
            raise UsageError(f"LBA region {self.first_lba}+{self.lba_count}: out of range")
        if not 0 < self.slice_seconds <= 3600:
            raise UsageError(f"engine slice {self.slice_seconds} s out of range (0, 3600]")
        if self.not_after_ns < 0:
            raise UsageError(f"deadline {self.not_after_ns} ns: it must not be negative")

    @property
    def needs_engine(self) -> bool:
        """Whether the job asks for what only a load engine does (submit would silently ignore it)."""
        rung = (self.fixed_buffers, self.poll, self.sqpoll, not self.batched)
        return any(rung) or self.interface != "uring_cmd"

    @property
    def block_range(self) -> tuple[int, int] | None:
        """(SLBA, blocks) of the command, when it is an I/O command with a plain block range."""
        if self.command.admin:
            return None
        return self.command.plain_block_range()


@dataclass
class LoadOutcome:
    """How a run went: its statistics, how it ended, and what the whole run cost."""

    stats: LoadStats
    engine: str  # "c": the backend's load engine; "python": submit per command
    stopped: bool = False  # stopped by the caller before the count or time ran out
    failure: str | None = None  # the device/kernel error that ended the run early
    first_error: str | None = None  # the first error status a command completed with
    bytes: int = 0  # data moved by the commands that succeeded
    seconds: float = 0.0  # measured, from the first command to the last completion
    cpu_seconds: float = 0.0  # this process's user + system time over the run (every thread)
    enters: int | None = None  # io_uring_enter calls (the engine only)


@dataclass(frozen=True)
class Geometry:
    """What a load run needs to know of a namespace: its LBA format, size and largest transfer."""

    lba_format: LbaFormat
    size_lbas: int  # NSZE
    max_transfer: int  # bytes (MDTS); 0: no limit


async def namespace_geometry(backend: Backend) -> Geometry:
    """The namespace's geometry (Identify Namespace and Controller). UsageError for a controller device,
    DeviceError when the device cannot say."""
    fmt = await backend.lba_format()
    if fmt is None:
        raise UsageError(f"{backend.device} is a controller (admin commands only): a load needs a namespace")
    ns = await backend.submit(identify_command(CNS_NAMESPACE, backend.nsid))
    ctrl = await backend.submit(identify_command(CNS_CONTROLLER))
    for done, what in ((ns, "Namespace"), (ctrl, "Controller")):
        if not done.ok or done.data is None:
            raise DeviceError(f"{backend.device}: Identify {what} failed: {done.status}")
    assert ns.data is not None and ctrl.data is not None
    return Geometry(fmt, namespace_size(ns.data), max_transfer(ctrl.data))


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)  # every thread of the process: the engine's worker too
    return r.ru_utime + r.ru_stime


def _region(job: LoadJob, size_lbas: int) -> tuple[int, int]:
    """(first LBA, LBA count) the job's pattern covers: the command's own blocks when fixed."""
    block_range = job.block_range
    if job.lba_pattern == "fixed":
        assert block_range is not None
        return block_range
    count = job.lba_count if job.lba_count is not None else size_lbas - job.first_lba
    assert block_range is not None
    if count < block_range[1] or job.first_lba + count > size_lbas:
        raise UsageError(
            f"LBA region {job.first_lba}+{count} does not hold one {block_range[1]}-block I/O within the "
            f"namespace's {size_lbas} blocks"
        )
    return job.first_lba, count


def engine_request(job: LoadJob, fmt: LbaFormat | None, size_lbas: int) -> EngineRequest | None:
    """The engine request that repeats the job exactly, or None when only `submit` can: the command is not
    a plain Read or Write of whole blocks (NVM Command Set 1.0, Fig. 41: any FUA, protection information,
    DSM hint or directive keeps it on the submit path), a write carries metadata that is not zeros (the
    engine writes zeros), or the namespace interleaves metadata with its data (except through the block
    interface: the block layer keeps the metadata itself)."""
    cmd, block_range = job.command, job.block_range
    if fmt is None or block_range is None or cmd.opcode not in (OPC_READ, OPC_WRITE):
        return None
    if fmt.extended and fmt.metadata_size and job.interface != "block":
        return None
    nlb = block_range[1]
    if cmd.data_len != nlb * fmt.lba_size:
        return None
    data = None
    if cmd.opcode == OPC_WRITE:
        if cmd.data is None or len(cmd.data) != cmd.data_len:
            return None
        if cmd.metadata is not None and any(cmd.metadata):  # the engine writes zeros
            return None
        data = cmd.data
    first, count = _region(job, size_lbas)
    kind = "read" if cmd.opcode == OPC_READ else "write"
    return EngineRequest(
        pattern=f"rand{kind}" if job.lba_pattern == "random" else kind, block_size=cmd.data_len,
        qd=job.queue_depth, seconds=job.seconds if job.seconds is not None else 86400.0,
        max_ios=job.count or 0, first_lba=first, lba_count=count, fixed_buffers=job.fixed_buffers,
        poll=job.poll, seed=job.seed, slice_seconds=job.slice_seconds, data=data, interface=job.interface,
        batched=job.batched, sqpoll=job.sqpoll, not_after_ns=job.not_after_ns,
    )  # fmt: skip


@dataclass(frozen=True)
class _Plan:
    backend: Backend | None  # None: an engine alone (run_engine_job)
    engine: LoadEngine | None
    job: LoadJob
    request: EngineRequest | None  # the engine's run of the job; None: through submit
    size_lbas: int  # the namespace's, when the job's LBAs move (0 otherwise)


async def _plan(backend: Backend, job: LoadJob) -> _Plan:
    """How `job` runs on `backend`; UsageError when it cannot (before anything is sent)."""
    request = None
    size_lbas = 0
    if job.block_range is not None:
        fmt = await backend.lba_format()
        if job.lba_pattern != "fixed":
            if fmt is None:
                raise UsageError(f"{backend.device} is a controller: an LBA pattern needs a namespace")
            size_lbas = namespace_size(await _identify_namespace(backend))
            _region(job, size_lbas)  # a region outside the namespace: said now
        request = engine_request(job, fmt, size_lbas) if backend.engine is not None else None
    if job.needs_engine and request is None:
        raise UsageError(
            "fixed buffers, polled completions, SQPOLL, unbatched submission and the block and ioctl "
            "interfaces need a load engine (the uring backend) and a plain Read or Write; "
            f"{backend.device} is open with {backend.kind}"
        )
    return _Plan(backend, backend.engine, job, request, size_lbas)


async def _identify_namespace(backend: Backend) -> bytes:
    done = await backend.submit(identify_command(CNS_NAMESPACE, backend.nsid))
    if not done.ok or done.data is None:
        raise DeviceError(f"{backend.device}: Identify Namespace failed: {done.status}")
    return done.data


async def run_job(
    backend: Backend,
    job: LoadJob,
    stats: LoadStats | None = None,
    stop: asyncio.Event | None = None,
    *,
    on_slice: Callable[[EngineResult], None] | None = None,
) -> LoadOutcome:
    """Run `job` on `backend` into `stats` (a fresh one when None), until its count or time, `stop`, or a
    device error (said in the outcome's `failure`). UsageError before anything is sent when the job cannot
    run there (fixed buffers or polling without an engine, a region outside the namespace). `on_slice`
    sees each of the engine's slices as it ends, after it is merged into `stats` (the engine only)."""
    plan = await _plan(backend, job)
    return await _execute(plan, stats if stats is not None else LoadStats(), stop, on_slice)


async def run_engine_job(
    engine: LoadEngine,
    geometry: Geometry,
    job: LoadJob,
    stats: LoadStats | None = None,
    stop: asyncio.Event | None = None,
    *,
    on_slice: Callable[[EngineResult], None] | None = None,
) -> LoadOutcome:
    """Run `job` on a load engine with no backend around it, on a namespace of `geometry` (the interface
    ladder: an engine over the namespace's device files, nvtui.backend.uring.FileEngine), as `run_job`
    does. UsageError when the engine cannot repeat the job (not a plain Read or Write of whole blocks)."""
    size_lbas = geometry.size_lbas if job.lba_pattern != "fixed" else 0
    if job.lba_pattern != "fixed":
        _region(job, size_lbas)
    request = engine_request(job, geometry.lba_format, size_lbas)
    if request is None:
        raise UsageError("a load engine repeats a plain Read or Write of whole blocks; this job is not one")
    plan = _Plan(None, engine, job, request, size_lbas)
    return await _execute(plan, stats if stats is not None else LoadStats(), stop, on_slice)


async def run_jobs(
    runs: Sequence[tuple[Backend, LoadJob]],
    total: LoadStats | None = None,
    stop: asyncio.Event | None = None,
    each: Sequence[LoadStats] | None = None,
) -> list[LoadOutcome]:
    """Run every (backend, job) at once (several namespaces), each into its own statistics (`each`, or
    fresh ones) that also add into `total`. Every job is checked before any starts (UsageError); a device
    error ends only its own run."""
    total = total if total is not None else LoadStats()
    sinks = list(each) if each is not None else [LoadStats() for _ in runs]
    if len(sinks) != len(runs):
        raise ValueError(f"{len(runs)} runs but {len(sinks)} statistics")
    plans = [await _plan(backend, job) for backend, job in runs]
    for sink in sinks:
        sink.parent = total
    halt = stop if stop is not None else asyncio.Event()
    pairs = zip(plans, sinks, strict=True)
    tasks = [asyncio.ensure_future(_execute(plan, sink, halt, None)) for plan, sink in pairs]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        halt.set()  # one failed below the device errors (a bug, a cancel): the others end too
        await asyncio.wait(tasks)
        raise
    finally:
        total.tick()
        total.finish()


async def _execute(
    plan: _Plan,
    stats: LoadStats,
    stop: asyncio.Event | None,
    on_slice: Callable[[EngineResult], None] | None,
) -> LoadOutcome:
    cpu0 = cpu_seconds()
    if plan.engine is not None and plan.request is not None:
        outcome = await _run_engine(plan.engine, plan.request, stats, stop, on_slice)
    else:
        assert plan.backend is not None  # an engine alone always has its request (run_engine_job)
        outcome = await _run_submit(plan.backend, plan.job, plan.size_lbas, stats, stop)
    outcome.cpu_seconds = cpu_seconds() - cpu0
    outcome.stopped = stop is not None and stop.is_set() and outcome.failure is None
    return outcome


async def _run_submit(
    backend: Backend, job: LoadJob, size_lbas: int, stats: LoadStats, stop: asyncio.Event | None
) -> LoadOutcome:
    """`queue_depth` workers, each sending the next command as soon as its last completes."""
    outcome = LoadOutcome(stats, engine="python")
    next_command = _command_source(job, size_lbas)
    deadline = time.monotonic() + job.seconds if job.seconds is not None else None
    if job.not_after_ns:
        not_after = job.not_after_ns / 1e9
        deadline = not_after if deadline is None else min(deadline, not_after)
    issued = done = 0
    failed = False  # this run's own device error: the other runs sharing `stop` go on
    data_len = job.command.data_len

    def take() -> int | None:
        nonlocal issued
        if failed or (stop is not None and stop.is_set()):
            return None
        if job.count is not None and issued >= job.count:
            return None
        if deadline is not None and time.monotonic() >= deadline:
            return None
        issued += 1
        return issued - 1

    async def worker() -> None:
        nonlocal done, failed
        while (i := take()) is not None:
            try:
                completion = await backend.submit(next_command(i))
            except DeviceError as exc:
                if outcome.failure is None:
                    outcome.failure = str(exc)
                failed = True
                return
            stats.record(completion.latency_ns, completion.ok)
            if completion.ok:
                outcome.bytes += data_len
            elif outcome.first_error is None:
                outcome.first_error = str(completion.status)
            done += 1
            if done % YIELD_EVERY == 0:
                await asyncio.sleep(0)

    started = time.monotonic()
    workers = [asyncio.ensure_future(worker()) for _ in range(job.queue_depth)]
    try:
        await asyncio.gather(*workers)
    finally:
        for w in workers:
            w.cancel()
        outcome.seconds = time.monotonic() - started
        stats.tick()
        stats.finish()
    return outcome


def _command_source(job: LoadJob, size_lbas: int) -> Callable[[int], Command]:
    """The i-th command of the job: the command itself, or moved to the i-th LBA of its pattern."""
    command = job.command
    if job.lba_pattern == "fixed":
        return lambda _i: command
    first, count = _region(job, size_lbas)
    nlb = (command.cdw12 & 0xFFFF) + 1
    slots = count // nlb
    rng = random.Random(job.seed)
    is_random = job.lba_pattern == "random"

    def at(i: int) -> Command:
        slba = first + (rng.randrange(slots) if is_random else i % slots) * nlb
        return command.with_(cdw10=slba & 0xFFFFFFFF, cdw11=slba >> 32)

    return at


async def _run_engine(
    engine: LoadEngine,
    request: EngineRequest,
    stats: LoadStats,
    stop: asyncio.Event | None,
    on_slice: Callable[[EngineResult], None] | None,
) -> LoadOutcome:
    """The engine's run, each slice merged into `stats` as it ends (then shown to `on_slice`)."""
    outcome = LoadOutcome(stats, engine="c")

    def merge(part: EngineResult) -> None:
        stats.tick()  # the slice's I/Os belong to the interval in which it ended
        h = part.latency
        stats.merge_counts(h.counts, h.total_ns, h.min_ns, h.max_ns, errors=part.errors)
        if on_slice is not None:
            on_slice(part)

    try:
        run = await engine.run(request, on_slice=merge, stop=stop)
    except DeviceError as exc:  # the kernel failed an I/O (the device went away): said, not raised
        outcome.failure = str(exc)
    else:
        outcome.first_error, outcome.bytes, outcome.enters = run.first_error, run.bytes, run.enters
        outcome.seconds = run.elapsed_ns / 1e9
    finally:
        await asyncio.sleep(0)  # the last slice's merge was scheduled with call_soon_threadsafe
        stats.tick()
        stats.finish()
    return outcome
