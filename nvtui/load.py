"""Load runs: repeat a command N times or for T seconds at queue depth Q, aggregating into `LoadStats`.

`run_load` works with every backend through `submit` (the simulator, ioctl, uring). A backend that offers
a load engine (`EngineLoad`: the uring backend's C engine) is the full-speed path for reads and writes:
`engine_plan` says whether a command is one the engine can repeat, and `run_engine_load` drives it in
short slices, merging each slice's histogram into the same `LoadStats`, so a live chart keeps up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from nvtui.backend.base import Backend
from nvtui.backend.histogram import LatencyHistogram
from nvtui.errors import DeviceError, NvtuiError, UsageError
from nvtui.nvme.command import Command
from nvtui.stats import INTERVAL_S, LoadStats

MAX_QUEUE_DEPTH = 4096


@dataclass(frozen=True)
class LoadSpec:
    queue_depth: int = 1
    count: int | None = None  # stop after this many commands ...
    seconds: float | None = None  # ... or after this long; at least one of the two

    def __post_init__(self) -> None:
        if not 1 <= self.queue_depth <= MAX_QUEUE_DEPTH:
            raise UsageError(f"queue depth {self.queue_depth} out of range 1-{MAX_QUEUE_DEPTH}")
        if self.count is None and self.seconds is None:
            raise UsageError("a load run needs a count or a duration")
        if self.count is not None and self.count < 1:
            raise UsageError(f"count {self.count} out of range: at least 1")
        if self.seconds is not None and not 0 < self.seconds <= 86400:
            raise UsageError(f"duration {self.seconds} s out of range (0, 86400]")


@dataclass
class LoadOutcome:
    stats: LoadStats
    stopped: bool = False  # stopped by the caller before the count or time ran out
    failure: str | None = None  # the device/kernel error that ended the run early


async def run_load(
    backend: Backend,
    next_command: Callable[[int], Command],
    spec: LoadSpec,
    stats: LoadStats | None = None,
    stop: asyncio.Event | None = None,
) -> LoadOutcome:
    """Keep `spec.queue_depth` commands in flight; `next_command(i)` gives the i-th command."""
    outcome = LoadOutcome(stats or LoadStats())
    stats = outcome.stats
    deadline = time.monotonic() + spec.seconds if spec.seconds is not None else None
    issued = 0
    halt = stop or asyncio.Event()

    def take() -> int | None:
        nonlocal issued
        if halt.is_set() or (spec.count is not None and issued >= spec.count):
            return None
        if deadline is not None and time.monotonic() >= deadline:
            return None
        issued += 1
        return issued - 1

    async def worker() -> None:
        while (i := take()) is not None:
            try:
                done = await backend.submit(next_command(i))
            except DeviceError as exc:
                if outcome.failure is None:
                    outcome.failure = str(exc)
                halt.set()
                return
            stats.record(done.latency_ns, done.ok)

    workers = [asyncio.ensure_future(worker()) for _ in range(spec.queue_depth)]
    try:
        await asyncio.gather(*workers)
    finally:
        for w in workers:
            w.cancel()
        stats.tick()
        stats.finish()
    outcome.stopped = stop is not None and stop.is_set() and outcome.failure is None
    return outcome


# ---- the engine path ---------------------------------------------------------------------------------

OPC_WRITE, OPC_READ = 0x01, 0x02
ENGINE_SLICE_S = INTERVAL_S / 2  # short enough for a live chart, long enough that draining costs < 1 %


class EngineSlice(Protocol):
    """What one engine slice reports (nvtui.backend.uring.LoadResult has these)."""

    ios: int
    errors: int
    first_error: str | None
    latency: LatencyHistogram


@runtime_checkable
class EngineLoad(Protocol):
    """A backend capability: a load engine that repeats reads or writes itself (no per-I/O Python)."""

    async def run_load(
        self,
        *,
        pattern: str = ...,
        block_size: int = ...,
        qd: int = ...,
        seconds: float = ...,
        first_lba: int = ...,
        lba_count: int | None = ...,
        max_ios: int = ...,
        fixed: bool | None = ...,
        iopoll: bool | None = ...,
        seed: int = ...,
        slice_seconds: float = ...,
        on_slice: Callable[[Any], None] | None = ...,
        stop: asyncio.Event | None = ...,
    ) -> Any: ...


@dataclass(frozen=True)
class EnginePlan:
    """A command the engine repeats exactly: `pattern` of `block_size` bytes over a region of LBAs."""

    engine: EngineLoad
    pattern: str
    block_size: int
    first_lba: int
    lba_count: int


def engine_plan(backend: Backend, command: Command, lba_size: int | None) -> EnginePlan | None:
    """The engine run that repeats `command`, or None when the backend has no engine or the command is
    not a plain Read (NVM Command Set 1.0, Fig. 41: SLBA in CDW10-11, 0-based NLB in CDW12 15:0).

    Writes stay on the submit path: the engine writes its own data, not the composed data. Any other bit
    (FUA, protection information, DSM hints, directives) also keeps the command on the submit path."""
    if not isinstance(backend, EngineLoad) or lba_size is None or command.opcode != OPC_READ:
        return None
    block_range = command.plain_block_range()
    if block_range is None:
        return None
    slba, nlb = block_range
    if command.data_len != nlb * lba_size:
        return None
    return EnginePlan(backend, "read", nlb * lba_size, first_lba=slba, lba_count=nlb)


async def run_engine_load(
    plan: EnginePlan,
    spec: LoadSpec,
    stats: LoadStats | None = None,
    stop: asyncio.Event | None = None,
    slice_seconds: float = ENGINE_SLICE_S,
) -> LoadOutcome:
    """`run_load`'s result, from the backend's engine: the plan's region (one I/O: the same LBAs each
    time) read sequentially at `spec.queue_depth`, each slice merged into `stats` as it ends."""
    outcome = LoadOutcome(stats or LoadStats())
    stats = outcome.stats

    def merge(part: EngineSlice) -> None:
        stats.tick()  # the slice's I/Os belong to the interval in which it ended
        h = part.latency
        stats.merge_counts(h.counts, h.total_ns, h.min_ns, h.max_ns, errors=part.errors)

    try:
        await plan.engine.run_load(
            pattern=plan.pattern, block_size=plan.block_size, qd=spec.queue_depth,
            seconds=spec.seconds if spec.seconds is not None else 86400.0, first_lba=plan.first_lba,
            lba_count=plan.lba_count, max_ios=spec.count or 0, slice_seconds=slice_seconds, on_slice=merge,
            stop=stop,
        )  # fmt: skip
    except NvtuiError as exc:  # a device error, or a namespace the engine cannot drive
        outcome.failure = str(exc)
    finally:
        await asyncio.sleep(0)  # the last slice's merge was scheduled with call_soon_threadsafe
        stats.tick()
        stats.finish()
    outcome.stopped = stop is not None and stop.is_set() and outcome.failure is None
    return outcome
