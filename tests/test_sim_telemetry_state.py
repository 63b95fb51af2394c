"""The host-initiated telemetry capture (Get Log Page 07h with Create Telemetry Host-Initiated Data, LSP bit
0) as controller state: its Data Generation Number counts the captures whichever process made them, a
process sharing the controller reads the capture another made, the count survives a kill -9 and a power
cycle, and a damaged count is refused."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from nvtui.backend.sim import open_sim
from nvtui.backend.sim.logs2x import TELEMETRY_BLOCK, telemetry_block
from nvtui.backend.sim.state import StateDamaged
from nvtui.nvme.command import Command
from nvtui.structures import decode
from tests.test_sim_reservations import script
from tests.test_sim_sharing import Shell
from tests.test_sim_state import DELETE, crashed_drive, fingerprint, in_state, journal_lines, put

ROOT = Path(__file__).resolve().parent.parent
HEADER_AND_BLOCK = 2 * TELEMETRY_BLOCK  # the header (block 0) and data block 1


def telemetry(*, create: bool) -> Command:
    """Get Log Page 07h: the header and the first data block (NUMD 0-based, in dwords)."""
    numd = HEADER_AND_BLOCK // 4 - 1
    return Command(0x02, True, cdw10=0x07 | int(create) << 8 | numd << 16, data_len=HEADER_AND_BLOCK)


def generation(data: bytes) -> int:
    header = decode("telemetry-host-log", data[:TELEMETRY_BLOCK]).to_json()
    assert isinstance(header, dict)
    value = header["hostdgn"]
    assert isinstance(value, int)
    return value


def shell_log(shell: Shell, *, create: bool) -> bytes:
    cmd = telemetry(create=create)
    answer = shell.submit("sim0", admin=True, opcode=cmd.opcode, cdw10=cmd.cdw10, data_len=cmd.data_len)
    assert answer["ok"], answer
    return base64.b64decode(answer["data"])


async def test_a_capture_in_one_process_is_the_one_another_reads(
    sim_dir: Path, shells: Callable[[], Shell]
) -> None:
    other = shells()
    async with open_sim("sim0") as admin:
        serial = admin.controller.serial
        first = await admin.submit(telemetry(create=False))
        assert first.ok and first.data is not None and generation(first.data) == 0  # nothing captured yet
        captured = shell_log(other, create=True)
        assert generation(captured) == 1
        seen = await admin.submit(telemetry(create=False))
        assert seen.ok and seen.data == captured  # the same capture, header and data
        assert seen.data[TELEMETRY_BLOCK:] == telemetry_block(serial, 0x07, 1, 1)
        again = await admin.submit(telemetry(create=True))  # a capture here: the other process reads it
        assert again.ok and again.data is not None and generation(again.data) == 2
        assert generation(shell_log(other, create=False)) == 2
        assert shell_log(other, create=False)[TELEMETRY_BLOCK:] == telemetry_block(serial, 0x07, 2, 1)


def run_killed_after(path: Path, marker: str) -> None:
    """`nvtui run PATH` in a process of its own, killed (-9) once it printed a line with `marker`."""
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "nvtui.cli", "run", str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        if marker in line:
            proc.kill()
            break
    proc.wait()
    assert proc.returncode == -9, "the run ended before the kill"


async def test_captures_acknowledged_before_a_kill_survive_it_and_the_power_cycle(sim_dir: Path) -> None:
    capture = {"command": "telemetry-log", "device": "sim0"}  # LSP 1: create
    idle = [{"command": "identify", "device": "sim0", "fields": {"cns": 1}}] * 3000
    run_killed_after(script(sim_dir.parent / "telemetry.yaml", [capture] * 3 + idle), "] identify:")
    async with open_sim("sim0") as admin:  # the kill left it unclean; this open power-cycles it
        c = await admin.submit(telemetry(create=False))
        assert c.ok and c.data is not None and generation(c.data) == 3
        assert c.data[TELEMETRY_BLOCK:] == telemetry_block(admin.controller.serial, 0x07, 3, 1)
    assert json.loads((sim_dir / "sim0.json").read_text())["telemetry_generation"] == 3


async def test_the_generation_number_wraps_after_255(sim_dir: Path) -> None:
    async with open_sim("sim0") as admin:
        assert (await admin.submit(telemetry(create=True))).ok
    state = json.loads((sim_dir / "sim0.json").read_text())
    assert state["telemetry_generation"] == 1
    state["telemetry_generation"] = 255
    (sim_dir / "sim0.json").write_text(json.dumps(state))
    async with open_sim("sim0") as admin:
        c = await admin.submit(telemetry(create=True))
        assert c.ok and c.data is not None and generation(c.data) == 0


async def test_a_state_from_before_the_count_is_read_as_no_capture(sim_dir: Path) -> None:
    async with open_sim("sim0") as admin:
        assert (await admin.submit(telemetry(create=True))).ok
    state = json.loads((sim_dir / "sim0.json").read_text())
    del state["telemetry_generation"], state["host_identifier"]
    state["schema"] = 6
    (sim_dir / "sim0.json").write_text(json.dumps(state))
    async with open_sim("sim0") as admin:
        c = await admin.submit(telemetry(create=False))
        assert c.ok and c.data is not None and generation(c.data) == 0
    assert json.loads((sim_dir / "sim0.json").read_text())["telemetry_generation"] == 0


def record(content: dict[str, object]) -> Callable[[Path], None]:
    """A record with a good CRC and the given content, with a good record after it."""

    def damage(folder: Path) -> None:
        last = journal_lines(folder)[-1]
        payload = json.dumps(content).encode()
        with open(folder / "sim0.journal", "ab") as f:
            f.write(b"%08x %s\n" % (zlib.crc32(payload), payload))
            f.write(last)

    return damage


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "generation missing": (in_state(put("telemetry_generation", DELETE)), "telemetry_generation is missing"),
    "generation past 255": (
        in_state(put("telemetry_generation", 256)),
        "telemetry_generation = 256 is outside 0..255",
    ),
    "generation not a number": (
        in_state(put("telemetry_generation", "3")),
        "telemetry_generation is not an integer",
    ),
    "journal generation damaged": (record({"tg": -1}), "tg = -1 is outside 0..255"),
}


@pytest.mark.parametrize("name", DAMAGE)
def test_a_damaged_generation_is_refused_and_nothing_is_rewritten(name: str, tmp_path: Path) -> None:
    drive_dir = crashed_drive(tmp_path)
    damage, says = DAMAGE[name]
    damage(drive_dir)
    before = fingerprint(drive_dir)
    with pytest.raises(StateDamaged) as exc:
        open_sim("sim0", directory=drive_dir)
    message = str(exc.value)
    assert says in message and "\n" not in message and "nvtui sim reset" in message
    assert fingerprint(drive_dir) == before
