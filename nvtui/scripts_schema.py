"""The command script file schema (pydantic): what a saved script may say.

Imported only when a script file is validated; `nvtui.scripts` turns the validated model into its plain
runtime classes, and keeps that result in the disk cache (`nvtui.diskcache`), so replaying a script that
was validated before imports neither pydantic nor YAML. The classes carry the runtime classes' names:
pydantic puts them in some messages ("Input should be a valid dictionary or instance of ScriptStep").
"""

from __future__ import annotations

import base64
import binascii
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["CommandScript", "ExpectedStatus", "ScriptStep"]


class ExpectedStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sct: int = Field(ge=0, le=7)
    sc: int = Field(ge=0, le=0xFF)
    name: str = ""


class ScriptStep(BaseModel):
    model_config = ConfigDict(extra="forbid")
    command: str
    fields: dict[str, int | str] = Field(default_factory=dict)
    data_len: int | None = Field(default=None, ge=0, le=0xFFFFFFFF)
    data: str | None = None  # base64 of the data sent to the controller
    expect: ExpectedStatus | None = None
    note: str | None = None
    metadata: str | None = None  # base64 of the metadata sent with the data
    no_data: bool = False  # a raw command asserted to move no data

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
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    version: Literal[1] = Field(default=1, alias="nvtui-script")
    device: str | None = None
    created: str | None = None
    steps: list[ScriptStep] = Field(default_factory=list)
