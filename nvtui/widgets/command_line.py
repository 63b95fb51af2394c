"""The Compose screen's command line: a command in the CLI's syntax (`get-log-page lid=smart numd=128`), or
a pasted nvme-cli line. It completes the word under the cursor (Tab or Right accepts the grey suggestion):
command ids and aliases, field names, value names. What the line means is the screen's business."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from textual.binding import Binding, BindingType
from textual.suggester import Suggester
from textual.widgets import Input

if TYPE_CHECKING:
    from nvtui.catalogue import Catalogue


class LineSuggester(Suggester):
    """Completes the last word of a command line from the catalogue (`nvtui.catalogue.cmdline`)."""

    def __init__(self, catalogue: Callable[[], Catalogue | None]) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.catalogue = catalogue

    async def get_suggestion(self, value: str) -> str | None:
        from nvtui.catalogue.cmdline import complete_line

        catalogue = self.catalogue()
        if catalogue is None or value.startswith("nvme "):
            return None
        return complete_line(catalogue, value)


class CommandLine(Input):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("tab", "complete", "Complete", show=False),
    ]

    def __init__(self, catalogue: Callable[[], Catalogue | None], *, id: str | None = None) -> None:
        super().__init__(
            placeholder="command line: get-log-page lid=smart numd=128, or paste an nvme-cli line",
            suggester=LineSuggester(catalogue),
            id=id,
            compact=True,
        )  # entering it selects the line: type a new one over it, or End to edit

    def action_complete(self) -> None:
        """Tab: take the suggestion when there is one; otherwise on to the next control, as Tab does."""
        if self._suggestion and self.cursor_at_end and len(self._suggestion) > len(self.value):
            self.value = self._suggestion
            self.cursor_position = len(self.value)
        else:
            self.screen.focus_next()
