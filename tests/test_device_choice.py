"""Which device the TUI picks at start and after a rescan (nvtui.device_choice), without Textual."""

from __future__ import annotations

from nvtui.backend.base import ControllerInfo, NamespaceInfo
from nvtui.device_choice import DEFAULT_SIM_DEVICE, GONE, chosen_device, default_device, mark_gone


def namespace(name: str, *, accessible: bool = True) -> NamespaceInfo:
    return NamespaceInfo(name, 1, None, None, 1 << 30, 512, accessible=accessible)


def controller(
    name: str, *namespaces: NamespaceInfo, simulated: bool = False, accessible: bool = True
) -> ControllerInfo:
    return ControllerInfo(
        name, None if simulated else f"/dev/{name}", "model", "serial", "fw", "sim" if simulated else "pcie",
        "0000:00:04.0", "live", simulated=simulated, accessible=accessible, namespaces=namespaces,
    )  # fmt: skip


SIM = controller("sim0", namespace("sim0n1"), namespace("sim0n2"), simulated=True)


def test_a_fresh_start_on_a_machine_with_an_openable_namespace_picks_it_over_the_simulator() -> None:
    real = controller("nvme0", namespace("ng0n1", accessible=False), namespace("ng0n2"))
    assert default_device([SIM, real]) == "ng0n2"


def test_without_an_openable_namespace_the_first_usable_real_controller_is_picked() -> None:
    locked = controller("nvme0", namespace("ng0n1", accessible=False), accessible=False)
    usable = controller("nvme1", namespace("ng1n1", accessible=False))
    assert default_device([locked, usable, SIM]) == "nvme1"


def test_with_no_usable_real_device_the_simulators_first_namespace_is_picked() -> None:
    locked = controller("nvme0", namespace("ng0n1", accessible=False), accessible=False)
    assert default_device([locked, SIM]) == "sim0n1"


def test_with_nothing_discovered_the_default_simulated_namespace_is_picked() -> None:
    assert default_device([]) == DEFAULT_SIM_DEVICE == "sim0n1"


def test_a_rescan_keeps_the_device_in_use_even_when_a_better_one_appears() -> None:
    real = controller("nvme0", namespace("ng0n1"))
    assert chosen_device("", [SIM, real]) == "ng0n1"
    assert chosen_device("sim0n2", [SIM, real]) == "sim0n2"


def test_a_controller_unplugged_since_the_last_scan_stays_listed_as_gone_and_cannot_be_opened() -> None:
    real = controller("nvme0", namespace("ng0n1"))
    other = controller("nvme1", namespace("ng1n1"))
    after = mark_gone([real, other, SIM], [SIM, other])
    assert [c.name for c in after] == ["nvme1", "nvme0", "sim0"]
    gone = after[1]
    assert gone.state == GONE and not gone.accessible
    assert gone.access_error is not None and "r rescans" in gone.access_error
    assert all(not ns.accessible for ns in gone.namespaces)
    assert chosen_device("ng0n1", after) == "ng0n1"  # still the device in use, shown as gone


def test_a_gone_controller_found_again_by_a_rescan_is_live_again() -> None:
    real = controller("nvme0", namespace("ng0n1"))
    gone = mark_gone([real], [SIM])
    assert mark_gone(gone, [real, SIM]) == (real, SIM)


def test_simulated_controllers_are_never_marked_gone() -> None:
    assert mark_gone([SIM], []) == ()
