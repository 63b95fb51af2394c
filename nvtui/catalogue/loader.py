"""Loading catalogue files: the built-in catalogue, the user's `commands.d`, `--catalogue` files; each file
read (bounded: a regular file of at most `MAX_CATALOGUE_BYTES`), parsed (YAML with lines, `nvtui.yamlio`),
validated (pydantic, imported only to validate) and built, its result kept in memory and in the disk cache,
so a start that changed nothing imports neither pydantic nor YAML.

A user file is checked against the built-in catalogue (`build.Builtins`): it may add and describe commands,
never make a standard opcode less guarded; what it tries is an error (a warning line on load, exit 2 in
`catalogue check`) and the entry loads as guarded as the built-in catalogue says. Redefining a built-in id is
a notice.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nvtui.catalogue.build import (
    Builtins,
    EntryProblems,
    bind_raw,
    build_entry,
    build_preset_draft,
    check_builds,
    check_simulations,
    guard_problems,
    hold_guard,
    pydantic_path,
    resolve_decoders,
    resolve_presets,
)
from nvtui.catalogue.model import Catalogue, CatalogueError, CommandDef, DecodeRule
from nvtui.errors import UsageError
from nvtui.locations import folder_problem, user_catalogue_dir

BUILTIN_CATALOGUE = Path(__file__).parent.parent / "commands.yaml"
# Catalogues are read whole before parsing, so they are bounded: room for the built-in catalogue (50 KiB) with
# every structure layout of NVMe 2.x beside it, and any vendor's; a bigger file is refused before it is read.
MAX_CATALOGUE_BYTES = 4 << 20

# --- loading files ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Extension:
    """One `extend:` item of a user catalogue: value names to add to fields of command `id`, and decode
    rules (when, decoder, context) to put before the command's own."""

    id: str
    values: tuple[tuple[str, tuple[tuple[str, int], ...]], ...]
    rules: tuple[tuple[tuple[tuple[str, int | str], ...], str, tuple[str, ...]], ...]
    source: Path
    line: int


@dataclass(frozen=True)
class FileResult:
    entries: tuple[CommandDef, ...]
    errors: tuple[CatalogueError, ...]
    notices: tuple[CatalogueError, ...] = ()
    extensions: tuple[Extension, ...] = ()


_CACHE: dict[tuple[str, int, int, frozenset[str] | None, str], FileResult] = {}


def is_builtin(path: Path) -> bool:
    """Whether `path` is the built-in catalogue (however it is named: relative, through a link)."""
    return path == BUILTIN_CATALOGUE or os.path.realpath(path) == os.path.realpath(BUILTIN_CATALOGUE)


def read_catalogue(path: Path) -> bytes:
    """A catalogue file's bytes: a regular file (a symlink the user made is followed; a FIFO, a device or a
    folder is refused), at most `MAX_CATALOGUE_BYTES` (at most one byte more is read to know). UsageError
    (one line) otherwise."""
    from nvtui.safeio import TooLong, read_input

    try:
        return read_input(path, MAX_CATALOGUE_BYTES, "catalogue file")
    except TooLong:
        raise UsageError(
            f"catalogue file {path} is larger than {MAX_CATALOGUE_BYTES >> 20} MiB: nvtui reads catalogues "
            f"of at most {MAX_CATALOGUE_BYTES:,} bytes"
        ) from None


def catalogue_file_problem(path: Path) -> str | None:
    """Why `path` cannot be a catalogue (absent, a folder, a FIFO, a device), checked without reading it."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return f"catalogue file {path} not found"
    except OSError as exc:
        return f"catalogue file {path}: {exc.strerror or exc}"
    import stat

    if not stat.S_ISREG(st.st_mode):
        kinds = {stat.S_ISDIR: "a folder", stat.S_ISCHR: "a character device", stat.S_ISBLK: "a block device",
                 stat.S_ISFIFO: "a FIFO", stat.S_ISSOCK: "a socket"}  # fmt: skip
        what = next((name for test, name in kinds.items() if test(st.st_mode)), "a special file")
        return f"catalogue file {path} is {what}, not a file: give a regular file"
    if st.st_size > MAX_CATALOGUE_BYTES:
        return f"catalogue file {path} is larger than {MAX_CATALOGUE_BYTES >> 20} MiB ({st.st_size:,} bytes)"
    return None


def _unreadable(path: Path, message: str) -> FileResult:
    """The file's one error: `FILE:0: is a FIFO, ...` (line 0: the file as a whole)."""
    for prefix in (f"catalogue file {path}: ", f"catalogue file {path} "):
        message = message.removeprefix(prefix)
    return FileResult((), (CatalogueError(path, 0, "", message),))


def load_file(path: Path, decoders: frozenset[str] | None, builtins: Builtins | None = None) -> FileResult:
    """One file's result (from memory or the disk cache when its bytes were validated before). `builtins`:
    check it as a user file against the built-in catalogue."""
    try:
        st = path.stat()
    except OSError as exc:
        return _unreadable(path, f"cannot read: {exc.strerror or exc}")
    key = (str(path), st.st_mtime_ns, st.st_size, decoders, builtins.stamp if builtins else "")
    cached = _CACHE.get(key)
    if cached is None:
        cached = _load_validated(path, decoders, builtins)
        _CACHE[key] = cached
    return cached


# The modules whose code decides what a file validates to (the disk cache's key includes their stamps).
VALIDATING_MODULES = (
    "catalogue/model.py", "catalogue/build.py", "catalogue/loader.py", "catalogue/schema.py", "yamlio.py",
    "numbers.py", "errors.py", "nvme/command.py", "nvme/timeouts.py",
)  # fmt: skip
VALIDATING_PACKAGES = ("pydantic", "pydantic_core", "yaml")


def _load_validated(
    path: Path, decoders: frozenset[str] | None, builtins: Builtins | None = None
) -> FileResult:
    """`parse_bytes`'s result, from the disk cache when this file's bytes were validated before."""
    from nvtui import diskcache

    try:
        raw = read_catalogue(path)
    except UsageError as exc:
        return _unreadable(path, str(exc))
    package = Path(__file__).parent.parent
    code = diskcache.code_stamp((package / m for m in VALIDATING_MODULES), VALIDATING_PACKAGES)
    stamp = builtins.stamp if builtins else ""
    key = diskcache.make_key("catalogue", raw, str(path), sorted(decoders or ()), stamp, code)
    cached = diskcache.load("catalogue", key, FileResult)
    if cached is not None:
        return cached
    result = parse_bytes(path, raw, decoders, builtins)
    diskcache.store("catalogue", key, result)
    return result


def parse_file(path: Path, decoders: frozenset[str] | None, builtins: Builtins | None = None) -> FileResult:
    """Read and validate one catalogue file (no cache)."""
    try:
        raw = read_catalogue(path)
    except UsageError as exc:
        return _unreadable(path, str(exc))
    return parse_bytes(path, raw, decoders, builtins)


def parse_bytes(
    path: Path, raw: bytes, decoders: frozenset[str] | None, builtins: Builtins | None = None
) -> FileResult:
    """Validate one file's bytes; `builtins`: check it as a user file against the built-in catalogue."""
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
        doc = parse_yaml(text, str(path), keep_going=True)
    except YamlSyntaxError as exc:
        return FileResult((), (CatalogueError(path, exc.line, exc.field, exc.detail),))
    data, lines, duplicates = doc.data, doc.lines, doc.duplicates
    errors: list[CatalogueError] = []
    if not isinstance(data, dict):
        return FileResult((), (CatalogueError(path, 1, "", "expected a mapping with a `commands:` list"),))
    bad_entries: set[int] = set()  # entries with a number too long, or a key given twice: reported, skipped
    for dpath, line, message in doc.too_long:
        if dpath[:1] == ("structures",):
            continue  # the structures' own loader reports it (nvtui.structures)
        if dpath[:1] == ("commands",) and len(dpath) > 1 and isinstance(dpath[1], int):
            bad_entries.add(dpath[1])
            label = _entry_label(data["commands"], dpath[1])
            errors.append(CatalogueError(path, line, dotted(dpath[2:]), message, label))
        else:  # outside the entries (version:): nothing in the file is read
            return FileResult((), (CatalogueError(path, line, dotted(dpath), message),))
    try:
        FileModel.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            where = pydantic_path(data, err["loc"], err["type"] == "missing")
            errors.append(CatalogueError(path, line_of(lines, where), dotted(where), err["msg"]))
        if not isinstance(data.get("commands", []), list):
            return FileResult((), tuple(errors))
    for dpath, line, name in duplicates:
        if dpath[:1] == ("structures",):
            continue  # the structures' own loader reports it
        if dpath[:1] == ("commands",) and len(dpath) > 2 and isinstance(dpath[1], int):
            bad_entries.add(dpath[1])
            entry_id = _entry_label(data["commands"], dpath[1])
            errors.append(
                CatalogueError(path, line, dotted(dpath[2:]), f"key {name!r} given twice", entry_id)
            )
        else:
            errors.append(CatalogueError(path, line, dotted(dpath), f"key {name!r} given twice"))
    extensions = _extensions(data, path, lines) if not errors else ()
    own = data.get("structures")  # this file's own layouts: its decode rules may name them
    if decoders is not None and isinstance(own, list):
        decoders = decoders | {s["id"] for s in own if isinstance(s, dict) and isinstance(s.get("id"), str)}
    entries: list[CommandDef] = []
    notices: list[CatalogueError] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(data.get("commands", [])):
        base = ("commands", i)
        label = _entry_label(data["commands"], i)
        if i in bad_entries:
            continue
        if not isinstance(raw, dict):
            errors.append(CatalogueError(path, line_of(lines, base), "", "an entry is a mapping", label))
            continue
        if "preset" in raw:
            before = len(entries)
            _parse_preset(raw, path, lines, base, label, seen, entries, errors)
            if builtins is not None and len(entries) > before:
                _redefines(entries[-1].id, builtins, path, line_of(lines, (*base, "id")), label, notices)
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
            entry = build_entry(model, path, line, decoders)
        except EntryProblems as exc:
            for where, message in exc.problems:
                errors.append(
                    CatalogueError(path, line_of(lines, base + where), dotted(where), message, label)
                )
            continue
        if builtins is not None:
            entry, tried = guard_problems(model, entry, builtins)
            for where, message in tried:
                errors.append(
                    CatalogueError(path, line_of(lines, base + where), dotted(where), message, label)
                )
            _redefines(model.id, builtins, path, line_of(lines, (*base, "id")), label, notices)
        entries.append(entry)
    return FileResult(tuple(entries), tuple(errors), tuple(notices), extensions)


def _extensions(data: dict[str, Any], path: Path, lines: Any) -> tuple[Extension, ...]:
    """The file's `extend:` items (already validated with the file)."""
    from nvtui.catalogue.schema import ExtendModel
    from nvtui.yamlio import line_of

    out = []
    for i, raw in enumerate(data.get("extend") or []):
        model = ExtendModel.model_validate(raw)
        values = tuple((name, tuple(sorted(names.items()))) for name, names in model.values.items())
        rules = tuple((tuple(r.when.items()), r.decoder, tuple(r.context)) for r in model.decode)
        out.append(Extension(model.id, values, rules, path, line_of(lines, ("extend", i))))
    return tuple(out)


def apply_extensions(
    order: dict[str, CommandDef], extensions: Sequence[Extension], decoders: frozenset[str] | None
) -> list[CatalogueError]:
    """Give the commands in `order` the value names and decode rules user files add (in place); one
    error per thing that cannot be added (no such command or field, a name or number taken, a value out of
    the field's range, an unknown decoder). A name only names a value: no command gets less guarded."""
    from dataclasses import replace

    from nvtui.catalogue.build import _value_of
    from nvtui.catalogue.model import KEBAB

    errors: list[CatalogueError] = []
    for ext in extensions:

        def bad(field: str, message: str, ext: Extension = ext) -> None:
            errors.append(CatalogueError(ext.source, ext.line, field, message, f"extend {ext.id}"))

        entry = order.get(ext.id)
        if entry is None:
            bad("id", f"no command {ext.id!r} to extend")
            continue
        fields = {f.name: f for f in entry.fields}
        ok = True
        for fname, names in ext.values:
            fdef = fields.get(fname)
            if fdef is None or fdef.kind != "enum":
                bad(f"values.{fname}", f"{ext.id} has no enum field named {fname!r}")
                ok = False
                continue
            added = dict(fdef.values)
            for name, number in names:
                if not re.match(KEBAB, name):
                    bad(f"values.{fname}.{name}", "a value name is kebab-case")
                    ok = False
                elif name in added and added[name] != number:
                    bad(f"values.{fname}.{name}", f"{name!r} already names {added[name]:#x}")
                    ok = False
                else:
                    try:
                        fdef.check(number)
                    except UsageError as exc:
                        bad(f"values.{fname}.{name}", str(exc))
                        ok = False
                        continue
                    added[name] = number
            fields[fname] = replace(fdef, values=added)
        rules = []
        for when, decoder, context in ext.rules:
            if decoders is not None and decoder not in decoders:
                bad("decode", f"unknown decoder {decoder!r}")
                ok = False
                continue
            matched: dict[str, int] = {}
            for key, raw in when:
                try:
                    matched[key] = _value_of(fields[key], raw)
                except KeyError:
                    bad(f"decode.when.{key}", f"no field named {key!r}")
                    ok = False
                except UsageError as exc:
                    bad(f"decode.when.{key}", str(exc))
                    ok = False
            rules.append(DecodeRule(matched, decoder, context))
        if ok:
            new_fields = tuple(fields[f.name] for f in entry.fields)
            order[ext.id] = replace(entry, fields=new_fields, decode_rules=(*rules, *entry.decode_rules))
    return errors


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


def _redefines(
    entry_id: str, builtins: Builtins, path: Path, line: int, label: str, notices: list[CatalogueError]
) -> None:
    """A notice when a user file's entry takes a built-in command's id."""
    builtin_line = builtins.ids.get(entry_id)
    if builtin_line is not None:
        message = f"redefines the built-in command (line {builtin_line} of the built-in catalogue)"
        notices.append(CatalogueError(path, line, "", message, label))


def _entry_label(commands: list[Any], i: int) -> str:
    raw = commands[i]
    if isinstance(raw, dict) and isinstance(raw.get("id"), str):
        return str(raw["id"])
    return f"commands[{i}]"


def load_catalogue(extra_files: Sequence[Path] = (), *, user_dir: bool = True) -> Catalogue:
    """The built-in catalogue, then `user_catalogue_dir()/*.yaml` (sorted), then each extra file.

    A later entry with the same id replaces an earlier one in place. Bad entries and files are skipped and
    recorded in `Catalogue.errors`; everything else still loads. No user entry is less guarded than the
    built-in catalogue says its opcode is.
    """
    decoders = resolve_decoders()
    files = [BUILTIN_CATALOGUE]
    errors: list[CatalogueError] = []
    if user_dir:
        directory = user_catalogue_dir()
        if directory.is_dir():  # anything but a folder is read, so a FIFO or a dangling link is reported
            problem = folder_problem(directory)
            if problem is None:
                files.extend(sorted(p for p in directory.glob("*.yaml") if not p.is_dir()))
            else:  # someone else could plant commands there: a root nvtui would offer them as yours
                errors.append(CatalogueError(directory, 0, "", f"not read: {problem}"))
    files.extend(Path(p) for p in extra_files)
    user_files = [p for p in files if not is_builtin(p)]
    decoders = _with_user_structures(user_files, decoders, errors)
    builtin = load_file(BUILTIN_CATALOGUE, decoders)
    builtins = Builtins.of(builtin.entries)
    order: dict[str, CommandDef] = {}
    notices: list[CatalogueError] = []
    extensions: list[Extension] = []
    for path in files:
        mine = is_builtin(path)
        result = builtin if mine else load_file(path, decoders, builtins)
        errors.extend(result.errors)
        notices.extend(result.notices)
        extensions.extend(result.extensions)
        for entry in result.entries:
            if entry.preset_draft:
                continue
            if not mine:
                entry = hold_guard(entry, builtins)  # as checked when built; held whatever the cache says
            order[entry.id] = entry  # dict keeps the first position, takes the last value
        presets, preset_errors = resolve_presets([e for e in result.entries if e.preset_draft], order)
        errors.extend(preset_errors)
        for entry in presets:
            order[entry.id] = entry  # a preset is as guarded as the (held) entry it names
    errors.extend(apply_extensions(order, extensions, decoders))
    errors.extend(check_simulations(order))
    # A user entry's buffer fields against its layout; the built-in entries' too when a user file replaced
    # layouts (a test resolves them against the built-in ones: a start without user layouts loads none).
    errors.extend(check_builds(order, (lambda _: False) if _user_layouts(user_files) else is_builtin))
    entries = bind_raw(list(order.values()), builtins)
    return Catalogue(entries=entries, errors=errors, files=files, notices=notices)


def _user_layouts(user_files: Sequence[Path]) -> bool:
    """Whether user files registered structures (read only when there are user files)."""
    if not user_files:
        return False
    from nvtui import structures

    return structures.has_user()


def _layout_error(err: Any) -> CatalogueError:
    return CatalogueError(Path(err.file), err.line, err.field, err.message, err.structure)


def _with_user_structures(
    paths: Sequence[Path], decoders: frozenset[str] | None, errors: list[CatalogueError]
) -> frozenset[str] | None:
    """Register the `structures:` of user catalogue files (each problem one error line; a bad structure is
    skipped), and the decoder names their decode rules may use: the known ones and these structures' ids.
    A file that declares no structures costs nothing more than its cached result."""
    from nvtui import structures
    from nvtui.structures.layout import Layout

    found: list[Layout] = []
    for path in paths:
        if catalogue_file_problem(path) is not None:
            continue  # the catalogue loader reports it
        result = structures.load_file(path, section_only=True)
        errors.extend(_layout_error(e) for e in result.errors)
        found.extend(result.layouts)
    if not found and not structures.has_user():
        return decoders
    errors.extend(_layout_error(e) for e in structures.register_user(found))
    names = {layout.id for layout in found}
    return frozenset((decoders or frozenset()) | names) if names else decoders


def inspect_file(path: Path) -> FileResult:
    """One catalogue file checked on its own, a user file also against the built-in catalogue (its guard,
    the entries its presets may name): its entries, every problem, and its notices (for `nvtui catalogue
    check FILE`)."""
    decoders = resolve_decoders()
    path = Path(path)
    layout_errors: list[CatalogueError] = []
    if not is_builtin(path):
        decoders = _with_user_structures([path], decoders, layout_errors)
    builtin: tuple[CommandDef, ...] = ()
    if is_builtin(path):
        result = load_file(path, decoders)
    else:
        builtin = load_file(BUILTIN_CATALOGUE, decoders).entries
        result = load_file(path, decoders, Builtins.of(builtin))
    order = {e.id: e for e in (*builtin, *result.entries) if not e.preset_draft}
    _, preset_errors = resolve_presets([e for e in result.entries if e.preset_draft], order)
    preset_errors = [*preset_errors, *apply_extensions(order, result.extensions, decoders)]
    preset_errors += check_simulations(order)
    preset_errors += check_builds(order, lambda _: False)  # a check resolves the built-in buffers too
    entries = tuple(e for e in result.entries if e.preset_draft or e.id in order)
    return FileResult(entries, (*result.errors, *layout_errors, *preset_errors), result.notices)


def check_file(path: Path) -> list[CatalogueError]:
    """Every problem in one catalogue file (`inspect_file`'s errors)."""
    return list(inspect_file(path).errors)
