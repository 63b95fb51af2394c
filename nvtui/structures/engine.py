"""One engine, both ways: bytes -> `Record` (decode) and named values -> bytes (encode), from a `Layout`.

Decoding gives the `Record` / `Field` / `Group` shapes of `nvtui.nvme.decode.base`: fields carry offsets
relative to their record, a record its absolute offset in the buffer, a group (an array, or a nested
structure) its offset in its record. A field whose bytes lie past what the device transferred decodes as
absent: value None (JSON null), meaning "not transferred", never as zeros; array elements that start past
the end are not listed. Reserved ranges are declared in layouts but not shown.

Encoding takes values by field name (nested structures as mappings, arrays as lists of mappings, enums by
number or name, strings for ASCII, bytes or hex for opaque fields, UUID strings) and fills a zeroed buffer;
a value that does not fit its field, or a name the layout lacks, is an `EncodeError` naming both.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

from nvtui.nvme.decode.base import Field, Group, JsonValue, Record
from nvtui.structures.layout import Amount, FieldSpec, Layout

NOT_TRANSFERRED = "not transferred"
MAX_ELEMENTS = 1 << 16  # no array in NVMe has more; bounds a until-end walk over a huge buffer

Registry = Mapping[str, Layout]
Fmt = Callable[[Any, Mapping[str, Any], Mapping[str, object]], str]


class EncodeError(ValueError):
    """A value that does not fit its field, or a name the structure does not have (one line)."""


# --- meanings ------------------------------------------------------------------------------------------


def _human_bytes(n: int) -> str:
    from nvtui.nvme.meanings import human_bytes

    return human_bytes(n)


_UNIT_TEXT: dict[str, Callable[[int, int], str]] = {
    "kelvin": lambda n, w: f"{n} K ({n - 273} °C)",
    "percent": lambda n, w: f"{n}%",
    "data-units": lambda n, w: f"{n:,} × 512,000 bytes = {n * 512_000 / 1e9:,.2f} GB",
    "bytes": lambda n, w: f"{n} bytes ({_human_bytes(n)})" if n >= 1000 else f"{n} bytes",
    "kib": lambda n, w: f"{n} KiB",
    "us": lambda n, w: f"{n:,} µs",
    "ms": lambda n, w: f"{n:,} ms",
    "seconds": lambda n, w: f"{n:,} seconds",
    "minutes": lambda n, w: f"{n:,} minutes",
    "hours": lambda n, w: f"{n:,} hours",
    "count": lambda n, w: f"{n:,}",
    "version": lambda n, w: f"{n >> 16}.{n >> 8 & 0xFF}.{n & 0xFF}",
    "pow2": lambda n, w: f"{1 << n}" if n < 128 else f"2^{n}",
    "pow2-bytes": lambda n, w: f"{1 << n} bytes" if n < 64 else f"2^{n} bytes",
    "pow2-pages": lambda n, w: f"{1 << n} x minimum memory page size (CAP.MPSMIN)",
    "hex": lambda n, w: f"{n:0{2 * w}x}h",
    "oui": lambda n, w: f"OUI {n:06x}h",
}


def _number_fmt(f: FieldSpec, width: int) -> Fmt | None:
    specials = dict(f.values)
    kind = f.type
    if kind == "enum":
        return lambda v, vals, ctx: specials.get(v, f"reserved ({v:#x})")
    if kind == "flags":
        names = f.values
        return lambda v, vals, ctx: ", ".join(n for b, n in names if v >> b & 1)
    if kind == "bool":
        return lambda v, vals, ctx: specials.get(1 if v else 0, "")
    base: Fmt | None = None
    if f.meaning:
        from nvtui.nvme.meanings import MEANINGS

        base = MEANINGS[f.meaning]
    elif f.unit == "watts":
        scales, selector = dict(f.scales), f.scale_field

        def watts(v: int, vals: Mapping[str, Any], ctx: Mapping[str, object]) -> str:
            sel = vals.get(selector)
            exp = scales.get(sel) if isinstance(sel, int) else None
            if exp is None:
                return "not reported" if sel == 0 else f"power scale {sel} not defined"
            return f"{v * 10**exp:.{max(0, -exp)}f} W"

        base = watts
    elif f.unit or f.counts or f.zero_based or f.scale != 1:
        add, scale = int(f.zero_based), f.scale
        text = _UNIT_TEXT.get(f.unit) if f.unit else None
        noun = f.counts
        pow2 = f.unit == "pow2"

        def scaled(v: int, vals: Mapping[str, Any], ctx: Mapping[str, object]) -> str:
            n = (v + add) * scale
            if pow2:
                return f"{1 << n} {noun}" if n < 128 else f"2^{n} {noun}"
            if text is not None:
                return text(n, width)
            return f"{n} {noun}" if noun else str(n)

        base = scaled
    if specials:
        inner = base

        def special(v: Any, vals: Mapping[str, Any], ctx: Mapping[str, object]) -> str:
            if v in specials:
                return specials[v]
            return inner(v, vals, ctx) if inner is not None else ""

        return special
    return base


def _ascii(raw: bytes) -> str:
    """An ASCII string field, trimmed of its space/NUL padding; non-printable bytes shown as '.'."""
    text = raw.rstrip(b" \0").decode("ascii", errors="replace")
    return "".join(c if c.isprintable() and c != "\ufffd" else "." for c in text)


# --- compiled plans: per-field work done once per layout ------------------------------------------------


class _Plan:
    __slots__ = ("fields", "flags", "fmts", "layout", "slices_last")

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.fields = tuple(f for f in layout.fields if f.type != "reserved")
        self.fmts: dict[str, Fmt | None] = {}
        self.flags: dict[str, tuple[tuple[int, str], ...] | None] = {}
        for f in self.fields:
            width = f.size.fixed or 0
            if f.type in ("uint", "int", "bool", "enum", "flags"):
                self.fmts[f.name] = _number_fmt(f, width)
            elif f.meaning:
                from nvtui.nvme.meanings import MEANINGS

                self.fmts[f.name] = MEANINGS[f.meaning]
            else:
                self.fmts[f.name] = None
            self.flags[f.name] = f.values if f.type == "flags" else None
        # encode writes whole fields before the bit slices that lie within them
        self.slices_last = tuple(sorted(self.fields, key=lambda f: f.lsb >= 0))


_PLANS: dict[int, _Plan] = {}


def _plan(layout: Layout) -> _Plan:
    plan = _PLANS.get(id(layout))
    if plan is None or plan.layout is not layout:
        plan = _Plan(layout)
        _PLANS[id(layout)] = plan
    return plan


def amount(a: Amount, values: Mapping[str, Any], context: Mapping[str, object]) -> int | None:
    """An amount's number of bytes or entries; None for until-end, or a field or context not given."""
    if a.fixed is not None:
        return a.fixed
    if a.until_end:
        return None
    v = values.get(a.field) if a.field else context.get(a.context, a.default)
    if a.context and v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
        raise ValueError(f"{a.context} must be a non-negative integer, got {v!r}")
    if not isinstance(v, int) or isinstance(v, bool):
        return a.max if a.max is not None else None
    n = max(0, (v + 1 if a.zero_based else v) * a.scale + a.add)
    return min(n, a.max) if a.max is not None else n


# --- decode ---------------------------------------------------------------------------------------------


def decode(
    registry: Registry, structure: str, data: bytes, context: Mapping[str, object], name: str | None = None
) -> Record:
    """The record of `data` under `structure` (named `name`, by default the structure's id)."""
    record, _, _ = _decode(registry, registry[structure], bytes(data), 0, context, name)
    return record


def _decode(
    registry: Registry, layout: Layout, data: bytes, base: int, context: Mapping[str, object],
    name: str | None = None,
) -> tuple[Record, dict[str, Any], int]:  # fmt: skip
    """(record, values by field name, the structure's size in bytes) of the structure at `base`."""
    plan = _plan(layout)
    n = len(data)
    values: dict[str, Any] = {}
    found: list[tuple[FieldSpec, int, Any, Any] | Group] = []  # (spec, width, raw, shown) or a group
    limit = n
    if layout.size.fixed is not None:
        limit = min(n, base + layout.size.fixed)
    for f in plan.fields:
        kind = f.type
        start = base + f.at
        if kind == "array":
            group, elements = _array(registry, f, data, start, limit, values, context)
            found.append(group)
            values[f.name] = elements
            continue
        if kind == "struct":
            if start >= n:
                values[f.name] = None
                continue
            rec, nested, size = _decode(registry, registry[f.of], data, start, context)
            found.append(Group(f.name, f.at, size, (rec,), single=True))
            values[f.name] = nested
            continue
        width = f.size.fixed if f.size.fixed is not None else amount(f.size, values, context)
        if not width:
            continue  # a field whose size the data makes 0 (an absent extension) is not there
        end = start + width
        # a bit slice needs only the bytes its bits are in
        needed = start + f.msb // 8 + 1 if f.lsb >= 0 else end
        if needed > n:
            values[f.name] = None
            found.append((f, width, None, None))
            continue
        if kind in ("uint", "enum", "flags", "bool", "int"):
            v = int.from_bytes(data[start : min(end, n)], "little")
            if f.lsb >= 0:
                v = (v >> f.lsb) & ((1 << (f.msb - f.lsb + 1)) - 1)
                if kind == "int" and v >> (f.msb - f.lsb):
                    v -= 1 << (f.msb - f.lsb + 1)
            elif kind == "int" and v >> (8 * width - 1):
                v -= 1 << (8 * width)
            values[f.name] = v
            found.append((f, width, v, bool(v) if kind == "bool" else v))
        else:
            raw = data[start:end]
            if kind == "ascii":
                shown: JsonValue = _ascii(raw)
            elif kind == "uuid":
                shown = str(uuid.UUID(bytes=raw))
            else:
                shown = raw.hex()
            values[f.name] = raw
            found.append((f, width, raw, shown))
    items: list[Field | Group] = []
    for item in found:
        if isinstance(item, Group):
            items.append(item)
            continue
        f, width, raw, shown = item
        bits = (f.lsb, f.msb) if f.lsb >= 0 else None
        if raw is None:
            absent = Field(f.name, f.at, width, b"", None, NOT_TRANSFERRED, bits, flags=plan.flags[f.name])
            items.append(absent)
            continue
        fmt = plan.fmts[f.name]
        meaning = fmt(raw, values, context) if fmt is not None else ""
        items.append(Field(f.name, f.at, width, raw, shown, meaning, bits, flags=plan.flags[f.name]))
    declared = amount(layout.size, values, context)
    size = max(0, n - base) if declared is None else declared
    return Record(name or layout.id, tuple(items), offset=base), values, size


def _array(
    registry: Registry, f: FieldSpec, data: bytes, start: int, limit: int, values: dict[str, Any],
    context: Mapping[str, object],
) -> tuple[Group, list[dict[str, Any]]]:  # fmt: skip
    assert f.count is not None
    element = registry[f.of]
    count = amount(f.count, values, context)
    if count is None:
        count = MAX_ELEMENTS
    stride = amount(f.stride, values, context) if f.stride is not None else None
    end = len(data) if f.count.until_end else max(limit, len(data))
    if f.count.until_end:
        end = limit
    records: list[Record] = []
    vals: list[dict[str, Any]] = []
    pos = start
    for i in range(min(count, MAX_ELEMENTS)):
        if pos >= end or pos >= len(data):
            break
        rec, ev, size = _decode(registry, element, data, pos, context)
        step = stride if stride is not None else size
        if f.until_zero and not ev.get(f.until_zero):
            break
        if not f.keep_if or ev.get(f.keep_if):
            if f.index_as:
                index = Field(f.index_as, 0, 0, i, i, f"{f.name}[{i}] at byte {pos}")
                rec = Record(rec.name, (index, *rec.items), rec.offset)
                ev = {f.index_as: i, **ev}
            records.append(rec)
            vals.append(ev)
        if step <= 0:
            break
        pos += step
    return Group(f.name, f.at, pos - start, tuple(records)), vals


# --- encode ---------------------------------------------------------------------------------------------


def encode(
    registry: Registry, structure: str, values: Mapping[str, Any], context: Mapping[str, object]
) -> bytes:
    return bytes(_encode(registry, registry[structure], values, context, structure))


def _encode(
    registry: Registry, layout: Layout, values: Mapping[str, Any], context: Mapping[str, object], path: str
) -> bytearray:
    plan = _plan(layout)
    known = {f.name for f in layout.fields}
    for key in values:
        if key not in known:
            raise EncodeError(f"{path}: no field named {key!r} in structure {layout.id}")
    size = amount(layout.size, values, context)
    buf = bytearray(size or 0)

    def put(at: int, raw: bytes | bytearray) -> None:
        end = at + len(raw)
        if len(buf) < end:
            buf.extend(bytes(end - len(buf)))
        buf[at:end] = raw

    for f in plan.slices_last:
        value = values.get(f.name)
        if value is None:
            continue
        where = f"{path}.{f.name}"
        if f.type == "struct":
            if not isinstance(value, Mapping):
                raise EncodeError(f"{where}: a nested structure's value is a mapping of its fields")
            put(f.at, _encode(registry, registry[f.of], value, context, where))
            continue
        if f.type == "array":
            _encode_array(registry, f, value, values, context, where, put)
            continue
        width = f.size.fixed if f.size.fixed is not None else amount(f.size, values, context)
        if width is None:
            width = len(_opaque(f, value, where, None))
        if width == 0:
            continue
        if f.type in ("uint", "int", "enum", "flags", "bool"):
            put(f.at, _integer(f, value, width, where, bytes(buf[f.at : f.at + width]).ljust(width, b"\0")))
        else:
            put(f.at, _opaque(f, value, where, width))
    if size is not None and len(buf) > size:
        raise EncodeError(f"{path}: the values take {len(buf)} bytes, more than the structure's {size}")
    return buf


def _integer(f: FieldSpec, value: Any, width: int, where: str, current: bytes) -> bytes:
    if isinstance(value, str) and f.values:
        names = {name: number for number, name in f.values}
        if value not in names:
            raise EncodeError(f"{where}: {value!r} is not one of {', '.join(names)}")
        value = names[value]
    if isinstance(value, list | tuple) and f.type == "flags":
        names = {name: bit for bit, name in f.values}
        bits = 0
        for name in value:
            if name not in names:
                raise EncodeError(f"{where}: no flag named {name!r}")
            bits |= 1 << names[name]
        value = bits
    if not isinstance(value, int):
        raise EncodeError(f"{where}: {value!r} is not an integer")
    v = int(value)
    nbits = (f.msb - f.lsb + 1) if f.lsb >= 0 else 8 * width
    low, high = (-(1 << (nbits - 1)), (1 << (nbits - 1)) - 1) if f.type == "int" else (0, (1 << nbits) - 1)
    if not low <= v <= high:
        raise EncodeError(f"{where}: {v} does not fit in {nbits} bits ({low}..{high})")
    v &= (1 << nbits) - 1
    if f.lsb < 0:
        return v.to_bytes(width, "little")
    whole = int.from_bytes(current, "little")
    mask = ((1 << nbits) - 1) << f.lsb
    return ((whole & ~mask) | (v << f.lsb)).to_bytes(width, "little")


def _opaque(f: FieldSpec, value: Any, where: str, width: int | None) -> bytes:
    if f.type == "ascii":
        if not isinstance(value, str):
            raise EncodeError(f"{where}: an ASCII field takes a string, not {value!r}")
        try:
            raw = value.encode("ascii")
        except UnicodeEncodeError:
            raise EncodeError(f"{where}: {value!r} is not ASCII") from None
        pad = b" "
    elif f.type == "uuid":
        try:
            raw = uuid.UUID(value).bytes if isinstance(value, str) else bytes(value)
        except (ValueError, TypeError):
            raise EncodeError(f"{where}: {value!r} is not a UUID") from None
        pad = b"\0"
    else:
        if isinstance(value, str):
            try:
                raw = bytes.fromhex(value)
            except ValueError:
                raise EncodeError(f"{where}: {value!r} is not hex bytes") from None
        elif isinstance(value, bytes | bytearray):
            raw = bytes(value)
        else:
            raise EncodeError(f"{where}: opaque bytes are given as bytes or hex, not {value!r}")
        pad = b"\0"
    if width is None:
        return raw
    if len(raw) > width:
        raise EncodeError(f"{where}: {len(raw)} bytes do not fit in {width}")
    return raw.ljust(width, pad)


def _encode_array(
    registry: Registry, f: FieldSpec, value: Any, values: Mapping[str, Any], context: Mapping[str, object],
    where: str, put: Callable[[int, bytes | bytearray], None],
) -> None:  # fmt: skip
    if not isinstance(value, list | tuple):
        raise EncodeError(f"{where}: an array's value is a list of its elements")
    assert f.count is not None
    limit = amount(f.count, values, context)
    element = registry[f.of]
    stride = amount(f.stride, values, context) if f.stride is not None else None
    pos = f.at
    for i, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise EncodeError(f"{where}[{i}]: an element is a mapping of its fields")
        index = i
        if f.index_as:
            item = dict(item)
            given = item.pop(f.index_as, i)
            if not isinstance(given, int):
                raise EncodeError(f"{where}[{i}].{f.index_as}: an index is an integer")
            index = given
        if limit is not None and index >= limit:
            raise EncodeError(f"{where}: element {index} is past the array's {limit} elements")
        raw = _encode(registry, element, item, context, f"{where}[{i}]")
        if stride is not None:
            if len(raw) > stride:
                raise EncodeError(f"{where}[{i}]: {len(raw)} bytes do not fit the {stride}-byte stride")
            put(f.at + index * stride, raw)
        else:
            put(pos, raw)
            pos += len(raw)
