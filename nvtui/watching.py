"""Watch: re-send one command every few seconds and follow one numeric field of what it returns (a
temperature, data units written, a zone's write pointer, a vendor counter). The samples are kept here, a
bounded window of them, for the TUI's chart; the re-sending goes through a session of its own, so the
user's history is not flooded."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from nvtui.present import record_number

if TYPE_CHECKING:
    from nvtui.session import Prepared, SendResult

MAX_SAMPLES = 600  # 20 minutes at one a second: older ones slide out
INTERVALS_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)  # what + and - step through
DEFAULT_INTERVAL_S = 2.0


# The field a watch follows when none is highlighted, by decoded structure: what people watch it for.
DEFAULT_FIELDS = {"smart-log": "temperature", "zone-report": "zones[0].wp"}


def unwatchable(prepared: Prepared) -> str | None:
    """Why the command may not be re-sent on its own, or None: watching never repeats a destructive
    command, nor one that sends data."""
    if prepared.destructive or prepared.defn.destructive:
        return f"{prepared.defn.id} is destructive: a watch never re-sends it"
    if prepared.command.direction.value & 1 and prepared.command.data_len:
        return f"{prepared.defn.id} sends data: a watch only re-sends commands that read"
    return None


def resendable(prepared: Prepared) -> Prepared:
    """The command as a watch sends it: its data is not written to the user's --data-out files."""
    return replace(prepared, data_out=None, metadata_out=None)


def step_interval(interval_s: float, step: int) -> float:
    """The next interval up (`step` 1) or down (-1) the ladder."""
    ladder = list(INTERVALS_S)
    here = min(range(len(ladder)), key=lambda i: abs(ladder[i] - interval_s))
    return ladder[max(0, min(len(ladder) - 1, here + step))]


@dataclass
class WatchSeries:
    """The samples of one field: (seconds since the watch started, value), the latest last."""

    command: str
    path: str  # the field's path in the decoded record (`temperature`, `zones[3].wp`)
    samples: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=MAX_SAMPLES))
    failures: int = 0
    last_error: str = ""

    def add(self, t: float, result: SendResult) -> int | None:
        """Take the field's value from `result`; None (and counted as a failure) when it has none."""
        value = record_number(result.decoded, self.path) if result.decoded is not None else None
        if value is None:
            self.failures += 1
            self.last_error = (
                result.completion.status.name if not result.ok else f"no {self.path} in the data"
            )
            return None
        self.samples.append((round(t, 2), value))
        return value

    def chart_data(self) -> tuple[tuple[float, ...], ...]:
        if not self.samples:
            return ()
        ts, values = zip(*self.samples, strict=True)
        return (tuple(ts), tuple(float(v) for v in values))

    def summary(self) -> str:
        if not self.samples:
            return f"{self.path}: no sample yet"
        values = [v for _, v in self.samples]
        return f"{self.path} = {values[-1]}  (min {min(values)}, max {max(values)}, {len(values)} samples)"
