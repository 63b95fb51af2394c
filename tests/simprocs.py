"""Processes that use the simulated controller, for the tests that kill them or run two side by side.

    python tests/simprocs.py workload KIND SEED START    run workload KIND from command START on, printing
                                                         "ack N RESULT" as each command completes, forever
    python tests/simprocs.py shell                       one JSON request per line in, one JSON answer per
                                                         line out; opened devices stay open until "quit"

and `run_killed_after`, which kills `nvtui run SCRIPT` with SIGKILL after the Nth line holding a marker.

A workload's commands are a function of (seed, index) alone (`command_of`), so the test that killed the
process knows what every acknowledged command was, and which one was in flight. Every block written carries
its own description (`payload`), so a block found on the drive is either one of them, whole, or zeros.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nvtui.backend.sim import open_sim
from nvtui.nvme.command import Command

ZONES = 4  # the append workload uses zones 0..3 of sim0n2
ZONE_BLOCKS = 16384  # 64 MiB zones of 4 KiB blocks
WRITE_SPAN = 2048  # the write workload uses LBAs 0..2047 of sim0n1 (512-byte blocks)
FEATURE_KEYS = ("temperature", "error-recovery")
ROOT = Path(__file__).resolve().parent.parent


def payload(tag: bytes, seed: int, index: int, part: int, size: int) -> bytes:
    """Block `part` of command `index`: its header names it, the rest follows from the header."""
    head = tag + seed.to_bytes(4, "little") + index.to_bytes(4, "little") + part.to_bytes(4, "little")
    body = hashlib.sha256(head).digest()
    return (head + body * (size // len(body) + 1))[:size]


def parse_block(tag: bytes, block: bytes) -> tuple[int, int, int] | None:
    """(seed, index, part) of a block `payload` made whole; None for zeros; AssertionError for anything
    else (a torn or foreign block)."""
    if not any(block):
        return None
    assert block[:4] == tag, f"a block that is neither zeros nor a whole {tag!r} payload: {block[:24]!r}"
    seed, index, part = (int.from_bytes(block[o : o + 4], "little") for o in (4, 8, 12))
    assert block == payload(tag, seed, index, part, len(block)), f"a torn block of command {index}"
    return seed, index, part


@dataclass(frozen=True)
class Op:
    kind: str  # append, reset; write, deallocate, zeroes; set
    zone: int = 0
    slba: int = 0
    nlb: int = 0
    key: str = ""
    value: int = 0
    save: bool = True


def command_of(workload: str, seed: int, index: int) -> Op:
    rng = random.Random(f"{workload}:{seed}:{index}")
    if workload == "append":
        zone = rng.randrange(ZONES)
        if rng.random() < 0.04:
            return Op("reset", zone=zone)
        return Op("append", zone=zone, nlb=rng.randint(1, 4))
    if workload == "write":
        slba = rng.randrange(WRITE_SPAN)
        nlb = min(rng.randint(1, 32), WRITE_SPAN - slba)
        roll = rng.random()
        kind = "deallocate" if roll < 0.08 else "zeroes" if roll < 0.14 else "write"
        return Op(kind, slba=slba, nlb=nlb)
    if workload == "features":
        key = FEATURE_KEYS[rng.randrange(2)]
        value = 250 + rng.randrange(200) if key == "temperature" else rng.randrange(0x10000)
        return Op("set", key=key, value=value, save=rng.random() < 0.7)
    raise ValueError(workload)


def to_command(workload: str, seed: int, index: int) -> tuple[str, Command]:
    op = command_of(workload, seed, index)
    if op.kind == "append":
        data = b"".join(payload(b"NVTA", seed, index, k, 4096) for k in range(op.nlb))
        zslba = op.zone * ZONE_BLOCKS
        return "sim0n2", Command(
            0x7D, False, nsid=2, cdw10=zslba, cdw12=op.nlb - 1, data_len=len(data), data=data
        )
    if op.kind == "reset":
        return "sim0n2", Command(0x79, False, nsid=2, cdw10=op.zone * ZONE_BLOCKS, cdw13=0x04)
    if op.kind == "write":
        data = b"".join(payload(b"NVTW", seed, index, k, 512) for k in range(op.nlb))
        return "sim0n1", Command(
            0x01, False, nsid=1, cdw10=op.slba, cdw12=op.nlb - 1, data_len=len(data), data=data
        )
    if op.kind == "deallocate":
        entry = bytes(4) + op.nlb.to_bytes(4, "little") + op.slba.to_bytes(8, "little")
        return "sim0n1", Command(0x09, False, nsid=1, cdw10=0, cdw11=0x4, data_len=16, data=entry)
    if op.kind == "zeroes":
        return "sim0n1", Command(0x08, False, nsid=1, cdw10=op.slba, cdw12=op.nlb - 1)
    if op.key == "temperature":
        return "sim0", Command(0x09, True, cdw10=0x04 | op.save << 31, cdw11=op.value)
    return "sim0", Command(0x09, True, nsid=1, cdw10=0x05 | op.save << 31, cdw11=op.value)


async def run_workload(workload: str, seed: int, start: int) -> None:
    devices: dict[str, Any] = {}
    try:
        for index in range(start, start + 10_000_000):
            name, cmd = to_command(workload, seed, index)
            if name not in devices:
                devices[name] = open_sim(name)
            completion = await devices[name].submit(cmd)
            if not completion.ok:
                raise SystemExit(f"command {index} failed: {completion.status.name}")
            os.write(1, b"ack %d %d\n" % (index, completion.result))
    finally:
        for device in devices.values():
            await device.close()


# --- nvtui run, killed mid-script ---------------------------------------------------------------------------


def run_killed_after(script: Path, marker: str, count: int = 1) -> list[str]:
    """`nvtui run SCRIPT --allow-destructive` (output unbuffered), SIGKILLed as soon as it printed the
    `count`th line holding `marker`; the lines it printed. Fails if the run ended before the kill."""
    with subprocess.Popen(
        [sys.executable, "-u", "-m", "nvtui.cli", "run", str(script), "--allow-destructive"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    ) as proc:  # fmt: skip
        assert proc.stdout is not None and proc.stderr is not None
        printed: list[str] = []
        seen = 0
        for line in proc.stdout:
            printed.append(line)
            seen += marker in line
            if seen >= count:
                proc.kill()
                break
        proc.wait()
        assert proc.returncode == -9, f"the run ended before the kill: {printed[-3:]} {proc.stderr.read()}"
    return printed


# --- the shell: requests in, answers out ------------------------------------------------------------------


async def run_shell() -> None:
    devices: dict[str, Any] = {}
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    pending: set[asyncio.Task[None]] = set()

    def answer(obj: dict[str, Any]) -> None:
        os.write(1, (json.dumps(obj) + "\n").encode())

    async def handle(req: dict[str, Any]) -> None:
        try:
            name = req.get("device", "sim0")
            if name not in devices:
                devices[name] = open_sim(name)
            if req["op"] == "discover":
                from nvtui.backend.sim import sim_controllers

                (info,) = sim_controllers()
                answer({"id": req["id"], "lba": [n.lba_size for n in info.namespaces], "serial": info.serial})
                return
            if req["op"] == "appends":  # many zone appends to zone 0, each block tagged (tag, n)
                lbas = []
                for n in range(req["count"]):
                    block = payload(req["tag"].encode(), 0, n, 0, 4096)
                    c = await devices[name].submit(Command(0x7D, False, nsid=2, data_len=4096, data=block))
                    assert c.ok, c.status.name
                    lbas.append(c.result)
                answer({"id": req["id"], "lbas": lbas})
                return
            fields = dict(req["cmd"])
            if "data" in fields:
                fields["data"] = base64.b64decode(fields["data"])
            c = await devices[name].submit(Command(**fields))
            answer({
                "id": req["id"], "ok": c.ok, "sct": c.status.sct, "sc": c.status.sc, "result": c.result,
                "data": base64.b64encode(c.data).decode() if c.data else None,
            })  # fmt: skip
        except Exception as exc:
            answer({"id": req["id"], "error": f"{type(exc).__name__}: {exc}"})

    answer({"ready": os.getpid()})
    while line := await reader.readline():
        req = json.loads(line)
        if req["op"] == "quit":
            break
        task = asyncio.create_task(handle(req))  # an AER waits: the shell keeps answering meanwhile
        pending.add(task)
        task.add_done_callback(pending.discard)
    for task in list(pending):
        task.cancel()
    for device in devices.values():
        await device.close()
    answer({"closed": True})


if __name__ == "__main__":
    if sys.argv[1] == "workload":
        asyncio.run(run_workload(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
    else:
        asyncio.run(run_shell())
