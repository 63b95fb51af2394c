"""A catalogue entry's built data buffer (`data.build`): its fields as the layout defines them, and its bytes.

The layout is read only here, when an entry's buffer fields are first asked for (a form, a given field, a
send), so loading the catalogue loads no layout. Each buffer field's range is its layout field's bits; an
array of one-number elements (a Controller List's identifiers) is a list field whose count goes in the
array's count field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nvtui.catalogue.model import BufferField, DataBuild, FieldDef
from nvtui.errors import UsageError
from nvtui.structures.layout import INTEGER_TYPES, FieldSpec, Layout


def resolve(build: DataBuild, structure: str | None = None) -> tuple[FieldDef, ...]:
    """The buffer's fields with their ranges: in `structure`, the ones it has; else each in the first of the
    buffer's layouts that has it. ValueError (one line) naming what the layouts lack."""
    from nvtui import structures

    layouts = []
    for sid in (structure,) if structure is not None else build.layouts:
        try:
            layouts.append(structures.get(sid))
        except KeyError:
            raise ValueError(f"no structure layout {sid!r}") from None
    out = []
    for b in build.fields:
        array = b.at.partition(".")[0]
        found = next((lay for lay in layouts if any(f.name == array for f in lay.fields)), None)
        if found is None:
            if structure is not None:
                continue  # a field of another of the buffer's layouts
            names = " or ".join(lay.id for lay in layouts)
            raise ValueError(f"structure {names} has no field named {array!r}")
        out.append(_field(found, b))
    return tuple(out)


def _spec(layout: Layout, name: str) -> FieldSpec:
    for f in layout.fields:
        if f.name == name:
            return f
    raise ValueError(f"structure {layout.id} has no field named {name!r}")


def _bits(layout: Layout, f: FieldSpec) -> int:
    """The width of an integer layout field in bits (ValueError for any other field)."""
    if f.type not in INTEGER_TYPES or f.type == "int":
        raise ValueError(f"{layout.id}.{f.name} is a {f.type} field, not an unsigned number")
    if f.lsb >= 0:
        return f.msb - f.lsb + 1
    if f.size.fixed is None or f.at_plus is not None:
        raise ValueError(f"{layout.id}.{f.name} has no fixed place and size")
    return 8 * f.size.fixed


def _field(layout: Layout, b: BufferField) -> FieldDef:
    array, _, element = b.at.partition(".")
    spec = _spec(layout, array)
    if not element:
        bits = _bits(layout, spec)
        return FieldDef(
            name=b.name, slices=(), kind="uint", values={}, default=0, required=False, min=0,
            max=(1 << bits) - 1, zero_based=False, help=b.help, buffer=b.at,
        )  # fmt: skip
    if spec.type != "array" or spec.count is None:
        raise ValueError(f"{layout.id}.{array} is no array (a list field fills an array's elements)")
    from nvtui import structures

    item = _spec(structures.get(spec.of), element)
    count = spec.count
    most = count.fixed if count.fixed is not None else count.max
    if (
        most is None
        or count.zero_based
        or count.scale != 1
        or count.add
        or (count.fixed is None) != bool(count.field)
    ):
        raise ValueError(f"{layout.id}.{array}: its count is neither a number nor a count field with a max")
    if len(structures.get(spec.of).fields) != 1:
        raise ValueError(f"{layout.id}.{array}: its elements hold more than the one field {element!r}")
    bits = _bits(structures.get(spec.of), item)
    return FieldDef(
        name=b.name, slices=(), kind="list", values={}, default=0, required=False, min=1,
        max=(1 << (most * bits + 1)) - 1, zero_based=False, help=b.help, length_field=count.field or None,
        buffer=b.at, item_bits=bits, max_items=most,
    )  # fmt: skip


def build_bytes(structure: str, fields: tuple[FieldDef, ...], values: Mapping[str, int]) -> bytes:
    """The buffer: the layout encoded from the buffer fields in `values` (the others zero)."""
    from nvtui import structures

    image: dict[str, Any] = {}
    for f in fields:
        if f.name not in values:
            continue
        if f.kind == "list":
            array, _, element = f.buffer.partition(".")
            items = f.items_of(values[f.name])
            image[array] = [{element: item} for item in items]
            if f.length_field:
                image[f.length_field] = len(items)
        else:
            image[f.buffer] = values[f.name]
    try:
        return structures.encode(structure, image)
    except ValueError as exc:  # each value was checked against its bits: a layout that says otherwise
        raise UsageError(f"{structure}: {exc}") from None
