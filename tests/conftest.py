"""Host-suite fixtures: every test gets its own simulator state and config folders, never the user's; the
disk cache of validated files is one folder for the session, never the user's.

Property tests are deterministic by default (the `ci` hypothesis profile: derandomized, no example
database), so a run fails or passes the same way everywhere. `NVTUI_HYPOTHESIS=explore` (or pytest's
`--hypothesis-profile=explore`) runs them randomized, with the example database, to look for new cases.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("NVTUI_HYPOTHESIS", "ci"))


@pytest.fixture(scope="session")
def _session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("nvtui-cache")


@pytest.fixture(autouse=True)
def _isolated_state(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, _session_cache: Path
) -> Path:
    root = tmp_path_factory.mktemp("nvtui-home")
    monkeypatch.setenv("NVTUI_CACHE_DIR", str(_session_cache))
    monkeypatch.setenv("NVTUI_SIM_DIR", str(root / "sim"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(root / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(root / "state"))
    monkeypatch.setenv("NVTUI_SIM_LATENCY", "none")
    from nvtui import structures

    structures.reset_user()  # structures a user catalogue registered belong to the test that loaded it
    return root


@pytest.fixture
def sim_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The simulator's state in this test's own folder, for tests that look at its files."""
    monkeypatch.setenv("NVTUI_SIM_DIR", str(tmp_path))
    monkeypatch.setenv("NVTUI_SIM_LATENCY", "none")
    return tmp_path


@pytest.fixture
def shells(sim_dir: Path) -> Iterator[Callable[[], Any]]:
    """Processes that share the simulator in `sim_dir` (test_sim_sharing's `Shell`, one request per line),
    made on demand and closed, or killed, after the test."""
    from tests.test_sim_sharing import Shell

    opened: list[Shell] = []

    def make() -> Shell:
        opened.append(Shell())
        return opened[-1]

    yield make
    for shell in opened:
        try:
            shell.close()
        finally:
            if shell.proc.poll() is None:
                shell.proc.kill()
