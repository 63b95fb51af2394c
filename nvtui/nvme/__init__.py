"""Pure NVMe knowledge, no I/O: commands, completions, status names, decoders."""

from nvtui.nvme.command import Command, DataDirection
from nvtui.nvme.completion import Completion, Status

__all__ = ["Command", "Completion", "DataDirection", "Status"]
