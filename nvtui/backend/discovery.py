"""Finding NVMe devices: name resolution and the controller/namespace list, all from sysfs.

The kernel's layout (drivers/nvme/host/core.c, sysfs.c, multipath.c):

- controllers are class devices under `/sys/class/nvme/nvmeX`, linked to
  `/sys/devices/<bus path>/nvme/nvmeX`, with the attributes `model`, `serial`, `firmware_rev`,
  `transport`, `address`, `state`, `cntlid`;
- without native multipath a namespace is a block disk `nvmeXnY` and a generic char device `ngXnY`,
  both children of the controller (`/sys/block/nvmeXnY`, `/sys/class/nvme-generic/ngXnY`);
- with native multipath the head disk `nvmeSnY` and its char device `ngSnY` are children of the
  subsystem (`/sys/devices/virtual/nvme-subsystem/nvme-subsysS`), and each path is a hidden disk
  `nvmeScCnY` under controller `nvmeC`.

Either way `ngAnB` and the disk `nvmeAnB` share their numbers. The namespace ID is read from the
disk's `nsid` attribute, never from a name: on kernel 6.12 `ng0n1` can be namespace 2.
"""

from __future__ import annotations

import errno
import fcntl
import grp
import os
import pwd
import re
import stat
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from nvtui.backend.base import ControllerInfo, NamespaceInfo, PathInfo
from nvtui.errors import DeviceError, UsageError
from nvtui.nvme.command import Command
from nvtui.nvme.identify import CNS_NAMESPACE, identify_command, lba_format_in_use

SYSFS = Path("/sys")
DEV = Path("/dev")
PROC = Path("/proc")

# include/uapi/asm-generic/ioctl.h: _IO(type, nr) = type << 8 | nr (no direction, no size).
NVME_IOCTL_ID = ord("N") << 8 | 0x40

URING_CMD_MIN_KERNEL = (5, 19)  # IORING_OP_URING_CMD for NVMe passthrough arrived in 5.19

ACCEPTED_FORMS = "/dev/ngXnY or ngXnY (a namespace), /dev/nvmeX or nvmeX (a controller), or nvmeXnY"
# Both devices: uring_cmd sends admin commands to the controller's char device (the kernel refuses them on
# a namespace's), so access to ngXnY alone is not enough.
UDEV_HINT = (
    "run as root, or add udev rules such as "
    'KERNEL=="ng[0-9]*", GROUP="disk", MODE="0660" and '
    'KERNEL=="nvme[0-9]*", SUBSYSTEM=="nvme", GROUP="disk", MODE="0660" and join that group'
)

_NAME = re.compile(
    r"""^(?:/dev/)?(?:
        ng(?P<ng_a>\d+)n(?P<ng_b>\d+)
      | nvme(?P<ctrl>\d+)
      | nvme(?P<blk_a>\d+)n(?P<blk_b>\d+)
      | nvme(?P<path_s>\d+)c(?P<path_c>\d+)n(?P<path_b>\d+)
    )$""",
    re.VERBOSE,
)
_CONTROLLER_NAME = re.compile(r"^nvme\d+$")
_PATH_DISK = re.compile(r"^nvme(\d+)c(\d+)n(\d+)$")


@dataclass(frozen=True)
class DevicePath:
    """Where a device name leads: the namespace's char device (if any) and its controller."""

    name: str  # normalised: "ng0n1" or "nvme0"
    controller: str  # "nvme0"
    ctrl_dev: str  # "/dev/nvme0"
    ns_dev: str | None  # "/dev/ng0n1"; None for a controller
    nsid: int  # 0 for a controller

    @property
    def is_controller(self) -> bool:
        return self.ns_dev is None

    @property
    def open_path(self) -> str:
        """The char device a backend opens: the namespace's, or the controller's."""
        return self.ns_dev if self.ns_dev is not None else self.ctrl_dev


def _no_such(name: str) -> DeviceError:
    return DeviceError(f"no such NVMe device /dev/{name}; `nvtui list` shows the devices")


def _read_attr(path: Path | str) -> str | None:
    """A sysfs attribute's text (a page at most, as sysfs serves them), or None when it cannot be read.
    Plain os calls: a listing reads thousands of these on a large host, and a text file object per read
    costs more than the read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return os.read(fd, 4096).decode(errors="replace").strip()
    except OSError:
        return None
    finally:
        os.close(fd)


def _read_int(path: Path) -> int | None:
    text = _read_attr(path)
    if text is None:
        return None
    try:
        return int(text, 0)
    except ValueError:
        return None


def _natural_key(name: str) -> list[object]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def resolve_device(name: str, *, sysfs: Path = SYSFS, dev: Path = DEV) -> DevicePath:
    """Resolve a user's device name to its char devices, controller and namespace ID.

    Accepted: `/dev/ngXnY` or `ngXnY` (a namespace's generic char device), `/dev/nvmeX` or `nvmeX`
    (a controller), and the block device `nvmeXnY` / `/dev/nvmeXnY`, which is mapped to its generic
    char device `ngXnY` (passthrough never goes through the block device). A multipath path disk
    `nvmeScCnY` maps to the head's char device `ngSnY`, with `nvmeC` as its controller. A path that
    leads to one of these through symlinks (`/dev/disk/by-id/nvme-...`) is the device it leads to.
    Simulated devices (`sim...`) are not handled here.

    Raises UsageError for a malformed name, DeviceError for a well-formed one that does not exist.
    """
    match = _NAME.match(name.strip())
    if match is None:
        real = _real_device_name(name, sysfs=sysfs, dev=dev)
        if real is None:
            raise UsageError(f"not an NVMe device name: {name!r}; expected {ACCEPTED_FORMS}")
        match = _NAME.match(real)
        assert match is not None
    groups = match.groupdict()
    if groups["ctrl"] is not None:
        controller = f"nvme{groups['ctrl']}"
        if not (sysfs / "class" / "nvme" / controller).exists():
            raise _no_such(controller)
        ctrl_dev = _dev_node(dev, controller)
        return DevicePath(name=controller, controller=controller, ctrl_dev=ctrl_dev, ns_dev=None, nsid=0)

    preferred: str | None = None
    if groups["ng_a"] is not None:
        a, b = groups["ng_a"], groups["ng_b"]
    elif groups["blk_a"] is not None:
        a, b = groups["blk_a"], groups["blk_b"]
        if not (sysfs / "block" / f"nvme{a}n{b}").exists():
            raise _no_such(f"nvme{a}n{b}")
    else:
        a, b = groups["path_s"], groups["path_b"]
        path_disk = f"nvme{a}c{groups['path_c']}n{b}"
        if not (sysfs / "block" / path_disk).exists():
            raise _no_such(path_disk)
        preferred = f"nvme{groups['path_c']}"
    ng = f"ng{int(a)}n{int(b)}"
    generic = sysfs / "class" / "nvme-generic" / ng
    if not generic.exists():
        if groups["ng_a"] is None:
            raise DeviceError(
                f"nvme{a}n{b} has no generic char device /dev/{ng} (the kernel creates them from 5.13 on); "
                "`nvtui list` shows the devices"
            )
        raise _no_such(ng)
    ns_dev = _dev_node(dev, ng)
    controllers = _controllers_of_generic(generic, sysfs)
    if not controllers:
        raise DeviceError(f"cannot find the controller of /dev/{ng} in {sysfs}")
    controller = preferred if preferred in controllers else controllers[0]
    nsid = _nsid_from_sysfs(generic, sysfs)
    if nsid is None:
        nsid = _nsid_from_device(ns_dev)
    return DevicePath(
        name=ng, controller=controller, ctrl_dev=_dev_node(dev, controller), ns_dev=ns_dev, nsid=nsid
    )


def transport_of(name: str, *, sysfs: Path = SYSFS, dev: Path = DEV) -> str | None:
    """The transport of the controller device `name` leads to, as the kernel names it in
    /sys/class/nvme/nvmeX/transport (`pcie`, `tcp`, `rdma`, `fc`, `loop`); None when sysfs does not say.
    UsageError / DeviceError for a name that is no NVMe device, as `resolve_device` raises them."""
    controller = resolve_device(name, sysfs=sysfs, dev=dev).controller
    return _read_attr(sysfs / "class" / "nvme" / controller / "transport") or None


def _real_device_name(name: str, *, sysfs: Path, dev: Path) -> str | None:
    """The kernel's name of the device node `name` leads to through symlinks (a udev link, a
    /dev/disk/by-id/ entry, a harness's own link), or None when it is not a path to an NVMe node.

    The link is resolved to the node it ends at: a node in `dev` under an NVMe name is that device; any
    other character or block device is looked up by its number in sysfs (`/sys/dev/char/MAJ:MIN`), so a
    node made elsewhere with mknod is found too. UsageError when the path leads to another kind of device.
    """
    if (not name.startswith(("/", ".")) and os.sep not in name) or not os.path.lexists(name):
        return None  # a bare name that is not an NVMe one, or nothing there: nothing to resolve
    real = Path(os.path.realpath(name))
    if real.parent == Path(os.path.realpath(dev)) and _NAME.match(real.name):
        return real.name
    try:
        st = os.stat(real)
    except OSError as exc:
        raise DeviceError(f"{name}: {exc.strerror}") from None
    kind = "char" if stat.S_ISCHR(st.st_mode) else "block" if stat.S_ISBLK(st.st_mode) else None
    if kind is None:
        return None
    number = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
    entry = sysfs / "dev" / kind / number
    found = entry.resolve().name if entry.exists() else None
    if found is None or not _NAME.match(found):
        shown = f"{name} -> {real}" if str(real) != name else name
        raise UsageError(f"{shown} (device {number}) is not an NVMe device; expected {ACCEPTED_FORMS}")
    return found


def _dev_node(dev: Path, name: str) -> str:
    node = dev / name
    if not node.exists():
        raise DeviceError(f"sysfs lists {name} but {node} is missing (no devtmpfs or udev?)")
    return str(node)


def _disk_of_generic(generic: Path, sysfs: Path) -> Path:
    """The block disk sharing the generic char device's numbers: ngAnB -> /sys/block/nvmeAnB."""
    return sysfs / "block" / ("nvme" + generic.name[2:])


def _path_disks_of_generic(generic: Path, sysfs: Path, parent: Path | None = None) -> list[tuple[str, str]]:
    """A native-multipath head's paths as (path disk, controller): `nvme1c2n1` is reached through `nvme2`.

    The head disk links to its path disks in its `multipath` folder (kernel 4.15+); without it, the
    subsystem's controllers are scanned for a path disk of this head."""
    disk = _disk_of_generic(generic, sysfs)
    found: list[tuple[str, str]] = []
    paths = disk / "multipath"
    candidates: Iterable[Path] = sorted(paths.iterdir()) if paths.is_dir() else ()
    for path_disk in candidates:
        m = _PATH_DISK.match(path_disk.name)
        if m:
            found.append((path_disk.name, f"nvme{int(m.group(2))}"))
    if not found:
        if parent is None:
            parent_link = generic / "device"
            parent = parent_link.resolve() if parent_link.exists() else generic.resolve().parent
        head_number = generic.name.split("n")[-1]
        try:
            ctrls = sorted(parent.iterdir(), key=lambda p: _natural_key(p.name))
        except OSError:
            ctrls = []
        for ctrl in ctrls:
            if not _CONTROLLER_NAME.match(ctrl.name):
                continue
            suffix = f"c{ctrl.name[4:]}n{head_number}"
            try:
                names = sorted(p.name for p in ctrl.iterdir())
            except OSError:
                continue
            found.extend((n, ctrl.name) for n in names if n.endswith(suffix) and _PATH_DISK.match(n))
    return sorted(set(found), key=lambda pair: _natural_key(pair[1]))


def block_device_of(ns_dev: str, *, sysfs: Path = SYSFS, dev: Path = DEV) -> str | None:
    """The block device of a namespace's generic char device (`/dev/ngAnB` -> `/dev/nvmeAnB`), or None when
    the block layer does not have it (a namespace of a command set it does not support)."""
    disk = _disk_of_generic(Path(ns_dev), sysfs)
    node = dev / disk.name
    return str(node) if disk.exists() and node.exists() else None


def _controllers_of_generic(generic: Path, sysfs: Path) -> list[str]:
    """Controllers reaching a namespace char device, live ones first.

    The char device's parent (its `device` link) is the controller itself, or with native multipath
    the subsystem, whose controllers reach the namespace through path disks `nvmeScCnB`.
    """
    parent_link = generic / "device"
    try:  # the link's last name is the parent's: no need to resolve the whole chain (4,096 namespaces)
        parent_name = os.path.basename(os.readlink(parent_link))
    except OSError:
        parent_name = None
    controller_class = sysfs / "class" / "nvme"
    if parent_name and _CONTROLLER_NAME.match(parent_name) and (controller_class / parent_name).exists():
        return [parent_name]
    found = sorted({ctrl for _disk, ctrl in _path_disks_of_generic(generic, sysfs)}, key=_natural_key)
    live = [c for c in found if _read_attr(sysfs / "class" / "nvme" / c / "state") == "live"]
    return live + [c for c in found if c not in live]


def _paths_of_generic(generic: Path, sysfs: Path) -> tuple[PathInfo, ...]:
    """A multipath head's paths with their controller, transport, state and ANA state (as the kernel
    reports it in sysfs: `ana_state` and `ana_grpid` of each path disk, when the controller reports ANA).
    Empty for a namespace private to one controller."""
    parent_link = generic / "device"
    try:
        parent_name = os.path.basename(os.readlink(parent_link))
    except OSError:
        parent_name = None
    if parent_name and _CONTROLLER_NAME.match(parent_name):
        return ()
    out: list[PathInfo] = []
    for disk, ctrl in _path_disks_of_generic(generic, sysfs):
        ctrl_dir = sysfs / "class" / "nvme" / ctrl
        block = sysfs / "block" / disk
        ana = _read_attr(block / "ana_state") or ""
        out.append(
            PathInfo(
                disk=disk,
                controller=ctrl,
                transport=_read_attr(ctrl_dir / "transport") or "",
                state=_read_attr(ctrl_dir / "state") or "gone",
                ana_state=ana,
                ana_grpid=_read_int(block / "ana_grpid"),
                ana_source="sysfs" if ana else "",
            )
        )
    return tuple(out)


def _nsid_from_sysfs(generic: Path, sysfs: Path) -> int | None:
    def candidates() -> Iterator[Path]:  # the last one resolves a path: only when the others are missing
        yield _disk_of_generic(generic, sysfs) / "nsid"
        yield generic / "nsid"
        yield generic.resolve().parent / ("nvme" + generic.name[2:]) / "nsid"

    for candidate in candidates():
        nsid = _read_int(candidate)
        if nsid is not None:
            return nsid
    return None


def _nsid_from_device(ns_dev: str) -> int:
    try:
        fd = os.open(ns_dev, os.O_RDONLY)
    except OSError as exc:
        raise DeviceError(
            f"cannot read the namespace ID of {ns_dev} from sysfs nor open it: {exc.strerror}"
        ) from exc
    try:
        return nsid_of_fd(fd)
    finally:
        os.close(fd)


def nsid_of_fd(fd: int) -> int:
    """The namespace ID of an open NVMe char device, from the kernel (`NVME_IOCTL_ID`).

    This is the authoritative check once a device is open; on a controller device the kernel
    answers with the only namespace's ID, or fails (EINVAL / ENOTTY) when it has several.
    """
    while True:
        try:
            return int(fcntl.ioctl(fd, NVME_IOCTL_ID))
        except InterruptedError:
            continue
        except OSError as exc:
            raise DeviceError(f"NVME_IOCTL_ID failed: {os.strerror(exc.errno or errno.EIO)}") from exc


def access_problem(path: str) -> str | None:
    """None when this user can open `path` read-write; else why not and how to get access."""
    if os.access(path, os.R_OK | os.W_OK):
        return None
    try:
        st = os.stat(path)
    except OSError as exc:
        return f"cannot open {path}: {exc.strerror}"
    return permission_message(path, st)


def permission_message(path: str, st: os.stat_result | None = None) -> str:
    """ "permission denied on /dev/ng0n1 (root:root 0600): run as root, or add a udev rule ..."."""
    if st is None:
        try:
            st = os.stat(path)
        except OSError:
            return f"permission denied on {path}: {UDEV_HINT}"
    try:
        owner = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        owner = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return f"permission denied on {path} ({owner}:{group} {stat.S_IMODE(st.st_mode):04o}): {UDEV_HINT}"


def kernel_version(release: str | None = None) -> tuple[int, int]:
    """(major, minor) from `uname -r`, e.g. "6.1.0-26-amd64" -> (6, 1)."""
    m = re.match(r"(\d+)\.(\d+)", release if release is not None else os.uname().release)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def uring_cmd_problem(*, proc: Path = PROC, release: str | None = None) -> str | None:
    """None when this kernel lets this user send NVMe passthrough over io_uring; else why not."""
    version = kernel_version(release)
    if version < URING_CMD_MIN_KERNEL:
        return f"kernel {version[0]}.{version[1]} predates io_uring NVMe passthrough (5.19)"
    disabled = _read_int(proc / "sys" / "kernel" / "io_uring_disabled")
    if disabled == 2:
        return "io_uring is disabled (kernel.io_uring_disabled = 2)"
    if disabled == 1 and os.geteuid() != 0:
        group = _read_int(proc / "sys" / "kernel" / "io_uring_group")
        if group is None or group < 0 or group not in {os.getegid(), *os.getgroups()}:
            return "io_uring is limited to root and kernel.io_uring_group (kernel.io_uring_disabled = 1)"
    return None


def _namespace_info(generic: Path, sysfs: Path, dev: Path) -> NamespaceInfo | None:
    disk = _disk_of_generic(generic, sysfs)
    nsid = _nsid_from_sysfs(generic, sysfs)
    if nsid is None:
        return None
    char_dev = str(dev / generic.name)
    block_node = dev / disk.name
    sectors = _read_int(disk / "size") or 0
    zoned = _read_attr(disk / "queue" / "zoned")
    problem = access_problem(char_dev) if Path(char_dev).exists() else f"{char_dev} is missing"
    # `metadata_bytes` (bytes of metadata per block) is exposed by newer kernels (6.12 has it, 6.1 not);
    # without it the device itself says, when this user may ask it.
    metadata = _read_int(disk / "metadata_bytes")
    if metadata is None:
        metadata = metadata_size_from_device(char_dev, nsid) if problem is None else 0
    paths = _paths_of_generic(generic, sysfs)
    lost = _no_usable_path(generic.name, paths) if paths else None
    return NamespaceInfo(
        name=generic.name,
        nsid=nsid,
        char_dev=char_dev,
        block_dev=str(block_node) if block_node.exists() else None,
        size_bytes=sectors * 512,  # the block layer counts 512-byte sectors whatever the LBA size
        lba_size=_read_int(disk / "queue" / "logical_block_size") or 0,
        metadata_size=metadata,
        zoned=zoned not in (None, "none"),
        accessible=problem is None and lost is None,
        access_error=problem or lost,
        paths=paths,
    )


def metadata_size_from_device(char_dev: str, nsid: int) -> int:
    """Metadata bytes per block of the namespace's current format, from Identify Namespace (CNS 00h)
    over the admin ioctl; 0 when the device cannot be asked."""
    from nvtui.backend.ioctl import IoctlBackend  # here: ioctl imports this module

    try:
        fd = os.open(char_dev, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return 0
    name = os.path.basename(char_dev)
    backend = IoctlBackend(name, DevicePath(name, "", "", char_dev, nsid), fd, workers=1)
    try:
        done = backend.submit_blocking(identify_command(CNS_NAMESPACE, nsid))
    except DeviceError:
        return 0
    finally:
        backend.close_blocking()
    if not done.ok or done.data is None:
        return 0
    try:
        return lba_format_in_use(done.data).metadata_size
    except ValueError:
        return 0


#: Transports of NVMe over Fabrics (drivers/nvme/host: tcp.c, rdma.c, fc.c, and the target's loop.c).
FABRICS_TRANSPORTS = frozenset({"tcp", "rdma", "fc", "loop"})


def parse_address(text: str) -> dict[str, str]:
    """The kernel's fabrics `address` attribute as a mapping: "traddr=127.0.0.1,trsvcid=4420,src_addr=..."
    -> {"traddr": "127.0.0.1", "trsvcid": "4420", "src_addr": ...}. A PCIe address (no "=") gives {}."""
    out: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.strip().partition("=")
        if sep and key:
            out[key] = value
    return out


LID_ANA = 0x0C
ANA_LOG_BYTES = 4096


def ana_log_states(char_dev: str) -> dict[int, tuple[str, int]] | None:
    """{nsid: (ANA state, ANA group ID)} from the controller's Asymmetric Namespace Access log page (Get Log
    Page, LID 0Ch, over the admin ioctl, with RAE set: the kernel's pending ANA change event stays pending),
    decoded with the `ana-log` layout; None when the controller cannot be asked or does not answer."""
    from nvtui import structures
    from nvtui.backend.ioctl import IoctlBackend  # here: ioctl imports this module
    from nvtui.nvme.decode.base import Field, Group

    try:
        fd = os.open(char_dev, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    name = os.path.basename(char_dev)
    backend = IoctlBackend(name, DevicePath(name, name, char_dev, None, 0), fd, workers=1)
    numd = ANA_LOG_BYTES // 4 - 1  # 0-based
    command = Command(
        opcode=0x02, admin=True, nsid=0xFFFFFFFF, cdw10=(numd & 0xFFFF) << 16 | 1 << 15 | LID_ANA,
        cdw11=numd >> 16, data_len=ANA_LOG_BYTES,
    )  # fmt: skip
    try:
        done = backend.submit_blocking(command)
    except DeviceError:
        return None
    finally:
        backend.close_blocking()
    if not done.ok or done.data is None:
        return None
    try:
        groups = structures.decode("ana-log", done.data)["groups"]
    except (KeyError, ValueError):
        return None
    out: dict[int, tuple[str, int]] = {}
    for group in groups.records if isinstance(groups, Group) else ():
        anas, agid, nsids = group["anas"], group["agid"], group["nsids"]
        if not isinstance(anas, Field) or not isinstance(agid, Field) or not isinstance(nsids, Group):
            continue
        for entry in nsids.records:
            nsid = entry["nsid"]
            if isinstance(nsid, Field) and isinstance(nsid.value, int) and isinstance(agid.value, int):
                out[nsid.value] = (anas.meaning, agid.value)
    return out


def with_ana_log(controllers: list[ControllerInfo]) -> list[ControllerInfo]:
    """`controllers` with each multipath path's ANA state read from its controller's ANA log page (source
    "log"); a path whose controller does not answer keeps the kernel's sysfs state."""
    from dataclasses import replace

    asked: dict[str, dict[int, tuple[str, int]] | None] = {}
    by_name = {c.name: c for c in controllers}

    def states(ctrl: str) -> dict[int, tuple[str, int]] | None:
        if ctrl not in asked:
            c = by_name.get(ctrl)
            usable_ctrl = c is not None and c.char_dev and c.accessible and c.state == "live"
            asked[ctrl] = ana_log_states(c.char_dev) if usable_ctrl and c is not None and c.char_dev else None
        return asked[ctrl]

    def update(ns: NamespaceInfo) -> NamespaceInfo:
        if not ns.paths:
            return ns
        paths = []
        for path in ns.paths:
            found = (states(path.controller) or {}).get(ns.nsid) if path.ana_grpid is not None else None
            if found is not None:
                path = replace(path, ana_state=found[0], ana_grpid=found[1], ana_source="log")
            paths.append(path)
        return replace(ns, paths=tuple(paths))

    updated: dict[str, NamespaceInfo] = {}
    out = []
    for c in controllers:
        namespaces = []
        for ns in c.namespaces:
            if ns.name not in updated:
                updated[ns.name] = update(ns)
            namespaces.append(updated[ns.name])
        out.append(replace(c, namespaces=tuple(namespaces)))
    return out


def transport_text(c: ControllerInfo) -> str:
    """ "pcie", "loop", "tcp 127.0.0.1:4420", "simulated": how the controller is reached."""
    if c.simulated:
        return "simulated"
    if c.fabrics and c.traddr:
        return f"{c.transport} {c.traddr}:{c.trsvcid}" if c.trsvcid else f"{c.transport} {c.traddr}"
    return c.transport


def path_line(p: PathInfo) -> str:
    """ "nvme1c2n1  nvme2 tcp live, ANA optimized (group 1, log)": one path of a multipath namespace."""
    ana = p.ana_state or "not reported"
    group = f"group {p.ana_grpid}" if p.ana_grpid is not None else ""
    where = ", ".join(x for x in (group, p.ana_source) if x)
    return f"{p.disk}  {p.controller} {p.transport} {p.state}, ANA {ana}" + (f" ({where})" if where else "")


def _subsystems_by_controller(sysfs: Path) -> dict[str, str]:
    """{"nvme1": "nvme-subsys1", ...}: each subsystem device lists its controllers as links."""
    out: dict[str, str] = {}
    for base in (sysfs / "class" / "nvme-subsystem", sysfs / "devices" / "virtual" / "nvme-subsystem"):
        if not base.is_dir():
            continue
        for subsys in sorted(base.iterdir(), key=lambda p: _natural_key(p.name)):
            try:
                entries = list(subsys.iterdir())
            except OSError:
                continue
            for entry in entries:
                if _CONTROLLER_NAME.match(entry.name):
                    out.setdefault(entry.name, subsys.name)
    return out


def list_controllers(
    *,
    sysfs: Path = SYSFS,
    dev: Path = DEV,
    proc: Path = PROC,
    include_sim: bool = True,
    ana_log: bool = True,
) -> list[ControllerInfo]:
    """Every NVMe controller with its namespaces, then (when `include_sim`) the simulated ones. A multipath
    namespace's paths carry their ANA state from each controller's ANA log page (`ana_log`, one admin
    command per controller that reports ANA), else from sysfs."""
    uring_problem = uring_cmd_problem(proc=proc)
    by_controller: dict[str, list[NamespaceInfo]] = {}
    generic_class = sysfs / "class" / "nvme-generic"
    generics = (
        sorted(generic_class.iterdir(), key=lambda p: _natural_key(p.name)) if generic_class.is_dir() else []
    )
    for generic in generics:
        info = _namespace_info(generic, sysfs, dev)
        if info is None:
            continue
        for controller in _controllers_of_generic(generic, sysfs):
            by_controller.setdefault(controller, []).append(info)

    controllers: list[ControllerInfo] = []
    subsystems = _subsystems_by_controller(sysfs)
    ctrl_class = sysfs / "class" / "nvme"
    ctrl_dirs = (
        sorted(ctrl_class.iterdir(), key=lambda p: _natural_key(p.name)) if ctrl_class.is_dir() else []
    )
    for ctrl in ctrl_dirs:
        if not _CONTROLLER_NAME.match(ctrl.name):
            continue
        char_dev = str(dev / ctrl.name)
        problem = access_problem(char_dev) if Path(char_dev).exists() else f"{char_dev} is missing"
        namespaces = sorted(by_controller.get(ctrl.name, []), key=lambda ns: (ns.nsid, _natural_key(ns.name)))
        transport = _read_attr(ctrl / "transport") or ""
        address = _read_attr(ctrl / "address") or ""
        fabrics = transport in FABRICS_TRANSPORTS
        where = parse_address(address) if fabrics else {}
        controllers.append(
            ControllerInfo(
                name=ctrl.name,
                char_dev=char_dev,
                model=_read_attr(ctrl / "model") or "",
                serial=_read_attr(ctrl / "serial") or "",
                firmware=_read_attr(ctrl / "firmware_rev") or "",
                transport=transport,
                address=address,
                state=_read_attr(ctrl / "state") or "",
                uring_cmd=uring_problem is None,
                accessible=problem is None,
                access_error=problem,
                namespaces=tuple(namespaces),
                fabrics=fabrics,
                subsystem=subsystems.get(ctrl.name, ""),
                subsysnqn=_read_attr(ctrl / "subsysnqn") or "",
                hostnqn=(_read_attr(ctrl / "hostnqn") or "") if fabrics else "",
                traddr=where.get("traddr", ""),
                trsvcid=where.get("trsvcid", ""),
            )
        )
    if ana_log and any(p.ana_grpid is not None for c in controllers for ns in c.namespaces for p in ns.paths):
        controllers = with_ana_log(controllers)
    if include_sim:
        from nvtui.backend.sim import sim_controllers  # lazily: listing real devices needs no simulator

        controllers.extend(sim_controllers())
    return controllers


def namespace_paths(device: str, *, sysfs: Path = SYSFS) -> tuple[PathInfo, ...] | None:
    """The paths of a namespace char device's multipath head (`ng1n1`), now; None when `device` is not a
    multipath head (a private namespace, a controller, a simulated device) or is gone."""
    name = os.path.basename(device.strip())
    if not re.fullmatch(r"ng\d+n\d+", name):
        return None
    generic = sysfs / "class" / "nvme-generic" / name
    if not generic.exists():
        return None
    paths = _paths_of_generic(generic, sysfs)
    return paths or None


def controller_state(controller: str, *, sysfs: Path = SYSFS) -> str:
    """The kernel's state of controller `controller` ("nvme2"): "live", "connecting", "resetting",
    "deleting", ...; "gone" when sysfs no longer has it."""
    return _read_attr(sysfs / "class" / "nvme" / controller / "state") or "gone"


def live_controllers_of(device: str, *, sysfs: Path = SYSFS) -> list[str]:
    """The controllers through which a multipath namespace (`/dev/ngSnY`) can be reached now: those of its
    paths whose controller is live, the ones whose ANA state lets I/O through first. Admin commands for the
    namespace go to one of these: the kernel answers an admin uring_cmd only on a controller's own char
    device, and that controller may be gone while the head lives on through another path. Empty for a
    namespace that is no multipath head, or that has no live path."""
    paths = namespace_paths(device, sysfs=sysfs) or ()
    live = [p for p in paths if p.state == "live"]
    ordered = [p.controller for p in live if usable(p)] + [p.controller for p in live if not usable(p)]
    return list(dict.fromkeys(ordered))


def usable(path: PathInfo) -> bool:
    """A path I/O can take: its controller is live and its ANA state lets I/O through."""
    return path.state == "live" and path.ana_state in ("optimized", "non-optimized", "")


def no_path_cause(device: str, *, sysfs: Path = SYSFS) -> str | None:
    """One line saying why a multipath namespace cannot take I/O (no usable path: each path's controller and
    state), or None when it has a usable path or is not a multipath head. Where the namespace is gone
    altogether (the kernel removed the head with its last controller), says that."""
    name = os.path.basename(device.strip())
    if re.fullmatch(r"ng\d+n\d+", name) and not (sysfs / "class" / "nvme-generic" / name).exists():
        return f"/dev/{name} is gone: the kernel removed the namespace with its last path"
    paths = namespace_paths(device, sysfs=sysfs)
    return _no_usable_path(name, paths) if paths else None


def _no_usable_path(name: str, paths: tuple[PathInfo, ...]) -> str | None:
    if any(usable(p) for p in paths):
        return None
    listed = "; ".join(
        f"{p.controller} {p.transport} {p.state}" + (f" ANA {p.ana_state}" if p.ana_state else "")
        for p in paths
    )
    return f"/dev/{name} has no usable path ({listed})"


class PathWatch:
    """Watches a multipath namespace's paths from sysfs and says what changed, with the time since it started:
    "2.1 s: path nvme1c1n1 (nvme1 loop) gone; I/O goes over nvme1c2n1 (nvme2 tcp)". For a namespace that
    is not a multipath head, it never reports anything."""

    def __init__(self, device: str, *, sysfs: Path = SYSFS) -> None:
        self.device = device
        self.sysfs = sysfs
        self.started = time.monotonic()
        self.events: list[str] = []
        self._last = self._snapshot()

    @property
    def multipath(self) -> bool:
        return bool(self._last)

    def _snapshot(self) -> dict[str, PathInfo]:
        return {p.disk: p for p in namespace_paths(self.device, sysfs=self.sysfs) or ()}

    def poll(self) -> list[str]:
        """What changed since the last poll (also appended to `events`)."""
        now = self._snapshot()
        if not self._last and not now:
            return []
        at = f"{time.monotonic() - self.started:.1f} s"
        changes: list[str] = []
        for disk, old in self._last.items():
            new = now.get(disk)
            label = f"path {disk} ({old.controller} {old.transport})"
            if new is None:
                changes.append(f"{label} gone")
            elif (new.state, new.ana_state) != (old.state, old.ana_state):
                before = old.state + (f"/{old.ana_state}" if old.ana_state else "")
                after = new.state + (f"/{new.ana_state}" if new.ana_state else "")
                changes.append(f"{label} {before} -> {after}")
        for disk, new in now.items():
            if disk not in self._last:
                changes.append(f"path {disk} ({new.controller} {new.transport}) added, {new.state}")
        self._last = now
        if not changes:
            return []
        left = [p for p in now.values() if usable(p)]
        where = (
            "I/O goes over " + ", ".join(f"{p.disk} ({p.controller} {p.transport})" for p in left)
            if left
            else "no usable path left"
        )
        events = [f"{at}: {'; '.join(changes)}; {where}"]
        self.events.extend(events)
        return events
