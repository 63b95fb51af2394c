"""Every command has a timeout: `nvtui send sim0 asynchronous-event-request` says it waits for an event, and
ends with one line when none comes, instead of hanging; the timeout reaches the kernel as timeout_ms."""

from __future__ import annotations

import asyncio
import os
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import NoReturn, cast

import pytest

from nvtui.backend.base import Backend, kernel_cancelled
from nvtui.catalogue import load_catalogue
from nvtui.catalogue.loader import inspect_file
from nvtui.cli import main
from nvtui.errors import CommandTimeout, UsageError
from nvtui.nvme.timeouts import DEFAULT_TIMEOUT_S
from nvtui.scripts import CommandScript, ScriptStep
from nvtui.session import Session, submit_within

NVTUI = [sys.executable, "-m", "nvtui.cli"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_an_event_request_says_it_waits_then_times_out_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    start = time.monotonic()
    code, out, err = run(capsys, "send", "sim0", "asynchronous-event-request", "--timeout", "1")
    elapsed = time.monotonic() - start
    assert code == 3 and out == ""
    notice, error = err.strip().splitlines()
    assert notice == (
        "nvtui: notice: asynchronous-event-request waits for the controller to report an event: it completes "
        "when one occurs, or times out after 1 s"
    )
    assert error == (
        "nvtui: asynchronous-event-request on sim0: no completion within 1 s: timed out (nvtui stopped "
        "waiting); --timeout sets how long"
    )
    assert elapsed < 5


def test_the_catalogue_gives_the_event_request_its_own_timeout() -> None:
    catalogue = load_catalogue()
    aer = catalogue.get("aer")
    assert aer.waits_for_event and aer.timeout == 10 and aer.timeout_for() == 10
    identify = catalogue.get("identify")
    assert not identify.waits_for_event and identify.timeout_for() == DEFAULT_TIMEOUT_S
    assert identify.event_notice(60) is None
    assert catalogue.get("format-nvm").timeout_for() == 600  # an erase may take minutes
    assert catalogue.get("format-nvm").timeout_for(5) == 5  # the option wins


@pytest.mark.parametrize("value", ["0", "86401", "-1", "1.5", "ten"])
def test_a_bad_timeout_is_one_line_naming_the_option_and_its_range(
    capsys: pytest.CaptureFixture[str], value: str
) -> None:
    for verb in (["send", "sim0n1", "identify"], ["run", "script.yaml"]):
        with pytest.raises(SystemExit) as exit_info:
            main([*verb, "--timeout", value])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "argument --timeout" in err
        assert "out of range 1-86400 seconds" in err or "is not a number of seconds" in err


def test_the_timeout_is_read_by_the_number_rule(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "send", "sim0n1", "identify", "cns=1", "--timeout", "0x10")
    assert code == 0 and "Successful Completion" in out


@pytest.mark.parametrize(
    ("command", "given", "expected_ms"),
    [("identify", 7, 7000), ("identify", 86400, 86_400_000), ("aer", None, 10_000), ("identify", None, 0)],
)
def test_the_kernel_gets_the_timeout_in_the_passthrough_struct(
    command: str, given: int | None, expected_ms: int
) -> None:
    """A timeout given, or the entry's own, is the kernel's too; without either, the kernel's default applies
    (timeout_ms 0), which is nvtui's default wait."""

    async def go() -> bytes:
        session = Session(load_catalogue())
        try:
            prepared = await session.prepare("sim0n1", command, ["cns=1"] if command == "identify" else [],
                                             timeout=given)  # fmt: skip
        finally:
            await session.close()
        assert prepared.timeout * 1000 == (expected_ms or DEFAULT_TIMEOUT_S * 1000)
        assert prepared.command.timeout_ms == expected_ms
        return prepared.command.pack_uring_cmd()

    packed = asyncio.run(go())
    # struct nvme_uring_cmd: timeout_ms is the u32 at offset 64 (include/uapi/linux/nvme_ioctl.h)
    assert struct.unpack_from("<I", packed, 64)[0] == expected_ms


def test_a_timeout_out_of_range_is_refused_by_the_session() -> None:
    async def go() -> None:
        session = Session(load_catalogue())
        try:
            await session.prepare("sim0n1", "identify", ["cns=1"], timeout=0)
        finally:
            await session.close()

    with pytest.raises(UsageError, match="timeout 0 out of range 1-86400 seconds"):
        asyncio.run(go())


def test_a_user_catalogue_timeout_is_validated_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "slow.yaml"
    bad.write_text(
        "version: 1\ncommands:\n  - id: slow-vendor\n    name: Slow\n    set: vendor\n    opcode: 0xc0\n"
        "    queue: admin\n    help: slow\n    destructive: false\n    timeout: 0\n"
    )
    errors = inspect_file(bad).errors
    assert len(errors) == 1
    assert f"{bad}:10" in str(errors[0]) and "timeout" in str(errors[0])
    good = tmp_path / "slow-ok.yaml"
    good.write_text(bad.read_text().replace("timeout: 0", "timeout: 120\n    waits_for_event: true"))
    entry = load_catalogue([good]).get("slow-vendor")
    assert entry.timeout == 120 and entry.waits_for_event


def test_after_a_timeout_the_session_and_the_simulator_stay_usable() -> None:
    async def go() -> None:
        session = Session(load_catalogue())
        try:
            aer = await session.prepare("sim0", "aer", timeout=1)
            with pytest.raises(CommandTimeout):
                await session.send(aer)
            start = time.monotonic()
            done = await session.send(await session.prepare("sim0n1", "identify", ["cns=1"]))
            assert done.ok and time.monotonic() - start < 1  # the simulator's lock was not held
        finally:
            await session.close()

    asyncio.run(go())


def test_an_event_request_completes_when_another_process_formats_a_namespace() -> None:
    env = {**os.environ, "NVTUI_SIM_LATENCY": "none"}
    waiting = subprocess.Popen(
        [*NVTUI, "send", "sim0", "aer", "--timeout", "30", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert waiting.stderr is not None
        assert "waits for the controller to report an event" in waiting.stderr.readline()
        time.sleep(0.3)  # the notice comes before the request is sent: let it reach the controller
        formatted = subprocess.run(
            [*NVTUI, "send", "sim0n1", "format-nvm", "--allow-destructive"],
            capture_output=True, text=True, env=env, timeout=30,
        )  # fmt: skip
        assert formatted.returncode == 0, formatted.stderr
        out, err = waiting.communicate(timeout=10)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait()
    assert waiting.returncode == 0, err
    assert '"name": "Successful Completion"' in out


def test_a_replay_times_out_a_step_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "aer.yaml"
    steps = [ScriptStep("identify", {"cns": 1}), ScriptStep("asynchronous-event-request")]
    CommandScript(device="sim0", steps=steps).save(path)
    code, out, err = run(capsys, "run", str(path), "--timeout", "1")
    assert code == 3
    assert out.splitlines()[0].startswith("[1/2] identify: Successful Completion")
    assert "[2/2] asynchronous-event-request: device error: asynchronous-event-request on sim0: no " in out
    assert len(err.strip().splitlines()) == 1 and "timed out" in err


def test_an_nvme_cli_line_s_own_timeout_is_the_one_waited_for(capsys: pytest.CaptureFixture[str]) -> None:
    """`--timeout=1500` in an nvme-cli line (milliseconds, nvme-cli's unit) ends the wait, not the default."""
    start = time.monotonic()
    line = "nvme admin-passthru /dev/nvme0 --opcode=0x0c --timeout=1500"
    code, _, err = run(capsys, "send", "sim0", "--nvme-cli", line)
    assert code == 3 and time.monotonic() - start < 5
    assert err.strip() == (
        "nvtui: admin-passthru on sim0: no completion within 2 s: timed out (nvtui stopped waiting)"
    )


def test_the_catalogue_list_says_each_command_s_timeout(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    code, out, _ = run(capsys, "catalogue", "list", "--json")
    by_id = {e["id"]: e for e in json.loads(out)["commands"]}
    assert code == 0
    assert by_id["asynchronous-event-request"]["timeout"] == 10
    assert by_id["asynchronous-event-request"]["waits_for_event"] is True
    assert by_id["identify"]["timeout"] == DEFAULT_TIMEOUT_S and by_id["identify"]["waits_for_event"] is False


class _CancellingKernel:
    """A backend whose kernel cancels every command after its timeout (the nvme driver's EINTR)."""

    async def submit(self, command: object) -> NoReturn:
        raise kernel_cancelled("admin opcode 0x0c", "/dev/nvme0")


def test_the_kernel_cancelling_a_command_after_its_timeout_is_reported_as_that_timeout() -> None:
    # On the real driver the kernel's own timer (timeout_ms, the same seconds) may end the command before
    # nvtui's wait does: the EINTR it returns is the timeout, said as one, not an unexplained errno.
    async def go() -> str:
        session = Session(load_catalogue())
        try:
            aer = await session.prepare("sim0", "aer", timeout=2)
            with pytest.raises(CommandTimeout) as caught:
                await submit_within(cast(Backend, _CancellingKernel()), aer)
            return str(caught.value)
        finally:
            await session.close()

    message = asyncio.run(go())
    assert message == (
        "asynchronous-event-request on sim0: no completion within 2 s: timed out (the kernel's timeout "
        "cancelled it)"
    )
