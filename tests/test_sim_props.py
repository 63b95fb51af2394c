"""Generated damage to the simulator's state, planted symlinks and kill points (tests/fuzz/sim_strategies.py):
whatever is done to its files, the simulator opens them, or refuses with one line and leaves them as they
were; it never writes through a symlink; killed at any point, it keeps what it acknowledged.

Deterministic by default (derandomize); NVTUI_FUZZ_RANDOM=1 draws new examples, NVTUI_FUZZ_SCALE scales
the counts."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from fuzz.sim_strategies import damaged_journal, damaged_state, kill_points, planted_symlinks
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_sim_durability import AppendLedger, Stats, start

from nvtui.backend.sim import open_sim
from nvtui.errors import DeviceError, NvtuiError
from nvtui.nvme.command import Command

SCALE = float(os.environ.get("NVTUI_FUZZ_SCALE", "1"))


def props(examples: int) -> settings:
    return settings(
        max_examples=max(1, int(examples * SCALE)),
        deadline=None,
        derandomize=not os.environ.get("NVTUI_FUZZ_RANDOM"),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def fingerprint(folder: Path) -> dict[str, bytes | str]:
    return {
        p.name: f"-> {os.readlink(p)}" if p.is_symlink() else p.read_bytes()
        for p in sorted(folder.iterdir())
        if p.is_symlink() or p.is_file()
    }


async def _drive(folder: Path) -> None:
    """A drive with something in every part of its state, copied while open (as a crash leaves it)."""
    live = folder.parent / f"{folder.name}-live"
    async with open_sim("sim0n1", directory=live) as ns, open_sim("sim0n2", directory=live) as zns:
        await ns.submit(Command(0x01, False, nsid=1, cdw10=2, data_len=512, data=b"a" * 512))
        await ns.submit(Command(0x04, False, nsid=1, cdw10=9))  # Write Uncorrectable: a bad range
        await ns.submit(Command(0x02, False, nsid=1, cdw10=9, data_len=512))  # an error log entry
        await ns.submit(Command(0x09, True, cdw10=0x04 | 1 << 31, cdw11=335))
        await ns.submit(Command(0x09, True, nsid=1, cdw10=0x05 | 1 << 31, cdw11=7))
        await ns.submit(Command(0x14, True, nsid=1, cdw10=1))  # a short self-test: a result
        await zns.submit(Command(0x7D, False, nsid=2, data_len=4096, data=b"z" * 4096))
        await zns.submit(Command(0x79, False, nsid=2, cdw10=16384, cdw13=0x03))  # zone 1 opened
        await ns.submit(Command(0x80, True, nsid=1, cdw10=2))  # a checkpoint
        await ns.submit(Command(0x01, False, nsid=1, cdw10=3, data_len=512, data=b"b" * 512, metadata_len=8))
        shutil.copytree(live, folder, symlinks=True)


@pytest.fixture(scope="module")
def drive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("props") / "drive"
    asyncio.run(_drive(folder))
    return folder


def opens_or_refuses(folder: Path) -> str | None:
    """Open the drive and use it a little: None, or the one-line refusal. Anything else fails the test."""

    async def use() -> None:
        async with open_sim("sim0n1", directory=folder) as ns, open_sim("sim0n2", directory=folder) as zns:
            for c in (
                Command(0x06, True, nsid=1, data_len=4096),
                Command(0x02, True, nsid=0xFFFF_FFFF, cdw10=0x01 | 1023 << 16, data_len=4096),
                Command(0x02, True, nsid=0xFFFF_FFFF, cdw10=0x06 | 140 << 16, data_len=564),
                Command(0x0A, True, cdw10=0x04 | 2 << 8),
                Command(0x02, False, nsid=1, cdw10=0, cdw12=7, data_len=4096),
            ):
                await ns.submit(c)
            await zns.submit(Command(0x7A, False, nsid=2, cdw12=1023, data_len=4096))
            await zns.submit(Command(0x7D, False, nsid=2, data_len=4096, data=bytes(4096)))

    try:
        asyncio.run(use())
    except DeviceError as exc:
        assert "\n" not in str(exc)
        return str(exc)
    except NvtuiError as exc:  # a folder refused (UsageError)
        assert "\n" not in str(exc)
        return str(exc)
    return None


def copy_of(drive: Path, where: str) -> Path:
    target = Path(where) / "drive"
    shutil.copytree(drive, target, symlinks=True)
    return target


@props(60)
@given(data=st.data())
def test_a_damaged_state_file_is_opened_or_refused_in_one_line_never_rewritten(
    drive: Path, data: Any
) -> None:
    valid = json.loads((drive / "sim0.json").read_text())
    edits, state = data.draw(damaged_state(valid), label="edits")
    with tempfile.TemporaryDirectory() as where:
        folder = copy_of(drive, where)
        (folder / "sim0.json").write_text(json.dumps(state))
        before = fingerprint(folder)
        refused = opens_or_refuses(folder)
        if refused is not None:
            assert "sim0.json" in refused or "sim0.journal" in refused, (edits, refused)
            assert fingerprint(folder) == before, edits  # refused: nothing written, nothing erased


@props(60)
@given(data=st.data())
def test_a_damaged_journal_is_replayed_up_to_a_torn_end_or_refused(drive: Path, data: Any) -> None:
    edit, journal = data.draw(damaged_journal((drive / "sim0.journal").read_bytes()), label="edit")
    with tempfile.TemporaryDirectory() as where:
        folder = copy_of(drive, where)
        (folder / "sim0.journal").write_bytes(journal)
        before = fingerprint(folder)
        refused = opens_or_refuses(folder)
        if refused is not None:
            assert "sim0.journal" in refused, (edit, refused)
            assert fingerprint(folder) == before, edit


@props(40)
@given(names=planted_symlinks(), existing=st.booleans())
def test_symlinks_planted_at_any_of_its_names_are_never_followed(
    drive: Path, names: frozenset[str], existing: bool
) -> None:
    with tempfile.TemporaryDirectory() as where:
        folder = copy_of(drive, where) if existing else Path(where) / "drive"
        folder.mkdir(mode=0o700, exist_ok=True)
        victim = Path(where) / "victim"
        victim.write_bytes(b"precious\n")
        for name in names:
            if os.path.lexists(folder / name):
                (folder / name).unlink()
            (folder / name).symlink_to(victim)
        refused = opens_or_refuses(folder)
        assert victim.read_bytes() == b"precious\n"
        if refused is not None:
            assert "symbolic link" in refused, (names, refused)


@props(3)
@given(pauses=kill_points())
def test_zone_appends_killed_at_generated_points_keep_what_was_acknowledged(pauses: list[float]) -> None:
    with tempfile.TemporaryDirectory() as where:
        os.environ["NVTUI_SIM_DIR"] = where  # the conftest fixture restores it after the test
        ledger, stats, index = AppendLedger(), Stats(), 0
        for pause in pauses:
            acks = start("append", index).kill_after(pause)
            for i, result in acks:
                ledger.ack(i, result)
            asyncio.run(ledger.check(acks[-1][0] + 1, stats))
            index = acks[-1][0] + 2


@props(100)
@given(
    n=st.integers(min_value=1, max_value=20_000),
    edits=st.lists(st.tuples(st.floats(0, 1), st.integers(1, 5000), st.booleans()), max_size=30),
    window=st.tuples(st.floats(0, 1), st.floats(0, 1)),
)
def test_the_allocation_map_finds_every_run_repair_relies_on(
    n: int, edits: list[tuple[float, int, bool]], window: tuple[float, float]
) -> None:
    from nvtui.backend.sim.storage import Bitmap

    bitmap, plain = Bitmap(n), [False] * n
    for where, length, value in edits:
        start = int(where * (n - 1))
        length = min(length, n - start)
        bitmap.set_range(start, length, value)
        plain[start : start + length] = [value] * length
    lo, hi = sorted(int(w * n) for w in window)
    assert bitmap.count == sum(plain)
    for value in (False, True):
        expected, i = [], lo
        while i < hi:
            j = i
            while j < hi and plain[j] == plain[i]:
                j += 1
            if plain[i] == value:
                expected.append((i, j))
            i = j
        assert list(bitmap.runs(lo, hi, value)) == expected
