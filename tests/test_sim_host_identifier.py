"""The Host Identifier feature (Set/Get Features 81h, NVMe Base 2.0, 5.27.1) on the simulated controller:
the statuses of setting and reading it, the Reservation Report that carries it (with EDS for a 128-bit one,
Host Identifier Inconsistent Format when the sizes do not match), and the identifier kept as controller
state: across separate `nvtui send` processes, between two processes sharing the controller, across a
kill -9, and refused when its state is damaged."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from nvtui.backend.sim import identity, open_sim
from nvtui.backend.sim import reservations as R
from nvtui.backend.sim.state import StateDamaged
from nvtui.nvme.command import Command
from tests.test_sim_reservations import (
    IDLE,
    Drive,
    acquire,
    drive,
    ok,
    read,
    register,
    report,
    run_killed_after,
    script,
    status,
    write,
)
from tests.test_sim_sharing import Shell
from tests.test_sim_state import DELETE, crashed_drive, fingerprint, in_state, journal_lines, put

ROOT = Path(__file__).resolve().parent.parent
HOSTID_128 = bytes(range(0xA0, 0xB0))  # as the data buffer carries it: bytes 15:0
HOSTID_64 = 0x1122_3344_5566_7788
SUCCESS = (0, 0x00)
INVALID_FIELD = (0, 0x02)
COMMAND_SEQUENCE_ERROR = (0, 0x0C)
INCONSISTENT_FORMAT = (0, 0x18)
FEATURE_NOT_NS_SPECIFIC = (1, 0x0F)


def set_hostid(data: bytes, *, exhid: bool, nsid: int = 0, save: bool = False) -> Command:
    return Command(0x09, True, nsid=nsid, cdw10=0x81 | save << 31, cdw11=int(exhid), data=data,
                   data_len=len(data))  # fmt: skip


def get_hostid(*, exhid: bool, sel: int = 0) -> Command:
    return Command(0x0A, True, cdw10=0x81 | sel << 8, cdw11=int(exhid), data_len=16)


def eds_report(nsid: int, *, eds: bool) -> Command:
    return Command(0x0E, False, nsid=nsid, cdw10=1023, cdw11=int(eds), data_len=4096)


async def read_hostid(dev: Drive, *, exhid: bool, sel: int = 0) -> tuple[int, bytes]:
    c = await dev.submit(get_hostid(exhid=exhid, sel=sel))
    assert c.ok, c.status.name
    assert c.data is not None
    return c.result, c.data[: 16 if exhid else 8]


# --- Set and Get Features: the statuses -----------------------------------------------------------------


async def test_until_set_the_host_identifier_is_a_64_bit_zero(sim_dir: Path) -> None:
    async with drive() as dev:
        assert await read_hostid(dev, exhid=False) == (0, bytes(8))
        assert status(await dev.submit(get_hostid(exhid=True))) == INVALID_FIELD  # not a 128-bit one
        caps = await dev.submit(get_hostid(exhid=False, sel=3))
        assert caps.ok and caps.result == 0b101  # saveable, changeable, not namespace specific
        assert status(await dev.submit(eds_report(1, eds=True))) == INCONSISTENT_FORMAT
        assert status(await dev.submit(eds_report(1, eds=False))) == SUCCESS


async def test_a_64_bit_identifier_is_set_and_read_back(sim_dir: Path) -> None:
    async with drive() as dev:
        await ok(dev, set_hostid(HOSTID_64.to_bytes(8, "little"), exhid=False))
        assert await read_hostid(dev, exhid=False) == (0, HOSTID_64.to_bytes(8, "little"))
        assert await read_hostid(dev, exhid=False, sel=2) == (0, HOSTID_64.to_bytes(8, "little"))  # saved
        assert await read_hostid(dev, exhid=False, sel=1) == (0, bytes(8))  # the default
        assert status(await dev.submit(get_hostid(exhid=True))) == INVALID_FIELD
        await ok(dev, set_hostid(bytes(8), exhid=False))  # 0h again: the host identifier not given
        assert await read_hostid(dev, exhid=False) == (0, bytes(8))


async def test_a_128_bit_identifier_is_set_with_exhid_and_read_back_with_it(sim_dir: Path) -> None:
    async with drive() as dev:
        await ok(dev, set_hostid(HOSTID_128, exhid=True, save=True))  # SV: accepted, kept as ever
        assert await read_hostid(dev, exhid=True) == (1, HOSTID_128)  # DW0: EXHID, the size in force
        assert await read_hostid(dev, exhid=True, sel=2) == (1, HOSTID_128)
        assert status(await dev.submit(get_hostid(exhid=False))) == INVALID_FIELD  # not a 64-bit one


async def test_a_missing_or_zero_identifier_and_a_namespace_are_refused(sim_dir: Path) -> None:
    async with drive() as dev:
        for cmd in (
            set_hostid(HOSTID_128[:8], exhid=True),  # EXHID: 16 bytes, 8 given
            set_hostid(b"\x01\x02\x03", exhid=False),
            Command(0x09, True, cdw10=0x81),  # no data buffer at all
            set_hostid(bytes(16), exhid=True),  # a 128-bit 0h
        ):
            assert status(await dev.submit(cmd)) == INVALID_FIELD
        assert status(await dev.submit(set_hostid(HOSTID_128, exhid=True, nsid=1))) == FEATURE_NOT_NS_SPECIFIC
        assert await read_hostid(dev, exhid=False) == (0, bytes(8))  # nothing changed


async def test_a_registered_host_cannot_change_its_identifier(sim_dir: Path) -> None:
    async with drive() as dev:
        await ok(dev, set_hostid(HOSTID_64.to_bytes(8, "little"), exhid=False))
        await ok(dev, register(2, 0x77))
        for change in (set_hostid(HOSTID_128, exhid=True), set_hostid(bytes(8), exhid=False)):
            assert status(await dev.submit(change)) == COMMAND_SEQUENCE_ERROR
        same = set_hostid(HOSTID_64.to_bytes(8, "little") + bytes(8), exhid=False)  # bytes 15:8 ignored
        await ok(dev, same)  # the same identifier again changes nothing
        await ok(dev, register(2, 0, rrega=R.RREGA_UNREGISTER, crkey=0x77))
        await ok(dev, set_hostid(HOSTID_128, exhid=True))  # no longer registered: it may change
        assert await read_hostid(dev, exhid=True) == (1, HOSTID_128)


# --- the Reservation Report carries it ------------------------------------------------------------------


async def test_with_a_128_bit_identifier_the_extended_report_carries_it(sim_dir: Path) -> None:
    async with drive() as dev:
        await ok(dev, set_hostid(HOSTID_128, exhid=True))
        await ok(dev, register(1, 0xC0FFEE))
        await ok(dev, acquire(1, 0xC0FFEE, R.EXCLUSIVE_ACCESS))
        assert status(await dev.submit(eds_report(1, eds=False))) == INCONSISTENT_FORMAT
        record = await report(dev, 1, eds=True)
        assert record["rtype"] == R.EXCLUSIVE_ACCESS and record["regctl"] == 1
        assert record["registrants"] == [
            {"cntlid": identity.CNTLID, "rcsts": 1, "rkey": 0xC0FFEE, "hostid": HOSTID_128.hex()}
        ]
        assert (await dev.submit(write(1))).ok and (await dev.submit(read(1))).ok  # the holder, by its id


async def test_with_a_64_bit_identifier_the_report_carries_it(sim_dir: Path) -> None:
    async with drive() as dev:
        await ok(dev, set_hostid(HOSTID_64.to_bytes(8, "little"), exhid=False))
        await ok(dev, register(2, 5))
        record = await report(dev, 2)
        assert record["registrants"] == [
            {"cntlid": identity.CNTLID, "rcsts": 0, "hostid": HOSTID_64, "rkey": 5}
        ]
        assert status(await dev.submit(eds_report(2, eds=True))) == INCONSISTENT_FORMAT


# --- kept: separate processes, two at once, a kill -9 ---------------------------------------------------


def nvtui(*argv: str) -> subprocess.CompletedProcess[str]:
    """`nvtui ARGV` in a process of its own."""
    return subprocess.run([sys.executable, "-m", "nvtui.cli", *argv], capture_output=True, text=True,
                          cwd=ROOT, check=False, timeout=120)  # fmt: skip


def test_separate_sends_set_the_identifier_and_read_the_extended_report_decoded(
    sim_dir: Path, tmp_path: Path
) -> None:
    hostid = tmp_path / "hostid.bin"
    hostid.write_bytes(HOSTID_128)
    keys = tmp_path / "keys.bin"
    keys.write_bytes((0).to_bytes(8, "little") + (0x1234).to_bytes(8, "little"))
    done = nvtui("send", "sim0", "set-features", "fid=host-identifier", "cdw11=1", "--data-in", str(hostid),
                 "--allow-destructive")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    got = nvtui("send", "sim0", "get-features", "fid=host-identifier", "cdw11=1", "--json")
    assert got.returncode == 0, got.stdout + got.stderr
    feature = json.loads(got.stdout)
    assert feature["result"] == 1
    assert feature["decoded"] == {
        "hostid": int.from_bytes(HOSTID_128[:8], "little"),
        "hostid_ext": int.from_bytes(HOSTID_128[8:], "little"),
    }
    registered = nvtui("send", "sim0n1", "reservation-register", "cptpl=persist", "--data-in", str(keys),
                       "--allow-destructive")  # fmt: skip
    assert registered.returncode == 0, registered.stdout + registered.stderr
    reported = nvtui("send", "sim0n1", "reservation-report", "eds=1", "--json")
    assert reported.returncode == 0, reported.stdout + reported.stderr
    decoded = json.loads(reported.stdout)["decoded"]
    assert decoded["regctl"] == 1 and decoded["ptpls"] == 1
    assert decoded["registrants"][0]["hostid"] == HOSTID_128.hex()
    assert decoded["registrants"][0]["rkey"] == 0x1234
    plain = nvtui("send", "sim0n1", "reservation-report")
    assert plain.returncode == 1 and "Host Identifier Inconsistent Format" in plain.stdout


async def test_a_process_sharing_the_controller_sees_the_identifier_another_set(
    sim_dir: Path, shells: Callable[[], Shell]
) -> None:
    other = shells()
    async with drive() as dev:
        answer = other.submit("sim0", admin=True, opcode=0x09, cdw10=0x81, cdw11=1, data=HOSTID_128,
                              data_len=16)  # fmt: skip
        assert answer["ok"], answer
        assert await read_hostid(dev, exhid=True) == (1, HOSTID_128)
        await ok(dev, register(1, 9))  # registered here: the other process may not change it now
        refused = other.submit("sim0", admin=True, opcode=0x09, cdw10=0x81, data=bytes(8), data_len=8)
        assert (refused["sct"], refused["sc"]) == COMMAND_SEQUENCE_ERROR
        seen = other.submit("sim0n1", opcode=0x0E, nsid=1, cdw10=1023, cdw11=1, data_len=4096)
        assert seen["ok"] and base64.b64decode(seen["data"])[64 + 16 : 64 + 32] == HOSTID_128


async def test_the_identifier_set_before_a_kill_survives_it_and_keeps_its_registration(sim_dir: Path) -> None:
    steps = [
        {"command": "set-features", "device": "sim0", "fields": {"fid": "host-identifier", "cdw11": 1},
         "data": base64.b64encode(HOSTID_128).decode()},
        {"command": "reservation-register", "fields": {"rrega": "register", "cptpl": "persist"},
         "data": base64.b64encode(bytes(8) + (0x77).to_bytes(8, "little")).decode()},
        *IDLE,
    ]  # fmt: skip
    run_killed_after(
        script(sim_dir.parent / "hostid.yaml", steps), "reservation-register on sim0n2: Successful"
    )
    async with drive() as dev:  # the kill left it unclean; this open power-cycles it
        assert await read_hostid(dev, exhid=True) == (1, HOSTID_128)
        record = await report(dev, 2, eds=True)
        assert record["registrants"] == [
            {"cntlid": identity.CNTLID, "rcsts": 0, "rkey": 0x77, "hostid": HOSTID_128.hex()}
        ]
        assert dev.admin.notice is None or "damaged" not in dev.admin.notice
    state = json.loads((sim_dir / "sim0.json").read_text())
    assert state["host_identifier"] == {"hostid": int.from_bytes(HOSTID_128, "little"), "exhid": True}


async def test_a_state_from_before_the_host_identifier_is_read_with_a_64_bit_zero(sim_dir: Path) -> None:
    async with drive() as dev:
        await ok(dev, register(1, 3, cptpl=R.CPTPL_SET))
    state = json.loads((sim_dir / "sim0.json").read_text())
    del state["host_identifier"], state["telemetry_generation"]
    state["schema"] = 6
    (sim_dir / "sim0.json").write_text(json.dumps(state))
    async with drive() as dev:
        assert await read_hostid(dev, exhid=False) == (0, bytes(8))
        assert (await report(dev, 1))["registrants"][0]["rkey"] == 3  # type: ignore[index]
    upgraded = json.loads((sim_dir / "sim0.json").read_text())
    assert upgraded["schema"] == 7 and upgraded["host_identifier"] == {"hostid": 0, "exhid": False}


# --- a damaged state is refused -------------------------------------------------------------------------


def records(*contents: dict[str, object]) -> Callable[[Path], None]:
    """Records with good CRCs and the given contents, a good record after them."""

    def damage(folder: Path) -> None:
        last = journal_lines(folder)[-1]
        with open(folder / "sim0.journal", "ab") as f:
            for content in contents:
                payload = json.dumps(content).encode()
                f.write(b"%08x %s\n" % (zlib.crc32(payload), payload))
            f.write(last)

    return damage


REGISTERED = {"keys": [[0, 5]], "rtype": 0, "holder": None, "gen": 1, "ptpl": False}
DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "host identifier missing": (in_state(put("host_identifier", DELETE)), "host_identifier is missing"),
    "host identifier not a mapping": (
        in_state(put("host_identifier", 5)),
        "host_identifier is not a mapping",
    ),
    "host identifier value missing": (
        in_state(put("host_identifier.hostid", DELETE)),
        "host_identifier.hostid is missing",
    ),
    "host identifier too wide for 64 bits": (
        in_state(put("host_identifier.hostid", 1 << 64)),
        "host_identifier.hostid = 18446744073709551616 is outside",
    ),
    "host identifier too wide for 128 bits": (
        in_state(put("host_identifier", {"hostid": 1 << 128, "exhid": True})),
        "host_identifier.hostid = 340282366920938463463374607431768211456 is outside",
    ),
    "host identifier a 128-bit zero": (
        in_state(put("host_identifier.exhid", True)),
        "host_identifier.hostid is 0, which no 128-bit host identifier is",
    ),
    "host identifier size not a flag": (
        in_state(put("host_identifier.exhid", 1)),
        "host_identifier.exhid is not true or false",
    ),
    "host identifier with a field it lacks": (
        in_state(put("host_identifier.nqn", "x")),
        "host_identifier.nqn is not a field of the host identifier",
    ),
    "registrant of another host identifier": (
        in_state(put("host_identifier.hostid", 9)),
        "reservations.1.keys[0][0] = 0x0 is not the host identifier 0x9",
    ),
    "journal host identifier record damaged": (
        records({"hid": {"hostid": -1, "exhid": False}}),
        "hid.hostid = -1 is outside",
    ),
    "journal host identifier changed under a registrant": (
        records({"rv": {"1": REGISTERED}}, {"hid": {"hostid": 5, "exhid": False}}),
        "hid changes the host identifier of a registrant",
    ),
    "journal registrant of another host identifier": (
        records({"hid": {"hostid": 5, "exhid": False}}, {"rv": {"1": REGISTERED}}),
        "rv.1.keys[0][0] = 0x0 is not the host identifier 0x5",
    ),
}


def registered_crashed_drive(tmp_path: Path) -> Path:
    """`crashed_drive`, with a registrant on namespace 1 (host identifier 0h) in its checkpoint."""
    drive_dir = crashed_drive(tmp_path)
    in_state(put("reservations.1", REGISTERED))(drive_dir)
    return drive_dir


@pytest.mark.parametrize("name", DAMAGE)
def test_a_damaged_host_identifier_is_refused_and_nothing_is_rewritten(name: str, tmp_path: Path) -> None:
    damage, says = DAMAGE[name]
    registered = name == "registrant of another host identifier"
    drive_dir = (registered_crashed_drive if registered else crashed_drive)(tmp_path)
    damage(drive_dir)
    before = fingerprint(drive_dir)
    with pytest.raises(StateDamaged) as exc:
        open_sim("sim0", directory=drive_dir)
    message = str(exc.value)
    assert says in message and "\n" not in message and "nvtui sim reset" in message
    assert fingerprint(drive_dir) == before


async def test_identify_says_a_128_bit_identifier_is_supported(sim_dir: Path) -> None:
    from nvtui.nvme.command import Command as Cmd

    async with open_sim("sim0") as dev:
        done = await dev.submit(Cmd(0x06, True, cdw10=0x01, data_len=4096))
        assert done.ok and done.data is not None
        assert int.from_bytes(done.data[96:100], "little") & 1  # CTRATT bit 0: EXHID is accepted
