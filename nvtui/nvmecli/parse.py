"""An nvme-cli command line -> the nvtui command it means (`parse_nvme_cli`).

Parsing follows nvme-cli 2.x (getopt_long through its argconfig): `--opt=v` and `--opt v`, short flags `-n 1`,
`-n1` and bundled `-rb`, options before or after the device, `--` ending the options; numbers in decimal,
`0x` hex or `0` octal, as strtoul(…, 0) reads them. Each verb's options and where they go are data
(`nvtui.nvmecli.table`). Nothing is sent here: the result names the device, the catalogue entry, the field
values and the data options, and `nvtui.nvmecli.session.prepare_imported` turns it into a prepared command.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from nvtui.catalogue.model import Catalogue
from nvtui.errors import UsageError
from nvtui.nvmecli.table import BITS, FILE, FLAG, FMT, LIST, STR, Opt, Verb, verb_index

__all__ = ["DataOptions", "ImportedCommand", "parse_nvme_cli", "split_line"]

MAX_LINE = 64 * 1024  # a pasted line is read with a bound, like every input
_PROGRAMS = ("nvme", "/usr/sbin/nvme", "/sbin/nvme", "/usr/bin/nvme", "/usr/local/sbin/nvme")
_NUMBER = re.compile(r"^(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$")


@dataclass(frozen=True)
class DataOptions:
    """How the data moves, as the nvme-cli line said it."""

    data_in: Path | None = None  # file the data sent comes from
    data_out: Path | None = None  # file the data read goes to
    data_size: int | None = None  # nvme-cli's --data-size: bytes taken from data_in / written to data_out
    data_len: int | None = None  # an explicit transfer length (passthru, features)
    data: bytes | None = None  # data built from the options (DSM ranges, reservation keys, ...)
    timeout_ms: int | None = None
    metadata_size: int | None = None


@dataclass(frozen=True)
class Display:
    """nvme-cli's printing options, as nvtui honours them."""

    json: bool = False  # -o json
    binary: bool = False  # -b / -o binary: the data, raw, on standard output
    dry_run: bool = False  # print the command, send nothing
    show_command: bool = False  # print the command, then send it


@dataclass(frozen=True)
class ImportedCommand:
    """What an nvme-cli line means to nvtui: `device`, `command` (a catalogue id), `values` (field values;
    an nsid left out takes the device's, see `nsid_rule`), `options` (data, timeout) and `display`."""

    line: str
    verb: str
    device: str
    command: str
    values: dict[str, int]
    options: DataOptions = DataOptions()
    display: Display = Display()
    nsid_rule: str = ""  # "device-or-all": the opened namespace's ID, or all (0xffffffff) on a controller
    notes: tuple[str, ...] = ()  # how this one command differs from what nvme-cli does around it
    direction_flags: tuple[str, ...] = field(default=(), repr=False)


def split_line(line: str) -> list[str]:
    """Shell words of a pasted line (quotes honoured; no expansion); UsageError when it cannot be split."""
    import shlex

    if len(line) > MAX_LINE:
        raise UsageError(f"nvme-cli line: longer than {MAX_LINE} characters")
    try:
        words = shlex.split(line, comments=False)
    except ValueError as exc:
        raise UsageError(f"nvme-cli line: {exc}") from None
    while words and words[0] in ("sudo", "doas", "exec", "command"):
        words.pop(0)
    if not words:
        raise UsageError("nvme-cli line: empty")
    if words[0] not in _PROGRAMS and Path(words[0]).name != "nvme":
        raise UsageError(f"nvme-cli line: expected it to start with nvme, not {words[0]!r}")
    return words[1:]


def _find_verb(words: list[str]) -> tuple[Verb, list[str]]:
    index = verb_index()
    if not words:
        raise UsageError("nvme-cli line: no verb after nvme")
    for n in (
        2,
        1,
    ):  # plugin verbs and nvme-cli 3.0's groups take two words ("zns report-zones", "log smart")
        if len(words) >= n and " ".join(words[:n]) in index:
            return index[" ".join(words[:n])], words[n:]
    from nvtui.catalogue.model import close_matches

    typed = " ".join(words[:2]) if words[0] in ("zns", "fdp", "log") else words[0]
    close = close_matches(typed, sorted(index), n=3)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    raise UsageError(f"nvme-cli verb {typed!r} is not one nvtui maps{hint}")


def _number(opt: Opt, text: str) -> int:
    t = text.strip()
    if not _NUMBER.match(t):
        raise UsageError(
            f"--{opt.long}: {text!r} is not a number (decimal, 0x-hex or 0-octal, as nvme-cli reads)"
        )
    value = int(t, 16) if t[:2] in ("0x", "0X") else int(t, 8) if len(t) > 1 and t[0] == "0" else int(t)
    bits = BITS[opt.kind]
    if value >= 1 << bits:
        raise UsageError(f"--{opt.long}: {text} does not fit in {bits} bits (nvme-cli would refuse it too)")
    return value


def _numbers(opt: Opt, text: str) -> list[int]:
    if not text.strip():
        return []
    out = []
    for part in text.split(","):
        t = part.strip()
        if not _NUMBER.match(t):
            raise UsageError(f"--{opt.long}: {part!r} in the list is not a number")
        out.append(
            int(t, 0) if t[:2].lower() == "0x" else int(t, 8) if len(t) > 1 and t[0] == "0" else int(t)
        )
    if len(out) > 256:
        raise UsageError(f"--{opt.long}: more than 256 values")
    return out


@dataclass
class _Given:
    """Options as given: value by target, in the order seen."""

    fields: dict[str, int] = field(default_factory=dict)
    build: dict[str, object] = field(default_factory=dict)
    send: dict[str, object] = field(default_factory=dict)
    show: dict[str, object] = field(default_factory=dict)
    device: str | None = None


def _parse_options(verb: Verb, words: list[str]) -> _Given:
    longs = {o.long: o for o in verb.options}
    shorts = {o.short: o for o in verb.options if o.short}
    given = _Given()
    seen: set[str] = set()
    positional: list[str] = []
    i = 0

    def take(opt: Opt, inline: str | None) -> None:
        nonlocal i
        if opt.long in seen:
            raise UsageError(f"--{opt.long} given twice")
        seen.add(opt.long)
        if opt.kind == FLAG:
            if inline is not None:
                raise UsageError(f"--{opt.long} takes no value")
            _assign(verb, opt, True, given)
            return
        if inline is None:
            if i >= len(words):
                raise UsageError(f"--{opt.long} needs a value")
            inline = words[i]
            i += 1
        _assign(verb, opt, inline, given)

    while i < len(words):
        word = words[i]
        i += 1
        if word == "--":
            positional.extend(words[i:])
            break
        if word.startswith("--"):
            name, eq, value = word[2:].partition("=")
            opt = longs.get(name)
            if opt is None:
                raise UsageError(_unknown(verb, f"--{name}", longs))
            take(opt, value if eq else None)
        elif word.startswith("-") and len(word) > 1:
            j = 1
            while j < len(word):
                opt = shorts.get(word[j])
                if opt is None:
                    raise UsageError(_unknown(verb, f"-{word[j]}", longs))
                if opt.kind == FLAG:
                    take(opt, None)
                    j += 1
                    continue
                rest = word[j + 1 :]
                take(opt, rest.removeprefix("=") if rest else None)
                break
        else:
            positional.append(word)
    if len(positional) != 1:
        what = "no device" if not positional else f"more than one device ({', '.join(positional)})"
        raise UsageError(f"nvme {verb.name}: {what}; give exactly one, e.g. /dev/nvme0 or sim0n1")
    given.device = positional[0]
    return given


def _unknown(verb: Verb, name: str, longs: dict[str, Opt]) -> str:
    from nvtui.catalogue.model import close_matches

    close = close_matches(name.lstrip("-"), list(longs), n=2)
    hint = f"; did you mean {' or '.join('--' + c for c in close)}?" if close else ""
    return f"nvme {verb.name}: {name} is not an option of nvme-cli's {verb.name}{hint}"


def _assign(verb: Verb, opt: Opt, raw: object, given: _Given) -> None:
    if opt.kind == FLAG:
        value: object = True
    elif opt.kind in (FILE, STR):
        value = str(raw)
    elif opt.kind == FMT:
        fmt = str(raw)
        if fmt not in ("normal", "json", "binary"):
            raise UsageError(f"--{opt.long}: {fmt!r} is not normal, json or binary")
        value = fmt
    elif opt.kind == LIST:
        value = _numbers(opt, str(raw))
    else:
        value = _number(opt, str(raw))
    to = opt.to
    if to == "refuse":
        raise UsageError(f"nvme {verb.name}: nvtui cannot map --{opt.long}: {opt.note}")
    if to.startswith("refuse-"):
        ok = {"refuse-nonzero": 0, "refuse-not-3": 3}[to]
        if value not in (ok, False):
            raise UsageError(f"nvme {verb.name}: nvtui cannot map --{opt.long}={raw}: {opt.note}")
        return
    kind, dot, key = to.partition(".")
    if dot:
        {"show": given.show, "send": given.send, "build": given.build}[kind][key] = value
    else:
        given.fields[to] = _transform(verb, opt, value)


def _transform(verb: Verb, opt: Opt, value: object) -> int:
    number = 1 if value is True else int(value)  # type: ignore[call-overload]
    how = opt.how
    if how == "":
        return number
    if how == "+1":  # nvme-cli's 0-based count (--block-count) is nvtui's count
        return number + 1
    if how == "-1":  # list-ns: the list starts after nsid, nvme-cli's --namespace-id is the first to list
        if number == 0:
            raise UsageError(f"nvme {verb.name}: --{opt.long} 0: the first namespace ID to list is 1 or more")
        return number - 1
    if how == "/4":
        if number % 4:
            raise UsageError(
                f"nvme {verb.name}: --{opt.long} {number} is not a whole number of dwords (4 bytes)"
            )
        if number == 0:
            raise UsageError(f"nvme {verb.name}: --{opt.long} must be more than 0")
        return number // 4
    if how == "*16":  # error log entries: 64 bytes each
        if number == 0:
            raise UsageError(f"nvme {verb.name}: --{opt.long} must be more than 0")
        return number * 16
    if how == "zones":  # a zone report: a 64-byte header and 64 bytes per descriptor
        return (number + 1) * 16
    if how == "bool":
        return 1 if number else 0
    if how.startswith("u"):
        bits = int(how[1:])
        if number >= 1 << bits:
            raise UsageError(f"nvme {verb.name}: --{opt.long} {number} does not fit the field's {bits} bits")
        return number
    raise AssertionError(f"unknown transform {how!r}")  # the table is data checked by the tests


def parse_nvme_cli(
    line: str, catalogue: Catalogue, *, file_sizes: Mapping[str, int] | None = None
) -> ImportedCommand:
    """The nvtui command an nvme-cli line means. UsageError (one line) for anything nvtui cannot map,
    naming the option; nothing is sent and nothing is dropped. `file_sizes` stands in for files the line
    names that are not there (checking an exported line)."""
    from nvtui.nvmecli.data import build

    words = split_line(line)
    verb, rest = _find_verb(words)
    given = _parse_options(verb, rest)
    defn = catalogue.get(verb.command)
    values: dict[str, int] = {**dict(verb.defaults), **dict(verb.fixed)}
    values.update(given.fields)
    imported = ImportedCommand(
        line=line, verb=verb.name, device=_device_name(str(given.device)), command=defn.id, values=values,
        nsid_rule="device-or-all" if verb.nsid == "device-or-all" else "",
        notes=(verb.note,) if verb.note else (),
    )  # fmt: skip
    imported = _apply_send(verb, given, imported)
    if verb.builder:
        imported = build(verb, given.build, imported, catalogue, file_sizes or {})
    elif given.build:
        raise AssertionError(f"{verb.name}: build options without a builder")
    final = catalogue.get(imported.command)
    for name, value in imported.values.items():
        final.field(name).check(value)  # an unknown field or a value out of range, named, before anything
    return imported


def _device_name(device: str) -> str:
    """nvme-cli's device as nvtui opens it: a block device `/dev/nvme0n1` becomes its char device (nvtui
    maps it), simulated names pass through."""
    return device


def _apply_send(verb: Verb, given: _Given, imported: ImportedCommand) -> ImportedCommand:
    send, show = given.send, given.show
    options = DataOptions(
        data_size=_int_or_none(send.get("data_size")),
        data_len=_int_or_none(send.get("data_len")),
        timeout_ms=_int_or_none(send.get("timeout")),
        metadata_size=_int_or_none(send.get("metadata_size")),
        data_out=Path(str(send["data_out"])) if "data_out" in send else None,
    )
    if "data" in send:
        options = replace(options, data_in=Path(str(send["data"])))  # builders move it to data_out for reads
    if "metadata" in send or (options.metadata_size or 0) > 0:
        raise UsageError(
            f"nvme {verb.name}: nvtui cannot map --metadata/--metadata-size yet: it gives a namespace with "
            "separate metadata its metadata buffer itself"
        )
    fmt = show.get("format", "normal")
    display = Display(
        json=fmt == "json", binary=fmt == "binary" or bool(show.get("binary")),
        dry_run=bool(show.get("dry_run")), show_command=bool(show.get("show_command")),
    )  # fmt: skip
    return replace(imported, options=options, display=display)


def _int_or_none(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]
