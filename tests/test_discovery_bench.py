"""benchmarks/discovery_scale.py runs end to end on a small tree (the real figure, 4,096 namespaces, takes
half a minute to build) and lists every namespace it built."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import discovery_scale


def test_the_discovery_benchmark_lists_every_namespace_it_built(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "d.json"
    argv = ["--controllers", "3", "--namespaces", "5", "--repeat", "2", "--json", str(out)]
    assert discovery_scale.main(argv) == 0
    doc = json.loads(out.read_text())
    assert doc["namespaces"] == 15 and len(doc["nvtui_list_s"]) == len(doc["peer_read_all_s"]) == 2
    shown = capsys.readouterr().out
    assert "3 controllers x 5 namespaces (15)" in shown and "target < 1 s" in shown
