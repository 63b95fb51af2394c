"""Properties over every catalogue entry: in-range values round-trip through encode/decode_fields, and
out-of-range values are always refused, never truncated."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from nvtui.catalogue import Catalogue, CommandDef, FieldDef, load_catalogue
from nvtui.errors import UsageError

CATALOGUE: Catalogue = load_catalogue(user_dir=False)
ENTRIES = [e.id for e in CATALOGUE.entries]
SENDABLE = [e.id for e in CATALOGUE.entries if not e.refused]
LBA_SIZE = 512
PROPS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def in_range(f: FieldDef) -> st.SearchStrategy[int]:
    choices = st.integers(f.min, f.max)
    if f.values:
        named = [v for v in f.values.values() if f.min <= v <= f.max]
        if named:
            choices = st.one_of(st.sampled_from(named), choices)
    return choices


def draw_values(defn: CommandDef, data: st.DataObject) -> dict[str, int]:
    """In-range values for every field; a byte string (a KV key) with its length field set to its length."""
    values = {f.name: data.draw(in_range(f), label=f.name) for f in defn.fields if f.kind != "bytes"}
    for f in defn.fields:
        if f.kind == "bytes" and f.length_field is not None:
            lf = defn.field(f.length_field)
            raw = data.draw(st.binary(min_size=max(f.min_bytes, lf.min), max_size=min(f.max_bytes, lf.max)))
            values[f.name], values[lf.name] = int.from_bytes(raw, "little"), len(raw)
    return {f.name: values[f.name] for f in defn.fields}


def length_args(defn: CommandDef, values: dict[str, int]) -> dict[str, int]:
    """A --data-len for commands whose length no field gives; nothing otherwise."""
    expected = defn.expected_length(values, LBA_SIZE)
    return {"data_len": 4096} if expected.kind == "user" else {}


@pytest.mark.parametrize("entry_id", SENDABLE)
@PROPS
@given(data=st.data())
def test_in_range_values_round_trip(entry_id: str, data: st.DataObject) -> None:
    defn = CATALOGUE.get(entry_id)
    values = draw_values(defn, data)
    assume(defn.refusal(values) is None)  # raw opcodes of refused commands never encode
    cmd = defn.encode(values, lba_size=LBA_SIZE, **length_args(defn, values))
    assert defn.decode_fields(cmd) == values
    assert cmd.opcode == (values["opcode"] if defn.raw else defn.opcode)
    assert cmd.admin == defn.admin
    # Text in any base the parser accepts says the same thing.
    as_text = [f"{name}={value:#x}" if value % 2 else f"{name}={value}" for name, value in values.items()
               if defn.field(name).kind != "bytes"]  # fmt: skip
    as_text += [f"{f.name}={defn.text_of(f.name, values)}" for f in defn.fields if f.kind == "bytes"]
    assert defn.parse_values(as_text) == values


@pytest.mark.parametrize("entry_id", ENTRIES)
@PROPS
@given(data=st.data())
def test_out_of_range_values_are_refused(entry_id: str, data: st.DataObject) -> None:
    defn = CATALOGUE.get(entry_id)
    f = data.draw(st.sampled_from(defn.fields), label="field")
    bad = data.draw(
        st.one_of(st.integers(f.max + 1, f.max + 2**70), st.integers(-(2**70), f.min - 1)), label="value"
    )
    # A byte string's text is not a number: too long a one is out of its range.
    text = "k" * (f.max_bytes + 1 + bad % 7) if f.kind == "bytes" else str(bad)
    with pytest.raises(UsageError, match=rf"^field {f.name}: "):
        defn.parse_values([f"{f.name}={text}"])
    with pytest.raises(UsageError, match=rf"^field {f.name}: "):
        defn.encode({f.name: bad}, lba_size=LBA_SIZE, data_len=4096)
