"""Host-side tests of the VM harness's pure parts (tests/vm/vm.py, tests/vm/run.py): no VM is booted."""

from __future__ import annotations

import gzip
import json
import lzma
import os
import socket
import struct
import subprocess
import sys
import threading
import tty
from pathlib import Path
from typing import Any

import pytest

# tests/ is not a package: make ``tests.vm`` importable however pytest was started.
if str(Path(__file__).resolve().parents[1]) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.vm import run, vm

# --------------------------------------------------------------------------------------------------
# Packages and kernel resolution


def test_apt_packages_cover_the_recipe() -> None:
    assert set(vm.APT_PACKAGES) == {
        "qemu-system-x86",
        "busybox-static",
        "cpio",
        "kmod",
        "xz-utils",
        "zstd",
        "fio",
        "nvme-cli",
        "chromium",  # not the VM's: the host's browser test of nvtui serve
    }


def test_parse_dpkg_query() -> None:
    text = "cpio installed\nzstd not-installed\nfio:amd64 installed\nkmod config-files\n"
    assert vm.parse_dpkg_query(text) == {"cpio", "fio"}


def test_missing_host_packages_asks_dpkg() -> None:
    assert vm.missing_host_packages(("dpkg", "nvtui-no-such-package")) == ["nvtui-no-such-package"]


APT_DEPENDS_META = """linux-image-6.12-amd64
  Depends: linux-image-6.12.117+deb12-amd64
"""
APT_DEPENDS_MIXED = """linux-image-amd64
 |Depends: linux-image-6.1.0-56-amd64
  Depends: <linux-image-virtual>
    linux-image-6.1.0-56-amd64
  PreDepends: dpkg
"""
APT_POLICY = """linux-image-6.12-amd64:
  Installed: (none)
  Candidate: 6.12.117-1~deb12u1
  Version table:
     6.12.117-1~deb12u1 500
"""


def test_parse_apt_depends() -> None:
    assert vm.parse_apt_depends(APT_DEPENDS_META) == ["linux-image-6.12.117+deb12-amd64"]
    assert vm.parse_apt_depends(APT_DEPENDS_MIXED) == ["linux-image-6.1.0-56-amd64", "dpkg"]


def test_parse_apt_policy_candidate() -> None:
    assert vm.parse_apt_policy_candidate(APT_POLICY) == "6.12.117-1~deb12u1"
    assert vm.parse_apt_policy_candidate("x:\n  Installed: (none)\n  Candidate: (none)\n") is None
    assert vm.parse_apt_policy_candidate("") is None


def test_pick_newest_compares_numbers_not_strings() -> None:
    names = [
        "linux-image-6.12.99+deb12-amd64",
        "linux-image-6.12.117+deb12-amd64",
        "linux-image-6.12.117+deb12-cloud-amd64",
        "linux-image-6.12.117+deb12-amd64-dbg",
        "linux-image-6.1.0-56-amd64",
    ]
    assert vm.pick_newest(names, vm.KERNEL_SERIES_RE["6.12"]) == "linux-image-6.12.117+deb12-amd64"
    assert vm.pick_newest(names, vm.KERNEL_SERIES_RE["6.1"]) == "linux-image-6.1.0-56-amd64"
    assert vm.pick_newest(
        ["linux-image-6.1.0-9-amd64", "linux-image-6.1.0-10-amd64"], vm.KERNEL_SERIES_RE["6.1"]
    ) == ("linux-image-6.1.0-10-amd64")
    assert vm.pick_newest([], vm.KERNEL_SERIES_RE["6.1"]) is None


class FakeApt:
    """apt-cache answers from a table: {package: (candidate or None, [depends])}."""

    def __init__(self, table: dict[str, tuple[str | None, list[str]]]) -> None:
        self.table = table

    def __call__(self, *args: str) -> str:
        cmd, arg = args
        if cmd == "pkgnames":
            return "\n".join(n for n in self.table if n.startswith(arg))
        cand, deps = self.table.get(arg, (None, []))
        if cmd == "policy":
            return (
                f"{arg}:\n  Installed: (none)\n  Candidate: {cand or '(none)'}\n" if arg in self.table else ""
            )
        if cmd == "depends":
            return arg + "\n" + "".join(f"  Depends: {d}\n" for d in deps)
        raise AssertionError(args)


BOOKWORM = {
    "linux-image-amd64": ("6.1.192-2", ["linux-image-6.1.0-56-amd64"]),
    "linux-image-6.1.0-56-amd64": ("6.1.192-2", ["kmod"]),
    "linux-image-6.1.0-55-amd64": ("6.1.190-1", ["kmod"]),
    "linux-image-6.12-amd64": ("6.12.117-1~deb12u1", ["linux-image-6.12.117+deb12-amd64"]),
    "linux-image-6.12.117+deb12-amd64": ("6.12.117-1~deb12u1", ["kmod"]),
    "linux-image-6.12.115+deb12-amd64": ("6.12.115-1~deb12u1", ["kmod"]),
}


@pytest.fixture
def no_apt_update(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vm, "_apt_updated", True)
    monkeypatch.delenv("NVTUI_VM_KERNEL", raising=False)


@pytest.mark.usefixtures("no_apt_update")
def test_resolve_kernel_through_meta_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vm, "_apt_cache", FakeApt(BOOKWORM))
    assert vm.resolve_kernel("6.12") == vm.KernelPackage(
        "linux-image-6.12.117+deb12-amd64", "6.12.117-1~deb12u1"
    )
    assert vm.resolve_kernel("6.1") == vm.KernelPackage("linux-image-6.1.0-56-amd64", "6.1.192-2")
    assert vm.resolve_kernel(None).name == "linux-image-6.12.117+deb12-amd64"  # 6.12 preferred
    assert vm.resolve_kernel("linux-image-6.1.0-55-amd64").version == "6.1.190-1"
    assert vm.resolve_kernel("linux-image-amd64").name == "linux-image-6.1.0-56-amd64"  # a meta is followed


@pytest.mark.usefixtures("no_apt_update")
def test_resolve_kernel_without_meta_package(monkeypatch: pytest.MonkeyPatch) -> None:
    table = {k: v for k, v in BOOKWORM.items() if k not in ("linux-image-6.12-amd64", "linux-image-amd64")}
    monkeypatch.setattr(vm, "_apt_cache", FakeApt(table))
    assert vm.resolve_kernel("6.12").name == "linux-image-6.12.117+deb12-amd64"
    assert vm.resolve_kernel("6.1").name == "linux-image-6.1.0-56-amd64"


@pytest.mark.usefixtures("no_apt_update")
def test_resolve_kernel_falls_back_to_6_1_and_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    only_61 = {k: v for k, v in BOOKWORM.items() if "6.12" not in k}
    monkeypatch.setattr(vm, "_apt_cache", FakeApt(only_61))
    assert vm.resolve_kernel(None).name == "linux-image-6.1.0-56-amd64"
    monkeypatch.setattr(vm, "_apt_cache", FakeApt({}))
    with pytest.raises(vm.VMError, match="no Debian kernel package"):
        vm.resolve_kernel("6.12")


@pytest.mark.usefixtures("no_apt_update")
def test_resolve_kernel_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vm, "_apt_cache", FakeApt(BOOKWORM))
    monkeypatch.setenv("NVTUI_VM_KERNEL", "6.1")
    assert vm.resolve_kernel().name == "linux-image-6.1.0-56-amd64"


def test_cache_key_is_a_safe_file_name() -> None:
    key = vm.KernelPackage("linux-image-6.12.117+deb12-amd64", "6.12.117-1~deb12u1").cache_key
    assert key == "linux-image-6.12.117+deb12-amd64_6.12.117-1_deb12u1"


# --------------------------------------------------------------------------------------------------
# vmlinux extraction

FAKE_ELF = b"\x7fELF\x02\x01\x01" + bytes(range(256)) * 64


def zstd_compress(data: bytes) -> bytes:
    return subprocess.run(["zstd", "-q", "-c", "-19"], input=data, capture_output=True, check=True).stdout


def compress(kind: str, data: bytes) -> bytes:
    if kind == "gzip":
        return gzip.compress(data)
    if kind == "xz":
        return lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32)
    return zstd_compress(data)


def fake_bzimage(payload: bytes, *, setup_sects: int = 3, header: bool = True) -> bytes:
    """A bzImage: setup sectors with the boot header, then the 32-bit part holding *payload*."""
    size_append = struct.pack("<I", len(FAKE_ELF))  # Linux appends the uncompressed size
    stub = b"\x90" * 100 + b"\x28\xb5\x2f\xfd junk \xfd7zXZ\x00 junk \x1f\x8b\x08 junk"  # false magics first
    setup = bytearray((setup_sects + 1) * 512)
    if header:
        setup[0x1F1] = setup_sects
        setup[0x202:0x206] = b"HdrS"
        struct.pack_into("<H", setup, 0x206, 0x20F)
        struct.pack_into("<II", setup, 0x248, len(stub), len(payload) + 4)
    return bytes(setup) + stub + payload + size_append + b"\xcc" * 300


@pytest.mark.parametrize("kind", ["zstd", "xz", "gzip"])
@pytest.mark.parametrize("header", [True, False])
def test_extract_vmlinux(kind: str, header: bool) -> None:
    blob = fake_bzimage(compress(kind, FAKE_ELF), header=header)
    assert vm.extract_vmlinux(blob) == FAKE_ELF


def test_bzimage_payload_reads_the_boot_header() -> None:
    payload = compress("xz", FAKE_ELF)
    blob = fake_bzimage(payload, setup_sects=5)
    start, length = vm.bzimage_payload(blob) or (0, 0)
    assert blob[start : start + length - 4] == payload
    assert vm.bzimage_payload(b"\0" * 4096) is None


def test_extract_vmlinux_refuses_a_blob_without_a_kernel() -> None:
    not_elf = compress("gzip", b"not an ELF file at all")
    with pytest.raises(vm.VMError, match="no zstd/xz/gzip"):
        vm.extract_vmlinux(fake_bzimage(not_elf))
    with pytest.raises(vm.VMError):
        vm.extract_vmlinux(b"\x1f\x8b\x08 broken gzip" + bytes(1000))


# --------------------------------------------------------------------------------------------------
# initramfs pieces


def test_cpio_newc_round_trips_through_cpio(tmp_path: Path) -> None:
    entries = [
        *vm.cpio_dirs(["bin/busybox", "lib/modules/nvme.ko"]),
        vm.CpioEntry("bin/busybox", 0o100755, b"#!busybox\n"),
        vm.CpioEntry("lib/modules/nvme.ko", 0o100644, bytes(range(256)) * 3 + b"odd"),
        vm.CpioEntry("bin/sh", 0o120777, b"busybox"),
        vm.CpioEntry("init", 0o100755, b"x" * 5),
    ]
    archive = vm.cpio_newc(entries)
    assert len(archive) % 4 == 0
    listing = subprocess.run(["cpio", "-t", "--quiet"], input=archive, capture_output=True, check=True).stdout
    assert listing.decode().split() == [
        "bin",
        "lib",
        "lib/modules",
        "bin/busybox",
        "lib/modules/nvme.ko",
        "bin/sh",
        "init",
    ]
    subprocess.run(["cpio", "-id", "--quiet"], input=archive, cwd=tmp_path, check=True)
    assert (tmp_path / "lib/modules/nvme.ko").read_bytes() == bytes(range(256)) * 3 + b"odd"
    assert os.readlink(tmp_path / "bin/sh") == "busybox"
    assert os.access(tmp_path / "bin/busybox", os.X_OK)


def test_cpio_concatenation_keeps_both_parts(tmp_path: Path) -> None:
    base = vm.cpio_newc([vm.CpioEntry("init", 0o100755, b"base")])
    extra = vm.run_cpio("echo hi\n", {"A": "b c"})
    subprocess.run(["cpio", "-id", "--quiet"], input=base + extra, cwd=tmp_path, check=True)
    # GNU cpio stops at the first trailer, as the kernel does not: check the second part on its own.
    subprocess.run(["cpio", "-id", "--quiet"], input=extra, cwd=tmp_path, check=True)
    assert (tmp_path / "init").read_bytes() == b"base"
    assert (tmp_path / "nvtui/cmd.sh").read_text() == "echo hi\n"
    assert (tmp_path / "nvtui/config").read_text() == "A='b c'\n"


def test_parse_show_depends_and_module_names() -> None:
    text = (
        "insmod /k/lib/modules/6.1/kernel/fs/netfs/netfs.ko.xz \n"
        "insmod /k/lib/modules/6.1/kernel/drivers/nvme/host/nvme-core.ko.xz \n"
        "insmod /k/lib/modules/6.1/kernel/drivers/nvme/host/nvme.ko.xz poll_queues=2\n"
        "builtin virtio_pci\n"
    )
    mods = vm.parse_show_depends(text)
    assert [vm.module_name(p) for p, _ in mods] == ["netfs", "nvme_core", "nvme"]
    assert mods[2][1] == "poll_queues=2"
    assert vm.module_name("/x/9pnet_virtio.ko.zst") == "9pnet_virtio"
    assert vm.module_name("/x/plain.ko") == "plain"


def test_read_module_decompresses(tmp_path: Path) -> None:
    body = b"\x7fELF module" * 50
    (tmp_path / "a.ko.xz").write_bytes(lzma.compress(body, check=lzma.CHECK_CRC32))
    (tmp_path / "b.ko.zst").write_bytes(zstd_compress(body))
    (tmp_path / "c.ko.gz").write_bytes(gzip.compress(body))
    (tmp_path / "d.ko").write_bytes(body)
    for name in ("a.ko.xz", "b.ko.zst", "c.ko.gz", "d.ko"):
        assert vm.read_module(tmp_path / name) == body, name


def test_nvme_gets_its_poll_queues() -> None:
    assert vm.MODULE_PARAMS["nvme"] == "poll_queues=2"
    assert {"nvme", "9p", "9pnet_virtio", "virtio_pci", "virtio_console"} <= set(vm.GUEST_MODULES)


def test_guest_init_is_valid_busybox_sh() -> None:
    proc = subprocess.run(["busybox", "sh", "-n", str(vm.GUEST_INIT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    text = vm.GUEST_INIT.read_text()
    assert "trans=virtio,version=9p2000.L,msize=262144,cache=loose" in text
    assert "poweroff -f" in text


# --------------------------------------------------------------------------------------------------
# The guest command


def test_guest_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NVTUI_SOMETHING", "1")
    monkeypatch.setenv("NVTUI_VM_MONITOR", "/host/value")
    monkeypatch.setenv("SECRET_LOOKING_THING", "x")
    env = vm.guest_env("/work/x", {"EXTRA": "y", "NVTUI_SIM_DIR": "/tmp/other"})
    assert env["NVTUI_IN_VM"] == "1"
    assert env["PWD"] == "/work/x"
    assert env["NVTUI_SOMETHING"] == "1"
    assert env["EXTRA"] == "y"
    assert env["NVTUI_SIM_DIR"] == "/tmp/other"  # the caller's env wins
    assert "NVTUI_VM_MONITOR" not in env  # set by the guest init
    assert "SECRET_LOOKING_THING" not in env
    assert env["PATH"] and env["HOME"]
    assert vm.guest_env("/")["NVTUI_SIM_DIR"].startswith("/tmp/")


def test_guest_script_runs_the_command_with_cwd_and_env(tmp_path: Path) -> None:
    argv = [
        sys.executable,
        "-c",
        "import os, sys; print(os.getcwd(), os.environ['X'], sys.argv[1:]); sys.exit(9)",
        "a b",
        "'q'",
    ]
    script = vm.guest_script(argv, str(tmp_path), {"X": "it's $HOME", "PATH": os.environ["PATH"]})
    proc = subprocess.run(["sh", "-c", script], capture_output=True, text=True)
    assert proc.returncode == 9
    assert proc.stdout == f"{tmp_path} it's $HOME ['a b', \"'q'\"]\n"


def test_guest_script_fails_on_a_missing_cwd(tmp_path: Path) -> None:
    script = vm.guest_script(["true"], str(tmp_path / "missing"), {})
    proc = subprocess.run(["sh", "-c", script], capture_output=True, text=True)
    assert proc.returncode == 125
    assert "cannot cd" in proc.stderr
    with pytest.raises(ValueError):
        vm.guest_script([], "/", {})


def test_qemu_command(tmp_path: Path) -> None:
    images = [(ns, tmp_path / f"ns{ns.nsid}.raw") for ns in vm.NAMESPACES]
    cmd = vm.qemu_command(
        vmlinux=tmp_path / "vmlinux", initrd=tmp_path / "initrd", rundir=tmp_path, images=images, extra=["-s"]
    )
    joined = " ".join(cmd)
    for part in (
        "-accel tcg",
        "-cpu max",
        "-smp 2",
        "-m 2G",
        "-machine q35",
        "-nographic",
        "-no-reboot",
        f"-kernel {tmp_path / 'vmlinux'}",
        "local,path=/,mount_tag=hostroot,security_model=passthrough,multidevs=remap",
        "nvme,serial=nvtui0001,id=nvme0",
        "zoned=true,zoned.zone_size=64M,zoned.zone_capacity=64M",
        "ms=8,mset=0",
        f"-qmp unix:{tmp_path / 'qmp.sock'},server=on,wait=off",
    ):
        assert part in joined, part
    assert "kvm" not in joined
    assert "panic=-1" in cmd[cmd.index("-append") + 1]
    drives = [cmd[i + 1] for i, a in enumerate(cmd) if a == "-drive"]
    assert len(drives) == 3 and all("cache=none,aio=io_uring" in d and "format=raw" in d for d in drives)
    devices = [cmd[i + 1] for i, a in enumerate(cmd) if a == "-device" and cmd[i + 1].startswith("nvme-ns")]
    assert [d.split("nsid=")[1].split(",")[0] for d in devices] == ["1", "2", "3"]
    assert cmd[-1] == "-s"
    threads = vm.qemu_command(
        vmlinux=Path("v"), initrd=Path("i"), rundir=tmp_path, images=images, aio="threads"
    )
    assert all("aio=threads" in threads[i + 1] for i, a in enumerate(threads) if a == "-drive")


def test_namespace_sizes() -> None:
    assert [(n.nsid, n.size) for n in vm.NAMESPACES] == [(1, 1 << 30), (2, 1 << 30), (3, 256 << 20)]


# --------------------------------------------------------------------------------------------------
# Output and status


def feed_all(filt: vm.EndMarkerFilter, chunks: list[bytes]) -> bytes:
    return b"".join(filt.feed(c) for c in chunks) + filt.flush()


def test_end_marker_filter_split_anywhere() -> None:
    marker = vm.EndMarkerFilter("abc").marker
    stream = b"line 1\nno newline at the end" + marker + b"42\n"
    for cut in range(len(stream) + 1):
        filt = vm.EndMarkerFilter("abc")
        assert feed_all(filt, [stream[:cut], stream[cut:]]) == b"line 1\nno newline at the end"
        assert filt.returncode == 42
    filt = vm.EndMarkerFilter("abc")
    assert feed_all(filt, [bytes([b]) for b in stream]) == b"line 1\nno newline at the end"
    assert filt.returncode == 42


def test_end_marker_filter_passes_lookalikes_and_reports_no_marker() -> None:
    filt = vm.EndMarkerFilter("abc")
    prefix = filt.marker[:-3]
    out = feed_all(filt, [b"x" + prefix, b"zzz", b"\x1e", b"tail"])
    assert out == b"x" + prefix + b"zzz\x1etail"
    assert filt.returncode is None
    other = vm.EndMarkerFilter("def")
    assert feed_all(other, [filt.marker + b"0\n"]) == filt.marker + b"0\n"  # another run's nonce
    assert other.returncode is None
    held = vm.EndMarkerFilter("abc")
    assert held.feed(b"ok" + held.marker[:5]) == b"ok"
    assert held.flush() == held.marker[:5]


def test_parse_status() -> None:
    text = "start=2.49\nend=30.10\nrc=3\n"
    assert vm.parse_status(text) == 3
    assert vm.parse_uptime_mark(text, "start") == 2.49
    assert vm.parse_uptime_mark(text, "end") == 30.10
    assert vm.parse_status("start=2.49\n") is None
    assert vm.parse_status("error=cannot mount the 9p root\n") is None


# --------------------------------------------------------------------------------------------------
# The monitor bridge, against a fake QMP server


class FakeQMPServer(threading.Thread):
    def __init__(self, sock: socket.socket) -> None:
        super().__init__(daemon=True)
        self.sock = sock
        self.received: list[dict[str, Any]] = []

    def send(self, msg: dict[str, Any]) -> None:
        self.sock.sendall(json.dumps(msg).encode() + b"\r\n")

    def run(self) -> None:
        self.send({"QMP": {"version": {}, "capabilities": []}})
        for line in self.sock.makefile("rb"):
            req = json.loads(line)
            self.received.append(req)
            if req["execute"] == "device_del":
                self.send({"return": {}})
                self.send({"event": "DEVICE_DELETED", "data": {"path": "/machine/peripheral-anon/device[6]"}})
                self.send({"event": "DEVICE_DELETED", "data": {"device": req["arguments"]["id"]}})
            elif req["execute"] in ("qmp_capabilities", "query-status"):
                self.send({"event": "NOISE", "data": {}})
                self.send({"return": {"status": "running"} if req["execute"] == "query-status" else {}})
            else:
                self.send({"error": {"class": "CommandNotFound", "desc": req["execute"]}})


def test_qmp_bridge_requests() -> None:
    a, b = socket.socketpair()
    server = FakeQMPServer(b)
    server.start()
    qmp = vm.QMP(a)
    try:
        assert vm.handle_guest_request(qmp, {"execute": "query-status"}) == {"return": {"status": "running"}}
        reply = vm.handle_guest_request(qmp, {"execute": "device_del", "arguments": {"id": "nvme0"}})
        assert reply == {"return": {}}
        request = {"nvtui-wait-event": "DEVICE_DELETED", "timeout": 5, "match": {"device": "nvme0"}}
        event = vm.handle_guest_request(qmp, request)
        assert event["return"]["data"] == {"device": "nvme0"}
        assert "error" in vm.handle_guest_request(qmp, {**request, "timeout": 0.1})  # handed out once
        first = vm.handle_guest_request(qmp, {"nvtui-wait-event": "DEVICE_DELETED", "timeout": 5})
        assert first["return"]["data"] == {"path": "/machine/peripheral-anon/device[6]"}
        assert vm.handle_guest_request(qmp, {"execute": "nope"})["error"]["class"] == "CommandNotFound"
        assert "error" in vm.handle_guest_request(qmp, {"arguments": {}})
        missing = vm.handle_guest_request(qmp, {"nvtui-wait-event": "NEVER", "timeout": 0.1})
        assert missing["error"]["class"] == "Timeout"
        assert server.received[0] == {"execute": "qmp_capabilities"}
        assert server.received[2] == {"execute": "device_del", "arguments": {"id": "nvme0"}}
    finally:
        qmp.close()
        b.close()


def test_monitor_command_outside_the_vm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NVTUI_VM_MONITOR", raising=False)
    with pytest.raises(vm.VMError, match="not inside"):
        vm.monitor_command("query-status")


def test_monitor_command_protocol_over_a_pty(monkeypatch: pytest.MonkeyPatch) -> None:
    """The guest side writes one JSON line to the port and reads one back (a raw pty stands in here)."""
    master, slave = os.openpty()
    tty.setraw(slave)
    monkeypatch.setenv("NVTUI_VM_MONITOR", os.ttyname(slave))

    def serve() -> None:
        buf = b""
        while not buf.endswith(b"\n"):
            buf += os.read(master, 4096)
        os.write(master, json.dumps({"return": json.loads(buf)}).encode() + b"\n")

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        reply = vm.monitor_command("nvtui-wait-event", {"event": "DEVICE_DELETED", "timeout": 3}, timeout=10)
        assert reply == {"return": {"nvtui-wait-event": "DEVICE_DELETED", "timeout": 3}}
        t.join(5)
        with pytest.raises(vm.VMError, match="no reply"):  # nobody answers now
            vm.monitor_command("device_del", {"id": "nvme0"}, timeout=0.3)
    finally:
        os.close(master)
        os.close(slave)


# --------------------------------------------------------------------------------------------------
# The runner


def outcomes(collected: int, ran: int, skipped: list[str]) -> run.Outcomes:
    o = run.Outcomes()
    o.collected, o.ran, o.skipped = collected, ran, skipped
    return o


def test_runner_fails_on_skips_and_on_nothing_run() -> None:
    assert run.judge(0, outcomes(3, 3, []), False) == (0, None)
    rc, why = run.judge(0, outcomes(3, 2, ["t::a"]), False)
    assert rc == run.EXIT_SKIPPED and why and "t::a" in why
    assert run.judge(0, outcomes(3, 2, ["t::a"]), True) == (0, None)
    assert run.judge(1, outcomes(3, 2, ["t::a"]), False)[0] == 1  # a failure stays a failure
    assert run.judge(5, outcomes(0, 0, []), False)[0] == 5
    assert run.judge(0, outcomes(0, 0, []), True)[0] == 5
    assert run.judge(0, outcomes(2, 0, ["a", "b"]), True)[0] == 5  # everything skipped: nothing ran


def test_outcomes_plugin_counts_reports() -> None:
    class Report:
        def __init__(self, nodeid: str, when: str, skipped: bool, **extra: Any) -> None:
            self.nodeid, self.when, self.skipped = nodeid, when, skipped
            self.__dict__.update(extra)

    o = run.Outcomes()
    for r in (
        Report("a", "setup", False),
        Report("a", "call", False),
        Report("a", "teardown", False),
        Report("b", "setup", True),
        Report("c", "call", True, wasxfail=""),
    ):
        o.pytest_runtest_logreport(r)
    assert o.ran == 2  # a, and the xfailed c
    assert o.skipped == ["b"]


def test_pytest_argv() -> None:
    argv = run.pytest_argv(["-x", "-k", "smoke"], allow_skips=False)
    assert argv[:4] == [vm.real_python(), "-m", "tests.vm.run", "--guest-pytest"]
    tail = argv[argv.index("--") + 1 :]
    assert tail[:4] == ["-m", "vm", "-p", "no:cacheprovider"]
    assert "tests/vm" in tail and tail[-3:] == ["-x", "-k", "smoke"]
    assert "--allow-skips" in run.pytest_argv([], allow_skips=True)
    assert "tests/vm" not in run.pytest_argv(["tests/vm/test_vm_smoke.py"], allow_skips=False)
    assert "no:syrupy" not in run.pytest_argv([], allow_skips=False, all_plugins=True)


def test_real_python_is_not_a_shim() -> None:
    path = vm.real_python()
    assert os.access(path, os.X_OK)
    with open(path, "rb") as f:
        assert f.read(4) == b"\x7fELF"  # a pyenv shim is a shell script
    if sys.prefix != sys.base_prefix:
        assert path.startswith(sys.prefix)


def test_runner_install_only_is_a_no_op_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vm, "missing_host_packages", lambda packages=vm.APT_PACKAGES: [])
    monkeypatch.setattr(
        vm, "prepare_kernel", lambda spec=None: pytest.fail("--install-only prepared a kernel")
    )
    assert run.main(["--install-only"]) == 0


def test_a_working_tree_under_tmp_is_carried_into_the_guest() -> None:
    from tests.vm.vm import kept_under_tmp

    assert kept_under_tmp("/tmp/ci-check") == "/tmp/ci-check"
    assert kept_under_tmp("/tmp/ci-check/tests/vm") == "/tmp/ci-check"
    assert kept_under_tmp("/work/main") == ""
    assert kept_under_tmp("/tmp") == ""


def test_a_guest_that_dies_before_its_command_is_booted_again(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.vm import vm

    calls: list[int] = []

    def flaky(*args: object, **kwargs: object) -> vm.VMResult:
        calls.append(1)
        if len(calls) < 3:
            raise vm.VMBootError("the guest reported no exit status (QEMU exit 0).\nKernel panic")
        return vm.VMResult(0, 0.1, 2.0, 1.0, 3.0)

    monkeypatch.setattr(vm, "run_vm_once", flaky)
    assert vm.run_vm(["true"]).returncode == 0 and len(calls) == 3
    calls.clear()

    def always_dies(*args: object, **kwargs: object) -> vm.VMResult:
        calls.append(1)
        raise vm.VMBootError("no exit status")

    monkeypatch.setattr(vm, "run_vm_once", always_dies)
    with pytest.raises(vm.VMBootError):
        vm.run_vm(["true"])
    assert len(calls) == vm.BOOT_ATTEMPTS


def test_a_failure_after_the_command_started_is_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.vm import vm

    calls: list[int] = []

    def broken(*args: object, **kwargs: object) -> vm.VMResult:
        calls.append(1)
        raise vm.VMError("the guest reported no exit status")

    monkeypatch.setattr(vm, "run_vm_once", broken)
    with pytest.raises(vm.VMError):
        vm.run_vm(["true"])
    assert len(calls) == 1
