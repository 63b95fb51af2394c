"""The command catalogue: NVMe commands as data, field values -> `Command` and back.

`nvtui/commands.yaml` (and every user file) is validated by the pydantic schema below at load. One encoder
turns any entry plus field values into a `Command`; no command has its own packing code.

Field locations (`at:`): `nsid`, `cdw2`, `cdw3`, `cdw10`..`cdw15` (the whole dword), a bit slice
`cdw10[7:0]` or a single bit `cdw10[15]`, a 64-bit span `cdw10-11` (low dword first), or a list of these
for a split field whose value's low bits come first (Get Log Page NUMD: `[cdw10[31:16], cdw11[15:0]]`).
Raw entries (`raw: true`, `admin-passthru` / `io-passthru`) also place a field `at: opcode`.

0-based fields (`zero_based: true`: NLB, NUMD, NR, ...): the user gives the real count and the encoder
sends count-1, so `nlb=8` moves 8 blocks and CDW12 carries 7. This is the choice that loses less data:
someone who types the natural count gets exactly that many blocks, and someone used to nvme-cli's 0-based
`--block-count` who types 7 for 8 blocks gets 7 (a short transfer), never one block more than meant (an
overwrite of the next block). Where data goes with the command, its length is checked against the count,
which catches the off-by-one in either direction. `FieldDef.zero_based_note(value)` gives the line a
screen shows: "0-based: nlb=8 means 8 blocks, sent as 7".

Data length (`data.length`): a fixed byte count; `{field: F, unit: U}` (F's count times U bytes, U a number
or `lba` for the namespace's LBA size, or `{by: G, sizes: {...}}` for a unit picked by G's value);
`{by: F, sizes: {VALUE: BYTES}, otherwise: ...}` (bytes picked by F's value); `user` (--data-len required);
`optional` (--data-len if given, else no data).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nvtui.errors import UsageError, one_line
from nvtui.nvme.command import CDW_NAMES, U32_MAX, Command, DataDirection

if TYPE_CHECKING:
    from nvtui.catalogue_schema import EntryModel, FieldModel

__all__ = [
    "BUILTIN_CATALOGUE",
    "Catalogue",
    "CatalogueError",
    "CommandDef",
    "FieldDef",
    "check_file",
    "load_catalogue",
    "nvme_cli_line",
    "user_catalogue_dir",
]

BUILTIN_CATALOGUE = Path(__file__).with_name("commands.yaml")
DEVICE_NSID = "device"  # the `default` of an nsid field meaning "the opened namespace's ID"

_LOCATIONS = (*CDW_NAMES, "opcode")
_WIDTH = {**dict.fromkeys(CDW_NAMES, 32), "opcode": 8}
# re.ASCII: a bare \d also matches other scripts' digits (cdw10[٣] was taken as cdw10[3]).
_SLICE_RE = re.compile(r"^(?P<dw>[a-z0-9]+)(?:\[(?P<msb>\d+)(?::(?P<lsb>\d+))?\])?$", re.ASCII)
_SPAN_RE = re.compile(r"^cdw(?P<lo>\d+)-(?P<hi>\d+)$", re.ASCII)
_KEBAB = r"^[a-z0-9][a-z0-9-]*$"
_DEC_RE = re.compile(r"^[0-9]+$")
_HEX_RE = re.compile(r"^0[xX][0-9a-fA-F]+$")
_FLAG_WORDS = {"true": 1, "false": 0, "yes": 1, "no": 0, "on": 1, "off": 0}


def _close_matches(word: str, candidates: list[str], n: int, cutoff: float = 0.6) -> list[str]:
    """difflib's close matches, for "did you mean" hints (difflib is imported only when one is needed)."""
    import difflib

    return difflib.get_close_matches(word, candidates, n=n, cutoff=cutoff)


# --- errors ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogueError:
    """One problem in a catalogue file; `str()` is one line: `FILE:LINE: ENTRY-ID: field FIELD: MESSAGE`."""

    file: Path
    line: int
    field: str
    message: str
    entry: str = ""

    def __str__(self) -> str:
        parts = [f"{self.file}:{self.line}"]
        if self.entry:
            parts.append(self.entry)
        if self.field:
            parts.append(f"field {self.field}")
        parts.append(" ".join(self.message.split()))
        return one_line(": ".join(parts))  # keys, ids and file names may hold newlines too


class _EntryProblems(Exception):
    """Problems found while building one entry: (path within the entry, message) pairs."""

    def __init__(self, problems: list[tuple[tuple[Any, ...], str]]) -> None:
        super().__init__(problems)
        self.problems = problems


# --- runtime model ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Slice:
    """Bits lsb..msb of one location (a dword, nsid, or the opcode byte)."""

    location: str
    lsb: int
    msb: int

    @property
    def width(self) -> int:
        return self.msb - self.lsb + 1

    @property
    def mask(self) -> int:
        return ((1 << self.width) - 1) << self.lsb

    def __str__(self) -> str:
        if self.lsb == 0 and self.msb == _WIDTH[self.location] - 1:
            return self.location
        if self.lsb == self.msb:
            return f"{self.location}[{self.msb}]"
        return f"{self.location}[{self.msb}:{self.lsb}]"


def _fmt_num(value: int, big: bool) -> str:
    return f"{value:#x}" if big else str(value)


@dataclass(frozen=True)
class FieldDef:
    """One field of a command: where its bits live, its range and its named values."""

    name: str
    slices: tuple[Slice, ...]
    kind: str  # uint | enum | flag
    values: Mapping[str, int]
    default: int | None  # None: the opened namespace's ID (nsid fields with `default: device`)
    required: bool
    min: int
    max: int
    zero_based: bool
    help: str

    @property
    def width(self) -> int:
        return sum(s.width for s in self.slices)

    @property
    def location(self) -> str:
        if len(self.slices) == 2 and self._is_span():
            return f"{self.slices[0].location}-{self.slices[1].location.removeprefix('cdw')}"
        return ", ".join(str(s) for s in self.slices)

    def _is_span(self) -> bool:
        a, b = self.slices
        return a.width == 32 and b.width == 32 and a.location.startswith("cdw")

    def range_text(self) -> str:
        big = self.max > 0x10000
        return f"{_fmt_num(self.min, big)}-{_fmt_num(self.max, big)}"

    def zero_based_note(self, value: int | None = None) -> str:
        """For 0-based fields, what a value means and what goes on the wire; "" for other fields."""
        if not self.zero_based:
            return ""
        if value is None:
            return f"0-based in the spec: give the real count; {self.name}=N is sent as N-1"
        return f"0-based: {self.name}={value} means {value}, sent as {value - 1}"

    def name_of(self, value: int) -> str | None:
        for name, number in self.values.items():
            if number == value:
                return name
        return None

    def _range_error(self, shown: str) -> UsageError:
        note = f" ({self.zero_based_note()})" if self.zero_based else ""
        return UsageError(f"field {self.name}: {shown} out of range {self.range_text()}{note}")

    def check(self, value: int, shown: str | None = None) -> int:
        """`value` if in range; else a UsageError naming the field, the value (as typed) and the range."""
        if isinstance(value, bool) or not isinstance(value, int):
            raise UsageError(f"field {self.name}: {value!r} is not an integer (range {self.range_text()})")
        if value < 0:
            raise UsageError(f"field {self.name}: {value} is negative (range {self.range_text()})")
        if not self.min <= value <= self.max:
            raise self._range_error(shown or str(value))
        return value

    def parse(self, text: str) -> int:
        """A value as a person types it: decimal, 0x-hex, or one of the field's names."""
        s = text.strip()
        lowered = s.lower()
        if _DEC_RE.match(s):
            return self.check(int(s, 10))
        if _HEX_RE.match(s):
            return self.check(int(s, 16), shown=s)
        if lowered in self.values:
            return self.values[lowered]
        if self.kind == "flag" and lowered in _FLAG_WORDS:
            return _FLAG_WORDS[lowered]
        if re.match(r"^-\s*(0[xX][0-9a-fA-F]+|[0-9]+)$", s):
            raise UsageError(f"field {self.name}: {s} is negative (range {self.range_text()})")
        if self.values:
            close = _close_matches(lowered, list(self.values), n=3)
            hint = f"; did you mean {' or '.join(close)}?" if close else ""
            raise UsageError(
                f"field {self.name}: {text!r} is neither a number in range {self.range_text()} "
                f"nor one of {', '.join(self.values)}{hint}"
            )
        raise UsageError(
            f"field {self.name}: {text!r} is not a number (decimal or 0x-hex, range {self.range_text()})"
        )

    def wire(self, value: int) -> int:
        """The bits sent for a (checked) value."""
        return value - 1 if self.zero_based else value

    def from_wire(self, raw: int) -> int:
        return raw + 1 if self.zero_based else raw


@dataclass(frozen=True)
class ByValue:
    """A size picked by another field's value; values not listed fall back to `otherwise`."""

    by: str
    sizes: Mapping[int, int]
    otherwise: int | str  # bytes, "user" or "optional"


@dataclass(frozen=True)
class FromField:
    """Length = the field's count times `unit` bytes (a number, "lba", or a unit picked by value)."""

    field: str
    unit: int | str | ByValue


Length = int | str | FromField | ByValue | None


@dataclass(frozen=True)
class DecodeRule:
    when: Mapping[str, int]
    decoder: str
    context: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Expected:
    """The data length an entry's fields call for: bytes (with why), or who else decides."""

    kind: str  # "bytes" | "user" | "optional" | "lba-unknown"
    size: int = 0
    why: str = ""
    count: int = 0


@dataclass(frozen=True, eq=False)
class CommandDef:
    """One catalogue entry, ready to encode. The CLI and the TUI use only this and `Catalogue`."""

    id: str
    name: str
    set: str
    opcode: int
    queue: str  # admin | io
    spec: str
    help: str
    aliases: tuple[str, ...]
    fields: tuple[FieldDef, ...]
    declared_direction: DataDirection | None  # None for raw entries: the opcode decides
    length: Length
    metadata: bool
    decode_rules: tuple[DecodeRule, ...]
    result_decoder: str | None
    result_context: tuple[str, ...]
    destructive: bool
    refused: str | None
    raw: bool
    source: Path
    line: int = 0
    # For raw entries, bound by the catalogue: opcodes of non-destructive / refused entries on this queue.
    safe_opcodes: frozenset[int] = frozenset()
    refused_opcodes: Mapping[int, str] = field(default_factory=dict)

    # -- description --

    @property
    def admin(self) -> bool:
        return self.queue == "admin"

    @property
    def direction(self) -> DataDirection:
        """The declared data direction; raw entries say BIDIRECTIONAL (see `direction_of`)."""
        return self.declared_direction if self.declared_direction is not None else DataDirection.BIDIRECTIONAL

    def direction_of(self, values: Mapping[str, int]) -> DataDirection:
        if self.declared_direction is not None:
            return self.declared_direction
        return DataDirection.of_opcode(self._opcode_of(values))

    def field(self, name: str) -> FieldDef:
        for f in self.fields:
            if f.name == name:
                return f
        close = _close_matches(name, [f.name for f in self.fields], n=3)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise UsageError(
            f"{self.id}: unknown field {name!r} (fields: {', '.join(f.name for f in self.fields)}){hint}"
        )

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def is_destructive(self, values: Mapping[str, int] | None = None) -> bool:
        """Whether sending needs --allow-destructive. A raw command is destructive unless its opcode belongs
        to a non-destructive catalogue entry on the same queue."""
        if not self.raw:
            return self.destructive
        if values is None or "opcode" not in values:
            return True
        return values["opcode"] not in self.safe_opcodes

    def refusal(self, values: Mapping[str, int] | None = None) -> str | None:
        """Why this command is never sent, or None. Raw commands inherit the refusal of their opcode."""
        if self.refused:
            return self.refused
        if self.raw and values is not None and "opcode" in values:
            return self.refused_opcodes.get(values["opcode"])
        return None

    # -- values --

    def parse_values(self, assignments: Sequence[str] | Mapping[str, str]) -> dict[str, int]:
        """`FIELD=VALUE` strings (or a mapping) to checked integers, defaults filled in.

        An nsid field whose default is the opened namespace is left out unless given: `encode` fills it.
        """
        given: dict[str, int] = {}
        pairs: list[tuple[str, str]] = []
        if isinstance(assignments, Mapping):
            pairs = [(str(k), str(v)) for k, v in assignments.items()]
        else:
            for item in assignments:
                name, sep, value = item.partition("=")
                if not sep or not name.strip():
                    raise UsageError(f"{self.id}: expected FIELD=VALUE, got {item!r}")
                pairs.append((name, value))
        for name, text in pairs:
            fdef = self.field(name.strip().lower())
            if fdef.name in given:
                raise UsageError(f"field {fdef.name}: given twice")
            given[fdef.name] = fdef.parse(text)
        return self._complete(given, device_nsid=None)

    def _complete(self, values: Mapping[str, int], device_nsid: int | None) -> dict[str, int]:
        out: dict[str, int] = {}
        for name, value in values.items():
            self.field(name).check(value)  # unknown names and bad values first, never ignored
        for f in self.fields:
            if f.name in values:
                out[f.name] = values[f.name]
            elif f.required:
                raise UsageError(f"field {f.name}: required (range {f.range_text()})")
            elif f.default is None:
                if device_nsid is not None:
                    out[f.name] = f.check(device_nsid)
            else:
                out[f.name] = f.default
        return out

    def _opcode_of(self, values: Mapping[str, int]) -> int:
        if self.raw:
            if "opcode" not in values:
                raise UsageError(f"{self.id}: field opcode: required (range 0x00-0xff)")
            return values["opcode"]
        return self.opcode

    # -- encoding --

    def encode(
        self,
        values: Mapping[str, int],
        *,
        device_nsid: int = 0,
        lba_size: int | None = None,
        metadata_size: int = 0,
        data_len: int | None = None,
        data: bytes | None = None,
    ) -> Command:
        """Place every field's bits and work out the data (and separate metadata) length.

        Fields missing from `values` take their defaults (`device` nsid: `device_nsid`). An explicit
        `data_len` or `data` must agree with the length the fields call for.
        """
        full = self._complete(values, device_nsid)
        reason = self.refusal(full)
        if reason:
            raise UsageError(f"{self.id}: refused: {reason}")
        words = dict.fromkeys(_LOCATIONS, 0)
        for f in self.fields:
            if f.name not in full:
                continue
            bits = f.wire(full[f.name])
            for s in f.slices:
                words[s.location] |= (bits & ((1 << s.width) - 1)) << s.lsb
                bits >>= s.width
        opcode = words["opcode"] if self.raw else self.opcode
        direction = self.direction_of(full)
        length = self._data_length(full, direction, lba_size, data_len, data)
        metadata_len = 0
        if self.metadata and metadata_size > 0 and direction is not DataDirection.NONE:
            count = self._lba_count(full)
            if count is not None:
                metadata_len = count * metadata_size
                if metadata_len > U32_MAX:
                    raise UsageError(f"{self.id}: metadata of {metadata_len} bytes is over the 4 GiB limit")
        return Command(
            opcode=opcode, admin=self.admin, nsid=words["nsid"], cdw2=words["cdw2"], cdw3=words["cdw3"],
            cdw10=words["cdw10"], cdw11=words["cdw11"], cdw12=words["cdw12"], cdw13=words["cdw13"],
            cdw14=words["cdw14"], cdw15=words["cdw15"], data_len=length, metadata_len=metadata_len, data=data,
        )  # fmt: skip

    def _lba_count(self, values: Mapping[str, int]) -> int | None:
        if isinstance(self.length, FromField) and self.length.unit == "lba":
            return values.get(self.length.field)
        return None

    def expected_length(self, values: Mapping[str, int], lba_size: int | None = None) -> _Expected:
        """The data length the field values call for (before any --data-len)."""
        spec = self.length
        if self.direction_of(values) is DataDirection.NONE:
            return _Expected("bytes", 0, "no data transfer")
        if spec is None or spec == "optional":
            return _Expected("optional")
        if spec == "user":
            return _Expected("user")
        if isinstance(spec, int):
            return _Expected("bytes", spec, f"{self.id} always moves {spec} bytes")
        if isinstance(spec, ByValue):
            picked = values.get(spec.by, 0)
            if picked in spec.sizes:
                size = spec.sizes[picked]
                return _Expected("bytes", size, f"{spec.by}={self._show(spec.by, picked)} moves {size} bytes")
            return self._otherwise(spec, picked)
        assert isinstance(spec, FromField)
        count = values.get(spec.field, 0)
        unit = spec.unit
        if isinstance(unit, ByValue):
            picked = values.get(unit.by, 0)
            if picked not in unit.sizes:
                return self._otherwise(unit, picked)
            unit = unit.sizes[picked]
        if unit == "lba":
            if lba_size is None:
                return _Expected("lba-unknown", count=count)
            size = count * lba_size
            return _Expected(
                "bytes", size, f"{spec.field}={count} x {lba_size}-byte LBAs = {size} bytes", count
            )
        assert isinstance(unit, int)
        size = count * unit
        return _Expected("bytes", size, f"{spec.field}={count} x {unit} bytes = {size} bytes", count)

    def _otherwise(self, spec: ByValue, picked: int) -> _Expected:
        if isinstance(spec.otherwise, int):
            return _Expected("bytes", spec.otherwise, f"{spec.by}={picked} moves {spec.otherwise} bytes")
        return _Expected(spec.otherwise)

    def _show(self, name: str, value: int) -> str:
        f = self.field(name)
        return f.name_of(value) or str(value)

    def _data_length(
        self,
        values: Mapping[str, int],
        direction: DataDirection,
        lba_size: int | None,
        data_len: int | None,
        data: bytes | None,
    ) -> int:
        if data_len is not None and data_len < 0:
            raise UsageError(f"{self.id}: --data-len {data_len} is negative")
        if direction is DataDirection.NONE:
            if data_len:
                raise UsageError(f"{self.id} transfers no data, but --data-len {data_len} was given")
            if data:
                raise UsageError(f"{self.id} transfers no data, but {len(data)} bytes of data were given")
            return 0
        if data is not None and direction is DataDirection.CONTROLLER_TO_HOST:
            raise UsageError(f"{self.id} reads data from the controller; there is no data to send with it")
        expected = self.expected_length(values, lba_size)
        given = data_len if data_len is not None else (len(data) if data is not None else None)
        if expected.kind == "bytes":
            length = expected.size
            if data_len is not None and data_len != length:
                raise UsageError(f"{self.id}: --data-len {data_len} disagrees with {expected.why}")
        elif expected.kind == "lba-unknown":
            if given is None:
                raise UsageError(
                    f"{self.id}: the namespace's LBA size is unknown; give --data-len "
                    f"for {expected.count} blocks"
                )
            if expected.count == 0 or given % expected.count:
                raise UsageError(
                    f"{self.id}: --data-len {given} is not a whole number of {expected.count} blocks"
                )
            length = given
        elif expected.kind == "user":
            if given is None:
                raise UsageError(f"{self.id}: give --data-len (the length is not tied to any field)")
            length = given
        else:  # optional
            length = given or 0
        if length > U32_MAX:
            raise UsageError(f"{self.id}: {length} bytes is over the 4 GiB passthrough limit")
        if data is not None and len(data) != length:
            raise UsageError(
                f"{self.id}: the data is {len(data)} bytes but the command moves {length} bytes"
                + (f" ({expected.why})" if expected.why else "")
            )
        return length

    # -- decoding --

    def decode_fields(self, cmd: Command) -> dict[str, int]:
        """Field values from a command: the inverse of `encode` (0-based fields back to counts)."""
        out: dict[str, int] = {}
        for f in self.fields:
            raw = 0
            shift = 0
            for s in f.slices:
                word = cmd.opcode if s.location == "opcode" else getattr(cmd, s.location)
                raw |= ((word >> s.lsb) & ((1 << s.width) - 1)) << shift
                shift += s.width
            out[f.name] = f.from_wire(raw)
        return out

    def decoder_for(self, values: Mapping[str, int]) -> str | None:
        """The decoder for the returned data: the first rule whose `when` matches."""
        rule = self._rule_for(values)
        return rule.decoder if rule else None

    def _rule_for(self, values: Mapping[str, int]) -> DecodeRule | None:
        for rule in self.decode_rules:
            if all(values.get(k) == v for k, v in rule.when.items()):
                return rule
        return None

    def decoder_context(self, values: Mapping[str, int]) -> dict[str, int]:
        """Keyword context the chosen decoder asks for (by field name)."""
        rule = self._rule_for(values)
        return {k: values[k] for k in (rule.context if rule else ()) if k in values}

    def result_decoder_context(self, values: Mapping[str, int]) -> dict[str, int]:
        """Context for `result_decoder` (applied to the completion's DW0), e.g. {'fid': 6}."""
        return {k: values[k] for k in self.result_context if k in values}

    def problems(self, cmd: Command) -> list[str]:
        """What looks wrong in a command meant as this entry: direction vs opcode bits, reserved bits."""
        out: list[str] = []
        if cmd.admin != self.admin:
            out.append(f"{self.id} goes to the {self.queue} queue, this command to the other one")
        if not self.raw and cmd.opcode != self.opcode:
            out.append(f"opcode {cmd.opcode:#04x} is not {self.id}'s {self.opcode:#04x}")
        values = self.decode_fields(cmd)
        expected = self.expected_length(values)
        no_data_ok = expected.kind == "optional" or (expected.kind == "bytes" and expected.size == 0)
        for p in cmd.direction_problems(self.declared_direction):
            if no_data_ok and cmd.data_len == 0 and p.endswith("but data_len is 0"):
                continue  # the spec moves data only for some values (Get Features of most FIDs, zone reset)
            out.append(p)
        covered = dict.fromkeys(CDW_NAMES, 0)
        for f in self.fields:
            for s in f.slices:
                if s.location in covered:
                    covered[s.location] |= s.mask
        for name in CDW_NAMES:
            stray = getattr(cmd, name) & ~covered[name] & U32_MAX
            if stray:
                out.append(
                    f"{name} bits {_bit_ranges(stray)} are reserved in {self.id} but set ({stray:#010x})"
                )
        for f in self.fields:
            if not f.min <= values[f.name] <= f.max:
                out.append(f"field {f.name}: {values[f.name]} out of range {f.range_text()}")
        return out


def _bit_ranges(mask: int) -> str:
    runs: list[str] = []
    bit = 0
    while mask >> bit:
        if mask >> bit & 1:
            start = bit
            while mask >> (bit + 1) & 1:
                bit += 1
            runs.append(f"{bit}:{start}" if bit != start else str(bit))
        bit += 1
    return ", ".join(reversed(runs))


# --- building entries from validated models --------------------------------------------------------------


def _parse_location(text: str) -> tuple[Slice, ...]:
    text = text.strip()
    span = _SPAN_RE.match(text)
    if span:
        lo, hi = f"cdw{span['lo']}", f"cdw{span['hi']}"
        if lo not in CDW_NAMES or hi not in CDW_NAMES or CDW_NAMES.index(hi) != CDW_NAMES.index(lo) + 1:
            raise ValueError(f"{text!r}: a span joins two consecutive dwords, e.g. cdw10-11")
        return (Slice(lo, 0, 31), Slice(hi, 0, 31))
    m = _SLICE_RE.match(text)
    if not m or m["dw"] not in _LOCATIONS:
        raise ValueError(
            f"unknown location {text!r} (nsid, cdw2, cdw3, cdw10..cdw15, opcode; "
            f"slices like cdw10[7:0], spans like cdw10-11)"
        )
    loc, width = m["dw"], _WIDTH[m["dw"]]
    if m["msb"] is None:
        return (Slice(loc, 0, width - 1),)
    msb = int(m["msb"])
    lsb = int(m["lsb"]) if m["lsb"] is not None else msb
    if not 0 <= lsb <= msb <= width - 1:
        raise ValueError(f"bit slice {text!r} out of range: bits are {width - 1}:0, high bit first")
    return (Slice(loc, lsb, msb),)


def _resolve_decoders() -> frozenset[str] | None:
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
            slices.extend(_parse_location(at))
        except ValueError as exc:
            problems.append(((*path, "at") if isinstance(fm.at, str) else (*path, "at", i), str(exc)))
    width = sum(s.width for s in slices)
    values = dict(fm.values or {})
    if fm.type == "enum" and not values:
        problems.append(((*path, "values"), "an enum needs values (name: number)"))
    if fm.type != "enum" and fm.values and fm.name != "nsid":
        problems.append(((*path, "values"), f"only enum fields have named values (this one is {fm.type})"))
    if fm.type == "flag" and slices and width != 1:
        problems.append(((*path, "at"), f"a flag is one bit, this location has {width}"))
    for vname, number in values.items():
        if not re.match(_KEBAB, vname):
            problems.append(((*path, "values", vname), f"value name {vname!r} must be lowercase kebab-case"))
        elif slices and not 0 <= number < (1 << width):
            problems.append(((*path, "values", vname), f"{number:#x} does not fit in {width} bits"))
    if len(problems) > start:
        return None
    lo = 1 if fm.zero_based else 0
    hi = (1 << width) if fm.zero_based else (1 << width) - 1
    fmin = fm.min if fm.min is not None else lo
    fmax = fm.max if fm.max is not None else hi
    if fmin < lo or fmax > hi or fmin > fmax:
        problems.append(((*path, "max" if fm.max is not None else "min"),
                         f"range {fmin}-{fmax} does not fit the field's bits ({lo}-{hi})"))  # fmt: skip
        return None
    default: int | None
    if fm.default is None:
        default = fmin
    elif isinstance(fm.default, str):
        if fm.default == DEVICE_NSID and fm.name == "nsid":
            default = None
        elif fm.default in values:
            default = values[fm.default]
        else:
            choices = ", ".join(values) if values else "none"
            problems.append(
                ((*path, "default"), f"{fm.default!r} is not one of the field's values ({choices})")
            )
            return None
    else:
        default = fm.default
    if default is not None and not fmin <= default <= fmax:
        problems.append(((*path, "default"), f"{default} out of range {fmin}-{fmax}"))
        return None
    return FieldDef(
        name=fm.name, slices=tuple(slices), kind=fm.type, values=values, default=default,
        required=fm.required, min=fmin, max=fmax, zero_based=fm.zero_based, help=fm.help,
    )  # fmt: skip


def _value_of(fdef: FieldDef, raw: int | str) -> int:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return fdef.check(raw)
    if isinstance(raw, str) and raw in fdef.values:
        return fdef.values[raw]
    raise UsageError(f"{raw!r} is not one of {fdef.name}'s values ({', '.join(fdef.values) or 'none'})")


def _build_by_value(
    raw: Any,
    path: tuple[Any, ...],
    fields: Mapping[str, FieldDef],
    problems: list[tuple[tuple[Any, ...], str]],
) -> ByValue | None:
    if (
        not isinstance(raw, dict)
        or set(raw) - {"by", "sizes", "otherwise"}
        or "by" not in raw
        or "sizes" not in raw
    ):
        problems.append((path, "expected {by: FIELD, sizes: {VALUE: BYTES}, otherwise: BYTES|user|optional}"))
        return None
    by = raw["by"]
    if not isinstance(by, str) or by not in fields:  # a list or mapping here is unhashable
        problems.append(((*path, "by"), f"no field named {by!r}"))
        return None
    sizes: dict[int, int] = {}
    if not isinstance(raw["sizes"], dict):
        problems.append(((*path, "sizes"), "expected a mapping VALUE: BYTES"))
        return None
    for key, size in raw["sizes"].items():
        try:
            number = _value_of(fields[by], key)
        except UsageError as exc:
            problems.append(((*path, "sizes", key), str(exc)))
            continue
        if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= U32_MAX:
            problems.append(((*path, "sizes", key), f"size must be a byte count, got {size!r}"))
            continue
        sizes[number] = size
    otherwise = raw.get("otherwise", "optional")
    if not (
        otherwise in ("user", "optional") or (isinstance(otherwise, int) and not isinstance(otherwise, bool))
    ):
        problems.append(((*path, "otherwise"), f"expected bytes, user or optional, got {otherwise!r}"))
        return None
    return ByValue(by, sizes, otherwise)


def _build_length(
    raw: Any,
    path: tuple[Any, ...],
    fields: Mapping[str, FieldDef],
    problems: list[tuple[tuple[Any, ...], str]],
) -> Length:
    if raw is None:
        return None
    if isinstance(raw, bool):
        problems.append((path, "expected bytes, user, optional or a mapping"))
        return None
    if isinstance(raw, int):
        if not 0 <= raw <= U32_MAX:
            problems.append((path, f"{raw} bytes out of range 0-{U32_MAX:#x}"))
        return raw
    if isinstance(raw, str):
        if raw not in ("user", "optional"):
            problems.append((path, f"expected bytes, user or optional, got {raw!r}"))
        return raw
    if isinstance(raw, dict) and "by" in raw:
        return _build_by_value(raw, path, fields, problems)
    if not isinstance(raw, dict) or set(raw) - {"field", "unit"} or "field" not in raw:
        problems.append((path, "expected {field: FIELD, unit: BYTES|lba|{by: ..., sizes: ...}}"))
        return None
    name = raw["field"]
    if not isinstance(name, str) or name not in fields:  # a list or mapping here is unhashable
        problems.append(((*path, "field"), f"no field named {name!r}"))
        return None
    unit = raw.get("unit", 1)
    if isinstance(unit, dict):
        picked = _build_by_value(unit, (*path, "unit"), fields, problems)
        return FromField(name, picked) if picked else None
    if unit != "lba" and (not isinstance(unit, int) or isinstance(unit, bool) or unit <= 0):
        problems.append(((*path, "unit"), f"expected a positive byte count or lba, got {unit!r}"))
        return None
    return FromField(name, unit)


def _build_entry(model: EntryModel, source: Path, line: int, decoders: frozenset[str] | None) -> CommandDef:
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
    if "nsid" not in names:
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
            close = _close_matches(decoder, sorted(decoders), n=2)
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
            if key not in by_name:
                problems.append(((*path, "context"), f"no field named {key!r}"))
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
        if not re.match(_KEBAB, alias):
            problems.append((("aliases", i), f"alias {alias!r} must be lowercase kebab-case"))
    if problems:
        raise _EntryProblems(problems)
    return CommandDef(
        id=model.id, name=model.name, set=model.set, opcode=opcode, queue=model.queue, spec=model.spec,
        help=model.help, aliases=tuple(model.aliases), fields=tuple(fields), declared_direction=declared,
        length=length, metadata=model.data.metadata, decode_rules=tuple(rules), result_decoder=result_decoder,
        result_context=result_context, destructive=model.destructive or model.raw, refused=model.refused,
        raw=model.raw, source=source, line=line,
    )  # fmt: skip


def _pydantic_path(data: Any, loc: Sequence[Any], missing: bool) -> tuple[Any, ...]:
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


# --- loading files ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _FileResult:
    entries: tuple[CommandDef, ...]
    errors: tuple[CatalogueError, ...]


_CACHE: dict[tuple[str, int, int, frozenset[str] | None], _FileResult] = {}


def _load_file(path: Path, decoders: frozenset[str] | None) -> _FileResult:
    try:
        st = path.stat()
        key = (str(path), st.st_mtime_ns, st.st_size, decoders)
    except OSError as exc:
        return _FileResult((), (CatalogueError(path, 0, "", f"cannot read: {exc.strerror or exc}"),))
    cached = _CACHE.get(key)
    if cached is None:
        cached = _load_validated(path, decoders)
        _CACHE[key] = cached
    return cached


# The modules whose code decides what a file validates to (the disk cache's key includes their stamps).
_VALIDATING_MODULES = ("catalogue.py", "catalogue_schema.py", "yamlio.py", "errors.py", "nvme/command.py")
_VALIDATING_PACKAGES = ("pydantic", "pydantic_core", "yaml")


def _load_validated(path: Path, decoders: frozenset[str] | None) -> _FileResult:
    """`_parse_file`'s result, from the disk cache when this file's bytes were validated before."""
    from nvtui import diskcache

    try:
        raw = path.read_bytes()
    except OSError as exc:
        return _FileResult((), (CatalogueError(path, 0, "", f"cannot read: {exc.strerror or exc}"),))
    package = Path(__file__).parent
    code = diskcache.code_stamp((package / m for m in _VALIDATING_MODULES), _VALIDATING_PACKAGES)
    key = diskcache.make_key("catalogue", raw, str(path), sorted(decoders or ()), code)
    cached = diskcache.load("catalogue", key)
    if isinstance(cached, _FileResult):
        return cached
    result = _parse_bytes(path, raw, decoders)
    diskcache.store("catalogue", key, result)
    return result


def _parse_file(path: Path, decoders: frozenset[str] | None) -> _FileResult:
    """Read and validate one catalogue file (no cache)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return _FileResult((), (CatalogueError(path, 0, "", f"cannot read: {exc.strerror or exc}"),))
    return _parse_bytes(path, raw, decoders)


def _parse_bytes(path: Path, raw: bytes, decoders: frozenset[str] | None) -> _FileResult:
    from pydantic import ValidationError

    from nvtui.catalogue_schema import EntryModel, FileModel
    from nvtui.yamlio import YamlSyntaxError, dotted, line_of, parse_yaml

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        return _FileResult(
            (), (CatalogueError(path, line, "", f"not UTF-8 text: {exc.reason} at byte {exc.start}"),)
        )
    try:
        doc = parse_yaml(text, str(path))
    except YamlSyntaxError as exc:
        return _FileResult((), (CatalogueError(path, exc.line, "", exc.detail),))
    data, lines, duplicates = doc.data, doc.lines, doc.duplicates
    errors: list[CatalogueError] = []
    if not isinstance(data, dict):
        return _FileResult((), (CatalogueError(path, 1, "", "expected a mapping with a `commands:` list"),))
    try:
        FileModel.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            where = _pydantic_path(data, err["loc"], err["type"] == "missing")
            errors.append(CatalogueError(path, line_of(lines, where), dotted(where), err["msg"]))
        if not isinstance(data.get("commands"), list):
            return _FileResult((), tuple(errors))
    bad_entries: set[int] = set()
    for dpath, line, name in duplicates:
        if dpath[:1] == ("commands",) and len(dpath) > 2 and isinstance(dpath[1], int):
            bad_entries.add(dpath[1])
            entry_id = _entry_label(data["commands"], dpath[1])
            errors.append(
                CatalogueError(path, line, dotted(dpath[2:]), f"key {name!r} given twice", entry_id)
            )
        else:
            errors.append(CatalogueError(path, line, dotted(dpath), f"key {name!r} given twice"))
    entries: list[CommandDef] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(data["commands"]):
        base = ("commands", i)
        label = _entry_label(data["commands"], i)
        if i in bad_entries:
            continue
        if not isinstance(raw, dict):
            errors.append(CatalogueError(path, line_of(lines, base), "", "an entry is a mapping", label))
            continue
        try:
            model = EntryModel.model_validate(raw)
        except ValidationError as exc:
            reported: set[str] = set()
            for err in exc.errors():
                where = _pydantic_path(raw, err["loc"], err["type"] == "missing")
                shown = dotted(where)
                if shown in reported:
                    continue  # one line per place (a union reports each branch)
                reported.add(shown)
                errors.append(CatalogueError(path, line_of(lines, base + where), shown, err["msg"], label))
            continue
        if model.id in seen:
            message = f"duplicate id: also defined at line {seen[model.id]}"
            errors.append(CatalogueError(path, line_of(lines, (*base, "id")), "id", message, label))
            continue
        line = line_of(lines, base)
        seen[model.id] = line
        try:
            entries.append(_build_entry(model, path, line, decoders))
        except _EntryProblems as exc:
            for where, message in exc.problems:
                errors.append(
                    CatalogueError(path, line_of(lines, base + where), dotted(where), message, label)
                )
    return _FileResult(tuple(entries), tuple(errors))


def _entry_label(commands: list[Any], i: int) -> str:
    raw = commands[i]
    if isinstance(raw, dict) and isinstance(raw.get("id"), str):
        return str(raw["id"])
    return f"commands[{i}]"


# --- the catalogue ---------------------------------------------------------------------------------------


@dataclass
class Catalogue:
    """Every loaded entry (later files override earlier ones by id) and the problems found on the way."""

    entries: list[CommandDef] = field(default_factory=list)
    errors: list[CatalogueError] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._index()

    def _index(self) -> None:
        self._by_id = {e.id: e for e in self.entries}
        self._by_alias: dict[str, CommandDef] = {}
        for e in self.entries:
            for alias in e.aliases:
                if alias not in self._by_id:
                    self._by_alias.setdefault(alias, e)

    def __iter__(self) -> Iterator[CommandDef]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._by_id or name in self._by_alias)

    def get(self, name: str) -> CommandDef:
        """An entry by id or alias; `UsageError` naming close matches otherwise."""
        key = name.strip().lower()
        found = self._by_id.get(key) or self._by_alias.get(key)
        if found is not None:
            return found
        names = [*self._by_id, *self._by_alias]
        close = _close_matches(key, names, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else "; `nvtui catalogue list` shows them all"
        raise UsageError(f"unknown command {name!r}{hint}")

    def by_set(self) -> dict[str, list[CommandDef]]:
        out: dict[str, list[CommandDef]] = {}
        for e in self.entries:
            out.setdefault(e.set, []).append(e)
        return out

    def source_of(self, name: str) -> Path:
        """The file the entry (by id or alias) was loaded from."""
        return self.get(name).source


def user_catalogue_dir() -> Path:
    """`$XDG_CONFIG_HOME/nvtui/commands.d` (default `~/.config/nvtui/commands.d`)."""
    base = os.environ.get("XDG_CONFIG_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / "nvtui" / "commands.d"


def load_catalogue(extra_files: Sequence[Path] = (), *, user_dir: bool = True) -> Catalogue:
    """The built-in catalogue, then `user_catalogue_dir()/*.yaml` (sorted), then each extra file.

    A later entry with the same id replaces an earlier one in place. Bad entries and files are skipped and
    recorded in `Catalogue.errors`; everything else still loads.
    """
    decoders = _resolve_decoders()
    files = [BUILTIN_CATALOGUE]
    if user_dir:
        directory = user_catalogue_dir()
        if directory.is_dir():
            files.extend(sorted(p for p in directory.glob("*.yaml") if p.is_file()))
    files.extend(Path(p) for p in extra_files)
    order: dict[str, CommandDef] = {}
    errors: list[CatalogueError] = []
    for path in files:
        result = _load_file(path, decoders)
        errors.extend(result.errors)
        for entry in result.entries:
            order[entry.id] = entry  # dict keeps the first position, takes the last value
    entries = _bind_raw(list(order.values()))
    return Catalogue(entries=entries, errors=errors, files=files)


def _bind_raw(entries: list[CommandDef]) -> list[CommandDef]:
    """Give raw entries the opcodes that are safe (non-destructive) or refused on their queue."""
    out: list[CommandDef] = []
    for e in entries:
        if e.raw:
            same = [o for o in entries if not o.raw and o.queue == e.queue]
            unsafe = {o.opcode for o in same if o.destructive or o.refused}
            safe = frozenset(o.opcode for o in same if not o.destructive and not o.refused) - unsafe
            refused = {o.opcode: f"opcode {o.opcode:#04x} is {o.id}: {o.refused}" for o in same if o.refused}
            e = replace(e, safe_opcodes=safe, refused_opcodes=refused)
        out.append(e)
    return out


def check_file(path: Path) -> list[CatalogueError]:
    """Every problem in one catalogue file, checked on its own (for `nvtui catalogue check FILE`)."""
    return list(_load_file(Path(path), _resolve_decoders()).errors)


# --- nvme-cli ------------------------------------------------------------------------------------------


def nvme_cli_line(
    defn: CommandDef, cmd: Command, device_path: str, *, input_file: str | None = None,
    metadata_file: str | None = None,
) -> str:  # fmt: skip
    """The nvme-cli passthrough command line that sends exactly `cmd`.

    Data for write-direction commands comes from `input_file`; without one, `/dev/zero` when the data is
    all zeros (or absent), else `data.bin` (the caller should save the data there, or name its file).
    """
    import shlex

    args = [
        "nvme", "admin-passthru" if cmd.admin else "io-passthru", shlex.quote(device_path),
        f"--opcode={cmd.opcode:#04x}", f"--namespace-id={cmd.nsid}",
    ]  # fmt: skip
    if cmd.flags:
        args.append(f"--flags={cmd.flags:#x}")
    for name in CDW_NAMES[1:]:
        value = getattr(cmd, name)
        if value:
            args.append(f"--{name}={value:#x}")
    if cmd.timeout_ms:
        args.append(f"--timeout={cmd.timeout_ms}")
    direction = cmd.direction
    if cmd.data_len:
        args.append(f"--data-len={cmd.data_len}")
        if direction in (DataDirection.CONTROLLER_TO_HOST, DataDirection.BIDIRECTIONAL):
            args.append("--read")
        if direction in (DataDirection.HOST_TO_CONTROLLER, DataDirection.BIDIRECTIONAL):
            args.append("--write")
            source = input_file or ("/dev/zero" if not cmd.data or not any(cmd.data) else "data.bin")
            args.append(f"--input-file={shlex.quote(source)}")
    if cmd.metadata_len:
        args.append(f"--metadata-len={cmd.metadata_len}")
        if direction in (DataDirection.HOST_TO_CONTROLLER, DataDirection.BIDIRECTIONAL):
            meta = metadata_file or (
                "/dev/zero" if not cmd.metadata or not any(cmd.metadata) else "metadata.bin"
            )
            args.append(f"--metadata={shlex.quote(meta)}")
    return " ".join(args)
