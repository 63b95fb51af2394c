"""The simulated zoned namespace sim0n2: the zone state machine, its errors, reports and Zone Append."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nvtui.backend.sim import SimBackend, open_sim
from nvtui.nvme.command import Command

LBA = 4096
ZSZE = (64 << 20) // LBA  # 16384 blocks per zone
ZCAP = (62 << 20) // LBA  # 15872 writable
EMPTY, IMPLICIT, EXPLICIT, CLOSED, READ_ONLY, FULL, OFFLINE = 0x1, 0x2, 0x3, 0x4, 0xD, 0xE, 0xF
CLOSE, FINISH, OPEN, RESET, OFFLINE_ZSA = 1, 2, 3, 4, 5


@pytest.fixture
async def zns(sim_dir: Path) -> AsyncIterator[SimBackend]:
    backend = open_sim("sim0n2")
    yield backend
    await backend.close()


def zslba(zone: int) -> int:
    return zone * ZSZE


def write(slba: int, nlb: int = 1, data: bytes | None = None) -> Command:
    return Command(0x01, False, nsid=2, cdw10=slba, cdw12=nlb - 1, data_len=nlb * LBA, data=data)


def send(zone: int, zsa: int, select_all: bool = False) -> Command:
    return Command(0x79, False, nsid=2, cdw10=zslba(zone), cdw13=zsa | select_all << 8)


def report(slba: int = 0, data_len: int = 64 + 64 * 16, zrasf: int = 0, partial: bool = False) -> Command:
    return Command(
        0x7A,
        False,
        nsid=2,
        cdw10=slba,
        cdw12=data_len // 4 - 1,
        cdw13=zrasf << 8 | partial << 16,
        data_len=data_len,
    )


async def zone_state(zns: SimBackend, zone: int) -> tuple[int, int]:
    """(state, write pointer) of one zone, from a real Zone Management Receive."""
    c = await zns.submit(report(zslba(zone), 128))
    assert c.ok and c.data is not None
    d = c.data[64:128]
    assert int.from_bytes(d[16:24], "little") == zslba(zone)
    return d[1] >> 4, int.from_bytes(d[24:32], "little")


def status(c: object) -> tuple[int, int]:
    st = c.status  # type: ignore[attr-defined]
    return st.sct, st.sc


async def test_report_zones_layout(zns: SimBackend) -> None:
    c = await zns.submit(report())
    d = c.data
    assert c.ok and d is not None
    assert int.from_bytes(d[0:8], "little") == 16  # 1 GiB / 64 MiB
    for i in range(16):
        desc = d[64 + 64 * i : 128 + 64 * i]
        assert desc[0] & 0xF == 0x2  # sequential write required
        assert desc[1] >> 4 == EMPTY
        assert int.from_bytes(desc[8:16], "little") == ZCAP
        assert int.from_bytes(desc[16:24], "little") == zslba(i)
        assert int.from_bytes(desc[24:32], "little") == zslba(i)


async def test_report_filters_and_partial(zns: SimBackend) -> None:
    await zns.submit(write(zslba(3)))
    await zns.submit(send(5, OPEN))
    c = await zns.submit(report(zrasf=2))
    assert c.data is not None and int.from_bytes(c.data[0:8], "little") == 1
    assert int.from_bytes(c.data[64 + 16 : 64 + 24], "little") == zslba(3)
    c = await zns.submit(report(zrasf=3))
    assert c.data is not None and int.from_bytes(c.data[64 + 16 : 64 + 24], "little") == zslba(5)
    c = await zns.submit(report(zrasf=1))
    assert c.data is not None and int.from_bytes(c.data[0:8], "little") == 14
    # room for 2 descriptors: without the partial bit the count is every match, with it what fits
    c = await zns.submit(report(zslba(4), data_len=192))
    assert c.data is not None and len(c.data) == 192 and int.from_bytes(c.data[0:8], "little") == 12
    c = await zns.submit(report(zslba(4), data_len=192, partial=True))
    assert c.data is not None and int.from_bytes(c.data[0:8], "little") == 2
    assert (await zns.submit(report(zrasf=9))).status.sc == 0x02
    assert (await zns.submit(report(slba=16 * ZSZE))).status.sc == 0x80


async def test_write_at_the_write_pointer_opens_implicitly(zns: SimBackend) -> None:
    data = bytes(range(256)) * 16
    assert (await zns.submit(write(zslba(1), 1, data))).ok
    assert await zone_state(zns, 1) == (IMPLICIT, zslba(1) + 1)
    assert (await zns.submit(write(zslba(1) + 1, 2))).ok
    assert await zone_state(zns, 1) == (IMPLICIT, zslba(1) + 3)
    r = await zns.submit(Command(0x02, False, nsid=2, cdw10=zslba(1), cdw12=1, data_len=2 * LBA))
    assert r.ok and r.data == data + bytes(LBA)


async def test_zone_invalid_write(zns: SimBackend) -> None:
    c = await zns.submit(write(zslba(0) + 5))
    assert status(c) == (1, 0xBC)
    assert await zone_state(zns, 0) == (EMPTY, 0)


async def test_zone_boundary_error_and_filling_the_zone(zns: SimBackend) -> None:
    await zns.submit(send(0, FINISH))
    await zns.submit(send(0, RESET))
    wp = 0
    while wp + 100 <= ZCAP:
        assert (await zns.submit(write(wp, 100))).ok
        wp += 100
    left = ZCAP - wp
    assert left == 72
    c = await zns.submit(write(wp, left + 1))
    assert status(c) == (1, 0xB8)  # would cross the zone capacity
    assert (await zone_state(zns, 0)) == (IMPLICIT, wp)
    assert (await zns.submit(write(wp, left))).ok
    assert (await zone_state(zns, 0))[0] == FULL
    c = await zns.submit(write(ZCAP))
    assert status(c) == (1, 0xB9)  # zone is full


async def test_explicit_open_close_finish_reset(zns: SimBackend) -> None:
    assert (await zns.submit(send(2, OPEN))).ok
    assert await zone_state(zns, 2) == (EXPLICIT, zslba(2))
    assert (await zns.submit(send(2, OPEN))).ok  # already open: no change
    assert (await zns.submit(send(2, CLOSE))).ok
    assert await zone_state(zns, 2) == (EMPTY, zslba(2))  # closed with nothing written: Empty again
    await zns.submit(write(zslba(2), 4))
    assert (await zns.submit(send(2, CLOSE))).ok
    assert await zone_state(zns, 2) == (CLOSED, zslba(2) + 4)
    assert (await zns.submit(write(zslba(2) + 4))).ok  # a write reopens a closed zone
    assert await zone_state(zns, 2) == (IMPLICIT, zslba(2) + 5)
    assert (await zns.submit(send(2, OPEN))).ok
    assert (await zone_state(zns, 2))[0] == EXPLICIT
    assert (await zns.submit(send(2, FINISH))).ok
    assert await zone_state(zns, 2) == (FULL, zslba(2) + ZCAP)
    assert (await zns.submit(send(2, RESET))).ok
    assert await zone_state(zns, 2) == (EMPTY, zslba(2))
    r = await zns.submit(Command(0x02, False, nsid=2, cdw10=zslba(2), cdw12=0, data_len=LBA))
    assert r.data == bytes(LBA)  # a reset zone reads zeros
    assert (await zns.submit(send(2, FINISH))).ok  # Empty -> Full directly
    assert (await zone_state(zns, 2))[0] == FULL


async def test_invalid_zone_state_transitions(zns: SimBackend) -> None:
    assert status(await zns.submit(send(0, CLOSE))) == (1, 0xBF)  # Empty cannot close
    await zns.submit(send(0, FINISH))
    assert status(await zns.submit(send(0, OPEN))) == (1, 0xBF)  # Full cannot open
    assert status(await zns.submit(send(0, CLOSE))) == (1, 0xBF)
    assert status(await zns.submit(send(1, OFFLINE_ZSA))) == (1, 0xBF)  # only Read Only goes offline
    assert (await zns.submit(send(0, FINISH))).ok  # Full -> Full is fine


async def test_read_only_and_offline_zones(zns: SimBackend) -> None:
    await zns.submit(write(zslba(6), 2))
    zns.inject_zone_condition(zslba(6), "read-only")
    assert (await zone_state(zns, 6))[0] == READ_ONLY
    assert status(await zns.submit(write(zslba(6) + 2))) == (1, 0xBA)
    assert status(await zns.submit(send(6, RESET))) == (1, 0xBF)
    assert status(await zns.submit(send(6, OPEN))) == (1, 0xBF)
    r = await zns.submit(Command(0x02, False, nsid=2, cdw10=zslba(6), cdw12=0, data_len=LBA))
    assert r.ok  # still readable
    changed = await zns.submit(Command(0x02, True, nsid=2, cdw10=0xBF | 1023 << 16, data_len=4096))
    assert changed.data is not None and changed.data[0] == 1
    assert int.from_bytes(changed.data[8:16], "little") == zslba(6)
    assert (await zns.submit(send(0, OFFLINE_ZSA, select_all=True))).ok
    state, wp = await zone_state(zns, 6)
    assert state == OFFLINE and wp == 0xFFFF_FFFF_FFFF_FFFF
    assert status(await zns.submit(write(zslba(6)))) == (1, 0xBB)
    r = await zns.submit(Command(0x02, False, nsid=2, cdw10=zslba(6), cdw12=0, data_len=LBA))
    assert status(r) == (1, 0xBB)
    assert status(await zns.submit(send(6, RESET))) == (1, 0xBF)


async def test_too_many_open_and_active_zones(zns: SimBackend) -> None:
    # MOR + 1 = 12 open zones, MAR + 1 = 14 active ones
    for zone in range(12):
        assert (await zns.submit(send(zone, OPEN))).ok
    assert status(await zns.submit(send(12, OPEN))) == (1, 0xBE)  # every open zone was opened explicitly
    assert status(await zns.submit(write(zslba(12)))) == (1, 0xBE)
    for zone in (0, 1):
        await zns.submit(write(zslba(zone)))
        assert (await zns.submit(send(zone, CLOSE))).ok
    assert [(await zone_state(zns, z))[0] for z in (0, 1)] == [CLOSED, CLOSED]  # 10 open, 12 active
    await zns.submit(write(zslba(12)))
    await zns.submit(write(zslba(13)))  # 12 open (two implicitly), 14 active
    assert status(await zns.submit(write(zslba(14)))) == (1, 0xBD)
    assert status(await zns.submit(send(15, OPEN))) == (1, 0xBD)
    # reopening a Closed zone needs an open resource: the oldest implicitly opened zone is closed for it
    assert (await zns.submit(send(0, OPEN))).ok
    assert (await zone_state(zns, 0))[0] == EXPLICIT
    assert (await zone_state(zns, 12))[0] == CLOSED
    assert (await zone_state(zns, 13))[0] == IMPLICIT
    assert (await zns.submit(send(3, FINISH))).ok  # Full releases both resources
    assert (await zns.submit(write(zslba(14)))).ok


async def test_identify_reports_the_zone_limits(zns: SimBackend) -> None:
    d = (await zns.submit(Command(0x06, True, nsid=2, cdw10=0x05, cdw11=2 << 24, data_len=4096))).data
    assert d is not None
    assert int.from_bytes(d[4:8], "little") == 13  # MAR: 14 active (0-based)
    assert int.from_bytes(d[8:12], "little") == 11  # MOR: 12 open (0-based)


async def test_select_all(zns: SimBackend) -> None:
    for zone in (1, 2, 3):
        await zns.submit(write(zslba(zone)))
    assert (await zns.submit(send(0, CLOSE, select_all=True))).ok
    assert [(await zone_state(zns, z))[0] for z in (1, 2, 3)] == [CLOSED] * 3
    assert (await zns.submit(send(0, OPEN, select_all=True))).ok
    assert [(await zone_state(zns, z))[0] for z in (1, 2, 3)] == [EXPLICIT] * 3
    assert (await zns.submit(send(0, RESET, select_all=True))).ok
    c = await zns.submit(report(zrasf=1))
    assert c.data is not None and int.from_bytes(c.data[0:8], "little") == 16


async def test_zone_mgmt_send_field_errors(zns: SimBackend) -> None:
    c = await zns.submit(Command(0x79, False, nsid=2, cdw10=7, cdw13=OPEN))
    assert status(c) == (0, 0x02)  # not a zone start
    c = await zns.submit(Command(0x79, False, nsid=2, cdw10=16 * ZSZE, cdw13=OPEN))
    assert status(c) == (0, 0x80)
    c = await zns.submit(Command(0x79, False, nsid=2, cdw10=0, cdw13=0x10))
    assert status(c) == (0, 0x02)  # no zone descriptor extensions


async def test_zone_append_returns_assigned_lba(zns: SimBackend) -> None:
    def append(zone: int, nlb: int, data: bytes | None = None, slba: int | None = None) -> Command:
        start = zslba(zone) if slba is None else slba
        return Command(0x7D, False, nsid=2, cdw10=start, cdw12=nlb - 1, data_len=nlb * LBA, data=data)

    a = await zns.submit(append(7, 2, b"a" * 2 * LBA))
    b = await zns.submit(append(7, 1, b"b" * LBA))
    assert (a.ok, a.result, b.ok, b.result) == (True, zslba(7), True, zslba(7) + 2)
    r = await zns.submit(Command(0x02, False, nsid=2, cdw10=zslba(7), cdw12=2, data_len=3 * LBA))
    assert r.data == b"a" * 2 * LBA + b"b" * LBA
    assert await zone_state(zns, 7) == (IMPLICIT, zslba(7) + 3)
    assert status(await zns.submit(append(7, 1, slba=zslba(7) + 1))) == (0, 0x02)  # not the zone start
    await zns.submit(send(7, FINISH))
    assert status(await zns.submit(append(7, 1))) == (1, 0xB9)


async def test_write_zeroes_advances_the_write_pointer(zns: SimBackend) -> None:
    c = await zns.submit(Command(0x08, False, nsid=2, cdw10=zslba(8), cdw12=9))
    assert c.ok
    assert await zone_state(zns, 8) == (IMPLICIT, zslba(8) + 10)


async def test_zone_state_persists_and_open_zones_close_on_power_cycle(sim_dir: Path) -> None:
    async with open_sim("sim0n2") as zns:
        await zns.submit(write(zslba(9), 3))
        await zns.submit(send(10, OPEN))
    async with open_sim("sim0n2") as zns:
        assert await zone_state(zns, 9) == (CLOSED, zslba(9) + 3)
        assert await zone_state(zns, 10) == (EMPTY, zslba(10))
        assert (await zns.submit(write(zslba(9) + 3))).ok
