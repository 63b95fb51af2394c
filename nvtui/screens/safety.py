"""The one place the TUI decides whether a destructive command may go: read-only refuses it, otherwise
the user confirms in a dialog naming the device. The session layer says what is destructive."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nvtui.screens.host import host

if TYPE_CHECKING:
    from collections.abc import Sequence

    from textual.app import App

    from nvtui.session import Prepared

READ_ONLY_HINT = "Ctrl+W allows writes (each destructive command still asks)."


async def may_send(app: App[Any], prepared: Prepared, what: str = "it") -> bool:
    """True when `prepared` may be sent: not destructive, or writes allowed and the user said yes.
    Must run in a worker (it waits for the dialog)."""
    if not prepared.destructive:
        return True
    if not host(app).writable:
        app.notify(
            f"{prepared.defn.id} is destructive and nvtui is read-only: {what} was not sent. "
            + READ_ONLY_HINT,
            title="Refused",
            severity="error",
            timeout=8,
        )
        return False
    from nvtui.screens.modals import ConfirmDestructive

    if await app.push_screen_wait(ConfirmDestructive(prepared.device, prepared)):
        return True
    app.notify(f"{prepared.defn.id}: {what} was not sent.", title="Cancelled")
    return False


async def may_replay(app: App[Any], device: str, risky: Sequence[tuple[int, str]], name: str) -> bool:
    """True when a script may be replayed: no destructive steps, or writes allowed and the user said yes
    once for all of them."""
    if not risky:
        return True
    if not host(app).writable:
        listed = ", ".join(f"{i + 1} ({cmd})" for i, cmd in risky)
        app.notify(
            f"{name} has destructive steps ({listed}) and nvtui is read-only: nothing was sent. "
            + READ_ONLY_HINT,
            title="Refused",
            severity="error",
            timeout=8,
        )
        return False
    from nvtui.screens.modals import ConfirmScript

    if await app.push_screen_wait(ConfirmScript(device, risky, name)):
        return True
    app.notify(f"{name} was not replayed.", title="Cancelled")
    return False
