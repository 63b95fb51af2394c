"""Modal screens: destructive-command and destructive-script confirmations, a path prompt, and help."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

if TYPE_CHECKING:
    from nvtui.session import Prepared

MODAL_CSS = """
{cls} {
    align: center middle;
    background: $background 60%;
}
{cls} > Vertical {
    width: 72;
    max-width: 100%;
    height: auto;
    max-height: 100%;
    border: thick $error;
    background: $surface;
    padding: 0 1;
}
{cls} .title {
    text-style: bold;
    color: $error;
    width: 1fr;
    content-align: center middle;
}
{cls} .body {
    height: auto;
    max-height: 14;
    margin: 1 0;
}
{cls} Horizontal {
    height: auto;
    align: center middle;
}
{cls} Button {
    margin: 0 2;
}
"""


def _fields_text(prepared: Prepared) -> str:
    shown = prepared.defn.shown_values(prepared.values)  # a KV key as text or 0x-hex
    return " ".join(
        f"{name}={value:#x}" if isinstance(value, int) and value > 9 else f"{name}={value}"
        for name, value in shown.items()
    )


class _Confirm(ModalScreen[bool]):
    """A yes/no question whose safe answer (Cancel) has the focus; y or Enter on the red button says yes."""

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm")


class ConfirmDestructive(_Confirm):
    """Asks before a destructive command: names the device, the command and what it changes."""

    DEFAULT_CSS = MODAL_CSS.replace("{cls}", "ConfirmDestructive")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "answer(False)", "Cancel"),
        Binding("y", "answer(True)", "Send"),
    ]

    def __init__(self, device: str, prepared: Prepared) -> None:
        super().__init__()
        self.device = device
        self.prepared = prepared

    def compose(self) -> ComposeResult:
        d = self.prepared.defn
        with Vertical():
            yield Label("Destructive command", classes="title")
            with VerticalScroll(classes="body"):
                yield Static(
                    f"[b]{d.name}[/b] ({d.id}) on [b]{self.device}[/b]\n"
                    f"Fields: {_fields_text(self.prepared) or '(none)'}\n\n"
                    f"It will: {d.help}.\n"
                    f"What will be lost: whatever this overwrites, erases or resets on {self.device}; "
                    "nvtui cannot bring it back.",
                    id="confirm-body",
                )
            with Horizontal():
                yield Button(f"Send to {self.device} (y)", variant="error", id="confirm")
                yield Button("Cancel (Esc)", variant="primary", id="cancel")


class ConfirmScript(_Confirm):
    """Asks once, before a replay, listing every destructive step of the script."""

    DEFAULT_CSS = MODAL_CSS.replace("{cls}", "ConfirmScript")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "answer(False)", "Cancel"),
        Binding("y", "answer(True)", "Replay"),
    ]

    def __init__(self, device: str, steps: Sequence[tuple[int, str]], script_name: str) -> None:
        super().__init__()
        self.device = device
        self.steps = list(steps)
        self.script_name = script_name

    def compose(self) -> ComposeResult:
        listed = "\n".join(f"  step {i + 1}: {cmd}" for i, cmd in self.steps)
        with Vertical():
            yield Label("Script with destructive steps", classes="title")
            with VerticalScroll(classes="body"):
                yield Static(
                    f"Replaying [b]{self.script_name}[/b] on [b]{self.device}[/b] sends "
                    f"{len(self.steps)} destructive step(s):\n{listed}\n\n"
                    f"What will be lost: whatever these steps overwrite, erase or reset on {self.device}; "
                    "nvtui cannot bring it back.",
                    id="confirm-body",
                )
            with Horizontal():
                yield Button("Replay all (y)", variant="error", id="confirm")
                yield Button("Cancel (Esc)", variant="primary", id="cancel")


class PathPrompt(ModalScreen["str | None"]):
    """One line of input (a file path); Enter answers, Escape cancels."""

    DEFAULT_CSS = MODAL_CSS.replace("{cls}", "PathPrompt").replace("$error", "$accent")
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, value: str = "", placeholder: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.value = value
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, classes="title")
            yield Input(self.value, placeholder=self.placeholder, id="path")
            yield Static("Enter: OK · Esc: cancel", classes="title")

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)


HELP = """\
# nvtui

An explorer for NVMe devices: compose any command from the catalogue, send it, read the decoded result,
measure latency under load, and save what you did as a replayable script.

| key | where | what |
| --- | --- | --- |
| F2 | anywhere | **Devices**: controllers and namespaces; Enter makes one the target |
| F3 | anywhere | **Compose**: pick a command, fill its fields, see the submission entry |
| F4 | anywhere | **Result**: status, DW0, latency, decoded fields, hex dump, history |
| F5 | anywhere | **Load**: repeat the composed command at a queue depth; live latency chart |
| F6 | anywhere | **Scripts**: save the history as YAML, open and replay scripts |
| Ctrl+P | anywhere | command palette: catalogue commands, devices, scripts, themes |
| Ctrl+W | anywhere | allow destructive commands (or go back to read-only) |
| Ctrl+S / Enter | Compose | send the command |
| Ctrl+F | Compose | filter the catalogue |
| Ctrl+R | Compose | raw mode: any opcode and CDWs (admin-passthru / io-passthru) |
| Ctrl+O | Load | save the run (a Read or Write) as a fio job file that reproduces it |
| Ctrl+Q | anywhere | quit |

**Safety.** nvtui starts read-only (shown top right): destructive commands (writes, formats, sanitize,
firmware, namespace management, ...) are refused. Ctrl+W allows them, and each one still asks in a dialog
naming the device. A script with destructive steps asks once, before it starts.

**Simulated device.** Without NVMe hardware, `sim0` (namespaces `sim0n1`, conventional, and `sim0n2`,
zoned) answers like a controller; its state is kept between runs.

**Headless.** `nvtui send DEV CMD field=value`, `nvtui run SCRIPT`, `nvtui bench DEV`; see `nvtui --help`.
"""


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
        background: $background 60%;
    }
    HelpScreen > VerticalScroll {
        width: 90%;
        max-width: 110;
        height: 90%;
        border: thick $accent;
        background: $surface;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,f1,q", "close", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            from textual.widgets import Markdown  # markdown-it: only when the help is shown

            yield Markdown(HELP)

    def action_close(self) -> None:
        self.dismiss(None)
