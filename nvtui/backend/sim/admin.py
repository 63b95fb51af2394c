"""Admin commands of the simulated controller (NVMe Base 2.0, 5): Identify, Get Log Page, Get/Set Features,
Format NVM, Sanitize, Firmware Image Download and Commit, Device Self-test, Namespace Management and
Attachment, Abort, Keep Alive. Asynchronous
Event Request is asynchronous by nature and is served by the backend through `SimController.raise_event` /
`aer_waiters`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nvtui.backend.sim import directives as D
from nvtui.backend.sim import fdp as FDP
from nvtui.backend.sim import features as F
from nvtui.backend.sim import identity, logs2x
from nvtui.backend.sim import reservations as R
from nvtui.backend.sim import sanitize as S
from nvtui.backend.sim.errors import (
    SC_AER_LIMIT_EXCEEDED,
    SC_COMMAND_SEQUENCE_ERROR,
    SC_CONTROLLER_LIST_INVALID,
    SC_FEATURE_NOT_NS_SPECIFIC,
    SC_FEATURE_NOT_SAVEABLE,
    SC_INVALID_FORMAT,
    SC_INVALID_IO_COMMAND_SET,
    SC_INVALID_LOG_PAGE,
    SC_NS_ALREADY_ATTACHED,
    SC_NS_ID_UNAVAILABLE,
    SC_NS_INSUFFICIENT_CAPACITY,
    SC_NS_NOT_ATTACHED,
    SC_SANITIZE_IN_PROGRESS,
    SC_SELF_TEST_IN_PROGRESS,
    SCT_COMMAND_SPECIFIC,
    SCT_GENERIC,
    CommandFailed,
    cdw_byte,
    invalid_field,
    invalid_namespace,
    lba_out_of_range,
)
from nvtui.backend.sim.hostid import HostIdentifier
from nvtui.backend.sim.specs import (
    CSI_KV,
    CSI_NVM,
    CSI_ZONED,
    KV_MAX_KEY,
    KV_MAX_KEYS,
    KV_MAX_VALUE,
    KV_UNIT,
    TEMPLATES,
    NamespaceSpec,
)
from nvtui.nvme.command import Command
from nvtui.structures import encode

if TYPE_CHECKING:
    from nvtui.backend.sim.controller import Outcome, SimController
    from nvtui.backend.sim.namespace import Namespace

NSID_ALL = 0xFFFF_FFFF


def _outcome(**kw: object) -> Outcome:
    from nvtui.backend.sim.controller import Outcome

    return Outcome(**kw)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Handler:
    name: str
    run: Callable[[SimController, Command], Outcome]
    effects: int  # its Commands Supported and Effects entry (NVMe Base 2.0, Fig. 211)


# --- Identify (5.17) ----------------------------------------------------------------------------------------


IDENTIFY_SIZE = 4096
SELF_TEST_RESULTS = 20  # Device Self-test log: the 20 most recent results (NVMe Base 2.0, Fig. 212)
NIDT_EUI64, NIDT_NGUID, NIDT_UUID, NIDT_CSI = 1, 2, 3, 4  # Namespace Identifier Types (NVMe Base 2.0)
# Commands Supported and Effects (NVMe Base 2.0, Fig. 211): CSUPP, LBCC, NCC bits; CSE in bits 18:16
EFFECT_CSUPP, EFFECT_LBCC, EFFECT_NCC = 1 << 0, 1 << 1, 1 << 2


def effect_cse(value: int) -> int:
    """Command Submission and Execution, bits 18:16: 0 none, 1 one per namespace, 2 one per controller."""
    return value << 16


def identify_controller(ctrl: SimController) -> bytes:
    return encode("identify-controller", {
        "vid": identity.VID, "ssvid": identity.SSVID, "sn": ctrl.serial, "mn": identity.MODEL,
        "fr": ctrl.firmware.running, "rab": 6, "ieee": identity.IEEE_OUI, "cmic": 0, "mdts": identity.MDTS,
        "cntlid": identity.CNTLID, "ver": identity.VERSION, "rtd3r": 1_000_000, "rtd3e": 1_000_000,
        "oaes": 1 << 8 | 1 << 27,  # Namespace Attribute and Zone Descriptor Changed notices
        "ctratt": 1 << 0 | 1 << 4 | 1 << 19,  # 128-bit Host Identifier, Endurance Groups, FDP
        "cntrltype": 1,  # I/O controller
        # Format NVM, Firmware Commit and Image Download, Namespace Management and Attachment, Device
        # Self-test, Directives, Get LBA Status
        "oacs": 1 << 1 | 1 << 2 | 1 << 3 | 1 << 4 | 1 << 5 | 1 << 9,
        "acl": identity.ACL, "aerl": identity.AERL,
        # slot 1 read-only, the number of slots, activation without reset; Firmware Update Granularity
        "frmw": 1 | identity.FIRMWARE_SLOTS << 1 | 1 << 4, "fwug": identity.FWUG,
        "lpa": 1 << 1 | 1 << 2,  # Commands Supported and Effects; extended data (NUMDU, LPO)
        "elpe": identity.ELPE, "npss": identity.NPSS, "avscc": 1, "apsta": 0,
        "wctemp": identity.WCTEMP, "cctemp": identity.CCTEMP,
        "tnvmcap": identity.TOTAL_CAPACITY, "unvmcap": ctrl.unallocated(), "edstt": identity.EDSTT,
        "dsto": 1,  # one self-test at a time in the NVM subsystem
        "endgidmax": logs2x.ENDGID, "kas": identity.KAS, "sqes": 0x66, "cqes": 0x44, "nn": identity.NN,
        # Compare, Write Uncorrectable, DSM, Write Zeroes, Save/Select in features, Reservations, Timestamp,
        # Verify, Copy
        "oncs": 1 << 0 | 1 << 1 | 1 << 2 | 1 << 3 | 1 << 4 | 1 << 5 | 1 << 6 | 1 << 7 | 1 << 8,
        "fna": 1 << 2,  # cryptographic erase supported
        "sanicap": S.SANICAP,
        "vwc": 0b111,  # a volatile write cache; Flush with NSID FFFFFFFFh applies to all namespaces
        "ocfs": 1 << 0,  # Copy source range format 0
        "sgls": 1 << 0,  # SGLs supported (the sim treats the data buffer as one SGL of data_len bytes)
        "subnqn": identity.subnqn(ctrl.serial),
        "psd": list(identity.POWER_STATES),
    })  # fmt: skip


def identify_namespace(ctrl: SimController, ns: Namespace) -> bytes:
    spec = ns.spec
    zoned = spec.zoned
    per_4k = 4096 // ns.lba_size - 1 if ns.lba_size < 4096 else 0
    return encode("identify-namespace", {
        "nsze": ns.nsze, "ncap": ns.nsze, "nuse": ns.nuse,
        "nsfeat": 1 << 0 | 1 << 4,  # thin provisioning (NUSE is meaningful), NPWG..NOWS valid
        "nlbaf": len(spec.formats) - 1,
        "flbas": (ns.format_index & 0xF) | (ns.format_index >> 4) << 5,
        "mc": 0b10 if any(f.metadata_size for f in spec.formats) else 0,  # metadata in a separate buffer
        "dlfeat": 0b001 if zoned else 0b1001,  # deallocated blocks read zeros; Write Zeroes may deallocate
        "nvmcap": spec.size_bytes, "nvmsetid": logs2x.NVMSETID, "endgid": logs2x.ENDGID,
        "npwg": per_4k, "npwa": per_4k, "npdg": per_4k, "npda": per_4k, "nows": max(per_4k, 0) * 32 + 31,
        "nmic": 0,  # private: one controller
        "rescap": R.RESCAP,  # PTPL, the six reservation types, IEKEY with the 1.3-and-later meaning
        "mssrl": 0 if zoned else COPY_MSSRL, "mcl": 0 if zoned else COPY_MCL,
        "msrc": 0 if zoned else COPY_MSRC,
        "nguid": identity.nguid(ctrl.serial, ns.nsid), "eui64": identity.eui64(ctrl.serial, ns.nsid),
        "lbaf": [
            {"ms": fmt.metadata_size, "lbads": fmt.lbads, "rp": fmt.relative_performance}
            for fmt in spec.formats
        ],
    })  # fmt: skip


def identify_namespace_common() -> bytes:
    """Identify Namespace for NSID FFFFFFFFh on a controller with Namespace Management: the capabilities
    common to the namespaces it creates (the NVM command set's LBA formats, which a host reads to fill in a
    create's FLBAS); the size fields and the identifiers are zero."""
    formats = TEMPLATES[0].formats
    return encode("identify-namespace", {
        "nsfeat": 1 << 0 | 1 << 4, "nlbaf": len(formats) - 1,
        "mc": 0b10 if any(f.metadata_size for f in formats) else 0, "dlfeat": 0b1001,
        "rescap": R.RESCAP, "nvmsetid": logs2x.NVMSETID, "endgid": logs2x.ENDGID,
        "lbaf": [{"ms": f.metadata_size, "lbads": f.lbads, "rp": f.relative_performance} for f in formats],
    })  # fmt: skip


COPY_MSSRL, COPY_MCL, COPY_MSRC = 1024, 4096, 127  # blocks per range, blocks per command, ranges (0-based)


def identify_namespace_zoned(ns: Namespace) -> bytes:
    assert ns.zones is not None
    spec = ns.spec
    return encode("identify-ns-zns", {
        "zoc": 0, "ozcs": 1 << 0,  # reads may cross zone boundaries
        "mar": spec.max_active - 1, "mor": spec.max_open - 1,
        "lbafe": [{"zsze": spec.zone_size_bytes // fmt.lba_size, "zdes": 0} for fmt in spec.formats],
    })  # fmt: skip


def identify_namespace_kv(ctrl: SimController, ns: Namespace) -> bytes:
    """The KV Identify Namespace structure (CNS 05h, CSI 01h; KV Command Set 1.0): sizes in bytes, one KV
    format (the key and value limits and the most keys)."""
    return encode("identify-ns-kv", {
        "nsze": ns.spec.size_bytes, "nuse": ns.nuse * KV_UNIT, "nkvf": 0, "nmic": 0, "rescap": R.RESCAP,
        "novg": KV_UNIT, "nvmsetid": logs2x.NVMSETID, "endgid": logs2x.ENDGID,
        "nguid": identity.nguid(ctrl.serial, ns.nsid), "eui64": identity.eui64(ctrl.serial, ns.nsid),
        "kvf": [{"kml": KV_MAX_KEY, "vml": KV_MAX_VALUE, "mnk": KV_MAX_KEYS}],
    })  # fmt: skip


def identify_ns_descriptors(ctrl: SimController, ns: Namespace) -> bytes:
    descriptors = [
        {"nidt": nidt, "nidl": len(nid), "nid": nid}
        for nidt, nid in (
            (NIDT_EUI64, identity.eui64(ctrl.serial, ns.nsid)),
            (NIDT_NGUID, identity.nguid(ctrl.serial, ns.nsid)),
            (NIDT_UUID, identity.ns_uuid(ctrl.serial, ns.nsid)),
            (NIDT_CSI, bytes([ns.spec.csi])),
        )
    ]
    return encode("namespace-descriptor-list", {"descriptors": descriptors}).ljust(IDENTIFY_SIZE, b"\0")


def identify_ns_independent(ns: Namespace) -> bytes:
    # thin provisioning; private (NMIC 0); the reservation capabilities; namespace ready; its set and group
    return encode("identify-ns-independent", {
        "nsfeat": 1 << 0, "nmic": 0, "rescap": R.RESCAP, "nstat": 1,
        "nvmsetid": logs2x.NVMSETID, "endgid": logs2x.ENDGID,
    })  # fmt: skip


def _ns_id_list(nsids: list[int]) -> bytes:
    return encode("active-namespace-list", {"namespace_list": [{"nsid": n} for n in nsids[:1024]]})


def identify(ctrl: SimController, cmd: Command) -> Outcome:
    cns = cmd.cdw10 & 0xFF
    csi = cmd.cdw11 >> 24
    nsid = cmd.nsid
    if cns == 0x01:
        data = identify_controller(ctrl)
    elif cns == 0x00 and nsid == NSID_ALL:
        data = identify_namespace_common()
    elif cns in (0x00, 0x11):
        # A valid NSID that is not active (00h) or not allocated (11h) returns zeros (NVMe Base 2.0,
        # 5.17.2.1 and 5.17.2.9).
        if nsid == 0 or nsid > identity.NN:
            raise invalid_namespace()
        found = ctrl.active(nsid) if cns == 0x00 else ctrl.namespaces.get(nsid)
        if found is not None and found.kv is not None:  # the NVM command set's structure: not for a KV one
            raise CommandFailed(SCT_COMMAND_SPECIFIC, SC_INVALID_IO_COMMAND_SET)
        data = identify_namespace(ctrl, found) if found is not None else bytes(IDENTIFY_SIZE)
    elif cns in (0x03, 0x05, 0x08, 0x1B):
        if nsid == 0 or nsid > identity.NN:
            raise invalid_namespace()
        if cns == 0x1B:  # the command set specific structure of an allocated namespace (attached or not)
            allocated = ctrl.namespaces.get(nsid)
            if allocated is None:
                return _outcome(data=bytes(IDENTIFY_SIZE))
            ns, cns = allocated, 0x05
        else:
            ns = ctrl.namespace(nsid)
        if cns == 0x00:
            data = identify_namespace(ctrl, ns)
        elif cns == 0x03:
            data = identify_ns_descriptors(ctrl, ns)
        elif cns == 0x08:
            data = identify_ns_independent(ns)
        elif csi == CSI_NVM and ns.kv is None:  # a zoned namespace has the NVM command set's too
            data = encode("identify-ns-nvm", {})  # NVM command set specific: no PI, no extended formats
        elif csi == CSI_ZONED and ns.zones is not None:
            data = identify_namespace_zoned(ns)
        elif csi == CSI_KV and ns.kv is not None:
            data = identify_namespace_kv(ctrl, ns)
        else:
            raise invalid_field(cdw_byte(11) + 3)
    elif cns in (0x02, 0x07, 0x10, 0x1A):  # active (02h, 07h) or allocated (10h, 1Ah) NSIDs above `nsid`
        if nsid >= 0xFFFF_FFFE:
            raise invalid_namespace()
        if cns in (0x07, 0x1A) and csi not in TEMPLATES:
            raise invalid_field(cdw_byte(11) + 3)
        listed = sorted(
            n for n, ns in ctrl.namespaces.items()
            if n > nsid and (ns.attached or cns in (0x10, 0x1A))
            and (cns in (0x02, 0x10) or ns.spec.csi == csi)
        )  # fmt: skip
        data = _ns_id_list(listed)
    elif cns == 0x06:
        if csi == 0x00:
            data = encode("identify-ctrl-nvm", {"vsl": 0, "wzsl": 0, "wusl": 0, "dmrl": 0})
        elif csi == 0x02:
            data = encode("identify-ctrl-zns", {"zasl": 0})  # Zone Append up to MDTS
        elif csi == CSI_KV:
            data = bytes(IDENTIFY_SIZE)  # the KV command set sets no controller field here
        else:
            raise invalid_field(cdw_byte(11) + 3)
    elif cns == 0x1C:
        # One I/O Command Set combination: NVM (bit 0), Key Value (bit 1) and Zoned Namespace (bit 2).
        data = encode("io-command-set-vectors", {"iocsc": [{"iocsv": 0b111}]})
    elif (more := logs2x.identify(ctrl, cmd)) is not None:
        data = more
    else:
        raise invalid_field(cdw_byte(10))
    return _outcome(data=data)


# --- Get Log Page (5.16) ----------------------------------------------------------------------------------


def error_log(ctrl: SimController) -> bytes:
    entries = ctrl.error_log[: identity.ELPE + 1]
    return encode("error-log", {"entries": entries}).ljust(64 * (identity.ELPE + 1), b"\0")


def smart_log(ctrl: SimController) -> bytes:
    c = ctrl.counters
    temp = ctrl.temperature()
    over = ctrl.features.get(F.key(F.FID_TEMPERATURE_THRESHOLD, sensor=0, threshold_type=0), 0)
    under = ctrl.features.get(F.key(F.FID_TEMPERATURE_THRESHOLD, sensor=0, threshold_type=1), 0)
    endurance = identity.TOTAL_CAPACITY * 3000  # 3000 full drive writes wear it out
    return encode("smart-log", {
        "critical_warning": 0b10 if temp >= over or temp <= under else 0,  # bit 1: temperature
        "temperature": temp, "avail_spare": 100, "spare_thresh": 10,
        "percent_used": min(255, c["data_written_bytes"] * 100 // endurance),
        # In thousands of 512-byte units, rounded up (NVMe Base 2.0, Fig. 207).
        "data_units_read": -(-c["data_read_bytes"] // 512_000),
        "data_units_written": -(-c["data_written_bytes"] // 512_000),
        "host_read_commands": c["host_read_commands"], "host_write_commands": c["host_write_commands"],
        "ctrl_busy_time": c["busy_ns"] // 60_000_000_000, "power_cycles": c["power_cycles"],
        "power_on_hours": ctrl.power_on_hours, "unsafe_shutdowns": c["unsafe_shutdowns"],
        "media_errors": c["media_errors"], "num_err_log_entries": c["error_count"],
        "temp_sensor_1": temp + 2, "temp_sensor_2": temp - 3,
    })  # fmt: skip


def firmware_slot_log(ctrl: SimController) -> bytes:
    firmware = ctrl.firmware
    values: dict[str, object] = {"afi": firmware.active | (firmware.next_reset or 0) << 4}
    for slot in range(1, identity.FIRMWARE_SLOTS + 1):
        values[f"frs{slot}"] = firmware.revision(slot) or ""
    return encode("firmware-slot-log", values)


def changed_ns_list(ctrl: SimController, retain: bool) -> bytes:
    nsids = ctrl.changed_namespaces
    listed = [NSID_ALL] if len(nsids) > 1024 else nsids
    data = encode("changed-ns-list-log", {"nsids": [{"nsid": n} for n in listed]})
    if not retain:
        ctrl.changed_namespaces = []
    return data


def effects_log(csi: int) -> bytes:
    from nvtui.backend.sim import io

    return encode("effects-log", {
        "acs": [_effects_entry(opcode, handler.effects) for opcode, handler in sorted(HANDLERS.items())],
        "iocs": [_effects_entry(opcode, effects) for opcode, effects in sorted(io.effects(csi).items())],
    })  # fmt: skip


def _effects_entry(opcode: int, effects: int) -> dict[str, object]:
    """One Commands Supported and Effects entry, by name, from its dword (NVMe Base 2.0, Fig. 211)."""
    return {
        "opcode": opcode, "csupp": bool(effects & EFFECT_CSUPP), "lbcc": bool(effects & EFFECT_LBCC),
        "ncc": bool(effects & EFFECT_NCC), "nic": bool(effects >> 3 & 1), "ccc": bool(effects >> 4 & 1),
        "cse": effects >> 16 & 0x7,
    }  # fmt: skip


def self_test_log(ctrl: SimController) -> bytes:
    values: dict[str, object] = {}
    test = ctrl.self_test
    if test is not None:
        done = min(99, int(100 * (ctrl.clock() - test.started) / test.duration)) if test.duration else 0
        values = {"current_operation": test.code, "completion": done}
    unused = {"result": 0x0F}  # entry not used
    results = [*ctrl.self_test_results[:SELF_TEST_RESULTS]]
    values["results"] = results + [unused] * (SELF_TEST_RESULTS - len(results))
    return encode("self-test-log", values)


def changed_zone_list(ctrl: SimController, nsid: int, retain: bool) -> bytes:
    ns = ctrl.namespace(nsid)
    if ns.zones is None:
        raise invalid_field(cdw_byte(14) + 3)
    changed = ns.zones.changed
    if len(changed) > 511:
        data = encode("changed-zone-list", {"nrzid": 0xFFFF})
    else:
        data = encode("changed-zone-list", {"nrzid": len(changed), "zids": [{"zslba": z} for z in changed]})
    if not retain:
        ns.zones.changed = []
    return data


def get_log_page(ctrl: SimController, cmd: Command) -> Outcome:
    lid = cmd.cdw10 & 0xFF
    retain = bool(cmd.cdw10 >> 15 & 1)  # RAE
    numd = ((cmd.cdw11 & 0xFFFF) << 16 | cmd.cdw10 >> 16) + 1  # NUMDU:NUMDL, 0-based dwords
    offset = cmd.cdw13 << 32 | cmd.cdw12
    csi = cmd.cdw14 >> 24
    if offset & 0x3 or cmd.cdw14 >> 23 & 1:  # LPO must be dword aligned; no index offsets (OT)
        raise invalid_field(cdw_byte(12))
    if lid == 0x01:
        page = error_log(ctrl)
    elif lid == 0x02:
        if cmd.nsid not in (0, NSID_ALL):  # LPA bit 0 clear: SMART is kept for the controller only
            raise invalid_field(4)
        page = smart_log(ctrl)
    elif lid == 0x03:
        page = firmware_slot_log(ctrl)
    elif lid == 0x04:
        page = changed_ns_list(ctrl, retain)
    elif lid == 0x05:
        if csi not in TEMPLATES:
            raise invalid_field(cdw_byte(14) + 3)
        page = effects_log(csi)
    elif lid == 0x06:
        page = self_test_log(ctrl)
    elif lid == 0xBF:
        page = changed_zone_list(ctrl, cmd.nsid, retain)
    elif (more := logs2x.log_page(ctrl, cmd)) is not None:
        page = more
    else:
        raise CommandFailed(SCT_COMMAND_SPECIFIC, SC_INVALID_LOG_PAGE, param=cdw_byte(10))
    if offset > len(page):
        raise invalid_field(cdw_byte(12))
    ctrl.log_read(lid, retain)
    data = page[offset : offset + numd * 4]
    return _outcome(data=data.ljust(numd * 4, b"\0"))


# --- Get Features / Set Features (5.27, 5.15) -------------------------------------------------------------


def _feature(fid: int) -> F.Feature:
    feature = F.FEATURES.get(fid)
    if feature is None:
        raise invalid_field(cdw_byte(10))
    return feature


def _timestamp(ctrl: SimController) -> bytes:
    """Timestamp data (NVMe Base 2.0, Fig. 322): ms since the epoch, then Synch (bit 0), Origin (3:1)."""
    if ctrl.timestamp is None:  # never set: milliseconds since power-on, origin 000b (reset)
        ms, origin = int((ctrl.clock() - ctrl.powered_on) * 1000), 0
    else:
        base, set_at = ctrl.timestamp
        ms, origin = base + int((ctrl.clock() - set_at) * 1000), 1  # origin 001b: Set Features
    return (ms & 0xFFFF_FFFF_FFFF).to_bytes(6, "little") + bytes([origin << 1, 0])


def _temperature_key(cmd: Command) -> str:
    sensor, threshold_type = cmd.cdw11 >> 16 & 0xF, cmd.cdw11 >> 20 & 0x3
    if sensor not in (0, 1, 2) or threshold_type > 1:  # composite and two sensors; over and under
        raise invalid_field(cdw_byte(11) + 2)
    return F.key(F.FID_TEMPERATURE_THRESHOLD, sensor=sensor, threshold_type=threshold_type)


def _namespace_key(ctrl: SimController, fid: int, nsid: int) -> list[str]:
    if nsid == NSID_ALL:
        return [F.key(fid, n) for n, ns in ctrl.namespaces.items() if ns.attached]
    ctrl.namespace(nsid)
    return [F.key(fid, nsid)]


# Flexible Data Placement (1Dh, endurance group scope) and FDP Events (1Eh, per placement handle of a
# namespace): their values live with the reclaim units (fdp.py), in non-volatile memory: saved is current.
FID_FDP, FID_FDP_EVENTS = 0x1D, 0x1E
FDP_FEATURE_CAPS = {
    FID_FDP: F.CAP_SAVEABLE | F.CAP_CHANGEABLE,
    FID_FDP_EVENTS: F.CAP_SAVEABLE | F.CAP_CHANGEABLE | F.CAP_NS_SPECIFIC,
}


def _fdp_group(cmd: Command) -> None:
    if cmd.cdw11 & 0xFFFF != FDP.ENDGID:
        raise invalid_field(cdw_byte(11))  # no such endurance group


def _fdp_handle(ctrl: SimController, cmd: Command) -> tuple[int, int]:
    """FDP Events: the namespace's placement handle (CDW11 15:0) and the number of event types (23:16)."""
    if cmd.nsid in (0, NSID_ALL):
        raise invalid_namespace()
    ctrl.namespace(cmd.nsid)
    if cmd.nsid != FDP.FDP_NSID:
        raise invalid_field(4)  # a namespace without placement handles
    if not ctrl.fdp.enabled:
        raise CommandFailed(SCT_GENERIC, FDP.SC_FDP_DISABLED)
    ph, noet = cmd.cdw11 & 0xFFFF, cmd.cdw11 >> 16 & 0xFF
    if ph >= FDP.NPH:
        raise invalid_field(cdw_byte(11))
    if noet == 0:
        raise invalid_field(cdw_byte(11) + 2)
    return ph, noet


def _get_fdp_feature(ctrl: SimController, cmd: Command, fid: int, sel: int) -> Outcome:
    if sel == 3:
        return _outcome(result=FDP_FEATURE_CAPS[fid])
    fdp = ctrl.fdp
    if fid == FID_FDP:
        _fdp_group(cmd)
        enabled, config = (fdp.enabled, fdp.config) if sel != 1 else (True, 0)
        return _outcome(result=int(enabled) | config << 8)  # FDPE (bit 0), FDPCIDX (15:8)
    ph, noet = _fdp_handle(ctrl, cmd)
    mask = fdp.enables[ph] if sel != 1 else FDP.ALL_EVENTS
    shown = FDP.EVENT_TYPES[:noet]
    data = encode("feature-data-fdp-events", {
        "events": [{"fdpet": t, "enabled": bool(mask >> t & 1)} for t in shown]
    })  # fmt: skip
    return _outcome(result=len(shown), data=data)


def _set_fdp_feature(ctrl: SimController, cmd: Command, fid: int) -> Outcome:
    fdp = ctrl.fdp
    if fid == FID_FDP:
        _fdp_group(cmd)
        enable, config = bool(cmd.cdw12 & 1), cmd.cdw12 >> 8 & 0xFF
        if config != 0:
            raise invalid_field(cdw_byte(12) + 1)  # one FDP configuration
        if (enable, config) != (fdp.enabled, fdp.config):
            # FDP changes only in an endurance group without namespaces; these always exist
            raise CommandFailed(SCT_GENERIC, SC_COMMAND_SEQUENCE_ERROR)
        return _outcome()
    ph, noet = _fdp_handle(ctrl, cmd)
    if cmd.data is None or len(cmd.data) < noet:
        raise invalid_field(cdw_byte(6))  # the event types are missing
    types = list(cmd.data[:noet])
    if any(t not in FDP.EVENT_TYPES for t in types):
        raise invalid_field(cdw_byte(6))  # an event type this controller does not log
    fdp.set_enables(ph, types, bool(cmd.cdw12 & 1))
    return _outcome()


def _get_host_identifier(ctrl: SimController, cmd: Command, sel: int) -> Outcome:
    """Host Identifier (81h): the identifier in the form EXHID (CDW11 bit 0) asks, which must be the form in
    force; DW0 tells that form. Saved is current (kept through power cycles); the default is a 64-bit 0h."""
    extended = bool(cmd.cdw11 & 1)
    if sel == 1:
        return _outcome(data=HostIdentifier(0, extended).data())
    host_id = ctrl.host_id
    if extended != host_id.extended:
        raise invalid_field(cdw_byte(11))  # the identifier in force is of the other size
    return _outcome(result=int(extended), data=host_id.data())


def _set_host_identifier(ctrl: SimController, cmd: Command) -> Outcome:
    """Host Identifier (81h): bytes 7:0 of the data buffer, or 15:0 with EXHID (CDW11 bit 0)."""
    extended = bool(cmd.cdw11 & 1)
    size = 16 if extended else 8
    if cmd.data is None or len(cmd.data) < size:
        raise invalid_field(cdw_byte(6))  # the identifier is missing from the data buffer
    host_id = HostIdentifier(int.from_bytes(cmd.data[:size], "little"), extended)
    if extended and host_id.value == 0:
        raise invalid_field(cdw_byte(6))  # no 128-bit identifier is 0h (hostid.py)
    if host_id == ctrl.host_id:
        return _outcome()
    if any(ctrl.host_id.value in res.keys for res in ctrl.reservations.values()):
        raise CommandFailed(SCT_GENERIC, SC_COMMAND_SEQUENCE_ERROR)  # its registrations carry the old one
    ctrl.host_id = host_id
    return _outcome()


def get_features(ctrl: SimController, cmd: Command) -> Outcome:
    fid, sel = cmd.cdw10 & 0xFF, cmd.cdw10 >> 8 & 0x7
    if fid in FDP_FEATURE_CAPS:
        if sel > 3:
            raise invalid_field(cdw_byte(10) + 1)
        return _get_fdp_feature(ctrl, cmd, fid, sel)
    feature = _feature(fid)
    if sel > 3:
        raise invalid_field(cdw_byte(10) + 1)
    if feature.ns_specific and cmd.nsid in (0, NSID_ALL):
        raise invalid_namespace()
    if sel == 3:
        return _outcome(result=feature.capabilities)
    if fid == F.FID_TIMESTAMP:
        return _outcome(data=_timestamp(ctrl) if sel == 0 else bytes(8))
    if fid == F.FID_RESERVATION_PERSISTENCE:
        ctrl.namespace(cmd.nsid)
        return _outcome(result=0 if sel == 1 else int(ctrl.reservations[cmd.nsid].ptpl))
    if fid == F.FID_HOST_IDENTIFIER:
        return _get_host_identifier(ctrl, cmd, sel)
    if fid == F.FID_TEMPERATURE_THRESHOLD:
        k = _temperature_key(cmd)
    elif feature.ns_specific:
        k = _namespace_key(ctrl, fid, cmd.nsid)[0]
    else:
        k = F.key(fid)
    return _outcome(result=ctrl.features.get(k, sel))


def set_features(ctrl: SimController, cmd: Command) -> Outcome:
    fid, save = cmd.cdw10 & 0xFF, bool(cmd.cdw10 >> 31)
    if fid in FDP_FEATURE_CAPS:
        return _set_fdp_feature(ctrl, cmd, fid)
    feature = _feature(fid)
    if save and not feature.saveable:
        raise CommandFailed(SCT_COMMAND_SPECIFIC, SC_FEATURE_NOT_SAVEABLE, param=cdw_byte(10) + 3)
    if not feature.ns_specific and cmd.nsid not in (0, NSID_ALL):
        raise CommandFailed(SCT_COMMAND_SPECIFIC, SC_FEATURE_NOT_NS_SPECIFIC, param=4)
    value = cmd.cdw11 & feature.mask
    result = 0
    if fid == F.FID_HOST_IDENTIFIER:
        return _set_host_identifier(ctrl, cmd)
    if fid == F.FID_TIMESTAMP:
        if cmd.data is None or len(cmd.data) < 8:
            raise invalid_field(cdw_byte(6))  # the 8 bytes of timestamp data are missing
        ctrl.timestamp = (int.from_bytes(cmd.data[:6], "little"), ctrl.clock())
        return _outcome()
    if fid == F.FID_RESERVATION_PERSISTENCE:  # the PTPL state of one namespace, or of all (FFFFFFFFh)
        nsids = (
            [n for n, ns in ctrl.namespaces.items() if ns.attached] if cmd.nsid == NSID_ALL
            else [ctrl.namespace(cmd.nsid).nsid]
        )  # fmt: skip
        for nsid in nsids:
            ctrl.reservations[nsid].set_ptpl(bool(value))
        return _outcome()
    if fid == F.FID_NUMBER_OF_QUEUES:
        nsqr, ncqr = value & 0xFFFF, value >> 16
        if nsqr == 0xFFFF or ncqr == 0xFFFF:
            raise invalid_field(cdw_byte(11))
        top = identity.MAX_QUEUES - 1
        value = result = min(nsqr, top) | min(ncqr, top) << 16  # what was allocated, 0-based
    if fid == F.FID_POWER_MANAGEMENT and value & 0x1F > identity.NPSS:
        raise invalid_field(cdw_byte(11))
    if fid == F.FID_ERROR_RECOVERY and value >> 16 & 1:
        raise invalid_field(cdw_byte(11) + 2)  # DULBE needs deallocated-block errors (NSFEAT bit 2): none
    if fid == F.FID_TEMPERATURE_THRESHOLD:
        sensor = cmd.cdw11 >> 16 & 0xF
        keys = [F.key(fid, sensor=s, threshold_type=cmd.cdw11 >> 20 & 0x3) for s in (0, 1, 2)]
        keys = keys if sensor == 0xF and cmd.cdw11 >> 20 & 0x3 <= 1 else [_temperature_key(cmd)]
    elif feature.ns_specific:
        keys = _namespace_key(ctrl, fid, cmd.nsid)
    else:
        keys = [F.key(fid)]
    for k in keys:
        ctrl.features.set(k, value, save)
    if save:
        ctrl.save()
    if fid == F.FID_TEMPERATURE_THRESHOLD:
        temp = ctrl.temperature()
        over = ctrl.features.current_value(fid)
        under = ctrl.features.get(F.key(fid, sensor=0, threshold_type=1), 0)
        if temp >= over or temp <= under:
            ctrl.raise_event(0x1, 0x01, 0x02, aec_bit=1)  # SMART / Health: temperature threshold
    return _outcome(result=result)


# --- Directive Send (5.10) and Directive Receive (5.9): Identify and Streams (directives.py) --------------

DOPER_RETURN_PARAMETERS, DOPER_GET_STATUS, DOPER_ALLOCATE = 0x01, 0x02, 0x03  # receive
DOPER_ENABLE = DOPER_RELEASE_IDENTIFIER = 0x01  # send: Identify's, Streams' first
DOPER_RELEASE_RESOURCES = 0x02


def _directive(ctrl: SimController, cmd: Command) -> tuple[Namespace, int, int, int]:
    """The namespace, DOPER, DTYPE and DSPEC of a directive command (a namespace is needed: every one is)."""
    if cmd.nsid == 0 or cmd.nsid == NSID_ALL:
        raise invalid_namespace()
    ns = ctrl.namespace(cmd.nsid)
    return ns, cmd.cdw11 & 0xFF, cmd.cdw11 >> 8 & 0xFF, cmd.cdw11 >> 16


def directive_receive(ctrl: SimController, cmd: Command) -> Outcome:
    ns, doper, dtype, _ = _directive(ctrl, cmd)
    d = ctrl.directives
    if dtype == D.DTYPE_IDENTIFY and doper == DOPER_RETURN_PARAMETERS:
        streams = d.supports_streams(ns.nsid)
        # Data Placement: on the FDP namespace, enabled with FDP (feature 1Dh, kept across resets)
        placement = ns.nsid == FDP.FDP_NSID
        supported = 1 << D.DTYPE_IDENTIFY | streams << D.DTYPE_STREAMS | placement << D.DTYPE_DATA_PLACEMENT
        enabled = (
            1 << D.DTYPE_IDENTIFY
            | d.enabled(ns.nsid) << D.DTYPE_STREAMS
            | (placement and ctrl.fdp.enabled) << D.DTYPE_DATA_PLACEMENT
        )
        persistent = streams << D.DTYPE_STREAMS | placement << D.DTYPE_DATA_PLACEMENT
        data = encode(
            "directive-identify-parameters",
            {"supported": supported, "enabled": enabled, "persistent": persistent},
        )
        return _outcome(data=data)
    if dtype != D.DTYPE_STREAMS or not d.supports_streams(ns.nsid):
        raise invalid_field(cdw_byte(11) + 1)
    if doper == DOPER_RETURN_PARAMETERS:
        s = d.streams[ns.nsid]
        sws = max(1, D.STREAM_WRITE_BYTES // ns.lba_size)
        data = encode("streams-parameters", {
            "msl": D.MSL, "nssa": d.available, "nsso": d.open_count, "nssc": 0,
            "sws": sws, "sgs": D.STREAM_GRANULE_BYTES // (sws * ns.lba_size),
            "nsa": s.allocated, "nso": len(s.open),
        })  # fmt: skip
        return _outcome(data=data)
    if doper == DOPER_GET_STATUS:
        sids = d.status(ns.nsid)
        return _outcome(data=encode("streams-status", {"osc": len(sids), "sids": [{"sid": i} for i in sids]}))
    if doper == DOPER_ALLOCATE:
        return _outcome(result=d.allocate(ns.nsid, cmd.cdw12 & 0xFFFF))
    raise invalid_field(cdw_byte(11))


def directive_send(ctrl: SimController, cmd: Command) -> Outcome:
    ns, doper, dtype, dspec = _directive(ctrl, cmd)
    d = ctrl.directives
    if dtype == D.DTYPE_IDENTIFY:
        if doper != DOPER_ENABLE:
            raise invalid_field(cdw_byte(11))
        d.enable(ns.nsid, cmd.cdw12 >> 8 & 0xFF, bool(cmd.cdw12 & 1))
    elif dtype != D.DTYPE_STREAMS or not d.supports_streams(ns.nsid):
        raise invalid_field(cdw_byte(11) + 1)
    elif doper == DOPER_RELEASE_IDENTIFIER:
        d.release_identifier(ns.nsid, dspec)
    elif doper == DOPER_RELEASE_RESOURCES:
        d.release_resources(ns.nsid)
    else:
        raise invalid_field(cdw_byte(11))
    return _outcome()


# --- Get LBA Status (Base 2.1, 5.1.8) --------------------------------------------------------------------

ATYPE_TRACKED_AND_UNTRACKED, ATYPE_TRACKED = 0x10, 0x11
CMPC_MNDW, CMPC_RANGE = 1, 2
LBA_STATUS_HEADER, LBA_STATUS_DESCRIPTOR = 8, 16
DESCRIPTOR_NLB_MAX = 0xFFFF_FFFF  # NLB is 32 bits (a count, not 0-based): a longer range takes several


def get_lba_status(ctrl: SimController, cmd: Command) -> Outcome:
    """The potentially unrecoverable LBAs of a range: on the simulator, the blocks a Write Uncorrectable
    marked (reads of them fail with Unrecovered Read Error until they are written, zeroed, deallocated or
    formatted).
    The controller records every such block as it marks it, so all are tracked: a scan (10h, tracked and
    untracked) finds none the tracked list (11h) lacks, and both action types return the same descriptors.
    RL 0 examines to the end of the namespace; a range past the end stops there."""
    if cmd.nsid == 0 or cmd.nsid == NSID_ALL:
        raise invalid_namespace()
    ns = ctrl.namespace(cmd.nsid)
    slba = cmd.cdw10 | cmd.cdw11 << 32
    room = (cmd.cdw12 + 1) * 4  # MNDW is 0-based: the bytes the host takes
    rl, atype = cmd.cdw13 & 0xFFFF, cmd.cdw13 >> 24
    if atype not in (ATYPE_TRACKED_AND_UNTRACKED, ATYPE_TRACKED):
        raise invalid_field(cdw_byte(13) + 3)
    if slba >= ns.nsze:
        raise lba_out_of_range(slba)
    end = ns.nsze if rl == 0 else min(slba + rl, ns.nsze)
    found: list[dict[str, int]] = []
    for start, stop in ns.uncorrectable.ranges:
        start, stop = max(start, slba), min(stop, end)
        while start < stop:
            nlb = min(stop - start, DESCRIPTOR_NLB_MAX)
            found.append({"dslba": start, "nlb": nlb, "status": 0})
            start += nlb
    fits = max(0, (room - LBA_STATUS_HEADER) // LBA_STATUS_DESCRIPTOR)
    cmpc = CMPC_RANGE if len(found) <= fits else CMPC_MNDW
    kept = found[:fits]
    data = encode("lba-status-descriptor-list", {"nlsd": len(kept), "cmpc": cmpc, "descriptors": kept})
    return _outcome(data=data)


# --- Namespace Management (5.21) and Namespace Attachment (5.20) ---------------------------------------
#
# NSIDs 1..NN; a namespace takes its whole size from TNVMCAP (NCAP must equal NSZE: no thin provisioning of
# created namespaces). Create allocates the lowest free NSID, not attached; delete erases the namespace (its
# files are removed once the command is journaled) and takes its reservations, streams and features with it;
# attach and detach change the active namespace list and report a Namespace Attribute Changed event. Each
# checkpoints at once, so discovery (which reads only the checkpoint) lists the attached namespaces.

SEL_CREATE, SEL_DELETE = 0x0, 0x1  # Namespace Management (NVMe Base 2.0, Fig. 290)
SEL_ATTACH, SEL_DETACH = 0x0, 0x1  # Namespace Attachment (Fig. 287)


def _host_buffer(cmd: Command) -> bytes:
    data = cmd.data or b""
    if len(data) < IDENTIFY_SIZE:  # the 4 KiB Identify Namespace structure, or the 4 KiB Controller List
        raise invalid_field(cdw_byte(10))
    return data[:IDENTIFY_SIZE]


def _le(data: bytes, at: int, size: int) -> int:
    return int.from_bytes(data[at : at + size], "little")


def namespace_management(ctrl: SimController, cmd: Command) -> Outcome:
    sel = cmd.cdw10 & 0xF
    if sel == SEL_CREATE:
        return _create_namespace(ctrl, cmd)
    if sel != SEL_DELETE:
        raise invalid_field(cdw_byte(10))
    doomed = list(ctrl.namespaces.values()) if cmd.nsid == NSID_ALL else [ctrl.allocated(cmd.nsid)]
    for ns in doomed:
        ctrl.delete_namespace(ns)
    return _outcome()


def _create_namespace(ctrl: SimController, cmd: Command) -> Outcome:
    if cmd.nsid != 0:  # NSID is not used by a create (the controller picks it)
        raise invalid_namespace()
    csi = cmd.cdw11 >> 24
    template = TEMPLATES.get(csi)
    if template is None:
        raise invalid_field(cdw_byte(11) + 3)
    buf = _host_buffer(cmd)
    if template.kv:
        size, lbaf = _kv_create_size(buf), 0
    else:
        size, lbaf = _nvm_create_size(buf, template)
    free = [nsid for nsid in range(1, identity.NN + 1) if nsid not in ctrl.namespaces]
    if not free:
        raise CommandFailed(SCT_COMMAND_SPECIFIC, SC_NS_ID_UNAVAILABLE)
    if size > ctrl.unallocated():
        raise CommandFailed(SCT_COMMAND_SPECIFIC, SC_NS_INSUFFICIENT_CAPACITY)
    return _outcome(result=ctrl.create_namespace(free[0], csi, size, lbaf))


def _check_sharing(nmic: int, anagrpid: int, nvmsetid: int, endgid: int) -> None:
    if nmic & 1 or anagrpid or nvmsetid not in (0, logs2x.NVMSETID) or endgid not in (0, logs2x.ENDGID):
        raise invalid_field()  # private (one controller); no ANA; the one NVM set and endurance group


def _kv_create_size(buf: bytes) -> int:
    """A Key Value namespace's size from a create's host buffer, the KV Identify Namespace structure (KV
    Command Set 1.0: NSZE in bytes, NMIC, ANAGRPID, NVMSETID, ENDGID); a whole number of the 4 KiB units
    its values are kept in. Its one KV format is the only one."""
    nsze = _le(buf, 0, 8)
    _check_sharing(buf[26], _le(buf, 36, 4), _le(buf, 44, 2), _le(buf, 46, 2))
    if nsze == 0 or nsze % KV_UNIT:
        raise invalid_field()
    return nsze


def _nvm_create_size(buf: bytes, template: NamespaceSpec) -> tuple[int, int]:
    """An NVM or zoned namespace's size in bytes and LBA format index from a create's host buffer."""
    # Identify Namespace fields a create uses (NVMe Base 2.0, Fig. 291); the others are ignored, as there.
    nsze, ncap = _le(buf, 0, 8), _le(buf, 8, 8)
    flbas, dps, nmic = buf[26], buf[29], buf[30]
    anagrpid, nvmsetid, endgid = _le(buf, 92, 4), _le(buf, 100, 2), _le(buf, 102, 2)
    lbaf = (flbas & 0xF) | (flbas >> 5 & 0x3) << 4
    if lbaf >= len(template.formats) or dps or (flbas & 0x10 and template.formats[lbaf].metadata_size):
        # no such format; no protection information; no extended (metadata-in-block) LBAs
        raise CommandFailed(SCT_COMMAND_SPECIFIC, SC_INVALID_FORMAT)
    if nsze == 0 or ncap != nsze:
        raise invalid_field()  # a created namespace is fully provisioned
    _check_sharing(nmic, anagrpid, nvmsetid, endgid)
    size = nsze * template.formats[lbaf].lba_size
    if template.zoned and size % template.zone_size_bytes:
        raise invalid_field()  # a zoned namespace is a whole number of zones
    return size, lbaf


def namespace_attachment(ctrl: SimController, cmd: Command) -> Outcome:
    sel = cmd.cdw10 & 0xF
    if sel not in (SEL_ATTACH, SEL_DETACH):
        raise invalid_field(cdw_byte(10))
    ns = ctrl.allocated(cmd.nsid) if cmd.nsid != NSID_ALL else None
    if ns is None:
        raise invalid_namespace()
    buf = _host_buffer(cmd)
    count = _le(buf, 0, 2)
    ids = [_le(buf, 2 + 2 * i, 2) for i in range(min(count, 2047))]
    if not ids or count > 2047 or any(cntlid != identity.CNTLID for cntlid in ids):
        raise CommandFailed(SCT_COMMAND_SPECIFIC, SC_CONTROLLER_LIST_INVALID)  # this controller alone
    if sel == SEL_ATTACH and ns.attached:
        raise CommandFailed(SCT_COMMAND_SPECIFIC, SC_NS_ALREADY_ATTACHED)
    if sel == SEL_DETACH and not ns.attached:
        raise CommandFailed(SCT_COMMAND_SPECIFIC, SC_NS_NOT_ATTACHED)
    ctrl.attach_namespace(ns, sel == SEL_ATTACH)
    return _outcome()


# --- Format NVM (5.23), Device Self-test (5.9), Abort, Keep Alive ---------------------------------------


def format_nvm(ctrl: SimController, cmd: Command) -> Outcome:
    lbaf = (cmd.cdw10 & 0xF) | (cmd.cdw10 >> 12 & 0x3) << 4
    mset, pi, ses = cmd.cdw10 >> 4 & 1, cmd.cdw10 >> 5 & 0x7, cmd.cdw10 >> 9 & 0x7
    if cmd.nsid == NSID_ALL:
        targets = [ns for ns in ctrl.namespaces.values() if ns.attached]
    elif cmd.nsid == 0:
        raise invalid_namespace()
    else:
        targets = [ctrl.namespace(cmd.nsid)]
    if ses > 2:
        raise invalid_field(cdw_byte(10) + 1)
    for ns in targets:
        if lbaf >= len(ns.spec.formats) or pi or (mset and ns.spec.formats[lbaf].metadata_size):
            # no such format, no protection information, no extended (metadata-in-block) LBAs
            raise CommandFailed(SCT_COMMAND_SPECIFIC, SC_INVALID_FORMAT, param=cdw_byte(10))
    if ctrl.self_test is not None and ctrl.self_test.nsid in (NSID_ALL, *(ns.nsid for ns in targets)):
        ctrl.abort_self_test(result=0x4)  # aborted by a Format NVM command
    for ns in targets:
        ns.format(lbaf)
        ctrl.namespace_changed(ns.nsid)
    if ctrl.fdp.enabled and any(ns.nsid == FDP.FDP_NSID for ns in targets):
        ctrl.fdp.format()  # its placement handles start empty reclaim units
    ctrl.save()
    return _outcome(kind="format")


def device_self_test(ctrl: SimController, cmd: Command) -> Outcome:
    stc = cmd.cdw10 & 0xF
    if cmd.nsid not in (0, NSID_ALL):
        ctrl.namespace(cmd.nsid)
    if stc == 0xF:
        if ctrl.self_test is not None:
            ctrl.abort_self_test(result=0x1)  # aborted by a Device Self-test command
        return _outcome()
    if stc not in (0x1, 0x2):
        raise invalid_field(cdw_byte(10))
    if ctrl.self_test is not None:
        raise CommandFailed(SCT_COMMAND_SPECIFIC, SC_SELF_TEST_IN_PROGRESS, dnr=False)
    ctrl.start_self_test(stc, cmd.nsid)
    ctrl.save()
    return _outcome()


def firmware_commit(ctrl: SimController, cmd: Command) -> Outcome:
    firmware = ctrl.firmware
    running = firmware.running
    firmware.commit(fs=cmd.cdw10 & 0x7, ca=cmd.cdw10 >> 3 & 0x7)
    if firmware.running != running:
        ctrl.checkpoint_due = True  # discovery, which reads only the state, names the running revision
    return _outcome()


def firmware_image_download(ctrl: SimController, cmd: Command) -> Outcome:
    ctrl.firmware.download(numd=cmd.cdw10 + 1, offset_dw=cmd.cdw11, data=cmd.data)
    return _outcome()


def sanitize(ctrl: SimController, cmd: Command) -> Outcome:
    sanact, ndas = cmd.cdw10 & 0x7, cmd.cdw10 >> 9 & 1
    if ctrl.sanitize.running:
        raise CommandFailed(SCT_GENERIC, SC_SANITIZE_IN_PROGRESS, dnr=False)
    if sanact == S.SANACT_EXIT_FAILURE:
        return _outcome()  # no sanitize ever fails here: nothing to leave
    if sanact not in (S.SANACT_BLOCK_ERASE, S.SANACT_CRYPTO_ERASE):  # overwrite unsupported (SANICAP)
        raise invalid_field(cdw_byte(10))
    if ndas:  # No-Deallocate Inhibited (SANICAP.NDI)
        raise invalid_field(cdw_byte(10) + 1)
    if ctrl.self_test is not None:
        ctrl.abort_self_test(result=0x9)  # aborted by a sanitize operation
    for ns in ctrl.namespaces.values():
        ns.format(ns.format_index)  # every block erased (reads zeros), every zone empty, in the same format
    ctrl.fdp.sanitize(identity.TOTAL_CAPACITY)  # every reclaim unit of the endurance group erased
    ctrl.sanitize.start(cmd.cdw10, ctrl.clock(), S.configured_seconds())
    ctrl.poll_sanitize()  # done at once when it takes no time
    return _outcome(kind="format")


def abort(ctrl: SimController, cmd: Command) -> Outcome:
    # Every command completes before an Abort can find it: bit 0 set means "not aborted".
    return _outcome(result=1)


def keep_alive(ctrl: SimController, cmd: Command) -> Outcome:
    return _outcome()


def async_event_request(ctrl: SimController, cmd: Command) -> Outcome:
    """Only reached when an event is already pending or too many requests are outstanding; the backend
    waits on `ctrl.aer_waiters` otherwise."""
    if ctrl.pending_events:
        return _outcome(result=ctrl.pending_events.pop(0))
    raise CommandFailed(SCT_COMMAND_SPECIFIC, SC_AER_LIMIT_EXCEEDED)


CSUPP, LBCC, NCC, CCC = EFFECT_CSUPP, EFFECT_LBCC, EFFECT_NCC, 1 << 4  # CCC: controller capability change
NIC = 1 << 3  # namespace inventory change

HANDLERS: dict[int, Handler] = {
    0x02: Handler("get-log-page", get_log_page, CSUPP),
    0x06: Handler("identify", identify, CSUPP),
    0x08: Handler("abort", abort, CSUPP),
    0x09: Handler("set-features", set_features, CSUPP),
    0x0A: Handler("get-features", get_features, CSUPP),
    0x0C: Handler("async-event-request", async_event_request, CSUPP),
    0x0D: Handler("namespace-management", namespace_management, CSUPP | NIC | NCC | effect_cse(2)),
    0x10: Handler("firmware-commit", firmware_commit, CSUPP | CCC),
    0x11: Handler("firmware-image-download", firmware_image_download, CSUPP),
    0x14: Handler("device-self-test", device_self_test, CSUPP),
    0x15: Handler("namespace-attachment", namespace_attachment, CSUPP | NIC | NCC | effect_cse(2)),
    0x18: Handler("keep-alive", keep_alive, CSUPP),
    0x19: Handler("directive-send", directive_send, CSUPP),
    0x1A: Handler("directive-receive", directive_receive, CSUPP),
    0x80: Handler("format-nvm", format_nvm, CSUPP | LBCC | NCC | effect_cse(1)),
    0x84: Handler("sanitize", sanitize, CSUPP | LBCC | effect_cse(2)),
    0x86: Handler("get-lba-status", get_lba_status, CSUPP),
}
