"""Command scripts: what the user sent, saved as schema-versioned YAML and replayed in the TUI or headless.

```yaml
nvtui-script: 1
device: sim0n1            # optional: pinned; otherwise the replay names the device
steps:
  - command: identify
    fields: {cns: 1}
    expect: {sct: 0, sc: 0, name: Successful Completion}
  - command: write
    fields: {slba: 0, nlb: 0}
    data: <base64>        # data sent to the controller, kept whole so a replay loses nothing
```
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from nvtui.errors import DeviceError, UsageError
from nvtui.session import Prepared, SendResult, Session
from nvtui.yamlio import Lines  # at run time: the disk cache reads a script back by its type hints

if TYPE_CHECKING:
    from nvtui import scripts_schema
    from nvtui.yamlio import YamlDoc

SCRIPT_VERSION: Literal[1] = 1
CACHE_MAX_BYTES = 1 << 20  # bigger scripts (written data kept whole) are validated every time
# The modules whose code decides what a file validates to (the disk cache's key includes their stamps).
_VALIDATING_MODULES = ("scripts.py", "scripts_schema.py", "yamlio.py", "numbers.py", "errors.py")
_VALIDATING_PACKAGES = ("pydantic", "pydantic_core", "yaml")

# A script file is validated by the pydantic schema in `nvtui.scripts_schema`; what it holds is kept in the
# plain classes below, which replay, the TUI and the disk cache use without importing pydantic.


@dataclass
class ExpectedStatus:
    sct: int
    sc: int
    name: str = ""

    def to_json(self) -> dict[str, object]:
        return {"sct": self.sct, "sc": self.sc, "name": self.name}


@dataclass
class ScriptStep:
    command: str
    fields: dict[str, int | str] = field(default_factory=dict)
    data_len: int | None = None
    data: str | None = None  # base64 of the data sent to the controller
    expect: ExpectedStatus | None = None
    note: str | None = None

    def assignments(self) -> list[str]:
        return [f"{name}={value}" for name, value in self.fields.items()]

    def data_bytes(self) -> bytes | None:
        return base64.b64decode(self.data) if self.data is not None else None

    def to_dict(self) -> dict[str, object]:
        """The step as saved: the command, and each other key that is not at its default."""
        out: dict[str, object] = {"command": self.command}
        if self.fields:
            out["fields"] = dict(self.fields)
        if self.data_len is not None:
            out["data_len"] = self.data_len
        if self.data is not None:
            out["data"] = self.data
        if self.expect is not None:
            expect: dict[str, object] = {"sct": self.expect.sct, "sc": self.expect.sc}
            if self.expect.name:
                expect["name"] = self.expect.name
            out["expect"] = expect
        if self.note is not None:
            out["note"] = self.note
        return out


@dataclass
class CommandScript:
    version: Literal[1] = SCRIPT_VERSION
    device: str | None = None
    created: str | None = None
    steps: list[ScriptStep] = field(default_factory=list)
    _lines: Lines = field(default_factory=dict, repr=False, compare=False)
    _source: str = field(default="<script>", repr=False, compare=False)

    def to_yaml(self) -> str:
        from nvtui.yamlio import dump_yaml

        body: dict[str, object] = {"nvtui-script": self.version}
        if self.device is not None:
            body["device"] = self.device
        if self.created is not None:
            body["created"] = self.created
        body["steps"] = [s.to_dict() for s in self.steps]
        return dump_yaml(body)  # read back as written: `'010'` stays a word, 10 a number

    def save(self, path: Path) -> None:
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            tmp.write_text(self.to_yaml(), encoding="utf-8")
            tmp.replace(path)
        except OSError as exc:
            raise UsageError(f"cannot save script {path}: {exc.strerror or exc}") from None

    def with_steps(self, steps: list[ScriptStep]) -> CommandScript:
        """The same script (device, source and lines for messages) with other steps."""
        return CommandScript(self.version, self.device, self.created, steps, self._lines, self._source)

    @classmethod
    def load(cls, path: Path) -> CommandScript:
        """Read and validate a script file; a file validated before comes from the disk cache."""
        from nvtui import diskcache

        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None
        source = str(path)
        key = None
        if len(raw) <= CACHE_MAX_BYTES:
            modules = (Path(__file__).parent / m for m in _VALIDATING_MODULES)
            code = diskcache.code_stamp(modules, _VALIDATING_PACKAGES)
            key = diskcache.make_key("script", raw, source, code)
            cached = diskcache.load("script", key, CommandScript)
            if cached is not None:
                return cached
        from nvtui.yamlio import decode_text, parse_yaml

        script = cls.parse(parse_yaml(decode_text(raw, path), source), source)
        if key is not None:
            diskcache.store("script", key, script)
        return script

    @classmethod
    def parse(cls, doc: YamlDoc, source: str) -> CommandScript:
        from pydantic import ValidationError

        from nvtui import scripts_schema
        from nvtui.yamlio import dotted, line_of

        data, lines = doc.data, doc.lines
        for where, line, key in doc.duplicates:
            raise UsageError(f"{source}:{line}: field {dotted(where)}: key {key!r} given twice")
        if not isinstance(data, dict):
            raise UsageError(f"{source}:1: a command script is a mapping with `nvtui-script: 1` and `steps`")
        version = data.get("nvtui-script")
        if type(version) is not int or version != SCRIPT_VERSION:  # True and 1.0 equal 1 but are not it
            line = line_of(lines, ("nvtui-script",))
            raise UsageError(
                f"{source}:{line}: field nvtui-script: this nvtui reads script version {SCRIPT_VERSION}, "
                f"not {data.get('nvtui-script')!r}"
            )
        try:
            model = scripts_schema.CommandScript.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = tuple(err["loc"])
            raise UsageError(f"{source}:{line_of(lines, loc)}: field {dotted(loc)}: {err['msg']}") from None
        script = cls._from_model(model)
        script._lines = lines
        script._source = source
        return script

    @classmethod
    def _from_model(cls, model: scripts_schema.CommandScript) -> CommandScript:
        steps = [
            ScriptStep(
                command=s.command,
                fields=dict(s.fields),
                data_len=s.data_len,
                data=s.data,
                expect=ExpectedStatus(s.expect.sct, s.expect.sc, s.expect.name) if s.expect else None,
                note=s.note,
            )
            for s in model.steps
        ]
        return cls(version=model.version, device=model.device, created=model.created, steps=steps)

    def step_where(self, index: int) -> str:
        """`FILE:LINE: step N (command)` for messages about one step."""
        from nvtui.yamlio import line_of

        line = line_of(self._lines, ("steps", index))
        return f"{self._source}:{line}: step {index + 1} ({self.steps[index].command})"


def _length_is_given(p: Prepared) -> bool:
    """Whether the data length must be saved: the fields do not tie it (device-independent otherwise)."""
    return p.defn.expected_length(p.values).kind in ("user", "optional") and p.command.data_len > 0


def script_from_history(results: Sequence[SendResult], pin_device: str | None = None) -> CommandScript:
    """A script replaying `results` in order, each with its recorded status."""
    steps = []
    for r in results:
        p, status = r.prepared, r.completion.status
        sent = p.command.data if p.command.data is not None and p.command.direction.value & 1 else None
        steps.append(
            ScriptStep(
                command=p.defn.id,
                fields=dict(p.values),
                data_len=p.command.data_len if _length_is_given(p) else None,
                data=base64.b64encode(sent).decode() if sent else None,
                expect=ExpectedStatus(sct=status.sct, sc=status.sc, name=status.name),
            )
        )
    from datetime import datetime, timezone

    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return CommandScript(device=pin_device, created=created, steps=steps)


@dataclass(frozen=True)
class StepOutcome:
    index: int
    step: ScriptStep
    result: SendResult | None
    error: str | None = None

    @property
    def matches(self) -> bool:
        """The status equals the recorded one (or, with none recorded, is success)."""
        if self.result is None:
            return False
        status = self.result.completion.status
        if self.step.expect is None:
            return status.ok
        return (status.sct, status.sc) == (self.step.expect.sct, self.step.expect.sc)

    def to_json(self) -> dict[str, object]:
        done = self.result.completion if self.result else None
        return {
            "step": self.index + 1,
            "command": self.step.command,
            "fields": dict(self.step.fields),
            "status": done.status.to_json() if done else None,
            "recorded": self.step.expect.to_json() if self.step.expect else None,
            "matches": self.matches,
            "latency_ns": done.latency_ns if done else None,
            "error": self.error,
        }


async def prepare_steps(session: Session, script: CommandScript, device: str) -> list[Prepared]:
    """Validate every step before anything is sent; destructiveness is judged, not yet enforced."""
    prepared = []
    seen: dict[tuple[object, ...], Prepared] = {}  # a step repeated verbatim validates to the same command
    for i, step in enumerate(script.steps):
        key = (step.command, tuple(step.fields.items()), step.data_len, step.data)
        try:
            if key not in seen:
                seen[key] = await session.prepare(
                    device,
                    step.command,
                    step.assignments(),
                    data_len=step.data_len,
                    data=step.data_bytes(),
                    allow_destructive=True,
                )
            prepared.append(seen[key])
        except UsageError as exc:
            raise UsageError(f"{script.step_where(i)}: {exc}") from None
    return prepared


async def destructive_steps(session: Session, script: CommandScript, device: str) -> list[tuple[int, str]]:
    """(step index, command id) of every destructive step, for the one up-front confirmation."""
    return [
        (i, p.defn.id) for i, p in enumerate(await prepare_steps(session, script, device)) if p.destructive
    ]


def replay_device(script: CommandScript, device: str | None) -> str:
    chosen = device or script.device
    if not chosen:
        raise UsageError("the script is not pinned to a device: name one with --device")
    return chosen


async def replay(
    session: Session,
    script: CommandScript,
    device: str | None = None,
    *,
    allow_destructive: bool = False,
    on_step: Callable[[StepOutcome], None] | None = None,
    decode: bool = True,
) -> list[StepOutcome]:
    """Send every step in order. All steps are validated first, and a script with destructive steps is
    refused as a whole unless allowed: nothing is sent then. A device error ends the replay.
    `decode=False` leaves the data undecoded (a headless replay that shows statuses only)."""
    target = replay_device(script, device)
    prepared = await prepare_steps(session, script, target)
    risky = [(i, p.defn.id) for i, p in enumerate(prepared) if p.destructive]
    if risky and not allow_destructive:
        listed = ", ".join(f"{i + 1} ({cmd})" for i, cmd in risky)
        raise UsageError(f"the script has destructive steps: {listed}; pass --allow-destructive to run it")
    outcomes = []
    for i, step in enumerate(script.steps):
        try:
            if i and prepared[i - 1].defn.id == "format-nvm":  # the LBA format may have changed
                prepared[i] = (await prepare_steps(session, script.with_steps([step]), target))[0]
            outcome = StepOutcome(i, step, await session.send(prepared[i], decode=decode))
        except DeviceError as exc:
            outcome = StepOutcome(i, step, None, str(exc))
            outcomes.append(outcome)
            if on_step:
                on_step(outcome)
            break
        outcomes.append(outcome)
        if on_step:
            on_step(outcome)
    return outcomes
