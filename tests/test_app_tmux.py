"""The real `nvtui` console script in a real terminal (tmux): it starts, shows the simulated device, and a
person's keys send Identify Controller and show its decoded model number."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

TMUX = shutil.which("tmux") or "/usr/bin/tmux"
NVTUI = Path(sys.executable).with_name("nvtui")

pytestmark = pytest.mark.skipif(
    not (Path(TMUX).exists() and NVTUI.exists()), reason="needs tmux and the installed nvtui console script"
)


def tmux(*args: str) -> str:
    return subprocess.run([TMUX, *args], check=True, capture_output=True, text=True).stdout


def screen(session: str) -> str:
    return tmux("capture-pane", "-p", "-t", session)


def wait_for(session: str, text: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    shown = ""
    while time.monotonic() < deadline:
        shown = screen(session)
        if text in shown:
            return shown
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared; the screen was:\n{shown}")


def test_nvtui_in_tmux_sends_identify_and_shows_the_model(tmp_path: Path) -> None:
    session = f"nvtui-test-{os.getpid()}"
    env = {
        "NVTUI_SIM_DIR": str(tmp_path / "sim"),
        "NVTUI_SIM_LATENCY": "fixed,us=20",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "TERM": "xterm-256color",
    }
    command = (
        "env " + " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()) + f" {shlex.quote(str(NVTUI))}"
    )
    started = time.monotonic()
    tmux("new-session", "-d", "-s", session, "-x", "100", "-y", "30", "-c", str(tmp_path), command)
    try:
        first = wait_for(session, "sim0n2")
        startup = time.monotonic() - started
        assert "READ-ONLY" in first and "sim0" in first
        assert startup < 5  # generous for a loaded CI machine; about 0.5 s here
        tmux("send-keys", "-t", session, "F3")
        wait_for(session, "Identify: opcode 0x06")
        wait_for(session, "nvme admin-passthru")
        tmux("send-keys", "-t", session, "C-s")
        shown = wait_for(session, "Successful Completion")
        # the window may be narrower than asked when another tmux client sized the server: match the row's
        # start, which fits in 80 columns
        decoded = wait_for(session, "nvtui simulated NVMe")
        mn_row = next(line for line in decoded.splitlines() if "nvtui simulated NVMe" in line)
        words = mn_row.split()
        words = words[1:] if words[0] in ("├", "└", "│") else words  # the decoded tree's branch mark
        assert words[:2] == ["mn", "24"]  # the field's name and byte offset, beside its value
        assert "identify" in shown
        tmux("send-keys", "-t", session, "C-q")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if subprocess.run([TMUX, "has-session", "-t", session], capture_output=True).returncode != 0:
                break  # the app quit and took the session with it
            time.sleep(0.1)
        else:
            raise AssertionError("nvtui did not quit on Ctrl+Q")
    finally:
        subprocess.run([TMUX, "kill-session", "-t", session], capture_output=True)
