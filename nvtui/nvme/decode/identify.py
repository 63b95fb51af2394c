"""What nvtui needs from Identify data beyond showing it: the LBA format a namespace is in.

The Identify data structures themselves are layouts (nvtui/structures/identify.yaml); this reads them
through the engine, never by slicing bytes.
"""

from __future__ import annotations

from nvtui.nvme.decode.base import Record
from nvtui.nvme.meanings import current_format, lba_format_index

__all__ = ["IDENTIFY_DATA_SIZE", "current_lba_format", "lba_format_index"]

IDENTIFY_DATA_SIZE = 4096


def current_lba_format(source: Record | bytes) -> tuple[int, int, bool]:
    """(LBA data size in bytes, metadata bytes per LBA, metadata extended) of the format a namespace is in.

    `source` is an `identify-namespace` Record or the raw Identify Namespace data. Extended means the
    metadata travels at the end of each LBA's data (FLBAS bit 4), not in a separate buffer.
    Raises ValueError when FLBAS points past NLBAF or at a format whose LBADS is not supported (< 9).
    """
    if isinstance(source, Record):
        if source.name != "identify-namespace":
            raise ValueError(f"current_lba_format needs an identify-namespace record, not {source.name!r}")
        values = source.to_json()
    else:
        from nvtui import structures

        values = structures.decode("identify-namespace", bytes(source)).to_json()
    _, size, ms = current_format(values)
    flbas = values["flbas"]
    return size, ms, isinstance(flbas, int) and bool(flbas >> 4 & 1)
