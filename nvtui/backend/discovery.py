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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from nvtui.backend.base import ControllerInfo, NamespaceInfo
from nvtui.errors import DeviceError, UsageError
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
    parent = parent_link.resolve() if parent_link.exists() else generic.resolve().parent
    disk = _disk_of_generic(generic, sysfs)
    found: list[str] = []
    paths = disk / "multipath"  # the head disk links to its path disks (kernel 4.15+)
    candidates: Iterable[Path] = sorted(paths.iterdir()) if paths.is_dir() else ()
    for path_disk in candidates:
        m = _PATH_DISK.match(path_disk.name)
        if m:
            found.append(f"nvme{int(m.group(2))}")
    if not found:
        # Scan the subsystem's controllers for a path disk of this head.
        head_number = generic.name.split("n")[-1]
        for ctrl in sorted(parent.iterdir(), key=lambda p: _natural_key(p.name)):
            if not _CONTROLLER_NAME.match(ctrl.name):
                continue
            suffix = f"c{ctrl.name[4:]}n{head_number}"
            if any(p.name.endswith(suffix) and _PATH_DISK.match(p.name) for p in ctrl.iterdir()):
                found.append(ctrl.name)
    found = sorted(set(found), key=_natural_key)
    live = [c for c in found if _read_attr(sysfs / "class" / "nvme" / c / "state") == "live"]
    return live + [c for c in found if c not in live]


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
    return NamespaceInfo(
        name=generic.name,
        nsid=nsid,
        char_dev=char_dev,
        block_dev=str(block_node) if block_node.exists() else None,
        size_bytes=sectors * 512,  # the block layer counts 512-byte sectors whatever the LBA size
        lba_size=_read_int(disk / "queue" / "logical_block_size") or 0,
        metadata_size=metadata,
        zoned=zoned not in (None, "none"),
        accessible=problem is None,
        access_error=problem,
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


def list_controllers(
    *, sysfs: Path = SYSFS, dev: Path = DEV, proc: Path = PROC, include_sim: bool = True
) -> list[ControllerInfo]:
    """Every NVMe controller with its namespaces, then (when `include_sim`) the simulated ones."""
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
        controllers.append(
            ControllerInfo(
                name=ctrl.name,
                char_dev=char_dev,
                model=_read_attr(ctrl / "model") or "",
                serial=_read_attr(ctrl / "serial") or "",
                firmware=_read_attr(ctrl / "firmware_rev") or "",
                transport=_read_attr(ctrl / "transport") or "",
                address=_read_attr(ctrl / "address") or "",
                state=_read_attr(ctrl / "state") or "",
                uring_cmd=uring_problem is None,
                accessible=problem is None,
                access_error=problem,
                namespaces=tuple(namespaces),
            )
        )
    if include_sim:
        from nvtui.backend.sim import sim_controllers  # lazily: listing real devices needs no simulator

        controllers.extend(sim_controllers())
    return controllers
