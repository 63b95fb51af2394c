"""Fixtures for the tests marked ``vm``: they run only inside the nvtui test VM (``NVTUI_IN_VM=1``).

Everything collected under tests/vm is marked ``vm``; the project's default ``-m 'not vm'`` deselects
it on the host, and a host run that selects it anyway skips it (the VM runner fails on any skip).
Namespace IDs come from sysfs, never from device names: on 6.12 ``ng0n1`` can be namespace 2.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

# ``tests.vm`` importable however pytest was started (tests/ itself is not a package).
if str(Path(__file__).resolve().parents[2]) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

IN_VM = os.environ.get("NVTUI_IN_VM") == "1"
VM_DIR = Path(__file__).resolve().parent
SYS_NVME = Path("/sys/class/nvme")
SYS_BLOCK = Path("/sys/block")
SYS_GENERIC = Path("/sys/class/nvme-generic")
NSID_CONVENTIONAL, NSID_ZONED, NSID_METADATA = 1, 2, 3


#: Tests marked ``unplug`` remove the VM's NVMe controller (``device_del``) for the rest of the boot.
#: A boot runs either them alone (``python -m tests.vm.run --unplug`` sets this) or everything else.
UNPLUG_BOOT = os.environ.get("NVTUI_VM_UNPLUG") == "1"
#: Tests marked ``nopoll`` need the nvme module without poll queues: ``run.py --no-poll-queues`` boots that.
NOPOLL_BOOT = os.environ.get("NVTUI_VM_NOPOLL") == "1"
#: Tests marked ``fabrics`` load the Linux NVMe target and the fabrics host (tests/vm/fabrics.py): their boot
#: is ``run.py --fabrics``, so the modules, null_blk and the extra controllers never meet the other tests.
FABRICS_BOOT = os.environ.get("NVTUI_VM_FABRICS") == "1"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "unplug: hot-unplugs the VM's NVMe controller; own boot (run.py --unplug)"
    )
    config.addinivalue_line("markers", "nopoll: nvme without poll queues; own boot (run.py --no-poll-queues)")
    config.addinivalue_line(
        "markers", "fabrics: the Linux NVMe target over loop and tcp; own boot (run.py --fabrics)"
    )


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip = pytest.mark.skip(reason="needs the nvtui test VM: python -m tests.vm.run")
    for item in items:
        if VM_DIR in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.vm)
            if not IN_VM:
                item.add_marker(skip)
    if IN_VM:
        # Deselected, not skipped: the VM runner fails on any skip.
        keep = [
            i
            for i in items
            if (i.get_closest_marker("unplug") is not None) == UNPLUG_BOOT
            and (i.get_closest_marker("nopoll") is not None) == NOPOLL_BOOT
            and (i.get_closest_marker("fabrics") is not None) == FABRICS_BOOT
        ]
        if len(keep) != len(items):
            config.hook.pytest_deselected(items=[i for i in items if i not in keep])
            items[:] = keep


def find_controller(serial: str | None = None) -> str:
    """``/dev/nvmeX`` of the (first, or the given *serial*'s) NVMe controller, from /sys/class/nvme."""
    ctrls = sorted(SYS_NVME.glob("nvme*"), key=lambda p: int(p.name[4:]) if p.name[4:].isdigit() else 1 << 30)
    for c in ctrls:
        if serial is None or (c / "serial").read_text().strip() == serial:
            return f"/dev/{c.name}"
    raise LookupError(f"no NVMe controller{' with serial ' + serial if serial else ''} in {SYS_NVME}")


def namespace_char_devices(ctrl: str) -> dict[int, str]:
    """{namespace ID: ``/dev/ngXnY``} of controller *ctrl* (``/dev/nvmeX``); IDs read from sysfs."""
    instance = re.fullmatch(r"/dev/nvme(\d+)", ctrl)
    if instance is None:
        raise ValueError(f"not a controller device: {ctrl}")
    out: dict[int, str] = {}
    for ng in SYS_GENERIC.glob(f"ng{instance.group(1)}n*"):
        m = re.fullmatch(r"ng(\d+)n(\d+)", ng.name)
        if m is None:
            continue
        nsid = int((SYS_BLOCK / f"nvme{m.group(1)}n{m.group(2)}" / "nsid").read_text())
        out[nsid] = f"/dev/{ng.name}"
    return out


def block_device(ng: str) -> str:
    """The block device ``/dev/nvmeXnY`` of the namespace char device ``/dev/ngXnY``."""
    m = re.fullmatch(r"/dev/ng(\d+)n(\d+)", ng)
    if m is None:
        raise ValueError(f"not a namespace char device: {ng}")
    return f"/dev/nvme{m.group(1)}n{m.group(2)}"


def zero_namespace(ng: str) -> None:
    """Zero the whole namespace (Write Zeroes through BLKZEROOUT: cheap on QEMU's sparse image)."""
    subprocess.run(["blkdiscard", "--zeroout", "--force", block_device(ng)], check=True)


@pytest.fixture(scope="session")
def nvme_ctrl() -> str:
    return find_controller()


@pytest.fixture(scope="session")
def nvme_namespaces(nvme_ctrl: str) -> dict[int, str]:
    devs = namespace_char_devices(nvme_ctrl)
    for path in devs.values():
        assert stat.S_ISCHR(os.stat(path).st_mode), path
    return devs


def _ns(devs: dict[int, str], nsid: int) -> str:
    if nsid not in devs:
        pytest.fail(f"namespace {nsid} missing from the VM's controller (found {sorted(devs)})")
    return devs[nsid]


@pytest.fixture(scope="session")
def ns_conventional(nvme_namespaces: dict[int, str]) -> str:
    return _ns(nvme_namespaces, NSID_CONVENTIONAL)


@pytest.fixture(scope="session")
def ns_zoned(nvme_namespaces: dict[int, str]) -> str:
    return _ns(nvme_namespaces, NSID_ZONED)


@pytest.fixture(scope="session")
def ns_metadata(nvme_namespaces: dict[int, str]) -> str:
    return _ns(nvme_namespaces, NSID_METADATA)


@pytest.fixture
def ns_conventional_zeroed(ns_conventional: str) -> str:
    """The conventional namespace, all zeroes at the start of the test."""
    zero_namespace(ns_conventional)
    return ns_conventional


@pytest.fixture(scope="session")
def nvme_cli() -> str:
    path = shutil.which("nvme")
    if path is None:
        pytest.fail("nvme-cli is not installed (python -m tests.vm.run --install-only)")
    return path
