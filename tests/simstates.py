"""Checkpoints as older nvtui versions wrote them, for the tests that read an old drive."""

from __future__ import annotations

from typing import Any

KV_NSID = "3"  # the Key Value namespace a new drive has had since schema 6


def older_state(state: dict[str, Any], schema: int) -> dict[str, Any]:
    """`state` (a checkpoint this nvtui wrote) as an nvtui of `schema` wrote it, as far as its namespaces go:
    before schema 6 no drive had the Key Value namespace 3 (its entries go; its files, left beside, are
    those of a namespace that does not exist, removed at the next power-on). The parts a test removes
    (firmware, directives, ...) are the test's own."""
    state["schema"] = schema
    if schema < 6:
        for part in ("namespace_set", "namespaces", "reservations"):
            if isinstance(state.get(part), dict):
                state[part].pop(KV_NSID, None)
    return state
