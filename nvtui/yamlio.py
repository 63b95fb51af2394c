"""YAML files read with the line of every value, so an error names file, line and field in one line.

Catalogues and command scripts are plain YAML validated by pydantic. `parse_yaml` gives the data, a map from
each node's path (keys and list indices, e.g. ("commands", 3, "fields", 2, "at")) to its 1-based line, and
the keys repeated within one mapping (YAML would silently keep the last); `line_of` finds the line of the
deepest node along a pydantic error location.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nvtui.errors import UsageError

if TYPE_CHECKING:  # yaml itself is imported when something is parsed
    import yaml

NodePath = tuple[Any, ...]
Lines = dict[NodePath, int]


class YamlSyntaxError(UsageError):
    """Unparseable YAML; `str()` is `SOURCE:LINE: YAML syntax error: ...`."""

    def __init__(self, source: str, line: int, detail: str) -> None:
        super().__init__(f"{source}:{line}: {detail}")
        self.line = line
        self.detail = detail


@dataclass
class YamlDoc:
    data: Any
    lines: Lines = field(default_factory=dict)
    duplicates: list[tuple[NodePath, int, str]] = field(default_factory=list)  # (path, line, key)


def _index(node: yaml.Node, doc: YamlDoc) -> None:
    import yaml

    stack: list[tuple[NodePath, yaml.Node]] = [((), node)]
    # An alias shares its anchor's node: each node is walked once, or `&a [*a]` loops forever and nested
    # aliases (a list of 9 aliases of a list of 9 aliases ...) take exponential time.
    seen_nodes: set[int] = set()
    while stack:
        path, cur = stack.pop()
        if id(cur) in seen_nodes:
            continue
        seen_nodes.add(id(cur))
        doc.lines.setdefault(path, cur.start_mark.line + 1)
        if isinstance(cur, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in cur.value:
                name = key.value if isinstance(key, yaml.ScalarNode) else str(key.start_mark.line)
                if name in seen:
                    doc.duplicates.append(((*path, name), key.start_mark.line + 1, name))
                seen.add(name)
                child = (*path, name)
                doc.lines[child] = key.start_mark.line + 1  # a key's own line, where a person looks
                if not isinstance(value, yaml.ScalarNode):
                    stack.append((child, value))
        elif isinstance(cur, yaml.SequenceNode):
            for i, item in enumerate(cur.value):
                stack.append(((*path, i), item))


def parse_yaml(text: str, source: str) -> YamlDoc:
    """Parse one YAML document (safe tags only). YamlSyntaxError naming source and line when it is bad."""
    import yaml

    loader_class: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml if there
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        doc = YamlDoc(loader.construct_document(node) if node is not None else None)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        raise YamlSyntaxError(source, mark.line + 1 if mark else 1, f"YAML syntax error: {what}") from None
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise YamlSyntaxError(source, 1, f"YAML error: {first}") from None
    finally:
        loader.dispose()
    if node is not None:
        _index(node, doc)
    return doc


def load_yaml(path: Path) -> YamlDoc:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return parse_yaml(decode_text(raw, path), str(path))


def decode_text(raw: bytes, path: Path) -> str:
    """A file's bytes as `Path.read_text(encoding="utf-8")` gives them: UTF-8, universal newlines."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path}:1: not a UTF-8 text file") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def line_of(lines: Mapping[NodePath, int], path: Sequence[Any]) -> int:
    """The line of the deepest node along `path` that the document has (pydantic may give int-like keys as
    strings or the other way round, so both spellings are tried)."""
    parts = list(path)
    while parts:
        key = tuple(parts)
        if key in lines:
            return lines[key]
        str_key = tuple(str(p) if not isinstance(p, int) else p for p in parts)
        if str_key in lines:
            return lines[str_key]
        parts.pop()
    return lines.get((), 1)


def dotted(path: Sequence[Any]) -> str:
    """A node path as `steps[2].fields.nlb`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out
