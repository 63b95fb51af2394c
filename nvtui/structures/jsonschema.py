"""JSON Schema (draft 2020-12) of what a structure decodes to in `--json` output (`nvtui schema`).

Each structure's schema says, field by field, what `decoded` holds: integers with their range (any width:
JSON numbers are unbounded), booleans, trimmed strings, hex strings, UUIDs, nested objects and arrays; a
field whose bytes the device did not transfer is null. Every JSON document nvtui prints carries
`schema_version` (`SCHEMA_VERSION`), raised when a document's shape changes incompatibly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from nvtui.structures.layout import FieldSpec, Layout

SCHEMA_VERSION = 1
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def with_version(doc: object) -> object:
    """A JSON document as nvtui prints it: an object gets `schema_version` first."""
    if isinstance(doc, dict) and "schema_version" not in doc:
        return {"schema_version": SCHEMA_VERSION, **doc}
    return doc


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _field_schema(f: FieldSpec) -> dict[str, Any]:
    width = f.size.fixed
    bits = (f.msb - f.lsb + 1) if f.lsb >= 0 else (8 * width if width else 128)
    described: dict[str, Any] = {}
    if f.values:
        described["description"] = "; ".join(f"{k}: {v}" for k, v in f.values)
    if f.type == "bool":
        return {**described, **_nullable({"type": "boolean"})}
    if f.type == "int":
        return {**described, **_nullable({"type": "integer", "minimum": -(1 << (bits - 1)),
                                          "maximum": (1 << (bits - 1)) - 1})}  # fmt: skip
    if f.type in ("uint", "enum", "flags"):
        return {**described, **_nullable({"type": "integer", "minimum": 0, "maximum": (1 << bits) - 1})}
    if f.type == "ascii":
        return _nullable({"type": "string", **({"maxLength": width} if width else {})})
    if f.type == "uuid":
        return _nullable({"type": "string", "pattern": "^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$"})
    if f.type == "bytes":
        return _nullable(
            {"type": "string", "pattern": "^([0-9a-f]{2})*$", **({"maxLength": 2 * width} if width else {})}
        )
    if f.type == "struct":
        return _nullable({"$ref": f"#/$defs/{f.of}"})
    if f.type == "array":
        ref = f"#/$defs/{f.of}" if not f.index_as else f"#/$defs/{f.of}.{f.index_as}"
        return {"type": "array", "items": {"$ref": ref}}
    raise ValueError(f"no JSON schema for type {f.type}")


def _object(layout: Layout, index_as: str = "") -> dict[str, Any]:
    props: dict[str, Any] = {}
    required: list[str] = []
    if index_as:
        props[index_as] = {"type": "integer", "minimum": 0, "description": "the element's index in its array"}
        required.append(index_as)
    for f in layout.fields:
        if f.type == "reserved":
            continue
        props[f.name] = _field_schema(f)
        if f.at_plus is None and (f.size.fixed is not None or f.type in ("array", "struct")):
            # a field the data sizes (an extension of 0 bytes) may be left out, and one placed after a list
            # whose length was not transferred
            required.append(f.name)
    return {
        "title": layout.name,
        "description": f"{layout.spec} (structure {layout.id})",
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": False,
    }


def _refs(layouts: Mapping[str, Layout], start: str) -> list[tuple[str, str]]:
    """(structure, index_as) of `start` and everything it nests, each once."""
    out: list[tuple[str, str]] = []
    todo = [(start, "")]
    while todo:
        key = todo.pop()
        if key in out:
            continue
        out.append(key)
        for f in layouts[key[0]].fields:
            if f.of:
                todo.append((f.of, f.index_as if f.type == "array" else ""))
    return out


def _defs(layouts: Mapping[str, Layout], keys: Iterable[tuple[str, str]]) -> dict[str, Any]:
    return {(sid if not ix else f"{sid}.{ix}"): _object(layouts[sid], ix) for sid, ix in keys}


def structure_schema(layouts: Mapping[str, Layout], structure: str) -> dict[str, Any]:
    """The schema of one structure's decoded JSON, with the structures it nests under `$defs`."""
    nested = [key for key in _refs(layouts, structure) if key != (structure, "")]
    return {
        "$schema": DIALECT,
        "$id": f"https://nvtui.invalid/schema/{SCHEMA_VERSION}/structure/{structure}",
        "schema_version": SCHEMA_VERSION,
        **_object(layouts[structure]),
        **({"$defs": _defs(layouts, nested)} if nested else {}),
    }


def all_schemas(layouts: Mapping[str, Layout]) -> dict[str, Any]:
    """Every structure's schema in one document: `$defs` by structure id (`#/$defs/smart-log`)."""
    keys: list[tuple[str, str]] = []
    for sid in sorted(layouts):
        for key in _refs(layouts, sid):
            if key not in keys:
                keys.append(key)
    return {
        "$schema": DIALECT,
        "$id": f"https://nvtui.invalid/schema/{SCHEMA_VERSION}/structures",
        "schema_version": SCHEMA_VERSION,
        "description": "what nvtui's --json `decoded` holds for each structure, by structure id",
        "$defs": _defs(layouts, keys),
    }
