"""Issue 15's faults, against the Linux NVMe target in the test VM (tests/vm/fabrics.py): under a QD32 read
load on the multipath namespace, one path removed (the loop port's export taken away in configfs, then
the tcp path disconnected with nvme-cli) leaves I/O going over the other, and `nvtui bench` keeps going and
reports each path change; the last path removed ends the run with exit 3 within 5 s, the cause in one
line; the paths restored, nvtui sees the namespace again. Admin commands for the namespace follow a live
controller when the one they went to goes (the kernel routes the head's I/O, not an admin uring_cmd).

The real `nvtui` console script, as a user runs it (a process start costs seconds under TCG: few runs).
Every wait is for the event itself, bounded, with a message naming it: a TCG guest on a loaded host
can be many times slower than an idle one.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fuzz.recording import run_cli

from nvtui.backend import Backend, open_backend
from nvtui.backend.uring.backend import UringBackend
from nvtui.errors import DeviceError
from nvtui.nvme.completion import Completion
from nvtui.nvme.identify import CNS_CONTROLLER, identify_command
from tests.vm.fabrics import NSID_NULL_BLK, SYS_NVME, Fabrics, fabrics_target

pytestmark = [pytest.mark.vm, pytest.mark.fabrics]

NVTUI = str(Path(sys.executable).with_name("nvtui"))


@pytest.fixture(scope="module")
def fab() -> Iterator[Fabrics]:
    with fabrics_target(passthru=False) as fabrics:
        yield fabrics


def start_bench(head: str, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [NVTUI, "bench", head, "--rw", "randread", "--qd", "32", "--seconds", str(seconds), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc


#: A bench run long enough for the faults of the first test to fall inside it however slow the guest is; the
#: test checks before each fault that the run still goes on, and fails saying so if not.
BENCH_S = 30
#: A bound on every wait for the kernel or the target (a controller going, a path reconnecting).
WAIT_S = 120


def _io_uring_fds(pid: int) -> int:
    n = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            n += os.readlink(fd) == "anon_inode:[io_uring]"
        except OSError:
            continue
    return n


def wait_started(proc: subprocess.Popen[str], head: str, timeout: float = 300) -> None:
    """Until the bench's load engine runs: the process holds the head's char device and two rings (the
    backend's, which sent the Identify commands, and the engine's own, set up when the run starts).
    Starting the real console script under TCG takes seconds, and over a minute on a loaded host: the
    faults are timed from here, not from the start."""
    deadline = time.monotonic() + timeout
    target = str(Path(head).resolve())
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the bench ended before its run started: exit {proc.returncode}: {err or out}")
        try:
            fds = Path(f"/proc/{proc.pid}/fd")
            if any(str(fd.resolve()) == target for fd in fds.iterdir()) and _io_uring_fds(proc.pid) >= 2:
                return
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail(f"the bench's load on {head} did not start within {timeout} s")


def still_running(proc: subprocess.Popen[str], before: str) -> None:
    if proc.poll() is not None:
        out, err = proc.communicate()
        pytest.fail(
            f"the bench ended (exit {proc.returncode}) before {before}: a {BENCH_S} s run did not cover "
            f"the faults on this guest; stderr: {err.strip()}; stdout: {out.strip()[:2000]}"
        )


def wait_for(what: str, predicate: Callable[[], bool], timeout: float = WAIT_S) -> float:
    """Seconds until `predicate` holds; fails naming `what` after `timeout`."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            pytest.fail(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.05)
    return time.monotonic() - start


def test_admin_commands_for_the_head_go_to_a_live_controller_when_the_one_they_went_to_goes(
    fab: Fabrics,
) -> None:
    """The uring backend sends the head's admin commands to a controller's char device: once that path is
    removed they go to the other path's controller (its own CNTLID answers), nsid kept; the ioctl backend's
    go through the head, which the kernel routes itself. With no live path left, they end within 5 s with
    an error saying so; the paths restored, they work again."""
    head = fab.head

    def cntlid(done: Completion) -> int:
        assert done.ok and done.data is not None, done.status
        return int.from_bytes(done.data[78:80], "little")

    async def admin(backend: Backend) -> Completion:
        done: Completion = await asyncio.wait_for(backend.submit(identify_command(CNS_CONTROLLER)), 30)
        return done

    async def go() -> None:
        uring = await open_backend(head, "uring")
        assert isinstance(uring, UringBackend)
        ioctl = await open_backend(head, "ioctl")
        try:
            held = uring.path.controller
            by_ctrl = {c: t for t, c in fab.controllers().items()}
            assert held in by_ctrl, (held, by_ctrl)
            [other] = [c for c in by_ctrl if c != held]
            fab.unexport(
                by_ctrl[held]
            )  # loop: the target deletes that controller; tcp: it reconnects in vain
            wait_for(f"{held} ({by_ctrl[held]}) to leave the live state", lambda: fab.state(held) != "live")
            expected = int((SYS_NVME / other / "cntlid").read_text())
            assert cntlid(await admin(uring)) == expected
            assert uring.path.controller == other and uring.nsid == NSID_NULL_BLK
            assert (await admin(ioctl)).ok
            fab.unexport(by_ctrl[other])  # the last path
            wait_for(f"{other} to leave the live state", lambda: fab.state(other) != "live")
            for backend in (uring, ioctl):
                start = time.monotonic()
                try:
                    done = await admin(backend)
                except DeviceError as exc:
                    assert "no usable path" in str(exc) or "is gone" in str(exc), exc
                else:
                    assert not done.ok, f"{backend.kind} admin command without a live path: {done.status}"
                assert time.monotonic() - start < 5
        finally:
            await uring.close()
            await ioctl.close()
        fab.restore(timeout=WAIT_S)
        for kind in ("uring", "ioctl"):
            backend = await open_backend(fab.head, kind)
            try:
                assert (await admin(backend)).ok
            finally:
                await backend.close()

    try:
        asyncio.run(go())
    finally:
        fab.restore(timeout=WAIT_S)


def test_io_continues_over_the_other_path_and_the_bench_reports_each_change(fab: Fabrics) -> None:
    head = fab.head
    paths = fab.controllers()
    proc = start_bench(head, BENCH_S)
    try:
        wait_started(proc, head)
        time.sleep(1)  # some I/O over both paths first
        fab.unexport("loop")  # the target deletes the loop controller: that path goes
        wait_for(f"the loop controller {paths['loop']} to go", lambda: fab.state(paths["loop"]) == "gone")
        time.sleep(1)  # I/O over tcp alone
        still_running(proc, "the loop path was restored")
        fab.restore(timeout=WAIT_S)  # the loop path back (connected again)
        time.sleep(1)  # I/O over both again
        still_running(proc, "the tcp path was disconnected")
        fab.disconnect(fab.controllers()["tcp"])  # the other path goes
        still_running(proc, "the tcp path had gone")
        out, err = proc.communicate(timeout=BENCH_S + WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        fab.restore(timeout=WAIT_S)
    assert proc.returncode in (0, 1), err  # 1: commands in flight on a lost path end with a path status
    doc = json.loads(out)
    assert doc["seconds"] > BENCH_S - 1, doc  # the run went on to its end: nothing stopped it
    assert doc["ios"] > 1000 and doc["errors"] <= 2 * 32, doc  # at most the I/Os in flight on each lost path
    events = doc["path_events"]
    loop_path = f"({paths['loop']} loop) gone"
    tcp_path = f"({paths['tcp']} tcp) gone"
    assert any(loop_path in e and "I/O goes over" in e for e in events), events
    assert any("(nvme" in e and "loop) added" in e for e in events), events
    assert any(tcp_path in e and "I/O goes over" in e for e in events), events


def test_the_last_path_lost_ends_the_run_with_exit_3_within_5_s_and_the_cause_in_one_line(
    fab: Fabrics,
) -> None:
    head = fab.head
    proc = start_bench(head, 60)
    try:
        wait_started(proc, head)
        time.sleep(1)  # some I/O first
        stderr, stdout = proc.stderr, proc.stdout
        assert stderr is not None and stdout is not None
        said: list[tuple[float, str]] = []  # when the error line came: the commands had ended (exit follows)
        reader = threading.Thread(target=lambda: said.append((time.monotonic(), stderr.read(1))))
        reader.start()
        fab.unexport("loop")
        t0 = time.monotonic()
        fab.unexport("tcp")  # tcp now reconnects in vain; fast_io_fail_tmo (1 s) fails what waits for it
        try:
            proc.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the bench still ran {WAIT_S} s after its last path went")
        reader.join()
        out = stdout.read()
        err = said[0][1] + stderr.read()
        took = said[0][0] - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    try:
        assert proc.returncode == 3, (out, err)
        assert took < 5, f"the run's commands ended with the error {took:.1f} s after the last path went"
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert f"{Path(head).name} has no usable path" in lines[0] or "is gone" in lines[0], lines[0]
        # discovery says the same while the target is away
        done = run_cli(["list", "--json"])
        ns = [
            n
            for c in json.loads(done.out)["controllers"]
            for n in c["namespaces"]
            if n["char_dev"] == head and n["nsid"] == NSID_NULL_BLK
        ]
        assert ns == [] or all(not n["accessible"] and "no usable path" in n["access_error"] for n in ns)
    finally:
        fab.restore(timeout=WAIT_S)
    # back: nvtui sees the namespace again with both paths, usable
    done = run_cli(["list", "--json"])
    heads = [
        n
        for c in json.loads(done.out)["controllers"]
        for n in c["namespaces"]
        if n["char_dev"] == fab.head and n["paths"]
    ]
    assert heads and all(n["accessible"] and len(n["paths"]) == 2 for n in heads)
    assert {p["transport"] for p in heads[0]["paths"]} == {"loop", "tcp"}
