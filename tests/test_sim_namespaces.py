"""Namespace Management (0Dh) and Namespace Attachment (15h) on the simulated controller (NVMe Base 2.0,
5.20, 5.21): create, attach, detach, delete, their statuses, the capacity they take, the Identify lists
that tell allocated from active namespaces, the Changed Namespace List and its event, and the namespaces
kept in the state across a restart and a kill -9."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from fuzz.recording import CliRun, run_cli

from nvtui.backend.sim import SimBackend, identity, open_sim, sim_controllers
from nvtui.backend.sim.controller import SimController
from nvtui.backend.sim.state import STATE_SCHEMA
from nvtui.nvme.command import Command
from tests.simprocs import run_killed_after

ROOT = Path(__file__).resolve().parent.parent
GIB = 1 << 30
MIB = 1 << 20
FREE = 2 * GIB - 256 * MIB  # what a new drive leaves unallocated: sim0n1 and sim0n2 (1 GiB each), sim0n3 (KV)


def ns_buffer(nsze: int, flbas: int = 0, *, ncap: int | None = None, dps: int = 0) -> bytes:
    """The 4 KiB host buffer of a create: an Identify Namespace structure with NSZE, NCAP, FLBAS, DPS."""
    buf = bytearray(4096)
    buf[0:8] = nsze.to_bytes(8, "little")
    buf[8:16] = (nsze if ncap is None else ncap).to_bytes(8, "little")
    buf[26], buf[29] = flbas, dps
    return bytes(buf)


def create(nsze: int, flbas: int = 0, csi: int = 0, **kw: int) -> Command:
    data = ns_buffer(nsze, flbas, **kw)
    return Command(0x0D, True, nsid=0, cdw10=0, cdw11=csi << 24, data=data, data_len=4096)


def delete(nsid: int) -> Command:
    return Command(0x0D, True, nsid=nsid, cdw10=1)


def ctrl_list(*ids: int) -> bytes:
    buf = bytearray(4096)
    buf[0:2] = len(ids).to_bytes(2, "little")
    for i, cntlid in enumerate(ids):
        buf[2 + 2 * i : 4 + 2 * i] = cntlid.to_bytes(2, "little")
    return bytes(buf)


def attach(nsid: int, sel: int = 0, ids: tuple[int, ...] = (identity.CNTLID,)) -> Command:
    return Command(0x15, True, nsid=nsid, cdw10=sel, data=ctrl_list(*ids), data_len=4096)


def identify(cns: int, nsid: int = 0) -> Command:
    return Command(0x06, True, nsid=nsid, cdw10=cns, data_len=4096)


def write(nsid: int, slba: int, data: bytes) -> Command:
    return Command(0x01, False, nsid=nsid, cdw10=slba, cdw12=len(data) // 512 - 1, data=data,
                   data_len=len(data))  # fmt: skip


def read(nsid: int, slba: int, nlb: int) -> Command:
    return Command(0x02, False, nsid=nsid, cdw10=slba, cdw12=nlb - 1, data_len=nlb * 512)


async def ok(dev: SimBackend, cmd: Command) -> tuple[int, bytes]:
    c = await dev.submit(cmd)
    assert c.ok, c.status.name
    return c.result, c.data or b""


async def status(dev: SimBackend, cmd: Command) -> str:
    c = await dev.submit(cmd)
    assert not c.ok
    return c.status.name


def nsid_list(data: bytes) -> list[int]:
    ids = [int.from_bytes(data[i : i + 4], "little") for i in range(0, 4096, 4)]
    return [n for n in ids if n]


async def capacity(dev: SimBackend) -> tuple[int, int, int]:
    _, data = await ok(dev, identify(0x01))
    return (int.from_bytes(data[280:296], "little"), int.from_bytes(data[296:312], "little"),
            int.from_bytes(data[516:520], "little"))  # fmt: skip


async def test_create_attach_write_detach_delete(sim_dir: Path) -> None:
    async with open_sim("sim0") as dev:
        _, data = await ok(dev, identify(0x01))
        assert int.from_bytes(data[256:258], "little") >> 3 & 1  # OACS: Namespace Management
        assert await capacity(dev) == (4 * GIB, FREE, identity.NN)
        nsid, _ = await ok(dev, create(2 * 1024 * 1024))  # 1 GiB of 512-byte blocks
        assert nsid == 4
        assert await capacity(dev) == (4 * GIB, FREE - 1 * GIB, identity.NN)
        # allocated, not attached: not in the active list, Identify CNS 00h returns zeros, 11h the namespace
        assert nsid_list((await ok(dev, identify(0x02)))[1]) == [1, 2, 3]
        assert nsid_list((await ok(dev, identify(0x10)))[1]) == [1, 2, 3, 4]
        assert (await ok(dev, identify(0x00, 4)))[1] == bytes(4096)
        _, ns = await ok(dev, identify(0x11, 4))
        assert int.from_bytes(ns[0:8], "little") == 2 * 1024 * 1024 and ns[26] == 0
        assert (await ok(dev, identify(0x12, 4)))[1][0:2] == b"\0\0"  # attached to no controller
        async with open_sim("sim0n4") as ns4:
            assert await status(ns4, write(4, 0, b"x" * 512)) == "Invalid Namespace or Format"
        await ok(dev, attach(4))
        assert nsid_list((await ok(dev, identify(0x02)))[1]) == [1, 2, 3, 4]
        assert (await ok(dev, identify(0x00, 4)))[1] == ns
        assert (await ok(dev, identify(0x12, 4)))[1][0:4] == b"\1\0" + identity.CNTLID.to_bytes(2, "little")
        async with open_sim("sim0n4") as ns4:
            await ok(ns4, write(4, 7, b"y" * 1024))
            assert (await ok(ns4, read(4, 7, 2)))[1] == b"y" * 1024
        await ok(dev, attach(4, sel=1))
        async with open_sim("sim0n4") as ns4:
            assert await status(ns4, read(4, 7, 2)) == "Invalid Namespace or Format"
        assert nsid_list((await ok(dev, identify(0x02)))[1]) == [1, 2, 3]
        await ok(dev, delete(4))
        assert nsid_list((await ok(dev, identify(0x10)))[1]) == [1, 2, 3]
        assert (await ok(dev, identify(0x11, 4)))[1] == bytes(4096)
        assert await capacity(dev) == (4 * GIB, FREE, identity.NN)
        assert not (sim_dir / "sim0n4.img").exists()
        # created again under the same NSID: its blocks read zeros
        assert (await ok(dev, create(1024)))[0] == 4
        await ok(dev, attach(4))
        async with open_sim("sim0n4") as ns4:
            assert (await ok(ns4, read(4, 7, 2)))[1] == bytes(1024)


async def test_the_statuses_by_name(sim_dir: Path) -> None:
    async with open_sim("sim0") as dev:
        assert await status(dev, create(5 * GIB // 512)) == "Namespace Insufficient Capacity"
        assert await status(dev, create(8, flbas=3)) == "Invalid Format"  # namespace 1 has formats 0..2
        assert await status(dev, create(8, dps=1)) == "Invalid Format"
        assert await status(dev, create(8, ncap=4)) == "Invalid Field in Command"
        assert await status(dev, create(8, csi=5)) == "Invalid Field in Command"
        assert await status(dev, create(1000, csi=2)) == "Invalid Field in Command"  # not whole zones
        assert await status(dev, attach(1)) == "Namespace Already Attached"
        assert await status(dev, attach(1, ids=(7,))) == "Controller List Invalid"
        assert await status(dev, attach(1, ids=())) == "Controller List Invalid"
        nsid, _ = await ok(dev, create(8))
        assert await status(dev, attach(nsid, sel=1)) == "Namespace Not Attached"
        assert await status(dev, attach(5)) == "Invalid Namespace or Format"  # not allocated
        assert await status(dev, delete(5)) == "Invalid Namespace or Format"
        for _ in range(identity.NN - 4):
            await ok(dev, create(8))
        assert await status(dev, create(8)) == "Namespace Identifier Unavailable"
        await ok(dev, delete(0xFFFF_FFFF))
        assert nsid_list((await ok(dev, identify(0x10)))[1]) == []
        assert await capacity(dev) == (4 * GIB, 4 * GIB, identity.NN)


async def test_a_zoned_namespace_and_the_capacity(sim_dir: Path) -> None:
    async with open_sim("sim0") as dev:
        nsid, _ = await ok(dev, create(2 * 64 * MIB // 4096, csi=2))  # two zones of 4 KiB blocks
        await ok(dev, attach(nsid))
        _, zns = await ok(dev, Command(0x06, True, nsid=nsid, cdw10=0x05, cdw11=2 << 24, data_len=4096))
        assert int.from_bytes(zns[2816:2824], "little") == 64 * MIB // 4096  # ZSZE of LBA format 0
        zoned = Command(0x06, True, cdw10=0x07, cdw11=2 << 24, data_len=4096)  # active zoned namespaces
        assert nsid_list((await ok(dev, zoned))[1]) == [2, nsid]
        assert (await capacity(dev))[1] == FREE - 128 * MIB
        group = Command(0x02, True, nsid=0, cdw10=0x09 | 127 << 16, cdw11=1 << 16, data_len=512)
        _, log = await ok(dev, group)  # the Endurance Group log's TEGCAP and UEGCAP agree with Identify
        assert (int.from_bytes(log[160:176], "little"), int.from_bytes(log[176:192], "little")) == (
            4 * GIB,
            FREE - 128 * MIB,
        )
        await ok(dev, attach(nsid, sel=1))  # CNS 1Bh describes it detached too; 05h only while active
        detached = Command(0x06, True, nsid=nsid, cdw10=0x1B, cdw11=2 << 24, data_len=4096)
        assert (await ok(dev, detached))[1] == zns
        inactive = Command(0x06, True, nsid=nsid, cdw10=0x05, cdw11=2 << 24, data_len=4096)
        assert await status(dev, inactive) == "Invalid Namespace or Format"
        await ok(dev, attach(nsid))
        # a big one takes what is left; then nothing fits
        await ok(dev, create((FREE - 128 * MIB) // 512))
        assert await status(dev, create(8)) == "Namespace Insufficient Capacity"


async def test_attach_and_detach_report_the_changed_namespace_list_and_an_event(sim_dir: Path) -> None:
    async with open_sim("sim0") as dev:
        nsid, _ = await ok(dev, create(8))
        aer = asyncio.ensure_future(dev.submit(Command(0x0C, True)))
        await asyncio.sleep(0)
        await ok(dev, attach(nsid))
        event = await asyncio.wait_for(aer, 5)
        assert event.ok and event.result & 0xFF == 0x2 and event.result >> 16 & 0xFF == 0x04
        _, log = await ok(dev, Command(0x02, True, nsid=0xFFFF_FFFF, cdw10=0x04 | 1023 << 16, data_len=4096))
        assert nsid_list(log) == [nsid]
        await ok(dev, attach(nsid, sel=1))
        await ok(dev, delete(1))  # attached: detached first, so it changed too
        _, log = await ok(dev, Command(0x02, True, nsid=0xFFFF_FFFF, cdw10=0x04 | 1023 << 16, data_len=4096))
        assert nsid_list(log) == [nsid, 1]


async def test_the_namespaces_persist_across_a_restart(sim_dir: Path) -> None:
    async with open_sim("sim0") as dev:
        nsid, _ = await ok(dev, create(4096 // 8, flbas=1))  # 2 MiB of 4 KiB blocks
        await ok(dev, attach(nsid))
        await ok(dev, delete(2))
    async with open_sim("sim0n4") as ns4:
        _, ns = await ok(ns4, identify(0x00, 4))
        assert int.from_bytes(ns[0:8], "little") == 512 and ns[26] == 1
        assert nsid_list((await ok(ns4, identify(0x02)))[1]) == [1, 3, 4]
    names = [ns.name for c in sim_controllers() for ns in c.namespaces]
    assert names == ["sim0n1", "sim0n3", "sim0n4"]


def test_an_acknowledged_create_and_attach_survive_a_kill_9(sim_dir: Path) -> None:
    script = """
import asyncio, os, signal, sys
from nvtui.backend.sim import open_sim
from nvtui.nvme.command import Command
buf = bytearray(4096); buf[0:8] = (2048).to_bytes(8, "little"); buf[8:16] = buf[0:8]
ids = bytearray(4096); ids[0:4] = bytes([1, 0, 1, 0])
async def main():
    dev = open_sim("sim0")
    c = await dev.submit(Command(0x0D, True, data=bytes(buf), data_len=4096))
    assert c.ok and c.result == 4
    c = await dev.submit(Command(0x15, True, nsid=4, data=bytes(ids), data_len=4096))
    assert c.ok
    c = await dev.submit(Command(0x0D, True, nsid=2, cdw10=1))
    assert c.ok
    print("done", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
asyncio.run(main())
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL and "done" in proc.stdout, proc.stderr
    state = json.loads((sim_dir / "sim0.json").read_text())
    assert state["schema"] == STATE_SCHEMA
    ctrl = SimController(sim_dir)
    try:
        assert {n: ns.attached for n, ns in ctrl.namespaces.items()} == {1: True, 3: True, 4: True}
        assert ctrl.namespaces[4].nsze == 2048
    finally:
        ctrl.shutdown()
    assert not (sim_dir / "sim0n2.img").exists()


def test_the_cli_end_to_end(sim_dir: Path, tmp_path: Path) -> None:
    buf = tmp_path / "ns.bin"
    buf.write_bytes(ns_buffer(2048))
    ids = tmp_path / "ctrl.bin"
    ids.write_bytes(ctrl_list(identity.CNTLID))

    def send(*args: str) -> list[str]:
        return ["send", "sim0", *args, "--allow-destructive"]

    run = run_cli(send("namespace-management", "sel=create", "--data-in", str(buf)))
    assert run.code == 0 and "result  0x4" in run.out, run.err
    listed = run_cli(["list"])
    assert listed.code == 0 and "sim0n4" not in listed.out  # created, not attached
    run = run_cli(send("namespace-attachment", "nsid=4", "sel=attach", "--data-in", str(ids)))
    assert run.code == 0, run.err
    listed = run_cli(["list"])
    assert listed.code == 0 and "sim0n4  nsid 4" in listed.out and "lba 512" in listed.out, listed.err
    bad = run_cli(send("namespace-attachment", "nsid=4", "sel=attach", "--data-in", str(ids)))
    assert bad.raised is None and bad.code == 1 and "Namespace Already Attached" in bad.out
    run = run_cli(send("namespace-management", "nsid=4", "sel=delete"))
    assert run.code == 0, run.err
    listed = run_cli(["list"])
    assert listed.code == 0 and "sim0n4" not in listed.out and "sim0n1" in listed.out


async def test_reservations_streams_and_placement_follow_the_namespaces(sim_dir: Path) -> None:
    keys = (0).to_bytes(8, "little") + (7).to_bytes(8, "little")  # CRKEY 0, NRKEY 7
    register = Command(0x0D, False, nsid=4, cdw10=0, data=keys, data_len=16)
    report = Command(0x0E, False, nsid=4, cdw10=15, data_len=64)
    streams_on = Command(0x19, True, nsid=4, cdw11=0x01, cdw12=1 | 1 << 8)  # Identify: enable Streams
    async with open_sim("sim0") as dev:
        await ok(dev, create(2048))
        await ok(dev, attach(4))
        await ok(dev, streams_on)  # an NVM namespace has Streams
        async with open_sim("sim0n4") as ns4:
            await ok(ns4, register)
            _, data = await ok(ns4, report)
            assert int.from_bytes(data[5:7], "little") == 1  # one registrant
            placed = Command(0x01, False, nsid=4, cdw12=2 << 20 | 0, data=bytes(512), data_len=512)
            assert await status(ns4, placed) == "Invalid Field in Command"  # no placement handles here
        await ok(dev, delete(4))
        await ok(dev, create(64 * MIB // 4096, csi=2))  # NSID 3 again, zoned: no Streams, no registrant
        await ok(dev, attach(4))
        assert await status(dev, streams_on) == "Invalid Field in Command"
        async with open_sim("sim0n4") as ns4:
            _, data = await ok(ns4, report)
            assert data == bytes(64)


async def test_the_devices_screen_shows_a_namespace_created_and_attached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from textual.widgets import Tree

    from nvtui.app import NvtuiApp
    from tests.pilots import isolate_tui, until

    isolate_tui(tmp_path, monkeypatch)
    app = NvtuiApp(include_real_devices=False)

    def names() -> list[str]:
        tree: Tree[object] = app.screen.query_one(Tree)
        return [str(node.label).split()[0] for c in tree.root.children for node in c.children]

    async with app.run_test(size=(100, 30)) as pilot:
        on_devices = lambda: app.controllers and type(app.screen).__name__ == "DevicesScreen"  # noqa: E731
        await until(pilot, on_devices, "start-up")
        await until(pilot, lambda: names() == ["sim0n1", "sim0n2", "sim0n3"], "the factory namespaces")
        async with open_sim("sim0") as dev:
            await ok(dev, create(2048))
            await pilot.press("r")
            await pilot.pause(0.2)
            assert "sim0n4" not in names()  # allocated, not attached: no device
            await ok(dev, attach(4))
        await pilot.press("r")
        await until(pilot, lambda: names() == ["sim0n1", "sim0n2", "sim0n3", "sim0n4"], "sim0n4 in the tree")
        tree: Tree[object] = app.screen.query_one(Tree)
        label = str(tree.root.children[0].children[3].label)
        assert label == "sim0n4  1.00 MiB", label  # 2048 blocks of 512 bytes


def run_script(path: Path, steps: list[dict[str, object]]) -> Path:
    path.write_text(json.dumps({"nvtui-script": 2, "device": "sim0", "steps": steps}))
    return path


CREATE_STEPS: list[dict[str, object]] = [
    {"command": "namespace-management", "fields": {"sel": "create"},
     "data": base64.b64encode(ns_buffer(2048)).decode()},
    {"command": "namespace-attachment", "fields": {"nsid": 4, "sel": "attach"},
     "data": base64.b64encode(ctrl_list(identity.CNTLID)).decode()},
]  # fmt: skip


def test_a_script_creates_attaches_writes_and_detaches(sim_dir: Path) -> None:
    block = base64.b64encode(b"script".ljust(512, b"\0")).decode()
    use = [
        {"device": "sim0n4", "command": "write", "fields": {"slba": 9, "nlb": 1}, "data": block},
        {"device": "sim0n4", "command": "read", "fields": {"slba": 9, "nlb": 1}},
    ]

    def run(name: str, steps: list[dict[str, object]]) -> CliRun:
        return run_cli(["run", str(run_script(sim_dir.parent / name, steps)), "--allow-destructive"])

    early = run("early.yaml", use)
    assert early.raised is None and early.code == 3
    assert early.err == (  # no namespace 4 yet: one line, nothing sent
        "nvtui: sim0n4: namespace 4 is not active (Identify Namespace returned zeros: it is not attached, "
        "or not created)\n"
    )
    created = run("ns.yaml", CREATE_STEPS)
    assert created.code == 0 and "namespace-attachment: Successful" in created.out, created.err
    detach = {"command": "namespace-attachment", "fields": {"nsid": 4, "sel": "detach"},
              "data": base64.b64encode(ctrl_list(identity.CNTLID)).decode()}  # fmt: skip
    done = run("use.yaml", [*use, detach])
    assert done.code == 0, done.err
    assert "write on sim0n4: Successful Completion" in done.out and "read on sim0n4: Successful" in done.out
    assert "namespace-attachment on sim0: Successful Completion" in done.out
    listed = run_cli(["list"])
    assert listed.code == 0 and "sim0n4" not in listed.out


def test_a_create_and_attach_a_script_acknowledged_survive_its_kill_9(sim_dir: Path) -> None:
    idle = [{"command": "identify", "fields": {"cns": 1}}] * 3000
    path = run_script(sim_dir.parent / "kill.yaml", [*CREATE_STEPS, *idle])
    run_killed_after(path, "namespace-attachment: Successful")
    listed = run_cli(["list"])  # the attach checkpointed at once: discovery sees it
    assert listed.code == 0 and "sim0n4  nsid 4" in listed.out
    sent = run_cli(["send", "sim0", "identify", "cns=2", "--json"])
    assert sent.code == 0 and '"nsid": 4' in sent.out.replace(" ", " "), sent.out[:400]


def test_files_of_a_namespace_that_does_not_exist_are_removed_at_power_on(sim_dir: Path) -> None:
    sim_dir.mkdir(exist_ok=True)

    async def first() -> None:
        async with open_sim("sim0"):
            pass

    asyncio.run(first())
    stray = sim_dir / "sim0n5.img"  # what a crash between a delete's record and its unlink leaves
    stray.write_bytes(b"old blocks")
    victim = sim_dir.parent / "victim"
    victim.write_bytes(b"precious")
    (sim_dir / "sim0n5.meta").symlink_to(victim)
    asyncio.run(first())
    assert not stray.exists() and not (sim_dir / "sim0n5.meta").is_symlink()
    assert victim.read_bytes() == b"precious"  # the symlink was removed, never followed


async def test_another_process_deleting_and_creating_the_nsid_again_is_seen_here(sim_dir: Path) -> None:
    """This process keeps namespace 4 open; another deletes it, creates it again and writes to it: here the
    new namespace's blocks are read, never the deleted one's (its files were unlinked and made again)."""
    script = """
import asyncio, base64, sys
from nvtui.backend.sim import open_sim
from nvtui.nvme.command import Command
buf, ids = base64.b64decode(sys.argv[1]), base64.b64decode(sys.argv[2])
async def main():
    async with open_sim("sim0") as dev:
        assert (await dev.submit(Command(0x0D, True, nsid=4, cdw10=1))).ok
        c = await dev.submit(Command(0x0D, True, data=buf, data_len=4096))
        assert c.ok and c.result == 4
        assert (await dev.submit(Command(0x15, True, nsid=4, data=ids, data_len=4096))).ok
    async with open_sim("sim0n4") as ns:
        data = b"new".ljust(512, b"\\0")
        assert (await ns.submit(Command(0x01, False, nsid=4, data=data, data_len=512))).ok
asyncio.run(main())
"""
    async with open_sim("sim0") as dev:
        await ok(dev, create(2048))
        await ok(dev, attach(4))
        async with open_sim("sim0n4") as ns4:
            await ok(ns4, write(4, 0, b"old".ljust(512, b"\0")))
            await ok(ns4, write(4, 1, b"old".ljust(512, b"\0")))
            args = [base64.b64encode(ns_buffer(2048)).decode(), base64.b64encode(ctrl_list(1)).decode()]
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            proc = await asyncio.create_subprocess_exec(sys.executable, "-c", script, *args, env=env)
            assert await proc.wait() == 0
            assert (await ok(ns4, read(4, 0, 2)))[1] == b"new".ljust(512, b"\0") + bytes(512)


async def test_identify_namespace_ffffffffh_gives_the_formats_a_create_picks_from(sim_dir: Path) -> None:
    async with open_sim("sim0") as dev:
        _, common = await ok(dev, identify(0x00, 0xFFFF_FFFF))
        _, ns1 = await ok(dev, identify(0x00, 1))
        assert common[0:24] == bytes(24)  # NSZE, NCAP, NUSE: no namespace's
        assert common[25] == ns1[25] == 2 and common[128:140] == ns1[128:140]  # NLBAF, LBAF0..2
        assert common[104:128] == bytes(24)  # no NGUID, no EUI64


def test_sim_reset_removes_the_files_of_created_namespaces_too(sim_dir: Path) -> None:
    async def make() -> None:
        async with open_sim("sim0") as dev:
            await ok(dev, create(2048))

    asyncio.run(make())
    assert (sim_dir / "sim0n4.img").exists()
    (sim_dir / "notes.txt").write_text("mine")
    assert run_cli(["sim", "reset", "--yes"]).code == 0
    assert sorted(p.name for p in sim_dir.iterdir()) == ["notes.txt"]  # only nvtui's own files went
