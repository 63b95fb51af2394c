"""The io_uring backend against the real Linux nvme driver and QEMU's NVMe controller.

Runs inside the test VM (`python -m tests.vm.run -- -k uring`). The ioctl backend is the oracle for
what the controller returns; every data check is a checksum of random data written then read back.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import hashlib
import os
import random
import struct
import time
from collections.abc import Awaitable, Callable

import pytest

from nvtui.backend.base import EngineRequest, EngineResult
from nvtui.backend.ioctl import open_ioctl
from nvtui.backend.uring import UringBackend, open_uring, uring_cmd_supported
from nvtui.backend.uring.ring import RawCompletion
from nvtui.errors import UsageError
from nvtui.nvme.command import Command
from nvtui.nvme.completion import Completion
from tests.vm.nvm import rw

pytestmark = pytest.mark.vm

IDENTIFY, GET_LOG_PAGE = 0x06, 0x02
WRITE, READ, ZONE_MGMT_SEND, ZONE_MGMT_RECV, ZONE_APPEND = 0x01, 0x02, 0x79, 0x7A, 0x7D
ZSA_RESET = 0x04
QD = 32


def identify(cns: int, nsid: int = 0) -> Command:
    return Command(opcode=IDENTIFY, admin=True, nsid=nsid, cdw10=cns, data_len=4096)


def lba_size(dev: UringBackend) -> int:
    assert dev.format is not None
    return dev.format.lba_size


def report_figure(capsys: pytest.CaptureFixture[str], text: str) -> None:
    with capsys.disabled():
        print(f"\n    [uring] {text}")


async def bounded(
    jobs: list[Callable[[], Awaitable[Completion]]], depth: int
) -> tuple[list[Completion], int]:
    """Run `jobs` on `depth` workers; the completions in order and the most seen in flight."""
    results: list[Completion | None] = [None] * len(jobs)
    next_job = in_flight = most = 0

    async def worker() -> None:
        nonlocal next_job, in_flight, most
        while next_job < len(jobs):
            index, next_job = next_job, next_job + 1
            in_flight += 1
            most = max(most, in_flight)
            try:
                results[index] = await jobs[index]()
            finally:
                in_flight -= 1

    await asyncio.gather(*(worker() for _ in range(depth)))
    done = [r for r in results if r is not None]
    assert len(done) == len(jobs)
    return done, most


async def write_read_verify(
    dev: UringBackend, first_lba: int, commands: int, blocks: int
) -> dict[str, float]:
    """Random data over `commands` runs of `blocks` LBAs, written then read back at QD32, checksummed."""
    size = lba_size(dev)
    rng = random.Random(first_lba)
    payloads = [rng.randbytes(blocks * size) for _ in range(commands)]
    slbas = [first_lba + i * blocks for i in range(commands)]

    def write(slba: int, payload: bytes) -> Callable[[], Awaitable[Completion]]:
        return lambda: dev.submit(rw(WRITE, dev.nsid, slba, blocks, size, data=payload))

    def read(slba: int) -> Callable[[], Awaitable[Completion]]:
        return lambda: dev.submit(rw(READ, dev.nsid, slba, blocks, size))

    start = time.perf_counter()
    writes, most_w = await bounded([write(s, p) for s, p in zip(slbas, payloads, strict=True)], QD)
    reads, most_r = await bounded([read(s) for s in slbas], QD)
    elapsed = time.perf_counter() - start
    assert all(c.ok for c in writes), [str(c.status) for c in writes if not c.ok][:3]
    assert all(c.ok for c in reads), [str(c.status) for c in reads if not c.ok][:3]
    assert most_w == QD and most_r == QD
    assert dev.io_ring is not None and dev.io_ring.most_in_flight >= QD  # 32 at once in the kernel
    written = [hashlib.sha256(p).hexdigest() for p in payloads]
    read_back = [hashlib.sha256(c.data or b"").hexdigest() for c in reads]
    assert read_back == written
    return {
        "ops_per_s": 2 * commands / elapsed,
        "mean_latency_us": sum(c.latency_ns for c in reads) / commands / 1e3,
    }


def test_the_kernel_offers_uring_cmd() -> None:
    assert uring_cmd_supported()


async def test_identify_over_uring_cmd_equals_identify_over_ioctl(
    nvme_ctrl: str, ns_conventional: str
) -> None:
    oracle = open_ioctl(ns_conventional)
    dev = open_uring(ns_conventional)
    ctrl = open_uring(nvme_ctrl)
    try:
        assert dev.kind == "uring" and dev.nsid == oracle.nsid == 1
        assert dev.path.ctrl_dev == nvme_ctrl and ctrl.nsid == 0
        for cmd in (identify(1), identify(0, dev.nsid)):
            by_uring = await dev.submit(cmd)
            by_ctrl = await ctrl.submit(cmd)
            by_ioctl = await oracle.submit(cmd)
            assert by_uring.ok and by_ctrl.ok and by_ioctl.ok
            assert by_uring.data == by_ctrl.data == by_ioctl.data
            assert by_uring.data is not None and any(by_uring.data)
            assert by_uring.latency_ns > 0
    finally:
        await dev.close()
        await ctrl.close()
        await oracle.close()


async def test_random_data_written_and_read_back_at_qd32(
    ns_conventional: str, capsys: pytest.CaptureFixture[str]
) -> None:
    dev = open_uring(ns_conventional)
    try:
        figures = await write_read_verify(dev, first_lba=1 << 20, commands=2048, blocks=8)
    finally:
        await dev.close()
    report_figure(capsys, f"plain ring, 4 KiB write+read QD32: {figures['ops_per_s']:.0f} commands/s, "
                  f"read latency {figures['mean_latency_us']:.0f} us")  # fmt: skip


async def test_io_on_a_controller_device_is_refused(nvme_ctrl: str) -> None:
    from nvtui.errors import DeviceError

    ctrl = open_uring(nvme_ctrl)
    try:
        with pytest.raises(DeviceError, match="is a controller"):
            await ctrl.submit(rw(READ, 1, 0, 1, 512))
    finally:
        await ctrl.close()


async def test_admin_and_io_commands_in_flight_together(ns_conventional: str) -> None:
    dev = open_uring(ns_conventional)
    size = lba_size(dev)
    try:
        smart = Command(opcode=GET_LOG_PAGE, admin=True, nsid=0xFFFFFFFF, cdw10=0x02 | (512 // 4 - 1) << 16,
                        data_len=512)  # fmt: skip
        tasks = [asyncio.ensure_future(dev.submit(smart)) for _ in range(16)]
        tasks += [asyncio.ensure_future(dev.submit(rw(READ, dev.nsid, i * 8, 8, size))) for i in range(32)]
        tasks += [asyncio.ensure_future(dev.submit(identify(1))) for _ in range(8)]
        await asyncio.sleep(0)
        assert dev.admin_ring.in_flight == 56  # all queued at once on the one ring, two devices
        done = await asyncio.gather(*tasks)
        assert all(c.ok for c in done)
        assert len({c.data for c in done[48:]}) == 1
    finally:
        await dev.close()


async def test_unknown_opcodes_come_back_as_invalid_command_opcode(ns_conventional: str) -> None:
    dev = open_uring(ns_conventional)
    try:
        for cmd in (Command(opcode=0xC4, admin=True), Command(opcode=0x84, admin=False, nsid=dev.nsid)):
            completion = await dev.submit(cmd)
            assert (completion.status.sct, completion.status.sc) == (0x0, 0x01), str(completion.status)
            assert completion.status.dnr
            assert completion.status.name
            assert not completion.ok
    finally:
        await dev.close()


async def test_a_cancelled_read_keeps_its_buffer_until_the_device_is_done(ns_conventional: str) -> None:
    dev = open_uring(ns_conventional, fixed_buffers=True)
    size = lba_size(dev)
    try:
        assert dev.fixed is not None
        tasks = [asyncio.ensure_future(dev.submit(rw(READ, dev.nsid, i * 64, 64, size))) for i in range(32)]
        tasks.append(asyncio.ensure_future(dev.submit(rw(READ, dev.nsid, 0, 1024, size))))  # not a fixed slot
        await asyncio.sleep(0)
        assert dev.admin_ring.in_flight == 33
        for task in tasks:
            task.cancel()
        del tasks
        gc.collect()
        for _ in range(5000):
            if dev.admin_ring.in_flight == 0:
                break
            await asyncio.sleep(0.001)
        assert dev.admin_ring.in_flight == 0
        assert len(dev.fixed._free) == dev.admin_ring.ring.sq_entries  # every slot came back
        again = await dev.submit(rw(READ, dev.nsid, 0, 8, size))
        assert again.ok
    finally:
        await dev.close()


async def test_fixed_buffers(ns_conventional: str, capsys: pytest.CaptureFixture[str]) -> None:
    dev = open_uring(ns_conventional, fixed_buffers=True)
    try:
        assert dev.fixed is not None
        figures = await write_read_verify(dev, first_lba=(1 << 20) + 40_000, commands=2048, blocks=8)
        assert dev.fixed.uses == 2 * 2048
        # Bigger than a slot: an ordinary buffer, same result.
        big = await write_read_verify(dev, first_lba=(1 << 20) + 80_000, commands=64, blocks=256)
        assert dev.fixed.uses == 2 * 2048
    finally:
        await dev.close()
    report_figure(capsys, f"fixed buffers, 4 KiB write+read QD32: {figures['ops_per_s']:.0f} commands/s "
                  f"(128 KiB: {big['ops_per_s']:.0f}/s)")  # fmt: skip


async def test_polled_completions_with_admin_on_a_separate_ring(
    ns_conventional: str, capsys: pytest.CaptureFixture[str]
) -> None:
    dev = open_uring(ns_conventional, iopoll=True)
    try:
        assert dev.io_ring is not None and dev.io_ring is not dev.admin_ring
        assert dev.io_ring.ring.iopoll and dev.io_ring.eventfd is None
        assert not dev.admin_ring.ring.iopoll
        # Why the separate ring: the kernel refuses an admin uring_cmd on an IOPOLL ring.
        ctrl_fd = dev._ctrl_fd
        assert ctrl_fd is not None
        packed = identify(1).pack_uring_cmd(0, 0)
        io_ring, op = dev.io_ring, dev._lib.NVME_URING_CMD_ADMIN
        raw: RawCompletion = await io_ring.submit(
            lambda ud: io_ring.ring.prep_uring_cmd(ctrl_fd, op, packed, ud)
        )
        assert raw.res == -errno.EOPNOTSUPP
        # I/O polled while admin commands run on the plain ring.
        admin = asyncio.gather(*(dev.submit(identify(1)) for _ in range(8)))
        figures = await write_read_verify(dev, first_lba=(1 << 20) + 120_000, commands=2048, blocks=8)
        assert all(c.ok for c in await admin)
    finally:
        await dev.close()
    report_figure(capsys, f"IOPOLL ring, 4 KiB write+read QD32: {figures['ops_per_s']:.0f} commands/s, "
                  f"read latency {figures['mean_latency_us']:.0f} us")  # fmt: skip


async def test_batched_submission(ns_conventional: str, capsys: pytest.CaptureFixture[str]) -> None:
    dev = open_uring(ns_conventional, batch=8)
    size = lba_size(dev)
    try:
        futures = [asyncio.ensure_future(dev.submit(rw(READ, dev.nsid, i * 8, 8, size))) for i in range(5)]
        await asyncio.sleep(0)  # the tasks queue their SQEs; the flush comes on the next loop turn
        assert dev.admin_ring.ring.pending == 5
        assert all(c.ok for c in await asyncio.gather(*futures))
        figures = await write_read_verify(dev, first_lba=(1 << 20) + 160_000, commands=2048, blocks=8)
    finally:
        await dev.close()
    report_figure(capsys, f"batch=8, 4 KiB write+read QD32: {figures['ops_per_s']:.0f} commands/s")


def zone_report(data: bytes) -> tuple[int, list[tuple[int, int, int, int]]]:
    """ZNS 1.1, Fig. 37-39: the number of zones, then (zone state, capacity, ZSLBA, write pointer)."""
    (count,) = struct.unpack_from("<Q", data, 0)
    zones = []
    for offset in range(64, len(data) - 63, 64):
        state = data[offset + 1] >> 4
        capacity, zslba, wp = struct.unpack_from("<QQQ", data, offset + 8)
        zones.append((state, capacity, zslba, wp))
    return count, zones


async def test_zoned_namespace_report_append_reset(ns_zoned: str) -> None:
    dev = open_uring(ns_zoned)
    size = lba_size(dev)

    def zone_recv(slba: int, zones: int) -> Command:
        length = 64 + 64 * zones
        return Command(opcode=ZONE_MGMT_RECV, admin=False, nsid=dev.nsid, cdw10=slba & 0xFFFFFFFF,
                       cdw11=slba >> 32, cdw12=length // 4 - 1, data_len=length)  # fmt: skip

    def zone_send(slba: int, zsa: int) -> Command:
        return Command(opcode=ZONE_MGMT_SEND, admin=False, nsid=dev.nsid, cdw10=slba & 0xFFFFFFFF,
                       cdw11=slba >> 32, cdw13=zsa)  # fmt: skip

    try:
        report = await dev.submit(zone_recv(0, 4))
        assert report.ok and report.data is not None
        count, zones = zone_report(report.data)
        zone_lbas = (64 << 20) // size
        assert count == (1 << 30) // (64 << 20)  # 16 zones of 64 MiB
        assert [z[2] for z in zones] == [i * zone_lbas for i in range(4)]
        zslba = zones[3][2]

        assert (await dev.submit(zone_send(zslba, ZSA_RESET))).ok
        _, [(state, _cap, _z, wp)] = zone_report((await dev.submit(zone_recv(zslba, 1))).data or b"")
        assert wp == zslba and state == 0x1  # Empty

        rng = random.Random(7)
        payloads = [rng.randbytes(4 * size) for _ in range(8)]
        appends = await asyncio.gather(
            *(dev.submit(rw(ZONE_APPEND, dev.nsid, zslba, 4, size, data=p)) for p in payloads)
        )
        assert all(c.ok for c in appends), [str(c.status) for c in appends]
        assigned = [c.result for c in appends]  # the CQE's result: the LBA the device chose
        assert sorted(assigned) == [zslba + 4 * i for i in range(8)]
        _, [(state, _cap, _z, wp)] = zone_report((await dev.submit(zone_recv(zslba, 1))).data or b"")
        assert wp == zslba + 32 and state == 0x2  # Implicitly Opened
        for lba, payload in zip(assigned, payloads, strict=True):
            back = await dev.submit(rw(READ, dev.nsid, lba, 4, size))
            assert back.ok and back.data == payload

        assert (await dev.submit(zone_send(zslba, ZSA_RESET))).ok
        _, [(state, _cap, _z, wp)] = zone_report((await dev.submit(zone_recv(zslba, 1))).data or b"")
        assert wp == zslba and state == 0x1
    finally:
        await dev.close()


async def test_metadata_namespace_round_trips_data_and_metadata(ns_metadata: str) -> None:
    dev = open_uring(ns_metadata)
    try:
        assert dev.format is not None
        assert (dev.format.metadata_size, dev.format.extended) == (8, False)
        size = dev.format.lba_size
        rng = random.Random(3)
        jobs = []
        expected = []
        for i in range(64):
            data, metadata = rng.randbytes(8 * size), rng.randbytes(8 * 8)
            expected.append((data, metadata))
            jobs.append(
                rw(WRITE, dev.nsid, 1000 + i * 8, 8, size, data=data, metadata=metadata, metadata_len=64)
            )
        writes = await asyncio.gather(*(dev.submit(cmd) for cmd in jobs))
        assert all(c.ok for c in writes)
        # A read names no metadata buffer: the backend supplies one and hands back what it holds.
        reads = await asyncio.gather(
            *(dev.submit(rw(READ, dev.nsid, 1000 + i * 8, 8, size)) for i in range(64))
        )
        assert all(c.ok for c in reads)
        assert [(c.data, c.metadata) for c in reads] == expected
        with pytest.raises(UsageError, match="metadata"):
            await dev.submit(rw(WRITE, dev.nsid, 0, 1, size, data=bytes(size)))
        # The ioctl oracle sees the same metadata.
        oracle = open_ioctl(ns_metadata)
        try:
            via_ioctl = await oracle.submit(rw(READ, oracle.nsid, 1000, 8, size, metadata_len=64))
            assert via_ioctl.metadata == expected[0][1] and via_ioctl.data == expected[0][0]
        finally:
            await oracle.close()
    finally:
        await dev.close()


def test_nsid_comes_from_the_kernel_not_the_name(
    ns_conventional: str, ns_zoned: str, ns_metadata: str
) -> None:
    async def nsids() -> list[int]:
        found = []
        for name in (ns_conventional, ns_zoned, ns_metadata):
            dev = open_uring(name)
            found.append(dev.nsid)
            await dev.close()
        return found

    assert asyncio.run(nsids()) == [1, 2, 3]
    assert os.path.basename(ns_conventional).startswith("ng")


def iops(result: EngineResult) -> float:
    return result.ios * 1e9 / result.elapsed_ns if result.elapsed_ns else 0.0


@pytest.mark.parametrize(
    "options", [{}, {"fixed_buffers": True}, {"iopoll": True}, {"iopoll": True, "fixed_buffers": True}]
)
async def test_load_engine_random_reads_at_qd32(
    ns_conventional: str, options: dict[str, bool], capsys: pytest.CaptureFixture[str]
) -> None:
    dev = open_uring(ns_conventional, **options)  # type: ignore[arg-type]
    flags = {"fixed_buffers": "fixed_buffers" in options, "poll": "iopoll" in options}
    try:
        assert await dev.lba_format() is not None  # the engine drives the namespace in its LBA format
        engine = dev.engine
        assert engine is not None
        result = await engine.run(
            EngineRequest(pattern="randread", block_size=4096, qd=QD, seconds=2.0, **flags)
        )
        write = await engine.run(
            EngineRequest(
                pattern="randwrite",
                block_size=4096,
                qd=QD,
                seconds=0.5,
                first_lba=(1 << 21) - (1 << 16),
                lba_count=1 << 16,
                **flags,
            )
        )
    finally:
        await dev.close()
    assert result.errors == 0 and write.errors == 0, (result.first_error, write.first_error)
    assert result.ios > 1000 and result.enters < result.ios
    assert result.latency.count == result.ios
    report_figure(
        capsys,
        f"C engine {'+'.join(options) or 'plain'}: 4k randread QD32 {iops(result):.0f} IOPS, "
        f"p50 {result.latency.percentile(50) / 1e3:.0f} us, "
        f"p99 {result.latency.percentile(99) / 1e3:.0f} us; "
        f"randwrite {iops(write):.0f} IOPS",
    )
