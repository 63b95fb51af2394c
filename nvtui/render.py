"""Plain-text renderings of decoded records, completions and data, for the CLI (the TUI renders the same
`Record` into widgets). Nothing here walks raw NVMe structures: it only formats a decoder's result."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, TextIO

from nvtui.nvme.decode import Field, Record

if TYPE_CHECKING:
    from nvtui.nvme.completion import Status


def status_text(status: Status) -> str:
    """The status by name with its codes, and each of DNR, More and CRD that is set (NVMe Base 2.0, Fig. 101):
    `Namespace Not Ready (SCT 0x0, SC 0x82, DNR, More, CRD 1: retry after CRDT1)`."""
    parts = [f"SCT {status.sct:#x}", f"SC {status.sc:#04x}"]
    if status.dnr:
        parts.append("DNR")
    if status.more:
        parts.append("More")
    if status.crd:
        parts.append(f"CRD {status.crd}: retry after CRDT{status.crd}")
    return f"{status.name} ({', '.join(parts)})"


class JsonStream:
    """One JSON object written as it grows, so a long list in it is never held: `{HEAD..., "KEY": [`, then
    each item on a line of its own as it comes (`add`), then `], TAIL...}` (`close`). Still one valid JSON
    document at the end; nothing is written before the first item or the close."""

    def __init__(self, out: TextIO, head: Mapping[str, object], key: str) -> None:
        self.out = out
        self.head = dict(head)
        self.key = key
        self.count = 0
        self.closed = False

    def _start(self) -> str:
        import json

        opening = json.dumps(self.head)[:-1]
        return f"{opening}{', ' if self.head else ''}{json.dumps(self.key)}: ["

    def add(self, item: object) -> None:
        import json

        self.out.write(f"{self._start() if not self.count else ','}\n{json.dumps(item)}")
        self.count += 1

    def close(self, tail: Mapping[str, object]) -> None:
        import json

        if self.closed:
            return
        self.closed = True
        rest = json.dumps(dict(tail))[1:]
        self.out.write(f"{'' if self.count else self._start()}{chr(10) if self.count else ''}]"
                       f"{', ' if tail else ''}{rest if tail else '}'}\n")  # fmt: skip
        self.out.flush()


def hexdump(data: bytes, limit: int | None = 4096, width: int = 16, base: int = 0) -> str:
    """`offset  hex bytes  |ascii|` lines; runs of identical lines collapse to `*` as in xxd/hexdump.
    Offsets count from `base` (where `data` sits in a larger buffer)."""
    shown = data if limit is None else data[:limit]
    lines: list[str] = []
    previous: bytes | None = None
    starred = False
    for off in range(0, len(shown), width):
        chunk = shown[off : off + width]
        if chunk == previous and off + width < len(shown):
            if not starred:
                lines.append("*")
                starred = True
            continue
        previous, starred = chunk, False
        hexpart = " ".join(f"{b:02x}" for b in chunk).ljust(width * 3 - 1)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{base + off:08x}  {hexpart}  |{text}|")
    if limit is not None and len(data) > limit:
        lines.append(f"... {len(data) - limit} more bytes (use --data-out FILE to keep them all)")
    return "\n".join(lines)


def field_value_text(f: Field) -> str:
    if isinstance(f.raw, bytes):
        return str(f.value)
    if f.bits is not None and f.bits[0] == f.bits[1]:
        return "1" if f.raw else "0"
    return f"{f.raw} ({f.raw:#x})" if f.raw > 9 else str(f.raw)


def record_rows(record: Record) -> list[tuple[str, str, str, str]]:
    """(name, offset, value, meaning) rows, groups flattened as `name[i].field`."""
    rows = []
    for path, f, offset in record.flat():
        where = (
            f"{offset}"
            if f.bits is None
            else f"{offset}.{f.bits[0]}" + (f"-{f.bits[1]}" if f.bits[1] != f.bits[0] else "")
        )
        rows.append((path, where, field_value_text(f), f.meaning))
    return rows


def record_table(record: Record) -> str:
    rows = record_rows(record)
    if not rows:
        return f"{record.name}: (no fields)"
    w_name = max(len(r[0]) for r in rows)
    w_off = max(len(r[1]) for r in rows)
    w_val = min(max(len(r[2]) for r in rows), 42)
    out = [f"{'field'.ljust(w_name)}  {'offset'.rjust(w_off)}  {'value'.ljust(w_val)}  meaning"]
    for name, off, val, meaning in rows:
        out.append(f"{name.ljust(w_name)}  {off.rjust(w_off)}  {val.ljust(w_val)}  {meaning}".rstrip())
    return "\n".join(out)
