"""The disk cache's start-up gain: nvtui started with its cache of validated files, against the same start
without it (`NVTUI_CACHE_DIR=off`: YAML parsed and validated by pydantic every time), on the host.

    python -m benchmarks.start_cache [--runs 15] [--json OUT]

Each verb is started `--runs` times with the cache and as many without, interleaved run by run (so load
on the machine hits both alike), each in a fresh interpreter, byte-compiled as an installed package is:
`catalogue list` (the built-in catalogue), `send sim0 identify` (plus the simulator) and `run` of a 12-step
admin script (the catalogue and the script). It prints the medians (± half the spread) and the ratio cached
/ uncached; the cache earns its keep while the ratio stays well under 1.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, median_spread, python

SCRIPT_STEPS = [
    "  - command: identify\n    fields: {cns: 1}\n",
    "  - command: get-log-page\n    fields: {lid: 2, numd: 128, nsid: 0xFFFFFFFF}\n",
    "  - command: get-features\n    fields: {fid: 7}\n",
]


def measure(runs: int) -> dict[str, Any]:
    compileall.compile_dir(ROOT / "nvtui", quiet=1)
    work = Path(tempfile.mkdtemp(prefix="nvtui-start-cache-"))
    script = work / "admin.yaml"
    script.write_text(
        "nvtui-script: 1\ndevice: sim0\nsteps:\n" + "".join(SCRIPT_STEPS[i % 3] for i in range(12))
    )
    verbs = {
        "catalogue list": ["catalogue", "list"],
        "send sim0 identify": ["send", "sim0", "identify", "cns=1"],
        "run 12-step script": ["run", str(script)],
    }

    def env(cached: bool) -> dict[str, str]:
        out = dict(os.environ, NVTUI_SIM_DIR=str(work / "sim"), NVTUI_SIM_LATENCY="none")
        out.update(
            XDG_CONFIG_HOME=str(work / "config"), NVTUI_CACHE_DIR=str(work / "cache") if cached else "off"
        )
        return out

    def once(argv: list[str], cached: bool) -> float:
        start = time.perf_counter()
        subprocess.run(
            [python(), "-m", "nvtui.cli", *argv], env=env(cached), cwd=ROOT, check=True, capture_output=True
        )
        return time.perf_counter() - start

    results: dict[str, Any] = {}
    for name, argv in verbs.items():
        for cached in (True, False):
            once(argv, cached)  # the cache filled, the page cache warm
        times: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(runs):
            for cached in (True, False):
                times[cached].append(once(argv, cached))
        results[name] = {"cached_s": times[True], "uncached_s": times[False]}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--json", type=Path, metavar="OUT")
    args = parser.parse_args()
    results = measure(args.runs)
    print(f"{'start':22} {'cached (ms)':>18} {'uncached (ms)':>18} {'ratio':>7}")
    for name, r in results.items():
        cached, uncached = median_spread(r["cached_s"]), median_spread(r["uncached_s"])
        ratio = cached["median"] / uncached["median"]
        c = f"{cached['median'] * 1e3:.1f} ± {cached['spread'] * 50:.0f}%"
        u = f"{uncached['median'] * 1e3:.1f} ± {uncached['spread'] * 50:.0f}%"
        print(f"{name:22} {c:>18} {u:>18} {ratio:7.2f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
