"""Broken input never gets past nvtui: generated catalogue files, field values, CLI argument vectors and
command scripts. Whatever comes in, nothing escapes `main` (no traceback, no "internal error"), every
error is one line naming the file and line (YAML) or the field and its allowed range (values), bad input
exits 2, and nothing bad input asks for is submitted (a recording backend sees every command).

Generated cases per run (max_examples; each test checks it ran all of its own): 2,500 broken
catalogues + 1,500 garbage catalogue files + 400 `catalogue check` runs + 3,000 field values + 1,000 bad
values through `send` + 1,200 CLI argument vectors + 800 broken scripts through `run` = 10,400; and issue
9's: 300 numbers too long in catalogues and scripts + 200 on the command line + 300 explicit YAML tags +
300 YAML 1.1 spellings in scripts (against the command line) + 400 split fields + 100 user catalogues
redefining built-in commands (every built-in opcode's guard through `send`, about 40 runs each) = 12,000;
and issue 10's: 600 broken structure layouts (each reported at its file and line) = 12,600.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
import yaml
from fuzz.recording import CliRun, Recorder, install_recorder, run_cli
from fuzz.strategies import (
    HUGE_NUMBERS,
    YAML11_SPELLINGS,
    BrokenFile,
    BrokenLayout,
    BrokenScript,
    Paths,
    PlantedFile,
    RedefiningCatalogue,
    argv_vectors,
    broken_catalogues,
    broken_layouts,
    broken_scripts,
    garbage_catalogues,
    huge_number_catalogues,
    huge_number_scripts,
    redefining_catalogues,
    self_overlapping_fields,
    tagged_files,
    value_texts,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nvtui.backend.sim import SimBackend
from nvtui.catalogue import CatalogueError, CommandDef, FieldDef, check_file, load_catalogue
from nvtui.catalogue.build import is_vendor_opcode
from nvtui.errors import UsageError

CATALOGUE = load_catalogue(user_dir=False)
BUILTIN_IDS = {e.id for e in CATALOGUE}
# Sendable from the CLI without waiting for an event that may never come (AER completes only on one).
SENDABLE = [e for e in CATALOGUE if not e.refused and e.id != "asynchronous-event-request"]
ENTRIES_WITH_FIELDS = [e for e in CATALOGUE if e.fields]

FUZZ_TESTS = {
    "broken_catalogues": 2500,
    "garbage_catalogues": 1500,
    "catalogue_check_cli": 400,
    "field_values": 3000,
    "field_values_cli": 1000,
    "argv": 1200,
    "scripts": 800,
    # issue 9's
    "huge_numbers": 300,
    "huge_values_cli": 200,
    "yaml_tags": 300,
    "yaml11_spellings": 300,
    "self_overlap": 400,
    "redefining_catalogues": 100,
    # issue 10's
    "broken_layouts": 600,
}


# NVTUI_FUZZ_SCALE=0.1 for a quick local run; CI runs the full numbers. The examples are the same on every
# run (the `ci` hypothesis profile in conftest.py); NVTUI_HYPOTHESIS=explore draws new ones.
SCALE = float(os.environ.get("NVTUI_FUZZ_SCALE", "1"))

TestFn = TypeVar("TestFn", bound=Callable[..., None])
FUZZ_SETTINGS_SEEN: list[settings] = []


def fuzz(name: str) -> Callable[[TestFn], TestFn]:
    """One generator's settings, and a check that its test really ran that many generated cases (hypothesis
    calls the test body once per case: a strategy that filters out too much, or stops early, fails)."""
    wanted = max(1, int(FUZZ_TESTS[name] * SCALE))

    def decorate(test: TestFn) -> TestFn:
        test = settings(
            max_examples=wanted,
            deadline=None,
            suppress_health_check=[
                HealthCheck.too_slow,
                HealthCheck.data_too_large,
                HealthCheck.filter_too_much,
            ],
        )(test)
        FUZZ_SETTINGS_SEEN.append(test._hypothesis_internal_use_settings)  # type: ignore[attr-defined]
        handle = test.hypothesis  # type: ignore[attr-defined]
        body = handle.inner_test
        ran = [0]

        def counted(*args: object, **kwargs: object) -> None:
            ran[0] += 1
            body(*args, **kwargs)

        handle.inner_test = counted  # hypothesis calls `inner_test` for each case (a documented hook)

        @functools.wraps(test)
        def run(*args: object, **kwargs: object) -> None:
            ran[0] = 0
            test(*args, **kwargs)
            assert ran[0] >= wanted, f"{name}: {ran[0]:,} generated cases ran, {wanted:,} wanted"

        return run  # type: ignore[return-value]

    return decorate


def test_property_tests_draw_the_same_examples_on_every_run(pytestconfig: pytest.Config) -> None:
    """CI must not pass on one run and fail on the next: the default profile is derandomized, without an
    example database (conftest.py); only an explicit `explore` run draws new examples."""
    profile = pytestconfig.getoption("hypothesis_profile", None) or os.environ.get("NVTUI_HYPOTHESIS", "ci")
    if profile != "ci":
        pytest.skip(f"the {profile!r} hypothesis profile was asked for")
    assert settings.default.derandomize is True
    assert settings.default.database is None
    assert FUZZ_SETTINGS_SEEN and all(s.derandomize for s in FUZZ_SETTINGS_SEEN)


def test_the_generators_make_over_10000_cases_a_run() -> None:
    """The issue's bar for the harness: at least 10,000 generated cases per full run (each test above checks
    that it ran its share)."""
    assert sum(FUZZ_TESTS.values()) >= 10_000


_serial = itertools.count()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def recorder() -> Iterator[Recorder]:
    """Every backend opened in this module records its submissions; the TUI verb never starts an app."""
    import nvtui.cli

    with pytest.MonkeyPatch.context() as mp:
        rec = install_recorder(mp)
        mp.setattr(nvtui.cli, "cmd_tui", lambda args: 0)
        yield rec


@pytest.fixture(autouse=True)
def _simulator_held_open() -> Iterator[None]:
    """The simulated controller stays powered on for the whole test, so each CLI run's open and close only
    count a reference instead of saving and fsyncing the state (the cost of a run, not what is tested)."""
    held = SimBackend("sim0")
    yield
    asyncio.run(held.close())


def write(folder: Path, content: bytes, suffix: str = ".yaml") -> Path:
    path = folder / f"case-{next(_serial)}{suffix}"
    path.write_bytes(content)
    return path


# ---- catalogue files ---------------------------------------------------------------------------------------


def assert_well_formed(path: Path, content: bytes, errors: list[CatalogueError]) -> None:
    """Each error: one printable line `FILE:LINE: ...` with a line the file has."""
    last = content.count(b"\n") + 1
    for err in errors:
        text = str(err)
        assert text.isprintable(), f"not one printable line: {text!r}"
        m = re.match(re.escape(str(path)) + r":(\d+): \S", text)
        assert m, f"no FILE:LINE: prefix: {text!r}"
        assert 1 <= int(m[1]) <= last + 1, f"line {m[1]} outside the {last}-line file: {text!r}"


def assert_points_at(case: BrokenFile, errors: list[CatalogueError]) -> None:
    if case.must_fail:
        assert errors, (
            f"{case.kind}: a broken file passed the check:\n{case.content.decode(errors='replace')}"
        )
    if case.span is not None:
        lo, hi = case.span
        hits = [e for e in errors if lo <= e.line <= hi and (case.entry is None or e.entry == case.entry)]
        assert hits, (
            f"{case.kind}: no error points into lines {lo}-{hi} of entry {case.entry}: "
            f"{[str(e) for e in errors]}\n{case.content.decode(errors='replace')}"
        )


def assert_the_rest_loads(path: Path, errors: list[CatalogueError]) -> None:
    """DESIGN.md: a bad file gets its errors and the rest still loads."""
    loaded = load_catalogue([path], user_dir=False)
    assert {e.id for e in loaded} >= BUILTIN_IDS
    assert [str(e) for e in loaded.errors] == [str(e) for e in errors]


@fuzz("broken_catalogues")
@given(case=broken_catalogues())
def test_a_broken_catalogue_entry_is_reported_at_its_file_and_line(folder: Path, case: BrokenFile) -> None:
    path = write(folder, case.content)
    errors = check_file(path)
    assert_well_formed(path, case.content, errors)
    assert_points_at(case, errors)
    assert_the_rest_loads(path, errors)


@fuzz("garbage_catalogues")
@given(case=garbage_catalogues())
def test_garbage_catalogue_files_give_line_numbered_errors_never_a_crash(
    folder: Path, case: BrokenFile
) -> None:
    path = write(folder, case.content)
    errors = check_file(path)
    assert_well_formed(path, case.content, errors)
    assert_points_at(case, errors)
    assert_the_rest_loads(path, errors)


@fuzz("catalogue_check_cli")
@given(case=st.one_of(broken_catalogues(), garbage_catalogues()))
def test_catalogue_check_exits_2_with_one_line_per_error(
    folder: Path, recorder: Recorder, case: BrokenFile
) -> None:
    path = write(folder, case.content)
    mark = recorder.mark()
    done = run_cli(["catalogue", "check", str(path)])
    assert done.raised is None, repr(done.raised)
    assert "Traceback" not in done.err and "internal error" not in done.err
    expected = [str(e) for e in check_file(path)]
    if expected:
        assert done.code == 2
        assert done.err.splitlines() == expected
    else:
        assert done.code == 0 and done.out == f"{path}: ok\n"
    assert recorder.since(mark) == []


# ---- field values ------------------------------------------------------------------------------------------


_STRATEGIES: dict[tuple[str, int, int, bool], st.SearchStrategy[str]] = {}


def values_for(f: FieldDef, *, bad: bool = False) -> st.SearchStrategy[str]:
    """What may be typed for `f` (only what `f` refuses, with bad=True); built once per field shape."""
    key = (f.name, f.min, f.max, bad)
    if key not in _STRATEGIES:
        texts = value_texts(f.min, f.max, list(f.values))
        _STRATEGIES[key] = texts.filter(lambda t: bad_value(f, t)) if bad else texts
    return _STRATEGIES[key]


def plain_number(text: str) -> int | None:
    s = text.strip()
    if re.fullmatch(r"[0-9]+", s):
        return int(s, 10)
    if re.fullmatch(r"0[xX][0-9a-fA-F]+", s):
        return int(s, 16)
    return None


def assert_value_error(defn: CommandDef, message: str, named: FieldDef | None) -> None:
    """One line naming the field and its allowed range (or the bad FIELD=VALUE / unknown name itself)."""
    assert message.isprintable() and "\n" not in message, repr(message)
    m = re.match(r"field ([a-z0-9_]+): ", message)
    if m:
        f = defn.field(m[1])
        if "given twice" not in message:
            assert f.range_text() in message, f"no range in {message!r}"
        if named is not None and m[1] != named.name:
            assert f.required and "required" in message, message
        return
    assert message.startswith(f"{defn.id}: "), message
    assert "expected FIELD=VALUE" in message or "unknown field" in message, message


@fuzz("field_values")
@given(data=st.data())
def test_a_field_value_is_taken_exactly_or_refused_naming_field_and_range(data: st.DataObject) -> None:
    defn = data.draw(st.sampled_from(ENTRIES_WITH_FIELDS), label="entry")
    f = data.draw(st.sampled_from(defn.fields), label="field")
    text = data.draw(values_for(f), label="value")
    spelled = data.draw(st.sampled_from([f.name, f.name.upper(), f" {f.name}"]), label="name")
    assignments = [f"{spelled}={text}"]
    extra = data.draw(
        st.lists(
            st.sampled_from(["", "=", "=1", f"{f.name}", f"{f.name}=0", "nosuchfield=1", "x" * 40]),
            max_size=2,
        )
    )
    assignments += extra
    try:
        values = defn.parse_values(assignments)
    except UsageError as exc:
        assert_value_error(defn, str(exc), f if not extra else None)
        return
    got = values[f.name]
    assert f.min <= got <= f.max, f"{defn.id}.{f.name}={text!r} accepted as {got}, outside {f.range_text()}"
    if f.kind == "bytes":  # a key: its text's bytes, exactly, whatever they spell (a number too)
        raw = f.parse_bytes(text.strip())
        assert got == int.from_bytes(raw, "little"), f"{defn.id}.{f.name}={text!r} became {got}"
        assert f.length_field is None or values[f.length_field] == len(raw)
        return
    number = plain_number(text)
    lowered = text.strip().lower()
    if number is not None:
        assert got == number, f"{text!r} became {got}: truncated"
    elif lowered in f.values:
        assert got == f.values[lowered]
    else:
        assert f.kind == "flag" and lowered in ("true", "false", "yes", "no", "on", "off"), (
            f"{defn.id}.{f.name}: {text!r} accepted as {got}"
        )
    for name, value in values.items():
        g = defn.field(name)
        assert g.min <= value <= g.max


def bad_value(f: FieldDef, text: str) -> bool:
    try:
        f.parse(text)
    except UsageError:
        return True
    return False


@fuzz("field_values_cli")
@given(data=st.data())
def test_a_bad_value_on_the_command_line_exits_2_and_sends_nothing(
    recorder: Recorder, data: st.DataObject
) -> None:
    device = data.draw(st.sampled_from(["sim0", "sim0n1", "sim0n2"]), label="device")
    defn = data.draw(st.sampled_from([e for e in SENDABLE if e.fields]), label="entry")
    f = data.draw(st.sampled_from(defn.fields), label="field")
    text = data.draw(values_for(f, bad=True), label="value")
    options = data.draw(
        st.lists(st.sampled_from(["--json", "--allow-destructive", "--backend=sim"]), unique=True)
    )
    mark = recorder.mark()
    done = run_cli(["send", device, defn.id, f"{f.name}={text}", *options])
    assert done.raised is None, repr(done.raised)
    assert done.code == 2, (done.code, done.err)
    line = done.err.rstrip("\n")
    assert "\n" not in line and line.startswith("nvtui: field ") and "Traceback" not in done.err, done.err
    assert f"field {f.name}: " in line and f.range_text() in line, line
    assert done.out == ""
    assert recorder.since(mark) == [], "a command with a bad value reached the backend"


# ---- CLI argument vectors --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def paths(folder: Path) -> Paths:
    good = folder / "good.yaml"
    good.write_text(
        "version: 1\ncommands:\n"
        "- {id: vendor-log, name: Vendor log, set: vendor, opcode: 0xc2, queue: admin,\n"
        "   help: a vendor log, data: {direction: read, length: 512}}\n"
    )
    bad = folder / "bad.yaml"
    bad.write_text("version: 1\ncommands:\n- {id: Bad, opcode: 999}\n- not a mapping\n")
    data = folder / "data512.bin"
    data.write_bytes(bytes(range(256)) * 2)
    odd = folder / "data-odd.bin"
    odd.write_bytes(b"\1" * 777)
    (folder / "dir").mkdir(exist_ok=True)
    script = folder / "good-script.yaml"
    script.write_text("nvtui-script: 1\ndevice: sim0n1\nsteps:\n- {command: identify, fields: {cns: 1}}\n")
    bad_script = folder / "bad-script.yaml"
    bad_script.write_text(
        "nvtui-script: 1\ndevice: sim0n1\nsteps:\n- {command: identify, fields: {cns: 999}}\n"
    )
    return Paths(
        good_catalogue=str(good),
        bad_catalogue=str(bad),
        missing=str(folder / "missing.yaml"),
        directory=str(folder / "dir"),
        data_512=str(data),
        data_odd=str(odd),
        out_file=str(folder / "out.bin"),
        good_script=str(script),
        bad_script=str(bad_script),
    )


@fuzz("argv")
@given(data=st.data())
def test_any_argument_vector_ends_in_an_exit_code_never_a_traceback(
    recorder: Recorder, paths: Paths, data: st.DataObject
) -> None:
    argv = data.draw(argv_vectors(paths, [e.id for e in SENDABLE]), label="argv")
    mark = recorder.mark()
    done = run_cli(argv)
    assert done.raised is None, f"{argv}: {done.raised!r}"
    assert done.code in (0, 1, 2, 3), (argv, done.code, done.err)
    assert "Traceback" not in done.err and "internal error" not in done.err, (argv, done.err)
    # Every line on stderr is a whole message of its own: nvtui's, or a catalogue error `FILE:LINE: ...`.
    for line in done.err.splitlines():
        assert line.startswith("nvtui") or re.match(r"^/.*:\d+: \S", line), (argv, done.err)
    if done.code == 2:
        assert recorder.user_commands_since(mark) == [], f"{argv}: exit 2 but a command was submitted"
    if done.code in (2, 3) and not any(a in ("-h", "--help") for a in argv):
        assert done.err.strip(), f"{argv}: exit {done.code} without a word on stderr"


@pytest.mark.parametrize("argv", [["-\r"], ["--\x1b[2J"], ["send", "sim0", "identify", "--bogus\n2"]])
def test_a_usage_error_quoting_what_was_typed_is_one_printable_line(argv: list[str]) -> None:
    """Found by the vector above: `nvtui $'-\\r'` printed its usage error with a raw carriage return."""
    done = run_cli(argv)
    assert done.code == 2
    assert done.err.endswith("\n") and done.err[:-1].isprintable(), repr(done.err)
    assert done.err.startswith("nvtui: error: ") or done.err.startswith("nvtui send: error: "), done.err


# ---- command scripts -------------------------------------------------------------------------------------


@fuzz("scripts")
@given(case=broken_scripts(), device_option=st.booleans())
def test_a_broken_script_exits_2_naming_its_line_and_sends_nothing(
    folder: Path, recorder: Recorder, case: BrokenScript, device_option: bool
) -> None:
    path = write(folder, case.content)
    mark = recorder.mark()
    done = run_cli(["run", str(path), *(["--device", "sim0n1"] if device_option else [])])
    shown = case.content.decode(errors="replace")
    assert done.raised is None, repr(done.raised)
    assert done.code == 2, f"{case.kind}: exit {done.code}\n{done.out}{done.err}\n{shown}"
    line = done.err.rstrip("\n")
    assert "\n" not in line and "Traceback" not in line and "internal error" not in line, done.err
    m = re.match(r"nvtui: " + re.escape(str(path)) + r":(\d+): \S", line)
    assert m, f"{case.kind}: no FILE:LINE in {line!r}\n{shown}"
    assert 1 <= int(m[1]) <= case.content.count(b"\n") + 1
    assert recorder.user_commands_since(mark) == [], f"{case.kind}: a step was sent from a broken script"
    assert done.out == ""


def test_valid_base64_and_version_1_still_replay(folder: Path, recorder: Recorder) -> None:
    """The generators' faults are faults: the same script without them replays (exit 0)."""
    doc = {
        "nvtui-script": 1,
        "device": "sim0n1",
        "steps": [
            {"command": "read", "fields": {"slba": 0, "nlb": 1}},
            {"command": "identify", "fields": {"cns": 1}},
        ],
    }
    path = write(folder, yaml.safe_dump(doc).encode())
    mark = recorder.mark()
    done = run_cli(["run", str(path)])
    assert done.code == 0, done.err
    assert [c.opcode for c in recorder.user_commands_since(mark)] == [0x02, 0x06]


# ---- issue 9: numbers too long, YAML tags, YAML 1.1 spellings, split fields, redefined commands ------------


def assert_one_line_at(done: CliRun, path: Path, line: int) -> str:
    """Exit 2 with one printable line `[nvtui: ]FILE:LINE: ...` at `line`, short (never the input itself)."""
    assert done.raised is None, repr(done.raised)
    assert done.code == 2, (done.code, done.err)
    text = done.err.rstrip("\n")
    assert "\n" not in text and text.isprintable() and len(text) < 400, text[:500]
    assert "Traceback" not in text and "internal error" not in text, text
    m = re.match(r"(?:nvtui: )?" + re.escape(str(path)) + r":(\d+): (.*)$", text)
    assert m and int(m[1]) == line, f"expected line {line}: {text}"
    return m[2]


def check_or_run(folder: Path, recorder: Recorder, kind: str, planted: PlantedFile) -> tuple[Path, str]:
    """`catalogue check` the planted catalogue, or `run` the planted script: exit 2 with one line at the
    planted line, nothing sent; the file and what the line says after `FILE:LINE: `."""
    path = write(folder, planted.content)
    mark = recorder.mark()
    done = run_cli(["catalogue", "check", str(path)] if kind == "catalogue" else ["run", str(path)])
    said = assert_one_line_at(done, path, planted.line)
    assert recorder.user_commands_since(mark) == []
    return path, said


@fuzz("huge_numbers")
@given(
    case=st.one_of(
        huge_number_catalogues().map(lambda c: ("catalogue", c)),
        huge_number_scripts().map(lambda c: ("script", c)),
    )
)
def test_a_number_too_long_for_any_field_names_file_line_and_field(
    folder: Path, recorder: Recorder, case: tuple[str, PlantedFile]
) -> None:
    kind, planted = case
    path, said = check_or_run(folder, recorder, kind, planted)
    entry = f"{planted.entry}: " if planted.entry else ""
    assert said.startswith(f"{entry}field {planted.field}: a number of "), said
    assert " digits is longer than any value" in said, said
    if kind == "catalogue":  # the rest of the file still loads
        loaded = {e.id for e in load_catalogue([path], user_dir=False)}
        assert {"fuzz-entry-0", "fuzz-entry-1"} - loaded == {planted.entry}


@fuzz("huge_values_cli")
@given(data=st.data())
def test_a_number_too_long_on_the_command_line_names_the_field(
    recorder: Recorder, data: st.DataObject
) -> None:
    defn = data.draw(st.sampled_from([e for e in SENDABLE if e.fields and not e.raw]), label="entry")
    f = data.draw(st.sampled_from(defn.fields), label="field")
    huge = data.draw(HUGE_NUMBERS, label="value")
    device = "sim0" if defn.admin else "sim0n1"
    mark = recorder.mark()
    done = run_cli(["send", device, defn.id, f"{f.name}={huge}"])
    assert done.raised is None and done.code == 2, done.err[:300]
    line = done.err.rstrip("\n")
    assert "\n" not in line and len(line) < 300 and "internal error" not in line, line[:300]
    said = "" if f.kind == "bytes" else "a number of "  # a key's text is its bytes: too many of them
    assert line.startswith(f"nvtui: field {f.name}: {said}") and f.range_text() in line, line
    assert recorder.since(mark) == []


@fuzz("yaml_tags")
@given(case=tagged_files())
def test_an_explicit_yaml_tag_is_one_line_naming_file_and_line(
    folder: Path, recorder: Recorder, case: tuple[str, PlantedFile]
) -> None:
    kind, planted = case
    _, said = check_or_run(folder, recorder, kind, planted)
    assert said.startswith("explicit YAML tags ") and "are not allowed" in said, said


def read_sent(recorder: Recorder, argv: list[str]) -> tuple[int, tuple[int, int, int] | None, str]:
    """Exit code, the Read's (cdw10, cdw11, cdw12) if one was sent, and stderr."""
    mark = recorder.mark()
    done = run_cli(argv)
    assert done.raised is None, repr(done.raised)
    reads = [c for c in recorder.user_commands_since(mark) if c.opcode == 0x02 and not c.admin]
    assert len(reads) <= 1
    return done.code, (reads[0].cdw10, reads[0].cdw11, reads[0].cdw12) if reads else None, done.err


@fuzz("yaml11_spellings")
@given(spelling=YAML11_SPELLINGS, field=st.sampled_from(["slba", "nlb", "fua"]))
def test_a_script_value_means_what_the_same_text_means_on_the_command_line(
    folder: Path, recorder: Recorder, spelling: str, field: str
) -> None:
    """YAML 1.1 read `slba: 010` as 8, `1:00` as 60, `0b11` as 3, `yes` as 1: a script said one thing and the
    command line another. Now the same text gives the same command, or both refuse it."""
    values = {"slba": "0", "nlb": "1", "fua": "0"}
    values[field] = spelling
    body = "".join(f"      {k}: {v}\n" for k, v in values.items())
    path = write(
        folder, f"nvtui-script: 1\ndevice: sim0n1\nsteps:\n  - command: read\n    fields:\n{body}".encode()
    )
    script = read_sent(recorder, ["run", str(path)])
    cli = read_sent(recorder, ["send", "sim0n1", "read", *(f"{k}={v}" for k, v in values.items())])
    assert script[0] == cli[0], f"{field}: {spelling!r}: script {script}, command line {cli}"
    assert script[1] == cli[1], f"{field}: {spelling!r} sent differently: script {script[1]}, CLI {cli[1]}"
    if script[0] == 2:  # refused: nothing sent, one line naming the script's file and line
        assert script[1] is None, script
        assert_one_line_at(CliRun(2, "", script[2]), path, int(re.findall(r":(\d+): ", script[2])[0]))


@fuzz("self_overlap")
@given(case=self_overlapping_fields())
def test_a_split_fields_own_slices_never_share_a_bit(
    folder: Path, case: tuple[bytes, list[str], bool, int]
) -> None:
    content, _slices, overlap, line = case
    path = write(folder, content)
    errors = check_file(path)
    assert_well_formed(path, content, errors)
    own = [e for e in errors if "of the same field" in e.message]
    if overlap:
        assert own and all(e.field.startswith("fields[0].at") and line <= e.line <= line + 4 for e in own), (
            errors
        )
        assert "fuzz-split" not in {e.id for e in load_catalogue([path], user_dir=False)}
        return
    assert errors == [], [str(e) for e in errors]
    defn = load_catalogue([path], user_dir=False).get("fuzz-split")
    x = defn.field("x")
    for value in (x.max, x.max // 3, 1):  # every bit placed where it is read back: none lost to another slice
        assert defn.decode_fields(defn.encode({"x": value}))["x"] == value


BUILTIN_COMMANDS = [e for e in CATALOGUE if not e.raw]
GUARDS: dict[tuple[str, int], tuple[bool, bool]] = {}  # (queue, opcode) -> (destructive, refused)
for _e in BUILTIN_COMMANDS:
    _was = GUARDS.get((_e.queue, _e.opcode), (False, False))
    GUARDS[(_e.queue, _e.opcode)] = (_was[0] or _e.destructive, _was[1] or bool(_e.refused))


def device_for(queue: str, opcode: int) -> str:
    return "sim0" if queue == "admin" else "sim0n2" if opcode in (0x79, 0x7A, 0x7D) else "sim0n1"


@fuzz("redefining_catalogues")
@given(case=redefining_catalogues(BUILTIN_COMMANDS))
def test_no_user_catalogue_makes_a_builtin_opcode_less_guarded(
    folder: Path, recorder: Recorder, case: RedefiningCatalogue
) -> None:
    path = write(folder, case.content)
    loaded = load_catalogue([path], user_dir=False)
    # Every command and every raw opcode at least as guarded as the built-in catalogue says.
    for e in loaded:
        if not e.raw and (e.queue, e.opcode) in GUARDS:
            destructive, refused = GUARDS[(e.queue, e.opcode)]
            assert e.is_destructive() >= destructive and bool(e.refusal()) >= refused, (e.id, case.entries)
    for (queue, opcode), (destructive, refused) in GUARDS.items():
        raw = loaded.get("admin-passthru" if queue == "admin" else "io-passthru")
        assert raw.is_destructive({"opcode": opcode}) >= destructive, (queue, opcode, case.entries)
        assert bool(raw.refusal({"opcode": opcode})) >= refused, (queue, opcode, case.entries)
    # What tried to lower a guard is reported by `check` (exit 2).
    tried = False
    for entry in case.entries:
        said = entry.get("destructive")
        guard = GUARDS.get((entry["queue"], entry["opcode"]), (False, False))
        tried |= said not in (True, False, None) or (
            said is None and not is_vendor_opcode(entry["queue"], entry["opcode"])
        )
        tried |= (guard[0] and said is not True) or (guard[1] and "refused" not in entry)
    if tried:
        assert run_cli(["catalogue", "check", str(path)]).code == 2
    # And through `send`: every guarded built-in opcode by raw passthrough, and each command of the file that
    # landed on one.
    sends: list[tuple[str, int, list[str], bool]] = []
    guarded = {key: refused for key, (destructive, refused) in GUARDS.items() if destructive or refused}
    for (queue, opcode), refused in guarded.items():
        raw = "admin-passthru" if queue == "admin" else "io-passthru"
        sends.append((queue, opcode, [raw, f"opcode={opcode:#04x}"], refused))
    for entry in case.entries:
        e = loaded.get(entry["id"]) if entry["id"] in loaded else None
        if e is not None and (e.queue, e.opcode) in guarded:
            required = [f"{f.name}={f.min}" for f in e.fields if f.required]  # a built-in entry kept in place
            sends.append((e.queue, e.opcode, [e.id, *required], GUARDS[(e.queue, e.opcode)][1]))
    for queue, opcode, argv, refused in sends:
        mark = recorder.mark()
        done = run_cli(["send", device_for(queue, opcode), *argv, "--catalogue", str(path)])
        assert done.raised is None and done.code == 2, (argv, done.code, done.err, case.entries)
        last = done.err.splitlines()[-1]  # refused (the stronger guard: a user may add it) or destructive
        assert "refused" in last if refused else ("refused" in last or "is destructive" in last), done.err
        assert recorder.user_commands_since(mark) == [], f"{argv} reached the device: {case.entries}"


# --- issue 10's: broken structure layouts ------------------------------------------------------------------


@fuzz("broken_layouts")
@given(case=broken_layouts())
def test_a_broken_structure_gets_one_line_errors_at_its_file_and_line(
    folder: Path, case: BrokenLayout
) -> None:
    """Every broken layout is reported, never a traceback: each error one line starting `FILE:LINE:`, one
    of them at the broken field's line naming its structure; the file's other structures still load."""
    from nvtui import structures

    path = folder / "layouts.yaml"
    path.write_bytes(case.content)
    errors = check_file(path)
    assert errors, f"{case.fault}: no error for\n{case.content.decode()}"
    for err in errors:
        line = str(err)
        assert "\n" not in line and line.startswith(f"{path}:"), line
    hits = [e for e in errors if e.line == case.line and e.entry == case.structure]
    assert hits, (
        f"{case.fault}: nothing at line {case.line}: {[str(e) for e in errors]}\n{case.content.decode()}"
    )
    loaded = structures.load_file(path, section_only=True)
    assert case.structure not in {layout.id for layout in loaded.layouts} or case.fault == "unknown-of"
    assert "fuzz-element" in {layout.id for layout in loaded.layouts}
