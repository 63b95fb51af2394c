"""Decoders: raw data buffers to one structured `Record` (see base.py)."""

from __future__ import annotations

from nvtui.nvme.decode import features, identify, logs, zns  # noqa: F401  (registers the decoders)
from nvtui.nvme.decode.base import DECODERS, Field, Group, Record

__all__ = ["DECODERS", "Field", "Group", "Record", "decode", "decoder_names"]


def decode(name: str, data: bytes, **context: object) -> Record:
    """Decode `data` with the decoder registered as `name`; context carries e.g. `nsid`, `lba_size`."""
    try:
        fn = DECODERS[name]
    except KeyError:
        raise KeyError(f"no decoder named {name!r}; known: {', '.join(sorted(DECODERS))}") from None
    return fn(data, **context)


def decoder_names() -> list[str]:
    return sorted(DECODERS)
