"""What the TUI shows of a result, worked out here and not in the screens: a decoded `Record` as a tree of
rows (sections, arrays, flag bits, opaque fields collapsed), the zones of a zone report, a SMART / Health
card, the fields that tell one history entry from another, and a namespace's zone geometry.

Nothing here decodes bytes: it only arranges what a decoder produced (field name, offset, width, raw value,
meaning), so the JSON output, the CLI table and these views show the same fields."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nvtui.nvme.decode import Field, Group, Record
from nvtui.render import field_value_text, hexdump

if TYPE_CHECKING:
    from nvtui.catalogue.model import CommandDef

# Byte fields wider than this are shown collapsed (size and first bytes); their hex is one key away.
OPAQUE_BYTES = 16
SHOWN_BYTES = 8  # how many leading bytes a collapsed field shows
# Arrays with more elements than this start collapsed.
OPEN_ARRAY_LIMIT = 8

# Where a structure's sections start (byte offset, title), for structures the spec divides.
SECTIONS: dict[str, tuple[tuple[int, str], ...]] = {
    # NVMe Base 2.0, Fig. 275 (Identify Controller data structure)
    "identify-controller": (
        (0, "Controller capabilities and features"),
        (256, "Admin command set attributes and optional controller capabilities"),
        (512, "NVM command set attributes"),
        (1792, "NVMe over Fabrics"),
        (2048, "Power state descriptors"),
        (3072, "Vendor specific"),
    ),
    # NVMe Base 2.0, NVM Command Set 1.0, Fig. 97 (Identify Namespace data structure)
    "identify-namespace": (
        (0, "Namespace size and capabilities"),
        (128, "LBA formats"),
        (384, "Vendor specific"),
    ),
}


@dataclass(frozen=True)
class Row:
    """One line of the decoded tree. `children` open under it (an array's elements, a flag field's bits,
    an opaque field's hex lines, a section's fields); `line` rows are plain text (hex dump lines)."""

    name: str
    where: str = ""  # byte offset, with bits: "256.3" or "1.4-7"
    value: str = ""
    meaning: str = ""
    children: tuple[Row, ...] = ()
    expanded: bool = False  # open when first shown
    line: bool = False
    section: bool = False  # a heading: a part of the structure the spec names
    path: str = ""  # the field's path in the record (`psd[0].mp`), for numeric fields a watch can chart
    number: int | None = None  # the field's integer value, when it has one
    offset: int = 0  # the byte offset in the decoded buffer (what `where` shows first)


def is_opaque(f: Field) -> bool:
    """An opaque byte field (vendor specific, reserved, a raw area) too wide to show inline."""
    return isinstance(f.raw, bytes) and f.value == f.raw.hex() and f.width > OPAQUE_BYTES


def collapsed_value(raw: bytes) -> str:
    """`1024 B: 00 11 22 … ` or `1024 B, all zero`."""
    if not any(raw):
        return f"{len(raw)} B, all zero"
    head = " ".join(f"{b:02x}" for b in raw[:SHOWN_BYTES])
    return f"{len(raw)} B: {head}" + (" …" if len(raw) > SHOWN_BYTES else "")


def where_text(f: Field, offset: int) -> str:
    if f.bits is None:
        return str(offset)
    lsb, msb = f.bits
    return f"{offset}.{lsb}" + (f"-{msb}" if msb != lsb else "")


def field_row(f: Field, offset: int, path: str) -> Row:
    where = where_text(f, offset)
    if is_opaque(f):
        assert isinstance(f.raw, bytes)
        lines = hexdump(f.raw, limit=None, base=offset).splitlines()
        hex_rows = tuple(Row(text, line=True) for text in lines)
        meaning = f.meaning or "opaque: expand for the hex"
        return Row(f.name, where, collapsed_value(f.raw), meaning, hex_rows, path=path, offset=offset)
    number = f.raw if isinstance(f.raw, int) else None
    bit_rows: tuple[Row, ...] = ()
    if f.flags and isinstance(f.raw, int):
        raw = f.raw
        bit_rows = tuple(
            Row(f"bit {bit}", f"{offset}.{bit}", "set" if raw >> bit & 1 else "clear", name)
            for bit, name in f.flags
        )
    meaning = f.meaning or ("no flag set" if bit_rows else "")
    return Row(f.name, where, field_value_text(f), meaning, bit_rows, path=path, number=number, offset=offset)


def record_rows(record: Record, prefix: str = "") -> tuple[Row, ...]:
    """The record's items as rows: fields, and each group as an expandable array of its elements."""
    rows: list[Row] = []
    for item in record.items:
        if isinstance(item, Group):
            elements = tuple(
                Row(
                    f"[{i}]",
                    str(rec.offset),
                    meaning=element_summary(rec),
                    children=record_rows(rec, f"{prefix}{item.name}[{i}]."),
                    offset=rec.offset,
                )
                for i, rec in enumerate(item.records)
            )
            count = len(item.records)
            rows.append(
                Row(
                    item.name,
                    str(record.offset + item.offset),
                    f"{count} {'entry' if count == 1 else 'entries'}",
                    f"{item.width} bytes",
                    elements,
                    expanded=0 < count <= OPEN_ARRAY_LIMIT,
                    offset=record.offset + item.offset,
                )
            )
        else:
            rows.append(field_row(item, record.offset + item.offset, f"{prefix}{item.name}"))
    return tuple(rows)


def element_summary(record: Record) -> str:
    """A one-line hint for a collapsed array element: its first two meanings."""
    meanings = [item.meaning for item in record.items if isinstance(item, Field) and item.meaning]
    return "; ".join(meanings[:2])


def decoded_tree(record: Record) -> tuple[Row, ...]:
    """The rows of the decoded view: under section headings where the spec gives sections."""
    rows = record_rows(record)
    sections = SECTIONS.get(record.name)
    if not sections:
        return rows
    out: list[Row] = []
    starts = [start for start, _ in sections]
    for n, (start, title) in enumerate(sections):
        end = starts[n + 1] if n + 1 < len(starts) else None
        inside = tuple(r for r in rows if start <= r.offset and (end is None or r.offset < end))
        if inside:
            last = inside[-1].offset
            span = f"bytes {start}-{last}" if last > start else f"byte {start}"
            out.append(Row(title, str(start), f"{span}, {len(inside)} fields", children=inside,
                           expanded=True, section=True))  # fmt: skip
    return tuple(out)


def numeric_fields(rows: tuple[Row, ...]) -> list[Row]:
    """Every row with an integer value, in tree order (what a watch can chart)."""
    out: list[Row] = []
    for row in rows:
        if row.number is not None and row.path:
            out.append(row)
        out.extend(numeric_fields(tuple(c for c in row.children if not c.line)))
    return out


def record_number(record: Record, path: str) -> int | None:
    """The integer value at `path` (`temperature`, `zones[3].wp`) in a record, or None."""
    for flat_path, f, _offset in record.flat():
        if flat_path == path:
            return f.raw if isinstance(f.raw, int) else None
    return None


# --- zones ------------------------------------------------------------------------------------------------

# Zone State values (ZNS 1.1, Fig. 37), by the name the theme's colour is chosen for.
ZONE_STATE_KEYS = {
    0x1: "empty",
    0x2: "implicitly-opened",
    0x3: "explicitly-opened",
    0x4: "closed",
    0xD: "read-only",
    0xE: "full",
    0xF: "offline",
}


@dataclass(frozen=True)
class ZoneRow:
    index: int
    zslba: int
    wp: int
    zcap: int
    state: int  # the 4-bit Zone State value
    state_name: str  # "Implicitly Opened"
    type_name: str  # "Sequential Write Required"

    @property
    def state_key(self) -> str:
        return ZONE_STATE_KEYS.get(self.state, "reserved")

    @property
    def written(self) -> int:
        """Blocks written in the zone (from its write pointer)."""
        if self.state == 0xE:  # Full: the write pointer is not valid (ZNS 1.1, 2.1.1.4)
            return self.zcap
        if self.state in (0xD, 0xF):
            return 0
        return max(0, min(self.wp - self.zslba, self.zcap))

    @property
    def fill(self) -> float:
        """How full the zone is, 0.0 to 1.0."""
        return self.written / self.zcap if self.zcap else 0.0


def zone_rows(record: Record) -> list[ZoneRow] | None:
    """The zones of a zone report, one row each; None for any other record."""
    if record.name != "zone-report":
        return None
    try:
        zones = record["zones"]
    except KeyError:
        return None
    if not isinstance(zones, Group):
        return None
    rows = []
    for i, zone in enumerate(zones.records):
        f = {item.name: item for item in zone.items if isinstance(item, Field)}

        def number(name: str, fields: Mapping[str, Field] = f) -> int:
            raw = fields[name].raw if name in fields else 0
            return raw if isinstance(raw, int) else 0

        zs, zt = f.get("zs"), f.get("zt")
        rows.append(
            ZoneRow(
                i,
                number("zslba"),
                number("wp"),
                number("zcap"),
                number("zs"),
                zs.meaning if zs is not None else "",
                zt.meaning if zt is not None else "",
            )
        )
    return rows


def zone_state_counts(rows: list[ZoneRow]) -> list[tuple[str, int]]:
    """(state name, how many zones) in the order the states first appear."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.state_name] = counts.get(row.state_name, 0) + 1
    return list(counts.items())


# --- SMART / Health -------------------------------------------------------------------------------------

DATA_UNIT_BYTES = 512_000  # one data unit is 1000 × 512 bytes (NVMe Base 2.0, Fig. 207)


@dataclass(frozen=True)
class HealthCard:
    temperature_c: int
    avail_spare: int  # percent
    spare_thresh: int  # percent
    percent_used: int
    bytes_read: int
    bytes_written: int
    power_on_hours: int
    power_cycles: int
    unsafe_shutdowns: int
    media_errors: int
    warnings: tuple[str, ...]  # the critical warnings set, by name
    clear_warnings: tuple[str, ...]  # the ones not set

    @property
    def spare_low(self) -> bool:
        return self.avail_spare < self.spare_thresh


def health_card(record: Record) -> HealthCard | None:
    """The card for a SMART / Health log; None for any other record."""
    if record.name != "smart-log":
        return None
    f = {item.name: item for item in record.items if isinstance(item, Field)}

    def number(name: str) -> int:
        raw = f[name].raw if name in f else 0
        return raw if isinstance(raw, int) else 0

    warning = f.get("critical_warning")
    names = warning.flags or () if warning is not None else ()
    raw_warning = number("critical_warning")
    return HealthCard(
        temperature_c=number("temperature") - 273 if number("temperature") else 0,
        avail_spare=number("avail_spare"),
        spare_thresh=number("spare_thresh"),
        percent_used=number("percent_used"),
        bytes_read=number("data_units_read") * DATA_UNIT_BYTES,
        bytes_written=number("data_units_written") * DATA_UNIT_BYTES,
        power_on_hours=number("power_on_hours"),
        power_cycles=number("power_cycles"),
        unsafe_shutdowns=number("unsafe_shutdowns"),
        media_errors=number("media_errors"),
        warnings=tuple(name for bit, name in names if raw_warning >> bit & 1),
        clear_warnings=tuple(name for bit, name in names if not raw_warning >> bit & 1),
    )


def human_bytes(n: int) -> str:
    """`1.50 GiB`; plain bytes below 1 KiB."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024 or unit == "PiB":
            return f"{n} B" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1024
    return f"{n} B"


# --- history --------------------------------------------------------------------------------------------


HEX_FROM = 4096  # numbers this large are shown in hex (LBAs, masks)


def selector_fields(defn: CommandDef) -> set[str]:
    """Fields that choose what a command returns: named by every decode rule (`lid`, `cns`), or the first
    one given to the result's decoder (`fid`; `sel` after it shows when not at its default)."""
    rules = defn.decode_rules
    names = set.intersection(*(set(rule.when) for rule in rules)) if rules else set()
    return names | set(defn.result_context[:1])


def key_fields(defn: CommandDef, values: Mapping[str, int]) -> list[str]:
    """The fields that tell one sending of a command from another: the ones that choose what it returns,
    required ones, and those not at their default, enum values by name (`fid=temperature-threshold`).
    A selector at its default is left out when another selector is shown (`get-features fid=...`, its
    `sel=current` implied), kept when it is the only one (`get-log-page lid=smart`). A preset's fixed
    fields are in its name already."""
    selectors = selector_fields(defn)
    out: list[tuple[str, bool, bool]] = []  # (name=value, a selector, a selector at its default)
    for f in defn.fields:
        if f.name not in values or f.fixed_by is not None:
            continue
        value = values[f.name]
        at_default = f.default is None or value == f.default
        if not (f.name in selectors or f.required) and at_default:
            continue
        if f.kind == "bytes":  # a key as typed (text or 0x-hex)
            out.append((f"{f.name}={defn.text_of(f.name, values)}", f.name in selectors, False))
            continue
        shown = f.name_of(value) or (f"{value:#x}" if value >= HEX_FROM else str(value))
        defaulted = f.name in selectors and not f.required and f.default is not None and value == f.default
        out.append((f"{f.name}={shown}", f.name in selectors, defaulted))
    for name in defn.buffer_given(values):  # a data buffer's fields given: what the buffer was built from
        out.append((f"{name}={defn.text_of(name, values)}", False, False))
    if any(selector and not defaulted for _, selector, defaulted in out):
        return [text for text, _, defaulted in out if not defaulted]
    return [text for text, _, _ in out]


# --- zone geometry --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ZoneGeometry:
    zone_size: int  # logical blocks (ZSZE of the LBA format in use)
    zone_capacity: int | None  # logical blocks, of the first zone (None when the report did not say)
    zones: int
    max_open: str  # "14 zones" or "no limit"
    max_active: str
    block_size: int


def zone_geometry(
    identify_ns_zns: Record, lba_format: int, nsze: int, block_size: int, zone_capacity: int | None
) -> ZoneGeometry | None:
    """Zone size from the ZNS LBA Format Extension of the format in use, number of zones from the
    namespace size, max open / active resources; None when the record holds no format extension."""
    try:
        lbafe = identify_ns_zns["lbafe"]
        mor, mar = identify_ns_zns["mor"], identify_ns_zns["mar"]
    except KeyError:
        return None
    if not isinstance(lbafe, Group) or not 0 <= lba_format < len(lbafe.records):
        return None
    zsze = lbafe.records[lba_format]["zsze"]
    if not isinstance(zsze, Field) or not isinstance(zsze.raw, int) or not zsze.raw:
        return None
    if not isinstance(mor, Field) or not isinstance(mar, Field):
        return None
    return ZoneGeometry(zsze.raw, zone_capacity, nsze // zsze.raw, mor.meaning, mar.meaning, block_size)
