"""What the Textual pilot tests share."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Tree

if TYPE_CHECKING:
    from nvtui.app import NvtuiApp
    from nvtui.screens.load import LoadScreen
    from nvtui.session import SendResult


async def until(pilot: Pilot[Any], condition: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    """Let the app run until `condition()` holds; fail naming `what` after `timeout` seconds. Polls every
    10 ms, so a state that lasts a moment (a build in flight) is seen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.01)


def isolate_tui(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A TUI test's own world: a fresh simulator with a fixed small latency, its own config and data
    folders (no user catalogues or settings), and the working directory in `tmp_path`."""
    monkeypatch.setenv("NVTUI_SIM_DIR", str(tmp_path / "sim"))
    monkeypatch.setenv("NVTUI_SIM_LATENCY", "fixed,us=20")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


async def load_screen(pilot: Pilot[Any], *, count: str, qd: str, seconds: str | None = None) -> LoadScreen:
    """F5, then the Load screen's count (empty: run for `seconds`) and queue depth filled in."""
    from nvtui.screens.load import LoadScreen

    app = pilot.app
    await pilot.press("f5")
    await until(pilot, lambda: isinstance(app.screen, LoadScreen), "the Load screen")
    screen = app.screen
    assert isinstance(screen, LoadScreen)
    screen.query_one("#load-count", Input).value = count
    if seconds is not None:
        screen.query_one("#load-seconds", Input).value = seconds
    screen.query_one("#load-qd", Input).value = qd
    return screen


async def cursor_on_device_in_use(pilot: Pilot[Any], tree: Tree[Any]) -> None:
    """Until the Devices screen's tree has its cursor on the device the app uses (it moves there at start)."""
    app = pilot.app

    def on_current() -> bool:
        node = tree.cursor_node
        return node is not None and node.data is not None and node.data.device == app.device  # type: ignore[attr-defined]

    await until(pilot, on_current, "the tree's cursor on the device in use")


@dataclass
class WritableTui:
    """The app, started on one device and made writable, its pilot, and its session's history."""

    app: NvtuiApp
    pilot: Pilot[Any]
    history: list[SendResult]

    async def send_confirmed(self, what: str) -> None:
        """Ctrl+S on the command composed, confirmed; until it is in the history, and successful."""
        from nvtui.screens.modals import ConfirmDestructive

        app, pilot, count = self.app, self.pilot, len(self.history)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDestructive), f"{what}'s confirmation")
        await pilot.press("y")
        await until(pilot, lambda: len(self.history) == count + 1, f"{what} sent")
        assert self.history[-1].completion.ok, (what, self.history[-1].completion.status.name)


@asynccontextmanager
async def writable_tui(device: str) -> AsyncIterator[WritableTui]:
    """The TUI on `device` (simulated devices only), started, with Ctrl+W pressed: destructive commands
    are confirmed, not refused."""
    from nvtui.app import NvtuiApp
    from tests.test_app import ready

    app = NvtuiApp(device=device, include_real_devices=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+w")
        assert app.session is not None
        yield WritableTui(app, pilot, app.session.history)


SNAPSHOT_SERIAL = "NVTSIMSNAPSHOT"


@contextmanager
def fixed_simulator(sim_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """For snapshots: a fresh simulator in `sim_dir`, a folder whose path never varies (the Devices screen
    shows it), with a fixed serial (the simulator draws one on first power-on); the rest as `isolate_tui`.
    Held under a lock beside the folder, so runs in other checkouts at the same time take turns."""
    from nvtui.backend.sim import open_sim

    lock = os.open(str(sim_dir) + ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        shutil.rmtree(sim_dir, ignore_errors=True)
        isolate_tui(tmp_path, monkeypatch)
        monkeypatch.setenv("NVTUI_SIM_DIR", str(sim_dir))

        async def create() -> None:
            backend = open_sim("sim0")
            await backend.close()

        asyncio.run(create())
        state_file = sim_dir / "sim0.json"
        state = json.loads(state_file.read_text())
        state["serial"] = SNAPSHOT_SERIAL
        state_file.write_text(json.dumps(state))
        try:
            yield
        finally:
            shutil.rmtree(sim_dir, ignore_errors=True)
    finally:
        os.close(lock)
