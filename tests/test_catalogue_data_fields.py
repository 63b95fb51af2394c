"""A write's data buffer built from named fields (`data.build` in a catalogue entry): Namespace Management's
create takes its Identify Namespace fields (`nsze=2048 ncap=2048 flbas=0`) and Namespace Attachment its
Controller List (`ctrlids=1`) on the command line, in a script and in Compose, as well as from a file. The
bytes are what the structure's layout encodes; a field's range is its layout field's bits; a bad value,
an unknown field, or fields and --data-in together are one line each, and nothing is sent; a user
catalogue's mistake in `data.build` names its file and line."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from fuzz.recording import run_cli

from nvtui import structures
from nvtui.backend.sim import identity
from nvtui.catalogue import Catalogue, check_file, load_catalogue
from nvtui.errors import UsageError
from nvtui.present import key_fields
from nvtui.scripts import CommandScript, StepOutcome, replay, script_from_history
from nvtui.session import SendResult, Session, send_once

U64 = (1 << 64) - 1


@pytest.fixture(scope="module")
def cat() -> Catalogue:
    loaded = load_catalogue(user_dir=False)
    assert loaded.errors == []
    return loaded


# --- encoding -------------------------------------------------------------------------------------------


def test_a_create_buffer_is_what_the_identify_namespace_layout_encodes(cat: Catalogue) -> None:
    mgmt = cat.get("namespace-management")
    given = ["sel=create", "nsze=2048", "ncap=0x800", "flbas=1", "nmic=1", "anagrpid=7", "endgid=2"]
    cmd = mgmt.encode(mgmt.parse_values(given))
    image = {"nsze": 2048, "ncap": 2048, "flbas": 1, "nmic": 1, "anagrpid": 7, "endgid": 2}
    assert cmd.data == structures.encode("identify-namespace", image)
    assert cmd.data_len == len(cmd.data) == 4096
    # and where the spec puts them (Identify Namespace: NSZE bytes 7:0, NCAP 15:8, FLBAS 26, NMIC 30)
    assert cmd.data[0:8] == (2048).to_bytes(8, "little") and cmd.data[8:16] == (2048).to_bytes(8, "little")
    assert (cmd.data[26], cmd.data[29], cmd.data[30]) == (1, 0, 1)
    assert cmd.data[92:96] == (7).to_bytes(4, "little") and cmd.data[102:104] == b"\2\0"
    assert cmd.cdw10 == 0 and cmd.cdw11 == 0  # sel=create, csi=nvm: the CSI stays a command field
    zoned = mgmt.encode(mgmt.parse_values(["sel=create", "csi=zns", "nsze=1"]))
    assert zoned.cdw11 == 2 << 24 and zoned.data == structures.encode("identify-namespace", {"nsze": 1})


def test_a_key_value_create_builds_the_kv_identify_namespace_structure(cat: Catalogue) -> None:
    mgmt = cat.get("namespace-management")
    given = ["sel=create", "csi=key-value", "nsze=0x100000", "anagrpid=0", "endgid=1"]
    cmd = mgmt.encode(mgmt.parse_values(given))
    assert cmd.cdw11 == 1 << 24
    assert cmd.data == structures.encode("identify-ns-kv", {"nsze": 1 << 20, "anagrpid": 0, "endgid": 1})
    assert cmd.data[46:48] == b"\1\0"  # ENDGID at bytes 47:46 there (103:102 in the NVM structure)
    with pytest.raises(UsageError) as caught:
        mgmt.encode(mgmt.parse_values(["sel=create", "csi=key-value", "nsze=4096", "flbas=0"]))
    assert str(caught.value) == (
        "field flbas: not in the identify-ns-kv buffer csi=key-value sends (its fields: nsze, nmic, "
        "anagrpid, nvmsetid, endgid)"
    )


def test_a_controller_list_is_its_count_then_the_ids(cat: Catalogue) -> None:
    attach = cat.get("namespace-attachment")
    values = attach.parse_values(["nsid=3", "sel=attach", "ctrlids=1,0x41,0"])
    cmd = attach.encode(values)
    layout = {"num": 3, "ids": [{"id": 1}, {"id": 0x41}, {"id": 0}]}
    assert cmd.data == structures.encode("controller-list", layout)
    assert cmd.data[:8] == bytes([3, 0, 1, 0, 0x41, 0, 0, 0]) and len(cmd.data) == 4096
    assert attach.text_of("ctrlids", values) == "1,65,0"  # a list that ends in a zero keeps it
    assert attach.shown_values(values)["ctrlids"] == "1,65,0"
    one = attach.encode(attach.parse_values(["sel=attach", "ctrlids=1"]), device_nsid=3)
    assert one.nsid == 3 and one.data is not None and one.data[:4] == b"\1\0\1\0"


def test_the_ranges_are_the_layout_fields_bits(cat: Catalogue) -> None:
    mgmt = cat.get("namespace-management")
    ranges = {f.name: (f.min, f.max) for f in mgmt.buffer_fields()}
    assert ranges == {
        "nsze": (0, U64), "ncap": (0, U64), "flbas": (0, 255), "dps": (0, 255), "nmic": (0, 255),
        "anagrpid": (0, (1 << 32) - 1), "nvmsetid": (0, 0xFFFF), "endgid": (0, 0xFFFF),
    }  # fmt: skip
    assert [f.location for f in mgmt.buffer_fields()][:2] == ["data nsze", "data ncap"]
    ctrlids = cat.get("namespace-attachment").field("ctrlids")
    assert (ctrlids.kind, ctrlids.item_bits, ctrlids.max_items) == ("list", 16, 2047)
    assert ctrlids.range_text() == "1-2047 numbers 0-65535, comma-separated"


def test_a_sending_is_told_by_its_buffer_fields_too(cat: Catalogue) -> None:
    attach = cat.get("namespace-attachment")
    values = attach.parse_values(["nsid=3", "sel=detach", "ctrlids=1,2"])
    assert key_fields(attach, values) == ["sel=detach", "ctrlids=1,2"]
    mgmt = cat.get("namespace-management")
    assert key_fields(mgmt, mgmt.parse_values(["sel=create", "nsze=8", "flbas=0"])) == [
        "sel=create",
        "nsze=8",
        "flbas=0",
    ]


def test_fields_not_given_are_no_values_and_build_no_buffer(cat: Catalogue) -> None:
    mgmt = cat.get("namespace-management")
    values = mgmt.parse_values(["sel=delete", "nsid=3"])
    assert values == {"nsid": 3, "sel": 1, "csi": 0}
    assert mgmt.encode(values).data is None
    assert mgmt.decode_fields(mgmt.encode(values)) == values  # the dwords alone: buffer fields are none


# --- errors: one line each, nothing sent ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("words", "error"),
    [
        (["dps=256"], "field dps: 256 out of range 0-255"),
        (["ncap=0x10000000000000000"], "field ncap: 0x10000000000000000 out of range 0x0-0xffffffffffffffff"),
        (["endgid=-1"], "field endgid: -1 is negative (range 0-65535)"),
        (["nsz=8"], "namespace-management: unknown field 'nsz' (fields: nsid, sel, csi, nsze, ncap, flbas, "
                    "dps, nmic, anagrpid, nvmsetid, endgid); did you mean nsze?"),
    ],
)  # fmt: skip
def test_a_bad_buffer_field_is_one_line_naming_it_and_its_range(
    cat: Catalogue, words: list[str], error: str
) -> None:
    mgmt = cat.get("namespace-management")
    with pytest.raises(UsageError) as caught:
        mgmt.parse_values(["sel=create", "nsze=8", *words])
    assert str(caught.value) == error


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "field ctrlids: '' is no list (1-2047 numbers 0-65535, comma-separated)"),
        ("1,,2", "field ctrlids: '1,,2' is no list (1-2047 numbers 0-65535, comma-separated)"),
        ("1,65536", "field ctrlids: 65536 is not a number 0-65535 (1-2047 numbers 0-65535, comma-separated)"),
        ("one", "field ctrlids: one is not a number 0-65535 (1-2047 numbers 0-65535, comma-separated)"),
        (",".join(["1"] * 2048), "field ctrlids: 2048 numbers, more than 2047 (1-2047 numbers 0-65535, "
                                 "comma-separated)"),
    ],
)  # fmt: skip
def test_a_bad_controller_list_is_one_line(cat: Catalogue, text: str, error: str) -> None:
    attach = cat.get("namespace-attachment")
    with pytest.raises(UsageError) as caught:
        attach.parse_values(["sel=attach", f"ctrlids={text}"])
    assert str(caught.value) == error


def test_data_and_buffer_fields_together_are_refused(cat: Catalogue) -> None:
    mgmt = cat.get("namespace-management")
    values = mgmt.parse_values(["sel=create", "nsze=8", "ncap=8"])
    with pytest.raises(UsageError) as caught:
        mgmt.encode(values, data=bytes(4096))
    assert str(caught.value) == (
        "namespace-management: the data buffer is given twice, as data (4096 bytes: --data-in or a script's "
        "data) and as fields nsze, ncap: give one"
    )
    with pytest.raises(UsageError) as caught:
        mgmt.encode(mgmt.parse_values(["sel=delete", "nsid=3", "nsze=8"]))
    assert str(caught.value) == (
        "namespace-management: sel=delete moves 0 bytes: field nsze would go in a data buffer it does not "
        "send"
    )


# A new simulated drive has sim0n1 (NVM), sim0n2 (zoned) and sim0n3 (key value): a create takes NSID 4.


def send(*args: str) -> list[str]:
    return ["send", "sim0", *args, "--allow-destructive"]


def namespaces() -> str:
    """The namespaces `nvtui list` shows."""
    listed = run_cli(["list"])
    assert listed.code == 0, listed.err
    return "\n".join(line for line in listed.out.splitlines() if " nsid " in line)


def test_the_cli_refuses_a_bad_field_and_a_file_with_fields_before_sending(tmp_path: Path) -> None:
    before = namespaces()
    bad = run_cli(send("namespace-management", "sel=create", "nsze=2048", "flbas=256"))
    assert (bad.code, bad.out, bad.err) == (2, "", "nvtui: field flbas: 256 out of range 0-255\n")
    missing = tmp_path / "not-there.bin"  # refused before the file is read
    both = run_cli(send("namespace-management", "sel=create", "nsze=2048", "--data-in", str(missing)))
    assert both.code == 2 and both.err == (
        f"nvtui: namespace-management: --data-in {missing} and the buffer fields nsze both say what the data "
        "buffer holds: give one\n"
    )
    neither = run_cli(send("namespace-management", "sel=create"))
    assert neither.code == 2 and "or its buffer's fields (nsze, ncap, flbas, dps, nmic," in neither.err
    assert namespaces() == before  # nothing was created


# --- end to end on the simulator -------------------------------------------------------------------------


def test_the_cli_creates_and_attaches_a_namespace_from_fields(sim_dir: Path) -> None:
    run = run_cli(send("namespace-management", "sel=create", "csi=nvm", "nsze=2048", "ncap=2048", "flbas=0"))
    assert run.code == 0 and "result  0x4" in run.out, run.err
    assert "sim0n4" not in namespaces()  # created, not attached
    run = run_cli(send("namespace-attachment", "nsid=4", "sel=attach", f"ctrlids={identity.CNTLID}"))
    assert run.code == 0, run.err
    listed = namespaces()
    assert "sim0n4  nsid 4" in listed and "lba 512" in listed, listed
    again = run_cli(send("namespace-attachment", "nsid=4", "sel=attach", "ctrlids=1"))
    assert again.code == 1 and "Namespace Already Attached" in again.out
    # the simulator answers a list of another controller as the spec says
    other = run_cli(send("namespace-attachment", "nsid=4", "sel=detach", "ctrlids=1,2"))
    assert other.code == 1 and "Controller List Invalid" in other.out
    run = run_cli(send("namespace-attachment", "nsid=4", "sel=detach", "ctrlids=1"))
    assert run.code == 0, run.err
    assert "sim0n4" not in namespaces()


def test_the_cli_creates_a_key_value_namespace_from_fields(sim_dir: Path) -> None:
    run = run_cli(send("namespace-management", "sel=create", "csi=key-value", "nsze=0x100000"))
    assert run.code == 0 and "result  0x4" in run.out, run.err
    run = run_cli(send("namespace-attachment", "nsid=4", "sel=attach", "ctrlids=1"))
    assert run.code == 0, run.err
    assert "sim0n4  nsid 4" in namespaces()
    bad = run_cli(send("namespace-management", "sel=create", "csi=key-value", "nsze=4096", "ncap=1"))
    assert bad.code == 2 and bad.err.startswith("nvtui: field ncap: not in the identify-ns-kv buffer")


def test_the_json_output_shows_the_buffer_fields(sim_dir: Path) -> None:
    run = run_cli([*send("namespace-management", "sel=create", "nsze=4096", "ncap=4096"), "--json"])
    assert run.code == 0, run.err
    out = json.loads(run.out)
    assert out["fields"] == {"nsid": 0, "sel": 0, "csi": 0, "nsze": 4096, "ncap": 4096}
    assert out["data_len"] == 4096 and out["result"] == 4


async def create_and_attach() -> tuple[SendResult, SendResult, CommandScript]:
    session = Session(load_catalogue(user_dir=False))
    try:
        create = ["sel=create", "nsze=2048", "ncap=2048"]
        created = await send_once(session, "sim0", "namespace-management", create, allow_destructive=True)
        attach = ["nsid=4", "sel=attach", "ctrlids=1"]
        attached = await send_once(session, "sim0", "namespace-attachment", attach, allow_destructive=True)
        return created, attached, script_from_history(session.history)
    finally:
        await session.close()


async def replayed(path: Path) -> list[StepOutcome]:
    session = Session(load_catalogue(user_dir=False))
    try:
        return await replay(session, CommandScript.load(path), allow_destructive=True)
    finally:
        await session.close()


def test_a_saved_script_records_the_fields_and_replays_the_same_bytes(sim_dir: Path, tmp_path: Path) -> None:
    created, attached, script = asyncio.run(create_and_attach())
    assert created.ok and attached.ok
    path = tmp_path / "ns.yaml"
    script.save(path)
    steps = CommandScript.load(path).steps
    assert [(s.command, s.fields, s.data) for s in steps] == [
        ("namespace-management", {"nsid": 0, "sel": 0, "csi": 0, "nsze": 2048, "ncap": 2048}, None),
        ("namespace-attachment", {"nsid": 4, "sel": 0, "ctrlids": "1"}, None),
    ]  # the fields, not 8 KiB of base64: the replay builds the same buffers from them
    assert run_cli(send("namespace-attachment", "nsid=4", "sel=detach", "ctrlids=1")).code == 0
    assert run_cli(send("namespace-management", "nsid=4", "sel=delete")).code == 0
    outcomes = asyncio.run(replayed(path))
    sent = [o.result.prepared.command.data for o in outcomes if o.result is not None]
    assert all(o.matches for o in outcomes), [o.to_json() for o in outcomes]
    assert sent == [created.prepared.command.data, attached.prepared.command.data]
    assert "sim0n4  nsid 4" in namespaces()


# --- a user catalogue --------------------------------------------------------------------------------------

VENDOR = """\
version: 1
commands:
  - id: vendor-ctrl-list
    name: Vendor send of a controller list
    set: vendor
    opcode: 0xc1
    queue: admin
    help: sends a controller list
    destructive: true
    data:
      direction: write
      length: 4096
      build:
        structure: controller-list
        fields:
          - {name: ids, at: ids.id}
"""


def test_a_user_entry_builds_its_buffer_from_any_layout(tmp_path: Path) -> None:
    path = tmp_path / "vendor.yaml"
    path.write_text(VENDOR)
    assert check_file(path) == []
    entry = load_catalogue([path], user_dir=False).get("vendor-ctrl-list")
    cmd = entry.encode(entry.parse_values(["ids=7,8"]))
    assert cmd.data == structures.encode("controller-list", {"num": 2, "ids": [{"id": 7}, {"id": 8}]})


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "message"),
    [
        ("opcode: 0xc1", "opcode: 0xc2", 13, "data.build", "only a write's buffer is built from fields "
         "(direction read)"),
        ("structure: controller-list", "structure: controller-lst", 14, "data.build.structure",
         "no structure layout 'controller-lst'; did you mean controller-list"),
        ("{name: ids,", "{name: nsid,", 16, "data.build.fields[0].name",
         "'nsid' is a field of the command already"),
        ("at: ids.id", "at: idz.id", 3, "data.build", "structure controller-list has no field named 'idz'"),
        ("at: ids.id", "at: num.id", 3, "data.build", "controller-list.num is no array"),
        ("structure: controller-list", "structure: {by: sel, structures: {1: controller-list}, otherwise: "
         "controller-list}", 14, "data.build.structure.by", "no field named 'sel'"),
        ("structure: controller-list", "structure: {by: nsid, structures: {all: controller-list, 7: "
         "controller-lst}, otherwise: controller-list}", 14, "data.build.structure.structures[7]",
         "no structure layout 'controller-lst'"),
    ],
)  # fmt: skip
def test_a_mistake_in_data_build_names_the_file_and_line(
    tmp_path: Path, old: str, new: str, line: int, field: str, message: str
) -> None:
    text = VENDOR.replace(old, new)
    if new == "opcode: 0xc2":
        text = text.replace("direction: write", "direction: read")
    path = tmp_path / "vendor.yaml"
    path.write_text(text)
    errors = check_file(path)
    assert len(errors) == 1, [str(e) for e in errors]
    (err,) = errors
    assert (err.line, err.entry, err.field) == (line, "vendor-ctrl-list", field), str(err)
    assert message in err.message
    assert str(err).startswith(f"{path}:{line}: vendor-ctrl-list: field {field}: ") and "\n" not in str(err)
    loaded = load_catalogue([path], user_dir=False)
    assert "vendor-ctrl-list" not in loaded and [str(e) for e in loaded.errors] == [str(err)]


def test_every_built_in_buffer_resolves_against_its_layout(cat: Catalogue) -> None:
    # A start loads no layout (the loader resolves user entries only): the built-in ones are checked here.
    built = [e for e in cat if e.build is not None]
    assert {e.id for e in built} >= {"namespace-management", "namespace-attachment"}
    for entry in built:
        assert entry.build is not None
        assert [f.name for f in entry.buffer_fields()] == [b.name for b in entry.build.fields]
        assert all(f.buffer and not f.slices for f in entry.buffer_fields())


def test_a_user_layout_that_breaks_a_built_in_buffer_takes_that_entry_out(tmp_path: Path) -> None:
    path = tmp_path / "layouts.yaml"
    path.write_text(
        "version: 1\ncommands: []\nstructures:\n"
        "  - id: controller-list\n    name: a list without ids\n    spec: test\n    size: 4096\n"
        "    fields:\n      - {name: num, at: 0, size: 2}\n"
    )
    loaded = load_catalogue([path], user_dir=False)  # (the test's end unregisters the user layouts)
    assert "namespace-attachment" not in loaded and "namespace-management" in loaded
    (err,) = loaded.errors
    assert str(err).endswith(
        ": namespace-attachment: field data.build: structure controller-list has no field named 'ids'"
    )
    assert str(err).startswith(str(loaded.files[0]) + ":")  # the built-in catalogue and the entry's line
