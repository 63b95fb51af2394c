"""The session layer's load runs on QEMU's emulated NVMe namespaces: the C engine takes the composed write's
own data, the block-path rung runs through the same LoadJob, and several namespaces run at once."""

from __future__ import annotations

from nvtui.backend import open_backend
from nvtui.load import LoadJob, run_job, run_jobs
from nvtui.nvme.command import Command
from nvtui.stats import LoadStats

OPC_WRITE, OPC_READ = 0x01, 0x02


def io(opcode: int, slba: int, nlb: int, nsid: int, lba_size: int, data: bytes | None = None) -> Command:
    return Command(
        opcode=opcode, admin=False, nsid=nsid, cdw10=slba & 0xFFFFFFFF, cdw11=slba >> 32, cdw12=nlb - 1,
        data_len=nlb * lba_size, data=data,
    )  # fmt: skip


async def test_a_sequential_composed_write_runs_in_the_engine_with_its_own_data(
    ns_conventional_zeroed: str,
) -> None:
    async with await open_backend(ns_conventional_zeroed, "uring") as backend:
        fmt = await backend.lba_format()
        assert fmt is not None and backend.engine is not None
        nlb = 4096 // fmt.lba_size
        data = bytes(range(256)) * 16
        job = LoadJob(
            io(OPC_WRITE, 0, nlb, backend.nsid, fmt.lba_size, data), queue_depth=8, count=64,
            lba_pattern="sequential", first_lba=1000, lba_count=32 * nlb,
        )  # fmt: skip
        outcome = await run_job(backend, job)
        assert (outcome.engine, outcome.failure, outcome.stats.errors) == ("c", None, 0)
        assert outcome.stats.total.count == 64 and outcome.bytes == 64 * 4096
        for k in range(32):  # every slot of the region holds the composed data; the block after it zeros
            done = await backend.submit(io(OPC_READ, 1000 + k * nlb, nlb, backend.nsid, fmt.lba_size))
            assert done.ok and done.data == data, k
        after = await backend.submit(io(OPC_READ, 1000 + 32 * nlb, nlb, backend.nsid, fmt.lba_size))
        assert after.ok and after.data == bytes(4096)


async def test_the_block_path_rung_runs_through_the_same_job(ns_conventional: str) -> None:
    async with await open_backend(ns_conventional, "uring") as backend:
        fmt = await backend.lba_format()
        assert fmt is not None
        read = io(OPC_READ, 0, 4096 // fmt.lba_size, backend.nsid, fmt.lba_size)
        for interface in ("block", "ioctl", "uring_cmd"):
            job = LoadJob(read, queue_depth=4, seconds=0.3, lba_pattern="random", interface=interface)
            outcome = await run_job(backend, job)
            assert (outcome.engine, outcome.failure, outcome.stats.errors) == ("c", None, 0), interface
            assert outcome.stats.total.count > 100, interface


async def test_two_namespaces_run_at_once_into_one_sum(ns_conventional: str, ns_metadata: str) -> None:
    async with (
        await open_backend(ns_conventional, "uring") as one,
        await open_backend(ns_metadata, "uring") as two,
    ):
        jobs = []
        for backend in (one, two):
            fmt = await backend.lba_format()
            assert fmt is not None
            read = io(OPC_READ, 0, 4096 // fmt.lba_size, backend.nsid, fmt.lba_size)
            jobs.append((backend, LoadJob(read, queue_depth=8, seconds=0.5, lba_pattern="random")))
        total = LoadStats()
        outcomes = await run_jobs(jobs, total)
    assert [o.engine for o in outcomes] == ["c", "c"] and all(o.failure is None for o in outcomes)
    assert all(o.stats.total.count > 100 for o in outcomes)
    assert total.total.count == sum(o.stats.total.count for o in outcomes)
