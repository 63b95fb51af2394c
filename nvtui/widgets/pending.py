"""A command in flight: its elapsed time while it runs, its timeout, and a key (Esc) that stops waiting.

`send_watched` is `Session.send` for the TUI's workers: a command that completes at once shows nothing; one
still running after `SHOW_AFTER_S` gets the `PendingCommand` dialog until it completes, times out (the
session's timeout, one notification) or is aborted. Aborting withdraws nvtui's wait: the simulator withdraws
its event request; on a real controller the command stays with the kernel until it completes or the
kernel's own timeout (the command's timeout_ms) ends it. nvtui cannot send an NVMe Abort for it: Abort names
the command by its identifier (CID), which the kernel assigns and passthrough never tells user space.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from nvtui.errors import CommandTimeout

if TYPE_CHECKING:
    from nvtui.session import Prepared, SendResult, Session

SHOW_AFTER_S = 0.3  # a command that completes sooner never shows the dialog (no flicker on every send)
TICK_S = 0.1


class PendingCommand(ModalScreen[None]):
    """The dialog over a running command: what it is, how long it has run, its timeout; Esc aborts."""

    DEFAULT_CSS = """
    PendingCommand {
        align: center middle;
        background: $background 60%;
    }
    PendingCommand > Vertical {
        width: 64;
        max-width: 100%;
        height: auto;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    PendingCommand .title {
        text-style: bold;
        width: 1fr;
    }
    PendingCommand #pending-elapsed {
        margin: 1 0 0 0;
    }
    PendingCommand #pending-notice {
        color: $text-muted;
    }
    PendingCommand #pending-keys {
        margin: 1 0 0 0;
        color: $text-muted;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "abort", "Stop waiting")]

    def __init__(self, prepared: Prepared, task: asyncio.Future[Any], started: float) -> None:
        super().__init__()
        self.prepared = prepared
        self.send_task = task
        self.started = started
        self.aborted = False

    def compose(self) -> ComposeResult:
        p = self.prepared
        with Vertical():
            yield Label(f"{p.defn.id} on {p.device}: waiting for the completion", classes="title")
            yield Static(self.elapsed_text(), id="pending-elapsed")
            yield Static(p.notice or "", id="pending-notice")
            yield Static("Esc: stop waiting for it", id="pending-keys")

    def on_mount(self) -> None:
        self.set_interval(TICK_S, self._tick)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def elapsed_text(self) -> str:
        return f"{self.elapsed():.1f} s elapsed (times out after {self.prepared.timeout} s)"

    def _tick(self) -> None:
        self.query_one("#pending-elapsed", Static).update(self.elapsed_text())

    def action_abort(self) -> None:
        self.aborted = True
        self.send_task.cancel()


async def send_watched(app: App[Any], session: Session, prepared: Prepared) -> SendResult | None:
    """`session.send(prepared)`, with the pending dialog while it runs; None when the user aborted it or it
    timed out (each said in a notification). Other errors are the session's."""
    if prepared.notice:
        app.notify(prepared.notice, title="Waits for an event", timeout=8)
    started = time.monotonic()
    task = asyncio.ensure_future(session.send(prepared))
    pending: PendingCommand | None = None
    try:
        done, _ = await asyncio.wait([task], timeout=SHOW_AFTER_S)
        if not done:
            pending = PendingCommand(prepared, task, started)
            await app.push_screen(pending)
            await asyncio.wait([task])
    finally:
        if not task.done():  # this worker was cancelled (or failed): the send goes with it
            task.cancel()
        if pending is not None and app.screen is pending:
            pending.dismiss()
    if not task.cancelled() and isinstance(task.exception(), CommandTimeout):
        app.notify(str(task.exception()), title="Timed out", severity="error", timeout=10)
        return None  # said here: the caller's "not sent" would be wrong, it was sent
    if task.cancelled():
        p, waited = prepared, time.monotonic() - started
        app.notify(
            f"Stopped waiting for {p.defn.id} on {p.device} after {waited:.1f} s (a real controller may "
            "still complete it: the kernel's timeout ends it)",
            title="Aborted",
            severity="warning",
            timeout=8,
        )
        return None
    return task.result()
