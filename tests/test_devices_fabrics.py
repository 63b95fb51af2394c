"""The Devices screen's details for fabrics controllers and multipath namespaces (the text beside the tree),
from the fake sysfs tree of test_discovery.py: transport with address, subsystem and host NQN, each path with
its controller, transport, state and ANA state; a path that cannot take I/O is in the warning colour."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.style import Style
from test_discovery import FABRICS_NQN, HOSTNQN, FakeSystem, fabrics_system

from nvtui.backend.base import ControllerInfo
from nvtui.backend.discovery import list_controllers
from nvtui.screens.devices import controller_text, namespace_text

WARNING = Style(color="yellow")


@pytest.fixture
def ctrls(tmp_path: Path) -> dict[str, ControllerInfo]:
    system: FakeSystem = fabrics_system(tmp_path)
    found = list_controllers(sysfs=system.sysfs, dev=system.dev, include_sim=False, ana_log=False)
    return {c.name: c for c in found}


def test_a_tcp_controller_shows_its_address_subsystem_and_host(ctrls: dict[str, ControllerInfo]) -> None:
    text = controller_text(ctrls["nvme2"]).plain
    assert "   transport tcp 127.0.0.1:4420\n" in text
    assert f"   subsystem {FABRICS_NQN} (nvme-subsys1)\n" in text
    assert f"    host NQN {HOSTNQN}\n" in text
    assert "address" not in text  # the fabrics address is in the transport line


def test_a_pcie_controller_keeps_its_bus_address_and_shows_no_host_nqn(
    ctrls: dict[str, ControllerInfo],
) -> None:
    text = controller_text(ctrls["nvme0"]).plain
    assert "   transport pcie\n" in text and "     address 0000:00:04.0\n" in text
    assert "host NQN" not in text


def test_a_multipath_namespace_lists_its_paths_and_marks_the_unusable_one(
    ctrls: dict[str, ControllerInfo],
) -> None:
    from dataclasses import replace

    ns = ctrls["nvme1"].namespaces[0]
    text = namespace_text(ctrls["nvme1"], ns).plain
    assert "       paths 2 (native multipath)\n" in text
    assert "nvme1c1n1  nvme1 loop live, ANA optimized (group 1, sysfs)" in text
    assert "nvme1c2n1  nvme2 tcp live, ANA non-optimized (group 2, sysfs)" in text
    lost = replace(ns, paths=(ns.paths[0], replace(ns.paths[1], state="connecting")))
    styled = namespace_text(ctrls["nvme1"], lost, {"warning": WARNING})
    warned = [styled.plain[span.start : span.end] for span in styled.spans if span.style == WARNING]
    assert warned == ["nvme1c2n1  nvme2 tcp connecting, ANA non-optimized (group 2, sysfs)\n"]
    assert "paths" not in namespace_text(ctrls["nvme0"], ctrls["nvme0"].namespaces[0]).plain


async def test_the_tree_marks_a_head_whose_every_path_is_down_and_unmarks_it_when_one_is_back(
    ctrls: dict[str, ControllerInfo],
) -> None:
    from dataclasses import replace

    from textual.widgets import Static, Tree

    from nvtui.app import NvtuiApp
    from nvtui.screens.devices import DevicesScreen

    head = ctrls["nvme1"].namespaces[0]
    down = replace(head, paths=tuple(replace(p, state="connecting") for p in head.paths), accessible=False)

    def labels(app: NvtuiApp) -> list[str]:
        tree = app.screen.query_one(Tree)
        return [str(n.label) for c in tree.root.children for n in c.children]

    app = NvtuiApp(include_real_devices=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, DevicesScreen)
        app.controllers = (ctrls["nvme1"], *app.controllers)
        app.device = head.name
        await pilot.pause()
        app.controllers = (replace(ctrls["nvme1"], namespaces=(down,)), *app.controllers[1:])
        await pilot.pause()
        assert [x for x in labels(app) if x.startswith(head.name)] == [f"{head.name}  1.00 MiB no path"]
        # the details beside the tree say what the rescan found, though the cursor stayed on the namespace
        info = str(app.screen.query_one("#details-info", Static).render())
        assert "nvme1 loop connecting" in info and "nvme2 tcp connecting" in info, info
        app.controllers = (ctrls["nvme1"], *app.controllers[1:])
        await pilot.pause()
        [shown] = [x for x in labels(app) if x.startswith(head.name)]
        assert "no path" not in shown and "!" not in shown
