"""TUI figures, measured on the real app in a pseudo-terminal (what a terminal emulator would see).

    python -m benchmarks.tui DEVICE [--load-seconds 8] [--repeat 3]      measure, print JSON
    python -m benchmarks.tui --probe DEVICE SECONDS                       (the app with a load started)
    python -m benchmarks.tui --chart-cost [--updates 20]                  CPU per chart update, print JSON

How: the app runs in a pty of 120x40 (`pty.fork`, `TERM=xterm-256color`). This harness answers the
app's query for synchronized output (DECRQM 2026) as a terminal that supports it, so every frame the
app draws arrives between `ESC[?2026h` and `ESC[?2026l`: a frame's time is when its end marker is read.
- start to first frame: from fork to the end of the first frame of `nvtui --device DEVICE` showing the
  device list (DEVICE's name on screen).
- idle RSS: VmRSS of that process (/proc/PID/status) after 3 s without input.
- frame interval under load: `--probe` starts the real app, composes a 4 KiB Read, switches to the Load
  screen and starts a QD32 run (on a uring device: the C engine in slices); the intervals between frames
  during the run (after its first second), median and max.
- key-to-screen under load: with the load running, a `~` typed into the focused count field; the time
  from writing the key to the pty to the end of the first frame that contains it. Ten keys per run.
  Frame intervals are taken from one second into the run to the last key (the run outlasts the keys).
- chart cost (`--chart-cost`, host, simulator, no I/O): the Load screen of a headless app at 120x40 is
  given a run's statistics one 0.25 s interval at a time (60 s of intervals to start with, so the time
  chart is full), and both charts are asked to draw after each; CPU time of the event loop's thread
  (`time.thread_time` on it) and of the whole process (worker threads too) over a window long enough
  for the update to reach the screen, less the same window's CPU with nothing asked, per update; and the
  chart process's CPU (/proc/PID/stat, 10 ms ticks: summed over all updates, per update).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import itertools
import json
import os
import pty
import re
import select
import signal
import statistics
import struct
import sys
import termios
import time
from pathlib import Path

from benchmarks.common import ROOT, median_spread, python

COLS, ROWS = 120, 40
SYNC_QUERY = b"\x1b[?2026$p"
SYNC_REPLY = b"\x1b[?2026;2$y"  # DECRPM: mode known, currently reset
FRAME_END = b"\x1b[?2026l"
ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


class Terminal:
    """A child process on a pty, and the frames it draws."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.started = time.monotonic()
        pid, fd = pty.fork()
        if pid == 0:  # the child: size its terminal, then become the app
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
            os.execve(argv[0], argv, env)
        self.pid, self.fd = pid, fd
        self.buffer = b""  # the current, unfinished frame
        self.frames: list[tuple[float, bytes]] = []  # (time its end marker was read, its bytes)

    def pump(self, timeout: float) -> None:
        """Read what the app wrote within `timeout` seconds, splitting it into frames."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.fd], [], [], max(left, 0))
            if not ready:
                return
            try:
                chunk = os.read(self.fd, 1 << 16)
            except OSError:
                return
            now = time.monotonic()
            if not chunk:
                return
            if SYNC_QUERY in chunk:
                os.write(self.fd, SYNC_REPLY)
            self.buffer += chunk
            while (end := self.buffer.find(FRAME_END)) >= 0:
                self.frames.append((now, self.buffer[: end + len(FRAME_END)]))
                self.buffer = self.buffer[end + len(FRAME_END) :]
            if left <= 0:
                return

    def wait_for(self, text: bytes, timeout: float, after: int = 0) -> tuple[float, int] | None:
        """(time, index) of the first frame from index `after` that contains `text`."""
        deadline = time.monotonic() + timeout
        checked = after
        while time.monotonic() < deadline:
            for i in range(checked, len(self.frames)):
                if text in self.frames[i][1]:
                    return self.frames[i][0], i
            checked = max(checked, len(self.frames))
            self.pump(0.01)
        return None

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            self.pump(0.05)
            if os.waitpid(self.pid, os.WNOHANG) != (0, 0):
                break
        else:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.fd)


def _env() -> dict[str, str]:
    env = dict(os.environ, TERM="xterm-256color", COLUMNS=str(COLS), LINES=str(ROWS))
    env.pop("TEXTUAL", None)
    return env


def start_and_idle(device: str) -> dict[str, float]:
    nvtui = str(Path(python()).parent / "nvtui")
    term = Terminal([nvtui, "--device", device], _env())
    try:
        name = Path(device).name.encode()
        hit = term.wait_for(name, timeout=30)
        if hit is None:
            raise RuntimeError(f"nvtui never showed {device}")
        first_frame = hit[0] - term.started
        term.pump(3.0)
        return {"first_frame_s": first_frame, "idle_rss_mb": term.rss_mb()}
    finally:
        term.close()


def under_load(device: str, seconds: float, keys: int = 10) -> dict[str, float]:
    argv = [python(), "-m", "benchmarks.tui", "--probe", device, str(seconds)]
    env = _env()
    env["PYTHONPATH"] = str(ROOT)
    term = Terminal(argv, env)
    try:
        hit = term.wait_for(b"running", timeout=60)  # the load screen's stats line while a run goes
        if hit is None:
            last = ANSI.sub(b" ", b"".join(f for _, f in term.frames[-3:]) + term.buffer)
            shown = b" ".join(last.split()).decode(errors="replace")[-1500:]
            raise RuntimeError(f"the load never started in the TUI; it showed: {shown}")
        term.pump(1.0)  # let the first slices land
        latencies = []
        for _ in range(keys):
            mark = len(term.frames)
            sent = time.monotonic()
            os.write(term.fd, b"~")
            shown = term.wait_for(b"~", timeout=10, after=mark)
            if shown is None:
                raise RuntimeError("a key typed during the load never reached the screen")
            latencies.append(shown[0] - sent)
            term.pump(0.3)
        begin, end = hit[0] + 1.0, time.monotonic()  # the load runs all along (seconds > the key loop)
        stamps = [t for t, _frame in term.frames if begin <= t <= end]
        intervals = [b - a for a, b in itertools.pairwise(stamps)]
        ios = shown_iops(term.frames)
        return {
            "frame_interval_median_s": statistics.median(intervals),
            "frame_interval_max_s": max(intervals),
            "frames": len(stamps),
            "key_to_screen_median_s": statistics.median(latencies),
            "key_to_screen_max_s": max(latencies),
            "iops_shown": ios,
        }
    finally:
        term.close()


def shown_iops(frames: list[tuple[float, bytes]]) -> float:
    """The IOPS figure the load screen showed last (its stats line: `IOPS 123,456`)."""
    for _, frame in reversed(frames):
        text = ANSI.sub(b"", frame)
        found = re.findall(rb"IOPS\s+([\d,]+)", text)
        if found:
            return float(found[-1].replace(b",", b""))
    return 0.0


def probe(device: str, seconds: float) -> None:
    """The real app, with a QD32 4 KiB read load started on the Load screen and the count field focused."""
    from textual.widgets import Input

    from nvtui.app import NvtuiApp
    from nvtui.screens.messages import Composition

    app = NvtuiApp(device, [], None)

    async def start() -> None:
        if app.session is None:  # the catalogue loads in a worker: try again once it has
            app.set_timer(0.2, start)
            return
        app.composition = Composition("read", {"slba": "0", "nlb": str(4096 // 512)})
        await app.switch_mode("load")
        screen = app.screen
        screen.query_one("#load-seconds", Input).value = str(seconds)
        screen.query_one("#load-qd", Input).value = "32"
        screen.action_start()  # type: ignore[attr-defined]
        screen.query_one("#load-count", Input).focus()

    app.call_later(lambda: app.set_timer(0.5, start))
    app.run()


def chart_cost(updates: int = 20, window: float = 0.25) -> dict[str, float]:
    """Milliseconds of CPU per update of both Load screen charts: the event loop's thread and the process."""
    import asyncio
    import random
    import tempfile

    from nvtui.app import NvtuiApp
    from nvtui.stats import INTERVAL_S, Interval, LoadStats

    rng = random.Random(1)

    def interval(t: float) -> Interval:
        p50, p99 = rng.randint(30_000, 50_000), rng.randint(90_000, 200_000)
        return Interval(t=t, count=1000, errors=0, mean_ns=40_000, p50_ns=p50, p99_ns=p99, max_ns=300_000)

    tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
    stats = LoadStats()
    for i in range(240):
        stats.series.append(interval((i + 1) * INTERVAL_S))

    async def run() -> dict[str, float]:
        app = NvtuiApp(include_real_devices=False)
        async with app.run_test(size=(COLS, ROWS)) as pilot:
            while app.session is None:
                await pilot.pause(0.05)
            await app.switch_mode("load")
            await pilot.pause(1.0)
            from nvtui.widgets.latency_chart import LatencyHistogram, LatencyOverTime

            charts = [app.screen.query_one(LatencyOverTime), app.screen.query_one(LatencyHistogram)]

            async def window_cpu(update: bool) -> tuple[float, float]:
                if update:  # the next interval, and the histogram's shares move a little (as early in a run)
                    stats.series.append(interval(stats.series[-1].t + INTERVAL_S))
                    for _ in range(200):
                        stats.total.record(int(rng.lognormvariate(10.6, 0.4)))
                loop0, proc0 = time.thread_time(), time.process_time()
                if update:
                    for chart in charts:
                        chart.draw(stats)
                await pilot.pause(window)
                return time.thread_time() - loop0, time.process_time() - proc0

            server = charts[0]._server
            pid = server.proc.pid if server is not None and server.proc is not None else None
            ticks0 = _ticks(pid)
            idle = [await window_cpu(False) for _ in range(5)]
            ticks1 = _ticks(pid)
            busy = [await window_cpu(True) for _ in range(updates)]
            ticks2 = _ticks(pid)
        idle_loop = statistics.median(w[0] for w in idle)
        idle_proc = statistics.median(w[1] for w in idle)
        loop_ms = [1000 * (w[0] - idle_loop) for w in busy]
        proc_ms = [1000 * (w[1] - idle_proc) for w in busy]
        return {
            "loop_ms_median": statistics.median(loop_ms),
            "loop_ms_max": max(loop_ms),
            "process_ms_median": statistics.median(proc_ms),
            "chart_process_ms_mean": (ticks2 - ticks1 - (ticks1 - ticks0) * updates / 5) * tick_ms / updates,
            "idle_loop_ms_per_window": 1000 * idle_loop,
        }

    with tempfile.TemporaryDirectory() as sim_dir:
        os.environ["NVTUI_SIM_DIR"] = sim_dir
        return asyncio.run(run())


def _ticks(pid: int | None) -> int:
    """User + system CPU of process `pid` so far, in clock ticks (0: no such process)."""
    if pid is None:
        return 0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)


def measure(device: str, load_seconds: float, repeat: int) -> dict[str, object]:
    starts, rss, frame_med, frame_max, key_med, key_max, iops = [], [], [], [], [], [], []
    for _ in range(repeat):
        s = start_and_idle(device)
        starts.append(s["first_frame_s"])
        rss.append(s["idle_rss_mb"])
        u = under_load(device, load_seconds)
        frame_med.append(u["frame_interval_median_s"])
        frame_max.append(u["frame_interval_max_s"])
        key_med.append(u["key_to_screen_median_s"])
        key_max.append(u["key_to_screen_max_s"])
        iops.append(u["iops_shown"])
    return {
        "first_frame_s": median_spread(starts),
        "idle_rss_mb": median_spread(rss),
        "frame_interval_median_s": median_spread(frame_med),
        "frame_interval_max_s": median_spread(frame_max),
        "key_to_screen_median_s": median_spread(key_med),
        "key_to_screen_max_s": median_spread(key_max),
        "iops_shown": median_spread(iops),
    }


def main() -> None:
    p = argparse.ArgumentParser(description="TUI figures on the real app in a pty")
    p.add_argument("device", nargs="?")
    p.add_argument("seconds", nargs="?", type=float, default=8.0)
    p.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--chart-cost", action="store_true", help="CPU per chart update (host, no device)")
    p.add_argument("--updates", type=int, default=20, help="with --chart-cost")
    args = p.parse_args()
    if args.chart_cost:
        json.dump(chart_cost(args.updates), sys.stdout, indent=2)
        print()
        return
    if args.device is None:
        p.error("a device is needed (or --chart-cost)")
    if args.probe:
        probe(args.device, args.seconds)
        return
    json.dump(measure(args.device, args.seconds, args.repeat), sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
