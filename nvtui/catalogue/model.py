"""The catalogue's runtime model: entries ready to encode, field values -> `Command` and back.

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

Field types (`type:`): `uint` (default), `enum` (named `values:`), `flag` (one bit), and `bytes`: a byte
string such as a Key Value key, `{type: bytes, at: [cdw2, cdw3, cdw14, cdw15], max_bytes: 16, min_bytes: 1,
length_field: kl}`. Its bytes fill its locations in order, little-endian within each dword (byte 0 in CDW2
bits 7:0, byte 4 in CDW3 bits 7:0, byte 8 in CDW14 bits 7:0); its value is held as the integer those bits
make, so the one encoder places it and `decode_fields` reads it back, and its length is the value of
`length_field`, which `parse_given` sets from the key (a given length must agree). It is typed as text
(`key=user42`, UTF-8), as 0x-hex bytes in order (`key=0x75736572`: two digits a byte, so `0x0001` is two
bytes), or as `text:` and text for a text that starts with 0x (`key=text:0x1`). A key longer than
`max_bytes`, shorter than `min_bytes`, bad hex, or a length that disagrees is a one-line error: a key is
never truncated. `CommandDef.text_of` prints it back the way it is typed.

Data length (`data.length`): a fixed byte count; `{field: F, unit: U}` (F's count times U bytes, U a number
or `lba` for the namespace's LBA size, or `{by: G, sizes: {...}}` for a unit picked by G's value);
`{by: F, sizes: {VALUE: BYTES}, otherwise: ...}` (bytes picked by F's value); `user` (--data-len required);
`optional` (--data-len if given, else no data).

Built data (`data.build`): an entry whose host buffer is a known structure names the layout and the fields
of it a user may give, `build: {structure: identify-namespace, fields: [{name: nsze}, ...]}`. They are given
like the command's own fields (`nsze=2048`), their ranges are the layout field's bits (read from the layout
when first needed, so a start loads no layout), and `encode` builds the buffer through
`nvtui.structures.encode`: the fields not given are zero. `structure: {by: F, structures: {VALUE: LAYOUT},
otherwise: LAYOUT}` picks the layout by a command field's value, and a buffer field the picked layout lacks
is refused. A field that fills an array of one-number
elements (`{name: ctrlids, at: ids.id}`) is a list, typed `1,2,3`; the array's count field is set from it.
Its value is held, like any field's, as one integer: the numbers packed from the low bits, `item_bits`
each, under one marker bit that keeps the count (so a list may end in zeros). A buffer given as data (a
file, a script's data) and buffer fields together are refused: one says what the buffer holds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nvtui.errors import UsageError, one_line
from nvtui.numbers import NumberTooLong, parse_number
from nvtui.nvme.command import CDW_NAMES, U32_MAX, Command, DataDirection
from nvtui.nvme.timeouts import DEFAULT_TIMEOUT_S

if TYPE_CHECKING:
    from nvtui.backend.base import SimulatedAnswer

DEVICE_NSID = "device"  # the `default` of an nsid field meaning "the opened namespace's ID"

LOCATIONS = (*CDW_NAMES, "opcode")
WIDTH = {**dict.fromkeys(CDW_NAMES, 32), "opcode": 8}
# re.ASCII: a bare \d also matches other scripts' digits (cdw10[٣] was taken as cdw10[3]).
SLICE_RE = re.compile(r"^(?P<dw>[a-z0-9]+)(?:\[(?P<msb>\d+)(?::(?P<lsb>\d+))?\])?$", re.ASCII)
SPAN_RE = re.compile(r"^cdw(?P<lo>\d+)-(?P<hi>\d+)$", re.ASCII)
KEBAB = r"^[a-z0-9][a-z0-9-]*$"
# How a refusal names a transport (the keys are the kernel's, as in /sys/class/nvme/nvmeX/transport).
TRANSPORT_NAMES = {
    "pcie": "PCIe", "tcp": "NVMe/TCP", "rdma": "NVMe/RDMA", "fc": "NVMe/FC", "loop": "NVMe loop",
}  # fmt: skip
_FLAG_WORDS = {"true": 1, "false": 0, "yes": 1, "no": 0, "on": 1, "off": 0}
# The Key Value command set (CSI 01h) reuses NVM opcodes for other commands (01h is Write there, Store
# here): its entries are a KV namespace's only, and on a KV namespace an NVM (or Zoned, which builds on
# NVM) entry whose opcode a KV entry has is not the command (Flush and the reservation commands, which
# the KV set shares, are).
KV_SET = "kv"
NVM_BASED_SETS = frozenset({"nvm", "zns"})


def close_matches(word: str, candidates: list[str], n: int, cutoff: float = 0.6) -> list[str]:
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
        if self.lsb == 0 and self.msb == WIDTH[self.location] - 1:
            return self.location
        if self.lsb == self.msb:
            return f"{self.location}[{self.msb}]"
        return f"{self.location}[{self.msb}:{self.lsb}]"


def _shown(text: str) -> str:
    """A value as an error quotes it: whole when short, else its start and its length."""
    return text if len(text) <= 60 else f"{text[:24]}... ({len(text):,} characters)"


def _fmt_num(value: int, big: bool) -> str:
    return f"{value:#x}" if big else str(value)


@dataclass(frozen=True)
class DefaultBy:
    """A default picked by another field's value (`default: {by: cns, defaults: {...}, otherwise: 0}`):
    Identify's NSID is the namespace for the CNS values that name one, 0 where the CNS does not use it.
    A default of None stands for `device` (the opened namespace's ID)."""

    by: str
    defaults: Mapping[int, int | None]
    otherwise: int | None

    def pick(self, value: int | None) -> int | None:
        if value is not None and value in self.defaults:
            return self.defaults[value]
        return self.otherwise


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
    default_by: DefaultBy | None = None  # a default chosen by another field's value (`default` = otherwise)
    fixed_by: str | None = None  # the preset whose id fixes this field's value (min = max = default)
    # `bytes` fields: at most / at least this many bytes, their count carried by the field `length_field`.
    max_bytes: int = 0
    min_bytes: int = 0
    length_field: str | None = None
    # A field of the built data buffer (`data.build`): the layout field it fills ("" for a command field);
    # for a list (`kind == "list"`), `array.element`, each number `item_bits` wide, at most `max_items`.
    buffer: str = ""
    item_bits: int = 0
    max_items: int = 0

    @property
    def width(self) -> int:
        return sum(s.width for s in self.slices)

    @property
    def location(self) -> str:
        if self.buffer:
            return f"data {self.buffer}"
        if len(self.slices) == 2 and self._is_span():
            return f"{self.slices[0].location}-{self.slices[1].location.removeprefix('cdw')}"
        return ", ".join(str(s) for s in self.slices)

    def _is_span(self) -> bool:
        a, b = self.slices
        return a.width == 32 and b.width == 32 and a.location.startswith("cdw")

    def range_text(self) -> str:
        if self.kind == "bytes":
            return f"{self.min_bytes}-{self.max_bytes} bytes, text or 0x-hex"
        if self.kind == "list":
            most = (1 << self.item_bits) - 1
            return f"1-{self.max_items} numbers 0-{_fmt_num(most, most > 0x10000)}, comma-separated"
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
        if self.fixed_by is not None:
            fixed = self.name_of(self.min) or str(self.min)
            return UsageError(
                f"field {self.name}: {self.fixed_by} fixes it to {fixed} "
                f"(range {self.range_text()}), not {shown}"
            )
        note = f" ({self.zero_based_note()})" if self.zero_based else ""
        return UsageError(f"field {self.name}: {shown} out of range {self.range_text()}{note}")

    def check(self, value: int, shown: str | None = None) -> int:
        """`value` if in range; else a UsageError naming the field, the value (as typed) and the range."""
        if isinstance(value, bool) or not isinstance(value, int):
            raise UsageError(f"field {self.name}: {value!r} is not an integer (range {self.range_text()})")
        if value < 0:
            raise UsageError(f"field {self.name}: {value} is negative (range {self.range_text()})")
        if self.kind == "list":
            count, rest = divmod(value.bit_length() - 1, self.item_bits)
            if rest or not 1 <= count <= self.max_items:
                raise UsageError(f"field {self.name}: not a list of {self.range_text()}")
            return value
        if not self.min <= value <= self.max:
            raise self._range_error(shown or str(value))
        return value

    # -- byte strings (`bytes` fields: a KV key) --
    #
    # A byte string's value, like any field's, is the integer its locations carry: its bytes little-endian,
    # byte 0 in the low bits of the first location (a KV key's byte 0 in CDW2 bits 7:0, byte 15 in CDW15
    # bits 31:24). Its length is the value of its length field, so a key may end in zero bytes.

    def parse_bytes(self, text: str) -> bytes:
        """A byte string as typed: 0x-hex (`0x75736572`: the bytes in order, two digits each), `text:`
        followed by text taken as it is (`text:0x1` is the three bytes "0x1"), or any other text (UTF-8).
        UsageError naming the field and the allowed length when it is empty, too long or bad hex."""
        if text.startswith("text:"):
            raw = text[len("text:") :].encode("utf-8", "surrogateescape")
        elif text[:2] in ("0x", "0X"):
            digits = text[2:]
            if not re.fullmatch(r"[0-9a-fA-F]*", digits, re.ASCII):
                bad = next(c for c in digits if c not in "0123456789abcdefABCDEF")
                raise UsageError(
                    f"field {self.name}: {_shown(text)} is not hex ({bad!r}); a key that is text starting "
                    f"with 0x is given as text:{_shown(text)} ({self.range_text()})"
                )
            if len(digits) % 2:
                raise UsageError(
                    f"field {self.name}: {_shown(text)} has an odd number of hex digits (two per byte; "
                    f"{self.range_text()})"
                )
            raw = bytes.fromhex(digits)
        else:
            raw = text.encode("utf-8", "surrogateescape")
        if len(raw) > self.max_bytes:
            raise UsageError(
                f"field {self.name}: {_shown(text)} is {len(raw)} bytes, longer than {self.max_bytes} "
                f"(allowed {self.range_text()}; never truncated)"
            )
        if len(raw) < self.min_bytes:
            what = "empty" if not raw else f"{len(raw)} bytes"
            raise UsageError(
                f"field {self.name}: {what}, shorter than {self.min_bytes} ({self.range_text()})"
            )
        return raw

    def bytes_of(self, value: int, length: int) -> bytes:
        """The byte string a value holds, `length` bytes long."""
        return value.to_bytes(max(length, 0), "little")

    def bytes_text(self, value: int, length: int) -> str:
        """A byte string as `parse_bytes` reads it back: text where every byte is printable ASCII (with
        `text:` where it would read as hex or begins with `text:`), else 0x-hex."""
        from nvtui.nvme.meanings import typed_bytes

        return typed_bytes(self.bytes_of(value, length))

    # -- lists (a built buffer's array of numbers: a Controller List's identifiers) --

    def items_of(self, value: int) -> list[int]:
        """The numbers a list field's value holds (below its marker bit)."""
        count = (value.bit_length() - 1) // self.item_bits
        mask = (1 << self.item_bits) - 1
        return [value >> (i * self.item_bits) & mask for i in range(count)]

    def list_value(self, items: Sequence[int]) -> int:
        """A list field's value: the numbers packed from the low bits under a marker bit."""
        value = 1 << (len(items) * self.item_bits)
        for i, item in enumerate(items):
            value |= item << (i * self.item_bits)
        return value

    def parse_list(self, text: str) -> int:
        """`1,2,3` (each a number in range) as a list field's value; one-line UsageError otherwise."""
        words = [w.strip() for w in text.split(",")]
        if not text.strip() or any(not w for w in words):
            raise UsageError(f"field {self.name}: {_shown(text)!r} is no list ({self.range_text()})")
        if len(words) > self.max_items:
            raise UsageError(
                f"field {self.name}: {len(words)} numbers, more than {self.max_items} ({self.range_text()})"
            )
        most = (1 << self.item_bits) - 1
        items = []
        for word in words:
            try:
                number = parse_number(word)
            except NumberTooLong:
                number = None
            if number is None or word.startswith("-") or not 0 <= number <= most:
                raise UsageError(
                    f"field {self.name}: {_shown(word)} is not a number 0-{most} ({self.range_text()})"
                )
            items.append(number)
        return self.list_value(items)

    def parse(self, text: str) -> int:
        """A value as a person types it: decimal, 0x-hex, or one of the field's names (a `bytes` field: its
        byte string's value, see `parse_bytes`; a list: `parse_list`)."""
        if self.kind == "bytes":
            return int.from_bytes(self.parse_bytes(text.strip()), "little")
        if self.kind == "list":
            return self.parse_list(text)
        s = text.strip()
        lowered = s.lower()
        try:
            number = parse_number(s)  # the one rule for numbers, in files too (nvtui.numbers)
        except NumberTooLong as exc:
            raise UsageError(f"field {self.name}: {exc} (range {self.range_text()})") from None
        if number is not None and not s.startswith("-"):  # `-0` too is negative, as typed
            return self.check(number, shown=s)
        if lowered in self.values:
            return self.values[lowered]
        if self.kind == "flag" and lowered in _FLAG_WORDS:
            return _FLAG_WORDS[lowered]
        if re.match(r"^-\s*(0[xX][0-9a-fA-F]+|[0-9]+)$", s):
            shown = s if len(s) <= 60 else f"a number of {len(s):,} characters"
            raise UsageError(f"field {self.name}: {shown} is negative (range {self.range_text()})")
        shown = repr(text) if len(text) <= 60 else f"{text[:24]!r}... ({len(text):,} characters)"
        if self.values:
            close = close_matches(lowered, list(self.values), n=3) if len(lowered) <= 60 else []
            hint = f"; did you mean {' or '.join(close)}?" if close else ""
            raise UsageError(
                f"field {self.name}: {shown} is neither a number in range {self.range_text()} "
                f"nor one of {', '.join(self.values)}{hint}"
            )
        raise UsageError(
            f"field {self.name}: {shown} is not a number (decimal or 0x-hex, range {self.range_text()})"
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
class BufferField:
    """A field of a built data buffer as the catalogue names it: its name, the layout field it fills (`at`:
    `nsze`, or `ids.id` for the element field of an array: a list) and its help."""

    name: str
    at: str
    help: str = ""


@dataclass(frozen=True)
class DataBuild:
    """`data.build`: the host buffer is the layout `structure`, built from the named fields given; or, with
    `by`, the layout that field's value picks in `structures` (value, layout), `structure` for the others
    (a create's buffer is the KV Identify Namespace structure for a Key Value namespace)."""

    structure: str
    fields: tuple[BufferField, ...]
    by: str | None = None
    structures: tuple[tuple[int, str], ...] = ()

    def structure_for(self, values: Mapping[str, int]) -> str:
        """The layout the buffer is for these values."""
        if self.by is not None:
            for value, structure in self.structures:
                if values.get(self.by) == value:
                    return structure
        return self.structure

    @property
    def layouts(self) -> tuple[str, ...]:
        """Every layout the buffer may be, the one for the values not listed first."""
        picked = (s for _, s in self.structures if s != self.structure)
        return (self.structure, *dict.fromkeys(picked))


# What a decode rule's `context` may name besides the entry's own fields: facts the session learns from the
# device the command went to (a zone report's descriptor extension size is the namespace's, not the
# command's).
DEVICE_CONTEXT: Mapping[str, str] = {
    "zdes_bytes": "the namespace's zone descriptor extension size in bytes (ZNS Identify Namespace, ZDES)",
}

# What a decode rule's `context` may name from the command's completion: some data is only as long as the
# completion says (Get Features FDP Events: Dword 0 is the number of event type descriptors returned).
COMPLETION_CONTEXT: Mapping[str, str] = {
    "result": "the completion's Dword 0",
}


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


@dataclass(frozen=True)
class Simulate:
    """How the simulated controller answers a command that is this entry (`simulate:`): `status` as SCT << 8
    | SC, `result` the completion's DW0, and the data: `values` encoded through the layout `structure`
    (None: the entry's decoder for the command, or no data), from the byte offset the field `offset` gives
    (None: 0)."""

    status: int
    result: int
    structure: str | None
    values: Mapping[str, Any]
    offset: str | None = None


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
    # Presets (`smart-log`): the entry they are a preset of; a draft (not yet resolved against its entry)
    # carries its fixed and default values as given in the file, by field name.
    preset_of: str | None = None
    preset_fixed: tuple[tuple[str, int | str], ...] = ()
    preset_defaults: tuple[tuple[str, int | str], ...] = ()
    preset_draft: bool = False
    timeout: int | None = None  # seconds; None: DEFAULT_TIMEOUT_S
    waits_for_event: bool = False  # the controller completes it only when an event occurs (AER)
    # Transport (as sysfs names it: pcie, tcp, ...) -> why the command is never sent on a device of it.
    refused_on: Mapping[str, str] = field(default_factory=dict)
    simulate: Simulate | None = None  # the simulated controller's answer to it
    returned_by_result: bool = False  # the completion's DW0 counts the bytes of data returned (`returned`)
    build: DataBuild | None = None  # the data buffer built from named fields (`data.build`)

    def timeout_for(self, given: int | None = None, default: int | None = None) -> int:
        """The seconds a send waits for this command: `given` (--timeout), else the entry's own, else
        `default` (the TUI's setting), else `DEFAULT_TIMEOUT_S`."""
        for seconds in (given, self.timeout, default):
            if seconds is not None:
                return seconds
        return DEFAULT_TIMEOUT_S

    def event_notice(self, timeout: int) -> str | None:
        """The line said before a command that waits for an event is sent (None for any other)."""
        if not self.waits_for_event:
            return None
        return (
            f"{self.id} waits for the controller to report an event: it completes when one occurs, or "
            f"times out after {timeout} s"
        )

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
        if self.build is not None and any(b.name == name for b in self.build.fields):
            return next(f for f in self.buffer_fields() if f.name == name)
        names = self.field_names
        close = close_matches(name, names, n=3)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise UsageError(f"{self.id}: unknown field {name!r} (fields: {', '.join(names)}){hint}")

    @property
    def field_names(self) -> list[str]:
        """The command's fields, then its data buffer's (named without loading the layout)."""
        return [f.name for f in self.fields] + [b.name for b in (self.build.fields if self.build else ())]

    def buffer_fields(self) -> tuple[FieldDef, ...]:
        """The data buffer's fields, their ranges from the layout (loaded now); () without `data.build`."""
        if self.build is None:
            return ()
        from nvtui.catalogue.buffer import resolve

        try:
            return resolve(self.build)
        except ValueError as exc:  # checked when the entry was loaded; its layout changed since
            raise UsageError(f"{self.source}:{self.line}: {self.id}: data.build: {exc}") from None

    @property
    def form_fields(self) -> tuple[FieldDef, ...]:
        """Every field a form asks for: the command's, then its data buffer's."""
        return self.fields + self.buffer_fields()

    def buffer_given(self, values: Mapping[str, object]) -> list[str]:
        """The data buffer fields among `values` (the buffer is built from them when there are any)."""
        if self.build is None:
            return []
        return [b.name for b in self.build.fields if b.name in values]

    def build_data(self, values: Mapping[str, int]) -> bytes | None:
        """The data buffer built from the buffer fields in `values`, or None when none is there. A field the
        layout picked for these values lacks (`ncap` for a Key Value namespace) is refused, naming it."""
        if self.build is None or not self.buffer_given(values):
            return None
        from nvtui.catalogue.buffer import build_bytes, resolve

        structure = self.build.structure_for(values)
        try:
            fields = {f.name: f for f in resolve(self.build, structure)}
        except ValueError as exc:  # checked when the entry was loaded; its layout changed since
            raise UsageError(f"{self.source}:{self.line}: {self.id}: data.build: {exc}") from None
        for name in self.buffer_given(values):
            if name not in fields:
                by = self.build.by
                sends = f" {by}={self._show(by, values[by])} sends" if by is not None and by in values else ""
                raise UsageError(
                    f"field {name}: not in the {structure} buffer{sends} (its fields: {', '.join(fields)})"
                )
            fields[name].check(values[name])  # this layout's range (the form's and the line's: the first's)
        return build_bytes(structure, tuple(fields.values()), values)

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

    def transport_refusal(self, transport: str | None) -> str | None:
        """Why this command is never sent on a device of `transport` (sysfs's name: `pcie`, `tcp`, ...; a
        simulated device is `sim`), or None; nothing is known of an unknown transport (None)."""
        if transport is None or transport not in self.refused_on:
            return None
        name = TRANSPORT_NAMES.get(transport, transport)
        return f"not sent to a {name} controller: {self.refused_on[transport]}"

    # -- values --

    def parse_values(self, assignments: Sequence[str] | Mapping[str, str]) -> dict[str, int]:
        """`FIELD=VALUE` strings (or a mapping) to checked integers, defaults filled in.

        An nsid field whose default is the opened namespace is left out unless given: `encode` fills it.
        """
        return self.complete(self.parse_given(assignments))

    def complete(self, given: Mapping[str, int]) -> dict[str, int]:
        """The values the user gave (`parse_given`), every other field at its default."""
        return self._complete(given, device_nsid=None)

    def parse_given(self, assignments: Sequence[str] | Mapping[str, str | int]) -> dict[str, int]:
        """Only the fields the user gave, checked: what `derive_length` may not override.

        A byte string (`bytes` field) sets its length field unless that is given too, when the two must
        agree. In a mapping (a script's fields) a byte string is text, never a number (YAML reads 0x75 as
        the number 117: quote a hex key)."""
        given: dict[str, int] = {}
        pairs: list[tuple[str, str | int]] = []
        if isinstance(assignments, Mapping):
            pairs = [(str(k), v if isinstance(v, int) and not isinstance(v, bool) else str(v))
                     for k, v in assignments.items()]  # fmt: skip
        else:
            for item in assignments:
                name, sep, value = item.partition("=")
                if not sep or not name.strip():
                    raise UsageError(f"{self.id}: expected FIELD=VALUE, got {item!r}")
                pairs.append((name, value))
        lengths: dict[str, int] = {}
        for name, typed in pairs:
            fdef = self.field(name.strip().lower())
            if fdef.name in given:
                raise UsageError(f"field {fdef.name}: given twice")
            if fdef.kind == "bytes":
                if not isinstance(typed, str):
                    raise UsageError(
                        f"field {fdef.name}: the number {typed} is no byte string; give text or quoted "
                        f'0x-hex ("{typed:#x}" is {(typed.bit_length() + 7) // 8 or 1} bytes; '
                        f"{fdef.range_text()})"
                    )
                raw = fdef.parse_bytes(typed.strip())
                lengths[fdef.name] = len(raw)
                given[fdef.name] = int.from_bytes(raw, "little")
            else:
                given[fdef.name] = fdef.parse(str(typed))
        for name, length in lengths.items():
            length_field = self.field(name).length_field
            if length_field is None:
                continue
            lf = self.field(length_field)
            if lf.name not in given:
                given[lf.name] = lf.check(length)
            elif given[lf.name] != length:
                raise UsageError(
                    f"field {lf.name}: {given[lf.name]} disagrees with {name}, which is {length} bytes "
                    f"(range {lf.range_text()}; leave {lf.name} out: it is set from {name})"
                )
        return given

    def _check_byte_strings(self, given: Mapping[str, int], out: dict[str, int]) -> None:
        """Each byte string fits the length its length field says (set from the value when not given), so
        a device never reads a key shorter than the one given: nothing is truncated."""
        for f in self.fields:
            if f.kind != "bytes" or f.length_field is None or f.name not in out:
                continue
            lf = self.field(f.length_field)
            need = (out[f.name].bit_length() + 7) // 8
            if lf.name not in given:
                out[lf.name] = lf.check(max(need, f.min_bytes, lf.min))
            length = out[lf.name]
            if need > length:
                raise UsageError(
                    f"field {lf.name}: {length} is shorter than {f.name}, which is {need} bytes "
                    f"({f.bytes_text(out[f.name], need)}; range {lf.range_text()}; never truncated)"
                )
            if length < f.min_bytes:
                raise UsageError(
                    f"field {lf.name}: {length}, shorter than {f.min_bytes} (range {lf.range_text()}; "
                    f"{f.name}: {f.range_text()})"
                )

    def text_of(self, name: str, values: Mapping[str, int]) -> str:
        """A field's value as the command line types it: a byte string as text or 0x-hex (its length from
        its length field), a named value by its name, else the number."""
        f = self.field(name)
        value = values[name]
        if f.kind == "bytes":
            length = values.get(f.length_field, 0) if f.length_field else (value.bit_length() + 7) // 8
            return f.bytes_text(value, max(length, (value.bit_length() + 7) // 8))
        if f.kind == "list":
            return ",".join(str(item) for item in f.items_of(value))
        return f.name_of(value) or str(value) if f.values else str(value)

    def shown_values(self, values: Mapping[str, int]) -> dict[str, int | str]:
        """`values` as output shows them (JSON, a recorded script): numbers, a byte string or a list as
        its text."""
        return {
            name: self.text_of(name, values) if self.field(name).kind in ("bytes", "list") else value
            for name, value in values.items()
        }

    def _complete(self, values: Mapping[str, int], device_nsid: int | None) -> dict[str, int]:
        out: dict[str, int] = {}
        for name, value in values.items():
            self.field(name).check(value)  # unknown names and bad values first, never ignored
        picked_later: list[FieldDef] = []
        for f in self.fields:
            if f.name in values:
                out[f.name] = values[f.name]
            elif f.required:
                raise UsageError(f"field {f.name}: required (range {f.range_text()})")
            elif f.default_by is not None:
                picked_later.append(f)  # once the field it depends on has its value
            elif f.default is None:
                if device_nsid is not None:
                    out[f.name] = f.check(device_nsid)
            else:
                out[f.name] = f.default
        self._check_byte_strings(values, out)
        buffer = {name: values[name] for name in self.buffer_given(values)}  # no defaults: zero unless given
        if not picked_later:
            return {**out, **buffer}
        for f in picked_later:
            assert f.default_by is not None
            default = f.default_by.pick(out.get(f.default_by.by))
            if default is not None:
                out[f.name] = default
            elif device_nsid is not None:
                out[f.name] = f.check(device_nsid)
        return {**{f.name: out[f.name] for f in self.fields if f.name in out}, **buffer}

    @property
    def byte_count_field(self) -> str | None:
        """The field that is the byte count of the data this command writes (KV Store's `vs`, Security Send's
        `tl`): the data given sets it when the user leaves it out (`sized_by_data`)."""
        spec = self.length
        if self.raw or not isinstance(spec, FromField) or spec.unit != 1:
            return None
        return spec.field if self.declared_direction is DataDirection.HOST_TO_CONTROLLER else None

    def sized_by_data(self, given: Mapping[str, int]) -> bool:
        """Whether the data the host writes sets this command's length field: a count of bytes (unit 1) the
        user did not give, on a command that writes (`send --data-in v.bin` then sets KV Store's `vs`)."""
        name = self.byte_count_field
        return name is not None and name not in given

    def derive_length(
        self, given: Mapping[str, int], data_len: int, lba_size: int | None = None
    ) -> dict[str, int]:
        """`given` with the field that sets the data length worked out from `data_len`, when the length is
        a count of that field's unit and the user did not set it (as nvme-cli's `--log-len` sets NUMD):
        `get-log-page lid=smart --data-len 512` sends numd=128. A field the user set stays as given (`encode`
        then checks it against `data_len`). UsageError when `data_len` is no whole count of the unit or the
        count is out of the field's range."""
        spec = self.length
        if not isinstance(spec, FromField) or spec.field in given:
            return dict(given)
        full = self._complete(given, device_nsid=None)
        if self.direction_of(full) is DataDirection.NONE:
            return dict(given)
        unit = spec.unit
        if isinstance(unit, ByValue):
            picked = full.get(unit.by, 0)
            if picked not in unit.sizes:
                return dict(given)  # the length is the user's (or optional) for this value
            unit = unit.sizes[picked]
        if unit == "lba":
            if lba_size is None:
                return dict(given)
            unit, what = lba_size, f"{lba_size}-byte LBAs"
        else:
            assert isinstance(unit, int)
            what = "dwords" if unit == 4 else f"{unit}-byte units"
        f = self.field(spec.field)
        count, rest = divmod(data_len, unit)
        if rest:
            raise UsageError(f"{self.id}: --data-len {data_len} is not a whole number of {what} ({f.name})")
        if not f.min <= count <= f.max:
            raise UsageError(
                f"{self.id}: --data-len {data_len} makes {f.name}={count}, out of range {f.range_text()}"
            )
        return {**given, f.name: count}

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
        words = dict.fromkeys(LOCATIONS, 0)
        for f in self.fields:
            if f.name not in full:
                continue
            bits = f.wire(full[f.name])
            for s in f.slices:
                words[s.location] |= (bits & ((1 << s.width) - 1)) << s.lsb
                bits >>= s.width
        opcode = words["opcode"] if self.raw else self.opcode
        direction = self.direction_of(full)
        built = self.build_data(full)
        if built is not None:
            data = self._built_data(full, built, lba_size, data)
        length = self._data_length(full, direction, lba_size, data_len, data)
        metadata_len = 0
        if self.metadata and metadata_size > 0 and direction is not DataDirection.NONE:
            count = self.lba_count(full)
            if count is not None:
                metadata_len = count * metadata_size
                if metadata_len > U32_MAX:
                    raise UsageError(f"{self.id}: metadata of {metadata_len} bytes is over the 4 GiB limit")
        return Command(
            opcode=opcode, admin=self.admin, nsid=words["nsid"], cdw2=words["cdw2"], cdw3=words["cdw3"],
            cdw10=words["cdw10"], cdw11=words["cdw11"], cdw12=words["cdw12"], cdw13=words["cdw13"],
            cdw14=words["cdw14"], cdw15=words["cdw15"], data_len=length, metadata_len=metadata_len, data=data,
        )  # fmt: skip

    def _built_data(
        self, values: Mapping[str, int], built: bytes, lba_size: int | None, data: bytes | None
    ) -> bytes:
        """The buffer built from fields, refused when data was given too or the command moves none."""
        given = self.buffer_given(values)
        names = f"field{'s' if len(given) > 1 else ''} {', '.join(given)}"
        if data is not None:
            raise UsageError(
                f"{self.id}: the data buffer is given twice, as data ({len(data)} bytes: --data-in or a "
                f"script's data) and as {names}: give one"
            )
        expected = self.expected_length(values, lba_size)
        if expected.kind == "bytes" and expected.size == 0:
            raise UsageError(f"{self.id}: {expected.why}: {names} would go in a data buffer it does not send")
        return built

    def lba_count(self, values: Mapping[str, int]) -> int | None:
        """The number of blocks the command moves (its length field, when the length is in LBAs)."""
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

    def device_context(self, values: Mapping[str, int]) -> tuple[str, ...]:
        """The device facts (DEVICE_CONTEXT) the chosen decoder asks for."""
        rule = self._rule_for(values)
        return tuple(k for k in (rule.context if rule else ()) if k in DEVICE_CONTEXT)

    def completion_context(self, values: Mapping[str, int]) -> tuple[str, ...]:
        """The values of the completion (COMPLETION_CONTEXT) the chosen decoder asks for."""
        rule = self._rule_for(values)
        return tuple(k for k in (rule.context if rule else ()) if k in COMPLETION_CONTEXT)

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


# --- the catalogue ---------------------------------------------------------------------------------------


@dataclass
class Catalogue:
    """Every loaded entry (later files override earlier ones by id), the problems found on the way, and
    notices (a user file redefining a built-in command)."""

    entries: list[CommandDef] = field(default_factory=list)
    errors: list[CatalogueError] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    notices: list[CatalogueError] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._index()

    def _index(self) -> None:
        self._by_id = {e.id: e for e in self.entries}
        self._simulated = [e for e in self.entries if e.simulate is not None and not e.raw]
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
        close = close_matches(key, names, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else "; `nvtui catalogue list` shows them all"
        raise UsageError(f"unknown command {name!r}{hint}")

    def by_set(self) -> dict[str, list[CommandDef]]:
        out: dict[str, list[CommandDef]] = {}
        for e in self.entries:
            out.setdefault(e.set, []).append(e)
        return out

    def entry_for_opcode(self, queue: str, opcode: int, command_set: str | None = None) -> CommandDef | None:
        """The catalogue entry a raw command with `opcode` on `queue` is, for a namespace of `command_set`
        (admin commands: None): its fields and length rule tell what the raw dwords ask for. Entries of the
        namespace's own set first, then the NVM command set's (which ZNS and others build on); None when
        the catalogue does not know the opcode there, or cannot tell which of several entries it is."""
        same = [e for e in self._entries_for_opcode(queue, opcode) if self.for_command_set(e, command_set)]
        for wanted in (command_set, "nvm"):
            chosen = [e for e in same if e.set == wanted]
            if chosen:
                return chosen[0]  # the first loaded: the built-in entry before a user's variant
        return same[0] if len({e.set for e in same}) == 1 else None

    def for_command_set(self, entry: CommandDef, command_set: str | None) -> bool:
        """Whether `entry` is a command of a namespace of `command_set` (nvm, zns, kv; None: not known, when
        every entry may be). Admin entries are every namespace's."""
        if entry.queue != "io" or command_set is None:
            return True
        if entry.set == KV_SET:
            return command_set == KV_SET
        if command_set == KV_SET and entry.set in NVM_BASED_SETS:
            return KV_SET not in self.sets_for_opcode("io", entry.opcode)
        return True

    def needs_command_set(self, queue: str, opcode: int) -> bool:
        """Whether which entry a raw command with `opcode` is depends on the namespace's command set: more
        than one set uses it, or a set that is one namespace kind's only (Key Value)."""
        sets = self.sets_for_opcode(queue, opcode)
        return len(sets) > 1 or KV_SET in sets

    def sets_for_opcode(self, queue: str, opcode: int) -> set[str]:
        """The command sets whose entries use `opcode` on `queue` (more than one: the namespace decides)."""
        return {e.set for e in self._entries_for_opcode(queue, opcode)}

    def _entries_for_opcode(self, queue: str, opcode: int) -> list[CommandDef]:
        """The entries that are commands with `opcode` on `queue` (not raw passthrough, not presets)."""
        return [
            e for e in self.entries
            if not e.raw and e.preset_of is None and e.queue == queue and e.opcode == opcode
        ]  # fmt: skip

    def simulated_answer(self, cmd: Command) -> SimulatedAnswer | None:
        """The answer a `simulate:` entry gives `cmd` on the simulated controller: the first entry (in
        catalogue order) of the command's queue and opcode whose every field `cmd` holds within range; None
        when no entry simulates it (the simulator then answers as it would without the catalogue)."""
        for e in self._simulated:  # few or none: a send to the simulator costs nothing more without them
            if e.simulate is None or e.admin != cmd.admin or e.opcode != cmd.opcode:
                continue
            values = e.decode_fields(cmd)
            if all(f.min <= values[f.name] <= f.max for f in e.fields):
                return _answer(e, e.simulate, values)
        return None

    def source_of(self, name: str) -> Path:
        """The file the entry (by id or alias) was loaded from."""
        return self.get(name).source


def _answer(entry: CommandDef, sim: Simulate, values: Mapping[str, int]) -> SimulatedAnswer:
    from nvtui.backend.base import SimulatedAnswer

    data = None
    structure = sim.structure or entry.decoder_for(values)
    if structure is not None and sim.status == 0 and entry.direction is not DataDirection.NONE:
        from nvtui import structures

        try:
            image = structures.encode(structure, sim.values)
        except ValueError as exc:  # checked when the entry was built; its layout changed since
            raise UsageError(
                f"{entry.source}:{entry.line}: {entry.id}'s simulate: {one_line(str(exc))}"
            ) from None
        data = image[values[sim.offset] :] if sim.offset is not None else image
    return SimulatedAnswer(sim.status, sim.result, data, f"{entry.source.name}:{entry.line}")
