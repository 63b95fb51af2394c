"""Loading catalogue files: the built-in catalogue, the user's `commands.d`, `--catalogue` files; each file
parsed (YAML with lines), validated (pydantic, imported only to validate) and built, its result kept in
memory and in the disk cache, so a start that changed nothing imports neither pydantic nor YAML.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nvtui.catalogue.build import (
    EntryProblems,
    bind_raw,
    build_entry,
    build_preset_draft,
    pydantic_path,
    resolve_decoders,
    resolve_presets,
)
from nvtui.catalogue.model import Catalogue, CatalogueError, CommandDef
from nvtui.locations import user_catalogue_dir

BUILTIN_CATALOGUE = Path(__file__).parent.parent / "commands.yaml"

# --- loading files ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileResult:
    entries: tuple[CommandDef, ...]
    errors: tuple[CatalogueError, ...]


_CACHE: dict[tuple[str, int, int, frozenset[str] | None], FileResult] = {}


def load_file(path: Path, decoders: frozenset[str] | None) -> FileResult:
    try:
        st = path.stat()
        key = (str(path), st.st_mtime_ns, st.st_size, decoders)
    except OSError as exc:
        return FileResult((), (CatalogueError(path, 0, "", f"cannot read: {exc.strerror or exc}"),))
    cached = _CACHE.get(key)
    if cached is None:
        cached = _load_validated(path, decoders)
        _CACHE[key] = cached
    return cached


# The modules whose code decides what a file validates to (the disk cache's key includes their stamps).
VALIDATING_MODULES = (
    "catalogue/model.py", "catalogue/build.py", "catalogue/loader.py", "catalogue/schema.py", "yamlio.py",
    "errors.py", "nvme/command.py",
)  # fmt: skip
VALIDATING_PACKAGES = ("pydantic", "pydantic_core", "yaml")


def _load_validated(path: Path, decoders: frozenset[str] | None) -> FileResult:
    """`parse_file`'s result, from the disk cache when this file's bytes were validated before."""
    from nvtui import diskcache

    try:
        raw = path.read_bytes()
    except OSError as exc:
        return FileResult((), (CatalogueError(path, 0, "", f"cannot read: {exc.strerror or exc}"),))
    package = Path(__file__).parent.parent
    code = diskcache.code_stamp((package / m for m in VALIDATING_MODULES), VALIDATING_PACKAGES)
    key = diskcache.make_key("catalogue", raw, str(path), sorted(decoders or ()), code)
    cached = diskcache.load("catalogue", key)
    if isinstance(cached, FileResult):
        return cached
    result = parse_bytes(path, raw, decoders)
    diskcache.store("catalogue", key, result)
    return result


def parse_file(path: Path, decoders: frozenset[str] | None) -> FileResult:
    """Read and validate one catalogue file (no cache)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return FileResult((), (CatalogueError(path, 0, "", f"cannot read: {exc.strerror or exc}"),))
    return parse_bytes(path, raw, decoders)


def parse_bytes(path: Path, raw: bytes, decoders: frozenset[str] | None) -> FileResult:
    from pydantic import ValidationError

    from nvtui.catalogue.schema import EntryModel, FileModel
    from nvtui.yamlio import YamlSyntaxError, dotted, line_of, parse_yaml

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        return FileResult(
            (), (CatalogueError(path, line, "", f"not UTF-8 text: {exc.reason} at byte {exc.start}"),)
        )
    try:
        doc = parse_yaml(text, str(path))
    except YamlSyntaxError as exc:
        return FileResult((), (CatalogueError(path, exc.line, "", exc.detail),))
    data, lines, duplicates = doc.data, doc.lines, doc.duplicates
    errors: list[CatalogueError] = []
    if not isinstance(data, dict):
        return FileResult((), (CatalogueError(path, 1, "", "expected a mapping with a `commands:` list"),))
    try:
        FileModel.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            where = pydantic_path(data, err["loc"], err["type"] == "missing")
            errors.append(CatalogueError(path, line_of(lines, where), dotted(where), err["msg"]))
        if not isinstance(data.get("commands"), list):
            return FileResult((), tuple(errors))
    bad_entries: set[int] = set()
    for dpath, line, name in duplicates:
        if dpath[:1] == ("commands",) and len(dpath) > 2 and isinstance(dpath[1], int):
            bad_entries.add(dpath[1])
            entry_id = _entry_label(data["commands"], dpath[1])
            errors.append(
                CatalogueError(path, line, dotted(dpath[2:]), f"key {name!r} given twice", entry_id)
            )
        else:
            errors.append(CatalogueError(path, line, dotted(dpath), f"key {name!r} given twice"))
    entries: list[CommandDef] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(data["commands"]):
        base = ("commands", i)
        label = _entry_label(data["commands"], i)
        if i in bad_entries:
            continue
        if not isinstance(raw, dict):
            errors.append(CatalogueError(path, line_of(lines, base), "", "an entry is a mapping", label))
            continue
        if "preset" in raw:
            _parse_preset(raw, path, lines, base, label, seen, entries, errors)
            continue
        try:
            model = EntryModel.model_validate(raw)
        except ValidationError as exc:
            reported: set[str] = set()
            for err in exc.errors():
                where = pydantic_path(raw, err["loc"], err["type"] == "missing")
                shown = dotted(where)
                if shown in reported:
                    continue  # one line per place (a union reports each branch)
                reported.add(shown)
                errors.append(CatalogueError(path, line_of(lines, base + where), shown, err["msg"], label))
            continue
        if model.id in seen:
            message = f"duplicate id: also defined at line {seen[model.id]}"
            errors.append(CatalogueError(path, line_of(lines, (*base, "id")), "id", message, label))
            continue
        line = line_of(lines, base)
        seen[model.id] = line
        try:
            entries.append(build_entry(model, path, line, decoders))
        except EntryProblems as exc:
            for where, message in exc.problems:
                errors.append(
                    CatalogueError(path, line_of(lines, base + where), dotted(where), message, label)
                )
    return FileResult(tuple(entries), tuple(errors))


def _parse_preset(
    raw: dict[str, Any], path: Path, lines: Any, base: tuple[Any, ...], label: str, seen: dict[str, int],
    entries: list[CommandDef], errors: list[CatalogueError],
) -> None:  # fmt: skip
    """A `preset:` entry: validated and kept as a draft, resolved once every file is loaded."""
    from pydantic import ValidationError

    from nvtui.catalogue.schema import PresetModel
    from nvtui.yamlio import dotted, line_of

    try:
        model = PresetModel.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors():
            where = pydantic_path(raw, err["loc"], err["type"] == "missing")
            where_line = line_of(lines, base + where)
            errors.append(CatalogueError(path, where_line, dotted(where), err["msg"], label))
        return
    line = line_of(lines, base)
    if model.id in seen:
        message = f"duplicate id: also defined at line {seen[model.id]}"
        errors.append(CatalogueError(path, line_of(lines, (*base, "id")), "id", message, label))
        return
    seen[model.id] = line
    try:
        entries.append(build_preset_draft(model, path, line))
    except EntryProblems as exc:
        for where, message in exc.problems:
            errors.append(CatalogueError(path, line_of(lines, base + where), dotted(where), message, label))


def _entry_label(commands: list[Any], i: int) -> str:
    raw = commands[i]
    if isinstance(raw, dict) and isinstance(raw.get("id"), str):
        return str(raw["id"])
    return f"commands[{i}]"



def load_catalogue(extra_files: Sequence[Path] = (), *, user_dir: bool = True) -> Catalogue:
    """The built-in catalogue, then `user_catalogue_dir()/*.yaml` (sorted), then each extra file.

    A later entry with the same id replaces an earlier one in place. Bad entries and files are skipped and
    recorded in `Catalogue.errors`; everything else still loads.
    """
    decoders = resolve_decoders()
    files = [BUILTIN_CATALOGUE]
    if user_dir:
        directory = user_catalogue_dir()
        if directory.is_dir():
            files.extend(sorted(p for p in directory.glob("*.yaml") if p.is_file()))
    files.extend(Path(p) for p in extra_files)
    order: dict[str, CommandDef] = {}
    errors: list[CatalogueError] = []
    for path in files:
        result = load_file(path, decoders)
        errors.extend(result.errors)
        for entry in result.entries:
            if not entry.preset_draft:
                order[entry.id] = entry  # dict keeps the first position, takes the last value
        presets, preset_errors = resolve_presets([e for e in result.entries if e.preset_draft], order)
        errors.extend(preset_errors)
        for entry in presets:
            order[entry.id] = entry
    entries = bind_raw(list(order.values()))
    return Catalogue(entries=entries, errors=errors, files=files)



def check_file(path: Path) -> list[CatalogueError]:
    """Every problem in one catalogue file, checked on its own (for `nvtui catalogue check FILE`); its
    presets are checked against the built-in catalogue and the file's own entries."""
    decoders = resolve_decoders()
    result = load_file(Path(path), decoders)
    builtin = load_file(BUILTIN_CATALOGUE, decoders).entries if Path(path) != BUILTIN_CATALOGUE else ()
    order = {e.id: e for e in (*builtin, *result.entries) if not e.preset_draft}
    _, preset_errors = resolve_presets([e for e in result.entries if e.preset_draft], order)
    return [*result.errors, *preset_errors]


