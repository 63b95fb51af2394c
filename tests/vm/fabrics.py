"""NVMe over Fabrics in the test VM: the Linux NVMe target (nvmet) exported over loop and TCP, connected
back through the kernel's own fabrics host, so a second controller implementation and real native
multipath sit beside QEMU's controller.

Guest side only (it loads kernel modules and writes configfs). :func:`setup_fabrics` is the whole recipe
and returns a :class:`Fabrics` that a test, a fixture or a benchmark uses and then tears down::

    with fabrics_target() as fab:          # or fab = setup_fabrics(); ...; fab.teardown()
        fab.head                            # "/dev/ngXnY": null_blk-backed, reached over loop and tcp
        fab.controllers()                   # {"loop": "nvme1", "tcp": "nvme2"}

Layout (see /work/shared/nvme-vm.md and tests/vm/README.md, "NVMe over Fabrics"):

- modules, from the booted kernel's package in the harness cache (``modprobe -d``): configfs, null_blk,
  nvmet, nvme-loop, nvmet-tcp, nvme-tcp;
- subsystem :data:`NQN` (any host allowed) with namespace 1 on ``/dev/nullb0`` (null_blk: no data kept,
  reads cost nothing) and namespace 2 on a sparse file in the guest's tmpfs (data kept);
- where the kernel has the passthru target (``CONFIG_NVME_TARGET_PASSTHRU``), subsystem
  :data:`PASSTHRU_NQN` exporting QEMU's ``/dev/nvme0`` on the loop port (not connected by default: its
  namespaces would be a second view of QEMU's);
- port 1 loop, port 2 tcp 127.0.0.1:4420 (the guest's ``lo`` is brought up first); both export :data:`NQN`
  and the discovery service;
- host: ``nvme connect`` over loop and over tcp with an explicit host NQN and host ID; the tcp path
  reconnects every second, fails I/O after :data:`FAST_IO_FAIL_TMO` seconds without a path (set in
  sysfs: nvme-cli 2.3 has no option for it) and gives up after :data:`CTRL_LOSS_TMO` seconds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from tests.vm import vm

NQN = "nqn.2026-12.io.nvtui:fabrics"
PASSTHRU_NQN = "nqn.2026-12.io.nvtui:passthru"
DISCOVERY_NQN = "nqn.2014-08.org.nvmexpress.discovery"
HOSTID = "7a1f3c52-2c4e-4d1b-9a59-6e6f76747569"
HOSTNQN = f"nqn.2014-08.org.nvmexpress:uuid:{HOSTID}"
TCP_ADDR = "127.0.0.1"
TCP_PORT = "4420"
LOOP_PORT_ID = "1"
TCP_PORT_ID = "2"
NSID_NULL_BLK = 1
NSID_FILE = 2
FILE_NS_SIZE = 64 << 20
FILE_NS_PATH = Path("/tmp/nvtui-fabrics-ns2.img")
FAST_IO_FAIL_TMO = 1
CTRL_LOSS_TMO = 60
RECONNECT_DELAY = 1

#: In dependency order (modprobe resolves the rest: nvme-fabrics, nvme-keyring, ...).
MODULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("configfs", ()),
    ("null_blk", ("nr_devices=1", "gb=16")),
    ("nvmet", ()),
    ("nvme-loop", ()),
    ("nvmet-tcp", ()),
    ("nvme-tcp", ()),
)

CONFIGFS = Path("/sys/kernel/config")
NVMET = CONFIGFS / "nvmet"
SYS_NVME = Path("/sys/class/nvme")


class FabricsError(RuntimeError):
    """The fabrics setup failed: the step and what the kernel or nvme-cli said."""


def _run(argv: list[str], *, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise FabricsError(
            f"{' '.join(argv)}: exit {proc.returncode}: {(proc.stderr or proc.stdout).strip()}"
        )
    return proc


def _write(path: Path, value: str) -> None:
    try:
        path.write_text(value + "\n")
    except OSError as exc:
        raise FabricsError(f"echo {value} > {path}: {exc.strerror}") from exc


def module_root() -> tuple[Path, str]:
    """The booted kernel's extracted package in the harness cache, and its release (``uname -r``)."""
    release = os.uname().release
    kernels = vm.cache_dir() / "kernels"
    for kdir in sorted(kernels.glob("*")) if kernels.is_dir() else []:
        if (kdir / "root" / "lib" / "modules" / release).is_dir():
            return kdir / "root", release
    raise FabricsError(f"the modules of kernel {release} are not in {kernels} (NVTUI_VM_CACHE)")


def load_modules() -> None:
    """modprobe the target and host modules from the kernel package (nothing is installed)."""
    root, release = module_root()
    for name, params in MODULES:
        if Path("/sys/module", name.replace("-", "_")).exists():
            continue
        _run(["modprobe", "-d", str(root), "-S", release, name, *params])
    if not CONFIGFS.joinpath("nvmet").exists() and not os.path.ismount(CONFIGFS):
        _run(["mount", "-t", "configfs", "none", str(CONFIGFS)])
    if not NVMET.is_dir():
        raise FabricsError(f"{NVMET} is missing after loading nvmet")


def kernel_has_passthru() -> bool:
    """CONFIG_NVME_TARGET_PASSTHRU: the kernel's config in its package, or nvmet's own configfs."""
    root, release = module_root()
    config = root / "boot" / f"config-{release}"
    if config.is_file():
        return re.search(r"^CONFIG_NVME_TARGET_PASSTHRU=y", config.read_text(), re.MULTILINE) is not None
    return False


def _controllers_of(nqn: str, transport: str) -> list[str]:
    out = []
    for ctrl in sorted(SYS_NVME.glob("nvme*")):
        try:
            if (ctrl / "subsysnqn").read_text().strip() == nqn and (
                ctrl / "transport"
            ).read_text().strip() == transport:
                out.append(ctrl.name)
        except OSError:
            continue
    return out


def _wait(what: str, predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise FabricsError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def head_char_device(nqn: str, nsid: int) -> str | None:
    """``/dev/ngSnY`` of the multipath head of namespace *nsid* of subsystem *nqn*, when the kernel has it."""
    for subsys in Path("/sys/class/nvme-subsystem").glob("nvme-subsys*"):
        try:
            if (subsys / "subsysnqn").read_text().strip() != nqn:
                continue
        except OSError:
            continue
        for disk in subsys.glob("nvme*n*"):
            if not re.fullmatch(r"nvme\d+n\d+", disk.name):
                continue
            try:
                if int((disk / "nsid").read_text()) == nsid:
                    ng = "ng" + disk.name[4:]
                    return f"/dev/{ng}" if Path("/dev", ng).exists() else None
            except (OSError, ValueError):
                continue
    return None


@dataclasses.dataclass
class Fabrics:
    """The configured target and its connected host side; every method acts on the live system."""

    nqn: str = NQN
    hostnqn: str = HOSTNQN
    hostid: str = HOSTID
    passthru: bool = False  # the passthru subsystem exporting QEMU's controller exists
    file_path: Path = FILE_NS_PATH
    discovery_ctrl: str | None = None  # a persistent discovery controller, when connected

    # --- target side (configfs)

    def port_dir(self, transport: str) -> Path:
        return NVMET / "ports" / (LOOP_PORT_ID if transport == "loop" else TCP_PORT_ID)

    def port_link(self, transport: str, nqn: str | None = None) -> Path:
        return self.port_dir(transport) / "subsystems" / (nqn or self.nqn)

    def unexport(self, transport: str) -> None:
        """Remove the subsystem from a port (the target drops that port's controllers)."""
        link = self.port_link(transport)
        if link.is_symlink():
            link.unlink()

    def export(self, transport: str) -> None:
        link = self.port_link(transport)
        if not link.is_symlink():
            link.symlink_to(NVMET / "subsystems" / self.nqn)

    # --- host side (nvme-cli)

    def connect_args(self, transport: str, nqn: str | None = None) -> list[str]:
        argv = ["nvme", "connect", "-t", transport, "-n", nqn or self.nqn]
        if transport == "tcp":
            argv += ["-a", TCP_ADDR, "-s", TCP_PORT]
            argv += [f"--reconnect-delay={RECONNECT_DELAY}", f"--ctrl-loss-tmo={CTRL_LOSS_TMO}"]
        return [*argv, f"--hostnqn={self.hostnqn}", f"--hostid={self.hostid}"]

    def connect(self, transport: str, *, timeout: float = 30) -> str:
        """Connect one path; the new controller's name ("nvme2") once it is live."""
        before = set(_controllers_of(self.nqn, transport))
        _run(self.connect_args(transport), timeout=timeout)
        found: list[str] = []

        def live() -> bool:
            found[:] = [c for c in _controllers_of(self.nqn, transport) if c not in before]
            return bool(found) and all(self.state(c) == "live" for c in found)

        _wait(f"the {transport} controller of {self.nqn}", live, timeout)
        fail_tmo = SYS_NVME / found[0] / "fast_io_fail_tmo"
        if transport == "tcp" and fail_tmo.exists():  # nvme-cli 2.3 has no --fast_io_fail_tmo
            _write(fail_tmo, str(FAST_IO_FAIL_TMO))
        return found[0]

    def disconnect(self, ctrl: str) -> None:
        _run(["nvme", "disconnect", "-d", ctrl])
        _wait(f"{ctrl} to go", lambda: not (SYS_NVME / ctrl).exists(), 30)

    def controllers(self) -> dict[str, str]:
        """{transport: controller} of the connected paths to :attr:`nqn` (the first one of each)."""
        out: dict[str, str] = {}
        for transport in ("loop", "tcp"):
            found = _controllers_of(self.nqn, transport)
            if found:
                out[transport] = found[0]
        return out

    @staticmethod
    def state(ctrl: str) -> str:
        try:
            return (SYS_NVME / ctrl / "state").read_text().strip()
        except OSError:
            return "gone"

    def head_of(self, nsid: int) -> str:
        ng = head_char_device(self.nqn, nsid)
        if ng is None:
            raise FabricsError(f"no multipath head for namespace {nsid} of {self.nqn}")
        return ng

    @property
    def head(self) -> str:
        """The null_blk-backed namespace's head, ``/dev/ngSnY``."""
        return self.head_of(NSID_NULL_BLK)

    @property
    def file_head(self) -> str:
        """The file-backed namespace's head (data is kept)."""
        return self.head_of(NSID_FILE)

    def connect_discovery(self) -> str:
        """A persistent discovery controller over tcp ("nvme3"), for Get Log Page 70h."""
        before = set(_controllers_of(DISCOVERY_NQN, "tcp"))
        argv = ["nvme", "connect", "-t", "tcp", "-a", TCP_ADDR, "-s", TCP_PORT, "-n", DISCOVERY_NQN]
        _run([*argv, f"--hostnqn={self.hostnqn}", f"--hostid={self.hostid}"])
        found: list[str] = []

        def up() -> bool:
            found[:] = [c for c in _controllers_of(DISCOVERY_NQN, "tcp") if c not in before]
            return bool(found) and self.state(found[0]) == "live"

        _wait("the discovery controller", up, 30)
        self.discovery_ctrl = found[0]
        return found[0]

    def discover_args(self) -> list[str]:
        return [
            *("nvme", "discover", "-t", "tcp", "-a", TCP_ADDR, "-s", TCP_PORT),
            f"--hostnqn={self.hostnqn}",
            f"--hostid={self.hostid}",
        ]

    def restore(self, *, timeout: float = 30) -> dict[str, str]:
        """Both ports export the subsystem again and both paths are live (connecting what is missing)."""
        for transport in ("loop", "tcp"):
            self.export(transport)
        have = self.controllers()
        if "tcp" in have:  # a tcp path reconnects by itself once the port exports the subsystem again
            _wait(
                "the tcp path to reconnect", lambda: self.state(self.controllers()["tcp"]) == "live", timeout
            )
        else:
            self.connect("tcp", timeout=timeout)
        if "loop" not in have:  # the target deletes a loop controller with its port: connect again
            self.connect("loop", timeout=timeout)
        _wait("the multipath head", lambda: head_char_device(self.nqn, NSID_NULL_BLK) is not None, timeout)
        return self.controllers()

    def teardown(self) -> None:
        """Disconnect every controller of these subsystems, then remove the target's configuration."""
        teardown_fabrics()


def _mkdir(path: Path) -> None:
    try:
        path.mkdir(exist_ok=True)
    except OSError as exc:
        raise FabricsError(f"mkdir {path}: {exc.strerror}") from exc


def _namespace(subsys: Path, nsid: int, device: str, *, buffered: bool = False) -> None:
    ns = subsys / "namespaces" / str(nsid)
    _mkdir(ns)
    _write(ns / "device_path", device)
    if buffered and (ns / "buffered_io").exists():
        _write(ns / "buffered_io", "1")  # the guest's /tmp is tmpfs
    _write(ns / "enable", "1")


def configure_target(*, passthru: bool | None = None) -> bool:
    """The nvmet configuration: subsystems, namespaces, ports and their links. Returns whether the passthru
    subsystem was made (None: when the kernel has it)."""
    _run(["ip", "link", "set", "lo", "up"])
    subsys = NVMET / "subsystems" / NQN
    _mkdir(subsys)
    _write(subsys / "attr_allow_any_host", "1")
    _namespace(subsys, NSID_NULL_BLK, "/dev/nullb0")
    with open(FILE_NS_PATH, "wb") as f:
        f.truncate(FILE_NS_SIZE)
    _namespace(subsys, NSID_FILE, str(FILE_NS_PATH), buffered=True)

    loop = NVMET / "ports" / LOOP_PORT_ID
    _mkdir(loop)
    _write(loop / "addr_trtype", "loop")
    tcp = NVMET / "ports" / TCP_PORT_ID
    _mkdir(tcp)
    for attr, value in (("addr_trtype", "tcp"), ("addr_adrfam", "ipv4"), ("addr_traddr", TCP_ADDR)):
        _write(tcp / attr, value)
    _write(tcp / "addr_trsvcid", TCP_PORT)
    for port in (loop, tcp):
        link = port / "subsystems" / NQN
        if not link.is_symlink():
            link.symlink_to(subsys)

    made = False
    if passthru is None:
        passthru = kernel_has_passthru()
    if passthru:
        pt = NVMET / "subsystems" / PASSTHRU_NQN
        _mkdir(pt)
        _write(pt / "attr_allow_any_host", "1")
        _write(pt / "passthru" / "device_path", "/dev/nvme0")
        _write(pt / "passthru" / "enable", "1")
        link = loop / "subsystems" / PASSTHRU_NQN
        if not link.is_symlink():
            link.symlink_to(pt)
        made = True
    return made


def setup_fabrics(*, passthru: bool | None = None, discovery: bool = False) -> Fabrics:
    """Load the modules, configure the target and connect the loop and tcp paths (about 1-2 s in the VM).
    Raises FabricsError naming the step that failed. Call :meth:`Fabrics.teardown` when done."""
    if shutil.which("nvme") is None:
        raise FabricsError("nvme-cli is not installed (python -m tests.vm.run --install-only)")
    load_modules()
    teardown_fabrics()  # a previous test's leftovers
    fab = Fabrics(passthru=configure_target(passthru=passthru))
    try:
        fab.connect("loop")
        fab.connect("tcp")
        _wait("the multipath heads", lambda: head_char_device(NQN, NSID_FILE) is not None, 30)
        _wait("the multipath heads", lambda: head_char_device(NQN, NSID_NULL_BLK) is not None, 30)
        if discovery:
            fab.connect_discovery()
    except BaseException:
        teardown_fabrics()
        raise
    return fab


def teardown_fabrics() -> None:
    """Disconnect every host controller of the target's subsystems and remove the nvmet configuration.
    Safe to call on a partial or absent setup."""
    for nqn in (NQN, PASSTHRU_NQN, DISCOVERY_NQN):
        for transport in ("loop", "tcp"):
            for ctrl in _controllers_of(nqn, transport):
                _run(["nvme", "disconnect", "-d", ctrl], check=False)
    with contextlib.suppress(FabricsError):
        _wait(
            "the fabrics controllers to go",
            lambda: (
                not any(
                    _controllers_of(n, t) for n in (NQN, PASSTHRU_NQN, DISCOVERY_NQN) for t in ("loop", "tcp")
                )
            ),
            30,
        )
    if not NVMET.is_dir():
        return
    for port in (NVMET / "ports").glob("*"):
        for link in (port / "subsystems").glob("*"):
            link.unlink()
    for subsys in (NVMET / "subsystems").glob("*"):
        for ns in (subsys / "namespaces").glob("*"):
            with contextlib.suppress(OSError):
                _write(ns / "enable", "0")
            ns.rmdir()
        if (subsys / "passthru" / "enable").exists():
            with contextlib.suppress(OSError, FabricsError):
                _write(subsys / "passthru" / "enable", "0")
        subsys.rmdir()
    for port in (NVMET / "ports").glob("*"):
        port.rmdir()
    with contextlib.suppress(FileNotFoundError):
        FILE_NS_PATH.unlink()


@contextlib.contextmanager
def fabrics_target(*, passthru: bool | None = None, discovery: bool = False) -> Iterator[Fabrics]:
    """:func:`setup_fabrics` for the length of a ``with`` block."""
    fab = setup_fabrics(passthru=passthru, discovery=discovery)
    try:
        yield fab
    finally:
        fab.teardown()
