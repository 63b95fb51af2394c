"""The session layer's load runs (`nvtui.load`): a `LoadJob` in, statistics out, on the simulator (the
submit path) and on a stand-in load engine (the engine path), one namespace or several at once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from nvtui.backend import open_backend
from nvtui.backend.base import Backend, BackendBase, EngineRequest, EngineResult, Stoppable
from nvtui.backend.histogram import LatencyHistogram
from nvtui.errors import DeviceError, UsageError
from nvtui.load import ENGINE_SLICE_S, Geometry, LoadJob, engine_request, run_engine_job, run_job, run_jobs
from nvtui.nvme.command import Command
from nvtui.nvme.completion import Completion
from nvtui.nvme.identify import LbaFormat
from nvtui.stats import LoadStats

SIM_LBAS = (1 << 30) // 512  # sim0n1: 1 GiB in 512-byte blocks


def read(slba: int, nlb: int, nsid: int = 1, fua: bool = False, lba: int = 512) -> Command:
    cdw12 = nlb - 1 | (1 << 30 if fua else 0)  # FUA: NVM Command Set 1.0, Fig. 41
    return Command(
        opcode=0x02, admin=False, nsid=nsid, cdw10=slba & 0xFFFFFFFF, cdw11=slba >> 32, cdw12=cdw12,
        data_len=nlb * lba,
    )  # fmt: skip


def write(slba: int, nlb: int, data: bytes) -> Command:
    return Command(opcode=0x01, admin=False, nsid=1, cdw10=slba, cdw12=nlb - 1, data_len=len(data), data=data)


class Recording(BackendBase):
    """A backend that passes every command to another and keeps the SLBA of each I/O it sends."""

    def __init__(self, inner: Backend, fail_after: int | None = None) -> None:
        self.inner = inner
        self.kind, self.device, self.nsid = inner.kind, inner.device, inner.nsid
        self.slbas: list[int] = []
        self.fail_after = fail_after

    async def submit(self, cmd: Command) -> Completion:
        if not cmd.admin:
            if self.fail_after is not None and len(self.slbas) >= self.fail_after:
                raise DeviceError(f"{self.device}: gone")
            self.slbas.append(cmd.cdw10 | cmd.cdw11 << 32)
        return await self.inner.submit(cmd)


def test_a_job_says_what_is_wrong_with_it_in_one_line() -> None:
    with pytest.raises(UsageError, match="needs a count or a duration"):
        LoadJob(read(0, 1))
    with pytest.raises(UsageError, match="queue depth 0 out of range 1-4096"):
        LoadJob(read(0, 1), queue_depth=0, count=1)
    with pytest.raises(UsageError, match="choose one of fixed, sequential, random"):
        LoadJob(read(0, 1), count=1, lba_pattern="zigzag")
    identify = Command(opcode=0x06, admin=True, cdw10=1, data_len=4096)
    with pytest.raises(UsageError, match="an admin command with other fields set has no plain block range"):
        LoadJob(identify, count=1, lba_pattern="random")
    with pytest.raises(UsageError, match="opcode 0x02"):
        LoadJob(read(0, 1, fua=True), count=1, lba_pattern="sequential")
    assert LoadJob(identify, count=1).block_range is None  # fixed: any command repeats as it is


async def test_a_fixed_pattern_repeats_the_command_and_a_sequential_one_walks_the_region_and_wraps() -> None:
    async with await open_backend("sim0n1") as sim:
        fixed = Recording(sim)
        outcome = await run_job(fixed, LoadJob(read(100, 8), count=5))
        assert fixed.slbas == [100] * 5 and outcome.engine == "python"
        assert outcome.stats.total.count == 5 and outcome.bytes == 5 * 4096
        walking = Recording(sim)
        job = LoadJob(read(0, 8), count=6, lba_pattern="sequential", first_lba=64, lba_count=32)
        await run_job(walking, job)
        assert walking.slbas == [64, 72, 80, 88, 64, 72]


async def test_a_random_pattern_stays_in_the_region_on_block_boundaries_and_follows_its_seed() -> None:
    async with await open_backend("sim0n1") as sim:
        runs = []
        for seed in (7, 7, 8):
            rec = Recording(sim)
            job = LoadJob(read(0, 8), count=200, lba_pattern="random", seed=seed, queue_depth=1)
            await run_job(rec, job)
            runs.append(rec.slbas)
        assert runs[0] == runs[1] != runs[2]
        assert all(0 <= s < SIM_LBAS and s % 8 == 0 for s in runs[0])
        assert len(set(runs[0])) > 190  # over 2**21 places: repeats are rare


async def test_what_cannot_run_is_refused_before_anything_is_sent() -> None:
    async with await open_backend("sim0n1") as sim:
        rec = Recording(sim)
        for rung in ({"fixed_buffers": True}, {"interface": "block"}, {"sqpoll": True}, {"batched": False}):
            with pytest.raises(UsageError, match=r"need a load engine .* open with sim"):
                await run_job(rec, LoadJob(read(0, 8), count=1, **rung))  # type: ignore[arg-type]
        with pytest.raises(UsageError, match="interface 'spi': choose one of uring_cmd, block, ioctl"):
            LoadJob(read(0, 8), count=1, interface="spi")
        outside = LoadJob(read(0, 8), count=1, lba_pattern="random", first_lba=SIM_LBAS - 4)
        with pytest.raises(UsageError, match="does not hold one 8-block I/O"):
            await run_job(rec, outside)
        assert rec.slbas == []


async def test_several_namespaces_run_at_once_each_into_its_own_stats_and_all_into_one() -> None:
    async with await open_backend("sim0n1") as one, await open_backend("sim0n2") as two:
        total, each = LoadStats(), [LoadStats(), LoadStats()]
        jobs = [
            LoadJob(read(0, 1), count=300, queue_depth=4),
            LoadJob(read(0, 1, nsid=2, lba=4096), count=200),
        ]
        outcomes = await run_jobs([(one, jobs[0]), (two, jobs[1])], total, each=each)
    assert [o.stats.total.count for o in outcomes] == [300, 200]
    assert [s.total.count for s in each] == [300, 200] and total.total.count == 500
    assert total.total.max_ns == max(s.total.max_ns for s in each)
    assert outcomes[1].bytes == 200 * 4096


async def test_a_device_error_ends_its_own_run_only_and_is_said() -> None:
    async with await open_backend("sim0n1") as sim:
        failing, fine = Recording(sim, fail_after=10), Recording(sim)
        outcomes = await run_jobs(
            [(failing, LoadJob(read(0, 1), count=100)), (fine, LoadJob(read(0, 1), count=100))]
        )
    assert outcomes[0].failure == "sim0n1: gone" and outcomes[0].stats.total.count == 10
    assert outcomes[1].failure is None and outcomes[1].stats.total.count == 100


# ---- the engine path, with a stand-in engine --------------------------------------------------------


class Slice:
    def __init__(self, ios: int, errors: int) -> None:
        self.ios, self.errors, self.first_error = ios, errors, "LBA Out of Range" if errors else None
        self.bytes, self.elapsed_ns, self.enters = (ios - errors) * 4096, 1_000_000, 3
        self.latency = LatencyHistogram()
        for us in range(1, ios + 1):
            self.latency.record(us * 1000)


class FakeEngine:
    """Reports `slices` slices of 100 I/Os at 1-100 us (one error each), as the uring engine would."""

    def __init__(self, slices: int) -> None:
        self.slices = slices
        self.requests: list[EngineRequest] = []

    async def run(
        self,
        request: EngineRequest,
        *,
        on_slice: Callable[[EngineResult], None] | None = None,
        stop: Stoppable | None = None,
    ) -> EngineResult:
        self.requests.append(request)
        done = 0
        for _ in range(self.slices):
            if stop is not None and stop.is_set():
                break
            assert on_slice is not None
            on_slice(Slice(100, 1))
            done += 1
            await asyncio.sleep(0)
        whole = Slice(100 * done, done)
        whole.elapsed_ns = done * 1_000_000
        return whole


class WithEngine(BackendBase):
    """The simulator, with a load engine of its own."""

    def __init__(self, inner: Backend, engine: FakeEngine) -> None:
        self.inner, self._engine = inner, engine
        self.kind, self.device, self.nsid = "fake", inner.device, inner.nsid

    @property
    def engine(self) -> Any:
        return self._engine

    async def submit(self, cmd: Command) -> Completion:
        return await self.inner.submit(cmd)


def test_the_engine_takes_plain_reads_and_writes_of_whole_blocks_only() -> None:
    fmt = LbaFormat(512)
    request = engine_request(LoadJob(read(100, 8), count=10, queue_depth=16), fmt, 0)
    assert request is not None
    assert (request.pattern, request.block_size, request.first_lba, request.lba_count) == (
        "read",
        4096,
        100,
        8,
    )
    assert (request.qd, request.max_ios, request.data) == (16, 10, None)
    walk = engine_request(LoadJob(read(0, 8), seconds=1, lba_pattern="random"), fmt, 1000)
    assert walk is not None and (walk.pattern, walk.first_lba, walk.lba_count, walk.seconds) == (
        "randread",
        0,
        1000,
        1,
    )
    data = bytes(range(256)) * 16
    written = engine_request(LoadJob(write(0, 8, data), count=1, lba_pattern="sequential"), fmt, 64)
    assert written is not None and written.pattern == "write" and written.data == data
    assert engine_request(LoadJob(read(100, 8, fua=True), count=1), fmt, 0) is None  # FUA
    assert engine_request(LoadJob(read(100, 8), count=1), None, 0) is None  # a controller
    assert engine_request(LoadJob(read(100, 8), count=1), LbaFormat(4096), 0) is None  # not whole blocks
    interleaved = LbaFormat(512, 8, extended=True)
    assert engine_request(LoadJob(read(0, 8), count=1), interleaved, 0) is None
    # the block layer keeps interleaved metadata itself: the block interface takes that namespace
    assert engine_request(LoadJob(read(0, 8), count=1, interface="block"), interleaved, 0) is not None
    marked = write(0, 8, data).with_(metadata=b"\1" * 64, metadata_len=64)
    assert engine_request(LoadJob(marked, count=1), LbaFormat(512, 8), 0) is None  # the engine writes zeros
    identify = Command(opcode=0x06, admin=True, cdw10=1, data_len=4096)
    assert engine_request(LoadJob(identify, count=1), fmt, 0) is None


async def test_engine_slices_merge_into_the_load_stats_and_stop_ends_the_run() -> None:
    async with await open_backend("sim0n1") as sim:
        engine = FakeEngine(5)
        backend = WithEngine(sim, engine)
        outcome = await run_job(backend, LoadJob(read(0, 8), queue_depth=16, count=1000, poll=True))
        assert outcome.engine == "c" and outcome.stats.total.count == 500 and outcome.stats.errors == 5
        assert outcome.stats.total.percentile(50) == pytest.approx(50_000, rel=0.04)
        assert outcome.first_error == "LBA Out of Range" and outcome.enters == 3
        assert engine.requests[0].qd == 16 and engine.requests[0].max_ios == 1000 and engine.requests[0].poll
        rung = LoadJob(read(0, 8), count=10, interface="block", sqpoll=True, batched=False)
        await run_job(backend, rung)
        asked = engine.requests[-1]
        assert (asked.interface, asked.sqpoll, asked.batched) == ("block", True, False)

        stop = asyncio.Event()
        stop.set()
        stopped = await run_job(backend, LoadJob(read(0, 8), seconds=10), stop=stop)
        assert stopped.stopped and stopped.stats.total.count == 0
        # what the engine cannot repeat goes through submit on the same backend
        rec = Recording(sim)
        fua = await run_job(WithEngine(rec, engine), LoadJob(read(0, 8, fua=True), count=3))
        assert fua.engine == "python" and rec.slbas == [0, 0, 0]


def test_a_jobs_slice_and_deadline_reach_the_engine_and_are_checked() -> None:
    job = LoadJob(read(0, 8), seconds=5, slice_seconds=0.1, not_after_ns=123_000_000_000)
    request = engine_request(job, LbaFormat(512), 0)
    assert request is not None and (request.slice_seconds, request.not_after_ns) == (0.1, 123_000_000_000)
    plain = engine_request(LoadJob(read(0, 8), seconds=5), LbaFormat(512), 0)
    assert plain is not None and (plain.slice_seconds, plain.not_after_ns) == (ENGINE_SLICE_S, 0)
    with pytest.raises(UsageError, match=r"engine slice 0 s out of range \(0, 3600\]"):
        LoadJob(read(0, 8), count=1, slice_seconds=0)
    with pytest.raises(UsageError, match="deadline -1 ns: it must not be negative"):
        LoadJob(read(0, 8), count=1, not_after_ns=-1)


async def test_the_submit_path_ends_at_the_jobs_deadline_before_its_duration() -> None:
    import time

    async with await open_backend("sim0n1") as sim:
        started = time.monotonic()
        job = LoadJob(read(0, 8), seconds=60, queue_depth=4, not_after_ns=time.monotonic_ns() + 300_000_000)
        outcome = await run_job(sim, job)
        assert time.monotonic() - started < 30  # not the minute the job asked for
        assert outcome.stats.total.count > 0 and outcome.failure is None and not outcome.stopped


async def test_an_engine_alone_runs_a_job_each_slice_merged_before_the_caller_sees_it() -> None:
    engine = FakeEngine(3)
    stats = LoadStats()
    seen: list[int] = []

    def on_slice(part: EngineResult) -> None:
        seen.append(stats.total.count)  # the slice is already in the statistics

    geometry = Geometry(LbaFormat(512), SIM_LBAS, 0)
    job = LoadJob(read(0, 8), count=300, queue_depth=8, lba_pattern="random", interface="ioctl")
    outcome = await run_engine_job(engine, geometry, job, stats, on_slice=on_slice)
    assert seen == [100, 200, 300] and outcome.stats is stats and outcome.engine == "c"
    asked = engine.requests[0]
    assert (asked.pattern, asked.interface, asked.lba_count, asked.max_ios) == (
        "randread",
        "ioctl",
        SIM_LBAS,
        300,
    )
    with pytest.raises(UsageError, match="a load engine repeats a plain Read or Write of whole blocks"):
        await run_engine_job(engine, geometry, LoadJob(read(0, 8, fua=True), count=1))
    with pytest.raises(UsageError, match="does not hold one 8-block I/O"):
        await run_engine_job(
            engine, geometry, LoadJob(read(0, 8), count=1, lba_pattern="random", first_lba=SIM_LBAS)
        )
    assert len(engine.requests) == 1  # nothing refused reached the engine
