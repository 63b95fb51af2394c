"""The command catalogue: loading and its errors, value parsing, encoding to exact dwords, data lengths."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from nvtui.catalogue import (
    BUILTIN_CATALOGUE,
    Catalogue,
    CommandDef,
    check_file,
    load_catalogue,
    nvme_cli_line,
    user_catalogue_dir,
)
from nvtui.catalogue import loader as catalogue_mod
from nvtui.errors import UsageError
from nvtui.nvme.command import Command, DataDirection
from nvtui.nvme.decode import DECODERS

DATA = Path(__file__).parent / "data"
EXAMPLE = Path(__file__).parent.parent / "examples" / "vendor-acme.yaml"


@pytest.fixture(scope="module")
def cat() -> Catalogue:
    loaded = load_catalogue(user_dir=False)
    assert loaded.errors == []
    return loaded


def values(defn: CommandDef, *assignments: str) -> dict[str, int]:
    return defn.parse_values(list(assignments))


# --- the built-in catalogue ------------------------------------------------------------------------------


def test_builtin_catalogue_has_the_whole_admin_nvm_zns_and_fdp_sets(cat: Catalogue) -> None:
    expected = {
        "admin": {
            0x00: "delete-io-sq", 0x01: "create-io-sq", 0x02: "get-log-page", 0x04: "delete-io-cq",
            0x05: "create-io-cq", 0x06: "identify", 0x08: "abort", 0x09: "set-features", 0x0A: "get-features",
            0x0C: "asynchronous-event-request", 0x0D: "namespace-management", 0x10: "firmware-commit",
            0x11: "firmware-image-download", 0x14: "device-self-test", 0x15: "namespace-attachment",
            0x18: "keep-alive", 0x19: "directive-send", 0x1A: "directive-receive",
            0x1C: "virtualization-management", 0x1D: "nvme-mi-send", 0x1E: "nvme-mi-receive",
            0x20: "capacity-management", 0x24: "lockdown", 0x7C: "doorbell-buffer-config", 0x80: "format-nvm",
            0x81: "security-send", 0x82: "security-receive", 0x84: "sanitize", 0x86: "get-lba-status",
        },
        "io": {
            0x00: "flush", 0x01: "write", 0x02: "read", 0x04: "write-uncorrectable", 0x05: "compare",
            0x08: "write-zeroes", 0x09: "dataset-management", 0x0C: "verify", 0x0D: "reservation-register",
            0x0E: "reservation-report", 0x11: "reservation-acquire", 0x15: "reservation-release",
            0x19: "copy", 0x79: "zone-mgmt-send", 0x7A: "zone-mgmt-recv", 0x7D: "zone-append",
            0x12: "io-mgmt-recv",
            0x1D: "io-mgmt-send",
        },
    }  # fmt: skip
    for queue, by_opcode in expected.items():
        for opcode, name in by_opcode.items():
            defn = cat.get(name)
            assert (defn.queue, defn.opcode) == (queue, opcode), name
    assert {e.id for e in cat.entries if e.raw} == {"admin-passthru", "io-passthru"}


def test_every_builtin_entry_declares_the_direction_its_opcode_bits_say(cat: Catalogue) -> None:
    for defn in cat.entries:
        if defn.raw:
            assert defn.declared_direction is None
            continue
        assert defn.direction == DataDirection.of_opcode(defn.opcode), defn.id


def test_every_entry_has_an_nsid_field_and_one_line_help(cat: Catalogue) -> None:
    for defn in cat.entries:
        # (or a field of its own in the NSID's place: the Fabrics FCTYPE in byte 4)
        assert "nsid" in defn.field_names or any(s.location == "nsid" for f in defn.fields for s in f.slices)
        assert defn.help and "\n" not in defn.help
        for f in defn.fields:
            assert "\n" not in f.help


def test_every_decoder_the_builtin_catalogue_names_is_registered(cat: Catalogue) -> None:
    if not DECODERS:
        pytest.skip("no decoders registered yet")
    from nvtui import structures

    for defn in cat.entries:
        for rule in defn.decode_rules:
            assert rule.decoder in DECODERS or rule.decoder in structures.ids(), (defn.id, rule.decoder)
        if defn.result_decoder:
            assert defn.result_decoder in DECODERS


def test_destructive_and_refused_flags(cat: Catalogue) -> None:
    destructive = {
        "write", "write-zeroes", "write-uncorrectable", "dataset-management", "copy", "zone-mgmt-send",
        "zone-append", "format-nvm", "sanitize", "namespace-management", "namespace-attachment",
        "firmware-commit", "firmware-image-download", "set-features", "security-send", "reservation-register",
        "reservation-acquire", "reservation-release", "virtualization-management", "lockdown",
        "capacity-management", "doorbell-buffer-config", "directive-send", "nvme-mi-send", "io-mgmt-send",
        "abort", "delete-io-sq", "create-io-sq", "delete-io-cq", "create-io-cq", "admin-passthru",
        "io-passthru", "cancel", "discovery-information-management",
        "clear-exported-nvm-resource-configuration", "fabric-zoning-send", "create-exported-nvm-subsystem",
        "manage-exported-nvm-subsystem",
        "manage-exported-namespace", "manage-exported-port", "send-discovery-log-page", "track-send",
        "migration-send", "controller-data-queue", "fabrics", "kv-store", "kv-delete",
    }  # fmt: skip
    assert {e.id for e in cat.entries if e.destructive} == destructive
    for safe in (
        "read",
        "identify",
        "get-log-page",
        "get-features",
        "reservation-report",
        "verify",
        "compare",
    ):
        assert not cat.get(safe).is_destructive()
    refused = {e.id for e in cat.entries if e.refused}
    assert refused == {
        "delete-io-sq",
        "create-io-sq",
        "delete-io-cq",
        "create-io-cq",
        "doorbell-buffer-config",
        "controller-data-queue",
    }


def test_refused_commands_do_not_encode(cat: Catalogue) -> None:
    defn = cat.get("delete-io-sq")
    with pytest.raises(UsageError, match=r"delete-io-sq: refused: .*driver"):
        defn.encode(values(defn, "qid=1"))


def test_raw_commands_inherit_safety_and_refusal_from_their_opcode(cat: Catalogue) -> None:
    admin = cat.get("admin-passthru")
    assert not admin.is_destructive({"opcode": 0x06})  # identify
    assert admin.is_destructive({"opcode": 0x80})  # format
    assert admin.is_destructive({"opcode": 0xC2})  # unknown vendor opcode: assume the worst
    assert admin.is_destructive()
    with pytest.raises(UsageError, match="refused: opcode 0x01 is create-io-sq"):
        admin.encode(values(admin, "opcode=0x01", "cdw10=0x10001"), data_len=4096)
    io = cat.get("io-passthru")
    assert not io.is_destructive({"opcode": 0x02})
    assert io.is_destructive({"opcode": 0x01})
    assert admin.refusal({"opcode": 0x06}) is None


def test_get_accepts_aliases_and_suggests_close_names(cat: Catalogue) -> None:
    assert cat.get("fw-commit").id == "firmware-commit"
    assert cat.get("DSM").id == "dataset-management"
    assert "id" in cat and "nope" not in cat
    with pytest.raises(UsageError, match=r"unknown command 'identfy'.*identify"):
        cat.get("identfy")


def test_by_set_groups_in_catalogue_order(cat: Catalogue) -> None:
    groups = cat.by_set()
    assert list(groups)[:2] == ["admin", "nvm"]
    assert [e.id for e in groups["zns"]] == ["zone-mgmt-send", "zone-mgmt-recv", "zone-append"]
    assert [e.id for e in groups["fdp"]] == ["io-mgmt-recv", "io-mgmt-send"]
    assert cat.source_of("identify") == BUILTIN_CATALOGUE


def test_builtin_catalogue_validates_without_the_cache() -> None:
    # How long this takes is measured in benchmarks/, not here: a timed unit test fails on a loaded machine.
    decoders = catalogue_mod.resolve_decoders()
    result = catalogue_mod.parse_file(BUILTIN_CATALOGUE, decoders)  # uncached
    assert result.errors == ()
    assert {e.id for e in result.entries} >= {"identify", "get-log-page", "read", "write", "zone-append"}


# --- validation errors -----------------------------------------------------------------------------------

_EXPECT = re.compile(r"#\s*expect:\s*(?P<entry>[^|]+?)\s*\|\s*(?P<field>[^|]+?)\s*\|\s*(?P<message>.+?)\s*$")


def test_each_mistake_is_one_line_naming_file_line_entry_and_field() -> None:
    path = DATA / "catalogue_bad.yaml"
    errors = check_file(path)
    expected = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        m = _EXPECT.search(line)
        if m:
            expected.append((number, m["entry"], m["field"], m["message"]))
    assert len(expected) == 10
    assert len(errors) == len(expected), "\n".join(map(str, errors))
    for (line, entry, field, message), err in zip(
        expected, sorted(errors, key=lambda e: e.line), strict=True
    ):
        assert (err.line, err.entry, err.field) == (line, entry, field), str(err)
        assert message in err.message
        text = str(err)
        assert "\n" not in text
        assert text.startswith(f"{path}:{line}: {entry}: field {field}: ")


def test_good_entries_of_a_bad_file_still_load() -> None:
    loaded = load_catalogue([DATA / "catalogue_bad.yaml"], user_dir=False)
    assert loaded.get("good-one").opcode == 0xC2
    assert loaded.get("good-two").opcode == 0xC4  # the first of the two, the duplicate is skipped
    assert "overlapping" not in loaded and "wrong-direction" not in loaded
    assert len(loaded.errors) == 10
    assert loaded.get("identify").source == BUILTIN_CATALOGUE


def test_yaml_syntax_error_names_file_and_line() -> None:
    path = DATA / "catalogue_syntax.yaml"
    (err,) = check_file(path)
    assert err.line == 6
    assert str(err).startswith(f"{path}:6: YAML syntax error")
    loaded = load_catalogue([path], user_dir=False)
    assert loaded.get("identify")  # the rest still loads
    assert [str(e) for e in loaded.errors] == [str(err)]


def test_unknown_decoder_is_an_error_whatever_the_registry_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(DECODERS, "smart-log", DECODERS.get("smart-log", lambda data, **ctx: None))
    errors = check_file(DATA / "catalogue_bad.yaml")
    assert any(e.entry == "unknown-decoder" and "acme-frobnicator" in e.message for e in errors)


def test_duplicate_yaml_keys_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text(
        "version: 1\ncommands:\n  - id: twice\n    name: Twice\n    set: vendor\n    opcode: 0xc0\n"
        "    queue: admin\n    help: x\n    opcode: 0xc4\n"
    )
    (err,) = check_file(path)
    assert (err.line, err.entry, err.field) == (9, "twice", "opcode")
    assert "given twice" in err.message


def test_file_without_commands_list(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("version: 1\n")
    (err,) = check_file(path)
    assert err.field == "commands" and "required" in err.message.lower()


def test_example_vendor_catalogue_loads_cleanly() -> None:
    assert check_file(EXAMPLE) == []
    loaded = load_catalogue([EXAMPLE], user_dir=False)
    assert loaded.errors == []
    snapshot = loaded.get("acme-snapshot")
    assert 0xC0 <= snapshot.opcode <= 0xFF and snapshot.set == "vendor"
    assert snapshot.decoder_for(values(snapshot)) == "acme-telemetry-snapshot"
    health = loaded.get("get-log-page-acme-health")
    cmd = health.encode(values(health))
    assert (cmd.opcode, cmd.cdw10 & 0xFF, cmd.cdw10 >> 16, cmd.data_len) == (0x02, 0xC0, 127, 512)
    with pytest.raises(UsageError, match="field lid: 2 out of range 192-192"):
        health.parse_values(["lid=2"])


def test_user_directory_from_xdg_config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    directory = tmp_path / "nvtui" / "commands.d"
    assert user_catalogue_dir() == directory
    directory.mkdir(parents=True)
    (directory / "10-acme.yaml").write_text(EXAMPLE.read_text())
    (directory / "20-override.yaml").write_text(
        "version: 1\ncommands:\n  - id: identify\n    name: Identify (site)\n    set: admin\n"
        "    opcode: 0x06\n    queue: admin\n    help: site-local identify\n"
        "    data: {direction: read, length: 4096}\n    destructive: false\n"
    )
    (directory / "notes.txt").write_text("not a catalogue")
    loaded = load_catalogue()
    assert loaded.errors == []
    (notice,) = loaded.notices  # redefining a built-in command is said on every load
    assert str(notice).startswith(
        f"{directory / '20-override.yaml'}:3: identify: redefines the built-in command"
    )
    assert loaded.get("acme-snapshot").source == directory / "10-acme.yaml"
    assert loaded.get("identify").help == "site-local identify"
    assert loaded.source_of("identify") == directory / "20-override.yaml"
    ids = [e.id for e in loaded.entries]
    assert ids.index("identify") < ids.index("read")  # an override keeps its place
    extra = tmp_path / "extra.yaml"
    extra.write_text((directory / "20-override.yaml").read_text().replace("site-local", "extra-file"))
    assert load_catalogue([extra]).get("identify").help == "extra-file identify"  # extra files come last
    assert load_catalogue(user_dir=False).get("identify").name == "Identify"


def test_user_directory_defaults_to_home_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert user_catalogue_dir() == tmp_path / ".config" / "nvtui" / "commands.d"


# --- value parsing ---------------------------------------------------------------------------------------


def test_values_in_decimal_hex_and_enum_names(cat: Catalogue) -> None:
    glp = cat.get("get-log-page")
    parsed = glp.parse_values(["lid=smart", "numd=0x80", "lsi=7", "rae=true"])
    assert (parsed["lid"], parsed["numd"], parsed["lsi"], parsed["rae"]) == (2, 128, 7, 1)
    assert parsed["nsid"] == 0xFFFFFFFF  # default "all"
    assert glp.parse_values({"lid": "0xC0"})["lid"] == 0xC0  # numbers beyond the named ones are fine
    assert glp.parse_values({"LID": "SMART"})["lid"] == 2
    assert "nsid" not in cat.get("read").parse_values([])  # `device`: filled in by encode


@pytest.mark.parametrize(
    ("command", "assignment", "message"),
    [
        ("read", "nlb=70000", r"^field nlb: 70000 out of range 1-65536 \(0-based in the spec"),
        ("read", "nlb=0", r"^field nlb: 0 out of range 1-65536"),
        ("read", "nlb=-1", r"^field nlb: -1 is negative \(range 1-65536\)"),
        ("read", "nlb=eight", r"^field nlb: 'eight' is not a number .*range 1-65536"),
        ("read", "slba=0x1ffffffffffffffff",
         r"^field slba: 0x1ffffffffffffffff out of range 0x0-0xffffffffffffffff"),
        ("identify", "cns=0x100", r"^field cns: 0x100 out of range 0-255"),
        ("identify", "cns=256", r"^field cns: 256 out of range 0-255"),
        ("get-log-page", "lid=smrt",
         r"^field lid: 'smrt' is neither a number in range 0-255 nor one of .*did you mean smart"),
        ("zone-mgmt-send", "zsa=rest", r"^field zsa: .*did you mean reset"),
        ("zone-mgmt-send", "select_all=2", r"^field select_all: 2 out of range 0-1"),
        ("identify", "cnz=1", r"^identify: unknown field 'cnz' .*did you mean cns"),
        ("identify", "cns", r"^identify: expected FIELD=VALUE, got 'cns'"),
    ],
)  # fmt: skip
def test_bad_values_name_the_field_and_its_range(
    cat: Catalogue, command: str, assignment: str, message: str
) -> None:
    with pytest.raises(UsageError, match=message) as info:
        cat.get(command).parse_values([assignment])
    assert "\n" not in str(info.value)


def test_out_of_range_hex_is_never_truncated(cat: Catalogue) -> None:
    with pytest.raises(UsageError, match="field cntid: 0x10000 out of range 0-65535"):
        cat.get("identify").parse_values(["cntid=0x10000"])


def test_required_fields_and_duplicates(cat: Catalogue) -> None:
    with pytest.raises(UsageError, match=r"field zsa: required"):
        cat.get("zone-mgmt-send").parse_values([])
    with pytest.raises(UsageError, match=r"field cns: given twice"):
        cat.get("identify").parse_values(["cns=1", "cns=0"])


def test_zero_based_fields_say_what_they_mean(cat: Catalogue) -> None:
    nlb = cat.get("read").field("nlb")
    assert nlb.zero_based_note(8) == "0-based: nlb=8 means 8, sent as 7"
    assert "nlb=N is sent as N-1" in nlb.zero_based_note()
    assert cat.get("identify").field("cns").zero_based_note(1) == ""


# --- encoding --------------------------------------------------------------------------------------------


def test_identify_controller(cat: Catalogue) -> None:
    idf = cat.get("identify")
    cmd = idf.encode(values(idf, "cns=1"))
    assert cmd == Command(opcode=0x06, admin=True, nsid=0, cdw10=1, data_len=4096)
    assert idf.decoder_for(values(idf, "cns=controller")) == "identify-controller"


def test_identify_decoder_picks_by_cns_and_csi(cat: Catalogue) -> None:
    idf = cat.get("identify")
    assert idf.decoder_for(values(idf, "cns=csi-namespace", "csi=zns")) == "identify-ns-zns"
    assert idf.decoder_for(values(idf, "cns=5", "csi=0")) == "identify-ns-nvm"
    assert idf.decoder_for(values(idf, "cns=csi-controller", "csi=zns")) == "identify-ctrl-zns"
    assert idf.decoder_for(values(idf, "cns=csi-namespace", "csi=key-value")) == "identify-ns-kv"
    cmd = idf.encode(values(idf, "cns=csi-namespace", "csi=zns"), device_nsid=2)
    assert (cmd.nsid, cmd.cdw10, cmd.cdw11) == (2, 5, 2 << 24)


def test_get_log_page_splits_numd_over_cdw10_and_cdw11(cat: Catalogue) -> None:
    glp = cat.get("get-log-page")
    numd = 0x12345  # dwords: NUMD sends 0x12344, NUMDL 0x2344 in cdw10[31:16], NUMDU 0x1 in cdw11[15:0]
    cmd = glp.encode(values(glp, "lid=2", f"numd={numd}", "lsi=0xabcd", "lpo=0x100000200", "rae=1"))
    assert cmd.cdw10 == (0x2344 << 16) | (1 << 15) | 0x02
    assert cmd.cdw11 == (0xABCD << 16) | 0x0001
    assert (cmd.cdw12, cmd.cdw13) == (0x200, 0x1)
    assert cmd.data_len == numd * 4
    assert cmd.nsid == 0xFFFFFFFF
    assert glp.decoder_for(glp.decode_fields(cmd)) == "smart-log"


def test_read_places_a_64_bit_slba_and_a_zero_based_nlb(cat: Catalogue) -> None:
    read = cat.get("read")
    cmd = read.encode(values(read, "slba=0x123456789", "nlb=8", "fua=1"), device_nsid=1, lba_size=512)
    assert (cmd.opcode, cmd.admin, cmd.nsid) == (0x02, False, 1)
    assert (cmd.cdw10, cmd.cdw11) == (0x23456789, 0x1)
    assert cmd.cdw12 == (1 << 30) | 7
    assert cmd.data_len == 4096
    assert read.problems(cmd) == []


def test_zone_mgmt_send_reset_all(cat: Catalogue) -> None:
    zms = cat.get("zone-mgmt-send")
    cmd = zms.encode(values(zms, "zsa=reset", "select_all=1"), device_nsid=2)
    assert (cmd.opcode, cmd.nsid, cmd.cdw13, cmd.data_len) == (0x79, 2, 0x104, 0)
    assert zms.problems(cmd) == []  # no data is right for reset, though the opcode could carry some
    with pytest.raises(UsageError, match="give --data-len"):
        zms.encode(values(zms, "zsa=set-zone-descriptor-extension"))
    ext = zms.encode(values(zms, "zsa=set-zone-descriptor-extension"), data_len=64)
    assert ext.data_len == 64


def test_format_lbaf_is_split_low_bits_first(cat: Catalogue) -> None:
    fmt = cat.get("format-nvm")
    cmd = fmt.encode(values(fmt, "lbaf=0x35", "ses=crypto-erase", "pi=type1"), device_nsid=1)
    assert cmd.cdw10 == (0x3 << 12) | (2 << 9) | (1 << 5) | 0x5
    assert fmt.decode_fields(cmd)["lbaf"] == 0x35


def test_dataset_management_length_from_nr(cat: Catalogue) -> None:
    dsm = cat.get("dsm")
    cmd = dsm.encode(values(dsm, "nr=3", "ad=1"), device_nsid=1, data=bytes(48))
    assert (cmd.cdw10, cmd.cdw11, cmd.data_len) == (2, 4, 48)


def test_copy_descriptor_size_follows_the_format(cat: Catalogue) -> None:
    copy = cat.get("copy")
    assert copy.encode(values(copy, "nr=2"), device_nsid=1).data_len == 64
    assert copy.encode(values(copy, "nr=2", "desfmt=format-2"), device_nsid=1).data_len == 80


def test_get_features_data_length_by_fid_and_result_context(cat: Catalogue) -> None:
    gf = cat.get("get-features")
    assert gf.encode(values(gf, "fid=timestamp")).data_len == 8
    assert gf.encode(values(gf, "fid=lba-range-type")).data_len == 4096
    plain = values(gf, "fid=volatile-write-cache", "sel=saved")
    cmd = gf.encode(plain)
    assert (cmd.cdw10, cmd.data_len) == (0x206, 0)
    assert gf.problems(cmd) == []
    assert gf.result_decoder == "feature-result"
    assert gf.result_decoder_context(plain) == {"fid": 6, "sel": 2}  # SEL 011b decodes as capabilities
    with pytest.raises(UsageError, match="--data-len 512 disagrees with fid=timestamp moves 8 bytes"):
        gf.encode(values(gf, "fid=timestamp"), data_len=512)


def test_data_length_cross_checks(cat: Catalogue) -> None:
    write = cat.get("write")
    v = values(write, "nlb=8")
    with pytest.raises(UsageError, match="--data-len 512 disagrees with nlb=8 x 512-byte LBAs = 4096 bytes"):
        write.encode(v, lba_size=512, data_len=512)
    with pytest.raises(UsageError, match="the data is 512 bytes but the command moves 4096 bytes"):
        write.encode(v, lba_size=512, data=bytes(512))
    with pytest.raises(UsageError, match="the data is 8192 bytes but the command moves 4096 bytes"):
        write.encode(v, lba_size=512, data=bytes(8192))
    with pytest.raises(UsageError, match="LBA size is unknown; give --data-len for 8 blocks"):
        write.encode(v)
    assert write.encode(v, data_len=8 * 4096).data_len == 32768  # LBA size unknown: trust a whole multiple
    with pytest.raises(UsageError, match="not a whole number of 8 blocks"):
        write.encode(v, data_len=1001)
    ok = write.encode(v, lba_size=4096, data=b"\x5a" * 32768, device_nsid=1)
    assert ok.data_len == 32768 and ok.data == b"\x5a" * 32768
    with pytest.raises(UsageError, match="identify reads data from the controller"):
        cat.get("identify").encode({}, data=bytes(4096))
    with pytest.raises(UsageError, match="flush transfers no data, but --data-len 4096"):
        cat.get("flush").encode({}, data_len=4096)
    with pytest.raises(
        UsageError, match="identify: --data-len 512 disagrees with identify always moves 4096"
    ):
        cat.get("identify").encode({}, data_len=512)


def test_user_length_commands_need_a_length(cat: Catalogue) -> None:
    raw = cat.get("io-passthru")
    cmd = raw.encode({"opcode": 0x02, "cdw12": 7}, device_nsid=1, data_len=4096)
    assert (cmd.opcode, cmd.nsid, cmd.cdw12, cmd.data_len) == (0x02, 1, 7, 4096)
    assert raw.encode({"opcode": 0x00}, device_nsid=1).data_len == 0
    with pytest.raises(UsageError, match=r"field opcode: required"):
        raw.encode({}, device_nsid=1)
    sec = cat.get("security-send")
    assert sec.encode(values(sec, "tl=512", "secp=1"), data=bytes(512)).data_len == 512


def test_metadata_length_for_separate_metadata(cat: Catalogue) -> None:
    read = cat.get("read")
    cmd = read.encode(values(read, "nlb=8"), lba_size=512, metadata_size=8)
    assert (cmd.data_len, cmd.metadata_len) == (4096, 64)
    assert read.encode(values(read, "nlb=8"), lba_size=512).metadata_len == 0
    assert (
        cat.get("write-zeroes").encode(values(cat.get("write-zeroes"), "nlb=8"), metadata_size=8).metadata_len
        == 0
    )


def test_encode_rejects_unknown_fields_and_out_of_range_values(cat: Catalogue) -> None:
    read = cat.get("read")
    with pytest.raises(UsageError, match="unknown field 'blocks'"):
        read.encode({"blocks": 8}, lba_size=512)
    with pytest.raises(UsageError, match="field nlb: 65537 out of range 1-65536"):
        read.encode({"nlb": 65537}, lba_size=512)


# --- decoding and checking -------------------------------------------------------------------------------


def test_decode_fields_inverts_encode(cat: Catalogue) -> None:
    zmr = cat.get("zone-mgmt-recv")
    given = values(zmr, "slba=0x80000", "numd=16", "zrasf=full", "partial=1")
    cmd = zmr.encode(given, device_nsid=2)
    assert cmd.cdw12 == 15 and cmd.cdw13 == (1 << 16) | (5 << 8)
    assert zmr.decode_fields(cmd) == {**given, "nsid": 2}
    assert zmr.decoder_for(given) == "zone-report"
    assert zmr.device_context(given) == ()
    extended = values(zmr, "zra=extended-report-zones")  # ZDES is the device's
    assert zmr.decoder_for(extended) == "zone-report" and zmr.device_context(extended) == ("zdes_bytes",)


def test_problems_flag_reserved_bits_and_wrong_directions(cat: Catalogue) -> None:
    idf = cat.get("identify")
    cmd = Command(opcode=0x06, admin=True, cdw10=1, cdw11=0x00FF_0000, cdw13=0x8000_0001, data_len=4096)
    problems = idf.problems(cmd)
    assert "cdw11 bits 23:16 are reserved in identify but set (0x00ff0000)" in problems
    assert "cdw13 bits 31, 0 are reserved in identify but set (0x80000001)" in problems
    no_data = idf.problems(Command(opcode=0x06, admin=True, cdw10=1))
    assert any("data_len is 0" in p for p in no_data)
    wrong = idf.problems(Command(opcode=0x09, admin=True, data_len=4096))
    assert any("not identify's 0x06" in p for p in wrong)
    assert any("declares read" in p for p in wrong)


def test_user_entry_whose_opcode_disagrees_with_its_direction_is_flagged(tmp_path: Path) -> None:
    path = tmp_path / "vendor.yaml"
    path.write_text(
        "version: 1\ncommands:\n  - id: acme-upload\n    name: Upload\n    set: vendor\n    opcode: 0xc2\n"
        "    queue: admin\n    help: sends data but C2h reads\n    data:\n      direction: write\n"
        "      length: user\n"
    )
    (err,) = check_file(path)
    assert (err.line, err.entry, err.field) == (10, "acme-upload", "data.direction")
    assert "0xc2 bits 1:0 = 10 mean read, not write" in err.message
    assert "acme-upload" not in load_catalogue([path], user_dir=False)


# --- nvme-cli --------------------------------------------------------------------------------------------


def test_nvme_cli_line_for_identify(cat: Catalogue) -> None:
    idf = cat.get("identify")
    cmd = idf.encode(values(idf, "cns=1"))
    assert nvme_cli_line(idf, cmd, "/dev/nvme0") == (
        "nvme admin-passthru /dev/nvme0 --opcode=0x06 --namespace-id=0 --cdw10=0x1 --data-len=4096 --read"
    )


def test_nvme_cli_line_for_a_write_with_metadata(cat: Catalogue) -> None:
    write = cat.get("write")
    cmd = write.encode(values(write, "slba=0x10", "nlb=2"), device_nsid=1, lba_size=512, metadata_size=8)
    line = nvme_cli_line(write, cmd, "/dev/ng0n1 (sim)", input_file="my data.bin")
    assert line == (
        "nvme io-passthru '/dev/ng0n1 (sim)' --opcode=0x01 --namespace-id=1 --cdw10=0x10 --cdw12=0x1 "
        "--data-len=1024 --write --input-file='my data.bin' --metadata-len=16 --metadata=/dev/zero"
    )
    argv = shlex.split(line)
    assert argv[2] == "/dev/ng0n1 (sim)"
    assert "--input-file=my data.bin" in argv
    zeros = nvme_cli_line(write, write.encode(values(write, "nlb=1"), lba_size=512), "/dev/ng0n1")
    assert "--input-file=/dev/zero" in zeros


def test_nvme_cli_line_round_trips_every_dword(cat: Catalogue) -> None:
    raw = cat.get("admin-passthru")
    given = {"opcode": 0xC2, "nsid": 7, "cdw2": 2, "cdw3": 3, "cdw10": 10, "cdw11": 11, "cdw12": 12,
             "cdw13": 13, "cdw14": 14, "cdw15": 0xFFFFFFFF}  # fmt: skip
    cmd = raw.encode(given, data_len=512)
    argv = shlex.split(nvme_cli_line(raw, cmd, "/dev/nvme0"))
    opts = dict(a[2:].split("=", 1) for a in argv[3:] if "=" in a)
    assert int(opts["opcode"], 0) == 0xC2 and int(opts["namespace-id"], 0) == 7
    for name in ("cdw2", "cdw3", "cdw10", "cdw11", "cdw12", "cdw13", "cdw14", "cdw15"):
        assert int(opts[name], 0) == given[name]
    assert opts["data-len"] == "512" and "--read" in argv and "--write" not in argv


def test_a_commands_folder_others_can_write_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A root nvtui would otherwise offer commands anyone could plant as the user's own.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    directory = tmp_path / "nvtui" / "commands.d"
    directory.mkdir(parents=True)
    (directory / "10-acme.yaml").write_text(EXAMPLE.read_text())
    assert "acme-snapshot" in load_catalogue()
    directory.chmod(0o777)
    loaded = load_catalogue()
    assert "acme-snapshot" not in loaded
    assert [str(e) for e in loaded.errors] == [
        f"{directory}:0: not read: group or others can write to it (mode 0777); chmod go-w {directory}"
    ]
