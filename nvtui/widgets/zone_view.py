"""The zones of a Zone Management Receive report: a map (one cell per zone, coloured by its state, filled to
its write pointer) above a table (one row per zone)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import DataTable

from nvtui.present import ZONE_STATE_KEYS, ZoneRow, zone_state_counts

# A cell's glyph by how full the zone is, in eighths; an empty zone is a dot so it still shows.
FILL_GLYPHS = "·▁▂▃▄▅▆▇█"
MAX_CELL = 4


def fill_glyph(fill: float) -> str:
    return FILL_GLYPHS[max(0, min(8, round(fill * 8)))]


class ZoneMap(Widget):
    """One cell per zone, wrapped to the widget's width, then a legend of the states present."""

    DEFAULT_CSS = """
    ZoneMap {
        height: auto;
        max-height: 10;
        padding: 0 0 1 0;
    }
    ZoneMap > .zone--empty { color: $text-muted; }
    ZoneMap > .zone--implicitly-opened { color: $accent; }
    ZoneMap > .zone--explicitly-opened { color: $primary; }
    ZoneMap > .zone--closed { color: $warning; }
    ZoneMap > .zone--full { color: $success; }
    ZoneMap > .zone--read-only { color: $secondary; }
    ZoneMap > .zone--offline { color: $error; }
    ZoneMap > .zone--reserved { color: $error; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        f"zone--{key}" for key in (*ZONE_STATE_KEYS.values(), "reserved")
    }

    zones: reactive[tuple[ZoneRow, ...]] = reactive((), layout=True)

    def render(self) -> Text:
        if not self.zones:
            return Text("no zones in this report", style="italic")
        width = max(1, self.size.width or 80)
        # A few zones get wider cells (up to MAX_CELL characters and a gap), many get one character each.
        cell = max(1, min(MAX_CELL, width // len(self.zones) - 1))
        step = cell + 1 if cell > 1 else 1
        per_line = max(1, width // step)
        out = Text()
        for i, zone in enumerate(self.zones):
            if i and i % per_line == 0:
                out.append("\n")
            glyph = fill_glyph(zone.fill) * cell + (" " if cell > 1 else "")
            out.append(glyph, style=self.get_component_rich_style(f"zone--{zone.state_key}", partial=True))
        out.append("\n")
        for n, (name, count) in enumerate(zone_state_counts(list(self.zones))):
            key = next(z.state_key for z in self.zones if z.state_name == name)
            if n:
                out.append("  ")
            out.append("█ ", style=self.get_component_rich_style(f"zone--{key}", partial=True))
            out.append(f"{name} {count}")
        return out


class ZoneView(Vertical):
    DEFAULT_CSS = """
    ZoneView {
        height: 1fr;
    }
    ZoneView DataTable {
        height: 1fr;
    }
    """

    def compose(self) -> ComposeResult:
        yield ZoneMap(id="zone-map")
        yield DataTable(id="zone-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        # The state comes second: at 80 columns it is what must not scroll out of sight.
        self.query_one(DataTable).add_columns(
            "zone", "state", "start LBA", "write pointer", "capacity", "type"
        )

    def show_zones(self, zones: list[ZoneRow]) -> None:
        self.query_one(ZoneMap).zones = tuple(zones)
        table = self.query_one(DataTable)
        table.clear()
        for z in zones:
            written = f"{z.wp:#x}" + (f" (+{z.written})" if 0 < z.written < z.zcap else "")
            table.add_row(str(z.index), z.state_name, f"{z.zslba:#x}", written, str(z.zcap), z.type_name)
