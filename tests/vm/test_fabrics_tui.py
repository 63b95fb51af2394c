"""Issue 15's faults as a TUI user meets them, against the Linux NVMe target in the test VM
(tests/vm/fabrics.py): a QD32 random-read load on the multipath namespace from the Load screen; both paths
removed, the run ends with the cause said, the Devices screen marks the namespace as having no path, and
the app stays usable (a load on another namespace runs); the paths restored, a rescan shows the namespace
with both paths again and a load on it runs, all in the same app, never restarted.

The app runs headless (Textual's test pilot) in this process, on the guest's real devices. Every wait is for
the event itself, bounded, with a message naming it: a TCG guest on a loaded host is slow.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Static, Tree

from tests.vm.fabrics import NSID_NULL_BLK, Fabrics, fabrics_target

pytestmark = [pytest.mark.vm, pytest.mark.fabrics]

WAIT_S = 120  # a bound on every wait for the kernel, the target or the app


@pytest.fixture(scope="module")
def fab() -> Iterator[Fabrics]:
    with fabrics_target(passthru=False) as fabrics:
        yield fabrics


async def until(pilot: Pilot[object], cond: Callable[[], object], what: str, timeout: float = WAIT_S) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        assert loop.time() < deadline, f"timed out ({timeout:.0f} s) waiting for {what}"
        await pilot.pause(0.05)


async def test_the_tui_marks_the_namespace_without_a_path_stays_usable_and_sees_it_back(fab: Fabrics) -> None:
    from nvtui.app import NvtuiApp
    from nvtui.backend.base import NamespaceInfo
    from nvtui.composition import Composition
    from nvtui.screens import messages
    from nvtui.screens.devices import DevicesScreen
    from nvtui.screens.load import LoadScreen

    head = fab.head
    name = Path(head).name
    app = NvtuiApp(device=name)

    def shown() -> NamespaceInfo | None:
        every = [ns for c in app.controllers for ns in c.namespaces]
        found = [ns for ns in every if ns.char_dev == head and ns.nsid == NSID_NULL_BLK]
        return found[0] if found else None

    async def load(pilot: Pilot[object], *, count: str = "", seconds: str = "", qd: str = "32") -> LoadScreen:
        await pilot.press("f5")
        await until(pilot, lambda: isinstance(app.screen, LoadScreen), "the Load screen")
        screen = app.screen
        assert isinstance(screen, LoadScreen)
        screen.query_one("#load-count", Input).value = count
        screen.query_one("#load-seconds", Input).value = seconds
        screen.query_one("#load-qd", Input).value = qd
        await pilot.press("ctrl+s")
        return screen

    def shown_notes() -> set[str]:
        return {n.identity for n in app._notifications}

    async def ended(pilot: Pilot[object], before: set[str], what: str) -> str:
        """The first notification not among `before` that says how a run ended (notifications expire, so
        they are told apart by identity, not position)."""
        words = ("Done:", "Stopped", "Not started")

        def said() -> list[str]:
            new = [n for n in app._notifications if n.identity not in before]
            return [n.message for n in new if n.message.startswith(words)]

        await until(pilot, said, what)
        return said()[0]

    async with app.run_test(size=(120, 40)) as pilot:
        ready = lambda: app.catalogue is not None and app.session and shown() is not None  # noqa: E731
        await until(pilot, ready, "start-up: the catalogue and the devices")
        assert app.device == name
        ns = shown()
        assert ns is not None and ns.accessible and len(ns.paths) == 2, ns
        app.composition = Composition("read", {"slba": "0", "nlb": "8"})

        # both paths go under a QD32 load: the run ends with the cause, the namespace is shown without a path
        before = shown_notes()
        screen = await load(pilot, seconds="120")
        await until(pilot, lambda: screen.running and screen.stats.total.count > 0, "the load's first I/Os")
        await pilot.pause(1)  # some I/O over both paths
        fab.unexport("loop")
        fab.unexport("tcp")  # tcp now reconnects in vain; fast_io_fail_tmo fails what waits for it
        said = await ended(pilot, before, "the load run to end after the last path went")
        assert said.startswith("Stopped by a device error") and name in said, said
        assert not screen.running
        await until(pilot, lambda: (ns := shown()) is None or not ns.accessible, "the rescan to mark it")
        lost = shown()
        if lost is not None:  # the head lives on while the tcp path reconnects (ctrl_loss_tmo)
            assert lost.access_error is not None and "no usable path" in lost.access_error, lost
            await pilot.press("f2")
            await until(pilot, lambda: isinstance(app.screen, DevicesScreen), "the Devices screen")
            tree = app.screen.query_one(Tree)
            labels = [str(n.label) for c in tree.root.children for n in c.children]
            assert any(x.startswith(f"{name} ") and x.endswith(" no path") for x in labels), labels
            app.post_message(messages.DeviceChosen(name))
            await pilot.pause(0.5)
            info = str(app.screen.query_one("#details-info", Static).render())
            assert "has no usable path" in info, info

        # the app stays usable: a load on another namespace runs to its end
        app.post_message(messages.DeviceChosen("sim0n1"))
        await until(pilot, lambda: app.device == "sim0n1", "the simulated namespace to be chosen")
        before = shown_notes()
        screen = await load(pilot, count="500", qd="4")
        said = await ended(pilot, before, "the load on sim0n1 to end")
        assert said.startswith("Done: 500 commands"), said
        assert screen.stats.total.count == 500 and screen.stats.errors == 0

        # the paths back: a rescan shows the namespace with both paths, and a load on it runs
        fab.restore(timeout=WAIT_S)
        await pilot.press("f2")
        await until(pilot, lambda: isinstance(app.screen, DevicesScreen), "the Devices screen")
        await pilot.press("r")

        def back() -> bool:
            ns = shown()
            return ns is not None and ns.accessible and len(ns.paths) == 2

        await until(pilot, back, "the rescan to show the namespace with both paths again")
        app.post_message(messages.DeviceChosen(name))
        await until(pilot, lambda: app.device == name, "the fabrics namespace to be chosen again")
        before = shown_notes()
        screen = await load(pilot, count="2000")
        said = await ended(pilot, before, "the load on the restored namespace to end")
        assert said.startswith("Done: 2,000 commands"), said
        assert screen.stats.total.count == 2000 and screen.stats.errors == 0, screen.stats.summary()
        assert app._exception is None
