"""The io_uring backend: NVMe passthrough as `IORING_OP_URING_CMD` on the generic char devices.

Admin commands go to the controller's char device (`/dev/nvmeX`) with `NVME_URING_CMD_ADMIN`: the
kernel answers that command on a namespace device (`/dev/ngXnY`) with ENOTTY. I/O commands go to the
namespace device with `NVME_URING_CMD_IO`. Opening a namespace therefore opens both.

A native-multipath namespace (the head `/dev/ngSnY` of a subsystem reached over several controllers) has
no one controller: the kernel routes its I/O to a live path itself, but an admin uring_cmd goes to the
controller whose char device carries it, and once that controller is deleted (its path removed) every
command there fails with ENODEV. So for a head, admin commands go to a live controller of its paths, the
backend moving to another one when the one it holds is no longer live (or answers ENODEV: the kernel sent
nothing); with no live path left they end at once with the cause (`no_path_cause`).

Metadata (a namespace formatted with metadata in a separate buffer, FLBAS bit 4 clear): the device
transfers nlb x ms bytes of metadata for every read, write, compare and zone append, and the kernel
does not check that a buffer was given. A missing buffer means DMA to or from address 0.
- Reads: the backend supplies the buffer (nlb x ms bytes) and returns it in `Completion.metadata`.
- Writes, compares and zone appends carrying no metadata are refused with a UsageError, nothing sent:
  inventing metadata (zeros) would silently replace what the LBA's metadata holds with something
  nobody chose, and would defeat end-to-end protection. The caller passes the metadata, even zeros.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import mmap
import os
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from nvtui.backend.base import BackendBase, kernel_cancelled
from nvtui.backend.discovery import (
    DEV,
    DevicePath,
    block_device_of,
    controller_state,
    live_controllers_of,
    namespace_paths,
    no_path_cause,
    nsid_of_fd,
    permission_message,
    resolve_device,
    uring_cmd_problem,
)
from nvtui.backend.uring.ring import (
    AsyncRing,
    ControllerInaccessible,
    RawCompletion,
    Ring,
    UringUnsupported,
    errno_name,
    load,
)
from nvtui.errors import DeviceError, UsageError
from nvtui.nvme.command import Command, DataDirection
from nvtui.nvme.completion import Completion, Status
from nvtui.nvme.identify import (
    CNS_CONTROLLER,
    CNS_NAMESPACE,
    IDENTIFY_SIZE,
    LbaFormat,
    identify_command,
    lba_format_in_use,
    namespace_size,
)

if TYPE_CHECKING:  # the load engine loads when used, not with every command
    from nvtui.backend.base import EngineRequest, EngineResult, Stoppable
    from nvtui.backend.uring.engine import EngineJob

# NVM Command Set / ZNS opcodes that move per-LBA metadata, with nlb in CDW12 bits 15:0 (0-based).
OPC_WRITE, OPC_READ, OPC_COMPARE, OPC_ZONE_APPEND = 0x01, 0x02, 0x05, 0x7D
METADATA_OPCODES = frozenset({OPC_WRITE, OPC_READ, OPC_COMPARE, OPC_ZONE_APPEND})
ADMIN_FORMAT_NVM = 0x80

# Results that mean "this kernel does not do uring_cmd here", not "this command failed".
REFUSALS = (errno.EINVAL, errno.EOPNOTSUPP)

DEFAULT_FIXED_BUFFER_SIZE = 64 * 1024


class FixedBuffers:
    """Registered buffers, one per slot (one big buffer used at offsets costs a third of the IOPS).

    The memory is anonymous mmap (page aligned); a slot is taken before a command is queued and
    given back when its completion is reaped.
    """

    def __init__(self, ring: Ring, count: int, size: int):
        self.size = size
        self._memory = mmap.mmap(-1, count * size)
        self._view: Any = ring.ffi.from_buffer(self._memory)
        self._base = int(ring.ffi.cast("uintptr_t", self._view))
        ring.register_buffers([(self._base + i * size, size) for i in range(count)])
        self._ffi = ring.ffi
        self._free: deque[int] = deque(range(count))
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.uses = 0

    def address(self, index: int) -> int:
        return self._base + index * self.size

    async def take(self) -> int:
        while not self._free:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                elif self._free:
                    self._wake_one()  # we were woken but will not take it: pass it on
                raise
        self.uses += 1
        return self._free.popleft()

    def give_back(self, index: int) -> None:
        self._free.append(index)
        self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def write(self, index: int, data: bytes) -> None:
        start = index * self.size
        self._memory[start : start + len(data)] = data

    def read(self, index: int, length: int) -> bytes:
        start = index * self.size
        return self._memory[start : start + length]


def engine_job(request: EngineRequest, fd: int, nsid: int, fmt: LbaFormat, size_lbas: int) -> EngineJob:
    """The C engine's job for `request` on `fd`: the namespace's char device (passthrough interfaces) or
    its block device opened O_DIRECT (the block interface; the block layer keeps the metadata itself).
    UsageError when the engine cannot drive the namespace that way."""
    from nvtui.backend.uring.engine import EngineJob

    block = request.interface == "block"
    if fmt.extended and fmt.metadata_size and not block:
        raise UsageError(
            "the namespace interleaves metadata with its data: the engine's passthrough does not"
        )
    first = request.first_lba
    count = request.lba_count if request.lba_count is not None else size_lbas - first
    return EngineJob(
        fd=fd, nsid=nsid, lba_size=fmt.lba_size, lba_count=count,
        metadata_size=0 if block else fmt.separate_metadata, pattern=request.pattern,
        block_size=request.block_size, qd=request.qd, seconds=request.seconds, first_lba=first,
        max_ios=request.max_ios, fixed=request.fixed_buffers, iopoll=request.poll, seed=request.seed,
        slice_seconds=request.slice_seconds, data=request.data, interface=request.interface,
        batched=request.batched, sqpoll=request.sqpoll, not_after_ns=request.not_after_ns,
    )  # fmt: skip


def open_for_engine(path: str, *, block: bool, writes: bool) -> int:
    """`path` opened for an engine run: a block device only for what the run does, with O_DIRECT (no page
    cache between the run and the device); a char device read-write, as nvme-cli and the backends open
    it. DeviceError naming the path when it cannot be opened."""
    flags = (os.O_RDWR if writes or not block else os.O_RDONLY) | os.O_CLOEXEC | (os.O_DIRECT if block else 0)
    try:
        return os.open(path, flags)
    except OSError as exc:
        raise DeviceError(f"cannot open {path}: {exc.strerror or exc}") from exc


class UringEngine:
    """The uring backend's load engine: the C loop of engine.c on a ring of its own, in a worker thread."""

    def __init__(self, backend: UringBackend) -> None:
        self.backend = backend

    async def run(
        self,
        request: EngineRequest,
        *,
        on_slice: Callable[[EngineResult], None] | None = None,
        stop: Stoppable | None = None,
    ) -> EngineResult:
        backend = self.backend
        fmt, fd = backend.format, backend._ns_fd
        if fd is None or fmt is None:
            raise DeviceError(f"{backend.path.name} is a controller: a load run needs a namespace device")
        from nvtui.backend.uring.engine import run_load

        block_fd = None
        if request.interface == "block":
            name, ns_dev = backend.path.name, backend.path.ns_dev
            block = block_device_of(ns_dev) if ns_dev is not None else None
            if block is None:
                raise UsageError(f"{name} has no block device: the block layer does not drive its namespace")
            block_fd = open_for_engine(block, block=True, writes=request.pattern.endswith("write"))
        try:
            on = fd if block_fd is None else block_fd
            job = engine_job(request, on, backend.nsid, fmt, backend.size_lbas)
            return await run_load(job, on_slice=on_slice, stop=stop)
        finally:
            if block_fd is not None:
                os.close(block_fd)


class FileEngine:
    """A load engine over a namespace's device files with no backend open on it (the interface ladder,
    which drives the block device even where the kernel refuses uring_cmd): the char device for the
    passthrough interfaces, the block device for the block one, each opened for a run and closed after.
    Either may be None (the interfaces needing it cannot run); any file the engine can drive will do (the
    host tests use a regular file and /dev/zero)."""

    def __init__(
        self, nsid: int, fmt: LbaFormat, size_lbas: int, *, char_dev: str | None, block_dev: str | None
    ) -> None:
        self.nsid, self.format, self.size_lbas = nsid, fmt, size_lbas
        self.char_dev, self.block_dev = char_dev, block_dev

    async def run(
        self,
        request: EngineRequest,
        *,
        on_slice: Callable[[EngineResult], None] | None = None,
        stop: Stoppable | None = None,
    ) -> EngineResult:
        from nvtui.backend.uring.engine import run_load

        block = request.interface == "block"
        path = self.block_dev if block else self.char_dev
        if path is None:
            what = "block device" if block else "NVMe generic char device"
            raise UsageError(f"no {what} for the {request.interface} interface")
        fd = open_for_engine(path, block=block, writes=request.pattern.endswith("write"))
        try:
            job = engine_job(request, fd, self.nsid, self.format, self.size_lbas)
            return await run_load(job, on_slice=on_slice, stop=stop)
        finally:
            os.close(fd)


def _describe(cmd: Command) -> str:
    return f"{'admin' if cmd.admin else 'I/O'} opcode {cmd.opcode:#04x}"


class UringBackend(BackendBase):
    """An open NVMe device driven through io_uring `IORING_OP_URING_CMD`.

    Create it with `open_uring` on the thread of the event loop that will submit: completions run
    as task work of the submitting thread.
    """

    kind = "uring"

    def __init__(
        self,
        device: str,
        path: DevicePath,
        ctrl_fd: int,
        ns_fd: int | None,
        admin_ring: AsyncRing,
        io_ring: AsyncRing | None,
        fixed: FixedBuffers | None,
        *,
        multipath: bool = False,
    ) -> None:
        self.device = device
        self.path = path
        self.nsid = path.nsid
        self.notice = None
        self.admin_ring = admin_ring
        self.io_ring = io_ring  # the admin ring itself unless polled completions asked for their own
        self.fixed = fixed
        self.format: LbaFormat | None = None
        self.size_lbas = 0  # Identify Namespace NSZE
        self._ctrl_fd: int | None = ctrl_fd
        self._ns_fd = ns_fd
        self.multipath = multipath  # a multipath head: admin commands follow a live controller
        self._ffi, self._lib = load()

    # ---- submission ----

    async def submit(self, cmd: Command) -> Completion:
        if self._ctrl_fd is None:
            raise DeviceError(f"{self.device} is closed")
        if cmd.admin:
            ring, fd, cmd_op = self.admin_ring, self._admin_fd(), self._lib.NVME_URING_CMD_ADMIN
        else:
            if self._ns_fd is None or self.io_ring is None:
                raise DeviceError(
                    f"{self.path.name} is a controller: I/O commands need a namespace device "
                    f"such as ng{self.path.controller.removeprefix('nvme')}n1"
                )
            ring, fd, cmd_op = self.io_ring, self._ns_fd, self._lib.NVME_URING_CMD_IO
            cmd = self._with_metadata(cmd)
        slot: int | None = None
        if self.fixed is not None and not cmd.admin and 0 < cmd.data_len <= self.fixed.size:
            slot = await self.fixed.take()
        try:
            future = self._start(ring, fd, cmd_op, cmd, slot)
        except BaseException:
            if slot is not None and self.fixed is not None:
                self.fixed.give_back(slot)
            raise
        raw, data, metadata = await future
        if cmd.admin and raw.res == -errno.ENODEV and self.multipath:
            # The controller went between the check and the submission: the kernel sent nothing.
            fd = self._next_controller(cmd)
            raw, data, metadata = await self._start(ring, fd, cmd_op, cmd, None)
        completion = self._completion(cmd, raw, data, metadata)
        if cmd.admin and cmd.opcode == ADMIN_FORMAT_NVM and completion.ok and self.path.ns_dev is not None:
            await self._learn_format_async()
        return completion

    # ---- the controller admin commands go to ----

    def _admin_fd(self) -> int:
        """The controller char device for an admin command: the one held, unless this is a multipath head
        and that controller is no longer live while another one is."""
        fd = self._ctrl_fd
        if fd is None:
            raise DeviceError(f"{self.device} is closed")
        if not self.multipath or controller_state(self.path.controller) == "live":
            return fd
        return self._switch_controller() or fd  # none live: the held one answers (a path status) or fails

    def _switch_controller(self) -> int | None:
        """Move admin commands to another live controller of the head's paths; its fd, or None when there
        is none (the held controller stays)."""
        assert self.path.ns_dev is not None
        for controller in live_controllers_of(self.path.ns_dev):
            if controller == self.path.controller:
                continue
            ctrl_dev = str(DEV / controller)
            try:
                fd = _open_device(ctrl_dev)
            except DeviceError:
                continue  # gone meanwhile (or not this user's): try the next
            old, self._ctrl_fd = self._ctrl_fd, fd
            self.path = dataclasses.replace(self.path, controller=controller, ctrl_dev=ctrl_dev)
            if old is not None:
                os.close(old)  # commands in flight there keep their own reference to the file
            return fd
        return None

    def _next_controller(self, cmd: Command) -> int:
        """After ENODEV from the held controller: another live one's fd, or DeviceError saying why none."""
        gone = self.path.ctrl_dev
        fd = self._switch_controller()
        if fd is not None:
            return fd
        assert self.path.ns_dev is not None
        cause = no_path_cause(self.path.ns_dev) or f"no other live controller reaches {self.path.ns_dev}"
        raise DeviceError(f"{_describe(cmd)} on {self.device} failed: {gone} is gone: {cause}")

    def _start(
        self, ring: AsyncRing, fd: int, cmd_op: int, cmd: Command, slot: int | None
    ) -> asyncio.Future[Any]:
        ffi = self._ffi
        kernel_writes = cmd.opcode & 1 == 0  # nvme_is_write(): bit 0 clear maps a buffer the device fills
        data_buf: Any = None
        if slot is not None:
            assert self.fixed is not None
            data_addr = self.fixed.address(slot)
            if cmd.data is not None:
                self.fixed.write(slot, cmd.data.ljust(cmd.data_len, b"\0"))
        elif cmd.data_len:
            data_buf = ffi.new("char[]", cmd.data_len)
            if cmd.data:
                ffi.memmove(data_buf, cmd.data, len(cmd.data))
            data_addr = int(ffi.cast("uintptr_t", data_buf))
        else:
            data_addr = 0
        md_buf: Any = None
        md_addr = 0
        if cmd.metadata_len:
            md_buf = ffi.new("char[]", cmd.metadata_len)
            if cmd.metadata:
                ffi.memmove(md_buf, cmd.metadata, len(cmd.metadata))
            md_addr = int(ffi.cast("uintptr_t", md_buf))
        packed = cmd.pack_uring_cmd(data_addr, md_addr)
        fixed = self.fixed

        def prep(user_data: int) -> bool:
            return ring.ring.prep_uring_cmd(fd, cmd_op, packed, user_data, fixed_index=slot)

        def finish(raw: RawCompletion) -> tuple[RawCompletion, bytes | None, bytes | None]:
            # Runs when the CQE is reaped, before the slot or buffers can be reused.
            data: bytes | None = None
            if kernel_writes and cmd.data_len:
                if slot is not None:
                    assert fixed is not None
                    data = fixed.read(slot, cmd.data_len)
                else:
                    data = ffi.buffer(data_buf, cmd.data_len)[:]
            if slot is not None:
                assert fixed is not None
                fixed.give_back(slot)
            metadata = (
                ffi.buffer(md_buf, cmd.metadata_len)[:] if kernel_writes and md_buf is not None else None
            )
            return raw, data, metadata

        return ring.start(prep, keep=(data_buf, md_buf), finish=finish)

    def _completion(
        self, cmd: Command, raw: RawCompletion, data: bytes | None, metadata: bytes | None
    ) -> Completion:
        if raw.res < 0:
            code = -raw.res
            if code == errno.EINTR:
                raise kernel_cancelled(_describe(cmd), self.device)
            hint = ""
            if code == errno.ENOTTY and cmd.admin:
                hint = f"; admin commands over io_uring need the controller device {self.path.ctrl_dev}"
            raise DeviceError(
                f"{_describe(cmd)} on {self.device} failed: {errno_name(code)} ({os.strerror(code)}){hint}"
            )
        if raw.res > 0x7FFF:
            raise DeviceError(
                f"{_describe(cmd)} on {self.device}: the kernel returned {raw.res}, not a status"
            )
        return Completion(
            status=Status(raw.res), result=raw.result, latency_ns=raw.latency_ns, data=data, metadata=metadata
        )

    def _with_metadata(self, cmd: Command) -> Command:
        """Give a read its metadata buffer; refuse a write without metadata (see the module doc)."""
        fmt = self.format
        if fmt is None or not fmt.separate_metadata or cmd.opcode not in METADATA_OPCODES:
            return cmd
        nlb = (cmd.cdw12 & 0xFFFF) + 1
        needed = nlb * fmt.separate_metadata
        reads = cmd.direction is DataDirection.CONTROLLER_TO_HOST
        if cmd.metadata_len >= needed and (reads or cmd.metadata is not None):
            return cmd
        if reads:
            return cmd.with_(metadata_len=needed)
        if not 0 < cmd.metadata_len < needed:  # none, or a length alone (the kernel would send zeros)
            raise UsageError(
                f"{self.path.name} keeps {fmt.metadata_size} bytes of metadata per block in a separate "
                f"buffer: this {_describe(cmd)} of {nlb} blocks must carry {needed} bytes of metadata "
                "(pass zeros explicitly if that is what the blocks should hold)"
            )
        raise UsageError(
            f"metadata_len {cmd.metadata_len} is too small for {nlb} blocks of {fmt.metadata_size} bytes of "
            f"metadata ({needed} bytes): the device would read past the buffer"
        )

    # ---- identify at open ----

    def _identify_command(self) -> Command:
        if self.path.ns_dev is not None:
            return identify_command(CNS_NAMESPACE, self.nsid)
        return identify_command(CNS_CONTROLLER)

    def first_command(self) -> None:
        """Identify (namespace, or controller) synchronously: proves the kernel takes uring_cmd here,
        and learns the namespace's LBA format."""
        cmd = self._identify_command()
        buf = self._ffi.new("char[]", IDENTIFY_SIZE)
        packed = cmd.pack_uring_cmd(int(self._ffi.cast("uintptr_t", buf)), 0)
        op, ring = self._lib.NVME_URING_CMD_ADMIN, self.admin_ring

        def run(fd: int) -> RawCompletion:
            done: RawCompletion = ring.run_sync(
                lambda user_data: ring.ring.prep_uring_cmd(fd, op, packed, user_data), keep=(buf,)
            )
            return done

        raw = run(self._admin_fd())
        if raw.res == -errno.ENODEV and self.multipath:
            raw = run(self._next_controller(cmd))
        if -raw.res in REFUSALS:
            code = -raw.res
            raise UringUnsupported(
                f"the kernel refused NVMe passthrough over io_uring on {self.path.ctrl_dev} "
                f"({errno_name(code)}: {os.strerror(code)})"
            )
        completion = self._completion(cmd, raw, self._ffi.buffer(buf, IDENTIFY_SIZE)[:], None)
        self._learn_format(cmd, completion)

    async def _learn_format_async(self) -> None:
        cmd = self._identify_command()
        completion = await self.submit(cmd)
        self._learn_format(cmd, completion)

    def _learn_format(self, cmd: Command, completion: Completion) -> None:
        if self.path.ns_dev is None:
            return
        if not completion.ok or completion.data is None:
            raise DeviceError(
                f"Identify Namespace {self.nsid} on {self.path.ctrl_dev} failed: {completion.status}"
            )
        try:
            self.format = lba_format_in_use(completion.data)
        except ValueError as exc:
            raise DeviceError(f"{self.path.name}: unusable Identify Namespace data: {exc}") from exc
        self.size_lbas = namespace_size(completion.data)

    @property
    def nvme_cli_path(self) -> str:
        return self.path.open_path

    async def lba_format(self) -> LbaFormat | None:
        """Learned at open (the Identify that proves uring_cmd works), again after each Format NVM."""
        return self.format

    # ---- load ----

    @property
    def engine(self) -> UringEngine | None:
        """The C load engine on this namespace (none on a controller device)."""
        return UringEngine(self) if self._ns_fd is not None else None

    # ---- teardown ----

    async def close(self) -> None:
        if self._ctrl_fd is None:
            return
        rings = [self.admin_ring] + ([self.io_ring] if self.io_ring not in (None, self.admin_ring) else [])
        for ring in rings:
            assert ring is not None
            await ring.close()
        self._close_fds()

    def close_now(self) -> None:
        """Close without an event loop (commands still in flight keep their buffers)."""
        for ring in (self.admin_ring, self.io_ring):
            if ring is not None:
                ring.close_now()
        self._close_fds()

    def _close_fds(self) -> None:
        fds = [self._ctrl_fd, self._ns_fd]
        self._ctrl_fd = self._ns_fd = None
        for fd in fds:
            if fd is not None:
                os.close(fd)


def _open_device(path: str) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise DeviceError(permission_message(path)) from exc
        if exc.errno in (errno.ENOENT, errno.ENXIO, errno.ENODEV):
            raise DeviceError(f"no such NVMe device {path}; `nvtui list` shows the devices") from exc
        raise DeviceError(f"cannot open {path}: {exc.strerror}") from exc


def _make_ring(sq_entries: int, *, iopoll: bool = False) -> Ring:
    try:
        return Ring(sq_entries, iopoll=iopoll)
    except OSError as exc:
        code = exc.errno or errno.EIO
        if code in (errno.EINVAL, errno.ENOSYS, errno.EPERM):
            # EINVAL: no 128-byte SQE / big CQE support (< 5.19); ENOSYS, EPERM: io_uring off.
            raise UringUnsupported(f"io_uring_setup for NVMe passthrough failed: {exc.strerror}") from exc
        raise DeviceError(f"io_uring_setup failed: {exc.strerror}") from exc


def uring_cmd_supported() -> bool:
    """Does this kernel (and this build) offer IORING_OP_URING_CMD with big SQEs and CQEs?"""
    try:
        ring = Ring(2)
    except (OSError, UringUnsupported):
        return False
    try:
        return ring.supports(ring.lib.IORING_OP_URING_CMD)
    except OSError:
        return False
    finally:
        ring.close()


def open_uring(
    device: str,
    *,
    fixed_buffers: bool = False,
    iopoll: bool = False,
    batch: int = 1,
    sq_entries: int = 64,
    fixed_buffer_size: int = DEFAULT_FIXED_BUFFER_SIZE,
) -> UringBackend:
    """Open `device` (`/dev/ngXnY`, `ngXnY`, `/dev/nvmeX`, ...) for NVMe passthrough over io_uring.

    `fixed_buffers`: one registered buffer of `fixed_buffer_size` bytes per SQ slot for I/O data
    (larger transfers use ordinary buffers). `iopoll`: I/O on a polled ring (IORING_SETUP_IOPOLL;
    true polling needs the nvme module's poll_queues), admin commands on a second, plain ring.
    `batch` > 1: queue SQEs and submit once per loop iteration. Call on the event loop's thread.

    Raises UringUnsupported when the kernel refuses uring_cmd (the caller may fall back to ioctl),
    DeviceError for a missing or inaccessible device, UsageError for a malformed name.
    """
    problem = uring_cmd_problem()
    if problem is not None:
        raise UringUnsupported(problem)
    load()
    path = resolve_device(device)
    fds: list[int] = []
    rings: list[AsyncRing] = []
    try:
        # The device the user named first, so a permission error names it (not its controller).
        ns_fd: int | None = None
        if path.ns_dev is not None:
            ns_fd = _open_device(path.ns_dev)
            fds.append(ns_fd)
            nsid = nsid_of_fd(ns_fd)  # the kernel's word beats sysfs
            if nsid != path.nsid:
                path = DevicePath(path.name, path.controller, path.ctrl_dev, path.ns_dev, nsid)
        try:
            ctrl_fd = _open_device(path.ctrl_dev)
        except DeviceError as exc:
            if ns_fd is not None and isinstance(exc.__cause__, PermissionError):
                raise ControllerInaccessible(str(exc)) from exc
            raise
        fds.append(ctrl_fd)
        admin_ring = AsyncRing(_make_ring(sq_entries), batch=batch)
        rings.append(admin_ring)
        if not admin_ring.ring.supports(admin_ring.ring.lib.IORING_OP_URING_CMD):
            raise UringUnsupported("this kernel's io_uring has no IORING_OP_URING_CMD")
        io_ring: AsyncRing | None = None
        fixed: FixedBuffers | None = None
        if ns_fd is not None:
            io_ring = admin_ring
            if iopoll:
                io_ring = AsyncRing(_make_ring(sq_entries, iopoll=True), batch=batch)
                rings.append(io_ring)
            if fixed_buffers:
                try:
                    fixed = FixedBuffers(io_ring.ring, io_ring.ring.sq_entries, fixed_buffer_size)
                except OSError as exc:
                    raise DeviceError(
                        f"cannot register {io_ring.ring.sq_entries} fixed buffers of {fixed_buffer_size} "
                        f"bytes: {exc.strerror} (they count against RLIMIT_MEMLOCK, `ulimit -l`)"
                    ) from exc
        multipath = path.ns_dev is not None and namespace_paths(path.ns_dev) is not None
        backend = UringBackend(device, path, ctrl_fd, ns_fd, admin_ring, io_ring, fixed, multipath=multipath)
        backend.first_command()
        return backend
    except BaseException:
        for ring in rings:
            ring.close_now()
        for fd in fds:
            os.close(fd)
        raise
