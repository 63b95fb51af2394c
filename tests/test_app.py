"""The TUI's flows, driven by Textual's pilot against the simulated controller: compose and send Identify,
a load run whose chart fills and stops, a script saved and replayed, destructive commands refused, cancelled
and confirmed."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, SelectionList

from nvtui.app import NvtuiApp
from nvtui.screens.compose import ComposeScreen
from nvtui.screens.modals import ConfirmDestructive, ConfirmScript
from nvtui.screens.result import ResultScreen
from nvtui.screens.scripts import ScriptsScreen
from nvtui.widgets.command_form import CommandForm
from nvtui.widgets.decoded_tree import DecodedTree
from nvtui.widgets.latency_chart import LatencyOverTime, merge_buckets
from tests.pilots import isolate_tui, load_screen, until

SIZE = (80, 24)


@pytest.fixture(autouse=True)
def sim_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh simulated controller with no modelled delay; no user catalogues; cwd in tmp."""
    return isolate_tui(tmp_path, monkeypatch)


def make_app() -> NvtuiApp:
    return NvtuiApp(include_real_devices=False)


async def ready(pilot: Pilot[int]) -> NvtuiApp:
    app = pilot.app
    assert isinstance(app, NvtuiApp)
    await until(pilot, lambda: app.catalogue is not None and app.controllers and app.device, "start-up")
    return app


async def compose(pilot: Pilot[int], command: str, **fields: str) -> ComposeScreen:
    """Go to Compose, find `command` by typing its name in the filter, pick it, fill `fields`."""
    app = pilot.app
    await pilot.press("f3")
    await until(pilot, lambda: isinstance(app.screen, ComposeScreen), "the Compose screen")
    screen = app.screen
    assert isinstance(screen, ComposeScreen)
    await pilot.press("ctrl+f")
    filter_box = screen.query_one("#catalogue-filter", Input)
    filter_box.value = ""
    await pilot.press(*command)
    await pilot.press("enter")
    await until(pilot, lambda: screen.defn is not None and screen.defn.id == command, f"the {command} form")
    await until(pilot, lambda: bool(screen.query("#form")), "the form to mount")
    form = screen.query_one("#form", CommandForm)
    for name, value in fields.items():
        form.set_value(name, value)
    await until(
        pilot,
        lambda: (
            all(screen.form_values.get(k) == v for k, v in fields.items()) and screen.prepared is not None
        ),
        "the preview of the composed command",
    )
    return screen


def table_rows(table: DataTable[object]) -> list[list[str]]:
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def said(app: NvtuiApp, words: str) -> bool:
    """Whether a notification shown so far contains `words`."""
    return any(words in n.message for n in app._notifications)


def palette_hits(app: NvtuiApp) -> str:
    """The command palette's hits as shown (empty until the search has found some)."""
    from textual.command import CommandList

    for hits in app.screen.query(CommandList):
        return " ".join(str(hits.get_option_at_index(i).prompt) for i in range(hits.option_count))
    return ""


async def sent_count(app: NvtuiApp) -> int:
    assert app.session is not None
    return len(app.session.history)


async def test_identify_from_the_catalogue_shows_the_decoded_model_number() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert app.device == "sim0n1"
        screen = await compose(pilot, "identify", cns="controller")
        preview = str(screen.query_one("#submission").render())
        assert "opcode 06 (admin)" in preview
        assert "cdw10 00000001" in preview  # CNS 01h in CDW10 bits 7:0
        assert "nvme admin-passthru" in preview
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, ResultScreen) and app.screen.result, "the result")
        result_screen = app.screen
        assert isinstance(result_screen, ResultScreen)
        assert "Successful Completion" in str(result_screen.query_one("#status").render())
        tree = result_screen.query_one("#decoded-tree", DecodedTree)
        by_name = {row.name: row for row in tree.all_rows()}
        assert by_name["mn"].value == "nvtui simulated NVMe controller"
        assert by_name["mn"].where == "24"  # Identify Controller: MN at bytes 63:24


async def test_an_out_of_range_field_is_flagged_and_not_sent() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = await compose(pilot, "get-log-page")
        form = screen.query_one("#form", CommandForm)
        form.set_value("lid", "0x1ff")  # LID is 8 bits
        await until(pilot, lambda: not screen.form_valid, "the range check")
        before = await sent_count(app)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: said(app, "see the red field"), "the refusal")
        await app.workers.wait_for_complete()
        assert await sent_count(app) == before
        assert isinstance(app.screen, ComposeScreen)


async def test_history_keeps_every_result_and_reopens_one() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        for cns in ("controller", "namespace"):
            await compose(pilot, "identify", cns=cns)
            before = await sent_count(app)
            await pilot.press("ctrl+s")
            await until(pilot, lambda b=before: len(app.session.history) == b + 1, "the send")  # type: ignore[union-attr,misc]
        await until(pilot, lambda: isinstance(app.screen, ResultScreen), "the result screen")
        screen = app.screen
        assert isinstance(screen, ResultScreen)
        assert screen.result is not None and screen.result.decoded is not None
        assert screen.result.decoded.name == "identify-namespace"
        await pilot.press("h", "home", "enter")  # reopen the first
        await until(
            pilot,
            lambda: screen.result is not None and screen.result.decoded.name == "identify-controller",  # type: ignore[union-attr]
            "the first result to reopen",
        )


async def test_a_load_run_fills_the_chart_and_stops_at_once() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await compose(pilot, "identify", cns="controller")
        screen = await load_screen(pilot, count="", seconds="30", qd="8")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: screen.running, "the run to start")
        await until(
            pilot, lambda: screen.stats is not None and len(screen.stats.series) >= 4, "1 s of intervals"
        )
        stats = screen.stats
        assert stats is not None
        assert stats.total.count > 100 and stats.errors == 0
        time_chart = screen.query_one("#chart-time")  # drawn in a thread, once a second: wait for it
        await until(pilot, lambda: "p50" in str(time_chart.render()), "the time chart's lines", timeout=3.0)
        assert "p99" in str(time_chart.render())
        assert isinstance(time_chart, LatencyOverTime) and time_chart.builds <= 4  # once a second, not a tick
        shown = str(screen.query_one("#load-stats").render())
        assert "IOPS" in shown and "p99.9" in shown and "running" in shown
        await pilot.press("escape")
        await until(pilot, lambda: not screen.running, "the run to stop", timeout=1.0)
        assert stats.elapsed_s < 10  # stopped long before its 30 s
        done = stats.total.count
        await app.workers.wait_for_complete()  # the run's worker has ended: whatever it sent is counted
        assert stats.total.count == done  # nothing more is sent after the stop


async def test_a_counted_load_run_sends_exactly_n() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = await load_screen(pilot, count="500", qd="4")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: screen.stats is not None and not screen.running, "the run to finish")
        assert screen.stats is not None and screen.stats.total.count == 500


def test_histogram_bars_cover_the_buckets() -> None:
    buckets = [(1000, 1031, 5), (2000, 2063, 10), (100_000, 103_000, 1)]
    bars = merge_buckets(buckets, bars=10)
    assert len(bars) == 10
    assert sum(count for _, count in bars) == 16
    assert bars[0][0] == 1.0  # µs


async def test_save_the_history_as_a_script_and_replay_it(sim_env: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        for cns in ("controller", "namespace"):
            await compose(pilot, "identify", cns=cns)
            before = await sent_count(app)
            await pilot.press("ctrl+s")
            await until(pilot, lambda b=before: len(app.session.history) == b + 1, "the send")  # type: ignore[union-attr,misc]
        await pilot.press("f6")
        await until(pilot, lambda: isinstance(app.screen, ScriptsScreen), "the Scripts screen")
        screen = app.screen
        assert isinstance(screen, ScriptsScreen)
        await until(pilot, lambda: screen.query_one(SelectionList).option_count == 2, "the history list")
        await pilot.press("a")  # save all
        await until(pilot, lambda: isinstance(app.screen.focused, Input), "the path prompt")
        path = sim_env / "session.yaml"
        prompt_input = app.screen.focused
        assert isinstance(prompt_input, Input)
        prompt_input.value = str(path)
        await pilot.press("enter")
        await until(pilot, lambda: screen.script is not None, "the saved script to open")
        assert path.read_text().startswith("nvtui-script: 2")
        assert [s.command for s in screen.script.steps] == ["identify", "identify"]  # type: ignore[union-attr]

        before = await sent_count(app)
        await pilot.press("n")  # one step
        await until(pilot, lambda: screen.next_step == 1, "step 1")
        assert await sent_count(app) == before + 1
        await pilot.press("r")  # the whole script
        await until(pilot, lambda: len(app.session.history) == before + 3, "the replay")  # type: ignore[union-attr]
        rows = table_rows(screen.query_one("#script-steps", DataTable))
        assert [(r[1], r[2]) for r in rows] == [("sim0n1", "identify"), ("sim0n1", "identify")]
        assert all(r[4] == "✓ same" for r in rows)  # step, device, command, key fields, outcome
        replayed = app.session.history[-2:]  # type: ignore[union-attr]
        assert [r.prepared.values["cns"] for r in replayed] == [1, 0]


async def write_block(pilot: Pilot[int], data_file: Path) -> ComposeScreen:
    screen = await compose(pilot, "write", slba="8", nlb="1")
    screen.query_one("#data-in", Input).value = str(data_file)
    await until(pilot, lambda: screen.prepared is not None and screen.prepared.command.data, "the data")
    await pilot.press("ctrl+s")
    return screen


async def read_block(app: NvtuiApp) -> bytes:
    assert app.session is not None
    prepared = await app.session.prepare("sim0n1", "read", ["slba=8", "nlb=1"])
    data = (await app.session.send(prepared)).completion.data
    assert data is not None
    return data


async def test_destructive_write_is_refused_read_only_cancelled_or_sent_when_confirmed(sim_env: Path) -> None:
    payload = bytes(range(256)) * 2
    data_file = sim_env / "block.bin"
    data_file.write_bytes(payload)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert not app.writable  # read-only by default
        before = await sent_count(app)
        await write_block(pilot, data_file)
        await until(pilot, lambda: said(app, "nvtui is read-only"), "the refusal")
        assert not isinstance(app.screen, ConfirmDestructive)
        assert await sent_count(app) == before  # refused outright
        assert await read_block(app) != payload

        await pilot.press("ctrl+w")
        assert app.writable
        before = await sent_count(app)
        await write_block(pilot, data_file)
        await until(pilot, lambda: isinstance(app.screen, ConfirmDestructive), "the confirmation")
        assert "sim0n1" in str(app.screen.query_one("#confirm-body").render())
        await pilot.press("escape")  # cancel
        await until(pilot, lambda: said(app, "write: the command was not sent"), "the cancellation")
        assert await sent_count(app) == before
        assert await read_block(app) != payload

        before = await sent_count(app)
        await write_block(pilot, data_file)
        await until(pilot, lambda: isinstance(app.screen, ConfirmDestructive), "the confirmation")
        await pilot.press("y")
        await until(pilot, lambda: isinstance(app.screen, ResultScreen), "the write's result")
        assert app.session is not None
        assert app.session.history[before].prepared.defn.id == "write"
        assert app.session.history[before].completion.status.ok
        assert await read_block(app) == payload


async def test_a_script_with_destructive_steps_asks_once_up_front(sim_env: Path) -> None:
    script = sim_env / "wipe.yaml"
    script.write_text(
        "nvtui-script: 1\n"
        "device: sim0n1\n"
        "steps:\n"
        "  - command: write-zeroes\n"
        "    fields: {slba: 0, nlb: 1}\n"
        "  - command: identify\n"
        "    fields: {cns: 1}\n"
        "  - command: write-zeroes\n"
        "    fields: {slba: 1, nlb: 1}\n"
    )
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+w")
        await pilot.press("f6")
        await until(pilot, lambda: isinstance(app.screen, ScriptsScreen), "the Scripts screen")
        screen = app.screen
        assert isinstance(screen, ScriptsScreen)
        screen.open_script(script)
        before = await sent_count(app)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScript), "the up-front confirmation")
        listing = str(app.screen.query_one("#confirm-body").render())
        assert "step 1: write-zeroes" in listing and "step 3: write-zeroes" in listing
        assert "step 2" not in listing
        await pilot.press("y")
        await until(pilot, lambda: len(app.session.history) == before + 3, "all three steps")  # type: ignore[union-attr]
        assert not isinstance(app.screen, ConfirmScript | ConfirmDestructive)  # asked once, not per step


async def test_palette_opens_a_catalogue_command() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+p")
        await pilot.press(*"compose get-features")
        await until(pilot, lambda: palette_hits(app).startswith("Compose get-features"), "the palette's hit")
        await pilot.press("enter")
        await until(
            pilot,
            lambda: (
                isinstance(app.screen, ComposeScreen)
                and app.screen.defn is not None
                and app.screen.defn.id == "get-features"
            ),
            "get-features in Compose",
        )


async def test_help_opens_with_f1_and_closes() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("f1")
        await until(pilot, lambda: type(app.screen).__name__ == "HelpScreen", "help")
        await pilot.press("escape")
        await until(pilot, lambda: type(app.screen).__name__ == "DevicesScreen", "back to Devices")


async def test_a_random_read_runs_on_two_namespaces_at_once_each_counted_and_summed() -> None:
    from textual.widgets import Select

    from nvtui.screens.load import LoadScreen

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await compose(pilot, "read", slba="8", nlb="7")
        screen = await load_screen(pilot, count="150", qd="4")
        screen.query_one("#load-lbas", Select).value = "random"
        screen.query_one("#load-also", Input).value = "sim0n2"
        await pilot.press("ctrl+s")
        ran = lambda: screen.stats is not None and not screen.running  # noqa: E731
        await until(pilot, lambda: ran() or app._notifications, "the run to finish")
        assert ran(), [n.message for n in app._notifications]
        assert isinstance(screen, LoadScreen) and screen.stats is not None
        counts = [(device, stats.total.count) for device, stats in screen.each]
        assert counts == [("sim0n1", 150), ("sim0n2", 150)]
        assert screen.stats.total.count == 300 and screen.stats.errors == 0
        shown = str(screen.query_one("#load-stats").render())
        assert "sim0n1 " in shown and "sim0n2 " in shown


async def test_a_pattern_on_a_command_without_a_block_range_is_refused_in_one_line() -> None:
    from textual.widgets import Select

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = await load_screen(pilot, count="10", qd="1")  # nothing composed: Identify Controller
        screen.query_one("#load-lbas", Select).value = "sequential"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: bool(app._notifications), "the refusal")
        notes = [n.message for n in app._notifications]
        assert any("has no plain block range to move" in n for n in notes), notes
        assert screen.stats is None  # nothing ran
