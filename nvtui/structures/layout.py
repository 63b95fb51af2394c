"""A structure's layout once validated: plain frozen dataclasses (kept in the disk cache as JSON data).

`nvtui.structures.schema` validates what a YAML file says and builds these; `nvtui.structures.engine`
decodes bytes into a `Record` and encodes values into bytes from them. Nothing here imports pydantic or YAML.
"""

from __future__ import annotations

from dataclasses import dataclass

# The field types of the layout language (README, "Structures").
INTEGER_TYPES = ("uint", "int", "bool", "enum", "flags")
TYPES = (*INTEGER_TYPES, "ascii", "bytes", "uuid", "struct", "array", "reserved")

# Units a field's meaning may be given in (README, "Structures"): the number shown, scaled by `scale`.
UNITS = (
    "kelvin", "percent", "data-units", "bytes", "kib", "us", "ms", "seconds", "minutes", "hours",
    "count", "version", "pow2", "pow2-bytes", "pow2-pages", "watts", "hex", "oui",
)  # fmt: skip


@dataclass(frozen=True)
class Amount:
    """A number of bytes or entries: `fixed`, or read from a field already decoded in the same structure
    (`field`) or from the decode context (`context`, `default` when absent), then `(v + 1 if zero_based) *
    scale + add`, at most `max`. `until_end`: as much as the data holds. `fields_end` (a structure's size
    only): it ends where its furthest field ends (descriptors whose lists of variable-length descriptors
    have no length field of their own)."""

    fixed: int | None = None
    field: str = ""
    context: str = ""
    default: int | None = None
    scale: int = 1
    add: int = 0
    zero_based: bool = False
    max: int | None = None
    until_end: bool = False
    fields_end: bool = False
    align: int = 1  # rounded up to a multiple of this (a list entry padded to a dword boundary)

    def describe(self) -> str:
        if self.fixed is not None:
            return str(self.fixed)
        if self.until_end:
            return "until the data ends"
        if self.fields_end:
            return "to the end of its furthest field"
        ref = f"field {self.field}" if self.field else f"context {self.context}"
        return (
            ref
            + (" + 1" if self.zero_based else "")
            + (f" x {self.scale}" if self.scale != 1 else "")
            + (f" + {self.add}" if self.add else "")
            + (f", rounded up to a multiple of {self.align}" if self.align != 1 else "")
        )


@dataclass(frozen=True)
class FieldSpec:
    name: str
    at: int  # byte offset from the start of the structure
    size: Amount  # bytes (for an array: of the whole array when fixed, else worked out from stride x count)
    type: str = "uint"
    lsb: int = -1  # a bit slice of the little-endian integer at `at`: bits lsb..msb (-1: the whole integer)
    msb: int = -1
    values: tuple[tuple[int, str], ...] = ()  # enum names, flag bit names, or special values of a number
    unit: str = ""
    scale: int = 1
    counts: str = ""  # the noun a count is of ("power states"): shown as "N power states"
    zero_based: bool = False  # the field holds one less than the number it stands for
    meaning: str = ""  # a named meaning function (nvtui.nvme.meanings)
    of: str = ""  # struct / array: the element structure's id
    stride: Amount | None = None  # array: bytes from one element to the next (None: each element's own size)
    count: Amount | None = None  # array: how many elements
    until_zero: str = ""  # array: stop at the first element whose field of this name is 0
    keep_if: str = ""  # array: only the elements whose field of this name is not 0
    index_as: str = ""  # array: each element gets a field of this name holding its index
    scale_field: str = ""  # watts: the field that picks the power-of-ten exponent in `scales`
    scales: tuple[tuple[int, int], ...] = ()
    line: int = 0
    # The field starts `at` plus this many bytes (after a list whose length the data gives); None: at `at`.
    at_plus: Amount | None = None


@dataclass(frozen=True)
class Layout:
    id: str
    name: str
    spec: str
    size: Amount
    fields: tuple[FieldSpec, ...]
    source: str = ""  # file it was declared in
    line: int = 0


@dataclass(frozen=True)
class LayoutError:
    """One problem in a structures file; `str()` is one line `FILE:LINE: STRUCTURE: field FIELD: MESSAGE`."""

    file: str
    line: int
    structure: str
    field: str
    message: str

    def __str__(self) -> str:
        from nvtui.errors import one_line

        parts = [f"{self.file}:{self.line}"]
        if self.structure:
            parts.append(self.structure)
        if self.field:
            parts.append(f"field {self.field}")
        parts.append(" ".join(self.message.split()))
        return one_line(": ".join(parts))


@dataclass(frozen=True)
class LayoutFile:
    """What one file declares: its valid layouts and one line per problem."""

    layouts: tuple[Layout, ...]
    errors: tuple[LayoutError, ...] = ()
