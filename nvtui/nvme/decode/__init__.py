"""Decoding: raw data buffers to one structured `Record` (see base.py).

Every structure is a YAML layout decoded by one engine (`nvtui.structures`): a decode rule names a layout
by its id. A few decoders are Python that only chooses a layout (`feature-result` picks one by Feature
Identifier and select); none slices bytes. Their modules are imported when first used, not with this
package. `DECODER_MODULES` names the module that registers each (a test checks it against what the modules
register); `DECODERS`, the registry itself, is complete once asked for by name.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from nvtui.nvme.decode.base import Field, Group, Record

if TYPE_CHECKING:
    from nvtui.nvme.decode.base import DECODERS, Decoder

__all__ = ["DECODERS", "DECODER_MODULES", "Field", "Group", "Record", "decode", "decoder_names"]

# decoder name -> the module (in this package) whose import registers it
DECODER_MODULES: dict[str, str] = {"feature-result": "features"}


def _registry() -> dict[str, Decoder]:
    from nvtui.nvme.decode import base

    return base.DECODERS


def load_all() -> dict[str, Decoder]:
    """Import every decoder module; the registry, complete."""
    for module in sorted(set(DECODER_MODULES.values())):
        import_module(f"{__name__}.{module}")
    return _registry()


def _lookup(name: str) -> Decoder | None:
    """The Python decoder registered as `name`; None when `name` is a structure layout's id."""
    registry = _registry()
    if name not in registry and name in DECODER_MODULES:
        import_module(f"{__name__}.{DECODER_MODULES[name]}")
    if name in registry:
        return registry[name]
    from nvtui import structures

    if name in structures.layouts():
        return None
    known = sorted(set(load_all()) | set(DECODER_MODULES) | set(structures.layouts()))
    raise KeyError(f"no decoder or structure named {name!r}; known: {', '.join(known)}")


def decode(name: str, data: bytes, **context: object) -> Record:
    """Decode `data` with the decoder or structure layout named `name`; context carries e.g. `fid`,
    `nlbaf`, `zdes_bytes` (what the catalogue's decode rule passes)."""
    fn = _lookup(name)
    if fn is not None:
        return fn(data, **context)
    from nvtui import structures

    return structures.decode(name, data, **context)


def decoder_names() -> list[str]:
    """Every decoder's and structure's name, without importing a decoder module or loading a layout."""
    from nvtui import structures

    return sorted(set(DECODER_MODULES) | set(_registry()) | structures.quick_ids())


def __getattr__(name: str) -> object:
    if name == "DECODERS":
        return load_all()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
