"""Load runs: repeat a command N times or for T seconds at queue depth Q, aggregating into `LoadStats`.

This driver works with every backend through `submit` (the simulator, ioctl, uring); the uring backend's
C engine (nvtui bench) is the full-speed path for reads and writes on real devices.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from nvtui.backend.base import Backend
from nvtui.errors import DeviceError, UsageError
from nvtui.nvme.command import Command
from nvtui.stats import LoadStats

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
