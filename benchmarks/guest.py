"""The in-VM half of the benchmark: every peer and nvtui on the same emulated namespace, one after another,
in one boot, interleaved per repetition so drift hits all alike. Writes raw results as JSON.

    python -m benchmarks.guest OUT.json [--seconds 3] [--repeat 3] [--no-tui]

Run by `python -m benchmarks.run` inside the test VM (tests/vm); needs /dev/nvme0 and its namespaces.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import compile_bare_loop, parse_fio, parse_nvtui_bench, python, run_json

ADMIN_MIX = [  # (nvtui script step, the same command through nvme-cli's own subcommand)
    ({"command": "identify", "fields": {"cns": 1}}, "id-ctrl {ctrl}"),
    ({"command": "identify", "fields": {"cns": 0, "nsid": 1}}, "id-ns {ctrl} --namespace-id=1"),
    ({"command": "get-log-page", "fields": {"lid": 2, "numd": 128, "nsid": 0xFFFFFFFF}}, "smart-log {ctrl}"),
    ({"command": "get-features", "fields": {"fid": 7}}, "get-feature {ctrl} --feature-id=7"),
]
ADMIN_COMMANDS = 1000


def namespaces() -> tuple[str, dict[int, str]]:
    from tests.vm.conftest import find_controller, namespace_char_devices

    ctrl = find_controller()
    return ctrl, namespace_char_devices(ctrl)


def fio(ng: str, rw: str, qd: int, seconds: float, best: bool) -> dict[str, float]:
    argv = [
        "fio", "--name=bench", "--ioengine=io_uring_cmd", "--cmd_type=nvme", f"--filename={ng}", f"--rw={rw}",
        "--bs=4k", f"--iodepth={qd}", f"--runtime={seconds}", "--time_based", "--output-format=json",
        "--randrepeat=0", "--norandommap",
    ]  # fmt: skip
    if best:  # issue 5's "best configuration": polled completions, registered buffers, batched submit
        argv += [
            "--hipri=1",
            "--fixedbufs=1",
            f"--iodepth_batch_submit={min(8, qd)}",
            "--iodepth_batch_complete_min=1",
        ]
    return parse_fio(run_json(argv))


def nvtui_bench(ng: str, rw: str, qd: int, seconds: float, *extra: str) -> dict[str, float]:
    argv = [python(), "-m", "nvtui.cli", "bench", ng, "--rw", rw, "--bs", "4096", "--qd", str(qd)]
    argv += ["--seconds", str(seconds), "--json", *extra]
    if rw.endswith("write"):
        argv.append("--allow-destructive")
    return parse_nvtui_bench(run_json(argv, env=user_env()))


def bare(binary: Path, ng: str, nsid: int, qd: int, seconds: float, *extra: str) -> dict[str, float]:
    nlbas = (
        Path(f"/sys/block/{Path(ng).name.replace('ng', 'nvme', 1)}/size").read_text().strip()
    )  # 512 B units
    doc = run_json([str(binary), "io", ng, str(nsid), "512", nlbas, str(qd), str(seconds), *extra])
    return {
        "iops": doc["iops"],
        "cpu_per_io_ns": doc["cpu_seconds"] * 1e9 / doc["ios"],
        "enters": doc["enters"],
    }


def admin_script(ctrl: str, path: Path, tag: str = "") -> Path:
    """The 1,000-step script; `tag` goes into a comment, so each tag is a file nvtui has not seen."""
    import yaml

    steps = [ADMIN_MIX[i % len(ADMIN_MIX)][0] for i in range(ADMIN_COMMANDS)]
    doc = yaml.safe_dump({"nvtui-script": 1, "device": ctrl, "steps": steps}, sort_keys=False)
    path.write_text(f"# {tag}\n{doc}" if tag else doc)
    return path


def admin_files(ctrl: str, workdir: Path) -> tuple[Path, Path]:
    script = admin_script(ctrl, workdir / "admin-1000.yaml")
    loop = workdir / "admin-1000.sh"
    lines = [
        f"nvme {ADMIN_MIX[i % len(ADMIN_MIX)][1].format(ctrl=ctrl)} >/dev/null" for i in range(ADMIN_COMMANDS)
    ]
    loop.write_text("set -e\n" + "\n".join(lines) + "\n")
    return script, loop


def user_env() -> dict[str, str]:
    """The environment a user's shell would give: without the VM harness's PYTHONUNBUFFERED, which turns
    every line nvtui prints into a write(2) of its own (about 1 ms each under TCG)."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


def prefill(ng: str) -> None:
    """Write the whole namespace once, so every read hits written blocks: QEMU answers a read of a
    never-written block of its sparse image far faster than one of data, and the write runs would
    otherwise leave some tools' offsets written and others' not."""
    subprocess.run(
        ["fio", "--name=prefill", "--ioengine=io_uring_cmd", "--cmd_type=nvme", f"--filename={ng}",
         "--rw=write", "--bs=128k", "--iodepth=8", "--output-format=terse"],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip


def timed(argv: list[str]) -> float:
    t0 = time.monotonic()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=user_env())
    elapsed = time.monotonic() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    return elapsed


def main() -> None:
    p = argparse.ArgumentParser(description="benchmarks inside the test VM")
    p.add_argument("out", type=Path)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--no-tui", action="store_true")
    p.add_argument("--only", nargs="*", default=None, help="run only these case names (development)")
    args = p.parse_args()
    ctrl, ns = namespaces()
    ng, nsid = ns[1], 1
    binary = compile_bare_loop()
    workdir = Path(tempfile.mkdtemp(prefix="nvtui-bench-"))
    script, loop = admin_files(ctrl, workdir)
    s = args.seconds

    def new_script() -> Path:
        return admin_script(ctrl, workdir / "new.yaml", tag=os.urandom(8).hex())

    cases: dict[str, Any] = {
        "fio_plain_qd32": lambda: fio(ng, "randread", 32, s, best=False),
        "fio_best_qd32": lambda: fio(ng, "randread", 32, s, best=True),
        "nvtui_plain_qd32": lambda: nvtui_bench(ng, "randread", 32, s),
        "nvtui_fixed_qd32": lambda: nvtui_bench(ng, "randread", 32, s, "--fixed-buffers"),
        "nvtui_best_qd32": lambda: nvtui_bench(ng, "randread", 32, s, "--fixed-buffers", "--poll"),
        "nvtui_ioctl_qd32": lambda: nvtui_bench(ng, "randread", 32, s, "--backend", "ioctl"),
        "bare_plain_qd32": lambda: bare(binary, ng, nsid, 32, s),
        "bare_fixed_qd32": lambda: bare(binary, ng, nsid, 32, s, "fixed"),
        "bare_best_qd32": lambda: bare(binary, ng, nsid, 32, s, "fixed", "poll"),
        "fio_plain_qd1": lambda: fio(ng, "randread", 1, s, best=False),
        "fio_best_qd1": lambda: fio(ng, "randread", 1, s, best=True),
        "nvtui_plain_qd1": lambda: nvtui_bench(ng, "randread", 1, s),
        "nvtui_best_qd1": lambda: nvtui_bench(ng, "randread", 1, s, "--fixed-buffers", "--poll"),
        "fio_plain_randwrite_qd32": lambda: fio(ng, "randwrite", 32, s, best=False),
        "nvtui_plain_randwrite_qd32": lambda: nvtui_bench(ng, "randwrite", 32, s),
        "fio_best_randwrite_qd32": lambda: fio(ng, "randwrite", 32, s, best=True),
        "nvtui_best_randwrite_qd32": lambda: nvtui_bench(ng, "randwrite", 32, s, "--fixed-buffers", "--poll"),
        # A script replayed before (its validation cached on disk, as on any second run), and a script
        # nvtui has not seen (validated with pydantic first; the catalogue itself is cached by then).
        "admin_nvtui_run_s": lambda: timed(
            [python(), "-m", "nvtui.cli", "run", str(script), "--device", ctrl]
        ),
        "admin_nvtui_run_new_s": lambda: timed(
            [python(), "-m", "nvtui.cli", "run", str(new_script()), "--device", ctrl]
        ),
        "admin_nvme_cli_s": lambda: timed(["sh", str(loop)]),
    }
    # Reads of a namespace no one has written yet (the boot's images are new sparse files): QEMU answers
    # them from the image's holes, so the tools' own per-I/O cost shows, as in the figures issue 5's
    # targets were set against. Run first, before anything writes namespace 1; reads only.
    unwritten: dict[str, Any] = {
        "fio_best_qd32_unwritten": cases["fio_best_qd32"],
        "nvtui_fixed_qd32_unwritten": cases["nvtui_fixed_qd32"],
        "nvtui_best_qd32_unwritten": cases["nvtui_best_qd32"],
        "bare_fixed_qd32_unwritten": cases["bare_fixed_qd32"],
        "bare_best_qd32_unwritten": cases["bare_best_qd32"],
    }
    if args.only:
        cases = {k: v for k, v in cases.items() if k in args.only}
        unwritten = {k: v for k, v in unwritten.items() if k in args.only}
    results: dict[str, list[Any]] = {name: [] for name in [*unwritten, *cases]}
    for phase in (unwritten, cases):
        if phase is cases and not args.only:
            prefill(ng)
        if phase is cases and "admin_nvtui_run_s" in cases:
            timed([python(), "-m", "nvtui.cli", "run", str(script), "--device", ctrl])  # validated, cached
        for rep in range(args.repeat):
            for name, case in phase.items():
                try:
                    value = case()
                except Exception as exc:  # one failing peer must not lose the rest of the boot
                    value = {"error": str(exc)}
                results[name].append(value)
                line = f"[{rep + 1}/{args.repeat}] {name}: {json.dumps(value)[:160]}"
                print(line, file=sys.stderr, flush=True)
    tui: dict[str, Any] | None = None
    if not args.no_tui:
        from benchmarks.tui import measure

        try:
            tui = measure(ng, 8.0, args.repeat)
        except Exception as exc:
            tui = {"error": str(exc)}
        print(f"tui: {json.dumps(tui)[:300]}", file=sys.stderr, flush=True)
    doc = {
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "seconds_per_run": s,
        "repeat": args.repeat,
        "device": ng,
        "results": results,
        "tui": tui,
    }
    args.out.write_text(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
