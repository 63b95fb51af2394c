"""No destructive command reaches a device without explicit allowance, on every path: `nvtui send`, script
replay (`nvtui run`), the TUI (read-only, and with the confirmation cancelled) and `nvtui bench`.

Each test seeds the simulated namespaces with data, tries the destructive path without allowance and shows
the namespaces' checksum (sha256 of the simulator's block files, read past nvtui) unchanged and no command
submitted. Each also shows that the check can fail: with the allowance the same input does go through.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fuzz.recording import Recorder, install_recorder, namespace_checksum, run_cli, sim_counters

from nvtui.backend.sim.backend import live_controller
from nvtui.backend.sim.state import state_dir
from nvtui.catalogue import CommandDef, load_catalogue
from nvtui.errors import UsageError
from nvtui.session import Session

CATALOGUE = load_catalogue(user_dir=False)
LBA = {"sim0n1": 512, "sim0n2": 4096}

# Plausible fields for each destructive entry: what a person would type to really do it.
PLAUSIBLE: dict[str, list[str]] = {
    "abort": ["sqid=0", "cid=1"],
    "set-features": ["fid=arbitration", "cdw11=0x3"],
    "namespace-management": ["sel=1", "nsid=1"],
    "firmware-commit": ["ca=1", "fs=1"],
    "firmware-image-download": ["numd=1024"],
    "namespace-attachment": ["sel=1", "nsid=1"],
    "directive-send": ["numd=1"],
    "virtualization-management": ["act=1"],
    "nvme-mi-send": [],
    "capacity-management": ["oper=1"],
    "lockdown": ["prhbt=1", "ofi=0x80"],
    "format-nvm": ["nsid=1", "lbaf=1"],
    "security-send": ["secp=0xef", "tl=512"],
    "sanitize": ["sanact=2"],
    "write": ["slba=0", "nlb=8"],
    "write-uncorrectable": ["slba=0", "nlb=8"],
    "write-zeroes": ["slba=0", "nlb=16"],
    "dataset-management": ["nr=1", "ad=1"],
    "reservation-register": ["rrega=0"],
    "reservation-acquire": ["racqa=0"],
    "reservation-release": ["rrela=0"],
    "copy": ["sdlba=100", "nr=1"],
    "zone-mgmt-send": ["slba=0", "zsa=reset"],
    "zone-append": ["zslba=0", "nlb=1"],
    "io-mgmt-send": ["mo=1", "mos=1"],
    "cancel": ["sqid=1", "cid=7"],
    "discovery-information-management": ["tas=register"],
    "clear-exported-nvm-resource-configuration": [],
    "fabric-zoning-send": ["numd=4", "lf=1"],
    "create-exported-nvm-subsystem": ["ra=1"],
    "manage-exported-nvm-subsystem": ["sel=delete"],
    "manage-exported-namespace": ["sel=disassociate-namespace"],
    "manage-exported-port": [],
    "send-discovery-log-page": ["ndws=16"],
    "track-send": ["mos=1", "cdqid=1"],
    "migration-send": ["sel=suspend", "cntlid=1", "stype=suspend"],
    "fabrics": ["fctype=property-set", "cdw11=0x14", "cdw12=0"],
    "kv-store": ["key=user42", "vs=5"],
    "kv-delete": ["key=0x75736572"],
}
DESTRUCTIVE = [e for e in CATALOGUE if e.is_destructive() and not e.refused and not e.raw]
# Raw passthrough with the opcodes that destroy: (queue, opcode, extra fields).
RAW = [
    ("admin-passthru", 0x80, ["nsid=1", "cdw10=1"]),  # Format NVM
    ("admin-passthru", 0x84, ["cdw10=2"]),  # Sanitize, block erase
    ("admin-passthru", 0x0D, ["cdw10=1", "nsid=1"]),  # Namespace Management, delete
    ("admin-passthru", 0x09, ["cdw10=0x2", "cdw11=1"]),  # Set Features
    ("admin-passthru", 0x10, ["cdw10=0x9"]),  # Firmware Commit
    ("admin-passthru", 0xC1, []),  # a vendor opcode: unknown means destructive
    ("io-passthru", 0x01, ["cdw10=0", "cdw12=7"]),  # Write, 8 blocks at LBA 0
    ("io-passthru", 0x09, ["cdw10=0", "cdw11=4"]),  # Dataset Management, deallocate
    ("io-passthru", 0x08, ["cdw10=0", "cdw12=15"]),  # Write Zeroes
    ("io-passthru", 0x04, ["cdw10=0", "cdw12=0"]),  # Write Uncorrectable
    ("io-passthru", 0x19, ["cdw10=100"]),  # Copy
    ("io-passthru", 0x7D, ["cdw10=0"]),  # Zone Append (on the zoned namespace)
]
# What a raw case carries beside its dwords where its opcode's direction bits say data moves: the bytes the
# catalogue entry of its opcode calls for, or --no-data where those dwords move none (a buffer-less raw
# command with a data opcode is refused otherwise, destructive or not).
RAW_BUFFERS: dict[tuple[str, int], int | None] = {
    ("admin-passthru", 0x09): None,  # Set Features, Arbitration: no data
    ("admin-passthru", 0xC1): None,  # a vendor opcode nvtui knows nothing about
    ("io-passthru", 0x09): 16,  # Dataset Management: one 16-byte range
    ("io-passthru", 0x19): 32,  # Copy: one format-0 source range
}


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with pytest.MonkeyPatch.context() as mp:
        yield install_recorder(mp)


def device_for(defn: CommandDef, opcode: int | None = None) -> str:
    if defn.admin:
        return "sim0"
    return "sim0n2" if defn.set == "zns" or opcode in (0x79, 0x7D) else "sim0n1"


def seed(tmp_path: Path) -> None:
    """Data worth keeping: random blocks 0-63 on sim0n1 and 0-15 of zone 0 on sim0n2."""
    for device, lba, blocks in (("sim0n1", 512, 64), ("sim0n2", 4096, 16)):
        data = tmp_path / f"seed-{device}.bin"
        data.write_bytes(os.urandom(lba * blocks))
        done = run_cli(
            [
                "send",
                device,
                "write",
                "slba=0",
                f"nlb={blocks}",
                "--data-in",
                str(data),
                "--allow-destructive",
            ]
        )
        assert done.code == 0, done.err


def data_args(tmp_path: Path, defn: CommandDef, device: str, fields: list[str]) -> list[str]:
    """--data-in (and --data-len) of the length the fields call for, when the command carries data."""
    values = defn.parse_values(fields)
    expected = defn.expected_length(values, LBA.get(device))
    direction = defn.direction_of(values).value
    size = expected.size if expected.kind == "bytes" else 4096 if expected.kind == "user" else 0
    args = ["--data-len", str(size)] if expected.kind == "user" else []
    if size and direction & 1:  # host to controller
        payload = tmp_path / f"payload-{size}.bin"
        payload.write_bytes(bytes([0xA5]) * size)
        args += ["--data-in", str(payload)]
    return args


async def prepares_when_allowed(device: str, command: str, fields: list[str], args: list[str]) -> None:
    """The same input with the allowance gets past every check (so the refusal was for destructiveness)."""
    data_len = int(args[args.index("--data-len") + 1]) if "--data-len" in args else None
    data = Path(args[args.index("--data-in") + 1]).read_bytes() if "--data-in" in args else None
    no_data = "--no-data" in args
    session = Session(CATALOGUE)
    try:
        with pytest.raises(UsageError, match="destructive"):
            await session.prepare(device, command, fields, data_len=data_len, data=data, no_data=no_data)
        await session.prepare(
            device, command, fields, data_len=data_len, data=data, no_data=no_data, allow_destructive=True
        )
    finally:
        await session.close()


def assert_refused_and_untouched(argv: list[str], recorder: Recorder, before: str) -> None:
    mark = recorder.mark()
    done = run_cli(argv)
    assert done.code == 2, f"{argv}: exit {done.code}: {done.err}"
    assert "--allow-destructive" in done.err and "destructive" in done.err, done.err
    assert len(done.err.splitlines()) == 1 and done.out == ""
    assert recorder.user_commands_since(mark) == [], f"{argv} submitted {recorder.user_commands_since(mark)}"
    assert namespace_checksum() == before, f"{argv} changed the namespace"


# ---- nvtui send --------------------------------------------------------------------------------------------


def test_every_destructive_entry_has_plausible_fields() -> None:
    assert {e.id for e in DESTRUCTIVE} == set(PLAUSIBLE), "a destructive entry without a test case"


@pytest.mark.parametrize("entry", [e.id for e in DESTRUCTIVE])
def test_send_refuses_a_destructive_command_without_allowance(
    entry: str, tmp_path: Path, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(tmp_path)
    defn = CATALOGUE.get(entry)
    if defn.set == "kv":  # the simulator has no KV namespace: sim0n1 passes for one (else its set refuses)

        async def kv_namespace(self: Session, device: str) -> str:
            return "kv"

        monkeypatch.setattr(Session, "command_set", kv_namespace)
    device = device_for(defn)
    fields = PLAUSIBLE[entry]
    args = data_args(tmp_path, defn, device, fields)
    asyncio.run(prepares_when_allowed(device, entry, fields, args))
    before = namespace_checksum()
    assert_refused_and_untouched(["send", device, entry, *fields, *args], recorder, before)
    assert_refused_and_untouched(["send", device, entry, *fields, *args, "--json"], recorder, before)


@pytest.mark.parametrize(("entry", "opcode", "fields"), RAW, ids=[f"{e}-{o:#04x}" for e, o, _ in RAW])
def test_send_refuses_a_destructive_raw_opcode_without_allowance(
    entry: str, opcode: int, fields: list[str], tmp_path: Path, recorder: Recorder
) -> None:
    seed(tmp_path)
    defn = CATALOGUE.get(entry)
    device = device_for(defn, opcode)
    fields = [f"opcode={opcode:#04x}", *fields]
    args = data_args(tmp_path, defn, device, fields)
    if opcode in (0x01, 0x7D):  # the data a write carries: 8 blocks, or 1 for the append
        size = LBA[device] * (8 if opcode == 0x01 else 1)
        payload = tmp_path / "raw-write.bin"
        payload.write_bytes(b"\x5a" * size)
        args = ["--data-len", str(size), "--data-in", str(payload)]
    if (entry, opcode) in RAW_BUFFERS:
        size = RAW_BUFFERS[entry, opcode]
        args = ["--no-data"]
        if size is not None:
            payload = tmp_path / "raw-payload.bin"
            payload.write_bytes(b"\x5a" * size)
            args = ["--data-len", str(size), "--data-in", str(payload)]
    asyncio.run(prepares_when_allowed(device, entry, fields, args))
    before = namespace_checksum()
    assert_refused_and_untouched(["send", device, entry, *fields, *args], recorder, before)


def test_with_the_allowance_a_write_does_change_the_checksum(tmp_path: Path, recorder: Recorder) -> None:
    """The control: the checksum sees a one-block write, so an unchanged checksum means something."""
    seed(tmp_path)
    before = namespace_checksum()
    block = tmp_path / "one.bin"
    block.write_bytes(b"\x11" * 512)
    done = run_cli(
        ["send", "sim0n1", "write", "slba=63", "nlb=1", "--data-in", str(block), "--allow-destructive"]
    )
    assert done.code == 0, done.err
    assert namespace_checksum() != before


# ---- nvtui run ---------------------------------------------------------------------------------------------

SCRIPT = """\
nvtui-script: 1
device: sim0n1
steps:
  - command: identify
    fields: {cns: 1}
  - command: read
    fields: {slba: 0, nlb: 8}
  - command: write-zeroes
    fields: {slba: 0, nlb: 64}
  - command: read
    fields: {slba: 0, nlb: 8}
"""


def test_a_script_with_a_destructive_step_sends_nothing_without_allowance(
    tmp_path: Path, recorder: Recorder
) -> None:
    seed(tmp_path)
    script = tmp_path / "wipe.yaml"
    script.write_text(SCRIPT)
    before, counters = namespace_checksum(), sim_counters()
    mark = recorder.mark()
    done = run_cli(["run", str(script)])
    assert done.code == 2, done.err
    assert "step" in done.err and "3 (write-zeroes)" in done.err and "--allow-destructive" in done.err
    # Not even steps 1 and 2, which are harmless: the script is refused as a whole.
    assert recorder.user_commands_since(mark) == []
    assert sim_counters() == counters
    assert namespace_checksum() == before

    done = run_cli(["run", str(script), "--allow-destructive"])  # the control
    assert done.code == 0, done.err
    assert [c.opcode for c in recorder.user_commands_since(mark)] == [0x06, 0x02, 0x08, 0x02]
    assert sim_counters()["host_read_commands"] == counters["host_read_commands"] + 2
    assert namespace_checksum() != before


# ---- the TUI ---------------------------------------------------------------------------------------------


def test_the_tui_sends_no_destructive_command_read_only_or_cancelled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(tmp_path)  # through the CLI, before the app's event loop runs
    before = namespace_checksum()
    monkeypatch.chdir(tmp_path)
    asyncio.run(tui_refuses(tmp_path, before))
    assert namespace_checksum() != before  # the confirmed write at the end landed


async def tui_refuses(tmp_path: Path, before: str) -> None:
    from test_app import make_app, ready, said, until, write_block

    from nvtui.screens.modals import ConfirmDestructive, ConfirmScript
    from nvtui.screens.result import ResultScreen
    from nvtui.screens.scripts import ScriptsScreen

    payload = tmp_path / "block.bin"
    payload.write_bytes(b"\xee" * 512)
    script = tmp_path / "wipe.yaml"
    script.write_text(SCRIPT)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        assert app.session is not None
        await app.session.backend("sim0n1")  # the app opens devices on first use: open it to watch it
        ctrl = live_controller(state_dir())
        assert ctrl is not None
        counters = dict(ctrl.counters)

        assert not app.writable  # read-only: refused outright, no modal
        await write_block(pilot, payload)
        await until(pilot, lambda: said(app, "write is destructive and nvtui is read-only"), "the refusal")
        assert not isinstance(app.screen, ConfirmDestructive)
        assert ctrl.counters["host_write_commands"] == counters["host_write_commands"]
        assert namespace_checksum() == before

        await pilot.press("ctrl+w")  # writable: the modal asks, and is cancelled
        assert app.writable
        await write_block(pilot, payload)
        await until(pilot, lambda: isinstance(app.screen, ConfirmDestructive), "the confirmation")
        await pilot.press("escape")
        await until(pilot, lambda: said(app, "write: the command was not sent"), "the cancellation")
        assert ctrl.counters["host_write_commands"] == counters["host_write_commands"]
        assert namespace_checksum() == before

        await pilot.press("f6")  # a script with a destructive step, its up-front question cancelled
        await until(pilot, lambda: isinstance(app.screen, ScriptsScreen), "the Scripts screen")
        screen = app.screen
        assert isinstance(screen, ScriptsScreen)
        screen.open_script(script)
        sent = len(app.session.history)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScript), "the script confirmation")
        await pilot.press("escape")
        await until(pilot, lambda: said(app, "was not replayed"), "the cancellation")
        assert len(app.session.history) == sent  # not even the identify and read before step 3
        assert ctrl.counters["host_write_commands"] == counters["host_write_commands"]
        assert ctrl.counters["host_read_commands"] == counters["host_read_commands"]

        await pilot.press("ctrl+w")  # back to read-only: the replay is refused without asking
        assert not app.writable
        await pilot.press("r")
        await until(pilot, lambda: said(app, "nothing was sent"), "the refusal")
        assert not isinstance(app.screen, ConfirmScript)
        assert len(app.session.history) == sent
        assert ctrl.counters["host_write_commands"] == counters["host_write_commands"]

        await pilot.press("ctrl+w")  # the control: confirmed, the write lands
        await write_block(pilot, payload)
        await until(pilot, lambda: isinstance(app.screen, ConfirmDestructive), "the confirmation")
        await pilot.press("y")
        await until(pilot, lambda: isinstance(app.screen, ResultScreen), "the write's result")
        assert ctrl.counters["host_write_commands"] == counters["host_write_commands"] + 1


# ---- nvtui bench -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rw", ["randwrite", "write"])
def test_bench_writes_nothing_without_allowance(rw: str, tmp_path: Path, recorder: Recorder) -> None:
    seed(tmp_path)
    before, counters = namespace_checksum(), sim_counters()
    mark = recorder.mark()
    done = run_cli(["bench", "sim0n1", "--rw", rw, "--seconds", "0.3", "--qd", "8"])
    assert done.code == 2, done.err
    assert "--allow-destructive" in done.err and len(done.err.splitlines()) == 1
    assert recorder.since(mark) == []
    assert sim_counters() == counters
    assert namespace_checksum() == before

    done = run_cli(["bench", "sim0n1", "--rw", rw, "--seconds", "0.3", "--qd", "8", "--allow-destructive"])
    assert done.code == 0, done.err  # the control: with the allowance the bench writes
    assert sim_counters()["host_write_commands"] > counters["host_write_commands"]
    assert namespace_checksum() != before
