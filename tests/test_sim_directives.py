"""Directives on the simulated controller (NVMe Base 2.0, 9): the Identify directive's parameters and Enable
Directive, the Streams directive's parameters, resources, status and release, writes that open streams; the
statuses for what the spec refuses; what a power cycle keeps and closes; kept across a kill -9; the CLI and
a `nvtui run` script decode the results."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from fuzz.recording import run_cli
from simstates import older_state

from nvtui.backend.sim import SimBackend, open_sim
from nvtui.nvme.command import Command
from tests.simprocs import run_killed_after

IDENTIFY, STREAMS = 0, 1
INVALID_FIELD, ALLOCATION_FAILED = (0, 0x02), (1, 0x7F)


def receive(nsid: int, dtype: int, doper: int, *, cdw12: int = 0, size: int = 4096) -> Command:
    return Command(0x1A, True, nsid=nsid, cdw10=size // 4 - 1, cdw11=dtype << 8 | doper, cdw12=cdw12,
                   data_len=size)  # fmt: skip


def send(nsid: int, dtype: int, doper: int, *, dspec: int = 0, cdw12: int = 0) -> Command:
    return Command(0x19, True, nsid=nsid, cdw11=dspec << 16 | dtype << 8 | doper, cdw12=cdw12)


def enable(nsid: int, on: bool = True, tdtype: int = STREAMS) -> Command:
    return send(nsid, IDENTIFY, 1, cdw12=tdtype << 8 | on)


def stream_write(nsid: int, slba: int, sid: int, fill: bytes = b"s") -> Command:
    data = fill * 512
    return Command(0x01, False, nsid=nsid, cdw10=slba, cdw12=STREAMS << 20, cdw13=sid << 16, data=data,
                   data_len=512)  # fmt: skip


def status(c: object) -> tuple[int, int]:
    st = c.status  # type: ignore[attr-defined]
    return st.sct, st.sc


async def identify_bits(dev: SimBackend, nsid: int) -> tuple[int, int, int]:
    c = await dev.submit(receive(nsid, IDENTIFY, 1))
    assert c.ok and c.data is not None
    return c.data[0], c.data[32], c.data[64]


async def parameters(dev: SimBackend, nsid: int = 1) -> dict[str, int]:
    c = await dev.submit(receive(nsid, STREAMS, 1, size=32))
    assert c.ok and c.data is not None
    d = c.data
    u16 = lambda at: int.from_bytes(d[at : at + 2], "little")  # noqa: E731
    return {"msl": u16(0), "nssa": u16(2), "nsso": u16(4), "sws": int.from_bytes(d[16:20], "little"),
            "sgs": u16(20), "nsa": u16(22), "nso": u16(24)}  # fmt: skip


async def open_streams(dev: SimBackend, nsid: int = 1) -> list[int]:
    c = await dev.submit(receive(nsid, STREAMS, 2))
    assert c.ok and c.data is not None
    osc = int.from_bytes(c.data[0:2], "little")
    return [int.from_bytes(c.data[2 + 2 * i : 4 + 2 * i], "little") for i in range(osc)]


async def test_identify_tells_what_each_namespace_supports_and_enable_turns_streams_on_and_off(
    sim_dir: Path,
) -> None:
    async with open_sim("sim0") as dev:
        c = await dev.submit(Command(0x06, True, cdw10=1, data_len=4096))
        assert c.data is not None and int.from_bytes(c.data[256:258], "little") >> 5 & 1  # OACS: Directives
        assert await identify_bits(dev, 1) == (0b111, 0b101, 0b110)  # Streams off; Data Placement (FDP) on
        assert await identify_bits(dev, 2) == (0b01, 0b01, 0b00)  # the zoned namespace: Identify only
        assert (await dev.submit(enable(1))).ok
        assert await identify_bits(dev, 1) == (0b111, 0b111, 0b110)
        refused = {
            "Identify cannot be turned off": enable(1, False, IDENTIFY),
            "no Streams on the zoned namespace": enable(2),
            "Data Placement is enabled by FDP, not by Enable Directive": enable(1, tdtype=2),
            "a directive type not supported": enable(1, tdtype=3),
            "streams operation on the zoned namespace": receive(2, STREAMS, 1),
            "unknown Identify operation": send(1, IDENTIFY, 2),
            "unknown Streams receive operation": receive(1, STREAMS, 9),
        }
        for why, cmd in refused.items():
            assert status(await dev.submit(cmd)) == INVALID_FIELD, why
        for nsid in (0, 0xFFFF_FFFF, 7):
            assert status(await dev.submit(receive(nsid, IDENTIFY, 1))) == (0, 0x0B)  # Invalid Namespace
        assert (await dev.submit(enable(1, False))).ok
        assert await identify_bits(dev, 1) == (0b111, 0b101, 0b110)


async def test_streams_operations_need_streams_enabled(sim_dir: Path) -> None:
    async with open_sim("sim0n1") as dev:
        assert (await parameters(dev))["msl"] == 16  # Return Parameters: always
        for cmd in (receive(1, STREAMS, 2), receive(1, STREAMS, 3, cdw12=2), send(1, STREAMS, 1, dspec=1),
                    send(1, STREAMS, 2), stream_write(1, 0, 1)):  # fmt: skip
            assert status(await dev.submit(cmd)) == INVALID_FIELD
        assert (await dev.submit(Command(0x02, False, nsid=1, cdw12=0, data_len=512))).data == bytes(512)


async def test_allocation_takes_what_is_available_and_release_gives_it_back(sim_dir: Path) -> None:
    async with open_sim("sim0n1") as dev:
        assert (await dev.submit(enable(1))).ok
        params = await parameters(dev)
        assert params == {"msl": 16, "nssa": 16, "nsso": 0, "sws": 8, "sgs": 16384, "nsa": 0, "nso": 0}
        assert status(await dev.submit(receive(1, STREAMS, 3, cdw12=0))) == ALLOCATION_FAILED  # none asked
        got = await dev.submit(receive(1, STREAMS, 3, cdw12=40))  # more than there are: what is left
        assert got.ok and got.result == 16
        assert status(await dev.submit(receive(1, STREAMS, 3, cdw12=1))) == ALLOCATION_FAILED  # already
        assert (await parameters(dev))["nssa"] == 0 and (await parameters(dev))["nsa"] == 16
        assert (await dev.submit(send(1, STREAMS, 2))).ok  # Release Resources
        assert (await parameters(dev))["nsa"] == 0
        got = await dev.submit(receive(1, STREAMS, 3, cdw12=3))
        assert got.ok and got.result == 3
        assert (await parameters(dev))["nssa"] == 13


async def test_writes_open_streams_up_to_the_allocation_and_release_closes_them(sim_dir: Path) -> None:
    async with open_sim("sim0n1") as dev, open_sim("sim0n2") as zns:
        assert (await dev.submit(enable(1))).ok
        assert (await dev.submit(receive(1, STREAMS, 3, cdw12=2))).result == 2
        assert (await dev.submit(stream_write(1, 0, 9))).ok
        assert (await dev.submit(stream_write(1, 1, 4))).ok
        assert (await dev.submit(stream_write(1, 2, 9))).ok  # already open
        assert await open_streams(dev) == [4, 9]
        params = await parameters(dev)
        assert (params["nso"], params["nsso"]) == (2, 2)
        full = await dev.submit(stream_write(1, 3, 5, b"x"))  # a third stream: none left
        assert status(full) == ALLOCATION_FAILED
        block = await dev.submit(Command(0x02, False, nsid=1, cdw10=3, cdw12=0, data_len=512))
        assert block.data == bytes(512)  # nothing written
        assert status(await dev.submit(stream_write(1, 3, 0))) == INVALID_FIELD  # stream 0 is no stream
        assert (await dev.submit(send(1, STREAMS, 1, dspec=4))).ok  # Release Identifier
        assert (await dev.submit(send(1, STREAMS, 1, dspec=4))).ok  # not open: nothing to do
        assert await open_streams(dev) == [9]
        assert (await dev.submit(stream_write(1, 3, 5))).ok
        assert await open_streams(dev) == [5, 9]
        assert (await dev.submit(enable(1, False))).ok  # turning Streams off releases them
        assert (await parameters(dev))["nsa"] == 0 and (await parameters(dev))["nso"] == 0
        zoned = Command(0x01, False, nsid=2, cdw10=0, cdw12=STREAMS << 20, cdw13=1 << 16,
                        data=bytes(4096), data_len=4096)  # fmt: skip
        assert status(await zns.submit(zoned)) == INVALID_FIELD


async def test_without_an_allocation_streams_come_from_the_subsystem(sim_dir: Path) -> None:
    async with open_sim("sim0n1") as dev:
        assert (await dev.submit(enable(1))).ok
        for sid in range(1, 17):
            assert (await dev.submit(stream_write(1, sid, sid))).ok, sid
        assert status(await dev.submit(stream_write(1, 0, 17))) == ALLOCATION_FAILED
        assert (await parameters(dev))["nsso"] == 16


async def test_a_power_cycle_closes_the_streams_and_keeps_the_rest(sim_dir: Path) -> None:
    async with open_sim("sim0n1") as dev:
        assert (await dev.submit(enable(1))).ok
        assert (await dev.submit(receive(1, STREAMS, 3, cdw12=4))).ok
        assert (await dev.submit(stream_write(1, 0, 3))).ok
    async with open_sim("sim0n1") as dev:  # the first to open it again: a power cycle
        assert await identify_bits(dev, 1) == (0b111, 0b111, 0b110)
        params = await parameters(dev)
        assert (params["nsa"], params["nso"]) == (4, 0)
        assert await open_streams(dev) == []


async def test_another_process_sees_the_streams_and_a_kill_keeps_what_was_acknowledged(
    sim_dir: Path, tmp_path: Path
) -> None:
    script = tmp_path / "streams.yaml"
    steps = [
        {"command": "directive-send", "fields": {"endir": 1, "tdtype": "streams"}},
        {"command": "directive-receive", "fields": {"dtype": "streams", "doper": 3, "nsr": 2}},
        {"command": "write", "fields": {"slba": 0, "nlb": 1, "dtype": "streams", "dspec": 6},
         "data": base64.b64encode(b"stream six".ljust(512, b"\0")).decode()},
        *[{"command": "directive-receive", "fields": {"dtype": "streams", "doper": 2}}] * 3000,
    ]  # fmt: skip
    script.write_text(json.dumps({"nvtui-script": 2, "device": "sim0n1", "steps": steps}))
    async with open_sim("sim0n1") as dev:  # keeps the controller powered across the kill
        written = run_killed_after(script, "] write:")[-1]
        assert "Successful" in written, written
        assert await open_streams(dev) == [6]
        assert (await parameters(dev))["nsa"] == 2
        c = await dev.submit(Command(0x02, False, nsid=1, cdw10=0, cdw12=0, data_len=512))
        assert c.data is not None and c.data.startswith(b"stream six")


async def test_a_state_from_before_directives_is_read_with_streams_off(sim_dir: Path) -> None:
    async with open_sim("sim0n1") as dev:
        assert (await dev.submit(enable(1))).ok
    state = json.loads((sim_dir / "sim0.json").read_text())
    del state["directives"]
    older_state(state, 3)
    (sim_dir / "sim0.json").write_text(json.dumps(state))
    (sim_dir / "sim0.journal").unlink()
    async with open_sim("sim0n1") as dev:
        assert await identify_bits(dev, 1) == (0b111, 0b101, 0b110)


def test_the_cli_decodes_the_parameters_and_the_status(sim_dir: Path) -> None:
    on = run_cli(["send", "sim0n1", "directive-send", "endir=1", "tdtype=streams", "--allow-destructive"])
    assert on.code == 0, on.err
    ident = run_cli(["send", "sim0n1", "directive-receive", "--json"])
    assert ident.code == 0, ident.err
    assert json.loads(ident.out)["decoded"] == {"supported": 7, "enabled": 7, "persistent": 6}
    text = run_cli(["send", "sim0n1", "directive-receive"])
    assert "Identify, Streams, Data Placement" in text.out
    alloc = run_cli(["send", "sim0n1", "directive-receive", "dtype=streams", "doper=3", "nsr=5"])
    assert alloc.code == 0 and "result  0x5" in alloc.out
    params = run_cli(["send", "sim0n1", "directive-receive", "dtype=streams", "doper=1", "--json"])
    decoded = json.loads(params.out)["decoded"]
    assert (decoded["msl"], decoded["nssa"], decoded["nsa"]) == (16, 11, 5)
    assert (
        "5 streams allocated to the namespace"
        in run_cli(["send", "sim0n1", "directive-receive", "dtype=streams", "doper=1"]).out
    )
    no_data = run_cli(["send", "sim0n1", "directive-send", "dtype=streams", "doper=2", "--allow-destructive"])
    assert no_data.code == 0, no_data.err  # Release Resources moves no data: none is asked for
    status_ = run_cli(["send", "sim0n1", "directive-receive", "dtype=streams", "doper=2", "--json"])
    assert json.loads(status_.out)["decoded"] == {"osc": 0, "sids": []}
