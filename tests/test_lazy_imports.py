"""Start-up cost: what the CLI and the app import before they need it, and the disk cache that lets a
replay skip pydantic and YAML. Each start runs in a fresh interpreter (a subprocess), so an import added at
some module's top that pulls a heavy package back into a path is caught here."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from nvtui import diskcache
from nvtui.catalogue import loader as catalogue_mod
from nvtui.errors import UsageError
from nvtui.scripts import CommandScript

ROOT = Path(__file__).resolve().parent.parent

# What the headless CLI must never import: the TUI, the decoders' tables, the other backends.
NEVER_HEADLESS = ("textual", "rich", "plotext", "textual_plotext", "nvtui.app", "nvtui.screens")
DECODER_TABLES = (
    "nvtui.nvme.decode.identify", "nvtui.nvme.decode.logs", "nvtui.nvme.decode.features",
    "nvtui.nvme.decode.zns",
)  # fmt: skip
VALIDATION = ("pydantic", "pydantic_core", "yaml", "nvtui.catalogue.schema", "nvtui.scripts_schema")

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
    assert loaded(again, NEVER_HEADLESS + VALIDATION + DECODER_TABLES) == []
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
    assert decode.decoder_names() == sorted(registry)


# --- the disk cache ------------------------------------------------------------------------------------


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("NVTUI_CACHE_DIR", str(directory))
    return directory


def counting_parses(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    real = catalogue_mod.parse_bytes

    def parse(path: Path, raw: bytes, decoders: frozenset[str] | None) -> catalogue_mod.FileResult:
        calls.append(path)
        return real(path, raw, decoders)

    monkeypatch.setattr(catalogue_mod, "parse_bytes", parse)
    return calls


VENDOR = (ROOT / "examples" / "vendor-acme.yaml").read_text()


def test_catalogue_cache_follows_content_version_and_code(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = counting_parses(monkeypatch)
    path = tmp_path / "vendor.yaml"
    path.write_text(VENDOR)
    decoders = catalogue_mod.resolve_decoders()
    first = catalogue_mod._load_validated(path, decoders)
    assert calls == [path] and first.errors == () and first.entries
    again = catalogue_mod._load_validated(path, decoders)
    assert calls == [path]  # from disk
    assert [e.id for e in again.entries] == [e.id for e in first.entries]
    assert again.entries[0].fields == first.entries[0].fields

    path.write_text(VENDOR.replace("name: ", "name: Renamed ", 1))  # content: validated again
    changed = catalogue_mod._load_validated(path, decoders)
    assert len(calls) == 2 and changed.entries[0].name.startswith("Renamed")

    monkeypatch.setattr(diskcache, "__version__", "999.0")  # another nvtui: validated again
    catalogue_mod._load_validated(path, decoders)
    assert len(calls) == 3

    module = tmp_path / "validator.py"  # the validating code changed (an edited checkout)
    module.write_text("# v1\n")
    monkeypatch.setattr(catalogue_mod, "VALIDATING_MODULES", (str(module),))
    catalogue_mod._load_validated(path, decoders)
    catalogue_mod._load_validated(path, decoders)
    assert len(calls) == 4
    module.write_text("# version 2\n")
    catalogue_mod._load_validated(path, decoders)
    assert len(calls) == 5

    catalogue_mod._load_validated(path, decoders | {"new-decoder"})  # another set of decoders
    assert len(calls) == 6


def test_an_upgraded_library_invalidates_the_cache(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = counting_parses(monkeypatch)
    library = tmp_path / "lib" / "fakeschema"
    library.mkdir(parents=True)
    (library / "__init__.py").write_text("VERSION = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path / "lib"))
    monkeypatch.setattr(catalogue_mod, "VALIDATING_PACKAGES", ("fakeschema",))
    path = tmp_path / "vendor.yaml"
    path.write_text(VENDOR)
    decoders = catalogue_mod.resolve_decoders()
    catalogue_mod._load_validated(path, decoders)
    catalogue_mod._load_validated(path, decoders)
    assert len(calls) == 1
    (library / "__init__.py").write_text("VERSION = 2.0\n")  # pip rewrites a package it upgrades
    catalogue_mod._load_validated(path, decoders)
    assert len(calls) == 2
    assert "fakeschema" not in sys.modules  # found, never imported


def test_catalogue_errors_are_cached_with_their_lines(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = ROOT / "tests" / "data" / "catalogue_bad.yaml"
    calls = counting_parses(monkeypatch)
    decoders = catalogue_mod.resolve_decoders()
    first = catalogue_mod._load_validated(bad, decoders)
    again = catalogue_mod._load_validated(bad, decoders)
    assert len(calls) == 1 and first.errors
    assert [str(e) for e in again.errors] == [str(e) for e in first.errors]


def test_a_broken_or_foreign_entry_counts_as_absent(cache: Path, tmp_path: Path) -> None:
    key = diskcache.make_key("test", b"content", "x")
    diskcache.store("test", key, {"answer": 42})
    assert diskcache.load("test", key) == {"answer": 42}
    (entry,) = cache.glob("test-*.pickle")
    assert entry.stat().st_mode & 0o077 == 0 or cache.stat().st_mode & 0o077 == 0
    entry.write_bytes(b"not a pickle")
    assert diskcache.load("test", key) is None
    entry.write_bytes(pickle.dumps(("another key", {"answer": 0})))
    assert diskcache.load("test", key) is None
    if os.geteuid() == 0:
        entry.write_bytes(pickle.dumps((key, {"answer": 1})))
        os.chown(entry, 65534, 65534)
        assert diskcache.load("test", key) is None  # never unpickle what another user wrote


def test_the_cache_can_be_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NVTUI_CACHE_DIR", "off")
    key = diskcache.make_key("test", b"", "x")
    diskcache.store("test", key, 1)
    assert diskcache.load("test", key) is None
    monkeypatch.delenv("NVTUI_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert diskcache.cache_dir() == tmp_path / "nvtui"


def test_old_entries_are_pruned(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(diskcache, "MAX_ENTRIES", 3)
    keys = [diskcache.make_key("test", bytes([i]), "x") for i in range(5)]
    for i, key in enumerate(keys):
        diskcache.store("test", key, i)
        entry = next(cache.glob(f"test-{key[:40]}.pickle"))
        os.utime(entry, ns=(i * 10**9, i * 10**9))  # stored one after another
    assert len(list(cache.glob("test-*.pickle"))) == 3
    assert [diskcache.load("test", k) for k in keys] == [None, None, 2, 3, 4]


def test_a_cached_script_is_the_script(cache: Path, tmp_path: Path) -> None:
    path = write_script(tmp_path / "s.yaml", 4)
    first = CommandScript.load(path)
    assert list(cache.glob("script-*.pickle"))
    again = CommandScript.load(path)
    assert again == first and again is not first
    assert again.step_where(3) == f"{path}:10: step 4 (identify)"
    assert again.to_yaml() == first.to_yaml()
    path.write_text(path.read_text().replace("cns: 1", "cns: 0"))
    assert CommandScript.load(path).steps[0].fields == {"cns": 0}


def test_a_bad_script_is_never_cached(cache: Path, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("nvtui-script: 1\nsteps:\n  - command: identify\n    expect: {sct: 9, sc: 0}\n")
    for _ in range(2):
        with pytest.raises(
            UsageError, match=r"bad.yaml:4: field steps\[0\].expect.sct: .*less than or equal to 7"
        ):
            CommandScript.load(path)
    assert not list(cache.glob("script-*.pickle"))


def test_the_uring_backend_loads_the_engine_and_the_identify_decoder_only_when_used(
    env: dict[str, str], tmp_path: Path
) -> None:
    """A single command through uring needs neither the load engine nor the decoders' tables."""
    _, modules = start(env, tmp_path, "import", "nvtui.backend.uring")
    assert "nvtui.backend.uring.backend" in modules
    assert loaded(modules, ("nvtui.backend.uring.engine", "nvtui.stats", *DECODER_TABLES)) == []
    from nvtui.backend import uring

    assert uring.run_load is uring.engine.run_load and uring.LoadResult is uring.engine.LoadResult
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        uring.nothing  # noqa: B018
