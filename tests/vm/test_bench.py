"""`nvtui bench` on QEMU's emulated NVMe namespace: the C engine on uring, the Python path on ioctl, and
writes refused without --allow-destructive (the namespace's checksum unchanged)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest

from tests.vm.conftest import block_device

NVTUI = [sys.executable, "-m", "nvtui.cli"]


def bench(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NVTUI, "bench", *argv], capture_output=True, text=True, timeout=120)


def namespace_sha256(ng: str) -> str:
    h = hashlib.sha256()
    with open(block_device(ng), "rb", buffering=0) as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


@pytest.mark.parametrize("options", [[], ["--fixed-buffers"], ["--fixed-buffers", "--poll"]])
def test_bench_runs_the_c_engine_on_uring(ns_conventional: str, options: list[str]) -> None:
    proc = bench(ns_conventional, "--seconds", "1", "--json", *options)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert (doc["backend"], doc["engine"], doc["errors"]) == ("uring", "c", 0)
    assert doc["ios"] > 1000 and doc["enters"] < doc["ios"]  # batched: fewer enters than I/Os
    assert doc["fixed_buffers"] == ("--fixed-buffers" in options) and doc["poll"] == ("--poll" in options)
    lat = doc["latency_ns"]
    assert 0 < lat["min"] <= lat["p50"] <= lat["p99"] <= lat["max"]
    assert doc["cpu_per_io_ns"] > 0


def test_bench_on_the_ioctl_backend_uses_the_python_path(ns_conventional: str) -> None:
    proc = bench(ns_conventional, "--backend", "ioctl", "--qd", "4", "--seconds", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert (doc["backend"], doc["engine"], doc["errors"]) == ("ioctl", "python", 0) and doc["ios"] > 0


def test_a_bench_on_the_metadata_namespace_supplies_metadata(ns_metadata: str) -> None:
    proc = bench(ns_metadata, "--seconds", "0.5", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["errors"] == 0


def test_writes_without_allow_destructive_leave_the_namespace_unchanged(ns_conventional: str) -> None:
    before = namespace_sha256(ns_conventional)
    for rw in ("randwrite", "write"):
        proc = bench(ns_conventional, "--rw", rw, "--seconds", "1")
        assert proc.returncode == 2
        assert "--allow-destructive" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert namespace_sha256(ns_conventional) == before


def test_bad_block_sizes_and_a_controller_are_one_line_usage_errors(
    ns_conventional: str, nvme_ctrl: str
) -> None:
    for argv, words in (
        ([ns_conventional, "--bs", "1000"], "multiple of the LBA size"),
        ([ns_conventional, "--bs", str(64 << 20)], "MDTS"),
        ([nvme_ctrl], "controller"),
    ):
        proc = bench(*argv, "--seconds", "0.5")
        assert proc.returncode == 2, proc.stderr
        assert words in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
