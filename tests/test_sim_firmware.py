"""Firmware Image Download and Firmware Commit on the simulated controller (NVMe Base 2.0, 5.12, 5.13): the
slots, the commit actions, activation at the reset (a power cycle), the statuses a controller returns, the
Firmware Slot log and Identify's FR, FRMW and FWUG; the download and the slots persisted like the blocks."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import pytest
from fuzz.recording import run_cli

from nvtui.backend.sim import SimBackend, identity, open_sim, sim_controllers
from nvtui.backend.sim.firmware import GRANULE, IMAGE_LIMIT, make_image
from nvtui.nvme.command import Command
from tests.simprocs import run_killed_after

NEW = make_image("2.0.0", 3 * GRANULE)


def download(data: bytes, offset: int = 0) -> Command:
    return Command(0x11, True, cdw10=len(data) // 4 - 1, cdw11=offset // 4, data=data, data_len=len(data))


def commit(fs: int, ca: int) -> Command:
    return Command(0x10, True, cdw10=fs | ca << 3)


async def slot_log(dev: SimBackend) -> tuple[int, int, list[str]]:
    c = await dev.submit(Command(0x02, True, nsid=0xFFFF_FFFF, cdw10=0x03 | 127 << 16, data_len=512))
    assert c.ok and c.data is not None
    afi = c.data[0]
    return afi & 0x7, afi >> 4 & 0x7, [c.data[8 * s : 8 * s + 8].decode().rstrip("\0 ") for s in range(1, 8)]


async def running(dev: SimBackend) -> str:
    c = await dev.submit(Command(0x06, True, cdw10=1, data_len=4096))
    assert c.ok and c.data is not None
    return c.data[64:72].decode().rstrip()


async def send_all(dev: SimBackend, image: bytes, piece: int = GRANULE) -> None:
    for offset in range(0, len(image), piece):
        c = await dev.submit(download(image[offset : offset + piece], offset))
        assert c.ok, c.status.name


def status(c: object) -> tuple[int, int]:
    st = c.status  # type: ignore[attr-defined]
    return st.sct, st.sc


async def test_identify_tells_the_slots_the_granularity_and_the_commands(sim_dir: Path) -> None:
    async with open_sim("sim0") as dev:
        c = await dev.submit(Command(0x06, True, cdw10=1, data_len=4096))
        assert c.ok and c.data is not None
        oacs, frmw, fwug = int.from_bytes(c.data[256:258], "little"), c.data[260], c.data[319]
        assert oacs >> 2 & 1  # Firmware Commit and Firmware Image Download supported
        assert frmw & 1 and frmw >> 1 & 0x7 == 3 and frmw >> 4 & 1  # slot 1 read-only, 3 slots, no-reset
        assert fwug == 1  # 4 KiB
        assert await running(dev) == identity.FIRMWARE
        assert await slot_log(dev) == (1, 0, [identity.FIRMWARE, "", "", "", "", "", ""])


async def test_an_image_in_pieces_committed_for_the_reset_runs_after_the_power_cycle(sim_dir: Path) -> None:
    async with open_sim("sim0") as dev:
        # out of order: the pieces only have to join up by the commit
        for offset in (2 * GRANULE, 0, GRANULE):
            assert (await dev.submit(download(NEW[offset : offset + GRANULE], offset))).ok
        assert (await dev.submit(commit(2, 1))).ok  # replace slot 2, activate at the next reset
        assert await slot_log(dev) == (1, 2, [identity.FIRMWARE, "2.0.0", "", "", "", "", ""])
        assert await running(dev) == identity.FIRMWARE  # not before the reset
        again = await dev.submit(commit(0, 0))  # the download was consumed by the commit
        assert status(again) == (1, 0x07)
    async with open_sim("sim0") as dev:  # the last user closed it: this open is a power cycle
        assert await running(dev) == "2.0.0"
        assert await slot_log(dev) == (2, 0, [identity.FIRMWARE, "2.0.0", "", "", "", "", ""])
    (info,) = sim_controllers()
    assert info.firmware == "2.0.0"


async def test_activate_now_changes_the_running_revision_and_discovery_sees_it_at_once(sim_dir: Path) -> None:
    async with open_sim("sim0") as dev:
        await send_all(dev, NEW, piece=2 * GRANULE)
        assert (await dev.submit(commit(3, 3))).ok
        assert await running(dev) == "2.0.0"
        assert await slot_log(dev) == (3, 0, [identity.FIRMWARE, "", "2.0.0", "", "", "", ""])
        (info,) = sim_controllers()  # reads only the checkpoint, while the controller is open
        assert info.firmware == "2.0.0"
        # back to the factory image at the next reset
        assert (await dev.submit(commit(1, 2))).ok
        assert await slot_log(dev) == (3, 1, [identity.FIRMWARE, "", "2.0.0", "", "", "", ""])
    async with open_sim("sim0") as dev:
        assert await running(dev) == identity.FIRMWARE


async def test_replacing_the_running_slot_keeps_the_running_image_until_the_reset(sim_dir: Path) -> None:
    async with open_sim("sim0") as dev:
        await send_all(dev, NEW)
        assert (await dev.submit(commit(2, 3))).ok
        await send_all(dev, make_image("2.0.1"))
        assert (await dev.submit(commit(2, 0))).ok  # replace, no activation
        assert await running(dev) == "2.0.0"
        assert (await slot_log(dev))[2][1] == "2.0.1"
    async with open_sim("sim0") as dev:
        assert await running(dev) == "2.0.1"


async def test_the_controller_picks_a_free_slot_then_one_not_running(sim_dir: Path) -> None:
    async with open_sim("sim0") as dev:
        for revision, expect in (("A", 2), ("B", 3), ("C", 2)):
            await send_all(dev, make_image(revision))
            assert (await dev.submit(commit(0, 0))).ok
            assert (await slot_log(dev))[2][expect - 1] == revision
        assert (await dev.submit(commit(2, 3))).ok  # run C in slot 2: the next pick is slot 3
        await send_all(dev, make_image("D"))
        assert (await dev.submit(commit(0, 0))).ok
        assert (await slot_log(dev))[2][:3] == [identity.FIRMWARE, "C", "D"]


ERRORS = {
    "offset not a granule": (download(NEW[:GRANULE], 512), (0, 0x02)),
    "size not a granule": (download(NEW[:512]), (0, 0x02)),
    "past the largest image": (download(NEW[:GRANULE], IMAGE_LIMIT), (0, 0x02)),
    "commit to the read-only slot": (commit(1, 0), (1, 0x06)),
    "commit to a slot it lacks": (commit(4, 1), (1, 0x06)),
    "activate an empty slot": (commit(3, 2), (1, 0x06)),
    "boot partition": (commit(2, 6), (0, 0x02)),
    "reserved commit action": (commit(2, 4), (0, 0x02)),
}


@pytest.mark.parametrize("name", ERRORS)
async def test_a_wrong_command_gets_the_status_the_spec_gives_and_changes_nothing(
    name: str, sim_dir: Path
) -> None:
    cmd, expect = ERRORS[name]
    async with open_sim("sim0") as dev:
        assert (await dev.submit(download(NEW[:GRANULE]))).ok
        c = await dev.submit(cmd)
        assert status(c) == expect and c.status.dnr
        assert await slot_log(dev) == (1, 0, [identity.FIRMWARE, "", "", "", "", "", ""])
        # the piece downloaded before the failed command is still there
        rest = await dev.submit(download(NEW[GRANULE:], GRANULE))
        assert rest.ok
        assert (await dev.submit(commit(2, 0))).ok


async def test_overlapping_pieces_and_bad_images_are_refused(sim_dir: Path) -> None:
    async with open_sim("sim0") as dev:
        assert (await dev.submit(download(NEW[: GRANULE * 2]))).ok
        c = await dev.submit(download(NEW[GRANULE : GRANULE * 2], GRANULE))
        assert status(c) == (1, 0x14)  # Overlapping Range
        assert (await dev.submit(download(NEW[GRANULE * 2 :], GRANULE * 3))).ok  # a hole at 2 granules
        assert status(await dev.submit(commit(2, 0))) == (1, 0x07)  # Invalid Firmware Image
        # the failed commit kept the download: filling the hole completes the image
        assert (await dev.submit(download(bytes(GRANULE), GRANULE * 2))).ok
        assert (await dev.submit(commit(2, 0))).ok
        assert (await slot_log(dev))[2][1] == "2.0.0"
        assert (await dev.submit(download(NEW[:GRANULE]))).ok
    async with open_sim("sim0") as dev:  # a power cycle discarded that download
        assert status(await dev.submit(commit(2, 0))) == (1, 0x07)
        await send_all(dev, b"not an image".ljust(GRANULE, b"\0"))
        assert status(await dev.submit(commit(2, 0))) == (1, 0x07)
        await send_all(dev, make_image("\x01bad"))  # a revision must be printable
        assert status(await dev.submit(commit(2, 0))) == (1, 0x07)


def test_the_firmware_log_decodes_by_name(sim_dir: Path) -> None:
    async def prepare() -> None:
        async with open_sim("sim0") as dev:
            await send_all(dev, NEW)
            assert (await dev.submit(commit(2, 1))).ok

    asyncio.run(prepare())
    done = run_cli(["send", "sim0", "fw-log"])
    assert done.code == 0, done.err
    lines = {line.split()[0]: line for line in done.out.splitlines()[3:]}
    assert "running slot 2" in lines["afi"]  # the send power-cycled the controller: slot 2 runs
    assert lines["frs2"].split()[2] == "2.0.0" and lines["frs1"].split()[2] == identity.FIRMWARE
    assert "not indicated" in lines["next_slot"]


# --- the CLI: a script downloads in pieces and commits; the guard; the power cycle's notice -----------------


def script(path: Path, image: bytes, tail: list[dict[str, object]]) -> Path:
    steps: list[dict[str, object]] = [
        {
            "command": "firmware-image-download",
            "fields": {"numd": GRANULE // 4, "ofst": offset // 4},
            "data": base64.b64encode(image[offset : offset + GRANULE]).decode(),
        }
        for offset in range(0, len(image), GRANULE)
    ]
    path.write_text(json.dumps({"nvtui-script": 2, "device": "sim0", "steps": steps + tail}))
    return path


def test_a_script_downloads_in_pieces_and_commits_and_the_next_run_runs_it(sim_dir: Path) -> None:
    path = script(
        sim_dir.parent / "fw.yaml",
        NEW,
        [{"command": "firmware-commit", "fields": {"fs": 2, "ca": "replace-and-activate"}}],
    )
    refused = run_cli(["run", str(path)])
    assert refused.code != 0 and "--allow-destructive" in refused.err
    done = run_cli(["run", str(path), "--allow-destructive"])
    assert done.code == 0, done.err
    assert done.out.count("firmware-image-download: Successful Completion") == 3
    assert "firmware-commit: Successful Completion" in done.out
    after = run_cli(["send", "sim0", "identify", "cns=1", "--json"])
    assert after.code == 0 and '"fr"' in after.out and "2.0.0" in after.out
    listed = run_cli(["list"])
    assert "fw 2.0.0" in listed.out


def test_a_download_cut_off_by_the_power_cycle_is_reported(sim_dir: Path, tmp_path: Path) -> None:
    piece = tmp_path / "piece.bin"
    piece.write_bytes(NEW[:GRANULE])
    sent = run_cli(
        ["send", "sim0", "fw-download", "numd=1024", "ofst=0", "--data-in", str(piece), "--allow-destructive"]
    )
    assert sent.code == 0, sent.err
    later = run_cli(["send", "sim0", "fw-commit", "fs=2", "ca=replace", "--allow-destructive"])
    assert "Invalid Firmware Image" in later.out
    assert "nvtui: the power cycle discarded 4,096 bytes of a firmware image" in later.err
    assert "None" not in later.err
    assert (
        run_cli(
            [
                "send",
                "sim0",
                "fw-download",
                "numd=1024",
                "ofst=0",
                "--data-in",
                str(piece),
                "--allow-destructive",
            ]
        ).code
        == 0
    )
    path = tmp_path / "commit.yaml"
    path.write_text(json.dumps({"nvtui-script": 2, "device": "sim0", "steps": [
        {"command": "firmware-commit", "fields": {"fs": 2, "ca": "replace"}}
    ]}))  # fmt: skip
    replayed = run_cli(["run", str(path), "--allow-destructive"])  # `nvtui run` says it too
    assert "Invalid Firmware Image" in replayed.out
    assert "nvtui: the power cycle discarded 4,096 bytes of a firmware image" in replayed.err


# --- the journal: the slots and the activation only when a commit or a reset changes them -----------------


def journal_records(sim_dir: Path) -> list[dict[str, object]]:
    lines = (sim_dir / "sim0.journal").read_bytes().splitlines()[1:]  # after the header
    return [json.loads(line[9:]) for line in lines]  # after the CRC


async def test_only_a_commit_journals_the_slots_and_the_power_cycle_checkpoints_its_activation(
    sim_dir: Path,
) -> None:
    async with open_sim("sim0") as dev:
        assert not any("fw" in r for r in journal_records(sim_dir))  # the power-on's reset: checkpointed
        await send_all(dev, NEW)  # pieces are journaled as pieces: the slots did not change
        assert (await dev.submit(Command(0x06, True, cdw10=1, data_len=4096))).ok
        assert not any("fw" in r for r in journal_records(sim_dir))
        assert (await dev.submit(commit(2, 0))).ok  # replace: slot 2 holds it, slot 1 still runs
        last = journal_records(sim_dir)[-1]
        assert last["fw"] == {"slots": {"2": "2.0.0"}, "active": 1, "next": None, "running": None}
        assert last["fwx"] is True  # the download went into the slot
        assert (await dev.submit(commit(2, 2))).ok  # activate it at the next reset
        records = journal_records(sim_dir)
        assert records[-1]["fw"] == {**last["fw"], "next": 2}  # type: ignore[dict-item]
        assert (await dev.submit(Command(0x06, True, cdw10=1, data_len=4096))).ok
        assert not any("fw" in r for r in journal_records(sim_dir)[len(records) :])
    async with open_sim("sim0") as dev:  # the power cycle activates it; its checkpoint holds that
        assert await running(dev) == "2.0.0"
        assert not any("fw" in r for r in journal_records(sim_dir))
    assert sim_controllers()[0].firmware == "2.0.0"


# --- kill -9: what was acknowledged stays ----------------------------------------------------------------


IDLE = [{"command": "identify", "fields": {"cns": 1}}] * 3000


async def test_a_download_acknowledged_before_a_kill_is_kept_while_the_controller_stays_on(
    sim_dir: Path,
) -> None:
    async with open_sim("sim0") as dev:  # this process keeps the controller powered across the kill
        path = script(sim_dir.parent / "dl.yaml", NEW, IDLE)
        run_killed_after(path, "firmware-image-download: Successful", 3)
        assert (await dev.submit(commit(2, 3))).ok  # the pieces the killed process sent are all there
        assert await running(dev) == "2.0.0"


async def test_a_commit_acknowledged_before_a_kill_survives_it(sim_dir: Path) -> None:
    path = script(sim_dir.parent / "commit.yaml", NEW, [
        {"command": "firmware-commit", "fields": {"fs": 3, "ca": "replace-and-activate"}}, *IDLE
    ])  # fmt: skip
    run_killed_after(path, "firmware-commit: Successful", 1)
    async with open_sim("sim0") as dev:  # the kill left it unclean; this open power-cycles it
        assert await running(dev) == "2.0.0"
        assert await slot_log(dev) == (3, 0, [identity.FIRMWARE, "", "2.0.0", "", "", "", ""])


# --- the TUI: the same update by hand, from Compose ---------------------------------------------------------


async def test_in_the_tui_an_image_is_downloaded_in_pieces_committed_and_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from textual.widgets import Input

    from nvtui.screens.result import ResultScreen
    from nvtui.widgets.decoded_tree import DecodedTree
    from tests.pilots import isolate_tui, until, writable_tui
    from tests.test_app import compose

    isolate_tui(tmp_path, monkeypatch)
    pieces = []
    for n in range(2):
        pieces.append(tmp_path / f"piece{n}.bin")
        pieces[-1].write_bytes(NEW[n * GRANULE : (n + 1) * GRANULE])
    async with writable_tui("sim0") as tui:
        app, pilot = tui.app, tui.pilot
        for n, piece in enumerate(pieces):
            screen = await compose(pilot, "firmware-image-download", numd="1024", ofst=str(1024 * n))
            screen.query_one("#data-in", Input).value = str(piece)
            prepared = lambda s=screen: s.prepared is not None and s.prepared.command.data  # noqa: E731
            await until(pilot, prepared, "the data")
            await tui.send_confirmed(f"piece {n}")
        await compose(pilot, "firmware-commit", fs="2", ca="replace-and-activate-now")
        await tui.send_confirmed("the commit")

        await compose(pilot, "fw-log")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, ResultScreen) and app.screen.result, "the slot log")
        rows = {r.name: r for r in app.screen.query_one("#decoded-tree", DecodedTree).all_rows()}
        assert rows["frs2"].value == "2.0.0" and rows["active_slot"].value == "2"
        assert "running slot 2" in str(rows["afi"].meaning)
