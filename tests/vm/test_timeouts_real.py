"""`--timeout` reaches the real Linux nvme driver: an Asynchronous Event Request sent with `--timeout 2` is
timed out by the kernel itself after 2 s (its own default for admin commands is 60 s), which logs it and
resets the controller; nvtui reports the timeout in one line, exit 3, and the controller is usable again.

QEMU's controller keeps an event request outstanding until it has an event, so nothing but the timeout ends
this one. Over uring_cmd and over the ioctl.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from fuzz.recording import run_cli

pytestmark = pytest.mark.vm

BACKENDS = [[], ["--backend", "ioctl"]]


def kernel_log() -> list[str]:
    return subprocess.run(["dmesg"], capture_output=True, text=True, check=True).stdout.splitlines()


def wait_live(ctrl: str, namespaces: dict[int, str], seconds: float = 60) -> None:
    """The controller back from its reset: live, with its namespaces' char devices."""
    state = Path("/sys/class/nvme") / Path(ctrl).name / "state"
    deadline = time.monotonic() + seconds
    while not (state.read_text().strip() == "live" and all(Path(ng).exists() for ng in namespaces.values())):
        if time.monotonic() > deadline:
            raise AssertionError(f"{ctrl} not live again after {seconds} s: {state.read_text().strip()}")
        time.sleep(0.1)


@pytest.mark.parametrize("backend", BACKENDS, ids=["uring", "ioctl"])
def test_the_kernel_times_out_an_event_request_after_the_timeout_given(
    backend: list[str], nvme_ctrl: str, nvme_namespaces: dict[int, str]
) -> None:
    wait_live(nvme_ctrl, nvme_namespaces)
    before = len(kernel_log())
    start = time.monotonic()
    done = run_cli(["send", nvme_ctrl, "aer", "--timeout", "2", *backend])
    elapsed = time.monotonic() - start
    assert done.code == 3, done.err
    notice, error = done.err.strip().splitlines()
    assert "waits for the controller to report an event" in notice
    assert "no completion within 2 s: timed out" in error
    assert elapsed < 30  # far below the kernel's own 60 s: the 2 s reached it
    deadline = time.monotonic() + 30
    timed_out: list[str] = []
    while not timed_out and time.monotonic() < deadline:
        new = kernel_log()[before:]
        timed_out = [line for line in new if "opcode 0xc" in line and "QID 0 timeout" in line]
        time.sleep(0.2)
    assert timed_out, "the kernel logged no timeout of the event request"
    wait_live(nvme_ctrl, nvme_namespaces)
    identify = run_cli(["send", nvme_ctrl, "identify", "cns=1", *backend])
    assert identify.code == 0, identify.err
