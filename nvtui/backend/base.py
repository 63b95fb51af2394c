"""The one protocol every backend implements (uring, ioctl, sim), and what discovery reports.

The CLI and the TUI pick a backend by name and never test which they hold: what differs between backends
(a load engine or none, how the LBA format is learned, the device path nvme-cli would use) is part of the
protocol, with `BackendBase` giving the answer of a backend that has nothing special to say.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol, runtime_checkable

from nvtui.errors import DeviceError
from nvtui.nvme.command import Command
from nvtui.nvme.completion import Completion
from nvtui.nvme.identify import CNS_NAMESPACE, LbaFormat, identify_command, lba_format_in_use

BACKEND_KINDS = ("uring", "ioctl", "sim")


@dataclass(frozen=True)
class NamespaceInfo:
    name: str  # "ng0n1", "sim0n1": what the user types
    nsid: int  # read from the device or sysfs, never parsed from the name
    char_dev: str | None  # "/dev/ng0n1"; None for simulated namespaces
    block_dev: str | None  # "/dev/nvme0n1" when the block layer has it
    size_bytes: int
    lba_size: int  # bytes per logical block in the current format
    metadata_size: int = 0  # bytes of metadata per block in the current format
    zoned: bool = False
    accessible: bool = True  # this user can open the char device read-write
    access_error: str | None = None  # why not, and how to get access


@dataclass(frozen=True)
class ControllerInfo:
    name: str  # "nvme0", "sim0"
    char_dev: str | None  # "/dev/nvme0"; None for simulated controllers
    model: str
    serial: str
    firmware: str
    transport: str  # "pcie", "tcp", "rdma", "fc", "loop", "sim"
    address: str
    state: str  # "live", "resetting", ...
    simulated: bool = False
    uring_cmd: bool = True  # the kernel supports IORING_OP_URING_CMD passthrough
    accessible: bool = True
    access_error: str | None = None
    namespaces: tuple[NamespaceInfo, ...] = field(default_factory=tuple)


@runtime_checkable
class Backend(Protocol):
    """An open device. `submit` may be awaited many times concurrently; completions arrive in any order."""

    kind: str  # one of BACKEND_KINDS
    device: str  # the name it was opened with
    nsid: int  # the namespace ID of the device (0 when a controller was opened)
    notice: str | None  # one line for the user, e.g. "uring_cmd refused by the kernel; using ioctl"

    async def submit(self, cmd: Command) -> Completion:
        """Send `cmd`; raise `nvtui.errors.DeviceError` when the kernel or device fails the request
        (an errno, not an NVMe status: an NVMe error status comes back in the Completion)."""
        ...

    @property
    def nvme_cli_path(self) -> str:
        """The device as nvme-cli names it: the char device a real backend opened (`/dev/ng0n1`,
        `/dev/nvme0`), the name it was opened with for a simulated one."""
        ...

    async def lba_format(self) -> LbaFormat | None:
        """The namespace's current LBA format (None for a controller). DeviceError when the device
        cannot say (Identify Namespace fails, or its data names no usable format)."""
        ...

    async def close(self) -> None: ...

    async def __aenter__(self) -> Backend: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class BackendBase:
    """Shared plumbing: async context management. Subclasses set kind, device, nsid and implement submit."""

    kind: str = ""
    device: str = ""
    nsid: int = 0
    notice: str | None = None

    async def submit(self, cmd: Command) -> Completion:
        raise NotImplementedError

    @property
    def nvme_cli_path(self) -> str:
        return self.device

    async def lba_format(self) -> LbaFormat | None:
        """Asked of the device each time (a Format NVM may change it): Identify Namespace."""
        if not self.nsid:
            return None
        done = await self.submit(identify_command(CNS_NAMESPACE, self.nsid))
        if not done.ok or done.data is None:
            raise DeviceError(f"{self.device}: Identify Namespace failed: {done.status}")
        try:
            return lba_format_in_use(done.data)
        except ValueError as exc:
            raise DeviceError(f"{self.device}: unusable Identify Namespace data: {exc}") from exc

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> BackendBase:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
