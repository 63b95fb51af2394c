"""`nvtui run` streams: each step is printed (or written into the JSON document) as it completes, nothing
is kept once shown, the script's steps are read item by item and kept once per distinct step, and
`Session.history` is bounded for headless use. Memory itself is measured by benchmarks/replay_rss.py; here
the properties that make it flat are checked one by one."""

from __future__ import annotations

import gc
import io
import json
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
from fuzz.recording import Recorder, install_recorder, run_cli

from nvtui.catalogue import load_catalogue
from nvtui.scripts import CACHE_MAX_BYTES, CommandScript, ScriptStep, StepList, replay, script_from_history
from nvtui.session import SendResult, Session, send_once

CATALOGUE = load_catalogue(user_dir=False)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with pytest.MonkeyPatch.context() as mp:
        yield install_recorder(mp)


def keep_alive_script(path: Path, steps: int, *, device: str = "sim0") -> Path:
    path.write_text(f"nvtui-script: 1\ndevice: {device}\nsteps:\n" + "  - command: keep-alive\n" * steps)
    return path


class Watched:
    """Session.send wrapped: each result watched through a weak reference, and the CLI's stdout as it was
    when each step was sent (to see that earlier steps were already printed)."""

    def __init__(self, mp: pytest.MonkeyPatch, stdout: io.StringIO) -> None:
        self.results: list[weakref.ref[SendResult]] = []
        self.printed_before: list[int] = []
        self.alive_before: list[int] = []  # earlier results still referenced when each step is sent
        real_send = Session.send

        async def send(session: Session, prepared: object, **kw: object) -> SendResult:
            self.printed_before.append(stdout.getvalue().count("\n"))
            self.alive_before.append(self.alive())
            result = await real_send(session, prepared, **kw)  # type: ignore[arg-type]
            self.results.append(weakref.ref(result))
            return result

        mp.setattr(Session, "send", send)

    def alive(self) -> int:
        gc.collect()
        return sum(ref() is not None for ref in self.results)


def run_captured(argv: list[str], mp: pytest.MonkeyPatch) -> tuple[int, str, Watched]:
    from contextlib import redirect_stderr, redirect_stdout

    from nvtui.cli import main

    out, err = io.StringIO(), io.StringIO()
    watched = Watched(mp, out)
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue(), watched


@pytest.mark.parametrize("json_output", [False, True])
def test_each_step_is_out_before_the_next_is_sent_and_none_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, json_output: bool
) -> None:
    script = keep_alive_script(tmp_path / "ka.yaml", 50)
    code, out, watched = run_captured(["run", str(script), *(["--json"] if json_output else [])], monkeypatch)
    assert code == 0
    # Step k was sent once the k-1 steps before it were out (one line each; JSON: a line break before each).
    assert watched.printed_before == list(range(50))
    # No result outlives its step while the replay runs: not in the session's history, not in the replay.
    assert max(watched.alive_before) <= 1, watched.alive_before
    if json_output:
        doc = json.loads(out)  # still one valid JSON document
        assert (doc["matched"], doc["total"], len(doc["steps"])) == (50, 50, 50)
        assert doc["steps"][49] == {**doc["steps"][49], "step": 50, "command": "keep-alive", "matches": True}
    else:
        assert out.splitlines()[-1] == "50/50 steps matched their recorded status"


def test_a_device_error_and_an_interrupt_still_close_the_json_document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nvtui.backend.sim.backend import SimBackend
    from nvtui.errors import DeviceError

    script = keep_alive_script(tmp_path / "ka.yaml", 10)
    real_submit = SimBackend.submit
    calls = {"n": 0}

    async def fail_at_four(self: SimBackend, cmd: object) -> object:
        calls["n"] += getattr(cmd, "opcode", None) == 0x18  # the steps' Keep Alives, not session queries
        if calls["n"] == 4:
            raise DeviceError("the controller went away")
        return await real_submit(self, cmd)  # type: ignore[arg-type]

    monkeypatch.setattr(SimBackend, "submit", fail_at_four)
    done = run_cli(["run", str(script), "--json"])
    assert done.code == 3 and "went away" in done.err
    doc = json.loads(done.out)
    assert [s["error"] for s in doc["steps"]] == [None, None, None, "the controller went away"]
    assert (doc["matched"], doc["total"]) == (3, 10)

    async def interrupt_at_four(self: SimBackend, cmd: object) -> object:
        calls["n"] += getattr(cmd, "opcode", None) == 0x18
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return await real_submit(self, cmd)  # type: ignore[arg-type]

    calls["n"] = 0
    monkeypatch.setattr(SimBackend, "submit", interrupt_at_four)
    done = run_cli(["run", str(script), "--json"])
    assert done.code == 130
    doc = json.loads(done.out)
    assert len(doc["steps"]) == 3 and doc["interrupted_after"] == 3


def test_a_long_script_is_kept_once_per_distinct_step(tmp_path: Path) -> None:
    path = tmp_path / "long.yaml"
    cycle = "  - command: keep-alive\n  - command: identify\n    fields: {cns: 1}\n"
    path.write_text("nvtui-script: 1\ndevice: sim0\nsteps:\n" + cycle * 30_000)
    assert path.stat().st_size > CACHE_MAX_BYTES  # read as it is parsed, never whole
    script = CommandScript.load(path)
    steps = script.steps
    assert isinstance(steps, StepList) and len(steps) == 60_000 and len(steps.distinct) == 2
    assert steps[59_999].command == "identify" and steps[59_999].fields == {"cns": 1}
    assert steps[0] is steps[2]  # the same object, not a copy per step
    assert [steps.line(i) for i in (0, 1, 2, 59_999)] == [4, 5, 7, 4 + 3 * 29_999 + 1]
    assert script.step_where(59_999) == f"{path}:{4 + 3 * 29_999 + 1}: step 60000 (identify)"


def test_an_error_deep_in_a_long_script_names_its_line(tmp_path: Path) -> None:
    path = keep_alive_script(tmp_path / "bad.yaml", 60_000)
    lines = path.read_text().splitlines(keepends=True)
    lines[3 + 50_000] = "  - command: keep-alive\n    feilds: {}\n"  # step 50,001, line 50,004
    path.write_text("".join(lines))
    done = run_cli(["run", str(path)])
    assert done.code == 2 and done.err.strip() == (
        f"nvtui: {path}:50005: field steps[50000].feilds: Extra inputs are not permitted"
    ), done.err
    lines[3 + 50_000] = "  - command: identify\n    fields: {cns: 9999}\n"
    path.write_text("".join(lines))
    done = run_cli(["run", str(path)])
    assert done.code == 2 and f"{path}:50004: step 50001 (identify): field cns" in done.err, done.err


@pytest.mark.parametrize(
    ("body", "commands"),
    [
        (
            "steps: [{command: keep-alive}, {command: identify, fields: {cns: 1}}]\n",
            ["keep-alive", "identify"],
        ),
        (
            "steps:\n  - &ka {command: keep-alive}\n  - *ka\n  - {command: identify, fields: &f {cns: 1}}\n"
            "  - {command: identify, fields: *f}\n",
            ["keep-alive", "keep-alive", "identify", "identify"],
        ),
        ("steps:\n  - command: keep-alive\ndevice: sim0\n", ["keep-alive"]),  # the header after the steps
    ],
)
def test_flow_style_aliases_and_any_key_order_read_as_before(
    tmp_path: Path, body: str, commands: list[str]
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("nvtui-script: 1\n" + ("device: sim0\n" if "device:" not in body else "") + body)
    script = CommandScript.load(path)
    assert [s.command for s in script.steps] == commands and script.device == "sim0"


def test_the_version_is_checked_even_when_it_comes_after_a_bad_step(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("steps:\n  - command: identify\n    oops: 1\nnvtui-script: 3\n")
    done = run_cli(["run", str(path), "--device", "sim0"])
    assert done.code == 2 and f"{path}:4: field nvtui-script" in done.err


def test_steps_after_a_format_are_prepared_for_the_new_format(tmp_path: Path, recorder: Recorder) -> None:
    """Two identical reads after Format NVM to 4 KiB blocks both move 4096 bytes (a replay used to prepare
    the second with the 512-byte format it validated under)."""
    path = tmp_path / "fmt.yaml"
    path.write_text(
        "nvtui-script: 1\ndevice: sim0n1\nsteps:\n"
        "  - {command: format-nvm, fields: {lbaf: 1}}\n"
        "  - {command: read, fields: {slba: 0, nlb: 1}}\n"
        "  - {command: read, fields: {slba: 0, nlb: 1}}\n"
        "  - {command: format-nvm, fields: {lbaf: 0}}\n"
        "  - {command: read, fields: {slba: 0, nlb: 1}}\n"
    )
    mark = recorder.mark()
    assert run_cli(["run", str(path), "--allow-destructive"]).code == 0
    reads = [c.data_len for c in recorder.since(mark) if not c.admin]
    assert reads == [4096, 4096, 512]


def test_destructive_steps_are_listed_within_bounds(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text(
        "nvtui-script: 1\ndevice: sim0n1\nsteps:\n" + "  - {command: write-zeroes, fields: {slba: 0}}\n" * 500
    )
    done = run_cli(["run", str(path)])
    assert done.code == 2 and "1 (write-zeroes), 2 (write-zeroes)" in done.err and "and 490 more" in done.err
    assert len(done.err) < 400


async def test_session_history_is_bounded_for_headless_use() -> None:
    session = Session(CATALOGUE, history_limit=3)
    unbounded = Session(CATALOGUE)
    silent = Session(CATALOGUE, history_limit=0)
    try:
        for _ in range(20):
            last = await send_once(session, "sim0", "keep-alive", [])
            await send_once(unbounded, "sim0", "keep-alive", [])
            await send_once(silent, "sim0", "keep-alive", [])
        assert 3 <= len(session.history) <= 6 and session.history[-1] is last
        assert len(unbounded.history) == 20  # the TUI's history: everything, in order
        assert silent.history == []
    finally:
        for s in (session, unbounded, silent):
            await s.close()


async def test_a_step_carries_its_metadata_and_no_data_like_its_data(tmp_path: Path) -> None:
    session = Session(CATALOGUE)
    try:
        assert (
            await send_once(session, "sim0", "format-nvm", ["nsid=1", "lbaf=2"], allow_destructive=True)
        ).ok
        before = len(session.history)
        meta = bytes(range(8))
        await send_once(
            session, "sim0n1", "write", ["slba=3"], data=bytes(512), metadata=meta, allow_destructive=True
        )
        prepared = await session.prepare("sim0", "admin-passthru", ["opcode=0x0a", "cdw10=1"], no_data=True)
        await session.send(prepared)
        script = script_from_history(session.history[before:], pin_device="sim0n1")
        path = tmp_path / "meta.yaml"
        script.save(path)
        text = path.read_text()
        assert "metadata: AAECAwQFBgc=" in text and "no_data: true" in text
        loaded = CommandScript.load(path)
        assert loaded.steps[0].metadata_bytes() == meta and loaded.steps[1].no_data
        # Replayed, the write carries the same metadata, and the raw Get Features no buffer.
        await send_once(
            session, "sim0n1", "write", ["slba=3"], data=bytes(512), metadata=bytes(8), allow_destructive=True
        )
        outcomes = await replay(session, loaded, "sim0n1", allow_destructive=True)
        assert all(o.matches for o in outcomes) and outcomes[0].result is not None
        assert outcomes[0].result.prepared.command.metadata == meta
        assert outcomes[1].result is not None and outcomes[1].result.prepared.command.data_len == 0
        read = await send_once(session, "sim0n1", "read", ["slba=3"])
        assert read.completion.metadata == meta
        # Without its metadata, the step is refused before anything is sent.
        bare = CommandScript(
            device="sim0n1", steps=[ScriptStep("write", {"slba": 3}, data=script.steps[0].data)]
        )
        with pytest.raises(Exception, match="metadata"):
            await replay(session, bare, allow_destructive=True)
    finally:
        await send_once(session, "sim0", "format-nvm", ["nsid=1", "lbaf=0"], allow_destructive=True)
        await session.close()


def test_replaying_a_cached_script_still_works_from_the_cache(tmp_path: Path) -> None:
    script = keep_alive_script(tmp_path / "small.yaml", 5)
    assert run_cli(["run", str(script)]).code == 0
    loaded = CommandScript.load(script)  # from the disk cache now: a StepList survives the round trip
    assert isinstance(loaded.steps, StepList) and len(loaded.steps) == 5 and loaded.step_list.line(4) == 8
