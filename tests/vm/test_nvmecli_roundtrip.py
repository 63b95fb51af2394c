"""Issue 14's round trip in the VM: for every nvme-cli verb nvtui imports, the same nvme-cli line is run by
nvme-cli itself and by `nvtui send --nvme-cli`, and what reached the controller is compared, as the kernel
saw it: the `nvme_setup_cmd` tracepoint (opcode, NSID, the decoded or raw CDW10-15), the `block_rq_issue`
one (the data length) and `nvme_complete_rq` (the status and result). Neither tool is touched: the trace
is read around each run and kept to the process that ran it (its thread group, so an io_uring worker
counts), with the command ID, queue, CPU and timestamps left out.

Where QEMU's controller lacks the feature (FDP, reservations, sanitize, telemetry, self-test, firmware
download, namespace management), both tools must be refused the same way, by the controller, with the
same command. State-changing lines run on what the other VM tests do not keep (the last zone of the zoned
namespace, LBAs of the conventional one that they zero before use, namespace IDs that do not exist), put
the state each line needs in place before each tool's run, and put it back after.

nvtui runs in-process (`nvtui.cli.main`, as `send --nvme-cli` from a shell): a process start costs
seconds under TCG. Its trace is this process's.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import struct
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fuzz.recording import run_cli

from nvtui.nvmecli.table import VERBS, verb_index
from tests.vm.conftest import block_device

pytestmark = pytest.mark.vm

TRACING = Path("/sys/kernel/tracing")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
EVENTS = ("nvme/nvme_setup_cmd", "nvme/nvme_complete_rq", "block/block_rq_issue")


@dataclass(frozen=True)
class Case:
    """One nvme-cli line (without `nvme `), `{ctrl}` `{ns}` `{nsid}` `{zoned}` `{zslba}` `{data}`
    `{data4k}` `{fw}` `{out}` filled in. `before`: nvme-cli lines that put the state the line expects in
    place before each tool's run (not compared); `after`: lines that put back what the other tests expect.
    `match`: nvtui's command is nvme-cli's last one ("last"), or one of them ("any", when nvme-cli goes on
    after it), or nvme-cli's first but for the bytes `length` names in CDW10-15 and the data length
    ("length": nvme-cli reads a header first to learn the length), or nothing at all: both refuse the line
    before sending ("refused"). `why` says how."""

    line: str
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    match: str = "last"
    why: str = ""
    length: tuple[int, ...] = ()


ZONE_RESET = "zns reset-zone {zoned} -s {zslba}"
ZONE_OPEN = "zns open-zone {zoned} -s {zslba}"
ZONE_FINISH = "zns finish-zone {zoned} -s {zslba}"
WRITE_16 = "write {ns} -s 16 -c 0 -z 512 -d {data}"
ZERO_16 = "write-zeroes {ns} -s 16 -c 0"
FDP_HEADER = verb_index()["fdp configs"].note  # what `send --nvme-cli` tells the user
NUMD_LOG = (2, 3, 4, 5)  # Get Log Page: NUMDL (CDW10 31:16), NUMDU (CDW11 15:0)
NUMD_MGMT = (4, 5, 6, 7)  # I/O Management Receive: NUMD (CDW11)
CASES: dict[str, Case] = {
    # --- Identify
    "id-ctrl": Case("id-ctrl {ctrl}"),
    "id-ns": Case("id-ns {ns} -n {nsid}"),
    "list-ns": Case("list-ns {ctrl}"),
    "ns-descs": Case("ns-descs {ns}"),
    "id-iocs": Case("id-iocs {ctrl}"),
    # --- log pages
    "smart-log": Case("smart-log {ctrl}"),
    "error-log": Case("error-log {ctrl} -e 2"),  # both read at most ELPE+1 entries (1 on QEMU)
    "fw-log": Case("fw-log {ctrl}"),
    "effects-log": Case("effects-log {ctrl} --csi=0"),
    "endurance-log": Case("endurance-log {ctrl} -g 1"),
    "sanitize-log": Case("sanitize-log {ctrl}"),
    "self-test-log": Case("self-test-log {ctrl}"),
    "telemetry-log": Case(
        "telemetry-log {ctrl} --output-file={out}",
        match="any",
        why="nvme-cli reads the data areas the header names after it; nvtui sends the header's command",
    ),
    "supported-log-pages": Case("supported-log-pages {ctrl}"),
    "changed-ns-list-log": Case("changed-ns-list-log {ctrl}"),
    "get-log": Case("get-log {ctrl} --log-id=2 --log-len=512"),
    # --- features
    "get-feature": Case("get-feature {ctrl} -f 7"),
    "set-feature": Case("set-feature {ctrl} -f 6 -v 1"),  # the volatile write cache, on (as it is)
    # --- raw commands
    "admin-passthru": Case("admin-passthru {ctrl} --opcode=0x06 --cdw10=1 --data-len=4096 -r"),
    "io-passthru": Case("io-passthru {ns} -o 2 -n {nsid} --cdw10=8 --cdw12=7 -l 4096 --read"),
    # --- I/O on the conventional namespace (LBAs the other tests zero before they use them)
    "read": Case("read {ns} -s 8 -c 7 -z 4096 -d {out}"),
    "write": Case("write {ns} --start-block=16 --block-count=0 --data-size=512 --data={data}"),
    "compare": Case("compare {ns} -s 16 -c 0 -z 512 -d {data}", before=(WRITE_16,)),
    "write-zeroes": Case("write-zeroes {ns} -s 32 -c 15"),
    "write-uncor": Case("write-uncor {ns} -s 64 -c 0", after=("write-zeroes {ns} -s 64 -c 0",)),
    "verify": Case("verify {ns} -s 0 -c 31"),
    "flush": Case("flush {ns}"),
    "dsm": Case("dsm {ns} --slbs=0,100 --blocks=8,16 --ad"),
    "copy": Case("copy {ns} --sdlba=256 --slbs=0,8 --blocks=7,7"),
    "resv-register": Case("resv-register {ns} --nrkey=0x1234 --rrega=0"),
    "resv-acquire": Case("resv-acquire {ns} --crkey=0x1234 --rtype=1 --racqa=0"),
    "resv-release": Case("resv-release {ns} --crkey=0x1234 --rtype=1"),
    "resv-report": Case("resv-report {ns} --numd=127"),
    "format": Case("format {ns} --lbaf=0 --force"),  # the format it has; its blocks come back zeroed
    # --- admin commands QEMU refuses, or on namespaces that do not exist (nothing changes)
    "sanitize": Case("sanitize {ctrl} --sanact=exit-failure"),
    "device-self-test": Case("device-self-test {ctrl} -s 1"),
    "fw-download": Case("fw-download {ctrl} --fw={fw}"),
    "fw-commit": Case("fw-commit {ctrl} --slot=2 --action=0"),
    "create-ns": Case("create-ns {ctrl} --nsze=1024 --ncap=1024 --flbas=0"),
    "delete-ns": Case("delete-ns {ctrl} -n 9"),
    "attach-ns": Case("attach-ns {ctrl} -n 9 -c 0"),
    "detach-ns": Case("detach-ns {ctrl} -n 9 -c 0"),
    # --- zns, on the zoned namespace's last zone
    "zns id-ctrl": Case("zns id-ctrl {ctrl}"),
    "zns id-ns": Case("zns id-ns {zoned}"),
    "zns report-zones": Case("zns report-zones {zoned} -s {zslba} -d 1"),
    "zns zone-mgmt-recv": Case("zns zone-mgmt-recv {zoned} -s {zslba} -z 0 --data-len=4096"),
    "zns zone-mgmt-send": Case("zns zone-mgmt-send {zoned} -s {zslba} --zsa=4", before=(ZONE_OPEN,)),
    "zns open-zone": Case(ZONE_OPEN, before=(ZONE_RESET,), after=(ZONE_RESET,)),
    "zns close-zone": Case(
        "zns close-zone {zoned} -s {zslba}", before=(ZONE_RESET, ZONE_OPEN), after=(ZONE_RESET,)
    ),
    "zns finish-zone": Case("zns finish-zone {zoned} -s {zslba}", before=(ZONE_RESET,), after=(ZONE_RESET,)),
    "zns reset-zone": Case(ZONE_RESET, before=(ZONE_OPEN,)),
    "zns offline-zone": Case("zns offline-zone {zoned} -s {zslba}", before=(ZONE_RESET,)),  # empty: refused
    "zns zone-append": Case(
        "zns zone-append {zoned} -s {zslba} -z 4096 -d {data4k}", before=(ZONE_RESET,), after=(ZONE_RESET,)
    ),
    # --- fdp (QEMU's controller has none)
    "fdp configs": Case("fdp configs {ctrl} --endgrp-id=1", match="length", why=FDP_HEADER, length=NUMD_LOG),
    "fdp usage": Case("fdp usage {ctrl} -e 1", match="length", why=FDP_HEADER, length=NUMD_LOG),
    "fdp stats": Case("fdp stats {ctrl} -e 1"),
    "fdp events": Case("fdp events {ctrl} -e 1 --host-events"),
    "fdp status": Case("fdp status {ns}", match="length", why=FDP_HEADER, length=NUMD_MGMT),
    "fdp update": Case("fdp update {ns} --pids=0"),
}  # fmt: skip

# More options of the same verbs: each reaches other bits of CDW10-15, or another data length.
OPTIONS: dict[str, Case] = {
    "id-ns --force": Case("id-ns {ns} --force"),
    "list-ns --csi": Case("list-ns {ctrl} --csi=2"),
    "list-ns --all": Case("list-ns {ctrl} --all -n 2"),
    "error-log (all it keeps)": Case("error-log {ctrl}"),
    "effects-log --csi=2": Case("effects-log {ctrl} --csi=2"),
    "get-log --rae --lpo --lsp --lsi --uuid": Case(
        "get-log {ctrl} -i 2 -l 512 --rae --lpo=0 --lsp=0 --lsi=0 --uuid-index=0 -n 0xffffffff"
    ),
    "get-log --csi --ot": Case("get-log {ctrl} --log-id=5 --log-len=4096 --csi=2 --ot"),
    "get-log --lpo": Case("get-log {ctrl} --log-id=2 --log-len=256 --lpo=256"),
    "get-feature --sel": Case("get-feature {ctrl} -f 7 -s 1"),
    "get-feature timestamp (data)": Case("get-feature {ctrl} -f 0x0e"),
    "get-feature apst (data)": Case("get-feature {ctrl} --feature-id=0x0c"),
    "get-feature on a namespace": Case("get-feature {ns} -f 5"),
    "get-feature --cdw11": Case("get-feature {ctrl} -f 2 --cdw11=0"),
    "set-feature --save": Case("set-feature {ctrl} -f 6 -v 1 --save"),
    "admin-passthru smart": Case(
        "admin-passthru {ctrl} --opcode=0x02 --namespace-id=0xffffffff --cdw10=0x007f0002 --data-len=512 -r"
    ),
    "io-passthru write": Case("io-passthru {ns} --opcode=1 -n {nsid} --cdw10=16 --data-len=512 -w -i {data}"),
    "read --fua --lr --dsm": Case("read {ns} -s 8 -c 7 -z 4096 -d {out} --force-unit-access -l -D 7"),
    "write --fua --dir": Case("write {ns} -s 16 -c 0 -z 512 -d {data} -f -T 0 -S 0"),
    "write-zeroes --deac --fua --lr": Case("write-zeroes {ns} -s 32 -c 15 --deac -f -l"),
    "verify --lr": Case("verify {ns} -s 0 -c 31 -l"),
    "dsm --idw --idr": Case("dsm {ns} --slbs=0 --blocks=8 --idw --idr --ctx-attrs=1"),
    "copy --fua --lr": Case("copy {ns} --sdlba=256 --slbs=0 --blocks=7 --force-unit-access --limited-retry"),
    "resv-report --eds": Case("resv-report {ns} --numd=127 --eds"),
    "resv-register --iekey --cptpl": Case("resv-register {ns} --nrkey=0x1234 --rrega=0 --cptpl=3 --iekey"),
    "sanitize --no-dealloc": Case(
        "sanitize {ctrl} --sanact=exit-failure --no-dealloc", match="refused", why="not in Exit Failure Mode"
    ),
    "sanitize --ovrpat": Case(
        "sanitize {ctrl} --sanact=start-block-erase --ovrpat=5", match="refused", why="not without overwrite"
    ),
    "device-self-test on a namespace": Case("device-self-test {ctrl} -s 2 -n {nsid}"),
    "zns report-zones --state --partial": Case("zns report-zones {zoned} -s {zslba} -d 2 -S 1 --partial"),
    "zns zone-mgmt-recv --zrasf": Case("zns zone-mgmt-recv {zoned} -s {zslba} -z 0 -S 1 --data-len=128"),
    "fdp events (controller's)": Case("fdp events {ctrl} -e 1"),
    # defaults, and lines the controller or nvme-cli refuses: the same refusal
    "id-ns on the controller": Case("id-ns {ctrl} -n {nsid}"),
    "fw-commit (default action)": Case("fw-commit {ctrl} --slot=2"),
    "read (default block count)": Case("read {ns} -s 0 -z 512 -d {out}"),
    "read beyond the namespace": Case("read {ns} -s 0x100000000 -c 0 -z 512 -d {out}"),
    "write-zeroes (default block count)": Case("write-zeroes {ns} -s 40"),
    "compare (miscompare)": Case("compare {ns} -s 16 -c 0 -z 512 -d {data}", before=(ZERO_16,)),
    "zns zone-append (full zone)": Case(
        "zns zone-append {zoned} -s {zslba} -z 4096 -d {data4k}", before=(ZONE_RESET, ZONE_FINISH),
        after=(ZONE_RESET,),
    ),
    "zns open-zone (full zone)": Case(ZONE_OPEN, before=(ZONE_RESET, ZONE_FINISH), after=(ZONE_RESET,)),
    "error-log -e 0": Case("error-log {ctrl} -e 0", match="refused", why="no entries asked for"),
    "list-ns -n 0": Case("list-ns {ctrl} -n 0", match="refused", why="namespace IDs start at 1"),
}  # fmt: skip


# --- the kernel's trace -----------------------------------------------------------------------------------

# "  nvme-123  (  123) [001] .....  12.345678: nvme_setup_cmd: nvme0: qid=0, cmdid=5, nsid=0, ..."
_TRACE_LINE = re.compile(
    r"^\s*(?P<comm>.+?)-(?P<pid>\d+)\s+\(\s*(?P<tgid>[\d-]+)\)\s+\[(?P<cpu>\d+)\]\s+\S+\s+[\d.]+:\s+"
    r"(?P<event>\w+):\s+(?P<body>.*)$"
)
_QID_CMDID = re.compile(r"qid=(\d+), cmdid=(\d+), ")
_RQ_BYTES = re.compile(r"^\d+,\d+ \S+ (\d+) ")


@dataclass(frozen=True)
class Sent:
    """One command a process sent, as the kernel traced it."""

    command: str  # nvme_setup_cmd without the queue and command IDs
    data_len: int | None  # block_rq_issue's bytes
    status: str | None  # nvme_complete_rq's "res=..., status=..." (None: no completion traced)
    cdws: str = ""  # CDW10-15 as the event recorded them (hex), whatever the kernel decodes of them

    def __str__(self) -> str:
        return f"{self.command} cdw10-15={self.cdws} bytes={self.data_len} -> {self.status}"


def _write(path: Path, text: str) -> None:
    path.write_text(text)


@pytest.fixture(scope="module")
def trace() -> Iterator[Path]:
    """tracefs with the three events on and the thread group recorded; off again afterwards."""
    if not (TRACING / "trace").exists():
        subprocess.run(["mount", "-t", "tracefs", "nodev", str(TRACING)], check=True)
    _write(TRACING / "buffer_size_kb", "4096")
    _write(TRACING / "options/record-tgid", "1")
    for event in EVENTS:
        _write(TRACING / "events" / event / "enable", "1")
    try:
        yield TRACING / "trace"
    finally:
        for event in EVENTS:
            _write(TRACING / "events" / event / "enable", "0")
        _write(TRACING / "options/record-tgid", "0")
        _write(TRACING / "trace", "")


def _event_format(event: str) -> tuple[int, dict[str, tuple[int, int]]]:
    """The event's type ID and {field: (offset, size)}, from its `format` file."""
    text = (TRACING / "events" / event / "format").read_text()
    found = re.search(r"^ID: (\d+)$", text, re.MULTILINE)
    assert found is not None, text
    fields = {
        m[1]: (int(m[2]), int(m[3]))
        for m in re.finditer(r"field:[^;]*?(\w+)(?:\[\d+\])?;\s*offset:(\d+);\s*size:(\d+);", text)
    }
    return int(found[1]), fields


def _ring_buffer_events(page: bytes) -> Iterator[bytes]:
    """The event records of one ring buffer page (kernel/trace/ring_buffer.c: a u64 timestamp, the committed
    length, then events, each a u32 header of type_len (5 bits) and time delta (27))."""
    commit = struct.unpack_from("<Q", page, 8)[0] & 0xFFFFF  # the high bits are "missed events" flags
    pos, end = 16, min(16 + commit, len(page))
    while pos + 4 <= end:
        head = struct.unpack_from("<I", page, pos)[0]
        type_len = head & 0x1F
        if type_len == 29:  # padding: to the page's end when its delta is 0
            if head >> 5 == 0:
                return
            pos += 4 + struct.unpack_from("<I", page, pos + 4)[0]
        elif type_len in (30, 31):  # time extend, time stamp
            pos += 8
        elif type_len == 0:  # a long event: its length in the next word
            length = struct.unpack_from("<I", page, pos + 4)[0]
            yield page[pos + 8 : pos + 4 + length]
            pos += 4 + length
        else:
            yield page[pos + 4 : pos + 4 + type_len * 4]
            pos += 4 + type_len * 4


def raw_setup_commands() -> dict[tuple[int, int, int], list[str]]:
    """{(pid, qid, cid): [CDW10-15 in hex, in order]} of the nvme_setup_cmd events in the ring buffer, read
    (and consumed) from each CPU's trace_pipe_raw: the text trace decodes only some fields of some opcodes."""
    event_id, fields = _event_format("nvme/nvme_setup_cmd")
    out: dict[tuple[int, int, int], list[str]] = {}

    def field(record: bytes, name: str) -> int:
        offset, size = fields[name]
        return int.from_bytes(record[offset : offset + size], "little")

    for cpu in sorted((TRACING / "per_cpu").glob("cpu*")):
        fd = os.open(cpu / "trace_pipe_raw", os.O_RDONLY | os.O_NONBLOCK)
        try:
            while True:
                try:
                    page = os.read(fd, PAGE_SIZE)
                except BlockingIOError:
                    break
                if not page:
                    break
                for record in _ring_buffer_events(page):
                    if len(record) >= 8 and struct.unpack_from("<H", record, 0)[0] == event_id:
                        offset, size = fields["cdw10"]
                        key = (
                            struct.unpack_from("<i", record, 4)[0],
                            field(record, "qid"),
                            field(record, "cid"),
                        )
                        out.setdefault(key, []).append(record[offset : offset + size].hex(" "))
        finally:
            os.close(fd)
    return out


def sent_by(trace_file: Path, tgid: int) -> tuple[list[Sent], list[str]]:
    """The commands thread group `tgid` sent since the trace was cleared, in order. Its main thread is
    known by its ID too: the kernel may not have recorded the thread group of a task's first event yet.
    Second: the other processes' commands (comm-pid (tgid) and command), to tell what happened."""
    lines = [m for m in map(_TRACE_LINE.match, trace_file.read_text().splitlines()) if m]
    raw = raw_setup_commands()
    out: list[Sent] = []
    others: list[str] = []
    for i, m in enumerate(lines):
        if m["event"] != "nvme_setup_cmd":
            continue
        if str(tgid) not in (m["tgid"], m["pid"]):
            others.append(f"{m['comm']}-{m['pid']} ({m['tgid']}): {m['body']}")
            continue
        key = _QID_CMDID.search(m["body"])
        assert key is not None, m.group(0)
        ctrl = m["body"].split(":", 1)[0]
        data_len = status = None
        for later in lines[i + 1 :]:
            body = later["body"]
            if data_len is None and later["event"] == "block_rq_issue" and later["pid"] == m["pid"]:
                found = _RQ_BYTES.match(body)
                data_len = int(found[1]) if found else None
            if later["event"] == "nvme_complete_rq" and body.startswith(ctrl + ":"):
                done = _QID_CMDID.search(body)
                if done is not None and done.groups() == key.groups():
                    status = re.sub(r"retries=\d+, ", "", body[done.end() :])
                    break
        queued = raw.get((int(m["pid"]), int(key[1]), int(key[2])), [])
        assert queued, f"no raw nvme_setup_cmd event for {m.group(0)}"
        out.append(Sent(_QID_CMDID.sub("", m["body"]), data_len, status, queued.pop(0)))
    return out, others


# --- the two runs -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    ok: bool
    sent: list[Sent]
    output: str
    others: list[str]  # what other processes sent meanwhile


def nvme_cli(line: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["nvme", *line.split()], capture_output=True, text=True, timeout=180, check=check)


def run_nvme_cli(trace_file: Path, line: str) -> Run:
    _write(trace_file, "")
    proc = subprocess.Popen(
        ["nvme", *line.split()], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    output, _ = proc.communicate(timeout=180)
    sent, others = sent_by(trace_file, proc.pid)
    return Run(proc.returncode == 0, sent, output[-2000:], others)


def run_nvtui(trace_file: Path, line: str) -> Run:
    _write(trace_file, "")
    done = run_cli(["send", "--allow-destructive", "--nvme-cli", "nvme " + line])
    assert done.raised is None, f"nvtui raised {done.raised!r}"
    sent, others = sent_by(trace_file, os.getpid())
    return Run(done.code == 0, sent, (done.out + done.err)[-2000:], others)


@pytest.fixture(scope="module")
def fill(
    nvme_ctrl: str, ns_conventional: str, ns_zoned: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """The values the lines name: devices, namespace ID, the zoned namespace's last zone, data files."""
    nsid = Path(f"/sys/block/{block_device(ns_conventional).removeprefix('/dev/')}/nsid").read_text().strip()
    zq = Path(f"/sys/block/{block_device(ns_zoned).removeprefix('/dev/')}/queue")
    zone_sectors = int((zq / "chunk_sectors").read_text())
    lba_size = int((zq / "logical_block_size").read_text())
    last_zone = (int((zq / "nr_zones").read_text()) - 1) * zone_sectors * 512 // lba_size
    files = tmp_path_factory.mktemp("nvmecli")
    (files / "data.bin").write_bytes(bytes(range(256)) * 2)
    (files / "data4k.bin").write_bytes(b"\x5a" * 4096)
    (files / "fw.bin").write_bytes(bytes(range(256)) * 16)
    return {
        "ctrl": nvme_ctrl, "ns": ns_conventional, "nsid": nsid, "zoned": ns_zoned, "zslba": f"{last_zone:#x}",
        "data": str(files / "data.bin"), "data4k": str(files / "data4k.bin"), "fw": str(files / "fw.bin"),
    }  # fmt: skip


def test_every_verb_nvtui_imports_has_a_vm_case() -> None:
    assert set(CASES) == {verb.name for verb in VERBS}
    assert not set(CASES) & set(OPTIONS)


@pytest.mark.parametrize("verb", [*CASES, *OPTIONS])
def test_nvme_cli_and_nvtui_send_the_same_command_and_get_the_same_status(
    verb: str, fill: dict[str, str], trace: Path, tmp_path: Path
) -> None:
    """The same nvme-cli line, run by nvme-cli and by `nvtui send --nvme-cli`: the command nvtui sent is the
    one nvme-cli sent (its last, unless `match` says otherwise), with the same data length, and the
    controller answered both the same (status and result), and both tools exit the same way."""
    case = CASES.get(verb) or OPTIONS[verb]
    runs: list[Run] = []
    try:
        for tool, runner in (("nvme-cli", run_nvme_cli), ("nvtui", run_nvtui)):
            for step in case.before:
                nvme_cli(step.format(**fill), check=True)
            line = case.line.format(**fill, out=tmp_path / f"{tool}.out")
            runs.append(runner(trace, line))
    finally:
        for step in case.after:
            with contextlib.suppress(subprocess.CalledProcessError):
                nvme_cli(step.format(**fill), check=True)
    theirs, ours = runs
    report = (
        f"\nnvme {case.line}\nnvme-cli (ok={theirs.ok}):\n  "
        + "\n  ".join(map(str, theirs.sent))
        + f"\n  {theirs.output.strip()[-400:]}\nnvtui (ok={ours.ok}):\n  "
        + "\n  ".join(map(str, ours.sent))
        + f"\n  {ours.output.strip()[-400:]}"
    )
    print(report)
    if case.match == "refused":
        assert not theirs.ok and not theirs.sent, (
            f"nvme-cli sent the line it should refuse ({case.why}){report}"
        )
        assert not ours.ok and not ours.sent, f"nvtui did not refuse the line as nvme-cli does{report}"
        return
    assert theirs.sent, f"nvme-cli sent nothing (others sent {theirs.others}){report}"
    assert ours.sent, f"nvtui sent nothing (others sent {ours.others}){report}"
    command = users_command(ours.sent)
    if case.match == "last":
        assert command == theirs.sent[-1], f"nvtui's command is not nvme-cli's last one{report}"
    elif case.match == "any":
        assert command in theirs.sent, f"nvtui's command is none of nvme-cli's ({case.why}){report}"
    else:
        assert command.data_len != theirs.sent[0].data_len  # the difference `why` names is still there
        assert without_length(command, case.length) == without_length(theirs.sent[0], case.length), (
            f"nvtui's command differs from nvme-cli's first in more than its length ({case.why}){report}"
        )
    assert theirs.ok == ours.ok, f"one tool failed, the other did not{report}"


_SESSION_QUERY = re.compile(
    r"cmd=\(nvme_admin_identify cns=[013], "
    r"|nsid=0, .*cmd=\(nvme_admin_get_log_page cdw10=05 00 ff 03 00 00 00 00 "
)


def users_command(sent: list[Sent]) -> Sent:
    """The command nvtui sent for the line: its last one but for the queries of its own session around it
    (Identify Controller / Namespace / descriptors, the effects log; read again after a Format), unless the
    line's command is one of those."""
    own = [s for s in sent if not _SESSION_QUERY.search(s.command)]
    return own[-1] if own else sent[-1]


def without_length(sent: Sent, positions: tuple[int, ...]) -> Sent:
    """`sent` with the bytes at `positions` of CDW10-15 (in the event and in its text) and its data length
    left out."""

    def blank(octets: str) -> str:
        parts = octets.split(" ")
        for i in positions:
            parts[i] = ".."
        return " ".join(parts)

    head, text = sent.command.split("cdw10=", 1)
    return Sent(head + "cdw10=" + blank(text), None, sent.status, blank(sent.cdws))


EXPORTED = [name for name, case in {**CASES, **OPTIONS}.items() if case.match == "last"]


@pytest.mark.parametrize("verb", EXPORTED)
def test_the_line_nvtui_exports_sends_the_same_command_through_nvme_cli(
    verb: str, fill: dict[str, str], trace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other half of the round trip, against nvme-cli itself: the nvme-cli line nvtui gives for the
    command it sent (`send --json`'s `nvme_cli`: nvme-cli's own verb where one says it), run by nvme-cli,
    sends that very command and gets the same status. The files it names (`data.bin`, `firmware.bin`)
    hold what the original line's file held."""
    case = CASES.get(verb) or OPTIONS[verb]
    monkeypatch.chdir(tmp_path)
    source = next((fill[k] for k in ("data4k", "fw", "data") if "{" + k + "}" in case.line), fill["data"])
    for name in ("data.bin", "firmware.bin"):
        (tmp_path / name).write_bytes(Path(source).read_bytes())
    try:
        for step in case.before:
            nvme_cli(step.format(**fill), check=True)
        _write(trace, "")
        line = "nvme " + case.line.format(**fill, out=tmp_path / "nvtui.out")
        done = run_cli(["send", "--allow-destructive", "--json", "--nvme-cli", line])
        assert done.raised is None and done.out, f"nvtui: exit {done.code} {done.err}"
        exported = json.loads(done.out)["nvme_cli"]
        ours, _ = sent_by(trace, os.getpid())
        for step in case.before:
            nvme_cli(step.format(**fill), check=True)
        theirs = run_nvme_cli(trace, " ".join(shlex.split(exported)[1:]))
    finally:
        for step in case.after:
            with contextlib.suppress(subprocess.CalledProcessError):
                nvme_cli(step.format(**fill), check=True)
    report = f"\n{line}\n  -> {exported}\nnvtui:\n  " + "\n  ".join(map(str, ours)) + "\nnvme-cli:\n  "
    report += "\n  ".join(map(str, theirs.sent)) + f"\n  {theirs.output.strip()[-400:]}"
    print(report)
    assert ours and theirs.sent, f"a command is missing{report}"
    assert theirs.sent[-1] == users_command(ours), (
        f"nvme-cli sent another command for the exported line{report}"
    )
    assert theirs.ok == (done.code == 0), f"one tool failed, the other did not{report}"
