"""Faults against the real Linux nvme driver and QEMU's NVMe controller, inside the test VM.

- Abort (admin 08h): the kernel owns command identifiers, so what passthrough can test is an Abort of a
  CID that is not outstanding (success, DW0 bit 0 set: "not aborted"), an invalid SQID (Invalid Field),
  and Aborts sprayed over every CID a kernel I/O could hold while our reads are in flight: whatever the
  controller reports aborted must come back to us as Command Abort Requested, nothing else may change.
  QEMU 7.2 never aborts (its Abort only checks the SQID): on it every Abort answers "not aborted".
- A kernel that refuses io_uring: a seccomp filter makes `io_uring_setup` fail with EINVAL (what a
  kernel before 5.19 says to 128-byte SQEs) or ENOSYS, at the syscall boundary, for the real `nvtui`
  process; and the first uring_cmd's CQE rewritten to -EOPNOTSUPP in-process. open_backend falls back
  to ioctl with a one-line notice, the command succeeds, the CLI prints the notice on stderr.
- No permission: `nvtui` run as uid 65534 in a private mount namespace (this machine's /root, where the
  interpreter lives, is 0700: a tmpfs over it holds only .pyenv).
- Destructive commands refused on the real namespace: its checksum (through ioctl) does not change.
- Hot-unplug (`device_del nvme0` through QEMU's monitor) under a QD32 load, with the TUI and a CLI
  running: marked ``unplug``, it runs only in a VM boot of its own (`python -m tests.vm.run --unplug`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from nvtui.backend import open_backend
from nvtui.backend.ioctl import IoctlBackend, open_ioctl
from nvtui.backend.uring import UringUnsupported, open_uring
from nvtui.backend.uring.ring import Ring
from nvtui.errors import DeviceError
from nvtui.nvme.command import Command
from nvtui.nvme.completion import Completion
from tests.vm.nvm import rw_bytes as rw
from tests.vm.vm import monitor_command

pytestmark = pytest.mark.vm

IDENTIFY, ABORT, WRITE, READ = 0x06, 0x08, 0x01, 0x02
NOT_ABORTED = 1  # Abort DW0 bit 0: the command was not aborted
SC_INVALID_FIELD, SC_ABORT_REQUESTED = 0x02, 0x07
NOBODY = 65534
NVTUI = str(Path(sys.prefix) / "bin" / "nvtui")
CHECKSUM_BYTES = 4 << 20
QD = 32
UNPLUG_DEADLINE_S = 5.0


def drive_of(nsid: int) -> str:
    """QEMU's block backend of namespace `nsid` (tests/vm/vm.py names each -drive nvme_ns<nsid>)."""
    return f"nvme_ns{nsid}"


def throttle(nsid: int, iops: int) -> None:
    """Limit namespace `nsid` to `iops` (0: no limit) in QEMU, so commands stay in flight a while."""
    limits = {"bps": 0, "bps_rd": 0, "bps_wr": 0, "iops": iops, "iops_rd": 0, "iops_wr": 0}
    reply = monitor_command("block_set_io_throttle", {"device": drive_of(nsid), **limits})
    assert "return" in reply, reply


def abort(sqid: int, cid: int) -> Command:
    return Command(opcode=ABORT, admin=True, cdw10=(cid & 0xFFFF) << 16 | sqid & 0xFFFF)


def nvtui(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120, prefix: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    """Run the real `nvtui` command (after `prefix`, e.g. a privilege drop), capturing its output."""
    return subprocess.run(
        [*prefix, NVTUI, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {stderr!r}"
    return lines[0]


def lba_size_of(dev: IoctlBackend) -> int:
    done = dev.submit_blocking(Command(opcode=IDENTIFY, admin=True, nsid=dev.nsid, cdw10=0, data_len=4096))
    assert done.ok and done.data is not None
    from nvtui.nvme.decode.identify import current_lba_format

    return current_lba_format(done.data)[0]


# --------------------------------------------------------------------------------------------------
# Abort


async def test_abort_of_a_command_not_outstanding_says_not_aborted(nvme_ctrl: str) -> None:
    """CID FFFFh on I/O queue 1 is never outstanding (tags stay below the queue depth of 1024)."""
    dev = open_uring(nvme_ctrl)
    try:
        done = await dev.submit(abort(1, 0xFFFF))
        assert done.ok, str(done.status)
        assert done.result & 1 == NOT_ABORTED
        bad = await dev.submit(abort(0xFFFF, 0))  # no such submission queue
        assert (bad.status.sct, bad.status.sc, bad.status.dnr) == (0, SC_INVALID_FIELD, True)
        assert bad.status.name == "Invalid Field in Command"
    finally:
        await dev.close()


def test_abort_through_the_cli_is_guarded_and_decoded(nvme_ctrl: str) -> None:
    refused = nvtui("send", nvme_ctrl, "abort", "sqid=1", "cid=0xffff")
    assert refused.returncode == 2 and "--allow-destructive" in one_line(refused.stderr)
    sent = nvtui("send", nvme_ctrl, "abort", "sqid=1", "cid=0xffff", "--allow-destructive", "--json")
    assert sent.returncode == 0, sent.stderr
    doc = json.loads(sent.stdout)
    assert doc["command"] == "abort" and doc["fields"]["sqid"] == 1 and doc["fields"]["cid"] == 0xFFFF
    assert doc["status"]["name"] == "Successful Completion" and doc["result"] & 1 == NOT_ABORTED
    assert "nvme admin-passthru" in doc["nvme_cli"]
    text = nvtui("send", nvme_ctrl, "abort", "sqid=1", "cid=0xffff", "--allow-destructive")
    assert text.returncode == 0 and "result  0x1" in text.stdout, text.stdout
    invalid = nvtui("send", nvme_ctrl, "abort", "sqid=0xffff", "cid=0", "--allow-destructive", "--json")
    assert invalid.returncode == 1, invalid.stderr  # an error status: printed, exit 1
    status = json.loads(invalid.stdout)["status"]
    assert (status["sct"], status["sc"], status["dnr"], status["name"]) == (
        0, SC_INVALID_FIELD, True, "Invalid Field in Command",
    )  # fmt: skip


async def test_aborts_sprayed_at_in_flight_reads(
    nvme_ctrl: str, ns_conventional: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every CID the kernel could give our 32 in-flight reads (tag 0-63 under each of the 16 generation
    counters, on each I/O queue) is sent an Abort while the reads sit in QEMU's throttle. Each Abort
    that says it aborted (DW0 bit 0 clear) must show up as a read completed with Command Abort
    Requested; every other read returns its data intact."""
    oracle = open_ioctl(ns_conventional)
    lba_size = lba_size_of(oracle)
    pattern = random.Random(8).randbytes(QD * 4096)
    base_lba = (64 << 20) // lba_size
    for i in range(QD):  # known data under the reads
        w = oracle.submit_blocking(rw(WRITE, oracle.nsid, base_lba + i * 4096 // lba_size, 4096, lba_size,
                                      pattern[i * 4096 : (i + 1) * 4096]))  # fmt: skip
        assert w.ok
    oracle.close_blocking()
    ctrl = open_uring(nvme_ctrl)
    dev = open_uring(ns_conventional)
    blk = "nvme" + Path(ns_conventional).name.removeprefix("ng")
    io_queues = len(list(Path("/sys/block", blk, "mq").iterdir()))  # hardware queues: I/O SQs 1..n
    throttle(dev.nsid, 16)
    try:
        reads = [
            asyncio.ensure_future(
                dev.submit(rw(READ, dev.nsid, base_lba + i * 4096 // lba_size, 4096, lba_size))
            )
            for i in range(QD)
        ]
        cids = [
            (sqid, gen << 12 | tag)
            for sqid in range(1, io_queues + 1)
            for gen in range(16)
            for tag in range(64)
        ]
        answers: list[Completion] = []

        async def aborter() -> None:
            while cids and not all(r.done() for r in reads):
                answers.append(await ctrl.submit(abort(*cids.pop())))

        await asyncio.wait_for(asyncio.gather(*(aborter() for _ in range(4))), 120)
        results = await asyncio.wait_for(asyncio.gather(*reads), 60)
    finally:
        throttle(dev.nsid, 0)
        await dev.close()
        await ctrl.close()
    assert len(answers) > 100 and all(a.ok for a in answers), {str(a.status) for a in answers}
    claimed = sum(1 for a in answers if a.result & 1 == 0)
    aborted = [r for r in results if (r.status.sct, r.status.sc) == (0, SC_ABORT_REQUESTED)]
    assert len(aborted) == claimed
    for i, r in enumerate(results):
        if r not in aborted:
            assert r.ok and r.data == pattern[i * 4096 : (i + 1) * 4096], str(r.status)
    with capsys.disabled():
        print(f"\n    [abort] {len(answers)} Aborts over {io_queues} I/O queues while {QD} reads were "
              f"in flight: {claimed} aborted (QEMU 7.2 never aborts)")  # fmt: skip


# --------------------------------------------------------------------------------------------------
# A kernel that refuses io_uring

# Runs `argv[2:]` with io_uring_setup failing with errno argv[1], by a seccomp filter (inherited by exec).
SECCOMP_EXEC = r"""
import ctypes, os, sys
class F(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                ("k", ctypes.c_uint)]
class P(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(F))]
IO_URING_SETUP, AUDIT_ARCH_X86_64 = 425, 0xC000003E
prog = (F * 6)(
    F(0x20, 0, 0, 4),                       # ld arch
    F(0x15, 0, 3, AUDIT_ARCH_X86_64),       # not x86_64: allow
    F(0x20, 0, 0, 0),                       # ld nr
    F(0x15, 0, 1, IO_URING_SETUP),          # not io_uring_setup: allow
    F(0x06, 0, 0, 0x00050000 | int(sys.argv[1])),  # SECCOMP_RET_ERRNO
    F(0x06, 0, 0, 0x7FFF0000),              # SECCOMP_RET_ALLOW
)
libc = ctypes.CDLL(None, use_errno=True)
L = ctypes.c_ulong
assert libc.prctl(38, L(1), L(0), L(0), L(0)) == 0, ctypes.get_errno()  # PR_SET_NO_NEW_PRIVS
fprog = P(6, prog)
assert libc.prctl(22, L(2), ctypes.byref(fprog), L(0), L(0)) == 0, ctypes.get_errno()  # PR_SET_SECCOMP
os.execv(sys.argv[2], sys.argv[2:])
"""


@pytest.mark.parametrize("refusal", [errno.EINVAL, errno.ENOSYS])
def test_a_kernel_refusing_io_uring_falls_back_to_ioctl_in_the_cli(
    ns_conventional: str, nvme_ctrl: str, refusal: int
) -> None:
    prefix = [sys.executable, "-c", SECCOMP_EXEC, str(refusal)]
    probe = subprocess.run(
        [*prefix, sys.executable, "-c",
         "from nvtui.backend.uring import uring_cmd_supported as s; print(s())"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert probe.stdout.strip() == "False", probe  # the filter bites: no ring can be set up
    for device in (nvme_ctrl,) if refusal == errno.EINVAL else (ns_conventional,):
        run = nvtui("send", device, "identify", "cns=controller", "--json", prefix=prefix)
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout)["status"]["name"] == "Successful Completion"
        notice = one_line(run.stderr)
        assert notice.startswith("nvtui: the kernel refused io_uring") and "using the ioctl backend" in notice
        assert os.strerror(refusal) in notice
    if refusal != errno.EINVAL:
        return  # the rest is the same for every refusal (each nvtui start costs seconds under TCG)
    data = nvtui("send", ns_conventional, "read", "slba=0", "nlb=1", prefix=prefix)
    assert data.returncode == 0 and "using the ioctl backend" in one_line(data.stderr)
    forced = nvtui("send", ns_conventional, "identify", "--backend", "uring", prefix=prefix)
    assert forced.returncode == 3, forced  # asked for uring by name: no silent fallback
    assert "io_uring" in one_line(forced.stderr)


@dataclass
class Refusal:
    name: str
    patch: Callable[[pytest.MonkeyPatch], None]


def _cqe_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    real_reap = Ring.reap

    def reap(self: Ring) -> list[tuple[int, int, int, int]]:
        return [(ud, -errno.EOPNOTSUPP, 0, t) for ud, _res, _result, t in real_reap(self)]

    monkeypatch.setattr(Ring, "reap", reap)


def _probe_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Ring, "supports", lambda self, opcode: False)


@pytest.mark.parametrize(
    "refusal",
    [Refusal("first CQE -EOPNOTSUPP", _cqe_refused), Refusal("probe without URING_CMD", _probe_refused)],
    ids=lambda r: r.name,
)
async def test_open_backend_falls_back_when_uring_cmd_is_refused(
    ns_conventional: str, monkeypatch: pytest.MonkeyPatch, refusal: Refusal
) -> None:
    with monkeypatch.context() as m:
        refusal.patch(m)
        with pytest.raises(UringUnsupported):
            open_uring(ns_conventional)
        dev = await open_backend(ns_conventional)
    try:
        assert dev.kind == "ioctl"
        assert dev.notice is not None and "\n" not in dev.notice and "using the ioctl backend" in dev.notice
        done = await dev.submit(Command(opcode=IDENTIFY, admin=True, cdw10=1, data_len=4096))
        assert done.ok and done.data is not None and any(done.data)
    finally:
        await dev.close()
    direct = await open_backend(ns_conventional)  # the refusal gone: uring again
    assert direct.kind == "uring" and direct.notice is None
    await direct.close()


# --------------------------------------------------------------------------------------------------
# No permission

AS_NOBODY = (
    'set -e; keep=$(mktemp -d); mount --bind /root/.pyenv "$keep"; '
    "mount -t tmpfs -o mode=0755 nvtui-root /root; mkdir /root/.pyenv; "
    'mount --move "$keep" /root/.pyenv; '
    f'exec setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups -- "$@"'
)


@pytest.fixture(scope="module")
def nobody_env() -> dict[str, str]:
    home = Path(tempfile.mkdtemp(prefix="nvtui-nobody-"))
    os.chown(home, NOBODY, NOBODY)
    return {
        "HOME": str(home),
        "NVTUI_SIM_DIR": str(home / "sim"),
        "NVTUI_CACHE_DIR": str(home / "cache"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_STATE_HOME": str(home / "state"),
    }


def as_nobody(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return nvtui(*args, env=env, prefix=["unshare", "--mount", "sh", "-c", AS_NOBODY, "sh"])


def test_without_permission_send_exits_3_naming_the_device(
    ns_conventional: str, nobody_env: dict[str, str]
) -> None:
    whoami = subprocess.run(
        ["unshare", "--mount", "sh", "-c", AS_NOBODY, "sh",
         sys.executable, "-c", "import os; print(os.geteuid())"],
        capture_output=True, text=True, timeout=60, check=False, env={**os.environ, **nobody_env},
    )  # fmt: skip
    assert whoami.stdout.strip() == str(NOBODY), whoami
    name = Path(ns_conventional).name
    for device in (name,):
        run = as_nobody("send", device, "identify", env=nobody_env)
        assert run.returncode == 3, run
        line = one_line(run.stderr)
        assert line.startswith(f"nvtui: permission denied on {ns_conventional} (root:root 0600)"), line
        assert "run as root, or add udev rules" in line
    for backend in ("ioctl", "uring"):
        run = as_nobody("send", name, "identify", "--backend", backend, env=nobody_env)
        assert run.returncode == 3 and f"permission denied on {ns_conventional}" in one_line(run.stderr), run


def test_without_permission_list_works_and_marks_devices(
    nvme_ctrl: str, nvme_namespaces: dict[int, str], nobody_env: dict[str, str]
) -> None:
    text = as_nobody("list", env=nobody_env)
    assert text.returncode == 0, text
    assert f"! permission denied on {nvme_ctrl}" in text.stdout
    for path in nvme_namespaces.values():
        assert f"! permission denied on {path}" in text.stdout, text.stdout
    doc = json.loads(as_nobody("list", "--json", env=nobody_env).stdout)
    real = [c for c in doc["controllers"] if not c["simulated"]]
    assert [c["char_dev"] for c in real] == [nvme_ctrl]
    assert real[0]["accessible"] is False and "udev rule" in real[0]["access_error"]
    found = {ns["char_dev"]: ns for ns in real[0]["namespaces"]}
    assert sorted(found) == sorted(nvme_namespaces.values())
    assert all(ns["accessible"] is False and ns["size_bytes"] > 0 for ns in found.values())
    assert any(c["simulated"] for c in doc["controllers"])  # the simulator still listed


# --------------------------------------------------------------------------------------------------
# Destructive commands on the real device


def checksum(device: str, nbytes: int = CHECKSUM_BYTES) -> str:
    """sha256 of the namespace's first `nbytes`, read through the ioctl backend."""
    dev = open_ioctl(device)
    try:
        size = lba_size_of(dev)
        h = hashlib.sha256()
        chunk = 128 * 1024
        for offset in range(0, nbytes, chunk):
            done = dev.submit_blocking(rw(READ, dev.nsid, offset // size, chunk, size))
            assert done.ok and done.data is not None, str(done.status)
            h.update(done.data)
        return h.hexdigest()
    finally:
        dev.close_blocking()


def fill(device: str, nbytes: int = CHECKSUM_BYTES) -> None:
    dev = open_ioctl(device)
    try:
        size = lba_size_of(dev)
        rng = random.Random(5)
        chunk = 128 * 1024
        for offset in range(0, nbytes, chunk):
            done = dev.submit_blocking(rw(WRITE, dev.nsid, offset // size, chunk, size, rng.randbytes(chunk)))
            assert done.ok, str(done.status)
    finally:
        dev.close_blocking()


def test_destructive_commands_without_allowance_leave_the_namespace_unchanged(
    ns_conventional: str, tmp_path: Path
) -> None:
    fill(ns_conventional)
    before = checksum(ns_conventional)
    block = tmp_path / "block"
    block.write_bytes(random.Random(6).randbytes(4096))
    attempts = [
        ["send", ns_conventional, "write", "slba=0", "nlb=8", "--data-in", str(block)],
        ["send", ns_conventional, "write", "slba=0", "nlb=8", "--data-in", str(block), "--backend", "ioctl"],
        ["send", ns_conventional, "write-zeroes", "slba=0", "nlb=64"],
        ["send", ns_conventional, "write-uncorrectable", "slba=0", "nlb=8"],
        ["send", ns_conventional, "format-nvm", "lbaf=0"],
    ]
    step_write = {"command": "write", "fields": {"slba": 0, "nlb": 8},
                  "data": base64.b64encode(block.read_bytes()).decode()}  # fmt: skip
    script = tmp_path / "writes.yaml"
    steps = [{"command": "read", "fields": {"slba": 0, "nlb": 8}}, step_write]
    script.write_text(json.dumps({"nvtui-script": 1, "device": ns_conventional, "steps": steps}))
    attempts.append(["run", str(script)])
    for argv in attempts:
        run = nvtui(*argv)
        assert run.returncode == 2, (argv, run)
        assert "--allow-destructive" in one_line(run.stderr), (argv, run.stderr)
        assert checksum(ns_conventional) == before, f"{argv} changed the namespace"
    # The checksum sees a CLI write: the same write, allowed, changes it, and lands where it was aimed.
    allowed = nvtui(*attempts[0], "--allow-destructive")
    assert allowed.returncode == 0, allowed
    assert checksum(ns_conventional) != before
    out = tmp_path / "readback"
    back = nvtui("send", ns_conventional, "read", "slba=0", "nlb=8", "--data-out", str(out))
    assert back.returncode == 0 and out.read_bytes() == block.read_bytes()


# --------------------------------------------------------------------------------------------------
# Hot-unplug (its own VM boot: python -m tests.vm.run --unplug)


@dataclass
class Io:
    started: float
    ended: float = 0.0
    outcome: str = ""  # "ok", an NVMe status, or the DeviceError
    ok: bool = False


def holds_open(pid: int, path: str) -> bool:
    """Whether process `pid` has `path` open (it got past start-up and opened the device)."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{fd}") == path:
                return True
    return False


@pytest.mark.unplug
async def test_hot_unplug_under_qd32_load(
    nvme_ctrl: str, ns_conventional: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from textual.widgets import Static, Tree

    from nvtui.app import NvtuiApp
    from nvtui.screens.compose import ComposeScreen
    from nvtui.screens.devices import DevicesScreen
    from nvtui.screens.result import ResultScreen

    name = Path(ns_conventional).name
    app = NvtuiApp(device=name)
    notes: list[str] = []
    real_notify = app.notify

    def notify(message: str, **kw: object) -> None:
        notes.append(str(message))
        real_notify(message, **kw)  # type: ignore[arg-type]

    app.notify = notify  # type: ignore[method-assign]
    loop = asyncio.get_running_loop()

    async with app.run_test(size=(110, 32)) as pilot:

        async def until(cond: Callable[[], object], what: str, timeout: float = 30) -> None:
            deadline = loop.time() + timeout
            while not cond():
                assert loop.time() < deadline, f"timed out waiting for {what}"
                await pilot.pause(0.05)

        async def send_identify() -> None:
            await pilot.press("f3")
            await until(lambda: isinstance(app.screen, ComposeScreen), "the Compose screen")
            screen = app.screen
            assert isinstance(screen, ComposeScreen)
            if screen.defn is None or screen.defn.id != "identify":
                await pilot.press("ctrl+f")
                await pilot.press(*"identify", "enter")
                await until(lambda: screen.defn is not None and screen.defn.id == "identify", "identify form")
            await until(lambda: screen.prepared is not None, "the composed identify")
            await pilot.press("ctrl+s")

        await until(
            lambda: (
                app.catalogue is not None and any(c.name == Path(nvme_ctrl).name for c in app.controllers)
            ),
            "the TUI to list the VM's controller",
        )
        assert app.device == name
        await send_identify()
        await until(lambda: isinstance(app.screen, ResultScreen) and app.screen.result, "the identify result")
        assert "Successful Completion" in str(app.screen.query_one("#status", Static).render())

        # A CLI replaying a long script of reads, the in-process QD32 load, both slowed by QEMU's throttle.
        script = tmp_path / "reads.yaml"
        steps = [{"command": "read", "fields": {"slba": 8 * i, "nlb": 8}} for i in range(2000)]
        script.write_text(json.dumps({"nvtui-script": 1, "device": name, "steps": steps}))
        dev = open_uring(ns_conventional)
        assert dev.format is not None and dev.io_ring is not None
        lba_size, io_ring = dev.format.lba_size, dev.io_ring
        throttle(dev.nsid, 400)
        cli = await asyncio.create_subprocess_exec(
            NVTUI, "run", str(script), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        assert cli.stdout is not None and cli.stderr is not None
        first = await asyncio.wait_for(cli.stdout.readline(), 60)
        assert first.startswith(b"[1/2000] read:"), first
        cli_out = asyncio.ensure_future(cli.stdout.read())
        cli_err = asyncio.ensure_future(cli.stderr.read())
        # And `nvtui bench` (the C engine) asked for two minutes: it must end at the unplug, not spin on.
        bench = await asyncio.create_subprocess_exec(
            NVTUI, "bench", name, "--qd", "8", "--seconds", "120",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        await until(lambda: holds_open(bench.pid, ns_conventional), "nvtui bench to open the namespace", 90)
        bench_out = asyncio.ensure_future(bench.communicate())

        ios: list[Io] = []
        rng = random.Random(3)

        async def worker() -> None:
            while True:
                io = Io(time.monotonic())
                ios.append(io)
                lba = rng.randrange(100_000) * 4096 // lba_size
                try:
                    done = await dev.submit(rw(READ, dev.nsid, lba, 4096, lba_size))
                    io.ok, io.outcome = done.ok, "ok" if done.ok else str(done.status)
                except DeviceError as exc:
                    io.outcome = str(exc)
                io.ended = time.monotonic()
                if not io.ok:
                    return

        workers = [asyncio.ensure_future(worker()) for _ in range(QD)]
        await until(lambda: io_ring.most_in_flight >= QD and len(ios) > 4 * QD, "the load to reach QD32")
        await until(lambda: io_ring.in_flight == QD, "32 commands in the kernel")
        t0 = time.monotonic()
        reply = await loop.run_in_executor(None, monitor_command, "device_del", {"id": "nvme0"})
        assert "return" in reply, reply
        _, pending = await asyncio.wait(workers, timeout=UNPLUG_DEADLINE_S + 5)
        for w in pending:
            w.cancel()
        assert not pending, f"{len(pending)} of {QD} load workers still waiting 10 s after device_del"
        rc = await asyncio.wait_for(cli.wait(), UNPLUG_DEADLINE_S + 10)
        _, bench_err = await asyncio.wait_for(bench_out, UNPLUG_DEADLINE_S + 10)
        t_bench = time.monotonic() - t0
        cli_stdout, cli_stderr = (await cli_out).decode(), (await cli_err).decode()
        t_cli = time.monotonic() - t0
        deleted = await loop.run_in_executor(
            None,
            lambda: monitor_command(
                "nvtui-wait-event", {"event": "DEVICE_DELETED", "timeout": 20, "match": {"device": "nvme0"}}
            ),
        )
        assert deleted.get("return", {}).get("event") == "DEVICE_DELETED", deleted
        # One more read on the still-open ring, after every worker saw its error and the device is deleted.
        after = Io(time.monotonic())
        try:
            read0 = rw(READ, dev.nsid, 0, 4096, lba_size)
            done = await asyncio.wait_for(dev.submit(read0), UNPLUG_DEADLINE_S)
            after.ok, after.outcome = done.ok, "ok" if done.ok else str(done.status)
        except DeviceError as exc:
            after.outcome = str(exc)
        await asyncio.wait_for(dev.close(), 10)

        # The kernel removes the controller in order: commands already at the device are drained (they
        # complete, here successfully), every command after that fails with ENODEV. All within 5 s.
        errors = [io for io in ios if io.ended and not io.ok]
        assert len(errors) == QD, [io.outcome for io in errors]  # every worker ended on an error
        assert all("ENODEV" in io.outcome for io in errors), {io.outcome for io in errors}
        t_first = min(io.ended for io in errors)
        at_unplug = [io for io in ios if io.started < t0 and not (io.ended and io.ended < t0)]
        assert len(at_unplug) >= QD // 2, len(at_unplug)
        assert all(io.ended and io.ended - t0 < UNPLUG_DEADLINE_S for io in ios), "a command outlived 5 s"
        # Nothing succeeds once the device is gone: neither a worker's command started after the first error
        # (there may be none: all 32 can fail together) nor the read sent after the device was deleted.
        late = [io for io in ios if io.started > t_first]
        assert not any(io.ok for io in late), [io.outcome for io in late]
        assert not after.ok and after.outcome, after
        assert not any(Path(p).exists() for p in (nvme_ctrl, ns_conventional))

        # nvtui bench: exit 3 with the cause, long before its 120 s.
        assert bench.returncode == 3 and t_bench < UNPLUG_DEADLINE_S + 10, (bench.returncode, bench_err)
        bench_line = one_line(bench_err.decode())
        assert bench_line.startswith("nvtui: ") and "ENODEV" in bench_line, bench_line

        # The CLI: exit 3, the cause in one line.
        assert rc == 3, (rc, cli_stdout[-500:], cli_stderr)
        line = one_line(cli_stderr)
        assert line.startswith("nvtui: ") and ("ENODEV" in line or "No such device" in line), line
        assert "device error" in cli_stdout
        after = nvtui("send", name, "identify")
        assert after.returncode == 3
        assert (
            one_line(after.stderr)
            == f"nvtui: no such NVMe device /dev/{name}; `nvtui list` shows the devices"
        )
        listed = nvtui("list", "--json")
        assert listed.returncode == 0
        assert [c["name"] for c in json.loads(listed.stdout)["controllers"] if not c["simulated"]] == []

        # The TUI: a send to the vanished device fails with a notice, the device is marked gone.
        await send_identify()
        await until(
            lambda: any(name in n and "No such device" in n for n in notes), "the send's error notice"
        )
        await until(
            lambda: any(c.name == "nvme0" and c.state == "gone" for c in app.controllers), "nvme0 marked gone"
        )
        await pilot.press("f2")
        await until(lambda: isinstance(app.screen, DevicesScreen), "the Devices screen")
        tree: Tree[object] = app.screen.query_one(Tree)

        def labels() -> list[str]:
            out, stack = [], list(tree.root.children)
            while stack:
                node = stack.pop(0)
                out.append(str(node.label))
                stack.extend(node.children)
            return out

        await until(
            lambda: any(x.startswith("nvme0") and "gone" in x for x in labels()), "nvme0 gone in the tree"
        )
        assert any(x.startswith(name) and "gone" in x for x in labels()), labels()
        await pilot.press("r")  # a rescan keeps it marked
        await pilot.pause(1.0)
        await until(
            lambda: any(x.startswith(name) and "gone" in x for x in labels()), "still gone after rescan"
        )
        tree.move_cursor(tree.root.children[0])
        await until(lambda: "gone" in str(app.screen.query_one("#details-info", Static).render()), "details")

        # Another device and screen still work: the simulator's namespace, Identify, the Result screen.
        from nvtui.screens import messages

        app.post_message(messages.DeviceChosen("sim0n1"))
        await until(lambda: app.device == "sim0n1", "sim0n1 chosen")
        await send_identify()
        await until(
            lambda: (
                isinstance(app.screen, ResultScreen)
                and app.screen.result is not None
                and app.screen.result.prepared.device == "sim0n1"
            ),
            "the simulator's identify result",
        )
        assert "Successful Completion" in str(app.screen.query_one("#status", Static).render())

    drained = sum(io.ok for io in at_unplug)
    with capsys.disabled():
        print(
            f"\n    [unplug] {len(ios)} reads; {len(at_unplug)} in flight at device_del: {drained} drained "
            f"OK, {len(at_unplug) - drained} failed; device_del -> first ENODEV {t_first - t0:.3f}s, "
            f"last command ended {max(io.ended for io in ios) - t0:.3f}s; CLI exit {rc} after {t_cli:.2f}s: "
            f"{line}"
        )


def test_namespace_access_without_the_controller_falls_back_to_ioctl(
    ns_conventional: str, nvme_ctrl: str, nobody_env: dict[str, str]
) -> None:
    """A udev rule for ngXnY alone: uring_cmd cannot send admin commands (they need /dev/nvmeX), the admin
    ioctl on the namespace can; the default backend says so in one line and the command succeeds."""
    mode = os.stat(ns_conventional).st_mode
    os.chmod(ns_conventional, 0o666)
    try:
        assert os.stat(nvme_ctrl).st_mode & 0o777 == 0o600
        name = Path(ns_conventional).name
        run = as_nobody("send", name, "identify", "cns=1", "--json", env=nobody_env)
        assert run.returncode == 0, run
        notice = one_line(run.stderr)
        assert f"permission denied on {nvme_ctrl}" in notice and "ioctl backend is used" in notice
        assert json.loads(run.stdout)["decoded"]["mn"].startswith("QEMU NVMe Ctrl")
        forced = as_nobody("send", name, "identify", "--backend", "uring", env=nobody_env)
        assert forced.returncode == 3 and f"permission denied on {nvme_ctrl}" in one_line(forced.stderr)
    finally:
        os.chmod(ns_conventional, mode & 0o7777)
