"""A load run as a fio job file that reproduces it: fio's io_uring_cmd engine on the same char device, with
the same pattern, block size, queue depth, duration, fixed buffers and polled completions.

Written over `nvtui bench`'s parameters (the session-layer LoadJob of the ladder issue was not on main when
this was written): fio's `rw` names are nvtui's (`randread`, `randwrite`, `read`, `write`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nvtui.catalogue.nvme_cli import nvme_cli_device
from nvtui.errors import UsageError

if TYPE_CHECKING:
    from nvtui.nvme.command import Command

__all__ = ["fio_job", "fio_job_for_command"]

# The NVM opcodes fio's io_uring_cmd engine sends (their range: `Command.plain_block_range`).
_FIO_RW = {0x02: "read", 0x01: "write"}


def _filename(device_path: str) -> str:
    filename = nvme_cli_device(device_path)
    if filename.startswith("/dev/nvmeX"):
        filename = "/dev/ngXnY"  # fio's io_uring_cmd engine opens the namespace's generic char device
    return filename


def fio_job(
    device_path: str, *, rw: str, bs: int, qd: int, seconds: float, fixed_buffers: bool = False,
    poll: bool = False, name: str = "nvtui",
) -> str:  # fmt: skip
    """The fio job file text. A simulated device is named by a placeholder (`/dev/ngXnY`) to replace."""
    filename = _filename(device_path)
    lines = [
        f"# nvtui bench {device_path} --rw {rw} --bs {bs} --qd {qd} --seconds {seconds:g}"
        + (" --fixed-buffers" if fixed_buffers else "")
        + (" --poll" if poll else ""),
        "[global]",
        "ioengine=io_uring_cmd",
        "cmd_type=nvme",
        f"filename={filename}",
        f"rw={rw}",
        f"bs={bs}",
        f"iodepth={qd}",
        f"fixedbufs={1 if fixed_buffers else 0}",
        f"hipri={1 if poll else 0}",
        "time_based=1",
        f"runtime={max(1, round(seconds))}",
        "norandommap=1",
        "randrepeat=0",
        "group_reporting=1",
        "",
        f"[{name}]",
        "",
    ]
    return "\n".join(lines)


def fio_job_for_command(
    device_path: str, cmd: Command, lba_size: int, *, qd: int, count: int | None, seconds: float | None,
    name: str = "nvtui", lba_pattern: str = "fixed",
) -> str:  # fmt: skip
    """The fio job that repeats one composed Read or Write, as the Load screen does: the same LBAs every
    time (offset and size are the command's range), or (`lba_pattern` "sequential" or "random") its size
    of I/O over the whole namespace, at the same queue depth, for the same count or time.

    fio's io_uring_cmd engine sends only reads and writes, so any other command is a UsageError; a plain
    Read or Write only (FUA, protection information, directives and the like have no fio option here).
    """
    rw = None if cmd.admin else _FIO_RW.get(cmd.opcode)
    if rw is None:
        raise UsageError("fio's io_uring_cmd engine sends only Read and Write: this command has no fio job")
    block_range = cmd.plain_block_range()
    if block_range is None:
        raise UsageError("only a plain Read or Write exports as a fio job (no FUA, PI, directives or hints)")
    if count is None and seconds is None:
        raise UsageError("a load run needs a count or a duration")
    slba, nlb = block_range
    bs = nlb * lba_size
    how = f"count {count}" if count is not None else f"{seconds:g} s"
    runtime = max(1, round(seconds or 1))
    until = [f"number_ios={count}"] if count is not None else ["time_based=1", f"runtime={runtime}"]
    writes = rw == "write"
    where = [f"offset={slba * lba_size}", f"size={bs}"]  # every I/O to the same LBAs, as the screen repeats
    what = f"{rw} of {nlb} blocks at LBA {slba}"
    if lba_pattern != "fixed":
        rw = f"rand{rw}" if lba_pattern == "random" else rw
        where = []  # the whole namespace, as the screen's pattern covers it
        what = f"{rw} of {nlb} blocks over the namespace"
    lines = [
        f"# nvtui Load screen: {what} on {device_path}, queue depth {qd}, {how}",
        *(["# fio writes its own buffer pattern, not the composed command's data"] if writes else []),
        "[global]",
        "ioengine=io_uring_cmd",
        "cmd_type=nvme",
        f"filename={_filename(device_path)}",
        f"rw={rw}",
        f"bs={bs}",
        *where,
        f"iodepth={qd}",
        *until,
        "group_reporting=1",
        "",
        f"[{name}]",
        "",
    ]
    return "\n".join(lines)
