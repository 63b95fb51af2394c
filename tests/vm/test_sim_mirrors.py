"""The simulator refuses what the real Linux driver refuses, checked against the driver itself in the VM:
an I/O passthrough command whose NSID is not the namespace of the char device it is sent on (the kernel's
nvme_validate_passthru_nsid) fails with EINVAL before anything reaches the controller, and the kernel
logs it. The raw ioctl is used here, not nvtui's backends, so nothing of nvtui's own checks stands between
the command and the driver."""

from __future__ import annotations

import asyncio
import ctypes
import errno
import fcntl
import os
from pathlib import Path

import pytest

from nvtui.backend.ioctl import NVME_IOCTL_IO64_CMD
from nvtui.backend.sim import open_sim
from nvtui.errors import DeviceError
from nvtui.nvme.command import Command

pytestmark = pytest.mark.vm

FLUSH, READ = 0x00, 0x02


def kernel_ioctl(device: str, cmd: Command) -> int:
    """The command through NVME_IOCTL_IO64_CMD on `device`: 0, or the errno the kernel refused it with."""
    buf = ctypes.create_string_buffer(max(cmd.data_len, 1))
    raw = bytearray(cmd.pack_passthru_cmd64(ctypes.addressof(buf) if cmd.data_len else 0))
    fd = os.open(device, os.O_RDWR)
    try:
        fcntl.ioctl(fd, NVME_IOCTL_IO64_CMD, raw)
    except OSError as exc:
        return exc.errno or -1
    finally:
        os.close(fd)
    return 0


def kernel_log_since(offset_fd: int) -> str:
    lines = []
    while True:
        try:
            lines.append(os.read(offset_fd, 8192).decode(errors="replace"))
        except BlockingIOError:
            return "".join(lines)
        except OSError as exc:
            if exc.errno == errno.EPIPE:  # overwritten records: keep reading
                continue
            raise


@pytest.mark.parametrize(
    "cmd",
    [
        Command(FLUSH, False, nsid=2),
        Command(FLUSH, False, nsid=0xFFFF_FFFF),
        Command(READ, False, nsid=2, data_len=512),
    ],
    ids=["flush nsid 2", "flush every namespace", "read nsid 2"],
)
def test_an_io_command_for_another_namespace_is_refused_by_the_driver_and_the_simulator(
    cmd: Command, ns_conventional: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kmsg = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    try:
        os.lseek(kmsg, 0, os.SEEK_END)
        assert kernel_ioctl(ns_conventional, cmd) == errno.EINVAL  # the real driver, namespace 1's device
        logged = kernel_log_since(kmsg)
    finally:
        os.close(kmsg)
    assert f"nsid ({cmd.nsid}) in cmd does not match nsid (1) of namespace" in logged
    assert kernel_ioctl(ns_conventional, Command(FLUSH, False, nsid=1)) == 0  # its own namespace: fine

    monkeypatch.setenv("NVTUI_SIM_DIR", str(tmp_path / "sim"))

    async def simulated() -> None:
        async with open_sim("sim0n1") as ns:
            with pytest.raises(DeviceError, match="EINVAL"):
                await ns.submit(cmd)
            assert (await ns.submit(Command(FLUSH, False, nsid=1))).ok

    asyncio.run(simulated())
