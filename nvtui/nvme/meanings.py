"""The few meanings a layout cannot say with units, values and flags: named Python functions, one registry.

A layout field names one with `meaning: NAME`. Each takes the field's value (an int, or bytes for a bytes
field), the values of the structure's fields decoded so far and after (a mapping by name; arrays are lists
of such mappings) and the decode context, and returns one line for a person.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

MeaningFn = Callable[[Any, Mapping[str, Any], Mapping[str, object]], str]
MEANINGS: dict[str, MeaningFn] = {}


def meaning(fn: MeaningFn) -> MeaningFn:
    MEANINGS[fn.__name__] = fn
    return fn


def _bits(v: int, lsb: int, msb: int) -> int:
    return (v >> lsb) & ((1 << (msb - lsb + 1)) - 1)


def human_bytes(n: int) -> str:
    for unit, scale in (("EB", 10**18), ("PB", 10**15), ("TB", 10**12), ("GB", 10**9), ("MB", 10**6)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    if n >= 1000:
        return f"{n / 1000:.2f} kB"
    return f"{n} B"


# --- Identify Controller --------------------------------------------------------------------------------


@meaning
def frmw(v: int, values: Mapping[str, Any], context: Mapping[str, object]) -> str:
    parts = [f"{_bits(v, 1, 3)} firmware slots"]
    if v & 1:
        parts.append("slot 1 read-only")
    if v >> 4 & 1:
        parts.append("activation without reset")
    if v >> 5 & 1:
        parts.append("multiple update detection")
    return ", ".join(parts)


@meaning
def rpmbs(v: int, values: Mapping[str, Any], context: Mapping[str, object]) -> str:
    units = _bits(v, 0, 2)
    if units == 0:
        return "not supported"
    auth = "HMAC SHA-256" if _bits(v, 3, 5) == 0 else f"authentication method {_bits(v, 3, 5)}"
    total = (_bits(v, 16, 23) + 1) * 128
    access = (_bits(v, 24, 31) + 1) * 512
    return f"{units} RPMB units of {total} KiB, {auth}, access size {access} bytes"


@meaning
def entry_size(v: int, values: Mapping[str, Any], context: Mapping[str, object]) -> str:
    """SQES / CQES: required size bits 3:0, maximum bits 7:4, both powers of two."""
    return f"required {1 << _bits(v, 0, 3)} bytes, maximum {1 << _bits(v, 4, 7)} bytes"


@meaning
def vwci(v: int, values: Mapping[str, Any], context: Mapping[str, object]) -> str:
    if not v >> 7:
        return "remaining VPD write cycles not reported"
    remaining = _bits(v, 0, 6)
    return f"{remaining}{' or more' if remaining == 0x7F else ''} VPD write cycles remaining"


@meaning
def fwug(v: int, values: Mapping[str, Any], context: Mapping[str, object]) -> str:
    return {0: "not reported", 0xFF: "no restriction"}.get(v, f"{v * 4} KiB")


# --- Identify Namespace ---------------------------------------------------------------------------------


def lba_format_index(flbas: int, nlbaf: int) -> int:
    """The LBA format in use: FLBAS bits 3:0, with bits 6:5 as bits 5:4 once there are more than 16 formats
    (NLBAF is 0's based); with 16 or fewer, bits 6:5 are reserved."""
    index = _bits(flbas, 0, 3)
    if nlbaf + 1 > 16:
        index |= _bits(flbas, 5, 6) << 4
    return index


def current_format(values: Mapping[str, Any]) -> tuple[int, int, int]:
    """(index, LBA data size, metadata size) of the format FLBAS selects; ValueError when none."""
    flbas, nlbaf = values.get("flbas"), values.get("nlbaf")
    if not isinstance(flbas, int) or not isinstance(nlbaf, int):
        raise ValueError("FLBAS or NLBAF not transferred")
    index = lba_format_index(flbas, nlbaf)
    formats = values.get("lbaf") or []
    if index > nlbaf or index >= len(formats):
        raise ValueError(f"FLBAS selects LBA format {index}, but NLBAF lists {nlbaf + 1}")
    lbads, ms = formats[index].get("lbads"), formats[index].get("ms")
    if not isinstance(lbads, int) or not isinstance(ms, int):
        raise ValueError(f"LBA format {index} not transferred")
    if lbads < 9:
        raise ValueError(f"LBA format {index} has LBADS {lbads}: not a supported LBA data size")
    return index, 1 << lbads, ms


@meaning
def flbas(v: int, values: Mapping[str, Any], context: Mapping[str, object]) -> str:
    nlbaf = values.get("nlbaf")
    index = lba_format_index(v, nlbaf if isinstance(nlbaf, int) else 0)
    extended = "extended LBA (metadata after each block's data)"
    placement = extended if v >> 4 & 1 else "separate metadata buffer"
    text = f"LBA format {index}, {placement}"
    try:
        _, size, ms = current_format(values)
    except ValueError as err:
        return f"{text} ({err})"
    return f"{text}: {size} bytes data, {ms} bytes metadata"


@meaning
def blocks(v: int, values: Mapping[str, Any], context: Mapping[str, object]) -> str:
    """A size in logical blocks, with its bytes in the format FLBAS selects."""
    try:
        _, size, _ = current_format(values)
    except ValueError:
        return f"{v} logical blocks"
    return f"{v} logical blocks ({human_bytes(v * size)})"


@meaning
def dps(v: int, values: Mapping[str, Any], context: Mapping[str, object]) -> str:
    pi = _bits(v, 0, 2)
    kind = "protection information disabled" if pi == 0 else f"Protection Information Type {pi}"
    if pi > 3:
        kind = f"reserved PI type {pi}"
    return f"{kind}, PI {'first' if v >> 3 & 1 else 'last'} in metadata" if pi else kind


@meaning
def fpi(v: int, values: Mapping[str, Any], context: Mapping[str, object]) -> str:
    if not v >> 7:
        return "format progress indicator not supported"
    return f"{_bits(v, 0, 6)}% remains to be formatted"


@meaning
def dlfeat(v: int, values: Mapping[str, Any], context: Mapping[str, object]) -> str:
    reads = {0: "read of deallocated blocks not reported", 1: "deallocated blocks read as 00h",
             2: "deallocated blocks read as FFh"}  # fmt: skip
    read = reads.get(_bits(v, 0, 2), f"reserved ({_bits(v, 0, 2):#x})")
    parts = [read]
    if v >> 3 & 1:
        parts.append("Deallocate bit in Write Zeroes")
    if v >> 4 & 1:
        parts.append("guard is CRC of deallocated data")
    return ", ".join(parts)


@meaning
def sanicap(v: int, values: Mapping[str, Any], context: Mapping[str, object]) -> str:
    names = {0: "Crypto Erase", 1: "Block Erase", 2: "Overwrite", 29: "No-Deallocate Inhibited"}
    parts = [n for b, n in names.items() if v >> b & 1]
    kinds = {1: "media not additionally modified after no-deallocate sanitize",
             2: "media additionally modified after no-deallocate sanitize"}  # fmt: skip
    nodmmas = kinds.get(_bits(v, 30, 31))
    if nodmmas:
        parts.append(nodmmas)
    return ", ".join(parts)


@meaning
def vwc(v: int, values: Mapping[str, Any], context: Mapping[str, object]) -> str:
    parts = ["volatile write cache present"] if v & 1 else []
    flush = {2: "Flush with NSID FFFFFFFFh not supported", 3: "Flush with NSID FFFFFFFFh supported",
             0: "flush broadcast support not reported"}.get(_bits(v, 1, 2))  # fmt: skip
    if flush:
        parts.append(flush)
    return ", ".join(parts)


@meaning
def sgls(v: int, values: Mapping[str, Any], context: Mapping[str, object]) -> str:
    support = {0: "SGLs not supported", 1: "SGLs supported", 2: "SGLs supported (dword alignment)"}
    parts = [support.get(_bits(v, 0, 1), "reserved (0x3)")]
    names = {2: "Keyed SGL Data Block", 16: "SGL Bit Bucket", 17: "byte aligned contiguous metadata",
             18: "SGL longer than data", 19: "MPTR to an SGL", 20: "address as offset",
             21: "Transport SGL Data Block"}  # fmt: skip
    parts.extend(n for b, n in names.items() if v >> b & 1)
    return ", ".join(parts)


@meaning
def fcatt(v: int, values: Mapping[str, Any], context: Mapping[str, object]) -> str:
    return "static controller model" if v & 1 else "dynamic controller model"


# --- Namespace Identification Descriptor ---------------------------------------------------------------


@meaning
def nid(v: bytes, values: Mapping[str, Any], context: Mapping[str, object]) -> str:
    """The NID, by its type: a UUID, an EUI64 / NGUID (dashed bytes) or a Command Set Identifier."""
    nidt = values.get("nidt")
    if nidt == 3 and len(v) == 16:
        import uuid

        return str(uuid.UUID(bytes=v))
    if nidt in (1, 2):
        return "-".join(f"{b:02x}" for b in v)
    if nidt == 4 and v:
        names = {0: "NVM Command Set", 1: "Key Value Command Set", 2: "Zoned Namespace Command Set"}
        return names.get(v[0], f"reserved ({v[0]:#x})")
    return ""


# --- Key Value --------------------------------------------------------------------------------------------


def typed_bytes(raw: bytes) -> str:
    """A byte string (a Key Value key) as a person types it for nvtui to read it back: text where every
    byte is printable ASCII (with `text:` where it would read as hex or begins with `text:`), else 0x-hex."""
    if raw and all(0x21 <= b <= 0x7E for b in raw):
        text = raw.decode("ascii")
        return f"text:{text}" if text[:2] in ("0x", "0X") or text.startswith("text:") else text
    return "0x" + raw.hex()


@meaning
def kv_key(v: bytes, values: Mapping[str, Any], context: Mapping[str, object]) -> str:
    """A key as it is typed (key=user42, key=0x0102): what kv-retrieve key=... takes."""
    return typed_bytes(v) if isinstance(v, bytes) else ""


# --- log pages ------------------------------------------------------------------------------------------


@meaning
def status_field(v: int, values: Mapping[str, Any], context: Mapping[str, object]) -> str:
    """The Error Information log's Status Field: bit 0 is the phase tag, bits 15:1 the status."""
    from nvtui.nvme.completion import Status

    return Status((v >> 1) & 0x7FFF).name


@meaning
def parm_error_location(v: int, values: Mapping[str, Any], context: Mapping[str, object]) -> str:
    if v == 0xFFFF:
        return "not applicable"
    return f"byte {v & 0xFF}, bit {(v >> 8) & 0x7}"


@meaning
def vendor_log(v: int, values: Mapping[str, Any], context: Mapping[str, object]) -> str:
    """An Error Information entry's Vendor Specific Information Available: the log page holding more."""
    return f"more in log page {v:#04x}" if v else "none"


@meaning
def afi(v: int, values: Mapping[str, Any], context: Mapping[str, object]) -> str:
    active, following = v & 0x7, (v >> 4) & 0x7
    text = f"running slot {active}"
    return f"{text}, slot {following} at next reset" if following else text


@meaning
def self_test_status(v: int, values: Mapping[str, Any], context: Mapping[str, object]) -> str:
    """A self-test result's SC, named with its SCT when the result says both are valid (VDI bits 2, 3)."""
    vdi, sct = values.get("vdi"), values.get("sct")
    if not isinstance(vdi, int) or not isinstance(sct, int) or vdi & 0b1100 != 0b1100:
        return ""
    from nvtui.nvme.completion import Status

    return Status.make(sct, v).name


@meaning
def arbitration_burst(v: int, values: Mapping[str, Any], context: Mapping[str, object]) -> str:
    return "no limit" if v == 0x7 else f"{1 << v} commands"


def describe(name: str, value: Any, values: Mapping[str, Any], context: Mapping[str, object]) -> str:
    return MEANINGS[name](value, values, context)
