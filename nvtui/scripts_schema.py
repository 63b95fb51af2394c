"""The command script file schema (pydantic): what a saved script may say.

Imported only when a script file is validated; `nvtui.scripts` turns the validated model into its plain
runtime classes, and keeps that result in the disk cache (`nvtui.diskcache`), so replaying a script that
was validated before imports neither pydantic nor YAML. The classes carry the runtime classes' names:
pydantic puts them in some messages ("Input should be a valid dictionary or instance of ScriptStep").

Strict: a number is an integer as `nvtui.yamlio` reads it (`true` is not 1, `"512"` is not 512). A field
value is a number or a word; the word goes through the field's own rule at replay, as on the command line
(`fua: true` and `fua: yes` set a flag, `cns: true` is refused), so a boolean is kept as the word it was.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

__all__ = ["CommandScript", "ExpectedStatus", "ScriptStep"]


def _field_value(value: object) -> int | str:
    if isinstance(value, bool):
        return "true" if value else "false"  # the word, for the field's own rule (flags take it)
    if isinstance(value, int | str):
        return value
    raise ValueError(f"a field value is a number or a name, not {type(value).__name__} {value!r:.40}")


FieldValue = Annotated[int | str, BeforeValidator(_field_value)]


class ExpectedStatus(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    sct: int = Field(ge=0, le=7)
    sc: int = Field(ge=0, le=0xFF)
    name: str = ""


class ScriptStep(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    command: str
    fields: dict[str, FieldValue] = Field(default_factory=dict)
    data_len: int | None = Field(default=None, ge=0, le=0xFFFFFFFF)
    data: str | None = None  # base64 of the data sent to the controller
    expect: ExpectedStatus | None = None
    note: str | None = None
    metadata: str | None = None  # base64 of the metadata sent with the data
    no_data: bool = False  # a raw command asserted to move no data
    device: str | None = Field(default=None, min_length=1)  # the device the step went to (version 2)
    digest: str | None = None  # `sha256:<64 hex digits>` of the data it read

    @field_validator("digest")
    @classmethod
    def _digest(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"sha256:[0-9a-f]{64}", value, re.ASCII):
            raise ValueError("expected sha256: and 64 lowercase hex digits (the SHA-256 of the data read)")
        return value

    @field_validator("data", "metadata")
    @classmethod
    def _base64(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("not valid base64") from None
        return value


class CommandScript(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, strict=True)
    version: Literal[1, 2] = Field(default=2, alias="nvtui-script")  # 2: steps name their device
    device: str | None = None
    created: str | None = None
    steps: list[ScriptStep] = Field(default_factory=list)
