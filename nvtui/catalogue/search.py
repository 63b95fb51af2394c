"""Finding a catalogue command by what a person remembers of it: its id, name, aliases, help text, or the
name of one of its fields' values (`smart` finds `get-log-page lid=smart`, `temperature` finds
`get-features fid=temperature-threshold`). The Compose screen's filter and the command palette both use it,
so the two find the same commands in the same order.

Ranking, best first: the id or an alias is the query; an id or alias starts with it; every word is in the
id or an alias; in the name; a value name of a field (the match then carries that `FIELD=VALUE`); in the
help text. Within a rank, commands that only read first (`temperature`: get-features before set-features),
then catalogue order.
"""

from __future__ import annotations

from dataclasses import dataclass

from nvtui.catalogue.model import Catalogue, CommandDef

__all__ = ["Match", "search"]


@dataclass(frozen=True)
class Match:
    """One search result: the command, the field values the match stands for (`lid=smart`) and its rank."""

    defn: CommandDef
    assignments: tuple[tuple[str, str], ...] = ()
    rank: int = 0

    @property
    def key(self) -> str:
        """The command line it stands for (`get-log-page lid=smart`): unique among the results."""
        return " ".join([self.defn.id, *(f"{k}={v}" for k, v in self.assignments)])

    @property
    def why(self) -> str:
        """What matched, for the reader: the command's name, or the value it was found by."""
        return self.defn.name


def _all_in(words: list[str], *texts: str) -> bool:
    hay = " ".join(texts).lower()
    return all(w in hay for w in words)


def search(catalogue: Catalogue, query: str) -> list[Match]:
    """The commands `query` finds, best first (see the module's note). An empty query finds every
    command, in catalogue order."""
    words = query.lower().replace("=", " ").split()
    if not words:
        return [Match(e) for e in catalogue.entries]
    joined = "-".join(words)
    found: list[Match] = []
    for e in catalogue.entries:
        names = (e.id, *e.aliases)
        if joined in names or " ".join(words) in names:
            found.append(Match(e, rank=0))
        elif any(n.startswith(joined) for n in names):
            found.append(Match(e, rank=1))
        elif _all_in(words, *names):
            found.append(Match(e, rank=2))
        elif _all_in(words, e.name, e.set, *names, f"{e.opcode:#04x}"):
            found.append(Match(e, rank=3))
        elif _all_in(words, e.name, e.help, *names):
            found.append(Match(e, rank=5))
        found.extend(_by_value(e, words))
    order = {id(e): i for i, e in enumerate(catalogue.entries)}
    return sorted(found, key=lambda m: (m.rank, m.defn.destructive, order[id(m.defn)]))


def _by_value(e: CommandDef, words: list[str]) -> list[Match]:
    """Rows for the fields' named values the words find: each word is in the value's name, or in the
    command's id, name or aliases (`log smart` finds `get-log-page lid=smart`). A preset's fixed field is
    not offered again."""
    out: list[Match] = []
    command_text = " ".join((e.id, e.name, *e.aliases)).lower()
    for f in e.fields:
        if f.fixed_by is not None:
            continue
        for value_name in f.values:
            if not any(w in value_name for w in words):
                continue
            if all(w in value_name or w in command_text for w in words):
                out.append(Match(e, ((f.name, value_name),), rank=4))
    return out
