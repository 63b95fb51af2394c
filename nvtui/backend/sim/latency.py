"""How long the simulated controller takes: a seeded model, cheap to draw from.

latency = (base for the command's class + bytes / bandwidth) x lognormal(0, sigma), and with probability
`tail_p` that is multiplied by a tail factor drawn uniformly from [tail_min, tail_max] (garbage collection,
a read stuck behind an erase). Configured by a string, from `$NVTUI_SIM_LATENCY` or the constructor:

    "none"                       no delay at all (unit tests, fastest load runs)
    "realistic"                  the default: a TLC data-centre drive with a volatile write cache
    "realistic,seed=7,scale=2"   the same with another seed, every delay doubled
    "fixed,us=100"               every command exactly 100 microseconds

Keys: seed, scale, sigma, tail_p, us (fixed mode only). Unknown keys or modes raise UsageError.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from nvtui.errors import UsageError

MODES = ("none", "realistic", "fixed")

# Base latency per command class in nanoseconds, and the transfer bandwidth in bytes per nanosecond.
BASE_NS: dict[str, int] = {
    "admin": 25_000, "read": 70_000, "write": 15_000, "flush": 400_000, "trim": 40_000,
    "zone": 150_000, "format": 20_000_000, "other": 10_000,
}  # fmt: skip
BANDWIDTH: dict[str, float] = {"read": 3.2, "write": 2.0}  # ~3.2 GB/s and 2 GB/s


@dataclass
class LatencyModel:
    mode: str = "realistic"
    seed: int = 0
    scale: float = 1.0
    sigma: float = 0.25
    tail_p: float = 0.002
    tail_min: float = 8.0
    tail_max: float = 40.0
    fixed_ns: int = 100_000

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    @classmethod
    def parse(cls, spec: str | None) -> LatencyModel:
        text = (spec or "realistic").strip() or "realistic"
        mode, *options = (part.strip() for part in text.split(","))
        if mode not in MODES:
            raise UsageError(f"unknown simulator latency mode {mode!r} (choose from {', '.join(MODES)})")
        model = cls(mode=mode)
        for option in options:
            key, sep, value = option.partition("=")
            try:
                if not sep:
                    raise ValueError
                if key == "seed":
                    model.seed = int(value, 0)
                elif key == "scale":
                    model.scale = float(value)
                elif key == "sigma":
                    model.sigma = float(value)
                elif key == "tail_p":
                    model.tail_p = float(value)
                elif key == "us" and mode == "fixed":
                    model.fixed_ns = int(float(value) * 1000)
                else:
                    raise UsageError(f"unknown simulator latency option {key!r} in {text!r}")
            except ValueError:
                raise UsageError(f"bad simulator latency option {option!r} in {text!r}") from None
        model.__post_init__()
        return model

    @property
    def enabled(self) -> bool:
        return self.mode != "none"

    def draw_ns(self, kind: str, nbytes: int = 0) -> int:
        """The modelled service time of one command of class `kind` moving `nbytes` bytes."""
        if self.mode == "none":
            return 0
        if self.mode == "fixed":
            return int(self.fixed_ns * self.scale)
        base = BASE_NS.get(kind, BASE_NS["other"]) + nbytes / BANDWIDTH.get(kind, 2.5)
        value = base * math.exp(self._rng.gauss(0.0, self.sigma))
        if self._rng.random() < self.tail_p:
            value *= self._rng.uniform(self.tail_min, self.tail_max)
        return int(value * self.scale)
