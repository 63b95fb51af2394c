"""Memory on the host: RSS stays flat over a million io_uring round trips and 200,000 simulator commands,
and a buffer the kernel may still write is never freed before its completion, even when every Python
reference to the command is gone or its ring is closed under it.

tests/memcheck/run_asan.sh runs this file (and tests/test_uring_host.py) again with the extension built
under AddressSanitizer and UBSan; there RSS is the sanitizer's, so the RSS checks skip (NVTUI_UNDER_ASAN).
"""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import weakref
from typing import Any

import pytest

from nvtui.backend.sim import SimBackend
from nvtui.nvme.command import Command

ring_mod = pytest.importorskip("nvtui.backend.uring._ring", reason="the io_uring extension is not built")
from nvtui.backend.uring import AsyncRing, Ring  # noqa: E402
from nvtui.backend.uring import ring as ring_module  # noqa: E402

ffi = ring_mod.ffi
UNDER_ASAN = bool(os.environ.get("NVTUI_UNDER_ASAN"))
RSS_GROWTH_KB = 2048  # allowed between 10 % and 100 % of a run: 2 MiB, where a leak of 1 byte per
# command over the last 900,000 NOPs would show as ~900 KiB, and of one 4 KiB buffer per read as 350 MiB


def rss_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.mark.skipif(UNDER_ASAN, reason="ASan's quarantine holds freed memory: RSS says nothing there")
async def test_rss_is_flat_over_a_million_nop_round_trips_and_100k_buffered_reads() -> None:
    total, reads_every = 1_000_000, 10  # one 4 KiB read per 10 NOPs: buffers go through the ring too
    aring = AsyncRing(Ring(256), batch=64)
    zero = os.open("/dev/zero", os.O_RDONLY | os.O_CLOEXEC)
    abandoned = len(ring_module._ABANDONED)
    marks: dict[int, int] = {}
    done = reads = 0

    def read_4k() -> asyncio.Future[Any]:
        buf = ffi.new("char[]", 4096)
        return aring.start(
            lambda ud: aring.ring.prep_read(zero, buf, 4096, ud), keep=(buf,), finish=lambda raw: raw.res
        )

    try:
        while done < total:
            futures = [read_4k() if i % reads_every == 0 else aring.nop() for i in range(1000)]
            results = await asyncio.gather(*futures)
            assert results[0] == 4096 and all(x.res == 0 for x in results[1:reads_every])
            reads += 1000 // reads_every
            done += 1000
            if done == total // 10:
                gc.collect()
                marks[10] = rss_kb()
        gc.collect()
        marks[100] = rss_kb()
        assert aring.in_flight == 0
        assert len(ring_module._ABANDONED) == abandoned
    finally:
        await aring.close()
        os.close(zero)
    growth = marks[100] - marks[10]
    print(f"\nRSS over {total:,} NOPs and {reads:,} reads: {marks[10]} kB at 10 %, {marks[100]} kB at 100 %")
    assert growth < RSS_GROWTH_KB, f"RSS grew {growth} kB from 10 % to 100 % of the run: {marks}"


@pytest.mark.skipif(UNDER_ASAN, reason="ASan's quarantine holds freed memory: RSS says nothing there")
async def test_rss_is_flat_over_200k_simulator_commands() -> None:
    """Writes, reads, identify, SMART, an invalid opcode (the error log is bounded), flush."""
    total = 200_000
    backend = SimBackend("sim0n1")
    block = bytes(range(256)) * 2
    commands = [
        Command(opcode=0x01, admin=False, nsid=1, cdw10=0, cdw12=0, data_len=512, data=block),
        Command(opcode=0x02, admin=False, nsid=1, cdw10=0, cdw12=0, data_len=512),
        Command(opcode=0x06, admin=True, nsid=0, cdw10=1, data_len=4096),
        Command(opcode=0x02, admin=True, nsid=0xFFFFFFFF, cdw10=(127 << 16) | 0x02, data_len=512),
        Command(opcode=0xC7, admin=True),  # invalid: an error log entry each time
        Command(opcode=0x00, admin=False, nsid=1),
    ]
    marks: dict[int, int] = {}
    try:
        for i in range(total):
            cmd = commands[i % len(commands)]
            if cmd.opcode in (0x01, 0x02) and not cmd.admin:
                cmd = Command(opcode=cmd.opcode, admin=False, nsid=1, cdw10=i % 4096, cdw12=0, data_len=512,
                              data=cmd.data)  # fmt: skip
            done = await backend.submit(cmd)
            assert done.ok == (cmd.opcode != 0xC7), (i, done.status)
            if i + 1 == total // 10:
                gc.collect()
                marks[10] = rss_kb()
        gc.collect()
        marks[100] = rss_kb()
        counters = backend.controller.counters
        assert counters["host_write_commands"] >= total // 6 and counters["host_read_commands"] >= total // 6
        assert len(backend.controller.error_log) < 100
    finally:
        await backend.close()
    growth = marks[100] - marks[10]
    print(f"\nRSS over {total:,} simulator commands: {marks[10]} kB at 10 %, {marks[100]} kB at 100 %")
    assert growth < RSS_GROWTH_KB, f"RSS grew {growth} kB from 10 % to 100 % of the run: {marks}"


async def test_reads_in_flight_with_every_python_reference_dropped_land_in_buffers_the_ring_keeps() -> None:
    """64 reads on pipes; the caller drops the futures and the buffers, collects garbage, and only then
    fills the pipes: each read lands in its own buffer, which the ring held until the completion."""
    n = 64
    aring = AsyncRing(Ring(64))
    pipes = [os.pipe() for _ in range(n)]
    landed: dict[int, bytes] = {}
    refs: list[weakref.ref[Any]] = []
    try:

        def start(i: int) -> None:
            buf = ffi.new("char[]", 256)
            refs.append(weakref.ref(buf))
            aring.start(
                lambda ud: aring.ring.prep_read(pipes[i][0], buf, 256, ud),
                keep=(buf,),
                finish=lambda raw: landed.__setitem__(i, ffi.buffer(buf, raw.res)[:]),
            )  # the future is dropped at once

        for i in range(n):
            start(i)
        await asyncio.sleep(0.01)
        gc.collect()
        assert aring.in_flight == n and not landed
        assert all(ref() is not None for ref in refs), "a buffer the kernel holds was freed"
        for i in reversed(range(n)):
            os.write(pipes[i][1], f"read {i} after its caller let go".encode())
        for _ in range(1000):
            if len(landed) == n:
                break
            await asyncio.sleep(0.002)
        assert landed == {i: f"read {i} after its caller let go".encode() for i in range(n)}
        assert aring.in_flight == 0
        gc.collect()
        assert all(ref() is None for ref in refs), "a completed command's buffer was kept"
    finally:
        await aring.close()
        for r, w in pipes:
            os.close(r)
            os.close(w)


async def test_a_ring_closed_with_reads_in_flight_keeps_their_buffers_and_the_kernel_cancels_them() -> None:
    aring = AsyncRing(Ring(16))
    r, w = os.pipe()
    refs: list[weakref.ref[Any]] = []
    try:
        futures = []
        for _ in range(8):
            buf = ffi.new("char[]", 128)
            refs.append(weakref.ref(buf))
            futures.append(aring.start(lambda ud, b=buf: aring.ring.prep_read(r, b, 128, ud), keep=(buf,)))
        del buf
        await asyncio.sleep(0.01)
        aring.close_now()
        for f in futures:
            with pytest.raises(Exception, match="closed with the command in flight"):
                await f
        del futures
        gc.collect()
        assert all(ref() is not None for ref in refs), "the buffers of abandoned commands were freed"
        os.write(w, b"after the ring is gone")
        assert os.read(r, 64) == b"after the ring is gone"  # no read of the closed ring took it
    finally:
        os.close(r)
        os.close(w)


async def test_cancelled_socket_uring_cmds_and_nops_under_load_leave_nothing_in_flight() -> None:
    """Callers cancelled halfway through a storm of NOPs and SIOCINQ uring_cmds: every command still
    completes in the ring, nothing is delivered twice, nothing stays in flight."""
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    aring = AsyncRing(Ring(32), batch=8)
    lib = aring.ring.lib
    try:
        client.sendall(b"q" * 10)
        await asyncio.sleep(0.05)

        def siocinq() -> Any:
            return aring.start(
                lambda ud: aring.ring.prep_uring_cmd(server.fileno(), lib.SOCKET_URING_OP_SIOCINQ, b"", ud)
            )

        for _ in range(50):
            futures = [siocinq() if i % 3 == 0 else aring.start(aring.ring.prep_nop) for i in range(300)]
            for f in futures[::2]:
                f.cancel()
            results = await asyncio.gather(*futures[1::2])
            assert all(x.res in (0, 10) for x in results)
            await asyncio.sleep(0)
        for _ in range(100):
            if not aring.in_flight:
                break
            await asyncio.sleep(0.002)
        assert aring.in_flight == 0
    finally:
        await aring.close()
        client.close()
        server.close()
        listener.close()


@pytest.mark.slow
@pytest.mark.skipif(UNDER_ASAN, reason="this is the run that starts the ASan run")
def test_the_c_code_is_clean_under_address_sanitizer_and_ubsan() -> None:
    """tests/memcheck/run_asan.sh: the C harness and the extension under the sanitizers (about 10 s)."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    gcc = shutil.which("gcc")
    if gcc is None or not Path(subprocess.run([gcc, "-print-file-name=libasan.so"], capture_output=True,
                                              text=True).stdout.strip()).exists():  # fmt: skip
        pytest.skip("gcc with libasan is needed")
    script = Path(__file__).resolve().parent / "memcheck" / "run_asan.sh"
    done = subprocess.run(
        [str(script)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHON": sys.executable},
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "ring_stress: ok" in done.stdout and "planted overflow caught" in done.stdout
    assert "run_asan: no sanitizer findings" in done.stdout
