"""YAML files read with the line of every value, so an error names file, line and field in one line.

Catalogues and command scripts are plain YAML files validated by pydantic; `load_yaml` gives the data and a
map from each value's path (keys and list indices) to its 1-based line, and `error_line` finds the line of
the closest enclosing value for a pydantic error location.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from nvtui.errors import UsageError

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when present: 10x faster

Path_ = tuple[str | int, ...]
Lines = dict[Path_, int]


def _walk(node: yaml.Node, path: Path_, lines: Lines) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.start_mark)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*path, key), lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), lines)


def parse_yaml(text: str, source: str) -> tuple[Any, Lines]:
    """The data of a YAML document and the line of each value. UsageError `SOURCE:LINE: ...` on bad YAML."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = exc.problem or exc.context or "invalid YAML"
        raise UsageError(f"{source}:{line}: YAML syntax error: {problem}") from None
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"{source}: YAML error: {first}") from None
    finally:
        loader.dispose()
    lines: Lines = {}
    if node is not None:
        _walk(node, (), lines)
    return data, lines


def load_yaml(path: Path) -> tuple[Any, Lines]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path}:1: not a UTF-8 text file") from None
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror or exc}") from None
    return parse_yaml(text, str(path))


def error_line(lines: Lines, location: Sequence[str | int], base: Path_ = ()) -> int:
    """The line of `base + location`, or of its closest enclosing value that has one."""
    path: Path_ = (*base, *location)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get((), 1)


def dotted(location: Sequence[str | int]) -> str:
    """A pydantic error location as `steps[2].fields.nlb`."""
    out = ""
    for part in location:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
