"""The io_uring backend: NVMe passthrough through `IORING_OP_URING_CMD` (cffi, C helpers in ring_core.c).

Importing this package never loads the compiled extension; opening a device does, and raises
`UringUnsupported` when it is missing or the kernel refuses uring_cmd. The load engine (`run_load`, its
`EngineJob` and `LoadResult`) loads on first use: a single command does not need it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nvtui.backend.uring.backend import UringBackend, open_uring, uring_cmd_supported
from nvtui.backend.uring.ring import AsyncRing, ControllerInaccessible, RawCompletion, Ring, UringUnsupported

if TYPE_CHECKING:
    from nvtui.backend.uring.engine import EngineJob, LoadResult, run_load


def __getattr__(name: str) -> Any:
    if name in ("EngineJob", "LoadResult", "run_load"):
        from nvtui.backend.uring import engine

        return getattr(engine, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "AsyncRing",
    "ControllerInaccessible",
    "EngineJob",
    "LoadResult",
    "RawCompletion",
    "Ring",
    "UringBackend",
    "UringUnsupported",
    "open_uring",
    "run_load",
    "uring_cmd_supported",
]
