"""Reservations on the simulated controller (NVMe Base 2.0, 8.19; Reservation Register, Report, Acquire,
Release, 7.2-7.5): registration, the six types, preempt, release and clear with the statuses the spec
gives, the generation, the Reservation Status data structure decoded, PTPL across power cycles (CPTPL and
feature 83h), the notification log with one host, and the state kept across a kill -9 like the rest."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fuzz.recording import run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

from nvtui.backend.sim import SimBackend, identity, open_sim
from nvtui.backend.sim import reservations as R
from nvtui.backend.sim.errors import CommandFailed
from nvtui.nvme.command import Command
from nvtui.nvme.completion import Completion
from nvtui.structures import decode
from tests.simprocs import run_killed_after

ROOT = Path(__file__).resolve().parent.parent
NSIDS = (1, 2)  # sim0n1 (NVM) and sim0n2 (zoned)
RESERVATION_CONFLICT = (0, 0x83)
INVALID_FIELD = (0, 0x02)


def _key_data(*keys: int) -> bytes:
    return b"".join(k.to_bytes(8, "little") for k in keys)


def register(nsid: int, nrkey: int, *, rrega: int = 0, crkey: int = 0, iekey: bool = False,
             cptpl: int = 0) -> Command:  # fmt: skip
    data = _key_data(crkey, nrkey)
    return Command(0x0D, False, nsid=nsid, cdw10=rrega | iekey << 3 | cptpl << 30, data=data, data_len=16)


def acquire(nsid: int, crkey: int, rtype: int, *, racqa: int = 0, prkey: int = 0,
            iekey: bool = False) -> Command:  # fmt: skip
    data = _key_data(crkey, prkey)
    return Command(0x11, False, nsid=nsid, cdw10=racqa | iekey << 3 | rtype << 8, data=data, data_len=16)


def release(nsid: int, crkey: int, rtype: int, *, rrela: int = 0, iekey: bool = False) -> Command:
    data = _key_data(crkey)
    return Command(0x15, False, nsid=nsid, cdw10=rrela | iekey << 3 | rtype << 8, data=data, data_len=8)


class Drive:
    """The controller and its two namespaces' devices: admin commands go to sim0, I/O to its namespace."""

    def __init__(self, admin: SimBackend, namespaces: dict[int, SimBackend]) -> None:
        self.admin, self.namespaces = admin, namespaces
        self.controller = admin.controller

    async def submit(self, cmd: Command) -> Completion:
        if cmd.admin:
            return await self.admin.submit(cmd)
        return await self.namespaces.get(cmd.nsid, self.namespaces[1]).submit(cmd)


@contextlib.asynccontextmanager
async def drive() -> AsyncIterator[Drive]:
    async with open_sim("sim0") as admin, open_sim("sim0n1") as n1, open_sim("sim0n2") as n2:
        yield Drive(admin, {1: n1, 2: n2})


def status(c: object) -> tuple[int, int]:
    st = c.status  # type: ignore[attr-defined]
    return st.sct, st.sc


async def report(dev: Drive, nsid: int, *, eds: bool = False) -> dict[str, object]:
    c = await dev.submit(Command(0x0E, False, nsid=nsid, cdw10=1023, cdw11=int(eds), data_len=4096))
    assert c.ok, c.status.name
    assert c.data is not None
    record = decode("reservation-status-ext" if eds else "reservation-status", c.data).to_json()
    assert isinstance(record, dict)
    return record


async def ok(dev: Drive, cmd: Command) -> None:
    c = await dev.submit(cmd)
    assert c.ok, c.status.name


def read(nsid: int) -> Command:
    size = 512 if nsid == 1 else 4096
    return Command(0x02, False, nsid=nsid, data_len=size)


def write(nsid: int) -> Command:
    size = 512 if nsid == 1 else 4096
    return Command(0x01, False, nsid=nsid, data=b"\xa5" * size, data_len=size)


# --- Identify, effects ----------------------------------------------------------------------------------


async def test_identify_tells_reservations_and_the_effects_log_lists_the_commands(sim_dir: Path) -> None:
    async with drive() as dev:
        c = await dev.submit(Command(0x06, True, cdw10=1, data_len=4096))
        assert c.ok and c.data is not None
        oncs = int.from_bytes(c.data[520:522], "little")
        assert oncs >> 5 & 1  # Reservations
        for nsid in NSIDS:
            ns = await dev.submit(Command(0x06, True, nsid=nsid, cdw10=0, data_len=4096))
            assert ns.ok and ns.data is not None
            assert ns.data[31] == 0xFF and ns.data[30] == 0  # RESCAP: PTPL, six types, IEKEY; NMIC private
            indep = await dev.submit(Command(0x06, True, nsid=nsid, cdw10=0x08, data_len=4096))
            assert indep.ok and indep.data is not None and indep.data[2] == 0xFF
        for csi in (0, 2):
            log = await dev.submit(Command(0x02, True, nsid=0xFFFF_FFFF, cdw10=0x05 | 1023 << 16,
                                           cdw14=csi << 24, data_len=4096))  # fmt: skip
            assert log.ok and log.data is not None
            for opcode in (0x0D, 0x0E, 0x11, 0x15):
                entry = int.from_bytes(log.data[1024 + 4 * opcode : 1028 + 4 * opcode], "little")
                assert entry & 1, (csi, hex(opcode))


# --- register, report, acquire, release -------------------------------------------------------------------


@pytest.mark.parametrize("nsid", NSIDS)
async def test_register_then_acquire_shows_in_the_report_and_release_ends_it(
    nsid: int, sim_dir: Path
) -> None:
    async with drive() as dev:
        empty = await report(dev, nsid)
        assert empty == {"gen": 0, "rtype": 0, "regctl": 0, "ptpls": 0, "registrants": []}
        await ok(dev, register(nsid, 0xABCD))
        after = await report(dev, nsid)
        assert after["gen"] == 1 and after["rtype"] == 0 and after["regctl"] == 1
        assert after["registrants"] == [{"cntlid": identity.CNTLID, "rcsts": 0, "hostid": 0, "rkey": 0xABCD}]
        await ok(dev, acquire(nsid, 0xABCD, R.EXCLUSIVE_ACCESS))
        held = await report(dev, nsid)
        assert held["gen"] == 1  # an acquire does not count
        assert held["rtype"] == R.EXCLUSIVE_ACCESS
        assert held["registrants"] == [{"cntlid": identity.CNTLID, "rcsts": 1, "hostid": 0, "rkey": 0xABCD}]
        await ok(dev, read(nsid))  # the holder reads and writes
        await ok(dev, write(nsid))
        await ok(dev, release(nsid, 0xABCD, R.EXCLUSIVE_ACCESS))
        done = await report(dev, nsid)
        assert done["rtype"] == 0 and done["gen"] == 1 and done["regctl"] == 1
        other = 3 - nsid
        assert (await report(dev, other))["regctl"] == 0  # per namespace


@pytest.mark.parametrize("rtype", R.RTYPES)
async def test_each_type_is_acquired_and_the_holder_reads_and_writes(rtype: int, sim_dir: Path) -> None:
    async with drive() as dev:
        await ok(dev, register(1, 7))
        await ok(dev, acquire(1, 7, rtype))
        record = await report(dev, 1)
        assert record["rtype"] == rtype
        assert record["registrants"][0]["rcsts"] == 1  # type: ignore[index]
        await ok(dev, read(1))
        await ok(dev, write(1))
        await ok(dev, acquire(1, 7, rtype))  # again, same type: nothing changes
        other = rtype % 6 + 1
        assert status(await dev.submit(acquire(1, 7, other))) == RESERVATION_CONFLICT
        assert status(await dev.submit(release(1, 7, other))) == INVALID_FIELD  # not the held type
        assert (await report(dev, 1))["rtype"] == rtype
        await ok(dev, release(1, 7, rtype))


# The table of Base 2.0, Fig. "Command Behavior in the Presence of a Reservation", for a host that is not
# the holder: (read allowed, write allowed) as a non-registrant, then as a registrant. With one host this
# host always holds the reservation there is, so the table is checked on the model with a second host id.
TABLE = {
    R.WRITE_EXCLUSIVE: ((True, False), (True, False)),
    R.EXCLUSIVE_ACCESS: ((False, False), (False, False)),
    R.WRITE_EXCLUSIVE_REGISTRANTS_ONLY: ((True, False), (True, True)),
    R.EXCLUSIVE_ACCESS_REGISTRANTS_ONLY: ((False, False), (True, True)),
    R.WRITE_EXCLUSIVE_ALL_REGISTRANTS: ((True, False), (True, True)),
    R.EXCLUSIVE_ACCESS_ALL_REGISTRANTS: ((False, False), (True, True)),
}


@pytest.mark.parametrize("rtype", R.RTYPES)
def test_reads_and_writes_follow_the_type_table_for_others(rtype: int) -> None:
    holder, other = 0, 9
    res = R.Reservations()
    res.register(holder, 0, False, 0, 0, 1)
    res.acquire(holder, 0, False, rtype, 1, 0)
    as_stranger, as_registrant = TABLE[rtype]
    assert (res.allows(other, write=False), res.allows(other, write=True)) == as_stranger
    res.keys[other] = 2  # a second registrant (only a second host could be one)
    assert (res.allows(other, write=False), res.allows(other, write=True)) == as_registrant
    assert res.allows(holder, write=True) and res.allows(holder, write=False)
    with pytest.raises(Exception) as refused:
        res.check_access(9 + 1, write=True)  # no registrant at all: writes are never allowed
    assert "0x83" in str(refused.value)


async def test_io_under_a_reservation_goes_through_the_check(
    sim_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The I/O path asks `allows` (here made to answer as for a stranger to an exclusive access
    reservation): a refused read or write completes with Reservation Conflict and changes nothing."""
    async with drive() as dev:
        await ok(dev, register(1, 5))
        await ok(dev, acquire(1, 5, R.EXCLUSIVE_ACCESS))
        monkeypatch.setattr(R.Reservations, "holds", lambda self, host: False)
        monkeypatch.setattr(R.Reservations, "allows", lambda self, host, write: not write)
        assert status(await dev.submit(write(1))) == RESERVATION_CONFLICT
        await ok(dev, read(1))
        await ok(dev, write(2))  # the other namespace holds no reservation
        ctrl = dev.controller
        ctrl.lock.acquire(2.0)
        try:  # a Flush of every namespace (no namespace device sends one: the controller is asked directly)
            flush_all = ctrl.execute(Command(0x00, False, nsid=0xFFFF_FFFF))
        finally:
            ctrl.lock.release()
        assert status(flush_all) == RESERVATION_CONFLICT
        monkeypatch.undo()
        back = await dev.submit(read(1))
        assert back.ok and back.data == bytes(512)  # the refused write wrote nothing


async def test_wrong_keys_and_strangers_get_reservation_conflict(sim_dir: Path) -> None:
    async with drive() as dev:
        # not a registrant
        assert status(await dev.submit(acquire(1, 1, R.WRITE_EXCLUSIVE))) == RESERVATION_CONFLICT
        assert status(await dev.submit(release(1, 1, R.WRITE_EXCLUSIVE))) == RESERVATION_CONFLICT
        assert status(await dev.submit(register(1, 0, rrega=1, crkey=1))) == RESERVATION_CONFLICT
        assert status(await dev.submit(register(1, 2, rrega=2, crkey=1))) == RESERVATION_CONFLICT
        await ok(dev, register(1, 0x11))
        await ok(dev, register(1, 0x11))  # the same key again: success
        assert status(await dev.submit(register(1, 0x12))) == RESERVATION_CONFLICT  # another key
        assert status(await dev.submit(acquire(1, 0x99, R.WRITE_EXCLUSIVE))) == RESERVATION_CONFLICT
        assert status(await dev.submit(register(1, 0x13, rrega=2, crkey=0x99))) == RESERVATION_CONFLICT
        assert status(await dev.submit(release(1, 0x99, R.WRITE_EXCLUSIVE))) == RESERVATION_CONFLICT
        record = await report(dev, 1)
        assert record["gen"] == 2 and record["registrants"][0]["rkey"] == 0x11  # type: ignore[index]
        # by name, in the error log too
        log = await dev.submit(Command(0x02, True, nsid=0xFFFF_FFFF, cdw10=0x01 | 15 << 16, data_len=64))
        assert log.ok and log.data is not None
        field = int.from_bytes(log.data[12:14], "little") >> 1  # the status field, phase bit aside
        assert field & 0xFF == 0x83 and field >> 8 & 0x7 == 0  # SC, SCT


INVALID = {
    "reserved register action": (register(1, 1, rrega=3), INVALID_FIELD),
    "reserved cptpl": (register(1, 1, cptpl=1), INVALID_FIELD),
    "zero new key": (register(1, 0), INVALID_FIELD),
    "reserved acquire action": (acquire(1, 1, 1, racqa=3), INVALID_FIELD),
    "reserved type": (acquire(1, 1, 7), INVALID_FIELD),
    "no type": (acquire(1, 1, 0), INVALID_FIELD),
    "reserved release action": (release(1, 1, 1, rrela=2), INVALID_FIELD),
    "keys missing": (Command(0x0D, False, nsid=1, data=bytes(8), data_len=8), (0, 0x0F)),
}


@pytest.mark.parametrize("name", INVALID)
async def test_bad_fields_are_refused_and_change_nothing(name: str, sim_dir: Path) -> None:
    cmd, expect = INVALID[name]
    async with drive() as dev:
        c = await dev.submit(cmd)
        assert status(c) == expect
        assert (await report(dev, 1))["gen"] == 0


async def test_replace_iekey_and_unregister(sim_dir: Path) -> None:
    async with drive() as dev:
        await ok(dev, register(1, 1))
        await ok(dev, register(1, 2, rrega=2, crkey=1))  # replace
        await ok(dev, register(1, 3, rrega=2, crkey=0xDEAD, iekey=True))  # IEKEY: CRKEY not checked
        assert (await report(dev, 1))["registrants"][0]["rkey"] == 3  # type: ignore[index]
        # IEKEY (1.3 and later) is for Register only: an Acquire or a Release with it is an Invalid Field
        assert status(await dev.submit(acquire(1, 3, R.WRITE_EXCLUSIVE, iekey=True))) == INVALID_FIELD
        await ok(dev, acquire(1, 3, R.WRITE_EXCLUSIVE))
        assert status(await dev.submit(release(1, 3, R.WRITE_EXCLUSIVE, iekey=True))) == INVALID_FIELD
        assert (await report(dev, 1))["rtype"] == R.WRITE_EXCLUSIVE
        await ok(dev, release(1, 3, R.WRITE_EXCLUSIVE))
        await ok(dev, acquire(1, 3, R.WRITE_EXCLUSIVE_REGISTRANTS_ONLY))
        # the holder unregisters: the reservation is released with its registration
        await ok(dev, register(1, 0, rrega=1, crkey=3))
        record = await report(dev, 1)
        assert record == {"gen": 4, "rtype": 0, "regctl": 0, "ptpls": 0, "registrants": []}
        await ok(dev, register(1, 4))
        await ok(dev, acquire(1, 4, R.EXCLUSIVE_ACCESS_ALL_REGISTRANTS))
        await ok(dev, register(1, 0, rrega=1, crkey=0, iekey=True))  # the last registrant goes: so does it
        assert (await report(dev, 1))["rtype"] == 0


async def test_preempt_clear_and_the_generation(sim_dir: Path) -> None:
    async with drive() as dev:
        await ok(dev, register(2, 0x50))  # gen 1
        # nothing held: a preempt unregisters the registrants with PRKEY (this host's own key here)
        assert status(await dev.submit(acquire(2, 0x50, 1, racqa=1, prkey=0x77))) == RESERVATION_CONFLICT
        await ok(dev, acquire(2, 0x50, R.WRITE_EXCLUSIVE))
        # the holder preempts itself: the type changes, the registration stays; the generation counts it
        await ok(dev, acquire(2, 0x50, R.EXCLUSIVE_ACCESS, racqa=1, prkey=0x50))
        record = await report(dev, 2)
        assert record["gen"] == 2 and record["rtype"] == R.EXCLUSIVE_ACCESS and record["regctl"] == 1
        # preempt and abort: nothing is ever outstanding, so it is a preempt
        await ok(dev, acquire(2, 0x50, R.WRITE_EXCLUSIVE, racqa=2, prkey=0x50))
        assert (await report(dev, 2))["gen"] == 3
        assert status(await dev.submit(acquire(2, 0x50, 1, racqa=1, prkey=0))) == INVALID_FIELD
        assert status(await dev.submit(acquire(2, 0x50, 1, racqa=1, prkey=0x66))) == RESERVATION_CONFLICT
        await ok(dev, release(2, 0x50, 0, rrela=1))  # clear: the type does not matter
        assert await report(dev, 2) == {"gen": 4, "rtype": 0, "regctl": 0, "ptpls": 0, "registrants": []}
        # all registrants: PRKEY 0 preempts every other registrant, the issuer holds the new type
        await ok(dev, register(2, 0x60))
        await ok(dev, acquire(2, 0x60, R.WRITE_EXCLUSIVE_ALL_REGISTRANTS))
        await ok(dev, acquire(2, 0x60, R.EXCLUSIVE_ACCESS, racqa=1, prkey=0))
        record = await report(dev, 2)
        assert record["gen"] == 6 and record["rtype"] == R.EXCLUSIVE_ACCESS and record["regctl"] == 1
        await ok(dev, release(2, 0x60, 0, rrela=1))
        await ok(dev, register(2, 0x61))
        await ok(dev, acquire(2, 0x61, 1, racqa=1, prkey=0x61))  # no reservation: its own key goes
        assert (await report(dev, 2))["regctl"] == 0


def test_preempting_another_registrant_unregisters_it() -> None:
    res = R.Reservations()
    res.register(0, 0, False, 0, 0, 1)
    res.keys[5] = 2  # a second registrant, as a second host would register
    res.acquire(5, 0, False, R.WRITE_EXCLUSIVE, 2, 0)
    res.acquire(0, 1, False, R.EXCLUSIVE_ACCESS, 1, 2)  # preempt the holder by its key
    assert res.keys == {0: 1} and res.holder == 0 and res.rtype == R.EXCLUSIVE_ACCESS and res.gen == 2
    res.keys[5] = 3
    res.acquire(0, 1, False, R.EXCLUSIVE_ACCESS, 1, 3)  # a non-holder registrant: unregistered
    assert res.keys == {0: 1} and res.holder == 0 and res.gen == 3


async def test_an_extended_report_needs_a_128_bit_host_identifier(sim_dir: Path) -> None:
    async with drive() as dev:
        await ok(dev, register(1, 1))
        c = await dev.submit(Command(0x0E, False, nsid=1, cdw10=1023, cdw11=1, data_len=4096))
        assert status(c) == (0, 0x18) and c.status.name == "Host Identifier Inconsistent Format"
        short = await dev.submit(Command(0x0E, False, nsid=1, cdw10=5, data_len=24))  # NUMD: the header
        assert short.ok and short.data is not None and len(short.data) == 24
        assert short.data[5:7] == b"\x01\x00"  # REGCTL still tells the one registrant


def test_the_extended_structure_decodes() -> None:
    from nvtui.structures import encode

    host = int.from_bytes(bytes(range(16)), "little")  # a 128-bit host identifier, as its data buffer sent it
    values = R.Reservations(keys={host: 9}, rtype=1, holder=host, gen=4, ptpl=True).report(True, True)
    data = encode("reservation-status-ext", values)
    record = decode("reservation-status-ext", data).to_json()
    assert record["gen"] == 4 and record["ptpls"] == 1 and len(data) == 128
    assert record["registrants"] == [
        {"cntlid": identity.CNTLID, "rcsts": 1, "rkey": 9, "hostid": bytes(range(16)).hex()}
    ]


# --- PTPL: CPTPL, feature 83h, power cycles ---------------------------------------------------------------


def get_feature(fid: int, nsid: int, sel: int = 0) -> Command:
    return Command(0x0A, True, nsid=nsid, cdw10=fid | sel << 8)


def set_feature(fid: int, nsid: int, value: int, save: bool = False) -> Command:
    return Command(0x09, True, nsid=nsid, cdw10=fid | save << 31, cdw11=value)


async def test_a_reservation_survives_a_power_cycle_only_with_ptpl(sim_dir: Path) -> None:
    async with drive() as dev:
        await ok(dev, register(1, 0x1111, cptpl=3))  # persist through power loss
        await ok(dev, acquire(1, 0x1111, R.WRITE_EXCLUSIVE))
        await ok(dev, register(2, 0x2222))  # PTPL 0 on namespace 2
        await ok(dev, acquire(2, 0x2222, R.EXCLUSIVE_ACCESS))
        assert (await report(dev, 1))["ptpls"] == 1
        assert (await dev.submit(get_feature(0x83, 1))).result == 1
        assert (await dev.submit(get_feature(0x83, 2))).result == 0
    async with drive() as dev:  # a power cycle
        notice = dev.admin.notice
        assert notice is not None and "cleared the reservation registrations of sim0n2 (" in notice
        kept = await report(dev, 1)
        assert kept["rtype"] == R.WRITE_EXCLUSIVE and kept["gen"] == 1 and kept["ptpls"] == 1
        assert await report(dev, 2) == {"gen": 0, "rtype": 0, "regctl": 0, "ptpls": 0, "registrants": []}
        await ok(dev, register(1, 0x1111, cptpl=2))  # PTPL cleared by CPTPL: lost at the next power-on
    async with drive() as dev:
        notice = dev.admin.notice
        assert notice is not None and "registrations of sim0n1 (" in notice
        assert await report(dev, 1) == {"gen": 0, "rtype": 0, "regctl": 0, "ptpls": 0, "registrants": []}
    async with drive() as dev:  # nothing left to clear: nothing said
        assert dev.admin.notice is None


async def test_feature_83h_sets_ptpl_and_82h_keeps_its_mask(sim_dir: Path) -> None:
    async with drive() as dev:
        caps = await dev.submit(get_feature(0x83, 1, sel=3))
        assert caps.ok and caps.result == 0b111  # saveable, namespace specific, changeable
        assert status(await dev.submit(get_feature(0x83, 0))) == (0, 0x0B)  # a namespace is needed
        await ok(dev, set_feature(0x83, 0xFFFF_FFFF, 1))  # every namespace
        assert [(await dev.submit(get_feature(0x83, n))).result for n in NSIDS] == [1, 1]
        assert (await dev.submit(get_feature(0x83, 2, sel=1))).result == 0  # the default
        await ok(dev, set_feature(0x83, 2, 0))
        await ok(dev, register(1, 8))
        await ok(dev, register(2, 9))
        await ok(dev, set_feature(0x82, 1, 0xE))
        assert (await dev.submit(get_feature(0x82, 1))).result == 0xE
        assert (await dev.submit(get_feature(0x82, 2))).result == 0
        await ok(dev, set_feature(0x82, 2, 0xFF))  # reserved bits are not kept
        assert (await dev.submit(get_feature(0x82, 2))).result == 0xE
    async with drive() as dev:
        assert (await report(dev, 1))["regctl"] == 1 and (await report(dev, 2))["regctl"] == 0
        assert (await dev.submit(get_feature(0x83, 1))).result == 1


async def test_the_notification_log_stays_empty_with_one_host(sim_dir: Path) -> None:
    """Notifications go to hosts other than the issuing one: with one host none arises (reservations.py)."""
    async with drive() as dev:
        await ok(dev, register(1, 1))
        await ok(dev, acquire(1, 1, R.WRITE_EXCLUSIVE))
        await ok(dev, acquire(1, 1, R.EXCLUSIVE_ACCESS, racqa=1, prkey=1))
        await ok(dev, release(1, 1, R.EXCLUSIVE_ACCESS))
        await ok(dev, release(1, 1, 0, rrela=1))
        c = await dev.submit(Command(0x02, True, nsid=0xFFFF_FFFF, cdw10=0x80 | 15 << 16, data_len=64))
        assert c.ok and c.data is not None
        record = decode("reservation-notification-log", c.data).to_json()
        assert record["lpc"] == 0 and record["rnlpt"] == 0 and record["nalp"] == 0
        assert not dev.controller.pending_events


# --- the CLI: decoded reports, PTPL across separate sends, a script in one process -------------------------


def keys_file(tmp_path: Path, name: str, *keys: int) -> str:
    path = tmp_path / name
    path.write_bytes(_key_data(*keys))
    return str(path)


def report_lines(device: str = "sim0n1") -> dict[str, str]:
    done = run_cli(["send", device, "reservation-report"])
    assert done.code == 0, done.err
    return {line.split()[0]: line for line in done.out.splitlines()[3:] if line.strip()}


def test_separate_sends_keep_a_reservation_only_with_ptpl(sim_dir: Path, tmp_path: Path) -> None:
    register_keys = keys_file(tmp_path, "register.bin", 0, 0x1234)
    acquire_keys = keys_file(tmp_path, "acquire.bin", 0x1234, 0)
    send = ["--allow-destructive"]
    done = run_cli(["send", "sim0n1", "reservation-register", "--data-in", register_keys, *send])
    assert done.code == 0, done.err
    # each `nvtui send` is a process of its own: the next one power-cycles the controller, and without
    # PTPL the registration is gone
    lost = run_cli(["send", "sim0n1", "reservation-acquire", "rtype=write-exclusive", "--data-in",
                    acquire_keys, *send])  # fmt: skip
    assert lost.code == 1 and "Reservation Conflict (SCT 0x0, SC 0x83" in lost.out
    assert "nvtui: the power cycle cleared the reservation registrations of sim0n1 (Persist" in lost.err
    assert "0 registered controllers" in report_lines()["regctl"]
    kept = run_cli(["send", "sim0n1", "reservation-register", "cptpl=persist", "--data-in", register_keys,
                    *send])  # fmt: skip
    assert kept.code == 0, kept.err
    took = run_cli(["send", "sim0n1", "reservation-acquire", "rtype=exclusive-access", "--data-in",
                    acquire_keys, *send])  # fmt: skip
    assert took.code == 0, took.out
    lines = report_lines()
    assert "exclusive access" in lines["rtype"] and "persist through power loss" in lines["ptpls"]
    assert "0000000000001234h" in lines["registrants[0].rkey"]
    assert "holds the reservation" in lines["registrants[0].rcsts"]
    refused = run_cli(["send", "sim0n1", "reservation-release", "rtype=write-exclusive", "--data-in",
                       keys_file(tmp_path, "release.bin", 0x1234), *send])  # fmt: skip
    assert refused.code == 1 and "Invalid Field in Command" in refused.out
    eds = run_cli(["send", "sim0n1", "reservation-report", "eds=1"])
    assert eds.code == 1 and "Host Identifier Inconsistent Format" in eds.out and eds.raised is None
    feature = run_cli(["send", "sim0", "get-features", "fid=reservation-persistence", "nsid=1"])
    assert feature.code == 0 and "persist through power loss" in feature.out


def script(path: Path, steps: list[dict[str, object]]) -> Path:
    path.write_text(json.dumps({"nvtui-script": 2, "device": "sim0n2", "steps": steps}))
    return path


def keys_b64(*keys: int) -> str:
    import base64

    return base64.b64encode(_key_data(*keys)).decode()


REGISTER_STEP = {
    "command": "reservation-register", "fields": {"rrega": "register"}, "data": keys_b64(0, 0x77)
}  # fmt: skip


def expect(sc: int, name: str) -> dict[str, object]:
    return {"sct": 0, "sc": sc, "name": name}


SUCCESS = expect(0, "Successful Completion")
WE_RO = "write-exclusive-registrants-only"
RUN_STEPS: list[dict[str, object]] = [
    {**REGISTER_STEP, "expect": SUCCESS},
    {"command": "reservation-acquire", "fields": {"rtype": WE_RO}, "data": keys_b64(0x77, 0),
     "expect": SUCCESS},
    {"command": "reservation-report", "fields": {"numd": 16}, "expect": SUCCESS},
    # the state the report tells is checked by what the controller then refuses, as recorded
    {"command": "reservation-acquire", "fields": {"rtype": "exclusive-access"}, "data": keys_b64(0x77, 0),
     "expect": expect(0x83, "Reservation Conflict")},
    {"command": "reservation-release", "fields": {"rtype": "write-exclusive"}, "data": keys_b64(0x77),
     "expect": expect(0x02, "Invalid Field in Command")},
    {"command": "reservation-release", "fields": {"rtype": WE_RO}, "data": keys_b64(0x77), "expect": SUCCESS},
    {"command": "reservation-report", "fields": {"numd": 16}, "expect": SUCCESS},
]  # fmt: skip


def run_process(path: Path) -> subprocess.CompletedProcess[str]:
    """`nvtui run` in a process of its own (this test's process has the controller open)."""
    return subprocess.run(
        [sys.executable, "-m", "nvtui.cli", "run", str(path), "--allow-destructive"],
        capture_output=True, text=True, cwd=ROOT, check=False, timeout=120,
    )  # fmt: skip


async def test_a_script_registers_acquires_reports_and_releases_in_one_process(sim_dir: Path) -> None:
    path = script(sim_dir.parent / "resv.yaml", RUN_STEPS)
    refused = subprocess.run([sys.executable, "-m", "nvtui.cli", "run", str(path)], capture_output=True,
                             text=True, cwd=ROOT, check=False, timeout=120)  # fmt: skip
    assert refused.returncode != 0 and "--allow-destructive" in refused.stderr
    async with drive() as dev:  # kept on, so the state the script left is read without a power cycle
        done = run_process(path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "7/7 steps matched their recorded status" in done.stdout
        assert "reservation-acquire: Reservation Conflict" in done.stdout
        record = await report(dev, 2)
        assert record["rtype"] == 0 and record["gen"] == 1
        assert record["registrants"] == [{"cntlid": identity.CNTLID, "rcsts": 0, "hostid": 0, "rkey": 0x77}]
        again = run_process(path)  # registered already, with the same key: success, counted
        assert again.returncode == 0, again.stdout
        assert (await report(dev, 2))["gen"] == 2


# --- kill -9: what was acknowledged stays ----------------------------------------------------------------


IDLE = [{"command": "identify", "device": "sim0", "fields": {"cns": 1}}] * 3000


async def test_a_registration_acknowledged_before_a_kill_is_kept_while_the_controller_stays_on(
    sim_dir: Path,
) -> None:
    async with drive() as dev:  # this process keeps the controller powered across the kill
        path = script(sim_dir.parent / "reg.yaml", [REGISTER_STEP, *IDLE])
        run_killed_after(path, "reservation-register on sim0n2: Successful")
        record = await report(dev, 2)
        assert record["regctl"] == 1 and record["registrants"][0]["rkey"] == 0x77  # type: ignore[index]
        assert record["ptpls"] == 0


async def test_with_ptpl_a_registration_acknowledged_before_a_kill_survives_it_and_the_power_cycle(
    sim_dir: Path,
) -> None:
    steps = [{**REGISTER_STEP, "fields": {"rrega": "register", "cptpl": "persist"}}, RUN_STEPS[1], *IDLE]
    run_killed_after(script(sim_dir.parent / "ptpl.yaml", steps), "reservation-acquire on sim0n2: Successful")
    async with drive() as dev:  # the kill left it unclean; this open power-cycles it
        record = await report(dev, 2)
        assert record["rtype"] == R.WRITE_EXCLUSIVE_REGISTRANTS_ONLY and record["ptpls"] == 1
        assert record["registrants"] == [{"cntlid": identity.CNTLID, "rcsts": 1, "hostid": 0, "rkey": 0x77}]
        assert dev.admin.notice is None or "damaged" not in dev.admin.notice


# --- the TUI: register a key from Compose, read the report decoded -----------------------------------------


async def test_in_the_tui_a_key_is_registered_from_compose_and_the_report_decodes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from textual.widgets import Input

    from nvtui.screens.result import ResultScreen
    from nvtui.widgets.decoded_tree import DecodedTree
    from tests.pilots import isolate_tui, until, writable_tui
    from tests.test_app import compose

    isolate_tui(tmp_path, monkeypatch)
    keys = tmp_path / "keys.bin"
    keys.write_bytes(_key_data(0, 0xC0FFEE))
    async with writable_tui("sim0n1") as tui:
        app, pilot = tui.app, tui.pilot
        screen = await compose(pilot, "reservation-register", rrega="register")
        screen.query_one("#data-in", Input).value = str(keys)
        await until(pilot, lambda: screen.prepared is not None and screen.prepared.command.data, "the keys")
        await tui.send_confirmed("the register")

        await compose(pilot, "reservation-report")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, ResultScreen) and app.screen.result, "the report")
        rows = {r.path: r for r in app.screen.query_one("#decoded-tree", DecodedTree).all_rows()}
        assert rows["regctl"].value == "1" and rows["rtype"].value == "0"
        assert "no reservation held" in str(rows["rtype"].meaning)
        assert rows["registrants[0].rkey"].number == 0xC0FFEE
        assert rows["registrants[0].cntlid"].number == identity.CNTLID


# --- any sequence of commands leaves a state the state file can hold, read back the same ------------------

KEYS = st.sampled_from([0, 1, 2, 0xFFFF_FFFF_FFFF_FFFF])
OPS = st.one_of(
    st.tuples(
        st.just("register"), st.integers(0, 3), st.booleans(), st.sampled_from([0, 1, 2, 3]), KEYS, KEYS
    ),
    st.tuples(st.just("acquire"), st.integers(0, 3), st.booleans(), st.integers(0, 7), KEYS, KEYS),
    st.tuples(st.just("release"), st.integers(0, 2), st.booleans(), st.integers(0, 7), KEYS),
    st.tuples(st.just("power_on")),
)


HOST = 0x0123_4567_89AB_CDEF_FEDC_BA98_7654_3210  # a 128-bit host identifier (Set Features 81h, EXHID)


@settings(max_examples=300, deadline=None)
@given(st.lists(OPS, max_size=25))
def test_any_sequence_keeps_the_state_consistent_and_restorable(ops: list[tuple[object, ...]]) -> None:
    res = R.Reservations()
    for op in ops:
        name, *args = op
        before = res.to_json()
        try:
            if name == "power_on":
                res.power_on()
            else:
                getattr(res, str(name))(HOST, *args)
        except CommandFailed as failure:
            assert failure.status.sc in (0x02, 0x83)
            assert res.to_json() == before  # a refused command changes nothing
        state = res.to_json()
        again = R.Reservations.restore(json.loads(json.dumps(state)), "r", HOST)
        assert again.to_json() == state
        if res.rtype:  # a reservation has a holder, and the holder is a registrant
            assert res.keys and res.holds(HOST)
            assert res.allows(HOST, write=True) and res.allows(HOST, write=False)
        report = res.report(True, True)
        assert report["regctl"] == len(res.keys) and report["ptpls"] == int(res.ptpl)
