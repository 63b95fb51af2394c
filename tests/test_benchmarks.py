"""Smoke tests of the benchmark scripts' parsing and table code (the benchmarks themselves run in the VM:
`python -m benchmarks.run`); and the bare C loop builds and counts NOPs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.common import (
    median_spread,
    parse_fio,
    parse_json_output,
    parse_nvtui_bench,
    ratio,
    table,
    verdict,
)
from benchmarks.run import guest_rows
from benchmarks.tui import shown_iops
from nvtui.bench import run_bench

DATA = Path(__file__).parent / "data"


def test_fio_json_gives_iops_latency_and_cpu_per_io() -> None:
    doc = parse_json_output("fio: note\n" + (DATA / "fio-io_uring_cmd-randread.json").read_text())
    got = parse_fio(doc)
    job = doc["jobs"][0]
    assert got["iops"] == job["read"]["iops"] and got["ios"] == job["read"]["total_ios"]
    assert 0 < got["p50_ns"] <= got["p99_ns"] and got["mean_ns"] > 0
    cpu_s = (job["usr_cpu"] + job["sys_cpu"]) / 100 * job["read"]["runtime"] / 1000
    assert got["cpu_per_io_ns"] == pytest.approx(cpu_s * 1e9 / got["ios"])


async def test_nvtui_bench_json_parses_to_the_same_figures() -> None:
    result = await run_bench("sim0n1", qd=4, seconds=0.2)
    got = parse_nvtui_bench(json.loads(json.dumps(result.to_json())))
    assert got["ios"] == result.ios and got["p50_ns"] == result.latency.percentile(50)
    assert got["cpu_per_io_ns"] == pytest.approx(result.cpu_per_io_ns, abs=0.1)


def test_median_and_spread() -> None:
    m = median_spread([100.0, 90.0, 120.0])
    assert (m["median"], m["min"], m["max"], m["n"]) == (100.0, 90.0, 120.0, 3)
    assert m["spread"] == pytest.approx(0.3)
    assert median_spread([])["median"] is None


def run(iops: float, cpu: float = 1000.0, p50: float = 100.0) -> dict[str, float]:
    return {"iops": iops, "cpu_per_io_ns": cpu, "p50_ns": p50}


def test_rows_pick_each_side_s_best_configuration_and_judge_targets() -> None:
    doc = {
        "results": {
            "fio_best_qd32": [run(40_000, 20_000), run(50_000, 18_000), {"error": "fio died"}],
            "nvtui_fixed_qd32": [run(100_000, 3_000)],
            "nvtui_best_qd32": [run(70_000, 9_000)],
            "bare_plain_qd32": [run(110_000)],
            "bare_best_qd32": [run(90_000)],
            "admin_nvtui_run_s": [4.0, 5.0],
            "admin_nvme_cli_s": [100.0, 120.0],
        },
        "tui": None,
    }
    rows = {r["name"]: r for r in guest_rows(doc)}
    vs_fio = rows["4k randread QD32 IOPS, nvtui best / fio best"]
    assert vs_fio["peer"]["n"] == 2  # the failed run is left out, not counted as zero
    assert ratio(vs_fio) == pytest.approx(100_000 / 45_000) and verdict(vs_fio) == "met"
    vs_c = rows["4k randread QD32 IOPS, nvtui best / C best"]
    assert ratio(vs_c) == pytest.approx(100_000 / 110_000) and verdict(vs_c) == "met"
    cpu = rows["4k randread QD32 CPU per I/O, both best"]
    assert verdict(cpu) == "met" and not cpu["higher_is_better"]
    admin = rows["1,000 admin commands, wall time, a script replayed before"]
    assert ratio(admin) == pytest.approx(4.5 / 110) and verdict(admin) == "met"
    same_config = rows["4k randread QD32 IOPS, fixed+poll / C same"]
    assert ratio(same_config) == pytest.approx(70_000 / 90_000) and verdict(same_config) == "MISSED"
    assert "MISSED" in table(list(rows.values()))
    doc["results"]["admin_nvtui_run_s"] = [40.0]
    rows = {r["name"]: r for r in guest_rows(doc)}
    replayed = rows["1,000 admin commands, wall time, a script replayed before"]
    assert verdict(replayed) == "MISSED"
    assert not any("unwritten" in name for name in rows)  # no such runs, no such rows
    doc["results"] |= {
        "fio_best_qd32_unwritten": [run(80_000, 10_000)],
        "nvtui_fixed_qd32_unwritten": [run(110_000, 3_000)],
        "nvtui_best_qd32_unwritten": [run(130_000, 9_000)],
        "bare_fixed_qd32_unwritten": [run(125_000)],
        "bare_best_qd32_unwritten": [run(120_000)],
    }
    rows = {r["name"]: r for r in guest_rows(doc)}
    fresh = rows["4k randread QD32 IOPS, unwritten namespace, nvtui best / fio best"]
    assert ratio(fresh) == pytest.approx(130_000 / 80_000) and verdict(fresh) == "met"
    fresh_c = rows["4k randread QD32 IOPS, unwritten namespace, nvtui best / C best"]
    assert ratio(fresh_c) == pytest.approx(130_000 / 125_000) and verdict(fresh_c) == "met"


def test_the_load_screen_iops_is_read_from_a_frame() -> None:
    frame = b"\x1b[?2026h\x1b[1;1H\x1b[2mIOPS \x1b[0m\x1b[1m123,456\x1b[0m  p50 \x1b[?2026l"
    assert shown_iops([(0.0, b"IOPS 5"), (1.0, frame)]) == 123_456.0


def test_the_bare_c_loop_builds_and_counts_nops(tmp_path: Path) -> None:
    import shutil
    import subprocess

    from benchmarks.common import compile_bare_loop, run_json

    if shutil.which("gcc") is None:
        pytest.skip("no gcc")
    binary = compile_bare_loop(tmp_path)
    doc = run_json([str(binary), "nop", "8", "0.05"])
    assert doc["ios"] > 0 and doc["ios"] == doc["enters"] * 8
    assert subprocess.run([str(binary)], capture_output=True).returncode == 2
