"""Host benchmark (no VM): IORING_OP_NOP round trips through nvtui's cffi ring against bare_loop.c doing
the same in C with the same ring shape (128-byte SQEs, 32-byte CQEs) and batch size, two ways:

- the engine (`nvtui.backend.uring.engine.run_nops`): the cffi module's C load engine keeps BATCH NOPs in
  flight, one io_uring_enter per batch, and times every NOP into its latency histogram as it does every
  I/O of `nvtui bench`: the path a load takes (the target row);
- from Python (`nvtui.backend.uring.Ring`): prepare BATCH NOPs, one enter that submits them and waits,
  reap; each operation crosses cffi from Python, as a single interactive command does.

    python -m benchmarks.host_ring [--batch 1 8 32] [--seconds 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import time

from benchmarks.common import compile_bare_loop, median_spread, run_json


def ring_nops(batch: int, seconds: float) -> dict[str, float]:
    """NOP round trips per second through the cffi ring from a Python loop."""
    import os

    from nvtui.backend.uring import Ring

    ring = Ring(batch)
    try:
        prep, submit, reap = ring.prep_nop, ring.submit, ring.reap
        ops = 0
        cpu0 = sum(os.times()[:2])
        t0 = time.monotonic()
        deadline = t0 + seconds
        while time.monotonic() < deadline:
            for i in range(batch):
                prep(i)
            submit(batch)
            ops += len(reap())
        elapsed = time.monotonic() - t0
        cpu = sum(os.times()[:2]) - cpu0
    finally:
        ring.close()
    return {"ios": ops, "seconds": elapsed, "iops": ops / elapsed, "cpu_seconds": cpu}


def engine_nops(batch: int, seconds: float) -> dict[str, float]:
    """NOP round trips per second through the C engine, every one timed into the histogram."""
    from nvtui.backend.uring.engine import run_nops

    result = run_nops(batch, seconds)
    if result.errors or not result.latency.count:
        raise RuntimeError(f"engine NOP run: {result.errors} errors, {result.latency.count} timed")
    return {"ios": result.ios, "seconds": result.elapsed_ns / 1e9, "iops": result.iops}


def measure(batches: list[int], seconds: float, repeat: int) -> list[dict[str, object]]:
    binary = compile_bare_loop()
    rows: list[dict[str, object]] = []
    for batch in batches:
        c_runs, engine_runs, py_runs = [], [], []
        for _ in range(repeat):  # interleaved, so drift hits all alike
            c_runs.append(run_json([str(binary), "nop", str(batch), str(seconds)])["iops"])
            engine_runs.append(engine_nops(batch, seconds)["iops"])
            py_runs.append(ring_nops(batch, seconds)["iops"])
        peer = median_spread(c_runs)
        for name, runs, target in (("engine", engine_runs, 0.8), ("Python per op", py_runs, None)):
            rows.append(
                {
                    "name": f"host NOP round trips, batch {batch}, {name}",
                    "unit": "ops/s",
                    "nvtui": median_spread(runs),
                    "peer": peer,
                    "peer_name": f"bare C loop, batch {batch}",
                    "higher_is_better": True,
                    "target": target,
                }
            )
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, nargs="+", default=[1, 8, 32])
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    print(json.dumps(measure(args.batch, args.seconds, args.repeat), indent=2))


if __name__ == "__main__":
    main()
