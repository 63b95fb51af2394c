"""A device named through symlinks (a udev link, /dev/disk/by-id/..., a test harness's own link) is the
device the links lead to, found through sysfs as any name is; a link to anything else is refused by name.
Fake sysfs and /dev trees as in test_discovery.py (the VM test does it with the real driver)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_discovery import FakeSystem, qemu_like

from nvtui.backend.discovery import DevicePath, resolve_device
from nvtui.errors import DeviceError, UsageError

__all__ = ["qemu_like"]  # the fixture, shared with test_discovery


def resolve(system: FakeSystem, name: str | Path) -> DevicePath:
    return resolve_device(str(name), sysfs=system.sysfs, dev=system.dev)


def test_a_link_to_the_generic_char_device_is_that_device(qemu_like: FakeSystem, tmp_path: Path) -> None:
    link = tmp_path / "harness" / "nvme-under-test"
    link.parent.mkdir()
    link.symlink_to(qemu_like.dev / "ng0n1")
    assert resolve(qemu_like, link) == resolve(qemu_like, "ng0n1")
    assert resolve(qemu_like, link).nsid == 2  # from sysfs, as for the plain name


def test_a_by_id_link_to_the_block_device_leads_to_its_generic_char_device(
    qemu_like: FakeSystem, tmp_path: Path
) -> None:
    by_id = qemu_like.dev / "disk" / "by-id"
    by_id.mkdir(parents=True)
    link = by_id / "nvme-QEMU_NVMe_Ctrl_nvtui0001_3"
    link.symlink_to("../../nvme0n3")  # udev's relative link
    path = resolve(qemu_like, link)
    assert (path.name, path.ns_dev, path.nsid) == ("ng0n3", str(qemu_like.dev / "ng0n3"), 3)
    chained = tmp_path / "chained"
    chained.symlink_to(link)  # a link to a link
    assert resolve(qemu_like, chained) == path


def test_a_link_to_the_controller_is_the_controller(qemu_like: FakeSystem, tmp_path: Path) -> None:
    link = tmp_path / "ctrl"
    link.symlink_to(qemu_like.dev / "nvme0")
    assert resolve(qemu_like, link).is_controller


def test_a_node_under_another_name_is_found_by_its_device_number(qemu_like: FakeSystem) -> None:
    """A char device made elsewhere (mknod) carries no NVMe name: sysfs knows it by MAJ:MIN. /dev/null's
    own number stands in for the namespace's here, mapped to ng0n2 in the fake sysfs."""
    number = os.stat("/dev/null").st_rdev
    entry = qemu_like.sysfs / "dev" / "char" / f"{os.major(number)}:{os.minor(number)}"
    entry.parent.mkdir(parents=True)
    entry.symlink_to(qemu_like.sysfs / "class" / "nvme-generic" / "ng0n2")
    path = resolve(qemu_like, "/dev/null")
    assert (path.name, path.nsid) == ("ng0n2", 1)


def test_a_link_to_something_else_is_refused_by_name(qemu_like: FakeSystem, tmp_path: Path) -> None:
    other = tmp_path / "notes.txt"
    other.write_text("not a device")
    link = tmp_path / "link"
    link.symlink_to(other)
    with pytest.raises(UsageError, match="not an NVMe device name"):
        resolve(qemu_like, link)
    with pytest.raises(UsageError, match=r"/dev/null \(device 1:3\) is not an NVMe device"):
        resolve(qemu_like, "/dev/null")  # a char device sysfs does not know as NVMe
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "gone")
    with pytest.raises(DeviceError, match="No such file"):
        resolve(qemu_like, dangling)
