"""The Compose screen driven from the keyboard, as a user would (issue 12, item 5; issue 14's paste): a
command line in the CLI's syntax kept in step with the form, completion, an nvme-cli line pasted in, Enter
that moves on and never sends, fields that select their text, jump mode, file fields that stay with their
command, a search that finds commands by what they do, and the key presses a SMART read and a re-sent read
cost from a fresh start. Driven by Textual's pilot on the simulator (helpers from test_app)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from test_app import compose, make_app, ready, sent_count, sim_env
from textual import events
from textual.command import CommandList
from textual.pilot import Pilot
from textual.widgets import Input, OptionList

from nvtui.app import NvtuiApp
from nvtui.screens.compose import ComposeScreen
from nvtui.screens.jump import JumpScreen
from nvtui.screens.result import ResultScreen
from nvtui.widgets.command_form import CommandForm
from nvtui.widgets.command_line import CommandLine
from tests.pilots import until

__all__ = ["sim_env"]  # the fixture: a fresh simulator, no user catalogues
SIZE = (120, 40)


async def on_compose(pilot: Pilot[int]) -> ComposeScreen:
    app = pilot.app
    await pilot.press("f3")
    await until(pilot, lambda: isinstance(app.screen, ComposeScreen), "the Compose screen")
    screen = app.screen
    assert isinstance(screen, ComposeScreen)
    await until(pilot, lambda: screen.defn is not None and bool(screen.query("#form")), "the first form")
    return screen


def form_of(screen: ComposeScreen) -> CommandForm:
    return screen.query_one("#form", CommandForm)


def line_of(screen: ComposeScreen) -> CommandLine:
    return screen.query_one("#command-line", CommandLine)


def showing(screen: ComposeScreen, command: str, **texts: str) -> bool:
    forms = screen.query(CommandForm)
    if not forms or forms.first().defn.id != command or screen.defn is None or screen.defn.id != command:
        return False
    values = forms.first().values
    return all(values.get(k) == v for k, v in texts.items())


async def type_line(pilot: Pilot[int], screen: ComposeScreen, text: str) -> None:
    await pilot.press("ctrl+e")
    line = line_of(screen)
    await until(pilot, lambda: line.has_focus, "the command line focused")
    line.value = ""
    await pilot.press(*text)


def options_shown(screen: ComposeScreen) -> list[str]:
    options = screen.query_one("#catalogue-options", OptionList)
    return [str(options.get_option_at_index(i).id) for i in range(options.option_count)]


def highlighted(screen: ComposeScreen) -> str | None:
    option = screen.query_one("#catalogue-options", OptionList).highlighted_option
    return option.id if option is not None else None


# --- the command line -----------------------------------------------------------------------------------


async def test_typing_the_command_line_fills_the_form_and_editing_the_form_rewrites_the_line() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = await on_compose(pilot)
        await type_line(pilot, screen, "get-log-page lid=smart numd=128")
        await until(
            pilot, lambda: showing(screen, "get-log-page", lid="smart", numd="128"), "the form filled"
        )
        await until(pilot, lambda: screen.prepared is not None, "the preview")
        assert screen.prepared is not None and screen.prepared.values["numd"] == 128
        assert screen.line_error == ""

        await pilot.press("enter")  # on to the form's first field; nothing sent
        await until(pilot, lambda: screen.focused is not None and screen.focused.id == "field-nsid", "nsid")
        form_of(screen).set_value("numd", "64")
        line = line_of(screen)
        await until(pilot, lambda: line.value == "get-log-page lid=smart numd=64", "the line rewritten")
        form_of(screen).set_value("lid", "error")
        await until(pilot, lambda: line.value == "get-log-page lid=error numd=64", "the line rewritten")
        assert await sent_count(app) == 0


async def test_the_line_completes_command_ids_field_names_and_value_names() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = await on_compose(pilot)
        line = line_of(screen)
        await type_line(pilot, screen, "get-featu")
        await until(pilot, lambda: line._suggestion == "get-features", "the command id offered")
        await pilot.press("tab")
        assert line.value == "get-features" and line.has_focus
        await pilot.press("space", "f")
        await until(pilot, lambda: line._suggestion == "get-features fid=", "the field name offered")
        await pilot.press("tab", *"temp")
        await until(
            pilot, lambda: line._suggestion == "get-features fid=temperature-threshold", "the value name"
        )
        await pilot.press("tab")
        await until(pilot, lambda: showing(screen, "get-features", fid="temperature-threshold"), "the form")


async def test_a_wrong_value_in_the_line_shows_the_cli_error_and_is_never_sent() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = await on_compose(pilot)
        await type_line(pilot, screen, "get-log-page lid=smart numd=0")
        expected = "field numd: 0 out of range 0x1-0x3fffffff"  # what `nvtui send` says, word for word
        await until(pilot, lambda: screen.line_error.startswith(expected), "the CLI's error")
        assert expected in str(screen.query_one("#line-error").render())
        await pilot.press("ctrl+s")
        await pilot.press("backspace", "8")  # numd=8: the control, which is sent
        await until(pilot, lambda: screen.line_error == "" and screen.prepared is not None, "the error gone")
        assert await sent_count(app) == 0
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, ResultScreen), "the result")
        assert app.session is not None and app.session.history[-1].prepared.values["numd"] == 8


async def test_ctrl_e_selects_the_line_so_a_new_one_is_typed_over_it() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = await on_compose(pilot)
        line = line_of(screen)
        await until(pilot, lambda: line.value == "identify cns=controller", "the line of the first form")
        await pilot.press("ctrl+e", *"smart-log")  # the line focused
        await until(pilot, lambda: line.value == "smart-log", "the line replaced")
        await pilot.press("ctrl+e", *"fw-log")  # and again, while it has the focus
        await until(pilot, lambda: showing(screen, "fw-log") and line.value == "fw-log", "replaced again")


async def test_an_unknown_command_or_field_in_the_line_is_named() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = await on_compose(pilot)
        await type_line(pilot, screen, "get-log-page bogus=1")
        await until(pilot, lambda: "unknown field 'bogus'" in screen.line_error, "the unknown field named")
        await type_line(pilot, screen, "smrt-log")
        await until(pilot, lambda: "unknown command 'smrt-log'" in screen.line_error, "the unknown command")
        assert "did you mean smart-log" in screen.line_error


# --- nvme-cli lines pasted in ---------------------------------------------------------------------------


async def paste(pilot: Pilot[int], screen: ComposeScreen, text: str) -> None:
    await pilot.press("ctrl+e")
    line = line_of(screen)
    line.value = ""
    line.post_message(events.Paste(text))
    await pilot.pause()


async def test_a_pasted_nvme_cli_line_becomes_the_command_it_means() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = await on_compose(pilot)
        await paste(pilot, screen, "sudo nvme get-log /dev/nvme0 --log-id=2 --log-len=512")
        await until(
            pilot, lambda: showing(screen, "get-log-page", lid="smart", numd="128"), "the imported form"
        )
        line = line_of(screen)
        await until(
            pilot, lambda: line.value == "get-log-page lid=smart numd=128", "the line in nvtui's words"
        )
        assert screen.line_error == ""
        await until(pilot, lambda: screen.prepared is not None, "the preview")
        assert screen.prepared is not None and screen.prepared.command.data_len == 512

        out = Path("features.bin").resolve()
        await paste(pilot, screen, f"nvme read /dev/nvme0n1 -s 8 -c 3 -z 2048 -d {out}")
        await until(pilot, lambda: showing(screen, "read", slba="8", nlb="4"), "the imported read")
        assert screen.query_one("#data-out", Input).value == str(out)


async def test_an_nvme_cli_option_nvtui_cannot_map_is_named_in_one_line() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = await on_compose(pilot)
        await paste(pilot, screen, "nvme get-log /dev/nvme0 --log-id=2 --bogus=1")
        await until(pilot, lambda: "--bogus" in screen.line_error, "the option named")
        assert "\n" not in screen.line_error
        assert screen.defn is not None and screen.defn.id == "identify"  # the form did not change
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()  # a send, had one started, is over
        assert await sent_count(app) == 0


# --- keyboard -------------------------------------------------------------------------------------------


async def test_enter_moves_to_the_next_field_and_never_sends_and_a_field_selects_its_text() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = await compose(pilot, "get-log-page")
        lsp = screen.query_one("#field-lsp", Input)
        assert lsp.value == "0"
        lsp.focus()
        await pilot.press(*"16")  # over the selected 0: 16, not 016
        await until(pilot, lambda: screen.form_values.get("lsp") == "16", "lsp typed")
        await pilot.press("enter")
        await until(
            pilot, lambda: screen.focused is not None and screen.focused.id == "field-rae", "the next field"
        )
        await pilot.press("enter")  # a flag too: Enter moves on (Space toggles it)
        await until(pilot, lambda: screen.focused is not None and screen.focused.id == "field-numd", "numd")
        assert screen.form_values.get("rae") == "0"
        await pilot.press("enter")
        await until(pilot, lambda: screen.focused is not None and screen.focused.id == "field-lsi", "lsi")
        assert isinstance(app.screen, ComposeScreen) and await sent_count(app) == 0


async def test_the_first_field_is_a_few_keys_from_the_filter() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = await on_compose(pilot)
        await until(
            pilot, lambda: screen.focused is not None and screen.focused.id == "catalogue-filter", "filter"
        )
        await pilot.press("tab", "tab", "tab")  # the list, the command line, the first field (was 15-24)
        await until(pilot, lambda: screen.focused is not None and screen.focused.id == "field-nsid", "by Tab")
        await pilot.press("ctrl+f", "ctrl+o", "1")  # or from anywhere: jump mode, the first hint
        await until(
            pilot, lambda: screen.focused is not None and screen.focused.id == "field-nsid", "by jump"
        )


async def test_jump_mode_reaches_a_field_by_hint_key_or_by_name() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = await compose(pilot, "get-log-page")
        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(app.screen, JumpScreen), "jump mode")
        await pilot.press("5")  # nsid lid lsp rae numd: the fifth
        await until(pilot, lambda: screen.focused is not None and screen.focused.id == "field-numd", "numd")
        await pilot.press("ctrl+o", *"ls", "enter")  # by name: lsp before lsi
        await until(pilot, lambda: screen.focused is not None and screen.focused.id == "field-lsp", "lsp")
        await pilot.press("ctrl+o", "escape")
        await until(pilot, lambda: app.screen is screen, "jump mode left")
        assert screen.focused is not None and screen.focused.id == "field-lsp"


async def test_file_fields_stay_with_the_command_they_were_set_for(sim_env: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+w")
        data = sim_env / "block.bin"
        data.write_bytes(bytes(512))
        screen = await compose(pilot, "write", slba="8", nlb="1")
        screen.query_one("#data-in", Input).value = str(data)
        await until(
            pilot, lambda: screen.prepared is not None and screen.prepared.defn.id == "write", "write"
        )
        await compose(pilot, "read", slba="8", nlb="1")  # not refused for the write's input file
        assert screen.query_one("#data-in", Input).value == ""
        assert screen.prepared is not None and screen.prepared.defn.id == "read"
        await compose(pilot, "write")
        assert screen.query_one("#data-in", Input).value == str(data)  # back with its own file


# --- search ---------------------------------------------------------------------------------------------


async def filter_for(pilot: Pilot[int], screen: ComposeScreen, text: str) -> None:
    await pilot.press("ctrl+f")
    screen.query_one("#catalogue-filter", Input).value = ""
    await pilot.press(*text)


async def test_the_filter_finds_commands_by_value_names_help_and_aliases() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = await on_compose(pilot)
        await filter_for(pilot, screen, "smart")
        await until(
            pilot, lambda: "get-log-page lid=smart" in options_shown(screen), "get-log-page lid=smart"
        )
        assert highlighted(screen) == options_shown(screen)[0] == "smart-log"

        await filter_for(pilot, screen, "temperature")
        await until(
            pilot, lambda: highlighted(screen) == "get-features fid=temperature-threshold", "the feature"
        )
        await pilot.press("enter")
        await until(pilot, lambda: showing(screen, "get-features", fid="temperature-threshold"), "its form")

        await filter_for(pilot, screen, "zone report")
        await until(pilot, lambda: highlighted(screen) == "zone-mgmt-recv", "the zone report")


async def test_enter_after_the_filter_changes_picks_the_highlighted_row() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = await on_compose(pilot)
        await filter_for(pilot, screen, "write-u")
        await until(pilot, lambda: highlighted(screen) == "write-uncorrectable", "write-uncorrectable first")
        await pilot.press("down")  # the highlight moves off the first row...
        await pilot.press("backspace", "backspace")  # ...and the filter changes: the first match again
        await pilot.press("enter")
        await until(pilot, lambda: showing(screen, "write"), "the write form (not Write Uncorrectable)")


def first_offer(app: NvtuiApp) -> str | None:
    """The palette's highlighted offer, once it has searched."""
    lists = app.screen.query(CommandList)
    option = lists.first().highlighted_option if lists else None
    return str(option.prompt).split("\n")[0] if option is not None else None


async def test_the_palette_finds_commands_the_same_way() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+p", *"smart")
        await until(pilot, lambda: first_offer(app) == "Compose smart-log", "the palette's first offer")
        await pilot.press("enter")  # the first offer: the SMART log, not firmware-commit
        await until(pilot, lambda: isinstance(app.screen, ComposeScreen), "Compose")
        compose_screen = app.screen
        assert isinstance(compose_screen, ComposeScreen)
        await until(pilot, lambda: showing(compose_screen, "smart-log"), "the SMART log")
        await pilot.press("f2")
        await pilot.press("ctrl+p", *"temperature")
        wanted = "Compose get-features fid=temperature-threshold"
        await until(pilot, lambda: first_offer(app) == wanted, "the palette's first offer")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ComposeScreen), "Compose")
        screen = app.screen
        assert isinstance(screen, ComposeScreen)
        await until(
            pilot, lambda: showing(screen, "get-features", fid="temperature-threshold"), "the feature"
        )


# --- key presses from a fresh start ---------------------------------------------------------------------


async def count_keys(pilot: Pilot[int], keys: list[str]) -> int:
    for key in keys:
        await pilot.press(key)
        await pilot.app.workers.wait_for_complete()
    return len(keys)


async def test_smart_from_a_fresh_start_in_at_most_6_keys() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert app.session is not None and not app.session.history
        keys = await count_keys(pilot, ["f3", "s", "m", "enter", "ctrl+s"])
        await until(pilot, lambda: bool(app.session and app.session.history), "the command sent")
        assert keys <= 6
        sent = app.session.history[-1]
        assert sent.ok and sent.prepared.values["lid"] == 2  # Get Log Page, SMART / Health
        await until(pilot, lambda: isinstance(app.screen, ResultScreen), "its result")


async def test_change_nlb_of_the_last_read_and_send_it_again_in_at_most_5_keys(sim_env: Path) -> None:
    app: NvtuiApp = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await compose(pilot, "read", slba="0", nlb="1")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, ResultScreen), "the first read's result")
        assert app.session is not None and len(app.session.history) == 1

        keys = await count_keys(pilot, ["f3", "ctrl+o", "5", "8", "ctrl+s"])
        await until(
            pilot, lambda: len(app.session.history) == 2 if app.session else False, "the read re-sent"
        )
        assert keys <= 5
        again = app.session.history[-1]
        assert again.ok and again.prepared.defn.id == "read" and again.prepared.values["nlb"] == 8
        assert len(again.completion.data) == 8 * 512


async def test_the_preview_shows_nvme_clis_own_verb_and_the_passthru_form() -> None:
    """Issue 14's export in the composer: the line an nvme-cli user would type, and the passthru line."""
    from nvtui.widgets.submission_view import SubmissionView

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = await on_compose(pilot)
        await type_line(pilot, screen, "get-log-page lid=smart numd=128")
        view = screen.query_one(SubmissionView)

        def shown() -> str:
            return str(view.render())

        def lines() -> list[str]:
            return [line for line in shown().splitlines() if line.startswith("$ ")]

        await until(pilot, lambda: len(lines()) == 2, "both nvme-cli lines")
        assert lines()[0].startswith("$ nvme smart-log ")  # get-log-page lid=smart: nvme-cli's own verb
        lines_now = lines()
        assert "admin-passthru" in lines_now[1]
        assert "/dev/nvmeX" in lines_now[0]  # a simulated device named as a placeholder nvme-cli can take


async def test_commands_picked_faster_than_their_forms_mount_leave_the_last_one_shown() -> None:
    # A slow machine (a TCG guest under load) let a second pick replace a form still mounting: the removed
    # form's Mount then found none of its fields and the app stopped with NoMatches.
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = await on_compose(pilot)
        for ticks in range(12):  # the second pick lands at each step of the first form's mounting
            for command in ("identify", "get-log-page", "read", "get-features"):
                screen.open_command(command)
                for _ in range(ticks):
                    await asyncio.sleep(0)
        await until(pilot, lambda: showing(screen, "get-features"), "the last command's form", timeout=60)
        await pilot.pause(0.2)
        assert len(screen.query(CommandForm)) == 1 and app.return_code is None
        await until(
            pilot, lambda: screen.prepared is not None and screen.prepared.defn.id == "get-features", "it"
        )


# --- a data buffer built from fields --------------------------------------------------------------------


async def test_a_create_s_buffer_fields_are_inputs_that_build_the_data() -> None:
    from nvtui import structures

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = await compose(pilot, "namespace-management", sel="create", nsze="2048", ncap="2048")
        form = form_of(screen)
        names = [name for name, _ in form.targets()]
        assert names == ["nsid", "sel", "csi", "nsze", "ncap", "flbas", "dps", "nmic", "anagrpid", "nvmsetid",
                         "endgid"]  # fmt: skip
        assert form.query_one("#field-flbas", Input).value == ""  # not given: zero in the buffer, no word
        line = line_of(screen)
        await until(
            pilot, lambda: line.value == "namespace-management sel=create nsze=2048 ncap=2048", "the line"
        )
        await until(pilot, lambda: screen.prepared is not None and screen.prepared.values.get("ncap") == 2048,
                    "the preview")  # fmt: skip
        assert screen.prepared is not None
        built = structures.encode("identify-namespace", {"nsze": 2048, "ncap": 2048})
        assert screen.prepared.command.data == built and screen.prepared.command.data_len == 4096
        help_text = str(form.query(".field-help")[3].render())
        assert "data nsze" in help_text and "0x0-0xffffffffffffffff" in help_text
        form.set_value("dps", "256")  # a value out of the layout field's bits: the input says so
        await until(pilot, lambda: not form.valid, "the form invalid")
        await type_line(pilot, screen, "ns-attach nsid=3 sel=attach ctrlids=1,2")
        await until(pilot, lambda: showing(screen, "namespace-attachment", ctrlids="1,2"), "the list filled")
        assert await sent_count(app) == 0
