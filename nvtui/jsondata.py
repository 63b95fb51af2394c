"""Dataclasses to JSON and back, driven by their type hints: data only, so reading it can never run code.

`to_json(value, Hint)` gives plain JSON data (dicts, lists, strings, numbers, booleans, null) and
`from_json(data, Hint)` rebuilds the value, checking each part against the hint on the way (a wrong part
raises `JsonDataError`). What the hints may say:

- `int`, `str`, `bool`, `float`, `None`, `Any` (plain JSON data, tuples written as lists), `Literal[...]`;
- `Path` (a string), an `Enum` (by member name);
- `tuple[X, ...]`, `tuple[X, Y]`, `list[X]`, `Sequence[X]`, `frozenset[X]`, `set[X]` (lists);
- `dict[K, V]` and `Mapping[K, V]` (an object when K is `str`, else a list of `[key, value]` pairs);
- a dataclass (an object of its `__init__` fields, by name), and unions of all these: a union may hold at
  most one member per kind of JSON value (null, boolean, number, string, list, object), except dataclasses,
  which are told apart by a `"$type"` key naming the class.

Every dataclass reachable through the hints of the one asked for is known by name; a dataclass that appears
only as a subclass of a hint's class (not named in any hint) needs `register(cls)`. A new dataclass in a
cached result (a structure layout, say) needs no code here: naming it in a field's hint is enough.

A class that is not a dataclass but stands where a hint says `Sequence[...]` or `Mapping[...]` (a compact
list of its own, say) is written through a dataclass of its state: `register_adapter(cls, State, to_state,
from_state)`; it is then written as that state, with a `"$type"` naming it, and read back as `cls`.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import PurePath
from typing import Any, TypeVar

__all__ = ["JsonDataError", "from_json", "register", "register_adapter", "to_json"]

T = TypeVar("T")
Codec = Callable[[Any], Any]
TYPE_KEY = "$type"


class JsonDataError(ValueError):
    """JSON data that does not match the hint it is read as."""


# Every dataclass known by name (registered, or found through hints); two classes may share a name, the
# hint at hand tells them apart.
_REGISTRY: dict[str, list[type]] = {}
_ENCODERS: dict[Any, Codec] = {}
_DECODERS: dict[Any, Codec] = {}


def register(*classes: type) -> None:
    """Make dataclasses known by name (needed only for one that no hint names, only its base class)."""
    for cls in classes:
        _known(cls)


# A container class that is no dataclass -> (the dataclass of its state, to the state, from the state).
_ADAPTERS: dict[type, tuple[type, Callable[[Any], Any], Callable[[Any], Any]]] = {}
_ADAPTED: dict[str, type] = {}  # the state dataclass's name -> the class it stands for


def register_adapter(
    cls: type[T], state: type, to_state: Callable[[T], Any], from_state: Callable[[Any], T]
) -> None:
    """Write instances of `cls` (found where a hint says Sequence or Mapping) as the dataclass `state`."""
    _known(state)
    _ADAPTERS[cls] = (state, to_state, from_state)
    _ADAPTED[state.__qualname__] = cls


def _adapted(value: Any) -> Any:
    state, to_state, _ = _ADAPTERS[type(value)]
    return {**_encoder(state)(to_state(value)), TYPE_KEY: state.__qualname__}


def _from_adapted(data: dict[str, Any], origin: Any) -> Any:
    cls = _ADAPTED.get(data.get(TYPE_KEY))  # type: ignore[arg-type]
    if cls is None or not issubclass(cls, origin):
        raise JsonDataError(
            f"{data.get(TYPE_KEY)!r} is not a known kind of {getattr(origin, '__name__', origin)}"
        )
    state, _, from_state = _ADAPTERS[cls]
    return from_state(_decoder(state)(data))


def to_json(value: Any, hint: Any) -> Any:
    """`value` (of type `hint`) as plain JSON data."""
    return _encoder(hint)(value)


def from_json(data: Any, hint: type[T]) -> T:
    """The value of type `hint` that `to_json` wrote as `data`; JsonDataError when `data` does not fit."""
    try:
        return typing.cast(T, _decoder(hint)(data))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, JsonDataError):
            raise
        raise JsonDataError(f"{type(exc).__name__}: {exc}") from None


# --- hints -----------------------------------------------------------------------------------------------


def _known(cls: type) -> None:
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    same_name = _REGISTRY.setdefault(cls.__qualname__, [])
    if cls not in same_name:
        same_name.append(cls)


def _named(name: object, within: Sequence[type]) -> type | None:
    """The known dataclass called `name` that is one of `within` or a subclass of one."""
    for cls in _REGISTRY.get(name, []) if isinstance(name, str) else []:
        if any(issubclass(cls, base) for base in within):
            return cls
    return None


def _fields(cls: type) -> list[tuple[str, Any]]:
    """(name, hint) of each `__init__` field, the hints resolved in the class's module."""
    hints = typing.get_type_hints(cls)
    return [(f.name, hints[f.name]) for f in dataclasses.fields(cls) if f.init]


def _members(hint: Any) -> tuple[Any, ...] | None:
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return typing.get_args(hint)
    return None


def _json_kind(hint: Any) -> str:
    """Which kind of JSON value a (non-union) hint is written as."""
    if hint is type(None) or hint is None:
        return "null"
    if hint is bool:
        return "boolean"
    if hint in (int, float):
        return "number"
    if hint is str or (isinstance(hint, type) and issubclass(hint, PurePath | enum.Enum)):
        return "string"
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        kinds = {_json_kind(type(a)) for a in typing.get_args(hint)}
        if len(kinds) != 1:
            raise TypeError(f"{hint!r}: a Literal of one kind of value only")
        return kinds.pop()
    if origin in (tuple, list, frozenset, set, Sequence):
        return "list"
    if origin in (dict, Mapping):
        key = typing.get_args(hint)[0]
        return "object" if key is str else "list"
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return "dataclass"
    raise TypeError(f"no JSON form for {hint!r}")


# --- encoders --------------------------------------------------------------------------------------------


def _encoder(hint: Any) -> Codec:
    codec = _ENCODERS.get(hint)
    if codec is None:
        _ENCODERS[hint] = _lazy(_encoder, hint)  # a dataclass may name itself (recursion)
        codec = _ENCODERS[hint] = _make_encoder(hint)
    return codec


def _lazy(make: Callable[[Any], Codec], hint: Any) -> Codec:
    return lambda value: make(hint)(value)


def _same(value: Any) -> Any:
    return value


def _as_data(value: Any) -> Any:
    """`Any`: JSON data as it is, tuples as lists."""
    if isinstance(value, tuple | list):
        return [_as_data(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _as_data(v) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"no JSON form for {type(value).__name__} in an Any field")


def _make_encoder(hint: Any) -> Codec:
    if hint is Any or hint is object:
        return _as_data
    if hint in (int, str, bool, float, type(None), None):
        return _same
    members = _members(hint)
    if members is not None:
        return _union_encoder(members)
    if isinstance(hint, type) and issubclass(hint, PurePath):
        return str
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return lambda value: value.name
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        return _same
    if origin in (tuple, list, frozenset, set, Sequence):
        if origin is tuple and args and args[-1] is not Ellipsis:
            items = [_encoder(a) for a in args]
            return lambda value: [enc(v) for enc, v in zip(items, value, strict=True)]
        item = _encoder(args[0] if args else Any)
        return lambda value: _adapted(value) if type(value) in _ADAPTERS else [item(v) for v in value]
    if origin in (dict, Mapping):
        key, val = (_encoder(a) for a in args) if args else (_as_data, _as_data)
        if args and args[0] is str:
            return lambda value: (
                _adapted(value) if type(value) in _ADAPTERS else {k: val(v) for k, v in value.items()}
            )
        return lambda value: (
            _adapted(value) if type(value) in _ADAPTERS else [[key(k), val(v)] for k, v in value.items()]
        )
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _dataclass_encoder(hint)
    raise TypeError(f"no JSON form for {hint!r}")


def _dataclass_encoder(cls: type) -> Codec:
    _known(cls)
    fields = [(name, _encoder(h)) for name, h in _fields(cls)]

    def encode(value: Any) -> Any:
        if type(value) is not cls:  # a subclass: written with its name, read as itself
            out = _encoder(type(value))(value)
            out[TYPE_KEY] = type(value).__qualname__
            return out
        return {name: enc(getattr(value, name)) for name, enc in fields}

    return encode


def _union_encoder(members: tuple[Any, ...]) -> Codec:
    plain = [m for m in members if _json_kind(m) != "dataclass"]
    kinds = [_json_kind(m) for m in plain]
    for kind in set(kinds):
        if kinds.count(kind) > 1:
            raise TypeError(f"Union{list(members)!r}: two members are written as JSON {kind}s")
    classes = [m for m in members if _json_kind(m) == "dataclass"]
    for cls in classes:
        _known(cls)

    def encode(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            out = _encoder(type(value))(value)
            if type(out) is dict:
                out = {**out, TYPE_KEY: type(value).__qualname__}
            return out
        for m in plain:
            if _fits(value, m):
                return _encoder(m)(value)
        raise TypeError(f"{type(value).__name__} is none of {members!r}")

    return encode


def _fits(value: Any, hint: Any) -> bool:
    if hint is type(None) or hint is None:
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint in (int, float):
        return isinstance(value, hint) and not isinstance(value, bool)
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if origin is not None:
        return isinstance(value, origin if origin is not Sequence else tuple | list)
    return isinstance(value, hint)


# --- decoders --------------------------------------------------------------------------------------------


def _decoder(hint: Any) -> Codec:
    codec = _DECODERS.get(hint)
    if codec is None:
        _DECODERS[hint] = _lazy(_decoder, hint)
        codec = _DECODERS[hint] = _make_decoder(hint)
    return codec


def _expect(*kinds: type) -> Codec:
    """The JSON value itself when its type is one of `kinds` (exactly: a boolean is not an integer)."""

    def decode(data: Any) -> Any:
        if type(data) not in kinds:
            raise _wrong(data, kinds)
        return data

    return decode


def _wrong(data: Any, kinds: tuple[type, ...]) -> JsonDataError:
    return JsonDataError(f"expected {' or '.join(k.__name__ for k in kinds)}, got {type(data).__name__}")


def _plain_kinds(hint: Any) -> tuple[type, ...] | None:
    """The JSON types a hint of plain values takes as they are (int, str, bool, float, None and their unions),
    checked inline by the containers (the cache reads thousands of them at each start); None otherwise."""
    if hint in (int, str, bool):
        return (hint,)
    if hint is float:
        return (int, float)
    if hint is type(None) or hint is None:
        return (type(None),)
    members = _members(hint)
    if members is not None:
        parts = [_plain_kinds(m) for m in members]
        if all(parts):
            return tuple(t for part in parts for t in part or ())
    return None


def _make_decoder(hint: Any) -> Codec:
    if hint is Any or hint is object:
        return _same
    kinds = _plain_kinds(hint)
    if kinds is not None:
        return _expect(*kinds)
    members = _members(hint)
    if members is not None:
        return _union_decoder(members)
    if isinstance(hint, type) and issubclass(hint, PurePath):
        text = _expect(str)
        return lambda data: hint(text(data))
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        name = _expect(str)
        return lambda data: hint[name(data)]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:

        def literal(data: Any) -> Any:
            for a in args:
                if data == a and type(data) is type(a):
                    return a
            raise JsonDataError(f"expected one of {args!r}, got {data!r}")

        return literal
    if origin in (tuple, list, frozenset, set, Sequence):
        make: Callable[[Any], Any] = {tuple: tuple, list: list, frozenset: frozenset, set: set}.get(
            origin, tuple
        )
        if origin is tuple and args and args[-1] is not Ellipsis:
            items = [_decoder(a) for a in args]

            def fixed(data: Any) -> Any:
                if type(data) is not list or len(data) != len(items):
                    raise JsonDataError(f"expected a list of {len(items)}, got {data!r:.40}")
                return tuple(dec(v) for dec, v in zip(items, data, strict=True))

            return fixed
        return _sequence_decoder(make, args[0] if args else Any, origin)
    if origin in (dict, Mapping):
        key_hint, value_hint = args or (Any, Any)
        return _mapping_decoder(key_hint, value_hint, origin)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _dataclass_decoder(hint)
    raise TypeError(f"no JSON form for {hint!r}")


def _sequence_decoder(make: Callable[[Any], Any], item_hint: Any, origin: Any) -> Codec:
    kinds = _plain_kinds(item_hint)
    item = _decoder(item_hint)

    def decode(data: Any) -> Any:
        if type(data) is not list:
            if type(data) is dict and TYPE_KEY in data:
                return _from_adapted(data, origin)
            raise _wrong(data, (list,))
        if kinds is None:
            return make([item(v) for v in data])
        for v in data:
            if type(v) not in kinds:
                raise _wrong(v, kinds)
        return make(data)

    return decode


def _mapping_decoder(key_hint: Any, value_hint: Any, origin: Any) -> Codec:
    key, val = _decoder(key_hint), _decoder(value_hint)
    if key_hint is str:  # an object

        def decode_object(data: Any) -> Any:
            if type(data) is not dict:
                raise _wrong(data, (dict,))
            if TYPE_KEY in data:
                return _from_adapted(data, origin)
            return {k: val(v) for k, v in data.items()}

        return decode_object

    def decode_pairs(data: Any) -> Any:  # [[key, value], ...]; a tuple key decodes to a (hashable) tuple
        if type(data) is not list:
            if type(data) is dict and TYPE_KEY in data:
                return _from_adapted(data, origin)
            raise _wrong(data, (list,))
        return {key(k): val(v) for k, v in data}

    return decode_pairs


def _dataclass_decoder(cls: type) -> Codec:
    _known(cls)
    hints = _fields(cls)
    plain = [(name, kinds) for name, h in hints if (kinds := _plain_kinds(h)) is not None]
    rest = [(name, _decoder(h)) for name, h in hints if _plain_kinds(h) is None]

    def decode(data: Any) -> Any:
        if type(data) is not dict:
            raise _wrong(data, (dict,))
        named = data.get(TYPE_KEY)
        if named is not None and named != cls.__qualname__:
            sub = _named(named, (cls,))
            if sub is None:
                raise JsonDataError(f"{named!r} is not a known kind of {cls.__name__}")
            return _decoder(sub)(data)
        values = {}
        for name, kinds in plain:
            value = data[name]
            if type(value) not in kinds:
                raise _wrong(value, kinds)
            values[name] = value
        for name, dec in rest:
            values[name] = dec(data[name])
        return cls(**values)

    return decode


def _union_decoder(members: tuple[Any, ...]) -> Codec:
    by_kind: dict[str, Codec] = {}
    classes = [m for m in members if _json_kind(m) == "dataclass"]
    for m in members:
        if m in classes:
            _known(m)
        else:
            by_kind[_json_kind(m)] = _decoder(m)

    def decode(data: Any) -> Any:
        if type(data) is dict and TYPE_KEY in data:
            cls = _named(data[TYPE_KEY], classes)
            if cls is None:
                raise JsonDataError(f"{data[TYPE_KEY]!r} is none of {members!r}")
            return _decoder(cls)(data)
        kind = _KINDS.get(type(data), "object")
        dec = by_kind.get(kind)
        if dec is None:
            raise JsonDataError(f"a JSON {kind} is none of {members!r}")
        return dec(data)

    return decode


_KINDS = {type(None): "null", bool: "boolean", int: "number", float: "number", str: "string", list: "list"}
