"""nvtui in a browser: `nvtui serve` listens on loopback only unless told otherwise, and a real headless
Chromium (Debian's) loads the page, sends Identify from it and sees the decoded answer."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nvtui.errors import UsageError
from nvtui.serve import check_listen, loopback_only, tui_command

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip
ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


def test_serve_listens_on_loopback_and_refuses_other_addresses_unless_allowed() -> None:
    assert loopback_only("127.0.0.1") and loopback_only("::1") and loopback_only("localhost")
    assert check_listen("127.0.0.1", 8000, allow_remote=False) is None
    with pytest.raises(UsageError, match=r"refusing to listen on 0\.0\.0\.0.*--allow-remote"):
        check_listen("0.0.0.0", 8000, allow_remote=False)
    warning = check_listen("0.0.0.0", 8000, allow_remote=True)
    assert warning is not None and "can send commands" in warning
    with pytest.raises(UsageError, match="--port 70000"):
        check_listen("127.0.0.1", 70000, allow_remote=False)
    assert tui_command("sim0", [], None).endswith("-m nvtui.cli --device sim0")


def test_serve_cli_refuses_a_public_address_in_one_line() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "nvtui.cli", "serve", "--host", "0.0.0.0"], capture_output=True, text=True,
        check=False, timeout=60,
    )  # fmt: skip
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "--allow-remote" in out.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"nvtui serve exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise AssertionError(f"nvtui serve did not listen on {port} within {timeout} s")


@pytest.mark.slow
def test_identify_sent_from_the_browser_shows_the_decoded_controller(tmp_path: Path) -> None:
    """Headless Chromium loads `nvtui serve`'s page, the TUI opens on the simulator, F3 (compose, Identify
    Controller preselected) and Ctrl+S send Identify; the decoded fields reach the page's terminal."""
    if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
        pytest.skip("Debian's chromium is not installed (scripts/test.sh installs it as root)")
    from playwright.sync_api import sync_playwright

    port = _free_port()
    env = {**os.environ, "NVTUI_SIM_DIR": str(tmp_path / "sim"), "NVTUI_CACHE_DIR": "off"}
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "nvtui.cli", "--device", "sim0", "serve", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path,
    )  # fmt: skip
    received: list[bytes] = []
    screenshot = tmp_path / "nvtui-serve-identify.png"
    try:
        _wait_listening(port, proc, 30)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})

            def on_socket(ws: object) -> None:
                def frame(payload: object) -> None:
                    received.append(payload if isinstance(payload, bytes) else str(payload).encode())

                ws.on("framereceived", frame)  # type: ignore[attr-defined]

            page.on("websocket", on_socket)
            page.goto(f"http://127.0.0.1:{port}/", wait_until="load")

            def screen_has(text: bytes, timeout: float) -> bool:
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    if text in ANSI.sub(b"", b"".join(received)):
                        return True
                    page.wait_for_timeout(200)
                return False

            assert screen_has(b"READ-ONLY", 60), "the TUI did not start in the page"
            page.click("body")
            page.keyboard.press("F3")
            assert screen_has(b"filter commands", 30), "F3 did not open the composer"
            page.keyboard.press("Control+s")
            assert screen_has(b"nvtui simulated NVMe controller", 30), "no decoded Identify on the page"
            assert screen_has(b"Successful Completion", 5)
            page.wait_for_timeout(1000)  # let the terminal paint before the picture
            page.screenshot(path=str(screenshot))
            browser.close()
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    assert screenshot.stat().st_size > 10_000
    print(f"\nbrowser screenshot: {screenshot}")
