"""The fabrics layouts (nvtui/structures/fabrics.yaml) on byte images built field by field from the spec:
the Asymmetric Namespace Access log (Log Identifier 0Ch: an 16-byte header, then ANA Group Descriptors of
32 bytes plus 4 per NSID) and the Discovery log (Log Identifier 70h: a 1024-byte header, then 1024-byte
entries), decoded and encoded, and the catalogue's decode rules that reach them."""

from __future__ import annotations

import struct

import pytest

from nvtui import structures
from nvtui.catalogue import load_catalogue

OPTIMIZED, NON_OPTIMIZED, INACCESSIBLE, PERSISTENT_LOSS, CHANGE = 1, 2, 3, 4, 0xF


def ana_group(agid: int, chgcnt: int, anas: int, nsids: list[int]) -> bytes:
    """ANA Group Descriptor: 3:0 ANAGRPID, 7:4 NNSIDs, 15:8 CHGCNT, 16 bits 3:0 ANAS, 31:17 reserved, then
    the NSIDs, 4 bytes each."""
    head = struct.pack("<IIQB15x", agid, len(nsids), chgcnt, anas)
    assert len(head) == 32
    return head + b"".join(struct.pack("<I", n) for n in nsids)


def ana_log(chgcnt: int, groups: list[bytes], pad_to: int = 0) -> bytes:
    """ANA log header: 7:0 CHGCNT, 9:8 NGRPS, 15:10 reserved; then the descriptors."""
    data = struct.pack("<QH6x", chgcnt, len(groups)) + b"".join(groups)
    return data + bytes(max(0, pad_to - len(data)))


def test_ana_log_decodes_groups_of_different_sizes_with_their_states_and_nsids() -> None:
    data = ana_log(
        0x0102030405060708,
        [
            ana_group(1, 5, OPTIMIZED | 0xA0, [1, 2]),
            ana_group(7, 9, PERSISTENT_LOSS, [3]),
            ana_group(9, 0, CHANGE, []),
        ],
        pad_to=4096,  # the host reads a whole page: what follows the last descriptor is not a group
    )
    record = structures.decode("ana-log", data)
    out = record.to_json()
    assert out["chgcnt"] == 0x0102030405060708 and out["ngrps"] == 3
    groups = out["groups"]
    assert isinstance(groups, list) and len(groups) == 3
    assert [(g["agid"], g["nnsids"], g["chgcnt"], g["anas"]) for g in groups] == [  # type: ignore[index]
        (1, 2, 5, OPTIMIZED),  # bits 7:4 of byte 16 are reserved: not part of the state
        (7, 1, 9, PERSISTENT_LOSS),
        (9, 0, 0, CHANGE),
    ]
    assert [[n["nsid"] for n in g["nsids"]] for g in groups] == [[1, 2], [3], []]  # type: ignore[index]
    assert structures.decode("ana-group-descriptor", data[16:]).to_json()["agid"] == 1


@pytest.mark.parametrize(
    ("anas", "name"),
    [(1, "optimized"), (2, "non-optimized"), (3, "inaccessible"), (4, "persistent-loss"), (0xF, "change")],
)
def test_ana_states_by_name(anas: int, name: str) -> None:
    record = structures.decode("ana-group-descriptor", ana_group(1, 0, anas, [1]))
    assert record["anas"].meaning == name  # type: ignore[union-attr]


def test_ana_log_round_trips_through_encode() -> None:
    values = {
        "chgcnt": 42,
        "ngrps": 2,
        "groups": [
            {"agid": 1, "nnsids": 1, "chgcnt": 3, "anas": "optimized", "nsids": [{"nsid": 1}]},
            {
                "agid": 2,
                "nnsids": 2,
                "chgcnt": 4,
                "anas": "inaccessible",
                "nsids": [{"nsid": 5}, {"nsid": 6}],
            },
        ],
    }
    raw = structures.encode("ana-log", values)
    assert raw[: 16 + 36 + 40] == ana_log(
        42, [ana_group(1, 3, OPTIMIZED, [1]), ana_group(2, 4, INACCESSIBLE, [5, 6])]
    )


def discovery_entry(
    *,
    trtype: int,
    adrfam: int,
    subtype: int,
    treq: int,
    portid: int,
    cntlid: int,
    asqsz: int,
    eflags: int,
    trsvcid: str,
    subnqn: str,
    traddr: str,
    tsas: bytes = b"",
) -> bytes:
    """Discovery Log Page Entry: 0 TRTYPE, 1 ADRFAM, 2 SUBTYPE, 3 TREQ, 5:4 PORTID, 7:6 CNTLID, 9:8 ASQSZ,
    11:10 EFLAGS, 31:12 reserved, 63:32 TRSVCID, 255:64 reserved, 511:256 SUBNQN, 767:512 TRADDR,
    1023:768 TSAS; strings are ASCII padded with spaces (TRSVCID, TRADDR) or NULs (SUBNQN)."""
    head = struct.pack("<BBBBHHHH20x", trtype, adrfam, subtype, treq, portid, cntlid, asqsz, eflags)
    entry = (
        head
        + trsvcid.encode().ljust(32, b" ")
        + bytes(192)
        + subnqn.encode().ljust(256, b"\0")
        + traddr.encode().ljust(256, b" ")
        + tsas.ljust(256, b"\0")
    )
    assert len(entry) == 1024
    return entry


def discovery_log(genctr: int, entries: list[bytes], recfmt: int = 0) -> bytes:
    """Discovery log header: 7:0 GENCTR, 15:8 NUMREC, 17:16 RECFMT, 1023:18 reserved; entries from 1024."""
    return struct.pack("<QQH1006x", genctr, len(entries), recfmt) + b"".join(entries)


NQN = "nqn.2026-12.io.nvtui:fabrics"


def test_discovery_log_decodes_each_entry() -> None:
    data = discovery_log(
        7,
        [
            discovery_entry(trtype=3, adrfam=1, subtype=3, treq=0b110, portid=2, cntlid=0xFFFF, asqsz=32,
                            eflags=0b011, trsvcid="4420", subnqn="nqn.2014-08.org.nvmexpress.discovery",
                            traddr="127.0.0.1", tsas=b"\x00"),
            discovery_entry(trtype=3, adrfam=1, subtype=2, treq=0b010, portid=2, cntlid=0xFFFF, asqsz=32,
                            eflags=0, trsvcid="4420", subnqn=NQN, traddr="127.0.0.1"),
            discovery_entry(trtype=0xFE, adrfam=0xFE, subtype=2, treq=0, portid=1, cntlid=0xFFFF, asqsz=32,
                            eflags=0, trsvcid="", subnqn=NQN, traddr=""),
        ],
    )  # fmt: skip
    record = structures.decode("discovery-log", data)
    out = record.to_json()
    assert (out["genctr"], out["numrec"], out["recfmt"]) == (7, 3, 0)
    first, second, loop = out["entries"]  # type: ignore[misc]
    assert (first["trtype"], first["adrfam"], first["subtype"], first["treq"]) == (3, 1, 3, 2)
    assert first["treq_sqflow"] is True and second["treq_sqflow"] is False
    assert (first["portid"], first["cntlid"], first["asqsz"], first["eflags"]) == (2, 0xFFFF, 32, 3)
    assert (first["trsvcid"], first["traddr"]) == ("4420", "127.0.0.1")
    assert first["subnqn"] == "nqn.2014-08.org.nvmexpress.discovery" and second["subnqn"] == NQN
    assert (loop["trtype"], loop["adrfam"], loop["trsvcid"], loop["traddr"]) == (0xFE, 0xFE, "", "")
    entry = structures.decode("discovery-log-entry", data[1024:2048])
    assert entry["trtype"].meaning == "tcp" and entry["adrfam"].meaning == "ipv4"  # type: ignore[union-attr]
    assert entry["subtype"].meaning == "current discovery subsystem"  # type: ignore[union-attr]
    assert structures.decode("discovery-log-entry", data[3072:4096])["trtype"].meaning == "loop"  # type: ignore[union-attr]


def test_a_discovery_log_cut_short_decodes_what_came() -> None:
    entry = discovery_entry(trtype=3, adrfam=1, subtype=2, treq=0, portid=1, cntlid=1, asqsz=32, eflags=0,
                            trsvcid="4420", subnqn=NQN, traddr="10.0.0.1")  # fmt: skip
    data = discovery_log(1, [entry])
    out = structures.decode("discovery-log", data[:1024]).to_json()  # the header alone (NUMREC says 1)
    assert out["numrec"] == 1
    assert out["entries"] in ([], None)


def test_the_catalogue_decodes_the_ana_and_discovery_log_pages() -> None:
    entry = load_catalogue([]).get("get-log-page")
    assert entry.decoder_for({"lid": 0x0C}) == "ana-log"
    assert entry.decoder_for({"lid": 0x70}) == "discovery-log"
