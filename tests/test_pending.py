"""A command that waits in the TUI: Asynchronous Event Request says it waits for an event, shows its elapsed
time while it runs, Esc stops waiting, and a timeout is one notification; the app keeps working after both
(and the simulated controller is not held)."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot

from nvtui.app import NvtuiApp
from nvtui.screens.compose import ComposeScreen
from nvtui.screens.result import ResultScreen
from nvtui.widgets.pending import PendingCommand
from tests.pilots import until
from tests.test_app import SIZE, compose, ready, sim_env  # noqa: F401  (sim_env: the autouse fixture)

SHORT_AER = """\
version: 1
commands:
  - id: asynchronous-event-request
    name: Asynchronous Event Request
    set: admin
    opcode: 0x0c
    queue: admin
    help: Wait for an asynchronous event, one second at most
    destructive: false
    waits_for_event: true
    timeout: 1
"""


def messages_of(app: NvtuiApp) -> list[str]:
    return [n.message for n in app._notifications]


async def identify_still_works(pilot: Pilot[int], app: NvtuiApp) -> None:
    assert app.session is not None
    before = len(app.session.history)
    await compose(pilot, "identify", cns="controller")
    await pilot.press("ctrl+s")
    await until(pilot, lambda: isinstance(app.screen, ResultScreen), "the Identify result")
    assert len(app.session.history) == before + 1 and app.session.history[-1].ok


async def test_an_event_request_shows_its_elapsed_time_and_esc_stops_waiting() -> None:
    app = NvtuiApp(include_real_devices=False)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = await compose(pilot, "asynchronous-event-request")
        preview = " ".join(str(screen.query_one("#submission").render()).split())
        assert "waits for the controller to report an event: it completes when one occurs" in preview
        await pilot.press("ctrl+s")
        shown = lambda: isinstance(app.screen, PendingCommand) and bool(app.screen.query("#pending-elapsed"))  # noqa: E731
        await until(pilot, shown, "the pending dialog")
        assert any("waits for the controller to report an event" in m for m in messages_of(app))
        pending = app.screen
        assert isinstance(pending, PendingCommand)
        elapsed = pending.query_one("#pending-elapsed")
        seconds = lambda: float(str(elapsed.render()).split(" s ")[0])  # noqa: E731
        first = seconds()
        await until(pilot, lambda: seconds() >= first + 0.3, "the elapsed time to count")
        assert str(elapsed.render()).endswith("s elapsed (times out after 10 s)")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ComposeScreen), "the dialog to close")
        await until(pilot, lambda: any(m.startswith("Stopped waiting for asynchronous-event-request")
                                       for m in messages_of(app)), "the abort notice")  # fmt: skip
        await app.workers.wait_for_complete()
        await identify_still_works(pilot, app)


async def test_a_command_that_times_out_is_one_notification(tmp_path: Path) -> None:
    short = tmp_path / "short-aer.yaml"
    short.write_text(SHORT_AER)
    app = NvtuiApp(catalogue_files=[short], include_real_devices=False)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await compose(pilot, "asynchronous-event-request")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: any("timed out" in m for m in messages_of(app)), "the timeout", timeout=5)
        (line,) = [n for n in app._notifications if "timed out" in n.message]
        assert line.title == "Timed out"
        assert line.message == (
            "asynchronous-event-request on sim0n1: no completion within 1 s: timed out "
            "(nvtui stopped waiting)"
        )
        await until(pilot, lambda: isinstance(app.screen, ComposeScreen), "the dialog to close")
        await identify_still_works(pilot, app)
