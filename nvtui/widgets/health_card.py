"""The SMART / Health card: temperature, spare and wear, data moved, power-on time and critical warnings, the
way a person reads them (°C, %, bytes, hours, warnings by name)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from nvtui.present import HealthCard, human_bytes

BAR_WIDTH = 20


def bytes_text(n: int) -> str:
    return human_bytes(n) + (f" ({n:,} bytes)" if n >= 1024 else "")


class HealthCardView(Widget):
    DEFAULT_CSS = """
    HealthCardView {
        height: auto;
        padding: 1 0;
    }
    HealthCardView > .health--label { color: $text-muted; }
    HealthCardView > .health--good { color: $success; }
    HealthCardView > .health--warn { color: $warning; }
    HealthCardView > .health--bad { color: $error; text-style: bold; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {"health--label", "health--good", "health--warn", "health--bad"}

    card: reactive[HealthCard | None] = reactive(None, layout=True)

    def _bar(self, percent: int, level: str) -> Text:
        filled = max(0, min(BAR_WIDTH, round(percent * BAR_WIDTH / 100)))
        bar = Text("█" * filled, style=self.get_component_rich_style(f"health--{level}", partial=True))
        bar.append(
            "░" * (BAR_WIDTH - filled), style=self.get_component_rich_style("health--label", partial=True)
        )
        return bar

    def render(self) -> Text:
        card = self.card
        if card is None:
            return Text("")
        label = self.get_component_rich_style("health--label", partial=True)
        out = Text()

        def line(name: str, value: str | Text, level: str | None = None) -> None:
            out.append(f"{name:>17}  ", style=label)
            if isinstance(value, Text):
                out.append_text(value)
            else:
                out.append(
                    value,
                    style=self.get_component_rich_style(f"health--{level}", partial=True) if level else "",
                )
            out.append("\n")

        hot = card.temperature_c >= 70
        line("temperature", f"{card.temperature_c} °C", "warn" if hot else "good")
        spare_level = "bad" if card.spare_low else "good"
        spare = self._bar(card.avail_spare, spare_level)
        spare.append(f" {card.avail_spare}%")
        line("available spare", spare)
        line("spare threshold", f"{card.spare_thresh}%")
        used_level = "bad" if card.percent_used >= 100 else "warn" if card.percent_used >= 80 else "good"
        used = self._bar(min(card.percent_used, 100), used_level)
        used.append(f" {card.percent_used}%")
        line("endurance used", used)
        line("data read", bytes_text(card.bytes_read))
        line("data written", bytes_text(card.bytes_written))
        line("power-on hours", f"{card.power_on_hours:,}")
        line("power cycles", f"{card.power_cycles:,}")
        line("unsafe shutdowns", f"{card.unsafe_shutdowns:,}")
        line("media errors", f"{card.media_errors:,}", "bad" if card.media_errors else None)
        warnings = Text()
        if card.warnings:
            warnings.append(
                ", ".join(card.warnings), style=self.get_component_rich_style("health--bad", partial=True)
            )
        else:
            warnings.append("none", style=self.get_component_rich_style("health--good", partial=True))
        line("critical warnings", warnings)
        return out
