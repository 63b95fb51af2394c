"""Issue 11's catalogue completeness on the real Linux nvme driver and QEMU 7.2's controller (PCIe): every new
entry QEMU can be sent goes out through uring_cmd and through the ioctl and comes back with the same status,
Invalid Command Opcode by name (QEMU 7.2 implements none of them); the read-only ones go without
--allow-destructive, the destructive ones only with it (harmless: QEMU lacks them); and the ones refused on
PCIe (Fabrics, the exported NVM resource commands) and the Controller Data Queue are refused in one line,
nothing reaching the driver. The Key Value entries never reach QEMU's NVM or zoned namespace (01h is Write
there): the command set the real driver reports keeps them back.

In-process `main()` calls; a recording backend sees every submission.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fuzz.recording import Recorder, install_recorder, run_cli

pytestmark = pytest.mark.vm

BACKENDS = {"uring": ["--backend", "uring"], "ioctl": ["--backend", "ioctl"]}

# id: (fields, --data-len, destructive); the admin ones go to the controller, Cancel to namespace 1.
SENT = {
    "cancel": (["sqid=1"], None, True),
    "discovery-information-management": ([], 64, True),
    "fabric-zoning-receive": (["numd=16"], None, False),
    "fabric-zoning-lookup": ([], 64, False),
    "fabric-zoning-send": (["numd=4", "lf=1"], None, True),
    "send-discovery-log-page": ([], 64, True),
    "track-send": (["mos=1", "cdqid=1"], None, True),
    "track-receive": (["numdl=16"], None, False),
    "migration-send": (["sel=suspend", "cntlid=1", "stype=suspend-notification"], None, True),
    "migration-receive": (["cntlid=1", "numdl=16"], None, False),
}
# Those that send data to the controller with these fields (the others move none, or read).
SEND_DATA = {
    "discovery-information-management",
    "fabric-zoning-lookup",
    "fabric-zoning-send",
    "send-discovery-log-page",
}
# NVMe Base 2.1, Fig. 141 note 10, and section 6: refused on a PCIe controller.
NOT_ON_PCIE = {
    "clear-exported-nvm-resource-configuration": [],
    "create-exported-nvm-subsystem": ["--data-len", "256"],
    "manage-exported-nvm-subsystem": ["sel=delete"],
    "manage-exported-namespace": ["sel=associate-namespace"],
    "manage-exported-port": ["--data-len", "64"],
    "fabrics": ["fctype=property-get", "cdw11=0x1c"],
}


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with pytest.MonkeyPatch.context() as mp:
        yield install_recorder(mp)


def device_for(command: str, nvme_ctrl: str, ns_conventional: str) -> str:
    return ns_conventional if command == "cancel" else nvme_ctrl


@pytest.mark.parametrize("command", sorted(SENT))
def test_each_new_opcode_is_invalid_command_opcode_over_uring_cmd_and_ioctl_alike(
    command: str, recorder: Recorder, nvme_ctrl: str, ns_conventional: str, tmp_path: Path
) -> None:
    fields, data_len, destructive = SENT[command]
    device = device_for(command, nvme_ctrl, ns_conventional)
    length = ["--data-len", str(data_len)] if data_len is not None else []
    statuses = {}
    for name, backend in BACKENDS.items():
        argv = ["send", device, command, *fields, *length, *backend, "--json"]
        if command in SEND_DATA:  # nvtui sends no data nobody chose: refused before the driver, then a file
            mark = recorder.mark()
            done = run_cli([*argv, "--allow-destructive"])
            sends = re.search(r"sends ([\d,]+) bytes to the controller and none were given", done.err)
            assert sends and done.code == 2, (done.code, done.err)
            assert recorder.user_commands_since(mark) == [], f"{command} reached the driver without its data"
            data = tmp_path / f"{command}.bin"
            data.write_bytes(bytes(int(sends.group(1).replace(",", ""))))
            argv[-1:-1] = ["--data-in", str(data)]
        if destructive:
            mark = recorder.mark()
            done = run_cli(argv)
            assert done.code == 2 and f"{command} is destructive" in done.err, (done.code, done.err)
            assert recorder.user_commands_since(mark) == [], f"{command} reached the driver"
            argv.append("--allow-destructive")
        mark = recorder.mark()
        done = run_cli(argv)
        assert done.raised is None and done.code == 1, (name, done.code, done.out, done.err)
        doc = json.loads(done.out)
        sent = recorder.user_commands_since(mark)
        assert [c.opcode for c in sent] == [doc_opcode(command)], (name, sent)
        statuses[name] = doc["status"]
    assert statuses["uring"] == statuses["ioctl"], statuses
    status = statuses["uring"]
    assert (status["sct"], status["sc"], status["name"]) == (0, 0x01, "Invalid Command Opcode"), status


def doc_opcode(command: str) -> int:
    from nvtui.catalogue import load_catalogue

    return load_catalogue(user_dir=False).get(command).opcode


@pytest.mark.parametrize("command", sorted(NOT_ON_PCIE))
def test_fabrics_and_exported_resource_commands_are_refused_on_this_pcie_controller(
    command: str, recorder: Recorder, nvme_ctrl: str
) -> None:
    for backend in BACKENDS.values():
        mark = recorder.mark()
        done = run_cli(["send", nvme_ctrl, command, *NOT_ON_PCIE[command], *backend, "--allow-destructive"])
        assert done.code == 2, (done.code, done.out, done.err)
        lines = done.err.strip().splitlines()
        assert len(lines) == 1, lines
        assert f"{command}: refused on {nvme_ctrl}: not sent to a PCIe controller" in lines[0], lines
        assert recorder.user_commands_since(mark) == [] and recorder.opened == [], f"{command} was opened"


def test_a_controller_data_queue_is_refused_before_the_driver(recorder: Recorder, nvme_ctrl: str) -> None:
    for backend in BACKENDS.values():
        mark = recorder.mark()
        argv = ["send", nvme_ctrl, "create-cdq", "sel=create", "cntlid=1", *backend, "--allow-destructive"]
        done = run_cli(argv)
        assert done.code == 2 and "controller-data-queue: refused" in done.err and "host memory" in done.err
        assert recorder.user_commands_since(mark) == [], "create-cdq reached the driver"


KV = {
    "kv-store": ["key=user42", "vs=4096", "--data-len", "4096"],
    "kv-retrieve": ["key=user42", "hbs=4096", "--data-len", "4096"],
    "kv-delete": ["key=user42"],
    "kv-exist": ["key=0x75736572"],
    "kv-list": ["key=a", "hbs=4096", "--data-len", "4096"],
}


@pytest.mark.parametrize("command", sorted(KV))
@pytest.mark.parametrize("namespace", ["ns_conventional", "ns_zoned"])
def test_a_key_value_command_never_reaches_an_nvm_or_zoned_namespace(
    command: str, namespace: str, recorder: Recorder, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """On QEMU's NVM namespace, KV Store's opcode 01h is Write (and Retrieve's 02h Read): the command set the
    real driver reports for the namespace keeps every KV entry from being sent, over uring_cmd and ioctl."""
    device = request.getfixturevalue(namespace)
    value = tmp_path / "value.bin"
    value.write_bytes(b"v" * 4096)
    for backend in BACKENDS.values():
        argv = ["send", device, command, *KV[command], *backend, "--allow-destructive"]
        if command == "kv-store":
            argv += ["--data-in", str(value)]
        mark = recorder.mark()
        done = run_cli(argv)
        assert done.raised is None and done.code == 2, (done.code, done.out, done.err)
        lines = done.err.strip().splitlines()
        assert len(lines) == 1 and f"{command} is a kv command set command" in lines[0], lines
        assert "not sent" in lines[0], lines
        assert recorder.user_commands_since(mark) == [], f"{command} reached the driver"
