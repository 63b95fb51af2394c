"""In the VM, against the real Linux NVMe driver: `nvtui doctor` on a healthy boot and on broken ones
(io_uring disabled by sysctl, an unprivileged user, no poll queues), and nvme-cli lines run by nvtui against
nvme-cli's own run of the same line: the same status and the same data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PY = sys.executable
NVME_CLI_VS_NVTUI = [
    "id-ctrl {ctrl} -b",
    "id-ns {ns} -n {nsid} -b",
    "smart-log {ctrl} -b",
    "fw-log {ctrl} -b",
    "effects-log {ctrl} --csi=0 -b",
    "get-log {ctrl} --log-id=1 --log-len=256 -b",
    "ns-descs {ns} -n {nsid} -b",
    "list-ns {ctrl}",
    "get-feature {ctrl} -f 7",
    "read {ns} -s 0 -c 7 -z 4096 -d {out}",
    "zns report-zones {zoned} -d 4",
    "zns zone-mgmt-recv {zoned} -s 0 --data-len=320",  # nvme-cli 2.3 prints no data for it
    "error-log {ctrl} -e 1 -b",
    "admin-passthru {ctrl} --opcode=0x06 --cdw10=1 --data-len=4096 -r -b",
    "io-passthru {ns} --opcode=2 -n {nsid} --cdw12=7 --data-len=4096 -r -b",
    "zns id-ctrl {ctrl} -o binary",
    "zns id-ns {zoned} -o binary",
    "get-feature {ctrl} -f 6",
    "sanitize-log {ctrl} -b",  # refused by QEMU's controller, as nvme-cli is
]


def doctor(*args: str, env: dict[str, str] | None = None, prefix: tuple[str, ...] = ()) -> tuple[int, dict]:
    out = subprocess.run(
        [*prefix, PY, "-m", "nvtui.cli", "doctor", "--json", *args], capture_output=True, text=True,
        env={**os.environ, **(env or {})}, check=False, timeout=300,
    )  # fmt: skip
    assert out.stdout, out.stderr
    return out.returncode, json.loads(out.stdout)


def levels(report: dict, check: str) -> set[str]:
    return {f["level"] for f in report["findings"] if f["check"] == check}


def test_doctor_is_all_ok_on_a_healthy_boot(nvme_ctrl: str) -> None:
    rc, report = doctor()
    bad = [f for f in report["findings"] if f["level"] != "ok"]
    assert rc == 0 and not bad, bad
    checks = {f["check"] for f in report["findings"]}
    assert {
        "kernel",
        "io_uring",
        "poll-queues",
        "permissions",
        "uring_cmd",
        "mdts",
        "lba-format",
        "io_poll",
    } <= checks
    assert any("Identify Controller over uring_cmd" in f["message"] for f in report["findings"])
    assert any("8 bytes of separate metadata" in f["message"] for f in report["findings"])


def test_doctor_names_io_uring_disabled_by_sysctl_and_the_fix(nvme_ctrl: str) -> None:
    knob = Path("/proc/sys/kernel/io_uring_disabled")
    before = knob.read_text().strip()
    knob.write_text("2")
    try:
        rc, report = doctor()
    finally:
        knob.write_text(before)
    assert rc == 3
    found = [f for f in report["findings"] if f["check"] == "io_uring"]
    assert found[0]["level"] == "problem" and "io_uring_disabled = 2" in found[0]["message"]
    assert "sysctl -w kernel.io_uring_disabled=0" in found[0]["fix"]
    assert levels(report, "uring_cmd") == {"problem"}  # the Identify over uring_cmd fails too


def test_doctor_as_an_unprivileged_user_names_the_permissions_and_the_udev_rule(nvme_ctrl: str) -> None:
    """`nobody` cannot open /dev/nvme0 or /dev/ng0n*: each is a problem naming the udev rule. The host's
    /root (where the interpreter lives) is 0700, so the run sees it through a private mount namespace."""
    python_root = Path(os.path.realpath(PY)).parents[3]  # /root/.pyenv (or wherever the interpreter lives)
    script = (
        f"mkdir -p /tmp/pyroot && mount --bind {python_root} /tmp/pyroot && "
        f"mount -t tmpfs -o mode=0755 tmpfs /root && mkdir -p {python_root} && "
        f"mount --bind /tmp/pyroot {python_root} && "
        f"exec setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "
        f"env HOME=/tmp NVTUI_CACHE_DIR=off {PY} -m nvtui.cli doctor --json"
    )
    out = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=300,
                         check=False, cwd=os.getcwd())  # fmt: skip
    assert out.stdout, out.stderr
    report = json.loads(out.stdout)
    assert out.returncode == 3
    denied = [f for f in report["findings"] if f["check"] == "permissions"]
    assert denied and all(f["level"] == "problem" for f in denied)
    assert all("permission denied" in f["message"] and 'KERNEL=="ng[0-9]*"' in f["fix"] for f in denied)


@pytest.mark.nopoll
def test_doctor_names_missing_poll_queues_when_polling_is_asked_for(nvme_ctrl: str) -> None:
    rc, report = doctor()
    assert rc == 1 and levels(report, "poll-queues") == {"warning"}
    rc, report = doctor("--poll")
    assert rc == 3
    found = [f for f in report["findings"] if f["check"] in ("poll-queues", "io_poll")]
    assert found and all(f["level"] == "problem" for f in found)
    assert all("poll_queues=2" in f["fix"] for f in found)


@pytest.mark.parametrize("template", NVME_CLI_VS_NVTUI)
def test_nvtui_runs_an_nvme_cli_line_like_nvme_cli(
    template: str, nvme_ctrl: str, ns_conventional: str, ns_zoned: str, tmp_path: Path
) -> None:
    """The same line, run by nvme-cli and by `nvtui send --nvme-cli`: the same exit status and the same
    data (raw bytes where the line asks for binary, or the file it names)."""
    nsid = Path(f"/sys/block/nvme{ns_conventional.removeprefix('/dev/ng')}/nsid").read_text().strip()
    fill = {"ctrl": nvme_ctrl, "ns": ns_conventional, "zoned": ns_zoned, "nsid": nsid}
    theirs = subprocess.run(
        ["nvme", *template.format(**fill, out=tmp_path / "theirs.bin").split()], capture_output=True,
        timeout=120, check=False,
    )  # fmt: skip
    ours = subprocess.run(
        [PY, "-m", "nvtui.cli", "send", "--nvme-cli", "nvme " + template.format(**fill, out=tmp_path / "o")],
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert (theirs.returncode == 0) == (ours.returncode == 0), (theirs.stderr, ours.stderr)
    if ("-b" in template.split() or "binary" in template) and theirs.returncode == 0:
        assert ours.stdout == theirs.stdout, template
    elif "{out}" in template:
        assert (tmp_path / "o").read_bytes() == (tmp_path / "theirs.bin").read_bytes()
