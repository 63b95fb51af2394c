"""`nvtui doctor`: what nvtui needs from the machine and each device, checked line by line, each finding ok,
warning or problem, with the fix.

Machine: the kernel's version against what generic char devices (5.13), io_uring NVMe passthrough
(uring_cmd, 5.19), polled uring_cmd completions (IOPOLL, 6.0) and fixed buffers for uring_cmd (6.1) need;
`kernel.io_uring_disabled`; the nvme module's poll queues. Each controller: its char device present and
openable (the udev rule that opens it otherwise), uring_cmd proven by one harmless Identify Controller through
the controller's char device, MDTS. Each namespace: its generic char device and permissions, its LBA format
and metadata, the queue's `io_poll`, multipath. Fabrics: which controllers are reached over NVMe over Fabrics
(transport, address, subsystem and host NQN) and their state; each path of a multipath namespace; and a
subsystem the user names by its NQN: its controllers, or, when none is connected, the nvme-cli command that
connects it (connecting stays nvme-cli's job).

`run_doctor` is the CLI's; `device_findings(name)` gives the Devices screen the findings of one device
(blocking: call it from a worker thread). Exit codes: 0 all ok, 1 warnings, 3 problems.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nvtui.backend.base import ControllerInfo, NamespaceInfo
from nvtui.backend.discovery import PROC, SYSFS, kernel_version, path_line, transport_text

OK, WARNING, PROBLEM = "ok", "warning", "problem"
GENERIC_CHAR_KERNEL = (5, 13)
URING_CMD_KERNEL = (5, 19)
IOPOLL_KERNEL = (6, 0)  # io_uring: iopoll for uring_cmd; nvme: async polling for passthrough
FIXED_BUFFERS_KERNEL = (6, 1)  # IORING_URING_CMD_FIXED
MIN_PAGE_SIZE = (
    4096  # CAP.MPSMIN, the unit of MDTS (not readable from user space; 4 KiB on all known devices)
)
POLL_FIX = (
    "load the nvme module with poll queues: echo 'options nvme poll_queues=2' > "
    "/etc/modprobe.d/nvme-poll.conf, then reload nvme (or reboot); with nvme built into the kernel, "
    "boot with nvme.poll_queues=2"
)
UDEV_RULES = (
    'add /etc/udev/rules.d/70-nvme-generic.rules with KERNEL=="ng[0-9]*", GROUP="disk", MODE="0660" and '
    'KERNEL=="nvme[0-9]*", SUBSYSTEM=="nvme", GROUP="disk", MODE="0660", run udevadm control --reload && '
    "udevadm trigger, and join the disk group (or run as root)"
)


@dataclass(frozen=True)
class Finding:
    level: str  # ok | warning | problem
    subject: str  # "machine", a controller ("nvme0") or a namespace ("ng0n1")
    check: (
        str  # kernel, io_uring, poll-queues, devices, permissions, uring_cmd, mdts, lba-format, metadata, ...
    )
    message: str
    fix: str = ""


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        levels = {f.level for f in self.findings}
        return 3 if PROBLEM in levels else 1 if WARNING in levels else 0

    def to_json(self) -> dict[str, object]:
        counts = {level: sum(f.level == level for f in self.findings) for level in (OK, WARNING, PROBLEM)}
        return {
            "findings": [asdict(f) for f in self.findings],
            "summary": counts,
            "exit_code": self.exit_code,
        }


def render(report: Report) -> str:
    lines = []
    for f in report.findings:
        lines.append(f"{f.level:8} {f.subject:9} {f.check:12} {f.message}")
        if f.fix:
            lines.append(f"{'':8} {'':9} {'':12} fix: {f.fix}")
    counts = report.to_json()["summary"]
    lines.append(f"{counts[OK]} ok, {counts[WARNING]} warnings, {counts[PROBLEM]} problems")  # type: ignore[index]
    return "\n".join(lines)


# --- the machine -----------------------------------------------------------------------------------------


def kernel_findings(release: str | None = None) -> list[Finding]:
    release = release or os.uname().release
    version = kernel_version(release)
    shown = f"kernel {release}"
    needs = [
        (GENERIC_CHAR_KERNEL, PROBLEM, "generic char devices /dev/ngXnY"),
        (
            URING_CMD_KERNEL,
            WARNING,
            "io_uring NVMe passthrough (uring_cmd; nvtui falls back to the ioctl backend)",
        ),
        (IOPOLL_KERNEL, WARNING, "polled uring_cmd completions (IOPOLL)"),
        (FIXED_BUFFERS_KERNEL, WARNING, "fixed buffers for uring_cmd"),
    ]
    missing = [(need, level, what) for need, level, what in needs if version < need]
    if not missing:
        has = (
            "has generic char devices (5.13+), uring_cmd (5.19+), IOPOLL for uring_cmd (6.0+) and "
            "fixed buffers for uring_cmd (6.1+)"
        )
        return [Finding(OK, "machine", "kernel", f"{shown}: {has}")]
    return [
        Finding(
            level,
            "machine",
            "kernel",
            f"{shown} predates {what} ({need[0]}.{need[1]})",
            f"boot a kernel {need[0]}.{need[1]} or newer",
        )
        for need, level, what in missing
    ]


def io_uring_findings(proc: Path = PROC) -> list[Finding]:
    knob = proc / "sys" / "kernel" / "io_uring_disabled"
    try:
        value = int(knob.read_text().strip())
    except (OSError, ValueError):
        return [Finding(OK, "machine", "io_uring", "io_uring is enabled (no kernel.io_uring_disabled here)")]
    fix = "sysctl -w kernel.io_uring_disabled=0 (and set it in /etc/sysctl.d/ to keep it)"
    if value == 0:
        return [Finding(OK, "machine", "io_uring", "io_uring is enabled (kernel.io_uring_disabled = 0)")]
    if value == 2:
        why = (
            "io_uring is disabled for everyone (kernel.io_uring_disabled = 2): nvtui falls back to the "
            "slower ioctl backend and cannot run its load engine"
        )
        return [Finding(PROBLEM, "machine", "io_uring", why, fix)]
    group = _read_int(proc / "sys" / "kernel" / "io_uring_group")
    allowed = os.geteuid() == 0 or (
        group is not None and group >= 0 and group in {os.getegid(), *os.getgroups()}
    )
    if allowed:
        return [
            Finding(
                OK,
                "machine",
                "io_uring",
                "io_uring is limited to root and kernel.io_uring_group "
                "(kernel.io_uring_disabled = 1), which includes you",
            )
        ]
    return [
        Finding(
            PROBLEM,
            "machine",
            "io_uring",
            "io_uring is limited to root and kernel.io_uring_group "
            "(kernel.io_uring_disabled = 1), which does not include you",
            f"{fix}, or join the group kernel.io_uring_group names",
        )
    ]


def poll_queue_findings(sysfs: Path = SYSFS, *, poll: bool = False) -> list[Finding]:
    value = _read_int(sysfs / "module" / "nvme" / "parameters" / "poll_queues")
    if value is None:
        return [
            Finding(OK, "machine", "poll-queues", "the nvme module is not loaded (no PCIe NVMe driver here)")
        ]
    if value > 0:
        return [
            Finding(
                OK, "machine", "poll-queues", f"the nvme driver has {value} poll queues (nvme.poll_queues)"
            )
        ]
    level = PROBLEM if poll else WARNING
    why = (
        "the nvme driver has no poll queues (nvme.poll_queues = 0): polled completions (bench --poll, "
        "IOPOLL) spin on an interrupt queue and gain nothing"
    )
    return [Finding(level, "machine", "poll-queues", why, POLL_FIX)]


# --- devices ---------------------------------------------------------------------------------------------


def controller_findings(ctrl: ControllerInfo, *, probe: bool = True) -> list[Finding]:
    name = ctrl.name
    out: list[Finding] = []
    if ctrl.simulated:
        return [
            Finding(OK, name, "simulated", "the simulated controller: no kernel, device or permission needed")
        ]
    if not ctrl.char_dev or not Path(ctrl.char_dev).exists():
        return [
            Finding(
                PROBLEM,
                name,
                "devices",
                f"/dev/{name} is missing",
                "mount devtmpfs on /dev or let udev create the nodes",
            )
        ]
    if ctrl.access_error:
        out.append(Finding(PROBLEM, name, "permissions", ctrl.access_error, UDEV_RULES))
        return out
    out.append(
        Finding(
            OK,
            name,
            "permissions",
            f"{ctrl.char_dev} opens read-write ({ctrl.model.strip()}, "
            f"transport {ctrl.transport}, {ctrl.state})",
        )
    )
    out.extend(fabrics_findings(ctrl))
    if probe and ctrl.state in ("live", ""):
        out.extend(_identify_findings(name, ctrl.char_dev))
    return out


#: Controller states (drivers/nvme/host/core.c, `state`) in which a fabrics controller is trying again.
RECONNECTING_STATES = frozenset({"connecting", "resetting", "new"})


def fabrics_findings(ctrl: ControllerInfo) -> list[Finding]:
    """A fabrics controller: its transport, address, subsystem and host NQN, and its state."""
    if not ctrl.fabrics:
        return []
    what = (
        f"NVMe over Fabrics, {transport_text(ctrl)}, subsystem {ctrl.subsysnqn or '?'}, "
        f"host {ctrl.hostnqn or '?'}: {ctrl.state}"
    )
    if ctrl.state == "live":
        return [Finding(OK, ctrl.name, "fabrics", what)]
    if ctrl.state in RECONNECTING_STATES:
        return [
            Finding(
                WARNING,
                ctrl.name,
                "fabrics",
                f"{what}: the kernel reconnects every reconnect_delay seconds until ctrl_loss_tmo; "
                "its I/O waits for another path or fails after fast_io_fail_tmo",
                f"check that the target still exports {ctrl.subsysnqn} ({transport_text(ctrl)})",
            )
        ]
    return [
        Finding(
            PROBLEM,
            ctrl.name,
            "fabrics",
            what,
            f"nvme disconnect -d {ctrl.name}, then connect again (`nvtui doctor {ctrl.subsysnqn}` says how)",
        )
    ]


GEN_HOSTNQN = "$(nvme gen-hostnqn)"  # no /etc/nvme/hostnqn and no connected host to copy the NQN from


def connect_command(
    nqn: str,
    *,
    transport: str = "tcp",
    traddr: str = "",
    trsvcid: str = "",
    hostnqn: str = "",
    hostid: str = "",
) -> str:
    """The nvme-cli line that connects subsystem `nqn`; `<address>` where the address is not known."""
    import shlex

    argv = ["nvme", "connect", "-t", transport, "-n", nqn]
    if transport != "loop":
        argv += ["-a", traddr or "<address>"]
        if trsvcid or transport in ("tcp", "rdma"):
            argv += ["-s", trsvcid or "4420"]
    if hostnqn:
        argv.append(f"--hostnqn={hostnqn}")
    if hostid:
        argv.append(f"--hostid={hostid}")
    return " ".join(a if a == "<address>" or a.endswith(GEN_HOSTNQN) else shlex.quote(a) for a in argv)


def subsystem_findings(
    nqn: str,
    controllers: Sequence[ControllerInfo],
    *,
    transport: str = "tcp",
    traddr: str = "",
    trsvcid: str = "",
    sysfs: Path = SYSFS,
) -> list[Finding]:
    """A subsystem the user names by NQN: which controllers reach it and in what state, or, when none does,
    the nvme-cli command that connects it (with the host NQN and host ID of the fabrics controllers already
    connected, so the host keeps one identity)."""
    subject = "subsystem"
    mine = [c for c in controllers if c.subsysnqn == nqn]
    live = [c for c in mine if c.state == "live"]
    if mine:
        listed = ", ".join(f"{c.name} ({transport_text(c)}, {c.state})" for c in mine)
        level = OK if live else PROBLEM
        fix = "" if live else "the target does not answer on any path: check it, or reconnect (nvme-cli)"
        return [Finding(level, subject, "fabrics", f"{nqn}: {len(live)} of {len(mine)} live: {listed}", fix)]
    known = next((c for c in controllers if c.fabrics and c.hostnqn), None)
    hostnqn = known.hostnqn if known is not None else ""
    hostid = _read_text(sysfs / "class" / "nvme" / known.name / "hostid") if known is not None else ""
    if not hostnqn and not Path("/etc/nvme/hostnqn").exists():
        hostnqn = GEN_HOSTNQN
    line = connect_command(
        nqn, transport=transport, traddr=traddr, trsvcid=trsvcid, hostnqn=hostnqn, hostid=hostid
    )
    modules = "nvme-loop" if transport == "loop" else f"nvme-{transport}"
    return [
        Finding(
            PROBLEM,
            subject,
            "fabrics",
            f"{nqn} is not connected (no controller of this machine belongs to it)",
            f"{line}   (needs the {modules} module; `nvme discover` lists what a target exports)",
        )
    ]


def path_findings(ns: NamespaceInfo) -> list[Finding]:
    """Each path of a multipath namespace: its controller, transport, state and ANA state."""
    if not ns.paths:
        return []
    usable = [p for p in ns.paths if p.state == "live" and p.ana_state in ("optimized", "non-optimized", "")]
    listed = "; ".join(path_line(p) for p in ns.paths)
    if len(usable) == len(ns.paths):
        return [Finding(OK, ns.name, "paths", f"{len(ns.paths)} paths: {listed}")]
    if usable:
        return [
            Finding(WARNING, ns.name, "paths", f"{len(usable)} of {len(ns.paths)} paths usable: {listed}")
        ]
    return [
        Finding(
            PROBLEM,
            ns.name,
            "paths",
            f"no usable path: {listed}",
            "I/O waits until a path comes back, or fails after fast_io_fail_tmo / ctrl_loss_tmo",
        )
    ]


def _identify_findings(name: str, char_dev: str) -> list[Finding]:
    """uring_cmd proven by one Identify Controller through the controller's char device, and its MDTS."""
    import asyncio

    from nvtui.errors import NvtuiError
    from nvtui.nvme.identify import CNS_CONTROLLER, identify_command

    async def identify() -> tuple[bytes | None, str]:
        from nvtui.backend import open_backend

        backend = await open_backend(char_dev, "uring")
        try:
            done = await backend.submit(identify_command(CNS_CONTROLLER))
        finally:
            await backend.close()
        return (done.data if done.ok else None), done.status.name

    try:
        data, status = asyncio.run(identify())
    except (NvtuiError, OSError) as exc:
        return [
            Finding(
                PROBLEM,
                name,
                "uring_cmd",
                f"Identify over uring_cmd on {char_dev} failed: {exc}",
                "see the io_uring and kernel lines above; nvtui falls back to the ioctl backend",
            )
        ]
    if data is None:
        return [Finding(PROBLEM, name, "uring_cmd", f"Identify Controller over uring_cmd returned {status}")]
    out = [Finding(OK, name, "uring_cmd", f"Identify Controller over uring_cmd on {char_dev}: {status}")]
    mdts = data[77]
    if mdts:
        out.append(
            Finding(
                OK,
                name,
                "mdts",
                f"largest transfer {(1 << mdts) * MIN_PAGE_SIZE // 1024} KiB "
                f"(MDTS {mdts}, in units of a 4 KiB minimum page)",
            )
        )
    else:
        out.append(
            Finding(OK, name, "mdts", "no transfer size limit (MDTS 0); the kernel's own limit applies")
        )
    return out


def namespace_findings(ns: NamespaceInfo, *, sysfs: Path = SYSFS, poll: bool = False) -> list[Finding]:
    name = ns.name
    if ns.char_dev is None:
        return [Finding(OK, name, "simulated", "a simulated namespace")]
    out: list[Finding] = []
    if not Path(ns.char_dev).exists():
        return [
            Finding(
                PROBLEM,
                name,
                "devices",
                f"{ns.char_dev} is missing",
                "the kernel creates /dev/ngXnY from 5.13 on: check the kernel line above",
            )
        ]
    if ns.access_error:
        out.append(Finding(PROBLEM, name, "permissions", ns.access_error, UDEV_RULES))
    else:
        out.append(Finding(OK, name, "permissions", f"{ns.char_dev} opens read-write (nsid {ns.nsid})"))
    fmt = f"{ns.lba_size}-byte blocks"
    if ns.metadata_size:
        meta = (
            f"{ns.metadata_size} bytes of separate metadata each: nvtui gives every read and write its buffer"
        )
        out.append(Finding(OK, name, "lba-format", f"{fmt} with {meta}"))
    else:
        out.append(Finding(OK, name, "lba-format", f"{fmt}, no metadata{', zoned' if ns.zoned else ''}"))
    disk = sysfs / "block" / ("nvme" + name[2:])
    io_poll = _read_int(disk / "queue" / "io_poll")
    if io_poll == 0:
        level = PROBLEM if poll else WARNING
        out.append(
            Finding(level, name, "io_poll", f"{disk.name}'s queue cannot poll (queue/io_poll = 0)", POLL_FIX)
        )
    elif io_poll == 1:
        out.append(Finding(OK, name, "io_poll", f"{disk.name}'s queue polls (queue/io_poll = 1)"))
    paths = sorted(p.name for p in (disk / "multipath").iterdir()) if (disk / "multipath").is_dir() else []
    if len(paths) > 1:
        out.append(
            Finding(OK, name, "multipath", f"native multipath over {len(paths)} paths: {', '.join(paths)}")
        )
    out.extend(path_findings(ns))
    return out


def multipath_findings(sysfs: Path = SYSFS) -> list[Finding]:
    value = sysfs / "module" / "nvme_core" / "parameters" / "multipath"
    try:
        on = value.read_text().strip() == "Y"
    except OSError:
        return []
    what = "on: a shared namespace shows once, as ngSnY, over all its paths" if on else "off"
    return [Finding(OK, "machine", "multipath", f"native NVMe multipath is {what} (nvme_core.multipath)")]


def run_doctor(
    devices: Sequence[str] = (),
    *,
    poll: bool = False,
    sysfs: Path = SYSFS,
    proc: Path = PROC,
    release: str | None = None,
    probe: bool = True,
    transport: str = "tcp",
    traddr: str = "",
    trsvcid: str = "",
) -> Report:
    """Every check, on the machine and each device found (or only `devices`, by name). A device that is a
    subsystem NQN (`nqn.`...) is checked as a subsystem: `transport`, `traddr` and `trsvcid` say where its
    target is, for the connect command when it is not connected."""
    from nvtui.backend.discovery import list_controllers

    subsystems = [d for d in devices if d.startswith("nqn.")]
    devices = [d for d in devices if not d.startswith("nqn.")]

    report = Report()
    report.findings += kernel_findings(release)
    report.findings += io_uring_findings(proc)
    report.findings += poll_queue_findings(sysfs, poll=poll)
    report.findings += multipath_findings(sysfs)
    wanted = {d.removeprefix("/dev/") for d in devices}
    controllers = list_controllers(sysfs=sysfs, proc=proc, include_sim=False)
    for nqn in subsystems:
        report.findings += subsystem_findings(
            nqn, controllers, transport=transport, traddr=traddr, trsvcid=trsvcid, sysfs=sysfs
        )
        wanted |= {c.name for c in controllers if c.subsysnqn == nqn}
    if subsystems and not wanted:
        return report
    if not controllers and not wanted:
        report.findings.append(
            Finding(
                WARNING,
                "machine",
                "devices",
                "no NVMe controller found in sysfs",
                "nvtui still works on the simulated controller sim0",
            )
        )
    seen: set[str] = set()
    for ctrl in controllers:
        for ns in ctrl.namespaces:
            if ns.name in seen or (wanted and ns.name not in wanted and ctrl.name not in wanted):
                continue
            seen.add(ns.name)
        if wanted and ctrl.name not in wanted and not any(ns.name in wanted for ns in ctrl.namespaces):
            continue
        report.findings += controller_findings(ctrl, probe=probe)
        for ns in ctrl.namespaces:
            if not wanted or ns.name in wanted or ctrl.name in wanted:
                report.findings += namespace_findings(ns, sysfs=sysfs, poll=poll)
    for name in sorted(wanted - seen - {c.name for c in controllers}):
        report.findings.append(
            Finding(
                PROBLEM, name, "devices", f"no NVMe device {name} in sysfs", "`nvtui list` shows the devices"
            )
        )
    return report


def device_findings(device: str, *, poll: bool = False) -> list[Finding]:
    """The findings the Devices screen shows for one device (a controller or a namespace): the machine's
    lines, then the device's. Blocking (one Identify): call it from a worker thread."""
    if device.removeprefix("/dev/").startswith("sim"):
        return [
            Finding(
                OK, device, "simulated", "the simulated controller: no kernel, device or permission needed"
            )
        ]
    report = run_doctor([device], poll=poll)
    return report.findings


def _read_text(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip(), 0)
    except (OSError, ValueError):
        return None
