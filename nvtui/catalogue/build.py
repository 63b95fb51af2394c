"""Building runtime entries (`CommandDef`) from validated file models: locations parsed, ranges, defaults,
lengths and decode rules checked, each problem with its path in the entry (the loader turns it into a line).

And the destructive guard: a user catalogue may add and describe commands, but never make a standard opcode
less guarded than the built-in catalogue says (`Builtins`, `guard_problems`, `hold_guard`, `bind_raw`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nvtui.catalogue.model import (
    COMPLETION_CONTEXT,
    DEVICE_CONTEXT,
    DEVICE_NSID,
    KEBAB,
    LOCATIONS,
    SLICE_RE,
    SPAN_RE,
    WIDTH,
    BufferField,
    ByValue,
    CatalogueError,
    CommandDef,
    DataBuild,
    DecodeRule,
    DefaultBy,
    FieldDef,
    FromField,
    Length,
    Simulate,
    Slice,
    close_matches,
)
from nvtui.errors import UsageError
from nvtui.nvme.command import CDW_NAMES, U32_MAX, DataDirection

if TYPE_CHECKING:
    from nvtui.catalogue.schema import (
        BuildModel,
        ByValueModel,
        EntryModel,
        FieldModel,
        FromFieldModel,
        PresetModel,
        SimulateModel,
    )

Problems = list[tuple[tuple[Any, ...], str]]


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
    for j, later in enumerate(slices):  # a split field's own slices must not share bits either
        for earlier in slices[:j]:
            if later.location == earlier.location and later.lsb <= earlier.msb and earlier.lsb <= later.msb:
                where = (*path, "at") if isinstance(fm.at, str) else (*path, "at", min(j, len(ats) - 1))
                problems.append((where, f"{later} overlaps {earlier} of the same field"))
                break
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
    if fm.type != "bytes":
        for key, said in (("max_bytes", fm.max_bytes), ("length_field", fm.length_field),
                          ("min_bytes", fm.min_bytes or None)):  # fmt: skip
            if said is not None:
                problems.append(((*path, key), f"only bytes fields say {key} (this one is {fm.type})"))
    elif slices:
        problems.extend(_bytes_problems(fm, path, width))
    if len(problems) > start:
        return None
    if fm.type == "bytes":
        most = fm.max_bytes or width // 8
        return FieldDef(
            name=fm.name, slices=tuple(slices), kind="bytes", values={}, default=0, required=fm.required,
            min=0, max=(1 << (8 * most)) - 1, zero_based=False, help=fm.help, max_bytes=most,
            min_bytes=fm.min_bytes, length_field=fm.length_field,
        )  # fmt: skip
    lo = 1 if fm.zero_based else 0
    hi = (1 << width) if fm.zero_based else (1 << width) - 1
    fmin = fm.min if fm.min is not None else lo
    fmax = fm.max if fm.max is not None else hi
    if fmin < lo or fmax > hi or fmin > fmax:
        problems.append(((*path, "max" if fm.max is not None else "min"),
                         f"range {fmin}-{fmax} does not fit the field's bits ({lo}-{hi})"))  # fmt: skip
        return None
    probe = FieldDef(
        name=fm.name, slices=tuple(slices), kind=fm.type, values=values, default=fmin,
        required=fm.required, min=fmin, max=fmax, zero_based=fm.zero_based, help=fm.help,
    )  # fmt: skip
    if fm.default is None:
        return probe
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
        default = _default_value(probe, raw_default)
    except ValueError as exc:
        problems.append((where, str(exc)))
        return None
    return probe if default == fmin else replace(probe, default=default)


def _bytes_problems(fm: FieldModel, path: tuple[Any, ...], width: int) -> Problems:
    """What is wrong with a `type: bytes` field: its locations hold whole bytes, at least `max_bytes` of
    them; it has no named values, range, 0-based count or default (a byte string is given or required)."""
    out: Problems = []
    if width % 8:
        out.append(((*path, "at"), f"a byte string's locations hold whole bytes; these hold {width} bits"))
    elif fm.max_bytes is not None and fm.max_bytes * 8 > width:
        out.append(((*path, "max_bytes"), f"{fm.max_bytes} bytes do not fit the locations' {width // 8}"))
    most = fm.max_bytes or width // 8
    if fm.min_bytes > most:
        out.append(((*path, "min_bytes"), f"{fm.min_bytes} is more than the {most} bytes it may hold"))
    for key, said in (("min", fm.min), ("max", fm.max), ("default", fm.default)):
        if said is not None:
            out.append(((*path, key), f"a bytes field has no {key} (its length: min_bytes, max_bytes)"))
    if fm.zero_based:
        out.append(((*path, "zero_based"), "a bytes field is not a count"))
    return out


def _default_value(fdef: FieldDef, raw: object) -> int | None:
    """A field's default as written: a number, a word read as the command line reads it (one of its value
    names, a number, a flag's yes/no/on/off), or `device` for an nsid field; None stands for `device`.
    ValueError saying what is wrong otherwise."""
    if isinstance(raw, str):
        if raw == DEVICE_NSID and fdef.name == "nsid":
            return None
        try:
            return fdef.parse(raw)
        except UsageError as exc:
            raise ValueError(str(exc).removeprefix(f"field {fdef.name}: ")) from None
    if not isinstance(raw, int) or isinstance(raw, bool):
        raise ValueError(f"expected a number or a value name, got {raw!r}")
    if not fdef.min <= raw <= fdef.max:
        raise ValueError(f"{raw} out of range {fdef.min}-{fdef.max}")
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
            defaults[number] = _default_value(fdef, value)
        except (UsageError, ValueError) as exc:
            problems.append(((*path, "defaults", key), str(exc)))
    return replace(fdef, default_by=DefaultBy(by, defaults, fdef.default))


def _value_of(fdef: FieldDef, raw: int | str) -> int:
    """A value a file gives for `fdef` (a `when:` or a `sizes:` key): a number, or a word read as the
    command line reads it."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return fdef.check(raw)
    if isinstance(raw, str):
        return fdef.parse(raw)
    raise UsageError(f"{raw!r} is not one of {fdef.name}'s values ({', '.join(fdef.values) or 'none'})")


def _build_by_value(
    model: ByValueModel, path: tuple[Any, ...], fields: Mapping[str, FieldDef], problems: Problems
) -> ByValue | None:
    if model.by not in fields:
        problems.append(((*path, "by"), f"no field named {model.by!r}"))
        return None
    sizes: dict[int, int] = {}
    spelled: dict[int, int | str] = {}
    for key, size in model.sizes.items():
        try:
            number = _value_of(fields[model.by], key)
        except UsageError as exc:
            problems.append(((*path, "sizes", key), str(exc)))
            continue
        if number in sizes:
            problems.append(((*path, "sizes", key), f"{key!r} is {spelled[number]!r} again ({number})"))
            continue
        sizes[number], spelled[number] = size, key
    return ByValue(model.by, sizes, model.otherwise)


def _build_length(
    length: int | str | FromFieldModel | ByValueModel | None,
    path: tuple[Any, ...],
    fields: Mapping[str, FieldDef],
    problems: Problems,
) -> Length:
    """The runtime length of a validated `data.length` (its shape and numbers checked by the schema; the
    fields it names and the values it lists are checked here)."""
    if length is None or isinstance(length, int | str):
        return length
    from nvtui.catalogue.schema import ByValueModel

    if isinstance(length, ByValueModel):
        return _build_by_value(length, path, fields, problems)
    if length.field not in fields:
        problems.append(((*path, "field"), f"no field named {length.field!r}"))
        return None
    unit = length.unit
    if not isinstance(unit, int | str):
        picked = _build_by_value(unit, (*path, "unit"), fields, problems)
        return FromField(length.field, picked) if picked else None
    return FromField(length.field, unit)


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
    if "nsid" not in names and not any(s.location == "nsid" for f in fields for s in f.slices):
        # (A field of its own there, such as the Fabrics FCTYPE in byte 4, takes the place of the NSID.)
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
        if fm.length_field is None or fm.name not in by_name:
            continue
        target, where = by_name.get(fm.length_field), ("fields", i, "length_field")
        most = by_name[fm.name].max_bytes
        if target is None or target.kind == "bytes":
            problems.append((where, f"{fm.length_field!r} is no number field of this entry (the length)"))
        elif target.max < most or target.zero_based:
            problems.append((where, f"{target.name} ({target.range_text()}) cannot say {most} bytes"))
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
    if model.data.returned == "result" and declared is not DataDirection.CONTROLLER_TO_HOST:
        problems.append((("data", "returned"), "only data the controller returns (read) is cut to DW0"))
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
            if key not in by_name and key not in DEVICE_CONTEXT and key not in COMPLETION_CONTEXT:
                known = ", ".join(DEVICE_CONTEXT)
                also = ", ".join(COMPLETION_CONTEXT)
                problems.append((
                    (*path, "context"),
                    f"no field named {key!r} (nor a device fact: {known}; nor of the completion: {also})",
                ))  # fmt: skip
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
    simulate = None
    if model.simulate is not None:
        simulate = _build_simulate(model.simulate, model, by_name, decoders, problems)
    build = None
    if model.data.build is not None:
        build = _build_buffer(model.data.build, declared, by_name, decoders, problems)
    if problems:
        raise EntryProblems(problems)
    return CommandDef(
        id=model.id, name=model.name, set=model.set, opcode=opcode, queue=model.queue, spec=model.spec,
        help=model.help, aliases=tuple(model.aliases), fields=tuple(fields), declared_direction=declared,
        length=length, metadata=model.data.metadata, decode_rules=tuple(rules), result_decoder=result_decoder,
        result_context=result_context, destructive=bool(model.destructive) or model.raw,
        refused=model.refused, raw=model.raw, source=source, line=line, timeout=model.timeout,
        waits_for_event=model.waits_for_event, refused_on={str(k): v for k, v in model.refused_on.items()},
        simulate=simulate, returned_by_result=model.data.returned == "result",
        build=build,
    )  # fmt: skip


def _build_buffer(
    bm: BuildModel,
    declared: DataDirection | None,
    by_name: Mapping[str, FieldDef],
    decoders: frozenset[str] | None,
    problems: Problems,
) -> DataBuild | None:
    """The built data buffer as the entry says it. Its fields are checked against the layout once every
    file's layouts are known (`check_builds`), for user files; the built-in ones by a test."""
    found = len(problems)
    if declared is not DataDirection.HOST_TO_CONTROLLER:
        said = declared.short if declared is not None else "opcode"
        problems.append((("data", "build"), f"only a write's buffer is built from fields (direction {said})"))
    where: tuple[Any, ...] = ("data", "build", "structure")
    by: str | None = None
    picked: list[tuple[int, str]] = []
    if isinstance(bm.structure, str):
        default, named = bm.structure, [(where, bm.structure)]
    else:
        by, default = bm.structure.by, bm.structure.otherwise
        named = [((*where, "otherwise"), default)]
        if by not in by_name:
            problems.append(((*where, "by"), f"no field named {by!r}"))
        for key, structure in bm.structure.structures.items():
            named.append(((*where, "structures", key), structure))
            if by in by_name:
                try:
                    picked.append((_value_of(by_name[by], key), structure))
                except UsageError as exc:
                    problems.append(((*where, "structures", key), str(exc)))
    for path, structure in named:
        if decoders is not None and structure not in decoders:
            close = close_matches(structure, sorted(decoders), n=2)
            hint = f"; did you mean {' or '.join(close)}?" if close else ""
            problems.append((path, f"no structure layout {structure!r}{hint}"))
    seen: set[str] = set()
    for i, fm in enumerate(bm.fields):
        if fm.name in by_name:
            message = f"{fm.name!r} is a field of the command already (a buffer field needs its own name)"
            problems.append((("data", "build", "fields", i, "name"), message))
        elif fm.name in seen:
            problems.append((("data", "build", "fields", i, "name"), f"field {fm.name!r} defined twice"))
        seen.add(fm.name)
    if len(problems) > found:
        return None
    fields = tuple(BufferField(fm.name, fm.at or fm.name, fm.help) for fm in bm.fields)
    return DataBuild(default, fields, by, tuple(picked))


def check_builds(entries: dict[str, CommandDef], builtin: Callable[[Path], bool]) -> list[CatalogueError]:
    """Resolve every user entry's `data.build` fields against its layout (all files' layouts are known now);
    an entry whose buffer names what its layout lacks is taken out, with one error line naming its file and
    line. Built-in entries are not resolved here (a start loads no layout): a test resolves them."""
    from nvtui.catalogue.buffer import resolve

    errors: list[CatalogueError] = []
    for entry in list(entries.values()):
        if entry.build is None or builtin(entry.source):
            continue
        try:
            resolve(entry.build)  # each field in one of its layouts at least
            for structure in entry.build.layouts:
                resolve(entry.build, structure)  # and a number wherever it is
        except ValueError as exc:
            errors.append(CatalogueError(entry.source, entry.line, "data.build", str(exc), entry.id))
            del entries[entry.id]
    return errors


def _build_simulate(
    sm: SimulateModel,
    model: EntryModel,
    by_name: Mapping[str, FieldDef],
    decoders: frozenset[str] | None,
    problems: Problems,
) -> Simulate | None:
    """The simulated controller's answer as the entry says it. Its values are checked against the layout
    when the catalogue loads (`check_simulations`: the layouts of every file are registered by then), so a
    mistake is said with its line, never when a command is answered."""
    from nvtui.nvme.status_names import status_by_name

    found = len(problems)
    status = sm.status if isinstance(sm.status, int) else status_by_name(sm.status)
    if status is None:
        said = f"no status is named {sm.status!r} (a name as nvtui shows it, e.g. Invalid Field in Command, "
        problems.append((("simulate", "status"), said + "or the number SCT << 8 | SC)"))
    if sm.offset is not None and sm.offset not in by_name:
        problems.append((("simulate", "offset"), f"no field named {sm.offset!r}"))
    structure = sm.structure
    if structure is None and isinstance(model.decode, str):
        structure = model.decode
    if structure is None and sm.fields:
        problems.append(
            (("simulate", "fields"), "field values need a structure: give `structure:` (or `decode:`)")
        )
    if structure is not None and decoders is not None and structure not in decoders:
        close = close_matches(structure, sorted(decoders), n=2)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        problems.append((("simulate", "structure"), f"no structure layout {structure!r} to encode{hint}"))
    if len(problems) > found or status is None:
        return None
    return Simulate(status, sm.result, structure, dict(sm.fields), sm.offset)


def check_simulations(entries: dict[str, CommandDef]) -> list[CatalogueError]:
    """Encode every `simulate:` block's values through its structure's layout (all files' layouts are known
    now); an entry whose block cannot be encoded is taken out, with one error line naming its file and
    line. A block without a structure (a status alone) needs nothing."""
    from nvtui import structures

    errors: list[CatalogueError] = []
    for entry in list(entries.values()):
        sim = entry.simulate
        if sim is None or sim.structure is None:
            continue
        problem = None
        if sim.structure not in structures.ids():
            problem = f"no structure layout {sim.structure!r} to encode (a decoder that is not a layout)"
        else:
            try:
                structures.encode(sim.structure, sim.values)
            except ValueError as exc:
                problem = f"{sim.structure}: {exc}"
        if problem is not None:
            errors.append(CatalogueError(entry.source, entry.line, "simulate.fields", problem, entry.id))
            del entries[entry.id]
    return errors


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


# --- the destructive guard --------------------------------------------------------------------------------

# Vendor-specific opcodes (NVMe Base 2.x, Fig. 28 "Opcodes for Admin Commands": C0h-FFh; NVM Command Set,
# "Opcodes for I/O Commands": 80h-FFh). Outside them a user entry must say whether it is destructive.
VENDOR_OPCODES = {"admin": range(0xC0, 0x100), "io": range(0x80, 0x100)}


def is_vendor_opcode(queue: str, opcode: int) -> bool:
    return opcode in VENDOR_OPCODES.get(queue, range(0))


@dataclass(frozen=True)
class Guard:
    """What the built-in catalogue says of one opcode on one queue: the most guarded of its entries (I/O
    01h is Write in NVM and Store in KV: destructive if either is; refused if any is)."""

    ids: tuple[str, ...]
    destructive: bool
    refused: str | None

    def describe(self, queue: str, opcode: int) -> str:
        names = " and ".join(self.ids)
        return f"opcode {opcode:#04x} on the {queue} queue is {names} in the built-in catalogue"


@dataclass(frozen=True, eq=False)
class Builtins:
    """What a user file is checked against: the built-in catalogue's guard per (queue, opcode), and its ids
    with their lines (a user entry redefining one gets a notice). `stamp` identifies it in cache keys."""

    guards: Mapping[tuple[str, int], Guard]
    ids: Mapping[str, int]
    stamp: str

    @classmethod
    def of(cls, entries: Iterable[CommandDef]) -> Builtins:
        entries = list(entries)
        by_opcode: dict[tuple[str, int], list[CommandDef]] = {}
        for e in entries:
            if not e.raw and not e.preset_draft:  # a preset is as guarded as its entry
                by_opcode.setdefault((e.queue, e.opcode), []).append(e)
        guards = {
            key: Guard(
                ids=tuple(e.id for e in same),
                destructive=any(e.destructive for e in same),
                refused=next((f"{e.id}: {e.refused}" for e in same if e.refused), None),
            )
            for key, same in sorted(by_opcode.items())
        }
        ids = {e.id: e.line for e in entries}
        return cls(guards, ids, repr((sorted(guards.items()), sorted(ids.items()))))


def guard_problems(model: EntryModel, entry: CommandDef, builtins: Builtins) -> tuple[CommandDef, Problems]:
    """A user entry as it may be sent, and what it tried: outside the vendor opcodes `destructive:` must be
    said (unsaid, the entry is destructive); an opcode the built-in catalogue knows keeps its guard
    (destructive, refused) whatever the entry says."""
    problems: Problems = []
    if entry.raw:
        return entry, problems  # destructive unless its opcode is safe (bind_raw), refused with its opcode
    if model.destructive is None and not is_vendor_opcode(entry.queue, entry.opcode):
        vendor = VENDOR_OPCODES[entry.queue]
        problems.append(
            (
                ("destructive",),
                f"opcode {entry.opcode:#04x} is not vendor-specific (the {entry.queue} queue's are "
                f"{vendor.start:02X}h-{vendor.stop - 1:02X}h): say destructive: true or false "
                "(taken as destructive)",
            )
        )
        entry = replace(entry, destructive=True)
    guard = builtins.guards.get((entry.queue, entry.opcode))
    if guard is not None:
        if guard.destructive and not entry.destructive:
            problems.append(
                (
                    ("destructive",),
                    f"{guard.describe(entry.queue, entry.opcode)}, which is destructive: a user catalogue "
                    "cannot make it safe (kept destructive)",
                )
            )
        if guard.refused and not entry.refused:
            problems.append(
                (
                    ("refused",),
                    f"{guard.describe(entry.queue, entry.opcode)}, which is refused ({guard.refused}): "
                    "a user catalogue cannot lift that (kept refused)",
                )
            )
    return hold_guard(entry, builtins), problems


def hold_guard(entry: CommandDef, builtins: Builtins) -> CommandDef:
    """`entry` at least as guarded as the built-in catalogue says its opcode is (unchanged when it is)."""
    if entry.raw or entry.preset_draft:  # raw: bind_raw guards each opcode; a preset: its entry's guard
        return entry
    guard = builtins.guards.get((entry.queue, entry.opcode))
    if guard is None or (entry.destructive >= guard.destructive and (entry.refused or not guard.refused)):
        return entry
    return replace(
        entry, destructive=entry.destructive or guard.destructive, refused=entry.refused or guard.refused
    )


def bind_raw(entries: list[CommandDef], builtins: Builtins | None = None) -> list[CommandDef]:
    """Give raw entries the opcodes that are safe (non-destructive) or refused on their queue: safe when
    neither the built-in catalogue nor any loaded entry guards it, and one of them describes it as safe."""
    guards = builtins.guards.items() if builtins is not None else ()
    out: list[CommandDef] = []
    for e in entries:
        if e.raw:
            same = [o for o in entries if not o.raw and o.queue == e.queue]
            known = [(op, g) for (queue, op), g in guards if queue == e.queue]
            unsafe = {o.opcode for o in same if o.destructive or o.refused}
            unsafe |= {op for op, g in known if g.destructive or g.refused}
            described = {o.opcode for o in same} | {op for op, _ in known}
            refused = {op: f"opcode {op:#04x} is {g.refused}" for op, g in known if g.refused}
            refused.update(
                {o.opcode: f"opcode {o.opcode:#04x} is {o.id}: {o.refused}" for o in same if o.refused}
            )
            e = replace(e, safe_opcodes=frozenset(described - unsafe), refused_opcodes=refused)
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
