"""SVG snapshots of the result views and the Devices details, at 120x40 and 80x24: the decoded tree (after
Identify, with the meaning column on screen), an opaque field opened to its hex, a flags field opened to its
bits, the zone table and map, the SMART health card, history rows with their telling fields, and a zoned
namespace's details with the doctor's findings.

Deterministic: each test has its own simulator folder (a fixed path: nothing on screen may vary) with a fixed
serial number; latencies on screen are pinned. Update after a deliberate change:
`.venv/bin/pytest tests/test_snapshots_results.py --snapshot-update`, then look at the SVGs."""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Static, TabbedContent, Tree

from nvtui.app import NvtuiApp
from nvtui.backend.sim.controller import SimController
from nvtui.screens.devices import DevicesScreen
from nvtui.screens.messages import ShowResult
from nvtui.screens.result import ResultScreen
from nvtui.session import send_once
from nvtui.watching import WatchSeries
from nvtui.widgets.decoded_tree import DecodedTree
from nvtui.widgets.findings import FindingsView
from nvtui.widgets.watch_chart import WatchChart
from tests.pilots import cursor_on_device_in_use, fixed_simulator, until

SIZES = [pytest.param((120, 40), id="120x40"), pytest.param((80, 24), id="80x24")]
LATENCY_NS = 21_500


@pytest.fixture(autouse=True)
def fixed_sim(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    sim_dir = Path(tempfile.gettempdir()) / f"nvtui-snap-{request.node.name}"
    # the simulated temperature jitters by a degree or so: hold it at 310 K (37 °C)
    monkeypatch.setattr(SimController, "temperature", lambda self: 310)
    with fixed_simulator(sim_dir, tmp_path, monkeypatch):
        yield sim_dir


def make_app() -> NvtuiApp:
    return NvtuiApp(include_real_devices=False)


async def started(pilot: Pilot[Any]) -> NvtuiApp:
    app = pilot.app
    assert isinstance(app, NvtuiApp)
    await until(
        pilot, lambda: app.catalogue is not None and app.session and app.controllers and app.device, "start"
    )
    return app


async def send(
    pilot: Pilot[Any], command: str, *fields: str, device: str = "sim0n1", data: bytes | None = None
) -> ResultScreen:
    """Send through the app's session and show the result (its latency pinned) on the Result screen."""
    app = pilot.app
    assert isinstance(app, NvtuiApp) and app.session is not None
    result = await send_once(app.session, device, command, list(fields), data=data, allow_destructive=True)
    pinned = dataclasses.replace(
        result, completion=dataclasses.replace(result.completion, latency_ns=LATENCY_NS)
    )
    app.post_message(ShowResult(pinned))
    await until(pilot, lambda: isinstance(app.screen, ResultScreen) and app.screen.result is pinned, command)
    screen = app.screen
    assert isinstance(screen, ResultScreen)
    return screen


async def fill(pilot: Pilot[Any], zslba: int, blocks: int, chunk: int = 128) -> None:
    """Write `blocks` into the zone at `zslba` of sim0n2, `chunk` blocks a command (its MDTS is 512 KiB)."""
    app = pilot.app
    assert isinstance(app, NvtuiApp) and app.session is not None
    for lba in range(zslba, zslba + blocks, chunk):
        fields = [f"slba={lba}", f"nlb={chunk}"]
        await send_once(
            app.session, "sim0n2", "write", fields, data=bytes(4096 * chunk), allow_destructive=True
        )


async def drawn(pilot: Pilot[Any]) -> None:
    # every worker done (wait_for_complete would raise for an exclusive one cancelled by its successor)
    await until(pilot, lambda: all(w.is_finished for w in pilot.app.workers), "the workers")
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()


async def open_row(pilot: Pilot[Any], screen: ResultScreen, name: str) -> None:
    tree = screen.query_one(DecodedTree)
    tree.focus()
    line = next(
        n
        for n in range(tree.last_line + 1)
        if (node := tree.get_node_at_line(n)) is not None and node.data is not None and node.data.name == name
    )
    tree.cursor_line = line
    tree.scroll_to_line(line, animate=False)
    before = tree.last_line
    await pilot.press("space")
    await until(pilot, lambda: tree.last_line > before, f"{name} to open")


@pytest.mark.parametrize("size", SIZES)
def test_decoded_tree_after_identify(snap_compare: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await started(pilot)
        await send(pilot, "identify", "cns=controller")
        await drawn(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_meaning_shown_after_identify(snap_compare: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await started(pilot)
        await send(pilot, "identify", "cns=controller")
        await send(pilot, "get-features", "fid=temperature-threshold")
        await drawn(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_vendor_specific_opened_to_its_hex(snap_compare: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await started(pilot)
        screen = await send(pilot, "identify", "cns=namespace")
        await open_row(pilot, screen, "vs")
        await drawn(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_flags_opened_to_their_bits(snap_compare: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await started(pilot)
        screen = await send(pilot, "identify", "cns=controller")
        await open_row(pilot, screen, "oacs")
        await drawn(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_zone_table_and_map(snap_compare: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await started(pilot)
        await send(pilot, "zone-mgmt-send", "slba=0x4000", "zsa=open", device="sim0n2")
        await fill(pilot, 0x8000, 6016)  # of 15872 blocks: 3/8 full
        await send(pilot, "zone-mgmt-send", "slba=0x8000", "zsa=close", device="sim0n2")
        await fill(pilot, 0xC000, 2048)
        await send(pilot, "zone-mgmt-send", "slba=0x10000", "zsa=finish", device="sim0n2")
        await send(pilot, "zone-mgmt-recv", "numd=1024", device="sim0n2")
        await drawn(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_smart_health_card(snap_compare: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await started(pilot)
        await send(pilot, "get-log-page", "lid=smart", "numd=128")
        await drawn(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_history_rows_with_their_fields(snap_compare: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await started(pilot)
        for fid in ("arbitration", "power-management", "temperature-threshold", "number-of-queues"):
            await send(pilot, "get-features", f"fid={fid}")
        await send(pilot, "get-log-page", "lid=error", "numd=16")
        await drawn(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_devices_zoned_namespace_with_doctor(snap_compare: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = await started(pilot)
        screen = app.screen
        assert isinstance(screen, DevicesScreen)
        tree = screen.query_one("#device-tree", Tree)

        await cursor_on_device_in_use(pilot, tree)
        await pilot.press("down")
        info, probe = screen.query_one("#details-info", Static), screen.query_one("#details-probe", Static)
        await until(pilot, lambda: str(info.render()).startswith("sim0n2 "), "sim0n2's details")
        await until(pilot, lambda: "Supported" in str(probe.render()), "sim0n2's probe")
        await until(pilot, lambda: screen.query_one(FindingsView).findings is not None, "the doctor")
        await drawn(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_watch_chart(snap_compare: Any, size: tuple[int, int]) -> None:
    """The Watch tab with a fixed series (a live watch's timestamps vary run to run)."""

    async def run_before(pilot: Pilot[Any]) -> None:
        await started(pilot)
        screen = await send(pilot, "get-log-page", "lid=smart", "numd=128")
        series = WatchSeries("get-log-page", "temperature")
        series.samples.extend((t * 2.0, 310 + (t % 5) - 2) for t in range(30))
        screen.series = series  # as a watch that has run for a minute would have it
        tabs = screen.query_one(TabbedContent)
        tabs.show_tab("watch")
        tabs.active = "watch"
        screen._show_watch()
        chart = screen.query_one(WatchChart)
        await until(pilot, lambda: chart.current and chart.wanted != (), "the chart")
        screen.series = None  # nothing to re-send when the snapshot is taken
        await drawn(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)
