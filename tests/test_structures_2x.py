"""The NVMe 2.x log pages, Identify structures and feature data (nvtui/structures/log-pages-2x.yaml,
identify-2x.yaml, feature-data.yaml), decoded from byte images written field by field at the spec's offsets
(tests/spec_images.py), never from `encode`; each layout accounts for every byte of its structure; and what
`encode` builds from the decoded values is the image again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nvtui import structures
from nvtui.nvme.decode.base import Group, Record
from nvtui.structures.layout import FieldSpec, Layout
from tests.spec_images import ALL, Image

FILES = ("log-pages-2x.yaml", "identify-2x.yaml", "feature-data.yaml", "directives.yaml", "kv.yaml")


def _mine() -> list[Layout]:
    return [layout for layout in structures.layouts().values() if Path(layout.source).name in FILES]


@pytest.mark.parametrize("image", ALL, ids=lambda image: image.structure)
def test_each_field_decodes_at_its_spec_offset_with_the_value_written(image: Image) -> None:
    record = structures.decode(image.structure, image.build())
    found = {path: (offset, field) for path, field, offset in record.flat()}
    for f in image.fields:
        assert f.path in found, f"{image.structure}: no field {f.path} ({image.figure})"
        offset, field = found[f.path]
        assert offset == f.offset, f"{image.structure}: {f.path} at byte {offset}, the spec says {f.offset}"
        assert field.value == f.expected(), f"{image.structure}: {f.path} is {field.value!r}"
        if f.bits is not None:
            assert field.bits == f.bits, f"{image.structure}: {f.path} bits {field.bits}, spec {f.bits}"


def test_every_structure_in_the_files_has_an_image_or_is_an_element_of_one() -> None:
    imaged = {image.structure for image in ALL}
    reachable = set(imaged)
    todo = list(imaged)
    while todo:
        for f in structures.get(todo.pop()).fields:
            if f.of and f.of not in reachable:
                reachable.add(f.of)
                todo.append(f.of)
    assert sorted(layout.id for layout in _mine() if layout.id not in reachable) == []


def _fixed_array(f: FieldSpec) -> bool:
    return bool(f.stride is not None and f.stride.fixed and f.count is not None and f.count.fixed is not None)


def _bits_taken(layout: Layout) -> tuple[set[int], int | None]:
    """Every bit the fields (reserved ones included) declare, and the structure's fixed size."""
    taken: set[int] = set()
    for f in layout.fields:
        if f.type == "array":
            if _fixed_array(f):
                assert f.stride is not None and f.stride.fixed and f.count is not None and f.count.fixed
                taken.update(range(8 * f.at, 8 * (f.at + f.stride.fixed * f.count.fixed)))
            else:
                taken.add(8 * f.at)  # runs to the end of the data: the rest is checked as the array's
            continue
        if f.size.fixed is None:
            taken.add(8 * f.at)
            continue
        if f.lsb >= 0:
            taken.update(range(8 * f.at + f.lsb, 8 * f.at + f.msb + 1))
        else:
            taken.update(range(8 * f.at, 8 * (f.at + f.size.fixed)))
    return taken, layout.size.fixed


@pytest.mark.parametrize("layout", _mine(), ids=lambda layout: layout.id)
def test_each_layout_accounts_for_every_byte(layout: Layout) -> None:
    taken, size = _bits_taken(layout)
    # (a field placed after a counted list, `at_plus`, comes after every fixed one)
    open_ended = [f for f in layout.fields if f.type == "array" and not _fixed_array(f) and f.at_plus is None]
    end = 8 * size if size is not None else max(taken) + 1
    if open_ended:
        end = min(end, 8 * open_ended[0].at)  # an array of counted or variable elements runs to what follows
    gaps = sorted({bit // 8 for bit in range(end) if bit not in taken})
    assert not gaps, f"{layout.id}: bytes {gaps[:8]}... belong to no field (declare them reserved)"


def _values(record: Record) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in record.items:
        if isinstance(item, Group):
            out[item.name] = [_values(r) for r in item.records]
        elif isinstance(item.raw, bytes):
            out[item.name] = item.value  # ASCII trimmed, a UUID's text, opaque bytes as hex: encode takes it
        else:
            out[item.name] = item.raw
    return out


@pytest.mark.parametrize("image", ALL, ids=lambda image: image.structure)
def test_encoding_the_decoded_values_gives_the_image_back(image: Image) -> None:
    data = image.build()
    values = _values(structures.decode(image.structure, data))
    again = structures.encode(image.structure, values)
    assert again.ljust(len(data), b"\0") == data
