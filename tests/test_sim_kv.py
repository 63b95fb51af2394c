"""The Key Value namespace of the simulated controller (sim0n3, CSI 01h; KV Command Set 1.0): Store,
Retrieve, Delete, Exist and List with their statuses, the KV Identify structures, values kept across restarts
and a kill -9, a value the image no longer holds (Unrecovered Error), Format NVM, a KV namespace created by
Namespace Management, the state checks, the CLI round trip of the issue and the Devices screen."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from pathlib import Path

import pytest
from fuzz.recording import run_cli
from simprocs import run_killed_after
from test_sim_namespaces import ok, status

from nvtui.backend.sim import SimBackend, open_sim, sim_controllers
from nvtui.backend.sim.controller import SimController
from nvtui.backend.sim.specs import KV_MAX_VALUE
from nvtui.backend.sim.state import STATE_SCHEMA
from nvtui.nvme.command import Command
from nvtui.structures import decode

ROOT = Path(__file__).resolve().parent.parent
KV_NSID = 3


def keyed(opcode: int, key: bytes, *, cdw10: int = 0, options: int = 0, kl: int | None = None,
          data: bytes | None = None, data_len: int = 0, nsid: int = KV_NSID) -> Command:  # fmt: skip
    """A KV command: the key in CDW2, CDW3, CDW14, CDW15 (byte 0 in CDW2 7:0), KL in CDW11 7:0."""
    packed = int.from_bytes(key.ljust(16, b"\0"), "little")
    d = [packed >> (32 * i) & 0xFFFF_FFFF for i in range(4)]
    return Command(
        opcode, False, nsid=nsid, cdw2=d[0], cdw3=d[1], cdw14=d[2], cdw15=d[3], cdw10=cdw10,
        cdw11=(len(key) if kl is None else kl) | options << 8, data=data, data_len=data_len,
    )  # fmt: skip


def store(key: bytes, value: bytes, options: int = 0, **kw: int) -> Command:
    return keyed(0x01, key, cdw10=len(value), options=options, data=value, data_len=len(value), **kw)


def retrieve(key: bytes, size: int = 4096, **kw: int) -> Command:
    return keyed(0x02, key, cdw10=size, data_len=size, **kw)


def listing(start: bytes = b"", size: int = 4096) -> Command:
    return keyed(0x06, start, cdw10=size, data_len=size)


def delete(key: bytes) -> Command:
    return keyed(0x10, key)


def exist(key: bytes) -> Command:
    return keyed(0x14, key)


def identify(cns: int, nsid: int = 0, csi: int = 0) -> Command:
    return Command(0x06, True, nsid=nsid, cdw10=cns, cdw11=csi << 24, data_len=4096)


def keys_listed(data: bytes) -> list[bytes]:
    listed = decode("kv-list-data", data).to_json()
    assert isinstance(listed, dict)
    return [bytes.fromhex(str(k["key"])) for k in listed["keys"]]  # type: ignore[index, union-attr]


async def test_store_retrieve_delete_exist_and_their_statuses(sim_dir: Path) -> None:
    async with open_sim("sim0n3") as kv:
        await ok(kv, store(b"user42", b"hello value"))
        size, data = await ok(kv, retrieve(b"user42"))
        assert size == 11 and data[:11] == b"hello value" and data[11:] == bytes(4085)
        size, data = await ok(kv, retrieve(b"user42", size=5))  # a short buffer takes the value's start
        assert size == 11 and data == b"hello"
        await ok(kv, exist(b"user42"))
        assert await status(kv, exist(b"user43")) == "KV Key Does Not Exist"
        assert await status(kv, retrieve(b"user43")) == "KV Key Does Not Exist"
        assert await status(kv, store(b"user42", b"x", options=0b10)) == "Key Exists"  # must not exist
        assert await status(kv, store(b"new", b"x", options=0b01)) == "KV Key Does Not Exist"  # must exist
        await ok(kv, store(b"user42", b"replaced", options=0b01))
        assert (await ok(kv, retrieve(b"user42")))[1][:8] == b"replaced"
        assert await status(kv, store(b"k", b"x", options=0b11)) == "Invalid Field in Command"  # both
        assert await status(kv, store(b"k", b"x", options=0b100)) == "Invalid Field in Command"  # compress
        assert await status(kv, store(b"k", b"x", kl=0)) == "Invalid Key Size"
        assert await status(kv, store(b"k", b"x", kl=17)) == "Invalid Key Size"
        big = keyed(0x01, b"k", cdw10=KV_MAX_VALUE + 1, data=b"x", data_len=1)
        assert await status(kv, big) == "Invalid Value Size"
        short = keyed(0x01, b"k", cdw10=100, data=b"x" * 10, data_len=10)
        assert await status(kv, short) == "Data SGL Length Invalid"
        assert await status(kv, keyed(0x02, b"user42", options=0x80, cdw10=16, data_len=16)) == (
            "Invalid Field in Command"
        )  # a retrieve option this controller does not have
        await ok(kv, store(b"empty", b""))  # a zero-length value takes no storage
        assert await ok(kv, retrieve(b"empty", size=16)) == (0, bytes(16))  # DW0 0: nothing of the buffer
        await ok(kv, delete(b"user42"))
        assert await status(kv, exist(b"user42")) == "KV Key Does Not Exist"
        assert await status(kv, delete(b"user42")) == "KV Key Does Not Exist"
        # The NVM command set's opcodes that the KV set lacks are not commands here
        assert await status(kv, Command(0x05, False, nsid=KV_NSID, data_len=512)) == "Invalid Command Opcode"
    async with open_sim("sim0n1") as nvm:  # nor are KV commands on an NVM namespace
        assert await status(nvm, Command(0x14, False, nsid=1, cdw11=1)) == "Invalid Command Opcode"


async def test_list_returns_keys_in_byte_order_from_the_key_given_as_far_as_the_buffer_goes(
    sim_dir: Path,
) -> None:
    keys = [b"b", b"a", b"\x00\x01", b"user42", b"z" * 16, b"ab"]
    async with open_sim("sim0n3") as kv:
        for key in keys:
            await ok(kv, store(key, key * 3))
        count, data = await ok(kv, listing())
        assert count == 6 and keys_listed(data) == sorted(keys)  # KL 0: from the first key
        count, data = await ok(kv, listing(b"ab"))
        assert keys_listed(data) == [b"ab", b"b", b"user42", b"z" * 16] and count == 4
        count, data = await ok(kv, listing(b"aa"))  # not a key: from the next one on
        assert keys_listed(data)[0] == b"ab"
        # Header 4 bytes, each entry 2 + KL padded to a dword: 4 + 4 + 4 = 12 bytes hold two 1-2 byte keys
        count, data = await ok(kv, listing(b"", size=12))
        assert count == 2 and keys_listed(data) == [b"\x00\x01", b"a"]
        assert await status(kv, listing(b"", size=2)) == "Invalid Field in Command"


async def test_values_take_storage_units_an_overwrite_and_a_delete_give_them_back(sim_dir: Path) -> None:
    async def nuse(dev: SimBackend) -> int:
        _, data = await ok(dev, identify(0x05, KV_NSID, csi=1))
        return int.from_bytes(data[16:24], "little")

    async with open_sim("sim0") as ctrl, open_sim("sim0n3") as kv:
        assert await nuse(ctrl) == 0
        await ok(kv, store(b"a", bytes(5000)))  # two 4 KiB units
        assert await nuse(ctrl) == 8192
        await ok(kv, store(b"a", bytes(100)))  # replaced: one unit, the two old ones freed
        assert await nuse(ctrl) == 4096
        await ok(kv, delete(b"a"))
        assert await nuse(ctrl) == 0


async def test_the_kv_identify_structures(sim_dir: Path) -> None:
    async with open_sim("sim0") as ctrl:
        assert await status(ctrl, identify(0x00, KV_NSID)) == "Invalid I/O Command Set"
        _, data = await ok(ctrl, identify(0x05, KV_NSID, csi=1))
        ns = decode("identify-ns-kv", data).to_json()
        assert ns["nsze"] == 256 << 20 and ns["nkvf"] == 0
        assert ns["kvf"] == [{"kml": 16, "vml": KV_MAX_VALUE, "mnk": 65536}]
        assert await status(ctrl, identify(0x05, KV_NSID, csi=0)) == "Invalid Field in Command"
        assert await status(ctrl, identify(0x05, 1, csi=1)) == "Invalid Field in Command"
        _, data = await ok(ctrl, identify(0x03, KV_NSID))  # the descriptor list names the KV set
        descriptors = decode("namespace-descriptor-list", data).to_json()["descriptors"]
        assert {"nidt": 4, "nidl": 1, "nid": "01"} in descriptors  # type: ignore[operator]
        _, data = await ok(ctrl, identify(0x07, 0, csi=1))  # active namespaces of the KV set
        assert int.from_bytes(data[0:4], "little") == KV_NSID and data[4:8] == bytes(4)
        _, data = await ok(ctrl, identify(0x1C))
        assert data[0] == 0b111  # NVM, KV and Zoned in the one command set combination
        log = Command(0x02, True, cdw10=0x05 | 1023 << 16, cdw14=1 << 24, data_len=4096)
        _, data = await ok(ctrl, log)  # Commands Supported and Effects, KV set: its opcodes, LBCC on two
        io = [int.from_bytes(data[1024 + 4 * op : 1028 + 4 * op], "little") for op in range(256)]
        assert {op for op in range(256) if io[op] & 1} == {0x00, 0x01, 0x02, 0x06, 0x0D, 0x0E, 0x10, 0x11,
                                                           0x14, 0x15}  # fmt: skip
        assert io[0x01] & 2 and io[0x10] & 2 and not io[0x02] & 2


async def test_values_survive_a_restart_and_a_format_erases_them(sim_dir: Path) -> None:
    async with open_sim("sim0n3") as kv:
        await ok(kv, store(b"kept", b"across power cycles"))
    async with open_sim("sim0n3") as kv:  # the last process closed it: this is a power cycle
        assert (await ok(kv, retrieve(b"kept")))[1][:19] == b"across power cycles"
    async with open_sim("sim0") as ctrl:
        await ok(ctrl, Command(0x80, True, nsid=KV_NSID, cdw10=0))  # Format NVM: every key erased
        async with open_sim("sim0n3") as kv:
            assert await status(kv, exist(b"kept")) == "KV Key Does Not Exist"
            await ok(kv, store(b"after", b"format"))
    async with open_sim("sim0n3") as kv:
        assert await status(kv, exist(b"kept")) == "KV Key Does Not Exist"
        await ok(kv, exist(b"after"))


async def test_a_value_its_storage_no_longer_holds_is_an_unrecovered_error(sim_dir: Path) -> None:
    async with open_sim("sim0n3") as kv:
        await ok(kv, store(b"k", b"precious bytes"))
    image = sim_dir / "sim0n3.img"
    raw = bytearray(image.read_bytes())
    at = raw.index(b"precious")
    raw[at] ^= 0xFF  # what worn media or a stray write does
    image.write_bytes(bytes(raw))
    async with open_sim("sim0n3") as kv:
        assert await status(kv, retrieve(b"k")) == "Unrecovered Error"
        await ok(kv, exist(b"k"))  # the key is there; its value cannot be read
        await ok(kv, store(b"k", b"fresh"))  # a new value replaces it
        assert (await ok(kv, retrieve(b"k")))[1][:5] == b"fresh"
    async with open_sim("sim0") as ctrl:
        smart = Command(0x02, True, nsid=0xFFFF_FFFF, cdw10=0x02 | 127 << 16, data_len=512)
        _, data = await ok(ctrl, smart)
        assert int.from_bytes(data[160:176], "little") == 1  # Media and Data Integrity Errors


async def test_namespace_management_creates_a_kv_namespace(sim_dir: Path) -> None:
    buf = bytearray(4096)
    buf[0:8] = (16384).to_bytes(8, "little")  # NSZE in bytes: four 4 KiB units
    create = Command(0x0D, True, cdw11=1 << 24, data=bytes(buf), data_len=4096)
    ids = (1).to_bytes(2, "little") + (1).to_bytes(2, "little")
    async with open_sim("sim0") as ctrl:
        odd = bytearray(buf)
        odd[0:8] = (5000).to_bytes(8, "little")
        bad = Command(0x0D, True, cdw11=1 << 24, data=bytes(odd), data_len=4096)
        assert await status(ctrl, bad) == "Invalid Field in Command"  # not a whole number of units
        nsid, _ = await ok(ctrl, create)
        assert nsid == 4
        await ok(ctrl, Command(0x15, True, nsid=4, data=ids.ljust(4096, b"\0"), data_len=4096))
    async with open_sim("sim0n4") as kv:
        for key in (b"1", b"2"):
            await ok(kv, keyed(0x01, key, cdw10=8192, data=bytes(8192), data_len=8192, nsid=4))
        c = await kv.submit(keyed(0x01, b"3", cdw10=1, data=b"x", data_len=1, nsid=4))
        assert c.status.name == "Capacity Exceeded"  # four units, all taken
        await ok(kv, keyed(0x10, b"1", nsid=4))
        await ok(kv, keyed(0x01, b"3", cdw10=1, data=b"x", data_len=1, nsid=4))
    names = [ns.name for ns in sim_controllers(sim_dir)[0].namespaces]
    kinds = {ns.name: ns.command_set for ns in sim_controllers(sim_dir)[0].namespaces}
    assert names == ["sim0n1", "sim0n2", "sim0n3", "sim0n4"] and kinds["sim0n4"] == "kv"


def test_the_issue_round_trip_through_the_cli(sim_dir: Path, tmp_path: Path) -> None:
    value = tmp_path / "v.bin"
    value.write_bytes(os.urandom(6000))
    back = tmp_path / "back.bin"
    listed = run_cli(["list"])
    assert listed.code == 0 and "sim0n3  nsid 3  0.25 GiB  key-value  (simulated)" in listed.out
    put = run_cli(
        ["send", "sim0n3", "kv-store", "key=user42", "--data-in", str(value), "--allow-destructive"]
    )
    assert put.code == 0 and "Successful Completion" in put.out, put.err
    got = run_cli(["send", "sim0n3", "kv-retrieve", "key=user42", "hbs=8192", "--data-out", str(back)])
    assert got.code == 0 and "result  0x1770" in got.out, got.err  # DW0: the value's 6000 bytes
    assert back.read_bytes() == value.read_bytes()  # the value, not the 8 KiB buffer
    run_cli(["send", "sim0n3", "kv-store", "key=0x0001ff", "--data-in", str(value), "--allow-destructive"])
    keys = run_cli(["send", "sim0n3", "kv-list", "--json"])
    assert keys.code == 0, keys.err
    decoded = json.loads(keys.out)["decoded"]
    assert [k["key"] for k in decoded["keys"]] == ["0001ff", "757365723432"]
    shown = run_cli(["send", "sim0n3", "kv-list"])
    assert "user42" in shown.out and "0x0001ff" in shown.out  # each key as it is typed
    gone = run_cli(["send", "sim0n3", "kv-delete", "key=user42", "--allow-destructive"])
    assert gone.code == 0, gone.err
    missing = run_cli(["send", "sim0n3", "kv-exist", "key=user42"])
    assert missing.raised is None and missing.code == 1 and "KV Key Does Not Exist" in missing.out
    refused = run_cli(["send", "sim0n3", "write", "slba=0", "nlb=1", "--data-in", str(value),
                       "--allow-destructive"])  # fmt: skip
    assert refused.code == 2 and "where opcode 0x01 is kv-store: not sent" in refused.err
    ctrl = SimController(sim_dir)
    try:  # the one error the controller logged is the Exist's: no Identify was refused on the way
        assert [e["status_field"] >> 1 & 0xFF for e in ctrl.error_log] == [0x87]
    finally:
        ctrl.shutdown()


def test_a_store_acknowledged_before_a_kill_9_is_kept_whole(sim_dir: Path) -> None:
    """A script stores a value under one key again and again, each acknowledged, and is killed -9 in the
    middle: the key holds the last acknowledged value or the next one, whole, never a mix or nothing."""
    values = [f"{n:06d}".encode() * 700 for n in range(400)]
    path = sim_dir.parent / "kv.json"
    steps = [{"command": "kv-store", "fields": {"key": "hot"}, "data": base64.b64encode(v).decode()}
             for v in values]  # fmt: skip
    path.write_text(json.dumps({"nvtui-script": 2, "device": "sim0n3", "steps": steps}))
    run_killed_after(path, "kv-store: Successful", 50)

    async def check() -> None:
        async with open_sim("sim0n3") as kv:
            size, data = await ok(kv, retrieve(b"hot", size=8192))
            assert size == 4200 and data[:4200] in values[49:], data[:12]

    asyncio.run(check())
    ctrl = SimController(sim_dir)  # the state is whole: the allocation map holds exactly the value's units
    try:
        assert ctrl.namespaces[KV_NSID].alloc.count == 2
    finally:
        ctrl.shutdown()


def test_a_drive_of_schema_5_keeps_its_namespaces_and_has_no_kv_namespace(sim_dir: Path) -> None:
    async def make() -> None:
        async with open_sim("sim0n1"):
            pass

    asyncio.run(make())
    state = json.loads((sim_dir / "sim0.json").read_text())
    state["schema"] = 5  # as nvtui wrote it before Key Value namespaces: namespaces 1 and 2
    del state["namespace_set"]["3"], state["namespaces"]["3"], state["reservations"]["3"]
    (sim_dir / "sim0.json").write_text(json.dumps(state))
    (sim_dir / "sim0n3.img").unlink()
    (sim_dir / "sim0n3.meta").unlink()
    assert [ns.name for ns in sim_controllers(sim_dir)[0].namespaces] == ["sim0n1", "sim0n2"]
    listed = run_cli(["list"])
    assert listed.code == 0 and "sim0n3" not in listed.out
    sent = run_cli(["send", "sim0n3", "kv-exist", "key=a"])
    assert sent.code != 0 and "internal error" not in sent.err

    async def upgraded() -> None:
        async with open_sim("sim0n1"):
            pass

    asyncio.run(upgraded())
    assert json.loads((sim_dir / "sim0.json").read_text())["schema"] == STATE_SCHEMA


async def test_the_devices_screen_shows_the_kv_namespace_and_its_limits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_app import ready
    from test_results_views import highlight
    from textual.widgets import Static, Tree

    from nvtui.app import NvtuiApp
    from tests.pilots import isolate_tui

    isolate_tui(tmp_path, monkeypatch)
    app = NvtuiApp(include_real_devices=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        tree: Tree[object] = app.screen.query_one(Tree)
        node = tree.root.children[0].children[2]
        assert str(node.label) == "sim0n3  256.00 MiB kv", str(node.label)
        screen = await highlight(pilot, "sim0n3")
        info = " ".join(str(screen.query_one("#details-info", Static).render()).split())
        assert "command set Key Value (CSI 01h)" in info and "LBA format" not in info
        probe = str(screen.query_one("#details-probe", Static).render())
        assert probe.startswith("Key Value namespace") and "LBA formats" not in probe
        shown = " ".join(probe.split())
        assert "KV format 0 keys up to 16 bytes values up to 512.00 KiB at most 65,536 keys" in (shown)
        io_line = next(line for line in probe.splitlines() if line.startswith(" io"))
        assert "kv command set" in io_line and "kv-store" in io_line and "kv-retrieve" in io_line


async def test_compose_sets_a_stores_value_size_from_its_input_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_app import compose, ready
    from textual.widgets import Input

    from nvtui.app import NvtuiApp
    from nvtui.widgets.command_form import CommandForm
    from tests.pilots import isolate_tui, until

    isolate_tui(tmp_path, monkeypatch)
    value = tmp_path / "v.bin"
    value.write_bytes(b"hello tui")
    app = NvtuiApp(device="sim0n3", include_real_devices=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        screen = await compose(pilot, "kv-store", key="user42")
        vs = screen.query_one(CommandForm).query_one("#field-vs", Input)
        assert vs.value == "" and vs.placeholder == "set from the data (input file)"
        screen.query_one("#data-in", Input).value = str(value)
        await until(
            pilot,
            lambda: screen.prepared is not None and screen.prepared.command.cdw10 == 9,
            "the value's 9 bytes in CDW10",
        )
        assert screen.prepared is not None and screen.prepared.command.data == b"hello tui"


async def test_the_round_trip_in_the_tui(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Store (confirmed), Retrieve (the value, cut to DW0, on the Result screen), List (the key decoded),
    Delete (confirmed), Exist (KV Key Does Not Exist by name): composed and sent in the TUI on sim0n3."""
    from test_app import compose
    from textual.widgets import Input

    from nvtui.screens.result import ResultScreen
    from nvtui.widgets.decoded_tree import DecodedTree
    from tests.pilots import isolate_tui, until, writable_tui

    isolate_tui(tmp_path, monkeypatch)
    value = tmp_path / "v.bin"
    value.write_bytes(b"kept in the tui")
    async with writable_tui("sim0n3") as tui:
        app, pilot, history = tui.app, tui.pilot, tui.history
        screen = await compose(pilot, "kv-store", key="user42")
        screen.query_one("#data-in", Input).value = str(value)
        await until(pilot, lambda: screen.prepared is not None and screen.prepared.command.cdw10 == 15, "vs")
        await tui.send_confirmed("the store")

        async def sent(command: str, **fields: str) -> None:
            count = len(history)
            await compose(pilot, command, **fields)
            await pilot.press("ctrl+s")
            await until(pilot, lambda: len(history) == count + 1, f"{command} sent")

        await sent("kv-retrieve", key="user42")
        retrieved = history[-1]
        assert retrieved.completion.result == 15 and retrieved.completion.data == b"kept in the tui"
        await sent("kv-list")
        await until(pilot, lambda: isinstance(app.screen, ResultScreen) and app.screen.result, "the list")
        rows = {r.name: r for r in app.screen.query_one("#decoded-tree", DecodedTree).all_rows()}
        assert rows["nrk"].value == "1" and "user42" in rows["key"].meaning
        await compose(pilot, "kv-delete", key="user42")
        await tui.send_confirmed("the delete")
        await sent("kv-exist", key="user42")
        assert history[-1].completion.status.name == "KV Key Does Not Exist"
