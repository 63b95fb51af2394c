"""YAML files read with the line of every value, so an error names file, line and field in one line.

Catalogues and command scripts are plain YAML validated by pydantic. `parse_yaml` gives the data, a map from
each node's path (keys and list indices, e.g. ("commands", 3, "fields", 2, "at")) to its 1-based line, and
the keys repeated within one mapping (YAML would silently keep the last); `line_of` finds the line of the
deepest node along a pydantic error location.

Every file nvtui reads is typed by one rule, not by YAML 1.1's: a plain number is what it is on the command
line (`nvtui.numbers`: decimal, a leading zero still decimal, or 0x-hex; never octal, binary, sexagesimal
or with underscores, so `slba: 010` is 10 and `1:00`, `0b11`, `1_000`, `-0` stay words),
`true`/`false` are the only booleans (`yes`, `no`, `on`, `off` stay words, which a flag field takes as the
CLI does), `null`/`~`/empty is null, `<<` merges, and nothing else is typed (no floats, no dates). Explicit
tags (`!!int 'zz'`, `!!python/...`, `!foo`) are refused with their line, as is a number longer than any
value nvtui takes. `dump_yaml` writes what this rule reads back unchanged (and what YAML 1.1 readers read
the same way).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from nvtui.errors import UsageError

if TYPE_CHECKING:  # yaml itself is imported when something is parsed
    import yaml

NodePath = tuple[Any, ...]
Lines = dict[NodePath, int]


class YamlSyntaxError(UsageError):
    """A file that cannot be read as nvtui's YAML; `str()` is `SOURCE:LINE: [field FIELD: ]DETAIL`."""

    def __init__(self, source: str, line: int, detail: str, field: str = "") -> None:
        super().__init__(f"{source}:{line}: " + (f"field {field}: " if field else "") + detail)
        self.line = line
        self.detail = detail
        self.field = field


@dataclass
class YamlDoc:
    data: Any
    lines: Lines = field(default_factory=dict)
    duplicates: list[tuple[NodePath, int, str]] = field(default_factory=list)  # (path, line, key)
    # Numbers too long for any field (path, line, message), with `keep_going`: each reads as `TooLongNumber`
    too_long: list[tuple[NodePath, int, str]] = field(default_factory=list)


class TooLongNumber:
    """What a number too long for any field reads as with `keep_going` (no schema takes it); `digits` says
    how long it was."""

    def __init__(self, digits: int) -> None:
        self.digits = digits

    def __repr__(self) -> str:
        return f"<a number of {self.digits:,} digits>"


INT_TAG = "tag:yaml.org,2002:int"
_NULL_RE = r"^(?:~|null|Null|NULL|)$"
_BOOL_RE = r"^(?:true|True|TRUE|false|False|FALSE)$"


def _loader_class() -> type[yaml.SafeLoader]:
    """The safe loader (libyaml's parser when there) with nvtui's implicit types instead of YAML 1.1's."""
    global _LOADER
    if _LOADER is None:
        import re

        import yaml

        from nvtui.numbers import NUMBER_PATTERN, NumberTooLong, parse_number

        base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

        class Loader(base):  # type: ignore[valid-type,misc]
            pass

        Loader.yaml_implicit_resolvers = {}  # none of YAML 1.1's: only those added below

        def construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int | TooLongNumber:
            try:
                value = parse_number(node.value)  # bounded before converting (reported by _index)
            except NumberTooLong as exc:
                return TooLongNumber(exc.digits)
            assert value is not None, node.value
            return value

        Loader.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(_NULL_RE), ["~", "n", "N", ""])
        Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(_BOOL_RE), list("tTfF"))
        Loader.add_implicit_resolver(INT_TAG, re.compile(rf"^{NUMBER_PATTERN}$"), list("-0123456789"))
        Loader.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^(?:<<)$"), ["<"])
        Loader.add_constructor(INT_TAG, construct_int)
        _LOADER = Loader
    return _LOADER


_LOADER: type[yaml.SafeLoader] | None = None


def _index(node: yaml.Node, doc: YamlDoc, source: str, keep_going: bool, prefix: NodePath = ()) -> None:
    """Record each node's line and repeated keys, and each number too long to convert (naming its field,
    under `prefix`: where the node sits in its document): YamlSyntaxError at the first one, or, with
    `keep_going`, listed in `doc.too_long`."""
    import yaml

    from nvtui.numbers import NumberTooLong, parse_number

    def check(scalar: yaml.Node, path: NodePath) -> None:
        """(Called for nodes tagged as numbers only.)"""
        if isinstance(scalar, yaml.ScalarNode):
            try:
                parse_number(scalar.value)
            except NumberTooLong as exc:
                line = scalar.start_mark.line + 1
                if not keep_going:
                    raise YamlSyntaxError(source, line, str(exc), dotted((*prefix, *path))) from None
                doc.too_long.append((path, line, str(exc)))

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
            seen: set[Any] = set()
            for key, value in cur.value:
                name: Any = key.value if isinstance(key, yaml.ScalarNode) else str(key.start_mark.line)
                if key.tag == INT_TAG:  # a number key is its value: `1` and `0x1` are one key
                    check(key, path)
                    with contextlib.suppress(NumberTooLong):  # (reported just above)
                        name = parse_number(key.value)
                if name in seen:
                    doc.duplicates.append(((*path, name), key.start_mark.line + 1, name))
                seen.add(name)
                child = (*path, name)
                doc.lines[child] = key.start_mark.line + 1  # a key's own line, where a person looks
                if not isinstance(value, yaml.ScalarNode):
                    stack.append((child, value))
                elif value.tag == INT_TAG:
                    check(value, child)
        elif isinstance(cur, yaml.SequenceNode):
            for i, item in enumerate(cur.value):
                stack.append(((*path, i), item))
        elif cur.tag == INT_TAG:
            check(cur, path)


def _explicit_tag(source: str, line: int, tag: str) -> YamlSyntaxError:
    shown = f" `{tag}`" if tag else ""
    return YamlSyntaxError(
        source,
        line,
        f"explicit YAML tags{shown} are not allowed: write the value plainly "
        "(numbers are decimal or 0x-hex, booleans true or false)",
    )


def _refuse_tags(text: str, source: str, loader_class: type[yaml.SafeLoader]) -> None:
    """An explicit tag (`!!int 'zz'`, `!!python/object`, `!foo`, a `%TAG` directive) is refused with its
    line: nvtui's files hold plain data, typed by one rule. (Only a text with a `!` can hold one.)"""
    if "!" not in text:
        return
    import yaml

    loader = loader_class(text)
    try:
        while loader.check_token():
            token = loader.get_token()  # type: ignore[no-untyped-call]
            if isinstance(token, yaml.TagToken):
                handle, suffix = token.value
                raise _explicit_tag(source, token.start_mark.line + 1, f"{handle or ''}{suffix or ''}")
            if isinstance(token, yaml.DirectiveToken) and token.name == "TAG":
                raise _explicit_tag(source, token.start_mark.line + 1, "")
    finally:
        loader.dispose()


def _syntax_error(exc: yaml.YAMLError, source: str) -> YamlSyntaxError:
    import yaml

    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        what = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        return YamlSyntaxError(source, mark.line + 1 if mark else 1, f"YAML syntax error: {what}")
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return YamlSyntaxError(source, 1, f"YAML error: {first}")


def parse_yaml(text: str, source: str, *, keep_going: bool = False) -> YamlDoc:
    """Parse one YAML document under nvtui's typing (see the module). YamlSyntaxError naming source and
    line (and field, for a number too long) when it cannot be read. `keep_going`: numbers too long are
    listed in `too_long` instead (a catalogue reports them per entry, and loads the rest)."""
    import yaml

    loader_class = _loader_class()
    try:
        _refuse_tags(text, source, loader_class)
        loader = loader_class(text)
        try:
            node = loader.get_single_node()
            doc = YamlDoc(None)
            if node is not None:
                _index(node, doc, source, keep_going)
                doc.data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise _syntax_error(exc, source) from None
    return doc


def dump_yaml(data: object) -> str:
    """`data` as YAML that `parse_yaml` reads back as the same data: a string that nvtui's rule or YAML
    1.1 would read as something else (`010`, `yes`, `0x10`, `1:00`) is quoted."""
    import re

    import yaml

    from nvtui.numbers import NUMBER_PATTERN

    class Dumper(yaml.SafeDumper):
        pass  # YAML 1.1's implicit types (so 1.1 readers agree), and nvtui's numbers on top

    Dumper.add_implicit_resolver(INT_TAG, re.compile(rf"^{NUMBER_PATTERN}$"), list("-0123456789"))
    return yaml.dump(data, Dumper=Dumper, sort_keys=False, width=100)


@dataclass
class StreamedItem:
    """One item of a streamed sequence: its data, the lines of its nodes (paths relative to the item),
    the keys repeated within it, and `key`: what its nodes say (tags and values, in order) when it uses no
    alias, so items with equal keys hold equal data; None for an item with an alias."""

    index: int
    data: Any
    lines: Lines
    duplicates: list[tuple[NodePath, int, str]]
    key: tuple[object, ...] | None


class SequenceStream:
    """A YAML mapping whose `key` holds a long sequence, read item by item: `items()` yields each item of
    that sequence as it is parsed (only one item's nodes exist at a time, so memory does not grow with the
    sequence), then `header` is the rest of the document, with that sequence empty. A document that is not
    a mapping, or whose `key` is not a sequence, comes whole in `header`. The same loader and typing as
    `parse_yaml` (explicit tags refused, numbers bounded); YamlSyntaxError naming source and line when the
    text is bad."""

    def __init__(self, stream: str | TextIO, source: str, key: str) -> None:
        """`stream`: the text, or a text file read as the parser goes (universal newlines, UTF-8)."""
        self.stream = stream
        self.source = source
        self.key = key
        self.header = YamlDoc(None)
        self._aliased = False
        self._shape: list[object] = []  # the current item's tags and values, for its key

    def items(self) -> Iterator[StreamedItem]:
        import yaml

        loader = _loader_class()(self.stream)
        try:
            yield from self._items(loader)
        except yaml.YAMLError as exc:
            raise _syntax_error(exc, self.source) from None
        finally:
            loader.dispose()

    def _items(self, loader: Any) -> Iterator[StreamedItem]:
        import yaml

        anchors: dict[str, yaml.Node] = {}
        loader.get_event()  # stream start
        if loader.check_event(yaml.StreamEndEvent):
            return
        loader.get_event()  # document start
        if not loader.check_event(yaml.MappingStartEvent):
            self.header = self._whole(loader, self._compose(loader, anchors))
            self._shape = []
        else:
            start = loader.get_event()
            tag = _tag(self.source, loader, start, yaml.MappingNode)
            pairs: list[tuple[yaml.Node, yaml.Node]] = []
            streamed = False
            while not loader.check_event(yaml.MappingEndEvent):
                self._shape = []  # only an item's shape is kept (as its key)
                key = self._compose(loader, anchors)
                if (
                    not streamed
                    and isinstance(key, yaml.ScalarNode)
                    and key.value == self.key
                    and loader.check_event(yaml.SequenceStartEvent)
                ):
                    streamed = True
                    seq = loader.get_event()
                    seq_tag = _tag(self.source, loader, seq, yaml.SequenceNode)
                    index = 0
                    while not loader.check_event(yaml.SequenceEndEvent):
                        yield self._item(
                            loader, self._compose_item(loader, anchors), index, (self.key, index)
                        )
                        index += 1
                    end = loader.get_event()
                    pairs.append((key, yaml.SequenceNode(seq_tag, [], seq.start_mark, end.end_mark)))
                else:
                    pairs.append((key, self._compose(loader, anchors)))
            end = loader.get_event()
            node = yaml.MappingNode(tag, pairs, start.start_mark, end.end_mark, flow_style=start.flow_style)
            self.header = self._whole(loader, node)
        loader.get_event()  # document end
        if not loader.check_event(yaml.StreamEndEvent):
            mark: Any = loader.peek_event().start_mark
            raise yaml.composer.ComposerError(
                "expected a single document in the stream", None, "but found another document", mark
            )

    def _whole(self, loader: Any, node: yaml.Node, prefix: NodePath = ()) -> YamlDoc:
        doc = YamlDoc(None)
        _index(node, doc, self.source, False, prefix)  # numbers bounded before they are converted
        doc.data = loader.construct_document(node)
        return doc

    def _compose_item(self, loader: Any, anchors: dict[str, yaml.Node]) -> yaml.Node:
        self._aliased = False
        self._shape = []
        return self._compose(loader, anchors)

    def _item(self, loader: Any, node: yaml.Node, index: int, prefix: NodePath) -> StreamedItem:
        key = None if self._aliased else tuple(self._shape)
        self._shape = []
        doc = self._whole(loader, node, prefix)
        return StreamedItem(index, doc.data, doc.lines, doc.duplicates, key)

    def _compose(self, loader: Any, anchors: dict[str, yaml.Node]) -> yaml.Node:
        """One node from the event stream, as PyYAML's composer builds it (tags resolved the same way)."""
        import yaml

        event: Any = loader.get_event()
        kind: type[yaml.Event] = type(event)
        start: Any = event.start_mark  # libyaml's marks are their own class: the nodes take them alike
        if issubclass(kind, yaml.AliasEvent):
            if event.anchor not in anchors:
                problem = f"found undefined alias {event.anchor!r}"
                raise yaml.composer.ComposerError(None, None, problem, start)
            self._aliased = True
            return anchors[event.anchor]
        node: Any
        if issubclass(kind, yaml.ScalarEvent):
            tag = _tag(self.source, loader, event, yaml.ScalarNode, event.value)
            node = yaml.ScalarNode(tag, event.value, start, event.end_mark, style=event.style)
            self._shape += (tag, event.value)
        elif issubclass(kind, yaml.SequenceStartEvent):
            node = yaml.SequenceNode(_tag(self.source, loader, event, yaml.SequenceNode), [], start, None,
                                     flow_style=event.flow_style)  # fmt: skip
            self._shape += ("[", node.tag)
        else:
            node = yaml.MappingNode(_tag(self.source, loader, event, yaml.MappingNode), [], start, None,
                                    flow_style=event.flow_style)  # fmt: skip
            self._shape += ("{", node.tag)
        if event.anchor is not None:
            anchors[event.anchor] = node  # before the children: an alias inside refers to this node
        if isinstance(node, yaml.SequenceNode):
            while not loader.check_event(yaml.SequenceEndEvent):
                node.value.append(self._compose(loader, anchors))
            node.end_mark = loader.get_event().end_mark
            self._shape.append("]")
        elif isinstance(node, yaml.MappingNode):
            while not loader.check_event(yaml.MappingEndEvent):
                item_key = self._compose(loader, anchors)
                node.value.append((item_key, self._compose(loader, anchors)))
            node.end_mark = loader.get_event().end_mark
            self._shape.append("}")
        return node  # type: ignore[no-any-return]


def _tag(source: str, loader: Any, event: Any, kind: type[yaml.Node], value: str | None = None) -> str:
    """The tag the loader's resolvers give an event (as PyYAML's composer does); an explicit one (even `!`)
    is refused, as `parse_yaml` refuses it."""
    if event.tag is not None:
        raise _explicit_tag(source, event.start_mark.line + 1, str(event.tag))
    return str(loader.resolve(kind, value, event.implicit))


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
