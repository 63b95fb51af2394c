"""Structures as YAML layouts: what the engine costs against the Python decoder it replaced, on the host.

    python -m benchmarks.layouts [--runs 9] [--starts 7] [--json OUT]

- Decode: Identify Controller (4096 bytes, 4 power states) decoded `--runs` times in batches of 200 through
  the layout engine (`nvtui.nvme.decode.decode("identify-controller", ...)`: the path `nvtui send` takes)
  and through the decoder it replaced (`benchmarks.legacy_decode`, main's code copied unchanged),
  interleaved batch by batch; medians per decode, ratio engine / old. Target: at most 1.2.
- Start: `nvtui send sim0 identify cns=1` and `nvtui send sim0 get-log-page lid=smart` (start, catalogue,
  simulator, decode, print) in fresh interpreters, this tree against main's (`git archive main` into a
  temporary folder), each with its own warm disk cache, interleaved run by run. Target: not slower
  (ratio at most 1, within the spread).
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

BATCH = 200


def identify_image() -> bytes:
    from nvtui.backend.sim.admin import identify_controller
    from nvtui.backend.sim.controller import SimController

    ctrl = SimController(Path(tempfile.mkdtemp(prefix="nvtui-layouts-bench-")))
    return identify_controller(ctrl)


def measure_decode(runs: int) -> dict[str, list[float]]:
    from benchmarks.legacy_decode.identify import decode_identify_controller
    from nvtui.nvme.decode import decode

    data = identify_image()
    old = decode_identify_controller(data)
    new = decode("identify-controller", data)
    if old.to_json() != new.to_json():
        raise SystemExit("the engine and the old decoder disagree on Identify Controller: not comparable")

    def batch(fn: Any) -> float:
        start = time.perf_counter()
        for _ in range(BATCH):
            fn()
        return (time.perf_counter() - start) / BATCH

    out: dict[str, list[float]] = {"engine_s": [], "old_s": []}
    for _ in range(runs):
        out["engine_s"].append(batch(lambda: decode("identify-controller", data)))
        out["old_s"].append(batch(lambda: decode_identify_controller(data)))
    return out


def main_tree() -> Path:
    """main's nvtui, exported (not checked out: no worktree of it is touched) into a temporary folder."""
    folder = Path(tempfile.mkdtemp(prefix="nvtui-main-"))
    archive = subprocess.run(["git", "archive", "main", "nvtui"], cwd=ROOT, check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    # the cffi extension is built, not archived: main's tree uses this tree's (the same source)
    for built in (ROOT / "nvtui" / "backend" / "uring").glob("*.so"):
        (folder / "nvtui" / "backend" / "uring" / built.name).write_bytes(built.read_bytes())
    return folder


def measure_starts(runs: int) -> dict[str, dict[str, list[float]]]:
    trees = {"this": ROOT, "main": main_tree()}
    for tree in trees.values():
        compileall.compile_dir(tree / "nvtui", quiet=1)
    work = Path(tempfile.mkdtemp(prefix="nvtui-layouts-starts-"))
    verbs = {
        "send sim0 identify cns=1": ["send", "sim0", "identify", "cns=1"],
        "send sim0 get-log-page lid=smart": ["send", "sim0", "get-log-page", "lid=smart"],
    }

    def once(tree: str, argv: list[str]) -> float:
        env = dict(
            os.environ, PYTHONPATH=str(trees[tree]), NVTUI_SIM_DIR=str(work / tree / "sim"),
            NVTUI_SIM_LATENCY="none", XDG_CONFIG_HOME=str(work / tree / "config"),
            NVTUI_CACHE_DIR=str(work / tree / "cache"),
        )  # fmt: skip
        start = time.perf_counter()
        subprocess.run(
            [python(), "-m", "nvtui.cli", *argv], env=env, cwd=work, check=True, capture_output=True
        )
        return time.perf_counter() - start

    results: dict[str, dict[str, list[float]]] = {}
    for name, argv in verbs.items():
        for tree in trees:
            once(tree, argv)  # caches filled, page cache warm
        times: dict[str, list[float]] = {tree: [] for tree in trees}
        for _ in range(runs):
            for tree in trees:
                times[tree].append(once(tree, argv))
        results[name] = {"this_s": times["this"], "main_s": times["main"]}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--starts", type=int, default=7)
    parser.add_argument("--json", type=Path, metavar="OUT")
    args = parser.parse_args()
    decode = measure_decode(args.runs)
    starts = measure_starts(args.starts)
    engine, old = median_spread(decode["engine_s"]), median_spread(decode["old_s"])
    print(f"{'measurement':36} {'this':>16} {'peer':>16} {'ratio':>7}")
    print(
        f"{'Identify Controller decode':36} {engine['median'] * 1e6:11.0f} µs ±{engine['spread'] * 50:.0f}% "
        f"{old['median'] * 1e6:8.0f} µs ±{old['spread'] * 50:.0f}% {engine['median'] / old['median']:7.2f}"
    )
    for name, r in starts.items():
        this, peer = median_spread(r["this_s"]), median_spread(r["main_s"])
        print(
            f"{name:36} {this['median'] * 1e3:11.0f} ms ±{this['spread'] * 50:.0f}% "
            f"{peer['median'] * 1e3:8.0f} ms ±{peer['spread'] * 50:.0f}% "
            f"{this['median'] / peer['median']:7.2f}"
        )
    if args.json:
        args.json.write_text(json.dumps({"decode": decode, "starts": starts}, indent=2))


if __name__ == "__main__":
    main()
