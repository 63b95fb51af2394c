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
from collections.abc import Iterator
from pathlib import Path

import pytest
from fuzz.recording import run_cli

from tests.vm.fabrics import (
    HOSTNQN,
    NQN,
    NSID_FILE,
    NSID_NULL_BLK,
    TCP_ADDR,
    TCP_PORT,
    Fabrics,
    setup_fabrics,
)

pytestmark = pytest.mark.vm


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


#: (command, fields) nvmet answers on a controller (drivers/nvme/target/admin-cmd.c, 6.12). Asynchronous
#: Event Request is left out: it completes only when an event happens.
ADMIN_COMMANDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("identify", ("cns=1",)),
    ("identify", ("cns=0", f"nsid={NSID_NULL_BLK}")),
    ("identify", ("cns=0", f"nsid={NSID_FILE}")),
    ("identify", ("cns=2",)),
    ("identify", ("cns=3", f"nsid={NSID_NULL_BLK}")),
    ("get-log-page", ("lid=error", "numd=64")),
    ("get-log-page", ("lid=smart", "numd=128")),
    ("get-log-page", ("lid=firmware-slot", "numd=128")),
    ("get-log-page", ("lid=changed-ns-list", "numd=1024")),
    ("get-log-page", ("lid=commands-supported-effects", "numd=1024")),
    ("get-log-page", ("lid=ana", "numd=1024")),
    ("get-features", ("fid=arbitration",)),
    ("get-features", ("fid=power-management",)),
    ("get-features", ("fid=volatile-write-cache",)),
    ("get-features", ("fid=number-of-queues",)),
    ("get-features", ("fid=async-event-config",)),
    ("get-features", ("fid=keep-alive-timer",)),
    ("get-features", ("fid=namespace-write-protection-config", f"nsid={NSID_FILE}")),
    ("keep-alive", ()),
    ("abort", ("sqid=0", "cid=0xfffe")),
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
    differing, failed = [], []
    for command, fields in ADMIN_COMMANDS:
        code_u, by_uring, err_u = cli_json("send", ctrl, command, *fields, "--allow-destructive")
        code_i, by_ioctl, err_i = cli_json(
            "send", ctrl, command, *fields, "--backend", "ioctl", "--allow-destructive"
        )
        assert by_uring and by_ioctl, f"{command} {fields}: {err_u} {err_i}"
        assert "ioctl" not in err_u, err_u  # no fallback: uring_cmd was used
        if (code_u, _status(by_uring), by_uring["result"]) != (code_i, _status(by_ioctl), by_ioctl["result"]):
            differing.append((command, fields, _status(by_uring), _status(by_ioctl)))
        if code_u != 0:
            failed.append((command, fields, _status(by_uring)))
    assert differing == []
    assert failed == []  # each of these is implemented by nvmet: success through both


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


@pytest.mark.parametrize("nsid", [NSID_NULL_BLK, NSID_FILE], ids=["null_blk", "file"])
def test_io_commands_answer_the_same_over_uring_and_ioctl(fab: Fabrics, nsid: int, tmp_path: Path) -> None:
    head = fab.head_of(nsid)
    data = tmp_path / "data"
    data.write_bytes(bytes(range(256)) * (lba_size(head) * 8 // 256))  # the 8 blocks written
    ranges = tmp_path / "ranges"
    ranges.write_bytes((0).to_bytes(4, "little") + (8).to_bytes(4, "little") + (64).to_bytes(8, "little"))
    differing, failed = [], []
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
        if results[0][0] != 0:
            failed.append((command, results[0]))
    assert differing == []
    assert failed == []


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
