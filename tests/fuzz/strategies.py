"""Hypothesis strategies for broken input: catalogue files, field values, CLI argument vectors, scripts.

A broken catalogue comes with where its error must point: the file's lines `[lo, hi]` (1-based) that hold
the node the mutation broke, so a test can check that the reported line is the right one, not just any.
"""

from __future__ import annotations

import base64
import copy
import re
import string
from dataclasses import dataclass
from typing import Any

import yaml
from hypothesis import strategies as st

from nvtui.catalogue import load_catalogue

KNOWN_COMMANDS = frozenset(n for e in load_catalogue(user_dir=False) for n in (e.id, *e.aliases))

# ---- catalogue files ---------------------------------------------------------------------------------------


def _entry(k: int) -> dict[str, Any]:
    """A valid entry (a Get Log Page look-alike: enum, split 0-based field, a length from a field)."""
    return {
        "id": f"fuzz-entry-{k}",
        "name": f"Fuzz entry {k}",
        "set": "vendor",
        "opcode": 0xC2,
        "queue": "admin",
        "help": "generated",
        "fields": [
            {
                "name": "f0",
                "at": "cdw10[7:0]",
                "type": "enum",
                "values": {"smart": 2, "error": 1},
                "default": 2,
            },
            {"name": "f1", "at": ["cdw10[31:16]", "cdw11[15:0]"], "zero_based": True, "default": 128},
            {"name": "f2", "at": "cdw12-13", "help": "an offset"},
            {"name": "f3", "at": "cdw14[0]", "type": "flag"},
        ],
        "data": {"direction": "read", "length": {"field": "f1", "unit": 4}},
    }


def _io_entry(k: int) -> dict[str, Any]:
    """A valid I/O entry (a Write look-alike: 64-bit LBA span, 0-based count, length in LBAs)."""
    return {
        "id": f"fuzz-entry-{k}",
        "name": f"Fuzz entry {k}",
        "set": "vendor",
        "opcode": 0x81,
        "queue": "io",
        "help": "generated",
        "destructive": True,
        "fields": [
            {"name": "f0", "at": "cdw10-11"},
            {"name": "f1", "at": "cdw12[15:0]", "zero_based": True, "default": 1},
            {"name": "f2", "at": "cdw12[30]", "type": "flag"},
        ],
        "data": {"direction": "write", "length": {"field": "f1", "unit": "lba"}},
    }


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)


def deep(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


ANY_VALUE = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=3),
    st.dictionaries(st.text(string.ascii_lowercase, min_size=1, max_size=5), SCALARS, max_size=3),
    st.integers(2, 120).map(deep),
)


def not_a(kind: type) -> st.SearchStrategy[Any]:
    """A value that is not of `kind` once written and read back (for pydantic's strict mode: bool is not int,
    int is not str; a float is written as `0.5` or `.inf`, which nvtui reads as a word, so it is a str)."""
    if kind is int:
        return ANY_VALUE.filter(lambda v: not isinstance(v, int) or isinstance(v, bool))
    if kind is str:
        return ANY_VALUE.filter(lambda v: not isinstance(v, str | float))
    return ANY_VALUE.filter(lambda v: not isinstance(v, kind))


_VALID_LOCATION = re.compile(r"(nsid|cdw2|cdw3|cdw1[0-5])(\[\d+(:\d+)?\])?|cdw\d+-\d+")
BAD_LOCATIONS = st.one_of(
    st.builds(
        lambda dw, msb, lsb: f"cdw{dw}[{msb}:{lsb}]",
        st.sampled_from([10, 11, 12]),
        st.integers(32, 10**20),
        st.integers(0, 31),
    ),
    st.builds(lambda msb, lsb: f"cdw13[{msb}:{lsb}]", st.integers(0, 30), st.integers(1, 31)).filter(
        lambda s: int(s.split("[")[1].split(":")[0]) < int(s.split(":")[1][:-1])
    ),  # lsb above msb
    st.sampled_from(
        [
            "cdw1",
            "cdw16",
            "cdw9",
            "dw10",
            "cdw10-12",
            "cdw11-10",
            "cdw15-16",
            "opcode",
            "nsid[32]",
            "CDW10",
            "cdw10[]",
            "cdw10[-1]",
            "cdw10[3:2:1]",
            "",
            " ",
            "cdw10[٣]",
        ]
    ),
    st.text(max_size=10).filter(lambda s: not _VALID_LOCATION.fullmatch(s.strip())),
)


@dataclass(frozen=True)
class BrokenFile:
    content: bytes
    kind: str  # what was broken, for the failure message
    must_fail: bool  # the file can't be valid
    span: tuple[int, int] | None = None  # 1-based lines one of the errors must point into
    entry: str | None = None  # the label the error at `span` carries (entry id or commands[i])


def _lines_of(text: str) -> list[str]:
    return text.split("\n")


def _find(lines: list[str], start: int, stop: int, needle: str) -> int:
    for i in range(start, stop):
        if lines[i].lstrip().removeprefix("- ").startswith(needle):
            return i
    raise AssertionError(f"{needle!r} not in lines {start}-{stop}:\n" + "\n".join(lines))


def _indent(line: str) -> int:
    stripped = line.lstrip(" ")
    extra = 2 if stripped.startswith("- ") else 0
    return len(line) - len(stripped) + extra


def _block_end(lines: list[str], i: int) -> int:
    """The index after the last line of the node whose key is on line i."""
    own = _indent(lines[i])
    j = i + 1
    while (
        j < len(lines)
        and lines[j].strip()
        and (_indent(lines[j]) > own or (lines[j].lstrip().startswith("- ") and _indent(lines[j]) - 2 >= own))
    ):
        j += 1
    return j


_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's emitter: generation is most of the cost


def _dump(doc: Any) -> str:
    return yaml.dump(
        doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=10**6
    )


@st.composite
def broken_catalogues(draw: st.DrawFn) -> BrokenFile:
    """A catalogue file with one deliberate fault, and the lines its error must point into."""
    n = draw(st.integers(1, 3))
    entries = [draw(st.sampled_from([_entry, _io_entry]))(k) for k in range(n)]
    k = draw(st.integers(0, n - 1))
    entry = entries[k]
    fault = draw(
        st.sampled_from(
            [
                "unknown-key",
                "bad-type",
                "bad-opcode",
                "bad-queue",
                "bad-location",
                "overlap",
                "field-range",
                "missing",
                "duplicate-id",
                "direction",
                "bad-length",
                "top-level",
                "deep",
            ]
        )
    )
    # (where the fault is) -> a path to the key whose line the error must name: entry k, field j, key.
    target: tuple[str, int | None, str] | None = None  # ("entry"|"field"|"data", field index, key)
    marker = "zq" + draw(st.text(string.ascii_lowercase, min_size=4, max_size=8))
    if fault == "unknown-key":
        where = draw(st.sampled_from(["entry", "field", "data"]))
        j = draw(st.integers(0, len(entry["fields"]) - 1)) if where == "field" else None
        holder = entry if where == "entry" else entry["data"] if where == "data" else entry["fields"][j]
        holder[marker] = draw(ANY_VALUE)
        target = (where, j, marker)
    elif fault == "bad-type":
        key = draw(st.sampled_from(["name", "set", "help", "fields", "data", "destructive", "aliases"]))
        kinds = {
            "name": str,
            "set": str,
            "help": str,
            "fields": list,
            "data": dict,
            "destructive": bool,
            "aliases": list,
        }
        entry[key] = draw(not_a(kinds[key]))
        target = ("entry", None, key)
    elif fault == "bad-opcode":
        entry["opcode"] = draw(st.one_of(st.integers(256, 10**40), st.integers(-(10**40), -1), not_a(int)))
        target = ("entry", None, "opcode")
    elif fault == "bad-queue":
        entry["queue"] = draw(st.one_of(ANY_VALUE.filter(lambda v: v not in ("admin", "io"))))
        target = ("entry", None, "queue")
    elif fault == "bad-location":
        j = draw(st.integers(0, len(entry["fields"]) - 1))
        entry["fields"][j]["at"] = draw(BAD_LOCATIONS)
        target = ("field", j, "")  # the `at` line, or `values` that no longer fit
    elif fault == "overlap":
        j = draw(st.integers(0, len(entry["fields"]) - 1))
        at = entry["fields"][j]["at"]
        entry["fields"].append({"name": "zz_overlap", "at": at if isinstance(at, str) else at[0]})
        target = ("field", len(entry["fields"]) - 1, "at")
    elif fault == "field-range":
        j = draw(st.integers(0, len(entry["fields"]) - 1))
        f = entry["fields"][j]
        key = draw(st.sampled_from(["max", "default", "min-above-max", "values"]))
        if key == "max":
            f["max"] = draw(st.integers(2**64 + 1, 10**40))
        elif key == "default":
            f.pop("values", None)
            f["type"] = "uint"
            f["default"] = draw(st.integers(2**64 + 1, 10**40))
        elif key == "min-above-max":
            f["min"], f["max"] = 9, 3
            key = "max"
        else:
            f["type"] = "enum"
            f["values"] = {"big": draw(st.integers(2**64, 10**40))}
        target = ("field", j, key)
    elif fault == "missing":
        key = draw(st.sampled_from(["id", "name", "set", "queue", "help"]))
        del entry[key]
        target = ("entry", None, "")
    elif fault == "duplicate-id":
        twin = copy.deepcopy(entry)
        twin["id"] = entry["id"]
        entries.append(twin)
        k = len(entries) - 1
        target = ("entry", None, "id")
    elif fault == "direction":
        entry["data"]["direction"] = "write" if entry["data"]["direction"] == "read" else "read"
        target = ("data", None, "direction")
    elif fault == "bad-length":
        entry["data"]["length"] = draw(
            st.one_of(
                st.integers(2**32, 10**30),
                st.integers(-(10**30), -1),
                st.text(max_size=8).filter(lambda s: s not in ("user", "optional")),
                st.fixed_dictionaries(
                    {"field": ANY_VALUE.filter(lambda v: v not in ("f0", "f1", "f2", "f3"))}
                ),
                st.fixed_dictionaries(
                    {"by": ANY_VALUE.filter(lambda v: v not in ("f0", "f1", "f2", "f3")), "sizes": ANY_VALUE}
                ),
                st.fixed_dictionaries({"field": st.just("f1"), "unit": st.integers(-(10**9), 0)}),
            )
        )
        target = ("data", None, "length")
    elif fault == "top-level":
        key = draw(st.sampled_from(["version", marker]))
        doc_extra = {key: draw(ANY_VALUE.filter(lambda v: v != 1 or isinstance(v, bool)))}
        text = _dump({**doc_extra, "commands": entries})
        lines = _lines_of(text)
        i = _find(lines, 0, len(lines), f"{key}:")
        return BrokenFile(text.encode(), fault, True, (i + 1, _block_end(lines, i)), None)
    else:  # deep nesting where a string belongs
        entry["help"] = deep(draw(st.integers(20, 400)))
        target = ("entry", None, "help")

    text = _dump({"version": 1, "commands": entries})
    lines = _lines_of(text)
    ids = [i for i, line in enumerate(lines) if line.startswith("- ")]
    start, stop = ids[k], ids[k + 1] if k + 1 < len(ids) else len(lines)
    label = entries[k]["id"] if isinstance(entries[k].get("id"), str) else f"commands[{k}]"
    where, j, key = target
    if where == "field":
        fields_at = _find(lines, start, stop, "fields:")
        items = [
            i
            for i in range(fields_at + 1, _block_end(lines, fields_at))
            if lines[i].lstrip().startswith("- ") and _indent(lines[i]) - 2 == _indent(lines[fields_at])
        ]
        start, stop = items[j], items[j + 1] if j + 1 < len(items) else _block_end(lines, fields_at)
    elif where == "data":
        data_at = _find(lines, start, stop, "data:")
        start, stop = data_at, _block_end(lines, data_at)
    if key:
        i = _find(lines, start, stop, f"{key}:")
        span = (i + 1, _block_end(lines, i))
    elif where == "field":
        span = (start + 1, stop)
    else:
        span = (start + 1, start + 1)
    return BrokenFile(text.encode(), fault, True, span, label)


@st.composite
def garbage_catalogues(draw: st.DrawFn) -> BrokenFile:
    """Files that are barely YAML or not text: random structures, random bytes, a valid file with bytes
    that are not UTF-8 spliced in, truncated files, YAML syntax errors."""
    kind = draw(st.sampled_from(["structure", "bytes", "non-utf8", "truncated", "syntax", "tags"]))
    valid = _dump({"version": 1, "commands": [_entry(0), _io_entry(1)]})
    if kind == "structure":
        value = draw(
            st.recursive(
                SCALARS,
                lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c, max_size=4),
                max_leaves=20,
            )
        )
        if draw(st.booleans()):
            value = {"commands": value} if draw(st.booleans()) else {"commands": [value]}
        text = _dump(value)
        return BrokenFile(text.encode(), kind, False)
    if kind == "bytes":
        return BrokenFile(draw(st.binary(max_size=300)), kind, False)
    if kind == "non-utf8":
        raw = valid.encode()
        at = draw(st.integers(0, len(raw)))
        bad = draw(st.sampled_from([b"\xff", b"\xfe\xfe", b"\xc3", b"\xed\xa0\x80", b"\x80abc"]))
        line = raw.count(b"\n", 0, at) + 1
        return BrokenFile(raw[:at] + bad + raw[at:], kind, True, (line, line), None)
    if kind == "truncated":
        return BrokenFile(valid.encode()[: draw(st.integers(0, len(valid)))], kind, False)
    if kind == "syntax":
        lines = valid.split("\n")
        i = draw(st.integers(0, len(lines) - 1))
        junk = draw(
            st.sampled_from(
                ["  : :", "- [", "{", "key: 'unterminated", "\t- tab", "&a *b", "? ? ?", "%YAML 9"]
            )
        )
        lines.insert(i, junk)
        return BrokenFile("\n".join(lines).encode(), kind, False)
    # YAML tags the safe loader refuses or turns into odd types
    tag = draw(
        st.sampled_from(
            [
                "!!python/object:os.system",
                "!!binary aGk=",
                "!!set {a, b}",
                "!!timestamp 2001-12-14",
                "!custom 1",
                "!!float 1e999",
                "!!omap [a: 1]",
                "!!python/name:os.system",
            ]
        )
    )
    text = valid.replace("help: generated", f"help: {tag}", 1)
    return BrokenFile(text.encode(), kind, "help: " + tag != "help: generated")


# ---- field values ------------------------------------------------------------------------------------------

DIGIT_LOOKALIKES = "٠١٢٣٤٥٦٧٨٩０１２３４５６７８９¹²³⁴"


def value_texts(lo: int, hi: int, names: list[str]) -> st.SearchStrategy[str]:
    """What a person (or a fuzzer) might type for a field whose range is lo..hi."""
    out_of_range = st.one_of(st.integers(hi + 1, hi + 2 + 10**40), st.integers(-(10**40), -1))
    numbers = st.one_of(out_of_range, st.integers(lo, hi), st.integers(0, 2**70))
    spelled = st.one_of(
        numbers.map(str),
        numbers.map(lambda v: hex(v) if v >= 0 else "-" + hex(-v)),
        numbers.map(lambda v: f"0X{v:X}" if v >= 0 else f"-0X{-v:X}"),
        numbers.map(lambda v: f"{v:_}"),
        numbers.map(lambda v: f"{v}e0"),
        numbers.map(lambda v: f"+{v}"),
        numbers.map(lambda v: f" {v}\t"),
        numbers.map(lambda v: f"0o{v:o}" if v >= 0 else str(v)),
        numbers.map(lambda v: f"0b{v:b}" if v >= 0 else str(v)),
        numbers.map(lambda v: f"{v}h"),
        numbers.map(lambda v: f"{v}.0"),
    )
    return st.one_of(
        spelled,
        st.sampled_from(
            [
                "",
                " ",
                "0x",
                "0x-1",
                "-",
                "--1",
                "1-",
                "0xg",
                "nan",
                "inf",
                "-0",
                "00",
                "0x00",
                "true",
                "false",
                "on",
                "yes",
                "=",
                "==1",
                "1=2",
                "None",
                "\x00",
                "1\n2",
                "\u2028",
            ]
        ),
        st.text(DIGIT_LOOKALIKES, min_size=1, max_size=4),
        st.text(max_size=10),
        st.sampled_from(names or ["none"]).map(lambda n: n.upper() if len(n) % 2 else n),
        st.sampled_from(names or ["none"]).map(lambda n: n + "x"),
    )


# ---- CLI argument vectors --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Paths:
    """Files in a temporary folder the CLI vectors may name (never the user's files)."""

    good_catalogue: str
    bad_catalogue: str
    missing: str
    directory: str
    data_512: str
    data_odd: str
    out_file: str
    good_script: str
    bad_script: str


def argv_vectors(paths: Paths, command_ids: list[str]) -> st.SearchStrategy[list[str]]:
    devices = st.sampled_from(
        [
            "sim0",
            "sim0n1",
            "sim0n2",
            "/dev/sim0n1",
            "sim1n1",
            "ng9n9",
            "/dev/nvme9",
            "nvme9n1",
            "",
            "-",
            "../sim0n1",
            "sim0n1\n",
        ]
    )
    numbers = st.one_of(
        st.integers(-(10**20), 10**20).map(str),
        st.sampled_from(
            ["0", "1", "4096", "0x1000", "0x", "1e3", "-0", "four", "", "nan", "inf", "0.5", "1_0"]
        ),
    )
    files = st.sampled_from(
        [
            paths.good_catalogue,
            paths.bad_catalogue,
            paths.missing,
            paths.directory,
            paths.data_512,
            paths.data_odd,
            paths.good_script,
            paths.bad_script,
            "",
        ]
    )
    commands = st.one_of(
        st.sampled_from(command_ids), st.sampled_from(["IDENTIFY", "idnetify", "", "x" * 300])
    )
    field_arg = st.builds(
        lambda name, value: f"{name}={value}",
        st.sampled_from(
            ["cns", "nsid", "slba", "nlb", "lid", "numd", "fid", "sel", "opcode", "cdw10", "zsa", "x"]
        ),
        numbers,
    ) | st.sampled_from(["cns", "=1", "==", "cns=", "cns=controller", "lid=smart", "opcode=0x80"])
    send_opts = st.lists(
        st.one_of(
            st.tuples(st.just("--data-len"), numbers),
            st.tuples(st.just("--data-in"), files),
            st.tuples(
                st.just("--data-out"),
                st.sampled_from([paths.out_file, paths.directory, paths.missing + "/x"]),
            ),
            st.tuples(st.just("--backend"), st.sampled_from(["sim", "uring", "ioctl", "tcp", ""])),
            st.tuples(st.just("--catalogue"), files),
            st.just(("--json",)),
            st.just(("--allow-destructive",)),
            st.just(("--data-len",)),  # a value missing
            st.just(("--bogus",)),
        ),
        max_size=4,
    ).map(lambda groups: [a for g in groups for a in g])
    send = st.builds(
        lambda dev, cmd, fields, opts: ["send", dev, cmd, *fields, *opts],
        devices,
        commands,
        st.lists(field_arg, max_size=4),
        send_opts,
    )
    run = st.builds(
        lambda script, opts: ["run", script, *opts],
        files,
        st.lists(
            st.one_of(
                st.tuples(st.just("--device"), devices),
                st.tuples(st.just("--backend"), st.sampled_from(["sim", "uring", "x"])),
                st.just(("--json",)),
                st.just(("--allow-destructive",)),
                st.tuples(st.just("--catalogue"), files),
            ),
            max_size=3,
        ).map(lambda groups: [a for g in groups for a in g]),
    )
    # bench: always one option out of range, so no vector starts a real load (the destructive tests run
    # the bench itself).
    bench_bad = st.sampled_from(
        [
            ("--qd", "0"),
            ("--qd", "65537"),
            ("--bs", "-1"),
            ("--seconds", "0"),
            ("--seconds", "nan"),
            ("--rw", "trim"),
            ("--bs", "0x1g"),
            ("--qd", "many"),
            ("--seconds", "-5"),
        ]
    )
    bench = st.builds(
        lambda dev, bad, extra: ["bench", dev, *bad, *extra],
        devices,
        bench_bad,
        st.lists(st.sampled_from(["--json", "--allow-destructive", "--poll", "--fixed-buffers"]), max_size=2),
    )
    catalogue = st.one_of(
        st.builds(lambda f: ["catalogue", "check", f], files),
        st.builds(
            lambda f, j: ["catalogue", "list", "--catalogue", f, *j], files, st.sampled_from([[], ["--json"]])
        ),
        st.just(["catalogue"]),
        st.just(["catalogue", "frobnicate"]),
    )
    misc = st.one_of(
        st.just(["list", "--json", "--extra"]),
        st.lists(st.text(max_size=8), min_size=1, max_size=4),
        st.lists(
            st.sampled_from(
                [
                    "send",
                    "run",
                    "bench",
                    "list",
                    "catalogue",
                    "--json",
                    "--device",
                    "sim0n1",
                    "--catalogue",
                    "--backend",
                    "sim",
                    "-h",
                    "--version",
                    "--",
                    "identify",
                ]
            ),
            min_size=1,
            max_size=5,
        ),
    )
    return st.one_of(send, send, run, bench, catalogue, misc)


# ---- command scripts -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BrokenScript:
    content: bytes
    kind: str
    reachable_commands: bool  # whether the fault leaves every step valid up to the faulty one


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@st.composite
def broken_scripts(draw: st.DrawFn) -> BrokenScript:
    """A command script with one fault: wrong or missing version, bad base64, unknown commands or fields,
    out-of-range values, wrong types, unknown keys, or not a script at all."""
    steps: list[dict[str, Any]] = [
        {
            "command": "identify",
            "fields": {"cns": 1},
            "expect": {"sct": 0, "sc": 0, "name": "Successful Completion"},
        },
        {"command": "get-log-page", "fields": {"lid": 2, "numd": 128}},
        {"command": "read", "fields": {"slba": 0, "nlb": 1}},
    ]
    doc: dict[str, Any] = {"nvtui-script": 1, "device": "sim0n1", "steps": steps}
    kind = draw(
        st.sampled_from(
            [
                "version",
                "no-version",
                "base64",
                "unknown-command",
                "unknown-field",
                "range",
                "step-type",
                "unknown-key",
                "expect",
                "steps-type",
                "not-mapping",
                "data-len",
                "duplicate-key",
                "garbage",
            ]
        )
    )
    i = draw(st.integers(0, len(steps) - 1))
    if kind == "version":
        doc["nvtui-script"] = draw(ANY_VALUE.filter(lambda v: not (v in (1, 2) and type(v) is int)))
    elif kind == "no-version":
        del doc["nvtui-script"]
    elif kind == "base64":
        good = _b64(draw(st.binary(min_size=1, max_size=64)))
        at = draw(st.integers(0, len(good)))
        steps[i]["data"] = (
            good[:at] + draw(st.sampled_from(["!", "*", "=", "===", "é", "-", "_", " x"])) + good[at:]
        )
    elif kind == "unknown-command":
        steps[i]["command"] = draw(
            st.text(min_size=1, max_size=20).filter(lambda s: s.strip().lower() not in KNOWN_COMMANDS)
            | st.sampled_from(["format", "identify-controller", "smart-health-log", "readd"])
        )
    elif kind == "unknown-field":
        steps[i]["fields"]["zz" + draw(st.text(string.ascii_lowercase, max_size=6))] = draw(st.integers(0, 9))
    elif kind == "range":
        field = next(iter(steps[i]["fields"]))
        steps[i]["fields"][field] = draw(
            st.one_of(
                st.integers(2**64, 10**30),
                st.integers(-(10**30), -1),
                st.sampled_from(["0x", "twelve", "1e9", "0x1ffffffffffffffff"]),
            )
        )
    elif kind == "step-type":
        key = draw(st.sampled_from(["command", "fields", "data", "note", "data_len"]))
        kinds: dict[str, Any] = {"command": str, "fields": dict, "data": str, "note": str, "data_len": int}
        steps[i][key] = draw(
            not_a(kinds[key]).filter(lambda v: v is not None or key in ("command", "fields"))
        )
        if key == "data_len" and isinstance(steps[i][key], float) and steps[i][key].is_integer():
            steps[i][key] = "x"  # pydantic takes 4096.0 as 4096
    elif kind == "unknown-key":
        (steps[i] if draw(st.booleans()) else doc)[
            "zz" + draw(st.text(string.ascii_lowercase, max_size=6))
        ] = 1
    elif kind == "expect":
        steps[i]["expect"] = draw(
            st.one_of(
                st.fixed_dictionaries({"sct": st.integers(8, 10**20), "sc": st.integers(0, 255)}),
                st.fixed_dictionaries({"sct": st.integers(0, 7), "sc": st.integers(256, 10**20)}),
                st.fixed_dictionaries({"sct": st.integers(-(10**9), -1), "sc": st.just(0)}),
                st.fixed_dictionaries({"sc": st.just(0)}),
                not_a(dict).filter(lambda v: v is not None),
            )
        )
    elif kind == "steps-type":
        doc["steps"] = draw(not_a(list).filter(lambda v: v is not None and v != {}))
    elif kind == "not-mapping":
        return BrokenScript(_dump(draw(not_a(dict))).encode(), kind, False)
    elif kind == "data-len":
        steps[i]["data_len"] = draw(st.one_of(st.integers(2**32, 10**20), st.integers(-(10**9), -1)))
    elif kind == "duplicate-key":
        text = _dump(doc)
        text = text.replace("device: sim0n1\n", "device: sim0n1\ndevice: sim0n2\n", 1)
        return BrokenScript(text.encode(), kind, False)
    else:
        raw = _dump(doc).encode()
        at = draw(st.integers(0, len(raw)))
        return BrokenScript(
            raw[:at] + draw(st.sampled_from([b"\xff\xfe", b"\x00", b"\xc3(", b"\x07"])) + raw[at:],
            kind,
            False,
        )
    return BrokenScript(_dump(doc).encode(), kind, True)


# ---- issue 9: huge numbers, YAML tags, YAML 1.1 spellings, self-overlapping fields, redefinitions ----------


def _huge(n: int, first: str, hexa: bool) -> str:
    """A number of `n` significant digits (never fewer than 41: more than any value nvtui takes)."""
    body = (first + "0123456789abcdef"[: 16 if hexa else 10] * (n // 10 + 1))[:n]
    return "0x" + body if hexa else body.translate(str.maketrans("abcdef", "123456"))


HUGE_NUMBERS = st.builds(
    lambda n, first, hexa, zeros: (
        ("0x" + "0" * zeros + _huge(n, first, True)[2:]) if hexa else "0" * zeros + _huge(n, first, False)
    ),
    st.one_of(st.integers(41, 200), st.integers(4000, 6000)),
    st.sampled_from("123456789"),
    st.booleans(),
    st.integers(0, 3),
)


@dataclass(frozen=True)
class PlantedFile:
    """A catalogue or script with one planted fault and the line and field its one error must name."""

    content: bytes
    kind: str
    line: int  # 1-based
    field: str  # dotted path, as errors show it ("" when the error names no field); in an entry: from it
    entry: str = ""  # the entry the error names (catalogues)


SENTINEL = "zqplantedzq"


def _plant(doc: Any, value: str) -> tuple[str, int]:
    """`doc` dumped with the sentinel replaced by `value` (plain YAML), and the 1-based line it is on."""
    text = _dump(doc)
    lines = _lines_of(text)
    (i,) = [n for n, line in enumerate(lines) if SENTINEL in line]
    return text.replace(SENTINEL, value), i + 1


@st.composite
def huge_number_catalogues(draw: st.DrawFn) -> PlantedFile:
    """A valid catalogue with one number (an opcode, a default, a bound, a named value, a length, a key)
    replaced by one too long for any field."""
    entries = [_entry(0), _io_entry(1)]
    k = draw(st.integers(0, 1))
    e = entries[k]
    where = draw(st.sampled_from(["opcode", "default", "max", "values", "length", "sizes-key"]))
    if where == "opcode":
        e["opcode"] = SENTINEL
        path = "opcode"
    elif where in ("default", "max"):
        j = draw(st.integers(0, len(e["fields"]) - 1))
        e["fields"][j][where] = SENTINEL
        path = f"fields[{j}].{where}"
    elif where == "values":
        e = entries[0]
        k = 0
        e["fields"][0]["values"]["smart"] = SENTINEL
        path = "fields[0].values.smart"
    elif where == "length":
        e["data"]["length"] = SENTINEL
        path = "data.length"
    else:
        e = entries[0]
        k = 0
        e["data"]["length"] = {"by": "f0", "sizes": {SENTINEL: 512}}
        path = "data.length.sizes"
    huge = draw(HUGE_NUMBERS)
    if where == "sizes-key":
        huge = huge[:200]  # a plain YAML key is at most 1,024 characters (a longer one is a syntax error)
    text, line = _plant({"version": 1, "commands": entries}, huge)
    return PlantedFile(text.encode(), f"huge {where}", line, path, e["id"])


@st.composite
def huge_number_scripts(draw: st.DrawFn) -> PlantedFile:
    """A valid script with one number too long: a field value (plain, or quoted: then it is a word the
    field's own rule refuses at replay), a data length or an expected status."""
    steps: list[dict[str, Any]] = [
        {"command": "identify", "fields": {"cns": 1}},
        {"command": "read", "fields": {"slba": 0, "nlb": 1}, "expect": {"sct": 0, "sc": 0}},
    ]
    where = draw(st.sampled_from(["field", "quoted-field", "data_len", "expect"]))
    huge = draw(HUGE_NUMBERS)
    if where in ("field", "quoted-field"):
        steps[1]["fields"]["slba"] = SENTINEL
        path = "steps[1].fields.slba"
        if where == "quoted-field":
            huge = f"'{huge}'"
            path = "slba"  # named by the step's replay: `FILE:LINE: step 2 (read): field slba: ...`
    elif where == "data_len":
        steps[1]["data_len"] = SENTINEL
        path = "steps[1].data_len"
    else:
        steps[1]["expect"]["sc"] = SENTINEL
        path = "steps[1].expect.sc"
    text, line = _plant({"nvtui-script": 1, "device": "sim0n1", "steps": steps}, huge)
    if where == "quoted-field":
        line = _lines_of(text).index("- command: read") + 1  # the step's own line
        return PlantedFile(text.encode(), f"huge {where}", line, path, "step 2 (read)")
    return PlantedFile(text.encode(), f"huge {where}", line, path)


YAML_TAGS = st.one_of(
    st.sampled_from(
        [
            "!!int 'zz'",
            "!!bool maybe",
            "!!int 12",
            "!!str 12",
            "!!float 1e9",
            "!!null ''",
            "!!binary aGk=",
            "!!timestamp 2001-12-14",
            "!!python/object/apply:os.system ['true']",
            "!!python/name:os.system",
            "!!python/tuple [1]",
            "!!set {a, b}",
            "!!omap [a: 1]",
            "! 7",
            "!<tag:yaml.org,2002:int> 7",
            "!!map {a: 1}",
            "!!seq [1]",
        ]
    ),
    st.builds(
        lambda name, v: f"!{name} {v}",
        st.text(string.ascii_letters, min_size=1, max_size=8),
        st.integers(0, 99),
    ),
)


@st.composite
def tagged_files(draw: st.DrawFn) -> tuple[str, PlantedFile]:
    """A catalogue or a script with one explicit tag on one value: ("catalogue"|"script", file)."""
    kind = draw(st.sampled_from(["catalogue", "script"]))
    if kind == "catalogue":
        entries = [_entry(0), _io_entry(1)]
        e = draw(st.sampled_from(entries))
        spot = draw(st.sampled_from(["help", "opcode", "default", "name", "data"]))
        if spot == "default":
            e["fields"][0]["default"] = SENTINEL
        elif spot == "data":
            e["data"]["direction"] = SENTINEL
        else:
            e[spot] = SENTINEL
        doc: Any = {"version": 1, "commands": entries}
    else:
        steps: list[dict[str, Any]] = [{"command": "identify", "fields": {"cns": 1}}]
        spot = draw(st.sampled_from(["field", "command", "note", "device"]))
        if spot == "field":
            steps[0]["fields"]["cns"] = SENTINEL
        elif spot == "command":
            steps[0]["command"] = SENTINEL
        elif spot == "note":
            steps[0]["note"] = SENTINEL
        doc = {"nvtui-script": 1, "device": SENTINEL if spot == "device" else "sim0", "steps": steps}
    text, line = _plant(doc, draw(YAML_TAGS))
    return kind, PlantedFile(text.encode(), f"tag in {kind} {spot}", line, "")


# What YAML 1.1 types a plain scalar as (and nvtui, reading files like its command line, does not).
YAML11_SPELLINGS = st.one_of(
    st.sampled_from(
        [
            "010",
            "0010",
            "07",
            "08",
            "0",
            "00",
            "1:00",
            "1:30:00",
            "-1:00",
            "0b11",
            "0b0",
            "0o17",
            "0x1F",
            "0X1f",
            "1_000",
            "0x_1F",
            "+5",
            "+0x10",
            "-0",
            "1e3",
            "1.0",
            ".5",
            "1.5e3",
            ".inf",
            ".nan",
            "yes",
            "no",
            "on",
            "off",
            "y",
            "n",
            "Y",
            "N",
            "Yes",
            "NO",
            "On",
            "OFF",
            "true",
            "false",
            "True",
            "FALSE",
            "~",
            "null",
            "2024-01-01",
            "2001-12-14t21:59:43.10-05:00",
            "=",
            "<<",
        ]
    ),
    st.builds(lambda v: f"0{v:o}", st.integers(1, 4096)),
    st.builds(lambda v: f"0{v}", st.integers(0, 10**6)),
    st.builds(lambda h, m: f"{h}:{m:02d}", st.integers(1, 99), st.integers(0, 59)),
    st.builds(lambda v: f"0b{v:b}", st.integers(0, 4096)),
    st.builds(lambda v: f"{v:_}", st.integers(1000, 10**9)),
)


@st.composite
def self_overlapping_fields(draw: st.DrawFn) -> tuple[bytes, list[str], bool, int]:
    """A catalogue whose entry has one split field of 2-3 slices (some overlapping one another, some not):
    (file, the slices, whether two of them share a bit, the 1-based line of that field)."""

    def piece() -> str:
        dw = draw(st.sampled_from(["cdw10", "cdw11", "cdw12"]))
        if draw(st.integers(0, 9)) == 0:
            return {"cdw10": "cdw10-11", "cdw11": "cdw11-12", "cdw12": "cdw12-13"}[dw]
        lsb = draw(st.integers(0, 31))
        msb = draw(st.integers(lsb, min(31, lsb + 7)))
        return f"{dw}[{msb}:{lsb}]" if msb != lsb else f"{dw}[{msb}]"

    slices = [piece() for _ in range(draw(st.integers(2, 3)))]
    entry = {
        "id": "fuzz-split", "name": "Fuzz split", "set": "vendor", "opcode": 0xC4, "queue": "admin",
        "help": "generated", "destructive": False, "fields": [{"name": "x", "at": slices}],
    }  # fmt: skip
    text = _dump({"version": 1, "commands": [entry]})
    line = _lines_of(text).index("  - name: x") + 1
    return text.encode(), slices, _slices_overlap(slices), line


def _bits(slice_text: str) -> set[tuple[int, int]]:
    """(dword number, bit) of each bit a location covers, worked out here independently of nvtui."""
    span = re.fullmatch(r"cdw(\d+)-(\d+)", slice_text)
    if span:
        return {(int(span[1]), b) for b in range(32)} | {(int(span[2]), b) for b in range(32)}
    m = re.fullmatch(r"cdw(\d+)\[(\d+)(?::(\d+))?\]", slice_text)
    assert m, slice_text
    hi, lo = int(m[2]), int(m[3] if m[3] is not None else m[2])
    return {(int(m[1]), b) for b in range(lo, hi + 1)}


def _slices_overlap(slices: list[str]) -> bool:
    seen: set[tuple[int, int]] = set()
    for s in slices:
        bits = _bits(s)
        if bits & seen:
            return True
        seen |= bits
    return False


@dataclass(frozen=True)
class RedefiningCatalogue:
    content: bytes
    entries: list[dict[str, Any]]


@st.composite
def redefining_catalogues(draw: st.DrawFn, builtin: list[Any]) -> RedefiningCatalogue:
    """A user catalogue of 1-4 entries that redefine built-in commands, as a careless or hostile user might:
    a built-in id, another built-in's opcode, or a new id on a standard opcode; `destructive:` said false,
    true, unsaid or in a YAML 1.1 spelling; `refused:` dropped; the vendor set claimed; aliases borrowed."""
    entries: list[dict[str, Any]] = []
    for n in range(draw(st.integers(1, 4))):
        base = draw(st.sampled_from(builtin))
        same_queue = [b for b in builtin if b.queue == base.queue]
        opcode = draw(
            st.one_of(
                st.just(base.opcode),
                st.sampled_from(same_queue).map(lambda b: b.opcode),
                st.integers(0, 0xFF),
            )
        )
        ident = draw(
            st.one_of(
                st.just(base.id),
                st.sampled_from(builtin).map(lambda b: b.id),
                st.just(f"user-{n}-{opcode:02x}"),
            )
        )
        direction = ("none", "write", "read", "bidirectional")[opcode & 3]
        entry: dict[str, Any] = {
            "id": ident, "name": f"User {ident}", "set": draw(st.sampled_from(["vendor", base.set])),
            "opcode": opcode, "queue": base.queue, "help": "a user's redefinition",
            "data": {"direction": direction, **({"length": "optional"} if direction != "none" else {})},
        }  # fmt: skip
        said = draw(st.sampled_from(["false", "true", "unsaid", "no", "off"]))
        if said in ("false", "true"):
            entry["destructive"] = said == "true"
        elif said != "unsaid":
            entry["destructive"] = said  # a YAML 1.1 boolean: a word now, refused by the schema
        if draw(st.booleans()):
            entry["refused"] = "the user's reason"
        if draw(st.integers(0, 3)) == 0:
            entry["aliases"] = [draw(st.sampled_from(builtin)).id]
        entries.append(entry)
    return RedefiningCatalogue(_dump({"version": 1, "commands": entries}).encode(), entries)


# ---- structure layouts -------------------------------------------------------------------------------------

# Faults a layout can have, each breaking one field (or the structure's id/size).
STRUCTURE_FAULTS = (
    "overlap", "past-size", "unknown-type", "unknown-unit", "missing-count-field", "unknown-of", "bits-order",
    "bits-past-integer", "enum-without-values", "duplicate-name", "no-size", "negative-at", "string-at",
    "flag-bit-outside", "bad-name", "unknown-key", "unknown-meaning", "zero-stride",
)  # fmt: skip


@dataclass(frozen=True)
class BrokenLayout:
    content: bytes
    fault: str
    line: int  # the 1-based line of the broken field (or structure key) an error must point at
    structure: str


def _flow(item: dict[str, Any]) -> str:
    """A one-line YAML flow mapping (so each field is exactly one line of the file)."""
    parts = []
    for key, value in item.items():
        if isinstance(value, dict):
            inner = ", ".join(f"{k}: {v}" for k, v in value.items())
            parts.append(f"{key}: {{{inner}}}")
        else:
            parts.append(f"{key}: {value}")
    return "{" + ", ".join(parts) + "}"


@st.composite
def broken_layouts(draw: st.DrawFn) -> BrokenLayout:
    """A file of 1-3 structures (in a user catalogue's `structures:` section), one of them with one fault,
    and the line its error must name."""
    n = draw(st.integers(1, 3))
    broken = draw(st.integers(0, n - 1))
    fault = draw(st.sampled_from(STRUCTURE_FAULTS))
    lines = ["version: 1", "commands: []", "structures:"]
    target_line = 0
    target_id = ""
    for k in range(n):
        sid = f"fuzz-layout-{k}"
        size = draw(st.sampled_from([8, 16, 64]))
        fields: list[dict[str, Any]] = [
            {"name": "a", "at": 0, "size": 4},
            {
                "name": "b",
                "at": 4,
                "size": 1,
                "bits": '"3:0"',
                "type": "enum",
                "values": {0: "zero", 1: "one"},
            },
            {"name": "c", "at": 4, "size": 1, "bits": '"7:4"', "type": "flags", "values": {0: "x", 3: "y"}},
            {"name": "n", "at": 5, "size": 1},
        ]
        if size >= 16:
            fields.append({"name": "items", "at": 8, "type": "array", "of": "fuzz-element", "stride": 4,
                           "count": {"field": "n", "max": (size - 8) // 4}})  # fmt: skip
        which = len(fields) - 1
        if k == broken:
            target_id = sid
            which = draw(st.integers(0, len(fields) - 1))
            f = dict(fields[which])
            if fault == "overlap":
                f = {"name": "z", "at": draw(st.integers(0, 3)), "size": 2}
                fields.append(f)
                which = len(fields) - 1
            elif fault == "past-size":
                f = {"name": "z", "at": size - draw(st.integers(0, 1)), "size": 2}
                fields.append(f)
                which = len(fields) - 1
            elif fault == "unknown-type":
                f["type"] = draw(st.sampled_from(["float", "string", "u32", "list"]))
            elif fault == "unknown-unit":
                f = {
                    "name": "a",
                    "at": 0,
                    "size": 4,
                    "unit": draw(st.sampled_from(["celsius", "furlongs", "kb"])),
                }
            elif fault == "missing-count-field":
                f = {"name": "items2", "at": 8, "type": "array", "of": "fuzz-element", "stride": 4,
                     "count": {"field": draw(st.sampled_from(["nope", "later", "cnt"]))}}  # fmt: skip
                fields = [fd for fd in fields if fd["name"] != "items"] + [f]
                which = len(fields) - 1
            elif fault == "unknown-of":
                f = {
                    "name": "s",
                    "at": 8,
                    "type": "struct",
                    "of": draw(st.sampled_from(["nowhere", "no-such-thing"])),
                }
                fields = [fd for fd in fields if fd["name"] != "items"] + [f]
                which = len(fields) - 1
            elif fault == "bits-order":
                f = {"name": "b", "at": 4, "size": 1, "bits": '"0:3"'}
                fields[1] = f
                which = 1
            elif fault == "bits-past-integer":
                f = {"name": "b", "at": 4, "size": 1, "bits": f'"{draw(st.integers(8, 40))}:0"'}
                fields[1] = f
                which = 1
            elif fault == "enum-without-values":
                f = {"name": "b", "at": 4, "size": 1, "bits": '"3:0"', "type": "enum"}
                fields[1] = f
                which = 1
            elif fault == "duplicate-name":
                f = dict(fields[3])
                f["name"] = "a"
                fields[3] = f
                which = 3
            elif fault == "no-size":
                f = {"name": "a", "at": 0}
                fields[0] = f
                which = 0
            elif fault == "negative-at":
                f["at"] = -draw(st.integers(1, 100))
            elif fault == "string-at":
                f["at"] = draw(st.sampled_from(["zero", '"4"', "cdw10"]))
            elif fault == "flag-bit-outside":
                f = {"name": "c", "at": 4, "size": 1, "bits": '"7:4"', "type": "flags",
                     "values": {draw(st.integers(4, 60)): "far"}}  # fmt: skip
                fields[2] = f
                which = 2
            elif fault == "bad-name":
                f["name"] = draw(st.sampled_from(["Bad", "with-dash", "9lives", '"two words"']))
            elif fault == "unknown-key":
                f[draw(st.sampled_from(["widht", "offset", "type_", "units"]))] = 1
            elif fault == "unknown-meaning":
                f = {"name": "a", "at": 0, "size": 4, "meaning": draw(st.sampled_from(["nope", "kelvinish"]))}
                fields[0] = f
                which = 0
            elif fault == "zero-stride":
                f = {
                    "name": "items2",
                    "at": 8,
                    "type": "array",
                    "of": "fuzz-element",
                    "stride": 0,
                    "count": 1,
                }
                fields = [fd for fd in fields if fd["name"] != "items"] + [f]
                which = len(fields) - 1
            if which < len(fields) and fields[which] is not f:
                fields[which] = f
        lines += [f"  - id: {sid}", f"    name: Fuzz layout {k}", "    spec: generated", f"    size: {size}",
                  "    fields:"]  # fmt: skip
        for i, fd in enumerate(fields):
            if k == broken and i == which:
                target_line = len(lines) + 1
            lines.append(f"      - {_flow(fd)}")
    element = ["  - id: fuzz-element", "    name: element", "    spec: generated", "    size: 4"]
    lines += [*element, "    fields:", "      - {name: v, at: 0, size: 4}"]
    return BrokenLayout(("\n".join(lines) + "\n").encode(), fault, target_line, target_id)
