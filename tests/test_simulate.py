"""A catalogue entry's `simulate:` block: the simulated controller answers a vendor command with the status
and the structure's field values the entry gives (encoded through the structure's layout), so a vendor
catalogue can be tried and tested before the drive arrives (examples/vendor-acme.yaml). A mistake in the
block is one error line with its file and line; a command outside the entry's ranges gets the simulator's
own answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nvtui import structures
from nvtui.catalogue import load_catalogue
from nvtui.cli import main
from nvtui.nvme.status_names import status_by_name

EXAMPLE = Path(__file__).parent.parent / "examples" / "vendor-acme.yaml"


def send(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, object], str]:
    code = main(["--catalogue", str(EXAMPLE), "send", "sim0", *argv, "--json"])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else {}, err


def test_the_vendor_log_page_answers_with_the_catalogues_values_decoded(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, doc, err = send(capsys, "acme-health")
    assert code == 0, err
    assert err.startswith("nvtui: answered by simulate: in the entry at vendor-acme.yaml:")
    assert err.count("\n") == 1  # said once, with the file and line
    decoded = doc["decoded"]
    assert isinstance(decoded, dict)
    assert decoded["firmware_build"] == "ACME-7.1.3" and decoded["throttle_minutes"] == 42
    assert decoded["health_flags"] == 0b10 and decoded["throttle_level"] == 1  # by name in the file
    assert decoded["dies"] == [
        {"die_id": 0, "wear_percent": 3, "bad_block_pct": 1, "erase_count": 1200},
        {"die_id": 1, "wear_percent": 4, "bad_block_pct": 0, "erase_count": 1310},
    ]
    # the built-in Get Log Page with the LID the catalogue names is the same command: the same answer
    code, same, _ = send(capsys, "get-log-page", "lid=acme-health")
    assert code == 0 and same["decoded"] == decoded


def test_a_read_from_an_offset_starts_there_and_other_pages_are_the_simulators_own(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    whole = tmp_path / "whole.bin"
    part = tmp_path / "part.bin"
    assert main(["--catalogue", str(EXAMPLE), "send", "sim0", "acme-health", "--data-out", str(whole)]) == 0
    assert main(["--catalogue", str(EXAMPLE), "send", "sim0", "acme-health", "lpo=64", "numd=4",
                 "--data-out", str(part)]) == 0  # fmt: skip
    capsys.readouterr()
    assert part.read_bytes() == whole.read_bytes()[64:80] and any(part.read_bytes())
    code, smart, _ = send(capsys, "get-log-page", "lid=smart")  # LID 02h: outside the ACME entry's range
    assert code == 0 and isinstance(smart["decoded"], dict) and "critical_warning" in smart["decoded"]
    code, missing, _ = send(capsys, "get-log-page", "lid=0xc1")  # neither the catalogue's nor the simulator's
    assert code == 1 and missing["status"]["name"] == "Invalid Log Page"  # type: ignore[index]


def test_the_vendor_command_returns_its_structure_and_a_status_only_answer_sends_no_data(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, doc, err = send(capsys, "acme-snapshot")
    assert code == 0, err
    decoded = doc["decoded"]
    assert isinstance(decoded, dict) and decoded["power_on_hours"] == 1742 and decoded["reason"] == 0
    assert decoded["records"] == [{"counter": 1, "value": 981234}, {"counter": 3, "value": 4411}]
    assert doc["data_len"] == 4096  # numd 1024 dwords: the 64-byte structure, then zeros
    refusing = tmp_path / "refusing.yaml"
    refusing.write_text(
        "version: 1\ncommands:\n  - id: acme-erase-logs\n    name: ACME Erase Logs\n    set: vendor\n"
        "    opcode: 0xc4\n    queue: admin\n    help: h\n"
        "    simulate: {status: Invalid Field in Command, result: 0x1234}\n"
    )
    code = main(["--catalogue", str(refusing), "send", "sim0", "acme-erase-logs", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1 and out["status"]["name"] == "Invalid Field in Command" and out["result"] == 0x1234
    # an opcode no entry simulates is the simulator's: Invalid Command Opcode, as a controller lacking it
    assert main(["send", "sim0", "admin-passthru", "opcode=0xc4", "--allow-destructive"]) == 1
    assert "Invalid Command Opcode" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("block", "said"),
    [
        ("{status: Not A Status}", "simulate.status: no status is named 'Not A Status'"),
        ("{status: 0x800}", "status 0x800 out of range 0x000-0x7ff"),
        ("{structure: acme-nothing, fields: {a: 1}}", "no structure layout 'acme-nothing' to encode"),
        ("{structure: acme-health-log, fields: {throttle_level: extreme}}", "acme-health-log: "),
        ("{structure: acme-health-log, fields: {no_such_field: 1}}", "no_such_field"),
        ("{fields: {log_version: 1}}", "field values need a structure"),
        ("{structure: acme-health-log, offset: lpo}", "no field named 'lpo'"),
    ],
)
def test_a_mistake_in_a_simulate_block_is_one_line_with_the_file_and_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, block: str, said: str
) -> None:
    path = tmp_path / "bad.yaml"
    structures_part = EXAMPLE.read_text().split("\nstructures:\n", 1)[1]
    path.write_text(
        "version: 1\ncommands:\n  - id: acme-thing\n    name: ACME Thing\n    set: vendor\n"
        "    opcode: 0xc6\n    queue: admin\n    help: h\n    data: {direction: read, length: 512}\n"
        f"    simulate: {block}\nstructures:\n{structures_part}"
    )
    code = main(["catalogue", "check", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    line = next(x for x in err.splitlines() if said in x)
    assert line.startswith(f"{path}:"), line
    assert not any(e.id == "acme-thing" for e in load_catalogue([path], user_dir=False))  # never answered


def test_status_names_are_found_whatever_their_spelling() -> None:
    assert status_by_name("Successful Completion") == 0
    assert status_by_name("invalid-field-in-command") == 0x02
    assert status_by_name("invalid_log_page") == 0x109
    assert status_by_name("Unrecovered Read Error") == 0x281
    assert status_by_name("no such status") is None


def test_the_answer_is_the_layouts_encoding_of_the_values() -> None:
    catalogue = load_catalogue([EXAMPLE], user_dir=False)
    health = catalogue.get("acme-health")
    cmd = health.encode(health.complete({}))
    answer = catalogue.simulated_answer(cmd)
    assert answer is not None and answer.status == 0 and answer.data is not None
    assert health.simulate is not None
    assert answer.data == structures.encode("acme-health-log", health.simulate.values)
    assert catalogue.simulated_answer(cmd.with_(cdw10=cmd.cdw10 & ~0xFF | 0x02)) is None  # LID 02h
    assert load_catalogue(user_dir=False).simulated_answer(cmd) is None  # the built-in catalogue: none


async def test_in_the_tui_the_vendor_log_page_answers_on_the_simulator_decoded() -> None:
    from test_app import compose, ready
    from textual.widgets import Static

    from nvtui.app import NvtuiApp
    from nvtui.screens.result import ResultScreen
    from nvtui.widgets.decoded_tree import DecodedTree
    from tests.pilots import until

    app = NvtuiApp(catalogue_files=[EXAMPLE], include_real_devices=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await compose(pilot, "get-log-page-acme-health")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, ResultScreen) and app.screen.result, "the result")
        screen = app.screen
        assert isinstance(screen, ResultScreen)
        assert "Successful Completion" in str(screen.query_one("#status", Static).render())
        assert "answered by simulate: in the entry at vendor-acme.yaml:" in str(
            screen.query_one("#summary", Static).render()
        )
        rows = {row.name: row for row in screen.query_one("#decoded-tree", DecodedTree).all_rows()}
        assert rows["firmware_build"].value == "ACME-7.1.3"
        assert "thermal throttling active" in rows["health_flags"].meaning
