"""The command catalogue as a filterable list grouped by command set (user catalogues included)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, OptionList
from textual.widgets.option_list import Option

if TYPE_CHECKING:
    from nvtui.catalogue import Catalogue, CommandDef


ID_WIDTH = 23  # the list is 28 wide: room for the id, a destructive mark and the scrollbar


def matches(defn: CommandDef, words: list[str]) -> bool:
    """Every word appears in the id, name, set, aliases or opcode (`0x06`)."""
    hay = " ".join((defn.id, defn.name, defn.set, *defn.aliases, f"{defn.opcode:#04x}")).lower()
    return all(w in hay for w in words)


class CatalogueList(Vertical):
    """Type to filter; Enter (or a click) picks a command and posts `CatalogueList.Picked`."""

    DEFAULT_CSS = """
    CatalogueList {
        width: 28;
        height: 1fr;
    }
    CatalogueList > Input {
        margin: 0 0 1 0;
    }
    CatalogueList > OptionList {
        height: 1fr;
        border: none;
        padding: 0;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter", show=False),
        Binding("down", "move(1)", "Next", show=False),
        Binding("up", "move(-1)", "Previous", show=False),
    ]

    class Picked(Message):
        def __init__(self, command_id: str) -> None:
            super().__init__()
            self.command_id = command_id

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.catalogue: Catalogue | None = None

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter commands", id="catalogue-filter", compact=True)
        yield OptionList(id="catalogue-options")

    def set_catalogue(self, catalogue: Catalogue | None) -> None:
        self.catalogue = catalogue
        self._fill()

    def _fill(self) -> None:
        options = self.query_one("#catalogue-options", OptionList)
        highlighted = options.highlighted_option.id if options.highlighted_option else None
        options.clear_options()
        if self.catalogue is None:
            options.add_option(Option("loading the catalogue…", disabled=True))
            return
        words = self.query_one("#catalogue-filter", Input).value.lower().split()
        shown: list[Option] = []
        for set_name, entries in self.catalogue.by_set().items():
            picked = [e for e in entries if matches(e, words)]
            if not picked:
                continue
            shown.append(Option(Text(f"{set_name}", style="bold underline"), disabled=True))
            for e in picked:
                shown_id = e.id if len(e.id) <= ID_WIDTH else e.id[: ID_WIDTH - 1] + "…"
                label = Text(f" {shown_id}")
                if e.destructive:
                    label.append(" !", style="bold red")
                if e.refused:
                    label.stylize("strike dim")
                shown.append(Option(label, id=e.id))
        if not shown:
            shown.append(Option("no command matches", disabled=True))
        options.add_options(shown)
        ids = [o.id for o in shown]
        if highlighted in ids:
            options.highlighted = ids.index(highlighted)
        else:
            first = next((i for i, o in enumerate(shown) if o.id), None)
            options.highlighted = first

    def select(self, command_id: str) -> None:
        """Highlight `command_id` (clearing the filter if it hides it)."""
        options = self.query_one("#catalogue-options", OptionList)
        try:
            index = options.get_option_index(command_id)
        except Exception:
            self.query_one("#catalogue-filter", Input).value = ""
            self._fill()
            try:
                index = options.get_option_index(command_id)
            except Exception:
                return
        options.highlighted = index

    def action_move(self, step: int) -> None:
        """Up/down in the filter box move through the list, so typing and picking need no Tab."""
        options = self.query_one("#catalogue-options", OptionList)
        if step > 0:
            options.action_cursor_down()
        else:
            options.action_cursor_up()

    def action_filter(self) -> None:
        self.query_one("#catalogue-filter", Input).focus()

    @on(Input.Changed, "#catalogue-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._fill()

    @on(Input.Submitted, "#catalogue-filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        event.stop()
        options = self.query_one("#catalogue-options", OptionList)
        option = options.highlighted_option
        if option is not None and option.id:
            self.post_message(self.Picked(option.id))
        else:
            options.focus()

    @on(OptionList.OptionSelected, "#catalogue-options")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.post_message(self.Picked(event.option.id))
