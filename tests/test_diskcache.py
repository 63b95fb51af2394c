"""The disk cache of validated files: it keeps the start-up gain (a file validated before is not validated
again while it, its path and the code are the same), holds data only (JSON read back by type hints, never a
pickle), and cannot be redirected: a folder others can write is refused, a planted symlink is replaced or
ignored, never followed, and nothing is read past its bound."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from dataclasses import dataclass, fields
from enum import Enum
from pathlib import Path

import pytest
from test_lazy_imports import write_script

from nvtui import diskcache
from nvtui.catalogue import loader as catalogue_mod
from nvtui.catalogue.build import resolve_decoders
from nvtui.errors import UsageError
from nvtui.jsondata import JsonDataError, from_json, to_json
from nvtui.scripts import CommandScript

ROOT = Path(__file__).resolve().parent.parent
VENDOR = (ROOT / "examples" / "vendor-acme.yaml").read_text()
NOBODY = 65534


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("NVTUI_CACHE_DIR", str(directory))
    return directory


def counting_parses(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    real = catalogue_mod.parse_bytes

    def parse(path: Path, raw: bytes, *args: object) -> catalogue_mod.FileResult:
        calls.append(path)
        return real(path, raw, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(catalogue_mod, "parse_bytes", parse)
    return calls


def same_fields(a: object, b: object) -> bool:
    return all(getattr(a, f.name) == getattr(b, f.name) for f in fields(a))  # type: ignore[arg-type]


# --- what is cached, and when it is validated again ------------------------------------------------------


def test_catalogue_cache_follows_content_version_and_code(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = counting_parses(monkeypatch)
    path = tmp_path / "vendor.yaml"
    path.write_text(VENDOR)
    decoders = resolve_decoders()
    first = catalogue_mod._load_validated(path, decoders)
    assert calls == [path] and first.errors == () and first.entries
    again = catalogue_mod._load_validated(path, decoders)
    assert calls == [path]  # from disk
    assert [e.id for e in again.entries] == [e.id for e in first.entries]
    assert all(same_fields(a, b) for a, b in zip(again.entries, first.entries, strict=True))

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
    decoders = resolve_decoders()
    catalogue_mod._load_validated(path, decoders)
    catalogue_mod._load_validated(path, decoders)
    assert len(calls) == 1
    (library / "__init__.py").write_text("VERSION = 2.0\n")  # pip rewrites a package it upgrades
    catalogue_mod._load_validated(path, decoders)
    assert len(calls) == 2
    assert "fakeschema" not in sys.modules  # found, never imported


def test_catalogue_errors_and_notices_are_cached_with_their_lines(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = ROOT / "tests" / "data" / "catalogue_bad.yaml"
    calls = counting_parses(monkeypatch)
    decoders = resolve_decoders()
    first = catalogue_mod._load_validated(bad, decoders)
    again = catalogue_mod._load_validated(bad, decoders)
    assert len(calls) == 1 and first.errors
    assert [str(e) for e in again.errors] == [str(e) for e in first.errors]
    override = tmp_path / "override.yaml"
    override.write_text(
        "version: 1\ncommands:\n  - {id: identify, name: Identify, set: admin, opcode: 6, queue: admin,\n"
        "     help: mine, data: {direction: read, length: 4096}}\n"
    )
    first = catalogue_mod.inspect_file(override)
    catalogue_mod._CACHE.clear()  # only the disk cache left
    again = catalogue_mod.inspect_file(override)
    assert calls.count(override) == 1  # validated once, then read from the disk
    assert first.notices and first.errors  # redefines identify; destructive unsaid
    assert [str(e) for e in again.notices + again.errors] == [str(e) for e in first.notices + first.errors]


def test_the_cache_can_be_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NVTUI_CACHE_DIR", "off")
    key = diskcache.make_key("test", b"", "x")
    diskcache.store("test", key, Point(1, 2))
    assert diskcache.load("test", key, Point) is None
    monkeypatch.delenv("NVTUI_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert diskcache.cache_dir() == tmp_path / "nvtui"


def test_old_entries_are_pruned(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(diskcache, "MAX_ENTRIES", 3)
    keys = [diskcache.make_key("test", bytes([i]), "x") for i in range(5)]
    cache.mkdir(mode=0o700)
    (cache / "test-0123.pickle").write_bytes(b"an entry of an older nvtui")
    for i, key in enumerate(keys):
        diskcache.store("test", key, Point(i, i))
        entry = next(cache.glob(f"test-{key[:40]}.json"))
        os.utime(entry, ns=(i * 10**9, i * 10**9))  # stored one after another
    assert sorted(p.suffix for p in cache.iterdir()) == [".json"] * 3
    assert [diskcache.load("test", k, Point) for k in keys] == [
        None,
        None,
        Point(2, 2),
        Point(3, 3),
        Point(4, 4),
    ]


def test_a_cached_script_is_the_script(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[str] = []
    real = CommandScript.parse.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(
        CommandScript,
        "parse",
        classmethod(lambda cls, doc, source: parsed.append(source) or real(cls, doc, source)),
    )
    path = write_script(tmp_path / "s.yaml", 4)
    path.write_text(path.read_text().replace("fid: 7", "fid: 7, sv: yes"))
    first = CommandScript.load(path)
    assert list(cache.glob("script-*.json"))
    again = CommandScript.load(path)
    assert parsed == [str(path)]  # the second came from the disk
    assert again == first and again is not first
    assert again._lines == first._lines  # tuple keys, back as tuples
    assert again.step_where(3) == f"{path}:10: step 4 (identify)"
    assert again.to_yaml() == first.to_yaml()
    assert again.steps[2].fields == {"fid": 7, "sv": "yes"}  # a word, for the field's own rule
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
    assert not list(cache.glob("script-*"))


# --- data only -------------------------------------------------------------------------------------------


class Colour(Enum):
    RED = 1
    BLUE = 2


@dataclass(frozen=True)
class Point:
    x: int
    y: int


@dataclass(frozen=True)
class Shape:
    name: str
    corners: tuple[Point, ...]
    colour: Colour | None
    origin: Path
    tags: frozenset[str]
    by_number: dict[int, str]
    extra: int | str | Point | None = None


def test_the_codec_round_trips_dataclasses_by_their_hints() -> None:
    shape = Shape(
        "box",
        (Point(0, 0), Point(1, 2)),
        Colour.BLUE,
        Path("/a/b"),
        frozenset({"x"}),
        {3: "three"},
        Point(5, 6),
    )
    data = to_json(shape, Shape)
    assert json.loads(json.dumps(data)) == data  # plain JSON data
    assert data["extra"] == {"x": 5, "y": 6, "$type": "Point"} and data["by_number"] == [[3, "three"]]
    assert from_json(json.loads(json.dumps(data)), Shape) == shape
    for extra in (None, 7, "seven"):
        other = Shape("s", (), None, Path("p"), frozenset(), {}, extra)
        assert from_json(to_json(other, Shape), Shape) == other


def test_the_whole_builtin_catalogue_round_trips() -> None:
    result = catalogue_mod.parse_file(catalogue_mod.BUILTIN_CATALOGUE, resolve_decoders())
    back = from_json(
        json.loads(json.dumps(to_json(result, catalogue_mod.FileResult))), catalogue_mod.FileResult
    )
    assert len(back.entries) == len(result.entries) > 40
    for a, b in zip(back.entries, result.entries, strict=True):
        assert same_fields(a, b), a.id


@pytest.mark.parametrize(
    "data",
    [
        {"x": 1},  # y missing
        {"x": 1, "y": "2"},  # a string is not an integer
        {"x": True, "y": 2},  # nor is a boolean
        [1, 2],
        {"x": 1, "y": 2, "$type": "os.system"},  # a name is looked up among known dataclasses, never imported
        {"x": 1, "y": 2, "$type": "Shape"},  # known, but not a Point
    ],
)
def test_data_that_does_not_fit_its_hint_is_refused(data: object) -> None:
    with pytest.raises(JsonDataError):
        from_json(data, Point)


def test_entries_are_json_never_pickles(cache: Path) -> None:
    key = diskcache.make_key("test", b"content", "x")
    diskcache.store("test", key, Point(4, 2))
    (entry,) = cache.glob("test-*")
    assert entry.suffix == ".json" and json.loads(entry.read_text())["value"] == {"x": 4, "y": 2}
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600 and stat.S_IMODE(cache.stat().st_mode) == 0o700
    import pickle

    entry.write_bytes(pickle.dumps((key, Point(6, 6))))  # what an older nvtui (or anyone) left there
    assert diskcache.load("test", key, Point) is None
    entry.write_text(
        json.dumps({"format": diskcache.FORMAT, "key": "another key", "value": {"x": 0, "y": 0}})
    )
    assert diskcache.load("test", key, Point) is None
    entry.write_text(json.dumps({"format": diskcache.FORMAT, "key": key, "value": {"x": "0", "y": 0}}))
    assert diskcache.load("test", key, Point) is None


def test_an_entry_is_never_read_through_a_symlink_nor_past_its_bound(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = diskcache.make_key("test", b"content", "x")
    diskcache.store("test", key, Point(1, 1))
    (entry,) = cache.glob("test-*")
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_bytes(entry.read_bytes())
    entry.unlink()
    entry.symlink_to(elsewhere)
    assert diskcache.load("test", key, Point) is None  # the same bytes, through a link: not read
    diskcache.store("test", key, Point(2, 2))
    assert not entry.is_symlink() and diskcache.load("test", key, Point) == Point(2, 2)  # replaced
    assert json.loads(elsewhere.read_text())["value"] == {"x": 1, "y": 1}  # never written through
    monkeypatch.setattr(diskcache, "MAX_ENTRY_BYTES", 40)
    assert diskcache.load("test", key, Point) is None
    diskcache.store("test", diskcache.make_key("test", b"big", "x"), Point(10**30, 10**30))
    assert not list(cache.glob(f"test-{diskcache.make_key('test', b'big', 'x')[:40]}*"))  # not kept


# --- the attacks, through the real CLI -------------------------------------------------------------


def nvtui(cache_dir: Path, tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NVTUI_CACHE_DIR=str(cache_dir), NVTUI_SIM_DIR=str(tmp_path / "sim"))
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    return subprocess.run(
        [sys.executable, "-m", "nvtui.cli", *argv], env=env, cwd=ROOT, capture_output=True, text=True
    )


def test_planted_symlinks_never_redirect_a_write(tmp_path: Path) -> None:
    """Issue 9: 399 symlinks planted at the predictable temporary names `.catalogue-<key>.pickle.<pid>.tmp`
    made one `nvtui catalogue list` overwrite the victim's file. Names are no longer predictable (mkstemp),
    and a symlink at an entry's own name is replaced by the rename, never followed."""
    victim = tmp_path / "victim.txt"
    victim.write_text("the victim's data\n")
    cache = tmp_path / "cache"
    vendor = tmp_path / "vendor.yaml"
    vendor.write_text(VENDOR)
    first = nvtui(cache, tmp_path, "catalogue", "list", "--catalogue", str(vendor))
    assert first.returncode == 0, first.stderr
    entries = sorted(cache.glob("catalogue-*.json"))
    assert len(entries) == 2  # the built-in catalogue and the vendor file
    for entry in entries:  # every name nvtui will write next time
        entry.unlink()
        entry.symlink_to(victim)
    pid = os.getpid()
    for i in range(399):  # and every name the old cache would have used, for the next 399 process ids
        for entry in entries:
            (cache / f".{entry.name.replace('.json', '.pickle')}.{pid + i}.tmp").symlink_to(victim)
    again = nvtui(cache, tmp_path, "catalogue", "list", "--catalogue", str(vendor))
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout and again.stderr == ""
    assert victim.read_text() == "the victim's data\n"
    for entry in entries:
        assert not entry.is_symlink() and json.loads(entry.read_text())["format"] == diskcache.FORMAT


@pytest.mark.parametrize("owner", ["another user", "this user"])
def test_a_cache_folder_others_can_write_is_not_used(tmp_path: Path, owner: str) -> None:
    """A cache folder pre-created with mode 0777 (by another user, or by this one): one warning line, and
    nvtui runs without the cache, writing nothing there."""
    if owner == "another user" and os.geteuid() != 0:
        pytest.skip("making a folder of another user needs root")
    shared = tmp_path / "shared-cache"
    shared.mkdir()
    shared.chmod(0o777)
    if owner == "another user":
        os.chown(shared, NOBODY, NOBODY)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep\n")
    (shared / "catalogue-planted.json").symlink_to(victim)
    for _ in range(2):
        done = nvtui(shared, tmp_path, "catalogue", "list")
        assert done.returncode == 0 and "format-nvm" in done.stdout
        (line,) = done.stderr.splitlines()
        assert line.startswith(f"nvtui: warning: refusing the cache folder {shared}: ")
        assert line.endswith("; running without the disk cache")
    assert [p.name for p in shared.iterdir()] == ["catalogue-planted.json"]
    assert victim.read_text() == "keep\n"
