"""Peak memory of a headless replay against the script's length: `nvtui run` of a Keep Alive script of
10^4 and of 10^6 steps on the simulated controller, each run a fresh process whose peak RSS (`ru_maxrss`
from wait4) is taken; the target is the 10^6-step run within 20 % of the 10^4-step one (issue 9: memory
flat however long the script is).

    python -m benchmarks.replay_rss [--steps 10000 1000000] [--repeat 3] [--json OUT]

Both lengths are validated the same way: each run gets a disk cache of its own, so the short script is not
taken from the cache (which would skip pydantic and YAML, a different and smaller process). Text output
and `--json` both go to /dev/null: what is measured is what nvtui keeps, not what a pipe buffers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, median_spread, python, table

STEP = "  - command: keep-alive\n"


def write_script(path: Path, steps: int) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        f.write("nvtui-script: 1\ndevice: sim0\nsteps:\n")
        left = steps
        while left:
            chunk = min(left, 100_000)
            f.write(STEP * chunk)
            left -= chunk
    return path


def measure(script: Path, work: Path, *, json_output: bool) -> dict[str, float]:
    """One `nvtui run` in a fresh process: its peak RSS (MB), wall time (s) and exit status."""
    cache = Path(tempfile.mkdtemp(prefix="cache-", dir=work))
    env = {
        **os.environ,
        "NVTUI_CACHE_DIR": str(cache),
        "NVTUI_SIM_DIR": str(work / "sim"),
        "NVTUI_SIM_LATENCY": "none",
        "XDG_CONFIG_HOME": str(work / "config"),
    }
    argv = [python(), "-m", "nvtui.cli", "run", str(script), *(["--json"] if json_output else [])]
    started = time.perf_counter()
    with open(os.devnull, "w") as sink:
        proc = subprocess.Popen(argv, stdout=sink, stderr=subprocess.PIPE, env=env, cwd=ROOT)
        assert proc.stderr is not None
        _, status, usage = os.wait4(proc.pid, 0)
        err = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
        proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {err.strip()[-500:]}")
    return {"rss_mb": usage.ru_maxrss / 1024, "seconds": seconds}


def run(steps: list[int], repeat: int) -> dict[str, Any]:
    results: dict[str, Any] = {"steps": steps, "repeat": repeat, "runs": {}}
    with tempfile.TemporaryDirectory(prefix="nvtui-replay-rss-") as tmp:
        work = Path(tmp)
        scripts = {n: write_script(work / f"keep-alive-{n}.yaml", n) for n in steps}
        for mode in ("text", "json"):
            for _ in range(repeat):  # interleaved, so drift hits both lengths alike
                for n in steps:
                    m = measure(scripts[n], work, json_output=mode == "json")
                    results["runs"].setdefault(f"{mode} {n}", []).append(m)
    return results


def rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    short, long = results["steps"][0], results["steps"][-1]
    out = []
    for mode in ("text", "json"):
        runs = results["runs"]
        for what, unit, key in (("peak RSS", "MB", "rss_mb"), ("wall time", "s", "seconds")):
            out.append(
                {
                    "name": f"nvtui run {mode}, {long:,} steps, {what}",
                    "unit": unit,
                    "nvtui": median_spread([r[key] for r in runs[f"{mode} {long}"]]),
                    "peer": median_spread([r[key] for r in runs[f"{mode} {short}"]]),
                    "peer_name": f"{short:,} steps",
                    "target": 1.2 if key == "rss_mb" else None,
                    "higher_is_better": False,
                }
            )
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--steps", type=int, nargs=2, default=[10_000, 1_000_000], metavar=("SHORT", "LONG"))
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--json", type=Path, metavar="OUT", help="every measurement, as JSON")
    args = p.parse_args(argv)
    results = run(sorted(args.steps), args.repeat)
    print(table(rows(results)))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
