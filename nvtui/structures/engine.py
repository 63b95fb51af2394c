"""One engine, both ways: bytes -> `Record` (decode) and named values -> bytes (encode), from a `Layout`.

Decoding gives the `Record` / `Field` / `Group` shapes of `nvtui.nvme.decode.base`: fields carry offsets
relative to their record, a record its absolute offset in the buffer, a group (an array, or a nested
structure) its offset in its record. A field whose bytes lie past what the device transferred decodes as
absent: value None (JSON null), meaning "not transferred", never as zeros; array elements that start past
the end are not listed. Reserved ranges are declared in layouts but not shown.

A structure's size is fixed, what the data holds (until-end), where its furthest field ends (fields-end), or
what its size field says: then it is exactly that long, its fields see no byte past it (a field it cuts off
decodes as absent) and the next array element starts there. A field may be placed after a list the data
sizes (`at_plus`). No structure is taken as longer than 16 MiB.

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
# No NVMe structure is bigger (the schema's limit too): a size field holding garbage (a 32-bit count of 4-byte
# entries) must not make encode allocate gigabytes.
MAX_STRUCTURE = 1 << 24

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


_INT, _OPAQUE, _ARRAY, _STRUCT = 0, 1, 2, 3
_INTEGER = frozenset(("uint", "int", "bool", "enum", "flags"))


class _Plan:
    """A layout's fields, each reduced once to what the decode loop needs (kept per layout object)."""

    __slots__ = ("fields", "layout", "reserved", "rows", "slices_last")

    def __init__(self, layout: Layout) -> None:
        from nvtui.nvme.meanings import MEANINGS

        self.layout = layout
        self.fields = tuple(f for f in layout.fields if f.type != "reserved")
        self.reserved = tuple(f for f in layout.fields if f.type == "reserved")  # where the structure ends
        # (spec, name, at, code, fixed width or None, lsb, mask, needed bytes, bits, fmt, deferred, flags,
        #  at_plus)
        self.rows: list[tuple[Any, ...]] = []
        for f in self.fields:
            width = f.size.fixed
            fmt: Fmt | None = None
            if f.type in _INTEGER:
                fmt = _number_fmt(f, width or 0)
                code = _INT
            elif f.type == "array":
                code = _ARRAY
            elif f.type == "struct":
                code = _STRUCT
            else:
                code = _OPAQUE
                fmt = MEANINGS[f.meaning] if f.meaning else None
            deferred = bool(f.meaning) or f.unit == "watts"  # reads other fields: after all are decoded
            sliced = f.lsb >= 0
            mask = (1 << (f.msb - f.lsb + 1)) - 1 if sliced else 0
            needed = f.msb // 8 + 1 if sliced else width
            bits = (f.lsb, f.msb) if sliced else None
            flags = f.values if f.type == "flags" else None
            self.rows.append(
                (f, f.name, f.at, code, width, f.lsb, mask, needed, bits, fmt, deferred, flags, f.at_plus)
            )
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
    """An amount's number of bytes or entries; None for until-end and fields-end, or a field or context not
    given."""
    if a.fixed is not None:
        return a.fixed
    if a.until_end or a.fields_end:
        return None
    v = values.get(a.field) if a.field else context.get(a.context, a.default)
    if a.context and v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
        raise ValueError(f"{a.context} must be a non-negative integer, got {v!r}")
    if not isinstance(v, int) or isinstance(v, bool):
        return a.max if a.max is not None else None
    n = max(0, (v + 1 if a.zero_based else v) * a.scale + a.add)
    n = -(-n // a.align) * a.align
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
    name: str | None = None, stop: int | None = None,
) -> tuple[Record, dict[str, Any], int]:  # fmt: skip
    """(record, values by field name, the structure's size in bytes) of the structure at `base`; `stop`: the
    end of what the enclosing structure may see (its own size), else the data's end."""
    plan = _plan(layout)
    n = len(data) if stop is None else min(len(data), stop)
    values: dict[str, Any] = {}
    items: list[Field | Group] = []
    later: list[tuple[int, Any, int, Any, Any]] = []  # meanings that read other fields: (index, row, ...)
    limit = n
    if layout.size.fixed is not None:
        limit = min(n, base + layout.size.fixed)
    furthest = 0  # where the furthest field ends, from `base`
    size_of = layout.size
    sized_by = size_of.field
    for row in plan.rows:
        f, fname, at, code, width, lsb, mask, needed, bits, fmt, deferred, flags, at_plus = row
        if at_plus is not None:
            shift = amount(at_plus, values, context)
            if shift is None:  # placed after a list whose length was not transferred
                values[fname] = None
                continue
            at += shift
        start = base + at
        if code == _ARRAY:
            group, elements = _array(registry, f, data, start, limit, values, context, at, n)
            items.append(group)
            values[fname] = elements
            furthest = max(furthest, at + group.width)
            continue
        if code == _STRUCT:
            if start >= n:
                values[fname] = None
                continue
            rec, nested, size = _decode(registry, registry[f.of], data, start, context, stop=n)
            items.append(Group(fname, at, size, (rec,), single=True))
            values[fname] = nested
            furthest = max(furthest, at + size)
            continue
        if width is None:
            width = amount(f.size, values, context)
            needed = width
            if not width:
                continue  # a field whose size the data makes 0 (an absent extension) is not there
        furthest = max(furthest, at + width)
        end = start + width
        if start + needed > n:  # a bit slice needs only the bytes its bits are in
            values[fname] = None
            items.append(Field(fname, at, width, b"", None, NOT_TRANSFERRED, bits, flags))
            continue
        if code == _INT:
            v = int.from_bytes(data[start:end] if end <= n else data[start:n], "little")
            if fname == sized_by and lsb < 0:  # the structure is this long: its fields see no further
                declared = amount(size_of, {sized_by: v}, context)
                if declared is not None:
                    n = min(n, base + min(declared, MAX_STRUCTURE))
                limit = min(limit, n)
            kind = f.type
            if lsb >= 0:
                v = (v >> lsb) & mask
                if kind == "int" and v > mask >> 1:
                    v -= mask + 1
            elif kind == "int" and v >> (8 * width - 1):
                v -= 1 << (8 * width)
            values[fname] = v
            raw: Any = v
            shown: JsonValue = bool(v) if kind == "bool" else v
        else:
            raw = data[start:end]
            kind = f.type
            if kind == "ascii":
                shown = _ascii(raw)
            elif kind == "uuid":
                shown = str(uuid.UUID(bytes=raw))
            else:
                shown = raw.hex()
            values[fname] = raw
        if deferred:
            later.append((len(items), row, width, raw, shown))
            items.append(Field(fname, at, width, raw, shown, "", bits, flags))
        else:
            meaning = fmt(raw, values, context) if fmt is not None else ""
            items.append(Field(fname, at, width, raw, shown, meaning, bits, flags))
    for index, row, width, raw, shown in later:
        f, fname, _, _, _, _, _, _, bits, fmt, _, flags, _ = row
        item = items[index]
        assert isinstance(item, Field)
        items[index] = Field(fname, item.offset, width, raw, shown, fmt(raw, values, context), bits, flags)
    return (
        Record(name or layout.id, tuple(items), offset=base),
        values,
        _size(plan, values, context, furthest, n - base),
    )


def _size(
    plan: _Plan, values: Mapping[str, Any], context: Mapping[str, object], furthest: int, left: int
) -> int:
    """A decoded structure's size: fixed; what the data holds (until-end); where its furthest field, reserved
    ones included, ends (fields-end); or what its size field or context says (its fields see no byte past
    it: a field a too small size cuts off decodes as absent)."""
    size = plan.layout.size
    if size.fixed is not None:
        return size.fixed
    if size.until_end:
        return max(0, left)
    declared = amount(size, values, context)
    if declared is not None:
        return min(declared, MAX_STRUCTURE)
    return max(furthest, _reserved_end(plan, values, context))


def _reserved_end(plan: _Plan, values: Mapping[str, Any], context: Mapping[str, object]) -> int:
    end = 0
    for f in plan.reserved:
        shift = amount(f.at_plus, values, context) if f.at_plus is not None else 0
        width = amount(f.size, values, context)
        if shift is not None and width:
            end = max(end, f.at + shift + width)
    return end


def _array(
    registry: Registry, f: FieldSpec, data: bytes, start: int, limit: int, values: dict[str, Any],
    context: Mapping[str, object], at: int, n: int,
) -> tuple[Group, list[dict[str, Any]]]:  # fmt: skip
    assert f.count is not None
    element = registry[f.of]
    count = amount(f.count, values, context)
    if count is None:
        count = MAX_ELEMENTS
    stride = amount(f.stride, values, context) if f.stride is not None else None
    end = n if f.count.until_end else max(limit, n)
    if f.count.until_end:
        end = limit
    records: list[Record] = []
    vals: list[dict[str, Any]] = []
    pos = start
    for i in range(min(count, MAX_ELEMENTS)):
        if pos >= end or pos >= n:
            break
        rec, ev, size = _decode(registry, element, data, pos, context, stop=n)
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
    return Group(f.name, at, pos - start, tuple(records)), vals


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
    if size is not None:
        size = min(size, MAX_STRUCTURE)
    buf = bytearray(size or 0)

    def put(at: int, raw: bytes | bytearray) -> None:
        if not raw:
            return  # an element of which nothing is known (none of it was transferred) takes no bytes
        end = at + len(raw)
        if len(buf) < end:
            buf.extend(bytes(end - len(buf)))
        buf[at:end] = raw

    for f in plan.slices_last:
        value = values.get(f.name)
        if value is None:
            continue
        where = f"{path}.{f.name}"
        at = f.at
        if f.at_plus is not None:
            shift = amount(f.at_plus, values, context)
            if shift is None:
                raise EncodeError(f"{where}: its place follows from field {f.at_plus.field!r}: give it too")
            at += shift
        if f.type == "struct":
            if not isinstance(value, Mapping):
                raise EncodeError(f"{where}: a nested structure's value is a mapping of its fields")
            put(at, _encode(registry, registry[f.of], value, context, where))
            continue
        if f.type == "array":
            _encode_array(registry, f, at, value, values, context, where, put)
            continue
        width = f.size.fixed if f.size.fixed is not None else amount(f.size, values, context)
        if width is None:
            width = len(_opaque(f, value, where, None))
        if width == 0:
            continue
        if f.type in ("uint", "int", "enum", "flags", "bool"):
            put(at, _integer(f, value, width, where, bytes(buf[at : at + width]).ljust(width, b"\0")))
        else:
            put(at, _opaque(f, value, where, width))
    if layout.size.fields_end:  # reserved ranges after the last field given still belong to the structure
        end = _reserved_end(plan, values, context)
        if len(buf) < end:
            buf.extend(bytes(end - len(buf)))
    if size is not None and len(buf) > size:
        if any(buf[size:]):
            raise EncodeError(f"{path}: the values take {len(buf)} bytes, more than the structure's {size}")
        del buf[size:]  # only the zero padding of an element the structure's size cuts short
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
        # Fixed-width strings are space-padded (Identify's SN, MN); one the data sizes has no padding rule:
        # NULs, as a field nothing was written to reads.
        pad = b" " if f.size.fixed is not None else b"\0"
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
    registry: Registry, f: FieldSpec, at: int, value: Any, values: Mapping[str, Any],
    context: Mapping[str, object], where: str, put: Callable[[int, bytes | bytearray], None],
) -> None:  # fmt: skip
    if not isinstance(value, list | tuple):
        raise EncodeError(f"{where}: an array's value is a list of its elements")
    assert f.count is not None
    limit = amount(f.count, values, context)
    element = registry[f.of]
    stride = amount(f.stride, values, context) if f.stride is not None else None
    pos = at
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
            put(at + index * stride, raw)
        else:
            put(pos, raw)
            pos += len(raw)
