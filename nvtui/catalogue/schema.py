"""The catalogue's file schema (pydantic, strict): what `nvtui/commands.yaml` and user catalogues may say.

Imported only when a catalogue file is validated (`nvtui.catalogue.loader` loads a file's validated result
from its on-disk cache otherwise), so pydantic is not imported on every start.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from nvtui.catalogue.model import KEBAB

__all__ = [
    "DataModel", "EntryModel", "FieldModel", "FileModel", "PresetModel", "ResultDecodeModel", "RuleModel",
]  # fmt: skip


class _Model(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class FieldModel(_Model):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    at: str | list[str]
    type: Literal["uint", "enum", "flag"] = "uint"
    values: dict[str, int] | None = None
    default: int | str | dict[str, Any] | None = None  # a dict: {by: FIELD, defaults: {...}, otherwise: ...}
    required: bool = False
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)
    zero_based: bool = False
    help: str = ""


class DataModel(_Model):
    direction: Literal["none", "read", "write", "bidirectional", "opcode"] = "none"
    length: int | str | dict[str, Any] | None = None
    metadata: bool = False


class RuleModel(_Model):
    when: dict[str, int | str] = Field(default_factory=dict)
    decoder: str
    context: list[str] = Field(default_factory=list)


class ResultDecodeModel(_Model):
    decoder: str
    context: list[str] = Field(default_factory=list)


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
    destructive: bool = False
    refused: str | None = None
    raw: bool = False


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


class FileModel(_Model):
    version: Literal[1] = 1
    commands: list[Any]

    @field_validator("version", mode="before")
    @classmethod
    def _exactly_one(cls, value: Any) -> Any:
        # Literal[1] also takes True and 1.0 (they equal 1): a version is the integer 1.
        if type(value) is not int:
            raise ValueError(f"version is the integer 1, not {value!r}")
        return value
