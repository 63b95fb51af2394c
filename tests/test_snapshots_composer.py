"""SVG snapshots of the Compose screen's keyboard-driven composer at 120x40 and 80x24
(pytest-textual-snapshot): the command line filling the form, the CLI's error inline, an nvme-cli line
imported, the search's matches by value name, and jump mode. Deterministic: each test its own simulator
folder (the conftest's), no latency shown, and every input's cursor held still (no blink) before the picture
is taken.

Update after a deliberate UI change: `.venv/bin/pytest tests/test_snapshots_composer.py --snapshot-update`,
then look at the SVGs under tests/__snapshots__/test_snapshots_composer/."""

from __future__ import annotations

from typing import Any

import pytest
from textual import events
from textual.pilot import Pilot
from textual.widgets import Input, OptionList

from nvtui.app import NvtuiApp
from nvtui.screens.compose import ComposeScreen
from nvtui.screens.jump import JumpScreen
from nvtui.widgets.command_form import CommandForm
from tests.pilots import until

SIZES = [pytest.param((120, 40), id="120x40"), pytest.param((80, 24), id="80x24")]


def make_app() -> NvtuiApp:
    return NvtuiApp(include_real_devices=False)


async def on_compose(pilot: Pilot[Any]) -> ComposeScreen:
    app = pilot.app
    assert isinstance(app, NvtuiApp)
    await until(pilot, lambda: app.catalogue is not None and app.controllers and app.device, "start-up")
    await pilot.press("f3")
    await until(pilot, lambda: isinstance(app.screen, ComposeScreen), "the Compose screen")
    screen = app.screen
    assert isinstance(screen, ComposeScreen)
    await until(pilot, lambda: screen.prepared is not None, "the first preview")
    return screen


def form_shows(screen: ComposeScreen, command: str, **texts: str) -> bool:
    forms = screen.query(CommandForm)
    if not forms or forms.first().defn.id != command:
        return False
    values = forms.first().values
    return all(values.get(k) == v for k, v in texts.items())


async def still(pilot: Pilot[Any]) -> None:
    """Workers done, animations over, and no cursor blinking: the picture is the same every run."""
    await pilot.app.workers.wait_for_complete()
    await pilot.wait_for_scheduled_animations()
    for screen in pilot.app.screen_stack:
        for field_input in screen.query(Input):
            field_input.cursor_blink = False
    await pilot.pause()


async def type_line(pilot: Pilot[Any], text: str) -> None:
    await pilot.press("ctrl+e", *text)


@pytest.mark.parametrize("size", SIZES)
def test_the_command_line_fills_the_form(snap_compare: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        screen = await on_compose(pilot)
        await type_line(pilot, "get-log-page lid=smart numd=128")
        await until(pilot, lambda: form_shows(screen, "get-log-page", lid="smart", numd="128"), "the form")
        await until(
            pilot, lambda: screen.prepared is not None and screen.prepared.values["numd"] == 128, "preview"
        )
        await pilot.press("enter")  # on to the first field: its help shows under it
        await still(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_a_wrong_value_shows_the_cli_error_under_the_line(snap_compare: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        screen = await on_compose(pilot)
        await type_line(pilot, "get-log-page lid=smart numd=0")
        await until(pilot, lambda: screen.line_error.startswith("field numd: 0 out of range"), "the error")
        await still(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_an_nvme_cli_line_pasted_in_becomes_its_command(snap_compare: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        screen = await on_compose(pilot)
        await pilot.press("ctrl+e")
        line = screen.query_one("#command-line", Input)
        line.post_message(events.Paste("nvme get-feature /dev/nvme0 -f 4 -H"))
        await until(
            pilot, lambda: line.value == "get-features nsid=1 fid=temperature-threshold", "the import"
        )
        await until(pilot, lambda: screen.prepared is not None, "the preview")
        await still(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_the_filter_finds_commands_by_value_name(snap_compare: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        screen = await on_compose(pilot)
        await pilot.press("ctrl+f", *"smart")
        options = screen.query_one("#catalogue-options", OptionList)
        await until(pilot, lambda: options.option_count > 1 and options.highlighted == 0, "the matches")
        await still(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_jump_mode_over_a_read(snap_compare: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        screen = await on_compose(pilot)
        await pilot.press("ctrl+f", *"read", "enter")
        await until(pilot, lambda: form_shows(screen, "read"), "the read form")
        await until(
            pilot, lambda: screen.prepared is not None and screen.prepared.defn.id == "read", "preview"
        )
        await still(pilot)  # the form laid out before jump mode covers it
        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(pilot.app.screen, JumpScreen), "jump mode")
        await still(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)
