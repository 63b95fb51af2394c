"""A load run as a fio job file that reproduces it: fio's io_uring_cmd engine on the same char device, with
the same pattern, block size, queue depth, duration, fixed buffers and polled completions.

Written over `nvtui bench`'s parameters (the session-layer LoadJob of the ladder issue was not on main when
this was written): fio's `rw` names are nvtui's (`randread`, `randwrite`, `read`, `write`).
"""

from __future__ import annotations

from nvtui.catalogue.nvme_cli import nvme_cli_device

__all__ = ["fio_job"]


def fio_job(
    device_path: str, *, rw: str, bs: int, qd: int, seconds: float, fixed_buffers: bool = False,
    poll: bool = False, name: str = "nvtui",
) -> str:  # fmt: skip
    """The fio job file text. A simulated device is named by a placeholder (`/dev/ngXnY`) to replace."""
    filename = nvme_cli_device(device_path)
    if filename.startswith("/dev/nvmeX"):
        filename = "/dev/ngXnY"  # fio's io_uring_cmd engine opens the namespace's generic char device
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
