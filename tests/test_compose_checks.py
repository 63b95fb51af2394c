"""The Compose form goes through the same checks as `nvtui send`: an output file that cannot be written
stops the send before the command goes out (the preview says why), an endless input file is refused, a raw
data opcode needs "no data" ticked, and a write on a namespace with separate metadata carries the metadata
file or the "zeros" box. Driven by Textual's pilot on the simulator (helpers from test_app)."""

from __future__ import annotations

from pathlib import Path

from test_app import compose, make_app, ready, said, sent_count, sim_env
from textual.widgets import Checkbox, Input

from nvtui.session import send_once
from tests.pilots import until

__all__ = ["sim_env"]  # the fixture: a fresh simulator, no user catalogues
SIZE = (120, 40)


async def test_an_output_file_that_cannot_be_written_stops_the_send(sim_env: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = await compose(pilot, "get-log-page", lid="smart")
        before = await sent_count(app)
        screen.query_one("#data-out", Input).value = str(sim_env / "no" / "such" / "log.bin")
        await until(pilot, lambda: screen.prepared is None, "the preview to refuse the output file")
        assert "does not exist" in str(screen.query_one("#submission").render())
        await pilot.press("ctrl+s")
        await until(pilot, lambda: said(app, "does not exist"), "the refusal said")
        assert await sent_count(app) == before  # nothing sent, so nothing lost
        good = sim_env / "log.bin"
        screen.query_one("#data-out", Input).value = str(good)  # the control
        await until(pilot, lambda: screen.prepared is not None, "the preview")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: good.exists(), "the log page written")
        assert good.stat().st_size == 4096 and await sent_count(app) == before + 1


async def test_an_endless_input_file_is_refused_in_the_preview(sim_env: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+w")  # writes allowed: the refusal below is the file's
        screen = await compose(pilot, "write", slba="8", nlb="1")
        screen.query_one("#data-in", Input).value = "/dev/zero"
        await until(pilot, lambda: screen.prepared is None, "the preview to refuse /dev/zero")
        assert "character device" in str(screen.query_one("#submission").render())


async def test_raw_no_data_and_metadata_zeros_are_options_of_the_form(sim_env: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert app.session is not None
        assert (
            await send_once(app.session, "sim0", "format-nvm", ["nsid=1", "lbaf=2"], allow_destructive=True)
        ).ok
        screen = await compose(pilot, "identify")
        assert not screen.query_one("#meta-row").display and not screen.query_one("#no-data").display
        await pilot.press("ctrl+w")
        screen.open_command("write", {"slba": "8", "nlb": "1"})  # not previewable yet: no metadata
        await until(pilot, lambda: screen.defn is not None and screen.defn.id == "write", "the write form")
        assert screen.query_one("#meta-row").display  # a command that moves metadata
        await until(
            pilot, lambda: "--zero-metadata" in str(screen.query_one("#submission").render()), "the refusal"
        )
        assert screen.prepared is None
        screen.query_one("#zero-metadata", Checkbox).value = True
        await until(pilot, lambda: screen.prepared is not None, "the preview with zeros")
        assert screen.prepared is not None and screen.prepared.command.metadata == bytes(8)

        screen.open_command("admin-passthru", {"opcode": "0x0a", "cdw10": "1"})
        await until(pilot, lambda: screen.defn is not None and screen.defn.id == "admin-passthru", "raw mode")
        assert screen.query_one("#no-data").display
        await until(
            pilot, lambda: "address 0" in str(screen.query_one("#submission").render()), "the refusal"
        )
        screen.query_one("#no-data", Checkbox).value = True
        await until(
            pilot, lambda: screen.prepared is not None and screen.prepared.no_data, "no data, asserted"
        )


async def test_the_data_length_is_read_as_the_cli_reads_data_len(sim_env: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = await compose(pilot, "get-log-page", lid="smart", numd="128")
        data_len = screen.query_one("#data-len", Input)
        data_len.value = "0b11"  # no binary, as on the command line
        await until(pilot, lambda: screen.prepared is None, "the refusal")
        assert "data length '0b11' is not a number" in str(screen.query_one("#submission").render())
        data_len.value = "0512"  # a leading zero is still decimal, as `--data-len 0512` is
        await until(
            pilot, lambda: screen.prepared is not None and screen.prepared.command.data_len == 512, "512"
        )
