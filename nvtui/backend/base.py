"""The one protocol every backend implements (uring, ioctl, sim), and what discovery reports.

The CLI and the TUI pick a backend by name and never test which they hold: what differs between backends
(a load engine or none, how the LBA format is learned, the device path nvme-cli would use) is part of the
protocol, with `BackendBase` giving the answer of a backend that has nothing special to say.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from nvtui.errors import DeviceError, KernelCancelled
from nvtui.nvme.command import Command
from nvtui.nvme.completion import Completion
from nvtui.nvme.identify import CNS_NAMESPACE, LbaFormat, identify_command, lba_format_in_use

if TYPE_CHECKING:
    from nvtui.backend.histogram import LatencyHistogram

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
    # its I/O command set by the catalogue's name ("nvm", "zns", "kv"), where discovery knows it (the
    # simulator); "" when only the device can say (Identify's Namespace Identification Descriptor list)
    command_set: str = ""


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


@dataclass(frozen=True)
class SimulatedAnswer:
    """What the simulated controller answers a command the catalogue simulates (a vendor command tried before
    the drive arrives): `status` the 15-bit status field (SCT << 8 | SC), `result` the completion's DW0,
    `data` what goes to the host (cut or padded to the command's length; None: nothing); `source` the file
    and line of the entry that gives it, said with the result so it is not taken for the drive's."""

    status: int
    result: int = 0
    data: bytes | None = None
    source: str = ""


# Given a command, the catalogue's answer to it on the simulated controller, or None (the simulator's own).
Answers = Callable[[Command], SimulatedAnswer | None]


ENGINE_PATTERNS = ("randread", "randwrite", "read", "write")
# How a load engine reaches the namespace: NVMe passthrough over io_uring on its char device, io_uring reads
# and writes on its block device (O_DIRECT), or the synchronous passthrough ioctl from one thread per I/O.
ENGINE_INTERFACES = ("uring_cmd", "block", "ioctl")


@dataclass(frozen=True)
class EngineRequest:
    """What a backend's load engine is asked to repeat; the backend adds the device (its file, namespace and
    LBA format). `pattern` I/Os of `block_size` bytes, `qd` deep, for `seconds` or `max_ios` (0: no limit),
    over LBAs [first_lba, first_lba + lba_count) (None: to the namespace's end); sequential patterns wrap.
    `data`: what every write writes (None: random bytes from `seed`). Reported in slices of
    `slice_seconds`, each reaped before the next starts. `interface` (ENGINE_INTERFACES), `batched` (the
    SQEs of a round share one submit; False: one each) and `sqpoll` (a kernel thread submits) choose the
    rung of the interface ladder the run is on. `not_after_ns`: the time.monotonic_ns() by which the run
    ends, its setup (opening, the ring, its buffers) included; 0: `seconds` after its I/O starts."""

    pattern: str
    block_size: int
    qd: int
    seconds: float
    max_ios: int = 0
    first_lba: int = 0
    lba_count: int | None = None
    fixed_buffers: bool = False
    poll: bool = False
    seed: int = 1
    slice_seconds: float = 0.5
    data: bytes | None = None
    interface: str = "uring_cmd"
    batched: bool = True
    sqpoll: bool = False
    not_after_ns: int = 0


class EngineResult(Protocol):
    """A load engine's run, or one slice of it: counts and every I/O's latency."""

    @property
    def ios(self) -> int: ...
    @property
    def errors(self) -> int: ...
    @property
    def first_error(self) -> str | None: ...  # the first failed I/O's NVMe status or errno, by name
    @property
    def bytes(self) -> int: ...
    @property
    def elapsed_ns(self) -> int: ...
    @property
    def enters(self) -> int: ...  # system calls that submitted or reaped
    @property
    def latency(self) -> LatencyHistogram: ...


class Stoppable(Protocol):
    def is_set(self) -> bool: ...


class LoadEngine(Protocol):
    """A backend's ability to repeat reads or writes itself, with no Python per I/O (the uring backend's
    C engine). A backend without one says `engine = None`, and load runs go through `submit`."""

    async def run(
        self,
        request: EngineRequest,
        *,
        on_slice: Callable[[EngineResult], None] | None = None,
        stop: Stoppable | None = None,
    ) -> EngineResult:
        """Run `request`: `on_slice` sees each slice as it ends (on the event loop's thread), `stop` ends
        the run within a slice. DeviceError when the kernel fails an I/O with an errno (after draining);
        UsageError when the namespace is one the engine cannot drive."""
        ...


@runtime_checkable
class Backend(Protocol):
    """An open device. `submit` may be awaited many times concurrently; completions arrive in any order."""

    kind: str  # one of BACKEND_KINDS
    device: str  # the name it was opened with
    nsid: int  # the namespace ID of the device (0 when a controller was opened)
    notice: str | None  # one line for the user, e.g. "uring_cmd refused by the kernel; using ioctl"

    @property
    def engine(self) -> LoadEngine | None:
        """The backend's load engine, or None: load runs then go through `submit`."""
        ...

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

    @property
    def engine(self) -> LoadEngine | None:
        return None

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
        if (done.status.sct, done.status.sc) == (1, 0x2C):  # Invalid I/O Command Set
            raise DeviceError(
                f"{self.device}: namespace {self.nsid} has no LBA format: it is not of the NVM command set "
                "(Identify Namespace: Invalid I/O Command Set; a Key Value namespace has keys, not blocks)"
            )
        if not done.ok or done.data is None:
            raise DeviceError(f"{self.device}: Identify Namespace failed: {done.status}")
        if not any(done.data):  # what a controller returns for an NSID that is valid but not active
            raise DeviceError(
                f"{self.device}: namespace {self.nsid} is not active (Identify Namespace returned zeros: "
                "it is not attached, or not created)"
            )
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
