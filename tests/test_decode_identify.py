"""Identify decoders, checked against byte images written field by field at the spec's offsets.

Each image is built here from the spec tables (NVMe Base 2.0 Fig. 275/276 for Identify Controller and its
power state descriptors, the NVM Command Set Identify Namespace and LBA Format, the ZNS Identify Namespace,
...), never from the decoder's own output. Reserved bytes are filled with a marker so a field read too wide
or at a wrong offset shows up.
"""

from __future__ import annotations

import json
import uuid

import pytest

from nvtui import structures
from nvtui.nvme.decode import DECODERS, decode
from nvtui.nvme.decode.base import Field, Group, JsonValue, Record
from nvtui.nvme.decode.identify import current_lba_format, lba_format_index

RESERVED = 0xEE  # what reserved bytes hold in these images


def image(fill: int = RESERVED) -> bytearray:
    return bytearray([fill]) * 4096


def put(buf: bytearray, offset: int, width: int, value: int) -> None:
    buf[offset : offset + width] = value.to_bytes(width, "little")


def put_str(buf: bytearray, offset: int, width: int, text: str, pad: bytes = b" ") -> None:
    buf[offset : offset + width] = text.encode("ascii").ljust(width, pad)


def pattern(width: int, seed: int) -> int:
    """A value filling all `width` bytes, different for each seed, never containing the reserved marker."""
    return int.from_bytes(bytes((seed * 7 + i * 13) % 200 + 1 for i in range(width)), "little")


def field(record: Record, name: str) -> Field:
    item = record[name]
    assert isinstance(item, Field), name
    return item


def group(record: Record, name: str) -> Group:
    item = record[name]
    assert isinstance(item, Group), name
    return item


def check_json(record: Record) -> dict[str, JsonValue]:
    """The JSON form survives a round trip through the json module unchanged (plain ints, strs, bools)."""
    out = record.to_json()
    assert json.loads(json.dumps(out)) == out
    return out


def test_every_identify_decoder_is_registered_under_its_catalogue_name() -> None:
    for name in (
        "identify-namespace",
        "identify-controller",
        "active-namespace-list",
        "namespace-descriptor-list",
        "identify-ns-nvm",
        "identify-ns-zns",
        "identify-ctrl-nvm",
        "identify-ctrl-zns",
    ):
        assert name in structures.ids() and name not in DECODERS


# --- Identify Controller ----------------------------------------------------------------------------------

# (name, byte offset, width) of the integer fields, from NVMe Base 2.0 Fig. 275
CONTROLLER_INTEGERS = [
    ("vid", 0, 2), ("ssvid", 2, 2), ("rab", 72, 1), ("ieee", 73, 3), ("cmic", 76, 1), ("mdts", 77, 1),
    ("cntlid", 78, 2), ("ver", 80, 4), ("rtd3r", 84, 4), ("rtd3e", 88, 4), ("oaes", 92, 4), ("ctratt", 96, 4),
    ("rrls", 100, 2), ("cntrltype", 111, 1), ("crdt1", 128, 2), ("crdt2", 130, 2), ("crdt3", 132, 2),
    ("nvmsr", 253, 1), ("vwci", 254, 1), ("mec", 255, 1), ("oacs", 256, 2), ("acl", 258, 1), ("aerl", 259, 1),
    ("frmw", 260, 1), ("lpa", 261, 1), ("elpe", 262, 1), ("avscc", 264, 1), ("apsta", 265, 1),
    ("wctemp", 266, 2), ("cctemp", 268, 2), ("mtfa", 270, 2), ("hmpre", 272, 4), ("hmmin", 276, 4),
    ("tnvmcap", 280, 16), ("unvmcap", 296, 16), ("rpmbs", 312, 4), ("edstt", 316, 2), ("dsto", 318, 1),
    ("fwug", 319, 1), ("kas", 320, 2), ("hctma", 322, 2), ("mntmt", 324, 2), ("mxtmt", 326, 2),
    ("sanicap", 328, 4), ("hmminds", 332, 4), ("hmmaxd", 336, 2), ("nsetidmax", 338, 2),
    ("endgidmax", 340, 2), ("anatt", 342, 1), ("anacap", 343, 1), ("anagrpmax", 344, 4),
    ("nanagrpid", 348, 4), ("pels", 352, 4),
    ("domainid", 356, 2), ("megcap", 368, 16), ("sqes", 512, 1), ("cqes", 513, 1), ("maxcmd", 514, 2),
    ("nn", 516, 4), ("oncs", 520, 2), ("fuses", 522, 2), ("fna", 524, 1), ("vwc", 525, 1), ("awun", 526, 2),
    ("awupf", 528, 2), ("icsvscc", 530, 1), ("nwpc", 531, 1), ("acwu", 532, 2), ("ocfs", 534, 2),
    ("sgls", 536, 4), ("mnan", 540, 4), ("maxdna", 544, 16), ("maxcna", 560, 4), ("ioccsz", 1792, 4),
    ("iorcsz", 1796, 4), ("icdoff", 1800, 2), ("fcatt", 1802, 1), ("msdbd", 1803, 1), ("ofcs", 1804, 2),
]  # fmt: skip

NPSS = 2  # 0's based: three power states


def controller_image() -> tuple[bytearray, dict[str, int]]:
    buf = image()
    values = {name: pattern(width, seed) for seed, (name, _, width) in enumerate(CONTROLLER_INTEGERS)}
    for name, offset, width in CONTROLLER_INTEGERS:
        put(buf, offset, width, values[name])
    put(buf, 263, 1, NPSS)
    put_str(buf, 4, 20, "S4EWNX0R123456")
    put_str(buf, 24, 40, "Samsung SSD 980 PRO 1TB")
    put_str(buf, 64, 8, "5B2QGXA7")
    buf[112:128] = bytes(range(0x10, 0x20))  # fguid
    put_str(buf, 768, 256, "nqn.2014.08.org.nvmexpress:uuid:1234", pad=b"\0")
    buf[3072:4096] = bytes(i % 256 for i in range(1024))  # vendor specific
    # Power state descriptors, 32 bytes each from byte 2048 (Fig. 276)
    for ps, base in enumerate(range(2048, 2048 + 32 * (NPSS + 1), 32)):
        put(buf, base + 0, 2, 900 - ps * 100)  # MP
        put(buf, base + 3, 1, 0b1111_1100 | (ps == 2) << 1 | (ps == 1))  # bits 7:2 reserved; NOPS, MXPS
        put(buf, base + 4, 4, 5 + ps)  # ENLAT
        put(buf, base + 8, 4, 1000 * (ps + 1))  # EXLAT
        for i in range(4):  # RRT, RRL, RWT, RWL in bits 4:0, reserved bits 7:5 set
            put(buf, base + 12 + i, 1, 0b1110_0000 | (ps + i))
        put(buf, base + 16, 2, 350)  # IDLP
        put(buf, base + 18, 1, 0b10_111111)  # IPS = 2 (0.01 W) in bits 7:6
        put(buf, base + 20, 2, 1234)  # ACTP
        put(buf, base + 22, 1, 0b01_111_010)  # APS = 1 (0.0001 W) in bits 7:6, APW = 2 in bits 2:0
    return buf, values


def test_identify_controller_integer_fields_at_spec_offsets() -> None:
    buf, values = controller_image()
    record = decode("identify-controller", bytes(buf))
    for name, offset, width in CONTROLLER_INTEGERS:
        f = field(record, name)
        assert (f.offset, f.width) == (offset, width), name
        assert f.value == values[name] and f.raw == values[name], name
    assert field(record, "npss").value == NPSS and field(record, "npss").offset == 263


def test_identify_controller_strings_are_trimmed() -> None:
    buf, _ = controller_image()
    record = decode("identify-controller", bytes(buf))
    assert field(record, "sn").value == "S4EWNX0R123456"
    assert field(record, "mn").value == "Samsung SSD 980 PRO 1TB"
    assert field(record, "fr").value == "5B2QGXA7"
    assert (field(record, "sn").offset, field(record, "mn").offset, field(record, "fr").offset) == (4, 24, 64)
    subnqn = field(record, "subnqn")
    assert (subnqn.value, subnqn.offset, subnqn.width) == ("nqn.2014.08.org.nvmexpress:uuid:1234", 768, 256)
    assert field(record, "fguid").value == bytes(range(0x10, 0x20)).hex()
    vs = field(record, "vs")
    assert (vs.offset, vs.width, vs.raw) == (3072, 1024, bytes(i % 256 for i in range(1024)))


def test_identify_controller_128_bit_capacities_stay_exact_integers_in_json() -> None:
    buf, _ = controller_image()
    put(buf, 280, 16, 2**100 + 12345)  # TNVMCAP
    put(buf, 296, 16, 2**127 + 1)  # UNVMCAP
    put(buf, 368, 16, 1_000_204_886_016)  # MEGCAP
    out = check_json(decode("identify-controller", bytes(buf)))
    assert out["tnvmcap"] == 2**100 + 12345
    assert out["unvmcap"] == 2**127 + 1
    assert out["megcap"] == 1_000_204_886_016
    assert isinstance(out["tnvmcap"], int)


def test_identify_controller_meanings() -> None:
    buf, _ = controller_image()
    put(buf, 80, 4, 0x00010400)  # VER 1.4.0
    put(buf, 268, 2, 353)  # CCTEMP
    put(buf, 266, 2, 343)  # WCTEMP
    put(
        buf, 256, 2, 0b0000_0001_0010_0110
    )  # OACS: Format NVM, FW Download/Commit, Directives, Doorbell Buffer
    put(buf, 512, 1, 0x66)  # SQES: 64 bytes required and maximum
    put(buf, 77, 1, 0)  # MDTS: no limit
    put(buf, 0, 2, 0x144D)  # VID
    record = decode("identify-controller", bytes(buf))
    assert field(record, "ver").meaning == "1.4.0"
    assert field(record, "cctemp").meaning == "353 K (80 °C)"
    assert field(record, "wctemp").meaning == "343 K (70 °C)"
    oacs = field(record, "oacs").meaning
    for supported in ("Format NVM", "Firmware Download/Commit", "Directives", "Doorbell Buffer Config"):
        assert supported in oacs
    assert "Namespace Management" not in oacs and "Security" not in oacs
    assert field(record, "sqes").meaning == "required 64 bytes, maximum 64 bytes"
    assert field(record, "mdts").meaning == "no limit"
    assert field(record, "npss").meaning == "3 power states"
    assert field(record, "vid").meaning == "144dh"


def test_identify_controller_power_states_group() -> None:
    buf, _ = controller_image()
    record = decode("identify-controller", bytes(buf))
    psd = group(record, "psd")
    assert (psd.offset, psd.width, len(psd.records)) == (2048, 32 * (NPSS + 1), NPSS + 1)
    ps0, ps1, ps2 = psd.records
    assert ps0.to_json() == {
        "mp": 900, "mxps": False, "nops": False, "enlat": 5, "exlat": 1000, "rrt": 0, "rrl": 1, "rwt": 2,
        "rwl": 3, "idlp": 350, "ips": 2, "actp": 1234, "apw": 2, "aps": 1,
    }  # fmt: skip
    assert field(ps0, "mp").meaning == "9.00 W"
    assert field(ps1, "mxps").value is True and field(ps1, "mp").meaning == "0.0800 W"
    assert field(ps2, "nops").value is True and field(ps2, "mxps").value is False
    assert (field(ps2, "rrt").value, field(ps2, "rwl").value) == (2, 5)
    assert field(ps0, "idlp").meaning == "3.50 W"
    assert field(ps0, "actp").meaning == "0.1234 W"
    # fields of an entry count from the entry's start; the group places the table at byte 2048
    widths = [(field(ps0, n).offset, field(ps0, n).width) for n in ("mp", "enlat", "exlat", "idlp", "actp")]
    assert widths == [(0, 2), (4, 4), (8, 4), (16, 2), (20, 2)]
    assert field(ps0, "ips").bits == (6, 7) and field(ps0, "apw").bits == (0, 2)


def test_identify_controller_psd_count_follows_npss() -> None:
    buf, _ = controller_image()
    put(buf, 263, 1, 31)
    assert len(group(decode("identify-controller", bytes(buf)), "psd").records) == 32
    put(buf, 263, 1, 0)
    assert len(group(decode("identify-controller", bytes(buf)), "psd").records) == 1


def test_identify_controller_json_and_flat_rows() -> None:
    buf, _ = controller_image()
    record = decode("identify-controller", bytes(buf))
    out = check_json(record)
    assert out["sn"] == "S4EWNX0R123456" and len(out["psd"]) == NPSS + 1  # type: ignore[arg-type]
    paths = [path for path, _, _ in record.flat()]
    assert "psd[2].aps" in paths and "subnqn" in paths


def test_all_zero_identify_controller_decodes() -> None:
    record = decode("identify-controller", bytes(4096))
    check_json(record)
    assert field(record, "sn").value == "" and field(record, "ver").value == 0
    assert len(group(record, "psd").records) == 1


# --- Identify Namespace -----------------------------------------------------------------------------------

# (name, byte offset, width) of the integer fields, from the NVM Command Set Identify Namespace table
NAMESPACE_INTEGERS = [
    ("nsze", 0, 8), ("ncap", 8, 8), ("nuse", 16, 8), ("nsfeat", 24, 1), ("mc", 27, 1), ("dpc", 28, 1),
    ("dps", 29, 1), ("nmic", 30, 1), ("rescap", 31, 1), ("fpi", 32, 1), ("dlfeat", 33, 1), ("nawun", 34, 2),
    ("nawupf", 36, 2), ("nacwu", 38, 2), ("nabsn", 40, 2), ("nabo", 42, 2), ("nabspf", 44, 2),
    ("noiob", 46, 2), ("nvmcap", 48, 16), ("npwg", 64, 2), ("npwa", 66, 2), ("npdg", 68, 2), ("npda", 70, 2),
    ("nows", 72, 2), ("mssrl", 74, 2), ("mcl", 76, 4), ("msrc", 80, 1), ("nulbaf", 82, 1),
    ("anagrpid", 92, 4), ("nsattr", 99, 1), ("nvmsetid", 100, 2), ("endgid", 102, 2),
]  # fmt: skip

# (MS, LBADS, RP) for LBA formats 0-3
FORMATS = [(0, 9, 2), (8, 9, 1), (16, 12, 0), (64, 12, 3)]
NGUID = bytes.fromhex("002538b111b2c3d4e5f60718293a4b5c")
EUI64 = bytes.fromhex("002538b111b2c3d4")


def namespace_image(
    flbas: int = 0x12, formats: list[tuple[int, int, int]] = FORMATS
) -> tuple[bytearray, dict[str, int]]:
    buf = image()
    values = {name: pattern(width, seed) for seed, (name, _, width) in enumerate(NAMESPACE_INTEGERS)}
    for name, offset, width in NAMESPACE_INTEGERS:
        put(buf, offset, width, values[name])
    put(buf, 25, 1, len(formats) - 1)  # NLBAF, 0's based
    put(buf, 26, 1, flbas)
    buf[104:120] = NGUID
    buf[120:128] = EUI64
    for i, (ms, lbads, rp) in enumerate(formats):
        put(buf, 128 + 4 * i, 4, 0b111111 << 26 | rp << 24 | lbads << 16 | ms)  # bits 31:26 reserved
    return buf, values


def test_identify_namespace_integer_fields_at_spec_offsets() -> None:
    buf, values = namespace_image()
    record = decode("identify-namespace", bytes(buf))
    for name, offset, width in NAMESPACE_INTEGERS:
        f = field(record, name)
        assert (f.offset, f.width) == (offset, width), name
        assert f.value == values[name], name
    assert (field(record, "nlbaf").value, field(record, "flbas").value) == (3, 0x12)
    assert field(record, "nguid").value == NGUID.hex() and field(record, "nguid").offset == 104
    assert field(record, "eui64").value == EUI64.hex() and field(record, "eui64").offset == 120


def test_identify_namespace_lba_formats_group() -> None:
    buf, _ = namespace_image()
    record = decode("identify-namespace", bytes(buf))
    lbaf = group(record, "lbaf")
    assert (lbaf.offset, lbaf.width, len(lbaf.records)) == (128, 16, 4)
    assert [r.to_json() for r in lbaf.records] == [{"ms": ms, "lbads": d, "rp": rp} for ms, d, rp in FORMATS]
    assert field(lbaf.records[2], "lbads").meaning == "4096 bytes"
    assert field(lbaf.records[0], "lbads").meaning == "512 bytes"
    assert field(lbaf.records[3], "rp").meaning == "Degraded performance"
    assert field(lbaf.records[1], "ms").offset == 0 and field(lbaf.records[1], "lbads").offset == 2


def test_identify_namespace_128_bit_nvmcap_and_json() -> None:
    buf, _ = namespace_image()
    put(buf, 48, 16, 2**64 * 3 + 5)
    out = check_json(decode("identify-namespace", bytes(buf)))
    assert out["nvmcap"] == 2**64 * 3 + 5
    assert len(out["lbaf"]) == 4  # type: ignore[arg-type]


def test_identify_namespace_sizes_are_given_in_bytes_of_the_current_format() -> None:
    buf, _ = namespace_image(flbas=0x02)  # format 2: 4096-byte blocks, 16 bytes of metadata, separate
    put(buf, 0, 8, 244_190_646)  # NSZE in 4 KiB blocks: 1.00 TB
    record = decode("identify-namespace", bytes(buf))
    assert field(record, "nsze").meaning == "244190646 logical blocks (1.00 TB)"
    assert "LBA format 2" in field(record, "flbas").meaning
    assert "separate metadata buffer" in field(record, "flbas").meaning


def test_current_lba_format_from_record_and_from_raw_bytes() -> None:
    buf, _ = namespace_image(flbas=0x12)  # format 2, metadata extended (FLBAS bit 4)
    assert current_lba_format(decode("identify-namespace", bytes(buf))) == (4096, 16, True)
    assert current_lba_format(bytes(buf)) == (4096, 16, True)
    buf, _ = namespace_image(flbas=0x01)
    assert current_lba_format(bytes(buf)) == (512, 8, False)


def test_current_lba_format_uses_flbas_bits_6_5_beyond_16_formats() -> None:
    formats = [(0, 9, 0)] * 21
    formats[18] = (8, 12, 0)
    buf, _ = namespace_image(flbas=0b01 << 5 | 0x2, formats=formats)  # index 0b01_0010 = 18
    assert lba_format_index(0b01 << 5 | 0x2, 20) == 18
    assert current_lba_format(bytes(buf)) == (4096, 8, False)
    record = decode("identify-namespace", bytes(buf))
    assert len(group(record, "lbaf").records) == 21
    assert current_lba_format(record) == (4096, 8, False)


def test_flbas_bits_6_5_are_ignored_with_16_or_fewer_formats() -> None:
    buf, _ = namespace_image(flbas=0b11 << 5 | 0x1)
    assert lba_format_index(0b11 << 5 | 0x1, 15) == 1
    assert current_lba_format(bytes(buf)) == (512, 8, False)


def test_current_lba_format_rejects_a_format_past_nlbaf_or_unsupported() -> None:
    buf, _ = namespace_image(flbas=0x05)  # only formats 0-3 exist
    with pytest.raises(ValueError, match="LBA format 5"):
        current_lba_format(bytes(buf))
    with pytest.raises(ValueError, match="LBA format 5"):
        current_lba_format(decode("identify-namespace", bytes(buf)))
    with pytest.raises(ValueError, match="LBADS"):
        current_lba_format(bytes(4096))  # an inactive namespace: all zero
    with pytest.raises(ValueError, match="identify-namespace"):
        current_lba_format(decode("identify-ctrl-zns", bytes(4096)))


def test_all_zero_identify_namespace_decodes() -> None:
    record = decode("identify-namespace", bytes(4096))
    check_json(record)
    assert len(group(record, "lbaf").records) == 1
    assert field(group(record, "lbaf").records[0], "lbads").meaning == "not supported"
    assert field(record, "nsze").meaning == "0 logical blocks"


# --- Active Namespace ID list -----------------------------------------------------------------------------


def test_active_namespace_list_stops_at_the_first_zero() -> None:
    buf = image(0)
    for i, nsid in enumerate([1, 2, 7, 0x100]):
        put(buf, 4 * i, 4, nsid)
    put(buf, 24, 4, 9)  # after the terminating zero at byte 16: not an entry
    record = decode("active-namespace-list", bytes(buf))
    nsids = group(record, "namespace_list")
    assert [field(r, "nsid").value for r in nsids.records] == [1, 2, 7, 0x100]
    assert (nsids.offset, nsids.width) == (0, 16)
    assert check_json(record) == {"namespace_list": [{"nsid": 1}, {"nsid": 2}, {"nsid": 7}, {"nsid": 256}]}


def test_a_full_active_namespace_list_has_1024_entries() -> None:
    buf = image(0)
    for i in range(1024):
        put(buf, 4 * i, 4, i + 1)
    nsids = group(decode("active-namespace-list", bytes(buf)), "namespace_list")
    assert len(nsids.records) == 1024 and field(nsids.records[-1], "nsid").value == 1024
    assert len(group(decode("active-namespace-list", bytes(4096)), "namespace_list").records) == 0


# --- Namespace Identification Descriptor list -------------------------------------------------------------

UUID = uuid.UUID("6f1a7c64-3f0b-4a8e-9c1d-2b5e8f0a7d31")


def test_namespace_descriptor_list_walks_nidt_nidl_nid_until_nidt_zero() -> None:
    buf = image(0)
    offset = 0
    for nidt, nid in ((1, EUI64), (2, NGUID), (3, UUID.bytes), (4, bytes([2]))):
        buf[offset : offset + 4] = bytes([nidt, len(nid), 0xEE, 0xEE])  # NIDT, NIDL, 2 reserved bytes
        buf[offset + 4 : offset + 4 + len(nid)] = nid
        offset += 4 + len(nid)
    buf[offset + 4 : offset + 8] = bytes([3, 16, 0, 0])  # after NIDT 0h: ignored
    record = decode("namespace-descriptor-list", bytes(buf))
    descriptors = group(record, "descriptors")
    assert (descriptors.offset, descriptors.width) == (0, 12 + 20 + 20 + 5)
    assert [field(r, "nidt").value for r in descriptors.records] == [1, 2, 3, 4]
    assert [field(r, "nidl").value for r in descriptors.records] == [8, 16, 16, 1]
    eui, nguid, uid, csi = (field(r, "nid") for r in descriptors.records)
    assert eui.value == EUI64.hex() and (eui.offset, eui.width) == (4, 8)
    assert nguid.value == NGUID.hex() and nguid.width == 16
    assert uid.meaning == str(UUID)
    assert csi.value == "02" and csi.meaning == "Zoned Namespace Command Set"
    assert "EUI64" in field(descriptors.records[0], "nidt").meaning
    check_json(record)


def test_empty_namespace_descriptor_list() -> None:
    assert group(decode("namespace-descriptor-list", bytes(4096)), "descriptors").records == ()


# --- I/O Command Set specific Identify Namespace ----------------------------------------------------------


def nvm_ns_image() -> bytearray:
    buf = image(0)
    put(buf, 0, 8, 0x0123_4567_89AB_CDEF)  # LBSTM
    put(buf, 8, 1, 0b101)  # PIC: 16BPISTS, STCRS
    buf[9:12] = b"\xee\xee\xee"  # reserved
    put(buf, 12, 4, 0)  # ELBAF0: STS 0, 16b guard
    put(buf, 16, 4, 1 << 20 | 2 << 7 | 48)  # ELBAF1: STS 48, PIF 64b guard, a reserved bit set
    put(buf, 20, 4, 1 << 7 | 32)  # ELBAF2: STS 32, PIF 32b guard
    return buf


def test_identify_ns_nvm() -> None:
    record = decode("identify-ns-nvm", bytes(nvm_ns_image()), nlbaf=2)
    assert (field(record, "lbstm").value, field(record, "lbstm").offset) == (0x0123_4567_89AB_CDEF, 0)
    pic = field(record, "pic")
    assert (pic.value, pic.offset) == (0b101, 8)
    assert "16BPISTS" in pic.meaning and "STCRS" in pic.meaning and "16BPISTM" not in pic.meaning
    elbaf = group(record, "elbaf")
    assert (elbaf.offset, len(elbaf.records)) == (12, 3)
    assert [r.to_json() for r in elbaf.records] == [
        {"sts": 0, "pif": 0},
        {"sts": 48, "pif": 2},
        {"sts": 32, "pif": 1},
    ]
    assert field(elbaf.records[1], "pif").meaning == "64b Guard Protection Information"
    assert field(elbaf.records[1], "sts").bits == (0, 6) and field(elbaf.records[1], "pif").bits == (7, 8)
    check_json(record)


def test_identify_ns_nvm_without_nlbaf_decodes_all_64_formats() -> None:
    assert len(group(decode("identify-ns-nvm", bytes(nvm_ns_image())), "elbaf").records) == 64


ZNS_INTEGERS = [
    ("zoc", 0, 2), ("ozcs", 2, 2), ("mar", 4, 4), ("mor", 8, 4), ("rrl", 12, 4), ("frl", 16, 4),
    ("rrl1", 20, 4), ("rrl2", 24, 4), ("rrl3", 28, 4), ("frl1", 32, 4), ("frl2", 36, 4), ("frl3", 40, 4),
    ("numzrwa", 44, 4), ("zrwafg", 48, 2), ("zrwasz", 50, 2), ("zrwacap", 52, 1),
]  # fmt: skip


def zns_ns_image() -> tuple[bytearray, dict[str, int]]:
    buf = image()
    values = {name: pattern(width, seed) for seed, (name, _, width) in enumerate(ZNS_INTEGERS)}
    for name, offset, width in ZNS_INTEGERS:
        put(buf, offset, width, values[name])
    for i, (zsze, zdes) in enumerate([(0x8_0000, 0), (2**40, 2)]):  # LBA Format Extensions from byte 2816
        put(buf, 2816 + 16 * i, 8, zsze)
        put(buf, 2816 + 16 * i + 8, 1, zdes)
    return buf, values


def test_identify_ns_zns_fields_at_spec_offsets() -> None:
    buf, values = zns_ns_image()
    record = decode("identify-ns-zns", bytes(buf), nlbaf=1)
    for name, offset, width in ZNS_INTEGERS:
        f = field(record, name)
        assert (f.offset, f.width, f.value) == (offset, width, values[name]), name
    lbafe = group(record, "lbafe")
    assert (lbafe.offset, lbafe.width, len(lbafe.records)) == (2816, 32, 2)
    assert [r.to_json() for r in lbafe.records] == [{"zsze": 0x8_0000, "zdes": 0}, {"zsze": 2**40, "zdes": 2}]
    assert field(lbafe.records[1], "zdes").meaning == "128 bytes"
    assert field(lbafe.records[1], "zdes").offset == 8
    check_json(record)


def test_identify_ns_zns_meanings() -> None:
    buf, _ = zns_ns_image()
    put(buf, 4, 4, 0xFFFF_FFFF)  # MAR: no limit
    put(buf, 8, 4, 13)  # MOR: 0's based
    put(buf, 2, 2, 0b01)  # OZCS: read across zone boundaries
    record = decode("identify-ns-zns", bytes(buf))
    assert field(record, "mar").meaning == "no limit"
    assert field(record, "mor").meaning == "14 zones"
    assert "RAZB" in field(record, "ozcs").meaning and "ZRWASUP" not in field(record, "ozcs").meaning
    assert len(group(record, "lbafe").records) == 64


# --- I/O Command Set specific Identify Controller ---------------------------------------------------------


def test_identify_ctrl_nvm() -> None:
    buf = image()
    put(buf, 0, 1, 7)  # VSL
    put(buf, 1, 1, 8)  # WZSL
    put(buf, 2, 1, 0)  # WUSL
    put(buf, 3, 1, 255)  # DMRL
    put(buf, 4, 4, 0x0010_0000)  # DMRSL
    put(buf, 8, 8, 2**40 + 3)  # DMSL
    record = decode("identify-ctrl-nvm", bytes(buf))
    assert check_json(record) == {
        "vsl": 7,
        "wzsl": 8,
        "wusl": 0,
        "dmrl": 255,
        "dmrsl": 0x0010_0000,
        "dmsl": 2**40 + 3,
    }
    assert [(f.offset, f.width) for f in record.items if isinstance(f, Field)] == [
        (0, 1), (1, 1), (2, 1), (3, 1), (4, 4), (8, 8),
    ]  # fmt: skip
    assert field(record, "wusl").meaning == "no limit"
    assert field(record, "vsl").meaning == "128 x minimum memory page size (CAP.MPSMIN)"


def test_identify_ctrl_zns() -> None:
    buf = image()
    put(buf, 0, 1, 5)  # ZASL
    record = decode("identify-ctrl-zns", bytes(buf))
    assert check_json(record) == {"zasl": 5}
    assert field(record, "zasl").meaning == "32 x minimum memory page size (CAP.MPSMIN)"
    assert field(decode("identify-ctrl-zns", bytes(4096)), "zasl").meaning == "same as MDTS"


@pytest.mark.parametrize(
    "name", sorted(n for n in DECODERS if n.startswith(("identify", "active", "namespace-d")))
)
def test_short_buffers_decode_without_error(name: str) -> None:
    check_json(decode(name, bytes(64)))
