"""What a user sees of a result in the TUI: the meaning column stays on screen after Identify's 1 KiB vendor
field, opaque fields collapse with their hex one key away, flags open into named bits, a zone report is a
table and a map, a SMART log is a health card, and history rows say which feature or log they asked for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Static, Tree

from nvtui.app import NvtuiApp
from nvtui.present import Row
from nvtui.screens.devices import DevicesScreen
from nvtui.screens.messages import ShowResult
from nvtui.screens.result import ResultScreen
from nvtui.session import SendResult, send_once
from nvtui.widgets.decoded_tree import DecodedTree
from nvtui.widgets.findings import FindingsView
from nvtui.widgets.health_card import HealthCardView
from nvtui.widgets.watch_chart import WatchChart
from nvtui.widgets.zone_view import ZoneMap, ZoneView
from tests.pilots import cursor_on_device_in_use, isolate_tui, until

SIZE = (80, 24)


@pytest.fixture(autouse=True)
def sim_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return isolate_tui(tmp_path, monkeypatch)


async def ready(pilot: Pilot[Any]) -> NvtuiApp:
    app = pilot.app
    assert isinstance(app, NvtuiApp)
    await until(pilot, lambda: app.catalogue is not None and app.controllers and app.device, "start-up")
    return app


async def send(
    pilot: Pilot[Any], command: str, *fields: str, device: str | None = None, allow_destructive: bool = False
) -> ResultScreen:
    """Send through the app's session (as Ctrl+S does) and show the result on the Result screen."""
    app = pilot.app
    assert isinstance(app, NvtuiApp)
    await until(pilot, lambda: app.session is not None, "the session")
    assert app.session is not None
    result: SendResult = await send_once(
        app.session, device or app.device, command, list(fields), allow_destructive=allow_destructive
    )
    app.post_message(ShowResult(result))
    await until(
        pilot,
        lambda: isinstance(app.screen, ResultScreen) and app.screen.result is result,
        f"the {command} result",
    )
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, ResultScreen)
    return screen


def screen_lines(pilot: Pilot[Any]) -> list[str]:
    """The text on screen, line by line, as the user sees it."""
    app = pilot.app
    return [
        "".join(segment.text for segment in line)
        for line in app.screen._compositor.render_update(full=True).strips  # type: ignore[union-attr]
    ]


def visible_rows(tree: DecodedTree) -> list[Row]:
    return [tree.get_node_at_line(n).data for n in range(tree.last_line + 1)]  # type: ignore[misc,union-attr]


def line_of(tree: DecodedTree, name: str) -> int:
    for n in range(tree.last_line + 1):
        node = tree.get_node_at_line(n)
        if node is not None and node.data is not None and node.data.name == name:
            return n
    raise AssertionError(f"no row named {name!r}")


async def test_the_meaning_stays_on_screen_after_identify_controller() -> None:
    app = NvtuiApp(include_real_devices=False)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "identify", "cns=controller")
        await send(pilot, "get-features", "fid=temperature-threshold")
        text = "\n".join(screen_lines(pilot))
        # the threshold's meaning (a temperature in °C) is on screen at 80 columns, after Identify's vs field
        assert "°C" in text, text


async def test_vendor_specific_is_collapsed_and_its_hex_one_key_away() -> None:
    app = NvtuiApp(include_real_devices=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        screen = await send(pilot, "identify", "cns=controller")
        tree = screen.query_one(DecodedTree)
        vs = next(r for r in visible_rows(tree) if r.name == "vs")
        assert vs.value.startswith("1024 B")
        assert len(vs.value) < 40
        tree.focus()
        tree.cursor_line = line_of(tree, "vs")
        before = tree.last_line
        await pilot.press("space")
        await until(pilot, lambda: tree.last_line > before, "the hex of vs to open")
        opened = visible_rows(tree)[line_of(tree, "vs") + 1]
        assert opened.line and opened.name.startswith("00000c00")  # vs starts at byte 3072


async def test_a_flag_field_opens_into_its_named_bits_set_or_clear() -> None:
    app = NvtuiApp(include_real_devices=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        screen = await send(pilot, "identify", "cns=controller")
        tree = screen.query_one(DecodedTree)
        tree.focus()
        tree.cursor_line = line_of(tree, "oacs")
        await pilot.press("space")
        await until(pilot, lambda: any(r.name == "bit 0" for r in visible_rows(tree)), "oacs's bits")
        bits = {r.meaning: r.value for r in visible_rows(tree) if r.name.startswith("bit ")}
        assert set(bits.values()) == {"set", "clear"}
        assert len(bits) >= 8


async def test_identify_controller_is_in_sections_with_power_states_as_an_array() -> None:
    app = NvtuiApp(include_real_devices=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        screen = await send(pilot, "identify", "cns=controller")
        top = [r.name for r in visible_rows(screen.query_one(DecodedTree))]
        assert "Controller capabilities and features" in top
        assert "Power state descriptors" in top
        assert "psd" in top


async def test_a_zone_report_is_a_zone_table_and_a_map() -> None:
    app = NvtuiApp(include_real_devices=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await send(pilot, "zone-mgmt-send", "slba=0", "zsa=open", device="sim0n2", allow_destructive=True)
        screen = await send(pilot, "zone-mgmt-recv", "numd=1024", device="sim0n2")
        view = screen.query_one(ZoneView)
        assert screen.query_one("#result-tabs").active == "zones"  # type: ignore[attr-defined]
        zones = screen.query_one(ZoneMap).zones
        assert zones and zones[0].state_name == "Explicitly Opened"
        table = view.query_one("#zone-table")
        first = [str(c) for c in table.get_row_at(0)]  # type: ignore[attr-defined]
        assert first[1] == "Explicitly Opened" and first[2] == "0x0"
        assert table.row_count == len(zones)  # type: ignore[attr-defined]
        assert "Explicitly Opened 1" in "\n".join(screen_lines(pilot))


async def test_smart_is_a_health_card_in_degrees_and_bytes() -> None:
    app = NvtuiApp(include_real_devices=False)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = await send(pilot, "get-log-page", "lid=smart", "numd=128")
        card = screen.query_one(HealthCardView).card
        assert card is not None
        assert screen.query_one("#result-tabs").active == "health"  # type: ignore[attr-defined]
        text = "\n".join(screen_lines(pilot))
        assert f"{card.temperature_c} °C" in text
        assert "critical warnings" in text and "power-on hours" in text


async def test_history_rows_say_which_feature_they_read() -> None:
    app = NvtuiApp(include_real_devices=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await send(pilot, "get-features", "fid=temperature-threshold")
        await send(pilot, "get-features", "fid=arbitration")
        lines = screen_lines(pilot)
        at = next(n for n, line in enumerate(lines) if "1 ✓ get-features" in line)
        assert "fid=temperature-threshold" in lines[at + 1]  # too long for one line: under the command
        second = next(n for n, line in enumerate(lines) if "2 ✓ get-features" in line)
        assert "fid=arbitration" in lines[second] + lines[second + 1]


async def test_at_80_columns_the_telling_fields_go_under_the_command() -> None:
    app = NvtuiApp(include_real_devices=False)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "get-features", "fid=temperature-threshold")
        await send(pilot, "get-features", "fid=arbitration")
        lines = screen_lines(pilot)
        at = next(n for n, line in enumerate(lines) if "1 ✓ get-features" in line)
        assert "fid=temperature-threshold" in lines[at + 1]
        assert any("fid=arbitration" in line for line in lines)


# --- the Devices screen ---------------------------------------------------------------------------------


async def highlight(pilot: Pilot[Any], device: str) -> DevicesScreen:
    app = pilot.app
    screen = app.screen
    assert isinstance(screen, DevicesScreen)
    tree = screen.query_one("#device-tree", Tree)

    await cursor_on_device_in_use(pilot, tree)
    line = next(
        n
        for n in range(tree.last_line + 1)
        if (node := tree.get_node_at_line(n)) is not None
        and node.data is not None
        and node.data.device == device
    )
    tree.cursor_line = line
    info = screen.query_one("#details-info", Static)
    await until(pilot, lambda: str(info.render()).startswith(f"{device} "), f"{device}'s details")
    # the probe and the doctor's check run in workers (those for the node left behind are cancelled)
    await until(pilot, lambda: all(w.is_finished for w in app.workers), "the device's probe and check")
    await pilot.pause()
    return screen


async def test_the_zoned_namespace_supports_its_zone_commands_and_shows_its_geometry() -> None:
    app = NvtuiApp(include_real_devices=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        screen = await highlight(pilot, "sim0n2")
        probe = str(screen.query_one("#details-probe", Static).render())
        io_line = next(line for line in probe.splitlines() if line.startswith(" io"))
        assert "zns command set" in io_line and "zone-append" in io_line and "zone-mgmt-send" in io_line
        assert "zone-append" not in probe.split(io_line)[1]  # not listed again under "not supported"
        assert "zone size 16384 blocks" in probe
        assert "zones 16" in probe and "max open" in probe and "max active" in probe


async def test_the_devices_screen_shows_the_doctors_findings_with_their_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from nvtui import doctor

    asked: list[str] = []

    def findings(device: str, *, poll: bool = False) -> list[doctor.Finding]:
        asked.append(device)
        return [
            doctor.Finding(doctor.OK, device, "kernel", "6.1 has uring_cmd"),
            doctor.Finding(
                doctor.PROBLEM, device, "permissions", f"{device} is root's only", "add a udev rule: ..."
            ),
        ]

    monkeypatch.setattr(doctor, "device_findings", findings)
    app = NvtuiApp(include_real_devices=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        screen = await highlight(pilot, "sim0n2")
        shown = str(screen.query_one(FindingsView).render())
        assert "sim0n2" in asked
        assert "✗ problem permissions: sim0n2 is root's only" in shown  # not the one left behind
        assert "fix: add a udev rule" in shown
        assert "✓ ok      kernel" in shown


# --- watch ----------------------------------------------------------------------------------------------


async def test_watch_resends_the_command_and_charts_the_highlighted_field() -> None:
    app = NvtuiApp(include_real_devices=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        screen = await send(pilot, "get-log-page", "lid=smart", "numd=128")
        assert app.session is not None
        sent = len(app.session.history)
        await pilot.press("d")  # the decoded tree: the cursor on the temperature
        tree = screen.query_one(DecodedTree)
        tree.focus()
        tree.cursor_line = line_of(tree, "temperature")
        await pilot.press("minus", "minus", "minus")  # 2 s -> 0.5 s
        await pilot.press("w")
        assert screen.watch_interval == 0.5
        await until(pilot, lambda: screen.series is not None and len(screen.series.samples) >= 3, "3 samples")
        series = screen.series
        assert series is not None and series.path == "temperature"
        assert all(300 < value < 320 for _, value in series.samples)  # Kelvin, about 310 on the simulator
        chart = screen.query_one(WatchChart)
        await until(pilot, lambda: chart.current and chart.wanted != (), "the chart of the samples")
        assert "temperature" in str(screen.query_one("#watch-label", Static).render())
        assert len(app.session.history) == sent  # the watch's sends stay out of the history
        await pilot.press("w")
        assert screen.series is None
        assert screen._watch_timer is None  # nothing left to re-send it


async def test_watch_never_resends_a_destructive_command() -> None:
    app = NvtuiApp(include_real_devices=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        screen = await send(
            pilot, "zone-mgmt-send", "slba=0", "zsa=open", device="sim0n2", allow_destructive=True
        )
        await pilot.press("w")
        assert screen.series is None
        assert any("destructive" in n.message for n in app._notifications), list(app._notifications)


async def test_watch_from_the_health_card_follows_the_temperature() -> None:
    app = NvtuiApp(include_real_devices=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        screen = await send(pilot, "get-log-page", "lid=smart", "numd=128")
        await pilot.press("w")
        await until(pilot, lambda: screen.series is not None and screen.series.samples, "a sample")
        assert screen.series is not None and screen.series.path == "temperature"
        await pilot.press("w")


async def test_quitting_while_watching_closes_the_watch_and_exits_cleanly() -> None:
    app = NvtuiApp(include_real_devices=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        screen = await send(pilot, "get-log-page", "lid=smart", "numd=128")
        await pilot.press("w")
        await until(pilot, lambda: screen.series is not None and screen.series.samples, "a sample")
        session = screen._watch_session
        assert session is not None
        await pilot.press("ctrl+q")
    assert app.return_code in (None, 0)
    assert screen._watch_session is None


async def test_smart_and_its_temperature_in_celsius_on_screen_in_5_keys_from_a_fresh_start() -> None:
    app = NvtuiApp(include_real_devices=False)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        keys = ["f3", "s", "m", "enter", "ctrl+s"]
        for key in keys:
            await pilot.press(key)
            await until(pilot, lambda: all(w.is_finished for w in app.workers), f"the work of {key}")
        await until(pilot, lambda: isinstance(app.screen, ResultScreen) and app.screen.result, "the result")
        screen = app.screen
        assert isinstance(screen, ResultScreen)
        card = screen.query_one(HealthCardView).card
        assert card is not None
        await pilot.pause()
        assert f"temperature  {card.temperature_c} °C" in "\n".join(screen_lines(pilot))
        assert len(keys) <= 6


async def test_a_doctor_answer_arriving_after_the_screens_widgets_are_gone_is_dropped() -> None:
    """The check runs in a thread; quitting (or leaving) while it reads sysfs must not fail the app when its
    answer comes back to a screen whose findings view is gone (seen: WorkerFailed, NoMatches, at exit)."""
    app = NvtuiApp(include_real_devices=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        screen = app.screen
        assert isinstance(screen, DevicesScreen)
        await app.workers.wait_for_complete()
        await screen.query_one(FindingsView).remove()
        screen._doctor_done([])
        screen._doctor_failed("gone")
        # the catalogue finishing loading (or the device changing) re-shows the highlighted node meanwhile
        screen._device_changed(None)
        await pilot.pause()
