"""Result: what came back for a command, and every earlier result of this session, reopenable."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Label, OptionList, Static, TabbedContent, TabPane
from textual.widgets.option_list import Option

from nvtui.render import hexdump, record_rows
from nvtui.screens import messages
from nvtui.screens.base import SectionScreen

if TYPE_CHECKING:
    from nvtui.session import SendResult


def status_text(result: SendResult) -> Text:
    """The status by name, green for success and red otherwise, then its codes."""
    status = result.completion.status
    out = Text()
    out.append(f" {status.name} ", style="bold black on green" if status.ok else "bold white on red")
    out.append(f"  SCT {status.sct:#x} SC {status.sc:#04x}", style="dim")
    if status.dnr:
        out.append("  DNR (do not retry)", style="bold red")
    if status.more:
        out.append("  MORE", style="bold")
    if status.crd:
        out.append(f"  CRD {status.crd} (retry after CRDT{status.crd})", style="bold")
    return out


def summary_text(result: SendResult) -> Text:
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
        out.append(f"\n! {notice}", style="yellow")
    return out


def history_label(index: int, result: SendResult) -> Text:
    ok = result.completion.status.ok
    label = Text(f"{index + 1:>3} ", style="dim")
    label.append("✓ " if ok else "✗ ", style="green" if ok else "red")
    label.append(result.prepared.defn.id)
    return label


class ResultScreen(SectionScreen):
    SECTION = "result"
    DEFAULT_CSS = """
    ResultScreen #history {
        width: 22;
        height: 1fr;
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
    ResultScreen DataTable {
        height: 1fr;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("d", "tab('decoded')", "Decoded"),
        Binding("x", "tab('hex')", "Hex"),
        Binding("e", "edit", "Edit & resend"),
        Binding("h", "focus_history", "History"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.result: SendResult | None = None

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
                        yield DataTable(id="decoded-table", cursor_type="row", zebra_stripes=True)
                    with TabPane("Hex", id="hex"), VerticalScroll(id="hex-scroll"):
                        yield Static("", id="hex-dump")

    def on_mount(self) -> None:
        table = self.query_one("#decoded-table", DataTable)
        table.add_columns("field", "offset", "value", "meaning")
        self.watch(self.app, "shown_result", self._shown_result_changed)

    def on_screen_resume(self) -> None:
        self._fill_history()

    def _shown_result_changed(self, result: SendResult | None) -> None:
        self._fill_history()
        if result is not None:
            self.show(result)

    def _history(self) -> list[SendResult]:
        session = self.nvapp.session
        return list(session.history) if session is not None else []

    def _fill_history(self) -> None:
        history = self._history()
        options = self.query_one("#history-list", OptionList)
        if options.option_count == len(history):
            return
        options.clear_options()
        options.add_options([Option(history_label(i, r), id=str(i)) for i, r in enumerate(history)])
        if self.result is not None and self.result in history:
            options.highlighted = history.index(self.result)

    def show(self, result: SendResult) -> None:
        """Show one result: status, DW0, latency, the decoded fields and the data."""
        self.result = result
        self.query_one("#status", Static).update(status_text(result))
        self.query_one("#summary", Static).update(summary_text(result))
        table = self.query_one("#decoded-table", DataTable)
        table.clear()
        tabs = self.query_one(TabbedContent)
        data = result.completion.data
        if result.decoded is not None:
            for name, offset, value, meaning in record_rows(result.decoded):
                table.add_row(name, offset, value, meaning)
            tabs.active = "decoded"
        else:
            why = "the command failed" if not result.ok else "no decoder for this data"
            if not data and result.ok:
                why = "no data was transferred"
            table.add_row("(nothing decoded)", "", "", why)
            if data:
                tabs.active = "hex"
        per_line = 16 if self.app.size.width >= 100 else 8  # 16 bytes a line needs ~78 columns
        self.query_one("#hex-dump", Static).update(hexdump(data, width=per_line) if data else "(no data)")
        history = self._history()
        if result in history:
            self.query_one("#history-list", OptionList).highlighted = history.index(result)

    @on(OptionList.OptionSelected, "#history-list")
    def _reopen(self, event: OptionList.OptionSelected) -> None:
        history = self._history()
        index = int(event.option.id or 0)
        if index < len(history):
            self.show(history[index])
            self.query_one("#decoded-table", DataTable).focus()

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def action_focus_history(self) -> None:
        self.query_one("#history-list", OptionList).focus()

    def action_edit(self) -> None:
        """Open this result's command in Compose with the values it was sent with."""
        if self.result is None:
            return
        values = {name: str(value) for name, value in self.result.prepared.values.items()}
        self.post_message(messages.OpenCommand(self.result.prepared.defn.id, values))
