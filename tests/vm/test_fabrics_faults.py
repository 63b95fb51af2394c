"""Issue 15's faults, against the Linux NVMe target in the test VM (tests/vm/fabrics.py): under a QD32 read
load on the multipath namespace, one path removed (the loop port's export taken away in configfs, then
the tcp path disconnected with nvme-cli) leaves I/O going over the other, and `nvtui bench` keeps going and
reports each path change; the last path removed ends the run with exit 3 within 5 s, the cause in one
line; the paths restored, nvtui sees the namespace again.

The real `nvtui` console script, as a user runs it (a process start costs seconds under TCG: few runs).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fuzz.recording import run_cli

from tests.vm.fabrics import NSID_NULL_BLK, Fabrics, setup_fabrics

pytestmark = [pytest.mark.vm, pytest.mark.fabrics]

NVTUI = str(Path(sys.executable).with_name("nvtui"))


@pytest.fixture(scope="module")
def fab() -> Iterator[Fabrics]:
    fabrics = setup_fabrics(passthru=False)
    try:
        yield fabrics
    finally:
        fabrics.teardown()


def start_bench(head: str, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [NVTUI, "bench", head, "--rw", "randread", "--qd", "32", "--seconds", str(seconds), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc


def wait_started(proc: subprocess.Popen[str], head: str, timeout: float = 300) -> None:
    """Until the bench has the namespace open (it holds a reference on the head's char device). Starting the
    real console script under TCG takes seconds, and over a minute on a loaded host: the faults are timed
    from here, not from the start."""
    deadline = time.monotonic() + timeout
    target = str(Path(head).resolve())
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        fds = Path(f"/proc/{proc.pid}/fd")
        try:
            if any(str(fd.resolve()) == target for fd in fds.iterdir()):
                return
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail(f"the bench did not open {head} within {timeout} s")


def test_io_continues_over_the_other_path_and_the_bench_reports_each_change(fab: Fabrics) -> None:
    head = fab.head
    paths = fab.controllers()
    proc = start_bench(head, 14)
    try:
        wait_started(proc, head)
        time.sleep(2)
        fab.unexport("loop")  # the target deletes the loop controller: that path goes
        time.sleep(2.5)
        fab.restore()  # the loop path back (connected again)
        time.sleep(1.5)
        fab.disconnect(fab.controllers()["tcp"])  # the other path goes
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        fab.restore()
    assert proc.returncode in (0, 1), err  # 1: commands in flight on a lost path end with a path status
    doc = json.loads(out)
    assert doc["seconds"] > 12  # the run went on to its end: nothing stopped it
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
        time.sleep(1)
        fab.unexport("loop")
        t0 = time.monotonic()
        fab.unexport("tcp")  # tcp now reconnects in vain; fast_io_fail_tmo (1 s) fails what waits for it
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    try:
        assert proc.returncode == 3, (out, err)
        assert took < 5, took
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
        fab.restore()
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
