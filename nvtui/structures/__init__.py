"""Structures as data: the YAML layout of every NVMe structure nvtui reads or writes, and one engine for both.

Built-in layouts are every `*.yaml` file of this folder (a `structures:` list each); a user catalogue may
carry a `structures:` list beside `commands:`, adding structures or replacing built-in ones by id (loaded
with the catalogue: `register_user`). The language is in the README ("Structures").

    decode("smart-log", data, **context) -> Record
    encode("smart-log", {"temperature": 300, ...}, **context) -> bytes

Layouts load on first use, from the disk cache when the files did not change (`nvtui.diskcache`), so a start
that decodes nothing reads none of them, and one that does imports neither pydantic nor YAML.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nvtui.structures.layout import Amount, FieldSpec, Layout, LayoutError, LayoutFile

if TYPE_CHECKING:
    from nvtui.nvme.decode.base import Record

__all__ = [
    "BUILTIN_DIR", "Layout", "LayoutError", "LayoutFile", "builtin_errors", "decode", "encode", "get",
    "ids", "layouts", "load_file", "parse_text", "register_user",
]  # fmt: skip

BUILTIN_DIR = Path(__file__).parent
MAX_FILE_BYTES = 4 << 20

_BUILTIN: dict[str, Layout] | None = None
_BUILTIN_ERRORS: tuple[LayoutError, ...] = ()
_USER: dict[str, Layout] = {}
_MERGED: dict[str, Layout] | None = None

# The modules whose code decides what a file validates to (the disk cache's key includes their stamps).
VALIDATING_MODULES = (
    "structures/schema.py", "structures/layout.py", "structures/__init__.py", "nvme/meanings.py",
    "yamlio.py", "catalogue/build.py",
)  # fmt: skip
VALIDATING_PACKAGES = ("pydantic", "pydantic_core", "yaml")


def builtin_files() -> list[Path]:
    return sorted(p for p in BUILTIN_DIR.glob("*.yaml") if p.is_file())


_ID_LINE: re.Pattern[bytes] | None = None


def quick_ids() -> set[str]:
    """The ids the built-in files and the registered user structures declare, found without validating
    anything (a catalogue's decode rules are checked against them at every start; the layouts themselves
    load only when something is decoded). A test checks that they are exactly the ids that load."""
    global _ID_LINE
    if _ID_LINE is None:
        _ID_LINE = re.compile(rb"^  - (?:\{\s*)?id:\s*([a-z0-9-]+)", re.MULTILINE)
    found: set[str] = set(_USER)
    for path in builtin_files():
        try:
            found.update(m.decode() for m in _ID_LINE.findall(path.read_bytes()))
        except OSError:
            continue
    return found


def parse_text(source: str, raw: bytes, *, section_only: bool = False) -> LayoutFile:
    """Validate one file's bytes: its `structures:` list (a catalogue file without one declares none).
    `section_only`: the file is a catalogue, whose other keys are not this module's business."""
    from nvtui.structures.layout import LayoutError
    from nvtui.structures.schema import parse_structures
    from nvtui.yamlio import YamlSyntaxError, parse_yaml

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        if section_only:
            return LayoutFile(())  # the catalogue loader reports it
        line = raw.count(b"\n", 0, exc.start) + 1
        return LayoutFile((), (LayoutError(source, line, "", "", f"not UTF-8 text: {exc.reason}"),))
    try:
        doc = parse_yaml(text, source, keep_going=True)
    except YamlSyntaxError as exc:
        if section_only:
            return LayoutFile(())  # the catalogue loader reports it
        return LayoutFile((), (LayoutError(source, exc.line, "", exc.field, exc.detail),))
    data = doc.data
    if not isinstance(data, dict):
        if section_only:
            return LayoutFile(())
        message = "expected a mapping with a `structures:` list"
        return LayoutFile((), (LayoutError(source, 1, "", "", message),))
    if "structures" not in data:
        if section_only:
            return LayoutFile(())
        message = "a structures file has a `structures:` list"
        return LayoutFile((), (LayoutError(source, 1, "", "structures", message),))
    errors: list[LayoutError] = []
    if not section_only:
        extra = sorted(str(k) for k in data if k not in ("structures", "version"))
        for key in extra:
            message = "unknown key (a structures file has `structures:`)"
            errors.append(LayoutError(source, doc.lines.get((key,), 1), "", key, message))
    bad = {path[1] for path, _, _ in doc.too_long if path[:1] == ("structures",) and len(path) > 1}
    for path, line, message in doc.too_long:
        if path[:1] == ("structures",):
            errors.append(LayoutError(source, line, "", ".".join(map(str, path[2:])), message))
    for path, line, name in doc.duplicates:
        if path[:1] == ("structures",) and len(path) > 1:
            bad.add(path[1])
            message = f"key {name!r} given twice"
            errors.append(LayoutError(source, line, "", ".".join(map(str, path[2:])), message))
    result = parse_structures(source, data["structures"], doc.lines, skip=bad)
    return LayoutFile(result.layouts, (*errors, *result.errors))


def load_file(path: Path, *, section_only: bool = False) -> LayoutFile:
    """One file's layouts and errors, from the disk cache when its bytes were validated before."""
    from nvtui.safeio import TooLong, read_input

    try:
        raw = read_input(path, MAX_FILE_BYTES, "structures file")
    except TooLong:
        return LayoutFile((), (LayoutError(str(path), 0, "", "", f"larger than {MAX_FILE_BYTES >> 20} MiB"),))
    except Exception as exc:  # unreadable: one line, the rest loads
        return LayoutFile((), (LayoutError(str(path), 0, "", "", f"cannot read: {exc}"),))
    return _cached(
        "structures",
        raw,
        (str(path), section_only),
        lambda: parse_text(str(path), raw, section_only=section_only),
    )


@dataclass(frozen=True)
class _Packed:
    """A LayoutFile as plain lists (`pack`): read back by position, ten times faster than by type hints."""

    data: Any


def _cached(kind: str, raw: bytes, parts: tuple[object, ...], parse: Callable[[], LayoutFile]) -> LayoutFile:
    from nvtui import diskcache

    package = Path(__file__).parent.parent
    code = diskcache.code_stamp((package / m for m in VALIDATING_MODULES), VALIDATING_PACKAGES)
    key = diskcache.make_key(kind, raw, *parts, code)
    cached = diskcache.load(kind, key, _Packed)
    if cached is not None:
        try:
            return unpack(cached.data)
        except (TypeError, ValueError, IndexError):
            pass  # an entry of another shape: validate again
    result = parse()
    diskcache.store(kind, key, _Packed(pack(result)))
    return result


def _pack_amount(a: Amount | None) -> list[Any] | None:
    if a is None:
        return None
    return [
        a.fixed,
        a.field,
        a.context,
        a.default,
        a.scale,
        a.add,
        a.zero_based,
        a.max,
        a.until_end,
        a.fields_end,
        a.align,
    ]


def _amount(a: list[Any] | None) -> Amount | None:
    return None if a is None else Amount(*a)


def _size(a: list[Any]) -> Amount:
    return Amount(*a)


def pack(result: LayoutFile) -> list[Any]:
    layouts = []
    for lay in result.layouts:
        fields = [
            [f.name, f.at, _pack_amount(f.size), f.type, f.lsb, f.msb, [list(v) for v in f.values], f.unit,
             f.scale, f.counts, f.zero_based, f.meaning, f.of, _pack_amount(f.stride), _pack_amount(f.count),
             f.until_zero, f.keep_if, f.index_as, f.scale_field, [list(v) for v in f.scales], f.line,
             _pack_amount(f.at_plus)]
            for f in lay.fields
        ]  # fmt: skip
        layouts.append([lay.id, lay.name, lay.spec, _pack_amount(lay.size), fields, lay.source, lay.line])
    errors = [[e.file, e.line, e.structure, e.field, e.message] for e in result.errors]
    return [layouts, errors]


def unpack(data: list[Any]) -> LayoutFile:
    layouts = []
    for lid, name, spec, size, rows, source, line in data[0]:
        fields = tuple(
            FieldSpec(
                r[0],
                r[1],
                _size(r[2]),
                r[3],
                r[4],
                r[5],
                tuple((int(k), str(v)) for k, v in r[6]),
                r[7],  # type: ignore[arg-type]
                r[8],
                r[9],
                r[10],
                r[11],
                r[12],
                _amount(r[13]),
                _amount(r[14]),
                r[15],
                r[16],
                r[17],
                r[18],
                tuple((int(k), int(v)) for k, v in r[19]),
                r[20],
                _amount(r[21]),
            )
            for r in rows
        )
        layouts.append(Layout(lid, name, spec, _size(size), fields, source, line))  # type: ignore[arg-type]
    return LayoutFile(tuple(layouts), tuple(LayoutError(*e) for e in data[1]))


def check_references(layouts: Mapping[str, Layout]) -> tuple[dict[str, Layout], list[LayoutError]]:
    """Drop every structure whose struct or array field names a structure that is not there (or that is
    itself dropped, or that contains it): one error each, at the field."""
    kept = dict(layouts)
    errors: list[LayoutError] = []
    changed = True
    while changed:
        changed = False
        for sid, layout in list(kept.items()):
            for f in layout.fields:
                why = where = ""
                if f.of and (f.of not in kept or _contains(kept, f.of, sid)):
                    why = (f"structure {f.of!r} contains {sid!r} (a loop)" if f.of in kept
                           else f"no structure named {f.of!r}")  # fmt: skip
                    where = "of"
                else:
                    element = {e.name for e in kept[f.of].fields} if f.of else set()
                    for key in ("until_zero", "keep_if"):
                        ref = getattr(f, key)
                        if ref and ref not in element:
                            why, where = f"structure {f.of!r} has no field named {ref!r}", key
                if why:
                    errors.append(LayoutError(layout.source, f.line, sid, f"fields.{f.name}.{where}", why))
                    del kept[sid]
                    changed = True
                    break
    return kept, errors


def _contains(layouts: Mapping[str, Layout], start: str, target: str) -> bool:
    seen: set[str] = set()
    todo = [start]
    while todo:
        sid = todo.pop()
        if sid == target:
            return True
        if sid in seen or sid not in layouts:
            continue
        seen.add(sid)
        todo.extend(f.of for f in layouts[sid].fields if f.of)
    return False


def _builtin() -> dict[str, Layout]:
    global _BUILTIN, _BUILTIN_ERRORS
    if _BUILTIN is None:
        found: dict[str, Layout] = {}
        errors: list[LayoutError] = []
        for result in _builtin_results():
            errors.extend(result.errors)
            for layout in result.layouts:
                if layout.id in found:
                    other = found[layout.id]
                    errors.append(LayoutError(layout.source, layout.line, layout.id, "id",
                                              f"also defined in {other.source}:{other.line}"))  # fmt: skip
                    continue
                found[layout.id] = layout
        kept, ref_errors = check_references(found)
        _BUILTIN, _BUILTIN_ERRORS = kept, (*errors, *ref_errors)
    return _BUILTIN


def _builtin_results() -> list[LayoutFile]:
    """Every built-in file's result, kept in the disk cache as one entry for all (one read, one key)."""
    files = builtin_files()
    contents = [(str(p), p.read_bytes()) for p in files]
    joined = b"".join(name.encode() + b"\0" + raw + b"\0" for name, raw in contents)

    def parse_all() -> LayoutFile:
        layouts: list[Layout] = []
        errors: list[LayoutError] = []
        for name, raw in contents:
            one = parse_text(name, raw)
            layouts.extend(one.layouts)
            errors.extend(one.errors)
        return LayoutFile(tuple(layouts), tuple(errors))

    return [_cached("structures-builtin", joined, (), parse_all)]


def builtin_errors() -> tuple[LayoutError, ...]:
    """Problems in the built-in layouts (none in a release: a test checks)."""
    _builtin()
    return _BUILTIN_ERRORS


def register_user(found: Iterable[Layout]) -> list[LayoutError]:
    """Add (or replace by id) structures from user catalogues; those naming a structure that is not there
    are dropped, one error each."""
    global _MERGED
    candidate = {**_builtin(), **_USER}
    for layout in found:
        candidate[layout.id] = layout
    kept, errors = check_references(candidate)
    builtin = _builtin()
    _USER.clear()
    _USER.update({sid: layout for sid, layout in kept.items() if builtin.get(sid) is not layout})
    _MERGED = None
    return errors


def has_user() -> bool:
    return bool(_USER)


def reset_user() -> None:
    global _MERGED
    _USER.clear()
    _MERGED = None


def layouts() -> dict[str, Layout]:
    """Every structure by id: the built-in ones, then the user's."""
    global _MERGED
    if _MERGED is None:
        _MERGED = {**_builtin(), **_USER}
    return _MERGED


def ids() -> list[str]:
    return sorted(layouts())


def get(structure: str) -> Layout:
    try:
        return layouts()[structure]
    except KeyError:
        raise KeyError(f"no structure named {structure!r}") from None


def decode(structure: str, data: bytes, **context: object) -> Record:
    """The `Record` of `data` under layout `structure` (named after it)."""
    from nvtui.structures import engine

    get(structure)
    return engine.decode(layouts(), structure, data, context)


def encode(structure: str, values: Mapping[str, Any], **context: object) -> bytes:
    """The bytes of `values` (by field name) under layout `structure`; EncodeError when one does not fit."""
    from nvtui.structures import engine

    get(structure)
    return engine.encode(layouts(), structure, values, context)
