"""Issue 3's "done when", through nvtui's own CLI against the real Linux nvme driver and QEMU's controller:
`list --json` shows the controller, its namespaces and ng devices; `send identify` decodes the same fields
over uring_cmd (the default) and over the ioctl; `zone-mgmt-recv` reports the zoned namespace's zones; a
block written with --data-in reads back identical with --data-out. In-process `main()` calls: starting
the CLI as a process costs seconds under TCG (test_faults.py runs the real console script)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from nvtui.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, object], str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip().startswith("{") else {}, err


def test_list_json_shows_the_emulated_controller_and_its_namespaces(
    capsys: pytest.CaptureFixture[str], nvme_ctrl: str, ns_conventional: str, ns_zoned: str, ns_metadata: str
) -> None:
    code, doc, _ = run(capsys, "list", "--json")
    assert code == 0
    controllers = doc["controllers"]
    assert isinstance(controllers, list)
    real = next(c for c in controllers if c["char_dev"] == nvme_ctrl)
    assert real["model"] == "QEMU NVMe Ctrl" and real["transport"] == "pcie" and real["state"] == "live"
    assert real["uring_cmd"] is True and real["accessible"] is True
    by_nsid = {ns["nsid"]: ns for ns in real["namespaces"]}
    assert {n: by_nsid[n]["char_dev"] for n in (1, 2, 3)} == {1: ns_conventional, 2: ns_zoned, 3: ns_metadata}
    assert [by_nsid[n]["zoned"] for n in (1, 2, 3)] == [False, True, False]
    assert by_nsid[3]["metadata_size"] == 8
    assert any(c["simulated"] for c in controllers)  # the simulator is listed beside real devices


def test_identify_controller_decodes_the_same_over_uring_and_ioctl(
    capsys: pytest.CaptureFixture[str], ns_conventional: str
) -> None:
    name = Path(ns_conventional).name
    code, by_uring, err = run(capsys, "send", name, "identify", "cns=1", "--json")
    assert code == 0 and err == ""  # no fallback notice: uring_cmd was used
    code, by_ioctl, _ = run(capsys, "send", name, "identify", "cns=1", "--json", "--backend", "ioctl")
    assert code == 0
    assert by_uring["decoded"] == by_ioctl["decoded"]
    decoded = by_uring["decoded"]
    assert isinstance(decoded, dict) and decoded["mn"] == "QEMU NVMe Ctrl" and decoded["sn"] == "nvtui0001"
    assert by_uring["status"] == by_ioctl["status"] and by_uring["data_len"] == 4096
    # nvme-cli's own verb, and the passthrough line, on the device nvtui opened (not a Python object's repr)
    assert by_uring["nvme_cli"] == f"nvme id-ctrl {ns_conventional}"
    assert str(by_uring["nvme_cli_passthru"]).startswith(f"nvme admin-passthru {ns_conventional} ")


def test_zone_report_lists_the_zoned_namespaces_zones(
    capsys: pytest.CaptureFixture[str], ns_zoned: str
) -> None:
    code, doc, _ = run(capsys, "send", ns_zoned, "zone-mgmt-recv", "zra=report-zones", "numd=1024", "--json")
    assert code == 0, doc
    decoded = doc["decoded"]
    assert isinstance(decoded, dict)
    zones = decoded["zones"]
    assert isinstance(zones, list) and decoded["nr_zones"] == len(zones) > 1
    size = zones[1]["zslba"] - zones[0]["zslba"]
    assert all(
        z["zt"] == 2 and z["zslba"] == i * size for i, z in enumerate(zones)
    )  # sequential write required


def test_block_written_with_data_in_reads_back_identical(
    capsys: pytest.CaptureFixture[str], ns_conventional: str, tmp_path: Path
) -> None:
    data = os.urandom(8 * 512)
    src, dst = tmp_path / "in.bin", tmp_path / "out.bin"
    src.write_bytes(data)
    argv = ["send", ns_conventional, "write", "slba=4096", "nlb=8", "--data-in", str(src)]
    code, _, err = run(capsys, *argv)
    assert code == 2 and "destructive" in err  # refused without the allowance
    assert run(capsys, *argv, "--allow-destructive")[0] == 0
    assert run(capsys, "send", ns_conventional, "read", "slba=4096", "nlb=8", "--data-out", str(dst))[0] == 0
    assert dst.read_bytes() == data


def test_an_unknown_opcode_comes_back_by_name_with_exit_1(
    capsys: pytest.CaptureFixture[str], nvme_ctrl: str
) -> None:
    code, doc, _ = run(
        capsys, "send", nvme_ctrl, "admin-passthru", "opcode=0xc4", "--allow-destructive", "--json"
    )
    assert code == 1
    status = doc["status"]
    assert isinstance(status, dict) and status["name"] == "Invalid Command Opcode" and status["dnr"] is True
