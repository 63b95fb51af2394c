"""Which device the TUI sends commands to when the user has not chosen one, and how a rescan's list keeps
the controllers that vanished since the last one: plain functions of the discovered controllers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nvtui.backend.base import ControllerInfo

GONE = "gone"
"""`ControllerInfo.state` of a controller the kernel no longer lists (see `mark_gone`)."""

DEFAULT_SIM_DEVICE = "sim0n1"
"""The device when discovery found nothing at all (the simulator's first namespace)."""


def mark_gone(
    previous: Sequence[ControllerInfo], found: Sequence[ControllerInfo]
) -> tuple[ControllerInfo, ...]:
    """`found`, plus each real controller of `previous` that the kernel no longer lists (hot-unplugged,
    unbound), kept in the list with state "gone" and nothing accessible, so a vanished device is shown
    as gone instead of silently disappearing. It stays so until a rescan finds it again.
    Real controllers come first, then the gone ones, then the simulated ones."""
    names = {c.name for c in found}
    gone = []
    for c in previous:
        if c.simulated or c.name in names:
            continue
        why = f"{c.name} is gone: the kernel no longer lists it (removed or unbound); r rescans"
        namespaces = tuple(replace(ns, accessible=False, access_error=why) for ns in c.namespaces)
        gone.append(replace(c, state=GONE, accessible=False, access_error=why, namespaces=namespaces))
    real = [c for c in found if not c.simulated]
    return (*real, *gone, *(c for c in found if c.simulated))


def default_device(controllers: Sequence[ControllerInfo]) -> str:
    """The first real namespace this user can open, else the first usable controller, else the simulator."""
    real = [c for c in controllers if not c.simulated]
    for controller in real:
        for ns in controller.namespaces:
            if ns.accessible:
                return ns.name
    for controller in real:
        if controller.accessible:
            return controller.name
    for controller in controllers:
        if controller.simulated and controller.namespaces:
            return controller.namespaces[0].name
    return DEFAULT_SIM_DEVICE


def chosen_device(current: str, controllers: Sequence[ControllerInfo]) -> str:
    """The device after a discovery (at start or after a rescan): the one in use stays, even when it is
    gone (the user sees it marked and picks another); with none yet, `default_device`."""
    return current or default_device(controllers)
