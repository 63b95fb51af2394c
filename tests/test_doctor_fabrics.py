"""`nvtui doctor` on fabrics, against fake sysfs trees laid out as the kernel lays them out (see
test_discovery.py): which controllers are fabrics and their state, each path of a multipath namespace, and
a subsystem named by its NQN: its controllers, or the nvme-cli command that connects it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from test_discovery import FABRICS_NQN, HOSTNQN, FakeSystem, fabrics_system

from nvtui.backend.base import ControllerInfo
from nvtui.backend.discovery import list_controllers
from nvtui.doctor import (
    OK,
    PROBLEM,
    WARNING,
    connect_command,
    fabrics_findings,
    path_findings,
    subsystem_findings,
)

HOSTID = "7a1f3c52-2c4e-4d1b-9a59-6e6f76747569"


@pytest.fixture
def fabrics(tmp_path: Path) -> FakeSystem:
    return fabrics_system(tmp_path)


def controllers(system: FakeSystem) -> dict[str, ControllerInfo]:
    return {c.name: c for c in list_controllers(sysfs=system.sysfs, dev=system.dev, include_sim=False)}


def test_a_fabrics_controller_is_named_with_transport_address_nqns_and_state(fabrics: FakeSystem) -> None:
    ctrls = controllers(fabrics)
    assert fabrics_findings(ctrls["nvme0"]) == []  # pcie: nothing to say about fabrics
    [tcp] = fabrics_findings(ctrls["nvme2"])
    assert (tcp.level, tcp.subject, tcp.check) == (OK, "nvme2", "fabrics")
    assert tcp.message == (
        f"NVMe over Fabrics, tcp 127.0.0.1:4420, subsystem {FABRICS_NQN}, host {HOSTNQN}: live"
    )
    [loop] = fabrics_findings(ctrls["nvme1"])
    assert "NVMe over Fabrics, loop," in loop.message


@pytest.mark.parametrize(
    ("state", "level"), [("connecting", WARNING), ("resetting", WARNING), ("dead", PROBLEM)]
)
def test_a_fabrics_controller_that_is_not_live_is_a_warning_or_a_problem(
    fabrics: FakeSystem, state: str, level: str
) -> None:
    [finding] = fabrics_findings(replace(controllers(fabrics)["nvme2"], state=state))
    assert (finding.level == level and finding.message.endswith(state)) or state in finding.message
    assert finding.fix


def test_each_path_of_a_multipath_namespace_is_reported_and_a_lost_one_warns(fabrics: FakeSystem) -> None:
    [head] = controllers(fabrics)["nvme1"].namespaces
    [ok] = path_findings(head)
    assert ok.level == OK and ok.message.startswith("2 paths: nvme1c1n1  nvme1 loop live, ANA optimized")
    nvme2 = (fabrics.sysfs / "class/nvme/nvme2").resolve()
    (nvme2 / "state").write_text("connecting\n")
    [head] = controllers(fabrics)["nvme1"].namespaces
    [warn] = path_findings(head)
    assert warn.level == WARNING and warn.message.startswith("1 of 2 paths usable")
    (fabrics.sysfs / "class/nvme/nvme1").resolve().joinpath("nvme1c1n1", "ana_state").write_text(
        "inaccessible\n"
    )
    [head] = controllers(fabrics)["nvme1"].namespaces
    [bad] = path_findings(head)
    assert bad.level == PROBLEM and "no usable path" in bad.message


def test_a_connected_subsystem_lists_its_controllers(fabrics: FakeSystem) -> None:
    [found] = subsystem_findings(FABRICS_NQN, list(controllers(fabrics).values()), sysfs=fabrics.sysfs)
    assert found.level == OK
    assert (
        found.message == f"{FABRICS_NQN}: 2 of 2 live: nvme1 (loop, live), nvme2 (tcp 127.0.0.1:4420, live)"
    )


def test_a_subsystem_that_is_not_connected_gets_the_nvme_cli_command_with_this_hosts_identity(
    fabrics: FakeSystem,
) -> None:
    (fabrics.sysfs / "class/nvme/nvme1").resolve().joinpath("hostid").write_text(HOSTID + "\n")
    [found] = subsystem_findings(
        "nqn.2026-12.io.example:other",
        list(controllers(fabrics).values()),
        traddr="192.0.2.7",
        sysfs=fabrics.sysfs,
    )
    assert found.level == PROBLEM and "not connected" in found.message
    assert found.fix.startswith(
        "nvme connect -t tcp -n nqn.2026-12.io.example:other -a 192.0.2.7 -s 4420 "
        f"--hostnqn={HOSTNQN} --hostid={HOSTID}"
    )
    assert "nvme-tcp module" in found.fix


def test_without_an_address_the_command_says_where_it_goes(tmp_path: Path) -> None:
    [found] = subsystem_findings("nqn.x:y", [], sysfs=tmp_path)
    assert "-a <address> -s 4420" in found.fix


@pytest.mark.parametrize(
    ("kwargs", "line"),
    [
        ({"transport": "loop"}, "nvme connect -t loop -n nqn.x:y"),
        ({"traddr": "10.0.0.2", "trsvcid": "4421"}, "nvme connect -t tcp -n nqn.x:y -a 10.0.0.2 -s 4421"),
        ({"transport": "fc", "traddr": "nn-0x1:pn-0x2"}, "nvme connect -t fc -n nqn.x:y -a nn-0x1:pn-0x2"),
        (
            {"traddr": "h", "hostnqn": "$(nvme gen-hostnqn)"},
            "nvme connect -t tcp -n nqn.x:y -a h -s 4420 --hostnqn=$(nvme gen-hostnqn)",
        ),
        ({"traddr": "a b"}, "nvme connect -t tcp -n nqn.x:y -a 'a b' -s 4420"),
    ],
)
def test_connect_command(kwargs: dict[str, str], line: str) -> None:
    assert connect_command("nqn.x:y", **kwargs) == line  # type: ignore[arg-type]
