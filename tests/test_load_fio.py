"""A load run taken to fio: the Load screen saves the composed Read or Write, repeated at its queue depth for
its count or time, as a fio job file (io_uring_cmd) that reproduces it; anything fio cannot send says so and
writes nothing; the file is written as every file nvtui writes (no symlink followed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input

from nvtui.app import NvtuiApp
from nvtui.composition import Composition
from nvtui.errors import UsageError
from nvtui.nvme.command import Command
from nvtui.nvmecli.fio import fio_job_for_command
from nvtui.screens.load import LoadScreen
from nvtui.screens.modals import PathPrompt
from tests.pilots import isolate_tui, load_screen, until


def job(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))


def test_a_read_repeats_the_same_lbas_at_the_same_depth_for_the_same_count() -> None:
    read = Command(opcode=0x02, admin=False, nsid=1, cdw10=8, cdw12=7, data_len=8 * 512)
    opts = job(fio_job_for_command("/dev/ng0n1", read, 512, qd=16, count=1000, seconds=None))
    assert opts["ioengine"] == "io_uring_cmd" and opts["cmd_type"] == "nvme"
    assert (opts["filename"], opts["rw"], opts["bs"]) == ("/dev/ng0n1", "read", "4096")
    assert (opts["offset"], opts["size"]) == ("4096", "4096")
    assert (opts["iodepth"], opts["number_ios"]) == ("16", "1000")
    assert "runtime" not in opts


def test_a_random_or_sequential_pattern_exports_over_the_whole_namespace() -> None:
    write = Command(opcode=0x01, admin=False, nsid=1, cdw10=8, cdw12=7, data_len=8 * 512, data=bytes(4096))
    for pattern, rw in (("random", "randwrite"), ("sequential", "write")):
        text = fio_job_for_command("/dev/ng0n1", write, 512, qd=4, count=None, seconds=2, lba_pattern=pattern)
        opts = job(text)
        assert (opts["rw"], opts["bs"], opts["runtime"]) == (rw, "4096", "2")
        assert "offset" not in opts and "size" not in opts and "over the namespace" in text


def test_a_timed_write_on_the_simulator_names_a_placeholder_and_says_whose_data_goes() -> None:
    write = Command(opcode=0x01, admin=False, nsid=1, cdw10=0, cdw11=1, cdw12=0, data_len=4096)
    text = fio_job_for_command("sim0n1", write, 4096, qd=1, count=None, seconds=2.5)
    opts = job(text)
    assert (opts["filename"], opts["rw"], opts["bs"]) == ("/dev/ngXnY", "write", "4096")
    assert opts["offset"] == str((1 << 32) * 4096)
    assert (opts["time_based"], opts["runtime"]) == ("1", "2")
    assert "own buffer pattern" in text


@pytest.mark.parametrize(
    "cmd",
    [
        Command(opcode=0x06, admin=True, cdw10=1, data_len=4096),  # Identify
        Command(opcode=0x00, admin=False, nsid=1),  # Flush
        # a Read with FUA: fio has no option for it
        Command(opcode=0x02, admin=False, nsid=1, cdw12=(1 << 30) | 7, data_len=4096),
    ],
)
def test_what_fio_cannot_send_is_refused_in_one_line(cmd: Command) -> None:
    with pytest.raises(UsageError) as caught:
        fio_job_for_command("/dev/ng0n1", cmd, 512, qd=1, count=10, seconds=None)
    assert "\n" not in str(caught.value)


@pytest.fixture
def sim_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return isolate_tui(tmp_path, monkeypatch)


async def export(app: NvtuiApp, answer: str) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.catalogue is not None and app.device, "start-up")
        app.device = "sim0n1"
        app.composition = Composition("read", {"slba": "16", "nlb": "8"})
        await load_screen(pilot, count="500", qd="4")
        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(app.screen, PathPrompt), "the path prompt")
        app.screen.query_one("#path", Input).value = answer
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, LoadScreen), "the prompt to close")
        await app.workers.wait_for_complete()


async def test_the_load_screen_saves_its_run_as_a_fio_job(sim_env: Path) -> None:
    await export(NvtuiApp(include_real_devices=False), str(sim_env / "run.fio"))
    opts = job((sim_env / "run.fio").read_text())
    assert (opts["rw"], opts["bs"], opts["offset"]) == ("read", "4096", str(16 * 512))
    assert (opts["iodepth"], opts["number_ios"], opts["filename"]) == ("4", "500", "/dev/ngXnY")


async def test_a_symlink_planted_at_the_job_file_is_not_followed(sim_env: Path) -> None:
    victim = sim_env / "victim"
    victim.write_text("keep")
    (sim_env / "run.fio").symlink_to(victim)
    await export(NvtuiApp(include_real_devices=False), str(sim_env / "run.fio"))
    assert victim.read_text() == "keep"
    assert (sim_env / "run.fio").is_symlink()
