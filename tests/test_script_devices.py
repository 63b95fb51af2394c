"""A script saved from a session on two devices keeps each step's device: a replay sends the zone steps to
the zoned namespace again, maps recorded devices to others (`nvtui run --device OLD=NEW`, or all to one),
refuses a device that is neither there nor mapped before anything is sent, and says when the data a step
read differs from what it read when recorded."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from nvtui.catalogue import load_catalogue
from nvtui.cli import main
from nvtui.errors import UsageError
from nvtui.scripts import CommandScript, DeviceMap, ScriptStep, data_digest, replay, script_from_history
from nvtui.session import Session, send_once


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def two_device_script(tmp_path: Path) -> Path:
    """Identify and a read on sim0n1, then a zone report on the zoned sim0n2: one session, saved unpinned."""
    session = Session(load_catalogue(user_dir=False))
    try:
        await send_once(session, "sim0n1", "identify", ["cns=0"])
        await send_once(session, "sim0n1", "read", ["slba=0", "nlb=1"])
        await send_once(session, "sim0n2", "zone-mgmt-recv", ["slba=0", "numd=64"])
        await send_once(session, "sim0n2", "identify", ["cns=0"])
        script = script_from_history(session.history)
    finally:
        await session.close()
    path = tmp_path / "two.yaml"
    script.save(path)
    return path


async def test_each_step_records_its_device_and_replays_there(tmp_path: Path) -> None:
    path = await two_device_script(tmp_path)
    text = path.read_text()
    assert text.startswith("nvtui-script: 2\n") and "device: sim0n2" in text
    script = CommandScript.load(path)
    assert script.device is None
    assert [s.device for s in script.steps] == ["sim0n1", "sim0n1", "sim0n2", "sim0n2"]
    session = Session(load_catalogue(user_dir=False))
    try:
        outcomes = await replay(session, script)
    finally:
        await session.close()
    assert [o.device for o in outcomes] == ["sim0n1", "sim0n1", "sim0n2", "sim0n2"]
    assert all(o.matches for o in outcomes), [o.to_json() for o in outcomes]


def test_nvtui_run_replays_a_two_device_script_headless(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    path = asyncio.run(two_device_script(tmp_path))
    code, out, _ = run(capsys, "run", str(path))
    assert code == 0, out
    assert "[3/4] zone-mgmt-recv on sim0n2: Successful Completion" in out
    assert out.splitlines()[-1] == "4/4 steps matched their recorded status"
    # All to one: the zone report goes to the conventional namespace, which has no such command.
    code, out, _ = run(capsys, "run", str(path), "--device", "sim0n1", "--json")
    doc = json.loads(out)
    assert code == 1 and doc["device"] == "sim0n1"
    assert doc["devices"] == {"sim0n1": "sim0n1", "sim0n2": "sim0n1"}
    zone = doc["steps"][2]
    assert zone["device"] == "sim0n1" and not zone["matches"]
    assert zone["status"]["name"] == "Invalid Command Opcode"


def test_recorded_devices_map_one_by_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    path = asyncio.run(two_device_script(tmp_path))
    # The same script as recorded on a machine whose namespaces were ng0n1 and ng0n2.
    moved = tmp_path / "moved.yaml"
    moved.write_text(path.read_text().replace("sim0n1", "ng9n1").replace("sim0n2", "ng9n2"))
    code, out, err = run(capsys, "run", str(moved), "--device", "ng9n1=sim0n1")
    assert code == 2 and out == ""
    (line,) = err.strip().splitlines()
    assert f"{moved}:" in line and "step 3 (zone-mgmt-recv): it went to ng9n2, which cannot be opened" in line
    assert line.endswith("map it with --device ng9n2=NEW")
    code, out, err = run(capsys, "run", str(moved), "--device", "ng9n1=sim0n1", "--device", "ng9n2=sim0n2")
    assert code == 0, err
    assert "[3/4] zone-mgmt-recv on sim0n2: Successful Completion" in out


def test_nothing_is_sent_when_a_device_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "w.yaml"
    data = os.urandom(512)
    import base64

    steps = [
        ScriptStep("write", {"slba": 9, "nlb": 1}, data=base64.b64encode(data).decode(), device="sim0n1"),
        ScriptStep("identify", {"cns": 0}, device="nvme9"),
    ]
    CommandScript(steps=steps).save(path)
    code, _, err = run(capsys, "run", str(path), "--allow-destructive")
    assert code == 2 and "step 2 (identify): it went to nvme9" in err
    out_file = tmp_path / "block9"
    assert run(capsys, "send", "sim0n1", "read", "slba=9", "nlb=1", "--data-out", str(out_file))[0] == 0
    assert out_file.read_bytes() == bytes(512)  # the write before the missing device was not sent


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        (["sim0n1", "sim0n2"], "--device sim0n2: every step already goes to sim0n1"),
        (["=sim0n1"], "--device =sim0n1: expected OLD=NEW, two device names"),
        (["a=b", "a=c"], "--device a=c: a is already mapped to b"),
    ],
)
def test_a_bad_device_mapping_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], specs: list[str], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        DeviceMap.parse(specs)
    argv = ["run", str(tmp_path / "absent.yaml")]
    for spec in specs:
        argv += ["--device", spec]
    code, _, err = run(capsys, *argv)
    # Said before the script is looked for.
    assert code == 2 and err.startswith(f"nvtui: {message}") and len(err.splitlines()) == 1


def test_a_read_that_returns_other_data_says_data_differs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    async def record() -> CommandScript:
        session = Session(load_catalogue(user_dir=False))
        try:
            await send_once(session, "sim0n1", "write", ["slba=5", "nlb=1"], data=b"a" * 512,
                            allow_destructive=True)  # fmt: skip
            first = len(session.history)
            await send_once(session, "sim0n1", "read", ["slba=5", "nlb=1"])
            await send_once(session, "sim0n1", "identify", ["cns=1"])
            return script_from_history(session.history[first:])
        finally:
            await session.close()

    script = asyncio.run(record())
    read, identify = script.steps
    assert read.digest == data_digest(b"a" * 512) and identify.digest is None  # only namespace data
    path = tmp_path / "read.yaml"
    script.save(path)
    assert run(capsys, "run", str(path))[0] == 0
    zeros = tmp_path / "zeros.bin"
    zeros.write_bytes(bytes(512))
    written = run(
        capsys, "send", "sim0n1", "write", "slba=5", "nlb=1", "--data-in", str(zeros), "--allow-destructive"
    )
    assert written[0] == 0
    code, out, _ = run(capsys, "run", str(path))
    assert code == 1
    first = out.splitlines()[0].removeprefix("[1/2] read: ")
    assert first.startswith("Successful Completion (recorded: Successful Completion) ok, data differs ")
    code, out, _ = run(capsys, "run", str(path), "--json")
    assert json.loads(out)["steps"][0]["data_differs"] is True


def test_a_bad_digest_names_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "d.yaml"
    path.write_text("nvtui-script: 2\nsteps:\n  - command: read\n    device: sim0n1\n    digest: md5:00\n")
    code, _, err = run(capsys, "run", str(path))
    assert code == 2 and err.strip() == (
        f"nvtui: {path}:5: field steps[0].digest: Value error, expected sha256: and 64 lowercase hex digits "
        "(the SHA-256 of the data read)"
    )


def test_a_version_1_script_still_replays_on_the_device_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "v1.yaml"
    path.write_text("nvtui-script: 1\nsteps:\n  - command: identify\n    fields: {cns: 1}\n")
    code, _, err = run(capsys, "run", str(path))
    assert code == 2 and "step 1 (identify): the step records no device: name one with --device" in err
    code, out, _ = run(capsys, "run", str(path), "--device", "sim0")
    assert code == 0 and "1/1 steps matched" in out
