"""Building runtime entries (`CommandDef`) from validated file models: locations parsed, ranges, defaults,
lengths and decode rules checked, each problem with its path in the entry (the loader turns it into a line).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nvtui.catalogue.model import (
    DEVICE_NSID,
    KEBAB,
    LOCATIONS,
    SLICE_RE,
    SPAN_RE,
    WIDTH,
    ByValue,
    CatalogueError,
    CommandDef,
    DecodeRule,
    DefaultBy,
    FieldDef,
    FromField,
    Length,
    Slice,
    close_matches,
)
from nvtui.errors import UsageError
from nvtui.nvme.command import CDW_NAMES, U32_MAX, DataDirection

if TYPE_CHECKING:
    from nvtui.catalogue.schema import EntryModel, FieldModel, PresetModel

class EntryProblems(Exception):
    """Problems found while building one entry: (path within the entry, message) pairs."""

    def __init__(self, problems: list[tuple[tuple[Any, ...], str]]) -> None:
        super().__init__(problems)
        self.problems = problems



# --- building entries from validated models --------------------------------------------------------------


def parse_location(text: str) -> tuple[Slice, ...]:
    text = text.strip()
    span = SPAN_RE.match(text)
    if span:
        lo, hi = f"cdw{span['lo']}", f"cdw{span['hi']}"
        if lo not in CDW_NAMES or hi not in CDW_NAMES or CDW_NAMES.index(hi) != CDW_NAMES.index(lo) + 1:
            raise ValueError(f"{text!r}: a span joins two consecutive dwords, e.g. cdw10-11")
        return (Slice(lo, 0, 31), Slice(hi, 0, 31))
    m = SLICE_RE.match(text)
    if not m or m["dw"] not in LOCATIONS:
        raise ValueError(
            f"unknown location {text!r} (nsid, cdw2, cdw3, cdw10..cdw15, opcode; "
            f"slices like cdw10[7:0], spans like cdw10-11)"
        )
    loc, width = m["dw"], WIDTH[m["dw"]]
    if m["msb"] is None:
        return (Slice(loc, 0, width - 1),)
    msb = int(m["msb"])
    lsb = int(m["lsb"]) if m["lsb"] is not None else msb
    if not 0 <= lsb <= msb <= width - 1:
        raise ValueError(f"bit slice {text!r} out of range: bits are {width - 1}:0, high bit first")
    return (Slice(loc, lsb, msb),)


def resolve_decoders() -> frozenset[str] | None:
    """Names of the decoders, or None when no decoder is available (checks then skipped). The names are
    known without importing a decoder module (`nvtui.nvme.decode.DECODER_MODULES`)."""
    try:
        from nvtui.nvme.decode import decoder_names
    except Exception:  # a broken decode package must not stop the catalogue from loading
        return None
    return frozenset(decoder_names()) or None


def _build_field(
    fm: FieldModel, path: tuple[Any, ...], problems: list[tuple[tuple[Any, ...], str]]
) -> FieldDef | None:
    start = len(problems)
    slices: list[Slice] = []
    ats = [fm.at] if isinstance(fm.at, str) else fm.at
    if not ats:
        problems.append(((*path, "at"), "empty list of locations"))
    for i, at in enumerate(ats):
        try:
            slices.extend(parse_location(at))
        except ValueError as exc:
            problems.append(((*path, "at") if isinstance(fm.at, str) else (*path, "at", i), str(exc)))
    width = sum(s.width for s in slices)
    values = dict(fm.values or {})
    if fm.type == "enum" and not values:
        problems.append(((*path, "values"), "an enum needs values (name: number)"))
    if fm.type != "enum" and fm.values and fm.name != "nsid":
        problems.append(((*path, "values"), f"only enum fields have named values (this one is {fm.type})"))
    if fm.type == "flag" and slices and width != 1:
        problems.append(((*path, "at"), f"a flag is one bit, this location has {width}"))
    for vname, number in values.items():
        if not re.match(KEBAB, vname):
            problems.append(((*path, "values", vname), f"value name {vname!r} must be lowercase kebab-case"))
        elif slices and not 0 <= number < (1 << width):
            problems.append(((*path, "values", vname), f"{number:#x} does not fit in {width} bits"))
    if len(problems) > start:
        return None
    lo = 1 if fm.zero_based else 0
    hi = (1 << width) if fm.zero_based else (1 << width) - 1
    fmin = fm.min if fm.min is not None else lo
    fmax = fm.max if fm.max is not None else hi
    if fmin < lo or fmax > hi or fmin > fmax:
        problems.append(((*path, "max" if fm.max is not None else "min"),
                         f"range {fmin}-{fmax} does not fit the field's bits ({lo}-{hi})"))  # fmt: skip
        return None
    default: int | None
    if fm.default is None:
        default = fmin
    else:
        raw_default = fm.default
        where = (*path, "default")
        if isinstance(raw_default, dict):  # chosen by another field's value: `otherwise` when none matches
            keys = set(raw_default)
            if keys - {"by", "defaults", "otherwise"} or not {"by", "defaults"} <= keys:
                shape = "{by: FIELD, defaults: {VALUE: DEFAULT}, otherwise: DEFAULT}"
                problems.append((where, f"expected {shape}"))
                return None
            raw_default, where = raw_default.get("otherwise", fmin), (*where, "otherwise")
        try:
            default = _default_value(fm.name, raw_default, values, fmin, fmax)
        except ValueError as exc:
            problems.append((where, str(exc)))
            return None
    return FieldDef(
        name=fm.name, slices=tuple(slices), kind=fm.type, values=values, default=default,
        required=fm.required, min=fmin, max=fmax, zero_based=fm.zero_based, help=fm.help,
    )  # fmt: skip


def _default_value(name: str, raw: object, values: Mapping[str, int], fmin: int, fmax: int) -> int | None:
    """A field's default as written (a number, one of its value names, or `device` for an nsid field);
    None stands for `device`. ValueError saying what is wrong otherwise."""
    if isinstance(raw, str):
        if raw == DEVICE_NSID and name == "nsid":
            return None
        if raw in values:
            return values[raw]
        choices = ", ".join(values) if values else "none"
        raise ValueError(f"{raw!r} is not one of the field's values ({choices})")
    if not isinstance(raw, int) or isinstance(raw, bool):
        raise ValueError(f"expected a number or a value name, got {raw!r}")
    if not fmin <= raw <= fmax:
        raise ValueError(f"{raw} out of range {fmin}-{fmax}")
    return raw


def _build_default_by(
    fdef: FieldDef,
    raw: Mapping[str, Any],
    path: tuple[Any, ...],
    fields: Mapping[str, FieldDef],
    problems: list[tuple[tuple[Any, ...], str]],
) -> FieldDef:
    """`fdef` with its default chosen by another field's value (`default: {by: cns, defaults: {...}}`)."""
    by = raw["by"]
    if not isinstance(by, str) or by not in fields or by == fdef.name:
        problems.append(((*path, "by"), f"no other field named {by!r}"))
        return fdef
    if not isinstance(raw["defaults"], dict):
        problems.append(((*path, "defaults"), "expected a mapping VALUE: DEFAULT"))
        return fdef
    defaults: dict[int, int | None] = {}
    for key, value in raw["defaults"].items():
        try:
            number = _value_of(fields[by], key)
            defaults[number] = _default_value(fdef.name, value, fdef.values, fdef.min, fdef.max)
        except (UsageError, ValueError) as exc:
            problems.append(((*path, "defaults", key), str(exc)))
    return replace(fdef, default_by=DefaultBy(by, defaults, fdef.default))


def _value_of(fdef: FieldDef, raw: int | str) -> int:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return fdef.check(raw)
    if isinstance(raw, str) and raw in fdef.values:
        return fdef.values[raw]
    raise UsageError(f"{raw!r} is not one of {fdef.name}'s values ({', '.join(fdef.values) or 'none'})")


def _build_by_value(
    raw: Any,
    path: tuple[Any, ...],
    fields: Mapping[str, FieldDef],
    problems: list[tuple[tuple[Any, ...], str]],
) -> ByValue | None:
    if (
        not isinstance(raw, dict)
        or set(raw) - {"by", "sizes", "otherwise"}
        or "by" not in raw
        or "sizes" not in raw
    ):
        problems.append((path, "expected {by: FIELD, sizes: {VALUE: BYTES}, otherwise: BYTES|user|optional}"))
        return None
    by = raw["by"]
    if not isinstance(by, str) or by not in fields:  # a list or mapping here is unhashable
        problems.append(((*path, "by"), f"no field named {by!r}"))
        return None
    sizes: dict[int, int] = {}
    if not isinstance(raw["sizes"], dict):
        problems.append(((*path, "sizes"), "expected a mapping VALUE: BYTES"))
        return None
    for key, size in raw["sizes"].items():
        try:
            number = _value_of(fields[by], key)
        except UsageError as exc:
            problems.append(((*path, "sizes", key), str(exc)))
            continue
        if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= U32_MAX:
            problems.append(((*path, "sizes", key), f"size must be a byte count, got {size!r}"))
            continue
        sizes[number] = size
    otherwise = raw.get("otherwise", "optional")
    if not (
        otherwise in ("user", "optional") or (isinstance(otherwise, int) and not isinstance(otherwise, bool))
    ):
        problems.append(((*path, "otherwise"), f"expected bytes, user or optional, got {otherwise!r}"))
        return None
    return ByValue(by, sizes, otherwise)


def _build_length(
    raw: Any,
    path: tuple[Any, ...],
    fields: Mapping[str, FieldDef],
    problems: list[tuple[tuple[Any, ...], str]],
) -> Length:
    if raw is None:
        return None
    if isinstance(raw, bool):
        problems.append((path, "expected bytes, user, optional or a mapping"))
        return None
    if isinstance(raw, int):
        if not 0 <= raw <= U32_MAX:
            problems.append((path, f"{raw} bytes out of range 0-{U32_MAX:#x}"))
        return raw
    if isinstance(raw, str):
        if raw not in ("user", "optional"):
            problems.append((path, f"expected bytes, user or optional, got {raw!r}"))
        return raw
    if isinstance(raw, dict) and "by" in raw:
        return _build_by_value(raw, path, fields, problems)
    if not isinstance(raw, dict) or set(raw) - {"field", "unit"} or "field" not in raw:
        problems.append((path, "expected {field: FIELD, unit: BYTES|lba|{by: ..., sizes: ...}}"))
        return None
    name = raw["field"]
    if not isinstance(name, str) or name not in fields:  # a list or mapping here is unhashable
        problems.append(((*path, "field"), f"no field named {name!r}"))
        return None
    unit = raw.get("unit", 1)
    if isinstance(unit, dict):
        picked = _build_by_value(unit, (*path, "unit"), fields, problems)
        return FromField(name, picked) if picked else None
    if unit != "lba" and (not isinstance(unit, int) or isinstance(unit, bool) or unit <= 0):
        problems.append(((*path, "unit"), f"expected a positive byte count or lba, got {unit!r}"))
        return None
    return FromField(name, unit)


def build_entry(model: EntryModel, source: Path, line: int, decoders: frozenset[str] | None) -> CommandDef:
    problems: list[tuple[tuple[Any, ...], str]] = []
    fields: list[FieldDef] = []
    names: dict[str, int] = {}
    for i, fm in enumerate(model.fields):
        if fm.name in names:
            problems.append(
                (
                    ("fields", i, "name"),
                    f"field {fm.name!r} defined twice (first at fields[{names[fm.name]}])",
                )
            )
            continue
        names[fm.name] = i
        fdef = _build_field(fm, ("fields", i), problems)
        if fdef is not None:
            if any(s.location == "opcode" for s in fdef.slices) and not model.raw:
                problems.append(
                    (("fields", i, "at"), "only raw entries (raw: true) place a field in the opcode")
                )
            fields.append(fdef)
    if "nsid" not in names:
        default = None if model.queue == "io" else 0
        implicit = FieldDef("nsid", (Slice("nsid", 0, 31),), "uint", {"all": U32_MAX}, default, False, 0,
                            U32_MAX, False, "namespace ID")  # fmt: skip
        fields.insert(0, implicit)
    # Overlaps: two fields sharing bits would clobber each other (NVMe: each bit has one meaning).
    owner: dict[tuple[str, int], str] = {}
    for f in fields:
        i = names.get(f.name, 0)
        for s in f.slices:
            for bit in range(s.lsb, s.msb + 1):
                other = owner.setdefault((s.location, bit), f.name)
                if other != f.name:
                    problems.append(
                        (("fields", i, "at"), f"{s} overlaps field {other} at {s.location} bit {bit}")
                    )
                    break
            else:
                continue
            break
    by_name = {f.name: f for f in fields}
    for i, fm in enumerate(model.fields):
        if isinstance(fm.default, dict) and fm.name in by_name and names.get(fm.name) == i:
            by_name[fm.name] = _build_default_by(by_name[fm.name], fm.default, ("fields", i, "default"),
                                                 by_name, problems)  # fmt: skip
            fields = [by_name[f.name] for f in fields]
    if model.raw:
        if "opcode" not in by_name or by_name["opcode"].slices != (Slice("opcode", 0, 7),):
            problems.append((("fields",), "a raw entry needs a field at opcode"))
        if model.data.direction != "opcode":
            problems.append((("data", "direction"), "a raw entry's direction is `opcode` (bits 1:0 decide)"))
        opcode = 0
    else:
        if model.opcode is None:
            problems.append((("opcode",), "missing (0x00-0xff)"))
            opcode = 0
        else:
            opcode = model.opcode
        if model.data.direction == "opcode":
            problems.append((("data", "direction"), "only raw entries take their direction from the opcode"))
    declared: DataDirection | None = None
    if model.data.direction != "opcode":
        declared = DataDirection.from_short(model.data.direction)
        bits = DataDirection.of_opcode(opcode)
        if model.opcode is not None and bits != declared:
            message = (
                f"opcode {opcode:#04x} bits 1:0 = {bits.value:02b} mean {bits.short}, not {declared.short} "
                "(NVMe Base 2.0, Fig. 28: the opcode sets the direction)"
            )
            problems.append((("data", "direction"), message))
    length = _build_length(model.data.length, ("data", "length"), by_name, problems)
    if declared is DataDirection.NONE and model.data.length not in (None, 0):
        problems.append((("data", "length"), "a command with no data transfer has no length"))
    if declared not in (None, DataDirection.NONE) and model.data.length is None:
        problems.append((("data", "length"), "missing: bytes, {field: ..., unit: ...}, user or optional"))
    if model.data.metadata and not (isinstance(length, FromField) and length.unit == "lba"):
        problems.append((("data", "metadata"), "metadata needs a length in LBAs ({field: nlb, unit: lba})"))
    # Length fields never ask for more than the 32-bit data_len can hold.
    if isinstance(length, FromField) and isinstance(length.unit, int) and length.field in by_name:
        lf = by_name[length.field]
        cap = U32_MAX // length.unit
        if lf.max > cap:
            by_name[lf.name] = replace(lf, max=max(lf.min, cap))
            fields = [by_name[f.name] for f in fields]
    rules: list[DecodeRule] = []
    decode_items: list[tuple[tuple[Any, ...], str, Mapping[str, int | str], Sequence[str]]] = []
    if isinstance(model.decode, str):
        decode_items.append((("decode",), model.decode, {}, ()))
    elif model.decode:
        for i, rule in enumerate(model.decode):
            decode_items.append((("decode", i), rule.decoder, rule.when, rule.context))
    for path, decoder, when, context in decode_items:
        if decoders is not None and decoder not in decoders:
            close = close_matches(decoder, sorted(decoders), n=2)
            hint = f"; did you mean {' or '.join(close)}?" if close else ""
            problems.append(
                ((*path, "decoder") if len(path) > 1 else path, f"unknown decoder {decoder!r}{hint}")
            )
        matched: dict[str, int] = {}
        for key, raw in when.items():
            if key not in by_name:
                problems.append(((*path, "when", key), f"no field named {key!r}"))
                continue
            try:
                matched[key] = _value_of(by_name[key], raw)
            except UsageError as exc:
                problems.append(((*path, "when", key), str(exc)))
        for key in context:
            if key not in by_name:
                problems.append(((*path, "context"), f"no field named {key!r}"))
        rules.append(DecodeRule(matched, decoder, tuple(context)))
    result_decoder: str | None = None
    result_context: tuple[str, ...] = ()
    if model.result_decode is not None:
        rd = model.result_decode
        result_decoder = rd if isinstance(rd, str) else rd.decoder
        result_context = () if isinstance(rd, str) else tuple(rd.context)
        if decoders is not None and result_decoder not in decoders:
            problems.append((("result_decode",), f"unknown decoder {result_decoder!r}"))
        for key in result_context:
            if key not in by_name:
                problems.append((("result_decode", "context"), f"no field named {key!r}"))
    for i, alias in enumerate(model.aliases):
        if not re.match(KEBAB, alias):
            problems.append((("aliases", i), f"alias {alias!r} must be lowercase kebab-case"))
    if problems:
        raise EntryProblems(problems)
    return CommandDef(
        id=model.id, name=model.name, set=model.set, opcode=opcode, queue=model.queue, spec=model.spec,
        help=model.help, aliases=tuple(model.aliases), fields=tuple(fields), declared_direction=declared,
        length=length, metadata=model.data.metadata, decode_rules=tuple(rules), result_decoder=result_decoder,
        result_context=result_context, destructive=model.destructive or model.raw, refused=model.refused,
        raw=model.raw, source=source, line=line,
    )  # fmt: skip


def pydantic_path(data: Any, loc: Sequence[Any], missing: bool) -> tuple[Any, ...]:
    """The part of a pydantic error location that exists in the data (drops union branch tags).

    For a missing key (`missing`), the key itself is named too.
    """
    out: list[Any] = []
    cur = data
    for i, part in enumerate(loc):
        in_dict = isinstance(cur, dict) and part in cur
        in_list = isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur)
        if in_dict or in_list:
            out.append(part)
            cur = cur[part]
        elif missing and i == len(loc) - 1 and isinstance(cur, dict):
            out.append(part)
    return tuple(out)



def bind_raw(entries: list[CommandDef]) -> list[CommandDef]:
    """Give raw entries the opcodes that are safe (non-destructive) or refused on their queue."""
    out: list[CommandDef] = []
    for e in entries:
        if e.raw:
            same = [o for o in entries if not o.raw and o.queue == e.queue]
            unsafe = {o.opcode for o in same if o.destructive or o.refused}
            safe = frozenset(o.opcode for o in same if not o.destructive and not o.refused) - unsafe
            refused = {o.opcode: f"opcode {o.opcode:#04x} is {o.id}: {o.refused}" for o in same if o.refused}
            e = replace(e, safe_opcodes=safe, refused_opcodes=refused)
        out.append(e)
    return out




# --- presets ---------------------------------------------------------------------------------------------


PRESET_SET = "preset"  # presets are listed together (the composer's group), whatever their entry's set


def build_preset_draft(model: PresetModel, source: Path, line: int) -> CommandDef:
    """A preset as read from its file: resolved against the entry it names by `resolve_presets`, once every
    file is loaded (the entry may come from another file)."""
    problems: list[tuple[tuple[Any, ...], str]] = []
    for i, alias in enumerate(model.aliases):
        if not re.match(KEBAB, alias):
            problems.append((("aliases", i), f"alias {alias!r} must be lowercase kebab-case"))
    for name in set(model.fields) & set(model.defaults):
        problems.append((("defaults", name), f"field {name} is fixed by `fields:`; it takes no default"))
    if problems:
        raise EntryProblems(problems)
    return CommandDef(
        id=model.id, name=model.name, set="", opcode=0, queue="admin", spec="", help=model.help,
        aliases=tuple(model.aliases), fields=(), declared_direction=None, length=None, metadata=False,
        decode_rules=(), result_decoder=None, result_context=(), destructive=True, refused=None, raw=False,
        source=source, line=line, preset_of=model.preset, preset_fixed=tuple(model.fields.items()),
        preset_defaults=tuple(model.defaults.items()), preset_draft=True,
    )  # fmt: skip


def resolve_presets(
    entries: Sequence[CommandDef], known: Mapping[str, CommandDef]
) -> tuple[list[CommandDef], list[CatalogueError]]:
    """Presets among `entries` resolved against the entries they name in `known` (the catalogue as it
    stands after the preset's own file: a later file overriding the entry does not change the preset): the
    entry's opcode, queue, data, decoding and destructive flag, with the preset's fixed fields pinned
    (min = max = the value) and its defaults set. Other entries pass through.

    A preset never weakens the destructive guard: it is exactly as destructive (and as refused) as its
    entry, and a preset of a raw passthrough entry or of another preset is refused.
    """
    by_id = {k: e for k, e in known.items() if not e.preset_draft}
    out: list[CommandDef] = []
    errors: list[CatalogueError] = []
    for e in entries:
        if not e.preset_draft:
            out.append(e)
            continue
        try:
            out.append(_resolve_preset(e, by_id))
        except UsageError as exc:
            errors.append(CatalogueError(e.source, e.line, "preset", str(exc), e.id))
    return out, errors


def _resolve_preset(draft: CommandDef, by_id: Mapping[str, CommandDef]) -> CommandDef:
    base = by_id.get(draft.preset_of or "")
    if base is None:
        raise UsageError(f"no catalogue entry {draft.preset_of!r} to be a preset of")
    if base.raw or base.preset_of:
        raise UsageError(f"{base.id} is a {'raw passthrough' if base.raw else 'preset'}: no preset of it")
    fields = {f.name: f for f in base.fields}
    for name, raw in (*draft.preset_fixed, *draft.preset_defaults):
        if name not in fields:
            raise UsageError(f"{base.id} has no field {name!r} (fields: {', '.join(fields)})")
        fdef = fields[name]
        if isinstance(raw, str) and raw == DEVICE_NSID and name == "nsid":
            fields[name] = replace(fdef, default=None)
            continue
        value = _value_of(fdef, raw)
        if (name, raw) in draft.preset_fixed:
            fields[name] = replace(
                fdef, default=value, min=value, max=value, required=False, fixed_by=draft.id
            )
        else:
            fields[name] = replace(fdef, default=value, required=False)
    return replace(
        base, id=draft.id, name=draft.name, set=PRESET_SET, help=draft.help, aliases=draft.aliases,
        fields=tuple(fields[f.name] for f in base.fields), source=draft.source, line=draft.line,
        preset_of=base.id, preset_fixed=draft.preset_fixed, preset_defaults=draft.preset_defaults,
        preset_draft=False,
    )  # fmt: skip
