"""Discovery and the ioctl backend against the real Linux nvme driver and QEMU's NVMe controller.

Runs inside the test VM (`python -m tests.vm.run -- -k ioctl_discovery`); nvme-cli in the guest is
the oracle for what the controller returns.
"""

from __future__ import annotations

import asyncio
import glob
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nvtui.backend.base import ControllerInfo, NamespaceInfo
from nvtui.backend.discovery import UDEV_HINT, list_controllers, nsid_of_fd, resolve_device
from nvtui.backend.ioctl import IoctlBackend, open_ioctl
from nvtui.errors import DeviceError
from nvtui.nvme.command import Command
from tests.vm.nvm import rw

pytestmark = pytest.mark.vm

IDENTIFY = 0x06
WRITE = 0x01
READ = 0x02


def qemu_controller() -> ControllerInfo:
    [ctrl] = [c for c in list_controllers(include_sim=False) if c.model == "QEMU NVMe Ctrl"]
    return ctrl


def namespace(ng_path: str) -> NamespaceInfo:
    [ns] = [ns for ns in qemu_controller().namespaces if ns.char_dev == ng_path]
    return ns


def test_list_finds_qemus_controller_and_its_three_namespaces(
    nvme_ctrl: str, ns_conventional: str, ns_zoned: str, ns_metadata: str
) -> None:
    ctrl = qemu_controller()
    assert ctrl.char_dev == nvme_ctrl
    assert (ctrl.transport, ctrl.state, ctrl.simulated) == ("pcie", "live", False)
    assert re.fullmatch(r"\d{4}:\d\d:\d\d\.\d", ctrl.address)
    assert ctrl.serial and ctrl.firmware
    assert ctrl.uring_cmd and ctrl.accessible  # kernel >= 5.19, and root
    by_nsid = {ns.nsid: ns for ns in ctrl.namespaces}
    assert sorted(by_nsid) == [1, 2, 3]
    assert (by_nsid[1].char_dev, by_nsid[2].char_dev, by_nsid[3].char_dev) == (
        ns_conventional,
        ns_zoned,
        ns_metadata,
    )
    assert [by_nsid[n].zoned for n in (1, 2, 3)] == [False, True, False]
    assert [by_nsid[n].metadata_size for n in (1, 2, 3)] == [0, 0, 8]
    assert [by_nsid[n].size_bytes for n in (1, 2)] == [1 << 30, 1 << 30]
    # QEMU keeps separate metadata in the same image: 256 MiB holds 256 MiB // (lba + 8) blocks.
    md = by_nsid[3]
    assert md.size_bytes == (256 << 20) // (md.lba_size + 8) * md.lba_size
    for ns in ctrl.namespaces:
        assert ns.lba_size in (512, 4096)
        assert ns.block_dev is not None and Path(ns.block_dev).exists()
        assert ns.accessible and ns.access_error is None


def test_resolve_device_agrees_with_the_kernels_nvme_ioctl_id() -> None:
    generics = sorted(glob.glob("/dev/ng*n*"))
    assert len(generics) >= 3
    for ng in generics:
        path = resolve_device(ng)
        fd = os.open(ng, os.O_RDONLY)
        try:
            assert path.nsid == nsid_of_fd(fd), ng
        finally:
            os.close(fd)
        block = "/dev/nvme" + ng.removeprefix("/dev/ng")
        assert resolve_device(block) == path
        assert (path.controller, path.ctrl_dev) == ("nvme0", "/dev/nvme0")


def nvme_cli(*args: str) -> bytes:
    return subprocess.run(["nvme", *args], check=True, capture_output=True, timeout=60).stdout


async def test_identify_controller_matches_nvme_cli_byte_for_byte(
    nvme_ctrl: str, ns_conventional: str
) -> None:
    raw = nvme_cli("admin-passthru", nvme_ctrl, "--opcode=6", "--cdw10=1", "--data-len=4096", "-r", "-b")
    assert len(raw) == 4096
    reported = json.loads(nvme_cli("id-ctrl", nvme_ctrl, "-o", "json"))
    for device in (nvme_ctrl, ns_conventional):  # the admin ioctl works on a namespace's ng too
        async with open_ioctl(device) as dev:
            done = await dev.submit(Command(opcode=IDENTIFY, admin=True, cdw10=1, data_len=4096))
        assert done.ok, done.status
        assert done.data is not None and len(done.data) == 4096
        assert done.data == raw, device
        mn = done.data[24:64].decode("ascii").strip()
        assert mn == reported["mn"].strip() == "QEMU NVMe Ctrl"


async def test_random_data_written_reads_back(ns_conventional: str) -> None:
    ns = namespace(ns_conventional)
    blocks, slba = 8, 4096
    payload = os.urandom(blocks * ns.lba_size)
    async with open_ioctl(ns_conventional) as dev:
        assert dev.nsid == ns.nsid == 1
        wrote = await dev.submit(rw(WRITE, dev.nsid, slba, blocks, ns.lba_size, data=payload))
        assert wrote.ok, wrote.status
        assert wrote.data is None
        read = await dev.submit(rw(READ, dev.nsid, slba, blocks, ns.lba_size))
        assert read.ok, read.status
        assert read.data == payload
        assert read.latency_ns > 0
    with open(ns.block_dev or "", "rb") as block:  # the block layer sees the same bytes
        os.posix_fadvise(block.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        block.seek(slba * ns.lba_size)
        assert block.read(len(payload)) == payload


async def test_many_reads_in_flight_at_once(ns_conventional: str) -> None:
    ns = namespace(ns_conventional)
    async with open_ioctl(ns_conventional) as dev:
        done = await asyncio.gather(
            *(dev.submit(rw(READ, dev.nsid, i * 8, 8, ns.lba_size)) for i in range(32))
        )
    assert all(c.ok and c.data is not None and len(c.data) == 8 * ns.lba_size for c in done)


async def test_an_unknown_opcode_is_invalid_command_opcode(nvme_ctrl: str, ns_conventional: str) -> None:
    async with open_ioctl(nvme_ctrl) as ctrl:
        admin = await ctrl.submit(Command(opcode=0xFC, admin=True))
    async with open_ioctl(ns_conventional) as ns:
        io = await ns.submit(Command(opcode=0x7C, admin=False, nsid=ns.nsid))
    for done in (admin, io):
        assert (done.status.sct, done.status.sc) == (0, 1)
        assert done.status.name == "Invalid Command Opcode"
        assert not done.ok


async def test_separate_metadata_round_trips(ns_metadata: str) -> None:
    ns = namespace(ns_metadata)
    assert ns.metadata_size == 8
    blocks, slba = 4, 64
    payload = os.urandom(blocks * ns.lba_size)
    meta = os.urandom(blocks * ns.metadata_size)
    async with open_ioctl(ns_metadata) as dev:
        assert dev.nsid == 3
        wrote = await dev.submit(
            rw(
                WRITE,
                dev.nsid,
                slba,
                blocks,
                ns.lba_size,
                data=payload,
                metadata=meta,
                metadata_len=len(meta),
            )
        )
        assert wrote.ok, wrote.status
        read = await dev.submit(rw(READ, dev.nsid, slba, blocks, ns.lba_size, metadata_len=len(meta)))
    assert read.ok, read.status
    assert read.data == payload
    assert read.metadata == meta


async def test_io_to_the_controller_device_is_refused(nvme_ctrl: str) -> None:
    async with open_ioctl(nvme_ctrl) as dev:
        assert isinstance(dev, IoctlBackend) and dev.nsid == 0
        with pytest.raises(DeviceError, match="nvme0 is a controller: I/O commands need a namespace device"):
            await dev.submit(rw(READ, 1, 0, 1, 512))


def test_permission_denied_for_an_unprivileged_user(ns_conventional: str, nvme_ctrl: str) -> None:
    script = (
        "import os, sys\n"
        "from nvtui.backend.ioctl import open_ioctl\n"
        "from nvtui.errors import DeviceError\n"
        "os.setgid(65534); os.setgroups([]); os.setuid(65534)\n"
        "for device in sys.argv[1:]:\n"
        "    try:\n"
        "        open_ioctl(device)\n"
        "        print('opened', device)\n"
        "    except DeviceError as e:\n"
        "        print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, ns_conventional, nvme_ctrl], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    hint = UDEV_HINT
    assert 'KERNEL=="ng[0-9]*", GROUP="disk", MODE="0660"' in hint
    assert out == [
        f"permission denied on {ns_conventional} (root:root 0600): {hint}",
        f"permission denied on {nvme_ctrl} (root:root 0600): {hint}",
    ]


def test_a_missing_device_is_a_device_error() -> None:
    with pytest.raises(DeviceError, match=r"no such NVMe device /dev/ng3n1; `nvtui list` shows the devices"):
        open_ioctl("/dev/ng3n1")
