"""Property: when an input or output file check fails, nothing is sent. Generated `nvtui send` calls that
would go through but for one file (device files, FIFOs and folders as data; output paths that are folders,
planted symlinks, devices or in missing folders) exit 2 with one line naming the option, the recording
backend sees no command, the simulator's counters stay as they were, and no file is touched or left.

Deterministic by default (derandomize); NVTUI_FUZZ_RANDOM=1 draws new cases each run, NVTUI_FUZZ_SCALE
scales the number of cases.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fuzz.recording import Recorder, install_recorder, run_cli
from fuzz.send_strategies import READERS, WRITERS, BadSend, SendPaths, bad_sends, make_send_paths
from hypothesis import HealthCheck, given, settings

from nvtui.backend.sim import SimBackend
from nvtui.backend.sim.backend import live_controller
from nvtui.backend.sim.state import state_dir

SCALE = float(os.environ.get("NVTUI_FUZZ_SCALE", "1"))
SETTINGS = settings(
    max_examples=max(1, int(400 * SCALE)),
    deadline=None,
    derandomize=os.environ.get("NVTUI_FUZZ_RANDOM") != "1",
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def recorder() -> Iterator[Recorder]:
    with pytest.MonkeyPatch.context() as mp:
        yield install_recorder(mp)


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> SendPaths:
    return make_send_paths(tmp_path_factory.mktemp("send-files"))


@pytest.fixture
def held() -> Iterator[SimBackend]:
    """The simulated controller stays open for the test: its counters are read live."""
    backend = SimBackend("sim0")
    yield backend
    asyncio.run(backend.close())


def folder_listing(paths: SendPaths) -> list[str]:
    return sorted(p.name for p in Path(paths.folder).iterdir())


def test_the_controls_go_through(
    recorder: Recorder, paths: SendPaths, held: SimBackend, tmp_path: Path
) -> None:
    """Every command the generator uses is sent when its files are good: the refusals are the files'."""
    for device, command in READERS:
        mark = recorder.mark()
        done = run_cli(["send", device, *command, "--data-out", str(tmp_path / "out.bin")])
        assert done.code == 0, (command, done.err)
        assert recorder.user_commands_since(mark) or command[0] == "identify"
        assert (tmp_path / "out.bin").stat().st_size > 0
    for device, command, size in WRITERS:
        done = run_cli(["send", device, *command, "--data-in", paths.good_data[size], "--allow-destructive"])
        assert done.code in (0, 1), (command, done.err)  # sent: Compare may miscompare, that is its answer


def test_nothing_is_sent_when_a_file_check_fails(
    recorder: Recorder, paths: SendPaths, held: SimBackend
) -> None:
    ctrl = live_controller(state_dir())
    assert ctrl is not None
    listing = folder_listing(paths)

    @SETTINGS
    @given(case=bad_sends(paths))
    def check(case: BadSend) -> None:
        before, mark = dict(ctrl.counters), recorder.mark()
        done = run_cli(case.argv)
        assert done.raised is None, repr(done.raised)
        assert done.code == 2, f"{case.argv}: exit {done.code}\n{done.out}{done.err}"
        line = done.err.strip()
        assert len(line.splitlines()) == 1 and line.startswith("nvtui: "), done.err
        assert case.option in line and case.word in line, (case.argv, line)
        assert done.out == ""
        assert recorder.user_commands_since(mark) == [], f"{case.argv}: {recorder.user_commands_since(mark)}"
        assert {k: v for k, v in ctrl.counters.items() if k != "busy_ns"} == {
            k: v for k, v in before.items() if k != "busy_ns"
        }
        assert Path(paths.victim).read_text() == paths.victim_text
        assert folder_listing(paths) == listing, "a file was created or left behind"

    check()
