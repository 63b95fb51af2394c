"""Command scripts: record a session, save it, replay it (in-process and with `nvtui run`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from nvtui.catalogue import load_catalogue
from nvtui.cli import main
from nvtui.errors import UsageError
from nvtui.scripts import CommandScript, destructive_steps, replay, script_from_history
from nvtui.session import Session, send_once


async def record_session(tmp_path: Path, *, with_write: bool) -> Path:
    session = Session(load_catalogue(user_dir=False))
    try:
        await send_once(session, "sim0n1", "identify", ["cns=1"])
        await send_once(session, "sim0n1", "get-log-page", ["lid=smart", "numd=128"])
        if with_write:
            await send_once(
                session, "sim0n1", "write", ["slba=7", "nlb=1"], data=os.urandom(512), allow_destructive=True
            )
            await send_once(session, "sim0n1", "read", ["slba=7", "nlb=1"])
        await send_once(session, "sim0n1", "read", ["slba=0xffffffff", "nlb=1"])  # LBA Out of Range
        script = script_from_history(session.history, pin_device="sim0n1")
    finally:
        await session.close()
    path = tmp_path / "session.yaml"
    script.save(path)
    return path


async def test_saved_session_replays_with_the_same_commands_and_statuses(tmp_path: Path) -> None:
    path = await record_session(tmp_path, with_write=False)
    script = CommandScript.load(path)
    assert [s.command for s in script.steps] == ["identify", "get-log-page", "read"]
    assert script.steps[2].expect is not None and script.steps[2].expect.sc == 0x80
    session = Session(load_catalogue(user_dir=False))
    seen: list[int] = []
    try:
        outcomes = await replay(session, script, on_step=lambda o: seen.append(o.index))
    finally:
        await session.close()
    assert seen == [0, 1, 2]
    assert all(o.matches for o in outcomes)
    assert [o.result.prepared.defn.id for o in outcomes if o.result] == ["identify", "get-log-page", "read"]


async def test_written_data_is_kept_whole_in_the_script(tmp_path: Path) -> None:
    path = await record_session(tmp_path, with_write=True)
    script = CommandScript.load(path)
    write = next(s for s in script.steps if s.command == "write")
    data = write.data_bytes()
    assert data is not None and len(data) == 512
    session = Session(load_catalogue(user_dir=False))
    try:
        assert await destructive_steps(session, script, "sim0n1") == [(2, "write")]
        with pytest.raises(UsageError, match=r"destructive steps: 3 \(write\)"):
            await replay(session, script)
        outcomes = await replay(session, script, allow_destructive=True)
    finally:
        await session.close()
    read_back = next(o for o in outcomes if o.step.command == "read" and o.result and o.result.ok)
    assert read_back.result is not None and read_back.result.completion.data == data


def test_nvtui_run_replays_headless(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    path = asyncio.run(record_session(tmp_path, with_write=True))
    assert main(["run", str(path)]) == 2  # destructive steps, not allowed: nothing sent
    assert "destructive" in capsys.readouterr().err
    assert main(["run", str(path), "--allow-destructive", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["matched"] == doc["total"] == 5 and doc["device"] == "sim0n1"
    assert [s["command"] for s in doc["steps"]] == ["identify", "get-log-page", "write", "read", "read"]


def test_a_differing_status_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "nvtui-script: 1\ndevice: sim0n1\nsteps:\n"
        "  - command: read\n    fields: {slba: 0, nlb: 1}\n    expect: {sct: 0, sc: 0x80}\n"
    )
    assert main(["run", str(path)]) == 1
    assert "DIFFERS" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("nvtui-script: 3\nsteps: []\n", ":1: field nvtui-script"),
        (
            "nvtui-script: 1\nsteps:\n  - command: identify\n    feilds: {cns: 1}\n",
            ":4: field steps[0].feilds",
        ),
        ("nvtui-script: 1\nsteps:\n  - command: identify\n    data: '%%%'\n", ":4: field steps[0].data"),
        ("nvtui-script: 1\nsteps: [\n", ":3: YAML syntax error"),
        ("nvtui-script: 1\ndevice: a\ndevice: b\nsteps: []\n", ":3: field device: key 'device' given twice"),
        ("- just a list\n", ":1: a command script is a mapping"),
        (
            "nvtui-script: 1\ndevice: sim0n1\nsteps:\n  - command: identify\n  - command: read\n"
            "    fields: {nlb: 999999}\n",
            ":5: step 2 (read): field nlb",
        ),
    ],
)
def test_bad_scripts_name_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, where: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    assert main(["run", str(path), "--device", "sim0n1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert f"{path}{where}" in err


def test_unpinned_script_needs_a_device(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("nvtui-script: 1\nsteps:\n  - command: identify\n    fields: {cns: 1}\n")
    assert main(["run", str(path)]) == 2
    assert "--device" in capsys.readouterr().err
    assert main(["run", str(path), "--device", "sim0n1"]) == 0
