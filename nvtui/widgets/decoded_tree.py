"""The decoded view: a result's fields as a tree (sections, arrays, flag bits, opaque fields collapsed), in
columns sized to the widget so the meaning column is always on screen, whatever was shown before."""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from nvtui.present import Row

NAME_MAX = 26  # the name column never takes more than this
WHERE_MAX = 9
VALUE_MIN = 8
VALUE_MAX = 22  # longer values are cut here (the detail line shows them whole)


def truncate(text: str, width: int) -> str:
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


class DecodedTree(Tree[Row]):
    """Rows from `nvtui.present.decoded_tree`; Enter or Space opens a node (an array, a flag field's bits,
    an opaque field's hex), `o` opens or closes all."""

    DEFAULT_CSS = """
    DecodedTree {
        height: 1fr;
    }
    DecodedTree > .decoded--where {
        color: $text-muted;
    }
    DecodedTree > .decoded--meaning {
        color: $text-accent;
    }
    DecodedTree > .decoded--group {
        text-style: bold;
    }
    DecodedTree > .decoded--line {
        color: $text-muted;
    }
    DecodedTree > .decoded--clear {
        color: $text-disabled;
    }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "decoded--where",
        "decoded--meaning",
        "decoded--group",
        "decoded--line",
        "decoded--clear",
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("o", "toggle_all", "Open/close all"),
    ]

    class ColumnsChanged(Message):
        """The column widths changed (new rows, a new size): a header above should be redrawn."""

        def __init__(self, tree: DecodedTree) -> None:
            super().__init__()
            self.tree = tree

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("decoded", id=id)
        self.show_root = False
        self.guide_depth = 2
        self._name_width = 8
        self._where_width = 6
        self._value_width = 12

    def show_rows(self, rows: tuple[Row, ...]) -> None:
        """Replace the tree with `rows`; the column widths are measured from these rows only."""
        self.clear()
        self._measure(rows)
        self._add(self.root, rows)
        self.cursor_line = 0
        self.scroll_home(animate=False)
        self.post_message(self.ColumnsChanged(self))

    def all_rows(self) -> list[Row]:
        """Every row in the tree, open or not, in order."""
        out: list[Row] = []
        stack = list(reversed(self.root.children))
        while stack:
            node = stack.pop()
            if node.data is not None:
                out.append(node.data)
            stack.extend(reversed(node.children))
        return out

    def _measure(self, rows: tuple[Row, ...], depth: int = 1) -> None:
        if depth == 1:
            self._name_width, self._where_width, self._value_width = 8, 6, 8
        for row in rows:
            if row.line or row.section:
                self._measure(row.children, depth + 1)
                continue
            indent = (depth - 1) * self.guide_depth + 2
            self._name_width = min(NAME_MAX, max(self._name_width, indent + len(row.name)))
            self._where_width = min(WHERE_MAX, max(self._where_width, len(row.where)))
            self._value_width = max(self._value_width, len(row.value))
            self._measure(row.children, depth + 1)

    def _add(self, parent: TreeNode[Row], rows: tuple[Row, ...]) -> None:
        for row in rows:
            if row.children:
                node = parent.add(row.name, row, expand=row.expanded)
                self._add(node, row.children)
            else:
                parent.add_leaf(row.name, row)

    def _columns(self) -> tuple[int, int, int]:
        """(name column, value width, meaning width) at the current size. Columns: name | where | value |
        meaning; the value column gives way first, so the meaning stays on screen."""
        width = max(self.scrollable_content_region.width - 1, 40)
        name_cap = max(12, width * 28 // 100)
        name_col = min(self._name_width, name_cap)  # a narrow view takes the excess from every name
        meaning_room = width - name_col - self._where_width - 2
        value_w = max(VALUE_MIN, min(self._value_width, VALUE_MAX, meaning_room * 40 // 100))
        return name_col, value_w, width - name_col - self._where_width - value_w - 3

    def header(self) -> Text:
        """The column names, aligned with the rows as they are drawn now."""
        name_col, value_w, _ = self._columns()
        where = "offset".rjust(self._where_width)
        return Text(f"{'  field'.ljust(name_col)} {where} {'value'.ljust(value_w)} meaning")

    def on_resize(self) -> None:
        self.post_message(self.ColumnsChanged(self))

    def render_label(self, node: TreeNode[Row], base_style: Style, style: Style) -> Text:
        row = node.data
        if row is None:
            return super().render_label(node, base_style, style)
        depth = 0
        parent = node.parent
        while parent is not None:
            depth += 1
            parent = parent.parent
        indent = (depth - 1) * self.guide_depth
        icon = (
            (self.ICON_NODE_EXPANDED if node.is_expanded else self.ICON_NODE) if node.allow_expand else "  "
        )
        text = Text(icon, style=base_style)
        if row.line:
            text.append(row.name, style=self.get_component_rich_style("decoded--line", partial=True))
            text.stylize(style)
            return text
        if row.section:
            text.append(row.name, style=self.get_component_rich_style("decoded--group", partial=True))
            text.append(f"  {row.value}", style=self.get_component_rich_style("decoded--where", partial=True))
            text.stylize(style)
            return text
        name_col, value_w, meaning_w = self._columns()
        name_w = max(1, name_col - indent - len(icon))
        group = bool(row.children) and not row.number
        name_style = self.get_component_rich_style("decoded--group", partial=True) if group else Style()
        text.append(truncate(row.name, name_w).ljust(name_w), style=name_style)
        text.append(" ")
        where_style = self.get_component_rich_style("decoded--where", partial=True)
        text.append(truncate(row.where, self._where_width).rjust(self._where_width), style=where_style)
        text.append(" ")
        value_style = (
            self.get_component_rich_style("decoded--clear", partial=True) if row.value == "clear" else Style()
        )
        value = row.value
        if not row.meaning:  # nothing to say about it: the value may take the meaning's room too
            value_w += 1 + meaning_w
        if len(value) > value_w and value.endswith(")") and " (0x" in value:
            value = value[: value.index(" (0x")]  # the number alone, when its hex does not fit too
        text.append(truncate(value, value_w).ljust(value_w), style=value_style)
        text.append(" ")
        meaning_style = self.get_component_rich_style("decoded--meaning", partial=True)
        text.append(truncate(row.meaning, meaning_w), style=meaning_style)
        text.stylize(style)
        return text

    def action_toggle_all(self) -> None:
        nodes = [n for n in self.root.children if n.allow_expand]
        if not nodes:
            return
        if all(n.is_expanded for n in nodes):
            self.root.collapse_all()
            self.root.expand()
        else:
            self.root.expand_all()
