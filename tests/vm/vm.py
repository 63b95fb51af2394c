"""The nvtui test VM: a stock Debian kernel under QEMU (TCG) with QEMU's emulated NVMe controller.

The host's own root filesystem is shared into the guest over 9p and used as the guest's root, so the
project's venv and pytest run there unchanged.  See tests/vm/README.md.

Host side: :func:`run_in_vm` (boot, run one command, stream its output, return its exit status).
Guest side: :func:`monitor_command` (send a QMP command to this VM's QEMU from inside the guest).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import gzip
import hashlib
import json
import lzma
import os
import re
import select
import shlex
import shutil
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
GUEST_INIT = Path(__file__).resolve().with_name("guest_init.sh")

#: Debian 12 packages the harness needs on the host (QEMU, the initramfs tools) and in the guest
#: (which runs the host's own root filesystem): fio and nvme-cli as peers and oracles.
APT_PACKAGES: tuple[str, ...] = (
    "qemu-system-x86",
    "busybox-static",
    "cpio",
    "kmod",
    "xz-utils",
    "zstd",
    "fio",
    "nvme-cli",
    "chromium",  # the browser test of `nvtui serve` (tests/test_serve.py), on the host
)

#: ``--kernel`` aliases: the meta package whose dependency names the current image package.
KERNEL_META: dict[str, str] = {"6.12": "linux-image-6.12-amd64", "6.1": "linux-image-amd64"}
#: Fallback when the meta package is unknown to apt: image packages of that series, newest wins.
KERNEL_SERIES_RE: dict[str, re.Pattern[str]] = {
    "6.12": re.compile(r"^linux-image-6\.12\.\d+\+deb\d+-amd64$"),
    "6.1": re.compile(r"^linux-image-6\.1\.0-\d+-amd64$"),
}
DEFAULT_KERNEL_ORDER: tuple[str, ...] = ("6.12", "6.1")

#: Modules the guest needs, in the order asked for; their dependencies come first.
GUEST_MODULES: tuple[str, ...] = ("virtio_pci", "virtio_console", "9pnet_virtio", "9p", "nvme")
#: Module parameters given to ``insmod`` (the kernel command line does not reach a bare insmod).
MODULE_PARAMS: dict[str, str] = {"nvme": "poll_queues=2"}

NVME_SERIAL = "nvtui0001"
NVME_MODEL = "QEMU NVMe Ctrl"


@dataclasses.dataclass(frozen=True)
class Namespace:
    """One namespace of the emulated controller, backed by a sparse raw file."""

    nsid: int
    size: int
    options: str = ""  # extra ``-device nvme-ns`` properties


MiB = 1 << 20
GiB = 1 << 30
NAMESPACES: tuple[Namespace, ...] = (
    Namespace(1, 1 * GiB),
    Namespace(2, 1 * GiB, "zoned=true,zoned.zone_size=64M,zoned.zone_capacity=64M"),
    Namespace(3, 256 * MiB, "ms=8,mset=0"),
)

SERIAL_PORT_OUT = "nvtui.out"
SERIAL_PORT_STATUS = "nvtui.status"
SERIAL_PORT_CTL = "nvtui.ctl"

GUEST_TMP_SIM_DIR = "/tmp/nvtui-sim"
#: Host environment variables passed to the guest command when set.
ENV_PASSTHROUGH: tuple[str, ...] = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LC_ALL",
    "TERM",
    "VIRTUAL_ENV",
    "CI",
    "PYTEST_ADDOPTS",
    "HYPOTHESIS_PROFILE",
)


class VMError(RuntimeError):
    """The VM could not be prepared, did not boot, or did not report the command's exit status."""


class VMTimeout(VMError):
    """The VM ran past its wall-clock limit and was killed."""


class VMBootError(VMError):
    """The guest died before the command started (seen: a rare oops in early boot under TCG with two
    vCPUs). Nothing of the command ran, so booting again is safe."""


BOOT_ATTEMPTS = 3


def log(msg: str) -> None:
    print(f"nvtui-vm: {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------
# Host packages


def parse_dpkg_query(text: str) -> set[str]:
    """Installed package names from ``dpkg-query -W -f='${Package} ${db:Status-Status}\\n'`` output."""
    installed: set[str] = set()
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[-1] == "installed":
            installed.add(parts[0].split(":")[0])
    return installed


def missing_host_packages(packages: Sequence[str] = APT_PACKAGES) -> list[str]:
    proc = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package} ${db:Status-Status}\n", *packages],
        capture_output=True,
        text=True,
        check=False,
    )
    installed = parse_dpkg_query(proc.stdout)
    return [p for p in packages if p not in installed]


_apt_updated = False


def apt_update() -> None:
    global _apt_updated
    if not _apt_updated:
        log("apt-get update")
        subprocess.run(["apt-get", "update", "-q"], check=True, stdout=subprocess.DEVNULL)
        _apt_updated = True


def ensure_host_packages(packages: Sequence[str] = APT_PACKAGES) -> list[str]:
    """Install the missing ones of *packages* (as root); return the list that was installed."""
    missing = missing_host_packages(packages)
    if not missing:
        return []
    if os.geteuid() != 0:
        raise VMError(f"missing Debian packages {' '.join(missing)}; run as root or apt-get install them")
    apt_update()
    log(f"apt-get install {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "install", "-y", "-q", *missing], check=True, env=env)
    return missing


# --------------------------------------------------------------------------------------------------
# Kernel package resolution


def parse_apt_depends(text: str) -> list[str]:
    """Package names on the ``Depends:`` lines of ``apt-cache depends`` output (alternatives too)."""
    names: list[str] = []
    for line in text.splitlines():
        m = re.match(r"^\s*\|?(?:Pre)?Depends:\s+(\S+)", line)
        if m and not m.group(1).startswith("<"):
            names.append(m.group(1))
    return names


def parse_apt_policy_candidate(text: str) -> str | None:
    """The ``Candidate:`` version of ``apt-cache policy PKG`` output, or None."""
    m = re.search(r"^\s*Candidate:\s+(\S+)", text, re.MULTILINE)
    if not m or m.group(1) == "(none)":
        return None
    return m.group(1)


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", name))


def pick_newest(names: Iterable[str], pattern: re.Pattern[str]) -> str | None:
    """The newest package name matching *pattern*, comparing the numbers in the names."""
    matching = [n for n in names if pattern.match(n)]
    return max(matching, key=_version_key) if matching else None


def _apt_cache(*args: str) -> str:
    proc = subprocess.run(["apt-cache", *args], capture_output=True, text=True, check=False)
    return proc.stdout


def apt_candidate(package: str) -> str | None:
    return parse_apt_policy_candidate(_apt_cache("policy", package))


@dataclasses.dataclass(frozen=True)
class KernelPackage:
    name: str  # e.g. linux-image-6.12.117+deb12-amd64
    version: str  # Debian version, e.g. 6.12.117-1~deb12u1

    @property
    def cache_key(self) -> str:
        return re.sub(r"[^A-Za-z0-9.+-]", "_", f"{self.name}_{self.version}")


def _resolve_kernel_once(spec: str) -> KernelPackage | None:
    meta = KERNEL_META.get(spec, spec)
    name: str | None = None
    if apt_candidate(meta) is not None:
        deps = [d for d in parse_apt_depends(_apt_cache("depends", meta)) if d.startswith("linux-image-")]
        series = KERNEL_SERIES_RE.get(spec)
        if series is not None:
            deps = [d for d in deps if series.match(d)]
        name = deps[0] if deps else (meta if spec not in KERNEL_META else None)
    if name is None and spec in KERNEL_SERIES_RE:
        name = pick_newest(_apt_cache("pkgnames", "linux-image-").split(), KERNEL_SERIES_RE[spec])
    if name is None:
        return None
    version = apt_candidate(name)
    return KernelPackage(name, version) if version else None


def resolve_kernel(spec: str | None = None) -> KernelPackage:
    """Resolve ``6.12``, ``6.1``, a package name, or None (``$NVTUI_VM_KERNEL``, else 6.12, else 6.1)."""
    spec = spec or os.environ.get("NVTUI_VM_KERNEL") or None
    specs = [spec] if spec else list(DEFAULT_KERNEL_ORDER)
    for attempt in range(2):
        for s in specs:
            pkg = _resolve_kernel_once(s)
            if pkg is not None:
                return pkg
        if attempt == 0 and os.geteuid() == 0 and not _apt_updated:
            apt_update()  # apt's lists may be missing or stale on a fresh machine
        else:
            break
    raise VMError(f"no Debian kernel package found for {spec or ' or '.join(specs)!r} (apt-cache)")


# --------------------------------------------------------------------------------------------------
# vmlinux extraction from a bzImage

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
XZ_MAGIC = b"\xfd7zXZ\x00"
GZIP_MAGIC = b"\x1f\x8b\x08"
ELF_MAGIC = b"\x7fELF"


def _decompress_zstd(data: bytes) -> bytes:
    proc = subprocess.run(["zstd", "-d", "-c", "-q"], input=data, capture_output=True, check=False)
    if proc.returncode != 0 and not proc.stdout:
        raise ValueError(f"zstd: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def _decompress_at(blob: bytes, offset: int, end: int | None = None) -> bytes | None:
    """Decompress the stream starting at *offset*; None when it is not a valid stream."""
    data = blob[offset:end]
    try:
        if data.startswith(ZSTD_MAGIC):
            # Linux appends the uncompressed size (4 bytes) to the stream: cut it when it is there.
            out = b""
            if len(data) > 4:
                with contextlib.suppress(ValueError):
                    out = _decompress_zstd(data[:-4])
            if not out.startswith(ELF_MAGIC):
                out = _decompress_zstd(data)
            return out
        if data.startswith(XZ_MAGIC):
            return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data)
        if data.startswith(GZIP_MAGIC):
            return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data)
    except (lzma.LZMAError, zlib.error, ValueError, EOFError):
        return None
    return None


def bzimage_payload(blob: bytes) -> tuple[int, int] | None:
    """(offset, length) of the compressed kernel per the x86 boot protocol header, or None."""
    if len(blob) < 0x250 or blob[0x202:0x206] != b"HdrS":
        return None
    setup_sects = blob[0x1F1] or 4
    version = struct.unpack_from("<H", blob, 0x206)[0]
    if version < 0x208:
        return None
    payload_offset, payload_length = struct.unpack_from("<II", blob, 0x248)
    start = (setup_sects + 1) * 512 + payload_offset
    if payload_length == 0 or start + payload_length > len(blob):
        return None
    return start, payload_length


def extract_vmlinux(blob: bytes) -> bytes:
    """The uncompressed ELF kernel inside a bzImage (zstd, xz or gzip compressed)."""
    found = bzimage_payload(blob)
    if found is not None:
        start, length = found
        out = _decompress_at(blob, start, start + length)
        if out is not None and out.startswith(ELF_MAGIC):
            return out
    # No usable header: look for each compression magic and take the first stream that yields an ELF.
    for magic in (ZSTD_MAGIC, XZ_MAGIC, GZIP_MAGIC):
        pos = blob.find(magic)
        while pos != -1:
            out = _decompress_at(blob, pos)
            if out is not None and out.startswith(ELF_MAGIC):
                return out
            pos = blob.find(magic, pos + 1)
    raise VMError("no zstd/xz/gzip compressed ELF kernel found in the bzImage")


# --------------------------------------------------------------------------------------------------
# cpio (newc) archives


@dataclasses.dataclass(frozen=True)
class CpioEntry:
    name: str
    mode: int  # including the file type bits
    data: bytes = b""  # file content, or the target of a symlink
    rdev: tuple[int, int] = (0, 0)


def cpio_newc(entries: Iterable[CpioEntry]) -> bytes:
    """A newc cpio archive (the initramfs format), owned by root, mtime 0."""
    out = bytearray()

    def pad4() -> None:
        out.extend(b"\0" * (-len(out) % 4))

    def header(ino: int, entry: CpioEntry) -> None:
        name = entry.name.encode() + b"\0"
        nlink = 2 if stat.S_ISDIR(entry.mode) else 1
        fields = (ino, entry.mode, 0, 0, nlink, 0, len(entry.data), 0, 0, *entry.rdev, len(name), 0)
        out.extend(b"070701" + b"".join(b"%08X" % f for f in fields))
        out.extend(name)
        pad4()
        out.extend(entry.data)
        pad4()

    for ino, entry in enumerate(entries, start=1):
        header(ino, entry)
    header(0, CpioEntry("TRAILER!!!", 0))
    return bytes(out)


def cpio_dirs(paths: Iterable[str]) -> list[CpioEntry]:
    """Directory entries for every parent of *paths* (parents first, no duplicates)."""
    seen: dict[str, None] = {}
    for p in paths:
        parts = p.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            seen.setdefault("/".join(parts[:i]))
    return [CpioEntry(d, stat.S_IFDIR | 0o755) for d in seen]


# --------------------------------------------------------------------------------------------------
# Kernel cache: download, extract, depmod, vmlinux, initramfs


def cache_dir() -> Path:
    return Path(os.environ.get("NVTUI_VM_CACHE") or REPO_ROOT / ".cache" / "vm")


@contextlib.contextmanager
def _locked(path: Path) -> Any:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@dataclasses.dataclass(frozen=True)
class Kernel:
    package: KernelPackage
    root: Path  # the extracted package
    release: str  # uname -r
    vmlinux: Path
    initramfs: Path  # the cached base initramfs (busybox, modules, init)


def parse_show_depends(text: str) -> list[tuple[str, str]]:
    """``modprobe --show-depends`` output → [(module path, params)]; built-in modules are left out."""
    mods: list[tuple[str, str]] = []
    for line in text.splitlines():
        parts = line.split(None, 2)
        if len(parts) >= 2 and parts[0] == "insmod":
            mods.append((parts[1], parts[2].strip() if len(parts) > 2 else ""))
    return mods


def module_name(path: str) -> str:
    base = os.path.basename(path)
    base = re.sub(r"\.ko(\.(xz|zst|gz))?$", "", base)
    return base.replace("-", "_")


def read_module(path: Path) -> bytes:
    data = path.read_bytes()
    if path.name.endswith(".xz"):
        return lzma.decompress(data)
    if path.name.endswith(".zst"):
        return _decompress_zstd(data)
    if path.name.endswith(".gz"):
        return gzip.decompress(data)
    return data


def module_load_list(root: Path, release: str, modules: Sequence[str] = GUEST_MODULES) -> list[Path]:
    """Module files to insmod, dependencies first, each once."""
    order: dict[Path, None] = {}
    for mod in modules:
        proc = subprocess.run(
            ["modprobe", "-d", str(root), "-S", release, "--show-depends", mod],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise VMError(f"modprobe --show-depends {mod} ({release}): {proc.stderr.strip()}")
        for path, _params in parse_show_depends(proc.stdout):
            order.setdefault(Path(path))
    return list(order)


def build_initramfs(root: Path, release: str, busybox: Path = Path("/bin/busybox")) -> bytes:
    entries: list[CpioEntry] = []
    mod_lines: list[str] = []
    for path in module_load_list(root, release):
        name = module_name(str(path))
        entries.append(CpioEntry(f"lib/modules/{name}.ko", stat.S_IFREG | 0o644, read_module(path)))
        mod_lines.append(f"{name}.ko {MODULE_PARAMS.get(name, '')}".rstrip())
    entries.append(
        CpioEntry("lib/modules/load.list", stat.S_IFREG | 0o644, "\n".join(mod_lines).encode() + b"\n")
    )
    entries.append(CpioEntry("bin/busybox", stat.S_IFREG | 0o755, busybox.read_bytes()))
    entries.append(CpioEntry("init", stat.S_IFREG | 0o755, GUEST_INIT.read_bytes()))
    entries.append(CpioEntry("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1)))
    dirs = cpio_dirs([e.name for e in entries] + ["proc/x", "sys/x", "newroot/x", "sbin/x", "nvtui/x"])
    return cpio_newc(dirs + entries)


def _initramfs_key(kdir: Path, busybox: Path) -> str:
    h = hashlib.sha256()
    h.update(GUEST_INIT.read_bytes())
    h.update(repr((GUEST_MODULES, sorted(MODULE_PARAMS.items()))).encode())
    st = busybox.stat()
    h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
    h.update(Path(__file__).read_bytes())
    return h.hexdigest()[:16]


def prepare_kernel(spec: str | None = None) -> Kernel:
    """Download (once), extract, depmod and unpack the kernel; build its initramfs (cached)."""
    pkg = resolve_kernel(spec)
    base = cache_dir() / "kernels"
    kdir = base / pkg.cache_key
    with _locked(base / ".lock"):
        if not (kdir / "complete").exists():
            t0 = time.monotonic()
            log(f"preparing kernel {pkg.name} {pkg.version} in {kdir}")
            stage = base / f".stage-{pkg.cache_key}-{os.getpid()}"
            shutil.rmtree(stage, ignore_errors=True)
            stage.mkdir(parents=True)
            subprocess.run(
                ["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", f"{pkg.name}={pkg.version}"],
                cwd=stage,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            (deb,) = stage.glob("*.deb")
            subprocess.run(["dpkg-deb", "-x", str(deb), str(stage / "root")], check=True)
            deb.unlink()
            (mods,) = (stage / "root" / "lib" / "modules").iterdir()
            release = mods.name
            subprocess.run(["depmod", "-b", str(stage / "root"), release], check=True)
            bz = stage / "root" / "boot" / f"vmlinuz-{release}"
            (stage / "vmlinux").write_bytes(extract_vmlinux(bz.read_bytes()))
            (stage / "release").write_text(release + "\n")
            (stage / "complete").write_text(f"{pkg.name} {pkg.version}\n")
            shutil.rmtree(kdir, ignore_errors=True)
            stage.rename(kdir)
            log(f"kernel {release} ready in {time.monotonic() - t0:.1f}s")
        release = (kdir / "release").read_text().strip()
        busybox = Path("/bin/busybox")
        initrd = kdir / f"initramfs-{_initramfs_key(kdir, busybox)}.cpio"
        if not initrd.exists():
            for old in kdir.glob("initramfs-*.cpio"):
                old.unlink()
            tmp = initrd.with_suffix(f".tmp{os.getpid()}")
            tmp.write_bytes(build_initramfs(kdir / "root", release, busybox))
            tmp.rename(initrd)
    return Kernel(pkg, kdir / "root", release, kdir / "vmlinux", initrd)


# --------------------------------------------------------------------------------------------------
# Guest command and QEMU command line


def guest_env(cwd: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The guest command's environment: host essentials, NVTUI_* settings, then the caller's *env*."""
    out = {k: os.environ[k] for k in ENV_PASSTHROUGH if k in os.environ}
    out.update({k: v for k, v in os.environ.items() if k.startswith("NVTUI_")})
    out.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    out.setdefault("HOME", "/root")
    out["PWD"] = cwd
    out["NVTUI_IN_VM"] = "1"
    out["NVTUI_SIM_DIR"] = GUEST_TMP_SIM_DIR
    out["PYTHONUNBUFFERED"] = "1"  # live output
    out["PYTHONDONTWRITEBYTECODE"] = "1"  # the guest does not write into the host's tree
    out.pop("NVTUI_VM_MONITOR", None)  # set by the guest init
    out.update(env or {})
    return out


def guest_script(argv: Sequence[str], cwd: str, env: Mapping[str, str]) -> str:
    """The shell script run (chrooted into the shared root) inside the guest."""
    if not argv:
        raise ValueError("empty command")
    assigns = " ".join(shlex.quote(f"{k}={v}") for k, v in env.items())
    return (
        f"cd {shlex.quote(cwd)} || {{ echo 'nvtui-vm: cannot cd to '{shlex.quote(cwd)} >&2; exit 125; }}\n"
        f'exec /usr/bin/env -i NVTUI_VM_MONITOR="$NVTUI_VM_MONITOR" {assigns} '
        f"{' '.join(shlex.quote(a) for a in argv)}\n"
    )


def kept_under_tmp(cwd: str) -> str:
    """The working tree's top folder under /tmp (the guest mounts its own tmpfs there), or ""."""
    parts = Path(cwd).resolve().parts
    return str(Path(*parts[:3])) if len(parts) >= 3 and parts[1] == "tmp" else ""


def run_cpio(script: str, config: Mapping[str, str]) -> bytes:
    """The per-run initramfs part (appended to the cached one): the command and its settings."""
    conf = "".join(f"{k}={shlex.quote(v)}\n" for k, v in config.items())
    return cpio_newc(
        [
            CpioEntry("nvtui", stat.S_IFDIR | 0o755),
            CpioEntry("nvtui/cmd.sh", stat.S_IFREG | 0o755, script.encode()),
            CpioEntry("nvtui/config", stat.S_IFREG | 0o644, conf.encode()),
        ]
    )


KERNEL_CMDLINE = "console=ttyS0 panic=-1 quiet rdinit=/init"


def qemu_command(
    *,
    vmlinux: Path,
    initrd: Path,
    rundir: Path,
    images: Sequence[tuple[Namespace, Path]],
    aio: str = "io_uring",
    extra: Sequence[str] = (),
    cmdline: str = KERNEL_CMDLINE,
) -> list[str]:
    """The QEMU command line: TCG, q35, PVH boot of *vmlinux*, 9p root, NVMe controller, ports."""
    cmd = [
        "qemu-system-x86_64",
        "-accel", "tcg",
        "-cpu", "max",
        "-smp", "2",
        "-m", "2G",
        "-machine", "q35",
        "-nographic",
        "-no-reboot",
        "-nodefaults",
        "-monitor", "none",
        "-kernel", str(vmlinux),
        "-initrd", str(initrd),
        "-append", cmdline,
        "-serial", f"file:{rundir / 'console.log'}",
        "-qmp", f"unix:{rundir / 'qmp.sock'},server=on,wait=off",
        "-virtfs", "local,path=/,mount_tag=hostroot,security_model=passthrough,multidevs=remap",
        "-device", "virtio-serial-pci,id=vser0",
        "-chardev", f"socket,id=nvtui_out,path={rundir / 'out.sock'},server=on,wait=off",
        "-device", f"virtserialport,bus=vser0.0,nr=1,chardev=nvtui_out,name={SERIAL_PORT_OUT}",
        "-chardev", f"file,id=nvtui_status,path={rundir / 'status'}",
        "-device", f"virtserialport,bus=vser0.0,nr=2,chardev=nvtui_status,name={SERIAL_PORT_STATUS}",
        "-chardev", f"socket,id=nvtui_ctl,path={rundir / 'ctl.sock'},server=on,wait=off",
        "-device", f"virtserialport,bus=vser0.0,nr=3,chardev=nvtui_ctl,name={SERIAL_PORT_CTL}",
        # A hot-pluggable slot for the controller, so a test can device_del it.
        "-device", "pcie-root-port,id=nvme_rp0,bus=pcie.0,chassis=1,slot=1",
        "-device", f"nvme,serial={NVME_SERIAL},id=nvme0,bus=nvme_rp0",
    ]  # fmt: skip
    for ns, path in images:
        drive = f"nvme_ns{ns.nsid}"
        cmd += ["-drive", f"file={path},if=none,id={drive},format=raw,cache=none,aio={aio}"]
        props = f"nvme-ns,drive={drive},bus=nvme0,nsid={ns.nsid}"
        cmd += ["-device", f"{props},{ns.options}" if ns.options else props]
    cmd += list(extra)
    return cmd


_aio_mode: str | None = None


def qemu_aio_mode() -> str:
    """``io_uring`` when this QEMU accepts ``aio=io_uring`` on a raw file, else ``threads``."""
    global _aio_mode
    if _aio_mode is None:
        with tempfile.NamedTemporaryFile(prefix="nvtui-vm-probe-") as f:
            f.truncate(1 * MiB)
            drive = f"file={f.name},if=none,id=d,format=raw,cache=none,aio=io_uring"
            proc = subprocess.run(
                [
                    *("qemu-system-x86_64", "-machine", "none", "-nodefaults", "-display", "none"),
                    *("-monitor", "stdio", "-drive", drive),
                ],
                input="quit\n",
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        _aio_mode = "io_uring" if proc.returncode == 0 else "threads"
        if _aio_mode != "io_uring":
            log(f"QEMU refuses aio=io_uring ({proc.stderr.strip()}); using aio=threads")
    return _aio_mode


# --------------------------------------------------------------------------------------------------
# The monitor hook: guest requests over a virtio-serial port, forwarded to QEMU's QMP socket


def _connect_unix(path: Path, deadline: float, alive: Callable[[], bool]) -> socket.socket | None:
    while time.monotonic() < deadline and alive():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(str(path))
            return s
        except OSError:
            s.close()
            time.sleep(0.02)
    return None


class QMP:
    """A minimal QMP client on QEMU's unix socket: commands (one at a time) and recorded events."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._file = sock.makefile("rb")
        self._lock = threading.Lock()
        self._cond = threading.Condition()
        self._replies: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self._taken: set[int] = set()
        self.closed = False
        greeting = json.loads(self._file.readline())
        if "QMP" not in greeting:
            raise VMError(f"unexpected QMP greeting {greeting!r}")
        threading.Thread(target=self._reader, name="nvtui-vm-qmp", daemon=True).start()
        reply = self.command("qmp_capabilities")
        if "error" in reply:
            raise VMError(f"qmp_capabilities: {reply}")

    def _reader(self) -> None:
        try:
            for line in self._file:
                msg = json.loads(line)
                with self._cond:
                    (self.events if "event" in msg else self._replies).append(msg)
                    self._cond.notify_all()
        except (OSError, ValueError):
            pass
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def command(
        self, execute: str, arguments: Mapping[str, Any] | None = None, timeout: float = 60
    ) -> dict[str, Any]:
        """Run one QMP command; its reply (``{"return": ...}`` or ``{"error": ...}``)."""
        msg: dict[str, Any] = {"execute": execute}
        if arguments:
            msg["arguments"] = dict(arguments)
        with self._lock:
            self._sock.sendall(json.dumps(msg).encode() + b"\n")
            with self._cond:
                if not self._cond.wait_for(lambda: self._replies or self.closed, timeout):
                    return {"error": {"class": "Timeout", "desc": f"no QMP reply within {timeout}s"}}
                if not self._replies:
                    return {"error": {"class": "Closed", "desc": "QMP connection closed"}}
                return self._replies.pop(0)

    def wait_event(
        self, name: str, timeout: float = 30, match: Mapping[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """The oldest not yet taken event called *name* whose ``data`` has the *match* items.

        Waits up to *timeout* seconds for one; each event is handed out once.
        """

        def find() -> int | None:
            for i, e in enumerate(self.events):
                if i in self._taken or e.get("event") != name:
                    continue
                data = e.get("data", {})
                if all(data.get(k) == v for k, v in (match or {}).items()):
                    return i
            return None

        with self._cond:
            self._cond.wait_for(lambda: find() is not None or self.closed, timeout)
            i = find()
            if i is None:
                return None
            self._taken.add(i)
            return self.events[i]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()


def handle_guest_request(qmp: QMP, request: Mapping[str, Any]) -> dict[str, Any]:
    """One guest monitor request: a QMP command (``{"execute": ..., "arguments": ...}``), or
    ``{"nvtui-wait-event": NAME, "timeout": S, "match": {KEY: VALUE}}`` (an event whose data match)."""
    if "nvtui-wait-event" in request:
        event = qmp.wait_event(
            str(request["nvtui-wait-event"]), float(request.get("timeout", 30)), request.get("match")
        )
        if event is None:
            return {"error": {"class": "Timeout", "desc": f"no {request['nvtui-wait-event']} event"}}
        return {"return": event}
    if not isinstance(request.get("execute"), str):
        return {"error": {"class": "GenericError", "desc": "request needs 'execute'"}}
    return qmp.command(request["execute"], request.get("arguments"))


class _MonitorBridge:
    """Host thread: connect to QMP and to the guest's control port, serve the guest's requests."""

    def __init__(self, rundir: Path, alive: Callable[[], bool], deadline: float) -> None:
        self.rundir = rundir
        self.alive = alive
        self.deadline = deadline
        self.qmp: QMP | None = None
        self.ready = threading.Event()
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, name="nvtui-vm-monitor", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        qsock = _connect_unix(self.rundir / "qmp.sock", self.deadline, self.alive)
        csock = _connect_unix(self.rundir / "ctl.sock", self.deadline, self.alive)
        try:
            if qsock is None or csock is None:
                self.error = "could not connect to QEMU's QMP or control socket"
                return
            self.qmp = QMP(qsock)
        except (OSError, ValueError, VMError) as e:
            self.error = f"QMP: {e}"
            return
        finally:
            self.ready.set()
        buf = b""
        with csock:
            while True:
                try:
                    chunk = csock.recv(65536)
                except OSError:
                    break
                if not chunk:
                    break
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if not line.strip():
                        continue
                    try:
                        reply = handle_guest_request(self.qmp, json.loads(line))
                    except ValueError as e:
                        reply = {"error": {"class": "GenericError", "desc": f"bad request: {e}"}}
                    with contextlib.suppress(OSError):
                        csock.sendall(json.dumps(reply).encode() + b"\n")

    def close(self) -> None:
        if self.qmp is not None:
            self.qmp.close()


def monitor_command(
    execute: str, arguments: Mapping[str, Any] | None = None, *, timeout: float = 60
) -> dict[str, Any]:
    """From inside the guest: run a QMP command on this VM's QEMU, e.g. ``device_del`` ``{"id": "nvme0"}``.

    Returns QMP's reply (``{"return": ...}`` or ``{"error": ...}``).  ``execute="nvtui-wait-event"``
    with ``arguments={"event": NAME, "timeout": S, "match": {...}}`` waits for a QMP event, e.g.
    ``DEVICE_DELETED`` with ``match={"device": "nvme0"}`` (each event is returned once; the nvme-ns
    children's DEVICE_DELETED come first, without a ``device``).
    """
    path = os.environ.get("NVTUI_VM_MONITOR")
    if not path:
        raise VMError("NVTUI_VM_MONITOR is not set: not inside the nvtui test VM")
    if execute == "nvtui-wait-event":
        args = dict(arguments or {})
        request: dict[str, Any] = {"nvtui-wait-event": args["event"], "timeout": args.get("timeout", 30)}
        if args.get("match"):
            request["match"] = dict(args["match"])
    else:
        request = {"execute": execute}
        if arguments:
            request["arguments"] = dict(arguments)
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, json.dumps(request).encode() + b"\n")
        buf = b""
        deadline = time.monotonic() + timeout
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise VMError(f"no reply from the VM monitor within {timeout}s")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise VMError("VM monitor port closed")
            buf += chunk
        result: dict[str, Any] = json.loads(buf.split(b"\n", 1)[0])
        return result
    finally:
        os.close(fd)


# --------------------------------------------------------------------------------------------------
# Running the VM


@dataclasses.dataclass
class VMResult:
    returncode: int
    prepare_seconds: float  # host: kernel cache, images, initramfs, until QEMU starts
    boot_seconds: float | None  # guest uptime when the command started
    command_seconds: float | None  # guest: the command's run time
    total_seconds: float  # host: the whole call

    def summary(self) -> str:
        def f(x: float | None) -> str:
            return "?" if x is None else f"{x:.1f}s"

        return (
            f"prepare {f(self.prepare_seconds)}, guest boot to command {f(self.boot_seconds)}, "
            f"command {f(self.command_seconds)}, total {f(self.total_seconds)}"
        )


class EndMarkerFilter:
    """Splits the guest's output stream from the end marker that the guest init writes after it.

    The marker (with a per-run nonce) and the exit status come after the command's last byte on the
    same port, so seeing it proves that all the output arrived.  :meth:`feed` returns what to show.
    """

    def __init__(self, nonce: str) -> None:
        self.marker = f"\x1eNVTUI-END-{nonce}:".encode()
        self._buf = b""
        self._tail: bytes | None = None  # bytes after the marker, once seen

    @property
    def returncode(self) -> int | None:
        if self._tail is None:
            return None
        m = re.match(rb"(\d+)\n", self._tail)
        return int(m.group(1)) if m else None

    def feed(self, chunk: bytes) -> bytes:
        if self._tail is not None:
            self._tail += chunk
            return b""
        buf = self._buf + chunk
        idx = buf.find(self.marker)
        if idx >= 0:
            self._tail = buf[idx + len(self.marker) :]
            self._buf = b""
            return buf[:idx]
        keep = 0
        for n in range(min(len(buf), len(self.marker) - 1), 0, -1):
            if self.marker.startswith(buf[-n:]):
                keep = n
                break
        self._buf = buf[len(buf) - keep :] if keep else b""
        return buf[: len(buf) - keep]

    def flush(self) -> bytes:
        """What was held back (a partial marker) when the stream ended without the marker."""
        out, self._buf = self._buf, b""
        return out if self._tail is None else b""


def _pump(
    path: Path,
    sink: Callable[[bytes], None],
    filt: EndMarkerFilter,
    deadline: float,
    alive: Callable[[], bool],
) -> None:
    """Copy the guest command's output (QEMU's ``nvtui.out`` port socket) to *sink* until QEMU exits."""
    sock = _connect_unix(path, deadline, alive)
    if sock is None:
        return
    with sock:
        while True:
            try:
                chunk = sock.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            out = filt.feed(chunk)
            if out:
                sink(out)
    rest = filt.flush()
    if rest:
        sink(rest)


def _stdout_sink(chunk: bytes) -> None:
    sys.stdout.buffer.write(chunk)
    sys.stdout.flush()


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(none)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty)"


def parse_status(text: str) -> int | None:
    """The exit status the guest init reported, None when it reported none."""
    m = re.search(r"^rc=(\d+)$", text, re.MULTILINE)
    return int(m.group(1)) if m else None


def parse_uptime_mark(text: str, key: str) -> float | None:
    """Guest uptime (seconds) at the ``start=`` (command started) or ``end=`` status line."""
    m = re.search(rf"^{key}=([\d.]+)$", text, re.MULTILINE)
    return float(m.group(1)) if m else None


def run_vm(*args: Any, **kwargs: Any) -> VMResult:
    """`run_vm_once`, booted again (up to BOOT_ATTEMPTS in all) when the guest dies before the command
    starts; any failure after the command started is the command's and is reported, never retried."""
    for attempt in range(1, BOOT_ATTEMPTS + 1):
        try:
            return run_vm_once(*args, **kwargs)
        except VMBootError as exc:
            if attempt == BOOT_ATTEMPTS:
                raise
            log(f"the guest died before the command started; booting again ({exc.args[0].splitlines()[0]})")
    raise AssertionError("unreachable")


def run_vm_once(
    argv: Sequence[str],
    *,
    kernel: str | None = None,
    timeout: float = 1800,
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
    extra_qemu: Sequence[str] = (),
    output: Callable[[bytes], None] | None = None,
    on_monitor: Callable[[QMP], None] | None = None,
    keep_rundir: bool = False,
    nvme_params: str | None = None,
    namespaces: Sequence[Namespace] | None = None,
) -> VMResult:
    """Boot the VM, run *argv* in it, stream its output to *output* (default: stdout).

    *on_monitor* is called (in a thread) with the host's QMP connection once it is up.
    *namespaces*: the controller's namespaces instead of NAMESPACES (a boot variant, e.g. the
    8-namespace benchmark); the guest waits for as many char devices.
    Raises VMTimeout past *timeout* seconds (QEMU is killed), VMError when the guest reports no status.
    """
    t0 = time.monotonic()
    deadline = t0 + timeout
    k = prepare_kernel(kernel)
    cwd = cwd or os.getcwd()
    rundir = Path(tempfile.mkdtemp(prefix="nvtui-vm-"))
    proc: subprocess.Popen[bytes] | None = None
    bridge: _MonitorBridge | None = None
    try:
        images: list[tuple[Namespace, Path]] = []
        chosen = NAMESPACES if namespaces is None else tuple(namespaces)
        for ns in chosen:
            img = rundir / f"ns{ns.nsid}.raw"
            with open(img, "wb") as f:
                f.truncate(ns.size)
            images.append((ns, img))
        nonce = os.urandom(8).hex()
        config = {
            "NVTUI_EXPECT_NS": str(len(chosen)),
            "NVTUI_KERNEL_RELEASE": k.release,
            "NVTUI_END": f"\x1eNVTUI-END-{nonce}:",
            "NVTUI_KEEP_DIR": kept_under_tmp(cwd),
        }
        if nvme_params is not None:  # a boot variant: the nvme module's parameters instead of MODULE_PARAMS'
            config["NVTUI_NVME_PARAMS"] = nvme_params
        initrd = rundir / "initrd.cpio"
        with open(initrd, "wb") as f:
            f.write(k.initramfs.read_bytes())
            f.write(run_cpio(guest_script(argv, cwd, guest_env(cwd, env)), config))
        cmd = qemu_command(
            vmlinux=k.vmlinux,
            initrd=initrd,
            rundir=rundir,
            images=images,
            aio=qemu_aio_mode(),
            extra=extra_qemu,
        )
        stderr_path = rundir / "qemu.stderr"
        t_qemu = time.monotonic()
        with open(stderr_path, "wb") as err:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
        p = proc
        filt = EndMarkerFilter(nonce)
        pump = threading.Thread(
            target=_pump,
            args=(rundir / "out.sock", output or _stdout_sink, filt, deadline, lambda: p.poll() is None),
            name="nvtui-vm-out",
            daemon=True,
        )
        pump.start()
        bridge = _MonitorBridge(rundir, lambda: p.poll() is None, deadline)
        if on_monitor is not None:
            b = bridge

            def _call_on_monitor() -> None:
                b.ready.wait()
                if b.qmp is not None:
                    on_monitor(b.qmp)

            threading.Thread(target=_call_on_monitor, name="nvtui-vm-on-monitor", daemon=True).start()
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pump.join(5)
            raise VMTimeout(
                f"VM killed after its {timeout:.0f}s wall-clock limit ({' '.join(argv)}).\n"
                f"Guest console (last lines):\n{_tail(rundir / 'console.log')}"
            ) from None
        pump.join(10)
        status_text = (rundir / "status").read_text(errors="replace") if (rundir / "status").exists() else ""
        rc = filt.returncode
        if rc is None:
            rc = parse_status(status_text)
            if rc is not None:
                log("the guest command's output may be incomplete (no end marker on the output port)")
        total = time.monotonic() - t0
        if rc is None:
            died = VMBootError if parse_uptime_mark(status_text, "start") is None else VMError
            raise died(
                f"the guest reported no exit status (QEMU exit {proc.returncode}).\n"
                f"{status_text.strip()}\nQEMU stderr:\n{_tail(stderr_path)}\n"
                f"Guest console (last lines):\n{_tail(rundir / 'console.log')}"
            )
        start = parse_uptime_mark(status_text, "start")
        end = parse_uptime_mark(status_text, "end")
        command = end - start if start is not None and end is not None else None
        return VMResult(rc, t_qemu - t0, start, command, total)
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        if bridge is not None:
            bridge.close()
        if keep_rundir:
            log(f"run directory kept: {rundir}")
        else:
            shutil.rmtree(rundir, ignore_errors=True)


def run_in_vm(
    argv: list[str],
    *,
    kernel: str | None = None,
    timeout: float = 1800,
    cwd: str | None = None,
    env: dict[str, str] | None = None,
    extra_qemu: Sequence[str] = (),
) -> int:
    """Boot the test VM, run *argv* there (cwd and environment essentials from the host), stream its
    output to stdout, and return its exit status.  Raises VMTimeout / VMError (see :func:`run_vm`)."""
    return run_vm(argv, kernel=kernel, timeout=timeout, cwd=cwd, env=env, extra_qemu=extra_qemu).returncode


def real_python() -> str:
    """This interpreter's real path inside its venv (``.venv/bin/python``), never a pyenv shim."""
    venv = sys.prefix if sys.prefix != sys.base_prefix else ""
    if venv:
        for name in ("python3", "python"):
            cand = Path(venv) / "bin" / name
            if cand.exists():
                return str(cand)
    return os.path.realpath(sys.executable)
