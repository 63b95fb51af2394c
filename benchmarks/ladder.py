"""The interface ladder against fio, and nvtui bench over 8 namespaces against fio over the same 8 files.

    python -m benchmarks.ladder [--seconds 2] [--repeat 3] [--qd 32] [--json OUT] [--quiet] [--no-many]
                                [--no-ladder] [--no-fabrics]

Three VM boots (tests/vm), each measuring everything it compares in that one boot:
1. the test VM's usual controller: on namespace 1, still unwritten, `nvtui bench --ladder` (every rung)
   and fio's matching configuration of each rung, 4 KiB random reads at QD `--qd`, interleaved by
   repetition;
2. a controller with 8 namespaces: `nvtui bench` over the 8 at once (QD `--qd / 8` each) against fio
   io_uring_cmd over the same 8 files in one job at the same total QD, each in several configurations;
3. the Linux NVMe target (tests/vm/fabrics.py): the same ladder and fio configurations as in 1 on its
   null_blk namespace, reached over loop and tcp through native multipath (the device costs almost
   nothing there, so the ladder shows the host's software path itself).
The guest halves run as `python -m benchmarks.ladder --guest-ladder OUT` / `--guest-many OUT` /
`--guest-fabrics OUT`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, median_spread, parse_fio, python, run_json, table

RUNGS = [
    "block", "block_fixed_poll", "ioctl", "uring_cmd", "uring_cmd_fixed", "uring_cmd_iopoll",
    "uring_cmd_batch", "uring_cmd_sqpoll",
]  # fmt: skip
BATCH = 8  # fio's --iodepth_batch_submit for the batched configurations (issue 5's best configuration)
# fio's configuration matching each rung (none for the synchronous ioctl: fio has no engine for it).
FIO_OF_RUNG: dict[str, tuple[str, list[str]]] = {
    "block": ("io_uring", []),
    "block_fixed_poll": ("io_uring", ["--hipri=1", "--fixedbufs=1"]),
    "uring_cmd": ("io_uring_cmd", []),
    "uring_cmd_fixed": ("io_uring_cmd", ["--fixedbufs=1"]),
    "uring_cmd_iopoll": ("io_uring_cmd", ["--fixedbufs=1", "--hipri=1"]),
    "uring_cmd_batch": ("io_uring_cmd", ["--fixedbufs=1", "--hipri=1", f"--iodepth_batch_submit={BATCH}",
                                         "--iodepth_batch_complete_min=1"]),
    "uring_cmd_sqpoll": ("io_uring_cmd", ["--fixedbufs=1", "--hipri=1", f"--iodepth_batch_submit={BATCH}",
                                          "--iodepth_batch_complete_min=1", "--sqthread_poll=1"]),
}  # fmt: skip
MANY_NAMESPACES = 8
# fio over the 8 files: io_uring_cmd plain, then its options one by one as in the ladder.
FIO_MANY: dict[str, list[str]] = {
    "fio_plain": [],
    "fio_fixed": ["--fixedbufs=1"],
    "fio_fixed_poll": ["--fixedbufs=1", "--hipri=1"],
    "fio_fixed_poll_batch": ["--fixedbufs=1", "--hipri=1", f"--iodepth_batch_submit={BATCH}",
                             "--iodepth_batch_complete_min=1"],
    "fio_sqpoll": ["--fixedbufs=1", "--hipri=1", f"--iodepth_batch_submit={BATCH}",
                   "--iodepth_batch_complete_min=1", "--sqthread_poll=1"],
}  # fmt: skip
NVTUI_MANY: dict[str, list[str]] = {
    "nvtui_jobs1": [],
    "nvtui_jobs1_fixed": ["--fixed-buffers"],
    "nvtui_jobs2_fixed": ["--jobs", "2", "--fixed-buffers"],
    "nvtui_jobs1_fixed_poll": ["--fixed-buffers", "--poll"],
}


def user_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


def fio(filenames: list[str], engine: str, options: list[str], qd: int, seconds: float) -> dict[str, float]:
    argv = [
        "fio", "--name=ladder", f"--ioengine={engine}", f"--filename={':'.join(filenames)}", "--rw=randread",
        "--bs=4k", f"--iodepth={qd}", f"--runtime={seconds}", "--time_based", "--output-format=json",
        "--randrepeat=0", "--norandommap", *options,
    ]  # fmt: skip
    argv += ["--cmd_type=nvme"] if engine == "io_uring_cmd" else ["--direct=1"]
    return parse_fio(run_json(argv))


def nvtui_ladder(ng: str, qd: int, seconds: float) -> dict[str, Any]:
    argv = [python(), "-m", "nvtui.cli", "bench", ng, "--ladder", "--json", "--qd", str(qd)]
    return run_json([*argv, "--seconds", str(seconds)], env=user_env())


def nvtui_many(ngs: list[str], qd: int, seconds: float, options: list[str]) -> dict[str, Any]:
    argv = [python(), "-m", "nvtui.cli", "bench", *ngs, "--json", "--qd", str(qd), "--seconds", str(seconds)]
    doc = run_json([*argv, *options], env=user_env())
    agg = doc["aggregate"]
    return {"iops": agg["iops"], "cpu_per_io_ns": agg["cpu_per_io_ns"], "p50_ns": agg["latency_ns"]["p50"],
            "errors": agg["errors"], "per_device_iops": [d["iops"] for d in doc["devices"]]}  # fmt: skip


def _log(name: str, rep: int, repeat: int, value: Any) -> None:
    print(f"[{rep + 1}/{repeat}] {name}: {json.dumps(value)[:200]}", file=sys.stderr, flush=True)


def guest_ladder(out: Path, seconds: float, repeat: int, qd: int) -> None:
    from tests.vm.conftest import block_device, find_controller, namespace_char_devices

    ng = namespace_char_devices(find_controller())[1]
    ladder_against_fio(out, ng, block_device(ng), seconds, repeat, qd, {"target": "QEMU's NVMe controller"})


def guest_fabrics(out: Path, seconds: float, repeat: int, qd: int) -> None:
    """The ladder on the Linux NVMe target's null_blk namespace (tests/vm/fabrics.py), reached over loop and
    tcp through native multipath: the device costs almost nothing, so what is measured is the host's path."""
    from tests.vm.conftest import block_device
    from tests.vm.fabrics import fabrics_target

    with fabrics_target(passthru=False) as fab:
        ng = fab.head
        about = {"target": "Linux nvmet, null_blk namespace, loop + tcp paths", "paths": fab.controllers()}
        ladder_against_fio(out, ng, block_device(ng), seconds, repeat, qd, about)


def ladder_against_fio(
    out: Path, ng: str, blk: str, seconds: float, repeat: int, qd: int, about: dict[str, Any]
) -> None:
    """`repeat` times: the whole nvtui ladder on `ng`, then fio's configuration matching each rung."""
    results: dict[str, list[Any]] = {}
    for rep in range(repeat):
        try:
            doc = nvtui_ladder(ng, qd, seconds)
            for r in doc["rungs"]:
                results.setdefault(f"nvtui_{r['rung']}", []).append(r)
            results.setdefault("nvtui_ladder_elapsed", []).append(doc["elapsed_s"])
            summary = [(r["rung"], r.get("iops", r.get("skipped"))) for r in doc["rungs"]]
            _log("nvtui ladder", rep, repeat, summary)
        except Exception as exc:  # one failing run must not lose the rest of the boot
            results.setdefault("nvtui_ladder_error", []).append(str(exc))
        for rung, (engine, options) in FIO_OF_RUNG.items():
            name = f"fio_{rung}"
            try:
                value: Any = fio([blk if engine == "io_uring" else ng], engine, options, qd, seconds)
            except Exception as exc:
                value = {"error": str(exc)}
            results.setdefault(name, []).append(value)
            _log(name, rep, repeat, value)
    doc = {"kernel": platform.release(), "cpus": os.cpu_count(), "seconds": seconds, "repeat": repeat,
           "qd": qd, "device": ng, "block_device": blk, **about, "results": results}  # fmt: skip
    out.write_text(json.dumps(doc, indent=2))


def guest_many(out: Path, seconds: float, repeat: int, qd: int) -> None:
    from tests.vm.conftest import find_controller, namespace_char_devices

    ngs = [dev for _, dev in sorted(namespace_char_devices(find_controller()).items())]
    if len(ngs) != MANY_NAMESPACES:
        raise SystemExit(f"expected {MANY_NAMESPACES} namespaces, found {ngs}")
    per_ns = max(1, qd // len(ngs))
    results: dict[str, list[Any]] = {}
    for rep in range(repeat):
        cases: list[tuple[str, Any]] = [
            (name, lambda o=options: nvtui_many(ngs, per_ns, seconds, o))
            for name, options in NVTUI_MANY.items()
        ]
        cases += [
            (name, lambda o=options: fio(ngs, "io_uring_cmd", o, per_ns * len(ngs), seconds))
            for name, options in FIO_MANY.items()
        ]
        for name, case in cases:
            try:
                value = case()
            except Exception as exc:
                value = {"error": str(exc)}
            results.setdefault(name, []).append(value)
            _log(name, rep, repeat, value)
    doc = {"kernel": platform.release(), "cpus": os.cpu_count(), "seconds": seconds, "repeat": repeat,
           "qd_per_namespace": per_ns, "total_qd": per_ns * len(ngs), "devices": ngs,
           "results": results}  # fmt: skip
    out.write_text(json.dumps(doc, indent=2))


# ---- the host half ------------------------------------------------------------------------------------


def side(runs: list[Any], key: str = "iops") -> dict[str, Any]:
    return median_spread([r[key] for r in runs if isinstance(r, dict) and r.get(key) is not None])


def ladder_rows(doc: dict[str, Any], prefix: str = "") -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Each rung against fio's matching configuration, and the ladder itself (IOPS, vs block, CPU); the
    rows' names start with `prefix` (which target)."""
    res = doc["results"]
    rows: list[dict[str, Any]] = []
    rungs: list[dict[str, Any]] = []
    for rung in RUNGS:
        ours = res.get(f"nvtui_{rung}", [])
        ran = [r for r in ours if "skipped" not in r]
        skipped = sorted({r["skipped"] for r in ours if "skipped" in r})
        entry: dict[str, Any] = {
            "rung": rung, "nvtui": side(ran), "skipped": skipped, "vs_block": side(ran, "vs_block"),
            "cpu_per_io_ns": side(ran, "cpu_per_io_ns"), "p50_ns": side(ran, "p50_ns"),
            "p99_ns": side(ran, "p99_ns"),
        }  # fmt: skip
        if rung in FIO_OF_RUNG:
            fio_runs = [r for r in res.get(f"fio_{rung}", []) if "error" not in r]
            entry["fio"] = side(fio_runs)
            entry["fio_cpu_per_io_ns"] = side(fio_runs, "cpu_per_io_ns")
            engine, options = FIO_OF_RUNG[rung]
            rows.append({"name": f"{prefix}ladder {rung} / fio", "unit": "IOPS", "nvtui": entry["nvtui"],
                         "peer": entry["fio"], "peer_name": f"fio {engine} {' '.join(options) or 'plain'}",
                         "target": 0.95, "higher_is_better": True})  # fmt: skip
        rungs.append(entry)
    best_ours = max((e for e in rungs if e["nvtui"]["median"]), key=lambda e: e["nvtui"]["median"])
    best_fio = max((e for e in rungs if e.get("fio", {}).get("median")), key=lambda e: e["fio"]["median"])
    names = f"nvtui {best_ours['rung']}; fio's of {best_fio['rung']}"
    rows.append({"name": f"{prefix}ladder best rung / fio best config", "unit": "IOPS",
                 "nvtui": best_ours["nvtui"], "peer": best_fio["fio"], "peer_name": names, "target": 1.5,
                 "higher_is_better": True})  # fmt: skip
    elapsed = res.get("nvtui_ladder_elapsed", [])
    ran_rungs = sum(1 for e in rungs if e["nvtui"]["median"])  # a skipped rung takes no time
    budget = ran_rungs * doc["seconds"] * 1.1
    rows.append({"name": f"{prefix}ladder wall time / its rungs' time + 10%", "unit": "s",
                 "nvtui": median_spread(elapsed),
                 "peer": median_spread([budget] * max(1, len(elapsed))), "peer_name": "the bound",
                 "target": 1.0, "higher_is_better": False})  # fmt: skip
    return rows, rungs


def many_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    res = doc["results"]
    ours = {name: side([r for r in res.get(name, []) if "error" not in r]) for name in NVTUI_MANY}
    theirs = {name: side([r for r in res.get(name, []) if "error" not in r]) for name in FIO_MANY}
    best_ours = max((n for n in ours if ours[n]["median"]), key=lambda n: ours[n]["median"])
    best_fio = max((n for n in theirs if theirs[n]["median"]), key=lambda n: theirs[n]["median"])
    rows = [{"name": "8 namespaces, nvtui best / fio best", "unit": "IOPS", "nvtui": ours[best_ours],
             "peer": theirs[best_fio], "peer_name": f"nvtui {best_ours}; {best_fio}", "target": 1.0,
             "higher_is_better": True}]  # fmt: skip
    for n, m in ours.items():
        rows.append({"name": f"8 ns {n} / fio best", "unit": "IOPS", "nvtui": m, "peer": theirs[best_fio],
                     "peer_name": best_fio, "target": None})  # fmt: skip
    for n, m in theirs.items():
        rows.append({"name": f"8 ns nvtui best / {n}", "unit": "IOPS", "nvtui": ours[best_ours], "peer": m,
                     "peer_name": n, "target": None})  # fmt: skip
    return rows


def wait_for_quiet(limit_s: float) -> None:
    """Hold /tmp/nvtui-quiet (other engineers' new VMs wait while it exists) and wait, up to `limit_s`, for
    the QEMUs already running to end."""
    from benchmarks.run import QUIET_FLAG

    QUIET_FLAG.write_text(f"nvtui ladder benchmark, pid {os.getpid()}\n")
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        others = subprocess.run(["pgrep", "-f", "qemu-system"], capture_output=True, text=True).stdout.split()
        if not others:
            return
        print(f"benchmarks: waiting for {len(others)} other VM(s) to end", file=sys.stderr)
        time.sleep(5)
    print("benchmarks: other VMs still run; measuring anyway", file=sys.stderr)


def boot(mode: str, out: Path, args: argparse.Namespace, **vm: Any) -> dict[str, Any]:
    from tests.vm.vm import run_vm

    argv = [python(), "-m", "benchmarks.ladder", mode, str(out), "--seconds", str(args.seconds), "--repeat",
            str(args.repeat), "--qd", str(args.qd)]  # fmt: skip
    result = run_vm(argv, kernel=args.kernel, timeout=3600, cwd=str(ROOT), **vm)
    if result.returncode != 0 or not out.exists():
        raise SystemExit(f"benchmarks: the guest run ({mode}) failed ({result.returncode})")
    doc: dict[str, Any] = json.loads(out.read_text())
    return doc


def main() -> int:
    p = argparse.ArgumentParser(description="the interface ladder against fio; 8 namespaces against fio")
    p.add_argument("--guest-ladder", type=Path, metavar="OUT", help=argparse.SUPPRESS)
    p.add_argument("--guest-many", type=Path, metavar="OUT", help=argparse.SUPPRESS)
    p.add_argument("--guest-fabrics", type=Path, metavar="OUT", help=argparse.SUPPRESS)
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--qd", type=int, default=32, help="QD of each ladder rung; the 8 namespaces' total")
    p.add_argument("--kernel", default=None)
    p.add_argument("--json", type=Path, metavar="OUT")
    p.add_argument("--quiet", action="store_true",
                   help="hold /tmp/nvtui-quiet, wait up to 10 min for other VMs")  # fmt: skip
    p.add_argument("--no-ladder", action="store_true")
    p.add_argument("--no-many", action="store_true")
    p.add_argument("--no-fabrics", action="store_true", help="skip the ladder on the Linux target's null_blk")
    args = p.parse_args()
    if args.guest_ladder:
        guest_ladder(args.guest_ladder, args.seconds, args.repeat, args.qd)
        return 0
    if args.guest_many:
        guest_many(args.guest_many, args.seconds, args.repeat, args.qd)
        return 0
    if args.guest_fabrics:
        guest_fabrics(args.guest_fabrics, args.seconds, args.repeat, args.qd)
        return 0
    from benchmarks.run import QUIET_FLAG
    from tests.vm.vm import GiB, Namespace

    subprocess.run([python(), "-m", "compileall", "-q", str(ROOT / "nvtui")], check=True)
    outdir = ROOT / ".cache" / "bench"
    outdir.mkdir(parents=True, exist_ok=True)
    stamp = int(time.time())
    docs: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    if args.quiet:
        wait_for_quiet(600)
    try:
        if not args.no_ladder:
            docs["ladder"] = boot("--guest-ladder", outdir / f"ladder-{stamp}.json", args)
            ladder, rungs = ladder_rows(docs["ladder"])
            rows += ladder
            docs["ladder_rungs"] = rungs
        if not args.no_many:
            spaces = [Namespace(i, 1 * GiB) for i in range(1, MANY_NAMESPACES + 1)]
            docs["many"] = boot("--guest-many", outdir / f"many-{stamp}.json", args, namespaces=spaces)
            rows += many_rows(docs["many"])
        if not args.no_fabrics:
            docs["fabrics"] = boot("--guest-fabrics", outdir / f"fabrics-{stamp}.json", args)
            fabrics, fabrics_rungs = ladder_rows(docs["fabrics"], prefix="nvmet null_blk ")
            rows += fabrics
            docs["fabrics_rungs"] = fabrics_rungs
    finally:
        if args.quiet:
            QUIET_FLAG.unlink(missing_ok=True)
    for key in ("ladder_rungs", "fabrics_rungs"):
        if key not in docs:
            continue
        boot_doc = docs[key.removesuffix("_rungs")]
        print(f"\n{boot_doc.get('target', key)}: {boot_doc['device']}")
        heads = ("nvtui IOPS", "vs block", "CPU/IO us", "fio IOPS", "fio CPU/IO")
        print(f"{'rung':18}" + "".join(f"{h:>12}" for h in heads))
        for e in docs[key]:
            def k(m: dict[str, Any], scale: float = 1.0) -> str:
                return "-" if m.get("median") is None else f"{m['median'] / scale:,.2f}"
            cells = [k(e["nvtui"], 1000) + "k", k(e["vs_block"]), k(e["cpu_per_io_ns"], 1000),
                     k(e.get("fio", {}), 1000) + "k", k(e.get("fio_cpu_per_io_ns", {}), 1000)]  # fmt: skip
            skipped = f"  skipped: {'; '.join(e['skipped'])}" if e["skipped"] else ""
            print(f"{e['rung']:18}" + "".join(f"{c:>12}" for c in cells) + skipped)
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, **docs}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
