"""One structured decode result, rendered many ways (JSON, CLI table, TUI field view).

Decoding turns raw bytes into a `Record`: an ordered list of `Field`s (name, byte offset, width, raw value,
JSON value, meaning) and `Group`s (a repeated sub-structure: LBA formats, power states, error entries, zones;
or one nested structure). The layout engine (`nvtui.structures`) makes them from YAML layouts, so no
decoder hand-codes its byte slicing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeAlias

JsonValue: TypeAlias = int | str | bool | list["JsonValue"] | dict[str, "JsonValue"] | None


@dataclass(frozen=True)
class Field:
    name: str  # the spec's abbreviation, lowercased, or the field's name in snake_case
    offset: int  # byte offset from the start of the decoded buffer
    width: int  # bytes
    raw: int | bytes  # the little-endian integer (or the bytes, for strings and opaque fields)
    value: JsonValue  # what JSON shows: trimmed string, plain integer (any width), bool
    meaning: str = ""  # one line for a person: units, enum name, set flags
    bits: tuple[int, int] | None = None  # (lsb, msb) in the little-endian integer at offset, for bit fields
    # For a flags field, every bit the spec names, set or not: (bit, name). Views expand it; JSON ignores it.
    flags: tuple[tuple[int, str], ...] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Group:
    name: str
    offset: int
    width: int
    records: tuple[Record, ...]
    single: bool = False  # a nested structure (one record, a JSON object), not an array (a JSON list)

    def to_json(self) -> JsonValue:
        if self.single:
            return self.records[0].to_json() if self.records else None
        return [r.to_json() for r in self.records]


@dataclass(frozen=True)
class Record:
    name: str  # e.g. "identify-controller"
    items: tuple[Field | Group, ...] = field(default_factory=tuple)
    offset: int = 0  # where this record starts in the decoded buffer; its fields' offsets are relative to it

    def __getitem__(self, name: str) -> Field | Group:
        for item in self.items:
            if item.name == name:
                return item
        raise KeyError(name)

    def value(self, name: str) -> JsonValue:
        item = self[name]
        if isinstance(item, Group):
            return item.to_json()
        return item.value

    def to_json(self) -> dict[str, JsonValue]:
        out: dict[str, JsonValue] = {}
        for item in self.items:
            if isinstance(item, Group):
                out[item.name] = item.to_json()
            else:
                out[item.name] = item.value
        return out

    def flat(self, prefix: str = "") -> Iterator[tuple[str, Field, int]]:
        """(path, field, absolute offset) for every field, groups flattened as `name[i].field`."""
        for item in self.items:
            if isinstance(item, Group):
                for i, rec in enumerate(item.records):
                    yield from rec.flat(f"{prefix}{item.name}[{i}].")
            else:
                yield f"{prefix}{item.name}", item, self.offset + item.offset


# --- registry -------------------------------------------------------------------------------------------

Decoder = Callable[..., Record]
DECODERS: dict[str, Decoder] = {}


def decoder(name: str) -> Callable[[Decoder], Decoder]:
    """Register `fn(data: bytes, **context) -> Record` under the name catalogue entries use."""

    def register(fn: Decoder) -> Decoder:
        if name in DECODERS:
            raise ValueError(f"decoder {name!r} registered twice")
        DECODERS[name] = fn
        return fn

    return register
