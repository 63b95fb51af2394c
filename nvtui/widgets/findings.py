"""`nvtui doctor`'s findings for one device, as the Devices screen shows them: ok / warning / problem, what
was found, and the fix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

if TYPE_CHECKING:
    from nvtui.doctor import Finding

MARKS = {"ok": "✓", "warning": "!", "problem": "✗"}


class FindingsView(Widget):
    DEFAULT_CSS = """
    FindingsView {
        height: auto;
        margin: 1 0 0 0;
    }
    FindingsView > .finding--ok { color: $success; }
    FindingsView > .finding--warning { color: $warning; }
    FindingsView > .finding--problem { color: $error; text-style: bold; }
    FindingsView > .finding--fix { color: $text-muted; }
    FindingsView > .finding--title { text-style: bold; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "finding--ok",
        "finding--warning",
        "finding--problem",
        "finding--fix",
        "finding--title",
    }

    findings: reactive[tuple[Finding, ...] | None] = reactive(None, layout=True)  # None: still checking
    failure: reactive[str] = reactive("", layout=True)

    def show(self, findings: Sequence[Finding]) -> None:
        self.failure = ""
        self.findings = tuple(findings)

    def render(self) -> Text:
        out = Text("Doctor\n", style=self.get_component_rich_style("finding--title", partial=True))
        if self.failure:
            out.append(
                f"  could not check: {self.failure}",
                style=self.get_component_rich_style("finding--warning", partial=True),
            )
            return out
        if self.findings is None:
            out.append("  checking…", style=self.get_component_rich_style("finding--fix", partial=True))
            return out
        for finding in self.findings:
            level = finding.level if finding.level in MARKS else "warning"
            style = self.get_component_rich_style(f"finding--{level}", partial=True)
            out.append(f"  {MARKS[level]} {finding.level:<7} ", style=style)
            out.append(
                f"{finding.check}: ", style=self.get_component_rich_style("finding--title", partial=True)
            )
            out.append(f"{finding.message}\n")
            if finding.fix:
                out.append(
                    f"            fix: {finding.fix}\n",
                    style=self.get_component_rich_style("finding--fix", partial=True),
                )
        out.rstrip()
        return out
