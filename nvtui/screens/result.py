"""Result: what came back for a command, and every earlier result of this session, reopenable."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import Label, OptionList, Static, TabbedContent, TabPane
from textual.widgets.option_list import Option

from nvtui.errors import NvtuiError
from nvtui.present import Row, decoded_tree, health_card, key_fields, numeric_fields, zone_rows
from nvtui.render import hexdump
from nvtui.screens import messages
from nvtui.screens.base import SectionScreen
from nvtui.watching import (
    DEFAULT_FIELDS,
    DEFAULT_INTERVAL_S,
    WatchSeries,
    resendable,
    step_interval,
    unwatchable,
)
from nvtui.widgets.decoded_tree import DecodedTree
from nvtui.widgets.health_card import HealthCardView
from nvtui.widgets.watch_chart import WatchChart
from nvtui.widgets.zone_view import ZoneView

if TYPE_CHECKING:
    from nvtui.session import Prepared, SendResult, Session


Styles = Mapping[str, Style]
"""The theme's colours by role (`ok`, `error`, `warning`, `ok-badge`, `error-badge`): the screen's component
classes, so the functions below draw in the theme's colours; without them, text styles only."""


def _style(styles: Styles | None, role: str) -> Style:
    return styles.get(role, Style()) if styles is not None else Style()


def status_text(result: SendResult, styles: Styles | None = None) -> Text:
    """The status by name, on the theme's success colour or its error colour, then its codes."""
    status = result.completion.status
    out = Text()
    badge = _style(styles, "ok-badge" if status.ok else "error-badge")
    out.append(f" {status.name} ", style=Style(bold=True) + badge)
    out.append(f"  SCT {status.sct:#x} SC {status.sc:#04x}", style="dim")
    if status.dnr:
        out.append("  DNR (do not retry)", style=Style(bold=True) + _style(styles, "error"))
    if status.more:
        out.append("  MORE", style="bold")
    if status.crd:
        out.append(f"  CRD {status.crd} (retry after CRDT{status.crd})", style="bold")
    return out


def summary_text(result: SendResult, styles: Styles | None = None) -> Text:
    p, c = result.prepared, result.completion
    out = Text()
    out.append(f"{p.defn.id}", style="bold")
    out.append(f" · {p.device} · ")
    out.append("DW0 ", style="dim")
    out.append(f"{c.result & 0xFFFFFFFF:#010x}", style="bold")
    if c.result >> 32:
        out.append("  DW1 ", style="dim")
        out.append(f"{c.result >> 32:#010x}", style="bold")
    out.append(" · ", style="dim")
    out.append(f"{c.latency_ns / 1000:.1f} µs", style="bold")
    out.append(f" · {p.command.data_len} B data", style="dim")
    for notice in result.notices:
        out.append(f"\n! {notice}", style=_style(styles, "warning"))
    return out


def history_label(index: int, result: SendResult, width: int = 32, styles: Styles | None = None) -> Text:
    """`  1 ✓ get-features fid=temperature-threshold`: the fields that tell it from its neighbours follow
    the command, on lines of their own (indented) when they do not fit `width`."""
    ok = result.completion.status.ok
    label = Text(f"{index + 1:>3} ", style="dim")
    label.append("✓ " if ok else "✗ ", style=_style(styles, "ok" if ok else "error"))
    label.append(result.prepared.defn.id)
    line = len(label)
    for key in key_fields(result.prepared.defn, result.prepared.values):
        if len(key) > width - 2:  # too long for a line of its own: cut, not wrapped mid-word
            key = key[: width - 3] + "…"
        if line + 1 + len(key) > width:
            label.append("\n  ")
            line = 2
        else:
            label.append(" ")
            line += 1
        label.append(key, style="dim")
        line += len(key)
    return label


def field_detail(row: Row) -> Text:
    """The highlighted row whole: the tree's columns cut long values and meanings."""
    if row.line or row.section:
        return Text(row.name if row.section else "")
    out = Text()
    out.append(row.path or row.name, style="bold")
    if row.where:
        out.append(f" @ {row.where}")
    if row.value:
        out.append(f" = {row.value}")
    if row.meaning:
        out.append(f": {row.meaning}")
    return out


class ResultScreen(SectionScreen):
    SECTION = "result"
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "result--ok",
        "result--error",
        "result--warning",
        "result--ok-badge",
        "result--error-badge",
    }
    DEFAULT_CSS = """
    ResultScreen > .result--ok { color: $success; }
    ResultScreen > .result--error { color: $error; }
    ResultScreen > .result--warning { color: $warning; }
    ResultScreen > .result--ok-badge { color: $text; background: $success; }
    ResultScreen > .result--error-badge { color: $text; background: $error; }
    ResultScreen #history {
        width: 34;
        height: 1fr;
    }
    ResultScreen.-narrow #history {
        width: 29;
    }
    ResultScreen #history > Label {
        text-style: bold;
        padding: 0 1;
    }
    ResultScreen #history-list {
        height: 1fr;
        border: none;
    }
    ResultScreen #result-main {
        width: 1fr;
        padding: 0 0 0 1;
    }
    ResultScreen #status {
        height: 1;
    }
    ResultScreen #summary {
        height: auto;
        max-height: 4;
    }
    ResultScreen TabbedContent {
        height: 1fr;
    }
    ResultScreen #decoded-head {
        height: 1;
        color: $text-muted;
        text-style: bold;
    }
    ResultScreen #field-detail {
        height: auto;
        max-height: 3;
        border-top: hkey $primary-darken-2;
        color: $text-muted;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("d", "tab('decoded')", "Decoded"),
        Binding("z", "tab('zones')", "Zones", show=False),
        Binding("c", "tab('health')", "Health", show=False),
        Binding("x", "tab('hex')", "Hex"),
        Binding("w", "watch", "Watch"),
        Binding("plus", "watch_interval(1)", "Watch slower", show=False),
        Binding("minus", "watch_interval(-1)", "Watch faster", show=False),
        Binding("e", "edit", "Edit & resend"),
        Binding("h", "focus_history", "History"),
    ]

    watch_interval: reactive[float] = reactive(DEFAULT_INTERVAL_S, init=False)

    def __init__(self) -> None:
        super().__init__()
        self.result: SendResult | None = None
        self.series: WatchSeries | None = None  # the field being watched, while a watch runs
        self._watched: Prepared | None = None
        self._watch_session: Session | None = None
        self._watch_timer: Timer | None = None
        self._watch_started = 0.0
        self._watch_busy = False

    def compose_body(self) -> ComposeResult:
        with Horizontal():
            with Vertical(id="history"):
                yield Label("History")
                yield OptionList(id="history-list")
            with Vertical(id="result-main"):
                yield Static("No command sent yet: compose one (F3) and send it (Ctrl+S).", id="status")
                yield Static("", id="summary")
                with TabbedContent(id="result-tabs"):
                    with TabPane("Decoded", id="decoded"):
                        yield Static("", id="decoded-head")
                        yield DecodedTree(id="decoded-tree")
                        yield Static("", id="field-detail")
                    with TabPane("Zones", id="zones"):
                        yield ZoneView(id="zone-view")
                    with TabPane("Health", id="health"), VerticalScroll():
                        yield HealthCardView(id="health-card")
                    with TabPane("Watch", id="watch"):
                        yield Static("", id="watch-label")
                        yield WatchChart(id="watch-chart")
                    with TabPane("Hex", id="hex"), VerticalScroll(id="hex-scroll"):
                        yield Static("", id="hex-dump")

    def on_mount(self) -> None:
        tabs = self.query_one(TabbedContent)
        tabs.hide_tab("zones")
        tabs.hide_tab("health")
        tabs.hide_tab("watch")
        self.watch(self.app, "shown_result", self._shown_result_changed)

    def on_resize(self) -> None:
        narrow = self.size.width < 100
        if narrow != self.has_class("-narrow"):
            self.set_class(narrow, "-narrow")
            self._fill_history(force=True)

    def _styles(self) -> Styles:
        roles = ("ok", "error", "warning", "ok-badge", "error-badge")
        return {role: self.get_component_rich_style(f"result--{role}", partial=True) for role in roles}

    def _history_width(self) -> int:
        return 27 if self.has_class("-narrow") else 32

    def on_screen_resume(self) -> None:
        self._fill_history()

    def _shown_result_changed(self, result: SendResult | None) -> None:
        self._fill_history()
        if result is not None:
            self.show(result)

    def _history(self) -> list[SendResult]:
        session = self.nvapp.session
        return list(session.history) if session is not None else []

    def _fill_history(self, force: bool = False) -> None:
        history = self._history()
        options = self.query_one("#history-list", OptionList)
        if options.option_count == len(history) and not force:
            return
        options.clear_options()
        width, styles = self._history_width(), self._styles()
        options.add_options(
            [Option(history_label(i, r, width, styles), id=str(i)) for i, r in enumerate(history)]
        )
        if self.result is not None and self.result in history:
            options.highlighted = history.index(self.result)

    def show(self, result: SendResult) -> None:
        """Show one result: status, DW0, latency, the decoded fields (and zones or health when the data is
        a zone report or a SMART log) and the data."""
        self.result = result
        styles = self._styles()
        self.query_one("#status", Static).update(status_text(result, styles))
        self.query_one("#summary", Static).update(summary_text(result, styles))
        tabs = self.query_one(TabbedContent)
        data = result.completion.data
        zones = zone_rows(result.decoded) if result.decoded is not None else None
        card = health_card(result.decoded) if result.decoded is not None else None
        if zones is not None:
            self.query_one(ZoneView).show_zones(zones)
        self.query_one(HealthCardView).card = card
        tree = self.query_one(DecodedTree)
        if result.decoded is not None:
            rows = decoded_tree(result.decoded)
            tree.show_rows(rows)
            active = "zones" if zones is not None else "health" if card is not None else "decoded"
        else:
            why = "the command failed" if not result.ok else "no decoder for this data"
            if not data and result.ok:
                why = "no data was transferred"
            rows = (Row("(nothing decoded)", meaning=why),)
            tree.show_rows(rows)
            active = "hex" if data else "decoded"
        self.query_one("#field-detail", Static).update(field_detail(rows[0]) if rows else "")
        # Show, activate, then hide: hiding the active tab would activate another one later.
        wanted = {"zones": zones is not None, "health": card is not None}
        for tab, shown in wanted.items():
            if shown:
                tabs.show_tab(tab)
        tabs.active = active
        for tab, shown in wanted.items():
            if not shown:
                tabs.hide_tab(tab)
        self._focus_tab(active)
        per_line = 16 if self.app.size.width >= 100 else 8  # 16 bytes a line needs ~78 columns
        self.query_one("#hex-dump", Static).update(hexdump(data, width=per_line) if data else "(no data)")
        history = self._history()
        if result in history:
            self.query_one("#history-list", OptionList).highlighted = history.index(result)

    @on(DecodedTree.ColumnsChanged)
    def _columns_changed(self, event: DecodedTree.ColumnsChanged) -> None:
        self.query_one("#decoded-head", Static).update(event.tree.header())

    @on(DecodedTree.NodeHighlighted, "#decoded-tree")
    def _field_highlighted(self, event: DecodedTree.NodeHighlighted[Row]) -> None:
        row = event.node.data
        self.query_one("#field-detail", Static).update(field_detail(row) if row is not None else "")

    @on(OptionList.OptionSelected, "#history-list")
    def _reopen(self, event: OptionList.OptionSelected) -> None:
        history = self._history()
        index = int(event.option.id or 0)
        if index < len(history):
            self.show(history[index])
            self.query_one(DecodedTree).focus()

    def action_tab(self, tab: str) -> None:
        tabs = self.query_one(TabbedContent)
        pane = tabs.get_pane(tab)
        if pane.display:  # a hidden tab (no zones, no health card) stays hidden
            tabs.active = tab
            self._focus_tab(tab)

    def _focus_tab(self, tab: str) -> None:
        """Arrow keys move through what the tab shows: the decoded tree, the zone table."""
        target = {"decoded": "#decoded-tree", "zones": "#zone-table"}.get(tab)
        if target is not None:
            self.query_one(target).focus()

    def action_focus_history(self) -> None:
        self.query_one("#history-list", OptionList).focus()

    def action_edit(self) -> None:
        """Open this result's command in Compose with the values it was sent with."""
        if self.result is None:
            return
        prepared = self.result.prepared
        values = {name: str(value) for name, value in prepared.defn.shown_values(prepared.values).items()}
        self.post_message(messages.OpenCommand(self.result.prepared.defn.id, values))

    # --- watch: re-send the command every few seconds, chart one numeric field -------------------------

    def action_watch(self) -> None:
        """Watch the highlighted numeric field (or the first one) of this result; stop if watching."""
        if self.series is not None:
            self.stop_watch()
            return
        result = self.result
        why = unwatchable(result.prepared) if result is not None else None
        if why is not None:
            self.notify(why, title="Not watched", severity="warning")
            return
        if result is None or result.decoded is None:
            self.notify("Nothing decoded to watch: send a command that returns data.", severity="warning")
            return
        tabs = self.query_one(TabbedContent)
        cursor = self.query_one(DecodedTree).cursor_node
        row = cursor.data if cursor is not None and tabs.active == "decoded" else None
        if row is None or row.number is None or not row.path:  # the structure's usual one, else the first
            candidates = numeric_fields(decoded_tree(result.decoded))
            usual = DEFAULT_FIELDS.get(result.decoded.name)
            row = next((r for r in candidates if r.path == usual), candidates[0] if candidates else None)
        if row is None:
            self.notify("No numeric field to watch in this result.", severity="warning")
            return
        from nvtui.session import Session

        catalogue = self.nvapp.catalogue
        assert catalogue is not None
        self.series = WatchSeries(result.prepared.defn.id, row.path)
        self._watched = resendable(result.prepared)
        self._watch_session = Session(catalogue, self.nvapp.backend_kind)
        self._watch_started = time.monotonic()
        self._restart_timer()
        tabs.show_tab("watch")
        tabs.active = "watch"
        self._watch_tick()

    def action_watch_interval(self, step: int) -> None:
        self.watch_interval = step_interval(self.watch_interval, step)

    def watch_watch_interval(self) -> None:
        if self.series is not None:
            self._restart_timer()
            self._show_watch()

    def _restart_timer(self) -> None:
        if self._watch_timer is not None:
            self._watch_timer.stop()
        self._watch_timer = self.set_interval(self.watch_interval, self._watch_tick)

    def _watch_tick(self) -> None:
        if self.series is not None and not self._watch_busy:  # a slow device: skip a beat, never pile up
            self._watch_busy = True
            self._watch_send()

    @work(group="watch", exit_on_error=False)
    async def _watch_send(self) -> None:
        series, session, prepared = self.series, self._watch_session, self._watched
        try:
            if series is None or session is None or prepared is None:
                return
            try:
                result = await session.send(prepared)
            except NvtuiError as exc:
                series.failures += 1
                series.last_error = str(exc)
            else:
                series.add(time.monotonic() - self._watch_started, result)
        finally:
            self._watch_busy = False
        if series is self.series:
            self._show_watch()

    def _show_watch(self) -> None:
        series = self.series
        if series is None:
            return
        label = Text()
        label.append(f"watching {series.path} of {series.command}", style="bold")
        label.append(f" every {self.watch_interval:g} s · w stops · +/- interval\n", style="dim")
        label.append(series.summary())
        if series.failures:
            label.append(f"  · {series.failures} failed: {series.last_error}", style="dim")
        self.query_one("#watch-label", Static).update(label)
        self.query_one(WatchChart).show_series(series.chart_data())

    def stop_watch(self) -> None:
        series = self.series
        self._end_watch()
        if series is not None:
            self.query_one("#watch-label", Static).update(
                Text(f"stopped watching {series.path}: {series.summary()} · w watches again")
            )

    def _end_watch(self) -> None:
        """Stop the timer and forget the watch; a worker closes the watch's session."""
        if self._watch_timer is not None:
            self._watch_timer.stop()
            self._watch_timer = None
        session, self._watch_session = self._watch_session, None
        self.series = None
        if session is not None and self.is_attached:
            self.run_worker(session.close(), group="watch-close")

    async def on_unmount(self) -> None:
        """The app is closing: the watch's session lets go of its device here, not in a worker."""
        if self._watch_timer is not None:
            self._watch_timer.stop()
        session, self._watch_session = self._watch_session, None
        self.series = None
        if session is not None:
            await session.close()
