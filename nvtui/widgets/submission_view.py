"""The submission entry a composed command becomes, as the controller will see it, and the nvme-cli line
that sends the same command; with the warnings to read before sending."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.style import Style
from rich.text import Text
from textual.widgets import Static

if TYPE_CHECKING:
    from collections.abc import Sequence

    from nvtui.nvme.command import Command


def submission_text(cmd: Command) -> Text:
    """opcode, nsid and CDW2-CDW15 in hex, four dwords a line, then the data buffer."""
    out = Text()
    queue = "admin" if cmd.admin else "I/O"
    out.append("opcode ", style="dim")
    out.append(f"{cmd.opcode:02x}", style="bold")
    out.append(f" ({queue})  ", style="dim")
    out.append("nsid ", style="dim")
    out.append(f"{cmd.nsid:08x}\n", style="bold")
    names = ("cdw2", "cdw3", "cdw10", "cdw11", "cdw12", "cdw13", "cdw14", "cdw15")
    cdws = [(name, getattr(cmd, name)) for name in names]
    for i, (name, value) in enumerate(cdws):
        out.append(f"{name:>5} ", style="dim")
        out.append(f"{value:08x}", style="bold" if value else "")
        out.append("\n" if i % 3 == 2 or i == len(cdws) - 1 else "  ")
    out.append("data ", style="dim")
    if cmd.data_len:
        out.append(f"{cmd.data_len} bytes, {cmd.direction.short}")
    else:
        out.append("none")
    if cmd.metadata_len:
        out.append(f"  metadata {cmd.metadata_len} bytes")
    return out


class SubmissionView(Static):
    """Shows one prepared command, or why the form does not make one yet."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"submission--error", "submission--warning", "submission--note"}
    DEFAULT_CSS = """
    SubmissionView {
        height: auto;
        max-height: 12;
        padding: 0 1;
        background: $boost;
    }
    SubmissionView > .submission--error { color: $error; text-style: bold; }
    SubmissionView > .submission--warning { color: $warning; text-style: bold; }
    SubmissionView > .submission--note { color: $accent; }
    """

    def _role(self, name: str) -> Style:
        """The theme's colour for `name` (error, warning, note) as a Rich style, without its background."""
        return self.get_component_rich_style(f"submission--{name}", partial=True)

    def show_command(
        self, cmd: Command, nvme_cli: Sequence[str], warnings: list[str], notes: list[str], destructive: bool
    ) -> None:
        """`nvme_cli`: the nvme-cli lines that send it, nvme-cli's own verb first where one says it, then the
        passthrough form, each on its line."""
        text = submission_text(cmd)
        for line in nvme_cli:
            text.append("\n")
            text.append("$ ", style="dim")
            text.append(line, style="italic")
        if destructive:
            text.append("\n! destructive: changes data or state on the device", style=self._role("error"))
        for w in warnings:
            text.append(f"\n! {w}", style=self._role("warning"))
        for n in notes:
            text.append(f"\n· {n}", style=self._role("note"))
        self.update(text)

    def show_problem(self, message: str) -> None:
        self.update(Text(f"! {message}", style=self._role("error")))

    def show_hint(self, message: str) -> None:
        self.update(Text(message, style="dim"))
