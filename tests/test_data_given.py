"""A command that sends data to the controller is sent with the data the user gave, never with a buffer of
zeros nobody chose: without it, it is refused in one line and nothing reaches the device (CLI, raw
passthrough, scripts' own data excepted, and the TUI)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fuzz.recording import run_cli

from tests.pilots import isolate_tui


@pytest.fixture
def drive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    isolate_tui(tmp_path, monkeypatch)
    block = tmp_path / "block.bin"
    block.write_bytes(b"precious".ljust(512, b"\0"))
    done = run_cli(
        ["send", "sim0n1", "write", "slba=5", "nlb=1", "--data-in", str(block), "--allow-destructive"]
    )
    assert done.code == 0, done.err
    return tmp_path


def block_5(tmp_path: Path) -> bytes:
    out = tmp_path / "back.bin"
    out.unlink(missing_ok=True)
    done = run_cli(["send", "sim0n1", "read", "slba=5", "nlb=1", "--data-out", str(out)])
    assert done.code == 0, done.err
    return out.read_bytes()


@pytest.mark.parametrize(
    "argv",
    [
        ["send", "sim0n1", "write", "slba=5", "nlb=1"],
        ["send", "sim0n1", "io-passthru", "opcode=0x01", "cdw10=5", "--data-len", "512"],
    ],
    ids=["write", "raw write"],
)
def test_a_write_without_data_is_refused_and_the_blocks_stay(drive: Path, argv: list[str]) -> None:
    done = run_cli([*argv, "--allow-destructive"])
    assert done.code == 2 and done.raised is None
    assert done.err.count("\n") == 1 and "sends 512 bytes to the controller and none were given" in done.err
    assert "--data-in FILE" in done.err and "in a script" in done.err
    assert block_5(drive) == b"precious".ljust(512, b"\0")


async def test_in_the_tui_a_write_without_an_input_file_is_refused(drive: Path) -> None:
    from nvtui.app import NvtuiApp
    from nvtui.screens.modals import ConfirmDestructive
    from tests.pilots import until
    from tests.test_app import compose, ready, said

    app = NvtuiApp(device="sim0n1", include_real_devices=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+w")
        assert app.session is not None
        before = len(app.session.history)
        await compose(pilot, "write", slba="5", nlb="1")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDestructive), "the confirmation")
        await pilot.press("y")
        await until(pilot, lambda: said(app, "none were given"), "the refusal")
        assert len(app.session.history) == before
        prepared = await app.session.prepare("sim0n1", "read", ["slba=5", "nlb=1"])
        assert (await app.session.send(prepared)).completion.data == b"precious".ljust(512, b"\0")
