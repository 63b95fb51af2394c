"""Issue 15 against the Linux NVMe target (nvmet) in the test VM: a second controller implementation
reached over loop and TCP, and real native multipath (tests/vm/fabrics.py sets it up).

- `nvtui list --json` shows three controllers (pcie, loop, tcp) with their fabrics fields, and the
  multipath namespace under both fabrics controllers with both paths and their ANA states;
- every catalogue command nvmet implements goes through uring_cmd and the ioctl on both fabrics
  controllers and on both namespaces (null_blk and file backed) with the same status through both.

In-process `main()` calls: a process start costs seconds under TCG.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fuzz.recording import run_cli

from tests.vm.fabrics import (
    HOSTNQN,
    NQN,
    NSID_FILE,
    NSID_NULL_BLK,
    PASSTHRU_NQN,
    TCP_ADDR,
    TCP_PORT,
    Fabrics,
    setup_fabrics,
)

pytestmark = [pytest.mark.vm, pytest.mark.fabrics]


@pytest.fixture(scope="module")
def fab() -> Iterator[Fabrics]:
    fabrics = setup_fabrics()
    try:
        yield fabrics
    finally:
        fabrics.teardown()


def cli_json(*argv: str) -> tuple[int, dict[str, object], str]:
    done = run_cli([*argv, "--json"])
    if done.raised is not None:
        raise done.raised
    doc = json.loads(done.out) if done.out.strip().startswith("{") else {}
    return done.code, doc, done.err


def test_list_json_shows_pcie_loop_and_tcp_and_the_multipath_namespace_with_both_paths(
    fab: Fabrics, nvme_ctrl: str
) -> None:
    code, doc, _ = cli_json("list")
    assert code == 0
    controllers = {c["name"]: c for c in doc["controllers"]}  # type: ignore[attr-defined]
    paths = fab.controllers()
    loop, tcp = controllers[paths["loop"]], controllers[paths["tcp"]]
    pcie = controllers[Path(nvme_ctrl).name]
    assert [c["transport"] for c in (pcie, loop, tcp)] == ["pcie", "loop", "tcp"]
    assert (pcie["fabrics"], loop["fabrics"], tcp["fabrics"]) == (False, True, True)
    for c in (loop, tcp):
        assert c["subsysnqn"] == NQN and c["hostnqn"] == HOSTNQN and c["state"] == "live"
        assert c["model"] == "Linux"
        assert c["subsystem"] and c["subsystem"] == loop["subsystem"]  # one subsystem, two controllers
    assert (tcp["traddr"], tcp["trsvcid"]) == (TCP_ADDR, TCP_PORT)
    assert (loop["traddr"], loop["trsvcid"]) == ("", "")
    assert pcie["hostnqn"] == "" and pcie["subsysnqn"].startswith("nqn.")
    head = fab.head
    for c in (loop, tcp):
        by_name = {ns["name"]: ns for ns in c["namespaces"]}
        ns = by_name[Path(head).name]
        assert ns["nsid"] == NSID_NULL_BLK and ns["char_dev"] == head
        by_ctrl = {p["controller"]: p for p in ns["paths"]}
        assert set(by_ctrl) == {loop["name"], tcp["name"]}
        assert by_ctrl[loop["name"]]["transport"] == "loop" and by_ctrl[tcp["name"]]["transport"] == "tcp"
        for p in by_ctrl.values():
            assert p["state"] == "live"
            assert p["ana_state"] == "optimized" and p["ana_grpid"] == 1
            assert p["ana_source"] == "log"  # read from the controller's ANA log page
        assert {n["nsid"] for n in c["namespaces"]} == {NSID_NULL_BLK, NSID_FILE}
    assert all(ns["paths"] == [] for ns in pcie["namespaces"])  # QEMU's namespaces are private


def test_list_text_names_transport_address_and_nqns(fab: Fabrics) -> None:
    done = run_cli(["list"])
    assert done.code == 0, done.err
    tcp = fab.controllers()["tcp"]
    line = next(line for line in done.out.splitlines() if line.startswith(f"{tcp} "))
    assert f"tcp {TCP_ADDR}:{TCP_PORT}" in line
    assert f"subsysnqn {NQN}" in done.out and f"hostnqn {HOSTNQN}" in done.out
    assert Path(fab.head).name in done.out
    path_lines = [line.strip() for line in done.out.splitlines() if line.strip().startswith("path ")]
    assert any("loop" in line and "optimized" in line for line in path_lines), done.out
    assert any("tcp" in line and "optimized" in line for line in path_lines), done.out


SUCCESS = "Successful Completion"
INVALID_FIELD = "Invalid Field in Command"
INVALID_OPCODE = "Invalid Command Opcode"

#: (command, fields, the status nvmet answers with) on a controller (drivers/nvme/target/admin-cmd.c, 6.12).
#: Arbitration and Power Management are in the catalogue but not in nvmet's Get Features: it refuses them,
#: and must refuse them the same way through both interfaces. Asynchronous Event Request is left out: it
#: completes only when an event happens.
ADMIN_COMMANDS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("identify", ("cns=1",), SUCCESS),
    ("identify", ("cns=0", f"nsid={NSID_NULL_BLK}"), SUCCESS),
    ("identify", ("cns=0", f"nsid={NSID_FILE}"), SUCCESS),
    ("identify", ("cns=2",), SUCCESS),
    ("identify", ("cns=3", f"nsid={NSID_NULL_BLK}"), SUCCESS),
    ("get-log-page", ("lid=error", "numd=64"), SUCCESS),
    ("get-log-page", ("lid=smart", "numd=128"), SUCCESS),
    ("get-log-page", ("lid=firmware-slot", "numd=128"), SUCCESS),
    ("get-log-page", ("lid=changed-ns-list", "numd=1024"), SUCCESS),
    ("get-log-page", ("lid=commands-supported-effects", "numd=1024"), SUCCESS),
    ("get-log-page", ("lid=ana", "numd=1024"), SUCCESS),
    ("get-features", ("fid=arbitration",), INVALID_FIELD),
    ("get-features", ("fid=power-management",), INVALID_FIELD),
    ("get-features", ("fid=volatile-write-cache",), SUCCESS),
    ("get-features", ("fid=number-of-queues",), SUCCESS),
    ("get-features", ("fid=async-event-config",), SUCCESS),
    ("get-features", ("fid=keep-alive-timer",), SUCCESS),
    ("get-features", ("fid=namespace-write-protection-config", f"nsid={NSID_FILE}"), SUCCESS),
    ("keep-alive", (), SUCCESS),
    ("abort", ("sqid=0", "cid=0xfffe"), SUCCESS),
)


def lba_size(ng: str) -> int:
    """The namespace's block size, from the kernel (null_blk: 512; the file on tmpfs: 4096)."""
    disk = "nvme" + Path(ng).name[2:]
    return int(Path("/sys/block", disk, "queue", "logical_block_size").read_text())


def _status(doc: dict[str, object]) -> tuple[object, object]:
    status = doc["status"]
    assert isinstance(status, dict)
    return status["value"], status["name"]


@pytest.mark.parametrize("transport", ["loop", "tcp"])
def test_admin_commands_answer_the_same_over_uring_and_ioctl(fab: Fabrics, transport: str) -> None:
    ctrl = f"/dev/{fab.controllers()[transport]}"
    differing, unexpected = [], []
    for command, fields, expected in ADMIN_COMMANDS:
        code_u, by_uring, err_u = cli_json("send", ctrl, command, *fields, "--allow-destructive")
        code_i, by_ioctl, err_i = cli_json(
            "send", ctrl, command, *fields, "--backend", "ioctl", "--allow-destructive"
        )
        assert by_uring and by_ioctl, f"{command} {fields}: {err_u} {err_i}"
        assert "ioctl" not in err_u, err_u  # no fallback: uring_cmd was used
        if (code_u, _status(by_uring), by_uring["result"]) != (code_i, _status(by_ioctl), by_ioctl["result"]):
            differing.append((command, fields, _status(by_uring), _status(by_ioctl)))
        if _status(by_uring)[1] != expected:
            unexpected.append((command, fields, _status(by_uring), expected))
    assert differing == []
    assert unexpected == []


def test_set_features_async_event_config_writes_back_the_current_value(fab: Fabrics) -> None:
    ctrl = f"/dev/{fab.controllers()['tcp']}"
    code, got, err = cli_json("send", ctrl, "get-features", "fid=async-event-config")
    assert code == 0, err
    value = got["result"]
    assert isinstance(value, int)
    for backend in ("uring", "ioctl"):
        code, done, err = cli_json(
            "send",
            ctrl,
            "set-features",
            "fid=async-event-config",
            f"cdw11={value}",
            "--backend",
            backend,
            "--allow-destructive",
        )
        assert code == 0 and _status(done)[0] == 0, err


#: I/O commands nvmet implements for block and file backed namespaces (io-cmd-bdev.c, io-cmd-file.c).
IO_COMMANDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("read", ("slba=8", "nlb=8")),
    ("write", ("slba=8", "nlb=8")),
    ("flush", ()),
    ("write-zeroes", ("slba=16", "nlb=8")),
    ("dataset-management", ("nr=1", "ad=1")),
)
#: What the backing store cannot do, nvmet answers with Invalid Command Opcode (it maps the kernel's
#: EOPNOTSUPP so): null_blk (no memory backing) has no discard for a deallocating Dataset Management, and
#: the guest's tmpfs has no FALLOC_FL_ZERO_RANGE for Write Zeroes on the file-backed namespace.
IO_REFUSED = {(NSID_NULL_BLK, "dataset-management"), (NSID_FILE, "write-zeroes")}


@pytest.mark.parametrize("nsid", [NSID_NULL_BLK, NSID_FILE], ids=["null_blk", "file"])
def test_io_commands_answer_the_same_over_uring_and_ioctl(fab: Fabrics, nsid: int, tmp_path: Path) -> None:
    head = fab.head_of(nsid)
    data = tmp_path / "data"
    data.write_bytes(bytes(range(256)) * (lba_size(head) * 8 // 256))  # the 8 blocks written
    ranges = tmp_path / "ranges"
    ranges.write_bytes((0).to_bytes(4, "little") + (8).to_bytes(4, "little") + (64).to_bytes(8, "little"))
    differing, unexpected = [], []
    for command, fields in IO_COMMANDS:
        extra: list[str] = []
        if command == "write":
            extra = ["--data-in", str(data)]
        if command == "dataset-management":
            extra = ["--data-in", str(ranges)]
        results = []
        for backend in ("uring", "ioctl"):
            code, doc, err = cli_json(
                "send", head, command, *fields, *extra, "--backend", backend, "--allow-destructive"
            )
            assert doc, f"{command} over {backend}: {err}"
            results.append((code, _status(doc)))
        if results[0] != results[1]:
            differing.append((command, results))
        expected = INVALID_OPCODE if (nsid, command) in IO_REFUSED else SUCCESS
        if results[0][1][1] != expected:
            unexpected.append((command, results[0], expected))
    assert differing == []
    assert unexpected == []


def test_data_written_over_one_path_reads_back_over_the_other(fab: Fabrics, tmp_path: Path) -> None:
    """The file-backed namespace keeps data: written through the head while only loop is exported, read back
    while only tcp is."""
    head = fab.file_head
    blob = bytes((i * 7 + 3) & 0xFF for i in range(lba_size(head)))
    src, out = tmp_path / "in", tmp_path / "out"
    src.write_bytes(blob)
    fab.unexport("tcp")
    try:
        code, _, err = cli_json(
            "send", head, "write", "slba=0", "nlb=1", "--data-in", str(src), "--allow-destructive"
        )
        assert code == 0, err
    finally:
        fab.restore()
    fab.unexport("loop")
    try:
        code, _, err = cli_json("send", head, "read", "slba=0", "nlb=1", "--data-out", str(out))
        assert code == 0, err
    finally:
        fab.restore()
    assert out.read_bytes() == blob


def test_doctor_names_the_fabrics_controllers_and_connects_a_subsystem_with_the_line_it_gives(
    fab: Fabrics,
) -> None:
    code, doc, err = cli_json("doctor", NQN)
    findings = doc["findings"]
    assert isinstance(findings, list), err
    fabrics_lines = {f["subject"]: f for f in findings if f["check"] == "fabrics"}
    ctrls = fab.controllers()
    assert fabrics_lines["subsystem"]["level"] == "ok"
    assert "2 of 2 live" in fabrics_lines["subsystem"]["message"]
    assert fabrics_lines[ctrls["tcp"]]["message"].startswith(f"NVMe over Fabrics, tcp {TCP_ADDR}:{TCP_PORT}")
    assert fabrics_lines[ctrls["loop"]]["level"] == "ok"
    paths = [f for f in findings if f["check"] == "paths"]
    assert paths and all(f["level"] == "ok" and "2 paths" in f["message"] for f in paths)
    if not fab.passthru:
        pytest.fail("this kernel has no nvmet passthru: the not-connected case needs a second subsystem")
    code, doc, _ = cli_json("doctor", PASSTHRU_NQN, "--transport", "loop")
    assert code == 3
    [missing] = [f for f in doc["findings"] if f["check"] == "fabrics"]  # type: ignore[union-attr]
    assert "is not connected" in missing["message"]
    line = missing["fix"].split("   (")[0]
    assert line == (f"nvme connect -t loop -n {PASSTHRU_NQN} --hostnqn={HOSTNQN} --hostid={fab.hostid}")
    subprocess.run(line, shell=True, check=True, timeout=60)
    try:
        deadline = time.monotonic() + 30
        while True:
            code, doc, _ = cli_json("doctor", PASSTHRU_NQN, "--transport", "loop")
            [found] = [f for f in doc["findings"] if f["subject"] == "subsystem"]  # type: ignore[union-attr]
            if found["level"] == "ok" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert found["level"] == "ok" and "1 of 1 live" in found["message"], found
    finally:
        subprocess.run(["nvme", "disconnect", "-n", PASSTHRU_NQN], check=False, timeout=60)
