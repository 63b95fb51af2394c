"""Issue 15's fidelity, in the same boot as the Linux NVMe target (tests/vm/fabrics.py): for the target's
controller, nvtui's decoded Identify Controller (with the fabrics fields), Identify Namespace, SMART, error
log and ANA log equal nvme-cli's JSON for every field both name, and the Discovery log equals
`nvme discover -o json`.

nvme-cli (2.3) and nvtui name most fields alike (the spec's abbreviations); where nvme-cli names a field
differently or prints an enum as its name, the mapping is written out below, next to the figure. A field
compared is listed in the assertion message, so a name that stops matching shows as a missing comparison.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from fuzz.recording import run_cli

from nvtui import structures
from tests.vm.fabrics import NQN, NSID_NULL_BLK, TCP_ADDR, TCP_PORT, Fabrics, setup_fabrics

pytestmark = [pytest.mark.vm, pytest.mark.fabrics]

FABRICS_FIELDS = ("ioccsz", "iorcsz", "icdoff", "fcatt", "msdbd", "ofcs", "subnqn")


@pytest.fixture(scope="module")
def fab() -> Iterator[Fabrics]:
    fabrics = setup_fabrics(passthru=False, discovery=True)
    try:
        yield fabrics
    finally:
        fabrics.teardown()


def nvme_json(*argv: str) -> dict[str, object]:
    done = subprocess.run(
        ["nvme", *argv, "-o", "json"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, f"nvme {' '.join(argv)}: {done.stderr}"
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def nvtui_decoded(device: str, command: str, *fields: str, data_out: Path | None = None) -> dict[str, object]:
    extra = ["--data-out", str(data_out)] if data_out is not None else []
    done = run_cli(["send", device, command, *fields, *extra, "--json"])
    assert done.code == 0, f"{device} {command} {fields}: {done.err}"
    decoded = json.loads(done.out)["decoded"]
    assert isinstance(decoded, dict), decoded
    return decoded


UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def same(ours: object, theirs: object) -> bool:
    if isinstance(ours, str) and isinstance(theirs, str):
        if UUID.match(theirs.lower()) and len(ours) == 32:  # nvme-cli writes a GUID (fguid) as a UUID
            return ours.lower() == theirs.lower().replace("-", "")
        return ours.strip() == theirs.strip()
    if isinstance(ours, bool) or isinstance(theirs, bool):
        return int(ours) == int(theirs)  # type: ignore[call-overload]
    if isinstance(theirs, float) and theirs.is_integer():
        theirs = int(theirs)
    if isinstance(ours, int) and isinstance(theirs, str) and theirs.isdigit():
        return ours == int(theirs)  # nvme-cli prints 128-bit counters as strings of digits
    return ours == theirs


def compare(
    ours: Mapping[str, object], theirs: Mapping[str, object], aliases: Mapping[str, str] | None = None
) -> tuple[list[str], list[tuple[str, object, object]]]:
    """(the fields compared, those that differ) over every scalar field both sides name."""
    compared: list[str] = []
    differing: list[tuple[str, object, object]] = []
    for key, value in theirs.items():
        name = (aliases or {}).get(key, key)
        if name not in ours or isinstance(value, (dict, list)) or isinstance(ours[name], (dict, list)):
            continue
        compared.append(name)
        if not same(ours[name], value):
            differing.append((name, ours[name], value))
    return compared, differing


def test_identify_controller_with_the_fabrics_fields_equals_nvme_cli(fab: Fabrics) -> None:
    for transport, ctrl in fab.controllers().items():
        ours = nvtui_decoded(f"/dev/{ctrl}", "identify", "cns=1")
        theirs = nvme_json("id-ctrl", f"/dev/{ctrl}")
        compared, differing = compare(ours, theirs)
        assert differing == [], transport
        assert set(FABRICS_FIELDS) <= set(compared), sorted(set(FABRICS_FIELDS) - set(compared))
        assert len(compared) > 60, compared
        assert ours["subnqn"] == NQN and ours["mn"] == "Linux" and ours["vid"] == 0


def test_identify_namespace_equals_nvme_cli(fab: Fabrics) -> None:
    ctrl = fab.controllers()["tcp"]
    ours = nvtui_decoded(f"/dev/{ctrl}", "identify", "cns=0", f"nsid={NSID_NULL_BLK}")
    theirs = nvme_json("id-ns", f"/dev/{ctrl}", "-n", str(NSID_NULL_BLK))
    compared, differing = compare(ours, theirs)
    assert differing == []
    assert {"nsze", "ncap", "nuse", "nsfeat", "nlbaf", "flbas", "nmic", "anagrpid"} <= set(compared), compared


def test_smart_log_equals_nvme_cli(fab: Fabrics) -> None:
    ctrl = fab.controllers()["tcp"]
    ours = nvtui_decoded(f"/dev/{ctrl}", "get-log-page", "lid=smart", "numd=128")
    theirs = nvme_json("smart-log", f"/dev/{ctrl}")
    # nvme-cli's names where nvtui's layout uses the kernel's struct (NVMe Base 2.0, Fig. 207)
    aliases = {f"temperature_sensor_{i}": f"temp_sensor_{i}" for i in range(1, 9)}
    aliases["endurance_grp_critical_warning_summary"] = "endu_grp_crit_warn_sumry"
    compared, differing = compare(ours, theirs, aliases)
    assert differing == []
    assert {"critical_warning", "data_units_read", "host_read_commands", "power_on_hours"} <= set(compared)


def test_error_log_equals_nvme_cli(fab: Fabrics) -> None:
    ctrl = fab.controllers()["tcp"]
    ours = nvtui_decoded(f"/dev/{ctrl}", "get-log-page", "lid=error", "numd=1024")
    theirs = nvme_json("error-log", f"/dev/{ctrl}", "-e", "64")
    their_entries = [e for e in theirs["errors"] if e["error_count"]]  # type: ignore[attr-defined]
    our_entries = ours["entries"]
    assert isinstance(our_entries, list)
    assert len(our_entries) == len(their_entries)  # nvtui lists the entries up to the first empty one
    aliases = {"cmdid": "cid", "parm_err_loc": "parm_error_location", "cs": "cmd_specific_info"}
    for mine, cli in zip(our_entries, their_entries, strict=True):
        _, differing = compare(mine, cli, aliases)
        assert differing == []


def ana_state_names() -> dict[int, str]:
    """ANAS value -> the name nvtui's layout gives it (nvme-cli prints the state by name)."""
    names = {}
    for value in (1, 2, 3, 4, 15):
        raw = bytearray(32)
        raw[16] = value
        names[value] = structures.decode("ana-group-descriptor", bytes(raw))["anas"].meaning  # type: ignore[union-attr]
    return names


def test_ana_log_equals_nvme_cli(fab: Fabrics) -> None:
    ctrl = fab.controllers()["loop"]
    ours = nvtui_decoded(f"/dev/{ctrl}", "get-log-page", "lid=ana", "numd=1024", "rae=1")
    theirs = nvme_json("ana-log", f"/dev/{ctrl}")
    assert ours["chgcnt"] == theirs["chgcnt"] and ours["ngrps"] == theirs["ngrps"]
    names = ana_state_names()
    groups = ours["groups"]
    their_groups = theirs["ANA DESC LIST "] if "ANA DESC LIST " in theirs else theirs["ANA DESC LIST"]
    assert isinstance(groups, list) and isinstance(their_groups, list) and len(groups) == len(their_groups)
    for mine, cli in zip(groups, their_groups, strict=True):
        assert (mine["agid"], mine["nnsids"], mine["chgcnt"]) == (cli["grpid"], cli["nnsids"], cli["chgcnt"])
        assert names[mine["anas"]] == cli["state"]
        assert [n["nsid"] for n in mine["nsids"]] == [n["nsid"] for n in cli["NSIDS"]]
    # and the paths nvtui lists carry the log's state
    done = run_cli(["list", "--json"])
    for c in json.loads(done.out)["controllers"]:
        for ns in c["namespaces"]:
            for p in ns["paths"]:
                assert p["ana_source"] == "log" and p["ana_state"] == "optimized", p


#: nvme-cli prints these Discovery Log Page Entry enums by name (libnvme's nvmf_*_str).
TRTYPE = {1: "rdma", 2: "fc", 3: "tcp", 0xFE: "loop"}
ADRFAM = {1: "ipv4", 2: "ipv6", 3: "infiniband", 4: "fibre-channel", 0xFE: "intra-host"}
SUBTYPE = {1: "discovery subsystem referral", 2: "nvme subsystem", 3: "current discovery subsystem"}


def test_discovery_log_equals_nvme_discover(fab: Fabrics) -> None:
    assert fab.discovery_ctrl is not None
    ours = nvtui_decoded(f"/dev/{fab.discovery_ctrl}", "get-log-page", "lid=discovery", "numd=1024", "nsid=0")
    done = subprocess.run(
        [*fab.discover_args(), "-o", "json"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    theirs = json.loads(done.stdout)
    assert ours["genctr"] == theirs["genctr"]
    records = theirs["records"]
    entries = ours["entries"]
    assert isinstance(entries, list) and len(entries) == len(records) == ours["numrec"]
    for mine, cli in zip(entries, records, strict=True):
        assert TRTYPE[mine["trtype"]] == cli["trtype"]
        assert ADRFAM[mine["adrfam"]] == cli["adrfam"]
        assert SUBTYPE[mine["subtype"]] == cli["subtype"]
        for name in ("portid", "trsvcid", "subnqn", "traddr"):
            assert same(mine[name], cli[name]), (name, mine[name], cli[name])
    tcp = [e for e in entries if e["subnqn"] == NQN and e["trtype"] == 3]
    assert [(e["traddr"], e["trsvcid"]) for e in tcp] == [(TCP_ADDR, TCP_PORT)]
