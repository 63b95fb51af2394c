"""Verbs whose nvme-cli options are not plain fields: the data they build (DSM ranges, copy descriptors,
reservation keys, a controller list, a namespace's Identify structure, placement identifiers) and the few
that choose the command from their options (`id-ns --force`, `list-ns --csi/--all`). Each builder has its
inverse in `options_for`, used to write the idiomatic nvme-cli line for a command nvtui sent.

Layouts: NVM Command Set 2.0 Fig. 39 (DSM range: context attributes, length in LBAs, starting LBA) and
Fig. 30 (copy source range, format 0h); NVMe Base 2.0 Fig. 335-337 (reservation data), Fig. 300
(controller list), Fig. 279 (Identify Namespace: NSZE 0, NCAP 8, FLBAS 26, DPS 29, NMIC 30, ANAGRPID 92,
NVMSETID 100, LBSTM 104 in the NVM command set's), TP4146 (placement identifiers: 2 bytes each).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from nvtui.catalogue.model import Catalogue
from nvtui.errors import UsageError
from nvtui.nvmecli.parse import ImportedCommand
from nvtui.nvmecli.table import Verb

__all__ = ["build", "options_for"]

_SANACT = {"exit-failure": 1, "start-block-erase": 2, "start-overwrite": 3, "start-crypto-erase": 4}
_ID_NS = struct.Struct("<QQ10xB2xBB61xI4xH2xQ")  # nsze ncap . flbas . dps nmic . anagrpid . nvmsetid . lbstm
IDENTIFY_SIZE = 4096


def _ints(build: dict[str, object], key: str) -> list[int]:
    value = build.get(key, [])
    return list(value) if isinstance(value, list) else []


def _int(build: dict[str, object], key: str, default: int = 0) -> int:
    value = build.get(key, default)
    return int(value) if isinstance(value, int) else default


def build(
    verb: Verb, b: dict[str, object], imp: ImportedCommand, catalogue: Catalogue, sizes: Mapping[str, int]
) -> ImportedCommand:
    """Apply the verb's builder to the options it collected."""
    name = verb.builder
    values = dict(imp.values)
    opts = imp.options
    v = verb.name
    if name == "id-ns-force":
        if b.get("force"):
            values["cns"] = 0x11  # Identify allocated namespace
            return replace(imp, command="identify", values=values)
        return imp
    if name == "list-ns":
        csi = b.get("csi")
        if isinstance(csi, int):
            values["cns"] = 0x1A if b.get("all") else 0x07
            values["csi"] = csi
            return replace(imp, command="identify", values=values)
        if b.get("all"):
            values["cns"] = 0x10
            return replace(imp, command="identify", values=values)
        return imp
    if name == "get-feature":
        if "fid" not in values:
            raise UsageError(
                f"nvme {v}: give --feature-id: without it nvme-cli reads every feature, one command each"
            )
        if values.get("sel", 0) > 3:
            raise UsageError(
                f"nvme {v}: --sel {values['sel']} (changed) is two commands in nvme-cli; give 0-3"
            )
        return imp
    if name == "set-feature":
        if "fid" not in values:
            raise UsageError(f"nvme {v}: --feature-id is required")
        return imp
    if name == "format":
        if "lbaf" not in values:
            raise UsageError(f"nvme {v}: give --lbaf (nvme-cli would keep the namespace's current format)")
        if values["lbaf"] > 63:  # the catalogue's lbaf is the whole index: lbafl in 3:0, lbafu in 13:12
            raise UsageError(f"nvme {v}: --lbaf {values['lbaf']} is not an LBA format index (0-63)")
        return imp
    if name == "sanitize":
        sanact = b.get("sanact")
        if not isinstance(sanact, str):
            raise UsageError(f"nvme {v}: --sanact is required")
        values["sanact"] = _sanact(v, sanact)
        _sanitize_options_fit(v, values)
        return replace(imp, values=values)
    if name == "self-test":
        if "stc" not in values:
            raise UsageError(
                f"nvme {v}: give --self-test-code; without it nvme-cli only shows the test running "
                "(nvtui: send self-test-log)"
            )
        return imp
    if name == "fw-download":
        return _fw_download(v, b, imp, values, sizes)
    if name == "create-ns":
        nsze, ncap = _int(b, "nsze"), _int(b, "ncap")
        flbas = _int(b, "flbas", 0xFF)
        if flbas == 0xFF:
            raise UsageError(f"nvme {v}: give --flbas (the LBA format of the new namespace)")
        structure = bytearray(IDENTIFY_SIZE)
        _ID_NS.pack_into(
            structure, 0, nsze, ncap, flbas, _int(b, "dps"), _int(b, "nmic"), _int(b, "anagrpid"),
            _int(b, "nvmsetid"), _int(b, "lbstm"),
        )  # fmt: skip
        return replace(imp, values=values, options=replace(opts, data=bytes(structure)))
    if name == "attach-ns":
        if not values.get("nsid"):
            raise UsageError(f"nvme {v}: --namespace-id is required")
        ids = _ints(b, "controllers")
        if any(c > 0xFFFF for c in ids):
            raise UsageError(f"nvme {v}: a controller identifier is 16 bits")
        cntlist = struct.pack(f"<H{len(ids)}H", len(ids), *ids).ljust(IDENTIFY_SIZE, b"\0")
        return replace(imp, options=replace(opts, data=cntlist))
    if name == "passthru":
        return _passthru(v, b, imp, values, catalogue)
    if name == "read":
        _need_data_size(v, opts.data_size)
        return replace(imp, options=replace(opts, data_out=opts.data_in, data_in=None))
    if name == "write":
        _need_data_size(v, opts.data_size)
        return imp
    if name == "zone-append":  # no --block-count: nvme-cli sends data size / LBA size blocks
        _need_data_size(v, opts.data_size)
        return replace(imp, options=replace(opts, data_len=opts.data_size))
    if name == "dsm":
        slbs, blocks, attrs = _ints(b, "slbs"), _ints(b, "blocks"), _ints(b, "ctx_attrs")
        count = max(len(slbs), len(blocks), len(attrs))
        if not count:
            raise UsageError(f"nvme {v}: no range given (--slbs, --blocks)")
        ranges = b"".join(
            struct.pack("<IIQ", _at(attrs, i, 32), _at(blocks, i, 32), _at(slbs, i, 64)) for i in range(count)
        )
        cdw11 = _int(b, "cdw11")
        if cdw11:  # nvme-cli: --cdw11 replaces the attribute flags
            values.update(idr=cdw11 & 1, idw=cdw11 >> 1 & 1, ad=cdw11 >> 2 & 1)
            if cdw11 & ~0x7:
                raise UsageError(f"nvme {v}: --cdw11 {cdw11:#x} sets bits Dataset Management does not have")
        values["nr"] = count
        return replace(imp, values=values, options=replace(opts, data=ranges))
    if name == "copy":
        if _int(b, "format"):
            raise UsageError(
                f"nvme {v}: nvtui builds copy descriptors of format 0 only; --format 1 is not mapped"
            )
        slbs, blocks = _ints(b, "slbs"), _ints(b, "blocks")
        eilbrts, elbats, elbatms = _ints(b, "eilbrts"), _ints(b, "elbats"), _ints(b, "elbatms")
        count = max(len(slbs), len(blocks), len(eilbrts), len(elbats), len(elbatms))
        if not count or count > 128:
            raise UsageError(f"nvme {v}: give 1 to 128 source ranges (--slbs, --blocks)")
        descs = b"".join(
            struct.pack("<8xQHHIHH4x", _at(slbs, i, 64), _at(blocks, i, 16), 0, _at(eilbrts, i, 32),
                        _at(elbats, i, 16), _at(elbatms, i, 16))
            for i in range(count)
        )  # fmt: skip
        values["nr"] = count
        values["desfmt"] = 0
        return replace(imp, values=values, options=replace(opts, data=descs))
    if name in ("resv-register", "resv-acquire"):
        second = "nrkey" if name == "resv-register" else "prkey"
        data = struct.pack("<QQ", _int(b, "crkey"), _int(b, second))
        return replace(imp, options=replace(opts, data=data))
    if name == "resv-release":
        return replace(imp, options=replace(opts, data=struct.pack("<Q", _int(b, "crkey"))))
    if name == "resv-report":
        numd = _int(b, "numd")  # nvme-cli's 0-based NUMD, clamped to 3..1023 as nvme-cli does
        if not numd or numd >= 0x1000 >> 2:
            numd = (0x1000 >> 2) - 1
        values["numd"] = max(numd, 3) + 1
        return replace(imp, values=values)
    if name == "fdp-update":
        pids = _ints(b, "pids")
        if not pids or any(p > 0xFFFF for p in pids):
            raise UsageError(f"nvme {v}: give --pids, placement identifiers of 16 bits")
        values["mos"] = len(pids)
        return replace(imp, values=values, options=replace(opts, data=struct.pack(f"<{len(pids)}H", *pids)))
    raise AssertionError(f"unknown builder {name!r}")


def _at(values: list[int], i: int, bits: int) -> int:
    value = values[i] if i < len(values) else 0
    if value >= 1 << bits:
        raise UsageError(f"{value} does not fit in {bits} bits")
    return value


def _sanact(verb: str, text: str) -> int:
    t = text.strip().lower()
    for name, value in _SANACT.items():
        if t and name.startswith(t) and len(t) >= (1 if name == "exit-failure" else 7):
            return value
    try:
        value = int(t, 0)
    except ValueError:
        raise UsageError(
            f"nvme {verb}: --sanact {text!r} is not an action ({', '.join(_SANACT)}, 1-4)"
        ) from None
    if value not in (1, 2, 3, 4):
        raise UsageError(f"nvme {verb}: --sanact {value} is not 1-4")
    return value


def _sanitize_options_fit(verb: str, values: Mapping[str, int]) -> None:
    """The lines nvme-cli refuses before sending: Exit Failure Mode with --ause or --no-dealloc, the
    overwrite options with another action, more than 16 overwrite passes."""
    if values["sanact"] == _SANACT["exit-failure"]:
        given = [f"--{o}" for o, f in (("ause", "ause"), ("no-dealloc", "ndas")) if values.get(f)]
        if given:
            raise UsageError(
                f"nvme {verb}: {' and '.join(given)} with --sanact=exit-failure (nvme-cli refuses it)"
            )
    if values["sanact"] != _SANACT["start-overwrite"]:
        given = [
            f"--{o}"
            for o, f in (("owpass", "owpass"), ("oipbp", "oipbp"), ("ovrpat", "ovrpat"))
            if values.get(f)
        ]
        if given:
            raise UsageError(
                f"nvme {verb}: {' and '.join(given)} belong to --sanact=start-overwrite (nvme-cli refuses it)"
            )
    elif values.get("owpass", 0) > 16:
        raise UsageError(f"nvme {verb}: --owpass {values['owpass']} is out of nvme-cli's range 0-16")


def _need_data_size(verb: str, size: int | None) -> None:
    if not size:
        raise UsageError(f"nvme {verb}: --data-size is required (nvme-cli refuses the line without it)")


def _fw_download(
    verb: str, b: dict[str, object], imp: ImportedCommand, values: dict[str, int], sizes: Mapping[str, int]
) -> ImportedCommand:
    path = imp.options.data_in
    if path is None:
        raise UsageError(f"nvme {verb}: --fw FILE is required")
    try:
        size = sizes[str(path)] if str(path) in sizes else Path(path).stat().st_size
    except OSError as exc:
        raise UsageError(f"nvme {verb}: --fw {path}: {exc.strerror}") from None
    if size == 0 or size % 4:
        raise UsageError(f"nvme {verb}: --fw {path} is {size} bytes; a firmware image is whole dwords")
    xfer = _int(b, "xfer", 4096)
    xfer = 4096 if xfer == 0 or xfer % 4096 else xfer
    if size > xfer:
        raise UsageError(
            f"nvme {verb}: {path} ({size} bytes) is {-(-size // xfer)} commands of --xfer {xfer}; nvtui "
            f"sends one: give --xfer={size - size % -4096}, or send it in pieces with --offset"
        )
    values["numd"] = size // 4
    return replace(imp, values=values)


def _passthru(
    verb: str, b: dict[str, object], imp: ImportedCommand, values: dict[str, int], catalogue: Catalogue
) -> ImportedCommand:
    from nvtui.nvme.command import DataDirection

    if "opcode" not in values:
        raise UsageError(f"nvme {verb}: --opcode is required")
    values.setdefault("nsid", 0)  # nvme-cli's passthru sends namespace 0 unless told
    bits = DataDirection.of_opcode(values["opcode"])
    opts = imp.options
    flags = tuple(k for k in ("read", "write") if b.get(k))
    if opts.data_len:
        if bits is DataDirection.NONE and not flags:
            raise UsageError(f"nvme {verb}: --data-len without --read or --write (nvme-cli refuses it too)")
        if (
            flags
            and bits is not DataDirection.NONE
            and flags
            != (("read", "write") if bits.value == 3 else ("write",) if bits.value == 1 else ("read",))
        ):
            raise UsageError(
                f"nvme {verb}: --{'/--'.join(flags)} disagrees with opcode {values['opcode']:#04x}, "
                f"whose bits 1:0 "
                f"say {bits.short}"
            )
    if bits is DataDirection.CONTROLLER_TO_HOST and opts.data_in is not None:
        opts = replace(opts, data_out=opts.data_in, data_in=None)  # nvme-cli writes what it read there
    return replace(imp, values=values, options=opts, direction_flags=flags)


# --- the inverse: options that make nvme-cli build the same data ------------------------------------------


def options_for(builder: str, values: dict[str, int], data: bytes | None) -> dict[str, Any] | None:
    """nvme-cli options (long name -> value, or True for a flag) that make `builder` produce `data` and these
    field values; None when nvme-cli's verb cannot express them."""
    if builder == "id-ns-force":
        return {"force": True} if values.get("cns") == 0x11 else ({} if values.get("cns") == 0 else None)
    if builder == "list-ns":
        cns, csi = values.get("cns"), values.get("csi", 0)
        found: dict[int, dict[str, Any]] = {
            0x02: {}, 0x10: {"all": True}, 0x07: {"csi": csi}, 0x1A: {"all": True, "csi": csi},
        }  # fmt: skip
        return found.get(cns or 0) if cns in found else None
    if builder == "sanitize":
        return {"sanact": values["sanact"]} if values.get("sanact") in (1, 2, 3, 4) else None
    if builder == "resv-report":
        numd = values.get("numd", 0)
        return {"numd": numd - 1} if 4 <= numd <= 1024 else None
    if builder == "fw-download":
        return {}
    if builder == "dsm":
        if data is None or len(data) % 16:
            return None
        ranges = [struct.unpack_from("<IIQ", data, i) for i in range(0, len(data), 16)]
        flags = {name: True for name in ("ad", "idw", "idr") if values.get(name)}
        return {
            **flags,
            "slbs": ",".join(str(r[2]) for r in ranges), "blocks": ",".join(str(r[1]) for r in ranges),
            **({"ctx-attrs": ",".join(str(r[0]) for r in ranges)} if any(r[0] for r in ranges) else {}),
        }  # fmt: skip
    if builder == "copy":
        if data is None or len(data) % 32 or values.get("desfmt", 0):
            return None
        descs = [struct.unpack_from("<8xQHHIHH4x", data, i) for i in range(0, len(data), 32)]
        if any(d[2] for d in descs):
            return None
        out: dict[str, Any] = {
            "slbs": ",".join(str(d[0]) for d in descs), "blocks": ",".join(str(d[1]) for d in descs),
        }  # fmt: skip
        for key, index in (("expected-ref-tags", 3), ("expected-app-tags", 4), ("expected-app-tag-masks", 5)):
            if any(d[index] for d in descs):
                out[key] = ",".join(str(d[index]) for d in descs)
        return out
    if builder in ("resv-register", "resv-acquire"):
        if data is None or len(data) != 16:
            return None
        crkey, other = struct.unpack("<QQ", data)
        second = "nrkey" if builder == "resv-register" else "prkey"
        return {k: val for k, val in (("crkey", crkey), (second, other)) if val}
    if builder == "resv-release":
        if data is None or len(data) != 8:
            return None
        (crkey,) = struct.unpack("<Q", data)
        return {"crkey": crkey} if crkey else {}
    if builder == "attach-ns":
        if data is None or len(data) != IDENTIFY_SIZE:
            return None
        (count,) = struct.unpack_from("<H", data)
        if count > 2047 or any(data[2 + 2 * count :]):
            return None
        ids = struct.unpack_from(f"<{count}H", data, 2)
        return {"controllers": ",".join(str(i) for i in ids)} if ids else {}
    if builder == "create-ns":
        if data is None or len(data) != IDENTIFY_SIZE:
            return None
        nsze, ncap, flbas, dps, nmic, anagrpid, nvmsetid, lbstm = _ID_NS.unpack_from(data)
        rebuilt = bytearray(IDENTIFY_SIZE)
        _ID_NS.pack_into(rebuilt, 0, nsze, ncap, flbas, dps, nmic, anagrpid, nvmsetid, lbstm)
        if bytes(rebuilt) != data:
            return None  # other bytes set: nvme-cli's create-ns cannot send them
        named = (("nsze", nsze), ("ncap", ncap), ("dps", dps), ("nmic", nmic), ("anagrp-id", anagrpid),
                 ("nvmset-id", nvmsetid), ("lbstm", lbstm))  # fmt: skip
        return {"flbas": flbas, **{k: val for k, val in named if val}}
    if builder == "fdp-update":
        if data is None or len(data) % 2:
            return None
        pids = struct.unpack(f"<{len(data) // 2}H", data)
        return {"pids": ",".join(str(p) for p in pids)}
    return {}
