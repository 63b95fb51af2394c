"""nvme-cli's verbs as data: for each verb its options (long name, short flag, value type), where each option
goes in nvtui (a catalogue field, a send option, a display option, a data builder's input) and how its value
is turned into the field's (nvme-cli's 0-based `--block-count` is nvtui's count `nlb`), and the field values
the verb always sends.

Facts from nvme-cli 2.3 (`nvme help VERB` and the source, nvme.c and plugins/zns, plugins/fdp): option names,
short flags, defaults. An option that nvtui cannot map is listed with `to="refuse"` and why, so the user gets
a one-line error naming it instead of a command that silently differs.

Targets (`Opt.to`):
- a catalogue field name (`nsid`, `lid`, `slba`, ...), with `how` turning nvme-cli's value into nvtui's:
  `""` as is, `"+1"` a 0-based count to a count, `"/4"` bytes to dwords (refused unless a multiple of 4),
  `"bytes+4/4"` (nvme-cli's 0-based NUMD as bytes) and the like are spelled out in `TRANSFORMS`;
- `send.data_in`, `send.data_out`, `send.data_size`, `send.data_len`, `send.timeout`, `send.metadata_in`: how
  the data moves;
- `show.format` (`-o normal|json|binary`), `show.binary`, `show.dry_run`, `show.show_command`, `show.none`
  (options that only change nvme-cli's printing, which nvtui's own output covers: `-H`, `-v`, `--latency`);
- `build.NAME`: an input of the verb's data builder (`nvtui.nvmecli.data`), e.g. the reservation keys;
- `refuse`: named in an error, with `note` saying why.
"""

from __future__ import annotations

from dataclasses import dataclass

# Value types, as nvme-cli's argconfig parses them: OPT_BYTE, OPT_SHRT, OPT_UINT, OPT_SUFFIX (64-bit),
# OPT_FLAG, OPT_LIST (comma-separated numbers), OPT_FILE / OPT_STR, OPT_FMT.
U8, U16, U32, U64, FLAG, LIST, FILE, STR, FMT = (
    "u8",
    "u16",
    "u32",
    "u64",
    "flag",
    "list",
    "file",
    "str",
    "fmt",
)
BITS = {U8: 8, U16: 16, U32: 32, U64: 64}


@dataclass(frozen=True)
class Opt:
    long: str
    short: str | None
    kind: str
    to: str
    how: str = ""
    note: str = ""


@dataclass(frozen=True)
class Verb:
    name: str  # as typed after `nvme` ("smart-log", "zns report-zones", "fdp configs")
    command: str  # the catalogue entry or preset it becomes
    options: tuple[Opt, ...]
    fixed: tuple[tuple[str, int], ...] = ()  # field values this verb always sends
    defaults: tuple[tuple[str, int], ...] = ()  # nvme-cli's value for a field its line leaves out
    nsid: str = ""  # "device": the opened namespace's ID; "device-or-all": that, or all on a controller
    builder: str = ""  # the data builder (nvtui.nvmecli.data) that makes the data from `build.*` options
    note: str = ""  # how nvtui's one command differs from what nvme-cli does around it
    spellings: tuple[str, ...] = ()  # nvme-cli 3.0's regrouped names ("log smart")


# --- option groups shared by many verbs -----------------------------------------------------------------

NSID = Opt("namespace-id", "n", U32, "nsid")
FMT_O = Opt("output-format", "o", FMT, "show.format")
RAW = Opt("raw-binary", "b", FLAG, "show.binary")
HUMAN = Opt("human-readable", "H", FLAG, "show.none")
VERBOSE = Opt("verbose", "v", FLAG, "show.none")
VENDOR = Opt("vendor-specific", "v", FLAG, "show.none")
TIMEOUT = Opt("timeout", "t", U32, "send.timeout")
OUTPUT = (FMT_O, RAW, HUMAN)


def _io_tags(ref_short: str = "r", storage_short: str = "S") -> tuple[Opt, ...]:
    return (
        Opt("ref-tag", ref_short, U64, "ilbrt", "u32"),
        Opt("app-tag-mask", "m", U16, "lbatm"),
        Opt("app-tag", "a", U16, "lbat"),
        Opt("storage-tag", storage_short, U64, "refuse-nonzero",
            note="its bits sit in the reference tag fields by the namespace's storage tag size"),
        Opt("storage-tag-check", "C", FLAG, "stc"),
    )  # fmt: skip


_RW = (
    NSID,
    Opt("start-block", "s", U64, "slba"),
    Opt("block-count", "c", U16, "nlb", "+1"),
    Opt("data-size", "z", U64, "send.data_size"),
    Opt("metadata-size", "y", U64, "send.metadata_size"),
    Opt("data", "d", FILE, "send.data"),
    Opt("metadata", "M", FILE, "send.metadata"),
    Opt("prinfo", "p", U8, "prinfo", "u4"),
    *_io_tags(storage_short="g"),
    Opt("limited-retry", "l", FLAG, "lr"),
    Opt("force-unit-access", "f", FLAG, "fua"),
    Opt("dir-type", "T", U8, "dtype", "u4"),
    Opt("dir-spec", "S", U16, "dspec"),
    Opt("dsm", "D", U8, "dsm"),
    Opt("show-command", "v", FLAG, "show.show_command"),
    Opt("dry-run", "w", FLAG, "show.dry_run"),
    Opt("latency", "t", FLAG, "show.none"),
    Opt("force", None, FLAG, "show.none"),
)
# Compare, like nvme-cli's submit_io, takes the same options; its catalogue entry has no dsm/dtype/dspec.
_CMP = (
    *(o for o in _RW if o.long not in ("dir-type", "dir-spec", "dsm")),
    Opt("dir-type", "T", U8, "refuse-nonzero", note="Compare has no directive fields"),
    Opt("dir-spec", "S", U16, "refuse-nonzero", note="Compare has no directive fields"),
    Opt("dsm", "D", U8, "refuse-nonzero", note="Compare has no dataset management field"),
)
_ZONE_SEND = (
    Opt("namespace-id", "n", U32, "nsid"),
    Opt("start-lba", "s", U64, "slba"),
    Opt("select-all", "a", FLAG, "select_all"),
    TIMEOUT,
)
_PASSTHRU = (
    Opt("opcode", "o", U8, "opcode"),
    Opt("flags", "f", U8, "refuse-nonzero", note="the command flags (fused, PSDT) belong to the kernel"),
    Opt("prefill", "p", U8, "refuse-nonzero", note="nvtui sends the data it is given, or zeros"),
    Opt("rsvd", "R", U16, "refuse-nonzero", note="the kernel refuses a non-zero rsvd1"),
    NSID,
    Opt("data-len", "l", U32, "send.data_len"),
    Opt("metadata-len", "m", U32, "refuse-nonzero", note="nvtui sends no metadata with a raw command"),
    TIMEOUT,
    *(Opt(f"cdw{n}", s, U32, f"cdw{n}") for n, s in ((2, "2"), (3, "3"), (10, "4"), (11, "5"), (12, "6"),
                                                      (13, "7"), (14, "8"), (15, "9"))),
    Opt("input-file", "i", FILE, "send.data"),
    Opt("metadata", "M", FILE, "refuse", note="nvtui sends no metadata with a raw command"),
    RAW,
    Opt("show-command", "s", FLAG, "show.show_command"),
    Opt("dry-run", "d", FLAG, "show.dry_run"),
    Opt("read", "r", FLAG, "build.read"),
    Opt("write", "w", FLAG, "build.write"),
    Opt("latency", "T", FLAG, "show.none"),
)  # fmt: skip


_FDP_HEADER = (
    "nvme-cli reads the header first (8 or 16 bytes) to learn the length, then the whole; nvtui reads 4 KiB "
    "with one command"
)

VERBS: tuple[Verb, ...] = (
    # --- Identify -----------------------------------------------------------------------------------------
    Verb("id-ctrl", "id-ctrl", (VENDOR, *OUTPUT)),
    Verb(
        "id-ns",
        "id-ns",
        (NSID, Opt("force", None, FLAG, "build.force"), VENDOR, *OUTPUT),
        nsid="device",
        builder="id-ns-force",
    ),
    Verb(
        "list-ns",
        "list-ns",
        (
            Opt("namespace-id", "n", U32, "nsid", "-1"),
            Opt("csi", "y", U8, "build.csi"),
            Opt("all", "a", FLAG, "build.all"),
            FMT_O,
        ),
        fixed=(("nsid", 0),),
        builder="list-ns",
    ),
    Verb("ns-descs", "ns-descs", (NSID, FMT_O, RAW), nsid="device"),
    Verb("id-iocs", "id-iocs", (Opt("controller-id", "c", U16, "cntid"),)),
    # --- log pages ----------------------------------------------------------------------------------------
    Verb("smart-log", "smart-log", (NSID, *OUTPUT), spellings=("log smart",)),
    Verb(
        "error-log",
        "error-log",
        (Opt("log-entries", "e", U32, "numd", "*16"), FMT_O, RAW),
        spellings=("log error",),
    ),
    Verb("fw-log", "fw-log", (FMT_O, RAW), spellings=("log fw",)),
    Verb(
        "effects-log",
        "effects-log",
        (FMT_O, HUMAN, RAW, Opt("csi", "c", U8, "csi")),
        note="without --csi nvme-cli reads the log once per command set the controller supports; nvtui "
        "reads the NVM command set's",
        spellings=("log effects",),
    ),
    Verb(
        "endurance-log",
        "endurance-log",
        (FMT_O, Opt("group-id", "g", U16, "lsi")),
        spellings=("log endurance",),
    ),
    Verb(
        "sanitize-log", "sanitize-log", (Opt("rae", "r", FLAG, "rae"), *OUTPUT), spellings=("log sanitize",)
    ),
    Verb(
        "self-test-log",
        "self-test-log",
        (Opt("dst-entries", "e", U8, "show.none"), FMT_O, VERBOSE),
        spellings=("log self-test",),
    ),
    Verb(
        "telemetry-log",
        "telemetry-log",
        (
            Opt("output-file", "o", FILE, "send.data_out"),
            Opt("host-generate", "g", U32, "lsp", "bool"),
            Opt(
                "controller-init",
                "c",
                FLAG,
                "refuse",
                note="the controller-initiated log is LID 08h: send get-log-page lid=telemetry-controller",
            ),
            Opt(
                "data-area",
                "d",
                U32,
                "refuse-not-3",
                note="nvtui reads the 512-byte header; the data "
                "areas it names are further Get Log Page commands",
            ),
        ),
        note="nvme-cli then reads the data areas the header names; nvtui sends the first command, the header",
        spellings=("log telemetry",),
    ),
    Verb(
        "supported-log-pages", "supported-log-pages", (FMT_O, VERBOSE), spellings=("log supported-log-pages",)
    ),
    Verb("changed-ns-list-log", "changed-ns-list-log", (FMT_O, RAW), spellings=("log changed-ns-list",)),
    Verb(
        "get-log",
        "get-log-page",
        (
            NSID,
            Opt("log-id", "i", U8, "lid"),
            Opt("log-len", "l", U32, "numd", "/4"),
            Opt("aen", "a", U32, "refuse-nonzero", note="give the log page identifier with --log-id"),
            Opt("lpo", "o", U64, "lpo"),
            Opt("lsp", "s", U8, "lsp"),
            Opt("lsi", "S", U16, "lsi"),
            Opt("rae", "r", FLAG, "rae"),
            Opt("uuid-index", "U", U8, "uuid"),
            RAW,
            Opt("csi", "y", U8, "csi"),
            Opt("ot", "O", FLAG, "ot"),
            Opt("xfer-len", "x", U32, "show.none"),
        ),
        note="nvme-cli splits a log longer than 4 KiB into 4 KiB reads; nvtui reads it with one command",
        spellings=("log get",),
    ),
    # --- features -----------------------------------------------------------------------------------------
    Verb(
        "get-feature",
        "get-features",
        (
            Opt("feature-id", "f", U8, "fid"),
            NSID,
            Opt("sel", "s", U8, "sel"),
            Opt("data-len", "l", U32, "send.data_len"),
            RAW,
            Opt("cdw11", "c", U32, "cdw11"),
            Opt("uuid-index", "U", U8, "uuid"),
            HUMAN,
        ),
        nsid="device-or-all",
        builder="get-feature",
    ),
    Verb(
        "set-feature",
        "set-features",
        (
            NSID,
            Opt("feature-id", "f", U8, "fid"),
            Opt("value", "v", U64, "cdw11", "u32"),
            Opt("cdw12", "c", U32, "cdw12"),
            Opt("uuid-index", "U", U8, "uuid"),
            Opt("data-len", "l", U32, "send.data_len"),
            Opt("data", "d", FILE, "send.data"),
            Opt("save", "s", FLAG, "sv"),
        ),
        nsid="device-or-all",
        builder="set-feature",
    ),
    # --- admin commands that change state -----------------------------------------------------------------
    Verb(
        "format",
        "format-nvm",
        (
            NSID,
            Opt("timeout", "t", U32, "send.timeout"),
            Opt("lbaf", "l", U8, "lbaf"),
            Opt("ses", "s", U8, "ses"),
            Opt("pi", "i", U8, "pi"),
            Opt("pil", "p", U8, "pil"),
            Opt("ms", "m", U8, "mset"),
            Opt("reset", "r", FLAG, "refuse", note="nvtui does not reset the controller afterwards"),
            Opt("force", None, FLAG, "show.none"),
            Opt("block-size", "b", U64, "refuse", note="give the LBA format index with --lbaf"),
        ),
        nsid="device",
        builder="format",
        note="without --lbaf nvme-cli keeps the current format; nvtui asks for it",
    ),
    Verb(
        "sanitize",
        "sanitize",
        (
            Opt("no-dealloc", "d", FLAG, "ndas"),
            Opt("oipbp", "i", FLAG, "oipbp"),
            Opt("owpass", "n", U8, "owpass"),
            Opt("ause", "u", FLAG, "ause"),
            Opt("sanact", "a", STR, "build.sanact"),
            Opt("ovrpat", "p", U32, "ovrpat"),
        ),
        builder="sanitize",
    ),
    Verb(
        "device-self-test",
        "device-self-test",
        (
            Opt("namespace-id", "n", U32, "nsid"),
            Opt("self-test-code", "s", U8, "stc"),
            Opt("wait", "w", FLAG, "refuse", note="nvtui sends the command and returns; read self-test-log"),
        ),
        builder="self-test",
    ),
    Verb(
        "fw-download",
        "firmware-image-download",
        (
            Opt("fw", "f", FILE, "send.data"),
            Opt("xfer", "x", U32, "build.xfer"),
            Opt("offset", "o", U32, "ofst"),
            Opt("progress", "p", FLAG, "show.none"),
            Opt("ignore-ovr", "i", FLAG, "show.none"),
        ),
        builder="fw-download",
    ),
    Verb(
        "fw-commit",
        "firmware-commit",
        (Opt("slot", "s", U8, "fs"), Opt("action", "a", U8, "ca"), Opt("bpid", "b", U8, "bpid")),
        defaults=(("ca", 0),),  # the catalogue asks for it; nvme-cli replaces the image without --action
        spellings=("fw-activate",),
    ),
    Verb(
        "create-ns",
        "namespace-management",
        (
            Opt("nsze", "s", U64, "build.nsze"),
            Opt("ncap", "c", U64, "build.ncap"),
            Opt("flbas", "f", U8, "build.flbas"),
            Opt("dps", "d", U8, "build.dps"),
            Opt("nmic", "m", U8, "build.nmic"),
            Opt("anagrp-id", "a", U32, "build.anagrpid"),
            Opt("nvmset-id", "i", U16, "build.nvmsetid"),
            Opt("block-size", "b", U64, "refuse", note="give the LBA format with --flbas"),
            TIMEOUT,
            Opt("csi", "y", U8, "csi"),
            Opt("lbstm", "l", U64, "build.lbstm"),
            Opt("nsze-si", "S", STR, "refuse", note="give --nsze in blocks"),
            Opt("ncap-si", "C", STR, "refuse", note="give --ncap in blocks"),
        ),
        fixed=(("sel", 0), ("nsid", 0)),
        builder="create-ns",
    ),
    Verb("delete-ns", "namespace-management", (NSID, TIMEOUT), fixed=(("sel", 1),), nsid="device"),
    Verb(
        "attach-ns",
        "namespace-attachment",
        (Opt("namespace-id", "n", U32, "nsid"), Opt("controllers", "c", LIST, "build.controllers")),
        fixed=(("sel", 0),),
        builder="attach-ns",
    ),
    Verb(
        "detach-ns",
        "namespace-attachment",
        (Opt("namespace-id", "n", U32, "nsid"), Opt("controllers", "c", LIST, "build.controllers")),
        fixed=(("sel", 1),),
        builder="attach-ns",
    ),
    Verb("admin-passthru", "admin-passthru", _PASSTHRU, builder="passthru"),
    # --- I/O commands -------------------------------------------------------------------------------------
    Verb("io-passthru", "io-passthru", _PASSTHRU, builder="passthru"),
    Verb("read", "read", _RW, nsid="device", builder="read"),
    Verb("write", "write", _RW, nsid="device", builder="write"),
    Verb("compare", "compare", _CMP, nsid="device", builder="write"),
    Verb(
        "write-zeroes",
        "write-zeroes",
        (
            NSID,
            Opt("start-block", "s", U64, "slba"),
            Opt("block-count", "c", U16, "nlb", "+1"),
            Opt("deac", "d", FLAG, "deac"),
            Opt("limited-retry", "l", FLAG, "lr"),
            Opt("force-unit-access", "f", FLAG, "fua"),
            Opt("prinfo", "p", U8, "prinfo", "u4"),
            *_io_tags(),
        ),
        nsid="device",
    ),
    Verb(
        "write-uncor",
        "write-uncorrectable",
        (NSID, Opt("start-block", "s", U64, "slba"), Opt("block-count", "c", U16, "nlb", "+1")),
        nsid="device",
    ),
    Verb(
        "verify",
        "verify",
        (
            NSID,
            Opt("start-block", "s", U64, "slba"),
            Opt("block-count", "c", U16, "nlb", "+1"),
            Opt("limited-retry", "l", FLAG, "lr"),
            Opt(
                "force-unit-access", "f", FLAG, "refuse", note="Verify in the NVM command set has no FUA bit"
            ),
            Opt("prinfo", "p", U8, "prinfo", "u4"),
            Opt("ref-tag", "r", U64, "eilbrt", "u32"),
            Opt("app-tag", "a", U16, "elbat"),
            Opt("app-tag-mask", "m", U16, "elbatm"),
            Opt(
                "storage-tag",
                "S",
                U64,
                "refuse-nonzero",
                note="its bits sit in the reference tag fields by the namespace's storage tag size",
            ),
            Opt("storage-tag-check", "C", FLAG, "stc"),
        ),
        nsid="device",
    ),
    Verb("flush", "flush", (NSID,), nsid="device"),
    Verb(
        "dsm",
        "dataset-management",
        (
            NSID,
            Opt("ctx-attrs", "a", LIST, "build.ctx_attrs"),
            Opt("blocks", "b", LIST, "build.blocks"),
            Opt("slbs", "s", LIST, "build.slbs"),
            Opt("ad", "d", FLAG, "ad"),
            Opt("idw", "w", FLAG, "idw"),
            Opt("idr", "r", FLAG, "idr"),
            Opt("cdw11", "c", U32, "build.cdw11"),
        ),
        nsid="device",
        builder="dsm",
    ),
    Verb(
        "copy",
        "copy",
        (
            NSID,
            Opt("sdlba", "d", U64, "sdlba"),
            Opt("slbs", "s", LIST, "build.slbs"),
            Opt("blocks", "b", LIST, "build.blocks"),
            Opt("limited-retry", "l", FLAG, "lr"),
            Opt("force-unit-access", "f", FLAG, "fua"),
            Opt("prinfow", "p", U8, "prinfow", "u4"),
            Opt("prinfor", "P", U8, "prinfor", "u4"),
            Opt("ref-tag", "r", U64, "ilbrt", "u32"),
            Opt("expected-ref-tags", "R", LIST, "build.eilbrts"),
            Opt("app-tag", "a", U16, "lbat"),
            Opt("expected-app-tags", "A", LIST, "build.elbats"),
            Opt("app-tag-mask", "m", U16, "lbatm"),
            Opt("expected-app-tag-masks", "M", LIST, "build.elbatms"),
            Opt("dir-type", "T", U8, "dtype", "u4"),
            Opt("dir-spec", "S", U16, "dspec"),
            Opt("format", "F", U8, "build.format"),
        ),
        nsid="device",
        builder="copy",
    ),
    Verb(
        "resv-register",
        "reservation-register",
        (
            NSID,
            Opt("crkey", "c", U64, "build.crkey"),
            Opt("nrkey", "k", U64, "build.nrkey"),
            Opt("rrega", "r", U8, "rrega", "u3"),
            Opt("cptpl", "p", U8, "cptpl", "u2"),
            Opt("iekey", "i", FLAG, "iekey"),
        ),
        nsid="device",
        builder="resv-register",
    ),
    Verb(
        "resv-acquire",
        "reservation-acquire",
        (
            NSID,
            Opt("crkey", "c", U64, "build.crkey"),
            Opt("prkey", "p", U64, "build.prkey"),
            Opt("rtype", "t", U8, "rtype"),
            Opt("racqa", "a", U8, "racqa", "u3"),
            Opt("iekey", "i", FLAG, "iekey"),
        ),
        nsid="device",
        builder="resv-acquire",
    ),
    Verb(
        "resv-release",
        "reservation-release",
        (
            NSID,
            Opt("crkey", "c", U64, "build.crkey"),
            Opt("rtype", "t", U8, "rtype"),
            Opt("rrela", "a", U8, "rrela", "u3"),
            Opt("iekey", "i", FLAG, "iekey"),
        ),
        nsid="device",
        builder="resv-release",
    ),
    Verb(
        "resv-report",
        "reservation-report",
        (
            NSID,
            Opt("numd", "d", U32, "build.numd"),
            Opt("eds", "e", FLAG, "eds"),
            FMT_O,
            Opt("raw-binary", "b", FLAG, "show.binary"),
        ),
        nsid="device",
        builder="resv-report",
    ),
    # --- zns plugin ---------------------------------------------------------------------------------------
    Verb("zns id-ctrl", "identify", (FMT_O,), fixed=(("cns", 0x06), ("csi", 0x02), ("nsid", 0))),
    Verb(
        "zns id-ns",
        "identify",
        (NSID, VENDOR, FMT_O, HUMAN),
        fixed=(("cns", 0x05), ("csi", 0x02)),
        nsid="device",
    ),
    Verb(
        "zns report-zones",
        "zone-mgmt-recv",
        (
            NSID,
            Opt("start-lba", "s", U64, "slba"),
            Opt("descs", "d", U32, "numd", "zones"),
            Opt("state", "S", U8, "zrasf"),
            FMT_O,
            VERBOSE,
            Opt("extended", "e", FLAG, "zra"),
            Opt("partial", "p", FLAG, "partial"),
        ),
        nsid="device",
        note="nvme-cli reads the zone count first, then the report in pieces; nvtui sends one Zone "
        "Management Receive for the descriptors asked for (63 without --descs)",
    ),
    Verb(
        "zns zone-mgmt-recv",
        "zone-mgmt-recv",
        (
            FMT_O,
            NSID,
            Opt("start-lba", "s", U64, "slba"),
            Opt("zra", "z", U8, "zra"),
            Opt("zrasf", "S", U8, "zrasf"),
            Opt("partial", "p", FLAG, "partial"),
            Opt("data-len", "l", U32, "numd", "/4"),
        ),
        nsid="device",
    ),
    Verb(
        "zns zone-mgmt-send",
        "zone-mgmt-send",
        (
            *_ZONE_SEND,
            Opt("zsaso", "o", FLAG, "zsaso"),
            Opt("zsa", "z", U8, "zsa"),
            Opt("data-len", "l", U32, "send.data_len"),
            Opt("data", "d", FILE, "send.data"),
        ),
        nsid="device",
    ),
    Verb(
        "zns open-zone",
        "zone-mgmt-send",
        (*_ZONE_SEND, Opt("zrwaa", "r", FLAG, "zsaso")),
        fixed=(("zsa", 0x03),),
        nsid="device",
    ),
    Verb("zns close-zone", "zone-mgmt-send", _ZONE_SEND, fixed=(("zsa", 0x01),), nsid="device"),
    Verb("zns finish-zone", "zone-mgmt-send", _ZONE_SEND, fixed=(("zsa", 0x02),), nsid="device"),
    Verb("zns reset-zone", "zone-mgmt-send", _ZONE_SEND, fixed=(("zsa", 0x04),), nsid="device"),
    Verb("zns offline-zone", "zone-mgmt-send", _ZONE_SEND, fixed=(("zsa", 0x05),), nsid="device"),
    Verb(
        "zns zone-append",
        "zone-append",
        (
            NSID,
            Opt("zslba", "s", U64, "zslba"),
            Opt("data-size", "z", U64, "send.data_size"),
            Opt("metadata-size", "y", U64, "send.metadata_size"),
            Opt("data", "d", FILE, "send.data"),
            Opt("metadata", "M", FILE, "send.metadata"),
            Opt("limited-retry", "l", FLAG, "lr"),
            Opt("force-unit-access", "f", FLAG, "fua"),
            Opt("ref-tag", "r", U64, "ilbrt", "u32"),
            Opt("app-tag-mask", "m", U16, "lbatm"),
            Opt("app-tag", "a", U16, "lbat"),
            Opt("prinfo", "p", U8, "prinfo", "u4"),
            Opt("piremap", "P", FLAG, "piremap"),
            Opt("latency", "t", FLAG, "show.none"),
        ),
        nsid="device",
        builder="zone-append",
    ),
    # --- fdp plugin ---------------------------------------------------------------------------------------
    Verb("fdp configs", "fdp-configs", (Opt("endgrp-id", "e", U16, "lsi"), *OUTPUT), note=_FDP_HEADER),
    Verb("fdp usage", "fdp-usage", (Opt("endgrp-id", "e", U16, "lsi"), FMT_O, RAW), note=_FDP_HEADER),
    Verb("fdp stats", "fdp-stats", (Opt("endgrp-id", "e", U16, "lsi"), FMT_O, RAW)),
    Verb(
        "fdp events",
        "fdp-events",
        (Opt("endgrp-id", "e", U16, "lsi"), Opt("host-events", "E", FLAG, "lsp"), FMT_O, RAW),
    ),
    Verb("fdp status", "fdp-status", (NSID, FMT_O, RAW), nsid="device", note=_FDP_HEADER),
    Verb(
        "fdp update",
        "io-mgmt-send",
        (NSID, Opt("pids", "p", LIST, "build.pids")),
        nsid="device",
        fixed=(("mo", 1),),
        builder="fdp-update",
    ),
)


def verb_index() -> dict[str, Verb]:
    """Every spelling (2.x name, 3.0 regrouped name) to its verb."""
    out: dict[str, Verb] = {}
    for verb in VERBS:
        out[verb.name] = verb
        for spelling in verb.spellings:
            out[spelling] = verb
    return out
