"""The command catalogue as a list grouped by command set (user catalogues included), and a filter that
searches it (`nvtui.catalogue.search`: ids, names, aliases, help, value names), best match first."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, OptionList
from textual.widgets.option_list import Option

from nvtui.catalogue.search import Match, search

if TYPE_CHECKING:
    from nvtui.catalogue import Catalogue, CommandDef


ID_WIDTH = 23  # the list is 28 wide: room for the id, a destructive mark and the scrollbar


def _label(
    defn: CommandDef, assignments: tuple[tuple[str, str], ...] = (), *, mark: Style | str = "bold"
) -> Text:
    """The row of `defn`: its id, `!` in `mark` (the theme's error colour) when it is destructive."""
    shown_id = defn.id if len(defn.id) <= ID_WIDTH else defn.id[: ID_WIDTH - 1] + "…"
    label = Text(f" {shown_id}")
    if defn.destructive:
        label.append(" !", style=mark)
    if defn.refused:
        label.stylize("strike dim")
    for name, value in assignments:  # the value the search found it by, on a line of its own
        line = f"{name}={value}"
        shown = line if len(line) <= ID_WIDTH else line[: ID_WIDTH - 1] + "…"
        label.append(f"\n   {shown}", style="italic")
    return label


class CatalogueList(Vertical):
    """Type to filter; Enter (or a click) picks a command and posts `CatalogueList.Picked`."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"catalogue-list--destructive"}
    DEFAULT_CSS = """
    CatalogueList {
        width: 28;
        height: 1fr;
    }
    CatalogueList > .catalogue-list--destructive { color: $error; text-style: bold; }
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
        """A command picked, with the field values the search found it by (`lid=smart`)."""

        def __init__(self, command_id: str, assignments: dict[str, str] | None = None) -> None:
            super().__init__()
            self.command_id = command_id
            self.assignments = dict(assignments or {})

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.catalogue: Catalogue | None = None
        self._found: dict[str, Match] = {}  # option id -> what it stands for
        self._filled_for: str | None = None  # the filter text the list shows

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter commands", id="catalogue-filter", compact=True)
        yield OptionList(id="catalogue-options")

    def set_catalogue(self, catalogue: Catalogue | None) -> None:
        self.catalogue = catalogue
        self._fill()

    def _fill(self) -> None:
        """The list for the filter: grouped by command set when empty; otherwise the search's matches, best
        first, with the first highlighted (so Enter picks what the filter found, never an old row)."""
        options = self.query_one("#catalogue-options", OptionList)
        highlighted = options.highlighted_option.id if options.highlighted_option else None
        query = self.query_one("#catalogue-filter", Input).value
        same_filter = query == self._filled_for
        options.clear_options()
        self._found = {}
        if self.catalogue is None:
            options.add_option(Option("loading the catalogue…", disabled=True))
            return
        self._filled_for = query
        shown: list[Option] = []
        mark = self.get_component_rich_style("catalogue-list--destructive", partial=True)
        if not query.split():
            for set_name, entries in self.catalogue.by_set().items():
                shown.append(Option(Text(f"{set_name}", style="bold underline"), disabled=True))
                for e in entries:
                    self._found[e.id] = Match(e)
                    shown.append(Option(_label(e, mark=mark), id=e.id))
        else:
            for match in search(self.catalogue, query):
                self._found[match.key] = match
                shown.append(Option(_label(match.defn, match.assignments, mark=mark), id=match.key))
        if not shown:
            shown.append(Option("no command matches", disabled=True))
        options.add_options(shown)
        ids = [o.id for o in shown]
        if same_filter and highlighted in ids:
            options.highlighted = ids.index(highlighted)
        else:
            options.highlighted = next((i for i, o in enumerate(shown) if o.id), None)

    def _pick(self, option_id: str) -> None:
        match = self._found.get(option_id)
        if match is not None:
            self.post_message(self.Picked(match.defn.id, dict(match.assignments)))

    def select(self, command_id: str) -> None:
        """Highlight `command_id` (a row the search found it by, if the filter shows one; otherwise the
        filter is cleared to show it)."""
        options = self.query_one("#catalogue-options", OptionList)
        current = options.highlighted_option
        found = self._found.get(current.id or "") if current is not None else None
        if found is not None and found.defn.id == command_id:
            return  # already on a row of that command (`get-features fid=temperature-threshold`)
        for _attempt in range(2):
            for match in self._found.values():
                if match.defn.id == command_id:
                    options.highlighted = options.get_option_index(match.key)
                    return
            self.query_one("#catalogue-filter", Input).value = ""
            self._fill()

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
        if event.value != self._filled_for:
            self._fill()  # Enter before the list caught up with the typing: pick from what was typed
        options = self.query_one("#catalogue-options", OptionList)
        option = options.highlighted_option
        if option is not None and option.id:
            self._pick(option.id)
        else:
            options.focus()

    @on(OptionList.OptionSelected, "#catalogue-options")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self._pick(event.option.id)
