"""The simulated drive keeps what it acknowledged: processes running long write, zone append and Set Features
(Save) runs are killed with SIGKILL at random moments, many times; after each kill the drive shows every
acknowledged change, and the one command that was in flight either whole or not at all. The two reproductions
of issue 9 (`nvtui run` of zone appends killed part way; appends, a Flush, then a kill) run the real CLI.

The kill points are drawn from a fixed seed, so CI runs the same schedule; NVTUI_KILL_SEED (any integer) and
NVTUI_KILL_ROUNDS vary and lengthen it locally. Where a kill lands inside a command is up to timing: the
schedule spreads kills over whole commands, and the checks hold wherever it lands.
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from simprocs import WRITE_SPAN, ZONE_BLOCKS, ZONES, command_of, parse_block, payload, run_killed_after

from nvtui.backend.sim import SimBackend, open_sim
from nvtui.nvme.command import Command

ROOT = Path(__file__).resolve().parent.parent
SIMPROCS = Path(__file__).with_name("simprocs.py")
SEED = int(os.environ.get("NVTUI_KILL_SEED", "20261202"))
ROUNDS = int(os.environ.get("NVTUI_KILL_ROUNDS", "10"))

pytestmark = pytest.mark.slow


class Acks:
    """A running process's "ack N RESULT" lines, read as they come (so its pipe never fills)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.lines: list[tuple[int, int]] = []
        self.first = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            word, index, result = line.split()
            assert word == b"ack"
            self.lines.append((int(index), int(result)))
            self.first.set()
        self.first.set()

    def kill_after(self, seconds: float) -> list[tuple[int, int]]:
        assert self.first.wait(60), "the workload never acknowledged a command"
        time.sleep(seconds)
        self.proc.kill()
        self.proc.wait()
        self.thread.join(10)
        return self.lines


def start(kind: str, index: int) -> Acks:
    proc = subprocess.Popen(
        [sys.executable, str(SIMPROCS), "workload", kind, str(SEED), str(index)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    return Acks(proc)


async def read_blocks(dev: SimBackend, nsid: int, slba: int, nlb: int, lba: int) -> Iterator[bytes]:
    out = []
    while nlb:
        n = min(nlb, (512 * 1024) // lba)
        c = await dev.submit(Command(0x02, False, nsid=nsid, cdw10=slba, cdw12=n - 1, data_len=n * lba))
        assert c.ok and c.data is not None
        out.extend(c.data[i * lba : (i + 1) * lba] for i in range(n))
        slba, nlb = slba + n, nlb - n
    return iter(out)


async def smart_counter(dev: SimBackend, offset: int) -> int:
    c = await dev.submit(Command(0x02, True, nsid=0xFFFF_FFFF, cdw10=0x02 | 127 << 16, data_len=512))
    assert c.ok and c.data is not None
    return int.from_bytes(c.data[offset : offset + 16], "little")


# --- what each workload's acknowledgements promise --------------------------------------------------------


@dataclass
class Stats:
    kills: int = 0
    acknowledged: int = 0
    in_flight_applied: int = 0
    torn_records: int = 0


@dataclass
class AppendLedger:
    """Per zone, the appends since its last reset: (LBA, command, blocks)."""

    zones: dict[int, list[tuple[int, int, int]]] = field(
        default_factory=lambda: {z: [] for z in range(ZONES)}
    )

    def wp(self, zone: int) -> int:
        return zone * ZONE_BLOCKS + sum(n for _, _, n in self.zones[zone])

    def ack(self, index: int, result: int) -> None:
        op = command_of("append", SEED, index)
        if op.kind == "reset":
            self.zones[op.zone] = []
        else:
            assert result == self.wp(op.zone), (
                f"append {index} landed at {result}, the write pointer was elsewhere"
            )
            self.zones[op.zone].append((result, index, op.nlb))

    async def check(self, in_flight: int, stats: Stats) -> None:
        op = command_of("append", SEED, in_flight)
        async with open_sim("sim0n2") as dev:
            stats.torn_records += "dropped the last record" in (dev.notice or "")
            report = await dev.submit(
                Command(0x7A, False, nsid=2, cdw12=(64 + 64 * ZONES) // 4 - 1, data_len=64 + 64 * ZONES)
            )
            assert report.ok and report.data is not None
            for zone in range(ZONES):
                desc = report.data[64 + 64 * zone : 128 + 64 * zone]
                wp = int.from_bytes(desc[24:32], "little")
                expected = self.wp(zone)
                if op.zone == zone and op.kind == "append" and wp == expected + op.nlb:
                    self.zones[zone].append((expected, in_flight, op.nlb))  # in flight, and it landed whole
                    stats.in_flight_applied += 1
                elif op.zone == zone and op.kind == "reset" and wp == zone * ZONE_BLOCKS and expected != wp:
                    self.zones[zone] = []
                    stats.in_flight_applied += 1
                assert wp == self.wp(zone), f"zone {zone}: write pointer {wp:#x}, acknowledged {expected:#x}"
                blocks = await read_blocks(dev, 2, zone * ZONE_BLOCKS, wp - zone * ZONE_BLOCKS + 8, 4096)
                for lba, index, nlb in self.zones[zone]:
                    for part in range(nlb):
                        assert parse_block(b"NVTA", next(blocks)) == (SEED, index, part), f"LBA {lba + part}"
                for _ in range(8):  # above the write pointer nothing was ever acknowledged: zeros
                    assert parse_block(b"NVTA", next(blocks)) is None


@dataclass
class WriteLedger:
    """Per LBA: (command, block) of the last write acknowledged there, "Z" for written zeros, absent when
    deallocated (reads zeros)."""

    blocks: dict[int, tuple[int, int] | str] = field(default_factory=dict)
    writes: int = 0

    def ack(self, index: int, result: int) -> None:
        op = command_of("write", SEED, index)
        for k in range(op.nlb):
            if op.kind == "write":
                self.blocks[op.slba + k] = (index, k)
            elif op.kind == "zeroes":
                self.blocks[op.slba + k] = "Z"
            else:
                self.blocks.pop(op.slba + k, None)
        self.writes += op.kind != "deallocate"

    async def check(self, in_flight: int, rounds: int, stats: Stats) -> None:
        op = command_of("write", SEED, in_flight)
        lbas = range(op.slba, op.slba + op.nlb)
        async with open_sim("sim0n1") as dev:
            stats.torn_records += "dropped the last record" in (dev.notice or "")
            idns = await dev.submit(Command(0x06, True, nsid=1, data_len=4096))
            assert idns.data is not None
            nuse = int.from_bytes(idns.data[16:24], "little")
            before = len(self.blocks)
            after = (
                len(set(self.blocks) | set(lbas))
                if op.kind != "deallocate"
                else len(set(self.blocks) - set(lbas))
            )
            assert nuse in (before, after), (
                f"NUSE {nuse}: acknowledged {before}, with the command in flight {after}"
            )
            applied = None if before == after else nuse == after
            blocks = list(await read_blocks(dev, 1, 0, WRITE_SPAN, 512))
            seen = {lba: parse_block(b"NVTW", block) for lba, block in enumerate(blocks)}
            for lba, found in seen.items():
                old = self.blocks.get(lba)
                want_old = None if old in (None, "Z") else (SEED, *old)
                if lba not in lbas:
                    assert found == want_old, f"LBA {lba} holds {found}, acknowledged {want_old}"
                    continue
                new = (SEED, in_flight, lba - op.slba) if op.kind == "write" else None
                if applied is True:
                    assert found == new, f"LBA {lba}: the in-flight command is recorded but its data is not"
                elif applied is False and op.kind == "write":
                    # not recorded: a block unallocated before reads zeros; one allocated may hold either
                    assert found == want_old or (old is not None and found == new), f"LBA {lba} holds {found}"
                elif applied is False:
                    assert found == want_old, f"LBA {lba}: an unrecorded discard took effect"
                else:
                    assert found in (want_old, new), f"LBA {lba} holds {found}"
            if os.environ.get("NVTUI_KILL_DEBUG"):
                print(
                    f"in flight {in_flight} {op} before {before} after {after} nuse {nuse} applied {applied}"
                )
            if applied:
                stats.in_flight_applied += 1
                self.ack(in_flight, 0)
            else:  # a write cut off part way may have reached some allocated blocks: keep what each shows
                for lba in lbas:
                    shown = seen[lba]
                    if lba in self.blocks:
                        self.blocks[lba] = "Z" if shown is None else (shown[1], shown[2])
            host_writes = await smart_counter(dev, 80)
            assert self.writes <= host_writes <= self.writes + rounds, "SMART host write commands"


@dataclass
class FeatureLedger:
    saved: dict[str, int] = field(default_factory=lambda: {"temperature": 343, "error-recovery": 0})

    def ack(self, index: int, result: int) -> None:
        op = command_of("features", SEED, index)
        if op.save:
            self.saved[op.key] = op.value

    async def check(self, in_flight: int, stats: Stats) -> None:
        op = command_of("features", SEED, in_flight)
        async with open_sim("sim0n1") as dev:
            stats.torn_records += "dropped the last record" in (dev.notice or "")
            for key, cdw10, nsid in (("temperature", 0x04, 0), ("error-recovery", 0x05, 1)):
                saved = (await dev.submit(Command(0x0A, True, nsid=nsid, cdw10=cdw10 | 2 << 8))).result
                current = (await dev.submit(Command(0x0A, True, nsid=nsid, cdw10=cdw10))).result
                assert current == saved, f"{key}: after a power cycle the saved value is in force"
                if op.key == key and op.save and saved == op.value != self.saved[key]:
                    self.saved[key] = saved
                    stats.in_flight_applied += 1
                assert saved == self.saved[key], f"{key}: saved {saved}, acknowledged {self.saved[key]}"


# --- the kill loops ---------------------------------------------------------------------------------------


async def kill_many_times(kind: str, ledger: AppendLedger | WriteLedger | FeatureLedger) -> Stats:
    rng = random.Random(f"{SEED}:{kind}")
    stats = Stats()
    index = 0
    for round_number in range(1, ROUNDS + 1):
        acks = start(kind, index).kill_after(rng.uniform(0.0, 0.25))
        assert acks and acks[0][0] == index
        for i, result in acks:
            ledger.ack(i, result)
        stats.kills += 1
        stats.acknowledged += len(acks)
        in_flight = acks[-1][0] + 1
        if isinstance(ledger, WriteLedger):
            await ledger.check(in_flight, round_number, stats)
        else:
            await ledger.check(in_flight, stats)
        index = in_flight + 1  # the next run starts past the in-flight command, whatever became of it
    print(f"\n{kind}: {stats}")
    return stats


async def test_zone_appends_and_resets_killed_at_random_keep_every_acknowledged_block(sim_dir: Path) -> None:
    stats = await kill_many_times("append", AppendLedger())
    assert stats.acknowledged > stats.kills * 10


async def test_writes_and_discards_killed_at_random_keep_every_acknowledged_block(sim_dir: Path) -> None:
    stats = await kill_many_times("write", WriteLedger())
    assert stats.acknowledged > stats.kills * 10


async def test_saved_features_killed_at_random_keep_every_acknowledged_value(sim_dir: Path) -> None:
    stats = await kill_many_times("features", FeatureLedger())
    assert stats.acknowledged > stats.kills * 10


# --- issue 9's reproductions, with the real CLI -------------------------------------------------------------


def append_script(path: Path, appends: int, tail: list[str]) -> Path:
    steps = []
    for i in range(appends):
        data = base64.b64encode(payload(b"NVTA", 0, i, 0, 4096)).decode()
        steps.append(f"  - command: zone-append\n    fields: {{zslba: 0, nlb: 1}}\n    data: {data}\n")
    steps += tail
    path.write_text("nvtui-script: 1\ndevice: sim0n2\nsteps:\n" + "".join(steps))
    return path


async def test_a_run_of_appends_killed_after_169_keeps_them_and_the_next_append_follows(
    sim_dir: Path,
) -> None:
    script = append_script(sim_dir.parent / "appends.yaml", 400, [])
    printed = run_killed_after(script, "zone-append: Successful Completion", 169)
    done = [int(m.group(1)) for s in printed if (m := re.match(r"\[(\d+)/400\] zone-append: Successful", s))]
    assert len(done) >= 169
    async with open_sim("sim0n2") as zns:
        blocks = await read_blocks(zns, 2, 0, len(done), 4096)
        for step in done:
            assert parse_block(b"NVTA", next(blocks)) == (0, step - 1, 0)
        c = await zns.submit(
            Command(0x7D, False, nsid=2, cdw10=0, data_len=4096, data=payload(b"NVTA", 1, 0, 0, 4096))
        )
        assert c.ok and c.result >= len(done), (
            f"the next append landed at LBA {c.result}, over acknowledged data"
        )


async def test_appends_then_a_flush_then_a_kill_keep_the_write_pointer(sim_dir: Path) -> None:
    tail = ["  - command: flush\n"] + ["  - command: identify\n    fields: {cns: 1}\n"] * 5000
    script = append_script(sim_dir.parent / "flush.yaml", 50, tail)
    printed = run_killed_after(script, "flush: Successful Completion")
    assert sum("zone-append: Successful Completion" in s for s in printed) == 50
    async with open_sim("sim0n2") as zns:
        report = await zns.submit(Command(0x7A, False, nsid=2, cdw12=127 // 4, data_len=128))
        assert report.data is not None
        assert int.from_bytes(report.data[64 + 24 : 64 + 32], "little") == 50  # zone 0's write pointer
        c = await zns.submit(Command(0x7D, False, nsid=2, cdw10=0, data_len=4096, data=bytes(4096)))
        assert c.result == 50


# --- a write that cannot be stored whole fails, with an NVMe status ---------------------------------------

FILL = """
import asyncio, json, sys
from nvtui.backend.sim import open_sim
from nvtui.nvme.command import Command

def show(**kw):
    print(json.dumps(kw), flush=True)

async def main():
    async with open_sim("sim0n1") as ns:
        for i, lba in enumerate(int(a) for a in sys.argv[1:]):
            data = bytes([i + 1]) * 512 * 1024
            cmd = Command(0x01, False, nsid=1, cdw10=lba, cdw12=1023, data_len=len(data), data=data)
            c = await ns.submit(cmd)
            show(lba=lba, sct=c.status.sct, sc=c.status.sc, dnr=c.status.dnr)
    async with open_sim("sim0n1") as ns:  # after a power cycle, on the same full disk
        for lba in (0, 1024, 2047):
            c = await ns.submit(Command(0x02, False, nsid=1, cdw10=lba, data_len=512))
            show(read=lba, first=c.data[0], same=len(set(c.data)) == 1, notice=ns.notice)

asyncio.run(main())
"""


def on_tiny_filesystem(tmp_path: Path, size: str, *lbas: int) -> list[dict[str, int]]:
    """The FILL writes (512 KiB each, at `lbas`) in a child process whose state folder is a tmpfs of `size`,
    mounted in a mount namespace of its own (root, or a user namespace where the kernel allows one)."""
    folder = tmp_path / "tiny"
    folder.mkdir(mode=0o700)
    env = {**os.environ, "NVTUI_SIM_DIR": str(folder)}
    mount = f'mount -t tmpfs -o size={size},mode=0700 tmpfs {folder} && exec {sys.executable} -c "$0" "$@"'
    unshare = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-Urm"]
    done = subprocess.run(
        [*unshare, "sh", "-c", mount, FILL, *map(str, lbas)],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if done.returncode and ("mount" in done.stderr or "unshare" in done.stderr):
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()[:100]}")
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_a_write_the_full_disk_cannot_hold_fails_with_write_fault(tmp_path: Path) -> None:
    first, second, again, *reads = on_tiny_filesystem(tmp_path, "1m", 0, 1024, 1024)
    assert first["sc"] == 0 and first["sct"] == 0  # 512 KiB fit
    for failed in (second, again):  # the next 512 KiB do not: Write Fault, retryable once space is freed
        assert (failed["sct"], failed["sc"], failed["dnr"]) == (2, 0x80, False)
    kept, start, end = reads
    assert kept["first"] == 1 and kept["same"]  # the acknowledged write, whole
    assert start["first"] == end["first"] == 0 and start["same"] and end["same"]  # of the failed one: nothing
    assert kept["notice"] is None  # the state is whole: nothing to recover


EFBIG = """
import asyncio, json, resource, sys
from nvtui.backend.sim import open_sim
from nvtui.nvme.command import Command

def write(lba, data):
    return Command(0x01, False, nsid=1, cdw10=lba, data_len=512, data=data)

async def main():
    resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, resource.RLIM_INFINITY))  # ulimit -f 256
    async with open_sim("sim0n1") as ns:
        far = await ns.submit(write(4096, b"f" * 512))
        print(json.dumps({"far": [far.status.sct, far.status.sc, far.status.dnr]}), flush=True)
        for i in range(100000):  # each write journals a record: the journal reaches the limit
            c = await ns.submit(write(7, i.to_bytes(4, "little") * 128))
            if not c.ok:
                print(json.dumps({"ok": i, "failed": [c.status.sct, c.status.sc, c.status.dnr]}), flush=True)
                break

asyncio.run(main())
"""


async def test_writes_past_the_file_size_limit_fail_with_write_fault_and_change_nothing(
    sim_dir: Path,
) -> None:
    done = subprocess.run([sys.executable, "-c", EFBIG], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, (
        done.stderr
    )  # never an internal error: Python ignores SIGXFSZ, EFBIG is handled
    far, journal = (json.loads(line) for line in done.stdout.splitlines())
    assert far["far"] == [2, 0x80, True]  # past `ulimit -f` (2 MiB into the image): Write Fault, do not retry
    assert journal["failed"][:2] == [2, 0x80]  # its record did not fit in the journal: failed too
    acknowledged = journal["ok"]
    async with open_sim("sim0n1") as ns:  # no limit here: the state is whole and holds what was acknowledged
        assert ns.notice is None
        assert await smart_counter(ns, 80) == acknowledged  # host write commands
        last = (await ns.submit(Command(0x02, False, nsid=1, cdw10=7, data_len=512))).data
        assert last is not None and int.from_bytes(last[:4], "little") in (acknowledged - 1, acknowledged)
        far_block = (await ns.submit(Command(0x02, False, nsid=1, cdw10=4096, data_len=512))).data
        assert far_block == bytes(512)  # nothing of the refused write
        idns = (await ns.submit(Command(0x06, True, nsid=1, data_len=4096))).data
        assert idns is not None and int.from_bytes(idns[16:24], "little") == 1  # NUSE: LBA 7 alone
