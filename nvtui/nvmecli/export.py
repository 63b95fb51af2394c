"""A command nvtui sent -> the nvme-cli line an nvme-cli user would type for it (`idiomatic_line`).

The verb table (`nvtui.nvmecli.table`) is read backwards: each option whose field differs from what the
verb sends anyway is written with the inverse of its transform (nvtui's count `nlb=8` is `--block-count=7`),
data builders give their options back (`nvtui.nvmecli.data.options_for`), and the line is then parsed again
and encoded: it is offered only when it packs to the very same submission entry. Where no verb can say the
command, there is no idiomatic line and the passthrough form (`nvtui.catalogue.nvme_cli`) stands alone.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from nvtui.catalogue.model import Catalogue, CommandDef
from nvtui.errors import UsageError
from nvtui.nvme.command import Command
from nvtui.nvmecli.table import FLAG, VERBS, Opt, Verb

__all__ = ["idiomatic_line"]


def _inverse(opt: Opt, value: int) -> int | None:
    how = opt.how
    if how in ("", "bool") or how.startswith("u"):
        return value
    if how == "+1":
        return value - 1 if value >= 1 else None
    if how == "-1":
        return value + 1
    if how == "/4":
        return value * 4
    if how == "*16":
        return value // 16 if value % 16 == 0 and value else None
    if how == "zones":
        return value // 16 - 1 if value % 16 == 0 and value >= 16 else None
    return None


def _candidates(catalogue: Catalogue, defn: CommandDef, values: Mapping[str, int]) -> list[Verb]:
    """Verbs that may say this command: its own entry's first, then presets of its entry whose fixed fields
    match, then the verbs of the entry a preset names."""
    base = defn.preset_of or defn.id
    out: list[Verb] = []
    for verb in VERBS:
        if verb.command not in catalogue:
            continue
        target = catalogue.get(verb.command)
        if target.id == defn.id:
            out.insert(0, verb) if target.preset_of else out.append(verb)
        elif (
            target.preset_of == base
            and all(values.get(k) == v for k, v in dict(target.preset_fixed).items() if isinstance(v, int))
        ) or target.id == base:
            out.append(verb)
    return out


def _default(verb: Verb, target: CommandDef, name: str) -> int | None:
    fixed = {**dict(verb.defaults), **dict(verb.fixed)}
    if name in fixed:
        return fixed[name]
    try:
        return target.field(name).default
    except UsageError:
        return None


# Fields a builder sets from its own options (given back by `options_for`), and fields a verb needs on its
# line even at their catalogue default (nvme-cli refuses the line without them).
BUILDER_FIELDS: dict[str, frozenset[str]] = {
    "dsm": frozenset({"nr", "ad", "idw", "idr"}), "copy": frozenset({"nr", "desfmt"}),
    "fdp-update": frozenset({"mos"}), "resv-report": frozenset({"numd"}),
    "fw-download": frozenset({"numd"}), "id-ns-force": frozenset({"cns"}),
    "list-ns": frozenset({"cns", "csi"}), "sanitize": frozenset({"sanact"}),
    "zone-append": frozenset({"nlb"}),  # from --data-size
}  # fmt: skip
ALWAYS: dict[str, frozenset[str]] = {
    "self-test": frozenset({"stc"}), "format": frozenset({"lbaf"}), "get-feature": frozenset({"fid"}),
    "set-feature": frozenset({"fid"}), "passthru": frozenset({"opcode"}),
    # by verb: nvme-cli's own default differs from the catalogue's (found running the lines with nvme-cli):
    # get-log asks log 0xff and refuses no --log-len, effects-log without --csi reads every command set's
    # log, report-zones without --descs reports every zone
    "get-log": frozenset({"lid", "numd"}), "effects-log": frozenset({"csi"}),
    "zns report-zones": frozenset({"numd"}),
}  # fmt: skip


def _options(verb: Verb, target: CommandDef, values: Mapping[str, int]) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    owned = BUILDER_FIELDS.get(verb.builder, frozenset())
    always = ALWAYS.get(verb.builder, frozenset()) | ALWAYS.get(verb.name, frozenset())
    mapped = {o.to for o in verb.options} | owned
    for opt in verb.options:
        if opt.to.startswith(("show.", "send.", "build.", "refuse")) or opt.to not in values:
            continue
        if opt.to in owned and verb.builder in ("dsm",):
            continue  # the builder says them (dsm's attribute flags go with its ranges)
        value = values[opt.to]
        keep = opt.to in always or (opt.to == "nsid" and verb.nsid)
        # nvme-cli's options default to 0: a catalogue default that is not (rtype=1) must be said
        plain = opt.how == "" or opt.how.startswith("u")
        keep = keep or (value != 0 and plain and opt.kind != FLAG and opt.to != "nsid")
        if value == _default(verb, target, opt.to) and not keep:
            continue
        if opt.kind == FLAG:
            if value not in (0, 1):
                return None
            if value:
                out[opt.long] = True
            continue
        given = _inverse(opt, value)
        if given is None:
            return None
        out[opt.long] = given
    for name, value in values.items():  # a field no option reaches must already be what the verb sends
        if name not in mapped and value != _default(verb, target, name):
            fixed = dict(verb.fixed)
            if name not in fixed or fixed[name] != value:
                return None
    return out


def _render(verb: Verb, device: str, options: Mapping[str, Any]) -> str:
    words = ["nvme", *verb.name.split(), shlex.quote(device)]
    for name, value in options.items():
        if value is True:
            words.append(f"--{name}")
        elif isinstance(value, int):  # large values in hex (dwords, addresses), but a time is milliseconds
            big = value >= 0x10000 and name != "timeout"
            words.append(f"--{name}={value:#x}" if big else f"--{name}={value}")
        else:
            words.append(f"--{name}={shlex.quote(str(value))}")
    return " ".join(words)


def _send_options(
    verb: Verb, cmd: Command, input_file: str | None, output_file: str | None
) -> dict[str, Any]:
    longs = {o.to: o.long for o in verb.options}
    out: dict[str, Any] = {}
    if verb.builder in ("read", "write", "zone-append"):
        out[longs["send.data_size"]] = cmd.data_len
        name = (output_file or "data.bin") if verb.builder == "read" else (input_file or "data.bin")
        out[longs["send.data"]] = name
    elif verb.builder == "passthru" and cmd.data_len:
        out["data-len"] = cmd.data_len
        if cmd.direction.value & 2:
            out["read"] = True
        if cmd.direction.value & 1:
            out["write"] = True
            out["input-file"] = input_file or (
                "/dev/zero" if not cmd.data or not any(cmd.data) else "data.bin"
            )
    elif verb.builder == "fw-download":
        out["fw"] = input_file or "firmware.bin"
        if cmd.data_len > 4096:
            out["xfer"] = -(-cmd.data_len // 4096) * 4096
    elif "send.data" in longs and cmd.direction.value & 1 and cmd.data_len:
        out[longs["send.data"]] = input_file or "data.bin"
        if "send.data_len" in longs:
            out[longs["send.data_len"]] = cmd.data_len
    elif "send.data_len" in longs and cmd.data_len and verb.builder == "get-feature":
        out[longs["send.data_len"]] = cmd.data_len
    if cmd.timeout_ms and "send.timeout" in longs:
        out[longs["send.timeout"]] = cmd.timeout_ms
    return out


def idiomatic_line(
    catalogue: Catalogue,
    defn: CommandDef,
    values: Mapping[str, int],
    cmd: Command,
    device: str,
    *,
    lba_size: int | None = None,
    input_file: str | None = None,
    output_file: str | None = None,
) -> str | None:
    """The nvme-cli line with nvme-cli's own verb that sends exactly `cmd` (checked by parsing it back), or
    None when no verb says it. `device` is the device as nvme-cli names it."""
    from nvtui.nvmecli.data import options_for

    full = defn.decode_fields(cmd)
    blocks = full.get("nlb", 0) if defn.queue == "io" else 0
    if lba_size is None and blocks and cmd.data_len and cmd.data_len % blocks == 0:
        lba_size = cmd.data_len // blocks  # what a line sized in bytes (zone-append's --data-size) needs
    for verb in _candidates(catalogue, defn, full):
        target = catalogue.get(verb.command)
        options = _options(verb, target, full)
        if options is None:
            continue
        built = options_for(verb.builder, dict(full), cmd.data) if verb.builder else {}
        if built is None:
            continue
        options.update(built)
        options.update(_send_options(verb, cmd, input_file, output_file))
        line = _render(verb, device, options)
        files = {str(v): cmd.data_len for k, v in options.items() if k in ("fw",)}
        if _sends(catalogue, line, cmd, lba_size, files):
            return line
    return None


def _sends(
    catalogue: Catalogue, line: str, cmd: Command, lba_size: int | None, files: Mapping[str, int]
) -> bool:
    """Whether `line`, parsed and encoded, packs to `cmd`'s submission entry (and goes to the same queue)."""
    from nvtui.nvmecli.parse import parse_nvme_cli

    try:
        imported = parse_nvme_cli(line, catalogue, file_sizes=files)
        defn = catalogue.get(imported.command)
        values = dict(imported.values)
        if "nsid" not in values and imported.nsid_rule:
            values["nsid"] = cmd.nsid
        data = imported.options.data
        if data is None and imported.options.data_len is not None and not defn.raw:
            values = defn.derive_length(values, imported.options.data_len, lba_size)
        again = defn.encode(
            values, device_nsid=cmd.nsid, lba_size=lba_size,
            data_len=None if data is not None else _length_hint(defn, values, cmd, lba_size), data=data,
        )  # fmt: skip
    except (UsageError, OSError, ValueError):
        return False
    return again.admin == cmd.admin and again.submission_entry() == cmd.submission_entry()


def _length_hint(
    defn: CommandDef, values: Mapping[str, int], cmd: Command, lba_size: int | None
) -> int | None:
    """The data length to encode with when the fields alone do not give it (a user length, LBAs unknown)."""
    expected = defn.expected_length(values, lba_size)
    return cmd.data_len if expected.kind in ("user", "optional", "lba-unknown") else None


def nvme_cli_lines(
    catalogue: Catalogue | None,
    defn: CommandDef,
    values: Mapping[str, int],
    cmd: Command,
    device_path: str,
    *,
    input_file: str | None = None,
    output_file: str | None = None,
) -> tuple[str | None, str]:
    """(the idiomatic line or None, the passthrough line) for a command, the device named as nvme-cli names
    it (a placeholder for a simulated one). For the composer, the Result screen and `send --json`."""
    from nvtui.catalogue.nvme_cli import nvme_cli_device, nvme_cli_line

    passthru = nvme_cli_line(defn, cmd, device_path, input_file=input_file)
    if catalogue is None:
        return None, passthru
    device = nvme_cli_device(device_path)
    try:
        idiomatic = idiomatic_line(
            catalogue, defn, values, cmd, device, input_file=input_file, output_file=output_file
        )
    except Exception:  # the passthrough line always stands; an idiomatic one is a courtesy
        idiomatic = None
    return idiomatic, passthru
