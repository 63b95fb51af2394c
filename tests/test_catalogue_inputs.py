"""Inputs are bounded and typed (issue 9): what a catalogue, a script or the command line says is read by one
rule, bounded before it is converted, and a mistake is one line naming the file, the line and the field.

- a number of more than 4,300 digits ended in "internal error: Exceeds the limit (4300 digits)";
- YAML tags (`!!int 'zz'`, `!!bool maybe`, `!!python/...`) ended in internal errors;
- files were typed as YAML 1.1: `slba: 010` replayed as LBA 8, `1:00` as 60, `0b11` as 3, `cns: yes` as 1;
- a split field whose own slices overlap was sent corrupted (`x=0x10` went out as `cdw10=0x1`);
- a catalogue had no size bound (100 MB: 184 s and 4.9 GB in `check`), and `/dev/zero` or a FIFO as a
  catalogue was read until memory ran out.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fuzz.recording import Recorder, install_recorder, run_cli

from nvtui.catalogue import load_catalogue
from nvtui.catalogue.loader import MAX_CATALOGUE_BYTES, inspect_file
from nvtui.nvme.command import Command
from nvtui.scripts import CommandScript
from nvtui.yamlio import YamlSyntaxError, dump_yaml, parse_yaml

ROOT = Path(__file__).resolve().parent.parent
HUGE = "9" * 5000


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with pytest.MonkeyPatch.context() as mp:
        yield install_recorder(mp)


def one_line(text: str) -> str:
    assert text.endswith("\n") and text.count("\n") == 1 and text[:-1].isprintable(), repr(text[:300])
    assert "internal error" not in text and "Traceback" not in text, text
    return text[:-1]


def vendor_entry(
    extra: str = "", field: str = "{name: x, at: cdw10}\n      - {name: go, at: 'cdw11[0]', type: flag}"
) -> str:
    return (
        "version: 1\ncommands:\n"
        "  - id: acme-thing\n    name: Acme thing\n    set: vendor\n    opcode: 0xc4\n    queue: admin\n"
        f"    help: a vendor command\n    destructive: false\n    fields:\n      - {field}\n{extra}"
    )


def script_with(fields: str, command: str = "read") -> str:
    return f"nvtui-script: 1\ndevice: sim0n1\nsteps:\n  - command: {command}\n    fields: {fields}\n"


# --- huge numbers ----------------------------------------------------------------------------------------


def test_a_huge_value_on_the_command_line_is_one_line_naming_the_field(recorder: Recorder) -> None:
    mark = recorder.mark()
    for value in (HUGE, "0x" + "f" * 5000, "0" * 4999 + "1x", "-" + HUGE):
        done = run_cli(["send", "sim0n1", "read", f"slba={value}"])
        line = one_line(done.err)
        assert done.code == 2 and line.startswith("nvtui: field slba: ") and len(line) < 200, line
        assert "range 0x0-0xffffffffffffffff" in line
    assert recorder.since(mark) == []
    # leading zeros are not digits that count: the value is what it is
    done = run_cli(["send", "sim0n1", "read", "slba=" + "0" * 5000 + "7", "nlb=1", "--json"])
    assert done.code == 0, done.err
    assert recorder.user_commands_since(mark)[-1].cdw10 == 7


def test_a_huge_number_in_a_catalogue_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text(vendor_entry().replace("opcode: 0xc4", f"opcode: {HUGE}"))
    done = run_cli(["catalogue", "check", str(path)])
    assert done.code == 2
    assert one_line(done.err) == (
        f"{path}:6: acme-thing: field opcode: a number of 5,000 digits is longer than any value nvtui takes"
    )


def test_a_huge_number_in_a_script_names_file_line_and_field(tmp_path: Path, recorder: Recorder) -> None:
    mark = recorder.mark()
    for fields, where in (
        (f"{{slba: {HUGE}}}", ":5: field steps[0].fields.slba: "),
        (f"{{slba: '{HUGE}'}}", ":4: step 1 (read): field slba: "),
    ):
        path = tmp_path / "huge.yaml"
        path.write_text(script_with(fields))
        done = run_cli(["run", str(path)])
        assert done.code == 2
        assert one_line(done.err).startswith(f"nvtui: {path}{where}a number of 5,000 digits"), done.err
    assert recorder.user_commands_since(mark) == []


# --- YAML tags -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tagged",
    ["!!int 'zz'", "!!bool maybe", "!!python/object/apply:os.system ['touch {marker}']", "!!binary aGk=",
     "!!float 1", "!!timestamp 2024-01-01", "!acme 3", "! 12", "!!str 12", "!<tag:yaml.org,2002:int> 7"],
)  # fmt: skip
def test_an_explicit_yaml_tag_is_one_line_with_file_and_line(tmp_path: Path, tagged: str) -> None:
    marker = tmp_path / "ran"
    tagged = tagged.replace("{marker}", str(marker))
    catalogue = tmp_path / "tagged.yaml"
    catalogue.write_text(vendor_entry(extra=f"    spec: {tagged}\n"))
    done = run_cli(["catalogue", "check", str(catalogue)])
    assert done.code == 2
    assert re.fullmatch(
        rf"{re.escape(str(catalogue))}:13: explicit YAML tags `.+` are not allowed: .*", one_line(done.err)
    )
    script = tmp_path / "tagged-script.yaml"
    script.write_text(script_with(f"{{slba: {tagged}, nlb: 1}}"))
    done = run_cli(["run", str(script)])
    assert done.code == 2 and one_line(done.err).startswith(f"nvtui: {script}:5: explicit YAML tags")
    assert not marker.exists()


def test_a_tag_directive_is_refused_too(tmp_path: Path) -> None:
    path = tmp_path / "directive.yaml"
    path.write_text("%TAG !a! tag:acme.com,2024:\n---\n" + vendor_entry())
    done = run_cli(["catalogue", "check", str(path)])
    assert done.code == 2 and one_line(done.err).startswith(f"{path}:1: explicit YAML tags are not allowed")


# --- one rule for numbers and words, on the command line and in files -----------------------------------


@pytest.mark.parametrize(
    ("written", "value"),
    [("010", 10), ("0010", 10), ("0x10", 16), ("0X1f", 31), ("16", 16), ("'0x10'", 16), ("'010'", 10)],
)
def test_a_script_number_means_what_it_means_on_the_command_line(
    tmp_path: Path, recorder: Recorder, written: str, value: int
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(script_with(f"{{slba: {written}, nlb: 1}}"))
    mark = recorder.mark()
    assert run_cli(["run", str(path)]).code == 0
    (sent,) = recorder.user_commands_since(mark)
    cli_mark = recorder.mark()
    assert run_cli(["send", "sim0n1", "read", f"slba={written.strip(chr(39))}", "nlb=1"]).code == 0
    assert (sent.cdw10, recorder.user_commands_since(cli_mark)[0].cdw10) == (value, value)


@pytest.mark.parametrize("written", ["1:00", "0b11", "0o17", "1_000", "+5", "1e3", "0x_1", "10.0"])
def test_yaml_1_1_numbers_are_words_and_refused_like_on_the_command_line(
    tmp_path: Path, recorder: Recorder, written: str
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(script_with(f"{{slba: {written}, nlb: 1}}"))
    mark = recorder.mark()
    done = run_cli(["run", str(path)])
    assert done.code == 2 and recorder.user_commands_since(mark) == []
    assert one_line(done.err) == (
        f"nvtui: {path}:4: step 1 (read): field slba: {written!r} is not a number "
        "(decimal or 0x-hex, range 0x0-0xffffffffffffffff)"
    )


def test_yes_and_no_are_words_a_flag_takes_as_the_command_line_does(
    tmp_path: Path, recorder: Recorder
) -> None:
    path = tmp_path / "s.yaml"
    for word, bit in (("yes", 1), ("on", 1), ("true", 1), ("no", 0), ("off", 0), ("false", 0)):
        path.write_text(script_with(f"{{slba: 0, nlb: 1, fua: {word}}}"))
        mark = recorder.mark()
        assert run_cli(["run", str(path)]).code == 0
        (sent,) = recorder.user_commands_since(mark)
        assert sent.cdw12 >> 30 & 1 == bit, word
    path.write_text(script_with("{cns: yes}", command="identify"))  # YAML 1.1 made this CNS 1
    done = run_cli(["run", str(path)])
    assert done.code == 2 and "field cns: 'yes' is neither a number in range" in one_line(done.err)


def test_a_saved_script_reads_back_as_written(tmp_path: Path) -> None:
    script = CommandScript.load(_write(tmp_path / "s.yaml", script_with("{slba: 010, nlb: 1}")))
    script.steps[0].fields["note_like"] = "010"  # a word that looks like a number stays a word
    script.steps[0].fields["flag_like"] = "yes"
    saved = tmp_path / "saved.yaml"
    saved.write_text(script.to_yaml())
    assert CommandScript.load(saved).steps[0].fields == {
        "slba": 10,
        "nlb": 1,
        "note_like": "010",
        "flag_like": "yes",
    }
    for value in ("09", "0x10", "1:00", "yes", "true", "~", "1_0", "-5"):
        assert parse_yaml(dump_yaml({"v": value}), "x").data == {"v": value}


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_catalogue_numbers_and_words_follow_the_same_rule(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "c.yaml",
        vendor_entry(
            field="{name: x, at: cdw10}\n      - {name: go, at: 'cdw11[0]', type: flag, default: yes}"
        ).replace("opcode: 0xc4", "opcode: 0196"),
    )
    loaded = load_catalogue([path], user_dir=False)
    assert loaded.errors == []
    acme = loaded.get("acme-thing")
    assert acme.opcode == 196 and acme.field("go").default == 1  # 0196 is decimal; `yes` as a flag takes it
    bad = _write(tmp_path / "bad.yaml", vendor_entry().replace("destructive: false", "destructive: no"))
    assert [(e.line, e.field, e.message) for e in inspect_file(bad).errors] == [
        (9, "destructive", "Input should be a valid boolean")
    ]  # the schema's booleans are true and false


# --- split fields whose slices overlap -------------------------------------------------------------------


@pytest.mark.parametrize(
    "at",
    [
        '["cdw10[3:0]", "cdw10[2:0]"]',
        '["cdw10[7:0]", "cdw11[3:0]", "cdw10[15:7]"]',
        '["cdw10-11", "cdw11[0]"]',
    ],
)
def test_a_split_field_whose_own_slices_overlap_is_refused(tmp_path: Path, at: str) -> None:
    path = _write(tmp_path / "c.yaml", vendor_entry(field=f"{{name: x, at: {at}}}"))
    (error,) = inspect_file(path).errors
    assert (error.line, error.entry) == (11, "acme-thing") and error.field.startswith("fields[0].at")
    assert "of the same field" in error.message
    done = run_cli(["catalogue", "check", str(path)])
    assert done.code == 2 and one_line(done.err) == str(error)


# --- catalogue files are bounded -------------------------------------------------------------------------


def test_a_catalogue_over_4_mib_is_refused_before_it_is_read(tmp_path: Path, recorder: Recorder) -> None:
    big = tmp_path / "big.yaml"
    with open(big, "wb") as f:
        f.truncate(1 << 30)  # 1 GiB, sparse: reading it whole would take seconds and a GiB of memory
    started = time.monotonic()
    for argv in (["catalogue", "check", str(big)], ["send", "sim0", "identify", "--catalogue", str(big)]):
        done = run_cli(argv)
        assert done.code == 2 and "is larger than 4 MiB" in one_line(done.err)
    assert time.monotonic() - started < 5
    result = inspect_file(big)  # the loader itself reads at most the bound + 1 byte
    assert [str(e) for e in result.errors] == [
        f"{big}:0: is larger than 4 MiB: nvtui reads catalogues of at most {MAX_CATALOGUE_BYTES:,} bytes"
    ]


def test_a_catalogue_at_the_bound_is_read(tmp_path: Path) -> None:
    text = vendor_entry()
    path = _write(tmp_path / "padded.yaml", text + "#" * (MAX_CATALOGUE_BYTES - len(text) - 1) + "\n")
    assert path.stat().st_size == MAX_CATALOGUE_BYTES
    assert inspect_file(path).errors == () and load_catalogue([path], user_dir=False).get("acme-thing")


@pytest.mark.parametrize("special", ["/dev/zero", "/dev/urandom", "fifo"])
def test_an_endless_catalogue_is_refused_never_read(tmp_path: Path, special: str) -> None:
    """Each in a process of its own with a timeout: on main these read until memory runs out (or, a FIFO,
    block forever)."""
    path = Path(special)
    if special == "fifo":
        path = tmp_path / "catalogue.yaml"
        os.mkfifo(path)
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "config"))
    commands_d = tmp_path / "config" / "nvtui" / "commands.d"
    commands_d.mkdir(parents=True)
    (commands_d / "endless.yaml").symlink_to(path)  # silently loaded on every start
    for argv in (
        ["catalogue", "check", str(path)],
        ["send", "sim0", "identify", "--catalogue", str(path)],
        ["catalogue", "list"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "nvtui.cli", *argv],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
        kind = "a FIFO" if special == "fifo" else "a character device"
        assert f"is {kind}" in done.stderr, (argv, done.stderr)
        assert "Traceback" not in done.stderr and "internal error" not in done.stderr
        if argv[-1] == "list":  # the commands.d file is a warning; the rest loads
            assert done.returncode == 0 and "format-nvm" in done.stdout
            said = f"{commands_d / 'endless.yaml'}:0: is {kind}, not a file: give a regular file"
            assert done.stderr == f"nvtui: warning: {said}\n"
        else:
            assert done.returncode == 2


# --- data.length: a discriminated union, errors still one line with file, line and field -------------------


@pytest.mark.parametrize(
    ("length", "field", "message"),
    [
        ("[1]", "data.length", "expected bytes, user, optional, {field: FIELD, unit: BYTES|lba} or {by:"),
        ("-1", "data.length", "Input should be greater than or equal to 0"),
        ("0x100000000", "data.length", "Input should be less than or equal to 4294967295"),
        ("true", "data.length", "Input should be a valid integer"),
        ("always", "data.length", "Input should be 'user' or 'optional'"),
        ("{field: x, unit: 0}", "data.length.unit", "Input should be greater than 0"),
        ("{field: x, unit: blocks}", "data.length.unit", "expected a positive byte count, lba or {by: FIELD"),
        ("{field: nope}", "data.length.field", "no field named 'nope'"),
        ("{unit: 4}", "data.length.field", "Field required"),
        ("{field: x, bogus: 1}", "data.length.bogus", "Extra inputs are not permitted"),
        ("{by: x, sizes: {1: -4}}", "data.length.sizes[1]", "Input should be greater than or equal to 0"),
        ("{by: x, sizes: {1: 4, 0x1: 8}}", "data.length.sizes[1]", "key 1 given twice"),  # one number
        ("{by: go, sizes: {1: 4, on: 8}}", "data.length.sizes.on", "'on' is 1 again (1)"),  # a flag's word
        ("{by: nope, sizes: {}}", "data.length.by", "no field named 'nope'"),
        ("{by: x, sizes: {}, otherwise: often}", "data.length.otherwise", "should be 'user' or 'optional'"),
        ("{field: x, unit: {by: x, sizes: {one: 4}}}", "data.length.unit.sizes.one", "'one' is not a number"),
    ],
)  # fmt: skip
def test_a_bad_data_length_is_one_line_with_file_line_and_field(
    tmp_path: Path, length: str, field: str, message: str
) -> None:
    extra = f"    data:\n      direction: read\n      length: {length}\n"
    path = _write(tmp_path / "c.yaml", vendor_entry(extra=extra).replace("0xc4", "0xc6"))
    (error,) = inspect_file(path).errors
    assert (error.entry, error.field) == ("acme-thing", field), str(error)
    assert message in error.message and 13 <= error.line <= 15, str(error)


def test_a_decode_rule_may_ask_for_the_completions_dword_0_and_nothing_else_unknown(tmp_path: Path) -> None:
    data = "    data: {direction: read, length: 512}\n"
    rule = data + "    decode:\n      - {decoder: smart-log, context: [%s]}\n"
    good = _write(tmp_path / "good.yaml", vendor_entry(extra=rule % "result").replace("0xc4", "0xc6"))
    assert not inspect_file(good).errors
    bad = _write(tmp_path / "bad.yaml", vendor_entry(extra=rule % "dword0").replace("0xc4", "0xc6"))
    (error,) = inspect_file(bad).errors
    assert error.field == "decode[0].context", str(error)
    assert "no field named 'dword0'" in error.message and "nor of the completion: result" in error.message


def test_every_kind_of_data_length_still_encodes() -> None:
    catalogue = load_catalogue(user_dir=False)
    cases = {
        "identify": ([], 4096),  # a fixed count
        "get-log-page": (["numd=128"], 512),  # a field's count times a unit
        "read": (["nlb=8"], 4096),  # in LBAs
        "dataset-management": (["nr=2"], 32),
        "admin-passthru": (["opcode=0x06"], 0),  # optional
    }
    for command, (fields, size) in cases.items():
        defn = catalogue.get(command)
        cmd: Command = defn.encode(defn.parse_values(fields), lba_size=512)
        assert cmd.data_len == size, command
    admin = catalogue.get("admin-passthru")
    assert admin.encode({"opcode": 0x06}, data_len=4096).data_len == 4096


def test_yaml_syntax_errors_keep_their_line() -> None:
    with pytest.raises(YamlSyntaxError, match=r"^x.yaml:3: YAML syntax error: while parsing a flow node"):
        parse_yaml("a: 1\nb: [\n", "x.yaml")
