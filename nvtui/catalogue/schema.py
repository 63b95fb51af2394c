"""The catalogue's file schema (pydantic, strict): what `nvtui/commands.yaml` and user catalogues may say.

Imported only when a catalogue file is validated (`nvtui.catalogue.loader` loads a file's validated result
from its on-disk cache otherwise), so pydantic is not imported on every start.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from nvtui.catalogue.model import KEBAB
from nvtui.nvme.timeouts import MAX_TIMEOUT_S, MIN_TIMEOUT_S

__all__ = [
    "BufferFieldModel", "BuildModel", "ByValueModel", "DataModel", "EntryModel", "FieldModel", "FileModel",
    "FromFieldModel", "PresetModel", "ResultDecodeModel", "RuleModel", "SimulateModel", "StructureByModel",
]  # fmt: skip

U32_MAX = 0xFFFF_FFFF  # a data length is the 32-bit data_len of the passthrough command

# The transports the Linux nvme driver names in /sys/class/nvme/nvmeX/transport (drivers/nvme/host: pci.c
# "pcie", tcp.c, rdma.c, fc.c, and the target's loop.c).
Transport = Literal["pcie", "tcp", "rdma", "fc", "loop"]


class _Model(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class FieldModel(_Model):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    at: str | list[str]
    type: Literal["uint", "enum", "flag", "bytes"] = "uint"
    values: dict[str, int] | None = None
    default: int | str | dict[str, Any] | None = None  # a dict: {by: FIELD, defaults: {...}, otherwise: ...}
    required: bool = False
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)
    zero_based: bool = False
    help: str = ""
    # `type: bytes` only: a byte string of at most `max_bytes` (default: as many as its locations hold) and
    # at least `min_bytes`, whose length the field `length_field` of the same entry carries.
    max_bytes: int | None = Field(default=None, ge=1, le=32)
    min_bytes: int = Field(default=0, ge=0, le=32)
    length_field: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*$")


# --- data.length: a discriminated union, picked by the shape of what the file says ------------------------
# (The tags name shapes, never keys of the mapping: pydantic puts the tag in an error's location.)

Bytes = Annotated[int, Field(ge=0, le=U32_MAX)]
Word = Literal["user", "optional"]


def _shape(value: Any) -> str | None:
    """Which member of a length (or unit, or otherwise) union `value` is meant as; None: none of them."""
    if isinstance(value, dict):
        return "choice" if "by" in value else "count"
    if isinstance(value, str):
        return "lba" if value == "lba" else "word"
    if isinstance(value, int):
        return "bytes"  # a boolean too: the strict integer refuses it, naming what it is
    if isinstance(value, BaseModel):
        return "choice" if isinstance(value, ByValueModel) else "count"
    return None


class ByValueModel(_Model):
    """`{by: FIELD, sizes: {VALUE: BYTES}, otherwise: BYTES|user|optional}`: a size picked by a field's
    value (a number or one of its names); values not listed take `otherwise`."""

    by: str
    sizes: dict[int | str, Bytes]
    otherwise: Annotated[
        Annotated[Bytes, Tag("bytes")] | Annotated[Word, Tag("word")],
        Discriminator(
            _shape, custom_error_type="otherwise", custom_error_message="expected bytes, user or optional"
        ),
    ] = "optional"


class FromFieldModel(_Model):
    """`{field: FIELD, unit: UNIT}`: the field's count times the unit (bytes, `lba`, or picked by value)."""

    field: str
    unit: Annotated[
        Annotated[Annotated[int, Field(gt=0)], Tag("bytes")]
        | Annotated[Literal["lba"], Tag("lba")]
        | Annotated[ByValueModel, Tag("choice")],
        Discriminator(
            _shape,
            custom_error_type="unit",
            custom_error_message="expected a positive byte count, lba or {by: FIELD, sizes: {VALUE: BYTES}}",
        ),
    ] = 1


Length = Annotated[
    Annotated[Bytes, Tag("bytes")]
    | Annotated[Word, Tag("word")]
    | Annotated[FromFieldModel, Tag("count")]
    | Annotated[ByValueModel, Tag("choice")],
    Discriminator(
        _shape,
        custom_error_type="length",
        custom_error_message=(
            "expected bytes, user, optional, {field: FIELD, unit: BYTES|lba} "
            "or {by: FIELD, sizes: {VALUE: BYTES}}"
        ),
    ),
]


class BufferFieldModel(_Model):
    """A field of a built data buffer: its name (as the command's fields are named) and the layout field it
    fills (`at`, default its name; `ARRAY.ELEMENT` for a list of numbers, as a Controller List's ids)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    at: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?$")
    help: str = ""


class StructureByModel(_Model):
    """`{by: FIELD, structures: {VALUE: LAYOUT}, otherwise: LAYOUT}`: the layout a field's value picks."""

    by: str
    structures: dict[int | str, Annotated[str, Field(pattern=KEBAB)]] = Field(min_length=1)
    otherwise: str = Field(pattern=KEBAB)


class BuildModel(_Model):
    """`data.build`: the write buffer is the structure layout `structure` (or the one a field's value picks),
    built from the named `fields`."""

    structure: Annotated[str, Field(pattern=KEBAB)] | StructureByModel
    fields: list[BufferFieldModel] = Field(min_length=1)


class DataModel(_Model):
    direction: Literal["none", "read", "write", "bidirectional", "opcode"] = "none"
    length: Length | None = None
    metadata: bool = False
    # "result": the completion's DW0 says how many bytes of the buffer hold data (KV Retrieve: the value's
    # size); what is shown and written to --data-out is cut to it. "buffer": the whole buffer.
    returned: Literal["buffer", "result"] = "buffer"
    build: BuildModel | None = None


class RuleModel(_Model):
    when: dict[str, int | str] = Field(default_factory=dict)
    decoder: str
    context: list[str] = Field(default_factory=list)


class ResultDecodeModel(_Model):
    decoder: str
    context: list[str] = Field(default_factory=list)


class SimulateModel(_Model):
    """`simulate:` in a catalogue entry: how the simulated controller answers a command that is this entry
    (every field within its range): the status, by name or as the 15-bit status field (SCT << 8 | SC), the
    completion's DW0, and for a command that returns data the values of the structure it returns, encoded
    through that structure's layout (`structure`, else the entry's `decode`). `offset` names the field that
    gives a byte offset into the structure (a log page's LPO)."""

    status: int | str = Field(default="Successful Completion")
    result: int = Field(default=0, ge=0, le=U32_MAX)
    structure: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict)
    offset: str | None = None

    @field_validator("status")
    @classmethod
    def _in_range(cls, value: Any) -> Any:
        if isinstance(value, int) and not 0 <= value <= 0x7FF:
            raise ValueError(f"status {value:#x} out of range 0x000-0x7ff (SCT << 8 | SC)")
        return value


class EntryModel(_Model):
    id: str = Field(pattern=KEBAB)
    name: str
    set: str = Field(pattern=KEBAB)
    opcode: int | None = Field(default=None, ge=0, le=0xFF)
    queue: Literal["admin", "io"]
    spec: str = ""
    help: str
    aliases: list[str] = Field(default_factory=list)
    fields: list[FieldModel] = Field(default_factory=list)
    data: DataModel = Field(default_factory=DataModel)
    decode: str | list[RuleModel] | None = None
    result_decode: str | ResultDecodeModel | None = None
    destructive: bool | None = None  # None: not said (a user entry must say, outside the vendor opcodes)
    refused: str | None = None
    # Refused only on a device of these transports (the kernel's names, as in sysfs), with why: a command
    # a transport cannot carry or the spec prohibits there (Fabrics on PCIe).
    refused_on: dict[Transport, Annotated[str, Field(min_length=1)]] = Field(default_factory=dict)
    raw: bool = False
    # Seconds nvtui waits for the completion (and the kernel's own per-command timeout); None: the default.
    timeout: int | None = Field(default=None, ge=MIN_TIMEOUT_S, le=MAX_TIMEOUT_S)
    waits_for_event: bool = False  # completes only when the controller has something to report (AER)
    simulate: SimulateModel | None = None  # the simulated controller's answer (vendor commands)

    @field_validator("destructive", mode="before")
    @classmethod
    def _said(cls, value: Any) -> Any:
        if value is None:  # `destructive:` written without a value says nothing: true or false
            raise ValueError("say true or false")
        return value


class PresetModel(_Model):
    """A preset: a named command with fixed field values (`smart-log` = get-log-page lid=smart), taking
    everything else (opcode, queue, data, decoding, and whether it is destructive) from the entry it names."""

    id: str = Field(pattern=KEBAB)
    preset: str = Field(pattern=KEBAB)  # the entry it is a preset of
    name: str
    help: str
    aliases: list[str] = Field(default_factory=list)
    fields: dict[str, int | str] = Field(default_factory=dict)  # fixed: the user cannot change them
    defaults: dict[str, int | str] = Field(default_factory=dict)  # changeable, unlike the entry's


class ExtendModel(_Model):
    """`extend:` in a user catalogue: names for more values of a command's enum fields (a vendor log page's
    LID) and decode rules for them, without redefining the command."""

    id: str = Field(pattern=KEBAB)
    values: dict[str, dict[str, int]] = Field(default_factory=dict)  # field -> {name: number}
    decode: list[RuleModel] = Field(default_factory=list)


class FileModel(_Model):
    version: Literal[1] = 1
    commands: list[Any]
    structures: list[Any] | None = None  # layouts (nvtui.structures validates them)
    extend: list[ExtendModel] | None = None

    @model_validator(mode="before")
    @classmethod
    def _structures_only(cls, data: Any) -> Any:
        # a file of structures alone (a vendor's layouts, or one of nvtui/structures/) has no commands
        if isinstance(data, dict) and "commands" not in data and ("structures" in data or "extend" in data):
            return {**data, "commands": []}
        return data

    @field_validator("version", mode="before")
    @classmethod
    def _exactly_one(cls, value: Any) -> Any:
        # Literal[1] also takes True and 1.0 (they equal 1): a version is the integer 1.
        if type(value) is not int:
            raise ValueError(f"version is the integer 1, not {value!r}")
        return value
