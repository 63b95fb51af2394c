"""The layout language's file schema (pydantic, strict) and the checks a valid structure passes.

`parse_structures(path, data, lines)` takes the `structures:` list of a parsed YAML file (with the line of
every node) and gives a `LayoutFile`: every valid structure, and one `LayoutError` per problem (file, line,
structure and field named). A bad structure is skipped, the rest load. Imported only to validate a file.
"""

from __future__ import annotations

import itertools
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from nvtui.structures.layout import (
    INTEGER_TYPES,
    UNITS,
    Amount,
    FieldSpec,
    Layout,
    LayoutError,
    LayoutFile,
)

KEBAB = r"^[a-z0-9]+(-[a-z0-9]+)*$"
SNAKE = r"^[a-z][a-z0-9_]*$"
MAX_BYTES = 1 << 24  # no NVMe structure is bigger than 16 MiB
INT_WIDTH_MAX = 16  # integers up to 128 bits


class _Model(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


Bytes = Annotated[int, Field(ge=0, le=MAX_BYTES)]


class AmountModel(_Model):
    field: str | None = Field(default=None, pattern=SNAKE)
    context: str | None = Field(default=None, pattern=SNAKE)
    default: Bytes | None = None
    scale: int = Field(default=1, ge=1, le=MAX_BYTES)
    add: int = Field(default=0, ge=-MAX_BYTES, le=MAX_BYTES)
    zero_based: bool = False
    max: Bytes | None = None
    align: int = Field(default=1, ge=1, le=4096)  # the amount rounded up to a multiple of it

    @model_validator(mode="after")
    def _one_source(self) -> AmountModel:
        if (self.field is None) == (self.context is None):
            raise ValueError("give one of `field` (a field before this one) or `context` (a decode input)")
        if self.default is not None and self.context is None:
            raise ValueError("`default` is for a `context` amount (used when the context does not give it)")
        return self


UntilEnd = Literal["until-end"]
FieldsEnd = Literal["fields-end"]


class FieldModel(_Model):
    name: str = Field(pattern=SNAKE, max_length=64)
    at: Bytes
    at_plus: AmountModel | None = None
    size: Bytes | AmountModel | None = None
    bits: Annotated[str, Field(pattern=r"^[0-9]{1,3}(:[0-9]{1,3})?$")] | None = None
    type: Literal["uint", "int", "bool", "enum", "flags", "ascii", "bytes", "uuid", "struct", "array",
                  "reserved"] = "uint"  # fmt: skip
    values: dict[int, str] | None = None
    unit: Literal[UNITS] | None = None  # type: ignore[valid-type]
    scale: int = Field(default=1, ge=1)
    counts: str | None = Field(default=None, min_length=1, max_length=80)
    zero_based: bool = False
    meaning: str | None = Field(default=None, pattern=SNAKE)
    of: str | None = Field(default=None, pattern=KEBAB)
    stride: Annotated[int, Field(ge=1, le=MAX_BYTES)] | AmountModel | None = None
    count: Bytes | UntilEnd | AmountModel | None = None
    until_zero: str | None = Field(default=None, pattern=SNAKE)
    keep_if: str | None = Field(default=None, pattern=SNAKE)
    index_as: str | None = Field(default=None, pattern=SNAKE)
    scale_field: str | None = Field(default=None, pattern=SNAKE)
    scales: dict[int, Annotated[int, Field(ge=-12, le=12)]] | None = None
    help: str = ""


class StructureModel(_Model):
    id: str = Field(pattern=KEBAB, max_length=64)
    name: str = Field(min_length=1)
    spec: str = Field(min_length=1)
    size: Annotated[int, Field(ge=1, le=MAX_BYTES)] | UntilEnd | FieldsEnd | AmountModel
    fields: list[FieldModel] = Field(min_length=1)
    help: str = ""


class StructuresFileModel(_Model):
    """A file of `nvtui/structures/`: a `structures:` list (user catalogues carry it beside `commands:`)."""

    version: Literal[1] = 1
    structures: list[Any]


# --- from models to layouts, with the checks pydantic cannot make -----------------------------------------


def _amount(value: int | str | AmountModel | None) -> Amount | None:
    if value is None:
        return None
    if isinstance(value, int):
        return Amount(fixed=value)
    if isinstance(value, str):
        return Amount(fields_end=True) if value == "fields-end" else Amount(until_end=True)
    return Amount(
        field=value.field or "", context=value.context or "", default=value.default, scale=value.scale,
        add=value.add, zero_based=value.zero_based, max=value.max, align=value.align,
    )  # fmt: skip


class Problems(Exception):
    def __init__(self, problems: list[tuple[tuple[Any, ...], str]]) -> None:
        super().__init__(problems)
        self.problems = problems


def build_layout(model: StructureModel, source: str, line: int, field_lines: list[int]) -> Layout:
    """The layout of a validated structure; `Problems` (path within the structure, message) when its fields
    overlap, run past its size, name a field that is not before them, or misuse a type's keys."""
    problems: list[tuple[tuple[Any, ...], str]] = []
    fields: list[FieldSpec] = []
    seen: dict[str, FieldModel] = {}
    all_names = {f.name for f in model.fields}
    size = _amount(model.size)
    assert size is not None
    if size.field and size.field not in {f.name for f in model.fields}:
        problems.append((("size", "field"), f"no field named {size.field!r} in this structure"))
    for i, f in enumerate(model.fields):
        where = ("fields", i)
        before = len(problems)

        def bad(key: str, message: str, where: tuple[Any, ...] = where) -> None:
            problems.append(((*where, key), message))

        if f.name in seen:
            bad("name", f"field {f.name!r} is declared twice")
        spec = _field(f, seen, bad, field_lines[i] if i < len(field_lines) else line, all_names)
        if len(problems) == before and spec is not None:
            fields.append(spec)
        seen[f.name] = f
    if not problems:
        problems.extend(_overlaps(fields, size, model))
    if problems:
        raise Problems(problems)
    return Layout(model.id, model.name, model.spec, size, tuple(fields), source, line)


def _field(
    f: FieldModel, seen: dict[str, FieldModel], bad: Any, line: int, names: set[str]
) -> FieldSpec | None:
    kind = f.type
    lsb = msb = -1
    if f.bits is not None:
        hi, _, lo = f.bits.partition(":")
        msb, lsb = int(hi), int(lo or hi)
        if msb < lsb:
            bad("bits", f"write a bit slice as msb:lsb (high bit first), not {f.bits!r}")
        if kind not in (*INTEGER_TYPES, "reserved"):
            bad("bits", f"a bit slice is of an integer field (uint, int, bool, enum, flags), not {kind}")
    size = _amount(f.size)
    if kind in ("struct", "array"):
        if not f.of:
            bad("of", f"a {kind} field names its element structure with `of:`")
        if kind == "array" and f.count is None:
            bad("count", "an array gives its count: a number, {field: X}, {context: X} or until-end")
        if kind == "struct" and f.count is not None:
            bad("count", "`count` is for an array")
    else:
        for key in ("of", "stride", "count", "until_zero", "keep_if", "index_as"):
            if getattr(f, key) is not None:
                bad(key, f"`{key}` is for an array{' or struct' if key == 'of' else ''} field")
        if size is None:
            sliced = " (of the integer the bits are sliced from)" if f.bits else ""
            bad("size", f"give the field's size in bytes{sliced}")
            return None
    if size is not None and size.fixed is not None and kind not in ("array", "struct", "reserved"):
        if kind in INTEGER_TYPES and not 1 <= size.fixed <= INT_WIDTH_MAX:
            bad("size", f"an integer field is 1 to {INT_WIDTH_MAX} bytes, not {size.fixed}")
        if kind == "uuid" and size.fixed != 16:
            bad("size", f"a UUID is 16 bytes, not {size.fixed}")
        if size.fixed == 0:
            bad("size", "a field of 0 bytes")
        if f.bits is not None and msb >= 8 * size.fixed:
            bad("bits", f"bit {msb} is past the {size.fixed}-byte integer (bits {8 * size.fixed - 1}:0)")
    if size is not None and size.until_end:
        bad("size", "until-end is for a structure's size or an array's count")
    if f.at_plus is not None and f.bits is not None:
        bad("at_plus", "a bit slice lies in its integer field: give `at_plus` to that field, not to a slice")
    if kind == "bool" and f.bits is not None and msb != lsb:
        bad("bits", "a bool is one bit: give `bits: N`")
    if kind in ("enum", "flags") and not f.values:
        bad("values", f"an {kind} field names its {'values' if kind == 'enum' else 'bits'} in `values:`")
    if kind == "flags" and f.values:
        width = 8 * size.fixed if size is not None and size.fixed else 128
        top = (msb - lsb + 1) if f.bits is not None else width
        for bit in f.values:
            if not 0 <= bit < top:
                bad("values", f"flag bit {bit} is outside the field's {top} bits")
    if f.values and kind not in INTEGER_TYPES:
        bad("values", f"`values` names numbers of an integer field, not of {kind}")
    numeric = kind in ("uint", "int")
    for key in ("unit", "counts", "scale_field", "scales"):
        if getattr(f, key) is not None and not numeric:
            bad(key, f"`{key}` is for a uint or int field")
    if f.unit == "watts" and (f.scale_field is None or not f.scales):
        bad("unit", "watts need `scale_field` (the field choosing the scale) and `scales` (value: exponent)")
    if f.scale_field is not None and f.unit != "watts":
        bad("scale_field", "`scale_field` is for unit watts")
    if f.unit and f.unit != "pow2" and f.counts:
        bad("counts", "give a unit or counts, not both (counts goes with unit pow2: 2^N of them)")
    if f.scale_field is not None and f.scale_field not in names:
        bad("scale_field", f"no field named {f.scale_field!r} in this structure")
    for key in ("at_plus", "size", "stride", "count"):
        value = getattr(f, key)
        amount = _amount(value)
        if amount is not None and amount.field:
            target = seen.get(amount.field)
            if target is None:
                bad(key, f"no field named {amount.field!r} before this one")
            elif target.type not in ("uint", "int", "enum"):
                bad(key, f"field {amount.field!r} is a {target.type}, not a number")
    if f.meaning is not None:
        from nvtui.nvme.meanings import MEANINGS

        if f.meaning not in MEANINGS:
            from difflib import get_close_matches

            close = get_close_matches(f.meaning, sorted(MEANINGS), n=2)
            hint = f" (did you mean {' or '.join(close)}?)" if close else ""
            bad("meaning", f"unknown meaning function {f.meaning!r}{hint}")
    return FieldSpec(
        name=f.name, at=f.at, size=size or Amount(fixed=0), type=kind, lsb=lsb, msb=msb,
        values=tuple(sorted((f.values or {}).items())), unit=f.unit or "", scale=f.scale,
        counts=f.counts or "", zero_based=f.zero_based, meaning=f.meaning or "", of=f.of or "",
        stride=_amount(f.stride), count=_amount(f.count), until_zero=f.until_zero or "",
        keep_if=f.keep_if or "", index_as=f.index_as or "", scale_field=f.scale_field or "",
        scales=tuple(sorted((f.scales or {}).items())), line=line, at_plus=_amount(f.at_plus),
    )  # fmt: skip


def _extent(f: FieldSpec) -> tuple[int, int] | None:
    """The bits [start, end) a field takes, when fixed; None when its place or size depends on the data."""
    if f.at_plus is not None:
        return None
    if f.type == "array":
        if f.size.fixed:
            return 8 * f.at, 8 * (f.at + f.size.fixed)
        if f.stride is not None and f.stride.fixed and f.count is not None and f.count.fixed is not None:
            return 8 * f.at, 8 * (f.at + f.stride.fixed * f.count.fixed)
        return None
    if f.size.fixed is None:
        return None
    if f.lsb >= 0:
        return 8 * f.at + f.lsb, 8 * f.at + f.msb + 1
    return 8 * f.at, 8 * (f.at + f.size.fixed)


def _where(span: tuple[int, int]) -> str:
    start, end = span
    if start % 8 or end % 8:
        first = start // 8
        return f"byte {first} bits {end - 1 - 8 * first}:{start % 8}"
    return f"bytes {start // 8}..{end // 8 - 1}"


def _overlaps(
    fields: list[FieldSpec], size: Amount, model: StructureModel
) -> list[tuple[tuple[Any, ...], str]]:
    """Fields that overlap (a bit slice may lie within a whole integer field of the same place), or run
    past a fixed size."""
    problems: list[tuple[tuple[Any, ...], str]] = []
    index = {f.name: i for i, f in enumerate(model.fields)}
    spans = [(span, f) for f in fields if (span := _extent(f)) is not None]
    spans.sort(key=lambda sf: sf[0])
    for (s1, f1), (s2, f2) in itertools.combinations(spans, 2):
        if s2[0] >= s1[1] or s1[0] >= s2[1]:
            continue
        whole_and_slice = (f1.lsb < 0) != (f2.lsb < 0) and f1.at == f2.at and f1.size == f2.size
        if index[f1.name] > index[f2.name]:  # named at the one declared later
            (s1, f1), (s2, f2) = (s2, f2), (s1, f1)
        if not whole_and_slice:
            problems.append(
                (("fields", index[f2.name], "at"),
                 f"field {f2.name!r} ({_where(s2)}) overlaps field {f1.name!r} ({_where(s1)})")
            )  # fmt: skip
    if size.fixed is not None:
        for span, f in spans:
            if span[1] > 8 * size.fixed:
                end = (span[1] + 7) // 8
                message = f"field {f.name!r} ends at byte {end}, past the {size.fixed}-byte structure"
                problems.append((("fields", index[f.name], "at"), message))
    return problems


def parse_structures(
    source: str, items: Any, lines: Any, base: tuple[Any, ...] = ("structures",), skip: set[Any] | None = None
) -> LayoutFile:
    """Every structure of a file's `structures:` list: the valid ones, and one error per problem."""
    from nvtui.catalogue.build import pydantic_path
    from nvtui.yamlio import dotted, line_of

    layouts: list[Layout] = []
    errors: list[LayoutError] = []
    if not isinstance(items, list):
        return LayoutFile(
            (), (LayoutError(source, line_of(lines, base), "", dotted(base), "a list of structures"),)
        )
    seen: dict[str, int] = {}
    for i, raw in enumerate(items):
        if skip and i in skip:
            continue  # already reported (a key given twice, a number too long)
        where = (*base, i)
        label = raw["id"] if isinstance(raw, dict) and isinstance(raw.get("id"), str) else f"structures[{i}]"
        if not isinstance(raw, dict):
            errors.append(LayoutError(source, line_of(lines, where), label, "", "a structure is a mapping"))
            continue
        try:
            model = StructureModel.model_validate(raw)
        except ValidationError as exc:
            reported: set[str] = set()
            for err in exc.errors():
                path = pydantic_path(raw, err["loc"], err["type"] == "missing")
                shown = dotted(path)
                if shown in reported:
                    continue  # one line per place (a union reports each branch)
                reported.add(shown)
                errors.append(
                    LayoutError(
                        source, line_of(lines, where + path), label, _field_label(raw, path), _message(err)
                    )
                )
            continue
        line = line_of(lines, where)
        if model.id in seen:
            message = f"duplicate structure id: also defined at line {seen[model.id]}"
            errors.append(LayoutError(source, line_of(lines, (*where, "id")), label, "id", message))
            continue
        seen[model.id] = line
        field_lines = [line_of(lines, (*where, "fields", j)) for j in range(len(model.fields))]
        try:
            layouts.append(build_layout(model, source, line, field_lines))
        except Problems as exc:
            for path, message in exc.problems:
                errors.append(
                    LayoutError(source, line_of(lines, where + path), label, _field_label(raw, path), message)
                )
    return LayoutFile(tuple(layouts), tuple(errors))


def _field_label(raw: dict[str, Any], path: tuple[Any, ...]) -> str:
    """`fields.nlbaf.size` rather than `fields[3].size`: the field's name is what a reader looks for."""
    from nvtui.yamlio import dotted

    if len(path) >= 2 and path[0] == "fields" and isinstance(path[1], int):
        fields = raw.get("fields")
        if isinstance(fields, list) and path[1] < len(fields) and isinstance(fields[path[1]], dict):
            name = fields[path[1]].get("name")
            if isinstance(name, str):
                return dotted(("fields", name, *path[2:]))
    return dotted(path)


def _message(err: Any) -> str:
    msg = str(err["msg"])
    if err["type"] == "literal_error" and "input" in err:
        msg += f" (got {err['input']!r})"
    return re.sub(r"^Value error, ", "", msg)
