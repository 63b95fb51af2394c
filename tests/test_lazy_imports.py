"""Start-up cost: what the CLI and the app import before they need it, and the disk cache that lets a
replay skip pydantic and YAML. Each start runs in a fresh interpreter (a subprocess), so an import added at
some module's top that pulls a heavy package back into a path is caught here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# What the headless CLI must never import: the TUI, the decoders' tables, the other backends.
NEVER_HEADLESS = ("textual", "rich", "plotext", "textual_plotext", "nvtui.app", "nvtui.screens")
DECODER_TABLES = (
    "nvtui.nvme.decode.identify", "nvtui.nvme.decode.logs", "nvtui.nvme.decode.features",
    "nvtui.nvme.decode.zns",
)  # fmt: skip
VALIDATION = ("pydantic", "pydantic_core", "yaml", "nvtui.catalogue.schema", "nvtui.scripts_schema")
CODE_RUNNING = ("pickle", "shelve")  # the disk cache holds data only (nvtui.jsondata)

_DRIVER = """
import json, sys
out, argv = sys.argv[1], sys.argv[2:]
code = None
try:
    if argv[0] == "import":
        __import__(argv[1])
    else:
        from nvtui.cli import main
        code = main(argv)
except SystemExit as exc:
    code = exc.code
finally:
    with open(out, "w") as f:
        json.dump({"code": code, "modules": sorted(sys.modules)}, f)
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    out = dict(os.environ)
    out.update(
        NVTUI_CACHE_DIR=str(tmp_path / "cache"),
        NVTUI_SIM_DIR=str(tmp_path / "sim"),
        NVTUI_SIM_LATENCY="none",
        XDG_CONFIG_HOME=str(tmp_path / "config"),
    )
    return out


def start(env: dict[str, str], tmp_path: Path, *argv: str) -> tuple[object, set[str]]:
    """Run the CLI (or `import MODULE`) in a fresh interpreter: (exit code, modules it imported)."""
    out = tmp_path / "modules.json"
    subprocess.run(
        [sys.executable, "-c", _DRIVER, str(out), *argv], env=env, cwd=ROOT, check=True, capture_output=True
    )
    doc = json.loads(out.read_text())
    return doc["code"], set(doc["modules"])


def loaded(modules: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes))


def write_script(path: Path, steps: int) -> Path:
    mix = [
        "  - command: identify\n    fields: {cns: 1}\n",
        "  - command: get-log-page\n    fields: {lid: 2, numd: 128, nsid: 0xFFFFFFFF}\n",
        "  - command: get-features\n    fields: {fid: 7}\n",
    ]
    path.write_text("nvtui-script: 1\ndevice: sim0\nsteps:\n" + "".join(mix[i % 3] for i in range(steps)))
    return path


@pytest.mark.parametrize("argv", [["--version"], ["run", "--help"], ["list"]])
def test_parsing_and_listing_import_no_tui_no_validation_no_decoders(
    env: dict[str, str], tmp_path: Path, argv: list[str]
) -> None:
    code, modules = start(env, tmp_path, *argv)
    assert code in (0, None)
    assert loaded(modules, NEVER_HEADLESS + VALIDATION + DECODER_TABLES) == []
    assert "asyncio" not in modules or argv == ["list"]
    # discovery names the simulated controller from its specs, without loading the simulator
    assert (
        loaded(modules, ("nvtui.backend.sim.controller", "nvtui.backend.uring", "nvtui.backend.ioctl")) == []
    )


def test_a_replay_validates_once_then_comes_from_the_cache(env: dict[str, str], tmp_path: Path) -> None:
    script = write_script(tmp_path / "admin.yaml", 12)
    code, first = start(env, tmp_path, "run", str(script))
    assert code == 0
    assert "pydantic" in first and "yaml" in first  # validated: script and catalogue
    code, again = start(env, tmp_path, "run", str(script), "--json")
    assert code == 0
    assert loaded(again, NEVER_HEADLESS + VALIDATION + DECODER_TABLES + CODE_RUNNING) == []
    assert loaded(again, ("nvtui.backend.uring", "nvtui.backend.ioctl")) == []


def test_an_edited_script_is_validated_again(env: dict[str, str], tmp_path: Path) -> None:
    script = write_script(tmp_path / "admin.yaml", 3)
    assert start(env, tmp_path, "run", str(script))[0] == 0
    write_script(script, 5)  # same path, new content (the mtime may not even change)
    code, modules = start(env, tmp_path, "run", str(script))
    assert code == 0 and "pydantic" in modules
    script.write_text(script.read_text() + "  - command: identify\n    bogus: 1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "nvtui.cli", "run", str(script)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"nvtui: {script}:15: field steps[5].bogus: Extra inputs are not permitted"


def test_the_app_imports_only_its_first_screen(env: dict[str, str], tmp_path: Path) -> None:
    _code, modules = start(env, tmp_path, "import", "nvtui.app")
    later = (
        "nvtui.screens.compose", "nvtui.screens.result", "nvtui.screens.load", "nvtui.screens.scripts",
        "nvtui.screens.modals", "nvtui.widgets.latency_chart", "markdown_it", "plotext", "textual_plotext",
    )  # fmt: skip
    assert loaded(modules, later + VALIDATION + DECODER_TABLES) == []
    assert loaded(modules, ("nvtui.catalogue", "nvtui.session", "nvtui.backend.sim")) == []


def test_decoder_modules_name_every_decoder_where_it_is_registered() -> None:
    from nvtui.nvme import decode

    registry = decode.load_all()
    assert set(registry) == set(decode.DECODER_MODULES)
    for name, fn in registry.items():
        assert fn.__module__ == f"nvtui.nvme.decode.{decode.DECODER_MODULES[name]}", name
    from nvtui import structures

    assert decode.decoder_names() == sorted(set(registry) | set(structures.ids()))


def test_the_uring_backend_loads_the_engine_and_the_identify_decoder_only_when_used(
    env: dict[str, str], tmp_path: Path
) -> None:
    """A single command through uring needs neither the load engine nor the decoders' tables."""
    _, modules = start(env, tmp_path, "import", "nvtui.backend.uring")
    assert "nvtui.backend.uring.backend" in modules
    engine = ("nvtui.backend.uring.engine", "nvtui.backend.histogram", "nvtui.stats")
    assert loaded(modules, (*engine, *DECODER_TABLES)) == []
    from nvtui.backend import uring

    assert uring.run_load is uring.engine.run_load and uring.LoadResult is uring.engine.LoadResult
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        uring.nothing  # noqa: B018
