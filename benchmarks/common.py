"""Shared pieces of the benchmarks: building the bare C loop, running a tool and parsing what it prints
(fio's JSON, `nvtui bench --json`, bare_loop's JSON line), medians and spread, and the ratio table."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def python() -> str:
    """The venv's real interpreter (a pyenv shim costs seconds to start under TCG)."""
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def compile_bare_loop(out_dir: Path | None = None) -> Path:
    """gcc -O2 benchmarks/bare_loop.c, into a temp folder (the guest's /tmp is its own tmpfs)."""
    out_dir = out_dir or Path(tempfile.gettempdir()) / f"nvtui-bench-{os.getuid()}"
    out_dir.mkdir(parents=True, exist_ok=True)
    binary = out_dir / "bare_loop"
    subprocess.run(["gcc", "-O2", "-Wall", "-o", str(binary), str(HERE / "bare_loop.c")], check=True)
    return binary


def run_json(argv: Sequence[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a tool that prints one JSON document; raise with its stderr when it fails."""
    proc = subprocess.run(list(argv), capture_output=True, text=True, env=env)
    if proc.returncode not in (0, 1) or not proc.stdout.strip():
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    return parse_json_output(proc.stdout)


def parse_json_output(text: str) -> dict[str, Any]:
    """The JSON document in a tool's stdout (fio may print notes before it)."""
    start = text.find("{")
    if start < 0:
        raise ValueError(f"no JSON object in: {text[:200]!r}")
    doc: dict[str, Any] = json.JSONDecoder().raw_decode(text[start:])[0]
    return doc


def parse_fio(doc: dict[str, Any]) -> dict[str, float]:
    """IOPS, latency (ns) and CPU per I/O from `fio --output-format=json` (one job, read or write)."""
    job = doc["jobs"][0]
    side = job["read"] if job["read"]["total_ios"] else job["write"]
    ios = side["total_ios"]
    runtime_s = side["runtime"] / 1000 if side["runtime"] else 0.0
    clat = side.get("clat_ns") or side.get("lat_ns") or {}
    pct = clat.get("percentile", {})
    cpu_s = (job["usr_cpu"] + job["sys_cpu"]) / 100 * runtime_s  # fio reports CPU as % of the runtime
    return {
        "iops": side["iops"],
        "ios": ios,
        "seconds": runtime_s,
        "mean_ns": clat.get("mean", 0.0),
        "p50_ns": pct.get("50.000000", 0),
        "p99_ns": pct.get("99.000000", 0),
        "cpu_per_io_ns": cpu_s * 1e9 / ios if ios else 0.0,
    }


def parse_nvtui_bench(doc: dict[str, Any]) -> dict[str, float]:
    """The same figures from `nvtui bench --json`."""
    lat = doc["latency_ns"]
    return {
        "iops": doc["iops"],
        "ios": doc["ios"],
        "seconds": doc["seconds"],
        "mean_ns": lat["mean"],
        "p50_ns": lat["p50"],
        "p99_ns": lat["p99"],
        "cpu_per_io_ns": doc["cpu_per_io_ns"],
    }


def median_spread(values: Sequence[float]) -> dict[str, Any]:
    """Median, min, max and the spread ((max - min) / median) of repeated measurements."""
    vals = [float(v) for v in values]
    if not vals:
        return {"median": None, "min": None, "max": None, "spread": None, "n": 0, "values": []}
    med = statistics.median(vals)
    spread = (max(vals) - min(vals)) / med if med else 0.0
    return {
        "median": med,
        "min": min(vals),
        "max": max(vals),
        "spread": spread,
        "n": len(vals),
        "values": vals,
    }


def ratio(row: dict[str, Any]) -> float | None:
    """nvtui's median over the peer's median."""
    a, b = row["nvtui"]["median"], row["peer"]["median"]
    if a is None or not b:
        return None
    return float(a) / float(b)


def verdict(row: dict[str, Any]) -> str:
    """'met' / 'MISSED' against the row's target ratio (nvtui/peer >= target, or <= for lower-is-better)."""
    r, target = ratio(row), row.get("target")
    if r is None or target is None:
        return "-"
    ok = r >= target if row.get("higher_is_better", True) else r <= target
    return "met" if ok else "MISSED"


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit in ("IOPS", "ops/s"):
        return f"{value / 1000:,.1f}k"
    if unit == "ns":
        return f"{value / 1000:,.1f} us"
    if unit == "s":
        return f"{value:,.3f} s"
    if unit == "ms":
        return f"{value:,.1f} ms"
    if unit == "MB":
        return f"{value:,.1f} MB"
    return f"{value:,.3g}"


def table(rows: Sequence[dict[str, Any]]) -> str:
    """The ratio table: one line per comparison, medians with spread, ratio, target and verdict."""
    head = f"{'measurement':46} {'nvtui':>22} {'peer':>22} {'ratio':>7} {'target':>8}  verdict  peer"
    lines = [head, "-" * len(head)]
    for row in rows:
        unit = row["unit"]
        cells = []
        for side in ("nvtui", "peer"):
            m = row[side]
            spread = f" ±{m['spread'] * 50:.0f}%" if m.get("spread") is not None and m["n"] > 1 else ""
            cells.append(_fmt(m["median"], unit) + spread)
        r = ratio(row)
        target = row.get("target")
        tgt = "-" if target is None else ("≥" if row.get("higher_is_better", True) else "≤") + f"{target:g}"
        rs = "-" if r is None else f"{r:.2f}"
        lines.append(
            f"{row['name'][:46]:46} {cells[0]:>22} {cells[1]:>22} {rs:>7} {tgt:>8}  {verdict(row):7}  "
            f"{row.get('peer_name', '')}"
        )
    return "\n".join(lines)
