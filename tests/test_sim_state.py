"""The simulated controller's state between runs: what it keeps, how a damaged state is refused (never
replaced by an empty drive), what is recovered with a notice, the names nvtui will not be redirected through,
the folders it refuses, and `nvtui sim reset`."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from fuzz.recording import run_cli
from simstates import older_state

from nvtui.backend.sim import open_sim, sim_controllers, state_dir
from nvtui.backend.sim.state import STATE_SCHEMA, StateDamaged, state_files
from nvtui.errors import DeviceError, UsageError
from nvtui.nvme.command import Command

NOBODY = 65534


def smart() -> Command:
    return Command(0x02, True, nsid=0xFFFF_FFFF, cdw10=0x02 | 127 << 16, data_len=512)


def counter(data: bytes | None, offset: int) -> int:
    assert data is not None
    return int.from_bytes(data[offset : offset + 16], "little")


def write(lba: int, data: bytes) -> Command:
    return Command(0x01, False, nsid=1, cdw10=lba, cdw12=len(data) // 512 - 1, data_len=len(data), data=data)


def read(lba: int) -> Command:
    return Command(0x02, False, nsid=1, cdw10=lba, data_len=512)


def append(data: bytes) -> Command:
    return Command(0x7D, False, nsid=2, cdw10=0, data_len=4096, data=data.ljust(4096, b"\0"))


def fingerprint(folder: Path) -> dict[str, str]:
    """Every file in the folder: its kind and content (a symlink: where it points)."""
    out = {}
    for path in sorted(folder.iterdir()):
        if path.is_symlink():
            out[path.name] = f"-> {os.readlink(path)}"
        elif path.is_file():
            out[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def crashed_drive(tmp_path: Path) -> Path:
    """A state folder as a kill -9 leaves it: copied while the controller is open, after commands that
    each left a record in the journal (data on sim0n1, appends on sim0n2, a saved feature)."""
    return asyncio.run(_crashed_drive(tmp_path))


async def _crashed_drive(tmp_path: Path) -> Path:
    live, copy = tmp_path / "live", tmp_path / "crashed"
    async with open_sim("sim0n1", directory=live) as ns, open_sim("sim0n2", directory=live) as zns:
        assert (await ns.submit(write(3, b"kept".ljust(512, b"\0")))).ok
        assert (await zns.submit(append(b"first"))).ok
        assert (await zns.submit(append(b"second"))).ok
        assert (await ns.submit(Command(0x09, True, cdw10=0x04 | 1 << 31, cdw11=330))).ok  # saved
        shutil.copytree(live, copy, symlinks=True)
    return copy


async def test_state_dir_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NVTUI_SIM_DIR", str(tmp_path / "x"))
    assert state_dir() == tmp_path / "x"
    monkeypatch.delenv("NVTUI_SIM_DIR")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert state_dir() == tmp_path / "state" / "nvtui" / "sim"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert state_dir() == tmp_path / "home" / ".local" / "state" / "nvtui" / "sim"


async def test_data_format_and_counters_survive_a_power_cycle(sim_dir: Path) -> None:
    data = bytes(range(256)) * 16
    async with open_sim("sim0n1") as ns:
        assert (await ns.submit(Command(0x80, True, nsid=1, cdw10=1))).ok  # 4 KiB blocks
        assert (await ns.submit(Command(0x01, False, nsid=1, cdw10=77, data_len=4096, data=data))).ok
        first = (await ns.submit(smart())).data
        assert ns.notice is None
    async with open_sim("sim0n1") as ns:
        r = await ns.submit(Command(0x02, False, nsid=1, cdw10=77, data_len=4096))
        assert r.ok and r.data == data
        idns = (await ns.submit(Command(0x06, True, nsid=1, data_len=4096))).data
        assert (
            idns is not None and idns[26] == 1 and int.from_bytes(idns[16:24], "little") == 1
        )  # FLBAS, NUSE
        again = (await ns.submit(smart())).data
        assert counter(again, 112) == counter(first, 112) + 1  # power cycles
        assert counter(again, 80) == counter(first, 80) == 1  # host write commands
        assert counter(again, 144) == 0  # unsafe shutdowns
    state = json.loads((sim_dir / "sim0.json").read_text())
    assert state["clean_shutdown"] is True and state["namespaces"]["1"]["format"] == 1


async def test_what_a_killed_process_acknowledged_is_all_there_and_counted_unsafe(tmp_path: Path) -> None:
    drive = await _crashed_drive(tmp_path)
    assert json.loads((drive / "sim0.json").read_text())["clean_shutdown"] is False
    async with open_sim("sim0n1", directory=drive) as ns, open_sim("sim0n2", directory=drive) as zns:
        assert ns.notice is None  # nothing was damaged: nothing to say
        assert (await ns.submit(read(3))).data == b"kept".ljust(512, b"\0")
        assert (await ns.submit(Command(0x0A, True, cdw10=0x04 | 2 << 8))).result == 330  # saved value
        assert (await ns.submit(Command(0x0A, True, cdw10=0x04))).result == 330  # in force after power-on
        assert (await zns.submit(append(b"third"))).result == 2  # after the two acknowledged appends
        assert counter((await ns.submit(smart())).data, 144) == 1  # an unsafe shutdown


async def test_a_second_open_in_the_same_process_shares_the_controller(sim_dir: Path) -> None:
    async with open_sim("sim0n1") as a, open_sim("sim0") as b:
        assert a.controller is b.controller
        await a.submit(Command(0x01, False, nsid=1, cdw10=3, data_len=512, data=b"shared".ljust(512, b"\0")))
        assert (await b.submit(Command(0x0A, True, cdw10=0x06))).ok
        async with open_sim("sim0n1") as c:
            r = await c.submit(Command(0x02, False, nsid=1, cdw10=3, data_len=512))
            assert r.data is not None and r.data.startswith(b"shared")
        assert (await a.submit(Command(0x02, False, nsid=1, cdw10=3, data_len=512))).ok  # still open


HOLD_FOLDER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
fcntl.flock(fd, fcntl.LOCK_EX)
print("holding", flush=True)
time.sleep(60)
"""


async def test_a_process_stuck_in_a_command_makes_others_wait_then_fail_naming_it(sim_dir: Path) -> None:
    async with open_sim("sim0n1", lock_timeout=0.3) as ns:
        stuck = subprocess.Popen(
            [sys.executable, "-c", HOLD_FOLDER, str(sim_dir)], stdout=subprocess.PIPE, text=True
        )
        try:
            assert stuck.stdout is not None and stuck.stdout.readline() == "holding\n"
            with pytest.raises(DeviceError, match=f"busy in process {stuck.pid} for 0.3 s") as exc:
                await ns.submit(read(0))
            assert "NVTUI_SIM_DIR" in str(exc.value) and "\n" not in str(exc.value)
        finally:
            stuck.kill()
            stuck.wait()
        assert (await ns.submit(read(0))).ok  # free again


# --- a damaged state is refused ------------------------------------------------------------------------


def in_state(change: Callable[[dict[str, object]], None]) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        state = json.loads((folder / "sim0.json").read_text())
        change(state)
        (folder / "sim0.json").write_text(json.dumps(state))

    return damage


def put(path: str, value: object) -> Callable[[dict[str, object]], None]:
    """Set a value in the state by a dotted path (list indexes as numbers)."""

    def change(state: dict[str, object]) -> None:
        *parents, last = path.split(".")
        node: object = state
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]  # type: ignore[index]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            assert isinstance(node, dict)
            if value is DELETE:
                del node[last]
            else:
                node[last] = value

    return change


DELETE = object()
ENTRY = {
    "error_count": 1,
    "sqid": 0,
    "cid": 1,
    "status_field": 4,
    "parm_error_location": 0,
    "lba": 0,
    "nsid": 1,
}


def journal_lines(folder: Path) -> list[bytes]:
    return (folder / "sim0.journal").read_bytes().splitlines(keepends=True)


def corrupt_middle_record(folder: Path) -> None:
    lines = journal_lines(folder)
    lines[1] = lines[1][:20] + b"X" + lines[1][21:]  # the first record, with good ones after it
    (folder / "sim0.journal").write_bytes(b"".join(lines))


def journal_header(text: bytes) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        lines = journal_lines(folder)
        (folder / "sim0.journal").write_bytes(text + b"".join(lines[1:]))

    return damage


def record(content: dict[str, object]) -> Callable[[Path], None]:
    """A record with a good CRC and the given content, with a good record after it."""

    def damage(folder: Path) -> None:
        payload = json.dumps(content).encode()
        with open(folder / "sim0.journal", "ab") as f:
            f.write(b"%08x %s\n" % (zlib.crc32(payload), payload))
            f.write(journal_lines(folder)[-1])

    return damage


CREATED = {"csi": 0, "size": 1 << 20, "attached": False, "uid": 5}  # a namespace Namespace Management made
FDP_EVENT = {
    "fdpet": 0, "piv": 1, "nsidv": 1, "lv": 1, "pid": 1, "timestamp": 5, "timestamp_origin": 0, "nsid": 1,
    "rgid": 0, "ruhid": 1,
}  # fmt: skip


FDP_CORE = {
    "enabled": True, "config": 0, "avail": [1] * 8, "hbmw": 0, "mbmw": 0, "mbe": 0, "enables": [9] * 4,
}  # fmt: skip


def garbage_record(folder: Path) -> None:
    """A record with a good CRC whose content is not what nvtui writes."""
    payload = json.dumps({"ns": {"2": {"z": [[0, 1, 99999999, 0]]}}}).encode()
    with open(folder / "sim0.journal", "ab") as f:
        f.write(b"%08x %s\n" % (zlib.crc32(payload), payload))
        f.write(journal_lines(folder)[-1])  # a good record after it


def garbage_reservation_record(folder: Path) -> None:
    """A reservation record with a good CRC and a type no reservation has."""
    state = {"keys": [[0, 5]], "rtype": 9, "holder": 0, "gen": 1, "ptpl": False}
    payload = json.dumps({"rv": {"1": state}}).encode()
    with open(folder / "sim0.journal", "ab") as f:
        f.write(b"%08x %s\n" % (zlib.crc32(payload), payload))
        f.write(journal_lines(folder)[-1])


def _kv_one_unit() -> str:
    """The Key Value namespace's allocation map with its first unit in use (and no value there)."""
    from nvtui.backend.sim.storage import Bitmap

    bits = Bitmap((256 << 20) // 4096)
    bits.set_range(0, 1, True)
    return bits.encode()


KV_ONE_UNIT = _kv_one_unit()


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "not JSON": (lambda f: (f / "sim0.json").write_text("{not json"), "not JSON"),
    "a list": (lambda f: (f / "sim0.json").write_text("[]"), "not a JSON object"),
    "unknown schema": (in_state(put("schema", 9)), "schema 9 is not one this nvtui reads"),
    "missing serial": (in_state(put("serial", DELETE)), "serial is missing"),
    "missing zones": (in_state(put("namespaces.2.zones", DELETE)), "namespaces.2.zones is missing"),
    "zone row too short": (
        in_state(put("namespaces.2.zones.zones.3", [1, 49152])),
        "namespaces.2.zones.zones[3] has 2 values, a zone needs 3",
    ),
    "unknown zone state": (in_state(put("namespaces.2.zones.zones.0", [5, 0, 0])), "0x5 is not a zone state"),
    "write pointer outside its zone": (
        in_state(put("namespaces.2.zones.zones.0", [4, 99_999_999, 0])),
        "outside the zone",
    ),
    "unknown LBA format": (
        in_state(put("namespaces.1.format", 7)),
        "namespaces.1.format = 7: no such LBA format",
    ),
    "saved feature that does not exist": (
        in_state(put("saved_features.zz", 1)),
        "'zz' is not a feature value",
    ),
    "saved feature with reserved bits": (
        in_state(put("saved_features.6", 0xFF)),
        "sets bits volatile-write-cache",
    ),
    "saved feature not a number": (
        in_state(put("saved_features.4/0/0", "hot")),
        "saved_features.4/0/0 is not an integer",
    ),
    "feature that cannot be saved": (
        in_state(put("saved_features.7", 1)),
        "number-of-queues cannot be saved",
    ),
    "bitmap not base64": (
        in_state(put("namespaces.1.allocated", "!!")),
        "namespaces.1.allocated is not base64",
    ),
    "bitmap not zlib": (
        in_state(put("namespaces.1.allocated", base64.b64encode(b"garbage").decode())),
        "namespaces.1.allocated is not zlib data",
    ),
    "bitmap of the wrong size": (
        in_state(put("namespaces.1.allocated", base64.b64encode(zlib.compress(bytes(10))).decode())),
        "does not hold 262144 bytes",
    ),
    "error log value too wide": (in_state(put("error_log", [{**ENTRY, "lba": 1 << 70}])), "error_log[0].lba"),
    "negative counter": (in_state(put("counters.power_cycles", -1)), "counters.power_cycles = -1 is outside"),
    "unknown counter": (in_state(put("counters.bogus", 1)), "counters.bogus is not a counter"),
    "firmware missing": (in_state(put("firmware", DELETE)), "firmware is missing"),
    "firmware in the read-only slot": (
        in_state(put("firmware.slots", {"1": "EVIL"})),
        "firmware.slots.1 is not a writable slot",
    ),
    "firmware revision not text": (
        in_state(put("firmware.slots", {"2": 7})),
        "firmware.slots.2 is not a revision",
    ),
    "firmware active slot empty": (
        in_state(put("firmware.active", 3)),
        "firmware.active is slot 3, which holds no",
    ),
    "firmware download not base64": (
        in_state(put("firmware.download", [[0, "!!"]])),
        "firmware.download[0][1] is not base64",
    ),
    "firmware download piece not whole granules": (
        in_state(put("firmware.download", [[0, base64.b64encode(b"x" * 100).decode()]])),
        "firmware.download[0] is not whole 4096-byte granules",
    ),
    "sanitize missing": (in_state(put("sanitize", DELETE)), "sanitize is missing"),
    "sanitize in progress without a start": (
        in_state(put("sanitize.status", 2)),
        "sanitize: status 2 does not agree with started",
    ),
    "sanitize lasting years": (in_state(put("sanitize.duration", 1e9)), "sanitize.duration = 1000000000.0"),
    "directives missing": (in_state(put("directives", DELETE)), "directives is missing"),
    "streams open while not enabled": (
        in_state(put("directives.1", {"enabled": False, "allocated": 0, "open": [3]})),
        "directives.1: streams allocated or open while Streams are not enabled",
    ),
    "streams on the zoned namespace": (
        in_state(put("directives.2", {"enabled": True, "allocated": 0, "open": []})),
        "directives.2 is not a namespace with Streams",
    ),
    "more streams allocated than the subsystem has": (
        in_state(put("directives.1", {"enabled": True, "allocated": 17, "open": []})),
        "directives.1.allocated = 17 is outside 0..16",
    ),
    "open streams out of order": (
        in_state(put("directives.1", {"enabled": True, "allocated": 0, "open": [5, 3]})),
        "directives.1.open is not a sorted list of distinct stream identifiers",
    ),
    "more streams open than allocated": (
        in_state(put("directives.1", {"enabled": True, "allocated": 1, "open": [1, 2]})),
        "directives.1: 2 streams open, more than the 1 allocated",
    ),
    "fdp missing": (in_state(put("fdp", DELETE)), "fdp is missing"),
    "fdp handle past its unit": (in_state(put("fdp.avail.2", 3 << 20)), "fdp.avail[2] = 3145728 is outside"),
    "fdp handle in a full unit": (in_state(put("fdp.avail.0", 0)), "fdp.avail[0] = 0 is outside 1.."),
    "fdp handles missing": (in_state(put("fdp.avail", [1, 2])), "fdp.avail has 2 reclaim unit handles"),
    "fdp media bytes below host bytes": (
        in_state(put("fdp.hbmw", 4096)),
        "fdp.mbmw = 0 is less than the host bytes written (4096)",
    ),
    "fdp erased bytes not whole units": (in_state(put("fdp.mbe", 512)), "fdp.mbe = 512 is not a whole"),
    "fdp enabled not a boolean": (in_state(put("fdp.enabled", 1)), "fdp.enabled is not true or false"),
    "fdp event enables unknown type": (in_state(put("fdp.enables.1", 16)), "fdp.enables[1] = 16 is outside"),
    "fdp event of a type never logged": (
        in_state(put("fdp.host_events", [{**FDP_EVENT, "fdpet": 0x80}])),
        "fdp.host_events[0].fdpet = 0x80 is not an event type",
    ),
    "fdp event field missing": (
        in_state(put("fdp.host_events", [{k: v for k, v in FDP_EVENT.items() if k != "pid"}])),
        "fdp.host_events[0].pid is missing",
    ),
    "fdp event of no handle": (
        in_state(put("fdp.host_events", [{**FDP_EVENT, "ruhid": 8}])),
        "fdp.host_events[0].ruhid = 8 is not a reclaim unit handle",
    ),
    "fdp unknown field": (in_state(put("fdp.spare", 1)), "fdp.spare is not a field of the FDP state"),
    "journal fdp record damaged": (
        record({"fdp": {**FDP_CORE, "avail": [0] * 8}}),
        "after byte 22: fdp.avail[0] = 0 is outside",
    ),
    "journal fdp record with events": (
        record({"fdp": {**FDP_CORE, "host_events": []}}),
        "fdp.host_events is not a field of the FDP state",
    ),
    "journal fdp event damaged": (record({"fdpe": [{**FDP_EVENT, "nsid": 9}]}), "fdpe[0].nsid = 9 is not a"),
    "namespace set missing": (in_state(put("namespace_set", DELETE)), "namespace_set is missing"),
    "namespace bigger than the capacity": (
        in_state(put("namespace_set.1.size", 5 << 30)),
        "namespace_set.1.size = 5368709120 is outside 1..4294967296",
    ),
    "namespaces together bigger than the capacity": (
        in_state(put("namespace_set.3", {**CREATED, "size": 3 << 30})),
        "namespace_set: the namespaces take 5,368,709,120 bytes, more than the capacity",
    ),
    "two namespaces with one NSID": (
        in_state(put("namespace_set.01", CREATED)),
        "namespace_set.01 is not a namespace identifier of this controller (1..8)",
    ),
    "namespace of an unknown command set": (
        in_state(put("namespace_set.2.csi", 3)),
        "namespace_set.2.csi = 3 is not a command set of this controller",
    ),
    "namespace past NN": (
        in_state(put("namespace_set.9", CREATED)),
        "namespace_set.9 is not a namespace identifier of this controller (1..8)",
    ),
    "zoned namespace not whole zones": (
        in_state(put("namespace_set.2.size", 1 << 20)),
        "namespace_set.2.size = 1048576 is not a whole number of zones",
    ),
    "allocated namespace without its blocks' state": (
        in_state(put("namespace_set.4", CREATED)),
        "namespaces.4 is missing",
    ),
    "blocks' state of a namespace not allocated": (
        in_state(put("namespace_set.2", DELETE)),
        "namespaces.2 is not a namespace of this controller",
    ),
    "journal namespace record damaged": (
        record({"nsm": {"1": {**CREATED, "csi": 7, "format": 0}}}),
        "after byte 22: nsm.1.csi = 7 is not a command set",
    ),
    "reservations missing": (in_state(put("reservations", DELETE)), "reservations is missing"),
    "reservations of a namespace missing": (
        in_state(put("reservations.2", DELETE)),
        "reservations.2 is missing",
    ),
    "reservations of a namespace the drive lacks": (
        in_state(put("reservations.4", {"keys": [], "rtype": 0, "holder": None, "gen": 0, "ptpl": False})),
        "reservations.4 is not a namespace",
    ),
    "reservation key zero": (in_state(put("reservations.1.keys", [[0, 0]])), "reservations.1.keys[0][1] = 0"),
    "reservation key too wide": (
        in_state(put("reservations.1.keys", [[0, 1 << 64]])),
        "reservations.1.keys[0][1] = 18446744073709551616 is outside",
    ),
    "registrant of a second host": (
        in_state(put("reservations.1.keys", [[7, 1]])),
        "reservations.1.keys[0][0] = 0x7 is not the host identifier 0x0",
    ),
    "registrant not a pair": (in_state(put("reservations.1.keys", [[0]])), "is not [host identifier, key]"),
    "reservation type unknown": (in_state(put("reservations.2.rtype", 7)), "reservations.2.rtype = 7"),
    "reservation held by no registrant": (
        in_state(put("reservations.2.rtype", 1)),
        "reservations.2.holder is not a registrant",
    ),
    "reservation holder without a reservation": (
        in_state(put("reservations.1.holder", 0)),
        "reservations.1.holder is set, while no reservation",
    ),
    "reservation generation too wide": (
        in_state(put("reservations.1.gen", 1 << 32)),
        "reservations.1.gen = 4294967296 is outside",
    ),
    "ptpl not a boolean": (
        in_state(put("reservations.1.ptpl", 1)),
        "reservations.1.ptpl is not true or false",
    ),
    "reservation state with a stray field": (
        in_state(put("reservations.1.owner", 1)),
        "reservations.1.owner is not a field of the reservation state",
    ),
    "journal reservation record nvtui never writes": (
        garbage_reservation_record,
        "after byte 22: rv.1.rtype = 9",
    ),
    "journal record corrupt in the middle": (corrupt_middle_record, "is corrupt, and good records follow it"),
    "journal record nvtui never writes": (garbage_record, "after byte 22: ns.2.z[0]: write pointer"),
    "journal of another generation": (
        journal_header(b"nvtui-sim-journal 1 99\n"),
        "generation 99 does not follow",
    ),
    "journal header garbage": (journal_header(b"hello\n"), "not an nvtui-sim-journal header"),
    "state missing beside data": (lambda f: (f / "sim0.json").unlink(), "missing, while sim0n1.img"),
    "KV key not hex": (
        in_state(put("namespaces.3.kv.zz", [0, 1, 0])),
        "namespaces.3.kv.zz is not a key in hex",
    ),
    "KV key too long": (
        in_state(put("namespaces.3.kv." + "ab" * 17, [0, 1, 0])),
        "is not a key of 1 to 16 bytes in lowercase hex",
    ),
    "KV value in free units": (
        in_state(put("namespaces.3.kv.6b", [0, 10, 0])),
        "namespaces.3.kv.6b lies in units the allocation map says are free",
    ),
    "KV value larger than any": (
        in_state(put("namespaces.3.kv.6b", [0, 999_999_999, 0])),
        "namespaces.3.kv.6b[1] = 999999999 is outside 0..524288",
    ),
    "KV value past the namespace": (
        in_state(put("namespaces.3.kv.6b", [65536, 1, 0])),
        "namespaces.3.kv.6b[0] = 65536 is outside 0..65535",
    ),
    "KV units no value takes": (
        in_state(put("namespaces.3.allocated", KV_ONE_UNIT)),
        "namespaces.3.kv: values take 0 storage units, the allocation map says 1",
    ),
    "KV index missing": (in_state(put("namespaces.3.kv", DELETE)), "namespaces.3.kv is missing"),
    "keys of an NVM namespace": (
        in_state(put("namespaces.1.kv", {})),
        "namespaces.1 has keys, but the namespace is not a Key Value namespace",
    ),
    "KV record deleting an absent key": (
        record({"ns": {"3": {"kv": {"6b": None}}}}),
        "deletes a key the namespace does not hold",
    ),
    "KV record on an NVM namespace": (
        record({"ns": {"1": {"kv": {"6b": [0, 1, 0]}}}}),
        "changes keys of a namespace that is not a Key Value namespace",
    ),
    "journal missing after a crash": (
        lambda f: (f / "sim0.journal").unlink(),
        "sim0.journal is damaged: it is missing",
    ),
}


@pytest.mark.parametrize("name", DAMAGE)
def test_a_damaged_state_is_refused_with_one_line_that_names_it_and_the_way_out(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drive = crashed_drive(tmp_path)
    damage, says = DAMAGE[name]
    damage(drive)
    before = fingerprint(drive)
    with pytest.raises(StateDamaged) as exc:
        open_sim("sim0n1", directory=drive)
    message = str(exc.value)
    assert says in message and "\n" not in message
    assert "nvtui sim reset" in message and f"move {drive} away" in message
    monkeypatch.setenv("NVTUI_SIM_DIR", str(drive))
    done = run_cli(["send", "sim0n1", "read", "slba=3", "nlb=1"])
    assert done.raised is None and done.code == 3 and "internal error" not in done.err
    assert done.err.startswith("nvtui: the simulator's state") and says in done.err
    listed = run_cli(["list"])
    assert listed.code == 0 and "sim0n1" in listed.out  # discovery reads the state too, and does not fail
    if name in ("not JSON", "a list", "unknown schema"):  # what discovery checks itself
        assert "damaged" in listed.out
    assert fingerprint(drive) == before  # nothing was rewritten, nothing erased


async def test_a_state_from_before_firmware_and_sanitize_is_read_as_a_factory_drive(sim_dir: Path) -> None:
    async with open_sim("sim0n1") as ns:
        assert (await ns.submit(write(5, b"two".ljust(512, b"\0")))).ok
    state = json.loads((sim_dir / "sim0.json").read_text())
    del state["firmware"], state["directives"]
    older_state(state, 2)
    (sim_dir / "sim0.json").write_text(json.dumps(state))
    async with open_sim("sim0n1") as ns:
        assert (await ns.submit(read(5))).data == b"two".ljust(512, b"\0")
    upgraded = json.loads((sim_dir / "sim0.json").read_text())
    assert upgraded["schema"] == STATE_SCHEMA
    assert upgraded["directives"] == {"1": {"enabled": False, "allocated": 0, "open": []}}
    assert upgraded["firmware"] == {"slots": {}, "active": 1, "next": None, "running": None, "download": []}
    assert upgraded["sanitize"] == {
        "status": 0,
        "scdw10": 0,
        "writes_at": 0,
        "started": None,
        "duration": 0.0,
    }


async def test_a_state_from_before_fdp_is_read_with_the_factory_fdp_state(sim_dir: Path) -> None:
    from nvtui.backend.sim.fdp import Fdp

    async with open_sim("sim0n1") as ns:
        assert (await ns.submit(write(5, b"three".ljust(512, b"\0")))).ok  # through placement handle 0
    state = json.loads((sim_dir / "sim0.json").read_text())
    assert state["fdp"]["hbmw"] == 512
    del state["fdp"]
    older_state(state, 3)
    (sim_dir / "sim0.json").write_text(json.dumps(state))
    async with open_sim("sim0n1") as ns:
        assert (await ns.submit(read(5))).data == b"three".ljust(512, b"\0")
    upgraded = json.loads((sim_dir / "sim0.json").read_text())
    assert upgraded["schema"] == STATE_SCHEMA and upgraded["fdp"] == Fdp().to_json()


async def test_a_state_from_before_reservations_is_read_with_none(sim_dir: Path) -> None:
    async with open_sim("sim0n1") as ns:
        assert (await ns.submit(write(5, b"three".ljust(512, b"\0")))).ok
    state = json.loads((sim_dir / "sim0.json").read_text())
    older_state(state, 3)
    del state["reservations"]
    (sim_dir / "sim0.json").write_text(json.dumps(state))
    async with open_sim("sim0n1") as ns:
        assert (await ns.submit(read(5))).data == b"three".ljust(512, b"\0")
        report = await ns.submit(Command(0x0E, False, nsid=1, cdw10=15, data_len=64))
        assert report.ok and report.data == bytes(64)  # GEN 0, no reservation, no registrant, PTPLS 0
    upgraded = json.loads((sim_dir / "sim0.json").read_text())
    assert upgraded["schema"] == STATE_SCHEMA
    none = {"keys": [], "rtype": 0, "holder": None, "gen": 0, "ptpl": False}
    assert upgraded["reservations"] == {"1": none, "2": none}


async def test_recoverable_leftovers_are_recovered_with_a_notice(tmp_path: Path) -> None:
    drive = await _crashed_drive(tmp_path)
    (drive / ".sim0.json.k2j4h1.tmp").write_text('{"half": ')  # an interrupted checkpoint's temporary
    (drive / "sim0.json.tmp").write_text("{")  # the temporary of versions before the journal
    with open(drive / "sim0.journal", "ab") as f:
        f.write(b'1234abcd {"c":{"power_cy')  # a record cut off by the crash
    async with open_sim("sim0n1", directory=drive) as ns:
        notice = ns.notice
        assert notice is not None and "\n" not in notice
        assert "dropped the last record" in notice and "never acknowledged" in notice
        assert ".sim0.json.k2j4h1.tmp" in notice and "sim0.json.tmp" in notice
        assert ns.notice is None  # said once
        assert (await ns.submit(read(3))).data == b"kept".ljust(512, b"\0")
    assert not list(drive.glob("*.tmp")) and not list(drive.glob(".*.tmp"))


async def test_a_checkpoint_cut_off_before_its_journal_is_finished(sim_dir: Path) -> None:
    async with open_sim("sim0n1") as ns:
        assert (await ns.submit(write(9, b"nine".ljust(512, b"\0")))).ok
    state = json.loads((sim_dir / "sim0.json").read_text())
    state["generation"] += 1  # the new state was written; the crash came before its new journal
    (sim_dir / "sim0.json").write_text(json.dumps(state))
    async with open_sim("sim0n1") as ns:
        notice = ns.notice
        assert notice is not None and "finished a checkpoint" in notice
        assert (await ns.submit(read(9))).data == b"nine".ljust(512, b"\0")


async def test_missing_state_starts_quietly(sim_dir: Path) -> None:
    async with open_sim("sim0") as ctrl:
        assert ctrl.notice is None
    assert (sim_dir / "sim0.json").exists()


async def test_unclean_shutdown_is_counted(sim_dir: Path) -> None:
    async with open_sim("sim0"):
        pass
    state = json.loads((sim_dir / "sim0.json").read_text())
    state["clean_shutdown"] = False  # as a killed process leaves it
    (sim_dir / "sim0.json").write_text(json.dumps(state))
    async with open_sim("sim0") as ctrl:
        assert counter((await ctrl.submit(smart())).data, 144) == 1


async def test_a_state_from_before_the_journal_is_read_and_upgraded(sim_dir: Path) -> None:
    async with open_sim("sim0n1") as ns:
        assert (await ns.submit(write(5, b"old".ljust(512, b"\0")))).ok
    state = json.loads((sim_dir / "sim0.json").read_text())
    kept = ("controller", "serial", "clean_shutdown", "counters", "saved_features", "error_log",
            "self_test_log", "changed_namespaces", "namespaces")  # fmt: skip
    old = {k: v for k, v in older_state(state, 1).items() if k in kept}
    old.update(schema=1, self_test_running=None)
    (sim_dir / "sim0.json").write_text(json.dumps(old))
    (sim_dir / "sim0.journal").unlink()
    async with open_sim("sim0n1") as ns:
        assert (await ns.submit(read(5))).data == b"old".ljust(512, b"\0")
    assert json.loads((sim_dir / "sim0.json").read_text())["schema"] == STATE_SCHEMA


async def test_state_files_are_private_and_saved_atomically(sim_dir: Path) -> None:
    async with open_sim("sim0n1") as ns:
        await ns.submit(write(0, bytes(512)))
    assert not list(sim_dir.glob("*.tmp")) and not list(sim_dir.glob(".*.tmp"))
    json.loads((sim_dir / "sim0.json").read_text())
    assert stat.S_IMODE(sim_dir.stat().st_mode) == 0o700
    for name in state_files():
        assert stat.S_IMODE((sim_dir / name).stat().st_mode) == 0o600, name


async def test_sim_controllers_reports_current_formats(sim_dir: Path) -> None:
    (info,) = sim_controllers()
    assert info.simulated and info.transport == "sim" and info.char_dev is None and info.accessible
    assert [n.name for n in info.namespaces] == ["sim0n1", "sim0n2", "sim0n3"]
    assert info.namespaces[0].lba_size == 512 and info.namespaces[1].zoned
    assert [n.command_set for n in info.namespaces] == ["nvm", "zns", "kv"]
    async with open_sim("sim0") as ctrl:
        await ctrl.submit(Command(0x80, True, nsid=1, cdw10=2))
        (live,) = sim_controllers()
        assert live.serial == ctrl.controller.serial
        assert (live.namespaces[0].lba_size, live.namespaces[0].metadata_size) == (512, 8)
    (saved,) = sim_controllers()
    assert saved.namespaces[0].metadata_size == 8 and saved.model == "nvtui simulated NVMe controller"


async def test_closed_backend_refuses_commands(sim_dir: Path) -> None:
    ctrl = open_sim("sim0")
    await ctrl.close()
    with pytest.raises(DeviceError, match="closed"):
        await ctrl.submit(Command(0x06, True, cdw10=1, data_len=4096))


# --- files and folders nvtui is not redirected through ---------------------------------------------------

NAMES = [*state_files()]


@pytest.mark.parametrize("fresh", [True, False], ids=["new folder", "existing drive"])
@pytest.mark.parametrize("name", NAMES)
async def test_a_symlink_planted_at_a_state_file_is_never_written_through(
    name: str, fresh: bool, tmp_path: Path
) -> None:
    drive = tmp_path / "sim"
    if fresh:
        drive.mkdir(mode=0o700)
    else:
        async with open_sim("sim0n1", directory=drive) as ns:
            await ns.submit(write(0, b"data".ljust(512, b"\0")))
        (drive / name).unlink()
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious\n")
    (drive / name).symlink_to(victim)
    with pytest.raises(DeviceError) as exc:
        open_sim("sim0n1", directory=drive)
    assert "symbolic link" in str(exc.value) and "\n" not in str(exc.value)
    assert victim.read_bytes() == b"precious\n" and (drive / name).is_symlink()


@pytest.mark.parametrize("name", [".sim0.json.abc123.tmp", ".sim0.journal.x9.tmp", "sim0.json.tmp"])
async def test_a_symlink_planted_at_a_temporary_name_is_removed_not_followed(
    name: str, tmp_path: Path
) -> None:
    drive = tmp_path / "sim"
    drive.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious\n")
    (drive / name).symlink_to(victim)
    async with open_sim("sim0n1", directory=drive) as ns:
        assert (await ns.submit(write(0, bytes(512)))).ok
    assert victim.read_bytes() == b"precious\n" and not os.path.lexists(drive / name)


def other_users_folder(path: Path) -> Path:
    path.mkdir(mode=0o700)
    os.chown(path, NOBODY, NOBODY)
    return path


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda p: (p.mkdir(), p.chmod(0o777), p)[2], "group or others can write to it"),
        (lambda p: (p.mkdir(), p.chmod(0o1777), p)[2], "group or others can write to it"),
        (other_users_folder, f"it belongs to uid {NOBODY}"),
        (
            lambda p: ((p.parent / "real").mkdir(mode=0o700), p.symlink_to(p.parent / "real"), p)[2],
            "symbolic link",
        ),
    ],
    ids=["shared 0777", "sticky 1777", "another user's", "a symlink"],
)
def test_a_state_folder_others_could_write_is_refused(
    make: Callable[[Path], Path], says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if os.geteuid() != 0 and "belongs" in says:
        pytest.skip("making a folder another user's needs root")
    folder = make(tmp_path / "sim")
    with pytest.raises(UsageError, match=says):
        open_sim("sim0n1", directory=folder)
    assert not [p for p in folder.iterdir() if p.name.startswith("sim0")]  # nothing was created there
    monkeypatch.setenv("NVTUI_SIM_DIR", str(folder))
    done = run_cli(["send", "sim0n1", "read", "slba=0", "nlb=1"])
    assert done.code == 2 and says in done.err and "\n" not in done.err.strip()
    (info,) = sim_controllers()
    assert not info.accessible and info.access_error is not None and says in info.access_error


# --- nvtui sim reset --------------------------------------------------------------------------------------


def test_sim_reset_erases_only_the_simulators_files_and_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drive = crashed_drive(tmp_path)
    DAMAGE["zone row too short"][0](drive)
    (drive / "notes.txt").write_text("mine")
    (drive / ".sim0.json.abc.tmp").write_text("{")
    monkeypatch.setenv("NVTUI_SIM_DIR", str(drive))
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    refused = run_cli(["sim", "reset"])
    assert refused.code == 2 and "pass --yes" in refused.err and "move the folder away" in refused.err
    assert (drive / "sim0.json").exists()
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    assert run_cli(["sim", "reset"]).out.strip() == "nothing removed"
    assert (drive / "sim0n1.img").exists()
    monkeypatch.setattr("builtins.input", lambda prompt: "yes")
    done = run_cli(["sim", "reset"])
    assert done.code == 0 and "sim0n1.img" in done.out and ".sim0.json.abc.tmp" in done.out
    assert sorted(p.name for p in drive.iterdir()) == ["notes.txt"]

    async def empty() -> None:  # an empty drive, made deliberately
        async with open_sim("sim0n1", directory=drive) as ns:
            assert ns.notice is None and (await ns.submit(read(3))).data == bytes(512)

    asyncio.run(empty())


async def test_sim_reset_removes_a_planted_symlink_not_what_it_points_to(tmp_path: Path) -> None:
    drive = tmp_path / "sim"
    drive.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious\n")
    (drive / "sim0.json").symlink_to(victim)
    (drive / "sim0.lock").symlink_to(victim)
    from nvtui.backend.sim.state import reset

    assert reset(drive) == ["sim0.json", "sim0.lock"]
    assert victim.read_bytes() == b"precious\n" and not list(drive.iterdir())


def test_sim_reset_is_refused_while_a_process_has_the_drive_open(
    sim_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    holder = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("simprocs.py")), "shell"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdin is not None and holder.stdout is not None
        assert "ready" in holder.stdout.readline()
        holder.stdin.write(
            json.dumps({"id": 1, "op": "submit", "device": "sim0", "cmd": {"opcode": 0x18, "admin": True}})
            + "\n"
        )
        holder.stdin.flush()
        assert json.loads(holder.stdout.readline())["ok"]
        done = run_cli(["sim", "reset", "--yes"])
        assert done.code == 3 and f"open in process {holder.pid}" in done.err
        assert (sim_dir / "sim0.json").exists()
    finally:
        holder.kill()
        holder.wait()
    assert run_cli(["sim", "reset", "--yes"]).code == 0
    assert not (sim_dir / "sim0.json").exists()


async def test_files_an_older_nvtui_made_readable_to_others_become_private(sim_dir: Path) -> None:
    async with open_sim("sim0n1") as ns:
        await ns.submit(write(0, b"mine".ljust(512, b"\0")))
    for name in ("sim0n1.img", "sim0n1.meta", "sim0.lock"):
        (sim_dir / name).chmod(0o644)  # as versions before this one created them
    async with open_sim("sim0n1") as ns:
        assert (await ns.submit(read(0))).data == b"mine".ljust(512, b"\0")
    for name in state_files():
        assert stat.S_IMODE((sim_dir / name).stat().st_mode) == 0o600, name
