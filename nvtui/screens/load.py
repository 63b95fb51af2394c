"""Load & latency: repeat the composed command N times or for T seconds at queue depth Q, its LBAs fixed or
moved sequentially or at random over the namespace, on one namespace or several at once, with a live chart
of latency over time and a histogram, and IOPS and percentiles updating while it runs. How a run goes (the
backend's C engine or a command at a time) is the session layer's (`nvtui.load`): this screen describes
the run as `LoadJob`s and shows the statistics that come back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive, var
from textual.widgets import ContentSwitcher, Input, Label, Select, Static

from nvtui.errors import NvtuiError, UsageError
from nvtui.numbers import NumberTooLong, parse_number
from nvtui.screens import messages
from nvtui.screens.base import SectionScreen, Styles, role, says_failures
from nvtui.screens.safety import may_send
from nvtui.widgets.headless import steady_cursors

if TYPE_CHECKING:
    from nvtui.backend.base import Backend
    from nvtui.composition import Composition
    from nvtui.ladder import LadderProgress, Workload
    from nvtui.load import LoadJob, LoadOutcome
    from nvtui.session import Prepared, Session
    from nvtui.stats import LoadStats
    from nvtui.widgets.compare import Rung

REDRAW_HZ = 10  # the stats line: a frame at most every 100 ms while a load runs
# The charts are drawn off the loop (latency_chart: in a chart process; in a thread, which takes the GIL
# from the loop, while that starts), and showing a new picture still costs the loop a render: the time
# chart once a second (4 new intervals), the histogram, the shape of the whole run that settles within
# seconds, every 2 s; both again when the run ends.
CHART_EVERY_S = {"chart-time": 1.0, "chart-histogram": 2.0, "compare": 1.0}
COMPARED = 8  # runs the Compare view keeps, the latest last
NO_FIO = "fio's io_uring_cmd engine sends only Read and Write: compose one (F3) to export its run to fio"
LBA_PATTERN_CHOICES = (("fixed LBAs", "fixed"), ("sequential", "sequential"), ("random", "random"))


def _us(ns: float) -> str:
    return f"{ns / 1000:,.1f} µs"


def stats_text(
    stats: LoadStats | None,
    running: bool,
    styles: Styles | None = None,
    each: Sequence[tuple[str, LoadStats]] = (),
) -> Text:
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
    if len(each) > 1:  # several namespaces: the line above is their sum; each one's share
        t.append("\n")
        for i, (device, part) in enumerate(each):
            t.append("  " if i else "", style="dim")
            t.append(f"{device} ", style="dim")
            t.append(f"{part.iops:,.0f}")
            t.append(f" IOPS p99 {_us(part.total.percentile(99))}", style="dim")
    return t


class Repeats(Static):
    """What a run repeats, on which device (both bound from the screen)."""

    composition: reactive[Composition | None] = reactive(None)
    device: reactive[str] = reactive("")

    def render(self) -> Text:
        composition = self.composition
        what = composition.describe() if composition is not None else "identify cns=1 (compose another in F3)"
        return Text(f"repeats: {what} on {self.device}")


def device_names(text: str) -> list[str]:
    """The namespaces typed in the "also on" field: separated by spaces or commas."""
    return [name for name in text.replace(",", " ").split() if name]


class LoadScreen(SectionScreen):
    SECTION = "load"
    SHARED = (*SectionScreen.SHARED, "composition")
    composition: var[Composition | None] = var(None)
    """The composed command (the app's, mirrored): what a run repeats."""
    DEFAULT_CSS = """
    LoadScreen .load-form {
        height: 1;
    }
    LoadScreen .load-form Label {
        padding: 0 1 0 0;
    }
    LoadScreen .load-form Input {
        width: 9;
        margin: 0 2 0 0;
    }
    LoadScreen .load-form Select {
        width: 16;
        margin: 0 2 0 0;
    }
    LoadScreen .load-form #load-also {
        width: 1fr;
    }
    LoadScreen #load-command {
        height: 1;
        color: $text-muted;
    }
    LoadScreen #load-stats {
        height: auto;
        max-height: 3;
    }
    LoadScreen #charts, LoadScreen #run-view, LoadScreen #compare-view {
        height: 1fr;
    }
    LoadScreen #compare-bars {
        max-height: 9;
        margin: 0 0 1 0;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "start", "Start", priority=True),
        Binding("escape", "stop", "Stop", priority=True),
        Binding("ctrl+o", "export_fio", "fio job"),
        Binding("ctrl+t", "toggle_compare", "Compare"),
        Binding("ctrl+l", "ladder", "Ladder"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.stats: LoadStats | None = None  # the run's (the sum, on several namespaces)
        self.each: list[tuple[str, LoadStats]] = []  # each namespace's, when several
        self.stop_event: asyncio.Event | None = None
        self.running = False
        self._charted_at: dict[str, float] = {}  # chart id: when it was last asked to draw
        self._charts_final = False  # drawn since the last run ended: nothing changes until the next
        self.compared: list[tuple[str, LoadStats]] = []  # the runs the Compare view shows, by name
        self.ladder: list[Rung] | None = None  # the last interface ladder's rungs: the Compare view's then
        self.laddering = False

    def compose_body(self) -> ComposeResult:
        from nvtui.widgets.compare import LatencyCdf, RungBars
        from nvtui.widgets.latency_chart import LatencyHistogram, LatencyOverTime  # plotext: only when used

        with Vertical():
            yield Repeats(id="load-command").data_bind(LoadScreen.composition, SectionScreen.device)
            with Horizontal(id="load-form", classes="load-form"):
                yield Label("count")
                yield Input(placeholder="N", id="load-count", compact=True)
                yield Label("or seconds")
                yield Input("10", placeholder="T", id="load-seconds", compact=True)
                yield Label("queue depth")
                yield Input("8", placeholder="Q", id="load-qd", compact=True)
            with Horizontal(id="load-where", classes="load-form"):
                yield Label("LBAs")
                yield Select(
                    LBA_PATTERN_CHOICES, value="fixed", allow_blank=False, id="load-lbas", compact=True
                )
                yield Label("also on")
                yield Input(placeholder="more namespaces, e.g. sim0n2", id="load-also", compact=True)
            yield Static(stats_text(None, False), id="load-stats")
            with ContentSwitcher(id="charts", initial="run-view"):
                with Vertical(id="run-view"):
                    yield LatencyOverTime(id="chart-time")
                    yield LatencyHistogram(id="chart-histogram")
                with Vertical(id="compare-view"):
                    yield RungBars(id="compare-bars")
                    yield LatencyCdf(id="compare-cdf")

    def on_mount(self) -> None:
        self.set_interval(1 / REDRAW_HZ, self._redraw)
        steady_cursors(self)  # headless: a snapshot never catches the count's cursor mid-blink

    def _redraw(self) -> None:
        from nvtui.widgets.latency_chart import StatsChart

        if not self.running and self.stats is None:
            return
        if not self.is_attached:  # the app is closing: a run's worker ended at exit, the screen's styles gone
            return
        stats = self.stats
        if stats is not None and self.running:
            stats.tick()
        if not self.running and self._charts_final:
            return
        text = stats_text(stats, self.running, self.theme_styles(), self.each)
        self.query_one("#load-stats", Static).update(text)
        if not self.is_current:
            return
        # The stats line every tick; a chart at its own pace. `draw` only hands the numbers to the chart's
        # worker, and one whose numbers did not change is not drawn again.
        now = time.monotonic()
        if self.comparing and (not self.running or now - self._charted_at.get("compare", 0.0) >= 1.0):
            self.draw_compare()
            self._charted_at["compare"] = now
        for chart in self.query(StatsChart):
            ident = chart.id or ""
            if not self.running or now - self._charted_at.get(ident, 0.0) >= CHART_EVERY_S.get(ident, 1.0):
                chart.draw(stats)
                self._charted_at[ident] = now
        self._charts_final = not self.running

    @property
    def comparing(self) -> bool:
        return self.query_one("#charts", ContentSwitcher).current == "compare-view"

    def action_toggle_compare(self) -> None:
        """The run's charts, or the Compare view (the latest runs side by side)."""
        switcher = self.query_one("#charts", ContentSwitcher)
        switcher.current = "run-view" if self.comparing else "compare-view"
        if self.comparing:
            self.draw_compare()

    def draw_compare(self) -> None:
        from nvtui.widgets.compare import LatencyCdf, Rung, RungBars

        live = {id(stats) for _, stats in self.each} if self.running else set()
        rungs = tuple(self.ladder) if self.ladder is not None else tuple(
            Rung(name, stats.total, iops=stats.iops, running=id(stats) in live)
            for name, stats in self.compared
        )  # fmt: skip
        self.query_one(RungBars).rungs = rungs
        self.query_one(LatencyCdf).rungs = rungs

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

    def lba_pattern(self) -> str:
        value = self.query_one("#load-lbas", Select).value
        return value if isinstance(value, str) else "fixed"

    @on(Input.Submitted, ".load-form Input")
    def _enter_starts(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_start()

    def action_start(self) -> None:
        if self.running or self.laddering:
            self.notify("A load run is going; Esc stops it.", severity="warning")
            return
        self.load_worker()

    def action_stop(self) -> None:
        if self.stop_event is not None and (self.running or self.laddering):
            self.stop_event.set()

    def action_ladder(self) -> None:
        if self.running or self.laddering:
            self.notify("A load run is going; Esc stops it.", severity="warning")
            return
        self.ladder_worker()

    @work(exclusive=True, group="load")
    async def ladder_worker(self) -> None:
        started = await self.start_ladder()
        if started is not None:
            await self.drive_ladder(*started)

    @says_failures("Ladder not started", timeout=8)
    async def start_ladder(self) -> tuple[str, Workload, bool] | None:
        """The interface ladder's workload from the form: the composed Read or Write (its size; random LBAs
        when the pattern says so, else sequential), or 4 KiB random reads when nothing is composed."""
        from nvtui.ladder import Workload

        app = self.nvapp
        session = app.session
        if session is None:
            self.notify("The catalogue is still loading.", severity="warning")
            return None
        _count, seconds, qd = self.spec()
        if seconds is None:
            raise UsageError("the ladder runs every rung for a time: give seconds (per rung), not a count")
        if app.composition is None:
            return app.device, Workload("randread", 4096, qd, seconds), False
        prepared = await self.prepare_on(session, app.device)
        cmd = prepared.command
        kind = {0x02: "read", 0x01: "write"}.get(cmd.opcode) if not cmd.admin else None
        if kind is None or cmd.plain_block_range() is None:
            raise UsageError(
                "the ladder runs plain Reads or Writes: compose one (F3), or none for 4 KiB random reads"
            )
        if not await may_send(self.app, prepared, "the ladder"):
            return None
        rw = f"rand{kind}" if self.lba_pattern() == "random" else kind
        return app.device, Workload(rw, cmd.data_len, qd, seconds), prepared.destructive

    async def drive_ladder(self, device: str, workload: Workload, allow_destructive: bool) -> None:
        """Every rung in turn on `device`, the Compare view live as each slice and each rung ends."""
        from nvtui.backend.histogram import LatencyHistogram
        from nvtui.ladder import RUNGS, run_ladder
        from nvtui.widgets.compare import Rung

        self.ladder = [Rung(rung.name) for rung in RUNGS]
        latency = [LatencyHistogram() for _ in RUNGS]
        ios, elapsed_ns = [0] * len(RUNGS), [0] * len(RUNGS)
        drawn = 0.0

        def progress(p: LadderProgress) -> None:
            nonlocal drawn
            assert self.ladder is not None
            if p.result is not None:
                ran = p.result.skipped is None
                self.ladder[p.index] = Rung.from_json(p.result.to_json(), p.result.latency if ran else None)
            elif p.part is not None:
                latency[p.index].merge(p.part.latency)
                ios[p.index] += p.part.ios
                elapsed_ns[p.index] += p.part.elapsed_ns
                iops = ios[p.index] * 1e9 / elapsed_ns[p.index] if elapsed_ns[p.index] else 0.0
                self.ladder[p.index] = Rung(p.rung.name, latency[p.index], iops=iops, running=True)
            now = time.monotonic()
            if p.result is not None or now - drawn >= CHART_EVERY_S["compare"]:
                self.draw_compare()
                drawn = now

        self.query_one("#charts", ContentSwitcher).current = "compare-view"
        self.draw_compare()
        self.stop_event = asyncio.Event()
        self.laddering = True
        try:
            ladder = await run_ladder(
                device, workload, on_progress=progress, allow_destructive=allow_destructive,
                stop=self.stop_event,
            )  # fmt: skip
        except NvtuiError as exc:
            self.ladder = None
            self.draw_compare()
            self.notify(str(exc), title="Ladder not run", severity="error", timeout=8)
            return
        finally:
            self.laddering = False
        self.draw_compare()
        ran = [r for r in ladder.rungs if r.ran]
        if not ran:
            self.notify(
                "Every rung was skipped: the Compare view says why.", title="Ladder", severity="warning"
            )
            return
        best = max(ran, key=lambda r: r.iops)
        versus = f", x{best.vs_block:.2f} the block path" if best.vs_block is not None else ""
        self.notify(f"Best: {best.rung.name} at {best.iops:,.0f} IOPS{versus}", title="Ladder")

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
            path, prepared.command, lba_format.lba_size, qd=qd, count=count, seconds=seconds,
            lba_pattern=self.lba_pattern(),
        )  # fmt: skip
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
    async def load_worker(self) -> None:
        started = await self.start_load()
        if started is not None:
            await self.drive_load(started)

    @says_failures("Not started", timeout=8)
    async def start_load(self) -> list[tuple[str, Backend, LoadJob]] | None:
        """What the run sends on each namespace, prepared, judged and described (None: not to be run)."""
        from nvtui.load import LoadJob

        app = self.nvapp
        session = app.session
        if session is None:
            self.notify("The catalogue is still loading.", severity="warning")
            return None
        count, seconds, qd = self.spec()
        pattern = self.lba_pattern()
        devices = list(dict.fromkeys([app.device, *device_names(self.query_one("#load-also", Input).value)]))
        runs: list[tuple[str, Backend, LoadJob]] = []
        for device in devices:
            prepared = await self.prepare_on(session, device)
            if not await may_send(self.app, prepared, "the load run"):
                return None
            job = LoadJob(prepared.command, queue_depth=qd, count=count, seconds=seconds, lba_pattern=pattern)
            runs.append((device, await session.backend(device), job))
        return runs

    async def prepare_on(self, session: Session, device: str) -> Prepared:
        """The composed command (Identify Controller when none is composed) prepared for `device`."""
        composition: Composition | None = self.nvapp.composition
        if composition is None:
            return await session.prepare(device, "identify", ["cns=1"])
        return await session.prepare(
            device, composition.command_id, composition.assignments, data_len=composition.data_len,
            data_in=composition.data_in, metadata_in=composition.metadata_in,
            zero_metadata=composition.zero_metadata, no_data=composition.no_data,
            allow_destructive=True,  # judged by may_send, once for the whole run
        )  # fmt: skip

    async def drive_load(self, runs: list[tuple[str, Backend, LoadJob]]) -> None:
        """Run the load on every namespace at once, the stats and charts live, and say how it ended."""
        from nvtui.load import run_jobs
        from nvtui.stats import LoadStats

        self.stats = LoadStats()
        self.each = [(device, LoadStats()) for device, _, _ in runs]
        job = runs[0][2]
        how = f"{job.lba_pattern} qd{job.queue_depth}"
        named = [(f"{device} {how}", stats) for device, stats in self.each]
        self.ladder = None  # the Compare view shows the runs again
        self.compared = [*self.compared, *named][-COMPARED:]
        self.stop_event = asyncio.Event()
        self.running = True
        self._charts_final = False
        outcomes: list[LoadOutcome] = []
        try:
            outcomes = await run_jobs(
                [(backend, job) for _, backend, job in runs], self.stats, self.stop_event,
                each=[stats for _, stats in self.each],
            )  # fmt: skip
        except UsageError as exc:  # a job the namespace cannot run (a region outside it): nothing was sent
            self.notify(str(exc), title="Not started", severity="error", timeout=8)
            return
        finally:
            self.running = False
            self._redraw()
        total = self.stats.total.count
        summary = f"{total:,} commands, {self.stats.iops:,.0f} IOPS"
        devices = [device for device, _, _ in runs]
        failures = [f"{d}: {o.failure}" for d, o in zip(devices, outcomes, strict=True) if o.failure]
        if failures:
            self.notify(f"Stopped by a device error: {'; '.join(failures)}", severity="error", timeout=10)
            self.post_message(messages.RefreshDevices())  # the device may have gone
        elif any(o.stopped for o in outcomes):
            self.notify(f"Stopped: {summary}", title="Load run")
        else:
            self.notify(f"Done: {summary}", title="Load run")
