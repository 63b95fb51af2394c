"""A command as one line in the CLI's syntax (`get-log-page lid=smart numd=128`), both ways, and the
completion of such a line: the Compose screen's command line. The words after the command are read by the
CLI's own parser (`CommandDef.parse_given`), so a line the TUI accepts is one `nvtui send DEV ...` accepts,
and a wrong one gets the same one-line error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from nvtui.catalogue.model import Catalogue, CommandDef, FieldDef
from nvtui.errors import UsageError

__all__ = ["ParsedLine", "complete_line", "line_of", "parse_line", "shown_text"]


@dataclass(frozen=True)
class ParsedLine:
    """What a line says: the command (None when the first word names none), the field texts as typed by
    field name (every known field, even one whose value is wrong), and the CLI's error, if any."""

    defn: CommandDef | None
    texts: dict[str, str]
    error: str | None


def parse_line(catalogue: Catalogue, line: str) -> ParsedLine:
    words = line.split()
    if not words:
        return ParsedLine(None, {}, "type a command: its id or alias, then FIELD=VALUE words")
    try:
        defn = catalogue.get(words[0])
    except UsageError as exc:
        return ParsedLine(None, {}, str(exc))
    texts: dict[str, str] = {}
    for word in words[1:]:
        name, sep, value = word.partition("=")
        known = set(defn.field_names)
        if sep and name.strip().lower() in known:
            texts[name.strip().lower()] = value
    try:
        defn.parse_given(words[1:])  # the CLI's parser: its error, word for word
    except UsageError as exc:
        return ParsedLine(defn, texts, str(exc))
    return ParsedLine(defn, texts, None)


def shown_text(f: FieldDef, text: str, *, always: bool = False) -> str | None:
    """`text` as the line shows it, or None when the line leaves it out (a default, a preset's value)."""
    text = text.strip()
    if text == "":
        return None
    try:
        value = f.parse(text)
    except UsageError:
        return text  # wrong, and shown as typed: the error names it
    if f.fixed_by is not None:
        return None  # the preset's own value: the command's id says it
    if f.kind == "bytes":  # a key, always shown (0x00 is a key, not the field's default); as typed, or as
        # 0x-hex where a space would split the line's words
        return "0x" + f.parse_bytes(text).hex() if any(c.isspace() for c in text) else text
    if f.buffer:  # a data buffer field typed is given (flbas=0 builds a buffer), whatever its value
        return text
    if not always and f.default_by is None and value == f.default:
        return None
    return f.name_of(value) or text if f.values else text


def line_of(defn: CommandDef, texts: Mapping[str, str]) -> str:
    """The line for `defn` with the field texts (as a form holds them): fields at their default left out."""
    words = [defn.id]
    # The first named-value field says what the command does (lid, cns, fid, zra): shown even at its default.
    main = next((f.name for f in defn.fields if f.kind == "enum"), None)
    typed = [name for name in defn.buffer_given(texts) if texts[name].strip()]
    for f in defn.fields + (defn.buffer_fields() if typed else ()):
        shown = shown_text(f, texts.get(f.name, ""), always=f.name == main)
        if shown is not None:
            words.append(f"{f.name}={shown}")
    return " ".join(words)


def complete_line(catalogue: Catalogue, line: str) -> str | None:
    """`line` with its last word completed: a command id or alias (first word), a field name (then `=`), or
    a value name of the field (after `=`). None when nothing (or nothing longer) completes it."""
    if not line or line[-1].isspace():
        return None
    head, _, word = line.rpartition(" ")
    prefix = f"{head} " if head else ""
    lowered = word.lower()
    if not head:
        names = [e.id for e in catalogue.entries] + [a for e in catalogue.entries for a in e.aliases]
        found = _first_longer(names, lowered)
        return None if found is None else prefix + found
    try:
        defn = catalogue.get(head.split()[0])
    except UsageError:
        return None
    name, sep, value = lowered.partition("=")
    if not sep:
        given = {w.partition("=")[0].lower() for w in head.split()[1:]}
        fields = [name for name in defn.field_names if name not in given]
        found = _first_longer(fields, name)
        return None if found is None else f"{prefix}{found}="
    try:
        fdef = defn.field(name)
    except UsageError:
        return None
    found = _first_longer(list(fdef.values), value)
    return None if found is None else f"{prefix}{word[: len(name) + 1]}{found}"


def _first_longer(names: list[str], start: str) -> str | None:
    for n in names:
        if n.startswith(start) and len(n) > len(start):
            return n
    return None
