"""Load & latency: repeat the composed command N times or for T seconds at queue depth Q, with a live
chart of latency over time and a histogram, and IOPS and percentiles updating while it runs."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive, var
from textual.widgets import Input, Label, Static

from nvtui.backend.base import BackendBase
from nvtui.errors import UsageError
from nvtui.numbers import NumberTooLong, parse_number
from nvtui.screens import messages
from nvtui.screens.base import SectionScreen, Styles, role, says_failures
from nvtui.screens.safety import may_send
from nvtui.widgets.headless import steady_cursors

if TYPE_CHECKING:
    from nvtui.backend.base import Backend
    from nvtui.composition import Composition
    from nvtui.load import EnginePlan, LoadSpec
    from nvtui.nvme.command import Command
    from nvtui.nvme.completion import Completion
    from nvtui.stats import LoadStats

REDRAW_HZ = 10  # the stats line: a frame at most every 100 ms while a load runs
# The charts are drawn off the loop (latency_chart: in a chart process; in a thread, which takes the GIL
# from the loop, while that starts), and showing a new picture still costs the loop a render: the time
# chart once a second (4 new intervals), the histogram, the shape of the whole run that settles within
# seconds, every 2 s; both again when the run ends.
CHART_EVERY_S = {"chart-time": 1.0, "chart-histogram": 2.0}
NO_FIO = "fio's io_uring_cmd engine sends only Read and Write: compose one (F3) to export its run to fio"
YIELD_EVERY = 32  # completions between forced yields, so a backend that never waits cannot starve the UI


class _Yielding(BackendBase):
    """Wraps a backend so a load run gives the event loop a turn now and then, whatever the backend does."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.kind, self.device, self.nsid = backend.kind, backend.device, backend.nsid
        self.done = 0

    async def submit(self, cmd: Command) -> Completion:
        completion = await self.backend.submit(cmd)
        self.done += 1
        if self.done % YIELD_EVERY == 0:
            await asyncio.sleep(0)
        return completion


def _us(ns: float) -> str:
    return f"{ns / 1000:,.1f} µs"


def stats_text(stats: LoadStats | None, running: bool, styles: Styles | None = None) -> Text:
    t = Text()
    if stats is None:
        t.append("Not run yet. Ctrl+S starts; Esc stops at once.", style="dim")
        return t
    h = stats.total
    pct = h.percentiles()
    t.append("IOPS ", style="dim")
    t.append(f"{stats.iops:,.0f}", style="bold")
    for p, v in pct.items():
        t.append(f"  p{p:g} ", style="dim")
        t.append(_us(v), style="bold")
    t.append("\n")
    t.append("done ", style="dim")
    t.append(f"{h.count:,}")
    t.append("  errors ", style="dim")
    t.append(f"{stats.errors:,}", style=role(styles, "error", bold=True) if stats.errors else "")
    t.append("  mean ", style="dim")
    t.append(_us(h.mean_ns))
    t.append("  max ", style="dim")
    t.append(_us(h.max_ns))
    t.append("  elapsed ", style="dim")
    t.append(f"{stats.elapsed_s:.1f} s")
    if running:
        t.append("  running", style=role(styles, "success", bold=True))
    return t


class Repeats(Static):
    """What a run repeats, on which device (both bound from the screen)."""

    composition: reactive[Composition | None] = reactive(None)
    device: reactive[str] = reactive("")

    def render(self) -> Text:
        composition = self.composition
        what = composition.describe() if composition is not None else "identify cns=1 (compose another in F3)"
        return Text(f"repeats: {what} on {self.device}")


class LoadScreen(SectionScreen):
    SECTION = "load"
    SHARED = (*SectionScreen.SHARED, "composition")
    composition: var[Composition | None] = var(None)
    """The composed command (the app's, mirrored): what a run repeats."""
    DEFAULT_CSS = """
    LoadScreen #load-form {
        height: 1;
    }
    LoadScreen #load-form Label {
        padding: 0 1 0 0;
    }
    LoadScreen #load-form Input {
        width: 9;
        margin: 0 2 0 0;
    }
    LoadScreen #load-command {
        height: 1;
        color: $text-muted;
    }
    LoadScreen #load-stats {
        height: 2;
    }
    LoadScreen #charts {
        height: 1fr;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "start", "Start", priority=True),
        Binding("escape", "stop", "Stop", priority=True),
        Binding("ctrl+o", "export_fio", "fio job"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.stats: LoadStats | None = None
        self.stop_event: asyncio.Event | None = None
        self.running = False
        self._charted_at: dict[str, float] = {}  # chart id: when it was last asked to draw
        self._charts_final = False  # drawn since the last run ended: nothing changes until the next

    def compose_body(self) -> ComposeResult:
        from nvtui.widgets.latency_chart import LatencyHistogram, LatencyOverTime  # plotext: only when used

        with Vertical():
            yield Repeats(id="load-command").data_bind(LoadScreen.composition, SectionScreen.device)
            with Horizontal(id="load-form"):
                yield Label("count")
                yield Input(placeholder="N", id="load-count", compact=True)
                yield Label("or seconds")
                yield Input("10", placeholder="T", id="load-seconds", compact=True)
                yield Label("queue depth")
                yield Input("8", placeholder="Q", id="load-qd", compact=True)
            yield Static(stats_text(None, False), id="load-stats")
            with Vertical(id="charts"):
                yield LatencyOverTime(id="chart-time")
                yield LatencyHistogram(id="chart-histogram")

    def on_mount(self) -> None:
        self.set_interval(1 / REDRAW_HZ, self._redraw)
        steady_cursors(self)  # headless: a snapshot never catches the count's cursor mid-blink

    def _redraw(self) -> None:
        from nvtui.widgets.latency_chart import StatsChart

        if not self.running and self.stats is None:
            return
        stats = self.stats
        if stats is not None and self.running:
            stats.tick()
        if not self.running and self._charts_final:
            return
        self.query_one("#load-stats", Static).update(stats_text(stats, self.running, self.theme_styles()))
        if not self.is_current:
            return
        # The stats line every tick; a chart at its own pace. `draw` only hands the numbers to the chart's
        # worker, and one whose numbers did not change is not drawn again.
        now = time.monotonic()
        for chart in self.query(StatsChart):
            ident = chart.id or ""
            if not self.running or now - self._charted_at.get(ident, 0.0) >= CHART_EVERY_S.get(ident, 1.0):
                chart.draw(stats)
                self._charted_at[ident] = now
        self._charts_final = not self.running

    def spec(self) -> tuple[int | None, float | None, int]:
        """(count, seconds, queue depth) from the form; UsageError names the bad one."""

        def number(ident: str, kind: type[int] | type[float]) -> int | float | None:
            text = self.query_one(ident, Input).value.strip()
            if not text:
                return None
            what = ident.removeprefix("#load-")
            try:
                value = float(text) if kind is float else parse_number(text)
            except ValueError as exc:  # NumberTooLong says how long; float() says nothing useful
                detail = str(exc) if isinstance(exc, NumberTooLong) else f"{text!r} is not a number"
                raise UsageError(f"{what}: {detail}") from None
            if value is None:
                raise UsageError(f"{what}: {text!r} is not a number (decimal or 0x-hex)")
            return value

        count = number("#load-count", int)
        seconds = None if count is not None else number("#load-seconds", float)
        qd = number("#load-qd", int) or 1
        return (int(count) if count is not None else None), seconds, int(qd)

    @on(Input.Submitted, "#load-form Input")
    def _enter_starts(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_start()

    def action_start(self) -> None:
        if self.running:
            self.notify("A load run is going; Esc stops it.", severity="warning")
            return
        self.run_load()

    def action_stop(self) -> None:
        if self.stop_event is not None and self.running:
            self.stop_event.set()

    @work(exclusive=True, group="fio-job")
    @says_failures("No fio job", timeout=8)
    async def action_export_fio(self) -> None:
        """The composed run as a fio job file (io_uring_cmd) that repeats it: asked for a path, checked and
        written without following a symlink; a command fio cannot send says so and writes nothing."""
        from nvtui.nvmecli.fio import fio_job_for_command
        from nvtui.screens.modals import PathPrompt

        app = self.nvapp
        session, device, composition = app.session, app.device, app.composition
        if session is None or composition is None:
            self.notify(NO_FIO, severity="warning")
            return
        count, seconds, qd = self.spec()
        prepared = await session.prepare(
            device, composition.command_id, composition.assignments, data_len=composition.data_len,
            data_in=composition.data_in, metadata_in=composition.metadata_in,
            zero_metadata=composition.zero_metadata, no_data=composition.no_data, allow_destructive=True,
        )  # fmt: skip
        lba_format = None if prepared.command.admin else await session.lba_format(device)
        if lba_format is None:
            raise UsageError(NO_FIO)
        path = (await session.backend(device)).nvme_cli_path
        text = fio_job_for_command(
            path, prepared.command, lba_format.lba_size, qd=qd, count=count, seconds=seconds
        )
        prompt = PathPrompt("Save the run as a fio job file", "nvtui.fio", "job.fio")
        answer = await self.app.push_screen_wait(prompt)
        if answer is not None:
            await self.save_fio_job(answer, text)

    @says_failures("Not saved", timeout=8)
    async def save_fio_job(self, answer: str, text: str) -> None:
        """Write the fio job to the path the user gave (no symlink followed)."""
        from nvtui.safeio import OutputFile

        try:
            with OutputFile(Path(answer).expanduser(), "fio job") as out:
                out.commit(text.encode())
        except OSError as exc:  # said as the path and the system's words, as nvtui says any file error
            raise UsageError(f"{answer}: {exc.strerror or exc}") from exc
        self.notify(f"fio job saved to {answer}: run it with `fio {answer}`", title="fio job")

    @work(exclusive=True, group="load")
    async def run_load(self) -> None:
        started = await self.start_load()
        if started is not None:
            await self.drive_load(*started)

    @says_failures("Not started", timeout=8)
    async def start_load(self) -> tuple[LoadSpec, Backend, Command, EnginePlan | None] | None:
        """What the run sends, prepared and judged (None: not to be run)."""
        from nvtui.load import LoadSpec, engine_plan

        app = self.nvapp
        session, device = app.session, app.device
        if session is None:
            self.notify("The catalogue is still loading.", severity="warning")
            return None
        composition: Composition | None = app.composition
        count, seconds, qd = self.spec()
        spec = LoadSpec(queue_depth=qd, count=count, seconds=seconds)
        if composition is None:
            prepared = await session.prepare(device, "identify", ["cns=1"])
        else:
            prepared = await session.prepare(
                device,
                composition.command_id,
                composition.assignments,
                data_len=composition.data_len,
                data_in=composition.data_in,
                metadata_in=composition.metadata_in,
                zero_metadata=composition.zero_metadata,
                no_data=composition.no_data,
                allow_destructive=True,  # judged by may_send, once for the whole run
            )
        if not await may_send(self.app, prepared, "the load run"):
            return None
        backend = await session.backend(device)
        command = prepared.command
        lba_format = None if command.admin else await session.lba_format(device)
        plan = engine_plan(backend, command, lba_format.lba_size if lba_format is not None else None)
        return spec, backend, command, plan

    async def drive_load(
        self, spec: LoadSpec, backend: Backend, command: Command, plan: EnginePlan | None
    ) -> None:
        """Run the load, the stats and charts live, and say how it ended."""
        from nvtui.load import run_engine_load, run_load
        from nvtui.stats import LoadStats

        self.stats = LoadStats()
        self.stop_event = asyncio.Event()
        self.running = True
        self._charts_final = False
        try:
            if plan is not None:  # the backend's own engine, in slices: full speed, chart still live
                outcome = await run_engine_load(plan, spec, self.stats, self.stop_event)
            else:
                outcome = await run_load(
                    _Yielding(backend), lambda _i: command, spec, self.stats, self.stop_event
                )
        finally:
            self.running = False
            self._redraw()
        summary = f"{outcome.stats.total.count:,} commands, {outcome.stats.iops:,.0f} IOPS"
        if outcome.failure:
            self.notify(f"Stopped by a device error: {outcome.failure}", severity="error", timeout=10)
            self.post_message(messages.RefreshDevices())  # the device may have gone
        elif outcome.stopped:
            self.notify(f"Stopped: {summary}", title="Load run")
        else:
            self.notify(f"Done: {summary}", title="Load run")
