"""The simulator's journal: one record per state-changing command, appended with one write() before the
command's completion is returned, so what a command changed survives a kill -9 from that moment on.

Format (text, one line each):

    nvtui-sim-journal 1 <generation>\\n       the header: the checkpoint (`sim0.json`) these records follow
    <crc32, 8 hex digits> <JSON object>\\n     a record; the CRC covers the JSON bytes

A crash in the middle of a write leaves a damaged last record: that command was never acknowledged, so it
is dropped (`Replay.torn`). A damaged record followed by a good one is damage the simulator did not make:
the journal is refused. A checkpoint replaces the journal with a new, empty one of the next generation, so
another process sees the change by the journal's inode.
"""

from __future__ import annotations

import contextlib
import json
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from nvtui.backend.sim.state import Damaged, open_named
from nvtui.safeio import write_atomic

MAGIC = b"nvtui-sim-journal 1 "
JOURNAL_LIMIT = 64 << 20  # a checkpoint comes every CHECKPOINT_BYTES: a journal this long is not ours
CHECKPOINT_BYTES = 1 << 20  # about 15,000 records: replayed in a fraction of a second


def header(generation: int) -> bytes:
    return MAGIC + str(generation).encode() + b"\n"


_ENCODER = json.JSONEncoder(separators=(",", ":"))  # made once: json.dumps builds one per call


def encode(record: dict[str, object], encoder: json.JSONEncoder = _ENCODER) -> bytes:
    payload = encoder.encode(record).encode()
    return b"%08x %s\n" % (zlib.crc32(payload), payload)


def _decode(line: bytes) -> dict[str, object] | None:
    """The record a line holds, or None when the line is damaged."""
    if len(line) < 10 or line[8:9] != b" ":
        return None
    payload = line[9:]
    try:
        if int(line[:8], 16) != zlib.crc32(payload):
            return None
        record = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    return record if isinstance(record, dict) else None


@dataclass
class Replay:
    records: list[dict[str, object]] = field(default_factory=list)
    torn: bool = False  # a damaged last record was dropped (truncated away)


class Journal:
    """An open journal: its descriptor (O_APPEND), generation, and how far this process has read it."""

    def __init__(self, path: Path, dir_fd: int | None = None) -> None:
        self.path = path
        self.fd = open_named(path, os.O_RDWR | os.O_APPEND, dir_fd)
        st = os.fstat(self.fd)
        self.ino = st.st_ino
        if st.st_size > JOURNAL_LIMIT:
            self.close()
            raise Damaged(f"it is {st.st_size:,} bytes long, far more than nvtui ever writes")
        head = os.pread(self.fd, 64, 0)
        end = head.find(b"\n")
        if not head.startswith(MAGIC) or end < 0 or not head[len(MAGIC) : end].isdigit():
            self.close()
            raise Damaged("its first line is not an nvtui-sim-journal header")
        self.generation = int(head[len(MAGIC) : end])
        self.size = end + 1  # the end of what this process has applied

    @classmethod
    def create(cls, path: Path, generation: int, dir_fd: int | None = None) -> Journal:
        """A new, empty journal of `generation`, replacing any journal at `path` (made exclusively, renamed
        into place, both made durable: safeio.write_atomic). The caller checked the folder is in place."""
        write_atomic(path, header(generation))
        return cls(path, dir_fd)

    def read_new(self) -> Replay:
        """The records after `self.size`; a damaged tail is truncated away (`torn`); a damaged record with a
        good one after it raises Damaged."""
        end = os.fstat(self.fd).st_size
        if end > JOURNAL_LIMIT:
            raise Damaged(f"it is {end:,} bytes long, far more than nvtui ever writes")
        if end < self.size:
            raise Damaged(f"it is {end:,} bytes long, shorter than the {self.size:,} already read")
        out = Replay()
        if end == self.size:
            return out
        data = os.pread(self.fd, end - self.size, self.size)
        offset = self.size
        lines = data.split(b"\n")
        tail = lines.pop()  # after the last newline: empty unless the last write was cut short
        bad_at: int | None = None
        for line in lines:
            record = _decode(line)
            if record is None:
                if bad_at is None:
                    bad_at = offset
            elif bad_at is not None:
                raise Damaged(f"the record at byte {bad_at} is corrupt, and good records follow it")
            else:
                out.records.append(record)
            offset += len(line) + 1
        if bad_at is not None or tail:
            cut = bad_at if bad_at is not None else offset
            os.ftruncate(self.fd, cut)
            out.torn = True
            end = cut
        self.size = end
        return out

    def append(self, data: bytes) -> None:
        """Write one record whole (looping over short writes); on failure cut the file back to where it was,
        so a failed record never sits between good ones, and raise the OSError."""
        start = self.size
        view = memoryview(data)
        try:
            while view:
                written = os.write(self.fd, view)
                view = view[written:]
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, start)
            raise
        self.size = start + len(data)

    def sync(self) -> None:
        os.fsync(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
