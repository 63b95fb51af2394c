"""One structured decode result, rendered many ways (JSON, CLI table, TUI field view).

A decoder turns raw bytes into a `Record`: an ordered list of `Field`s (name, byte offset, width, raw value,
JSON value, meaning) and `Group`s (a repeated sub-structure: LBA formats, power states, error entries, zones).
Decoders are tables of `Spec` rows walked by `decode_layout`, so no decoder hand-codes its byte slicing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
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
            return [r.to_json() for r in item.records]
        return item.value

    def to_json(self) -> dict[str, JsonValue]:
        out: dict[str, JsonValue] = {}
        for item in self.items:
            if isinstance(item, Group):
                out[item.name] = [r.to_json() for r in item.records]
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


# --- reading little-endian values -----------------------------------------------------------------------


def le(data: bytes, offset: int, width: int) -> int:
    """The little-endian unsigned integer of `width` bytes at `offset` (0 past the end of short data)."""
    return int.from_bytes(data[offset : offset + width].ljust(width, b"\0"), "little")


def bits(value: int, lsb: int, msb: int) -> int:
    return (value >> lsb) & ((1 << (msb - lsb + 1)) - 1)


def ascii_field(raw: bytes) -> str:
    """An ASCII string field, trimmed of its space/NUL padding; non-printable bytes shown as '.'."""
    text = raw.rstrip(b" \0").decode("ascii", errors="replace")
    return "".join(c if c.isprintable() and c != "\ufffd" else "." for c in text)


# --- table-driven layouts -------------------------------------------------------------------------------

Meaning = Callable[[int], str]


@dataclass(frozen=True)
class Spec:
    """One row of a layout table.

    kind: "uint" (little-endian integer, any width), "str" (ASCII, padded), "bytes" (opaque, hex in JSON),
    "bits" (a bit field of the `width`-byte integer at `offset`, bits lsb..msb), "flag" (one bit, bool).
    """

    name: str
    offset: int
    width: int
    kind: str = "uint"
    lsb: int = 0
    msb: int = 0
    meaning: Meaning | None = None


def U(name: str, offset: int, width: int, meaning: Meaning | None = None) -> Spec:
    return Spec(name, offset, width, "uint", meaning=meaning)


def S(name: str, offset: int, width: int) -> Spec:
    return Spec(name, offset, width, "str")


def B(name: str, offset: int, width: int) -> Spec:
    return Spec(name, offset, width, "bytes")


def Bits(name: str, offset: int, width: int, lsb: int, msb: int, meaning: Meaning | None = None) -> Spec:
    return Spec(name, offset, width, "bits", lsb, msb, meaning)


def Flag(name: str, offset: int, width: int, bit: int, meaning: str = "") -> Spec:
    return Spec(name, offset, width, "flag", bit, bit, (lambda v: meaning if v else "") if meaning else None)


def decode_field(data: bytes, spec: Spec, base: int = 0) -> Field:
    off = base + spec.offset
    if spec.kind == "str":
        raw = bytes(data[off : off + spec.width])
        return Field(spec.name, spec.offset, spec.width, raw, ascii_field(raw))
    if spec.kind == "bytes":
        raw = bytes(data[off : off + spec.width])
        return Field(spec.name, spec.offset, spec.width, raw, raw.hex())
    whole = le(data, off, spec.width)
    if spec.kind == "uint":
        meaning = spec.meaning(whole) if spec.meaning else ""
        flags = spec.meaning.names if isinstance(spec.meaning, FlagsMeaning) else None
        return Field(spec.name, spec.offset, spec.width, whole, whole, meaning, flags=flags)
    value = bits(whole, spec.lsb, spec.msb)
    meaning = spec.meaning(value) if spec.meaning else ""
    shown: JsonValue = bool(value) if spec.kind == "flag" else value
    return Field(spec.name, spec.offset, spec.width, value, shown, meaning, (spec.lsb, spec.msb))


def decode_layout(name: str, data: bytes, layout: Sequence[Spec], base: int = 0) -> Record:
    return Record(name, tuple(decode_field(data, spec, base) for spec in layout), offset=base)


def decode_group(
    name: str, data: bytes, offset: int, stride: int, count: int, element: Callable[[bytes, int], Record]
) -> Group:
    """`count` records of `stride` bytes from `offset`; `element(data, base)` decodes one at `base`."""
    records = tuple(element(data, offset + i * stride) for i in range(count))
    return Group(name, offset, stride * count, records)


# --- meanings -------------------------------------------------------------------------------------------


def enum_meaning(names: dict[int, str], default: str = "reserved") -> Meaning:
    return lambda v: names.get(v, f"{default} ({v:#x})")


class FlagsMeaning:
    """Names of the set bits, by bit number; keeps every name, so a view can list the clear bits too."""

    def __init__(self, names: dict[int, str]) -> None:
        self.names = tuple(sorted(names.items()))

    def __call__(self, v: int) -> str:
        return ", ".join(n for b, n in self.names if v >> b & 1)


def flags_meaning(names: dict[int, str]) -> Meaning:
    """Names of the set bits, by bit number."""
    return FlagsMeaning(names)


def unit_meaning(unit: str, scale: int = 1) -> Meaning:
    return lambda v: f"{v * scale} {unit}"


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
