"""The interface ladder's mechanics on what this host can do: the block rungs read a regular file with
O_DIRECT through the C engine (no NVMe device needed); the passthrough rungs go to /dev/zero, which takes
neither the NVMe ioctl nor uring_cmd, so they must come back skipped with the kernel's reason. The VM tests
(tests/vm/test_bench.py) run the ladder on the real driver. No timing is asserted here."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nvtui.errors import UsageError
from nvtui.ladder import (
    RUNG_NAMES,
    RUNGS,
    LadderProgress,
    LadderTarget,
    Workload,
    run_ladder,
    run_ladder_on,
    rung_job,
    why_not,
)

FILE_SIZE = 16 << 20


@pytest.fixture
def data_file(tmp_path: Path) -> Iterator[Path]:
    """A file the block rungs can read with O_DIRECT (tmp_path is on the host's disk, not a tmpfs)."""
    path = tmp_path / "namespace.img"
    with open(path, "wb") as f:
        f.truncate(FILE_SIZE)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    except OSError as exc:
        pytest.skip(f"O_DIRECT on {tmp_path}: {exc.strerror}")
    os.close(fd)
    yield path


def target_of(path: Path, char_dev: str | None = "/dev/zero", **kw: object) -> LadderTarget:
    fields: dict[str, object] = dict(
        name="file", nsid=1, lba_size=512, size_lbas=FILE_SIZE // 512, char_dev=char_dev, block_dev=str(path)
    )
    fields.update(kw)
    return LadderTarget(**fields)  # type: ignore[arg-type]


def ladder_of(target: LadderTarget, workload: Workload, **kw: object) -> object:
    return asyncio.run(run_ladder_on(target, workload, **kw))  # type: ignore[arg-type]


def test_every_rung_is_reported_in_order_block_rungs_measured_passthrough_skipped_with_the_reason(
    data_file: Path,
) -> None:
    progress: list[LadderProgress] = []
    ladder = asyncio.run(
        run_ladder_on(target_of(data_file), Workload(qd=4, seconds=0.3, seed=5), on_progress=progress.append)
    )
    names = [r.rung.name for r in ladder.rungs]
    assert names == list(RUNG_NAMES) == [
        "block", "block_fixed_poll", "ioctl", "uring_cmd", "uring_cmd_fixed", "uring_cmd_iopoll",
        "uring_cmd_batch", "uring_cmd_sqpoll",
    ]  # fmt: skip
    block = ladder.rungs[0]
    assert block.ran and block.errors == 0 and block.ios > 0
    assert block.ios == block.latency.count and block.bytes == block.ios * 4096
    assert block.vs_block == 1.0
    assert block.enters >= block.ios  # rung 1 gives every SQE an enter of its own, as fio does by default
    assert 0.1 < block.seconds < 3  # the 0.3 s budget holds the setup too
    fixed_poll = ladder.rungs[1]  # ext4 takes IOPOLL on O_DIRECT files; a file system that does not: skipped
    assert fixed_poll.ran or fixed_poll.skipped
    if fixed_poll.ran:
        assert fixed_poll.errors == 0 and fixed_poll.vs_block == pytest.approx(fixed_poll.iops / block.iops)
    # /dev/zero refuses the NVMe ioctl and uring_cmd (not /dev/null: it takes uring_cmd, a no-op)
    for r in ladder.rungs[2:]:
        assert not r.ran, r
        assert r.skipped and ("ENOTTY" in r.skipped or "EOPNOTSUPP" in r.skipped or "refused" in r.skipped)
    # progress: slices of each running rung, then one report at each rung's end, in rung order
    ends = [p for p in progress if p.result is not None]
    assert [p.rung.name for p in ends] == names and [p.index for p in ends] == list(range(len(RUNGS)))
    assert all(e.result is r for e, r in zip(ends, ladder.rungs, strict=True))
    slices = [p for p in progress if p.part is not None and p.index == 0]
    assert slices  # 0.3 s in 0.25 s slices: one or two, as the host allows
    assert sum(p.part.ios for p in slices) == block.ios
    first_end = progress.index(ends[0])
    assert all(p.index == 0 for p in progress[:first_end])


def test_the_json_has_the_rungs_in_order_each_measured_or_skipped(data_file: Path) -> None:
    ladder = asyncio.run(run_ladder_on(target_of(data_file, char_dev=None), Workload(qd=2, seconds=0.2)))
    doc = json.loads(json.dumps(ladder.to_json()))
    assert [r["rung"] for r in doc["rungs"]] == list(RUNG_NAMES)
    measured = {"iops", "mb_s", "p50_ns", "p99_ns", "p999_ns", "cpu_per_io_ns", "vs_block"}
    for rung in doc["rungs"]:
        if "skipped" in rung:
            assert isinstance(rung["skipped"], str) and rung["skipped"]
            assert not measured & rung.keys()
        else:
            assert measured <= rung.keys()
            assert rung["p50_ns"] <= rung["p99_ns"] <= rung["p999_ns"]
            assert rung["iops"] > 0 and rung["cpu_per_io_ns"] > 0
    assert doc["rungs"][0]["vs_block"] == 1.0
    assert doc["rungs"][2]["skipped"] == "file has no NVMe generic char device for passthrough"


def test_writes_overwrite_the_file_through_the_block_rungs(data_file: Path) -> None:
    ladder = asyncio.run(
        run_ladder_on(target_of(data_file), Workload(rw="write", qd=2, seconds=0.2), rungs=RUNGS[:1])
    )
    (block,) = ladder.rungs
    assert block.ran and block.errors == 0 and block.ios > 0
    assert data_file.read_bytes()[: 4096 * 2] != bytes(4096 * 2)  # sequential writes start at LBA 0


def test_what_the_target_cannot_run_is_skipped_before_trying() -> None:
    workload = Workload()
    no_block = LadderTarget("ng9n1", 1, 512, 1 << 20, char_dev="/dev/ng9n1", block_dev=None,
                            block_problem="the kernel gives ng9n1 no block device")  # fmt: skip
    assert why_not(RUNGS[0], no_block, workload) == "the kernel gives ng9n1 no block device"
    assert why_not(RUNGS[3], no_block, workload) is None
    no_poll = LadderTarget("ng9n1", 1, 512, 1 << 20, "/dev/ng9n1", "/dev/nvme9n1", poll_queues=False)
    polled = [r.name for r in RUNGS if why_not(r, no_poll, workload) is not None]
    assert polled == ["block_fixed_poll", "uring_cmd_iopoll", "uring_cmd_batch", "uring_cmd_sqpoll"]
    assert "poll_queues" in (why_not(RUNGS[1], no_poll, workload) or "")
    old = LadderTarget("ng9n1", 1, 512, 1 << 20, "/dev/ng9n1", "/dev/nvme9n1",
                       uring_problem="kernel 5.15 predates io_uring NVMe passthrough (5.19)")  # fmt: skip
    assert [r.name for r in RUNGS if why_not(r, old, workload)] == [r.name for r in RUNGS[3:]]
    assert "one thread per I/O" in (why_not(RUNGS[2], old, Workload(qd=300)) or "")
    interleaved = LadderTarget("ng9n1", 1, 512, 1 << 20, "/dev/ng9n1", None, metadata_size=8, extended=True)
    assert "interleaves" in (why_not(RUNGS[3], interleaved, workload) or "")


def test_a_stop_ends_the_running_rung_and_skips_the_rest(data_file: Path) -> None:
    async def go() -> object:
        stop = asyncio.Event()

        def on_progress(p: LadderProgress) -> None:
            if p.part is not None:
                stop.set()

        return await run_ladder_on(target_of(data_file), Workload(qd=2, seconds=30), on_progress=on_progress,
                                   stop=stop)  # fmt: skip

    ladder = asyncio.run(go())
    first, *rest = ladder.rungs  # type: ignore[attr-defined]
    assert first.ran and first.seconds < 5
    assert all(r.skipped == "stopped before it started" for r in rest)


def test_writes_are_refused_without_allow_destructive_before_any_device_is_looked_at() -> None:
    with pytest.raises(UsageError, match="--rw randwrite overwrites the data on ng77n1: add --allow-dest"):
        asyncio.run(run_ladder("ng77n1", Workload(rw="randwrite")))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("rw", "trim", "--rw trim: choose one of"), ("qd", 0, "--qd 0: the queue depth must be 1-4096"),
     ("seconds", 0.0, "--seconds 0.0: the duration must be in"), ("bs", -1, "--bs -1")],
)  # fmt: skip
def test_a_bad_workload_is_one_line_naming_the_field(field: str, value: object, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        Workload(**{field: value})  # type: ignore[arg-type]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nvtui.cli", "bench", *args], capture_output=True, text=True,
                          env=os.environ, timeout=60)  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sim0n1", "--ladder"], "sim0n1 is simulated: the ladder compares the kernel's interfaces"),
        (["ng77n1", "--ladder", "--rw", "write"], "--rw write overwrites the data on ng77n1"),
        (["ng77n1", "ng77n2", "--ladder"], "--ladder takes one device"),
        (["ng77n1", "--ladder", "--poll", "--jobs", "2"], "--ladder runs every interface and option itself: "
                                                          "drop --jobs, --poll"),
        (["ng77n1", "ng77n2", "--rw", "randwrite"], "--rw randwrite overwrites the data on ng77n1, ng77n2"),
        (["sim0n1", "--jobs", "2"], "sim0n1 is simulated: several devices or --jobs run the C engine"),
        (["ng77n1", "ng77n2", "--backend", "ioctl"], "not --backend ioctl"),
    ],
)  # fmt: skip
def test_the_cli_refuses_bad_ladder_and_many_device_runs_in_one_line(args: list[str], message: str) -> None:
    done = _cli(*args)
    assert done.returncode == 2, done
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and message in done.stderr and "Traceback" not in done.stderr


# ---- several jobs per ring, several rings: the engine under `nvtui bench DEV... --jobs N` -------------


def test_jobs_on_one_ring_and_on_rings_of_their_own_each_keep_their_own_counts(tmp_path: Path) -> None:
    from nvtui.backend.uring.engine import EngineJob, run_groups

    fds = []
    for name in ("a", "b", "c"):
        path = tmp_path / name
        path.write_bytes(b"")
        os.truncate(path, FILE_SIZE)
        fds.append(os.open(path, os.O_RDWR | os.O_DIRECT))
    try:

        def job(fd: int, qd: int, **kw: object) -> EngineJob:
            return EngineJob(fd, 1, lba_size=512, lba_count=FILE_SIZE // 512, qd=qd, seconds=5.0,
                             interface="block", **kw)  # type: ignore[arg-type]  # fmt: skip

        slices: list[int] = []
        results = asyncio.run(
            run_groups(
                [
                    [job(fds[0], 2, max_ios=3000), job(fds[1], 5, max_ios=2000, fixed=True)],
                    [job(fds[2], 3, max_ios=1000)],
                ],
                on_slice=lambda index, part: slices.append(index),
            )
        )  # fmt: skip
        assert [r.ios for r in results] == [3000, 2000, 1000]
        assert [r.qd for r in results] == [2, 5, 3]
        assert all(r.errors == 0 and r.latency.count == r.ios and r.bytes == r.ios * 4096 for r in results)
        assert results[0].enters == results[1].enters  # one ring: its enters are both jobs'
        assert sorted(set(slices)) == [0, 1, 2]
        with pytest.raises(UsageError, match="jobs on one ring must share the interface, batching, iopoll"):
            asyncio.run(run_groups([[job(fds[0], 2), job(fds[1], 2, iopoll=True)]]))
        with pytest.raises(UsageError, match="at least one group of at least one job"):
            asyncio.run(run_groups([[]]))
    finally:
        for fd in fds:
            os.close(fd)


def test_a_group_that_cannot_start_ends_the_run_with_its_own_reason(data_file: Path) -> None:
    from nvtui.backend.uring.engine import EngineJob, EngineUnavailable, run_groups

    fd = os.open(data_file, os.O_RDWR | os.O_DIRECT)
    zero = os.open("/dev/zero", os.O_RDWR)
    try:
        good = EngineJob(fd, 1, lba_size=512, lba_count=FILE_SIZE // 512, qd=2, seconds=3, interface="block")
        bad = EngineJob(zero, 1, lba_size=512, lba_count=1 << 20, qd=2, seconds=0.5, interface="ioctl")
        with pytest.raises(EngineUnavailable, match="ioctl randread on nsid 1 failed: ENOTTY"):
            asyncio.run(run_groups([[good], [bad]]))
    finally:
        os.close(fd)
        os.close(zero)


def test_threads_share_devices_as_evenly_as_the_depth_allows() -> None:
    from nvtui.bench import split_jobs

    assert split_jobs(8, 1, 32) == [[(d, 32) for d in range(8)]]
    assert split_jobs(8, 2, 16) == [
        [(0, 16), (2, 16), (4, 16), (6, 16)],
        [(1, 16), (3, 16), (5, 16), (7, 16)],
    ]
    assert split_jobs(1, 3, 32) == [[(0, 11)], [(0, 11)], [(0, 10)]]
    assert split_jobs(2, 3, 5) == [[(0, 3)], [(1, 5)], [(0, 2)]]
    with pytest.raises(UsageError, match="--qd 2 is less than the 3 engine threads per device"):
        split_jobs(1, 3, 2)


def test_a_rung_whose_budget_its_setup_took_says_so_instead_of_showing_zero_iops(data_file: Path) -> None:
    ladder = asyncio.run(run_ladder_on(target_of(data_file), Workload(qd=2, seconds=1e-6), rungs=RUNGS[:1]))
    (block,) = ladder.rungs
    assert block.skipped is not None
    assert block.skipped.startswith("no I/O completed within the rung's 1e-06 s")
    assert "iops" not in block.to_json()


def test_a_rung_is_a_load_job_through_its_interface_and_features() -> None:
    by_name = {r.name: r for r in RUNGS}
    target = LadderTarget("ng9n1", 3, 512, 1 << 20, "/dev/ng9n1", "/dev/nvme9n1", metadata_size=8)
    reads = rung_job(by_name["uring_cmd_sqpoll"], target, Workload(qd=16, seconds=2), seed=9, not_after_ns=5)
    assert (reads.interface, reads.fixed_buffers, reads.poll, reads.batched, reads.sqpoll) == (
        "uring_cmd", True, True, True, True,
    )  # fmt: skip
    assert (reads.queue_depth, reads.seconds, reads.seed, reads.not_after_ns) == (16, 2, 9, 5)
    assert reads.lba_pattern == "random" and reads.command.opcode == 0x02 and reads.command.nsid == 3
    assert reads.block_range == (0, 8) and reads.slice_seconds == 0.25
    writes = rung_job(
        by_name["ioctl"], target, Workload(rw="write", bs=8192, seconds=3), seed=9, not_after_ns=0
    )
    assert writes.interface == "ioctl" and not (writes.fixed_buffers or writes.poll or writes.batched)
    assert writes.lba_pattern == "sequential" and writes.command.opcode == 0x01
    assert writes.slice_seconds == 3  # the ioctl rung's threads start once: one slice
    cmd = writes.command
    assert cmd.data is not None and len(cmd.data) == 8192 and any(cmd.data)
    assert cmd.metadata == bytes(16 * 8)  # zeros for the separate metadata, as the engine writes


async def test_the_file_engine_opens_what_the_interface_needs_and_says_what_it_cannot(
    data_file: Path,
) -> None:
    from nvtui.backend.base import EngineRequest
    from nvtui.backend.uring.backend import FileEngine
    from nvtui.errors import DeviceError
    from nvtui.nvme.identify import LbaFormat

    engine = FileEngine(1, LbaFormat(512), FILE_SIZE // 512, char_dev=None, block_dev=str(data_file))
    run = await engine.run(EngineRequest("randread", 4096, 4, seconds=5, max_ios=64, interface="block"))
    assert run.ios == 64 and run.errors == 0 and run.bytes == 64 * 4096
    with pytest.raises(UsageError, match="no NVMe generic char device for the ioctl interface"):
        await engine.run(EngineRequest("read", 4096, 1, seconds=1, max_ios=1, interface="ioctl"))
    gone = FileEngine(1, LbaFormat(512), 1 << 10, char_dev=None, block_dev=str(data_file) + ".gone")
    with pytest.raises(DeviceError, match=r"cannot open .*namespace\.img\.gone: No such file or directory"):
        await gone.run(EngineRequest("read", 4096, 1, seconds=1, max_ios=1, interface="block"))
