"""The synchronous ioctl backend: `NVME_IOCTL_ADMIN64_CMD` / `NVME_IOCTL_IO64_CMD` on a char device.

For comparison with the io_uring backend and for kernels without uring_cmd. Each ioctl blocks its
caller until the controller completes, so it runs in a worker thread: the event loop never waits, and
several submissions in flight run on several threads at once.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import fcntl
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from nvtui.backend.base import BackendBase, kernel_cancelled
from nvtui.backend.discovery import (
    DevicePath,
    namespace_paths,
    no_path_cause,
    nsid_of_fd,
    permission_message,
    resolve_device,
)
from nvtui.errors import DeviceError
from nvtui.nvme.command import PASSTHRU_CMD64_OFFSETS, PASSTHRU_CMD64_SIZE, Command
from nvtui.nvme.completion import Completion, Status

# include/uapi/asm-generic/ioctl.h: dir << 30 | size << 16 | type << 8 | nr, with _IOC_READ|_IOC_WRITE = 3.
_IOC_READ_WRITE = 3


def _iowr(kind: str, nr: int, size: int) -> int:
    return _IOC_READ_WRITE << 30 | size << 16 | ord(kind) << 8 | nr


# include/uapi/linux/nvme_ioctl.h
NVME_IOCTL_ADMIN64_CMD = _iowr("N", 0x47, PASSTHRU_CMD64_SIZE)
NVME_IOCTL_IO64_CMD = _iowr("N", 0x48, PASSTHRU_CMD64_SIZE)

_RESULT_OFFSET = PASSTHRU_CMD64_OFFSETS["result"]

IoctlFunction = Callable[[int, int, bytearray, bool], int]


def _ioctl(fd: int, request: int, arg: bytearray, mutate: bool) -> int:
    return int(fcntl.ioctl(fd, request, arg, mutate))


@dataclass
class _Buffer:
    """A data or metadata buffer the kernel reads from or writes into, and its address."""

    address: int
    writable: bytearray | None  # the buffer the kernel may write into; None when it only reads
    keep: object  # holds the memory alive while the ioctl runs

    @classmethod
    def none(cls) -> _Buffer:
        return cls(0, None, None)

    @classmethod
    def for_command(cls, payload: bytes | None, length: int, kernel_writes: bool) -> _Buffer:
        if length == 0:
            return cls.none()
        if not kernel_writes and payload is not None and len(payload) == length:
            # The kernel only reads the buffer: hand it the bytes object's own memory, no copy.
            pointer = ctypes.c_char_p(payload)
            return cls(ctypes.cast(pointer, ctypes.c_void_p).value or 0, None, (payload, pointer))
        buffer = bytearray(length)
        if payload:
            buffer[: len(payload)] = payload
        view = (ctypes.c_char * length).from_buffer(buffer)
        return cls(ctypes.addressof(view), buffer, view)

    def read_back(self) -> bytes | None:
        if self.writable is None:
            return None
        self.keep = None  # release the ctypes export before copying out
        return bytes(self.writable)


def describe(cmd: Command) -> str:
    return f"{'admin' if cmd.admin else 'I/O'} opcode {cmd.opcode:#04x}"


class IoctlBackend(BackendBase):
    """An open NVMe char device driven through `NVME_IOCTL_*64_CMD`."""

    kind = "ioctl"

    def __init__(
        self,
        device: str,
        path: DevicePath,
        fd: int,
        *,
        workers: int = 16,
        ioctl: IoctlFunction = _ioctl,
    ) -> None:
        self.device = device
        self.path = path
        self.nsid = path.nsid
        self.notice = None
        self._fd: int | None = fd
        self._ioctl = ioctl
        self.multipath = False  # a multipath head (open_ioctl says): the kernel routes its commands itself
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="nvtui-ioctl")

    @property
    def nvme_cli_path(self) -> str:
        return self.path.open_path

    @property
    def fd(self) -> int:
        if self._fd is None:
            raise DeviceError(f"{self.device} is closed")
        return self._fd

    async def submit(self, cmd: Command) -> Completion:
        fd = self.fd
        self._check(cmd)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._submit_on, fd, cmd)

    def submit_blocking(self, cmd: Command) -> Completion:
        """`submit` for callers without an event loop (tests, one-shot scripts)."""
        fd = self.fd
        self._check(cmd)
        return self._submit_on(fd, cmd)

    def _check(self, cmd: Command) -> None:
        if not cmd.admin and self.path.is_controller:
            raise DeviceError(
                f"{self.path.name} is a controller: I/O commands need a namespace device "
                f"such as ng{self.path.controller.removeprefix('nvme')}n1"
            )

    def _submit_on(self, fd: int, cmd: Command) -> Completion:
        # The kernel maps a buffer for the controller to write into when the opcode's bit 0 is clear
        # (nvme_is_write() in include/linux/nvme.h), so only "write" and bidirectional opcodes are read-only.
        kernel_writes = cmd.opcode & 1 == 0
        data = _Buffer.for_command(cmd.data, cmd.data_len, kernel_writes)
        metadata = _Buffer.for_command(cmd.metadata, cmd.metadata_len, kernel_writes)
        request = NVME_IOCTL_ADMIN64_CMD if cmd.admin else NVME_IOCTL_IO64_CMD
        raw = bytearray(cmd.pack_passthru_cmd64(data.address, metadata.address))
        started = time.perf_counter_ns()
        try:
            status = self._ioctl(fd, request, raw, True)
        except InterruptedError as exc:  # the driver waits uninterruptibly: EINTR means it cancelled
            raise kernel_cancelled(describe(cmd), self.device) from exc
        except OSError as exc:
            code = exc.errno or errno.EIO
            # A multipath head answers EAGAIN (admin) or ENODEV once no path is left: say why.
            cause = no_path_cause(self.path.ns_dev) if self.multipath and self.path.ns_dev else None
            raise DeviceError(
                f"{describe(cmd)} on {self.device} failed: {os.strerror(code)} "
                f"({errno.errorcode.get(code, code)})" + (f": {cause}" if cause else "")
            ) from exc
        latency = time.perf_counter_ns() - started
        if not 0 <= status <= 0x7FFF:
            raise DeviceError(f"{describe(cmd)} on {self.device}: the kernel returned {status}, not a status")
        result = int.from_bytes(raw[_RESULT_OFFSET : _RESULT_OFFSET + 8], "little")
        return Completion(
            status=Status(status),
            result=result,
            latency_ns=latency,
            data=data.read_back(),
            metadata=metadata.read_back(),
        )

    async def close(self) -> None:
        if self._fd is None:
            return
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._executor.shutdown, True)
        self.close_blocking()

    def close_blocking(self) -> None:
        self._executor.shutdown(wait=True)
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def open_ioctl(
    device: str, *, sysfs: Path = Path("/sys"), dev: Path = Path("/dev"), workers: int = 16
) -> IoctlBackend:
    """Open `device` (any name `resolve_device` accepts) read-write for the ioctl backend.

    A namespace opens its generic char device, a controller its own; `workers` threads let that many
    submissions be in flight at once.
    """
    path = resolve_device(device, sysfs=sysfs, dev=dev)
    target = path.open_path
    try:
        fd = os.open(target, os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        raise _open_error(target, exc) from exc
    if not path.is_controller:
        try:
            nsid = nsid_of_fd(fd)  # the kernel's word beats sysfs, should the two ever disagree
        except DeviceError as exc:
            os.close(fd)
            raise DeviceError(f"{target} is not an NVMe namespace device: {exc}") from exc
        if nsid != path.nsid:
            path = DevicePath(path.name, path.controller, path.ctrl_dev, path.ns_dev, nsid)
    backend = IoctlBackend(device, path, fd, workers=workers)
    backend.multipath = path.ns_dev is not None and namespace_paths(path.ns_dev, sysfs=sysfs) is not None
    return backend


def _open_error(target: str, exc: OSError) -> DeviceError:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return DeviceError(permission_message(target))
    if exc.errno in (errno.ENOENT, errno.ENXIO, errno.ENODEV):
        name = os.path.basename(target)
        return DeviceError(f"no such NVMe device /dev/{name}; `nvtui list` shows the devices")
    return DeviceError(f"cannot open {target}: {exc.strerror}")
