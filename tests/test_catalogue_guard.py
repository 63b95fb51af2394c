"""A user catalogue cannot switch the destructive guard off (issue 9).

A user catalogue (`--catalogue FILE`, or silently from `commands.d`) may add and describe commands, but it
may never make a standard opcode less guarded than the built-in catalogue says. Probed on main with 71
attempts, 15 got through, each changing data without `--allow-destructive`; each is here: the entry is
reported (a warning line on load, an error and exit 2 from `nvtui catalogue check`), nothing reaches the
device, and the simulated namespaces are unchanged (their checksum, read past nvtui). Where the device
reports its Commands Supported and Effects log, what it says an opcode changes makes it destructive too.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from fuzz.recording import Recorder, install_recorder, namespace_checksum, run_cli

from nvtui.catalogue import Catalogue, load_catalogue
from nvtui.catalogue.build import Builtins, hold_guard
from nvtui.catalogue.loader import inspect_file
from nvtui.errors import UsageError
from nvtui.session import Session

BUILTIN = load_catalogue(user_dir=False)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with pytest.MonkeyPatch.context() as mp:
        yield install_recorder(mp)


def entry(id: str, opcode: int, queue: str, **extra: Any) -> dict[str, Any]:
    """A user entry; its data direction follows the opcode's bits 1:0 (NVMe Base 2.0, Fig. 28)."""
    direction = ("none", "write", "read", "bidirectional")[opcode & 3]
    doc: dict[str, Any] = {"id": id, "name": id.replace("-", " "), "set": "vendor", "opcode": opcode}
    doc |= {"queue": queue, "help": "a user's entry", "data": {"direction": direction}}
    if direction != "none":
        doc["data"]["length"] = "optional"
    for key, value in extra.items():
        if key == "length":
            doc["data"]["length"] = value
        else:
            doc[key] = value
    return doc


LBA_FIELDS = [{"name": "slba", "at": "cdw10-11"}, {"name": "nlb", "at": "cdw12[15:0]", "zero_based": True}]
BY_LBA = {"field": "nlb", "unit": "lba"}


@dataclass(frozen=True)
class Escape:
    """One way a user catalogue got a destructive command through on main."""

    name: str
    entries: list[dict[str, Any]]
    argv: list[str]  # after `send`; `{data}` is replaced by a file of the right size
    data_bytes: int = 0
    refused: bool = False  # sent with --allow-destructive too: a refused command never goes out


ESCAPES = [
    Escape(
        "format-nvm redefined with destructive: false",
        [entry("format-nvm", 0x80, "admin", set="admin", destructive=False,
               fields=[{"name": "lbaf", "at": "cdw10[3:0]"}])],
        ["sim0", "format-nvm", "nsid=1", "lbaf=1"],
    ),
    Escape(
        "... which made raw admin-passthru opcode=0x80 count as safe",
        [entry("format-nvm", 0x80, "admin", set="admin", destructive=False)],
        ["sim0", "admin-passthru", "opcode=0x80", "nsid=1", "cdw10=1"],
    ),
    Escape(
        "a new id with opcode 0x80 and no destructive: key",
        [entry("quick-format", 0x80, "admin")],
        ["sim0", "quick-format", "nsid=1"],
    ),
    Escape(
        "identify redefined with opcode 0x80",
        [entry("identify", 0x80, "admin", set="admin")],
        ["sim0", "identify", "nsid=1"],
    ),
    Escape(
        "a vendor entry on I/O opcode 01h (Write)",
        [entry("acme-write", 0x01, "io", destructive=False, fields=LBA_FIELDS, length=BY_LBA)],
        ["sim0n1", "acme-write", "slba=0", "nlb=1", "--data-in", "{data}"],
        data_bytes=512,
    ),
    Escape(
        "a vendor entry on I/O opcode 79h (Zone Management Send)",
        [entry("acme-zone-reset", 0x79, "io", destructive=False,
               fields=[{"name": "slba", "at": "cdw10-11"}, {"name": "zsa", "at": "cdw13[7:0]"}])],
        ["sim0n2", "acme-zone-reset", "slba=0", "zsa=4"],
    ),
    Escape(
        "create-io-sq redefined without refused:",
        [entry("create-io-sq", 0x01, "admin", set="admin", destructive=True)],
        ["sim0", "create-io-sq"],
        refused=True,
    ),
    Escape(
        "format-nvm with destructive: no (a YAML 1.1 boolean)",
        [entry("format-nvm", 0x80, "admin", set="admin", destructive="no")],
        ["sim0", "format-nvm", "nsid=1"],
    ),
    Escape(
        "write redefined with destructive: false",
        [entry("write", 0x01, "io", set="nvm", destructive=False, fields=LBA_FIELDS, length=BY_LBA)],
        ["sim0n1", "write", "slba=0", "nlb=1", "--data-in", "{data}"],
        data_bytes=512,
    ),
    Escape(
        "a new id on Sanitize (84h)",
        [entry("erase-everything", 0x84, "admin", destructive=False,
               fields=[{"name": "sanact", "at": "cdw10[2:0]"}])],
        ["sim0", "erase-everything", "sanact=2"],
    ),
    Escape(
        "a vendor entry on Zone Append (7Dh)",
        [entry("acme-append", 0x7D, "io", destructive=False,
               fields=[{"name": "zslba", "at": "cdw10-11"}, LBA_FIELDS[1]], length=BY_LBA)],
        ["sim0n2", "acme-append", "zslba=0", "nlb=1", "--data-in", "{data}"],
        data_bytes=4096,
    ),
    Escape(
        "a new id on Namespace Management (0Dh)",
        [entry("ns-delete", 0x0D, "admin", destructive=False, fields=[{"name": "sel", "at": "cdw10[3:0]"}])],
        ["sim0", "ns-delete", "sel=1", "nsid=1"],
    ),
    Escape(
        "a new id on Delete I/O Submission Queue (00h) without refused:",
        [entry("drop-queue", 0x00, "admin", destructive=False)],
        ["sim0", "drop-queue"],
        refused=True,
    ),
    Escape(
        "write-zeroes redefined without destructive:",
        [entry("write-zeroes", 0x08, "io", set="nvm", fields=LBA_FIELDS)],
        ["sim0n1", "write-zeroes", "slba=0", "nlb=8"],
    ),
    Escape(
        "... and raw io-passthru opcode=0x01 after a vendor write said it was safe",
        [entry("acme-write", 0x01, "io", destructive=False, fields=LBA_FIELDS, length=BY_LBA)],
        ["sim0n1", "io-passthru", "opcode=0x01", "cdw12=0", "--data-len", "512", "--data-in", "{data}"],
        data_bytes=512,
    ),
]  # fmt: skip


def catalogue_file(folder: Path, entries: list[dict[str, Any]], name: str = "user.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump({"version": 1, "commands": entries}, sort_keys=False))
    return path


def seed(tmp_path: Path) -> None:
    """Data worth keeping on both namespaces (random blocks), so a change would show in the checksum."""
    for device, size in (("sim0n1", 512 * 16), ("sim0n2", 4096 * 4)):
        data = tmp_path / f"seed-{device}.bin"
        data.write_bytes(os.urandom(size))
        nlb = size // (512 if device == "sim0n1" else 4096)
        done = run_cli(
            ["send", device, "write", "slba=0", f"nlb={nlb}", "--data-in", str(data), "--allow-destructive"]
        )
        assert done.code == 0, done.err


@pytest.mark.parametrize("escape", ESCAPES, ids=[e.name for e in ESCAPES])
def test_a_user_catalogue_cannot_make_a_standard_opcode_less_guarded(
    escape: Escape, tmp_path: Path, recorder: Recorder
) -> None:
    seed(tmp_path)
    path = catalogue_file(tmp_path, escape.entries)
    data = tmp_path / "data.bin"
    data.write_bytes(b"\xee" * escape.data_bytes)
    argv = [a.replace("{data}", str(data)) for a in escape.argv]

    check = run_cli(["catalogue", "check", str(path)])  # reported by check: exit 2, one line each
    assert check.code == 2 and all(line.endswith("(notice)") for line in check.out.splitlines())
    assert all(re.match(re.escape(str(path)) + r":\d+: [a-z0-9-]+: field (destructive|refused): ", line)
               for line in check.err.splitlines()), check.err  # fmt: skip

    before = namespace_checksum()
    for allow in ([], ["--allow-destructive"]) if escape.refused else ([],):
        mark = recorder.mark()
        done = run_cli(["send", *argv, "--catalogue", str(path), *allow])
        assert done.code == 2, f"{escape.name}: exit {done.code}\n{done.out}{done.err}"
        *said, error = done.err.splitlines()  # what the file tried, a notice if it redefines a command
        assert any(w.startswith(f"nvtui: warning: {path}:") for w in said), done.err
        assert all(w.startswith((f"nvtui: warning: {path}:", f"nvtui: notice: {path}:")) for w in said)
        assert ("refused" if escape.refused else "is destructive") in error, error
        assert recorder.user_commands_since(mark) == [], f"{escape.name}: a command reached the device"
    assert namespace_checksum() == before


def test_with_the_allowance_the_guarded_user_entry_is_sent(tmp_path: Path, recorder: Recorder) -> None:
    """The control: what the guard kept back is a command that really changes the namespace."""
    seed(tmp_path)
    path = catalogue_file(tmp_path, ESCAPES[0].entries)
    before = namespace_checksum()
    done = run_cli(
        ["send", "sim0", "format-nvm", "nsid=1", "lbaf=0", "--catalogue", str(path), "--allow-destructive"]
    )
    assert done.code == 0, done.err
    assert namespace_checksum() != before


def test_a_catalogue_in_commands_d_is_held_to_the_guard_and_said(tmp_path: Path, recorder: Recorder) -> None:
    """A file in commands.d loads on every start, silently on main: now each start says what it tried."""
    directory = Path(os.environ["XDG_CONFIG_HOME"]) / "nvtui" / "commands.d"
    directory.mkdir(parents=True)
    path = catalogue_file(directory, ESCAPES[0].entries, "10-format.yaml")
    mark = recorder.mark()
    done = run_cli(["send", "sim0", "format-nvm", "nsid=1"])
    assert done.code == 2 and recorder.user_commands_since(mark) == []
    warning, notice, error = done.err.splitlines()
    where = re.escape(str(path))
    assert re.match(
        rf"nvtui: warning: {where}:\d+: format-nvm: field destructive: opcode 0x80 on the ", warning
    )
    assert "cannot make it safe (kept destructive)" in warning
    assert notice.startswith(f"nvtui: notice: {path}:3: format-nvm: redefines the built-in command (line ")
    assert error.startswith("nvtui: format-nvm is destructive")


def test_redefining_a_builtin_id_is_a_notice_not_an_error(tmp_path: Path) -> None:
    path = catalogue_file(
        tmp_path, [entry("identify", 0x06, "admin", set="admin", destructive=False, length=4096)]
    )
    done = run_cli(["catalogue", "check", str(path)])
    assert done.code == 0 and done.err == ""
    notice = f"redefines the built-in command (line {BUILTIN.get('identify').line} of the built-in catalogue)"
    assert done.out.splitlines() == [f"{path}:3: identify: {notice} (notice)", f"{path}: ok"]


@pytest.mark.parametrize(
    ("queue", "opcode", "said"),
    [("admin", 0xC5, False), ("admin", 0xFF, False), ("io", 0x80, False), ("io", 0xFE, False),
     ("admin", 0xBF, True), ("admin", 0x30, True), ("io", 0x7F, True), ("io", 0x20, True)],
)  # fmt: skip
def test_outside_the_vendor_opcodes_a_user_entry_must_say_whether_it_destroys(
    tmp_path: Path, queue: str, opcode: int, said: bool
) -> None:
    path = catalogue_file(tmp_path, [entry("acme-thing", opcode, queue)])
    checked = inspect_file(path)
    assert [e.field for e in checked.errors] == (["destructive"] if said else [])
    loaded = load_catalogue([path], user_dir=False)
    assert loaded.get("acme-thing").is_destructive() is said  # unsaid: destructive, never the old false
    if said:
        assert "say destructive: true or false (taken as destructive)" in checked.errors[0].message
        path = catalogue_file(tmp_path, [entry("acme-thing", opcode, queue, destructive=False)])
        assert (
            inspect_file(path).errors == ()
            and not load_catalogue([path], user_dir=False).get("acme-thing").destructive
        )


def test_the_most_guarded_entry_of_an_opcode_wins() -> None:
    """I/O 01h is Write in NVM and Store in KV: where several built-in entries share an opcode on a queue,
    the opcode is destructive if any is and refused if any is."""
    write = BUILTIN.get("write")
    store = replace(write, id="store", set="kv", destructive=False)
    builtins = Builtins.of([store, write, replace(write, id="kv-odd", refused="not for passthrough")])
    guard = builtins.guards[("io", 0x01)]
    assert guard.ids == ("store", "write", "kv-odd") and guard.destructive
    assert guard.refused == "kv-odd: not for passthrough"
    user = replace(store, id="user-store", source=Path("user.yaml"))
    held = hold_guard(user, builtins)
    assert held.is_destructive() and held.refusal() == "kv-odd: not for passthrough"
    assert hold_guard(held, builtins) is held


def test_raw_passthrough_keeps_each_builtin_opcodes_guard_whatever_a_user_file_says(tmp_path: Path) -> None:
    entries = [entry(e.id, e.opcode, e.queue, set=e.set, destructive=False) for e in BUILTIN if not e.raw]
    path = catalogue_file(tmp_path, entries)  # every built-in command redefined as harmless
    loaded = load_catalogue([path], user_dir=False)
    assert len(loaded.errors) >= sum(1 for e in BUILTIN if not e.raw and (e.destructive or e.refused))
    for e in BUILTIN:
        if e.raw:
            continue
        user = loaded.get(e.id)
        assert user.is_destructive() >= e.is_destructive() and bool(user.refusal()) >= bool(e.refusal()), e.id
        raw = loaded.get("admin-passthru" if e.admin else "io-passthru")
        values = {"opcode": e.opcode}
        assert raw.is_destructive(values) >= e.is_destructive() and bool(raw.refusal(values)) >= bool(
            e.refused
        )


# --- the device's word: the Commands Supported and Effects log ----------------------------------------------


def catalogue_saying_safe(*ids: str) -> Catalogue:
    """The built-in catalogue with entries marked non-destructive, as a broken or hostile catalogue might say
    (built past the loader, which would not allow it)."""
    entries = [replace(e, destructive=False) if e.id in ids else e for e in BUILTIN]
    return Catalogue(entries=entries)


@pytest.mark.parametrize(
    ("device", "command", "fields", "changes"),
    [
        ("sim0n1", "write", ["slba=0", "nlb=1"], "logical block content"),
        ("sim0n1", "write-zeroes", ["slba=0", "nlb=8"], "logical block content"),
        ("sim0", "format-nvm", ["nsid=1"], "logical block content and namespace capabilities"),
        # ZNS commands are in the effects log of the zoned command set (CSI 02h): read with the namespace's
        ("sim0n2", "zone-mgmt-send", ["slba=0", "zsa=reset"], "logical block content"),
    ],
)
def test_what_the_effects_log_says_changes_data_is_destructive_whatever_the_catalogue_says(
    device: str, command: str, fields: list[str], changes: str, recorder: Recorder
) -> None:
    async def go() -> None:
        session = Session(catalogue_saying_safe(command))
        data = b"\0" * 512 if command == "write" else None
        try:
            said = f"{command} is destructive: {device}'s Commands Supported and Effects log says"
            with pytest.raises(
                UsageError, match=rf"^{said} it may change {changes}; pass --allow-destructive"
            ):
                await session.prepare(device, command, fields, data=data)
            prepared = await session.prepare(device, command, fields, data=data, allow_destructive=True)
            assert prepared.destructive  # a script's up-front confirmation lists it too
        finally:
            await session.close()

    mark = recorder.mark()
    asyncio.run(go())
    assert recorder.user_commands_since(mark) == []  # only the session's own queries were sent


def test_the_effects_log_is_read_once_per_device_and_harmless_commands_go_out(recorder: Recorder) -> None:
    async def go() -> None:
        session = Session(BUILTIN)
        try:
            for _ in range(3):
                await session.prepare("sim0n2", "read", ["slba=0", "nlb=1"])
                await session.prepare("sim0", "identify", ["cns=1"])
        finally:
            await session.close()

    mark = recorder.mark()
    asyncio.run(go())
    logs = [c for c in recorder.since(mark) if c.opcode == 0x02 and c.cdw10 & 0xFF == 0x05]
    assert [(c.cdw14 >> 24) for c in logs] == [2, 0]  # sim0n2's zoned set, then the controller's


def test_the_builtin_catalogue_checked_by_any_name_is_checked_as_the_builtin_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Named relatively or through a link, commands.yaml is not a user file redefining every command."""
    from nvtui.catalogue import BUILTIN_CATALOGUE

    monkeypatch.chdir(BUILTIN_CATALOGUE.parent.parent)
    link = tmp_path / "link.yaml"
    link.symlink_to(BUILTIN_CATALOGUE)
    for name in ("nvtui/commands.yaml", str(link)):
        done = run_cli(["catalogue", "check", name])
        assert (done.code, done.out, done.err) == (0, f"{name}: ok\n", "")
        assert run_cli(["catalogue", "list", "--catalogue", name]).err == ""
