"""What the TUI's views are built from (nvtui.present, nvtui.zoned), checked without a screen: decoded records
as rows, zones, the health card, the fields that tell history entries apart, a zoned namespace's geometry,
and the effects log read for the namespace's own command set."""

from __future__ import annotations

import json

from nvtui.catalogue import load_catalogue
from nvtui.nvme.decode import decode
from nvtui.present import (
    Row,
    collapsed_value,
    decoded_tree,
    health_card,
    key_fields,
    numeric_fields,
    record_number,
    zone_rows,
    zone_state_counts,
)
from nvtui.session import Session, probe_device, send_once
from nvtui.zoned import probe_zone_geometry


def identify_controller_bytes() -> bytes:
    data = bytearray(4096)
    data[24:30] = b"ACME X"
    data[256:258] = (0x12).to_bytes(2, "little")  # oacs: Format NVM, Device Self-test
    data[263] = 1  # npss: 2 power states
    data[3072:3076] = b"\xde\xad\xbe\xef"  # vendor specific
    return bytes(data)


def find(rows: tuple[Row, ...], name: str) -> Row:
    for row in rows:
        if row.name == name:
            return row
        try:
            return find(row.children, name)
        except KeyError:
            continue
    raise KeyError(name)


def test_identify_controller_rows_are_in_the_specs_sections() -> None:
    rows = decoded_tree(decode("identify-controller", identify_controller_bytes()))
    assert [r.name for r in rows][:3] == [
        "Controller capabilities and features",
        "Admin command set attributes and optional controller capabilities",
        "NVM command set attributes",
    ]
    assert all(r.section and r.expanded for r in rows)
    assert find(rows, "mn").value == "ACME X"


def test_vendor_specific_is_collapsed_to_its_size_and_first_bytes_with_its_hex_underneath() -> None:
    vs = find(decoded_tree(decode("identify-controller", identify_controller_bytes())), "vs")
    assert vs.value == "1024 B: de ad be ef 00 00 00 00 …"
    assert vs.children[0].line and vs.children[0].name.startswith("00000c00  de ad be ef")
    assert collapsed_value(bytes(300)) == "300 B, all zero"


def test_a_flags_field_lists_every_named_bit_set_or_clear() -> None:
    oacs = find(decoded_tree(decode("identify-controller", identify_controller_bytes())), "oacs")
    bits = {row.meaning: row.value for row in oacs.children}
    assert bits["Format NVM"] == "set" and bits["Device Self-test"] == "set"
    assert bits["Security Send/Receive"] == "clear"
    assert oacs.children[0].where == "256.0"


def test_power_states_are_an_array_of_elements() -> None:
    psd = find(decoded_tree(decode("identify-controller", identify_controller_bytes())), "psd")
    assert psd.value == "2 entries" and [e.name for e in psd.children] == ["[0]", "[1]"]
    assert find(psd.children, "mp").path == "psd[0].mp"


def test_the_json_of_a_record_is_what_it_was() -> None:
    record = decode("identify-controller", identify_controller_bytes())
    assert "flags" not in json.dumps(record.to_json())  # the named bits are for views only
    assert record.to_json()["oacs"] == 0x12


def test_numeric_fields_and_their_values_by_path() -> None:
    record = decode("smart-log", smart_bytes(310, 0, 7))
    paths = [row.path for row in numeric_fields(decoded_tree(record))]
    assert "temperature" in paths and "data_units_written" in paths
    assert record_number(record, "critical_warning") == record.to_json()["critical_warning"]


def smart_bytes(temperature_k: int, warning: int, units_written: int) -> bytes:
    data = bytearray(512)
    data[0] = warning
    data[1:3] = temperature_k.to_bytes(2, "little")
    data[3], data[4], data[5] = 97, 10, 3
    data[48:64] = units_written.to_bytes(16, "little")
    data[128:144] = (1234).to_bytes(16, "little")
    return bytes(data)


def test_the_health_card_in_degrees_bytes_hours_and_warning_names() -> None:
    card = health_card(decode("smart-log", smart_bytes(318, 0b10, 3)))
    assert card is not None
    assert card.temperature_c == 45
    assert (card.avail_spare, card.spare_thresh, card.percent_used) == (97, 10, 3)
    assert card.bytes_written == 3 * 512_000 and card.power_on_hours == 1234
    assert card.warnings == ("temperature threshold",)
    assert "available spare below threshold" in card.clear_warnings
    assert health_card(decode("identify-controller", identify_controller_bytes())) is None


def zone_report(*zones: tuple[int, int, int, int]) -> bytes:
    data = bytearray(64 + 64 * len(zones))
    data[0:8] = len(zones).to_bytes(8, "little")
    for i, (state, zslba, wp, zcap) in enumerate(zones):
        base = 64 + 64 * i
        data[base] = 0x2
        data[base + 1] = state << 4
        data[base + 8 : base + 16] = zcap.to_bytes(8, "little")
        data[base + 16 : base + 24] = zslba.to_bytes(8, "little")
        data[base + 24 : base + 32] = wp.to_bytes(8, "little")
    return bytes(data)


def test_a_zone_report_becomes_one_row_per_zone_with_its_fill() -> None:
    rows = zone_rows(
        decode("zone-report", zone_report((0x2, 0, 8, 16), (0xE, 32, 32, 16), (0x1, 64, 64, 16)))
    )
    assert rows is not None
    assert [(z.zslba, z.state_name, z.type_name) for z in rows] == [
        (0, "Implicitly Opened", "Sequential Write Required"),
        (32, "Full", "Sequential Write Required"),
        (64, "Empty", "Sequential Write Required"),
    ]
    assert [z.fill for z in rows] == [0.5, 1.0, 0.0]
    assert [z.state_key for z in rows] == ["implicitly-opened", "full", "empty"]
    assert zone_state_counts(rows) == [("Implicitly Opened", 1), ("Full", 1), ("Empty", 1)]
    assert zone_rows(decode("smart-log", bytes(512))) is None


def test_history_rows_name_the_fields_that_tell_them_apart() -> None:
    catalogue = load_catalogue(user_dir=False)
    features = catalogue.get("get-features")
    assert key_fields(features, {"nsid": 0, "fid": 4, "sel": 0, "cdw11": 0, "uuid": 0}) == [
        "fid=temperature-threshold"
    ]
    assert key_fields(features, {"nsid": 0, "fid": 4, "sel": 2, "cdw11": 0, "uuid": 0}) == [
        "fid=temperature-threshold",
        "sel=saved",
    ]


async def test_the_zoned_namespace_reads_the_effects_of_the_zns_command_set() -> None:
    catalogue = load_catalogue(user_dir=False)
    profile = await probe_device(catalogue, "sim0n2")
    assert profile.command_set == "zns"
    assert {"zone-append", "zone-mgmt-send", "zone-mgmt-recv"} <= set(profile.supported["io"])
    nvm = await probe_device(catalogue, "sim0n1")
    assert nvm.command_set == "nvm" and "zone-append" in nvm.unsupported["io"]


async def test_zone_geometry_of_the_zoned_namespace() -> None:
    catalogue = load_catalogue(user_dir=False)
    geometry, why = await probe_zone_geometry(catalogue, "sim0n2")
    assert why is None and geometry is not None
    session = Session(catalogue)
    try:
        zns = await send_once(session, "sim0n2", "identify", ["cns=csi-namespace", "csi=zns"])
        ns = await send_once(session, "sim0n2", "identify", ["cns=namespace"])
    finally:
        await session.close()
    assert zns.decoded is not None and ns.decoded is not None
    assert geometry.zones * geometry.zone_size == ns.decoded.value("nsze")
    assert geometry.max_open == zns.decoded["mor"].meaning  # type: ignore[union-attr]
    assert geometry.zone_capacity is not None and geometry.zone_capacity <= geometry.zone_size


def test_the_field_that_chooses_what_comes_back_is_named_even_at_its_default() -> None:
    catalogue = load_catalogue(user_dir=False)
    log = catalogue.get("get-log-page")
    smart = next(f for f in log.fields if f.name == "lid").values["smart"]
    values = {f.name: f.default or 0 for f in log.fields}
    values["lid"] = smart
    assert key_fields(log, values)[0] == "lid=smart"
    identify = catalogue.get("identify")
    assert key_fields(identify, {"nsid": 0, "cns": 1, "cntid": 0, "cnssid": 0, "csi": 0, "uuid": 0}) == [
        "cns=controller"
    ]


async def test_a_watch_series_takes_the_field_from_each_result_and_refuses_destructive_commands() -> None:
    from nvtui.watching import WatchSeries, step_interval, unwatchable

    catalogue = load_catalogue(user_dir=False)
    session = Session(catalogue)
    try:
        smart = await send_once(session, "sim0n1", "get-log-page", ["lid=smart", "numd=128"])
        opened = await send_once(
            session, "sim0n2", "zone-mgmt-send", ["slba=0", "zsa=open"], allow_destructive=True
        )
    finally:
        await session.close()
    assert unwatchable(smart.prepared) is None
    assert "destructive" in (unwatchable(opened.prepared) or "")
    series = WatchSeries("get-log-page", "temperature")
    assert series.add(0.0, smart) == smart.decoded.value("temperature")  # type: ignore[union-attr]
    assert series.add(1.0, opened) is None and series.failures == 1
    assert series.chart_data() == ((0.0,), (float(smart.decoded.value("temperature")),))  # type: ignore[union-attr,arg-type]
    assert step_interval(2.0, -1) == 1.0 and step_interval(0.5, -1) == 0.5 and step_interval(60.0, 1) == 60.0
