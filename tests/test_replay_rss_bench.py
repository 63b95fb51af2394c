"""benchmarks/replay_rss.py runs end to end (with short scripts: the real figures take minutes) and its
table compares the long script's peak RSS with the short one's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import replay_rss


def test_the_replay_rss_benchmark_measures_both_lengths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "rss.json"
    assert replay_rss.main(["--steps", "5", "60", "--repeat", "1", "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert "nvtui run text, 60 steps, peak RSS" in table and "nvtui run json, 60 steps, peak RSS" in table
    doc = json.loads(out.read_text())
    assert set(doc["runs"]) == {"text 5", "text 60", "json 5", "json 60"}
    assert all(10 < r["rss_mb"] < 500 for runs in doc["runs"].values() for r in runs)
    rows = replay_rss.rows(doc)
    assert [r["target"] for r in rows] == [1.2, None, 1.2, None]


def test_a_script_of_any_length_is_written_in_chunks(tmp_path: Path) -> None:
    path = replay_rss.write_script(tmp_path / "s.yaml", 250_001)
    text = path.read_text()
    assert text.startswith("nvtui-script: 1\ndevice: sim0\nsteps:\n") and text.count("keep-alive") == 250_001
