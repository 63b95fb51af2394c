"""`nvtui bench` and the load engine's slice driver, against the simulator and a stand-in engine."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from nvtui.backend import open_backend
from nvtui.bench import run_bench
from nvtui.cli import main
from nvtui.errors import UsageError


def sim_checksum() -> str:
    """Every byte the simulator keeps: namespace data, metadata and controller state."""
    h = hashlib.sha256()
    directory = Path(os.environ["NVTUI_SIM_DIR"])
    for path in sorted(directory.iterdir()):
        if path.suffix != ".lock":
            h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


async def touch_sim() -> None:
    backend = await open_backend("sim0n1")
    await backend.close()


async def test_a_random_read_bench_on_the_simulator_times_every_io() -> None:
    result = await run_bench("sim0n1", rw="randread", bs=4096, qd=8, seconds=0.3)
    assert result.engine == "python" and result.backend == "sim"
    assert result.ios > 0 and result.errors == 0
    assert result.latency.count == result.ios
    assert result.bytes == result.ios * 4096
    assert result.cpu_per_io_ns > 0
    doc = result.to_json()
    lat = doc["latency_ns"]
    assert isinstance(lat, dict)
    assert lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p99.9"] <= lat["max"]
    assert doc["iops"] == pytest.approx(result.ios / result.seconds, rel=1e-3)


@pytest.mark.parametrize("rw", ["randwrite", "write"])
async def test_writes_without_allow_destructive_are_refused_and_nothing_changes(rw: str) -> None:
    await touch_sim()
    before = sim_checksum()
    with pytest.raises(UsageError, match="--allow-destructive"):
        await run_bench("sim0n1", rw=rw, bs=4096, qd=4, seconds=0.2)
    assert sim_checksum() == before


async def test_writes_with_allow_destructive_change_the_namespace() -> None:
    await touch_sim()
    before = sim_checksum()
    result = await run_bench("sim0n1", rw="write", bs=4096, qd=4, seconds=0.2, allow_destructive=True)
    assert result.ios > 0 and result.errors == 0
    assert sim_checksum() != before


@pytest.mark.parametrize(
    ("device", "options", "message"),
    [
        ("sim0n1", {"bs": 1000}, "multiple of the LBA size 512"),
        ("sim0n1", {"bs": 4 << 20}, "up to the MDTS limit"),
        ("sim0n1", {"qd": 0}, "queue depth"),
        ("sim0", {}, "controller"),
        ("sim0n1", {"poll": True}, "need the uring backend"),
        ("sim0n1", {"rw": "trim"}, "choose one of"),
    ],
)
async def test_bad_bench_settings_are_one_clear_usage_error(
    device: str, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        await run_bench(device, seconds=0.1, **options)


def test_bench_cli_json_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "sim0n1", "--seconds", "0.2", "--qd", "4", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["device"] == "sim0n1" and doc["rw"] == "randread" and doc["ios"] > 0
    assert main(["bench", "sim0n1", "--seconds", "0.2", "--rw", "read"]) == 0
    out = capsys.readouterr().out
    assert "IOPS" in out and "p99.9" in out and "per I/O" in out
    assert main(["bench", "sim0n1", "--rw", "randwrite"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--allow-destructive" in err


# ---- the lean replay path of `nvtui run` (benchmarks/: the 1,000-command admin script) -------------------


async def test_a_replay_prepares_a_repeated_step_once_and_may_skip_decoding() -> None:
    from nvtui.catalogue import load_catalogue
    from nvtui.scripts import CommandScript, ScriptStep, replay
    from nvtui.session import Session

    session = Session(load_catalogue([]))
    calls = 0
    prepare = session.prepare

    async def counting_prepare(*args: Any, **kw: Any) -> Any:
        nonlocal calls
        calls += 1
        return await prepare(*args, **kw)

    session.prepare = counting_prepare  # type: ignore[method-assign]
    steps = [
        ScriptStep(command="identify", fields={"cns": 1}),
        ScriptStep(command="get-features", fields={"fid": 7}),
    ]
    script = CommandScript(steps=steps * 5)
    try:
        lean = await replay(session, script, "sim0", decode=False)
        full = await replay(session, CommandScript(steps=steps[:1]), "sim0")
    finally:
        await session.close()
    assert calls == 2 + 1  # two distinct steps, then one for the second replay
    assert [o.matches for o in lean] == [True] * 10
    assert all(o.result is not None and o.result.decoded is None for o in lean)
    assert full[0].result is not None and full[0].result.decoded is not None
