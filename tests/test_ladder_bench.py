"""benchmarks/ladder.py's host half: the rows it builds from a guest's raw results (the runs themselves
need the VM; see benchmarks/README.md)."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.common import ratio, verdict
from benchmarks.ladder import FIO_MANY, FIO_OF_RUNG, NVTUI_MANY, RUNGS, ladder_rows, many_rows


def rung_run(rung: str, iops: float) -> dict[str, Any]:
    return {"rung": rung, "iops": iops, "vs_block": iops / 10_000, "cpu_per_io_ns": 20_000.0, "p50_ns": 1,
            "p99_ns": 2}  # fmt: skip


def test_each_rung_meets_fio_s_matching_configuration_and_the_best_meets_fio_s_best() -> None:
    results: dict[str, list[Any]] = {}
    for i, rung in enumerate(RUNGS):
        ours = 10_000 + 1000 * i
        if rung == "uring_cmd_sqpoll":
            skipped = {"rung": rung, "skipped": "the kernel refused an io_uring with SQPOLL"}
            results[f"nvtui_{rung}"] = [skipped] * 3
        else:
            results[f"nvtui_{rung}"] = [rung_run(rung, ours + d) for d in (-100, 0, 100)]
        if rung in FIO_OF_RUNG:
            results[f"fio_{rung}"] = [{"iops": ours / 2, "cpu_per_io_ns": 1.0}, {"error": "fio exited 1"}]
    results["nvtui_ladder_elapsed"] = [14.5, 14.8, 15.2]
    rows, rungs = ladder_rows({"seconds": 2.0, "results": results})
    assert [e["rung"] for e in rungs] == RUNGS
    assert rungs[RUNGS.index("uring_cmd_sqpoll")]["skipped"] == ["the kernel refused an io_uring with SQPOLL"]
    assert "fio" not in rungs[RUNGS.index("ioctl")]  # no fio engine for the ioctl
    per_rung = [r for r in rows if r["name"].startswith("ladder ") and r["name"].endswith(" / fio")]
    assert len(per_rung) == len(FIO_OF_RUNG)
    block = next(r for r in per_rung if r["name"] == "ladder block / fio")
    assert ratio(block) == 2.0 and verdict(block) == "met"
    sqpoll = next(r for r in per_rung if r["name"] == "ladder uring_cmd_sqpoll / fio")
    assert ratio(sqpoll) is None and verdict(sqpoll) == "-"  # skipped: no figure, no verdict
    best = next(r for r in rows if r["name"] == "ladder best rung / fio best config")
    assert best["nvtui"]["median"] == 16_000 and best["peer"]["median"] == 8_500  # batch vs fio's of sqpoll
    assert verdict(best) == "met"
    wall = next(r for r in rows if r["name"].startswith("ladder wall time"))
    # the skipped sqpoll rung took no time: the bound is 7 rungs of 2 s + 10 %
    assert wall["peer"]["median"] == pytest.approx(7 * 2.0 * 1.1) and verdict(wall) == "met"
    results["nvtui_ladder_elapsed"] = [16.5, 16.8, 17.0]  # within 8 rungs' bound, not within 7's
    slow = next(r for r in ladder_rows({"seconds": 2.0, "results": results})[0] if "wall time" in r["name"])
    assert verdict(slow) == "MISSED"


def test_eight_namespaces_compare_the_best_of_each() -> None:
    results: dict[str, list[Any]] = {}
    for i, name in enumerate(NVTUI_MANY):
        results[name] = [{"iops": 50_000 + i * 1000}]
    for i, name in enumerate(FIO_MANY):
        results[name] = [{"iops": 40_000 + i * 1000}, {"error": "x"}]
    rows = many_rows({"results": results})
    head = rows[0]
    assert head["name"] == "8 namespaces, nvtui best / fio best"
    assert head["nvtui"]["median"] == 53_000 and head["peer"]["median"] == 44_000 and verdict(head) == "met"
    assert len(rows) == 1 + len(NVTUI_MANY) + len(FIO_MANY)


def test_the_fabrics_boot_s_rows_carry_its_prefix_and_a_ladder_with_every_rung_skipped_still_builds() -> None:
    results: dict[str, list[Any]] = {}
    for i, rung in enumerate(RUNGS):
        if rung in ("block", "uring_cmd"):
            results[f"nvtui_{rung}"] = [rung_run(rung, 10_000 + 1000 * i)]
        else:
            results[f"nvtui_{rung}"] = [{"rung": rung, "skipped": "no poll queues"}]
        if rung in FIO_OF_RUNG:
            results[f"fio_{rung}"] = [{"iops": 5_000.0, "cpu_per_io_ns": 1.0}]
    results["nvtui_ladder_elapsed"] = [4.1]
    rows, _ = ladder_rows({"seconds": 2.0, "results": results}, prefix="nvmet null_blk ")
    assert rows and all(r["name"].startswith("nvmet null_blk ladder ") for r in rows)
    wall = next(r for r in rows if "wall time" in r["name"])
    assert wall["peer"]["median"] == pytest.approx(2 * 2.0 * 1.1) and verdict(wall) == "met"
