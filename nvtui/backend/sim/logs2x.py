"""The NVMe 2.x log pages and Identify structures the simulated controller returns beyond its core ones,
each built with `encode` over the same layouts the decoders read (nvtui/structures/log-pages-2x.yaml and
identify-2x.yaml), so a field has one name in both directions.

What the simulated drive is, as these pages tell it: one endurance group (1) holding one NVM set (1) in one
domain (1); one media unit (0) in that group, reporting no channels; one capacity configuration (1), that
group, selected by default (there is no Capacity Management command); Flexible Data Placement enabled in
that group (fdp.py: the configuration, the reclaim units, statistics and events); a host-initiated
telemetry log of three data areas (and a smaller controller-initiated one); a persistent event log of three
events; one boot partition; no rotating media, no NVMe-MI; the Sanitize Status log tells the last sanitize
(sanitize.py); the Reservation Notification log is empty, as it stays with one host (reservations.py). No
key value namespace: Identify with CSI 01h is refused as before.

`log_page(ctrl, cmd)` and `identify(ctrl, cmd)` return the whole structure (the caller slices the log page
offset and length), or None when the LID / CNS is not one of these.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from nvtui.backend.sim import fdp as FDP
from nvtui.backend.sim import identity
from nvtui.backend.sim.errors import SCT_GENERIC, CommandFailed, cdw_byte, invalid_field, invalid_namespace

if TYPE_CHECKING:
    from nvtui.backend.sim.controller import SimController
    from nvtui.nvme.command import Command

ENDGID, NVMSETID, DOMAINID = 1, 1, 1
TELEMETRY_BLOCK = 512
# Last blocks of the telemetry data areas (blocks counted from the header, block 0): 4 KiB, 128 KiB, 1 MiB.
HOST_DALB = (7, 255, 2047)
CONTROLLER_DALB = (3, 15, 63)
BOOT_PARTITION_UNITS = 1  # boot partition size in 128 KiB units

LIDS = (
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0D, 0x0E, 0x0F, 0x10, 0x11,
    0x12, 0x13, 0x14, 0x15, 0x16, 0x20, 0x21, 0x22, 0x23, 0x80, 0x81, 0xBF,
)  # fmt: skip


def _encode(structure: str, values: dict[str, Any]) -> bytes:
    from nvtui.structures import encode

    return encode(structure, values)


def _padded(structure: str, values: dict[str, Any], size: int) -> bytes:
    return _encode(structure, values).ljust(size, b"\0")


def telemetry_block(serial: str, lid: int, generation: int, block: int) -> bytes:
    """The content of data block `block` (1-based) of a capture: a text line naming it, then its digest
    repeated, so a reader can tell every block from every other and check it was read whole."""
    label = f"nvtui-sim telemetry {lid:02X}h generation {generation} block {block}\n".encode("ascii")
    digest = hashlib.sha256(label + serial.encode()).digest()
    return (label + digest * (TELEMETRY_BLOCK // len(digest) + 1))[:TELEMETRY_BLOCK]


def _telemetry(ctrl: SimController, lid: int, create: bool) -> bytes:
    """A telemetry log: its header, then its data blocks, which follow from the capture's generation.
    Create Telemetry Host-Initiated Data (LSP bit 0 of log 07h) captures anew: the Telemetry Host-Initiated
    Data Generation Number counts the captures (modulo 256). It is controller state (journaled with the
    command, checkpointed, kept through power cycles), so a capture in one process is the one another reads.
    The controller-initiated data (log 08h) is one capture, generation 1, that never changes."""
    host = lid == 0x07
    if host and create:
        ctrl.telemetry_generation = (ctrl.telemetry_generation + 1) & 0xFF
    generation = ctrl.telemetry_generation if host else 1
    dalb = HOST_DALB if host else CONTROLLER_DALB
    values: dict[str, Any] = {
        "lpi": lid, "ieee": identity.IEEE_OUI, "dalb1": dalb[0], "dalb2": dalb[1], "dalb3": dalb[2],
        "dalb4": 0,  # data area 4 only where the host enabled it (Host Behavior Support, not supported here)
        "ctrlavail": 1, "ctrldgn": 1, "rsnident": b"nvtui-sim".ljust(128, b"\0"),
    }  # fmt: skip
    if host:
        values.update(ths=0, hostdgn=generation)
    header = _padded("telemetry-host-log" if host else "telemetry-controller-log", values, TELEMETRY_BLOCK)
    blocks = b"".join(telemetry_block(ctrl.serial, lid, generation, b) for b in range(1, dalb[2] + 1))
    return header + blocks


def _lsi(cmd: Command) -> int:
    return cmd.cdw11 >> 16


ENDURANCE = identity.TOTAL_CAPACITY * 3000  # bytes: as the SMART log, 3000 full drive writes wear it out


def _percentage_used(ctrl: SimController) -> int:
    return min(255, ctrl.counters["data_written_bytes"] * 100 // ENDURANCE)


def _endurance_group(cmd: Command) -> None:
    if _lsi(cmd) != ENDGID:
        raise invalid_field(cdw_byte(11) + 2)  # no such endurance group


def _supported_log_pages() -> bytes:
    # LIDs whose offset may be an index (IOS): none; LID specific parameters: none.
    return _encode("supported-log-pages-log", {"lids": [{"lid": lid, "lsupp": 1} for lid in LIDS]})


def _endurance_group_log(ctrl: SimController, cmd: Command) -> bytes:
    _endurance_group(cmd)
    c = ctrl.counters
    return _encode("endurance-group-log", {
        "avsp": 100, "avspt": 10, "pused": _percentage_used(ctrl),
        "did": DOMAINID, "ee": ENDURANCE // 10**9,
        "dur": -(-c["data_read_bytes"] // 512_000), "duw": -(-c["data_written_bytes"] // 512_000),
        "muw": c["data_written_bytes"] // 10**9,
        "hrc": c["host_read_commands"], "hwc": c["host_write_commands"],
        "mdie": c["media_errors"], "neile": c["error_count"],
        "tegcap": identity.TOTAL_CAPACITY, "uegcap": ctrl.unallocated(),
    })  # fmt: skip


def _domain(cmd: Command) -> None:
    if _lsi(cmd) not in (0, DOMAINID):  # 0: the domain of the controller asked
        raise invalid_field(cdw_byte(11) + 2)  # a domain the Domain List does not report


CAPACITY_CONFIG = 1  # the one capacity configuration, selected by default
MEDIA_UNIT = 0
MUS_CIO = 16  # channel identifiers offset in a media unit status descriptor (a non-zero multiple of 16)


def _media_unit_status(ctrl: SimController, cmd: Command) -> bytes:
    _domain(cmd)
    unit = {"muid": MEDIA_UNIT, "did": DOMAINID, "endgid": ENDGID, "nvmsetid": NVMSETID, "caf": 0,
            "avsp": 100, "pused": _percentage_used(ctrl), "mucs": 0, "cio": MUS_CIO}  # fmt: skip
    return _encode("media-unit-status-log", {"nmu": 1, "cchans": 0, "selc": CAPACITY_CONFIG, "mus": [unit]})


def _supported_capacity_configs(cmd: Command) -> bytes:
    _domain(cmd)
    group = {"endgid": ENDGID, "cadjf": 0, "tegcap": identity.TOTAL_CAPACITY, "segcap": 0,
             "ee": ENDURANCE // 10**9, "egsets": 1, "nvmsetids": [{"nvmsetid": NVMSETID}], "egchans": 0,
             "chans": []}  # fmt: skip
    config = {"ccid": CAPACITY_CONFIG, "did": DOMAINID, "egcn": 1, "egcds": [group]}
    return _encode("supported-capacity-config-log", {"sccn": 1, "configs": [config]})


def _predictable_latency(cmd: Command) -> bytes:
    if _lsi(cmd) != NVMSETID:
        raise invalid_field(cdw_byte(11) + 2)  # no such NVM set
    return _encode("predictable-latency-nvmset-log", {"status": 0})  # predictable latency mode not enabled


def _persistent_events(ctrl: SimController) -> bytes:
    from nvtui.backend.sim.admin import smart_log

    now_ms = int(time.time() * 1000)
    since_reset_ms = int((ctrl.clock() - ctrl.powered_on) * 1000)
    temperature = ctrl.temperature()
    events = [
        (0x01, smart_log(ctrl)),  # SMART / Health log snapshot: the log itself
        (0x03, (now_ms - since_reset_ms).to_bytes(8, "little") + since_reset_ms.to_bytes(8, "little")),
        (0x0D, bytes([max(0, temperature - 273), identity.WCTEMP - 273])),  # thermal excursion (°C)
    ]
    records = [
        {"etype": etype, "etype_rev": 1, "ehl": 21, "pit": 0, "cntlid": identity.CNTLID, "ets": now_ms,
         "ets_origin": 0, "vsil": 0, "el": len(data), "data": data}
        for etype, data in events
    ]  # fmt: skip
    total = 512 + sum(24 + len(data) for _, data in events)
    seb = sum(1 << etype for etype, _ in events).to_bytes(32, "little")
    return _encode("persistent-event-log", {
        "lid": 0x0D, "tnev": len(events), "tll": total, "rv": 1, "lhl": 512, "ts": now_ms,
        "poh": ctrl.power_on_hours, "pcc": ctrl.counters["power_cycles"], "vid": identity.VID,
        "ssvid": identity.SSVID, "sn": ctrl.serial, "mn": identity.MODEL,
        "subnqn": identity.subnqn(ctrl.serial),
        "gen": 1, "rci": 0, "seb": seb, "events": records,
    })  # fmt: skip


def _fid_effects() -> bytes:
    from nvtui.backend.sim import features as F

    entries = [
        {
            "fid": fid,
            "fsupp": 1,
            "uss": 0,
            "fsp": 0b1 if f.ns_specific else 0b10,
        }  # namespace or controller scope
        for fid, f in sorted(F.FEATURES.items())
    ]
    entries += [
        {"fid": 0x1D, "fsupp": 1, "uss": 0, "fsp": 0b1000},  # FDP: endurance group scope
        {"fid": 0x1E, "fsupp": 1, "uss": 0, "fsp": 0b1},  # FDP Events: namespace scope (placement handles)
    ]
    return _encode("fid-effects-log", {"fids": entries})


def _boot_partition() -> bytes:
    header = _encode("boot-partition-log", {"lid": 0x15, "bpsz": BOOT_PARTITION_UNITS, "abpid": 0})
    return header.ljust(16, b"\0") + bytes(BOOT_PARTITION_UNITS * 128 * 1024)


def _fdp_configurations(cmd: Command) -> bytes:
    _endurance_group(cmd)
    dsze = 64 + 4 * FDP.NRUH
    config = {
        "dsze": dsze, "rgif": FDP.RGIF, "fdpvwc": 0, "fdpcv": 1, "vss": 0, "nrg": FDP.NRG, "nruh": FDP.NRUH,
        "maxpids": FDP.MAXPIDS - 1, "nnss": identity.NN, "runs": FDP.RUNS, "erutl": 0,
        "ruhs": [{"ruht": 1} for _ in range(FDP.NRUH)],  # initially isolated
    }  # fmt: skip
    return _encode("fdp-configurations-log", {"numfdpc": 0, "ver": 0, "sze": 16 + dsze, "configs": [config]})


def _fdp_enabled(ctrl: SimController, cmd: Command) -> None:
    _endurance_group(cmd)
    if not ctrl.fdp.enabled:
        raise CommandFailed(SCT_GENERIC, FDP.SC_FDP_DISABLED)


def _ruh_usage(ctrl: SimController, cmd: Command) -> bytes:
    _fdp_enabled(ctrl, cmd)
    # Host specified: a handle in a namespace's placement handle list (namespace 1's: handles 0 to NPH - 1);
    # the controller specifies none for itself; the rest are unused.
    usage = [{"ruha": 1 if ruh < FDP.NPH else 0} for ruh in range(FDP.NRUH)]
    return _encode("ruh-usage-log", {"nruh": FDP.NRUH, "ruhus": usage})


def _fdp_statistics(ctrl: SimController, cmd: Command) -> bytes:
    _fdp_enabled(ctrl, cmd)
    fdp = ctrl.fdp
    return _encode("fdp-statistics-log", {"hbmw": fdp.hbmw, "mbmw": fdp.mbmw, "mbe": fdp.mbe})


def _fdp_events(ctrl: SimController, cmd: Command) -> bytes:
    _fdp_enabled(ctrl, cmd)
    # LSP bit 0: host events; else controller events, of which this controller has none (its media never
    # reallocates, it never modifies a reclaim unit handle on its own).
    events = ctrl.fdp.host_events if cmd.cdw10 >> 8 & 1 else []
    return _padded("fdp-events-log", {"nevents": len(events), "events": events}, 64 + 64 * len(events))


def _rotational_media(cmd: Command) -> bytes:
    _endurance_group(cmd)
    return _encode("rotational-media-log", {"endgid": ENDGID, "numa": 0, "nrs": 1})  # not rotating media


def _sanitize_status(ctrl: SimController) -> bytes:
    from nvtui.backend.sim.sanitize import configured_seconds

    state, now = ctrl.sanitize, ctrl.clock()  # polled already: the controller does before every command
    unreported = 0xFFFF_FFFF  # overwrite and the no-deallocate variants are not supported
    estimate = round(configured_seconds())
    return _encode("sanitize-status-log", {
        "sprog": state.progress(now), "sos": state.status, "opc": 0,
        "gde": state.global_data_erased(ctrl.counters["host_write_commands"]), "scdw10": state.scdw10,
        "eto": unreported, "etbe": estimate, "etce": estimate, "etond": unreported, "etbend": unreported,
        "etcend": unreported, "etpvds": unreported, "sans": state.state,
    })  # fmt: skip


LogBuilder = Callable[["SimController", "Command"], bytes]

_LOGS: dict[int, LogBuilder] = {
    0x00: lambda ctrl, cmd: _supported_log_pages(),
    0x07: lambda ctrl, cmd: _telemetry(ctrl, 0x07, bool(cmd.cdw10 >> 8 & 1)),
    0x08: lambda ctrl, cmd: _telemetry(ctrl, 0x08, False),
    0x09: _endurance_group_log,
    0x0A: lambda ctrl, cmd: _predictable_latency(cmd),
    0x0B: lambda ctrl, cmd: _padded("predictable-latency-aggregate-log", {"nentries": 0}, 512),
    0x0D: lambda ctrl, cmd: _persistent_events(ctrl),
    0x0E: lambda ctrl, cmd: _padded(
        "lba-status-log", {"lslplen": 16, "nlslne": 0, "estulb": 0, "lsgc": 0}, 16
    ),
    0x0F: lambda ctrl, cmd: _padded("endurance-group-event-aggregate-log", {"nentries": 0}, 512),
    0x10: _media_unit_status,
    0x11: lambda ctrl, cmd: _supported_capacity_configs(cmd),
    0x12: lambda ctrl, cmd: _fid_effects(),
    0x13: lambda ctrl, cmd: _encode("mi-commands-effects-log", {"cmds": []}).ljust(4096, b"\0"),  # no NVMe-MI
    0x14: lambda ctrl, cmd: _padded("command-feature-lockdown-log", {"scp": 0, "cont": 0, "length": 0}, 512),
    0x15: lambda ctrl, cmd: _boot_partition(),
    0x16: lambda ctrl, cmd: _rotational_media(cmd),
    0x20: lambda ctrl, cmd: _fdp_configurations(cmd),
    0x21: _ruh_usage,
    0x22: _fdp_statistics,
    0x23: _fdp_events,
    0x80: lambda ctrl, cmd: _encode("reservation-notification-log", {"lpc": 0, "rnlpt": 0}),
    0x81: lambda ctrl, cmd: _sanitize_status(ctrl),
}


def log_page(ctrl: SimController, cmd: Command) -> bytes | None:
    """The whole log page `cmd` asks for (LID in CDW10 bits 7:0), or None when it is not one of these."""
    builder = _LOGS.get(cmd.cdw10 & 0xFF)
    return builder(ctrl, cmd) if builder is not None else None


# --- Identify -------------------------------------------------------------------------------------------


def _ids_above(ids: list[int], start: int) -> list[dict[str, int]]:
    return [{"id": i} for i in ids if i >= start]


def _primary_caps() -> bytes:
    return _padded("primary-ctrl-caps", {"cntlid": identity.CNTLID, "portid": 0, "crt": 0}, 4096)  # no SR-IOV


def _uuid_list(ctrl: SimController) -> bytes:
    import uuid

    vendor = uuid.uuid5(uuid.NAMESPACE_URL, f"nvtui-sim:{ctrl.serial}:vendor-uuid")
    return _encode("uuid-list", {"uuids": [{"idasn": 1, "uuid": str(vendor)}]})


def identify(ctrl: SimController, cmd: Command) -> bytes | None:
    """The Identify data `cmd` asks for (CNS in CDW10 bits 7:0), or None when it is not one of these."""
    cns, cntid = cmd.cdw10 & 0xFF, cmd.cdw10 >> 16
    capacity = identity.TOTAL_CAPACITY
    if cns == 0x04:  # the NVM sets from the CNS specific identifier (CDW11 bits 15:0) up
        entry = {"nvmsetid": NVMSETID, "endgid": ENDGID, "rr4kt": 1000, "ows": 64 * 1024,
                 "tnvmsetcap": capacity, "unvmsetcap": ctrl.unallocated()}  # fmt: skip
        sets = [entry] if cmd.cdw11 & 0xFFFF <= NVMSETID else []
        return _encode("nvm-set-list", {"nid": len(sets), "sets": sets})
    if cns == 0x12:
        if not 1 <= cmd.nsid <= identity.NN:
            raise invalid_namespace()
        ns = ctrl.namespaces.get(cmd.nsid)  # the controllers the namespace is attached to: this one or none
        ids = _ids_above([identity.CNTLID] if ns is not None and ns.attached else [], cntid)
        return _encode("controller-list", {"num": len(ids), "ids": ids})
    if cns == 0x13:
        ids = _ids_above([identity.CNTLID], cntid)
        return _encode("controller-list", {"num": len(ids), "ids": ids})
    if cns == 0x14:
        return _primary_caps()
    if cns == 0x15:
        return _encode("secondary-ctrl-list", {"num": 0})  # no secondary controllers
    if cns == 0x16:
        gib = 1 << 30
        return _encode("ns-granularity-list", {"nga": 0b11, "numd": 0,
                                               "descs": [{"nszegran": gib, "ncapgran": gib}]})  # fmt: skip
    if cns == 0x17:
        return _uuid_list(ctrl)
    if cns == 0x18:
        domain = {"domainid": DOMAINID, "dcap": capacity, "udcap": ctrl.unallocated(), "megcap": capacity}
        return _encode("domain-list", {"num": 1, "domains": [domain]})
    if cns == 0x19:
        ids = _ids_above([ENDGID], cmd.cdw11 & 0xFFFF)
        return _encode("endurance-group-list", {"num": len(ids), "ids": ids})
    return None
