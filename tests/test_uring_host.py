"""The io_uring ring and backend plumbing on this machine's own kernel: no NVMe device needed.

NOPs, pipe reads and socket uring_cmds (SIOCINQ) go through the real kernel's io_uring.
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import shutil
import socket
import subprocess
import sys
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nvtui.backend.discovery import DevicePath
from nvtui.backend.uring import AsyncRing, Ring, UringBackend, UringUnsupported, uring_cmd_supported
from nvtui.errors import DeviceError, UsageError
from nvtui.nvme.command import URING_CMD_SIZE, Command
from nvtui.nvme.identify import LbaFormat

ffi_lib = pytest.importorskip("nvtui.backend.uring._ring", reason="the io_uring extension is not built")
ffi, lib = ffi_lib.ffi, ffi_lib.lib

RING_DIR = Path(__file__).resolve().parent.parent / "nvtui" / "backend" / "uring"
KERNEL_HEADERS = Path("/usr/include/linux/io_uring.h"), Path("/usr/include/linux/nvme_ioctl.h")


# ---- the C layouts against the kernel's own headers -------------------------------------------------

LAYOUT_PROBE = r"""
#include <stdio.h>
#include <stddef.h>
#ifdef USE_KERNEL_HEADERS
#include <linux/io_uring.h>
#include <linux/nvme_ioctl.h>
#else
#include "ring_core.h"
#endif
#define P(x) printf("%s %llu\n", #x, (unsigned long long)(x));
#define SIZE(s) P(sizeof(struct s))
#define OFF(s, m) P(offsetof(struct s, m))
int main(void)
{
    SIZE(io_uring_sqe) OFF(io_uring_sqe, opcode) OFF(io_uring_sqe, flags) OFF(io_uring_sqe, ioprio)
    OFF(io_uring_sqe, fd) OFF(io_uring_sqe, off) OFF(io_uring_sqe, cmd_op) OFF(io_uring_sqe, addr)
    OFF(io_uring_sqe, len) OFF(io_uring_sqe, uring_cmd_flags) OFF(io_uring_sqe, user_data)
    OFF(io_uring_sqe, buf_index) OFF(io_uring_sqe, personality) OFF(io_uring_sqe, file_index)
    OFF(io_uring_sqe, addr3) OFF(io_uring_sqe, cmd)
    SIZE(io_uring_cqe) OFF(io_uring_cqe, user_data) OFF(io_uring_cqe, res) OFF(io_uring_cqe, flags)
    OFF(io_uring_cqe, big_cqe)
    SIZE(io_sqring_offsets) OFF(io_sqring_offsets, head) OFF(io_sqring_offsets, tail)
    OFF(io_sqring_offsets, ring_mask) OFF(io_sqring_offsets, ring_entries) OFF(io_sqring_offsets, flags)
    OFF(io_sqring_offsets, dropped) OFF(io_sqring_offsets, array)
    SIZE(io_cqring_offsets) OFF(io_cqring_offsets, head) OFF(io_cqring_offsets, tail)
    OFF(io_cqring_offsets, ring_mask) OFF(io_cqring_offsets, ring_entries)
    OFF(io_cqring_offsets, overflow) OFF(io_cqring_offsets, cqes) OFF(io_cqring_offsets, flags)
    SIZE(io_uring_params) OFF(io_uring_params, sq_entries) OFF(io_uring_params, cq_entries)
    OFF(io_uring_params, flags) OFF(io_uring_params, features) OFF(io_uring_params, sq_off)
    OFF(io_uring_params, cq_off)
    SIZE(io_uring_probe) OFF(io_uring_probe, last_op) OFF(io_uring_probe, ops_len) OFF(io_uring_probe, ops)
    SIZE(io_uring_probe_op) OFF(io_uring_probe_op, op) OFF(io_uring_probe_op, flags)
    SIZE(nvme_uring_cmd) OFF(nvme_uring_cmd, opcode) OFF(nvme_uring_cmd, flags) OFF(nvme_uring_cmd, nsid)
    OFF(nvme_uring_cmd, cdw2) OFF(nvme_uring_cmd, cdw3) OFF(nvme_uring_cmd, metadata)
    OFF(nvme_uring_cmd, addr)
    OFF(nvme_uring_cmd, metadata_len) OFF(nvme_uring_cmd, data_len) OFF(nvme_uring_cmd, cdw10)
    OFF(nvme_uring_cmd, cdw15) OFF(nvme_uring_cmd, timeout_ms) OFF(nvme_uring_cmd, rsvd2)
    SIZE(nvme_passthru_cmd) OFF(nvme_passthru_cmd, nsid) OFF(nvme_passthru_cmd, metadata)
    OFF(nvme_passthru_cmd, addr) OFF(nvme_passthru_cmd, metadata_len) OFF(nvme_passthru_cmd, data_len)
    OFF(nvme_passthru_cmd, cdw10) OFF(nvme_passthru_cmd, cdw12) OFF(nvme_passthru_cmd, timeout_ms)
    OFF(nvme_passthru_cmd, result) P(NVME_IOCTL_IO_CMD)
    P(IORING_SETUP_SQPOLL) P(IORING_ENTER_SQ_WAKEUP) P(IORING_OP_READ_FIXED) P(IORING_OP_WRITE_FIXED)
    P(IORING_OP_WRITE)
    P(IORING_SETUP_IOPOLL) P(IORING_SETUP_CQSIZE) P(IORING_SETUP_CLAMP) P(IORING_SETUP_COOP_TASKRUN)
    P(IORING_SETUP_TASKRUN_FLAG) P(IORING_SETUP_SQE128) P(IORING_SETUP_CQE32) P(IORING_SETUP_SINGLE_ISSUER)
    P(IORING_SETUP_DEFER_TASKRUN)
    P(IORING_OP_NOP) P(IORING_OP_READ) P(IORING_OP_URING_CMD) P(IORING_URING_CMD_FIXED)
    P(IORING_OFF_SQ_RING) P(IORING_OFF_CQ_RING) P(IORING_OFF_SQES)
    P(IORING_SQ_NEED_WAKEUP) P(IORING_SQ_CQ_OVERFLOW) P(IORING_SQ_TASKRUN) P(IORING_ENTER_GETEVENTS)
    P(IORING_FEAT_SINGLE_MMAP) P(IORING_FEAT_NODROP)
    P(IORING_REGISTER_BUFFERS) P(IORING_UNREGISTER_BUFFERS) P(IORING_REGISTER_EVENTFD)
    P(IORING_UNREGISTER_EVENTFD) P(IORING_REGISTER_PROBE) P(IO_URING_OP_SUPPORTED)
    P(NVME_URING_CMD_IO) P(NVME_URING_CMD_IO_VEC) P(NVME_URING_CMD_ADMIN) P(NVME_URING_CMD_ADMIN_VEC)
    return 0;
}
"""


def _run_probe(tmp_path: Path, kernel: bool) -> dict[str, int]:
    source = tmp_path / "probe.c"
    source.write_text(LAYOUT_PROBE)
    binary = tmp_path / ("probe_kernel" if kernel else "probe_ours")
    defines = ["-DUSE_KERNEL_HEADERS"] if kernel else []
    subprocess.run(["gcc", *defines, "-I", str(RING_DIR), "-o", str(binary), str(source)], check=True)
    out = subprocess.run([str(binary)], check=True, capture_output=True, text=True).stdout
    return {name: int(value) for name, value in (line.rsplit(" ", 1) for line in out.splitlines())}


@pytest.mark.skipif(
    shutil.which("gcc") is None or not all(h.exists() for h in KERNEL_HEADERS), reason="gcc or headers"
)
def test_c_layouts_and_constants_equal_the_kernel_headers(tmp_path: Path) -> None:
    kernel = _run_probe(tmp_path, kernel=True)
    ours = _run_probe(tmp_path, kernel=False)
    assert len(kernel) > 100
    assert ours == kernel
    assert kernel["sizeof(struct io_uring_sqe)"] == 64
    assert kernel["offsetof(struct io_uring_sqe, cmd)"] == 48  # 80 bytes of payload in a 128-byte SQE
    assert kernel["offsetof(struct io_uring_cqe, big_cqe)"] == 16
    assert kernel["sizeof(struct nvme_uring_cmd)"] == URING_CMD_SIZE == 72
    assert kernel["sizeof(struct nvme_passthru_cmd)"] == 72
    # The compiled extension carries the same numbers.
    for name in ("IORING_OP_URING_CMD", "IORING_OP_NOP", "IORING_URING_CMD_FIXED", "IORING_SETUP_SQE128",
                 "IORING_SETUP_CQE32", "IORING_SQ_CQ_OVERFLOW", "IORING_SQ_TASKRUN", "NVME_URING_CMD_IO",
                 "NVME_URING_CMD_ADMIN", "NVME_URING_CMD_IO_VEC", "IORING_SETUP_SQPOLL"):  # fmt: skip
        assert getattr(lib, name) == kernel[name], name


# ---- the synchronous ring ------------------------------------------------------------------------------


@pytest.fixture
def ring() -> Iterator[Ring]:
    r = Ring(8)
    yield r
    r.close()


def test_ring_has_big_sqes_and_cqes_and_cooperative_task_running(ring: Ring) -> None:
    wanted = lib.IORING_SETUP_SQE128 | lib.IORING_SETUP_CQE32 | lib.IORING_SETUP_COOP_TASKRUN
    assert ring.setup_flags & wanted == wanted
    assert ring.setup_flags & lib.IORING_SETUP_TASKRUN_FLAG
    assert not ring.setup_flags & lib.IORING_SETUP_IOPOLL
    assert ring.features & lib.IORING_FEAT_SINGLE_MMAP and ring.features & lib.IORING_FEAT_NODROP
    assert (ring.sq_entries, ring.cq_entries) == (8, 16)


def test_nop_round_trip(ring: Ring) -> None:
    assert ring.prep_nop(0xDEADBEEF12345678)
    assert ring.submit() == 1
    assert [(ud, res) for ud, res, _result, _t in ring.reap()] == [(0xDEADBEEF12345678, 0)]
    assert ring.reap() == []


def test_a_full_sq_refuses_an_entry_until_submitted(ring: Ring) -> None:
    for i in range(8):
        assert ring.prep_nop(i)
    assert ring.space == 0 and not ring.prep_nop(99)
    assert ring.submit() == 8
    assert ring.space == 8 and ring.prep_nop(99)
    ring.submit()
    assert sorted(ud for ud, *_ in ring.reap()) == [*range(8), 99]


def test_cq_overflow_is_flushed_and_nothing_is_lost(ring: Ring) -> None:
    # 32 completions for a 16-entry CQ, none reaped: the kernel keeps 16 on its overflow list.
    for batch in range(4):
        for i in range(8):
            assert ring.prep_nop(batch * 8 + i)
        assert ring.submit() == 8
    assert ring.cq_ready == 16
    assert ring.sq_flags & lib.IORING_SQ_CQ_OVERFLOW
    reaped = ring.reap()
    assert sorted(ud for ud, *_ in reaped) == list(range(32))
    assert all(res == 0 for _ud, res, *_ in reaped)
    assert not ring.sq_flags & lib.IORING_SQ_CQ_OVERFLOW
    assert ring.cq_dropped == 0


def test_probe_says_uring_cmd_is_supported(ring: Ring) -> None:
    assert ring.supports(lib.IORING_OP_URING_CMD)
    assert ring.supports(lib.IORING_OP_NOP)
    assert not ring.supports(255)
    assert uring_cmd_supported()


def test_buffers_register() -> None:
    r = Ring(4)
    try:
        buffers = [ffi.new("char[]", 4096) for _ in range(4)]
        r.register_buffers([(int(ffi.cast("uintptr_t", b)), 4096) for b in buffers])
        with pytest.raises(OSError):  # a second registration while the first stands: EBUSY
            r.register_buffers([(int(ffi.cast("uintptr_t", buffers[0])), 4096)])
    finally:
        r.close()


# ---- the ring on an event loop ---------------------------------------------------------------------------


class CountingRing(AsyncRing):
    wakeups = 0

    def _on_eventfd(self) -> None:
        self.wakeups += 1
        super()._on_eventfd()


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    r, w = os.pipe()
    yield r, w
    os.close(r)
    os.close(w)


async def test_many_nops_in_flight_beyond_the_sq_and_cq_sizes() -> None:
    aring = AsyncRing(Ring(8))  # SQ 8, CQ 16: 500 at once go through the backlog
    try:
        results = await asyncio.gather(*(aring.nop() for _ in range(500)))
        assert len({r.user_data for r in results}) == 500
        assert all(r.res == 0 and r.latency_ns >= 0 for r in results)
        assert aring.in_flight == 0
    finally:
        await aring.close()


async def test_completions_out_of_order_reach_their_own_waiters() -> None:
    aring = CountingRing(Ring(8))
    pipes = [os.pipe() for _ in range(3)]
    try:

        def start_read(fd: int) -> asyncio.Future[Any]:
            buf = ffi.new("char[]", 16)
            return aring.start(
                lambda ud: aring.ring.prep_read(fd, buf, 16, ud),
                keep=(buf,),
                finish=lambda raw: (raw.res, ffi.buffer(buf, raw.res)[:]),
            )

        reads = [start_read(r) for r, _w in pipes]
        await asyncio.sleep(0.01)
        assert not any(f.done() for f in reads)
        for index in (2, 0, 1):  # complete the last first
            os.write(pipes[index][1], f"pipe {index}".encode())
            assert await asyncio.wait_for(reads[index], 5) == (6, f"pipe {index}".encode())
        assert aring.wakeups >= 3  # each completion arrived through the eventfd
    finally:
        await aring.close()
        for r, w in pipes:
            os.close(r)
            os.close(w)


async def test_the_eventfd_wakes_the_loop_when_another_thread_completes_a_read(pipe: tuple[int, int]) -> None:
    aring = CountingRing(Ring(8))
    r, w = pipe
    try:
        buf = ffi.new("char[]", 8)
        future = aring.start(lambda ud: aring.ring.prep_read(r, buf, 8, ud), keep=(buf,))
        loop = asyncio.get_running_loop()
        loop.call_later(0.05, lambda: loop.run_in_executor(None, os.write, w, b"wake"))
        raw = await asyncio.wait_for(future, 5)
        assert raw.res == 4 and ffi.buffer(buf, 4)[:] == b"wake"
        assert aring.wakeups >= 1
        assert raw.latency_ns >= 40_000_000
    finally:
        await aring.close()


async def test_a_buffer_in_flight_outlives_its_cancelled_caller(pipe: tuple[int, int]) -> None:
    aring = AsyncRing(Ring(8))
    r, w = pipe
    seen: list[bytes] = []
    refs: list[weakref.ref[Any]] = []

    async def caller() -> None:
        buf = ffi.new("char[]", 4096)
        refs.append(weakref.ref(buf))
        await aring.submit(
            lambda ud: aring.ring.prep_read(r, buf, 4096, ud),
            keep=(buf,),
            finish=lambda raw: seen.append(ffi.buffer(buf, raw.res)[:]),
        )

    try:
        task = asyncio.create_task(caller())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        del task
        gc.collect()
        assert refs[0]() is not None  # the kernel still holds the address: the ring keeps the buffer
        os.write(w, b"written after the caller gave up")
        for _ in range(500):
            await asyncio.sleep(0.002)
            if seen:
                break
        assert seen == [b"written after the caller gave up"]
        assert aring.in_flight == 0
        gc.collect()
        assert refs[0]() is None  # reaped: now it may go
    finally:
        await aring.close()


async def test_uring_cmd_siocinq_on_a_tcp_socket_returns_the_queued_bytes() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    aring = AsyncRing(Ring(8))
    try:
        client.sendall(b"x" * 1234)
        for _ in range(100):
            if len(server.recv(4096, socket.MSG_PEEK)) == 1234:
                break
        op = lib.SOCKET_URING_OP_SIOCINQ
        raws = await asyncio.gather(
            *(
                aring.submit(lambda ud: aring.ring.prep_uring_cmd(server.fileno(), op, b"", ud))
                for _ in range(20)
            )
        )
        assert [raw.res for raw in raws] == [1234] * 20
    finally:
        await aring.close()
        for s in (client, server, listener):
            s.close()


async def test_batching_queues_sqes_until_the_loop_turns() -> None:
    aring = AsyncRing(Ring(16), batch=8)
    try:
        futures = [aring.start(aring.ring.prep_nop) for _ in range(3)]
        assert aring.ring.pending == 3  # queued, not yet handed to the kernel
        await asyncio.sleep(0)
        assert aring.ring.pending == 0
        more = [aring.start(aring.ring.prep_nop) for _ in range(8)]
        assert aring.ring.pending == 0  # the 8th filled the batch: submitted at once
        results = await asyncio.gather(*futures, *more)
        assert len({r.user_data for r in results}) == 11
    finally:
        await aring.close()


async def test_a_polled_ring_has_no_eventfd_and_is_reaped_by_polling() -> None:
    aring = AsyncRing(Ring(8, iopoll=True))
    try:
        assert aring.eventfd is None
        assert aring.ring.setup_flags & lib.IORING_SETUP_IOPOLL
        results = await asyncio.wait_for(asyncio.gather(*(aring.nop() for _ in range(100))), 5)
        assert all(r.res == 0 for r in results)
    finally:
        await aring.close()


def test_run_sync_waits_without_an_event_loop(ring: Ring) -> None:
    aring = AsyncRing(ring)
    raw = aring.run_sync(ring.prep_nop)
    assert raw.res == 0 and aring.in_flight == 0


# ---- the backend's own rules, without an NVMe device -----------------------------------------------------


def _backend(ctrl_fd: int, ns_fd: int | None, fmt: LbaFormat | None = None) -> UringBackend:
    path = DevicePath(
        name="ng9n1" if ns_fd is not None else "nvme9",
        controller="nvme9",
        ctrl_dev="/dev/nvme9",
        ns_dev="/dev/ng9n1" if ns_fd is not None else None,
        nsid=1 if ns_fd is not None else 0,
    )
    aring = AsyncRing(Ring(8))
    backend = UringBackend(path.name, path, ctrl_fd, ns_fd, aring, aring if ns_fd is not None else None, None)
    backend.format = fmt
    return backend


async def test_io_on_a_controller_is_refused() -> None:
    sock = socket.socket()
    backend = _backend(os.dup(sock.fileno()), None)
    try:
        with pytest.raises(DeviceError, match="is a controller"):
            await backend.submit(Command(opcode=0x02, admin=False, nsid=1, data_len=512))
    finally:
        await backend.close()
        sock.close()


async def test_a_kernel_error_becomes_a_device_error_with_the_errno_name() -> None:
    # A TCP socket takes uring_cmd but not NVMe's: the kernel answers -EOPNOTSUPP.
    sock = socket.socket()
    backend = _backend(os.dup(sock.fileno()), None)
    try:
        with pytest.raises(DeviceError, match="EOPNOTSUPP"):
            await backend.submit(Command(opcode=0x06, admin=True, cdw10=1, data_len=4096))
        with pytest.raises(UringUnsupported, match="EOPNOTSUPP"):
            backend.first_command()  # at open, this refusal means "fall back to ioctl"
    finally:
        await backend.close()
        sock.close()


def _metadata_backend() -> tuple[UringBackend, socket.socket]:
    sock = socket.socket()
    backend = _backend(os.dup(sock.fileno()), os.dup(sock.fileno()), LbaFormat(512, 8, extended=False))
    return backend, sock


def test_a_read_on_a_metadata_namespace_gets_a_metadata_buffer() -> None:
    backend, sock = _metadata_backend()
    try:
        read = Command(opcode=0x02, admin=False, nsid=1, cdw12=3, data_len=2048)
        assert backend._with_metadata(read).metadata_len == 4 * 8
        assert backend._with_metadata(read.with_(metadata_len=64)).metadata_len == 64
        backend.format = LbaFormat(512, 8, extended=True)  # metadata inside the data buffer
        assert backend._with_metadata(read).metadata_len == 0
    finally:
        backend.close_now()
        sock.close()


async def test_a_write_without_metadata_is_refused_before_anything_is_sent() -> None:
    backend, sock = _metadata_backend()
    try:
        for opcode in (0x01, 0x05, 0x7D):
            with pytest.raises(UsageError, match="must carry 16 bytes of metadata"):
                await backend.submit(Command(opcode=opcode, admin=False, nsid=1, cdw12=1, data_len=1024))
        with pytest.raises(UsageError, match="too small"):
            await backend.submit(
                Command(opcode=0x01, admin=False, nsid=1, cdw12=1, data_len=1024, metadata_len=8)
            )
        assert backend.io_ring is not None and backend.io_ring.in_flight == 0
        ok = Command(
            opcode=0x01, admin=False, nsid=1, cdw12=1, data_len=1024, metadata=bytes(16), metadata_len=16
        )
        assert backend._with_metadata(ok) is ok
    finally:
        await backend.close()
        sock.close()


def test_open_uring_reports_a_missing_device() -> None:
    from nvtui.backend.uring import open_uring

    with pytest.raises(DeviceError):
        open_uring("/dev/ng97n1")


# ---- the load engine's mechanics (the I/O itself needs the VM) -------------------------------------------


def test_the_engine_buckets_latencies_exactly_as_nvtui_stats_does() -> None:
    from nvtui.backend import histogram as stats

    assert (lib.NVT_HIST_SUB_BITS, lib.NVT_HIST_MAX_SHIFT, lib.NVT_HIST_BUCKETS) == (
        stats.SUB_BITS, stats.MAX_SHIFT, stats.BUCKETS,
    )  # fmt: skip
    rng = random.Random(5)
    values = [0, 1, 31, 32, 33, 63, 64, 65, 100, 999, 1000, 123_456, 10**9, 2**40 + 12345, 2**63 - 1]
    values += [
        (1 << bit) + delta for bit in range(64) for delta in (-1, 0, 1) if 0 <= (1 << bit) + delta < 2**64
    ]
    values += [rng.getrandbits(rng.randrange(1, 64)) for _ in range(20_000)]
    for value in values:
        assert lib.nvt_hist_bucket(value) == stats.bucket_of(value), value


async def test_the_engine_counts_every_io_and_reports_the_first_error() -> None:
    from nvtui.backend.uring import EngineJob, run_load

    sock = socket.socket()  # takes uring_cmd, refuses NVMe's: every I/O completes with -EOPNOTSUPP
    try:
        job = EngineJob(
            sock.fileno(), 1, lba_size=512, lba_count=1 << 20, pattern="randread", qd=8, max_ios=1000,
            stop_on_errno=False,
        )  # fmt: skip
        result = await run_load(job)
    finally:
        sock.close()
    assert (result.ios, result.errors, result.bytes) == (1000, 1000, 0)
    assert result.first_error == "EOPNOTSUPP"
    assert result.latency.count == 1000
    assert 0 < result.enters <= 1000
    assert result.latency.min_ns <= result.latency.percentile(50) <= result.latency.max_ns
    with pytest.raises(UsageError, match="block size 1000 is not a multiple of the LBA size 512"):
        EngineJob(0, 1, lba_size=512, lba_count=100, block_size=1000)
    with pytest.raises(UsageError, match="queue depth 0 out of range 1-4096"):
        EngineJob(0, 1, lba_size=512, lba_count=100, qd=0)
    with pytest.raises(UsageError, match="region of 4 LBAs is smaller than one I/O"):
        EngineJob(0, 1, lba_size=512, lba_count=4)
    with pytest.raises(UsageError, match="write data of 512 bytes for 4096-byte writes"):
        EngineJob(0, 1, lba_size=512, lba_count=100, pattern="write", data=bytes(512))


async def test_an_io_the_kernel_fails_ends_the_run_once_the_in_flight_ios_drain() -> None:
    """A hot-unplugged device fails every I/O with an errno: the engine must not spin on it for the rest
    of the run. Here every I/O fails (EOPNOTSUPP on a socket): the first batch drains, nothing more goes."""
    from nvtui.backend.uring import EngineJob, run_load

    sock = socket.socket()
    started = time.monotonic()
    try:
        with pytest.raises(DeviceError, match="randread on nsid 1 failed: EOPNOTSUPP"):
            await run_load(EngineJob(sock.fileno(), 1, lba_size=512, lba_count=1 << 20, qd=8, seconds=30.0))
    finally:
        sock.close()
    assert time.monotonic() - started < 5


async def test_engine_slices_add_up_to_the_run_and_a_stop_ends_it_within_a_slice() -> None:
    from nvtui.backend.uring import EngineJob, run_load

    slices: list[object] = []
    stop = asyncio.Event()

    def on_slice(part: object) -> None:
        slices.append(part)
        if len(slices) == 3:
            stop.set()

    sock = socket.socket()
    started = time.monotonic()
    try:
        job = EngineJob(
            sock.fileno(), 1, lba_size=512, lba_count=1 << 20, qd=4, seconds=30.0, slice_seconds=0.05,
            stop_on_errno=False,
        )  # fmt: skip
        result = await run_load(job, on_slice=on_slice, stop=stop)
    finally:
        sock.close()
    assert time.monotonic() - started < 5  # not the 30 s asked for
    assert 3 <= len(slices) <= 4  # the slice running when stop was set may still report
    assert result.ios == sum(p.ios for p in slices) == result.latency.count  # type: ignore[attr-defined]
    assert result.latency.count == sum(p.latency.count for p in slices)  # type: ignore[attr-defined]


@pytest.mark.parametrize("qd", [1, 8])
def test_the_engine_keeps_nops_in_flight_and_times_every_one(qd: int) -> None:
    """NOP mode (benchmarks/host_ring.py): no device, no buffers; every NOP reaped, counted and timed, in
    batches of `qd` per enter, for about the duration asked."""
    from nvtui.backend.uring.engine import run_nops

    result = run_nops(qd, 0.2)
    assert result.errors == 0 and result.bytes == 0 and result.first_error is None
    assert result.ios > 1000
    assert result.latency.count == result.ios
    assert 0 < result.latency.min_ns <= result.latency.max_ns < 10**9
    assert result.ios / result.enters == pytest.approx(qd, rel=0.05)  # one enter per batch of qd
    assert 0.2e9 <= result.elapsed_ns < 2e9
    with pytest.raises(UsageError, match="queue depth 0"):
        run_nops(0, 0.1)


def test_without_the_compiled_extension_nvtui_imports_and_uring_refuses() -> None:
    script = (
        "import sys; sys.modules['nvtui.backend.uring._ring'] = None\n"
        "import nvtui.backend.uring as u\n"
        "assert not u.uring_cmd_supported()\n"
        "try:\n"
        "    u.open_uring('/dev/ng0n1')\n"
        "except u.UringUnsupported as exc:\n"
        "    print('refused:', exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True, env=os.environ
    ).stdout
    assert out.startswith("refused: nvtui's io_uring extension is not built")
