"""I/O commands of the simulated controller: the NVM Command Set 1.0 (Flush, Write, Read, Write
Uncorrectable, Compare, Write Zeroes, Dataset Management, Verify, Copy), the reservation commands of NVMe
Base 2.0 (Reservation Register, Report, Acquire, Release: reservations.py) and the Zoned Namespace Command
Set 1.1 (Zone Management Send / Receive, Zone Append), and the Key Value Command Set 1.0 (kv.py). A
conventional namespace takes the first set, a zoned one the commands the ZNS spec keeps plus its own, a Key
Value one its own with Flush and the reservation commands; anything else is Invalid Command Opcode. A command
of the read or write group is checked against the namespace's reservation first (Reservation Conflict)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from nvtui.backend.sim import fdp as FDP
from nvtui.backend.sim import kv as KV
from nvtui.backend.sim import zones as Z
from nvtui.backend.sim.admin import COPY_MCL, COPY_MSRC, COPY_MSSRL
from nvtui.backend.sim.directives import DTYPE_DATA_PLACEMENT, DTYPE_STREAMS
from nvtui.backend.sim.errors import (
    SC_COMMAND_SIZE_LIMIT_EXCEEDED,
    SC_COMPARE_FAILURE,
    SC_DATA_SGL_LENGTH_INVALID,
    SC_UNRECOVERED_READ_ERROR,
    SC_ZONE_IS_OFFLINE,
    SCT_COMMAND_SPECIFIC,
    SCT_GENERIC,
    SCT_MEDIA,
    CommandFailed,
    cdw_byte,
    invalid_field,
    invalid_opcode,
    lba_out_of_range,
    zone_error,
)
from nvtui.backend.sim.identity import MAX_TRANSFER
from nvtui.backend.sim.specs import CSI_KV, CSI_NVM, CSI_ZONED
from nvtui.nvme.command import Command
from nvtui.structures import decode, encode

if TYPE_CHECKING:
    from nvtui.backend.sim.controller import Outcome, SimController
    from nvtui.backend.sim.namespace import Namespace

NSID_ALL = 0xFFFF_FFFF
IoHandler = Callable[["SimController", "Namespace", Command], "Outcome"]

DSM_RANGE_SIZE = 16  # Dataset Management Range (NVM Command Set 1.0, Fig. 41)
COPY_RANGE_SIZE = 32  # Copy Source Range Entries, format 0 (Fig. 39)
ZONE_REPORT_HEADER_SIZE = ZONE_DESCRIPTOR_SIZE = 64  # Report Zones (ZNS 1.1, Figs. 36-37)
EFFECT_CSUPP, EFFECT_LBCC = 1 << 0, 1 << 1  # Commands Supported and Effects (NVMe Base 2.0, Fig. 211)


def _ranges(structure: str, data: bytes, nr: int) -> list[dict[str, int]]:
    """The `nr` range entries of a Dataset Management or Copy data buffer, by field name (the layouts in
    nvtui/structures/nvm.yaml)."""
    ranges = decode(structure, data, nr=nr).to_json()["ranges"]
    assert isinstance(ranges, list)
    return ranges  # type: ignore[return-value]


def _outcome(**kw: object) -> Outcome:
    from nvtui.backend.sim.controller import Outcome

    return Outcome(**kw)  # type: ignore[arg-type]


def _range(ns: Namespace, cmd: Command) -> tuple[int, int]:
    """SLBA (CDW10-11) and NLB (CDW12 15:0, 0-based), checked against the namespace size."""
    slba = cmd.cdw11 << 32 | cmd.cdw10
    nlb = (cmd.cdw12 & 0xFFFF) + 1
    if slba + nlb > ns.nsze:
        raise lba_out_of_range(slba)
    return slba, nlb


def _transfer(ns: Namespace, cmd: Command, nlb: int) -> int:
    nbytes = nlb << ns.lbads
    if nbytes > MAX_TRANSFER:
        raise invalid_field(cdw_byte(12))  # larger than MDTS
    if cmd.data_len < nbytes:
        # The sim describes the host buffer as one SGL of data_len bytes: too short for the blocks.
        raise CommandFailed(SCT_GENERIC, SC_DATA_SGL_LENGTH_INVALID)
    return nbytes


def _write_payload(ns: Namespace, cmd: Command, nbytes: int) -> bytes:
    data = cmd.data or b""
    return data[:nbytes] if len(data) >= nbytes else data.ljust(nbytes, b"\0")


def _check_readable(ctrl: SimController, ns: Namespace, slba: int, nlb: int) -> None:
    if ns.uncorrectable.ranges:
        bad = ns.uncorrectable.first_in(slba, slba + nlb)
        if bad is not None:
            ctrl.counters["media_errors"] += 1
            raise CommandFailed(SCT_MEDIA, SC_UNRECOVERED_READ_ERROR, lba=bad)
    if ns.zones is not None:
        zsze = ns.zones.zsze
        for index in range(slba // zsze, (slba + nlb - 1) // zsze + 1):
            if ns.zones.zones[index].state is Z.ZoneState.OFFLINE:
                raise zone_error(SC_ZONE_IS_OFFLINE, slba)


# --- NVM Command Set ----------------------------------------------------------------------------------------


def flush(ctrl: SimController, ns: Namespace, cmd: Command) -> Outcome:
    ns.sync()
    return _outcome(kind="flush")


def _host_read(ctrl: SimController, ns: Namespace, cmd: Command) -> tuple[int, int, int]:
    """The checks and counters of a command that reads blocks to the host: (slba, nlb, bytes)."""
    slba, nlb = _range(ns, cmd)
    nbytes = _transfer(ns, cmd, nlb)
    _check_readable(ctrl, ns, slba, nlb)
    ctrl.counters["host_read_commands"] += 1
    ctrl.counters["data_read_bytes"] += nbytes
    return slba, nlb, nbytes


def read(ctrl: SimController, ns: Namespace, cmd: Command) -> Outcome:
    slba, nlb, nbytes = _host_read(ctrl, ns, cmd)
    meta = ns.read_meta(slba, nlb) if ns.ms and cmd.metadata_len else None
    return _outcome(data=ns.read(slba, nlb), metadata=meta, kind="read", nbytes=nbytes)


def _clock(ctrl: SimController) -> tuple[int, int]:
    return FDP.event_clock(ctrl.timestamp, ctrl.powered_on, ctrl.clock())


def _placement(ctrl: SimController, ns: Namespace, cmd: Command) -> int | None:
    """The placement handle a write goes through: the one its placement directive names (DTYPE 2, DSPEC the
    placement identifier), else placement handle 0; None where the namespace has no placement handles
    (the zoned namespace) or FDP is disabled. An identifier naming no handle of the namespace is refused
    and logged as an event."""
    directive = cmd.cdw12 >> 20 & 0xF == DTYPE_DATA_PLACEMENT
    if ns.nsid != FDP.FDP_NSID or not ctrl.fdp.enabled:
        if directive:  # the data placement directive is not enabled for this namespace
            raise invalid_field(cdw_byte(12) + 2)
        return None
    if not directive:
        return 0
    pid = cmd.cdw13 >> 16
    ph = FDP.parse_pid(pid)
    if ph is None:
        ctrl.fdp.invalid_pid(pid, _clock(ctrl))
        raise invalid_field(cdw_byte(13) + 2)
    return ph


def write(ctrl: SimController, ns: Namespace, cmd: Command) -> Outcome:
    slba, nlb = _range(ns, cmd)
    nbytes = _transfer(ns, cmd, nlb)
    if cmd.cdw12 >> 20 & 0xF == DTYPE_STREAMS:  # DTYPE; DSPEC (CDW13 31:16) names the stream
        ctrl.directives.write(ns.nsid, cmd.cdw13 >> 16)
    ph = _placement(ctrl, ns, cmd)
    zone = ns.zones.check_write(slba, nlb) if ns.zones is not None else None
    ns.write(slba, nlb, _write_payload(ns, cmd, nbytes), cmd.metadata)
    if zone is not None and ns.zones is not None:
        ns.zones.advance(zone, nlb)
    if ph is not None:
        ctrl.fdp.write(ph, nbytes, nlb * ns.ms)
    c = ctrl.counters
    c["host_write_commands"] += 1
    c["data_written_bytes"] += nbytes
    return _outcome(kind="write", nbytes=nbytes)


def write_uncorrectable(ctrl: SimController, ns: Namespace, cmd: Command) -> Outcome:
    slba, nlb = _range(ns, cmd)
    ns.uncorrectable.add(slba, slba + nlb)
    ctrl.counters["host_write_commands"] += 1
    return _outcome(kind="write")


def compare(ctrl: SimController, ns: Namespace, cmd: Command) -> Outcome:
    slba, nlb, nbytes = _host_read(ctrl, ns, cmd)
    same = ns.read(slba, nlb) == _write_payload(ns, cmd, nbytes)
    if same and ns.ms and cmd.metadata is not None:
        same = ns.read_meta(slba, nlb) == cmd.metadata[: nlb * ns.ms].ljust(nlb * ns.ms, b"\0")
    if not same:
        raise CommandFailed(SCT_MEDIA, SC_COMPARE_FAILURE, lba=slba)
    return _outcome(kind="read", nbytes=nbytes)


def write_zeroes(ctrl: SimController, ns: Namespace, cmd: Command) -> Outcome:
    """Write Zeroes takes the data placement directive as Write does (CDW12 DTYPE, CDW13 DSPEC: NVM Command
    Set 1.1). Without DEAC the zeroes are written to media: through the placement handle, counted in its
    reclaim unit and the FDP statistics like a Write of as many blocks. With DEAC the blocks are deallocated
    and no media is written, so no reclaim unit is used; the directive is still checked."""
    slba, nlb = _range(ns, cmd)
    deallocate = bool(cmd.cdw12 >> 25 & 1)  # DEAC
    ph = _placement(ctrl, ns, cmd)
    if ns.zones is not None:
        zone = ns.zones.check_write(slba, nlb)
        ns.zero(slba, nlb, deallocate=False)
        ns.zones.advance(zone, nlb)
    else:
        ns.zero(slba, nlb, deallocate=deallocate)
    if ph is not None and not deallocate:
        ctrl.fdp.write(ph, nlb << ns.lbads, nlb * ns.ms)
    ctrl.counters["host_write_commands"] += 1
    return _outcome(kind="trim")


def dataset_management(ctrl: SimController, ns: Namespace, cmd: Command) -> Outcome:
    nr = (cmd.cdw10 & 0xFF) + 1  # ranges, 0-based
    if cmd.data_len < nr * DSM_RANGE_SIZE:
        raise CommandFailed(SCT_GENERIC, SC_DATA_SGL_LENGTH_INVALID)
    data = (cmd.data or b"").ljust(nr * DSM_RANGE_SIZE, b"\0")
    ranges = []
    for entry in _ranges("dsm-range-list", data, nr):
        length, slba = entry["length"], entry["slba"]
        if slba + length > ns.nsze:
            raise lba_out_of_range(slba)
        ranges.append((slba, length))
    if cmd.cdw11 & 0x4:  # AD: deallocate; IDR / IDW are hints the sim has no use for
        for slba, length in ranges:
            if length:
                ns.zero(slba, length, deallocate=True)
    return _outcome(kind="trim")


def verify(ctrl: SimController, ns: Namespace, cmd: Command) -> Outcome:
    slba, nlb = _range(ns, cmd)
    _check_readable(ctrl, ns, slba, nlb)
    ctrl.counters["host_read_commands"] += 1
    return _outcome(kind="read")


def copy(ctrl: SimController, ns: Namespace, cmd: Command) -> Outcome:
    sdlba = cmd.cdw11 << 32 | cmd.cdw10
    nr = (cmd.cdw12 & 0xFF) + 1
    if cmd.cdw12 >> 8 & 0xF != 0:
        raise invalid_field(cdw_byte(12) + 1)  # only source range entries format 0 (OCFS bit 0)
    if nr > COPY_MSRC + 1:
        raise CommandFailed(SCT_COMMAND_SPECIFIC, SC_COMMAND_SIZE_LIMIT_EXCEEDED, param=cdw_byte(12))
    if cmd.data_len < nr * COPY_RANGE_SIZE:
        raise CommandFailed(SCT_GENERIC, SC_DATA_SGL_LENGTH_INVALID)
    data = (cmd.data or b"").ljust(nr * COPY_RANGE_SIZE, b"\0")
    sources = []
    for entry in _ranges("copy-source-range-list", data, nr):
        slba, nlb = entry["slba"], entry["nlb"] + 1
        if nlb > COPY_MSSRL:
            raise CommandFailed(SCT_COMMAND_SPECIFIC, SC_COMMAND_SIZE_LIMIT_EXCEEDED, lba=slba)
        if slba + nlb > ns.nsze:
            raise lba_out_of_range(slba)
        sources.append((slba, nlb))
    total = sum(n for _, n in sources)
    if total > COPY_MCL:
        raise CommandFailed(SCT_COMMAND_SPECIFIC, SC_COMMAND_SIZE_LIMIT_EXCEEDED, param=cdw_byte(12))
    if sdlba + total > ns.nsze:
        raise lba_out_of_range(sdlba)
    ph = _placement(ctrl, ns, cmd)  # the destination's placement directive: CDW12 DTYPE, CDW13 DSPEC
    for slba, nlb in sources:
        _check_readable(ctrl, ns, slba, nlb)
    blocks = b"".join(ns.read(slba, nlb) for slba, nlb in sources)  # read all first: ranges may overlap
    meta = b"".join(ns.read_meta(slba, nlb) for slba, nlb in sources) if ns.ms else None
    ns.write(sdlba, total, blocks, meta)
    if ph is not None:
        ctrl.fdp.write(ph, len(blocks), len(meta or b""))
    c = ctrl.counters
    c["host_write_commands"] += 1
    c["data_written_bytes"] += len(blocks)
    return _outcome(kind="write", nbytes=len(blocks))


# --- Flexible Data Placement (TP4146) -----------------------------------------------------------------------

MO_RUH_STATUS = MO_RUH_UPDATE = 1


def _fdp_namespace(ctrl: SimController, ns: Namespace) -> None:
    if ns.nsid != FDP.FDP_NSID:
        raise invalid_field(4)  # a namespace without placement handles
    if not ctrl.fdp.enabled:
        raise CommandFailed(SCT_GENERIC, FDP.SC_FDP_DISABLED)


def io_mgmt_recv(ctrl: SimController, ns: Namespace, cmd: Command) -> Outcome:
    """I/O Management Receive, Reclaim Unit Handle Status: one descriptor per placement identifier of the
    namespace (one reclaim group: per placement handle)."""
    if cmd.cdw10 & 0xFF != MO_RUH_STATUS:
        raise invalid_field(cdw_byte(10))
    _fdp_namespace(ctrl, ns)
    length = (cmd.cdw11 + 1) * 4  # NUMD, 0-based dwords
    fdp = ctrl.fdp
    descriptors = [
        {"pid": ph, "ruhid": ph, "earutr": 0, "ruamw": fdp.avail[ph] >> ns.lbads} for ph in range(FDP.NPH)
    ]  # no reclaim unit time limit (ERUTL 0): EARUTR is not reported
    data = encode("ruh-status", {"nruhsd": len(descriptors), "ruhss": descriptors})
    return _outcome(data=data.ljust(length, b"\0")[:length], kind="other")


def io_mgmt_send(ctrl: SimController, ns: Namespace, cmd: Command) -> Outcome:
    """I/O Management Send, Reclaim Unit Handle Update: each listed placement identifier's handle moves to a
    new reclaim unit. Every identifier is checked before any handle moves."""
    if cmd.cdw10 & 0xFF != MO_RUH_UPDATE:
        raise invalid_field(cdw_byte(10))
    _fdp_namespace(ctrl, ns)
    npid = (cmd.cdw10 >> 16) + 1  # MOS: the number of placement identifiers, 0-based
    if npid > FDP.MAXPIDS:
        raise invalid_field(cdw_byte(10) + 2)
    if cmd.data_len < npid * 2:
        raise CommandFailed(SCT_GENERIC, SC_DATA_SGL_LENGTH_INVALID)
    data = (cmd.data or b"").ljust(npid * 2, b"\0")
    pids = [int.from_bytes(data[2 * i : 2 * i + 2], "little") for i in range(npid)]
    handles = [FDP.parse_pid(pid) for pid in pids]
    if any(ph is None for ph in handles):
        raise invalid_field()  # a placement identifier the namespace does not have (in the data)
    clock = _clock(ctrl)
    for pid, ph in zip(pids, handles, strict=True):
        assert ph is not None
        ctrl.fdp.update(ph, pid, clock)
    return _outcome(kind="other")


# --- Zoned Namespace Command Set ------------------------------------------------------------------------


def zone_mgmt_send(ctrl: SimController, ns: Namespace, cmd: Command) -> Outcome:
    assert ns.zones is not None
    slba = cmd.cdw11 << 32 | cmd.cdw10
    zsa, select_all = cmd.cdw13 & 0xFF, bool(cmd.cdw13 >> 8 & 1)
    if zsa not in (Z.ZSA_CLOSE, Z.ZSA_FINISH, Z.ZSA_OPEN, Z.ZSA_RESET, Z.ZSA_OFFLINE):
        raise invalid_field(cdw_byte(13))  # 10h Set Zone Descriptor Extension: ZDES is 0
    if select_all:
        targets = ns.zones.select_all(zsa)
    else:
        if slba >= ns.nsze:
            raise lba_out_of_range(slba)
        if slba % ns.zones.zsze:
            raise invalid_field(cdw_byte(10))  # not the start of a zone
        targets = [ns.zones.zone_of(slba)]
    for zone in targets:
        if ns.zones.action(zone, zsa):
            ns.zero(zone.zslba, ns.zones.zsze, deallocate=True)
    return _outcome(kind="zone")


def zone_mgmt_recv(ctrl: SimController, ns: Namespace, cmd: Command) -> Outcome:
    assert ns.zones is not None
    slba = cmd.cdw11 << 32 | cmd.cdw10
    length = (cmd.cdw12 + 1) * 4  # NUMD, 0-based dwords
    zra, zrasf, partial = cmd.cdw13 & 0xFF, cmd.cdw13 >> 8 & 0xFF, bool(cmd.cdw13 >> 16 & 1)
    if zra != 0x0:  # 01h Extended Report Zones needs zone descriptor extensions: none here
        raise invalid_field(cdw_byte(13))
    if zrasf != 0 and zrasf not in Z.REPORT_FILTERS:
        raise invalid_field(cdw_byte(13) + 1)
    if slba >= ns.nsze:
        raise lba_out_of_range(slba)
    wanted = Z.REPORT_FILTERS.get(zrasf)
    zones = [z for z in ns.zones.zones[ns.zones.index_of(slba) :] if wanted is None or z.state in wanted]
    room = max(0, (length - ZONE_REPORT_HEADER_SIZE) // ZONE_DESCRIPTOR_SIZE)
    shown = zones[:room]
    report = encode("zone-report", {
        "nr_zones": len(shown) if partial else len(zones),
        "zones": [
            {"zt": Z.ZONE_TYPE_SEQUENTIAL_WRITE_REQUIRED, "zs": int(zone.state), "za": zone.za,
             "zcap": zone.zcap, "zslba": zone.zslba, "wp": zone.reported_wp}
            for zone in shown
        ],
    })  # fmt: skip
    return _outcome(data=report.ljust(length, b"\0")[:length], kind="zone")


def zone_append(ctrl: SimController, ns: Namespace, cmd: Command) -> Outcome:
    assert ns.zones is not None
    zslba, nlb = _range(ns, cmd)
    if zslba % ns.zones.zsze:
        raise invalid_field(cdw_byte(10))  # ZSLBA must be the lowest LBA of a zone
    nbytes = _transfer(ns, cmd, nlb)  # ZASL 0: the Zone Append size limit is MDTS
    zone = ns.zones.check_write(zslba, nlb, append=True)
    lba = zone.wp
    ns.write(lba, nlb, _write_payload(ns, cmd, nbytes), cmd.metadata)
    ns.zones.advance(zone, nlb)
    c = ctrl.counters
    c["host_write_commands"] += 1
    c["data_written_bytes"] += nbytes
    return _outcome(result=lba, kind="write", nbytes=nbytes)  # the assigned LBA, CQE DW0-DW1


# --- Reservations (NVMe Base 2.0, 7.2-7.5) --------------------------------------------------------------


def _keys(structure: str, cmd: Command, size: int) -> dict[str, int]:
    """The keys a reservation command sends, by name (the layouts in nvtui/structures/nvm.yaml)."""
    if cmd.data_len < size or cmd.data is None or len(cmd.data) < size:
        raise CommandFailed(SCT_GENERIC, SC_DATA_SGL_LENGTH_INVALID)
    keys = decode(structure, cmd.data[:size]).to_json()
    return {name: value for name, value in keys.items() if isinstance(value, int)}


def reservation_register(ctrl: SimController, ns: Namespace, cmd: Command) -> Outcome:
    keys = _keys("reservation-register-data", cmd, 16)
    res = ctrl.reservations[ns.nsid]
    host = ctrl.host_id.value
    res.register(host, cmd.cdw10 & 0x7, bool(cmd.cdw10 >> 3 & 1), cmd.cdw10 >> 30, keys["crkey"],
                 keys["nrkey"])  # fmt: skip
    return _outcome(kind="other")


def reservation_report(ctrl: SimController, ns: Namespace, cmd: Command) -> Outcome:
    length = (cmd.cdw10 + 1) * 4  # NUMD, 0-based dwords
    eds = bool(cmd.cdw11 & 1)
    values = ctrl.reservations[ns.nsid].report(eds, ctrl.host_id.extended)
    data = encode("reservation-status-ext" if eds else "reservation-status", values)
    return _outcome(data=data.ljust(length, b"\0")[:length], kind="other")


def reservation_acquire(ctrl: SimController, ns: Namespace, cmd: Command) -> Outcome:
    keys = _keys("reservation-acquire-data", cmd, 16)
    res = ctrl.reservations[ns.nsid]
    host = ctrl.host_id.value
    res.acquire(host, cmd.cdw10 & 0x7, bool(cmd.cdw10 >> 3 & 1), cmd.cdw10 >> 8 & 0xFF, keys["crkey"],
                keys["prkey"])  # fmt: skip
    return _outcome(kind="other")


def reservation_release(ctrl: SimController, ns: Namespace, cmd: Command) -> Outcome:
    keys = _keys("reservation-release-data", cmd, 8)
    res = ctrl.reservations[ns.nsid]
    host = ctrl.host_id.value
    res.release(host, cmd.cdw10 & 0x7, bool(cmd.cdw10 >> 3 & 1), cmd.cdw10 >> 8 & 0xFF, keys["crkey"])
    return _outcome(kind="other")


CSUPP, LBCC = EFFECT_CSUPP, EFFECT_LBCC

RESERVATION_COMMANDS: dict[int, tuple[IoHandler, int]] = {
    0x0D: (reservation_register, CSUPP),
    0x0E: (reservation_report, CSUPP),
    0x11: (reservation_acquire, CSUPP),
    0x15: (reservation_release, CSUPP),
}
# The command groups of Base 2.0, Fig. "Command Behavior in the Presence of a Reservation" (and ZNS 1.1)
READ_GROUP = frozenset({0x02, 0x05, 0x0C, 0x7A})  # Read, Compare, Verify, Zone Management Receive
WRITE_GROUP = frozenset({0x00, 0x01, 0x04, 0x08, 0x09, 0x19, 0x79, 0x7D})

NVM_COMMANDS: dict[int, tuple[IoHandler, int]] = {
    0x00: (flush, CSUPP),
    0x01: (write, CSUPP | LBCC),
    0x02: (read, CSUPP),
    0x04: (write_uncorrectable, CSUPP | LBCC),
    0x05: (compare, CSUPP),
    0x08: (write_zeroes, CSUPP | LBCC),
    0x09: (dataset_management, CSUPP | LBCC),
    0x0C: (verify, CSUPP),
    0x19: (copy, CSUPP | LBCC),
    0x12: (io_mgmt_recv, CSUPP),
    0x1D: (io_mgmt_send, CSUPP),
    **RESERVATION_COMMANDS,
}
ZONED_COMMANDS: dict[int, tuple[IoHandler, int]] = {
    **{op: NVM_COMMANDS[op] for op in (0x00, 0x01, 0x02, 0x05, 0x08, 0x0C)},
    **RESERVATION_COMMANDS,
    0x79: (zone_mgmt_send, CSUPP | LBCC),
    0x7A: (zone_mgmt_recv, CSUPP),
    0x7D: (zone_append, CSUPP | LBCC),
}


# The Key Value Command Set 1.0: its own commands (kv.py), Flush and the reservation commands.
KV_IO_COMMANDS: dict[int, tuple[IoHandler, int]] = {
    0x00: NVM_COMMANDS[0x00],
    **{op: (handler, CSUPP | (LBCC if changes else 0)) for op, (handler, changes) in KV.KV_COMMANDS.items()},
    **RESERVATION_COMMANDS,
}
COMMANDS_BY_CSI = {CSI_NVM: NVM_COMMANDS, CSI_KV: KV_IO_COMMANDS, CSI_ZONED: ZONED_COMMANDS}


def effects(csi: int) -> dict[int, int]:
    return {opcode: eff for opcode, (_, eff) in COMMANDS_BY_CSI[csi].items()}


def execute(ctrl: SimController, cmd: Command) -> Outcome:
    if cmd.opcode == 0x00 and cmd.nsid == NSID_ALL:  # Flush of every namespace (VWC bits 2:1 = 11b)
        for ns in ctrl.namespaces.values():
            if ctrl.reservations[ns.nsid].rtype:
                ctrl.reservations[ns.nsid].check_access(ctrl.host_id.value, write=True)
        for ns in ctrl.namespaces.values():
            ns.sync()
        return _outcome(kind="flush")
    ns = ctrl.namespace(cmd.nsid)
    entry = COMMANDS_BY_CSI[ns.spec.csi].get(cmd.opcode)
    if entry is None:
        raise invalid_opcode()
    res = ctrl.reservations[ns.nsid]
    if res.rtype:
        kv = ns.kv is not None
        reads, writes = (KV.KV_READ_GROUP, KV.KV_WRITE_GROUP) if kv else (READ_GROUP, WRITE_GROUP)
        if cmd.opcode in reads or cmd.opcode in writes:
            res.check_access(ctrl.host_id.value, write=cmd.opcode in writes)
    return entry[0](ctrl, ns, cmd)
