"""The simulated controller's state between runs: data, formats, counters, the lock, bad state files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nvtui.backend.sim import open_sim, sim_controllers, state_dir
from nvtui.errors import DeviceError
from nvtui.nvme.command import Command


def smart() -> Command:
    return Command(0x02, True, nsid=0xFFFF_FFFF, cdw10=0x02 | 127 << 16, data_len=512)


def counter(data: bytes | None, offset: int) -> int:
    assert data is not None
    return int.from_bytes(data[offset : offset + 16], "little")


def test_state_dir_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
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


async def test_a_second_open_in_the_same_process_shares_the_controller(sim_dir: Path) -> None:
    async with open_sim("sim0n1") as a, open_sim("sim0") as b:
        assert a.controller is b.controller
        await a.submit(Command(0x01, False, nsid=1, cdw10=3, data_len=512, data=b"shared".ljust(512, b"\0")))
        assert (await b.submit(Command(0x0A, True, cdw10=0x06))).ok
        async with open_sim("sim0n1") as c:
            r = await c.submit(Command(0x02, False, nsid=1, cdw10=3, data_len=512))
            assert r.data is not None and r.data.startswith(b"shared")
        assert (await a.submit(Command(0x02, False, nsid=1, cdw10=3, data_len=512))).ok  # still open


async def test_another_process_gets_a_clear_error_while_it_is_open(sim_dir: Path) -> None:
    script = (
        "from nvtui.backend.sim import SimBackend\n"
        "from nvtui.errors import DeviceError\n"
        "try:\n"
        "    SimBackend('sim0n1', lock_timeout=0.2)\n"
        "except DeviceError as exc:\n"
        "    print('refused:', exc)\n"
        "else:\n"
        "    print('opened')\n"
    )
    async with open_sim("sim0n1"):
        busy = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert busy.stdout.startswith("refused:"), busy.stderr
    assert "in use by process" in busy.stdout and "NVTUI_SIM_DIR" in busy.stdout
    free = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert free.stdout.strip() == "opened", free.stderr


async def test_corrupt_state_is_recreated_with_a_notice(sim_dir: Path) -> None:
    (sim_dir / "sim0.json").write_text("{not json")
    (sim_dir / "sim0n1.img").write_bytes(b"stale" * 100)
    async with open_sim("sim0n1") as ns:
        assert ns.notice is not None and "corrupt" in ns.notice and "\n" not in ns.notice
        r = await ns.submit(Command(0x02, False, nsid=1, cdw10=0, data_len=512))
        assert r.data == bytes(512)  # blocks no state describes are erased
    async with open_sim("sim0n1") as ns:
        assert ns.notice is None


async def test_state_of_the_wrong_shape_is_recreated(sim_dir: Path) -> None:
    (sim_dir / "sim0.json").write_text(json.dumps({"schema": 1, "serial": 5}))
    async with open_sim("sim0") as ctrl:
        assert ctrl.notice is not None and "corrupt" in ctrl.notice
        assert (await ctrl.submit(Command(0x06, True, cdw10=1, data_len=4096))).ok


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


async def test_state_saves_atomically(sim_dir: Path) -> None:
    async with open_sim("sim0"):
        pass
    assert not list(sim_dir.glob("*.tmp"))
    json.loads((sim_dir / "sim0.json").read_text())


async def test_sim_controllers_reports_current_formats(sim_dir: Path) -> None:
    (info,) = sim_controllers()
    assert info.simulated and info.transport == "sim" and info.char_dev is None
    assert [n.name for n in info.namespaces] == ["sim0n1", "sim0n2"]
    assert info.namespaces[0].lba_size == 512 and info.namespaces[1].zoned
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
