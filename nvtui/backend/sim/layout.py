"""Build the controller's data structures from one table per structure: named fields at spec offsets.

A `Layout` is declared once (name -> (offset, width)) and fills a zeroed buffer of the structure's size:
integers little-endian (any width, up to the 128-bit SMART counters), strings ASCII padded with spaces
(NVMe Base 2.0, 1.5 "ASCII string"), bytes as given, zero-padded.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping


class Layout:
    def __init__(self, name: str, size: int, fields: Mapping[str, tuple[int, int]]) -> None:
        self.name = name
        self.size = size
        self.fields = dict(fields)
        taken: list[tuple[int, int, str]] = sorted(
            (off, off + width, n) for n, (off, width) in fields.items()
        )
        for (_s1, e1, n1), (s2, _e2, n2) in itertools.pairwise(taken):
            if s2 < e1:
                raise ValueError(f"{name}: fields {n1} and {n2} overlap")
        if taken and taken[-1][1] > size:
            raise ValueError(f"{name}: field {taken[-1][2]} runs past the {size}-byte structure")

    def build(self, values: Mapping[str, int | str | bytes]) -> bytearray:
        buf = bytearray(self.size)
        self.pack_into(buf, 0, values)
        return buf

    def pack_into(self, buf: bytearray, base: int, values: Mapping[str, int | str | bytes]) -> None:
        for name, value in values.items():
            try:
                offset, width = self.fields[name]
            except KeyError:
                raise KeyError(f"{self.name} has no field {name!r}") from None
            if isinstance(value, bool | int):
                raw = int(value).to_bytes(width, "little")
            elif isinstance(value, str):
                raw = value.encode("ascii").ljust(width, b" ")
            else:
                raw = bytes(value).ljust(width, b"\0")
            if len(raw) != width:
                raise ValueError(f"{self.name}.{name}: {len(raw)} bytes do not fit in {width}")
            buf[base + offset : base + offset + width] = raw
