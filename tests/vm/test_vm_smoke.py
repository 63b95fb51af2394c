"""Smoke tests of the test VM itself: the controller, the namespaces and their IDs, the monitor hook."""

from __future__ import annotations

import fcntl
import json
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.vm import vm
from tests.vm.conftest import block_device, zero_namespace

pytestmark = pytest.mark.vm

NVME_IOCTL_ID = 0x4E40  # _IO('N', 0x40): the namespace ID of an open namespace device


def run_json(*argv: str) -> Any:
    proc = subprocess.run(argv, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def ioctl_nsid(path: str) -> int:
    fd = os.open(path, os.O_RDONLY)
    try:
        return fcntl.ioctl(fd, NVME_IOCTL_ID)
    finally:
        os.close(fd)


def test_char_devices(nvme_ctrl: str, nvme_namespaces: dict[int, str]) -> None:
    assert nvme_ctrl == "/dev/nvme0"
    assert stat.S_ISCHR(os.stat(nvme_ctrl).st_mode)
    assert sorted(nvme_namespaces) == [1, 2, 3]
    for path in nvme_namespaces.values():
        assert stat.S_ISCHR(os.stat(path).st_mode)
        assert stat.S_ISBLK(os.stat(block_device(path)).st_mode)


def test_id_ctrl_names_qemu(nvme_cli: str, nvme_ctrl: str) -> None:
    ctrl = run_json(nvme_cli, "id-ctrl", nvme_ctrl, "-o", "json")
    assert ctrl["mn"].strip() == vm.NVME_MODEL
    assert ctrl["sn"].strip() == vm.NVME_SERIAL
    assert ctrl["nn"] >= 3


def test_nsids_from_sysfs_match_the_kernel(ns_conventional: str, ns_zoned: str, ns_metadata: str) -> None:
    assert ioctl_nsid(ns_conventional) == 1
    assert ioctl_nsid(ns_zoned) == 2
    assert ioctl_nsid(ns_metadata) == 3


def test_namespace_formats(nvme_cli: str, ns_conventional: str, ns_metadata: str) -> None:
    conv = run_json(nvme_cli, "id-ns", ns_conventional, "-o", "json")
    lbaf = conv["lbafs"][conv["flbas"] & 0xF]
    assert conv["nsze"] << lbaf["ds"] == 1 << 30
    assert lbaf["ms"] == 0
    meta = run_json(nvme_cli, "id-ns", ns_metadata, "-o", "json")
    lbaf = meta["lbafs"][meta["flbas"] & 0xF]
    assert lbaf["ms"] == 8
    assert meta["flbas"] & 0x10 == 0  # separate metadata buffer, not extended LBAs
    # QEMU keeps the separate metadata in the same image: 256 MiB / (512 + 8) bytes per block.
    assert meta["nsze"] == (256 << 20) // ((1 << lbaf["ds"]) + 8)


def test_zoned_namespace_reports_zones(nvme_cli: str, ns_zoned: str) -> None:
    report = run_json(nvme_cli, "zns", "report-zones", ns_zoned, "-o", "json")
    zones = report["zone_list"]
    assert report["nr_zones"] == 16 == len(zones)  # 1 GiB in 64 MiB zones
    blocks = (64 << 20) // 512
    assert [z["slba"] for z in zones] == [i * blocks for i in range(16)]
    assert {z["cap"] for z in zones} == {blocks}
    assert {z["type"] for z in zones} == {"SEQWRITE_REQ"}
    # Other VM tests may have written zones before this one: only the write pointers' range is known.
    assert all(z["slba"] <= z["wp"] <= z["slba"] + blocks for z in zones)


def test_conventional_namespace_is_not_zoned(nvme_cli: str, ns_conventional: str) -> None:
    proc = subprocess.run(
        [nvme_cli, "zns", "report-zones", ns_conventional, "-o", "json"], capture_output=True
    )
    assert proc.returncode != 0


def test_polled_queues(ns_conventional: str) -> None:
    assert Path("/sys/module/nvme/parameters/poll_queues").read_text().strip() == "2"
    io_poll = Path("/sys/block") / Path(block_device(ns_conventional)).name / "queue" / "io_poll"
    assert io_poll.read_text().strip() == "1"


def test_guest_tmp_is_private() -> None:
    mounts = {line.split()[1]: line.split()[2] for line in Path("/proc/self/mounts").read_text().splitlines()}
    assert mounts["/"] == "9p"
    for path in ("/tmp", "/run", "/dev/shm"):
        assert mounts[path] == "tmpfs", path
    assert os.environ["NVTUI_SIM_DIR"].startswith("/tmp/")


def test_zeroed_namespace(ns_conventional_zeroed: str) -> None:
    dev = block_device(ns_conventional_zeroed)
    pattern = bytes(range(256)) * 16
    fd = os.open(dev, os.O_RDWR | os.O_SYNC)
    try:
        os.pwrite(fd, pattern, 4096 * 7)
        os.fsync(fd)
    finally:
        os.close(fd)
    zero_namespace(ns_conventional_zeroed)
    fd = os.open(dev, os.O_RDONLY | os.O_DIRECT)
    try:
        import mmap

        buf = mmap.mmap(-1, 1 << 16)
        assert os.preadv(fd, [buf], 0) == 1 << 16
        assert bytes(buf) == bytes(1 << 16)
    finally:
        os.close(fd)


def test_monitor_hook_reaches_qemu() -> None:
    assert vm.monitor_command("query-status")["return"]["status"] == "running"
    serial = vm.monitor_command("qom-get", {"path": "/machine/peripheral/nvme0", "property": "serial"})
    assert serial == {"return": vm.NVME_SERIAL}
    err = vm.monitor_command("no-such-command")
    assert err["error"]["class"] == "CommandNotFound"
