"""`nvtui send` on the simulated controller: every NVMe 2.x log page and Identify structure it returns is
decoded by its layout, and a whole telemetry log is fetched into a file in MDTS-sized pieces."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nvtui.backend.sim import fdp, identity
from nvtui.backend.sim.logs2x import CONTROLLER_DALB, HOST_DALB, telemetry_block
from nvtui.cli import main

LOG_PAGES = {  # lid name -> (structure, a field and the value the simulated drive reports)
    "supported-log-pages": ("supported-log-pages-log", "lids", None),
    "telemetry-host": ("telemetry-host-log", "dalb3", HOST_DALB[2]),
    "telemetry-controller": ("telemetry-controller-log", "dalb3", CONTROLLER_DALB[2]),
    "endurance-group": ("endurance-group-log", "tegcap", identity.TOTAL_CAPACITY),
    "predictable-latency-per-nvm-set": ("predictable-latency-nvmset-log", "status", 0),
    "predictable-latency-aggregate": ("predictable-latency-aggregate-log", "nentries", 0),
    "persistent-event": ("persistent-event-log", "tnev", 3),
    "lba-status": ("lba-status-log", "lslplen", 16),
    "endurance-group-event-aggregate": ("endurance-group-event-aggregate-log", "nentries", 0),
    "media-unit-status": ("media-unit-status-log", "nmu", 1),
    "supported-capacity-config": ("supported-capacity-config-log", "sccn", 1),
    "feature-identifiers-effects": ("fid-effects-log", "fids", None),
    "nvme-mi-commands-effects": ("mi-commands-effects-log", "cmds", []),
    "command-feature-lockdown": ("command-feature-lockdown-log", "length", 0),
    "boot-partition": ("boot-partition-log", "bpsz", 1),
    "rotational-media": ("rotational-media-log", "nrs", 1),
    "fdp-configurations": ("fdp-configurations-log", "numfdpc", 0),
    "reclaim-unit-handle-usage": ("ruh-usage-log", "nruh", fdp.NRUH),
    "fdp-statistics": ("fdp-statistics-log", "mbe", 0),
    "fdp-events": ("fdp-events-log", "nevents", 0),
    "reservation-notification": ("reservation-notification-log", "rnlpt", 0),
    "sanitize-status": ("sanitize-status-log", "sos", 0),
}

IDENTIFY = {  # cns name -> (nsid, structure, a field and its value)
    "nvm-set-list": (0, "nvm-set-list", "nid", 1),
    "independent-namespace": (1, "identify-ns-independent", "nstat", 1),
    "ns-controller-list": (1, "controller-list", "ids", [{"id": identity.CNTLID}]),
    "controller-list": (0, "controller-list", "num", 1),
    "primary-controller-caps": (0, "primary-ctrl-caps", "cntlid", identity.CNTLID),
    "secondary-controller-list": (0, "secondary-ctrl-list", "num", 0),
    "ns-granularity-list": (0, "ns-granularity-list", "numd", 0),
    "uuid-list": (0, "uuid-list", None, None),
    "domain-list": (0, "domain-list", "num", 1),
    "endurance-group-list": (0, "endurance-group-list", "ids", [{"id": 1}]),
    "io-command-set": (0, "io-command-set-vectors", None, None),
    "allocated-ns-list": (0, "active-namespace-list", None, None),
}


def send_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main(["send", *argv, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


@pytest.mark.parametrize("lid", sorted(LOG_PAGES))
def test_each_log_page_is_decoded_on_the_simulator(capsys: pytest.CaptureFixture[str], lid: str) -> None:
    _, name, value = LOG_PAGES[lid]
    code, out = send_json(capsys, "sim0", "get-log-page", f"lid={lid}", "lsi=1")
    assert code == 0, out["status"]
    decoded = out["decoded"]
    assert decoded is not None, f"{lid} not decoded"
    assert name in decoded
    if value is not None:
        assert decoded[name] == value


def test_the_changed_zone_list_is_decoded(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = send_json(capsys, "sim0n2", "get-log-page", "lid=changed-zone-list", "nsid=2", "csi=zns")
    assert code == 0, out["status"]
    assert out["decoded"]["nrzid"] == 0 and out["decoded"]["zids"] == []


def test_supported_log_pages_lists_what_the_simulator_answers(capsys: pytest.CaptureFixture[str]) -> None:
    _, out = send_json(capsys, "sim0", "get-log-page", "lid=supported-log-pages")
    lids = [entry["lid"] for entry in out["decoded"]["lids"]]
    assert {0x00, 0x02, 0x07, 0x0D, 0x20, 0x23, 0x81, 0xBF} <= set(lids)
    for lid in lids:
        zoned = ["nsid=2", "csi=zns"] if lid == 0xBF else ["nsid=0"]
        code = main(["send", "sim0", "get-log-page", f"lid={lid}", "lsi=1", *zoned, "--json"])
        capsys.readouterr()
        assert code == 0, f"LID {lid:#04x} listed as supported but failed"


def test_fdp_configuration_as_the_simulator_tells_it(capsys: pytest.CaptureFixture[str]) -> None:
    _, out = send_json(capsys, "sim0", "get-log-page", "lid=fdp-configurations", "lsi=1")
    (config,) = out["decoded"]["configs"]
    assert config["fdpcv"] is True and config["nruh"] == 8 and len(config["ruhs"]) == 8
    assert config["dsze"] == 64 + 4 * 8 and config["runs"] == 2 << 20
    assert config["nrg"] == 1 and config["rgif"] == 0 and config["maxpids"] == 7
    _, out = send_json(capsys, "sim0", "get-log-page", "lid=reclaim-unit-handle-usage", "lsi=1")
    # namespace 1's placement handles 0-3 are reclaim unit handles 0-3: host specified; the rest unused
    assert [u["ruha"] for u in out["decoded"]["ruhus"]] == [1, 1, 1, 1, 0, 0, 0, 0]


def test_media_units_and_capacity_configurations_as_the_simulator_tells_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """One media unit in the one endurance group and NVM set, in the one capacity configuration, which is the
    selected one; the endurance group's capacity and estimate are the Endurance Group log's."""
    _, units = send_json(capsys, "sim0", "get-log-page", "lid=media-unit-status", "lsi=0")
    _, configs = send_json(capsys, "sim0", "get-log-page", "lid=supported-capacity-config", "lsi=1")
    _, group = send_json(capsys, "sim0", "get-log-page", "lid=endurance-group", "lsi=1")
    (unit,) = units["decoded"]["mus"]
    assert (unit["endgid"], unit["nvmsetid"], unit["mucs"], unit["chids"]) == (1, 1, 0, [])
    assert unit["cio"] % 16 == 0 and unit["cio"] > 0 and unit["pused"] == group["decoded"]["pused"]
    (config,) = configs["decoded"]["configs"]
    assert units["decoded"]["selc"] == config["ccid"]
    (egcd,) = config["egcds"]
    assert egcd["endgid"] == 1 and egcd["nvmsetids"] == [{"nvmsetid": 1}] and egcd["chans"] == []
    assert egcd["tegcap"] == group["decoded"]["tegcap"] and egcd["ee"] == group["decoded"]["ee"]


def test_a_domain_that_is_not_there_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    for lid in ("media-unit-status", "supported-capacity-config"):
        code, out = send_json(capsys, "sim0", "get-log-page", f"lid={lid}", "lsi=2")
        assert code == 1 and out["status"]["name"] == "Invalid Field in Command"


def test_persistent_events_carry_their_data(capsys: pytest.CaptureFixture[str]) -> None:
    _, out = send_json(capsys, "sim0", "get-log-page", "lid=persistent-event")
    events = out["decoded"]["events"]
    assert [e["etype"] for e in events] == [0x01, 0x03, 0x0D]
    assert events[0]["el"] == 512 and len(events[0]["data"]) == 2 * 512  # the SMART log, as hex
    assert out["decoded"]["tll"] == 512 + sum(24 + e["el"] for e in events)


def test_an_endurance_group_that_is_not_there_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = send_json(capsys, "sim0", "get-log-page", "lid=endurance-group", "lsi=2")
    assert code == 1 and out["status"]["name"] == "Invalid Field in Command"


@pytest.mark.parametrize("cns", sorted(IDENTIFY))
def test_each_identify_structure_is_decoded_on_the_simulator(
    capsys: pytest.CaptureFixture[str], cns: str
) -> None:
    nsid, _, name, value = IDENTIFY[cns]
    code, out = send_json(capsys, "sim0", "identify", f"cns={cns}", f"nsid={nsid}")
    assert code == 0, out["status"]
    assert out["decoded"] is not None, f"{cns} not decoded"
    if name is not None:
        assert out["decoded"][name] == value


def test_the_command_set_combination_is_nvm_key_value_and_zoned(capsys: pytest.CaptureFixture[str]) -> None:
    _, out = send_json(capsys, "sim0", "identify", "cns=io-command-set", "nsid=0")
    assert out["decoded"]["iocsc"][0]["iocsv"] == 0b111


def test_an_nvm_namespace_has_no_key_value_structure(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = send_json(capsys, "sim0", "identify", "cns=csi-namespace", "csi=key-value", "nsid=1")
    assert code == 1 and out["status"]["name"] == "Invalid Field in Command"


# --- telemetry ------------------------------------------------------------------------------------------


def test_a_whole_host_telemetry_log_is_fetched_in_mdts_pieces(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "telemetry.bin"
    code = main(["send", "sim0", "telemetry-log", "--whole-log", "--data-out", str(out), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    size = 512 * (HOST_DALB[2] + 1)
    assert report["bytes"] == size and out.stat().st_size == size
    assert report["piece"] == identity.MAX_TRANSFER
    # the header, ceil((size - 512) / MDTS) pieces, and the header again to check the generation
    assert report["pieces"] == 1 + -(-(size - 512) // identity.MAX_TRANSFER) + 1
    data = out.read_bytes()
    header = report["header"]
    assert header["lpi"] == 0x07 and header["dalb3"] == HOST_DALB[2] and header["hostdgn"] >= 1
    list_out = main(["list", "--json"])
    serial = json.loads(capsys.readouterr().out)["controllers"][0]["serial"]
    assert list_out == 0
    for block in (1, HOST_DALB[0], HOST_DALB[2]):
        want = telemetry_block(serial, 0x07, header["hostdgn"], block)
        assert data[512 * block : 512 * (block + 1)] == want, f"block {block}"


def test_data_areas_stop_where_asked(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "t.bin"
    code = main(["send", "sim0", "get-log-page", "lid=telemetry-controller", "--whole-log",
                 "--data-area", "1", "--data-out", str(out)])  # fmt: skip
    text = capsys.readouterr().out
    assert code == 0
    assert out.stat().st_size == 512 * (CONTROLLER_DALB[0] + 1)
    assert "telemetry log 08h on sim0: data areas 1-1" in text and "dalb1" in text


def test_data_area_4_is_refused_where_the_controller_does_not_report_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "t.bin"
    code = main(["send", "sim0", "telemetry-log", "--whole-log", "--data-area", "4", "--data-out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "data area 4 is not reported" in err
    assert not out.exists() and not list(tmp_path.iterdir())  # no file, no temporary left


def test_whole_log_needs_a_telemetry_lid_and_a_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["send", "sim0", "telemetry-log", "--whole-log"]) == 2
    assert "--data-out" in capsys.readouterr().err
    assert main(["send", "sim0", "smart-log", "--whole-log", "--data-out", str(tmp_path / "x")]) == 2
    assert "telemetry-host (07h) or telemetry-controller (08h)" in capsys.readouterr().err
    assert main(["send", "sim0", "identify", "--whole-log", "--data-out", str(tmp_path / "x")]) == 2
    assert "not get-log-page" in capsys.readouterr().err
