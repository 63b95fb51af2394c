"""The simulated conventional namespace sim0n1: reads, writes and the NVM command set's other commands."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nvtui.backend.sim import SimBackend, open_sim
from nvtui.backend.sim.latency import LatencyModel
from nvtui.errors import DeviceError, UsageError
from nvtui.nvme.command import Command


@pytest.fixture
async def ns(sim_dir: Path) -> AsyncIterator[SimBackend]:
    backend = open_sim("sim0n1")
    yield backend
    await backend.close()


def rw(opcode: int, slba: int, nlb: int, lba: int = 512, data: bytes | None = None, **kw: int) -> Command:
    return Command(
        opcode, False, nsid=kw.pop("nsid", 1), cdw10=slba & 0xFFFF_FFFF, cdw11=slba >> 32,
        cdw12=(nlb - 1) | kw.pop("cdw12", 0), data_len=kw.pop("data_len", nlb * lba), data=data, **kw,
    )  # fmt: skip


def pattern(n: int, seed: int = 1) -> bytes:
    return bytes((i * 7 + seed) & 0xFF for i in range(n))


async def fmt(backend: SimBackend, lbaf: int) -> None:
    assert (await backend.submit(Command(0x80, True, nsid=1, cdw10=lbaf))).ok


async def test_write_read_round_trip(ns: SimBackend) -> None:
    data = pattern(4096)
    w = await ns.submit(rw(0x01, 1000, 8, data=data))
    assert w.ok and w.data is None
    r = await ns.submit(rw(0x02, 1000, 8))
    assert r.ok and r.data == data
    r = await ns.submit(rw(0x02, 1004, 1))
    assert r.data == data[2048:2560]
    r = await ns.submit(rw(0x02, 0, 1))
    assert r.data == bytes(512)  # never written: zeros


async def test_read_returns_exactly_data_len(ns: SimBackend) -> None:
    r = await ns.submit(rw(0x02, 0, 1, data_len=8192))
    assert r.ok and r.data is not None and len(r.data) == 8192


async def test_short_buffer_is_data_sgl_length_invalid(ns: SimBackend) -> None:
    r = await ns.submit(rw(0x02, 0, 8, data_len=512))
    assert (r.status.sct, r.status.sc) == (0, 0x0F)


async def test_4k_format_round_trip(ns: SimBackend) -> None:
    await fmt(ns, 1)
    data = pattern(8192, 3)
    assert (await ns.submit(rw(0x01, 262142, 2, lba=4096, data=data))).ok
    assert (await ns.submit(rw(0x02, 262142, 2, lba=4096))).data == data
    r = await ns.submit(rw(0x02, 262143, 2, lba=4096))
    assert (r.status.sct, r.status.sc, r.status.dnr) == (0, 0x80, True)


async def test_metadata_round_trip(ns: SimBackend) -> None:
    await fmt(ns, 2)  # 512 + 8 bytes of separate metadata
    data, meta = pattern(1024), bytes(range(16))
    w = await ns.submit(rw(0x01, 10, 2, data=data, metadata=meta, metadata_len=16))
    assert w.ok
    r = await ns.submit(rw(0x02, 10, 2, metadata_len=16))
    assert r.data == data and r.metadata == meta
    r = await ns.submit(rw(0x02, 11, 1, metadata_len=8))
    assert r.metadata == meta[8:]
    r = await ns.submit(rw(0x02, 10, 2))
    assert r.metadata is None  # no metadata buffer, none returned
    bad = await ns.submit(rw(0x05, 10, 2, data=data, metadata=bytes(16), metadata_len=16))
    assert (bad.status.sct, bad.status.sc) == (2, 0x85)  # metadata differs: compare failure


async def test_lba_out_of_range(ns: SimBackend) -> None:
    nsze = (1 << 30) // 512
    for opcode in (0x01, 0x02, 0x05, 0x08, 0x0C, 0x04):
        c = await ns.submit(rw(opcode, nsze - 1, 2))
        assert (c.status.sct, c.status.sc, c.status.dnr) == (0, 0x80, True), hex(opcode)
    assert (await ns.submit(rw(0x02, nsze - 1, 1))).ok


async def test_compare(ns: SimBackend) -> None:
    data = pattern(512)
    await ns.submit(rw(0x01, 5, 1, data=data))
    assert (await ns.submit(rw(0x05, 5, 1, data=data))).ok
    c = await ns.submit(rw(0x05, 5, 1, data=pattern(512, 2)))
    assert (c.status.sct, c.status.sc, c.status.name is not None) == (2, 0x85, True)


async def test_dsm_deallocate_reads_zero(ns: SimBackend) -> None:
    await ns.submit(rw(0x01, 0, 16, data=pattern(8192)))
    ranges = bytes(4) + (4).to_bytes(4, "little") + (2).to_bytes(8, "little")
    ranges += bytes(4) + (1).to_bytes(4, "little") + (10).to_bytes(8, "little")
    c = await ns.submit(Command(0x09, False, nsid=1, cdw10=1, cdw11=0x4, data_len=32, data=ranges))
    assert c.ok
    r = (await ns.submit(rw(0x02, 0, 16))).data
    assert r is not None
    assert r[: 2 * 512] == pattern(8192)[:1024]
    assert r[2 * 512 : 6 * 512] == bytes(2048)
    assert r[10 * 512 : 11 * 512] == bytes(512)
    assert r[11 * 512 :] == pattern(8192)[11 * 512 :]
    out = bytes(4) + (4).to_bytes(4, "little") + (1 << 40).to_bytes(8, "little")
    c = await ns.submit(Command(0x09, False, nsid=1, cdw10=0, cdw11=0x4, data_len=16, data=out))
    assert c.status.sc == 0x80


async def test_write_zeroes(ns: SimBackend) -> None:
    await ns.submit(rw(0x01, 0, 8, data=pattern(4096)))
    assert (await ns.submit(rw(0x08, 2, 2, data_len=0))).ok
    r = (await ns.submit(rw(0x02, 0, 8))).data
    assert r is not None and r[1024:2048] == bytes(1024) and r[:1024] == pattern(4096)[:1024]
    nuse = lambda d: int.from_bytes(d[16:24], "little")  # noqa: E731
    idns = (await ns.submit(Command(0x06, True, nsid=1, cdw10=0, data_len=4096))).data
    assert idns is not None and nuse(idns) == 8  # zeroed blocks stay allocated...
    assert (await ns.submit(rw(0x08, 2, 2, data_len=0, cdw12=1 << 25))).ok
    idns = (await ns.submit(Command(0x06, True, nsid=1, cdw10=0, data_len=4096))).data
    assert idns is not None and nuse(idns) == 6  # ...unless DEAC deallocates them


async def test_copy(ns: SimBackend) -> None:
    await ns.submit(rw(0x01, 100, 4, data=pattern(2048, 5)))
    await ns.submit(rw(0x01, 200, 2, data=pattern(1024, 9)))

    def src(slba: int, nlb: int) -> bytes:
        return bytes(8) + slba.to_bytes(8, "little") + (nlb - 1).to_bytes(2, "little") + bytes(14)

    ranges = src(100, 4) + src(200, 2)
    c = await ns.submit(Command(0x19, False, nsid=1, cdw10=5000, cdw12=1, data_len=64, data=ranges))
    assert c.ok
    r = await ns.submit(rw(0x02, 5000, 6))
    assert r.data == pattern(2048, 5) + pattern(1024, 9)
    c = await ns.submit(Command(0x19, False, nsid=1, cdw10=5000, cdw12=1 | 1 << 8, data_len=64, data=ranges))
    assert c.status.sc == 0x02  # descriptor format 1 is not supported
    big = src(0, 2000)
    c = await ns.submit(Command(0x19, False, nsid=1, cdw10=5000, cdw12=0, data_len=32, data=big))
    assert (c.status.sct, c.status.sc) == (1, 0x83)  # longer than MSSRL
    c = await ns.submit(
        Command(0x19, False, nsid=1, cdw10=(1 << 21) - 1, cdw12=0, data_len=32, data=src(0, 2))
    )
    assert c.status.sc == 0x80


async def test_write_uncorrectable_then_read_fails_until_rewritten(ns: SimBackend) -> None:
    assert (await ns.submit(rw(0x04, 50, 2, data_len=0))).ok
    r = await ns.submit(rw(0x02, 48, 4))
    assert (r.status.sct, r.status.sc) == (2, 0x81)
    assert (await ns.submit(rw(0x0C, 51, 1, data_len=0))).status.sc == 0x81  # verify sees it too
    log = (await ns.submit(Command(0x02, True, nsid=0, cdw10=0x01 | 31 << 16, data_len=128))).data
    assert log is not None
    assert int.from_bytes(log[16:24], "little") == 51  # newest entry: the Verify's failing LBA
    assert int.from_bytes(log[64 + 16 : 64 + 24], "little") == 50  # then the Read's
    await ns.submit(rw(0x01, 50, 2, data=pattern(1024)))
    assert (await ns.submit(rw(0x02, 48, 4))).ok
    assert (await ns.submit(rw(0x0C, 48, 4, data_len=0))).ok


async def test_flush(ns: SimBackend) -> None:
    assert (await ns.submit(Command(0x00, False, nsid=1))).ok


async def test_an_io_command_for_another_namespace_is_refused_as_the_kernel_refuses_it(sim_dir: Path) -> None:
    """The Linux driver fails an I/O passthrough whose NSID is not the char device's namespace (EINVAL):
    a write sent to sim0n1 with nsid=2 never reaches sim0n2's blocks; a Flush of all namespaces neither."""
    async with open_sim("sim0n2") as zns:
        before = (await zns.submit(Command(0x02, False, nsid=2, data_len=4096))).data
    async with open_sim("sim0n1") as ns:
        for nsid in (2, 0xFFFF_FFFF, 0, 5):
            with pytest.raises(DeviceError, match=f"nsid {nsid} is not this namespace's \\(1\\).*EINVAL"):
                await ns.submit(rw(0x01, 0, 1, data_len=4096, data=b"x" * 4096, nsid=nsid))
        with pytest.raises(DeviceError, match="EINVAL"):
            await ns.submit(Command(0x00, False, nsid=0xFFFF_FFFF))
        assert (await ns.submit(Command(0x02, False, nsid=1, data_len=512))).ok  # its own still works
    async with open_sim("sim0n2") as zns:
        assert (await zns.submit(Command(0x02, False, nsid=2, data_len=4096))).data == before
        log = (await zns.submit(Command(0x02, True, nsid=0, cdw10=0x02 | 127 << 16, data_len=512))).data
        assert log is not None and int.from_bytes(log[80:96], "little") == 0  # no host write command ran


async def test_invalid_io_opcode_and_namespace(ns: SimBackend) -> None:
    c = await ns.submit(Command(0x7E, False, nsid=1))
    assert (c.status.sct, c.status.sc, c.status.dnr) == (0, 0x01, True)
    c = await ns.submit(Command(0x7D, False, nsid=1, data_len=512))  # zone append on a conventional namespace
    assert c.status.sc == 0x01


async def test_format_clears_data_and_switches_format(ns: SimBackend, sim_dir: Path) -> None:
    await ns.submit(rw(0x01, 0, 8, data=pattern(4096)))
    assert (sim_dir / "sim0n1.img").stat().st_size > 0
    await fmt(ns, 1)
    assert (sim_dir / "sim0n1.img").stat().st_size == 0
    r = await ns.submit(rw(0x02, 0, 1, lba=4096))
    assert r.ok and r.data == bytes(4096)
    idns = (await ns.submit(Command(0x06, True, nsid=1, data_len=4096))).data
    assert idns is not None and idns[26] == 1 and int.from_bytes(idns[0:8], "little") == (1 << 30) // 4096


async def test_fifty_concurrent_commands_complete(sim_dir: Path) -> None:
    async with SimBackend("sim0n1", latency="realistic,seed=3") as ns:
        writes = [ns.submit(rw(0x01, i * 8, 8, data=pattern(4096, i))) for i in range(25)]
        reads = [ns.submit(rw(0x02, i * 8, 8)) for i in range(25)]
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        done = await asyncio.gather(*writes, *reads)
        elapsed = loop.time() - t0
        assert len(done) == 50 and all(c.ok for c in done)
        assert all(c.latency_ns > 0 for c in done)
        assert [c.data for c in done[25:]] == [pattern(4096, i) for i in range(25)]
        # overlapped, not serialized: 50 commands of >= ~15 us each take far less than their sum
        assert elapsed < sum(c.latency_ns for c in done) / 1e9


async def test_many_io_per_second_without_latency(ns: SimBackend) -> None:
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    results = await asyncio.gather(*(ns.submit(rw(0x02, i, 1)) for i in range(3000)))
    assert all(c.ok for c in results)
    assert 3000 / (loop.time() - t0) > 2000


def test_latency_model_is_seeded_and_configurable() -> None:
    a = LatencyModel.parse("realistic,seed=5")
    b = LatencyModel.parse("realistic,seed=5")
    draws = [a.draw_ns("read", 4096) for _ in range(100)]
    assert draws == [b.draw_ns("read", 4096) for _ in range(100)]
    assert 30_000 < sorted(draws)[50] < 150_000  # ~70 us median for a 4 KiB read
    assert LatencyModel.parse("none").draw_ns("read", 4096) == 0
    assert LatencyModel.parse("fixed,us=250").draw_ns("write") == 250_000
    assert LatencyModel.parse("realistic,scale=2,seed=1").draw_ns("flush") > LatencyModel.parse(
        "realistic,seed=1"
    ).draw_ns("flush")
    with pytest.raises(UsageError):
        LatencyModel.parse("warp")
    with pytest.raises(UsageError):
        LatencyModel.parse("realistic,speed=9")


def test_unknown_sim_device() -> None:
    with pytest.raises(UsageError, match="sim0n9"):
        open_sim("sim0n9")  # past NN (sim0n3..sim0n8 open: namespaces Namespace Management may create)


async def test_never_materialises_the_namespace(ns: SimBackend, sim_dir: Path) -> None:
    await ns.submit(rw(0x01, (1 << 21) - 1, 1, data=pattern(512)))
    st = os.stat(sim_dir / "sim0n1.img")
    assert st.st_size == 1 << 30
    assert st.st_blocks * 512 < 1 << 20  # sparse: a few KiB on disk
