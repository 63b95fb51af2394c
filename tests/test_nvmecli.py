"""nvme-cli lines in and out: a line becomes the nvtui command it means, and the command nvtui sends goes
back out as nvme-cli's own verb and as passthrough, both packing to the same submission entry."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from nvtui.catalogue import Catalogue, load_catalogue
from nvtui.errors import UsageError
from nvtui.nvme.command import Command
from nvtui.nvmecli import parse_nvme_cli
from nvtui.nvmecli.export import nvme_cli_lines
from nvtui.nvmecli.session import prepare_imported
from nvtui.nvmecli.table import VERBS, verb_index
from nvtui.session import Prepared, Session

# One line per verb the issue lists (and every verb in the table), with the options people give.
LINES: dict[str, str] = {
    "id-ctrl": "nvme id-ctrl /dev/nvme0 -H",
    "id-ns": "nvme id-ns /dev/nvme0n1 --namespace-id=1",
    "list-ns": "nvme list-ns /dev/nvme0 -n 2",
    "ns-descs": "nvme ns-descs /dev/ng0n1 -n 1",
    "id-iocs": "nvme id-iocs /dev/nvme0",
    "smart-log": "nvme smart-log /dev/nvme0 -o json",
    "error-log": "nvme error-log /dev/nvme0 -e 16",
    "fw-log": "nvme fw-log /dev/nvme0",
    "effects-log": "nvme effects-log /dev/nvme0 --csi=0",
    "endurance-log": "nvme endurance-log /dev/nvme0 -g 1",
    "sanitize-log": "nvme sanitize-log /dev/nvme0 -r",
    "self-test-log": "nvme self-test-log /dev/nvme0",
    "telemetry-log": "nvme telemetry-log /dev/nvme0 --output-file=telemetry.bin",
    "supported-log-pages": "nvme supported-log-pages /dev/nvme0",
    "changed-ns-list-log": "nvme changed-ns-list-log /dev/nvme0",
    "get-log": "nvme get-log /dev/nvme0 --log-id=2 --log-len=512",
    "get-feature": "nvme get-feature /dev/nvme0 -f 7 -s 0",
    "set-feature": "nvme set-feature /dev/nvme0 -f 6 -v 1",
    "format": "nvme format /dev/nvme0n1 --lbaf=0 --ses=1 --force",
    "sanitize": "nvme sanitize /dev/nvme0 --sanact=start-block-erase -u",
    "device-self-test": "nvme device-self-test /dev/nvme0 -s 1",
    "fw-download": "nvme fw-download /dev/nvme0 --fw={fw}",
    "fw-commit": "nvme fw-commit /dev/nvme0 --slot=1 --action=1",
    "create-ns": "nvme create-ns /dev/nvme0 --nsze=1024 --ncap=1024 --flbas=0",
    "delete-ns": "nvme delete-ns /dev/nvme0 -n 3",
    "attach-ns": "nvme attach-ns /dev/nvme0 -n 3 -c 0,1",
    "detach-ns": "nvme detach-ns /dev/nvme0 --namespace-id=3 --controllers=0",
    "admin-passthru": "nvme admin-passthru /dev/nvme0 --opcode=0x06 --cdw10=1 --data-len=4096 -r",
    "io-passthru": "nvme io-passthru /dev/ng0n1 -o 2 -n 1 --cdw10=8 --cdw12=7 -l 4096 --read",
    "read": "nvme read /dev/nvme0n1 -s 8 -c 7 -z 4096 -d out.bin",
    "write": "nvme write /dev/nvme0n1 --start-block=16 --block-count=1 --data-size=1024 --data={data}",
    "compare": "nvme compare /dev/nvme0n1 -s 16 -c 1 -z 1024 -d {data}",
    "write-zeroes": "nvme write-zeroes /dev/nvme0n1 -s 32 -c 15 --deac",
    "write-uncor": "nvme write-uncor /dev/nvme0n1 -s 64 -c 0",
    "verify": "nvme verify /dev/nvme0n1 -s 0 -c 31 -l",
    "flush": "nvme flush /dev/nvme0n1",
    "dsm": "nvme dsm /dev/nvme0n1 --slbs=0,100 --blocks=8,16 --ad",
    "copy": "nvme copy /dev/nvme0n1 --sdlba=256 --slbs=0,8 --blocks=7,7",
    "resv-register": "nvme resv-register /dev/nvme0n1 --nrkey=0x1234 --rrega=0 --cptpl=3",
    "resv-acquire": "nvme resv-acquire /dev/nvme0n1 --crkey=0x1234 --rtype=1 --racqa=0",
    "resv-release": "nvme resv-release /dev/nvme0n1 --crkey=0x1234 --rtype=1",
    "resv-report": "nvme resv-report /dev/nvme0n1 --numd=127 --eds",
    "zns id-ctrl": "nvme zns id-ctrl /dev/nvme0",
    "zns id-ns": "nvme zns id-ns /dev/nvme0n2 -n 2",
    "zns report-zones": "nvme zns report-zones /dev/nvme0n2 -d 4 --state=1",
    "zns zone-mgmt-recv": "nvme zns zone-mgmt-recv /dev/nvme0n2 -s 0 -z 0 --data-len=4096",
    "zns zone-mgmt-send": "nvme zns zone-mgmt-send /dev/nvme0n2 -s 0x4000 --zsa=4",
    "zns open-zone": "nvme zns open-zone /dev/nvme0n2 -s 0",
    "zns close-zone": "nvme zns close-zone /dev/nvme0n2 --start-lba=0",
    "zns finish-zone": "nvme zns finish-zone /dev/nvme0n2 -s 0x4000",
    "zns reset-zone": "nvme zns reset-zone /dev/nvme0n2 -a",
    "zns offline-zone": "nvme zns offline-zone /dev/nvme0n2 -s 0x8000",
    "zns zone-append": "nvme zns zone-append /dev/nvme0n2 -s 0x4000 -z 4096 -d {data4k}",
    "fdp configs": "nvme fdp configs /dev/nvme0 --endgrp-id=1",
    "fdp usage": "nvme fdp usage /dev/nvme0 -e 1",
    "fdp stats": "nvme fdp stats /dev/nvme0 -e 1",
    "fdp events": "nvme fdp events /dev/nvme0 -e 1 --host-events",
    "fdp status": "nvme fdp status /dev/nvme0n1 -n 1",
    "fdp update": "nvme fdp update /dev/nvme0n1 --pids=1,2",
}

# The simulated device each line runs on: the controller for admin commands, namespace 1 or the zoned one.
ZONED = {
    "zns id-ns",
    "zns report-zones",
    "zns zone-mgmt-recv",
    "zns zone-mgmt-send",
    "zns open-zone",
    "zns close-zone",
    "zns finish-zone",
    "zns reset-zone",
    "zns offline-zone",
    "zns zone-append",
}


@pytest.fixture(scope="module")
def cat() -> Catalogue:
    return load_catalogue(user_dir=False)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "fw.bin").write_bytes(bytes(range(256)) * 8)
    (tmp_path / "data.bin").write_bytes(b"\xa5" * 1024)
    (tmp_path / "data4k.bin").write_bytes(b"\x5a" * 4096)
    (tmp_path / "data8k.bin").write_bytes(b"\x3c" * 8192)
    return {
        "fw": str(tmp_path / "fw.bin"),
        "data": str(tmp_path / "data.bin"),
        "data4k": str(tmp_path / "data4k.bin"),
        "data8k": str(tmp_path / "data8k.bin"),
    }


def sim_device(verb: str, cat: Catalogue, command: str) -> str:
    if verb in ZONED:
        return "sim0n2"
    return "sim0n1" if cat.get(command).queue == "io" or verb in ("id-ns", "ns-descs") else "sim0"


async def prepare(session: Session, cat: Catalogue, line: str, device: str) -> Prepared:
    return await prepare_imported(session, parse_nvme_cli(line, cat), allow_destructive=True, device=device)


# The verbs issue 14 asks for, as nvme-cli names them ("resv-*": its four reservation verbs).
ISSUE_VERBS = (
    "id-ctrl", "id-ns", "list-ns", "ns-descs", "id-iocs", "smart-log", "error-log", "fw-log",
    "effects-log", "endurance-log", "sanitize-log", "self-test-log", "telemetry-log", "get-log",
    "get-feature", "set-feature", "admin-passthru", "io-passthru", "read", "write", "compare",
    "write-zeroes", "write-uncor", "dsm", "copy", "flush", "verify", "format", "sanitize",
    "device-self-test", "fw-download", "fw-commit", "create-ns", "delete-ns", "attach-ns", "detach-ns",
    "resv-register", "resv-acquire", "resv-release", "resv-report", "zns report-zones", "zns open-zone",
    "zns close-zone", "zns finish-zone", "zns reset-zone", "zns zone-append", "zns id-ctrl", "zns id-ns",
    "fdp configs", "fdp usage", "fdp stats", "fdp events", "fdp status", "fdp update",
)  # fmt: skip


def test_every_verb_of_the_table_has_a_line_here() -> None:
    assert {v.name for v in VERBS} == set(LINES)
    assert set(ISSUE_VERBS) <= set(LINES)


@pytest.mark.parametrize("verb", sorted(LINES))
def test_nvme_cli_line_round_trips_through_nvtui_to_the_same_submission_entry(
    verb: str, cat: Catalogue, files: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """nvme-cli line -> nvtui command -> exported lines (nvme-cli's own verb and passthrough) -> the same
    packed submission entry, on the simulator (nothing is sent)."""
    monkeypatch.setenv("NVTUI_SIM_DIR", str(tmp_path / "sim"))
    line = LINES[verb].format(**files)

    async def go() -> None:
        session = Session(cat)
        try:
            imported = parse_nvme_cli(line, cat)
            assert imported.verb == verb
            device = sim_device(verb, cat, imported.command)
            first = await prepare(session, cat, line, device)
            idiomatic, passthru = nvme_cli_lines(
                cat,
                first.defn,
                first.values,
                first.command,
                device,
                input_file={"zns zone-append": files["data4k"], "fw-download": files["fw"]}.get(verb),
            )
            assert idiomatic is not None, f"no nvme-cli verb exported for {line}"
            assert idiomatic.startswith("nvme ")
            sent = tmp_path / "sent.bin"  # the data the command carried, where the lines say data.bin
            sent.write_bytes(first.command.data or b"")
            for again in (idiomatic, passthru):
                placeholder = "/dev/nvmeXnY" if device != "sim0" else "/dev/nvmeX"
                assert placeholder in again  # a simulated device is a placeholder nvme-cli users replace
                second = await prepare(session, cat, again.replace("data.bin", str(sent)), device)
                assert second.command.admin == first.command.admin
                assert second.command.submission_entry() == first.command.submission_entry(), again
        finally:
            await session.close()

    asyncio.run(go())


def test_preset_names_are_nvme_clis_verbs_and_list_in_the_catalogue(cat: Catalogue) -> None:
    smart = cat.get("smart-log")
    assert smart.preset_of == "get-log-page" and smart.set == "preset"
    cmd = smart.encode({})
    assert (cmd.opcode, cmd.nsid, cmd.cdw10 & 0xFF, cmd.data_len) == (0x02, 0xFFFFFFFF, 0x02, 512)
    ctrl = cat.get("id-ctrl").encode({}, device_nsid=1)
    assert (ctrl.opcode, ctrl.nsid, ctrl.cdw10) == (0x06, 0, 1)
    with pytest.raises(UsageError, match="smart-log fixes it to smart"):
        smart.parse_values(["lid=error"])


def test_a_preset_is_exactly_as_destructive_as_its_entry(tmp_path: Path) -> None:
    user = tmp_path / "presets.yaml"
    user.write_text(
        "version: 1\ncommands:\n"
        "  - {id: zap, preset: write-zeroes, name: Zap, help: zeroes, fields: {nlb: 8}}\n"
        "  - {id: raw-read, preset: admin-passthru, name: Raw, help: raw, fields: {opcode: 6}}\n"
    )
    cat = load_catalogue([user], user_dir=False)
    assert cat.get("zap").is_destructive()
    assert "raw-read" not in cat
    assert any("raw passthrough" in str(e) for e in cat.errors)


def test_an_option_nvtui_cannot_map_is_named_never_dropped(cat: Catalogue) -> None:
    for line, named in [
        ("nvme id-ctrl /dev/nvme0 --vendor-specific --bogus", "--bogus"),
        ("nvme format /dev/nvme0n1 --lbaf=0 --reset", "--reset"),
        ("nvme read /dev/ng0n1 -z 512 --storage-tag=5", "--storage-tag=5"),
        ("nvme admin-passthru /dev/nvme0 -o 6 --flags=1", "--flags=1"),
        ("nvme device-self-test /dev/nvme0 -s 1 --wait", "--wait"),
        ("nvme get-log /dev/nvme0 -i 2 -l 514", "--log-len 514"),
        ("nvme list-subsys", "list-subsys"),
        # nvme-cli refuses these before sending anything (found by the VM comparison): so does nvtui
        ("nvme sanitize /dev/nvme0 --sanact=exit-failure --no-dealloc", "--no-dealloc"),
        ("nvme sanitize /dev/nvme0 --sanact=1 -u", "--ause"),
        ("nvme sanitize /dev/nvme0 --sanact=start-block-erase --ovrpat=5", "--ovrpat"),
        ("nvme sanitize /dev/nvme0 --sanact=start-overwrite --owpass=17", "--owpass 17"),
    ]:
        with pytest.raises(UsageError, match=named.replace("-", r"\-")):
            parse_nvme_cli(line, cat)


def test_option_spellings_as_nvme_cli_parses_them(cat: Catalogue) -> None:
    spellings = [
        "nvme get-log /dev/nvme0 --log-id=2 --log-len=512",
        "nvme get-log /dev/nvme0 --log-id 2 --log-len 512",
        "nvme get-log -i 2 -l 512 /dev/nvme0",
        "nvme get-log /dev/nvme0 -i2 -l0x200",
        "sudo nvme get-log /dev/nvme0 -i 02 -l 01000",  # strtoul base 0: 01000 is octal 512
        "nvme log get /dev/nvme0 -i 2 -l 512",
    ]
    results = {
        (i.command, tuple(sorted(i.values.items()))) for i in (parse_nvme_cli(s, cat) for s in spellings)
    }
    assert results == {("get-log-page", (("lid", 2), ("numd", 128)))}
    bundled = parse_nvme_cli("nvme sanitize-log /dev/nvme0 -rb", cat)
    assert bundled.values == {"rae": 1} and bundled.display.binary
    assert parse_nvme_cli("nvme log smart /dev/nvme0", cat).command == "smart-log"


def test_every_spelling_is_unique_and_every_command_exists(cat: Catalogue) -> None:
    assert len(verb_index()) == sum(1 + len(v.spellings) for v in VERBS)
    for verb in VERBS:
        assert verb.command in cat, verb.name
        longs = [o.long for o in verb.options]
        shorts = [o.short for o in verb.options if o.short]
        assert len(longs) == len(set(longs)) and len(shorts) == len(set(shorts)), verb.name


def test_send_nvme_cli_on_the_simulator_prints_both_lines(tmp_path: Path) -> None:
    env = {"NVTUI_SIM_DIR": str(tmp_path / "sim"), "NVTUI_CACHE_DIR": "off", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "nvtui.cli",
            "send",
            "--nvme-cli",
            "nvme get-log sim0 --log-id=2 --log-len=512",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["command"] == "get-log-page" and result["decoded"] is not None
    assert result["nvme_cli"] == "nvme smart-log /dev/nvmeX"
    assert result["nvme_cli_passthru"].startswith("nvme admin-passthru /dev/nvmeX --opcode=0x02")
    bad = subprocess.run(
        [sys.executable, "-m", "nvtui.cli", "send", "--nvme-cli", "nvme get-log sim0 --log-id=2 --xyz"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--xyz" in bad.stderr


def test_imported_lines_send_what_nvme_cli_sends_where_it_reads_the_device_first(
    cat: Catalogue, files: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the VM comparison with nvme-cli's own runs (tests/vm/test_nvmecli_roundtrip.py): zone-append
    sends as many blocks as --data-size holds (nvme-cli: data size / LBA size - 1, 0-based), and error-log
    reads at most the entries the controller keeps (nvme-cli asks Identify Controller for ELPE first)."""
    monkeypatch.setenv("NVTUI_SIM_DIR", str(tmp_path / "sim"))

    async def go() -> tuple[Prepared, Prepared, int, int]:
        session = Session(cat)
        try:
            fmt = await session.lba_format("sim0n2")
            assert fmt is not None
            append = await prepare(
                session, cat, f"nvme zns zone-append /dev/nvme0n2 -s 0 -z 8192 -d {files['data8k']}", "sim0n2"
            )
            errors = await prepare(session, cat, "nvme error-log /dev/nvme0 -e 100", "sim0")
            ident = await session.backend("sim0")
            done = await ident.submit(Command(opcode=0x06, admin=True, nsid=0, cdw10=1, data_len=4096))
            assert done.data is not None
            return append, errors, fmt.lba_size, done.data[262] + 1
        finally:
            await session.close()

    append, errors, lba_size, entries = asyncio.run(go())
    assert append.values["nlb"] == 8192 // lba_size and append.command.data_len == 8192
    assert append.command.data == b"\x3c" * 8192
    idiomatic, _ = nvme_cli_lines(cat, append.defn, append.values, append.command, "sim0n2")
    assert idiomatic is not None and "--data-size=8192" in idiomatic
    assert entries < 100 and errors.command.data_len == entries * 64


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("nvme get-log /dev/nvme0 -i 2 -l 512 --rae", "--log-id=2"),  # nvme-cli's default log is 0xff
        ("nvme get-log /dev/nvme0 --log-id=5 --log-len=4096 --csi=2 --ot", "--log-len=4096"),  # else refused
        ("nvme effects-log /dev/nvme0 --csi=0", "--csi=0"),  # else every command set's log
        ("nvme zns zone-mgmt-recv /dev/nvme0n2 -s 0 -z 0 --data-len=4096", "--descs=63"),  # else every zone
        ("nvme resv-acquire /dev/nvme0n1 --crkey=0x1234 --rtype=1", "--rtype=1"),  # nvme-cli's rtype is 0
        ("nvme fw-commit /dev/nvme0 --slot=2", "--slot=2"),  # nvme-cli's action is 0 (replace)
    ],
)
def test_an_exported_line_says_each_value_nvme_cli_defaults_differently(
    line: str, said: str, cat: Catalogue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by running nvtui's exported lines with nvme-cli itself in the VM: an option left out because
    its value is the catalogue's default is not nvme-cli's default, and nvme-cli sent another command."""
    monkeypatch.setenv("NVTUI_SIM_DIR", str(tmp_path / "sim"))
    device = {"/dev/nvme0": "sim0", "/dev/nvme0n1": "sim0n1", "/dev/nvme0n2": "sim0n2"}[
        next(w for w in line.split() if w.startswith("/dev/"))
    ]

    async def go() -> str | None:
        session = Session(cat)
        try:
            first = await prepare(session, cat, line, device)
            return nvme_cli_lines(cat, first.defn, first.values, first.command, device)[0]
        finally:
            await session.close()

    idiomatic = asyncio.run(go())
    assert idiomatic is not None and said in idiomatic.split(), idiomatic


def test_an_exported_timeout_is_milliseconds_in_decimal_as_nvme_cli_documents_it(cat: Catalogue) -> None:
    """format-nvm carries its own 600 s timeout: both exported lines say --timeout=600000, never 0x927c0."""
    from nvtui.nvme.command import Command

    defn = cat.get("format-nvm")
    cmd = Command(opcode=0x80, admin=True, nsid=1, timeout_ms=600_000)
    idiomatic, passthru = nvme_cli_lines(cat, defn, {"nsid": 1, "lbaf": 0}, cmd, "/dev/nvme0n1")
    assert idiomatic is not None and "--timeout=600000" in idiomatic
    assert "--timeout=600000" in passthru
