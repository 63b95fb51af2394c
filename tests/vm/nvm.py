"""NVM Command Set commands built by hand for the VM tests (which check the backends below the catalogue)."""

from __future__ import annotations

from nvtui.nvme.command import Command


def rw(opcode: int, nsid: int, slba: int, blocks: int, lba_size: int, **extra: object) -> Command:
    """NVM Command Set 1.0, Fig. 16-17: SLBA in CDW10-11, NLB (0-based) in CDW12 bits 15:0."""
    return Command(
        opcode=opcode,
        admin=False,
        nsid=nsid,
        cdw10=slba & 0xFFFFFFFF,
        cdw11=slba >> 32,
        cdw12=blocks - 1,
        data_len=blocks * lba_size,
        **extra,  # type: ignore[arg-type]
    )


def rw_bytes(
    opcode: int, nsid: int, lba: int, nbytes: int, lba_size: int, data: bytes | None = None
) -> Command:
    """`rw` sized in bytes (a whole number of blocks)."""
    return rw(opcode, nsid, lba, nbytes // lba_size, lba_size, data=data)
