"""Backends: `uring` (io_uring uring_cmd, the default on real devices), `ioctl`, and `sim`.

`open_backend` is the one place that picks an implementation; callers never test which they hold.
"""

from __future__ import annotations

from nvtui.backend.base import BACKEND_KINDS, Answers, Backend, BackendBase, ControllerInfo, NamespaceInfo
from nvtui.errors import UsageError

__all__ = [
    "BACKEND_KINDS",
    "Backend",
    "BackendBase",
    "ControllerInfo",
    "NamespaceInfo",
    "is_simulated",
    "open_backend",
]


def is_simulated(device: str) -> bool:
    return device.removeprefix("/dev/").startswith("sim")


async def open_backend(
    device: str, kind: str | None = None, *, answers: Answers | None = None, **options: object
) -> Backend:
    """Open `device` with backend `kind` (None: sim for simulated devices, else uring with ioctl fallback).
    `answers`: for a simulated device, the catalogue's answers to the commands it simulates (`simulate:`
    entries); a real device answers for itself.

    Must run on the event loop that will submit: the uring backend creates its ring on this thread.
    """
    if kind is not None and kind not in BACKEND_KINDS:
        raise UsageError(f"unknown backend {kind!r}; choose one of {', '.join(BACKEND_KINDS)}")
    if is_simulated(device):
        if kind not in (None, "sim"):
            raise UsageError(f"{device} is a simulated device: it opens only with --backend sim")
        from nvtui.backend.sim import open_sim

        return open_sim(device, answers=answers)
    if kind == "sim":
        raise UsageError(f"--backend sim opens only simulated devices (sim0, sim0n1 to sim0n8), not {device}")
    if kind == "ioctl":
        from nvtui.backend.ioctl import open_ioctl

        return open_ioctl(device)
    from nvtui.backend.uring import ControllerInaccessible, UringUnsupported, open_uring

    try:
        return open_uring(device, **options)  # type: ignore[arg-type]
    except UringUnsupported as refused:
        if kind == "uring":
            raise
        notice = f"the kernel refused io_uring uring_cmd ({refused}); using the ioctl backend"
    except ControllerInaccessible as denied:
        if kind == "uring":
            raise
        notice = (
            f"{denied}; admin commands over uring_cmd need the controller's char device, "
            "so the ioctl backend is used"
        )
    from nvtui.backend.ioctl import open_ioctl  # the fallback: not imported unless needed

    fallback = open_ioctl(device)
    fallback.notice = notice
    return fallback
