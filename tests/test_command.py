"""The Command's packing matches the kernel's own structs, byte for byte."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from nvtui.nvme.command import (
    PASSTHRU_CMD64_OFFSETS,
    PASSTHRU_CMD64_SIZE,
    URING_CMD_OFFSETS,
    URING_CMD_SIZE,
    Command,
    DataDirection,
)

HEADER = Path("/usr/include/linux/nvme_ioctl.h")


def _kernel_layout(tmp_path: Path, struct_name: str, members: list[str]) -> dict[str, int]:
    """Compile a probe against the kernel's uapi header and read sizeof/offsetof from it."""
    if not HEADER.exists() or shutil.which("cc") is None:
        pytest.skip("needs linux-libc-dev's nvme_ioctl.h and a C compiler")
    lines = [f'printf("size %zu\\n", sizeof(struct {struct_name}));']
    lines += [f'printf("{m} %zu\\n", offsetof(struct {struct_name}, {m}));' for m in members]
    src = tmp_path / "probe.c"
    src.write_text(
        "#include <stdio.h>\n#include <stddef.h>\n#include <linux/nvme_ioctl.h>\n"
        "int main(void) {\n" + "\n".join(lines) + "\nreturn 0; }\n"
    )
    exe = tmp_path / "probe"
    subprocess.run(["cc", "-o", str(exe), str(src)], check=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    return {k: int(v) for k, v in (line.split() for line in out.splitlines())}


def test_uring_cmd_offsets_match_kernel_header(tmp_path: Path) -> None:
    layout = _kernel_layout(tmp_path, "nvme_uring_cmd", list(URING_CMD_OFFSETS))
    assert layout.pop("size") == URING_CMD_SIZE == 72
    assert layout == URING_CMD_OFFSETS


def test_passthru_cmd64_offsets_match_kernel_header(tmp_path: Path) -> None:
    layout = _kernel_layout(tmp_path, "nvme_passthru_cmd64", list(PASSTHRU_CMD64_OFFSETS))
    assert layout.pop("size") == PASSTHRU_CMD64_SIZE == 80
    assert layout == PASSTHRU_CMD64_OFFSETS


def _at(raw: bytes, member: str, offsets: dict[str, int]) -> int:
    width = {"opcode": 1, "flags": 1, "rsvd1": 2, "metadata": 8, "addr": 8, "result": 8}.get(member, 4)
    return int.from_bytes(raw[offsets[member] : offsets[member] + width], "little")


def test_every_member_lands_at_its_offset() -> None:
    cmd = Command(
        opcode=0x02, admin=False, flags=0x5A, nsid=0x11223344, cdw2=0x22, cdw3=0x33, cdw10=0x1010,
        cdw11=0x1111, cdw12=0x1212, cdw13=0x1313, cdw14=0x1414, cdw15=0x1515, data_len=4096,
        metadata_len=64, timeout_ms=1234,
    )  # fmt: skip
    for raw, offsets in (
        (cmd.pack_uring_cmd(0xDEADBEEF000, 0xFEED000), URING_CMD_OFFSETS),
        (cmd.pack_passthru_cmd64(0xDEADBEEF000, 0xFEED000), PASSTHRU_CMD64_OFFSETS),
    ):
        expected = {
            "opcode": 0x02, "flags": 0x5A, "rsvd1": 0, "nsid": 0x11223344, "cdw2": 0x22, "cdw3": 0x33,
            "metadata": 0xFEED000, "addr": 0xDEADBEEF000, "metadata_len": 64, "data_len": 4096,
            "cdw10": 0x1010, "cdw11": 0x1111, "cdw12": 0x1212, "cdw13": 0x1313, "cdw14": 0x1414,
            "cdw15": 0x1515, "timeout_ms": 1234, "rsvd2": 0,
        }  # fmt: skip
        for member, value in expected.items():
            assert _at(raw, member, offsets) == value, member
    assert len(cmd.pack_passthru_cmd64()) == 80 and cmd.pack_passthru_cmd64()[72:] == bytes(8)


def test_passthru_round_trip() -> None:
    cmd = Command(opcode=0x06, admin=True, nsid=1, cdw10=1, data_len=4096, timeout_ms=5)
    raw = bytearray(cmd.pack_passthru_cmd64(0x1000, 0))
    struct.pack_into("<Q", raw, 72, 0xABCDEF)  # the kernel writes the result here
    back, addr, md, result = Command.unpack_passthru_cmd64(bytes(raw), admin=True)
    assert back == cmd and addr == 0x1000 and md == 0 and result == 0xABCDEF


def test_submission_entry_is_the_spec_layout() -> None:
    """NVMe Base 2.0, Fig. 88: CDW0 opcode at byte 0, NSID at 4, CDW2 8, CDW3 12, CDW10-15 at 40-63."""
    sqe = Command(opcode=0x80, admin=True, nsid=7, cdw2=2, cdw3=3, cdw10=10, cdw15=15).submission_entry()
    assert len(sqe) == 64
    assert sqe[0] == 0x80 and int.from_bytes(sqe[4:8], "little") == 7
    assert int.from_bytes(sqe[8:12], "little") == 2 and int.from_bytes(sqe[12:16], "little") == 3
    assert int.from_bytes(sqe[40:44], "little") == 10 and int.from_bytes(sqe[60:64], "little") == 15
    assert sqe[16:40] == bytes(24)  # MPTR and DPTR are the kernel's to fill


@pytest.mark.parametrize(
    ("opcode", "direction"),
    [
        (0x00, "none"),
        (0x01, "write"),
        (0x02, "read"),
        (0x06, "read"),
        (0x09, "write"),
        (0x7F, "bidirectional"),
    ],
)
def test_direction_from_opcode_bits(opcode: int, direction: str) -> None:
    assert DataDirection.of_opcode(opcode).short == direction


def test_direction_problems_flag_disagreements() -> None:
    read_without_buffer = Command(opcode=0x02, admin=False, nsid=1)
    assert any("data_len is 0" in p for p in read_without_buffer.direction_problems())
    flush_with_data = Command(opcode=0x00, admin=False, nsid=1, data_len=512)
    assert any("transfers no data" in p for p in flush_with_data.direction_problems())
    declared_write = Command(opcode=0x02, admin=False, nsid=1, data_len=512)
    problems = declared_write.direction_problems(DataDirection.HOST_TO_CONTROLLER)
    assert any("declares write" in p for p in problems)
    assert Command(opcode=0x02, admin=False, nsid=1, data_len=512).direction_problems() == []


@pytest.mark.parametrize(
    "bad",
    [
        {"opcode": 0x100}, {"opcode": -1}, {"nsid": 1 << 32}, {"cdw10": -5}, {"cdw15": 1 << 32},
        {"flags": 256}, {"data_len": 1 << 32},
    ],
)  # fmt: skip
def test_out_of_range_members_are_refused_not_truncated(bad: dict[str, int]) -> None:
    args: dict[str, int] = {"opcode": 0x02, **bad}
    with pytest.raises(ValueError, match="out of range"):
        Command(admin=False, **args)


def test_data_longer_than_data_len_is_refused() -> None:
    with pytest.raises(ValueError, match="data is 8 bytes but data_len is 4"):
        Command(opcode=0x01, admin=False, data=bytes(8), data_len=4)
