"""Hypothesis strategies for the simulator's state: damaged state files and journals, planted symlinks,
kill points. A damaged state is a valid one (as the simulator wrote it) with one or more edits, each
described, so a failing example says what was done to the file."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

from nvtui.backend.sim.state import state_files

# Values that are wrong in most places of a state file, and a few that are wrong only somewhere.
GARBAGE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(1 << 70), max_value=1 << 130),
    st.sampled_from([-1, 0, 1, 7, 0xFF, 0xFFFF_FFFF, 1 << 64, 1 << 128]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["!!", "eJwDAAAAAAE=", "AAAA", "x" * 40]),  # not base64, zlib of nothing, ...
    st.lists(st.integers(min_value=-2, max_value=1 << 40), max_size=4),
    st.dictionaries(st.text(max_size=6), st.integers(), max_size=3),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON tree (keys and list indexes), the root's children first."""
    out: list[tuple[Any, ...]] = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        out.append((*prefix, key))
        out.extend(_paths(child, (*prefix, key)))
    return out


def _edit(state: Any, path: tuple[Any, ...], how: str, value: Any) -> str:
    parent = state
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    where = ".".join(map(str, path))
    if how == "delete" and isinstance(parent, dict):
        del parent[last]
        return f"deleted {where}"
    if how == "shorten" and isinstance(parent[last], list) and parent[last]:
        parent[last] = parent[last][:-1]
        return f"shortened {where}"
    if how == "extend" and isinstance(parent[last], list):
        parent[last] = [*parent[last], value]
        return f"appended {value!r} to {where}"
    if how == "add" and isinstance(parent, dict):
        parent[f"{last}x"] = value
        return f"added {where}x = {value!r}"
    parent[last] = value
    return f"set {where} = {value!r}"


@st.composite
def damaged_state(draw: st.DrawFn, valid: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """`valid` with one to three edits: (what was done, the edited state)."""
    state = copy.deepcopy(valid)
    done = []
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = _paths(state)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        how = draw(st.sampled_from(["set", "set", "delete", "shorten", "extend", "add"]))
        done.append(_edit(state, path, how, draw(GARBAGE)))
    return done, state


@st.composite
def damaged_journal(draw: st.DrawFn, journal: bytes) -> tuple[str, bytes]:
    """The bytes of a journal with one edit: a byte changed, cut short, garbage inserted or appended."""
    how = draw(st.sampled_from(["flip", "cut", "insert", "append", "zeros"]))
    at = draw(st.integers(min_value=0, max_value=max(0, len(journal) - 1)))
    junk = draw(st.binary(min_size=1, max_size=24))
    if how == "flip" and journal:
        edited = journal[:at] + bytes([journal[at] ^ draw(st.integers(1, 255))]) + journal[at + 1 :]
    elif how == "cut":
        edited = journal[:at]
    elif how == "insert":
        edited = journal[:at] + junk + journal[at:]
    elif how == "zeros":
        edited = journal + bytes(len(junk) * 64)  # a power loss leaves the file longer, the tail unwritten
    else:
        edited = journal + junk
    return f"{how} at byte {at} ({junk!r})", edited


TEMPORARY_NAMES = (".sim0.json.a1b2c3.tmp", ".sim0.journal.zz.tmp", "sim0.json.tmp")


def planted_symlinks() -> st.SearchStrategy[frozenset[str]]:
    """Some of the names nvtui keeps in the state folder, to plant symlinks at."""
    return st.frozensets(st.sampled_from((*state_files(), *TEMPORARY_NAMES)), min_size=1, max_size=4)


def kill_points() -> st.SearchStrategy[list[float]]:
    """When to SIGKILL a workload, in seconds after its first acknowledged command, for successive runs."""
    return st.lists(st.floats(min_value=0.0, max_value=0.2), min_size=1, max_size=3)
