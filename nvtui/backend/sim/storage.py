"""Where a simulated namespace keeps its blocks: a sparse file per namespace (and one for separate metadata),
read and written with pread/pwrite at LBA offsets, so 1 GiB is never held in memory.

Deallocation punches holes (fallocate PUNCH_HOLE), so deallocated blocks read back as zeros and give their
disk space back; where the filesystem cannot punch holes, zeros are written in 1 MiB pieces instead. A write
is stored whole or raises the OSError that stopped it (ENOSPC, EFBIG, EIO): short pwrites are continued.
"""

from __future__ import annotations

import base64
import binascii
import ctypes
import ctypes.util
import errno
import os
import zlib
from collections.abc import Iterator
from pathlib import Path

from nvtui.backend.sim.state import Damaged, open_named

_FALLOC_FL_KEEP_SIZE = 0x01
_FALLOC_FL_PUNCH_HOLE = 0x02
_ZERO_CHUNK = bytes(1 << 20)


def _load_fallocate() -> object | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        fn = libc.fallocate
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong]
    fn.restype = ctypes.c_int
    return fn


_fallocate = _load_fallocate()


def punch_hole(fd: int, offset: int, length: int) -> None:
    """Make [offset, offset + length) read as zeros, freeing the space where the filesystem can."""
    if length <= 0:
        return
    if _fallocate is not None:
        rc = _fallocate(fd, _FALLOC_FL_PUNCH_HOLE | _FALLOC_FL_KEEP_SIZE, offset, length)  # type: ignore[operator]
        if rc == 0:
            return
        if ctypes.get_errno() not in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
            raise OSError(ctypes.get_errno(), "fallocate(PUNCH_HOLE) failed")
    size = os.fstat(fd).st_size
    end = min(offset + length, size)  # past the end of the file already reads as zeros
    while offset < end:
        n = min(len(_ZERO_CHUNK), end - offset)
        os.pwrite(fd, _ZERO_CHUNK[:n], offset)
        offset += n


class Bitmap:
    """One bit per logical block (allocated or not), with a running count: NUSE without a scan."""

    def __init__(self, nbits: int, raw: bytes | None = None) -> None:
        self.nbits = nbits
        self.bits = bytearray((nbits + 7) // 8)
        if raw is not None and len(raw) == len(self.bits):
            self.bits[:] = raw
        self.count = int.from_bytes(self.bits, "little").bit_count()

    def set_range(self, start: int, n: int, value: bool) -> None:
        if n <= 0:
            return
        first, last = start >> 3, (start + n + 7) >> 3
        chunk = int.from_bytes(self.bits[first:last], "little")
        mask = ((1 << n) - 1) << (start - (first << 3))
        before = (chunk & mask).bit_count()
        if value:
            chunk |= mask
            self.count += n - before
        else:
            chunk &= ~mask
            self.count -= before
        self.bits[first:last] = chunk.to_bytes(last - first, "little")

    def clear(self) -> None:
        self.bits[:] = bytes(len(self.bits))
        self.count = 0

    def encode(self) -> str:
        return base64.b64encode(zlib.compress(bytes(self.bits), 6)).decode("ascii")

    @classmethod
    def decode(cls, nbits: int, text: object, where: str = "allocated") -> Bitmap:
        """The bitmap `encode` wrote; `Damaged` when `text` is not base64 of zlib data of the right size."""
        if not isinstance(text, str):
            raise Damaged(f"{where} is not a string")
        try:
            packed = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise Damaged(f"{where} is not base64") from None
        size = (nbits + 7) // 8
        unpack = zlib.decompressobj()
        try:
            raw = unpack.decompress(packed, size + 1)  # bounded: a bomb is not inflated
        except zlib.error:
            raise Damaged(f"{where} is not zlib data") from None
        if len(raw) != size or not unpack.eof or unpack.unused_data:
            raise Damaged(f"{where} does not hold {size} bytes (one bit per block)")
        return cls(nbits, raw)

    def runs(self, start: int, end: int, value: bool) -> Iterator[tuple[int, int]]:
        """The maximal runs [s, e) within [start, end) whose bits are all `value`, in order."""
        piece = 4096
        run_start: int | None = None
        for base in range(start, end, piece):
            stop = min(base + piece, end)
            n = stop - base
            first = base >> 3
            chunk = int.from_bytes(self.bits[first : (stop + 7) >> 3], "little") >> (base - (first << 3))
            chunk &= (1 << n) - 1
            if not value:
                chunk ^= (1 << n) - 1  # look for ones either way
            pos = 0
            while pos < n:
                rest = chunk >> pos
                if run_start is None:
                    if not rest:
                        break
                    pos += (rest & -rest).bit_length() - 1
                    run_start = base + pos
                else:
                    gaps = ~rest & ((1 << (n - pos)) - 1)
                    if not gaps:
                        break
                    pos += (gaps & -gaps).bit_length() - 1
                    yield run_start, base + pos
                    run_start = None
        if run_start is not None:
            yield run_start, end


class RangeSet:
    """Sorted, disjoint [start, end) ranges: the blocks a Write Uncorrectable marked. Usually empty."""

    def __init__(self, ranges: list[list[int]] | None = None) -> None:
        self.ranges: list[tuple[int, int]] = sorted((int(s), int(e)) for s, e in ranges or [] if s < e)

    def add(self, start: int, end: int) -> None:
        merged: list[tuple[int, int]] = []
        for s, e in self.ranges:
            if e < start or s > end:
                merged.append((s, e))
            else:
                start, end = min(s, start), max(e, end)
        merged.append((start, end))
        self.ranges = sorted(merged)

    def remove(self, start: int, end: int) -> None:
        if not self.ranges:
            return
        kept: list[tuple[int, int]] = []
        for s, e in self.ranges:
            if e <= start or s >= end:
                kept.append((s, e))
                continue
            if s < start:
                kept.append((s, start))
            if e > end:
                kept.append((end, e))
        self.ranges = kept

    def first_in(self, start: int, end: int) -> int | None:
        """The first marked block in [start, end), or None."""
        for s, e in self.ranges:
            if s < end and e > start:
                return max(s, start)
        return None

    def to_json(self) -> list[list[int]]:
        return [[s, e] for s, e in self.ranges]


class BlockFile:
    """A sparse file addressed in fixed-size units (a logical block, or its metadata), opened without
    following a symlink and created 0600 (a namespace image is the user's data)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = open_named(path, os.O_RDWR | os.O_CREAT)

    def read(self, offset: int, length: int) -> bytes:
        data = os.pread(self.fd, length, offset)
        return data if len(data) == length else data.ljust(length, b"\0")

    def write(self, offset: int, data: bytes) -> None:
        """Store `data` whole at `offset`, or raise the OSError that stopped it (part may be written)."""
        view = memoryview(data)
        while view:
            written = os.pwrite(self.fd, view, offset)
            if written <= 0:  # never for a regular file; do not spin if it happens
                raise OSError(errno.EIO, os.strerror(errno.EIO))
            view = view[written:]
            offset += written

    def zero(self, offset: int, length: int) -> None:
        punch_hole(self.fd, offset, length)

    def truncate(self) -> None:
        os.ftruncate(self.fd, 0)

    @property
    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def data_extents(self) -> Iterator[tuple[int, int]]:
        """The [start, end) byte ranges that hold data (holes skipped), as the filesystem reports them."""
        size = self.size
        offset = 0
        while offset < size:
            try:
                start = os.lseek(self.fd, offset, os.SEEK_DATA)
            except OSError:  # ENXIO: only a hole remains
                return
            end = os.lseek(self.fd, start, os.SEEK_HOLE)
            yield start, end
            offset = end

    def sync(self) -> None:
        os.fsync(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
