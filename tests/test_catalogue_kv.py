"""The Key Value command set in the catalogue: the `bytes` field type (a key typed as text or 0x-hex, carried
in CDW2, CDW3, CDW14 and CDW15 with its length in CDW11 bits 7:0), the five KV entries kept apart from the NVM
set whose opcodes they reuse, their errors (one line, nothing sent), and how a key is printed back: JSON
fields, the nvme-cli line, a recorded script, the Compose line.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fuzz.recording import Recorder, install_recorder, run_cli
from hypothesis import given, settings
from hypothesis import strategies as st
from test_app import make_app, ready, sent_count
from test_composer import SIZE, on_compose, showing, type_line

from nvtui import structures
from nvtui.catalogue import Catalogue, CommandDef, check_file, load_catalogue
from nvtui.catalogue.cmdline import line_of
from nvtui.errors import UsageError
from nvtui.nvme.command import DataDirection
from nvtui.nvme.completion import Completion, Status
from nvtui.nvme.status_names import status_name
from nvtui.scripts import CommandScript, script_from_history
from nvtui.session import SendResult, Session
from tests.pilots import until

CATALOGUE: Catalogue = load_catalogue(user_dir=False)
W, R, N = DataDirection.HOST_TO_CONTROLLER, DataDirection.CONTROLLER_TO_HOST, DataDirection.NONE


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with pytest.MonkeyPatch.context() as mp:
        yield install_recorder(mp)


def kv(command: str) -> CommandDef:
    return CATALOGUE.get(command)


def key_dwords(cmd: object) -> tuple[int, int, int, int]:
    return (cmd.cdw2, cmd.cdw3, cmd.cdw14, cmd.cdw15)  # type: ignore[attr-defined]


# --- the entries ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "opcode", "direction", "destructive"),
    [
        ("kv-store", 0x01, W, True),
        ("kv-retrieve", 0x02, R, False),
        ("kv-list", 0x06, R, False),
        ("kv-delete", 0x10, N, True),
        ("kv-exist", 0x14, N, False),
    ],
)
def test_each_kv_entry_has_its_opcode_direction_guard_and_key(
    command: str, opcode: int, direction: DataDirection, destructive: bool
) -> None:
    defn = kv(command)
    assert (defn.set, defn.queue, defn.opcode, defn.direction, defn.destructive) == (
        "kv",
        "io",
        opcode,
        direction,
        destructive,
    )
    assert defn.spec.startswith("KV Command Set 1.0")
    key = defn.field("key")
    listing = command == "kv-list"  # no key: the list starts at the first key
    assert (key.kind, key.max_bytes, key.min_bytes, key.length_field, key.required) == (
        "bytes",
        16,
        0 if listing else 1,
        "kl",
        not listing,
    )
    assert key.location == "cdw2, cdw3, cdw14, cdw15"
    assert defn.field("kl").location == "cdw11[7:0]"
    assert defn.field("kl").range_text() == ("0-16" if listing else "1-16")


def test_store_options_are_the_two_flags_of_cdw11_bits_8_and_9() -> None:
    cmd = kv("kv-store").encode(kv("kv-store").parse_values(["key=a", "must_exist=1"]), device_nsid=1)
    assert cmd.cdw11 == 0x1 | 1 << 8
    cmd = kv("kv-store").encode(kv("kv-store").parse_values(["key=a", "must_not_exist=yes"]), device_nsid=1)
    assert cmd.cdw11 == 0x1 | 1 << 9


# --- encoding a key ----------------------------------------------------------------------------------------


def test_a_text_key_of_one_byte_goes_to_cdw2_bits_7_0_and_kl_is_one() -> None:
    defn = kv("kv-exist")
    cmd = defn.encode(defn.parse_values(["key=A"]), device_nsid=1)
    assert key_dwords(cmd) == (0x41, 0, 0, 0) and cmd.cdw11 == 1 and cmd.nsid == 1 and cmd.data_len == 0


def test_a_16_byte_key_fills_cdw2_cdw3_cdw14_cdw15_little_endian_within_each_dword() -> None:
    defn = kv("kv-delete")
    cmd = defn.encode(defn.parse_values(["key=0x000102030405060708090a0b0c0d0e0f"]), device_nsid=1)
    assert key_dwords(cmd) == (0x03020100, 0x07060504, 0x0B0A0908, 0x0F0E0D0C)
    assert cmd.cdw11 == 16
    text = defn.encode(defn.parse_values(["key=abcdefghijklmnop"]), device_nsid=1)
    assert key_dwords(text) == (0x64636261, 0x68676665, 0x6C6B6A69, 0x706F6E6D) and text.cdw11 == 16


def test_text_and_hex_of_the_same_bytes_are_the_same_command() -> None:
    defn = kv("kv-exist")
    as_text = defn.encode(defn.parse_values(["key=user"]), device_nsid=1)
    as_hex = defn.encode(defn.parse_values(["key=0x75736572"]), device_nsid=1)
    assert as_text == as_hex and as_hex.cdw2 == 0x72657375 and as_hex.cdw11 == 4


def test_a_hex_key_keeps_its_zero_bytes_and_text_prefix_takes_0x_as_text() -> None:
    defn = kv("kv-exist")
    values = defn.parse_values(["key=0x0000ff00"])
    assert values["kl"] == 4 and values["key"] == 0x00FF0000
    assert defn.text_of("key", values) == "0x0000ff00"
    values = defn.parse_values(["key=text:0x1"])
    assert values["kl"] == 3 and defn.field("key").bytes_of(values["key"], 3) == b"0x1"
    assert defn.text_of("key", values) == "text:0x1"


def test_a_store_sends_the_value_as_its_data_with_vs_in_cdw10() -> None:
    defn = kv("kv-store")
    cmd = defn.encode(defn.parse_values(["key=user42", "vs=5"]), device_nsid=1, data=b"hello")
    assert cmd.cdw10 == 5 and cmd.data_len == 5 and cmd.data == b"hello" and cmd.direction is W
    assert defn.derive_length(defn.parse_given(["key=user42"]), 5)["vs"] == 5  # --data-len sets vs
    retrieve = kv("kv-retrieve")
    cmd = retrieve.encode(retrieve.parse_values(["key=user42"]), device_nsid=1)
    assert cmd.cdw10 == 4096 and cmd.data_len == 4096 and cmd.direction is R


# --- errors: one line each, naming the field and the allowed length -------------------------------------


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (
            ["key=abcdefghijklmnopq"],
            "field key: abcdefghijklmnopq is 17 bytes, longer than 16 (allowed 1-16 bytes",
        ),
        (["key=0x" + "11" * 17], "field key: 0x1111"),
        (["key="], "field key: empty, shorter than 1 (1-16 bytes, text or 0x-hex)"),
        (["key=0x"], "field key: empty, shorter than 1"),
        (["key=0x123"], "field key: 0x123 has an odd number of hex digits"),
        (
            ["key=0xzz"],
            "field key: 0xzz is not hex ('z'); a key that is text starting with 0x is given as text:0xzz",
        ),
        (["key=user42", "kl=5"], "field kl: 5 disagrees with key, which is 6 bytes"),
        (["key=user42", "kl=17"], "field kl: 17 out of range 1-16"),
        (["kl=3"], "field key: required (range 1-16 bytes, text or 0x-hex)"),
    ],
)
def test_a_bad_key_is_one_line_naming_the_field_and_its_length(words: list[str], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        kv("kv-retrieve").parse_values(words)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_the_key_is_never_truncated_to_a_shorter_kl() -> None:
    defn = kv("kv-exist")
    with pytest.raises(
        UsageError, match=r"^field kl: 2 is shorter than key, which is 4 bytes \(user; range 1-16; never"
    ):
        defn.encode({"key": int.from_bytes(b"user", "little"), "kl": 2}, device_nsid=1)
    assert defn.complete({"key": int.from_bytes(b"user", "little")})["kl"] == 4  # set from the value


@pytest.mark.parametrize("key", ["abcdefghijklmnopq", "0x123", "0xgg", "", "0x"])
def test_the_cli_refuses_a_bad_key_in_one_line_with_a_nonzero_exit_and_sends_nothing(
    recorder: Recorder, key: str
) -> None:
    mark = recorder.mark()
    run = run_cli(["send", "sim0n1", "kv-exist", f"key={key}"])
    assert run.raised is None and run.code != 0
    assert (
        run.err.startswith("nvtui: field key: ") and run.err.count("\n") == 1 and "Traceback" not in run.err
    )
    assert recorder.since(mark) == []


def test_a_kv_command_is_never_sent_to_an_nvm_namespace_where_its_opcode_is_another(
    recorder: Recorder, tmp_path: Path
) -> None:
    mark = recorder.mark()
    data = tmp_path / "value.bin"
    data.write_bytes(b"hello")
    run = run_cli(
        [
            "send",
            "sim0n1",
            "kv-store",
            "key=user42",
            "--data-in",
            str(data),
            "--data-len",
            "5",
            "--allow-destructive",
        ]
    )
    assert run.code == 2 and run.err.count("\n") == 1
    assert (
        "kv-store is a kv command set command; sim0n1 is a namespace of the nvm command set (CSI 00h)"
        in run.err
    )
    assert recorder.user_commands_since(mark) == []  # no Write of LBA 5 with the value as its block


# --- the command sets kept apart -------------------------------------------------------------------------


def test_lookups_by_opcode_keep_the_kv_set_apart_from_nvm() -> None:
    assert CATALOGUE.entry_for_opcode("io", 0x01, "kv").id == "kv-store"  # type: ignore[union-attr]
    assert CATALOGUE.entry_for_opcode("io", 0x01, "nvm").id == "write"  # type: ignore[union-attr]
    assert CATALOGUE.entry_for_opcode("io", 0x01, "zns").id == "write"  # type: ignore[union-attr]
    assert CATALOGUE.entry_for_opcode("io", 0x02, "kv").id == "kv-retrieve"  # type: ignore[union-attr]
    assert CATALOGUE.entry_for_opcode("io", 0x06, "nvm") is None  # no List on an NVM namespace
    assert CATALOGUE.entry_for_opcode("io", 0x14, "kv").id == "kv-exist"  # type: ignore[union-attr]
    assert CATALOGUE.sets_for_opcode("io", 0x01) == {"nvm", "kv"}
    assert CATALOGUE.needs_command_set("io", 0x10) and not CATALOGUE.needs_command_set("io", 0x7D)
    assert CATALOGUE.get("store").id == "kv-store" and CATALOGUE.get("write").id == "write"
    applies = CATALOGUE.for_command_set
    assert applies(kv("kv-list"), "kv") and not applies(kv("kv-list"), "nvm") and applies(kv("kv-list"), None)
    assert not applies(CATALOGUE.get("read"), "kv") and applies(CATALOGUE.get("identify"), "kv")
    assert applies(CATALOGUE.get("flush"), "kv")  # Flush (00h) and the reservations the KV set shares
    assert applies(CATALOGUE.get("reservation-report"), "kv")
    assert [e.id for e in CATALOGUE.by_set()["kv"]] == [
        "kv-store",
        "kv-retrieve",
        "kv-list",
        "kv-delete",
        "kv-exist",
    ]


async def test_the_devices_profile_of_an_nvm_namespace_lists_no_kv_command() -> None:
    from nvtui.session import probe_device

    profile = await probe_device(CATALOGUE, "sim0n1")
    listed = set(profile.supported["io"]) | set(profile.unsupported["io"])
    assert "write" in profile.supported["io"] and not {e.id for e in CATALOGUE.by_set()["kv"]} & listed


async def test_on_a_namespace_whose_set_is_unknown_a_kv_command_is_sent_and_its_status_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def unknown(self: Session, device: str) -> None:
        return None

    monkeypatch.setattr(Session, "command_set", unknown)
    session = Session(CATALOGUE)
    try:
        prepared = await session.prepare("sim0n1", "kv-exist", ["key=user42"])
        result = await session.send(prepared)
    finally:
        await session.close()
    assert result.completion.status.name == "Invalid Command Opcode"  # the simulator has no KV namespace
    assert result.to_json()["fields"] == {
        "key": "user42",
        "kl": 6,
    }  # (nsid: the device's, filled in at encode)


def test_the_kv_statuses_have_their_names() -> None:
    assert [status_name(0, sc) for sc in range(0x85, 0x8A)] == [
        "Invalid Value Size",
        "Invalid Key Size",
        "KV Key Does Not Exist",
        "Unrecovered Error",
        "Key Exists",
    ]


# --- printed back: JSON, nvme-cli, scripts, the command line -----------------------------------------------


async def test_a_kv_store_prints_its_key_in_json_and_its_dwords_in_the_nvme_cli_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def kv_namespace(self: Session, device: str) -> str:
        return "kv"

    monkeypatch.setattr(Session, "command_set", kv_namespace)
    session = Session(CATALOGUE)
    try:
        prepared = await session.prepare(
            "sim0n1",
            "kv-store",
            ["key=user42", "must_not_exist=1"],
            data=b"hello",
            data_len=5,
            allow_destructive=True,
        )
    finally:
        await session.close()
    result = SendResult(prepared, Completion(Status(0)), None, None, "/dev/ng0n1", catalogue=CATALOGUE)
    out = result.to_json()
    assert out["fields"] == {"key": "user42", "kl": 6, "vs": 5, "must_exist": 0, "must_not_exist": 1}
    line = result.nvme_cli
    assert line.startswith("nvme io-passthru /dev/ng0n1 --opcode=0x01 --namespace-id=1 ")
    for part in (
        "--cdw2=0x72657375",
        "--cdw3=0x3234",
        "--cdw10=0x5",
        "--cdw11=0x206",
        "--data-len=5",
        "--write",
    ):
        assert part in line
    script = script_from_history([result])
    step = script.step_list.distinct[0]
    assert step.fields["key"] == "user42"  # read back as typed
    assert kv("kv-store").complete(kv("kv-store").parse_given(step.fields)) == prepared.values


def test_a_script_step_gives_its_key_as_text_and_a_yaml_number_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "kv.yaml"
    path.write_text(
        "nvtui-script: 2\nsteps:\n"
        "  - {command: kv-exist, fields: {key: user42}}\n"
        "  - {command: kv-exist, fields: {key: '0x75736572'}}\n"
        "  - {command: kv-exist, fields: {key: 0x75736572}}\n"
    )
    script = CommandScript.load(path)
    steps = [script.step_list.distinct[i] for i in script.step_list.order]
    defn = kv("kv-exist")
    assert defn.parse_given(steps[0].fields) == {"key": int.from_bytes(b"user42", "little"), "kl": 6}
    assert defn.parse_given(steps[1].fields)["kl"] == 4
    with pytest.raises(
        UsageError,
        match=r"^field key: the number 1970496882 is no byte string; give text or "
        r'quoted 0x-hex \("0x75736572" is 4 bytes',
    ):
        defn.parse_given(steps[2].fields)


def test_the_compose_line_shows_a_key_as_typed_and_in_hex_where_it_holds_a_space() -> None:
    defn = kv("kv-exist")
    assert line_of(defn, {"key": "user42"}) == "kv-exist key=user42"
    assert line_of(defn, {"key": "0x00"}) == "kv-exist key=0x00"  # a key, never taken for a default
    assert line_of(defn, {"key": "my key"}) == "kv-exist key=0x6d79206b6579"


async def test_compose_accepts_a_key_and_names_a_bad_one() -> None:
    from nvtui.widgets.submission_view import SubmissionView

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = await on_compose(pilot)
        await type_line(pilot, screen, "kv-exist key=user42")
        await until(pilot, lambda: showing(screen, "kv-exist", key="user42"), "the key in the form")
        assert screen.line_error == ""  # the key is read; the preview then names the namespace's set
        view = screen.query_one(SubmissionView)
        await until(pilot, lambda: "is a kv command set command" in str(view.render()), "the set refusal")
        await type_line(pilot, screen, "kv-exist key=0x123")
        await until(
            pilot, lambda: screen.line_error.startswith("field key: 0x123 has an odd number"), "the error"
        )
        assert await sent_count(app) == 0


# --- the catalogue schema of a bytes field ---------------------------------------------------------------


def test_a_bytes_field_in_a_user_catalogue_is_checked_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "vendor.yaml"
    path.write_text(
        "version: 1\ncommands:\n"
        "  - id: acme-put\n    name: ACME Put\n    set: vendor\n    opcode: 0x81\n    queue: io\n"
        "    help: put\n    destructive: true\n    fields:\n"
        "      - {name: tag, at: 'cdw12[3:0]', type: bytes, length_field: tl}\n"
        "      - {name: tl, at: 'cdw13[7:0]', max_bytes: 2}\n"
        "      - {name: other, at: cdw14, type: bytes, length_field: nope}\n"
        "    data: {direction: write, length: user}\n"
    )
    errors = [str(e) for e in check_file(path)]
    assert any(
        ":11: acme-put: field fields[0].at: a byte string's locations hold whole bytes" in e for e in errors
    )
    assert any(
        ":12: acme-put: field fields[1].max_bytes: only bytes fields say max_bytes" in e for e in errors
    )
    assert any(":13: acme-put: field fields[2].length_field: 'nope' is no number field" in e for e in errors)
    assert all("\n" not in e for e in errors)


# --- the KV List data ---------------------------------------------------------------------------------------


def test_the_kv_list_data_decodes_each_key_padded_to_a_dword() -> None:
    data = (
        (2).to_bytes(4, "little") + (6).to_bytes(2, "little") + b"user42" + (1).to_bytes(2, "little") + b"a\0"
    )
    decoded = structures.decode("kv-list-data", data).to_json()
    assert decoded == {"nrk": 2, "keys": [{"kl": 6, "key": b"user42".hex()}, {"kl": 1, "key": b"a".hex()}]}
    assert (
        structures.encode(
            "kv-list-data", {"nrk": 2, "keys": [{"kl": 6, "key": b"user42"}, {"kl": 1, "key": b"a"}]}
        )
        == data
    )
    assert kv("kv-list").decoder_for(kv("kv-list").parse_values(["key=a"])) == "kv-list-data"
    identify = CATALOGUE.get("identify")
    assert (
        identify.decoder_for(identify.parse_values(["cns=csi-namespace", "csi=key-value"]))
        == "identify-ns-kv"
    )


# --- any key round-trips ----------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    key=st.binary(min_size=1, max_size=16),
    command=st.sampled_from(["kv-store", "kv-retrieve", "kv-list", "kv-delete", "kv-exist"]),
)
def test_any_1_to_16_byte_key_round_trips_through_the_wire_and_its_text(key: bytes, command: str) -> None:
    defn = kv(command)
    values = defn.parse_values([f"key=0x{key.hex()}"])
    cmd = defn.encode(
        values, device_nsid=1, data=bytes(values.get("vs", 0)) if command == "kv-store" else None
    )
    wire = b"".join(d.to_bytes(4, "little") for d in key_dwords(cmd))
    assert wire[: len(key)] == key and not any(wire[len(key) :]) and cmd.cdw11 & 0xFF == len(key)
    back = defn.decode_fields(cmd)
    assert back == {**values, "nsid": 1}
    text = defn.text_of("key", back)
    assert defn.field("key").parse_bytes(text) == key
    assert defn.parse_values([f"key={text}", "nsid=1"]) == back


# --- the data a KV command moves: set by the value, cut to the completion's DW0 -----------------------------


def test_a_byte_count_length_left_out_is_set_by_the_data(sim_dir: Path, tmp_path: Path) -> None:
    store = kv("kv-store")
    assert store.sized_by_data({"key": 0x6B}) and not store.sized_by_data({"key": 0x6B, "vs": 5})
    assert not kv("kv-retrieve").sized_by_data({"key": 0x6B})  # it reads: its buffer is the user's (hbs)
    assert not CATALOGUE.get("write").sized_by_data({})  # a count of blocks, not of bytes
    value = tmp_path / "v.bin"
    value.write_bytes(b"seven b")
    done = run_cli(["send", "sim0n3", "kv-store", "key=k", "--data-in", str(value), "--allow-destructive",
                    "--json"])  # fmt: skip
    assert done.code == 0, done.err
    assert '"vs": 7' in done.out
    given = run_cli(["send", "sim0n3", "kv-store", "key=k", "vs=3", "--data-in", str(value),
                     "--allow-destructive"])  # fmt: skip
    assert given.code == 2 and "--data-in" in given.err and "longer than the 3 bytes" in given.err


def test_data_cut_to_dw0_is_only_for_data_read(tmp_path: Path) -> None:
    path = tmp_path / "vendor.yaml"
    path.write_text(
        "version: 1\ncommands:\n"
        "  - id: acme-put\n    name: ACME Put\n    set: vendor\n    opcode: 0x81\n    queue: io\n"
        "    help: put\n    destructive: true\n"
        "    data: {direction: write, length: user, returned: result}\n"
    )
    errors = [str(e) for e in check_file(path)]
    said = ":10: acme-put: field data.returned: only data the controller returns (read)"
    assert any(said in e for e in errors)
    assert kv("kv-retrieve").returned_by_result and not kv("kv-list").returned_by_result
