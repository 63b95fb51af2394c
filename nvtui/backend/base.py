"""The one protocol every backend implements (uring, ioctl, sim), and what discovery reports.

The CLI and the TUI pick a backend by name and never test which they hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol, runtime_checkable

from nvtui.errors import KernelCancelled
from nvtui.nvme.command import Command
from nvtui.nvme.completion import Completion

BACKEND_KINDS = ("uring", "ioctl", "sim")


def kernel_cancelled(what: str, device: str) -> KernelCancelled:
    """The error for a passthrough command the nvme driver ended with EINTR (uring_cmd or ioctl alike)."""
    return KernelCancelled(
        f"{what} on {device} failed: EINTR: the kernel cancelled it without a completion (its own timeout "
        "for the command expired, or the controller was reset or removed); not sent again"
    )


@dataclass(frozen=True)
class PathInfo:
    """One path of a native-multipath namespace: the hidden disk `nvmeScCnY` under controller `nvmeC`."""

    disk: str  # "nvme1c2n1"
    controller: str  # "nvme2"
    transport: str  # the controller's: "loop", "tcp", "pcie", ...
    state: str  # the controller's state: "live", "connecting", ...
    ana_state: str  # "optimized", "non-optimized", "inaccessible", "persistent-loss", "change"; "" unknown
    ana_grpid: int | None = None  # the ANA group the namespace is in, through this controller
    ana_source: str = ""  # where ana_state comes from: "log" (the ANA log page, 0Ch) or "sysfs" (the kernel)


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
    paths: tuple[PathInfo, ...] = ()  # a native-multipath head's paths; empty for a private namespace


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
    fabrics: bool = False  # reached over NVMe over Fabrics (tcp, rdma, fc, loop), not a local bus
    subsystem: str = ""  # the kernel's subsystem device, "nvme-subsys1"
    subsysnqn: str = ""  # the NVM subsystem NQN the controller belongs to
    hostnqn: str = ""  # fabrics: the host NQN it connected with
    traddr: str = ""  # fabrics: transport address (from the kernel's `address`: traddr=...)
    trsvcid: str = ""  # fabrics: transport service id (the TCP port)


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

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> BackendBase:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
