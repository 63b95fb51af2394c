"""What nvtui needs from log pages beyond showing them: the opcodes a Commands Supported and Effects log
says are supported. The log pages themselves are layouts (nvtui/structures/logs.yaml), read here through the
engine, never by slicing bytes."""

from __future__ import annotations

from nvtui.nvme.decode.base import Group

__all__ = ["supported_opcodes"]


def supported_opcodes(data: bytes) -> tuple[set[int], set[int]]:
    """(admin, I/O) opcodes whose CSUPP bit is set in a Commands Supported and Effects log."""
    from nvtui import structures

    record = structures.decode("effects-log", data)

    def supported(name: str) -> set[int]:
        group = record[name]
        assert isinstance(group, Group)
        return {int(entry.value("opcode") or 0) for entry in group.records}  # type: ignore[arg-type]

    return supported("acs"), supported("iocs")
