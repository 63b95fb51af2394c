"""The headless CLI against the simulated controller, as a user would run it (DESIGN.md, "CLI contract")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nvtui.cli import main

NVTUI = [sys.executable, "-m", "nvtui.cli"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected a one-line error, got: {err!r}"
    assert "Traceback" not in err
    return lines[0]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("nvtui ")


def test_list_json_shows_the_simulated_controller(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list", "--json")
    assert code == 0
    controllers = json.loads(out)["controllers"]
    sim = next(c for c in controllers if c["name"] == "sim0")
    assert sim["simulated"] is True
    assert {ns["name"]: ns["nsid"] for ns in sim["namespaces"]} == {"sim0n1": 1, "sim0n2": 2, "sim0n3": 3}
    assert [ns["zoned"] for ns in sim["namespaces"]] == [False, True, False]
    assert [ns["command_set"] for ns in sim["namespaces"]] == ["nvm", "zns", "kv"]


def test_identify_controller_json_is_decoded(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "send", "sim0n1", "identify", "cns=1", "--json")
    assert code == 0
    doc = json.loads(out)
    assert set(doc) == {
        "schema_version", "device", "command", "fields", "status", "result", "latency_ns", "data_len",
        "metadata_len", "metadata_out", "decoded", "nvme_cli", "nvme_cli_passthru",
    }  # fmt: skip
    assert doc["device"] == "sim0n1" and doc["command"] == "identify" and doc["fields"]["cns"] == 1
    assert doc["status"] == {
        "value": 0, "sct": 0, "sc": 0, "name": "Successful Completion", "dnr": False, "more": False, "crd": 0
    }  # fmt: skip
    assert doc["data_len"] == 4096 and doc["latency_ns"] > 0
    assert doc["decoded"]["mn"] == "nvtui simulated NVMe controller"
    assert isinstance(doc["decoded"]["tnvmcap"], int) and doc["decoded"]["nn"] >= 2
    assert doc["nvme_cli"].startswith("nvme id-ctrl ")  # nvme-cli's own verb; the passthrough line beside it
    passthru = doc["nvme_cli_passthru"]
    assert passthru.startswith("nvme admin-passthru ") and "--opcode=0x06" in passthru


def test_enum_names_and_hex_values_are_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "send", "sim0n1", "identify", "cns=controller", "--json")
    assert code == 0 and json.loads(out)["fields"]["cns"] == 1
    code, out, _ = run(capsys, "send", "sim0n1", "get-log-page", "lid=0x02", "numd=128", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["data_len"] == 512 and "critical_warning" in doc["decoded"]


def test_write_without_allow_destructive_is_refused_and_sends_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    block = tmp_path / "block.bin"
    block.write_bytes(os.urandom(512))
    before = tmp_path / "before.bin"
    assert run(capsys, "send", "sim0n1", "read", "slba=5", "nlb=1", "--data-out", str(before))[0] == 0
    code, out, err = run(capsys, "send", "sim0n1", "write", "slba=5", "nlb=1", "--data-in", str(block))
    assert code == 2 and out == ""
    assert "destructive" in one_line(err) and "--allow-destructive" in err
    after = tmp_path / "after.bin"
    assert run(capsys, "send", "sim0n1", "read", "slba=5", "nlb=1", "--data-out", str(after))[0] == 0
    assert after.read_bytes() == before.read_bytes()


def test_block_written_with_data_in_reads_back_identical(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = os.urandom(8 * 512)
    src, dst = tmp_path / "in.bin", tmp_path / "out.bin"
    src.write_bytes(data)
    code, _, _ = run(
        capsys, "send", "sim0n1", "write", "slba=100", "nlb=8", "--data-in", str(src), "--allow-destructive"
    )
    assert code == 0
    assert run(capsys, "send", "sim0n1", "read", "slba=100", "nlb=8", "--data-out", str(dst))[0] == 0
    assert dst.read_bytes() == data


def test_data_in_of_the_wrong_size_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    src = tmp_path / "short.bin"
    src.write_bytes(bytes(100))
    code, _, err = run(
        capsys, "send", "sim0n1", "write", "slba=0", "nlb=1", "--data-in", str(src), "--allow-destructive"
    )
    assert code == 2 and "100" in one_line(err)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["send", "sim0n1", "read", "slba=0", "nlb=70000"], "nlb"),
        (["send", "sim0n1", "read", "slba=-1", "nlb=1"], "slba"),
        (["send", "sim0n1", "read", "slba=zzz"], "slba"),
        (["send", "sim0n1", "identify", "cns=bogus"], "cns"),
        (["send", "sim0n1", "identify", "nope=1"], "nope"),
        (["send", "sim0n1", "frobnicate"], "frobnicate"),
        (["send", "sim0", "read", "slba=0", "nlb=1"], "namespace"),
        (["send", "sim9n9", "identify"], "sim9n9"),
        (["send", "sim0n1", "identify", "--backend", "uring"], "sim"),
        (["send", "sim0n1", "create-io-sq"], "refused"),
        (["send", "sim0n1", "identify", "--data-len", "12"], "4096"),
        (["send", "sim0n1", "identify", "--data-in", "/nonexistent/file"], "/nonexistent/file"),
        (["send"], "required"),
        (["bench", "sim0n1", "--qd", "0"], "qd"),
        (["catalogue", "check", "/nonexistent.yaml"], "not found"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    code, _, err = run_any(capsys, argv)
    assert code == 2, err
    assert needle in one_line(err)


def run_any(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    try:
        return run(capsys, *argv)
    except SystemExit as exc:  # argparse's own errors
        out, err = capsys.readouterr()
        return int(exc.code or 0), out, err


def test_error_status_exits_1_and_still_prints_the_result(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "send", "sim0n1", "read", "slba=0xffffffff", "nlb=1", "--json")
    assert code == 1
    status = json.loads(out)["status"]
    assert (status["sct"], status["sc"], status["name"]) == (0, 0x80, "LBA Out of Range")


def test_unknown_opcode_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(  # 0xc3's bits say it moves data both ways: --no-data asserts it moves none
        capsys, "send", "sim0", "admin-passthru", "opcode=0xc3", "--no-data", "--allow-destructive", "--json"
    )
    assert code == 1
    assert json.loads(out)["status"]["name"] == "Invalid Command Opcode"


def test_catalogue_list_and_check(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "catalogue", "list", "--json")
    ids = {e["id"] for e in json.loads(out)["commands"]}
    assert code == 0 and {"identify", "get-log-page", "zone-mgmt-send", "io-mgmt-recv"} <= ids
    example = Path(__file__).parent.parent / "examples" / "vendor-acme.yaml"
    assert run(capsys, "catalogue", "check", str(example))[0] == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\ncommands:\n  - id: x\n    name: X\n    set: vendor\n    opcode: 0x1ff\n")
    code, _, err = run(capsys, "catalogue", "check", str(bad))
    assert code == 2 and f"{bad}:6" in err and "opcode" in err and "Traceback" not in err


def test_vendor_catalogue_adds_a_command(capsys: pytest.CaptureFixture[str]) -> None:
    example = Path(__file__).parent.parent / "examples" / "vendor-acme.yaml"
    for argv in (
        ["catalogue", "list", "--json", "--catalogue", str(example)],
        ["--catalogue", str(example), "catalogue", "list", "--json"],
    ):
        code, out, _ = run(capsys, *argv)
        assert code == 0 and "get-log-page-acme-health" in {e["id"] for e in json.loads(out)["commands"]}
        assert "acme-health-log" in {s["id"] for s in json.loads(out)["structures"]}


def test_the_console_script_runs_as_a_process(tmp_path: Path) -> None:
    env = {**os.environ}
    done = subprocess.run([*NVTUI, "send", "sim0n1", "identify", "cns=1", "--json"], capture_output=True,
                          text=True, env=env, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["decoded"]["mn"] == "nvtui simulated NVMe controller"
    bad = subprocess.run([*NVTUI, "send", "sim0n1", "read", "nlb=0"], capture_output=True, text=True, env=env,
                         timeout=60)  # fmt: skip
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("text", ["0b11", "0o17", "1_000", "1e3", "+4"])
def test_option_numbers_follow_the_one_number_rule(capsys: pytest.CaptureFixture[str], text: str) -> None:
    # --qd, --bs and --data-len read numbers as fields and files do: decimal or 0x-hex, nothing else.
    code, _, err = run_any(capsys, ["bench", "sim0n1", "--qd", text])
    assert code == 2
    assert "is not a whole number (decimal or 0x-hex)" in err
