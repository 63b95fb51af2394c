"""How long nvtui waits for a command's completion, in seconds (a catalogue entry's `timeout`, `--timeout`,
the TUI's setting). The default is the Linux driver's own admin timeout (nvme_core.admin_timeout); at most a
day, which the kernel's 32-bit `timeout_ms` (struct nvme_uring_cmd, nvme_passthru_cmd64) also holds."""

from __future__ import annotations

DEFAULT_TIMEOUT_S = 60
MIN_TIMEOUT_S, MAX_TIMEOUT_S = 1, 86400
