"""Sanitize on the simulated controller (NVMe Base 2.0, 5.24 Sanitize, 8.21 Sanitize Operations).

Block erase and crypto erase are supported (SANICAP), overwrite is not; No-Deallocate is inhibited (NDI),
so every sanitized block reads back as zeros, as a deallocated block does (DLFEAT). The blocks are erased
when the command is accepted (nothing of the old data can be read even by a crashed process); the
operation then runs for `duration` seconds, with SPROG rising in the Sanitize Status log, during which the
controller refuses what the spec says it refuses (Sanitize In Progress). It continues across a power cycle,
as a drive's does. The duration is `NVTUI_SIM_SANITIZE_SECONDS` (default 10), taken when it starts."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from nvtui.backend.sim.state import Damaged, as_dict, as_int, as_number, need

SANACT_EXIT_FAILURE, SANACT_BLOCK_ERASE, SANACT_OVERWRITE, SANACT_CRYPTO_ERASE = 1, 2, 3, 4
SANICAP = 1 << 0 | 1 << 1 | 1 << 29  # crypto erase, block erase; No-Deallocate Inhibited
DEFAULT_SECONDS = 10.0
LONGEST_SECONDS = 24 * 3600.0

# Sanitize Operation Status (SOS) values of the Sanitize Status log
SOS_NEVER, SOS_COMPLETED, SOS_IN_PROGRESS = 0, 1, 2
# Sanitize State (SANS, NVMe Base 2.1): idle, restricted processing, unrestricted processing
SANS_IDLE, SANS_RESTRICTED, SANS_UNRESTRICTED = 0, 1, 3

# What a controller still runs while a sanitize is in progress (NVMe Base 2.0, 8.21): every other command
# (I/O commands included) is aborted with Sanitize In Progress. A Sanitize is refused by its handler.
ALLOWED_ADMIN = frozenset({
    0x02,  # Get Log Page
    0x06,  # Identify
    0x08,  # Abort
    0x09,  # Set Features
    0x0A,  # Get Features
    0x0C,  # Asynchronous Event Request
    0x18,  # Keep Alive
    0x84,  # Sanitize
})  # fmt: skip


def configured_seconds() -> float:
    """How long a sanitize takes: `NVTUI_SIM_SANITIZE_SECONDS`, a number from 0 to a day; else the default."""
    raw = os.environ.get("NVTUI_SIM_SANITIZE_SECONDS", "")
    try:
        value = float(raw) if raw else DEFAULT_SECONDS
    except ValueError:
        return DEFAULT_SECONDS
    return value if math.isfinite(value) and 0 <= value <= LONGEST_SECONDS else DEFAULT_SECONDS


@dataclass
class Sanitize:
    status: int = SOS_NEVER  # SOS of the most recent sanitize
    scdw10: int = 0  # the CDW10 of the Sanitize command that started it
    writes_at: int = 0  # the controller's write commands when it completed (GDE: none written since)
    started: float | None = None  # when the one in progress started
    duration: float = 0.0

    @property
    def running(self) -> bool:
        return self.started is not None

    def start(self, cdw10: int, now: float, duration: float) -> None:
        self.status, self.scdw10, self.started, self.duration = SOS_IN_PROGRESS, cdw10, now, duration

    def poll(self, now: float, writes: int) -> bool:
        """Finish the one in progress when its time is up (`writes`: the write commands so far); whether it
        finished now."""
        if self.started is None or now - self.started < self.duration:
            return False
        self.status, self.started, self.writes_at = SOS_COMPLETED, None, writes
        return True

    def global_data_erased(self, writes: int) -> bool:
        """GDE: no user data written since the last sanitize completed (or ever, on a new drive)."""
        return self.status != SOS_IN_PROGRESS and writes == self.writes_at

    def progress(self, now: float) -> int:
        """SPROG: the fraction done, in 65,536ths; FFFFh when none is in progress."""
        if self.started is None:
            return 0xFFFF
        done = (now - self.started) / self.duration if self.duration > 0 else 1.0
        return min(0xFFFE, max(0, int(done * 65536)))

    @property
    def state(self) -> int:
        if self.started is None:
            return SANS_IDLE
        return SANS_UNRESTRICTED if self.scdw10 >> 3 & 1 else SANS_RESTRICTED  # AUSE

    def to_json(self) -> dict[str, object]:
        return {
            "status": self.status,
            "scdw10": self.scdw10,
            "writes_at": self.writes_at,
            "started": self.started,
            "duration": self.duration,
        }

    @classmethod
    def restore(cls, value: object, where: str) -> Sanitize:
        state = as_dict(value, where)
        status = as_int(need(state, "status", f"{where}."), f"{where}.status", 0, SOS_IN_PROGRESS)
        scdw10 = as_int(need(state, "scdw10", f"{where}."), f"{where}.scdw10", 0, 0xFFFF_FFFF)
        writes_at = as_int(need(state, "writes_at", f"{where}."), f"{where}.writes_at", 0, (1 << 128) - 1)
        raw = need(state, "started", f"{where}.")
        started = None if raw is None else as_number(raw, f"{where}.started")
        duration = as_number(need(state, "duration", f"{where}."), f"{where}.duration")
        if not 0 <= duration <= LONGEST_SECONDS:
            raise Damaged(f"{where}.duration = {duration} is outside 0..{LONGEST_SECONDS:.0f} seconds")
        if (started is None) != (status != SOS_IN_PROGRESS):
            raise Damaged(f"{where}: status {status} does not agree with started ({raw!r:.20})")
        return cls(status, scdw10, writes_at, started, duration)
