"""Get LBA Status on the simulated controller (NVMe Base 2.1, 5.1.8): the blocks a Write Uncorrectable marked,
as LBA Status Descriptors within the range asked, cut at MNDW with the completion condition saying so; the
statuses for a bad action type, range or namespace; the descriptors follow what later writes repair; decoded
by the catalogue's layout in the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fuzz.recording import run_cli

from nvtui import structures
from nvtui.backend.sim import SimBackend, open_sim
from nvtui.nvme.command import Command

TRACKED_AND_UNTRACKED, TRACKED = 0x10, 0x11


def get_lba_status(
    nsid: int, slba: int = 0, *, rl: int = 0, atype: int = TRACKED, dwords: int = 1024
) -> Command:
    return Command(
        0x86, True, nsid=nsid, cdw10=slba & 0xFFFF_FFFF, cdw11=slba >> 32, cdw12=dwords - 1,
        cdw13=rl | atype << 24, data_len=dwords * 4,
    )  # fmt: skip


def uncorrectable(nsid: int, slba: int, nlb: int) -> Command:
    return Command(0x04, False, nsid=nsid, cdw10=slba, cdw12=nlb - 1)


def write(nsid: int, slba: int, nlb: int) -> Command:
    data = b"\xa5" * (512 * nlb)
    return Command(0x01, False, nsid=nsid, cdw10=slba, cdw12=nlb - 1, data=data, data_len=len(data))


async def descriptors(dev: SimBackend, cmd: Command) -> tuple[int, list[tuple[int, int]]]:
    c = await dev.submit(cmd)
    assert c.ok, c.status
    assert c.data is not None
    nlsd = int.from_bytes(c.data[0:4], "little")
    out = []
    for i in range(nlsd):
        d = c.data[8 + 16 * i : 24 + 16 * i]
        out.append((int.from_bytes(d[0:8], "little"), int.from_bytes(d[8:12], "little")))
        assert d[12:16] == bytes(4)
    return c.data[4], out


async def test_the_marked_blocks_come_back_as_descriptors_within_the_range(sim_dir: Path) -> None:
    async with open_sim("sim0n1") as dev:
        assert await descriptors(dev, get_lba_status(1)) == (2, [])  # nothing marked: examined, none
        for slba, nlb in ((100, 8), (1000, 3), (5000, 16)):
            assert (await dev.submit(uncorrectable(1, slba, nlb))).ok
        for atype in (TRACKED_AND_UNTRACKED, TRACKED):  # every marked block is tracked: the same answer
            assert await descriptors(dev, get_lba_status(1, atype=atype)) == (
                2, [(100, 8), (1000, 3), (5000, 16)]
            )  # fmt: skip
        # A range cuts the descriptors at its ends.
        assert await descriptors(dev, get_lba_status(1, 104, rl=800)) == (2, [(104, 4)])
        assert await descriptors(dev, get_lba_status(1, 104, rl=898)) == (2, [(104, 4), (1000, 2)])
        assert await descriptors(dev, get_lba_status(1, 5008)) == (2, [(5008, 8)])  # RL 0: to the end
        # MNDW: the header and one descriptor fit in 6 dwords; the condition says more are left.
        assert await descriptors(dev, get_lba_status(1, dwords=6)) == (1, [(100, 8)])
        assert await descriptors(dev, get_lba_status(1, dwords=10)) == (1, [(100, 8), (1000, 3)])
        assert await descriptors(dev, get_lba_status(1, dwords=14)) == (2, [(100, 8), (1000, 3), (5000, 16)])
        # Writing a marked block repairs it: the descriptors follow.
        assert (await dev.submit(write(1, 1000, 2))).ok
        assert await descriptors(dev, get_lba_status(1)) == (2, [(100, 8), (1002, 1), (5000, 16)])


async def test_the_statuses_for_a_bad_action_type_range_or_namespace(sim_dir: Path) -> None:
    async with open_sim("sim0") as dev:
        nsze = 1 << 30 >> 9  # sim0n1: 1 GiB of 512-byte blocks in its first format
        cases = {
            "action type 02h (allocated LBAs) is not supported": (get_lba_status(1, atype=0x02), (0, 0x02)),
            "SLBA past the end": (get_lba_status(1, nsze), (0, 0x80)),
            "namespace 0": (get_lba_status(0), (0, 0x0B)),
            "every namespace": (get_lba_status(0xFFFF_FFFF), (0, 0x0B)),
            "no such namespace": (get_lba_status(9), (0, 0x0B)),
        }
        for why, (cmd, expected) in cases.items():
            c = await dev.submit(cmd)
            assert (c.status.sct, c.status.sc) == expected, why
        assert (await descriptors(dev, get_lba_status(1, nsze - 1)))[1] == []  # the last block: fine


async def test_identify_and_the_effects_log_say_it_is_supported(sim_dir: Path) -> None:
    async with open_sim("sim0") as dev:
        c = await dev.submit(Command(0x06, True, cdw10=1, data_len=4096))
        assert c.data is not None
        assert int.from_bytes(c.data[256:258], "little") >> 9 & 1  # OACS bit 9
        log = Command(0x02, True, nsid=0xFFFF_FFFF, cdw10=0x05 | 1023 << 16, data_len=4096)
        effects = await dev.submit(log)
        assert effects.data is not None
        assert int.from_bytes(effects.data[4 * 0x86 : 4 * 0x86 + 4], "little") == 1  # supported, no effect


def test_the_cli_decodes_the_descriptors(sim_dir: Path) -> None:
    r = run_cli(["send", "sim0n1", "write-uncorrectable", "slba=64", "nlb=4", "--allow-destructive"])
    assert r.code == 0, r.err
    r = run_cli(["send", "sim0n1", "get-lba-status", "slba=0", "--json"])
    assert r.code == 0, r.err
    out = json.loads(r.out)
    assert out["decoded"]["nlsd"] == 1 and out["decoded"]["cmpc"] == 2
    assert [(d["dslba"], d["nlb"]) for d in out["decoded"]["descriptors"]] == [(64, 4)]
    text = run_cli(["send", "sim0n1", "get-lba-status", "mndw=2"])
    assert text.code == 0
    assert "stopped at MNDW" in text.out and "0 LBA status descriptors" in text.out


@pytest.mark.parametrize("size", [8, 24])
def test_the_layout_decodes_what_the_simulator_encodes(size: int) -> None:
    data = structures.encode(
        "lba-status-descriptor-list",
        {"nlsd": 1, "cmpc": 1, "descriptors": [{"dslba": 7, "nlb": 9, "status": 0}]},
    )[:size]
    decoded = structures.decode("lba-status-descriptor-list", data).to_json()
    assert decoded["nlsd"] == 1 and decoded["cmpc"] == 1
    if size == 24:
        assert decoded["descriptors"] == [{"dslba": 7, "nlb": 9, "status": 0}]
