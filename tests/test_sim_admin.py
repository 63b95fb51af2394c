"""The simulated controller's admin commands: Identify, log pages, features, Format NVM, self-test, events.

Byte offsets are checked raw, against the spec's figures (NVMe Base 2.0; NVM Command Set 1.0; ZNS 1.1).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nvtui.backend.sim import SimBackend, open_sim
from nvtui.errors import DeviceError
from nvtui.nvme.command import Command

NSID_ALL = 0xFFFF_FFFF


def u(data: bytes, offset: int, width: int) -> int:
    return int.from_bytes(data[offset : offset + width], "little")


@pytest.fixture
async def ctrl(sim_dir: Path) -> AsyncIterator[SimBackend]:
    backend = open_sim("sim0")
    yield backend
    await backend.close()


def identify(cns: int, nsid: int = 0, csi: int = 0, data_len: int = 4096) -> Command:
    return Command(0x06, True, nsid=nsid, cdw10=cns, cdw11=csi << 24, data_len=data_len)


def get_log(
    lid: int, length: int, nsid: int = NSID_ALL, offset: int = 0, rae: bool = False, csi: int = 0
) -> Command:
    numd = length // 4 - 1
    return Command(
        0x02, True, nsid=nsid, cdw10=lid | rae << 15 | (numd & 0xFFFF) << 16, cdw11=numd >> 16,
        cdw12=offset & 0xFFFF_FFFF, cdw13=offset >> 32, cdw14=csi << 24, data_len=length,
    )  # fmt: skip


def get_features(fid: int, sel: int = 0, nsid: int = 0, cdw11: int = 0, data_len: int = 0) -> Command:
    return Command(0x0A, True, nsid=nsid, cdw10=fid | sel << 8, cdw11=cdw11, data_len=data_len)


def set_features(fid: int, value: int, save: bool = False, nsid: int = 0) -> Command:
    return Command(0x09, True, nsid=nsid, cdw10=fid | save << 31, cdw11=value)


# --- Identify -------------------------------------------------------------------------------------------


async def test_identify_controller_fields_at_spec_offsets(ctrl: SimBackend) -> None:
    c = await ctrl.submit(identify(0x01))
    assert c.ok and c.data is not None and len(c.data) == 4096
    d = c.data
    assert d[24:64] == b"nvtui simulated NVMe controller".ljust(40)  # MN
    assert d[4:24].rstrip(b" ").startswith(b"NVTSIM")  # SN, space padded
    assert u(d, 0, 2) == 0x1B36 and u(d, 2, 2) == 0x1AF4  # VID, SSVID
    assert u(d, 80, 4) == 0x0002_0000  # VER 2.0
    assert d[77] == 7  # MDTS
    assert u(d, 516, 4) == 8  # NN: Namespace Management allocates NSIDs 1..8
    assert d[512] == 0x66 and d[513] == 0x44  # SQES, CQES
    assert u(d, 256, 2) & 0b10010 == 0b10010  # OACS: Format NVM, Device Self-test
    oncs = u(d, 520, 2)
    for bit in (0, 1, 2, 3, 4, 6, 7, 8):  # compare, wr-unc, dsm, write zeroes, save/select, ts, verify, copy
        assert oncs >> bit & 1
    assert d[262] == 63 and d[259] == 3  # ELPE, AERL (0-based)
    assert u(d, 266, 2) == 343 and u(d, 268, 2) == 358  # WCTEMP, CCTEMP
    assert d[263] == 3  # NPSS: 4 power states
    assert u(d, 2048, 2) == 900  # PSD0 MP in centiwatts
    assert d[2048 + 3 * 32 + 3] & 0x2  # PSD3 is non-operational
    assert d[768:800].startswith(b"nqn.2014-08.org.nvmexpress:uuid:")  # SUBNQN
    assert d[111] == 1  # CNTRLTYPE: I/O controller


async def test_identify_namespace_fields_at_spec_offsets(ctrl: SimBackend) -> None:
    c = await ctrl.submit(identify(0x00, nsid=1))
    d = c.data
    assert c.ok and d is not None
    assert u(d, 0, 8) == (1 << 30) // 512  # NSZE in the 512-byte format
    assert u(d, 8, 8) == u(d, 0, 8)  # NCAP
    assert u(d, 16, 8) == 0  # NUSE: nothing written yet
    assert d[25] == 2 and d[26] == 0  # NLBAF (0-based), FLBAS
    assert u(d, 128, 4) == 9 << 16 | 1 << 24  # LBAF0: 512 B, no metadata, RP 1
    assert u(d, 132, 4) == 12 << 16  # LBAF1: 4096 B
    assert u(d, 136, 4) == 8 | 9 << 16 | 2 << 24  # LBAF2: 512 B + 8 B metadata
    assert d[27] == 0b10  # MC: separate metadata buffer
    assert d[120:123] == bytes.fromhex("acde48")  # EUI64 starts with the OUI
    assert d[104:120] != bytes(16)  # NGUID


async def test_identify_nuse_tracks_allocated_blocks(sim_dir: Path) -> None:
    async with open_sim("sim0n1") as ns:
        await ns.submit(Command(0x01, False, nsid=1, cdw10=100, cdw12=7, data_len=4096, data=b"x" * 4096))
        d = (await ns.submit(identify(0x00, nsid=1))).data
        assert d is not None and u(d, 16, 8) == 8
        dsm = bytes(4) + (4).to_bytes(4, "little") + (102).to_bytes(8, "little")  # deallocate 102..105
        await ns.submit(Command(0x09, False, nsid=1, cdw10=0, cdw11=0x4, data_len=16, data=dsm))
        d = (await ns.submit(identify(0x00, nsid=1))).data
        assert d is not None and u(d, 16, 8) == 4


async def test_identify_zoned_namespace_and_controller(ctrl: SimBackend) -> None:
    d = (await ctrl.submit(identify(0x05, nsid=2, csi=2))).data
    assert d is not None
    assert u(d, 4, 4) == 13 and u(d, 8, 4) == 11  # MAR, MOR: 14 active, 12 open zones, 0-based
    assert u(d, 2, 2) & 1  # OZCS: read across zone boundaries
    assert u(d, 2816, 8) == (64 << 20) // 4096  # LBAFE0 ZSZE in blocks
    c = await ctrl.submit(identify(0x05, nsid=1, csi=2))
    assert (c.status.sct, c.status.sc) == (0, 0x02)  # a conventional namespace has no zoned data
    d = (await ctrl.submit(identify(0x06, csi=2))).data
    assert d is not None and d[0] == 0  # ZASL: MDTS
    assert (await ctrl.submit(identify(0x06, csi=0))).ok
    c = await ctrl.submit(identify(0x06, csi=1))  # the Key Value set's: no field set
    assert c.ok and c.data == bytes(4096)
    c = await ctrl.submit(identify(0x06, csi=3))
    assert c.status.sc == 0x02


async def test_identify_namespace_lists_and_descriptors(ctrl: SimBackend) -> None:
    d = (await ctrl.submit(identify(0x02, nsid=0))).data
    assert d is not None and u(d, 0, 4) == 1 and u(d, 4, 4) == 2 and u(d, 8, 4) == 3 and u(d, 12, 4) == 0
    d = (await ctrl.submit(identify(0x02, nsid=1))).data
    assert d is not None and u(d, 0, 4) == 2 and u(d, 4, 4) == 3 and u(d, 8, 4) == 0
    d = (await ctrl.submit(identify(0x07, nsid=0, csi=2))).data
    assert d is not None and u(d, 0, 4) == 2 and u(d, 4, 4) == 0
    c = await ctrl.submit(identify(0x02, nsid=NSID_ALL))
    assert c.status.sc == 0x0B
    d = (await ctrl.submit(identify(0x03, nsid=2))).data
    assert d is not None
    # EUI64 (type 1, 8 bytes), NGUID (2, 16), UUID (3, 16), CSI (4, 1) = zoned
    assert (d[0], d[1]) == (1, 8) and (d[12], d[13]) == (2, 16) and (d[32], d[33]) == (3, 16)
    assert (d[52], d[53], d[56]) == (4, 1, 2)
    d = (await ctrl.submit(identify(0x08, nsid=1))).data
    assert d is not None and d[14] == 1  # NSTAT: ready
    d = (await ctrl.submit(identify(0x1C))).data
    assert d is not None and u(d, 0, 8) == 0b111  # NVM, Key Value and Zoned Namespace command sets


@pytest.mark.parametrize("nsid", [0, 9])  # 3 is valid, not active; FFFFFFFFh common: test_sim_namespaces
async def test_identify_namespace_bad_nsid(ctrl: SimBackend, nsid: int) -> None:
    c = await ctrl.submit(identify(0x00, nsid=nsid))
    assert (c.status.sct, c.status.sc, c.status.dnr) == (0, 0x0B, True)
    assert c.data == bytes(4096)


async def test_identify_unknown_cns_is_invalid_field(ctrl: SimBackend) -> None:
    c = await ctrl.submit(identify(0x42))
    assert (c.status.sct, c.status.sc) == (0, 0x02)


async def test_short_buffer_gets_exactly_data_len_bytes(ctrl: SimBackend) -> None:
    c = await ctrl.submit(identify(0x01, data_len=64))
    assert c.data is not None and len(c.data) == 64 and c.data[24:64].startswith(b"nvtui")


# --- Log pages ------------------------------------------------------------------------------------------


async def test_smart_log_counts_reads_and_writes(sim_dir: Path) -> None:
    async with open_sim("sim0n1") as ns:
        before = (await ns.submit(get_log(0x02, 512))).data
        assert before is not None
        temp = u(before, 1, 2)
        assert 305 <= temp <= 315  # ~310 K
        assert u(before, 112, 16) == 1  # power cycles: this open
        for i in range(3):
            await ns.submit(
                Command(0x01, False, nsid=1, cdw10=i * 256, cdw12=255, data_len=131072, data=b"w")
            )
        await ns.submit(Command(0x02, False, nsid=1, cdw10=0, cdw12=0, data_len=512))
        after = (await ns.submit(get_log(0x02, 512))).data
        assert after is not None
        assert u(after, 80, 16) == 3  # host write commands
        assert u(after, 64, 16) == 1  # host read commands
        assert u(after, 48, 16) == 1  # data units written: 384 KiB -> 0.77 of 512,000 bytes, rounded up
        assert u(after, 32, 16) == 1  # data units read: 512 bytes, rounded up
        await ns.submit(Command(0x01, False, nsid=1, cdw10=768, cdw12=255, data_len=131072))
        after = (await ns.submit(get_log(0x02, 512))).data
        assert after is not None and u(after, 48, 16) == 2  # 512 KiB = 1.02 units -> 2


async def test_smart_log_per_namespace_not_supported(ctrl: SimBackend) -> None:
    c = await ctrl.submit(get_log(0x02, 512, nsid=1))
    assert (c.status.sct, c.status.sc) == (0, 0x02)


async def test_log_numd_truncates_and_lpo_offsets(ctrl: SimBackend) -> None:
    full = (await ctrl.submit(get_log(0x03, 512))).data
    assert full is not None and full[0] == 1 and full[8:16].startswith(b"SIM")  # AFI, FRS1
    head = await ctrl.submit(get_log(0x03, 8))
    assert head.data == full[:8]
    tail = await ctrl.submit(get_log(0x03, 16, offset=8))
    assert tail.data == full[8:24]
    past_end = await ctrl.submit(get_log(0x03, 16, offset=508))
    assert past_end.data == full[508:] + bytes(12)
    misaligned = await ctrl.submit(get_log(0x03, 16, offset=2))
    assert misaligned.status.sc == 0x02
    beyond = await ctrl.submit(get_log(0x03, 16, offset=4096))
    assert beyond.status.sc == 0x02


async def test_unknown_log_page(ctrl: SimBackend) -> None:
    c = await ctrl.submit(get_log(0x7F, 512))
    assert (c.status.sct, c.status.sc, c.status.dnr) == (1, 0x09, True)


async def test_error_log_records_failures_newest_first(ctrl: SimBackend) -> None:
    await ctrl.submit(Command(0xEE, True))  # invalid opcode
    await ctrl.submit(identify(0x00, nsid=9))  # invalid namespace
    d = (await ctrl.submit(get_log(0x01, 128))).data
    assert d is not None
    assert u(d, 0, 8) == 2 and u(d, 64, 8) == 1  # error counts, newest first
    assert u(d, 12, 2) >> 1 == 0x0B | 1 << 14  # status field (phase tag in bit 0): SC 0Bh, DNR
    assert u(d, 24, 4) == 9  # NSID
    assert u(d, 64 + 12, 2) >> 1 & 0xFF == 0x01
    smart = (await ctrl.submit(get_log(0x02, 512))).data
    assert smart is not None and u(smart, 176, 16) == 2  # number of error information log entries


async def test_effects_log_tells_the_truth(ctrl: SimBackend) -> None:
    nvm = (await ctrl.submit(get_log(0x05, 4096))).data
    zns = (await ctrl.submit(get_log(0x05, 4096, csi=2))).data
    assert nvm is not None and zns is not None
    acs = [u(nvm, 4 * op, 4) for op in range(256)]
    admin = {
        0x02, 0x06, 0x08, 0x09, 0x0A, 0x0C, 0x0D, 0x10, 0x11, 0x14, 0x15, 0x18, 0x19, 0x1A, 0x80, 0x84, 0x86
    }  # fmt: skip
    assert {op for op in range(256) if acs[op] & 1} == admin
    assert acs[0x80] & 0b110 == 0b110  # Format NVM changes logical block content and namespace capability
    nvm_io = {op for op in range(256) if u(nvm, 1024 + 4 * op, 4) & 1}
    zns_io = {op for op in range(256) if u(zns, 1024 + 4 * op, 4) & 1}
    reservations = {0x0D, 0x0E, 0x11, 0x15}  # Register, Report, Acquire, Release
    fdp = {0x12, 0x1D}  # I/O Management Receive and Send
    assert nvm_io == {0x00, 0x01, 0x02, 0x04, 0x05, 0x08, 0x09, 0x0C, 0x19} | reservations | fdp
    assert {0x79, 0x7A, 0x7D} | reservations <= zns_io and 0x19 not in zns_io
    assert all(u(nvm, 1024 + 4 * op, 4) == 1 for op in reservations)  # no block content changed
    # ...and the controller agrees: every opcode not listed is Invalid Command Opcode
    async with open_sim("sim0n2") as z:
        c = await z.submit(Command(0x19, False, nsid=2, data_len=32))
        assert (c.status.sct, c.status.sc) == (0, 0x01)


async def test_changed_namespace_list_after_format(ctrl: SimBackend) -> None:
    assert (await ctrl.submit(Command(0x80, True, nsid=1, cdw10=1))).ok
    kept = (await ctrl.submit(get_log(0x04, 4096, rae=True))).data
    assert kept is not None and u(kept, 0, 4) == 1
    read = (await ctrl.submit(get_log(0x04, 4096))).data
    assert read is not None and u(read, 0, 4) == 1
    cleared = (await ctrl.submit(get_log(0x04, 4096))).data
    assert cleared == bytes(4096)


# --- Features -------------------------------------------------------------------------------------------


async def test_features_current_default_saved_capabilities(sim_dir: Path) -> None:
    async with open_sim("sim0") as ctrl:
        assert (await ctrl.submit(get_features(0x06))).result == 1  # volatile write cache on
        assert (await ctrl.submit(set_features(0x06, 0))).ok
        assert (await ctrl.submit(get_features(0x06, sel=0))).result == 0
        assert (await ctrl.submit(get_features(0x06, sel=1))).result == 1
        assert (await ctrl.submit(get_features(0x06, sel=2))).result == 1  # never saved: the default
        assert (await ctrl.submit(get_features(0x06, sel=3))).result == 0b101  # saveable, changeable
        assert (await ctrl.submit(set_features(0x08, 0x0A05, save=True))).ok  # interrupt coalescing
        assert (await ctrl.submit(set_features(0x01, 0x0302_0100))).ok  # arbitration, not saved
    async with open_sim("sim0") as ctrl:  # a power cycle: current = saved, else default
        assert (await ctrl.submit(get_features(0x08))).result == 0x0A05
        assert (await ctrl.submit(get_features(0x08, sel=2))).result == 0x0A05
        assert (await ctrl.submit(get_features(0x06))).result == 1
        assert (await ctrl.submit(get_features(0x01))).result == 3


async def test_feature_errors(ctrl: SimBackend) -> None:
    c = await ctrl.submit(get_features(0x7D))
    assert (c.status.sct, c.status.sc) == (0, 0x02)  # unknown FID
    c = await ctrl.submit(get_features(0x06, sel=5))
    assert c.status.sc == 0x02
    c = await ctrl.submit(set_features(0x07, 0x0003_0003, save=True))
    assert (c.status.sct, c.status.sc) == (1, 0x0D)  # Number of Queues is not saveable
    c = await ctrl.submit(set_features(0x06, 1, nsid=1))
    assert (c.status.sct, c.status.sc) == (1, 0x0F)  # not namespace specific
    c = await ctrl.submit(set_features(0x02, 9))
    assert c.status.sc == 0x02  # power state 9 does not exist


async def test_number_of_queues_returns_allocation(ctrl: SimBackend) -> None:
    c = await ctrl.submit(set_features(0x07, 0x0100_0003))  # ask for 4 SQs and 257 CQs
    assert c.ok and c.result == 0x003F_0003  # 4 SQs, 64 CQs (0-based)
    assert (await ctrl.submit(get_features(0x07))).result == 0x003F_0003


async def test_namespace_specific_error_recovery(ctrl: SimBackend) -> None:
    assert (await ctrl.submit(set_features(0x05, 100, nsid=1))).ok
    assert (await ctrl.submit(get_features(0x05, nsid=1))).result == 100
    assert (await ctrl.submit(get_features(0x05, nsid=2))).result == 0
    assert (await ctrl.submit(get_features(0x05, nsid=0))).status.sc == 0x0B
    assert (await ctrl.submit(get_features(0x05, sel=3, nsid=1))).result == 0b111


async def test_temperature_threshold_per_sensor_and_warning(ctrl: SimBackend) -> None:
    assert (await ctrl.submit(get_features(0x04))).result == 343
    assert (await ctrl.submit(set_features(0x04, 300))).ok  # over-temperature threshold below ~310 K
    smart = (await ctrl.submit(get_log(0x02, 512))).data
    assert smart is not None and smart[0] & 0b10  # critical warning: temperature
    under = 1 << 20
    assert (await ctrl.submit(get_features(0x04, cdw11=under))).result == 0
    assert (await ctrl.submit(get_features(0x04, cdw11=1 << 16))).result == 343  # sensor 1 unchanged
    assert (await ctrl.submit(get_features(0x04, cdw11=7 << 16))).status.sc == 0x02  # no sensor 7


async def test_timestamp_feature(ctrl: SimBackend) -> None:
    c = await ctrl.submit(get_features(0x0E, data_len=8))
    assert c.ok and c.data is not None and (c.data[6] >> 1) & 0x7 == 0  # origin: reset
    stamp = (1_700_000_000_000).to_bytes(6, "little") + bytes(2)
    assert (await ctrl.submit(Command(0x09, True, cdw10=0x0E, data_len=8, data=stamp))).ok
    c = await ctrl.submit(get_features(0x0E, data_len=8))
    assert c.data is not None
    assert 1_700_000_000_000 <= u(c.data, 0, 6) < 1_700_000_010_000
    assert (c.data[6] >> 1) & 0x7 == 1  # origin: Set Features


# --- Format, self-test, abort, keep alive, events ---------------------------------------------------


async def test_format_errors(ctrl: SimBackend) -> None:
    c = await ctrl.submit(Command(0x80, True, nsid=1, cdw10=5))
    assert (c.status.sct, c.status.sc) == (1, 0x0A)  # no LBA format 5
    c = await ctrl.submit(Command(0x80, True, nsid=2, cdw10=1))
    assert (c.status.sct, c.status.sc) == (1, 0x0A)  # the zoned namespace has one format
    c = await ctrl.submit(Command(0x80, True, nsid=1, cdw10=1 << 5))
    assert (c.status.sct, c.status.sc) == (1, 0x0A)  # protection information
    c = await ctrl.submit(Command(0x80, True, nsid=7, cdw10=0))
    assert c.status.sc == 0x0B


async def test_device_self_test_short_and_extended(sim_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with open_sim("sim0") as ctrl:
        assert (await ctrl.submit(Command(0x14, True, nsid=1, cdw10=1))).ok
        log = (await ctrl.submit(get_log(0x06, 564))).data
        assert log is not None
        assert log[0] == 0  # nothing running
        assert log[4] == 0x10 and log[6] & 1 and u(log, 16, 4) == 1  # short, no error, NSIDV, nsid 1
        assert log[4 + 28] == 0x0F  # entry 2 unused
        now = [time.monotonic()]
        ctrl.controller.clock = lambda: now[0]
        assert (await ctrl.submit(Command(0x14, True, nsid=0, cdw10=2))).ok
        now[0] += 30
        log = (await ctrl.submit(get_log(0x06, 564))).data
        assert log is not None and log[0] == 2 and 45 <= log[1] <= 55  # extended, about half done
        busy = await ctrl.submit(Command(0x14, True, cdw10=1))
        assert (busy.status.sct, busy.status.sc) == (1, 0x1D)
        now[0] += 31
        log = (await ctrl.submit(get_log(0x06, 564))).data
        assert log is not None and log[0] == 0 and log[4] == 0x20  # extended, completed
        assert (await ctrl.submit(Command(0x14, True, cdw10=2))).ok
        assert (await ctrl.submit(Command(0x14, True, cdw10=0xF))).ok  # abort
        log = (await ctrl.submit(get_log(0x06, 564))).data
        assert log is not None and log[4] == 0x21  # extended, aborted by a Device Self-test command
        assert (await ctrl.submit(Command(0x14, True, cdw10=0xE))).status.sc == 0x02


async def test_abort_and_keep_alive(ctrl: SimBackend) -> None:
    c = await ctrl.submit(Command(0x08, True, cdw10=1 | 5 << 16))
    assert c.ok and c.result & 1  # not aborted: it already completed
    assert (await ctrl.submit(Command(0x18, True))).ok


async def test_invalid_admin_opcode(ctrl: SimBackend) -> None:
    c = await ctrl.submit(Command(0x7F, True))
    assert (c.status.sct, c.status.sc, c.status.dnr) == (0, 0x01, True)


async def test_async_event_on_format(ctrl: SimBackend) -> None:
    aer = asyncio.ensure_future(ctrl.submit(Command(0x0C, True)))
    await asyncio.sleep(0)
    assert not aer.done()  # outstanding until something happens
    assert (await ctrl.submit(Command(0x80, True, nsid=1, cdw10=0))).ok
    c = await asyncio.wait_for(aer, 1)
    assert c.ok and c.result == 0x2 | 0x00 << 8 | 0x04 << 16  # notice, namespace attribute changed, log 04h


async def test_async_event_timeout_and_close(sim_dir: Path) -> None:
    ctrl = open_sim("sim0")
    with pytest.raises(DeviceError, match="no event within 20 ms"):
        await ctrl.submit(Command(0x0C, True, timeout_ms=20))
    aer = asyncio.ensure_future(ctrl.submit(Command(0x0C, True)))
    await asyncio.sleep(0)
    await ctrl.close()
    c = await asyncio.wait_for(aer, 1)
    assert (c.status.sct, c.status.sc) == (0, 0x08)  # aborted due to SQ deletion


async def test_async_event_limit(ctrl: SimBackend) -> None:
    waiting = [asyncio.ensure_future(ctrl.submit(Command(0x0C, True))) for _ in range(4)]
    await asyncio.sleep(0)
    c = await ctrl.submit(Command(0x0C, True))
    assert (c.status.sct, c.status.sc) == (1, 0x05)
    for task in waiting:
        task.cancel()
    await asyncio.gather(*waiting, return_exceptions=True)
    assert ctrl.controller.aer_waiters == []


async def test_io_on_controller_device_is_refused(ctrl: SimBackend) -> None:
    with pytest.raises(DeviceError, match="sim0 is a controller"):
        await ctrl.submit(Command(0x02, False, nsid=1, data_len=512))


async def test_admin_commands_reach_the_controller_from_a_namespace_device(sim_dir: Path) -> None:
    async with open_sim("sim0n2") as ns:
        c = await ns.submit(identify(0x01))
        assert c.ok and c.data is not None and c.data[24:29] == b"nvtui"


async def test_transfer_beyond_mdts_is_refused_like_the_kernel(ctrl: SimBackend) -> None:
    with pytest.raises(DeviceError, match="MDTS"):
        await ctrl.submit(identify(0x01, data_len=1 << 20))
