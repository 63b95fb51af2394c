"""Processes share the simulated controller: the TUI and `nvtui run`, two scripts, two shells. Each command
holds the controller only while it runs, and sees what the other processes did before it. A lock file
deleted while processes run lets nobody overwrite anybody."""

from __future__ import annotations

import asyncio
import base64
import json
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from simprocs import parse_block

from nvtui.backend.sim import open_sim
from nvtui.nvme.command import Command

ROOT = Path(__file__).resolve().parent.parent
SIMPROCS = Path(__file__).with_name("simprocs.py")

pytestmark = pytest.mark.slow


class Shell:
    """A process with the simulated controller open (`simprocs.py shell`), sent requests one line each."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(SIMPROCS), "shell"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        self.replies: queue.Queue[dict[str, Any]] = queue.Queue()
        self.held: dict[int, dict[str, Any]] = {}
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()
        assert "ready" in self.replies.get(timeout=60)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.replies.put(json.loads(line))

    def request(self, op: str, device: str = "sim0", **fields: Any) -> int:
        self.next_id += 1
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"id": self.next_id, "op": op, "device": device, **fields}) + "\n")
        self.proc.stdin.flush()
        return self.next_id

    def reply(self, rid: int, timeout: float = 60) -> dict[str, Any]:
        while rid not in self.held:
            got = self.replies.get(timeout=timeout)
            self.held[got["id"]] = got
        answer = self.held.pop(rid)
        assert "error" not in answer, answer["error"]
        return answer

    def submit(self, device: str, **cmd: Any) -> dict[str, Any]:
        cmd.setdefault("admin", False)
        if "data" in cmd:
            cmd["data"] = base64.b64encode(cmd["data"]).decode()
        return self.reply(self.request("submit", device, cmd=cmd))

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
            self.proc.stdin.flush()
            self.proc.wait(60)


def data_of(reply: dict[str, Any]) -> bytes:
    return base64.b64decode(reply["data"])


async def zone0(nblocks: int) -> list[bytes]:
    blocks: list[bytes] = []
    async with open_sim("sim0n2") as zns:
        while len(blocks) < nblocks:
            n = min(128, nblocks - len(blocks))  # 512 KiB a read (MDTS)
            c = await zns.submit(
                Command(0x02, False, nsid=2, cdw10=len(blocks), cdw12=n - 1, data_len=n * 4096)
            )
            assert c.data is not None
            blocks += [c.data[i * 4096 : (i + 1) * 4096] for i in range(n)]
    return blocks


async def test_zone_appends_from_two_processes_land_at_successive_write_pointers(shells: Any) -> None:
    a, b = shells(), shells()
    first, second = (
        a.request("appends", "sim0n2", count=300, tag="AAAA"),
        b.request("appends", "sim0n2", count=300, tag="BBBB"),
    )
    got_a, got_b = a.reply(first)["lbas"], b.reply(second)["lbas"]
    assert sorted(got_a + got_b) == list(range(600))  # every append its own LBA, none lost, none twice
    assert got_a == sorted(got_a) and got_b == sorted(got_b)  # each process's own in its order
    # Whether the two runs above interleaved is up to the scheduler; strictly alternating requests are not:
    # each process appends at the write pointer the other left.
    after: list[int] = []
    for _round in range(3):
        for shell, tag in ((a, "CCCC"), (b, "DDDD")):
            after += shell.reply(shell.request("appends", "sim0n2", count=5, tag=tag))["lbas"]
    assert after == list(range(600, 630))
    a.close(), b.close()
    blocks = await zone0(600)
    for n, lba in enumerate(got_a):
        assert parse_block(b"AAAA", blocks[lba]) == (0, n, 0)
    for n, lba in enumerate(got_b):
        assert parse_block(b"BBBB", blocks[lba]) == (0, n, 0)


async def test_a_feature_set_in_one_process_is_read_by_the_other(shells: Any) -> None:
    a, b = shells(), shells()
    assert a.submit("sim0", opcode=0x09, admin=True, cdw10=0x04 | 1 << 31, cdw11=321)["ok"]  # saved
    assert b.submit("sim0", opcode=0x0A, admin=True, cdw10=0x04 | 2 << 8)["result"] == 321  # SEL saved
    assert b.submit("sim0", opcode=0x0A, admin=True, cdw10=0x04)["result"] == 321  # and current
    assert b.submit("sim0", opcode=0x09, admin=True, cdw10=0x01, cdw11=0x0302_0107)["ok"]  # current only
    assert a.submit("sim0", opcode=0x0A, admin=True, cdw10=0x01)["result"] == 0x0302_0107
    a.close(), b.close()
    async with open_sim("sim0") as ctrl:  # a power cycle: the saved value stays, the current one goes
        assert (await ctrl.submit(Command(0x0A, True, cdw10=0x04))).result == 321
        assert (await ctrl.submit(Command(0x0A, True, cdw10=0x01))).result == 3


async def test_a_format_in_one_process_is_seen_by_the_others_discovery_identify_and_events(
    shells: Any,
) -> None:
    a, b = shells(), shells()
    assert b.submit("sim0n1", opcode=0x01, cdw10=5, nsid=1, data_len=512, data=b"x" * 512)["ok"]
    event = b.request("submit", "sim0", cmd={"opcode": 0x0C, "admin": True})  # waits for an event
    assert b.reply(b.request("discover"))["lba"] == [512, 4096, 4096]  # sim0n3 (KV): its 4 KiB units
    assert a.submit("sim0", opcode=0x80, admin=True, nsid=1, cdw10=1)["ok"]  # Format NVM, 4 KiB blocks
    assert b.reply(b.request("discover"))["lba"] == [4096, 4096, 4096]
    idns = data_of(b.submit("sim0n1", opcode=0x06, admin=True, nsid=1, data_len=4096))
    assert idns[26] & 0xF == 1 and int.from_bytes(idns[0:8], "little") == (1 << 30) // 4096
    assert int.from_bytes(idns[16:24], "little") == 0  # the block it wrote is gone with the format
    notice = b.reply(event, timeout=10)  # Namespace Attribute Changed, raised in the other process
    assert notice["ok"] and notice["result"] == 0x02 | 0x04 << 16
    changed = data_of(b.submit("sim0", opcode=0x02, admin=True, cdw10=0x04 | 1023 << 16, data_len=4096))
    assert int.from_bytes(changed[0:4], "little") == 1  # the changed namespace list says which


async def test_deleting_the_lock_file_while_processes_write_lets_nobody_overwrite_anybody(
    shells: Any, sim_dir: Path
) -> None:
    a = shells()
    assert a.submit("sim0n2", opcode=0x18, admin=True)["ok"]
    (sim_dir / "sim0.lock").unlink()  # as the reporter did, while a writer runs
    b = shells()
    first, second = (
        a.request("appends", "sim0n2", count=200, tag="AAAA"),
        b.request("appends", "sim0n2", count=200, tag="BBBB"),
    )
    lbas = a.reply(first)["lbas"] + b.reply(second)["lbas"]
    assert sorted(lbas) == list(range(400))
    a.close(), b.close()  # whichever exits last, the other's appends stay
    async with open_sim("sim0n2") as zns:
        c = await zns.submit(Command(0x7D, False, nsid=2, data_len=4096, data=bytes(4096)))
        assert c.result == 400
    blocks = await zone0(400)
    assert all(parse_block(b"AAAA", b) if b[:4] == b"AAAA" else parse_block(b"BBBB", b) for b in blocks)


async def test_a_folder_moved_away_while_open_is_not_written_by_path(shells: Any, sim_dir: Path) -> None:
    a = shells()
    assert a.submit("sim0n1", opcode=0x01, cdw10=1, nsid=1, data_len=512, data=b"y" * 512)["ok"]
    moved = sim_dir.parent / "moved"
    sim_dir.rename(moved)
    sim_dir.mkdir(mode=0o700)  # someone else's drive now sits at the path
    answer = a.request("submit", "sim0", cmd={"opcode": 0x80, "admin": True, "nsid": 1, "cdw10": 1})
    got = a.held.get(answer) or a.replies.get(timeout=60)
    assert "moved or replaced" in got.get("error", "")
    assert not list(sim_dir.iterdir())  # nothing was written at the path
    a.close()
    async with open_sim("sim0n1", directory=moved) as ns:  # the moved drive has what was acknowledged
        assert (await ns.submit(Command(0x02, False, nsid=1, cdw10=1, data_len=512))).data == b"y" * 512


SCRIPT = """nvtui-script: 1
device: sim0n1
steps:
  - command: write
    fields: {slba: 40, nlb: 1}
    data: %s
  - command: read
    fields: {slba: 40, nlb: 1}
  - command: set-features
    fields: {fid: temperature-threshold, sv: 1, cdw11: 330}
"""


async def test_a_script_replays_with_nvtui_run_while_the_tui_stays_open(
    tmp_path: Path, sim_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_app import make_app, ready

    script = tmp_path / "replay.yaml"
    script.write_text(SCRIPT % base64.b64encode(b"from the script".ljust(512, b"\0")).decode())
    monkeypatch.chdir(tmp_path)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        assert app.session is not None
        await app.session.backend("sim0n1")  # the TUI has the simulator open
        run = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "nvtui.cli", "run", str(script), "--allow-destructive",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT,
        )  # fmt: skip
        out, err = await asyncio.wait_for(run.communicate(), 60)
        assert run.returncode == 0, err.decode()
        assert "3/3 steps matched" in out.decode()
        prepared = await app.session.prepare("sim0n1", "read", ["slba=40", "nlb=1"])
        result = await app.session.send(prepared)
        assert result.completion.data == b"from the script".ljust(512, b"\0")  # the TUI sees what it did
        prepared = await app.session.prepare(
            "sim0", "get-features", ["fid=temperature-threshold", "sel=saved"]
        )
        assert (await app.session.send(prepared)).completion.result == 330


async def test_a_self_test_started_in_one_process_shows_its_progress_in_the_other(shells: Any) -> None:
    a, b = shells(), shells()
    assert a.submit("sim0", opcode=0x14, admin=True, nsid=0xFFFF_FFFF, cdw10=2)["ok"]  # extended: a minute
    await asyncio.sleep(1.5)
    log = data_of(b.submit("sim0", opcode=0x02, admin=True, cdw10=0x06 | 140 << 16, data_len=564))
    assert log[0] == 2 and 1 <= log[1] <= 10  # the extended test, a few per cent done (wall clock)
    busy = b.submit("sim0", opcode=0x14, admin=True, cdw10=1)
    assert (busy["sct"], busy["sc"]) == (1, 0x1D)  # Device Self-test in Progress, for the other too
    assert b.submit("sim0", opcode=0x14, admin=True, cdw10=0xF)["ok"]  # aborted from the other process
    log = data_of(a.submit("sim0", opcode=0x02, admin=True, cdw10=0x06 | 140 << 16, data_len=564))
    assert log[0] == 0 and log[4] == 0x21  # nothing running; the newest result: extended, aborted
