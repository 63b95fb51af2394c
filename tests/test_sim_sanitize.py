"""Sanitize on the simulated controller (NVMe Base 2.0, 5.24, 8.21): block and crypto erase with SPROG rising
in the Sanitize Status log, the commands refused meanwhile, the namespaces erased (zones empty), the
statuses for what it does not support; persisted across a power cycle and a kill -9; the CLI and the TUI."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from fuzz.recording import run_cli

from nvtui.backend.sim import SimBackend, open_sim
from nvtui.nvme.command import Command
from tests.simprocs import run_killed_after

NSID_ALL = 0xFFFF_FFFF
BLOCK_ERASE, CRYPTO_ERASE, OVERWRITE, EXIT_FAILURE = 2, 4, 3, 1
IN_PROGRESS = (0, 0x1D)


@pytest.fixture
def seconds(sim_dir: Path, monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setenv("NVTUI_SIM_SANITIZE_SECONDS", "1.5")
    return 1.5


def sanitize(sanact: int, *, ause: bool = False, ndas: bool = False) -> Command:
    return Command(0x84, True, cdw10=sanact | ause << 3 | ndas << 9)


def status(c: object) -> tuple[int, int]:
    st = c.status  # type: ignore[attr-defined]
    return st.sct, st.sc


async def sanitize_log(dev: SimBackend) -> dict[str, int]:
    c = await dev.submit(Command(0x02, True, nsid=NSID_ALL, cdw10=0x81 | 127 << 16, data_len=512))
    assert c.ok and c.data is not None
    d = c.data
    sstat = int.from_bytes(d[2:4], "little")
    return {
        "sprog": int.from_bytes(d[0:2], "little"), "sos": sstat & 0x7, "gde": sstat >> 8 & 1,
        "scdw10": int.from_bytes(d[4:8], "little"), "etbe": int.from_bytes(d[12:16], "little"),
        "sans": d[36] & 0xF,
    }  # fmt: skip


def write(nsid: int, slba: int, data: bytes) -> Command:
    return Command(
        0x01, False, nsid=nsid, cdw10=slba, cdw12=len(data) // 512 - 1, data=data, data_len=len(data)
    )


def read(nsid: int, slba: int, size: int = 512) -> Command:
    return Command(0x02, False, nsid=nsid, cdw10=slba, cdw12=size // 512 - 1, data_len=size)


async def wait_done(dev: SimBackend, seconds: float) -> dict[str, int]:
    deadline = time.monotonic() + seconds + 10
    while (log := await sanitize_log(dev))["sos"] == 2:
        assert time.monotonic() < deadline, "the sanitize never completed"
        await asyncio.sleep(0.1)
    return log


async def test_identify_and_the_effects_log_tell_what_sanitize_does(sim_dir: Path) -> None:
    async with open_sim("sim0") as dev:
        c = await dev.submit(Command(0x06, True, cdw10=1, data_len=4096))
        assert c.ok and c.data is not None
        sanicap = int.from_bytes(c.data[328:332], "little")
        assert sanicap & 0b111 == 0b011 and sanicap >> 29 & 1  # crypto, block; no overwrite; NDI
        effects = await dev.submit(Command(0x02, True, nsid=NSID_ALL, cdw10=0x05 | 1023 << 16, data_len=4096))
        assert effects.data is not None
        entry = int.from_bytes(effects.data[4 * 0x84 : 4 * 0x84 + 4], "little")
        assert entry & 0b11 == 0b11  # supported, changes logical block content
        assert await sanitize_log(dev) == {
            "sprog": 0xFFFF,
            "sos": 0,
            "gde": 1,
            "scdw10": 0,
            "etbe": 10,
            "sans": 0,
        }  # fmt: skip  (never sanitized, never written: no data to erase)


async def test_a_block_erase_runs_with_progress_refuses_commands_and_leaves_everything_erased(
    seconds: float,
) -> None:
    async with open_sim("sim0n1") as dev, open_sim("sim0n2") as zns:
        assert (await dev.submit(write(1, 7, b"kept?".ljust(512, b"\0")))).ok
        append = Command(0x7D, False, nsid=2, cdw10=0, data=b"z" * 4096, data_len=4096)
        assert (await zns.submit(append)).ok
        assert (await sanitize_log(dev))["gde"] == 0  # data written
        started = time.monotonic()
        assert (await dev.submit(sanitize(BLOCK_ERASE))).ok
        log = await sanitize_log(dev)
        assert log["sos"] == 2 and log["scdw10"] == BLOCK_ERASE and log["sans"] == 1  # restricted processing
        assert 0 <= log["sprog"] < 0xFFFF and log["etbe"] == 2  # 1.5 s, rounded

        refused = [
            read(1, 7), write(1, 0, bytes(512)), Command(0x00, False, nsid=1),  # I/O, a Flush too
            Command(0x80, True, nsid=1),  # Format NVM
            Command(0x14, True, nsid=0, cdw10=1),  # Device Self-test
            sanitize(CRYPTO_ERASE),  # another sanitize
        ]  # fmt: skip
        for cmd in refused:
            c = await dev.submit(cmd)
            assert status(c) == IN_PROGRESS and not c.status.dnr, (hex(cmd.opcode), c.status.name)
        assert (await dev.submit(Command(0x06, True, cdw10=1, data_len=4096))).ok  # Identify still runs
        assert (await dev.submit(Command(0x0A, True, cdw10=0x02))).ok  # Get Features too

        await asyncio.sleep(0.5)
        later = await sanitize_log(dev)
        if time.monotonic() - started < seconds:
            assert later["sprog"] > log["sprog"]  # rising
        done = await wait_done(dev, seconds)
        assert done["sos"] == 1 and done["sprog"] == 0xFFFF and done["gde"] == 1 and done["sans"] == 0
        assert time.monotonic() - started >= seconds * 0.9

        c = await dev.submit(read(1, 7))
        assert c.ok and c.data == bytes(512)  # erased
        report = await zns.submit(Command(0x7A, False, nsid=2, cdw10=0, cdw12=1023, data_len=4096))
        assert report.ok and report.data is not None
        wp = int.from_bytes(report.data[64 + 24 : 64 + 32], "little")
        assert report.data[65] >> 4 == 0x1 and wp == 0  # zone 0 empty, its write pointer at its start
        assert (await dev.submit(write(1, 0, b"new".ljust(512, b"\0")))).ok
        assert (await sanitize_log(dev))["gde"] == 0  # written since


UNSUPPORTED = {
    "overwrite": sanitize(OVERWRITE),
    "no sanitize action": sanitize(0),
    "reserved action": sanitize(6),
    "no-deallocate after sanitize": sanitize(BLOCK_ERASE, ndas=True),
}


@pytest.mark.parametrize("name", UNSUPPORTED)
async def test_what_the_controller_does_not_support_is_invalid_field_and_erases_nothing(
    name: str, seconds: float
) -> None:
    async with open_sim("sim0n1") as dev:
        assert (await dev.submit(write(1, 3, b"stays".ljust(512, b"\0")))).ok
        c = await dev.submit(UNSUPPORTED[name])
        assert status(c) == (0, 0x02) and c.status.dnr
        assert (await sanitize_log(dev))["sos"] == 0
        assert (await dev.submit(read(1, 3))).data == b"stays".ljust(512, b"\0")


async def test_exit_failure_mode_with_no_failure_succeeds_and_does_nothing(seconds: float) -> None:
    async with open_sim("sim0n1") as dev:
        assert (await dev.submit(write(1, 3, b"stays".ljust(512, b"\0")))).ok
        assert (await dev.submit(sanitize(EXIT_FAILURE))).ok
        assert (await sanitize_log(dev))["sos"] == 0
        assert (await dev.submit(read(1, 3))).data == b"stays".ljust(512, b"\0")


async def test_a_sanitize_aborts_a_running_self_test(seconds: float) -> None:
    async with open_sim("sim0") as dev:
        assert (await dev.submit(Command(0x14, True, nsid=NSID_ALL, cdw10=2))).ok  # extended: a minute
        assert (await dev.submit(sanitize(CRYPTO_ERASE, ause=True))).ok
        assert (await sanitize_log(dev))["sans"] == 3  # unrestricted processing (AUSE)
        c = await dev.submit(Command(0x02, True, nsid=NSID_ALL, cdw10=0x06 | 127 << 16, data_len=564))
        assert c.ok and c.data is not None
        assert c.data[0] == 0  # no self-test in progress
        assert c.data[4] >> 4 == 2 and c.data[4] & 0xF == 0x9  # extended, aborted by a sanitize operation


# --- persistence: across a power cycle and a kill -9 ------------------------------------------------------


def test_a_sanitize_started_from_the_cli_goes_on_across_the_power_cycle(
    sim_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NVTUI_SIM_SANITIZE_SECONDS", "30")
    data = sim_dir.parent / "block.bin"
    data.write_bytes(b"secret".ljust(512, b"\0"))
    assert (
        run_cli(
            ["send", "sim0n1", "write", "slba=2", "nlb=1", "--data-in", str(data), "--allow-destructive"]
        ).code
        == 0
    )
    refused = run_cli(["send", "sim0", "sanitize", "sanact=block-erase"])
    assert refused.code != 0 and "--allow-destructive" in refused.err
    assert run_cli(["send", "sim0", "sanitize", "sanact=block-erase", "--allow-destructive"]).code == 0
    log = run_cli(["send", "sim0", "sanitize-log", "--json"])  # another process: a power cycle before it
    decoded = json.loads(log.out)["decoded"]
    assert decoded["sos"] == 2 and 0 <= decoded["sprog"] < 0xFFFF  # in progress
    read_back = run_cli(["send", "sim0n1", "read", "slba=2", "nlb=1"])
    assert "Sanitize In Progress" in read_back.out and read_back.code != 0


def test_a_sanitize_acknowledged_before_a_kill_survives_it_with_the_data_erased(
    sim_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NVTUI_SIM_SANITIZE_SECONDS", "0.5")

    async def write_secret() -> None:
        async with open_sim("sim0n1") as dev:
            assert (await dev.submit(write(1, 9, b"secret".ljust(512, b"\0")))).ok

    asyncio.run(write_secret())
    steps = [{"command": "sanitize", "fields": {"sanact": "crypto-erase"}}]
    steps += [{"command": "identify", "fields": {"cns": 1}}] * 3000
    path = sim_dir.parent / "sanitize.yaml"
    path.write_text(json.dumps({"nvtui-script": 2, "device": "sim0", "steps": steps}))
    run_killed_after(path, "sanitize: Successful Completion")

    async def after() -> None:
        async with open_sim("sim0n1") as dev:
            log = await wait_done(dev, 0.5)
            assert log["sos"] == 1 and log["scdw10"] == CRYPTO_ERASE
            assert (await dev.submit(read(1, 9))).data == bytes(512)

    asyncio.run(after())


# --- the TUI: sanitize by hand, its progress in the Sanitize Status log ------------------------------------


async def test_in_the_tui_a_sanitize_shows_progress_then_completion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nvtui.screens.result import ResultScreen
    from nvtui.widgets.decoded_tree import DecodedTree
    from tests.pilots import isolate_tui, until, writable_tui
    from tests.test_app import compose

    isolate_tui(tmp_path, monkeypatch)
    monkeypatch.setenv("NVTUI_SIM_SANITIZE_SECONDS", "600")  # in progress whatever the machine's load
    async with writable_tui("sim0") as tui:
        app, pilot, history = tui.app, tui.pilot, tui.history
        await compose(pilot, "sanitize", sanact="block-erase")
        await tui.send_confirmed("the sanitize")
        assert history[-1].prepared.defn.id == "sanitize"

        async def sanitize_rows() -> dict[str, str]:
            count = len(history)
            await compose(pilot, "sanitize-log")
            await pilot.press("ctrl+s")
            await until(
                pilot, lambda: len(history) == count + 1 and isinstance(app.screen, ResultScreen), "log"
            )
            await pilot.pause(0.2)
            rows = app.screen.query_one("#decoded-tree", DecodedTree).all_rows()
            return {r.name: str(r.meaning) for r in rows}

        rows = await sanitize_rows()
        assert rows["sos"] == "in progress" and "/ 65,536 done" in rows["sprog"]
        backend = await app.session.backend("sim0")
        assert isinstance(backend, SimBackend)
        backend.controller.sanitize.started -= 600  # ten minutes on: its time is up
        rows = await sanitize_rows()
        assert (
            rows["sos"] == "completed successfully" and rows["sprog"] == "no sanitize operation in progress"
        )
        assert rows["gde"] == "global data erased"
