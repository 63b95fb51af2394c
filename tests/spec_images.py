"""Byte images of NVMe structures, written field by field from the spec's figures (never with `encode`).

Each `Image` names a structure (the layout's id), the size of the buffer, and the fields a test writes:
the decoded field's path (as `Record.flat` names it: `events[1].nsid`), its absolute byte offset, its width,
the value written and, for a bit slice, its bits. The same list is what the decoded record must show: the
field at that path, at that offset, with that value. Offsets come from the figures named in each image
(NVMe Base 2.1, NVM Command Set 1.1, ZNS 1.2, KV 1.0, TP4146 Flexible Data Placement), cross-checked with
libnvme's `struct nvme_*` in types.h.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

Value = int | str | bytes | uuid.UUID


@dataclass(frozen=True)
class F:
    path: str  # the decoded field's path, e.g. "configs[0].ruhs[1].ruht"
    offset: int  # absolute byte offset in the image
    width: int  # bytes (for a bit slice: the width of the integer that holds it; 0: checked, not written)
    value: Value
    bits: tuple[int, int] | None = None  # (lsb, msb) of a bit slice

    def expected(self) -> object:
        """What the decoded field's JSON value must be."""
        if isinstance(self.value, str):
            return self.value.rstrip(" ")
        if isinstance(self.value, uuid.UUID):
            return str(self.value)
        if isinstance(self.value, bytes):
            return self.value.ljust(self.width, b"\0").hex()
        return self.value


@dataclass(frozen=True)
class Image:
    structure: str  # the layout's id
    figure: str  # where the offsets come from
    size: int
    fields: tuple[F, ...]

    def build(self) -> bytes:
        buf = bytearray(self.size)
        for f in self.fields:
            if f.width == 0:
                continue  # a field the decoder makes (an element's index), not bytes
            end = f.offset + f.width
            assert end <= self.size, f"{self.structure}: {f.path} ends at {end}, past {self.size}"
            if f.bits is not None:
                assert isinstance(f.value, int)
                lsb, msb = f.bits
                assert 0 <= f.value < 1 << (msb - lsb + 1), f"{f.path}: {f.value} does not fit bits {f.bits}"
                whole = int.from_bytes(buf[f.offset : end], "little") | f.value << lsb
                buf[f.offset : end] = whole.to_bytes(f.width, "little")
            elif isinstance(f.value, str):
                buf[f.offset : end] = f.value.encode("ascii").ljust(f.width, b" ")
            elif isinstance(f.value, uuid.UUID):
                buf[f.offset : end] = f.value.bytes
            elif isinstance(f.value, bytes):
                buf[f.offset : end] = f.value.ljust(f.width, b"\0")
            else:
                buf[f.offset : end] = f.value.to_bytes(f.width, "little")
        return bytes(buf)


def bits(path: str, offset: int, width: int, lsb: int, msb: int, value: int) -> F:
    return F(path, offset, width, value, (lsb, msb))


def u(path: str, offset: int, width: int, value: int) -> F:
    return F(path, offset, width, value)


def index(path: str, offset: int, value: int) -> F:
    """The index a sparse array gives each element it keeps (the LID, FID or opcode the entry is of)."""
    return F(path, offset, 0, value)


def with_parent(path: str, offset: int, width: int, slices: Sequence[F]) -> tuple[F, ...]:
    """An integer field and its bit slices: the whole is what the slices make together."""
    whole = 0
    for s in slices:
        assert s.bits is not None and isinstance(s.value, int)
        whole |= s.value << s.bits[0]
    return (F(path, offset, width, whole), *slices)


# --- the images -----------------------------------------------------------------------------------------

U128 = 0x0123_4567_89AB_CDEF_FEDC_BA98_7654_3210  # a 128-bit counter with every byte distinct


def _fdp_configurations() -> Image:
    # TP4146 (NVMe Base 2.1), Figs. "FDP Configurations log page" and "FDP Configuration Descriptor": a
    # 16-byte header, then descriptors of DSZE bytes each: 64 bytes of fields, NRUH 4-byte reclaim unit handle
    # descriptors, then VSS vendor specific bytes. The first carries 8 vendor specific bytes, so the second
    # starts where DSZE says, not where NRUH alone would put it.
    vendor = bytes.fromhex("5646454e444f5221")
    first, second = 16, 16 + 64 + 2 * 4 + len(vendor)
    size = second + 64 + 1 * 4
    return Image(
        "fdp-configurations-log", "TP4146 FDP Configurations log page (LID 20h)", size,
        (
            u("numfdpc", 0, 2, 1),  # 0-based: two configurations
            u("ver", 2, 1, 0),
            u("sze", 4, 4, size),
            u("configs[0].dsze", first + 0, 2, 64 + 2 * 4 + len(vendor)),
            *with_parent("configs[0].fdpa", first + 2, 1, (
                bits("configs[0].rgif", first + 2, 1, 0, 3, 4),
                bits("configs[0].fdpvwc", first + 2, 1, 4, 4, 1),
                bits("configs[0].fdpcv", first + 2, 1, 7, 7, 1),
            )),
            u("configs[0].vss", first + 3, 1, len(vendor)),
            u("configs[0].nrg", first + 4, 4, 16),
            u("configs[0].nruh", first + 8, 2, 2),
            u("configs[0].maxpids", first + 10, 2, 7),
            u("configs[0].nnss", first + 12, 4, 32),
            u("configs[0].runs", first + 16, 8, 0x4000_0000),
            u("configs[0].erutl", first + 24, 4, 3600),
            u("configs[0].ruhs[0].ruht", first + 64, 1, 1),  # initially isolated
            u("configs[0].ruhs[1].ruht", first + 68, 1, 2),  # persistently isolated
            F("configs[0].vs", first + 72, len(vendor), vendor),
            u("configs[1].dsze", second + 0, 2, 64 + 4),
            *with_parent(
                "configs[1].fdpa", second + 2, 1, (bits("configs[1].fdpcv", second + 2, 1, 7, 7, 1),)
            ),
            u("configs[1].vss", second + 3, 1, 0),
            u("configs[1].nrg", second + 4, 4, 1),
            u("configs[1].nruh", second + 8, 2, 1),
            u("configs[1].runs", second + 16, 8, 0x1000_0000),
            u("configs[1].ruhs[0].ruht", second + 64, 1, 1),
        ),
    )  # fmt: skip


def _media_unit_status() -> Image:
    # NVMe Base 2.1, Figs. 254 "Media Unit Status Log Page" and 255 "Media Unit Status Descriptor": a 16-byte
    # header, then descriptors of different lengths: 14 bytes of fields, reserved up to CIO (a multiple of
    # 16), then MUCS 2-byte channel identifiers.
    d0 = 16
    d1 = d0 + 16 + 2 * 2  # CIO 16, two channels
    size = d1 + 32 + 1 * 2  # CIO 32, one channel
    return Image(
        "media-unit-status-log", "NVMe Base 2.1 Media Unit Status (LID 10h), Figs. 254-255", size,
        (
            u("nmu", 0, 2, 2),
            u("cchans", 2, 2, 4),
            u("selc", 4, 2, 1),
            u("mus[0].muid", d0 + 0, 2, 0),
            u("mus[0].did", d0 + 2, 2, 1),
            u("mus[0].endgid", d0 + 4, 2, 1),
            u("mus[0].nvmsetid", d0 + 6, 2, 1),
            u("mus[0].caf", d0 + 8, 2, 3),
            u("mus[0].avsp", d0 + 10, 1, 98),
            u("mus[0].pused", d0 + 11, 1, 5),
            u("mus[0].mucs", d0 + 12, 1, 2),
            u("mus[0].cio", d0 + 13, 1, 16),
            u("mus[0].chids[0].chid", d0 + 16, 2, 0),
            u("mus[0].chids[1].chid", d0 + 18, 2, 1),
            u("mus[1].muid", d1 + 0, 2, 1),
            u("mus[1].did", d1 + 2, 2, 1),
            u("mus[1].endgid", d1 + 4, 2, 2),
            u("mus[1].nvmsetid", d1 + 6, 2, 2),
            u("mus[1].caf", d1 + 8, 2, 0xFFFF),
            u("mus[1].avsp", d1 + 10, 1, 100),
            u("mus[1].pused", d1 + 11, 1, 255),
            u("mus[1].mucs", d1 + 12, 1, 1),
            u("mus[1].cio", d1 + 13, 1, 32),
            u("mus[1].chids[0].chid", d1 + 32, 2, 3),
        ),
    )  # fmt: skip


def _supported_capacity_configs() -> Image:
    # NVMe Base 2.1, Figs. 256-260: a 16-byte header; Capacity Configuration Descriptors (32 bytes, then EGCN
    # Endurance Group Configuration Descriptors); each of those 82 bytes, EGSETS NVM Set identifiers, EGCHANS
    # (2 bytes), then EGCHANS Channel Configuration Descriptors (4 bytes, then CHMUS Media Unit Configuration
    # Descriptors of 8 + MUDL bytes). The first configuration has one endurance group of two NVM sets and one
    # channel of two media units; the second, one endurance group with no sets and no channels.
    c0 = 16
    g0 = c0 + 32
    ch0 = g0 + 82 + 2 * 2 + 2
    m0 = ch0 + 4
    m1 = m0 + 8
    c1 = m1 + 8 + 4  # the second media unit carries 4 bytes of descriptor information
    g1 = c1 + 32
    size = g1 + 82 + 2
    return Image(
        "supported-capacity-config-log",
        "NVMe Base 2.1 Supported Capacity Configuration List (LID 11h), Figs. 256-260",
        size,
        (
            u("sccn", 0, 1, 2),
            u("configs[0].ccid", c0 + 0, 2, 1),
            u("configs[0].did", c0 + 2, 2, 1),
            u("configs[0].egcn", c0 + 4, 2, 1),
            u("configs[0].egcds[0].endgid", g0 + 0, 2, 1),
            u("configs[0].egcds[0].cadjf", g0 + 2, 2, 2),
            u("configs[0].egcds[0].tegcap", g0 + 16, 16, U128),
            u("configs[0].egcds[0].segcap", g0 + 32, 16, 1 << 40),
            u("configs[0].egcds[0].ee", g0 + 48, 16, 3000),
            u("configs[0].egcds[0].egsets", g0 + 80, 2, 2),
            u("configs[0].egcds[0].nvmsetids[0].nvmsetid", g0 + 82, 2, 1),
            u("configs[0].egcds[0].nvmsetids[1].nvmsetid", g0 + 84, 2, 2),
            u("configs[0].egcds[0].egchans", g0 + 86, 2, 1),
            u("configs[0].egcds[0].chans[0].chid", ch0 + 0, 2, 0),
            u("configs[0].egcds[0].chans[0].chmus", ch0 + 2, 2, 2),
            u("configs[0].egcds[0].chans[0].mus[0].muid", m0 + 0, 2, 0),
            u("configs[0].egcds[0].chans[0].mus[0].mudl", m0 + 6, 2, 0),
            u("configs[0].egcds[0].chans[0].mus[1].muid", m1 + 0, 2, 1),
            u("configs[0].egcds[0].chans[0].mus[1].mudl", m1 + 6, 2, 4),
            F("configs[0].egcds[0].chans[0].mus[1].info", m1 + 8, 4, bytes.fromhex("a1b2c3d4")),
            u("configs[1].ccid", c1 + 0, 2, 2),
            u("configs[1].did", c1 + 2, 2, 1),
            u("configs[1].egcn", c1 + 4, 2, 1),
            u("configs[1].egcds[0].endgid", g1 + 0, 2, 1),
            u("configs[1].egcds[0].cadjf", g1 + 2, 2, 1),
            u("configs[1].egcds[0].tegcap", g1 + 16, 16, 1 << 36),
            u("configs[1].egcds[0].egsets", g1 + 80, 2, 0),
            u("configs[1].egcds[0].egchans", g1 + 82, 2, 0),
        ),
    )  # fmt: skip


def _ruh_usage() -> Image:
    # TP4146, Fig. "Reclaim Unit Handle Usage log page": NRUH, then 8-byte descriptors from byte 8.
    return Image(
        "ruh-usage-log",
        "TP4146 Reclaim Unit Handle Usage log page (LID 21h)",
        8 + 3 * 8,
        (
            u("nruh", 0, 2, 3),
            u("ruhus[0].ruha", 8, 1, 1),  # host specified
            u("ruhus[1].ruha", 16, 1, 2),  # controller specified
            u("ruhus[2].ruha", 24, 1, 0),  # unused
        ),
    )


def _fdp_statistics() -> Image:
    return Image(
        "fdp-statistics-log",
        "TP4146 FDP Statistics log page (LID 22h)",
        64,
        (u("hbmw", 0, 16, U128), u("mbmw", 16, 16, U128 >> 8), u("mbe", 32, 16, 2**128 - 1)),
    )


def _fdp_events() -> Image:
    # TP4146, Fig. "FDP Events log page" (a 64-byte header, NEVENTS at byte 0) and Fig. "FDP Event"
    # (64 bytes each).
    e0, e1 = 64, 128
    return Image(
        "fdp-events-log", "TP4146 FDP Events log page (LID 23h)", 64 + 2 * 64,
        (
            u("nevents", 0, 4, 2),
            u("events[0].fdpet", e0 + 0, 1, 0x01),  # reclaim unit time limit exceeded
            *with_parent("events[0].fdpef", e0 + 1, 1, (
                bits("events[0].piv", e0 + 1, 1, 0, 0, 1),
                bits("events[0].nsidv", e0 + 1, 1, 1, 1, 1),
                bits("events[0].lv", e0 + 1, 1, 2, 2, 1),
            )),
            u("events[0].pid", e0 + 2, 2, 0x0102),
            u("events[0].timestamp", e0 + 4, 8, 0x0000_0190_0000_1234),
            u("events[0].nsid", e0 + 12, 4, 3),
            u("events[0].rgid", e0 + 32, 2, 5),
            u("events[0].ruhid", e0 + 34, 1, 6),
            u("events[1].fdpet", e1 + 0, 1, 0x80),  # media reallocated
            *with_parent("events[1].fdpef", e1 + 1, 1, (bits("events[1].nsidv", e1 + 1, 1, 1, 1, 1),)),
            u("events[1].nsid", e1 + 12, 4, 1),
            u("events[1].rgid", e1 + 32, 2, 0x0A0B),
            u("events[1].ruhid", e1 + 34, 1, 0x7F),
        ),
    )  # fmt: skip


def _ruh_status() -> Image:
    # TP4146, Fig. "Reclaim Unit Handle Status" (I/O Management Receive, MO 01h): NRUHSD at bytes 15:14, then
    # 32-byte descriptors from byte 16 (PID 1:0, RUHID 3:2, EARUTR 7:4, RUAMW 15:8).
    d0, d1 = 16, 48
    return Image(
        "ruh-status", "TP4146 Reclaim Unit Handle Status (I/O Management Receive)", 16 + 2 * 32,
        (
            u("nruhsd", 14, 2, 2),
            u("ruhss[0].pid", d0 + 0, 2, 0x8001),
            u("ruhss[0].ruhid", d0 + 2, 2, 5),
            u("ruhss[0].earutr", d0 + 4, 4, 3600),
            u("ruhss[0].ruamw", d0 + 8, 8, 0x0102_0304_0506),
            u("ruhss[1].pid", d1 + 0, 2, 2),
            u("ruhss[1].ruhid", d1 + 2, 2, 0x0203),
            u("ruhss[1].ruamw", d1 + 8, 8, 4096),
        ),
    )  # fmt: skip


def _sanitize_status() -> Image:
    # NVMe Base 2.1, Fig. "Sanitize Status Log Page" (LID 81h).
    return Image(
        "sanitize-status-log", "NVMe Base 2.1 Sanitize Status (LID 81h)", 512,
        (
            u("sprog", 0, 2, 0x8000),
            *with_parent("sstat", 2, 2, (
                bits("sos", 2, 2, 0, 2, 2),  # in progress
                bits("opc", 2, 2, 3, 7, 5),  # overwrite passes completed
                bits("gde", 2, 2, 8, 8, 1),  # global data erased
                bits("mvcncld", 2, 2, 9, 9, 1),
            )),
            u("scdw10", 4, 4, 0x0000_0214),
            u("eto", 8, 4, 3600),
            u("etbe", 12, 4, 120),
            u("etce", 16, 4, 5),
            u("etond", 20, 4, 3700),
            u("etbend", 24, 4, 220),
            u("etcend", 28, 4, 0xFFFF_FFFF),  # no time period reported
            u("etpvds", 32, 4, 60),
            *with_parent("ssi", 36, 1, (bits("sans", 36, 1, 0, 3, 5), bits("fails", 36, 1, 4, 7, 3))),
        ),
    )  # fmt: skip


def _telemetry(lid: int) -> Image:
    # NVMe Base 2.1, Figs. "Telemetry Host-Initiated Log" (07h) and "Telemetry Controller-Initiated Log"
    # (08h): a 512-byte header; the data areas follow in 512-byte blocks.
    host = lid == 0x07
    scope = (u("ths", 380, 1, 1), u("hostdgn", 381, 1, 9)) if host else (u("tcs", 381, 1, 1),)
    return Image(
        "telemetry-host-log" if host else "telemetry-controller-log",
        f"NVMe Base 2.1 Telemetry {'Host' if host else 'Controller'}-Initiated log (LID {lid:02X}h)",
        512,
        (
            u("lpi", 0, 1, lid),
            u("ieee", 5, 3, 0x38_25_00),
            u("dalb1", 8, 2, 4),
            u("dalb2", 10, 2, 9),
            u("dalb3", 12, 2, 17),
            u("dalb4", 16, 4, 0x0001_0000),
            *scope,
            u("ctrlavail", 382, 1, 1),
            u("ctrldgn", 383, 1, 3),
            F("rsnident", 384, 128, bytes(range(128))),
        ),
    )


def _persistent_event() -> Image:
    # NVMe Base 2.1, Fig. "Persistent Event Log Header" (512 bytes) and "Persistent Event Log Event Header"
    # (24 bytes; EHL counts the header's bytes after byte 2, EL the bytes after the header: vendor specific
    # information then event data).
    e0 = 512
    e1 = e0 + 24 + 4 + 16  # first event: 4 bytes of vendor specific information, 16 of event data
    size = e1 + 24 + 8
    return Image(
        "persistent-event-log", "NVMe Base 2.1 Persistent Event log (LID 0Dh)", size,
        (
            u("lid", 0, 1, 0x0D),
            u("tnev", 4, 4, 2),
            u("tll", 8, 8, size),
            u("rv", 16, 1, 1),
            u("lhl", 18, 2, 512),
            u("ts", 20, 8, 0x0000_0190_1234_5678),
            u("poh", 28, 16, 12345),
            u("pcc", 44, 8, 77),
            u("vid", 52, 2, 0x1B36),
            u("ssvid", 54, 2, 0x1AF4),
            F("sn", 56, 20, "SN-PEL-0001"),
            F("mn", 76, 40, "nvtui persistent event model"),
            F("subnqn", 116, 256, "nqn.2019-08.org.qemu:pel"),
            u("gen", 372, 2, 0x0102),
            *with_parent("rci", 374, 4, (
                bits("rcpid", 374, 4, 0, 15, 0x1234),
                bits("rcpit", 374, 4, 16, 17, 1),
                bits("rce", 374, 4, 18, 18, 1),
            )),
            u("events[0].etype", e0 + 0, 1, 0x02),  # firmware commit
            u("events[0].etype_rev", e0 + 1, 1, 1),
            u("events[0].ehl", e0 + 2, 1, 21),
            *with_parent("events[0].ehai", e0 + 3, 1, (bits("events[0].pit", e0 + 3, 1, 0, 1, 1),)),
            u("events[0].cntlid", e0 + 4, 2, 0x41),
            u("events[0].ets", e0 + 6, 8, 0x0000_0190_0000_0001),
            u("events[0].pelpid", e0 + 14, 2, 2),
            u("events[0].vsil", e0 + 20, 2, 4),
            u("events[0].el", e0 + 22, 2, 20),
            u("events[1].etype", e1 + 0, 1, 0x0D),  # thermal excursion
            u("events[1].ehl", e1 + 2, 1, 21),
            u("events[1].cntlid", e1 + 4, 2, 0x42),
            u("events[1].el", e1 + 22, 2, 8),
        ),
    )  # fmt: skip


def _changed_zone_list() -> Image:
    # ZNS 1.2, Fig. "Changed Zone List log page" (LID BFh): NRZID, then zone identifiers from byte 8.
    return Image(
        "changed-zone-list-log",
        "ZNS 1.2 Changed Zone List (LID BFh)",
        4096,
        (
            u("nrzid", 0, 2, 3),
            u("zids[0].zid", 8, 8, 0),
            u("zids[1].zid", 16, 8, 0x8_0000),
            u("zids[2].zid", 24, 8, 0xFFFF_0000_0000),
        ),
    )


def _endurance_group() -> Image:
    # NVMe Base 2.1, Fig. "Endurance Group Information Log Page" (LID 09h).
    return Image(
        "endurance-group-log",
        "NVMe Base 2.1 Endurance Group Information (LID 09h)",
        512,
        (
            u("egcw", 0, 1, 0b1101),
            u("egfeat", 1, 1, 0b11),
            u("avsp", 3, 1, 95),
            u("avspt", 4, 1, 10),
            u("pused", 5, 1, 42),
            u("did", 6, 2, 0x0203),
            u("ee", 32, 16, 1_000_000),
            u("dur", 48, 16, U128),
            u("duw", 64, 16, U128 >> 1),
            u("muw", 80, 16, U128 >> 2),
            u("hrc", 96, 16, U128 >> 3),
            u("hwc", 112, 16, U128 >> 4),
            u("mdie", 128, 16, 7),
            u("neile", 144, 16, 8),
            u("tegcap", 160, 16, 1 << 40),
            u("uegcap", 176, 16, 1 << 30),
        ),
    )


def _pl_per_nvm_set() -> Image:
    # NVMe Base 2.1, Fig. "Predictable Latency Per NVM Set Log Page" (LID 0Ah).
    return Image(
        "predictable-latency-nvmset-log",
        "NVMe Base 2.1 Predictable Latency Per NVM Set (LID 0Ah)",
        512,
        (
            bits("status", 0, 1, 0, 2, 1),  # DTWIN
            u("event_type", 2, 2, 1 << 0 | 1 << 14),
            u("dtwin_rt", 32, 8, 1000),
            u("dtwin_wt", 40, 8, 2000),
            u("dtwin_tmax", 48, 8, 3000),
            u("ndwin_tmin_hi", 56, 8, 4000),
            u("ndwin_tmin_lo", 64, 8, 5000),
            u("dtwin_re", 128, 8, 6000),
            u("dtwin_we", 136, 8, 7000),
            u("dtwin_te", 144, 8, 8000),
        ),
    )


def _aggregate(structure: str, lid: int, entry: str) -> Image:
    # NVMe Base 2.1, Figs. "Predictable Latency Event Aggregate Log Page" (0Bh) and "Endurance Group Event
    # Aggregate Log Page" (0Fh): the number of entries (8 bytes), then 2-byte identifiers.
    return Image(
        structure,
        f"NVMe Base 2.1 LID {lid:02X}h",
        8 + 3 * 2 + 2,
        (
            u("nentries", 0, 8, 3),
            u(f"entries[0].{entry}", 8, 2, 1),
            u(f"entries[1].{entry}", 10, 2, 0x22),
            u(f"entries[2].{entry}", 12, 2, 0xFFFE),
        ),
    )


def _lba_status() -> Image:
    # NVMe Base 2.1, Figs. "LBA Status Information Log Page", "LBA Status Log Namespace Element" and
    # "LBA Range Descriptor": a 16-byte header, elements of 16 bytes plus NLRD 16-byte range descriptors.
    e0, e1 = 16, 16 + 16 + 2 * 16
    return Image(
        "lba-status-log",
        "NVMe Base 2.1 LBA Status Information (LID 0Eh)",
        e1 + 16 + 16,
        (
            u("lslplen", 0, 4, e1 + 32),
            u("nlslne", 4, 4, 2),
            u("estulb", 8, 4, 99),
            u("lsgc", 14, 2, 7),
            u("elements[0].neid", e0, 4, 1),
            u("elements[0].nlrd", e0 + 4, 4, 2),
            u("elements[0].ratype", e0 + 8, 1, 0x10),
            u("elements[0].ranges[0].rslba", e0 + 16, 8, 0x1000),
            u("elements[0].ranges[0].rnlb", e0 + 24, 4, 8),
            u("elements[0].ranges[1].rslba", e0 + 32, 8, 0x2000),
            u("elements[0].ranges[1].rnlb", e0 + 40, 4, 16),
            u("elements[1].neid", e1, 4, 2),
            u("elements[1].nlrd", e1 + 4, 4, 1),
            u("elements[1].ratype", e1 + 8, 1, 0x11),
            u("elements[1].ranges[0].rslba", e1 + 16, 8, 0xABCDEF),
            u("elements[1].ranges[0].rnlb", e1 + 24, 4, 1),
        ),
    )


def _lba_status_descriptors() -> Image:
    # NVMe Base 2.1, 5.1.8, Figs. "LBA Status Descriptor List" and "LBA Status Descriptor": an 8-byte header
    # (NLSD, CMPC), then 16-byte descriptors (DSLBA, NLB, byte 13 the status).
    return Image(
        "lba-status-descriptor-list",
        "NVMe Base 2.1 Get LBA Status data",
        8 + 2 * 16,
        (
            u("nlsd", 0, 4, 2),
            u("cmpc", 4, 1, 1),
            u("descriptors[0].dslba", 8, 8, 0x1_0000_0000),
            u("descriptors[0].nlb", 16, 4, 0xFFFF_FFFF),
            u("descriptors[0].status", 21, 1, 0),
            u("descriptors[1].dslba", 24, 8, 42),
            u("descriptors[1].nlb", 32, 4, 3),
            u("descriptors[1].status", 37, 1, 1),
        ),
    )


def _directive_identify() -> Image:
    # NVMe Base 2.0, 9.2.1.1, Fig. "Return Parameters Data Structure": supported (bytes 0-31), enabled (32-63)
    # and persistent across a controller level reset (64-95), a bit per directive type.
    return Image(
        "directive-identify-parameters",
        "NVMe Base 2.0 Identify directive, Return Parameters",
        4096,
        (u("supported", 0, 1, 0b111), u("enabled", 32, 1, 0b011), u("persistent", 64, 1, 0b010)),
    )


def _streams_parameters() -> Image:
    # NVMe Base 2.0, 9.3.1.1, Fig. "Streams Directive - Return Parameters Data Structure".
    return Image(
        "streams-parameters",
        "NVMe Base 2.0 Streams directive, Return Parameters",
        32,
        (
            u("msl", 0, 2, 0x1234), u("nssa", 2, 2, 0x0A0B), u("nsso", 4, 2, 7), u("nssc", 6, 1, 1),
            u("sws", 16, 4, 0x0102_0304), u("sgs", 20, 2, 0x4000), u("nsa", 22, 2, 5), u("nso", 24, 2, 3),
        ),
    )  # fmt: skip


def _streams_status() -> Image:
    # NVMe Base 2.0, 9.3.1.2, Fig. "Streams Directive - Get Status Data Structure": the open stream count,
    # then a 2-byte identifier per open stream.
    return Image(
        "streams-status",
        "NVMe Base 2.0 Streams directive, Get Status",
        2 + 3 * 2,
        (
            u("osc", 0, 2, 3),
            u("sids[0].sid", 2, 2, 1),
            u("sids[1].sid", 4, 2, 0x77),
            u("sids[2].sid", 6, 2, 0xFFFF),
        ),
    )


def _supported_log_pages() -> Image:
    # NVMe Base 2.1, Figs. "Supported Log Pages Log Page" and "LID Supported and Effects Data Structure":
    # 256 dwords, one per LID; the decoded list keeps the supported ones, each with its LID.
    return Image(
        "supported-log-pages-log",
        "NVMe Base 2.1 Supported Log Pages (LID 00h)",
        1024,
        (
            index("lids[0].lid", 0, 0x00),
            bits("lids[0].lsupp", 0, 4, 0, 0, 1),
            index("lids[1].lid", 8, 0x02),
            bits("lids[1].lsupp", 8, 4, 0, 0, 1),
            bits("lids[1].ios", 8, 4, 1, 1, 1),
            index("lids[2].lid", 52, 0x0D),
            bits("lids[2].lsupp", 52, 4, 0, 0, 1),
            bits("lids[2].lidsp", 52, 4, 16, 31, 0x8001),
            index("lids[3].lid", 1020, 0xFF),
            bits("lids[3].lsupp", 1020, 4, 0, 0, 1),
        ),
    )


def _fid_effects() -> Image:
    # NVMe Base 2.1, Figs. "Feature Identifiers Supported and Effects Log Page" and "FID Supported and
    # Effects Data Structure": 256 dwords, one per feature identifier; the supported ones are listed.
    return Image(
        "fid-effects-log",
        "NVMe Base 2.1 Feature Identifiers Supported and Effects (LID 12h)",
        1024,
        (
            index("fids[0].fid", 24, 0x06),
            bits("fids[0].fsupp", 24, 4, 0, 0, 1),
            bits("fids[0].ccc", 24, 4, 4, 4, 1),
            bits("fids[0].fsp", 24, 4, 20, 31, 0b10),  # controller scope
            index("fids[1].fid", 116, 0x1D),
            bits("fids[1].fsupp", 116, 4, 0, 0, 1),
            bits("fids[1].udcc", 116, 4, 1, 1, 1),
            bits("fids[1].ncc", 116, 4, 2, 2, 1),
            bits("fids[1].nic", 116, 4, 3, 3, 1),
            bits("fids[1].uss", 116, 4, 19, 19, 1),
            bits("fids[1].fsp", 116, 4, 20, 31, 0b1000),  # endurance group scope
        ),
    )


def _mi_effects() -> Image:
    # NVMe Base 2.1, Fig. "NVMe-MI Commands Supported and Effects Log Page": 256 dwords, then reserved to
    # 4096 bytes; the supported commands are listed.
    return Image(
        "mi-commands-effects-log",
        "NVMe Base 2.1 NVMe-MI Commands Supported and Effects (LID 13h)",
        4096,
        (
            index("cmds[0].opcode", 4, 1),
            bits("cmds[0].csupp", 4, 4, 0, 0, 1),
            bits("cmds[0].ccc", 4, 4, 4, 4, 1),
            index("cmds[1].opcode", 20, 5),
            bits("cmds[1].csupp", 20, 4, 0, 0, 1),
            bits("cmds[1].udcc", 20, 4, 1, 1, 1),
            bits("cmds[1].csp", 20, 4, 20, 31, 0b100000),  # NVM subsystem scope
        ),
    )


def _lockdown() -> Image:
    # NVMe Base 2.1, Fig. "Command and Feature Lockdown Log Page" (LID 14h): attributes, the list's length
    # (byte 3), then that many opcodes or feature identifiers.
    return Image(
        "command-feature-lockdown-log",
        "NVMe Base 2.1 Command and Feature Lockdown (LID 14h)",
        512,
        (
            *with_parent("cfila", 0, 1, (bits("scp", 0, 1, 0, 3, 2), bits("cont", 0, 1, 4, 5, 1))),
            u("length", 3, 1, 3),
            u("ids[0].id", 4, 1, 0x0D),
            u("ids[1].id", 5, 1, 0x16),
            u("ids[2].id", 6, 1, 0x81),
        ),
    )


def _boot_partition() -> Image:
    # NVMe Base 2.1, Fig. "Boot Partition Log Page" (LID 15h): a 16-byte header, then the partition's data.
    return Image(
        "boot-partition-log",
        "NVMe Base 2.1 Boot Partition (LID 15h)",
        16 + 32,
        (
            u("lid", 0, 1, 0x15),
            *with_parent("bpinfo", 4, 4, (bits("bpsz", 4, 4, 0, 14, 2), bits("abpid", 4, 4, 31, 31, 1))),
        ),
    )


def _rotational_media() -> Image:
    # NVMe Base 2.1, Fig. "Rotational Media Information Log Page" (LID 16h).
    return Image(
        "rotational-media-log",
        "NVMe Base 2.1 Rotational Media Information (LID 16h)",
        512,
        (
            u("endgid", 0, 2, 1),
            u("numa", 2, 2, 2),
            u("nrs", 4, 2, 7200),
            u("spinc", 8, 4, 1000),
            u("fspinc", 12, 4, 3),
            u("ldc", 16, 4, 5000),
            u("fldc", 20, 4, 4),
        ),
    )


def _reservation_notification() -> Image:
    # NVMe Base 2.1, Fig. "Reservation Notification Log Page" (LID 80h).
    return Image(
        "reservation-notification-log",
        "NVMe Base 2.1 Reservation Notification (LID 80h)",
        64,
        (u("lpc", 0, 8, 0x1_0000_0001), u("rnlpt", 8, 1, 3), u("nalp", 9, 1, 2), u("nsid", 12, 4, 5)),
    )


# --- Identify -------------------------------------------------------------------------------------------


def _nvm_set_list() -> Image:
    # NVMe Base 2.1, Figs. "NVM Set List" and "NVM Set Attributes Entry" (CNS 04h): a count, then 128-byte
    # entries from byte 128.
    return Image(
        "nvm-set-list",
        "NVMe Base 2.1 NVM Set List (CNS 04h)",
        4096,
        (
            u("nid", 0, 1, 2),
            u("sets[0].nvmsetid", 128, 2, 1),
            u("sets[0].endgid", 130, 2, 1),
            u("sets[0].rr4kt", 136, 4, 900),
            u("sets[0].ows", 140, 4, 32),
            u("sets[0].tnvmsetcap", 144, 16, 1 << 41),
            u("sets[0].unvmsetcap", 160, 16, 1 << 39),
            u("sets[1].nvmsetid", 256, 2, 2),
            u("sets[1].endgid", 258, 2, 3),
            u("sets[1].tnvmsetcap", 272, 16, U128),
        ),
    )


def _ns_independent() -> Image:
    # NVMe Base 2.1, Fig. "I/O Command Set Independent Identify Namespace Data Structure" (CNS 08h).
    return Image(
        "identify-ns-independent",
        "NVMe Base 2.1 I/O Command Set Independent Identify Namespace (CNS 08h)",
        4096,
        (
            u("nsfeat", 0, 1, 0b1_0001),
            u("nmic", 1, 1, 1),
            u("rescap", 2, 1, 0b111),
            u("fpi", 3, 1, 0x80),
            u("anagrpid", 4, 4, 7),
            u("nsattr", 8, 1, 1),
            u("nvmsetid", 10, 2, 2),
            u("endgid", 12, 2, 3),
            u("nstat", 14, 1, 1),
        ),
    )


def _id_list(structure: str, figure: str, entry_width: int, count_width: int, ids: Sequence[int]) -> Image:
    # A count then identifiers (controller list, endurance group list).
    return Image(
        structure,
        figure,
        4096,
        (
            u("num", 0, count_width, len(ids)),
            *(u(f"ids[{i}].id", count_width + entry_width * i, entry_width, v) for i, v in enumerate(ids)),
        ),
    )


def _primary_ctrl_caps() -> Image:
    # NVMe Base 2.1, Fig. "Primary Controller Capabilities Structure" (CNS 14h).
    return Image(
        "primary-ctrl-caps",
        "NVMe Base 2.1 Primary Controller Capabilities (CNS 14h)",
        4096,
        (
            u("cntlid", 0, 2, 0x41),
            u("portid", 2, 2, 1),
            u("crt", 4, 1, 0b11),
            u("vqfrt", 32, 4, 128),
            u("vqrfa", 36, 4, 64),
            u("vqrfap", 40, 2, 16),
            u("vqprt", 42, 2, 2),
            u("vqfrsm", 44, 2, 8),
            u("vqgran", 46, 2, 1),
            u("vifrt", 64, 4, 96),
            u("virfa", 68, 4, 48),
            u("virfap", 72, 2, 12),
            u("viprt", 74, 2, 3),
            u("vifrsm", 76, 2, 6),
            u("vigran", 78, 2, 2),
        ),
    )


def _secondary_ctrl_list() -> Image:
    # NVMe Base 2.1, Figs. "Secondary Controller List" and "Secondary Controller Entry" (CNS 15h): a count,
    # then 32-byte entries from byte 32.
    return Image(
        "secondary-ctrl-list",
        "NVMe Base 2.1 Secondary Controller List (CNS 15h)",
        4096,
        (
            u("num", 0, 1, 2),
            u("entries[0].scid", 32, 2, 0x42),
            u("entries[0].pcid", 34, 2, 0x41),
            bits("entries[0].scs", 36, 1, 0, 0, 1),
            u("entries[0].vfn", 40, 2, 1),
            u("entries[0].nvq", 42, 2, 4),
            u("entries[0].nvi", 44, 2, 5),
            u("entries[1].scid", 64, 2, 0x43),
            u("entries[1].vfn", 72, 2, 2),
        ),
    )


def _ns_granularity_list() -> Image:
    # NVMe Base 2.1, Figs. "Namespace Granularity List" and "Namespace Granularity Descriptor" (CNS 16h):
    # NUMD is 0-based; 16-byte descriptors from byte 32.
    return Image(
        "ns-granularity-list",
        "NVMe Base 2.1 Namespace Granularity List (CNS 16h)",
        4096,
        (
            u("nga", 0, 4, 0b11),
            u("numd", 4, 1, 1),
            u("descs[0].nszegran", 32, 8, 1 << 30),
            u("descs[0].ncapgran", 40, 8, 1 << 29),
            u("descs[1].nszegran", 48, 8, 1 << 31),
            u("descs[1].ncapgran", 56, 8, 1 << 28),
        ),
    )


UUID_A = uuid.UUID("12345678-9abc-4def-8123-456789abcdef")
UUID_B = uuid.UUID("00112233-4455-4677-8899-aabbccddeeff")


def _uuid_list() -> Image:
    # NVMe Base 2.1, Figs. "UUID List" and "UUID List Entry" (CNS 17h): 32-byte entries from byte 32; the
    # list ends at the first entry whose UUID is all zeroes.
    return Image(
        "uuid-list",
        "NVMe Base 2.1 UUID List (CNS 17h)",
        4096,
        (
            bits("uuids[0].idasn", 32, 1, 0, 1, 1),  # vendor
            F("uuids[0].uuid", 48, 16, UUID_A),
            bits("uuids[1].idasn", 64, 1, 0, 1, 2),  # subsystem vendor
            F("uuids[1].uuid", 80, 16, UUID_B),
        ),
    )


def _domain_list() -> Image:
    # NVMe Base 2.1, Figs. "Domain List" and "Domain Attributes Entry" (CNS 18h): a count, then 128-byte
    # entries from byte 128.
    return Image(
        "domain-list",
        "NVMe Base 2.1 Domain List (CNS 18h)",
        4096,
        (
            u("num", 0, 1, 1),
            u("domains[0].domainid", 128, 2, 7),
            u("domains[0].dcap", 144, 16, 1 << 42),
            u("domains[0].udcap", 160, 16, 1 << 40),
            u("domains[0].megcap", 176, 16, 1 << 41),
        ),
    )


def _io_command_set() -> Image:
    # NVMe Base 2.1, Fig. "Identify I/O Command Set data structure" (CNS 1Ch): 512 command set combination
    # vectors of 8 bytes.
    return Image(
        "io-command-set-vectors",
        "NVMe Base 2.1 I/O Command Set data structure (CNS 1Ch)",
        4096,
        (
            u("iocsc[0].iocsv", 0, 8, 0b101),  # NVM and Zoned Namespace
            u("iocsc[1].iocsv", 8, 8, 0b011),  # NVM and Key Value
        ),
    )


def _kv_namespace() -> Image:
    # KV Command Set 1.0, Figs. "I/O Command Set Specific Identify Namespace Data Structure" and "KV Format
    # Data Structure" (CNS 05h, CSI 01h): sizes in bytes; 16 KV formats of 16 bytes from byte 72.
    return Image(
        "identify-ns-kv",
        "KV Command Set 1.0 Identify Namespace (CNS 05h, CSI 01h)",
        4096,
        (
            u("nsze", 0, 8, 1 << 40),
            u("nuse", 16, 8, 1 << 20),
            u("nsfeat", 24, 1, 0b1),
            u("nkvf", 25, 1, 1),  # 0-based: two formats
            u("nmic", 26, 1, 1),
            u("rescap", 27, 1, 0),
            u("fpi", 28, 1, 0x80),
            u("novg", 32, 4, 4096),
            u("anagrpid", 36, 4, 2),
            u("nsattr", 43, 1, 1),
            u("nvmsetid", 44, 2, 3),
            u("endgid", 46, 2, 4),
            F("nguid", 48, 16, UUID_A),
            F("eui64", 64, 8, bytes.fromhex("0011223344556677")),  # bytes in order, as Identify Namespace's
            u("kvf[0].kml", 72, 2, 16),
            u("kvf[0].vml", 76, 4, 1 << 20),
            u("kvf[0].mnk", 80, 4, 1_000_000),
            u("kvf[1].kml", 88, 2, 8),
            u("kvf[1].vml", 92, 4, 4096),
            u("kvf[1].mnk", 96, 4, 0),
        ),
    )


def _kv_list() -> Image:
    # KV Command Set 1.0, List command returned data: the number of keys returned (bytes 3:0), then each key
    # as its length (2 bytes) and its bytes, zero-padded so the next entry starts on a dword boundary.
    return Image(
        "kv-list-data",
        "KV Command Set 1.0 List command returned data",
        4 + 8 + 4 + 20,
        (
            u("nrk", 0, 4, 3),
            u("keys[0].kl", 4, 2, 6),
            F("keys[0].key", 6, 6, b"user42"),
            u("keys[1].kl", 12, 2, 1),
            F("keys[1].key", 14, 1, b"a"),
            u("keys[2].kl", 16, 2, 16),
            F("keys[2].key", 18, 16, bytes(range(0xF0, 0x100))),
        ),
    )


# --- Feature data (Get Features / Set Features data buffers) ---------------------------------------------


def _lba_range_type() -> Image:
    # NVMe Base 2.1, Fig. "LBA Range Type - Data Structure Entry" (FID 03h): 64-byte entries.
    return Image(
        "feature-data-lba-range-type",
        "NVMe Base 2.1 LBA Range Type (FID 03h)",
        4096,
        (
            u("ranges[0].type", 0, 1, 1),  # filesystem
            u("ranges[0].attributes", 1, 1, 0b11),
            u("ranges[0].slba", 16, 8, 2048),
            u("ranges[0].nlb", 24, 8, 1_000_000),
            F("ranges[0].guid", 32, 16, UUID_B),
            u("ranges[1].type", 64, 1, 4),  # swap
            u("ranges[1].slba", 80, 8, 1 << 32),
            u("ranges[1].nlb", 88, 8, 511),
        ),
    )


def _apst() -> Image:
    # NVMe Base 2.1, Fig. "Autonomous Power State Transition Data Structure Entry" (FID 0Ch): 32 entries of
    # 8 bytes, one per power state.
    return Image(
        "feature-data-apst",
        "NVMe Base 2.1 Autonomous Power State Transition (FID 0Ch)",
        256,
        (
            bits("entries[0].itps", 0, 8, 3, 7, 3),
            bits("entries[0].itpt", 0, 8, 8, 31, 100),
            bits("entries[3].itps", 24, 8, 3, 7, 4),
            bits("entries[3].itpt", 24, 8, 8, 31, 0xFFFFFF),
        ),
    )


def _host_memory_buffer() -> Image:
    # NVMe Base 2.1, Fig. "Host Memory Buffer - Attributes Data Structure" (FID 0Dh).
    return Image(
        "feature-data-host-memory-buffer",
        "NVMe Base 2.1 Host Memory Buffer attributes (FID 0Dh)",
        4096,
        (
            u("hsize", 0, 4, 8192),
            u("hmdlal", 4, 4, 0xDEAD_B000),
            u("hmdlau", 8, 4, 0x1),
            u("hmdlec", 12, 4, 4),
        ),
    )


def _timestamp() -> Image:
    # NVMe Base 2.1, Fig. "Timestamp Data Structure" (FID 0Eh): 6 bytes of milliseconds, then attributes.
    return Image(
        "feature-data-timestamp",
        "NVMe Base 2.1 Timestamp (FID 0Eh)",
        8,
        (
            u("timestamp", 0, 6, 1_733_000_000_000),
            *with_parent("attributes", 6, 1, (bits("synch", 6, 1, 0, 0, 1), bits("origin", 6, 1, 1, 3, 1))),
        ),
    )


def _host_behavior() -> Image:
    # NVMe Base 2.1, Fig. "Host Behavior Support - Data Structure" (FID 16h).
    return Image(
        "feature-data-host-behavior",
        "NVMe Base 2.1 Host Behavior Support (FID 16h)",
        512,
        (
            u("acre", 0, 1, 1),
            u("etdas", 1, 1, 1),
            u("lbafee", 2, 1, 1),
            u("hdisns", 3, 1, 1),
            u("cdfe", 4, 2, 0b101),
        ),
    )


def _plm_config() -> Image:
    # NVMe Base 2.1, Fig. "Predictable Latency Mode Config - Host Write Data Structure" (FID 13h).
    return Image(
        "feature-data-plm-config",
        "NVMe Base 2.1 Predictable Latency Mode Config (FID 13h)",
        512,
        (u("ee", 0, 2, 0b101), u("dtwinrt", 32, 8, 10), u("dtwinwt", 40, 8, 20), u("dtwintt", 48, 8, 30)),
    )


def _host_identifier() -> Image:
    # NVMe Base 2.1, Fig. "Host Identifier" (FID 81h): 64 bits, or 128 with EXHID (low half first).
    return Image(
        "feature-data-host-identifier",
        "NVMe Base 2.1 Host Identifier (FID 81h)",
        16,
        (u("hostid", 0, 8, 0x0123_4567_89AB_CDEF), u("hostid_ext", 8, 8, 0xFEDC_BA98_7654_3210)),
    )


def _host_metadata() -> Image:
    # NVMe Base 2.1, Figs. "Host Metadata Data Structure" and "Metadata Element Descriptor" (FID 7Dh-7Fh):
    # descriptors from byte 2, each 4 bytes then ELEN bytes of value.
    e1 = 2 + 4 + 5
    return Image(
        "feature-data-host-metadata",
        "NVMe Base 2.1 Host Metadata (FID 7Eh)",
        4096,
        (
            u("ndesc", 0, 1, 2),
            u("descs[0].et", 2, 1, 0x01),
            u("descs[0].er", 3, 1, 0),
            u("descs[0].elen", 4, 2, 5),
            F("descs[0].eval", 6, 5, "nvme0"),
            u("descs[1].et", e1, 1, 0x02),
            u("descs[1].elen", e1 + 2, 2, 4),
            F("descs[1].eval", e1 + 4, 4, "nvme"),
        ),
    )


def _fdp_events_feature() -> Image:
    # TP4146, Fig. "FDP Event Type descriptor" (FID 1Eh data): 2 bytes per event type.
    return Image(
        "feature-data-fdp-events",
        "TP4146 FDP Events (FID 1Eh)",
        2 * 3,
        (
            u("events[0].fdpet", 0, 1, 0x00),
            bits("events[0].enabled", 1, 1, 0, 0, 1),
            u("events[1].fdpet", 2, 1, 0x01),
            u("events[2].fdpet", 4, 1, 0x80),
            bits("events[2].enabled", 5, 1, 0, 0, 1),
        ),
    )


ALL: tuple[Image, ...] = (
    _fdp_configurations(),
    _media_unit_status(),
    _supported_capacity_configs(),
    _ruh_usage(),
    _fdp_statistics(),
    _fdp_events(),
    _ruh_status(),
    _sanitize_status(),
    _persistent_event(),
    _telemetry(0x07),
    _telemetry(0x08),
    _changed_zone_list(),
    _endurance_group(),
    _pl_per_nvm_set(),
    _aggregate("predictable-latency-aggregate-log", 0x0B, "nvmsetid"),
    _aggregate("endurance-group-event-aggregate-log", 0x0F, "endgid"),
    _lba_status(),
    _lba_status_descriptors(),
    _directive_identify(),
    _streams_parameters(),
    _streams_status(),
    _supported_log_pages(),
    _fid_effects(),
    _mi_effects(),
    _lockdown(),
    _boot_partition(),
    _rotational_media(),
    _reservation_notification(),
    _nvm_set_list(),
    _id_list("controller-list", "NVMe Base 2.1 Controller List (CNS 12h, 13h)", 2, 2, (0x41, 0x42, 0x1234)),
    _id_list("endurance-group-list", "NVMe Base 2.1 Endurance Group List (CNS 19h)", 2, 2, (1, 2)),
    _primary_ctrl_caps(),
    _secondary_ctrl_list(),
    _ns_granularity_list(),
    _uuid_list(),
    _domain_list(),
    _io_command_set(),
    _kv_namespace(),
    _kv_list(),
    _lba_range_type(),
    _apst(),
    _host_memory_buffer(),
    _timestamp(),
    _host_behavior(),
    _plm_config(),
    _fdp_events_feature(),
    _ns_independent(),
    _host_identifier(),
    _host_metadata(),
)
