"""Device discovery against fake sysfs and /dev trees laid out as the kernel lays them out.

Layout, from drivers/nvme/host/core.c, sysfs.c and multipath.c (and checked in the test VM):
controllers under /sys/devices/<bus>/nvme/nvmeX, linked from /sys/class/nvme; without multipath the
disk nvmeXnY and the generic char device ngXnY are children of the controller; with native
multipath the head disk and its char device are children of the subsystem
(/sys/devices/virtual/nvme-subsystem/nvme-subsysS) and each path is a hidden disk nvmeScCnY.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from nvtui.backend.base import PathInfo
from nvtui.backend.discovery import (
    DevicePath,
    PathWatch,
    controller_state,
    kernel_version,
    list_controllers,
    live_controllers_of,
    no_path_cause,
    nsid_of_fd,
    parse_address,
    path_line,
    resolve_device,
    transport_text,
    uring_cmd_problem,
)
from nvtui.backend.sim import sim_controllers
from nvtui.errors import DeviceError, UsageError

PCI = "devices/pci0000:00/0000:00:04.0"


@dataclass
class FakeNamespace:
    instance: int  # the Y of ngXnY / nvmeXnY
    nsid: int
    sectors: int = 2048
    lba_size: int = 512
    zoned: str = "none"
    metadata_bytes: int | None = None


class FakeSystem:
    """A sysfs and a /dev under one root, built with the kernel's symlinks."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.sysfs = root / "sys"
        self.dev = root / "dev"
        for d in ("class/nvme", "class/nvme-generic", "block"):
            (self.sysfs / d).mkdir(parents=True)
        self.dev.mkdir()

    def _link(self, link: Path, target_from_sysfs: str) -> None:
        link.parent.mkdir(parents=True, exist_ok=True)
        depth = len(link.relative_to(self.sysfs).parts) - 1
        link.symlink_to("../" * depth + target_from_sysfs)

    def _write(self, directory: Path, **attrs: object) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        for name, value in attrs.items():
            path = directory / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"{value}\n")

    def node(self, name: str, mode: int = 0o600) -> None:
        path = self.dev / name
        path.write_bytes(b"")
        path.chmod(mode)

    def controller(self, instance: int, *, bus: str = PCI, state: str = "live", **attrs: object) -> str:
        name = f"nvme{instance}"
        rel = f"{bus}/nvme/{name}"
        values: dict[str, object] = {
            "model": "QEMU NVMe Ctrl                          ",
            "serial": f"nvtui-{instance}          ",
            "firmware_rev": "7.2.0   ",
            "transport": "pcie",
            "address": bus.rsplit("/", 1)[-1],
            "state": state,
            "cntlid": 0,
        }
        values.update(attrs)
        self._write(self.sysfs / rel, **values)
        self._link(self.sysfs / "class/nvme" / name, rel)
        self.node(name)
        return rel

    def _disk(self, parent_rel: str, disk: str, ns: FakeNamespace, *, node: bool = True) -> None:
        rel = f"{parent_rel}/{disk}"
        attrs: dict[str, object] = {
            "nsid": ns.nsid,
            "size": ns.sectors,
            "queue/logical_block_size": ns.lba_size,
            "queue/zoned": ns.zoned,
        }
        if ns.metadata_bytes is not None:
            attrs["metadata_bytes"] = ns.metadata_bytes
        self._write(self.sysfs / rel, **attrs)
        self._link(self.sysfs / "block" / disk, rel)
        if node:
            self.node(disk, 0o660)

    def _generic(self, parent_rel: str, ng: str, parent_name: str) -> None:
        rel = f"{parent_rel}/{ng}"
        self._write(self.sysfs / rel, dev="241:0")
        (self.sysfs / rel / "device").symlink_to(f"../../{parent_name}")
        self._link(self.sysfs / "class/nvme-generic" / ng, rel)
        self.node(ng)

    def namespace(
        self, ctrl_rel: str, ctrl_instance: int, ns: FakeNamespace, *, generic: bool = True
    ) -> None:
        """A namespace without multipath: nvmeXnY and ngXnY under the controller."""
        self._disk(ctrl_rel, f"nvme{ctrl_instance}n{ns.instance}", ns)
        if generic:
            self._generic(ctrl_rel, f"ng{ctrl_instance}n{ns.instance}", f"nvme{ctrl_instance}")

    def multipath_namespace(self, subsys: int, ctrl_rels: dict[int, str], ns: FakeNamespace) -> None:
        """A shared namespace with native multipath: head disk and ng under the subsystem, paths under
        each controller."""
        subsys_rel = f"devices/virtual/nvme-subsystem/nvme-subsys{subsys}"
        for ctrl, rel in ctrl_rels.items():
            link = self.sysfs / subsys_rel / f"nvme{ctrl}"
            if not link.exists():
                self._link(link, rel)
        head = f"nvme{subsys}n{ns.instance}"
        self._disk(subsys_rel, head, ns)
        self._generic(subsys_rel, f"ng{subsys}n{ns.instance}", f"nvme-subsys{subsys}")
        for ctrl, rel in ctrl_rels.items():
            path = f"nvme{subsys}c{ctrl}n{ns.instance}"
            self._disk(rel, path, ns, node=False)  # hidden path disks get no /dev node
            self._link(self.sysfs / subsys_rel / head / "multipath" / path, f"{rel}/{path}")


@pytest.fixture
def qemu_like(tmp_path: Path) -> FakeSystem:
    """One QEMU controller, three namespaces scanned in parallel: ng0n1 is namespace 2."""
    system = FakeSystem(tmp_path)
    rel = system.controller(0)
    system.namespace(rel, 0, FakeNamespace(instance=1, nsid=2, sectors=1 << 21, zoned="host-managed"))
    system.namespace(rel, 0, FakeNamespace(instance=2, nsid=1, sectors=1 << 21))
    system.namespace(
        rel, 0, FakeNamespace(instance=3, nsid=3, sectors=1 << 18, lba_size=4096, metadata_bytes=8)
    )
    return system


def resolve(system: FakeSystem, name: str) -> DevicePath:
    return resolve_device(name, sysfs=system.sysfs, dev=system.dev)


@pytest.mark.parametrize("name", ["/dev/ng0n1", "ng0n1", "nvme0n1", "/dev/nvme0n1", " ng0n1 "])
def test_every_namespace_spelling_leads_to_the_generic_char_device(qemu_like: FakeSystem, name: str) -> None:
    path = resolve(qemu_like, name)
    assert path == DevicePath(
        name="ng0n1",
        controller="nvme0",
        ctrl_dev=str(qemu_like.dev / "nvme0"),
        ns_dev=str(qemu_like.dev / "ng0n1"),
        nsid=2,
    )
    assert path.open_path == str(qemu_like.dev / "ng0n1")
    assert not path.is_controller


def test_namespace_id_comes_from_sysfs_not_from_the_name(qemu_like: FakeSystem) -> None:
    assert resolve(qemu_like, "ng0n1").nsid == 2
    assert resolve(qemu_like, "ng0n2").nsid == 1
    assert resolve(qemu_like, "ng0n3").nsid == 3


@pytest.mark.parametrize("name", ["nvme0", "/dev/nvme0"])
def test_a_controller_has_no_namespace(qemu_like: FakeSystem, name: str) -> None:
    path = resolve(qemu_like, name)
    assert path == DevicePath("nvme0", "nvme0", str(qemu_like.dev / "nvme0"), None, 0)
    assert path.is_controller
    assert path.open_path == str(qemu_like.dev / "nvme0")


@pytest.mark.parametrize(
    "name",
    ["", "sda", "ng0", "nvme", "ng0n", "/dev/ng0n1p1", "nvme0n1p2", "/dev/nvme-fabrics", "sim0n1", "ngAn1"],
)
def test_malformed_names_are_usage_errors_naming_the_accepted_forms(qemu_like: FakeSystem, name: str) -> None:
    with pytest.raises(UsageError) as caught:
        resolve(qemu_like, name)
    assert "/dev/ngXnY" in str(caught.value)
    assert "nvmeX" in str(caught.value)


def test_a_well_formed_name_that_does_not_exist_is_a_device_error(qemu_like: FakeSystem) -> None:
    with pytest.raises(DeviceError) as caught:
        resolve(qemu_like, "/dev/ng3n1")
    assert str(caught.value) == "no such NVMe device /dev/ng3n1; `nvtui list` shows the devices"
    for missing in ("nvme7", "nvme0n9", "ng0n9"):
        with pytest.raises(DeviceError, match="no such NVMe device"):
            resolve(qemu_like, missing)


def test_sysfs_without_a_dev_node_says_so(qemu_like: FakeSystem) -> None:
    (qemu_like.dev / "ng0n2").unlink()
    with pytest.raises(DeviceError, match=r"sysfs lists ng0n2 but .*/dev/ng0n2 is missing"):
        resolve(qemu_like, "ng0n2")


def test_a_block_device_without_a_generic_char_device_explains(tmp_path: Path) -> None:
    system = FakeSystem(tmp_path)
    rel = system.controller(0)
    system.namespace(rel, 0, FakeNamespace(instance=1, nsid=1), generic=False)
    with pytest.raises(DeviceError, match=r"nvme0n1 has no generic char device /dev/ng0n1"):
        resolve(system, "nvme0n1")


def test_second_controller_on_another_bus(qemu_like: FakeSystem) -> None:
    rel = qemu_like.controller(1, bus="devices/pci0000:00/0000:00:05.0")
    qemu_like.namespace(rel, 1, FakeNamespace(instance=1, nsid=7))
    path = resolve(qemu_like, "ng1n1")
    assert (path.controller, path.ctrl_dev, path.nsid) == ("nvme1", str(qemu_like.dev / "nvme1"), 7)


@pytest.fixture
def multipath(tmp_path: Path) -> FakeSystem:
    """Subsystem 0 reached through nvme0 (resetting) and nvme1 (live); head ng0n1 is namespace 5."""
    system = FakeSystem(tmp_path)
    rel0 = system.controller(0, state="resetting")
    rel1 = system.controller(1, bus="devices/pci0000:00/0000:00:05.0")
    system.multipath_namespace(0, {0: rel0, 1: rel1}, FakeNamespace(instance=1, nsid=5))
    return system


def test_multipath_head_goes_to_a_live_controller_of_its_subsystem(multipath: FakeSystem) -> None:
    path = resolve(multipath, "ng0n1")
    assert (path.name, path.controller, path.ns_dev, path.nsid) == (
        "ng0n1",
        "nvme1",
        str(multipath.dev / "ng0n1"),
        5,
    )


def test_multipath_path_disk_keeps_its_own_controller(multipath: FakeSystem) -> None:
    path = resolve(multipath, "nvme0c0n1")
    assert (path.name, path.controller, path.nsid) == ("ng0n1", "nvme0", 5)
    with pytest.raises(DeviceError, match="no such NVMe device /dev/nvme0c3n1"):
        resolve(multipath, "nvme0c3n1")


def test_multipath_without_the_multipath_directory_scans_the_subsystem(multipath: FakeSystem) -> None:
    head = multipath.sysfs / "devices/virtual/nvme-subsystem/nvme-subsys0/nvme0n1/multipath"
    for link in head.iterdir():
        link.unlink()
    head.rmdir()
    assert resolve(multipath, "ng0n1").controller == "nvme1"


def test_list_reports_the_controller_and_each_namespace(qemu_like: FakeSystem, tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    (proc / "sys/kernel").mkdir(parents=True)
    (proc / "sys/kernel/io_uring_disabled").write_text("0\n")
    [ctrl] = list_controllers(sysfs=qemu_like.sysfs, dev=qemu_like.dev, proc=proc, include_sim=False)
    assert (ctrl.name, ctrl.char_dev, ctrl.model, ctrl.serial, ctrl.firmware) == (
        "nvme0",
        str(qemu_like.dev / "nvme0"),
        "QEMU NVMe Ctrl",
        "nvtui-0",
        "7.2.0",
    )
    assert (ctrl.transport, ctrl.address, ctrl.state, ctrl.simulated) == (
        "pcie",
        "0000:00:04.0",
        "live",
        False,
    )
    assert [(ns.nsid, ns.name) for ns in ctrl.namespaces] == [(1, "ng0n2"), (2, "ng0n1"), (3, "ng0n3")]
    by_nsid = {ns.nsid: ns for ns in ctrl.namespaces}
    assert by_nsid[2].zoned and not by_nsid[1].zoned and not by_nsid[3].zoned
    assert by_nsid[2].size_bytes == (1 << 21) * 512
    assert (by_nsid[3].lba_size, by_nsid[3].metadata_size, by_nsid[3].size_bytes) == (
        4096,
        8,
        (1 << 18) * 512,
    )
    assert by_nsid[1].metadata_size == 0
    assert by_nsid[2].char_dev == str(qemu_like.dev / "ng0n1")
    assert by_nsid[2].block_dev == str(qemu_like.dev / "nvme0n1")


def test_list_puts_a_shared_namespace_under_every_controller_that_reaches_it(multipath: FakeSystem) -> None:
    ctrls = list_controllers(sysfs=multipath.sysfs, dev=multipath.dev, include_sim=False)
    assert [c.name for c in ctrls] == ["nvme0", "nvme1"]
    assert [[(ns.name, ns.nsid, ns.block_dev) for ns in c.namespaces] for c in ctrls] == [
        [("ng0n1", 5, str(multipath.dev / "nvme0n1"))]
    ] * 2


def test_list_of_an_empty_system(tmp_path: Path) -> None:
    assert list_controllers(sysfs=tmp_path / "sys", dev=tmp_path / "dev", include_sim=False) == []


def test_list_orders_controllers_naturally(tmp_path: Path) -> None:
    system = FakeSystem(tmp_path)
    for instance in (10, 2, 1):
        system.controller(instance, bus=f"devices/pci0000:00/0000:00:{instance:02x}.0")
    names = [c.name for c in list_controllers(sysfs=system.sysfs, dev=system.dev, include_sim=False)]
    assert names == ["nvme1", "nvme2", "nvme10"]


def test_list_includes_the_simulated_controllers_when_asked(qemu_like: FakeSystem) -> None:
    real = list_controllers(sysfs=qemu_like.sysfs, dev=qemu_like.dev, include_sim=False)
    everything = list_controllers(sysfs=qemu_like.sysfs, dev=qemu_like.dev, include_sim=True)
    assert everything[: len(real)] == real
    simulated = everything[len(real) :]
    assert all(c.simulated for c in simulated)
    assert [c.name for c in simulated] == [c.name for c in sim_controllers()]
    assert "sim0" in [c.name for c in simulated]
    assert [ns.name for ns in simulated[0].namespaces] == ["sim0n1", "sim0n2", "sim0n3"]


def test_permission_denied_names_owner_mode_and_the_udev_fix() -> None:
    """Seen by a user without access: run in a child process that drops to nobody."""
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        root = Path(tmp)
        root.chmod(0o755)
        system = FakeSystem(root)
        rel = system.controller(0)
        system.namespace(rel, 0, FakeNamespace(instance=1, nsid=1))
        for p in [root, *root.rglob("*")]:
            if p.is_dir() and not p.is_symlink():
                p.chmod(0o755)
            elif p.is_file() and not p.is_symlink() and system.sysfs in p.parents:
                p.chmod(0o644)
        script = f"""
import json, os
from pathlib import Path
from nvtui.backend.discovery import list_controllers
os.setgid(65534); os.setgroups([]); os.setuid(65534)
[c] = list_controllers(sysfs=Path({str(system.sysfs)!r}), dev=Path({str(system.dev)!r}), include_sim=False)
print(json.dumps([c.accessible, c.access_error, c.namespaces[0].accessible, c.namespaces[0].access_error]))
"""
        if os.geteuid() == 0:
            out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
        else:
            pytest.skip("needs root to drop to another user")
        ctrl_ok, ctrl_err, ns_ok, ns_err = json.loads(out.stdout)
    owner = "root:root" if os.getegid() == 0 else None
    assert ctrl_ok is False and ns_ok is False
    ng = str(system.dev / "ng0n1")
    assert ns_err.startswith(f"permission denied on {ng} ({owner} 0600): run as root, or add udev rules")
    assert 'KERNEL=="ng[0-9]*", GROUP="disk", MODE="0660"' in ns_err
    assert ctrl_err.startswith(f"permission denied on {system.dev / 'nvme0'} ({owner} 0600)")


def test_an_accessible_device_has_no_access_error(qemu_like: FakeSystem) -> None:
    [ctrl] = list_controllers(sysfs=qemu_like.sysfs, dev=qemu_like.dev, include_sim=False)
    assert ctrl.accessible and ctrl.access_error is None
    assert all(ns.accessible and ns.access_error is None for ns in ctrl.namespaces)


def test_a_missing_char_device_is_reported_in_the_list(qemu_like: FakeSystem) -> None:
    (qemu_like.dev / "ng0n3").unlink()
    [ctrl] = list_controllers(sysfs=qemu_like.sysfs, dev=qemu_like.dev, include_sim=False)
    ns = next(ns for ns in ctrl.namespaces if ns.name == "ng0n3")
    assert not ns.accessible
    assert ns.access_error == f"{qemu_like.dev / 'ng0n3'} is missing"


def _proc(tmp_path: Path, disabled: int | None, group: int | None = None) -> Path:
    proc = tmp_path / "proc"
    (proc / "sys/kernel").mkdir(parents=True, exist_ok=True)
    if disabled is not None:
        (proc / "sys/kernel/io_uring_disabled").write_text(f"{disabled}\n")
    if group is not None:
        (proc / "sys/kernel/io_uring_group").write_text(f"{group}\n")
    return proc


def test_kernel_version_parsing() -> None:
    assert kernel_version("6.1.0-26-amd64") == (6, 1)
    assert kernel_version("6.12.12+bpo-amd64") == (6, 12)
    assert kernel_version("5.19.0") == (5, 19)
    assert kernel_version("weird") == (0, 0)


def test_uring_cmd_needs_kernel_5_19(tmp_path: Path) -> None:
    proc = _proc(tmp_path, 0)
    assert (
        uring_cmd_problem(proc=proc, release="5.18.19")
        == "kernel 5.18 predates io_uring NVMe passthrough (5.19)"
    )
    assert uring_cmd_problem(proc=proc, release="5.19.0") is None
    assert uring_cmd_problem(proc=proc, release="6.12.117+deb12-amd64") is None
    # Kernels before 6.6 have no io_uring_disabled at all.
    assert uring_cmd_problem(proc=_proc(tmp_path / "old", None), release="6.1.0-26-amd64") is None


def test_uring_cmd_disabled_by_sysctl(tmp_path: Path) -> None:
    assert "io_uring_disabled = 2" in str(uring_cmd_problem(proc=_proc(tmp_path, 2), release="6.12.0"))


def test_io_uring_disabled_1_admits_root_and_the_io_uring_group(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        assert uring_cmd_problem(proc=_proc(tmp_path, 1, -1), release="6.12.0") is None
    else:
        assert "io_uring_group" in str(uring_cmd_problem(proc=_proc(tmp_path, 1, -1), release="6.12.0"))
        assert uring_cmd_problem(proc=_proc(tmp_path / "g", 1, os.getegid()), release="6.12.0") is None


def test_list_reports_uring_cmd_support(qemu_like: FakeSystem, tmp_path: Path) -> None:
    [ctrl] = list_controllers(
        sysfs=qemu_like.sysfs, dev=qemu_like.dev, proc=_proc(tmp_path, 2), include_sim=False
    )
    assert ctrl.uring_cmd is False


def test_nsid_of_fd_on_something_that_is_not_nvme(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_bytes(b"x")
    fd = os.open(plain, os.O_RDONLY)
    try:
        with pytest.raises(DeviceError, match="NVME_IOCTL_ID failed"):
            nsid_of_fd(fd)
    finally:
        os.close(fd)


def test_fake_tree_matches_the_kernel_link_shape(qemu_like: FakeSystem) -> None:
    """Guard the fixture itself: links are relative and resolve where the kernel's do."""
    link = qemu_like.sysfs / "class/nvme-generic/ng0n1"
    assert os.readlink(link) == f"../../{PCI}/nvme/nvme0/ng0n1"
    assert os.readlink(qemu_like.sysfs / "block/nvme0n1") == f"../{PCI}/nvme/nvme0/nvme0n1"
    assert (link / "device").resolve() == (qemu_like.sysfs / PCI / "nvme/nvme0").resolve()
    assert stat.S_IMODE((qemu_like.dev / "ng0n1").stat().st_mode) == 0o600


def test_without_metadata_bytes_the_device_is_asked_with_identify_namespace(
    qemu_like: FakeSystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kernel 6.1 has no metadata_bytes: Identify Namespace's current LBA format says instead."""
    from nvtui.backend.ioctl import IoctlBackend
    from nvtui.nvme.command import Command
    from nvtui.nvme.completion import Completion, Status

    disk = qemu_like.sysfs / "block/nvme0n3"
    (disk / "metadata_bytes").unlink()
    asked: list[tuple[str, Command]] = []

    def identify(self: IoctlBackend, cmd: Command) -> Completion:
        asked.append((self.path.open_path, cmd))
        page = bytearray(4096)
        page[25] = 1  # NLBAF: two formats
        page[26] = 1  # FLBAS: format 1 in use
        page[128:132] = (9 << 16).to_bytes(4, "little")  # LBAF0: 512 bytes, no metadata
        page[132:136] = (12 << 16 | 16).to_bytes(4, "little")  # LBAF1: 4096 bytes + 16 metadata
        return Completion(Status(0), data=bytes(page))

    monkeypatch.setattr(IoctlBackend, "submit_blocking", identify)
    [ctrl] = list_controllers(sysfs=qemu_like.sysfs, dev=qemu_like.dev, include_sim=False)
    ns = next(ns for ns in ctrl.namespaces if ns.name == "ng0n3")
    assert ns.metadata_size == 16
    by_device = dict(asked)  # every namespace without metadata_bytes is asked, each with its own nsid
    assert set(by_device) == {str(qemu_like.dev / ng) for ng in ("ng0n1", "ng0n2", "ng0n3")}
    cmd = by_device[str(qemu_like.dev / "ng0n3")]
    assert (cmd.opcode, cmd.admin, cmd.nsid, cmd.cdw10, cmd.data_len) == (0x06, True, 3, 0, 4096)
    assert by_device[str(qemu_like.dev / "ng0n1")].nsid == 2


def test_without_metadata_bytes_a_device_that_cannot_answer_gives_0(qemu_like: FakeSystem) -> None:
    (qemu_like.sysfs / "block/nvme0n3/metadata_bytes").unlink()
    [ctrl] = list_controllers(sysfs=qemu_like.sysfs, dev=qemu_like.dev, include_sim=False)
    assert next(ns for ns in ctrl.namespaces if ns.name == "ng0n3").metadata_size == 0  # a plain file: ENOTTY


FABRICS_NQN = "nqn.2026-12.io.nvtui:fabrics"
HOSTNQN = "nqn.2014-08.org.nvmexpress:uuid:7a1f3c52-2c4e-4d1b-9a59-6e6f76747569"


@pytest.fixture
def fabrics(tmp_path: Path) -> FakeSystem:
    return fabrics_system(tmp_path)


def fabrics_system(tmp_path: Path) -> FakeSystem:
    """As the test VM has it: QEMU's nvme0 (pcie, private namespace), and subsystem 1 of the Linux target
    reached through nvme1 (loop) and nvme2 (tcp) with one shared namespace, head ng1n1, paths nvme1c1n1
    (optimized) and nvme1c2n1 (non-optimized)."""
    system = FakeSystem(tmp_path)
    rel0 = system.controller(0, subsysnqn="nqn.2019-08.org.qemu:nvtui0001")
    system.namespace(rel0, 0, FakeNamespace(instance=1, nsid=1))
    fabrics_bus = "devices/virtual/nvme-fabrics/ctl"  # the kernel's has no "nvme" folder between
    common = {"model": "Linux", "subsysnqn": FABRICS_NQN, "hostnqn": HOSTNQN, "firmware_rev": "6.12.11"}
    rel1 = system.controller(1, bus=fabrics_bus, transport="loop", address="", **common)
    rel2 = system.controller(
        2,
        bus=fabrics_bus,
        transport="tcp",
        address="traddr=127.0.0.1,trsvcid=4420,src_addr=127.0.0.1",
        **common,
    )
    system._link(system.sysfs / "devices/virtual/nvme-subsystem/nvme-subsys0/nvme0", rel0)
    system.multipath_namespace(1, {1: rel1, 2: rel2}, FakeNamespace(instance=1, nsid=1))
    system._write(system.sysfs / rel1 / "nvme1c1n1", ana_state="optimized", ana_grpid=1)
    system._write(system.sysfs / rel2 / "nvme1c2n1", ana_state="non-optimized", ana_grpid=2)
    return system


def test_list_reports_each_controllers_transport_address_nqns_and_subsystem(fabrics: FakeSystem) -> None:
    ctrls = {c.name: c for c in list_controllers(sysfs=fabrics.sysfs, dev=fabrics.dev, include_sim=False)}
    pcie, loop, tcp = ctrls["nvme0"], ctrls["nvme1"], ctrls["nvme2"]
    assert (pcie.transport, pcie.fabrics, pcie.hostnqn, pcie.traddr) == ("pcie", False, "", "")
    assert pcie.subsystem == "nvme-subsys0" and pcie.subsysnqn == "nqn.2019-08.org.qemu:nvtui0001"
    assert (loop.transport, loop.fabrics, loop.traddr, loop.trsvcid) == ("loop", True, "", "")
    assert (tcp.transport, tcp.fabrics, tcp.traddr, tcp.trsvcid) == ("tcp", True, "127.0.0.1", "4420")
    for c in (loop, tcp):
        assert (c.subsysnqn, c.hostnqn, c.subsystem, c.model) == (
            FABRICS_NQN,
            HOSTNQN,
            "nvme-subsys1",
            "Linux",
        )
    assert transport_text(tcp) == "tcp 127.0.0.1:4420" and transport_text(loop) == "loop"


def test_a_multipath_namespace_lists_each_path_with_its_controller_transport_and_ana_state(
    fabrics: FakeSystem,
) -> None:
    ctrls = {c.name: c for c in list_controllers(sysfs=fabrics.sysfs, dev=fabrics.dev, include_sim=False)}
    [private] = ctrls["nvme0"].namespaces
    assert private.paths == ()
    [head] = ctrls["nvme1"].namespaces
    assert ctrls["nvme2"].namespaces == (head,)
    assert head.name == "ng1n1" and head.char_dev == str(fabrics.dev / "ng1n1")
    assert head.paths == (
        PathInfo("nvme1c1n1", "nvme1", "loop", "live", "optimized", 1, "sysfs"),
        PathInfo("nvme1c2n1", "nvme2", "tcp", "live", "non-optimized", 2, "sysfs"),
    )
    assert path_line(head.paths[1]) == "nvme1c2n1  nvme2 tcp live, ANA non-optimized (group 2, sysfs)"


def test_a_path_whose_controller_is_reconnecting_says_so(fabrics: FakeSystem) -> None:
    nvme2 = (fabrics.sysfs / "class/nvme/nvme2").resolve()
    (nvme2 / "state").write_text("connecting\n")
    (nvme2 / "nvme1c2n1/ana_state").unlink()
    ctrls = {c.name: c for c in list_controllers(sysfs=fabrics.sysfs, dev=fabrics.dev, include_sim=False)}
    tcp_path = ctrls["nvme1"].namespaces[0].paths[1]
    assert (tcp_path.state, tcp_path.ana_state, tcp_path.ana_source) == ("connecting", "", "")
    assert ctrls["nvme2"].state == "connecting"
    assert path_line(tcp_path) == "nvme1c2n1  nvme2 tcp connecting, ANA not reported (group 2)"
    assert resolve_device("ng1n1", sysfs=fabrics.sysfs, dev=fabrics.dev).controller == "nvme1"  # live first


def test_list_json_carries_the_fabrics_fields_and_paths(fabrics: FakeSystem) -> None:
    from dataclasses import asdict

    ctrls = list_controllers(sysfs=fabrics.sysfs, dev=fabrics.dev, include_sim=False)
    doc = json.loads(json.dumps([asdict(c) for c in ctrls]))
    tcp = doc[2]
    assert {k: tcp[k] for k in ("transport", "traddr", "trsvcid", "subsysnqn", "hostnqn", "fabrics")} == {
        "transport": "tcp",
        "traddr": "127.0.0.1",
        "trsvcid": "4420",
        "subsysnqn": FABRICS_NQN,
        "hostnqn": HOSTNQN,
        "fabrics": True,
    }
    assert [p["controller"] for p in tcp["namespaces"][0]["paths"]] == ["nvme1", "nvme2"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "traddr=127.0.0.1,trsvcid=4420,src_addr=127.0.0.1",
            {"traddr": "127.0.0.1", "trsvcid": "4420", "src_addr": "127.0.0.1"},
        ),
        ("", {}),
        ("0000:01:00.0", {}),
        (
            "traddr=nn-0x1000:pn-0x2000,host_traddr=nn-0x3:pn-0x4",
            {"traddr": "nn-0x1000:pn-0x2000", "host_traddr": "nn-0x3:pn-0x4"},
        ),
    ],
)
def test_parse_address(text: str, expected: dict[str, str]) -> None:
    assert parse_address(text) == expected


def test_a_multipath_namespace_without_a_usable_path_is_not_accessible_and_says_why(
    fabrics: FakeSystem,
) -> None:
    for ctrl in ("nvme1", "nvme2"):
        (fabrics.sysfs / "class/nvme" / ctrl).resolve().joinpath("state").write_text("connecting\n")
    [head] = {c.name: c for c in list_controllers(sysfs=fabrics.sysfs, dev=fabrics.dev, include_sim=False)}[
        "nvme1"
    ].namespaces
    assert not head.accessible
    assert head.access_error == (
        "/dev/ng1n1 has no usable path "
        "(nvme1 loop connecting ANA optimized; nvme2 tcp connecting ANA non-optimized)"
    )
    assert no_path_cause("/dev/ng1n1", sysfs=fabrics.sysfs) == head.access_error
    assert no_path_cause("ng0n1", sysfs=fabrics.sysfs) is None  # a private namespace: nothing to say


def test_admin_commands_of_a_head_can_go_to_its_live_controllers_usable_paths_first(
    fabrics: FakeSystem,
) -> None:
    sysfs = fabrics.sysfs
    assert live_controllers_of("/dev/ng1n1", sysfs=sysfs) == ["nvme1", "nvme2"]
    nvme1 = (sysfs / "class/nvme/nvme1").resolve()
    (nvme1 / "nvme1c1n1/ana_state").write_text("inaccessible\n")  # admin commands still work there
    assert live_controllers_of("/dev/ng1n1", sysfs=sysfs) == ["nvme2", "nvme1"]
    (sysfs / "class/nvme/nvme2").resolve().joinpath("state").write_text("connecting\n")
    assert live_controllers_of("/dev/ng1n1", sysfs=sysfs) == ["nvme1"]
    (nvme1 / "state").write_text("deleting\n")  # the kernel still picks it for I/O; it is going
    assert live_controllers_of("/dev/ng1n1", sysfs=sysfs) == []
    assert (controller_state("nvme1", sysfs=sysfs), controller_state("nvme9", sysfs=sysfs)) == (
        "deleting",
        "gone",
    )
    assert live_controllers_of("/dev/ng0n1", sysfs=sysfs) == []  # a private namespace: its controller only


def test_no_path_cause_of_a_head_the_kernel_removed(fabrics: FakeSystem) -> None:
    (fabrics.sysfs / "class/nvme-generic/ng1n1").unlink()
    assert no_path_cause("ng1n1", sysfs=fabrics.sysfs) == (
        "/dev/ng1n1 is gone: the kernel removed the namespace with its last path"
    )


def test_path_watch_reports_a_path_that_goes_changes_and_comes_back(fabrics: FakeSystem) -> None:
    watch = PathWatch("/dev/ng1n1", sysfs=fabrics.sysfs)
    assert watch.multipath and watch.poll() == []
    multipath = fabrics.sysfs / "devices/virtual/nvme-subsystem/nvme-subsys1/nvme1n1/multipath"
    saved = os.readlink(multipath / "nvme1c1n1")
    (multipath / "nvme1c1n1").unlink()
    [gone] = watch.poll()
    assert gone.endswith("path nvme1c1n1 (nvme1 loop) gone; I/O goes over nvme1c2n1 (nvme2 tcp)")
    (fabrics.sysfs / "class/nvme/nvme2").resolve().joinpath("state").write_text("connecting\n")
    [lost] = watch.poll()
    assert lost.endswith(
        "path nvme1c2n1 (nvme2 tcp) live/non-optimized -> connecting/non-optimized; no usable path left"
    )
    (multipath / "nvme1c1n1").symlink_to(saved)
    [back] = watch.poll()
    assert "path nvme1c1n1 (nvme1 loop) added, live" in back and back.endswith(
        "I/O goes over nvme1c1n1 (nvme1 loop)"
    )
    assert watch.events == [gone, lost, back]
    assert not PathWatch("ng0n1", sysfs=fabrics.sysfs).multipath


def test_a_paths_ana_state_comes_from_its_controllers_ana_log_page(
    fabrics: FakeSystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The log page wins over sysfs; a controller that does not answer keeps the kernel's word."""
    import nvtui.backend.discovery as discovery

    asked: list[str] = []

    def ana_log_states(char_dev: str) -> dict[int, tuple[str, int]] | None:
        asked.append(os.path.basename(char_dev))
        return {1: ("inaccessible", 4)} if char_dev.endswith("nvme1") else None

    monkeypatch.setattr(discovery, "ana_log_states", ana_log_states)
    ctrls = {c.name: c for c in list_controllers(sysfs=fabrics.sysfs, dev=fabrics.dev, include_sim=False)}
    loop_path, tcp_path = ctrls["nvme2"].namespaces[0].paths
    assert (loop_path.ana_state, loop_path.ana_grpid, loop_path.ana_source) == ("inaccessible", 4, "log")
    assert (tcp_path.ana_state, tcp_path.ana_grpid, tcp_path.ana_source) == ("non-optimized", 2, "sysfs")
    assert ctrls["nvme1"].namespaces == ctrls["nvme2"].namespaces  # one namespace, the same paths
    assert sorted(asked) == ["nvme1", "nvme2"]  # once per controller
    asked.clear()
    list_controllers(sysfs=fabrics.sysfs, dev=fabrics.dev, include_sim=False, ana_log=False)
    assert asked == []


def test_the_ana_log_of_a_device_that_is_not_nvme_is_none(tmp_path: Path) -> None:
    from nvtui.backend.discovery import ana_log_states

    plain = tmp_path / "nvme9"
    plain.write_bytes(b"")
    assert ana_log_states(str(plain)) is None
    assert ana_log_states(str(tmp_path / "missing")) is None
