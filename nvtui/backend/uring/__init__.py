"""The io_uring backend: NVMe passthrough through `IORING_OP_URING_CMD` (cffi, C helpers in ring_core.c).

Importing this package never loads the compiled extension; opening a device does, and raises
`UringUnsupported` when it is missing or the kernel refuses uring_cmd.
"""

from __future__ import annotations

from nvtui.backend.uring.backend import LbaFormat, UringBackend, open_uring, uring_cmd_supported
from nvtui.backend.uring.engine import LoadResult, run_load
from nvtui.backend.uring.ring import AsyncRing, ControllerInaccessible, RawCompletion, Ring, UringUnsupported

__all__ = [
    "AsyncRing",
    "ControllerInaccessible",
    "LbaFormat",
    "LoadResult",
    "RawCompletion",
    "Ring",
    "UringBackend",
    "UringUnsupported",
    "open_uring",
    "run_load",
    "uring_cmd_supported",
]
