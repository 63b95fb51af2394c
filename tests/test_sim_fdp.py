"""Flexible Data Placement on the simulated controller (TP4146): writes through placement handles move their
reclaim units' available media writes and the FDP statistics; a filled unit is replaced; a Reclaim Unit
Handle Update pads a partial unit and logs the event; a wrong placement identifier is refused and logged;
the features FDP (1Dh) and FDP Events (1Eh); FDP disabled; all of it kept across a restart and a kill -9;
the CLI and the TUI end to end."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from fuzz.recording import run_cli

from nvtui.backend.sim import SimBackend, open_sim
from nvtui.backend.sim.fdp import NPH, RUNS
from nvtui.nvme.command import Command
from nvtui.structures import decode
from tests.simprocs import run_killed_after

BLOCK = 512  # sim0n1's LBA format 0
UNIT_BLOCKS = RUNS // BLOCK
MDTS_BLOCKS = 1024  # 512 KiB, the simulator's MDTS


def write(slba: int, nlb: int, pid: int | None = None, fill: int = 0x5A) -> Command:
    directive = 0 if pid is None else 2 << 20  # DTYPE 2: data placement
    data = bytes([fill]) * (nlb * BLOCK)
    return Command(
        0x01, False, nsid=1, cdw10=slba, cdw12=(nlb - 1) | directive, cdw13=(pid or 0) << 16,
        data=data, data_len=len(data),
    )  # fmt: skip


def ruh_status(nsid: int = 1) -> Command:
    return Command(0x12, False, nsid=nsid, cdw10=1, cdw11=1023, data_len=4096)


def ruh_update(*pids: int) -> Command:
    data = b"".join(p.to_bytes(2, "little") for p in pids)
    return Command(0x1D, False, nsid=1, cdw10=1 | (len(pids) - 1) << 16, data=data, data_len=len(data))


def get_log(lid: int, numd: int = 1024, lsp: int = 0, lsi: int = 1) -> Command:
    cdw10 = lid | lsp << 8 | (numd - 1) << 16
    return Command(0x02, True, nsid=0, cdw10=cdw10, cdw11=lsi << 16, data_len=numd * 4)


def status(c: object) -> tuple[int, int]:
    st = c.status  # type: ignore[attr-defined]
    return st.sct, st.sc


async def ruamw(dev: SimBackend) -> list[int]:
    c = await dev.submit(ruh_status())
    assert c.ok and c.data is not None, c.status.name
    status_data = decode("ruh-status", c.data).to_json()
    descriptors = status_data["ruhss"]
    assert isinstance(descriptors, list) and status_data["nruhsd"] == NPH
    assert [d["pid"] for d in descriptors] == list(range(NPH))  # type: ignore[index]
    return [d["ruamw"] for d in descriptors]  # type: ignore[index]


async def stats(dev: SimBackend) -> tuple[int, int, int]:
    c = await dev.submit(get_log(0x22, 16))
    assert c.ok and c.data is not None, c.status.name
    s = decode("fdp-statistics-log", c.data).to_json()
    return s["hbmw"], s["mbmw"], s["mbe"]  # type: ignore[return-value]


async def events(dev: SimBackend, host: bool = True) -> list[dict[str, object]]:
    c = await dev.submit(get_log(0x23, 1024, lsp=int(host)))
    assert c.ok and c.data is not None, c.status.name
    log = decode("fdp-events-log", c.data).to_json()
    found = log.get("events", [])
    assert isinstance(found, list) and log["nevents"] == len(found)
    return found  # type: ignore[return-value]


def fdp_events_feature(ph: int, enable: bool, *types: int) -> Command:
    return Command(
        0x09, True, nsid=1, cdw10=0x1E, cdw11=ph | len(types) << 16, cdw12=int(enable),
        data=bytes(types), data_len=len(types),
    )  # fmt: skip


async def test_identify_tells_fdp_and_the_namespaces_endurance_group(sim_dir: Path) -> None:
    async with open_sim("sim0n1") as dev:
        c = await dev.submit(Command(0x06, True, cdw10=1, data_len=4096))
        assert c.ok and c.data is not None
        values = decode("identify-controller", c.data).to_json()
        assert values["ctratt"] >> 19 & 1 and values["endgidmax"] == 1  # type: ignore[operator]
        for cns, layout in ((0x00, "identify-namespace"), (0x08, "identify-ns-independent")):
            c = await dev.submit(Command(0x06, True, nsid=1, cdw10=cns, data_len=4096))
            assert c.ok and c.data is not None
            assert decode(layout, c.data).to_json()["endgid"] == 1


# --- writes through placement handles ------------------------------------------------------------------


async def test_a_write_through_a_handle_moves_its_unit_and_the_statistics_only(sim_dir: Path) -> None:
    async with open_sim("sim0n1") as dev:
        assert await ruamw(dev) == [UNIT_BLOCKS] * NPH
        assert await stats(dev) == (0, 0, 0)
        assert (await dev.submit(write(0, 8, pid=2))).ok
        assert await ruamw(dev) == [UNIT_BLOCKS, UNIT_BLOCKS, UNIT_BLOCKS - 8, UNIT_BLOCKS]
        assert await stats(dev) == (8 * BLOCK, 8 * BLOCK, 0)
        assert (await dev.submit(write(100, 3))).ok  # no directive: placement handle 0
        assert await ruamw(dev) == [UNIT_BLOCKS - 3, UNIT_BLOCKS, UNIT_BLOCKS - 8, UNIT_BLOCKS]
        assert await stats(dev) == (11 * BLOCK, 11 * BLOCK, 0)
        async with open_sim("sim0n2") as zoned:  # no placement handles there: not counted, not allowed
            assert (await zoned.submit(Command(0x01, False, nsid=2, data=bytes(4096), data_len=4096))).ok
            placed = Command(0x01, False, nsid=2, cdw12=2 << 20, data=bytes(4096), data_len=4096)
            assert status(await zoned.submit(placed)) == (0, 0x02)
            assert status(await zoned.submit(ruh_status(nsid=2))) == (0, 0x01)  # not in its command set
        assert await stats(dev) == (11 * BLOCK, 11 * BLOCK, 0)
        assert await events(dev) == []


async def test_filling_a_unit_moves_the_handle_to_a_new_erased_one(sim_dir: Path) -> None:
    async with open_sim("sim0n1") as dev:
        for n in range(UNIT_BLOCKS // MDTS_BLOCKS - 1):
            assert (await dev.submit(write(n * MDTS_BLOCKS, MDTS_BLOCKS, pid=1))).ok
        assert (await ruamw(dev))[1] == MDTS_BLOCKS
        assert (await stats(dev))[2] == 0
        # this write fills the unit and goes on 24 blocks into the next one
        assert (await dev.submit(write(4000, MDTS_BLOCKS, pid=1))).ok
        assert (await dev.submit(write(5024, 24, pid=1))).ok
        assert await ruamw(dev) == [UNIT_BLOCKS, UNIT_BLOCKS - 24, UNIT_BLOCKS, UNIT_BLOCKS]
        written = RUNS + 24 * BLOCK
        assert await stats(dev) == (written, written, RUNS)  # the new unit was erased; nothing padded
        assert await events(dev) == []  # a filled unit is the normal case: the spec logs no event


async def test_an_update_pads_a_partial_unit_and_logs_it_while_an_empty_one_stays(sim_dir: Path) -> None:
    async with open_sim("sim0n1") as dev:
        assert (await dev.submit(write(0, 100, pid=3))).ok
        assert (await dev.submit(ruh_update(3, 0))).ok  # 3 is partly written, 0 is empty
        assert await ruamw(dev) == [UNIT_BLOCKS] * NPH
        hbmw, mbmw, mbe = await stats(dev)
        assert hbmw == 100 * BLOCK and mbmw == RUNS and mbe == RUNS  # the rest of unit 3 written as padding
        (event,) = await events(dev)
        assert event["fdpet"] == 0 and event["pid"] == 3 and event["ruhid"] == 3 and event["nsid"] == 1
        assert event["piv"] and event["nsidv"] and event["lv"]
        assert await events(dev, host=False) == []  # the controller logs none of its own


async def test_an_update_naming_a_handle_the_namespace_lacks_changes_nothing(sim_dir: Path) -> None:
    async with open_sim("sim0n1") as dev:
        assert (await dev.submit(write(0, 8, pid=1))).ok
        assert status(await dev.submit(ruh_update(1, NPH))) == (0, 0x02)  # Invalid Field in Command
        assert (await ruamw(dev))[1] == UNIT_BLOCKS - 8  # handle 1 was listed too: it did not move
        wrong_mo = Command(0x1D, False, nsid=1, cdw10=2, data=bytes(2), data_len=2)
        assert status(await dev.submit(wrong_mo)) == (0, 0x02)


async def test_a_copy_writes_its_destination_through_its_handle(sim_dir: Path) -> None:
    async with open_sim("sim0n1") as dev:
        assert (await dev.submit(write(0, 8, pid=0))).ok
        source = (0).to_bytes(8, "little") + (7).to_bytes(2, "little")  # SLBA 0, NLB 8 (0-based)
        data = bytes(8) + source.ljust(24, b"\0")
        copy = Command(0x19, False, nsid=1, cdw10=64, cdw12=2 << 20, cdw13=3 << 16, data=data, data_len=32)
        assert (await dev.submit(copy)).ok
        assert await ruamw(dev) == [UNIT_BLOCKS - 8, UNIT_BLOCKS, UNIT_BLOCKS, UNIT_BLOCKS - 8]
        assert await stats(dev) == (16 * BLOCK, 16 * BLOCK, 0)
        wrong = Command(0x19, False, nsid=1, cdw10=64, cdw12=2 << 20, cdw13=9 << 16, data=data, data_len=32)
        assert status(await dev.submit(wrong)) == (0, 0x02)


def zeroes(slba: int, nlb: int, pid: int | None = None, deac: bool = False) -> Command:
    directive = 0 if pid is None else 2 << 20  # DTYPE 2: data placement
    cdw12 = (nlb - 1) | directive | int(deac) << 25
    return Command(0x08, False, nsid=1, cdw10=slba, cdw12=cdw12, cdw13=(pid or 0) << 16)


async def test_a_write_zeroes_writes_its_zeroes_through_its_handle_unless_it_deallocates(
    sim_dir: Path,
) -> None:
    async with open_sim("sim0n1") as dev:
        assert (await dev.submit(write(0, 16, pid=1))).ok
        assert (await dev.submit(zeroes(0, 8, pid=2))).ok  # media written: through handle 2
        assert await ruamw(dev) == [UNIT_BLOCKS, UNIT_BLOCKS - 16, UNIT_BLOCKS - 8, UNIT_BLOCKS]
        assert await stats(dev) == (24 * BLOCK, 24 * BLOCK, 0)
        assert (await dev.submit(zeroes(8, 4))).ok  # no directive: placement handle 0
        assert (await ruamw(dev))[0] == UNIT_BLOCKS - 4
        assert (await dev.submit(zeroes(0, 16, pid=3, deac=True))).ok  # deallocated: no media written
        assert (await ruamw(dev))[3] == UNIT_BLOCKS and await stats(dev) == (28 * BLOCK, 28 * BLOCK, 0)
        read = await dev.submit(Command(0x02, False, nsid=1, cdw10=0, cdw12=15, data_len=16 * BLOCK))
        assert read.data == bytes(16 * BLOCK)
        refused = await dev.submit(zeroes(0, 8, pid=0x0107))  # no such placement identifier: as a Write
        assert status(refused) == (0, 0x02)
        (event,) = await events(dev)
        assert event["fdpet"] == 3 and event["pid"] == 0x0107
        assert status(await dev.submit(zeroes(0, 8, pid=9, deac=True))) == (0, 0x02)  # checked all the same
        assert await stats(dev) == (28 * BLOCK, 28 * BLOCK, 0)


def test_the_cli_write_zeroes_takes_the_placement_directive(sim_dir: Path) -> None:
    done = run_cli(["send", "sim0n1", "write-zeroes", "slba=0", "nlb=8", "dtype=data-placement", "dspec=3",
                    "--allow-destructive", "--json"])  # fmt: skip
    assert done.code == 0, done.err
    sent = json.loads(done.out)
    assert sent["status"]["name"] == "Successful Completion"
    assert sent["fields"]["dtype"] == 2 and sent["fields"]["dspec"] == 3  # DTYPE 2: data placement
    recv = run_cli(["send", "sim0n1", "io-mgmt-recv", "--json"])
    assert [d["ruamw"] for d in json.loads(recv.out)["decoded"]["ruhss"]] == [4096, 4096, 4096, 4088]


async def test_a_wrong_placement_identifier_is_refused_and_logged(sim_dir: Path) -> None:
    async with open_sim("sim0n1") as dev:
        refused = await dev.submit(write(0, 8, pid=0x0107, fill=0x11))
        assert status(refused) == (0, 0x02) and refused.status.name == "Invalid Field in Command"
        (event,) = await events(dev)
        assert event["fdpet"] == 3 and event["pid"] == 0x0107 and event["piv"] and not event["lv"]
        assert await ruamw(dev) == [UNIT_BLOCKS] * NPH and await stats(dev) == (0, 0, 0)
        read = await dev.submit(Command(0x02, False, nsid=1, cdw10=0, cdw12=7, data_len=8 * BLOCK))
        assert read.data == bytes(8 * BLOCK)  # nothing was written


async def test_a_sanitize_erases_every_unit_and_the_handles_start_empty_ones(
    sim_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nvtui.backend.sim import identity

    monkeypatch.setenv("NVTUI_SIM_SANITIZE_SECONDS", "0")
    async with open_sim("sim0n1") as dev:
        assert (await dev.submit(write(0, 8, pid=1))).ok
        assert (await dev.submit(Command(0x84, True, cdw10=2))).ok  # block erase
        assert await ruamw(dev) == [UNIT_BLOCKS] * NPH
        assert await stats(dev) == (8 * BLOCK, 8 * BLOCK, identity.TOTAL_CAPACITY)
        assert await events(dev) == []


def format_nvm(nsid: int, lbaf: int = 0) -> Command:
    return Command(0x80, True, nsid=nsid, cdw10=lbaf)


async def test_a_format_of_the_namespace_starts_its_handles_on_empty_units(sim_dir: Path) -> None:
    async with open_sim("sim0n1") as dev:
        assert (await dev.submit(write(0, 8, pid=1))).ok
        assert (await dev.submit(write(8, 100, pid=3))).ok
        async with open_sim("sim0n2") as zoned:  # another namespace's format: the units stay
            assert (await zoned.submit(format_nvm(2))).ok
        assert await ruamw(dev) == [UNIT_BLOCKS, UNIT_BLOCKS - 8, UNIT_BLOCKS, UNIT_BLOCKS - 100]
        assert (await dev.submit(format_nvm(1))).ok
        assert await ruamw(dev) == [UNIT_BLOCKS] * NPH  # the two written units left for erased ones
        assert await stats(dev) == (108 * BLOCK, 108 * BLOCK, 2 * RUNS)  # nothing padded: the data is gone
        assert await events(dev) == []  # the host asked for it: no unit "not fully written" event
        assert (await dev.submit(format_nvm(0xFFFF_FFFF))).ok  # every namespace: no unit held data
        assert (await stats(dev))[2] == 2 * RUNS
        assert (await dev.submit(write(0, 8, pid=3))).ok  # the new unit fills from its start
        assert (await ruamw(dev))[3] == UNIT_BLOCKS - 8
    async with open_sim("sim0n1") as dev:  # a format checkpoints: the units are as it left them
        assert await ruamw(dev) == [UNIT_BLOCKS, UNIT_BLOCKS, UNIT_BLOCKS, UNIT_BLOCKS - 8]
        assert await stats(dev) == (116 * BLOCK, 116 * BLOCK, 2 * RUNS)


def test_the_cli_format_resets_the_units_io_mgmt_recv_shows(sim_dir: Path) -> None:
    blocks = sim_dir.parent / "blocks.bin"
    blocks.write_bytes(bytes([0x5A]) * 8 * BLOCK)
    sent = run_cli(["send", "sim0n1", "write", "slba=0", "nlb=8", "dtype=data-placement", "dspec=2",
                    "--data-in", str(blocks), "--allow-destructive"])  # fmt: skip
    assert sent.code == 0, sent.err
    formatted = run_cli(["send", "sim0n1", "format-nvm", "lbaf=1", "--allow-destructive"])  # 4 KiB blocks
    assert formatted.code == 0 and "Successful Completion" in formatted.out, formatted.out + formatted.err
    recv = run_cli(["send", "sim0n1", "io-mgmt-recv", "--json"])
    assert recv.code == 0, recv.err
    assert [d["ruamw"] for d in json.loads(recv.out)["decoded"]["ruhss"]] == [RUNS // 4096] * NPH


# --- the features ------------------------------------------------------------------------------------------


async def test_the_fdp_feature_tells_fdp_enabled_and_refuses_a_change(sim_dir: Path) -> None:
    async with open_sim("sim0") as dev:
        got = await dev.submit(Command(0x0A, True, cdw10=0x1D, cdw11=1))
        assert got.ok and got.result == 1  # FDPE, configuration 0
        caps = await dev.submit(Command(0x0A, True, cdw10=0x1D | 3 << 8, cdw11=1))
        assert caps.ok and caps.result & 0b100
        assert status(await dev.submit(Command(0x0A, True, cdw10=0x1D, cdw11=2))) == (0, 0x02)  # no group 2
        same = await dev.submit(Command(0x09, True, cdw10=0x1D, cdw11=1, cdw12=1))
        assert same.ok
        off = await dev.submit(Command(0x09, True, cdw10=0x1D, cdw11=1, cdw12=0))
        assert status(off) == (0, 0x0C)  # Command Sequence Error: namespaces exist in the group
        assert (await dev.submit(Command(0x0A, True, cdw10=0x1D, cdw11=1))).result == 1
        c = await dev.submit(get_log(0x12, 256))  # Feature Identifiers Supported and Effects
        assert c.ok and c.data is not None
        fids = {e["fid"] for e in decode("fid-effects-log", c.data).to_json()["fids"]}  # type: ignore[union-attr]
        assert {0x1D, 0x1E} <= fids


async def test_fdp_events_disabled_on_a_handle_are_not_logged(sim_dir: Path) -> None:
    async with open_sim("sim0n1") as dev:
        got = await dev.submit(Command(0x0A, True, nsid=1, cdw10=0x1E, cdw11=2 | 8 << 16, data_len=16))
        assert got.ok and got.result == 2 and got.data is not None
        listed = decode("feature-data-fdp-events", got.data[:4]).to_json()["events"]
        assert [(e["fdpet"], e["enabled"]) for e in listed] == [(0, True), (3, True)]  # type: ignore[index]
        assert (await dev.submit(fdp_events_feature(2, False, 0))).ok
        got = await dev.submit(Command(0x0A, True, nsid=1, cdw10=0x1E, cdw11=2 | 8 << 16, data_len=16))
        assert got.data is not None and got.data[:4] == bytes([0, 0, 3, 1])
        assert (await dev.submit(write(0, 8, pid=2))).ok
        assert (await dev.submit(write(0, 8, pid=1))).ok
        assert (await dev.submit(ruh_update(2, 1))).ok
        (event,) = await events(dev)  # handle 2's is not logged, handle 1's is
        assert event["pid"] == 1
        assert (await stats(dev))[1] == 2 * RUNS  # both units were padded all the same
        assert status(await dev.submit(fdp_events_feature(2, True, 0x80))) == (0, 0x02)  # never logged here
        assert status(await dev.submit(fdp_events_feature(NPH, True, 0))) == (0, 0x02)  # no such handle


async def test_with_fdp_disabled_placement_is_refused(sim_dir: Path) -> None:
    # The host cannot disable FDP on this simulator (its namespaces always exist): the state is made so.
    async with open_sim("sim0n1") as dev:
        ctrl = dev.controller

        def disable() -> None:
            ctrl.fdp.enabled = False
            ctrl.fdp.dirty = True

        ctrl.lock.acquire(2.0)
        try:
            ctrl.transact(disable)
        finally:
            ctrl.lock.release()
        assert status(await dev.submit(write(0, 8, pid=1))) == (0, 0x02)
        assert (await dev.submit(write(0, 8))).ok  # without a directive, as any write
        assert status(await dev.submit(ruh_status())) == (0, 0x29)  # FDP Disabled
        assert status(await dev.submit(get_log(0x22, 16))) == (0, 0x29)
        assert (await dev.submit(Command(0x0A, True, cdw10=0x1D, cdw11=1))).result == 0
    async with open_sim("sim0n1") as dev:  # kept across the power cycle
        assert status(await dev.submit(ruh_status())) == (0, 0x29)


# --- persistence ----------------------------------------------------------------------------------------


async def test_the_units_statistics_events_and_enables_survive_a_restart(sim_dir: Path) -> None:
    async with open_sim("sim0n1") as dev:
        assert (await dev.submit(fdp_events_feature(0, False, 3))).ok
        assert (await dev.submit(write(0, 40, pid=1))).ok
        assert (await dev.submit(ruh_update(1))).ok
        assert (await dev.submit(write(0, 16, pid=2))).ok
        before = (await ruamw(dev), await stats(dev), await events(dev))
    async with open_sim("sim0n1") as dev:  # a power cycle: media state, so all kept
        assert (await ruamw(dev), await stats(dev), await events(dev)) == before
        assert status(await dev.submit(write(0, 8, pid=9))) == (0, 0x02)
        assert len(await events(dev)) == 1  # invalid placement identifier events stay disabled on handle 0


def script(path: Path, steps: list[dict[str, object]]) -> Path:
    path.write_text(json.dumps({"nvtui-script": 2, "device": "sim0n1", "steps": steps}))
    return path


async def test_an_fdp_write_acknowledged_before_a_kill_is_accounted_after_it(sim_dir: Path) -> None:
    data = base64.b64encode(bytes([7]) * 8 * BLOCK).decode()
    steps: list[dict[str, object]] = [
        {"command": "write", "fields": {"slba": 0, "nlb": 8, "dtype": "data-placement", "dspec": 3},
         "data": data},
        {"command": "io-mgmt-send", "fields": {"mos": 1}, "data": base64.b64encode(bytes([3, 0])).decode()},
        {"command": "write", "fields": {"slba": 8, "nlb": 8, "dtype": "data-placement", "dspec": 3},
         "data": data},
    ]  # fmt: skip
    idle = [{"command": "io-mgmt-recv", "fields": {}}] * 3000
    run_killed_after(script(sim_dir.parent / "fdp.json", steps + idle), "io-mgmt-recv: Successful", 1)
    async with open_sim("sim0n1") as dev:  # the kill left it unclean; this open replays the journal
        assert (await ruamw(dev))[3] == UNIT_BLOCKS - 8
        assert await stats(dev) == (16 * BLOCK, RUNS + 8 * BLOCK, RUNS)
        (event,) = await events(dev)
        assert event["fdpet"] == 0 and event["pid"] == 3


# --- the CLI and the TUI ---------------------------------------------------------------------------------


def test_the_cli_writes_through_a_handle_and_reads_the_status_statistics_and_events(
    sim_dir: Path, tmp_path: Path
) -> None:
    blocks = tmp_path / "blocks.bin"
    blocks.write_bytes(bytes(range(256)) * 16)
    sent = run_cli(["send", "sim0n1", "write", "slba=0", "nlb=8", "dtype=data-placement", "dspec=1",
                    "--data-in", str(blocks), "--allow-destructive"])  # fmt: skip
    assert sent.code == 0, sent.err
    recv = run_cli(["send", "sim0n1", "io-mgmt-recv", "--json"])
    assert recv.code == 0, recv.err
    decoded = json.loads(recv.out)["decoded"]
    assert [d["ruamw"] for d in decoded["ruhss"]] == [4096, 4088, 4096, 4096]
    stats_out = run_cli(["send", "sim0", "fdp-stats", "lsi=1"])
    assert stats_out.code == 0, stats_out.err
    rows = {line.split()[0]: line.split() for line in stats_out.out.splitlines()[3:]}
    assert rows["hbmw"][2] == "4096" and rows["mbmw"][2] == "4096" and rows["mbe"][2] == "0"
    wrong = run_cli(["send", "sim0n1", "write", "slba=0", "nlb=8", "dtype=data-placement", "dspec=77",
                     "--data-in", str(blocks), "--allow-destructive"])  # fmt: skip
    assert wrong.code != 0 and "Invalid Field in Command" in wrong.out and "Traceback" not in wrong.err
    logged = run_cli(["send", "sim0", "fdp-events", "lsi=1", "lsp=1", "--json"])
    assert logged.code == 0, logged.err
    (event,) = json.loads(logged.out)["decoded"]["events"]
    assert event["fdpet"] == 3 and event["pid"] == 77


def test_the_cli_decodes_only_the_fdp_event_types_the_completion_counts(sim_dir: Path) -> None:
    asked = ["send", "sim0n1", "get-features", "fid=fdp-events", "nsid=1", "cdw11=0x80002"]  # ph 2, noet 8
    done = run_cli([*asked, "--json"])
    assert done.code == 0, done.err
    out = json.loads(done.out)
    assert out["result"] == 2 and out["data_len"] == 510  # two types returned in the 510-byte buffer
    events = out["decoded"]["events"]
    assert [(e["fdpet"], e["enabled"]) for e in events] == [(0, True), (3, True)]
    table = run_cli(asked)
    assert "events[1].fdpet" in table.out and "events[2]" not in table.out, table.out
    saved = run_cli([*asked, "sel=saved", "--json"])
    assert len(json.loads(saved.out)["decoded"]["events"]) == 2


async def test_in_the_tui_a_write_through_a_handle_shows_in_the_statistics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from textual.widgets import Input

    from nvtui.screens.result import ResultScreen
    from nvtui.widgets.decoded_tree import DecodedTree
    from tests.pilots import isolate_tui, until, writable_tui
    from tests.test_app import compose

    isolate_tui(tmp_path, monkeypatch)
    blocks = tmp_path / "blocks.bin"
    blocks.write_bytes(bytes([0xA5]) * 16 * BLOCK)
    async with writable_tui("sim0n1") as tui:
        app, pilot = tui.app, tui.pilot
        screen = await compose(pilot, "write", slba="0", nlb="16", dtype="data-placement", dspec="2")
        screen.query_one("#data-in", Input).value = str(blocks)
        prepared = lambda: screen.prepared is not None and screen.prepared.command.data  # noqa: E731
        await until(pilot, prepared, "the data")
        await tui.send_confirmed("the write")

        await compose(pilot, "fdp-stats", lsi="1")
        await pilot.press("ctrl+s")
        shown = lambda: isinstance(app.screen, ResultScreen) and app.screen.result  # noqa: E731
        await until(pilot, shown, "the statistics")
        rows = {r.name: r for r in app.screen.query_one("#decoded-tree", DecodedTree).all_rows()}
        assert rows["hbmw"].value.startswith("8192") and rows["mbmw"].value.startswith("8192")
        assert rows["mbe"].value == "0"


def test_the_statistics_of_a_group_that_is_not_there_are_refused(sim_dir: Path) -> None:
    done = run_cli(["send", "sim0", "fdp-stats", "lsi=2"])
    assert done.code != 0 and "Invalid Field in Command" in done.out and "Traceback" not in done.err
