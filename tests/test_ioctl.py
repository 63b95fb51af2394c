"""The ioctl backend without a device: ioctl numbers against the kernel header, and the marshalling of
commands, buffers, status and result through a stand-in for the kernel's NVME_IOCTL_*64_CMD."""

from __future__ import annotations

import asyncio
import ctypes
import errno
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from nvtui.backend.base import Backend
from nvtui.backend.discovery import NVME_IOCTL_ID, DevicePath
from nvtui.backend.ioctl import NVME_IOCTL_ADMIN64_CMD, NVME_IOCTL_IO64_CMD, IoctlBackend, open_ioctl
from nvtui.errors import DeviceError, KernelCancelled
from nvtui.nvme.command import PASSTHRU_CMD64_SIZE, Command
from nvtui.nvme.completion import Status

NS_PATH = DevicePath("ng0n1", "nvme0", "/dev/nvme0", "/dev/ng0n1", 1)
CTRL_PATH = DevicePath("nvme0", "nvme0", "/dev/nvme0", None, 0)


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is missing")
def test_ioctl_numbers_match_the_kernel_header(tmp_path: Path) -> None:
    source = tmp_path / "numbers.c"
    source.write_text(
        "#include <stdio.h>\n#include <linux/ioctl.h>\n#include <linux/nvme_ioctl.h>\n"
        "int main(void) {\n"
        '  printf("%lu %lu %lu %zu\\n", (unsigned long)NVME_IOCTL_ADMIN64_CMD,\n'
        "         (unsigned long)NVME_IOCTL_IO64_CMD, (unsigned long)NVME_IOCTL_ID,\n"
        "         sizeof(struct nvme_passthru_cmd64));\n"
        "  return 0;\n}\n"
    )
    binary = tmp_path / "numbers"
    subprocess.run(["gcc", "-o", str(binary), str(source)], check=True, capture_output=True)
    admin, io, ident, size = map(
        int, subprocess.run([str(binary)], check=True, capture_output=True).stdout.split()
    )
    assert (admin, io, ident) == (NVME_IOCTL_ADMIN64_CMD, NVME_IOCTL_IO64_CMD, NVME_IOCTL_ID)
    assert size == PASSTHRU_CMD64_SIZE
    assert NVME_IOCTL_ADMIN64_CMD == 0xC0504E47  # as strace prints it


class FakeKernel:
    """Does what nvme_user_cmd64() does with a struct nvme_passthru_cmd64: reads it, copies the data
    from or to user memory by address, writes the 64-bit result back, returns the status."""

    def __init__(
        self, status: int = 0, result: int = 0, fill: bytes = b"", fill_metadata: bytes = b""
    ) -> None:
        self.status = status
        self.result = result
        self.fill = fill
        self.fill_metadata = fill_metadata
        self.seen: list[tuple[int, Command, bytes | None, bytes | None]] = []
        self.errors: list[OSError] = []
        self.delay = 0.0
        self.threads: set[int] = set()

    def __call__(self, fd: int, request: int, arg: bytearray, mutate: bool) -> int:
        assert mutate and len(arg) == PASSTHRU_CMD64_SIZE
        self.threads.add(threading.get_ident())
        if self.errors:
            raise self.errors.pop(0)
        cmd, addr, md_addr, result = Command.unpack_passthru_cmd64(
            bytes(arg), admin=request == NVME_IOCTL_ADMIN64_CMD
        )
        assert result == 0
        assert bool(addr) == bool(cmd.data_len) and bool(md_addr) == bool(cmd.metadata_len)
        sent = ctypes.string_at(addr, cmd.data_len) if addr and cmd.opcode & 1 else None
        sent_md = ctypes.string_at(md_addr, cmd.metadata_len) if md_addr and cmd.opcode & 1 else None
        if addr and not cmd.opcode & 1:
            ctypes.memmove(addr, self.fill, min(len(self.fill), cmd.data_len))
        if md_addr and not cmd.opcode & 1:
            ctypes.memmove(md_addr, self.fill_metadata, min(len(self.fill_metadata), cmd.metadata_len))
        self.seen.append((request, cmd, sent, sent_md))
        if self.delay:
            time.sleep(self.delay)
        arg[72:80] = self.result.to_bytes(8, "little")
        return self.status


@pytest.fixture
def fd(tmp_path: Path) -> int:
    descriptor = os.open(tmp_path / "not-a-device", os.O_RDWR | os.O_CREAT)
    return descriptor


def backend(fd: int, kernel: FakeKernel, path: DevicePath = NS_PATH) -> IoctlBackend:
    return IoctlBackend("ng0n1" if path is NS_PATH else "nvme0", path, fd, ioctl=kernel)


async def test_identify_goes_through_the_admin_ioctl_and_returns_exactly_data_len_bytes(fd: int) -> None:
    page = bytes(range(256)) * 16
    kernel = FakeKernel(fill=page + b"overflow is not copied")
    async with backend(fd, kernel) as dev:
        assert isinstance(dev, Backend)
        done = await dev.submit(Command(opcode=0x06, admin=True, cdw10=1, data_len=4096))
    [(request, cmd, sent, _)] = kernel.seen
    assert request == NVME_IOCTL_ADMIN64_CMD
    assert (cmd.opcode, cmd.cdw10, cmd.data_len, cmd.nsid) == (0x06, 1, 4096, 0)
    assert sent is None
    assert done.data == page and done.metadata is None
    assert done.status == Status(0) and done.ok
    assert done.latency_ns > 0


async def test_write_data_and_metadata_reach_the_kernel_unchanged(fd: int) -> None:
    kernel = FakeKernel()
    payload = os.urandom(4096)
    meta = os.urandom(8)
    async with backend(fd, kernel) as dev:
        done = await dev.submit(
            Command(
                opcode=0x01,
                admin=False,
                nsid=1,
                cdw10=5,
                data_len=4096,
                data=payload,
                metadata_len=8,
                metadata=meta,
            )
        )
    [(request, cmd, sent, sent_md)] = kernel.seen
    assert request == NVME_IOCTL_IO64_CMD
    assert (cmd.nsid, cmd.cdw10, cmd.metadata_len) == (1, 5, 8)
    assert sent == payload and sent_md == meta
    assert done.data is None and done.metadata is None


async def test_short_write_data_is_padded_with_zeros_to_data_len(fd: int) -> None:
    kernel = FakeKernel()
    async with backend(fd, kernel) as dev:
        await dev.submit(Command(opcode=0x01, admin=False, nsid=1, data_len=16, data=b"abc"))
    assert kernel.seen[0][2] == b"abc" + bytes(13)


async def test_read_with_metadata_returns_both_buffers(fd: int) -> None:
    kernel = FakeKernel(fill=b"d" * 512, fill_metadata=b"m" * 8)
    async with backend(fd, kernel) as dev:
        done = await dev.submit(Command(opcode=0x02, admin=False, nsid=3, data_len=512, metadata_len=8))
    assert done.data == b"d" * 512 and done.metadata == b"m" * 8


async def test_the_kernel_writes_into_a_vendor_buffer_whose_opcode_bit_0_is_clear(fd: int) -> None:
    """Opcode bits 00 with data: nvme_is_write() is false, so the controller writes the buffer."""
    kernel = FakeKernel(fill=b"v" * 64)
    async with backend(fd, kernel) as dev:
        done = await dev.submit(Command(opcode=0xC0, admin=True, data_len=64, data=b"x" * 64))
    assert done.data == b"v" * 64


async def test_status_and_64_bit_result_come_back(fd: int) -> None:
    kernel = FakeKernel(status=0x4001, result=0x1_0000_0007)
    async with backend(fd, kernel) as dev:
        done = await dev.submit(Command(opcode=0xFF, admin=True))
    assert (done.status.sct, done.status.sc, done.status.dnr) == (0, 1, True)
    assert done.result == 0x1_0000_0007
    assert not done.ok


async def test_an_errno_is_a_device_error_naming_device_command_and_errno(fd: int) -> None:
    kernel = FakeKernel()
    kernel.errors.append(OSError(errno.EINVAL, os.strerror(errno.EINVAL)))
    async with backend(fd, kernel) as dev:
        with pytest.raises(DeviceError) as caught:
            await dev.submit(Command(opcode=0x02, admin=False, nsid=1, data_len=512))
    message = str(caught.value)
    assert "ng0n1" in message and "I/O opcode 0x02" in message and "EINVAL" in message


async def test_eintr_is_the_kernel_cancelling_the_command_and_it_is_never_sent_again(fd: int) -> None:
    # nvme_execute_rq() waits uninterruptibly and returns -EINTR only for a request it cancelled (its timeout
    # expired, a reset): the controller may have acted on it, so sending it again could repeat a write.
    kernel = FakeKernel(status=0)
    kernel.errors.append(InterruptedError(errno.EINTR, "Interrupted system call"))
    async with backend(fd, kernel) as dev:
        with pytest.raises(KernelCancelled) as caught:
            await dev.submit(Command(opcode=0x01, admin=False, nsid=1, data=b"x" * 512, data_len=512))
        assert (await dev.submit(Command(opcode=0x06, admin=True, cdw10=1, data_len=4096))).ok
    assert [cmd.opcode for _fd, cmd, _d, _m in kernel.seen] == [0x06]  # the write went to the kernel once
    message = str(caught.value)
    assert "\n" not in message and "I/O opcode 0x01 on ng0n1 failed: EINTR" in message
    assert "not sent again" in message


async def test_io_on_a_controller_is_refused_before_the_kernel_sees_it(fd: int) -> None:
    kernel = FakeKernel()
    async with backend(fd, kernel, CTRL_PATH) as dev:
        with pytest.raises(DeviceError) as caught:
            await dev.submit(Command(opcode=0x02, admin=False, nsid=1, data_len=512))
        assert (await dev.submit(Command(opcode=0x06, admin=True, cdw10=1, data_len=4096))).ok
    assert str(caught.value) == "nvme0 is a controller: I/O commands need a namespace device such as ng0n1"
    assert len(kernel.seen) == 1


async def test_submissions_run_off_the_event_loop_and_concurrently(fd: int) -> None:
    kernel = FakeKernel()
    kernel.delay = 0.2
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    async with backend(fd, kernel) as dev:
        tick = asyncio.create_task(ticker())
        started = time.perf_counter()
        done = await asyncio.gather(
            *(dev.submit(Command(opcode=0x00, admin=False, nsid=1)) for _ in range(8))
        )
        elapsed = time.perf_counter() - started
        tick.cancel()
    assert all(c.ok for c in done)
    assert elapsed < 0.2 * 8 / 2  # overlapped, not one after another
    assert ticks >= 10  # the loop kept running while the ioctls blocked
    assert threading.get_ident() not in kernel.threads


async def test_a_closed_backend_refuses(fd: int) -> None:
    dev = backend(fd, FakeKernel())
    await dev.close()
    with pytest.raises(DeviceError, match="closed"):
        await dev.submit(Command(opcode=0x06, admin=True, cdw10=1, data_len=4096))
    await dev.close()  # twice is harmless
    with pytest.raises(OSError):
        os.fstat(fd)


def test_real_ioctl_on_a_file_that_is_not_a_device(fd: int) -> None:
    dev = IoctlBackend("ng0n1", NS_PATH, fd)
    try:
        with pytest.raises(DeviceError) as caught:
            dev.submit_blocking(Command(opcode=0x06, admin=True, cdw10=1, data_len=4096))
    finally:
        dev.close_blocking()
    assert "admin opcode 0x06 on ng0n1 failed" in str(caught.value)
    assert "ENOTTY" in str(caught.value)


def _tree(root: Path, mode: int = 0o600) -> tuple[Path, Path]:
    sysfs, dev = root / "sys", root / "dev"
    ctrl = sysfs / "devices/pci0000:00/0000:00:04.0/nvme/nvme0"
    (ctrl / "ng0n1").mkdir(parents=True)
    (ctrl / "nvme0n1").mkdir()
    (ctrl / "nvme0n1/nsid").write_text("1\n")
    (ctrl / "ng0n1/device").symlink_to("../../nvme0")
    for d in ("class/nvme", "class/nvme-generic", "block"):
        (sysfs / d).mkdir(parents=True)
    (sysfs / "class/nvme/nvme0").symlink_to("../../devices/pci0000:00/0000:00:04.0/nvme/nvme0")
    (sysfs / "class/nvme-generic/ng0n1").symlink_to("../../devices/pci0000:00/0000:00:04.0/nvme/nvme0/ng0n1")
    (sysfs / "block/nvme0n1").symlink_to("../devices/pci0000:00/0000:00:04.0/nvme/nvme0/nvme0n1")
    dev.mkdir()
    for node in ("nvme0", "ng0n1"):
        (dev / node).write_bytes(b"")
        (dev / node).chmod(mode)
    return sysfs, dev


def test_open_of_a_name_that_does_not_exist(tmp_path: Path) -> None:
    sysfs, dev = _tree(tmp_path)
    with pytest.raises(DeviceError, match=r"no such NVMe device /dev/ng3n1"):
        open_ioctl("ng3n1", sysfs=sysfs, dev=dev)


def test_open_checks_the_namespace_with_the_kernel(tmp_path: Path) -> None:
    """A regular file where /dev/ng0n1 should be fails NVME_IOCTL_ID: it is not a namespace."""
    sysfs, dev = _tree(tmp_path)
    with pytest.raises(DeviceError, match=r"ng0n1 is not an NVMe namespace device"):
        open_ioctl("/dev/ng0n1", sysfs=sysfs, dev=dev)


def test_open_of_a_controller_needs_no_namespace_id(tmp_path: Path) -> None:
    sysfs, dev = _tree(tmp_path)
    opened = open_ioctl("nvme0", sysfs=sysfs, dev=dev)
    try:
        assert (opened.kind, opened.device, opened.nsid, opened.path.is_controller) == (
            "ioctl",
            "nvme0",
            0,
            True,
        )
    finally:
        opened.close_blocking()


def test_open_without_permission_explains(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to drop to another user")
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        root = Path(tmp)
        sysfs, dev = _tree(root)
        for p in [root, *root.rglob("*")]:
            if p.is_dir() and not p.is_symlink():
                p.chmod(0o755)
        (sysfs / "devices/pci0000:00/0000:00:04.0/nvme/nvme0/nvme0n1/nsid").chmod(0o644)
        script = (
            "import os\nfrom pathlib import Path\nfrom nvtui.backend.ioctl import open_ioctl\n"
            "from nvtui.errors import DeviceError, KernelCancelled\n"
            "os.setgid(65534); os.setgroups([]); os.setuid(65534)\n"
            f"try:\n    open_ioctl('nvme0', sysfs=Path({str(sysfs)!r}), dev=Path({str(dev)!r}))\n"
            "except DeviceError as e:\n    print(e)\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        ).stdout
    assert out.startswith(
        f"permission denied on {dev / 'nvme0'} (root:root 0600): run as root, or add udev rules"
    )
