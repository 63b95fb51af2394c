"""Data integrity against the real Linux nvme driver: tagged random 4 KiB writes, verified reads.

Runs inside the test VM (`python -m tests.vm.run -- -k integrity`). Every 4 KiB block written carries
a header: a magic, the LBA it was written to, a sequence number (which write of the run it was), the
CRC-32 of the rest of the block, and a CRC-32 of the header itself. The test also remembers, per block,
the sequence number and payload CRC of the last write that completed. A read then proves the block is

- intact (header CRC and payload CRC match what the block carries),
- where it was sent (the LBA in the header is the LBA read: no misdirected write or read),
- current (the sequence number is the last completed write's: no lost or stale write),
- ours (the payload CRC is the one recorded for that sequence number: not another valid block).

Writes and reads are mixed at 32 in flight over a region of the namespace, never two commands on the
same block at once, and every read is verified as it completes. Afterwards every block of the region
is read again through uring, and then the region and guard bands on both sides through the *ioctl*
backend in 128 KiB reads (another path, another transfer size), so the check does not only trust the
path it tests. Blocks never written, and the guard bands, must still be zeros.
"""

from __future__ import annotations

import asyncio
import random
import struct
import time
import zlib
from dataclasses import dataclass, field

import pytest

from nvtui.backend.ioctl import IoctlBackend, open_ioctl
from nvtui.backend.uring import UringBackend, open_uring
from tests.vm.nvm import rw_bytes as rw

pytestmark = pytest.mark.vm

WRITE, READ = 0x01, 0x02
BLOCK = 4096
QD = 32
IOS = 100_000  # per variant: mixed writes and verified reads at QD32
REGION_BLOCKS = 8192  # 32 MiB: each block is written several times over
GUARD_BYTES = 1 << 20  # zeros that must stay zeros on both sides of the region
IOCTL_CHUNK = 128 * 1024
TIME_LIMIT_S = 600.0

MAGIC = b"NVTUIBLK"
HEADER = struct.Struct("<8sQQII")  # magic, LBA, sequence, payload CRC-32, header CRC-32
PAYLOAD = BLOCK - HEADER.size
ZERO_BLOCK = bytes(BLOCK)


def make_block(lba: int, seq: int, rng: random.Random) -> tuple[bytes, int]:
    """A tagged 4 KiB block for `lba`, write number `seq`; and its payload CRC-32."""
    payload = rng.randbytes(PAYLOAD)
    crc = zlib.crc32(payload)
    head = HEADER.pack(MAGIC, lba, seq, crc, 0)[: HEADER.size - 4]
    return head + struct.pack("<I", zlib.crc32(head)) + payload, crc


def check_block(data: bytes | None, lba: int, expect: tuple[int, int] | None) -> str | None:
    """None when `data` is the block last written to `lba` (`expect` = (seq, payload CRC), None for a
    block never written: zeros); else what is wrong with it."""
    if data is None or len(data) != BLOCK:
        return f"LBA {lba}: {0 if data is None else len(data)} bytes read, not {BLOCK}"
    if expect is None:
        return None if data == ZERO_BLOCK else f"LBA {lba}: never written, but not zeros"
    magic, got_lba, seq, crc, head_crc = HEADER.unpack_from(data)
    if magic != MAGIC:
        return f"LBA {lba}: no block header (magic {magic!r})"
    if zlib.crc32(data[: HEADER.size - 4]) != head_crc:
        return f"LBA {lba}: header CRC mismatch"
    if zlib.crc32(data[HEADER.size :]) != crc:
        return f"LBA {lba}: payload CRC mismatch (seq {seq})"
    if got_lba != lba:
        return f"LBA {lba}: holds the block written to LBA {got_lba} (misdirected)"
    if (seq, crc) != expect:
        return f"LBA {lba}: holds write #{seq}, expected write #{expect[0]} (stale or lost write)"
    return None


@dataclass
class Tally:
    writes: int = 0
    reads: int = 0
    mismatches: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ios(self) -> int:
        return self.writes + self.reads


class Verifier:
    """The mixed load: random tagged writes and verified reads of a region, at most one command per block."""

    def __init__(self, dev: UringBackend, first_block: int, blocks: int, seed: int) -> None:
        assert dev.format is not None
        self.dev = dev
        self.lba_size = dev.format.lba_size
        self.per_block = BLOCK // self.lba_size
        self.first_block = first_block
        self.blocks = blocks
        self.rng = random.Random(seed)
        self.expect: dict[int, tuple[int, int]] = {}  # block -> (seq, payload CRC) of its last write
        self.busy: set[int] = set()
        self.unwritten = list(range(blocks))  # each block's first write, in random order (see pick)
        self.rng.shuffle(self.unwritten)
        self.seq = 0
        self.tally = Tally()

    def lba(self, block: int) -> int:
        return (self.first_block + block) * self.per_block

    def pick(self) -> int:
        """A random block not in flight. A quarter of the picks take the next block of `unwritten`
        instead, so every block of the region is written within the run (uniform picks alone leave
        a block unwritten in a few runs in a hundred), whatever order the completions come in."""
        if self.unwritten and self.rng.random() < 0.25:
            block = self.unwritten.pop()
            if block not in self.busy:  # else it is being written (or was) through a uniform pick
                return block
        while True:
            block = self.rng.randrange(self.blocks)
            if block not in self.busy:
                return block

    async def one(self, block: int, write: bool) -> None:
        lba = self.lba(block)
        if write:
            self.seq += 1
            seq = self.seq
            data, crc = make_block(lba, seq, self.rng)
            done = await self.dev.submit(rw(WRITE, self.dev.nsid, lba, BLOCK, self.lba_size, data))
            self.tally.writes += 1
            if not done.ok:
                self.tally.errors.append(f"write LBA {lba}: {done.status}")
                return
            self.expect[block] = (seq, crc)
        else:
            done = await self.dev.submit(rw(READ, self.dev.nsid, lba, BLOCK, self.lba_size))
            self.tally.reads += 1
            if not done.ok:
                self.tally.errors.append(f"read LBA {lba}: {done.status}")
                return
            problem = check_block(done.data, lba, self.expect.get(block))
            if problem:
                self.tally.mismatches.append(problem)

    async def mixed(self, ios: int) -> None:
        """`ios` commands on QD workers; about half writes, reads only of blocks already written."""
        issued = 0

        async def worker() -> None:
            nonlocal issued
            while issued < ios:
                issued += 1
                block = self.pick()
                write = block not in self.expect or self.rng.random() < 0.5
                self.busy.add(block)
                try:
                    await self.one(block, write)
                finally:
                    self.busy.discard(block)

        await asyncio.gather(*(worker() for _ in range(QD)))

    async def read_all(self) -> None:
        """Every block of the region once, through uring at QD32 (never-written blocks must be zeros)."""
        blocks = list(range(self.blocks))
        self.rng.shuffle(blocks)

        async def worker() -> None:
            while blocks:
                await self.one(blocks.pop(), write=False)

        await asyncio.gather(*(worker() for _ in range(QD)))

    async def check_through_ioctl(self, oracle: IoctlBackend) -> int:
        """The region and its guard bands read through the ioctl backend; the blocks checked."""
        start = self.lba(0) * self.lba_size - GUARD_BYTES
        end = self.lba(self.blocks) * self.lba_size + GUARD_BYTES
        assert start >= 0
        offsets = list(range(start, end, IOCTL_CHUNK))
        checked = 0

        async def worker() -> None:
            nonlocal checked
            while offsets:
                offset = offsets.pop()
                done = await oracle.submit(
                    rw(READ, oracle.nsid, offset // self.lba_size, IOCTL_CHUNK, self.lba_size)
                )
                if not done.ok or done.data is None or len(done.data) != IOCTL_CHUNK:
                    self.tally.errors.append(f"ioctl read at byte {offset}: {done.status}")
                    continue
                for i in range(0, IOCTL_CHUNK, BLOCK):
                    byte = offset + i
                    block = byte // BLOCK - self.first_block
                    in_region = 0 <= block < self.blocks
                    problem = check_block(
                        done.data[i : i + BLOCK],
                        byte // self.lba_size,
                        self.expect.get(block) if in_region else None,
                    )
                    if problem:
                        self.tally.mismatches.append(
                            f"(ioctl{'' if in_region else ', guard band'}) {problem}"
                        )
                    checked += 1

        await asyncio.gather(*(worker() for _ in range(8)))
        return checked


def test_the_checker_catches_what_it_is_for() -> None:
    """The verifier is not vacuous: a flipped bit, a misdirected block, a stale write, a foreign block,
    a short read and a stray write into an unwritten block are each caught."""
    rng = random.Random(1)
    block, crc = make_block(800, 7, rng)
    assert check_block(block, 800, (7, crc)) is None
    flipped = bytearray(block)
    flipped[2000] ^= 0x10
    assert "payload CRC" in (check_block(bytes(flipped), 800, (7, crc)) or "")
    head = bytearray(block)
    head[9] ^= 1
    assert "header CRC" in (check_block(bytes(head), 800, (7, crc)) or "")
    assert "misdirected" in (check_block(block, 808, (7, crc)) or "")
    assert "stale" in (check_block(block, 800, (9, crc)) or "")
    other, other_crc = make_block(800, 7, rng)
    assert other_crc != crc and "stale" in (check_block(other, 800, (7, crc)) or "")
    assert "bytes read" in (check_block(block[:512], 800, (7, crc)) or "")
    assert "not zeros" in (check_block(block, 800, None) or "")
    assert check_block(ZERO_BLOCK, 800, None) is None
    assert "no block header" in (check_block(ZERO_BLOCK, 800, (7, crc)) or "")


@pytest.mark.parametrize(
    ("variant", "options", "first_block"),
    [
        ("plain buffers", {}, 1024),
        ("fixed buffers", {"fixed_buffers": True, "batch": 8}, 1024 + REGION_BLOCKS + 1024),
    ],
)
async def test_tagged_random_writes_verify_at_qd32(
    ns_conventional_zeroed: str,
    capsys: pytest.CaptureFixture[str],
    variant: str,
    options: dict[str, object],
    first_block: int,
) -> None:
    dev = open_uring(ns_conventional_zeroed, **options)  # type: ignore[arg-type]
    oracle = open_ioctl(ns_conventional_zeroed)
    try:
        assert dev.format is not None and BLOCK % dev.format.lba_size == 0
        assert (dev.fixed is not None) == bool(options.get("fixed_buffers"))
        v = Verifier(dev, first_block, REGION_BLOCKS, seed=first_block)
        start = time.perf_counter()
        await asyncio.wait_for(v.mixed(IOS), TIME_LIMIT_S)
        mixed_s = time.perf_counter() - start
        await asyncio.wait_for(v.read_all(), TIME_LIMIT_S)
        uring_s = time.perf_counter() - start
        checked = await asyncio.wait_for(v.check_through_ioctl(oracle), TIME_LIMIT_S)
        total_s = time.perf_counter() - start
        assert dev.io_ring is not None
        most = dev.io_ring.most_in_flight
        if dev.fixed is not None:
            assert dev.fixed.uses == v.tally.ios  # every data transfer went through a registered buffer
    finally:
        await dev.close()
        await oracle.close()
    t = v.tally
    with capsys.disabled():
        print(
            f"\n    [integrity, {variant}] {t.ios} I/Os ({t.writes} writes, {t.reads} verified reads) "
            f"at QD{QD} (most in the kernel at once: {most}), {len(v.expect)}/{REGION_BLOCKS} blocks "
            f"written, {checked} blocks re-read through ioctl; {len(t.mismatches)} mismatches, "
            f"{len(t.errors)} errors; {IOS / mixed_s:.0f} IO/s mixed, {uring_s:.1f}s uring, "
            f"{total_s:.1f}s total"
        )
    assert t.errors == []
    assert t.mismatches == [], t.mismatches[:10]
    assert t.ios >= IOS + REGION_BLOCKS
    assert t.reads > IOS // 3 and t.writes > IOS // 3
    assert most >= QD
    assert len(v.expect) == REGION_BLOCKS  # every block written (and overwritten): 100k over 8192
    assert checked == REGION_BLOCKS + 2 * GUARD_BYTES // BLOCK
