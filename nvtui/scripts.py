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
    metadata: <base64>    # the blocks' metadata, on a namespace that keeps it in a separate buffer
  - command: admin-passthru
    fields: {opcode: 0xc1}
    no_data: true         # a raw command whose opcode says it moves data, asserted to move none
```

A script is read item by item and its steps kept compactly (`StepList`: each distinct step once), and a
replay hands each step's outcome to its caller as it completes (`replay_stream`) without keeping it, so a
replay's memory does not grow with the script's length.
"""

from __future__ import annotations

import base64
from array import array
from bisect import bisect_right
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TextIO, overload

from nvtui.errors import DeviceError, UsageError
from nvtui.session import Prepared, SendResult, Session
from nvtui.yamlio import Lines  # at run time: the disk cache reads a script back by its type hints

if TYPE_CHECKING:
    from nvtui import scripts_schema
    from nvtui.yamlio import StreamedItem

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
    metadata: str | None = None  # base64 of the metadata sent with the data
    no_data: bool = False  # a raw command asserted to move no data

    def assignments(self) -> list[str]:
        return [f"{name}={value}" for name, value in self.fields.items()]

    def data_bytes(self) -> bytes | None:
        return base64.b64decode(self.data) if self.data is not None else None

    def metadata_bytes(self) -> bytes | None:
        return base64.b64decode(self.metadata) if self.metadata is not None else None

    def key(self) -> tuple[object, ...]:
        """Equal for steps that say the same (a script's repeated steps are kept once)."""
        expect = (self.expect.sct, self.expect.sc, self.expect.name) if self.expect else None
        fields = tuple(self.fields.items())
        data = (self.data_len, self.data, self.metadata, self.no_data)
        return (self.command, fields, data, expect, self.note)

    def to_dict(self) -> dict[str, object]:
        """The step as saved: the command, and each other key that is not at its default."""
        out: dict[str, object] = {"command": self.command}
        if self.fields:
            out["fields"] = dict(self.fields)
        if self.data_len is not None:
            out["data_len"] = self.data_len
        if self.data is not None:
            out["data"] = self.data
        if self.metadata is not None:
            out["metadata"] = self.metadata
        if self.no_data:
            out["no_data"] = True
        if self.expect is not None:
            expect: dict[str, object] = {"sct": self.expect.sct, "sc": self.expect.sc}
            if self.expect.name:
                expect["name"] = self.expect.name
            out["expect"] = expect
        if self.note is not None:
            out["note"] = self.note
        return out


class StepList(Sequence[ScriptStep]):
    """A script's steps, compact however long the script: each distinct step once (`distinct`), the order as
    an array of indices into them (4 bytes a step), each step's line in the file as runs of equal spacing.
    Repeated steps are the same object: steps are read, not changed in place."""

    def __init__(self, steps: Iterable[ScriptStep] = ()) -> None:
        self.distinct: list[ScriptStep] = []
        self.order = array("I")
        self._run_start = array("Q")  # step index where each run of evenly spaced lines begins
        self._run_line = array("Q")  # that step's line
        self._run_step = array("q")  # lines from one step of the run to the next
        seen: dict[tuple[object, ...], int] = {}
        for step in steps:
            key = step.key()
            if key not in seen:
                seen[key] = self.add_distinct(step)
            self.add(seen[key])

    def add_distinct(self, step: ScriptStep) -> int:
        """Keep `step` as a distinct step; its index for `add`."""
        self.distinct.append(step)
        return len(self.distinct) - 1

    def add(self, distinct: int, line: int = 0) -> None:
        """Append a step: the distinct step `distinct`, found at `line` of its file (0: not from a file)."""
        i = len(self.order)
        self.order.append(distinct)
        if self._run_start:
            start, first, step = self._run_start[-1], self._run_line[-1], self._run_step[-1]
            if i - start == 1 and step == 0:
                self._run_step[-1] = line - first
                return
            if line == first + (i - start) * step:
                return
        self._run_start.append(i)
        self._run_line.append(line)
        self._run_step.append(0)

    def line(self, index: int) -> int:
        run = bisect_right(self._run_start, index) - 1
        return self._run_line[run] + (index - self._run_start[run]) * self._run_step[run]

    def __len__(self) -> int:
        return len(self.order)

    @overload
    def __getitem__(self, index: int) -> ScriptStep: ...

    @overload
    def __getitem__(self, index: slice) -> list[ScriptStep]: ...

    def __getitem__(self, index: int | slice) -> ScriptStep | list[ScriptStep]:
        if isinstance(index, slice):
            return [self.distinct[i] for i in self.order[index]]
        return self.distinct[self.order[index]]

    def __iter__(self) -> Iterator[ScriptStep]:
        distinct = self.distinct
        return (distinct[i] for i in self.order)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"StepList({len(self)} steps, {len(self.distinct)} distinct)"

    def state(self) -> StepListState:
        """What the disk cache keeps of the list (`nvtui.jsondata` writes it as data)."""
        runs = tuple(zip(self._run_start, self._run_line, self._run_step, strict=True))
        return StepListState(tuple(self.distinct), tuple(self.order), runs)

    @classmethod
    def from_state(cls, state: StepListState) -> StepList:
        steps = cls()
        steps.distinct = list(state.distinct)
        steps.order = array("I", state.order)
        for start, line, step in state.runs:
            steps._run_start.append(start)
            steps._run_line.append(line)
            steps._run_step.append(step)
        return steps


@dataclass(frozen=True)
class StepListState:
    """A StepList as data: its distinct steps, their order, and the runs of evenly spaced lines (first step,
    its line, lines from one step to the next)."""

    distinct: tuple[ScriptStep, ...]
    order: tuple[int, ...]
    runs: tuple[tuple[int, int, int], ...]


@dataclass
class CommandScript:
    version: Literal[1] = SCRIPT_VERSION
    device: str | None = None
    created: str | None = None
    steps: Sequence[ScriptStep] = field(default_factory=StepList)
    _lines: Lines = field(default_factory=dict, repr=False, compare=False)
    _source: str = field(default="<script>", repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.steps, StepList):
            self.steps = StepList(self.steps)

    @property
    def step_list(self) -> StepList:
        assert isinstance(self.steps, StepList)
        return self.steps

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

    def with_steps(self, steps: Sequence[ScriptStep], first: int = 0) -> CommandScript:
        """The same script (device, source and lines for messages) with other steps: those from step
        `first` on (`first`: where they sit in this script, so messages name their lines)."""
        part = CommandScript(self.version, self.device, self.created, [], self._lines, self._source)
        for i, step in enumerate(steps):
            where = first + i
            part.step_list.add(part.step_list.add_distinct(step),
                               self.step_list.line(where) if where < len(self.steps) else 0)  # fmt: skip
        return part

    @classmethod
    def load(cls, path: Path) -> CommandScript:
        """Read and validate a script file; a file validated before comes from the disk cache. A file too big
        for the cache is read as it is parsed, never whole."""
        from nvtui import diskcache

        source = str(path)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None
        if size > CACHE_MAX_BYTES:
            return cls._load_streaming(path, source)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None
        key = None
        if len(raw) <= CACHE_MAX_BYTES:
            from nvtui.jsondata import register_adapter

            register_adapter(StepList, StepListState, StepList.state, StepList.from_state)  # kept as data
            modules = (Path(__file__).parent / m for m in _VALIDATING_MODULES)
            code = diskcache.code_stamp(modules, _VALIDATING_PACKAGES)
            key = diskcache.make_key("script", raw, source, code)
            cached = diskcache.load("script", key, CommandScript)
            if cached is not None:
                return cached
        from nvtui.yamlio import decode_text

        script = cls.parse(decode_text(raw, path), source)
        if key is not None:
            diskcache.store("script", key, script)
        return script

    @classmethod
    def _load_streaming(cls, path: Path, source: str) -> CommandScript:
        try:
            with open(path, encoding="utf-8", newline=None) as f:  # universal newlines, as decode_text
                return cls.parse(f, source)
        except UnicodeDecodeError:
            raise UsageError(f"{path}:1: not a UTF-8 text file") from None
        except OSError as exc:
            raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None

    @classmethod
    def parse(cls, text: str | TextIO, source: str) -> CommandScript:
        """Validate a script's text (or text file, read as it is parsed): its steps one by one as they are
        read, each distinct step once; then the rest of the document. UsageError `FILE:LINE: ...`."""
        from pydantic import ValidationError

        from nvtui import scripts_schema
        from nvtui.yamlio import SequenceStream, dotted, line_of

        stream = SequenceStream(text, source, "steps")
        steps = StepList()
        known: dict[tuple[object, ...], int] = {}  # an item's key -> its distinct step
        first_error: UsageError | None = None
        for item in stream.items():
            if first_error is not None:
                continue  # read to the end: the version, if wrong, is the error to report
            line = item.lines.get((), 1)
            index = known.get(item.key) if item.key is not None else None
            if index is None:
                try:
                    step = _validated_step(item, source, scripts_schema.ScriptStep, ValidationError)
                except UsageError as exc:
                    first_error = exc
                    continue
                index = steps.add_distinct(step)
                if item.key is not None:
                    known[item.key] = index
            steps.add(index, line)
        doc = stream.header
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
            model = scripts_schema.CommandScript.model_validate(data)  # `steps` is empty when streamed
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = tuple(err["loc"])
            raise UsageError(f"{source}:{line_of(lines, loc)}: field {dotted(loc)}: {err['msg']}") from None
        if first_error is not None:
            raise first_error
        if model.steps:  # `steps` was not a sequence of items to stream (a flow mapping's value, say)
            for i, s in enumerate(model.steps):
                steps.add(steps.add_distinct(_step_from_model(s)), line_of(lines, ("steps", i)))
        script = cls(version=model.version, device=model.device, created=model.created, steps=steps)
        script._lines = lines
        script._source = source
        return script

    def step_where(self, index: int) -> str:
        """`FILE:LINE: step N (command)` for messages about one step."""
        line = self.step_list.line(index)
        return f"{self._source}:{line}: step {index + 1} ({self.steps[index].command})"


def _validated_step(
    item: StreamedItem, source: str, model: type[scripts_schema.ScriptStep], invalid: type[Exception]
) -> ScriptStep:
    from nvtui.yamlio import dotted, line_of

    where = ("steps", item.index)
    for path, line, key in item.duplicates:
        raise UsageError(f"{source}:{line}: field {dotted((*where, *path))}: key {key!r} given twice")
    try:
        validated = model.model_validate(item.data)
    except invalid as exc:
        err = exc.errors()[0]  # type: ignore[attr-defined]
        loc = tuple(err["loc"])
        line = line_of(item.lines, loc)
        raise UsageError(f"{source}:{line}: field {dotted((*where, *loc))}: {err['msg']}") from None
    return _step_from_model(validated)


def _step_from_model(s: scripts_schema.ScriptStep) -> ScriptStep:
    return ScriptStep(
        command=s.command,
        fields=dict(s.fields),
        data_len=s.data_len,
        data=s.data,
        expect=ExpectedStatus(s.expect.sct, s.expect.sc, s.expect.name) if s.expect else None,
        note=s.note,
        metadata=s.metadata,
        no_data=s.no_data,
    )


def _length_is_given(p: Prepared) -> bool:
    """Whether the data length must be saved: the fields do not tie it (device-independent otherwise)."""
    return p.defn.expected_length(p.values).kind in ("user", "optional") and p.command.data_len > 0


def script_from_history(results: Sequence[SendResult], pin_device: str | None = None) -> CommandScript:
    """A script replaying `results` in order, each with its recorded status."""
    steps = []
    for r in results:
        p, status = r.prepared, r.completion.status
        sent = p.command.data if p.command.data is not None and p.command.direction.value & 1 else None
        metadata = p.command.metadata if p.command.direction.value & 1 else None
        steps.append(
            ScriptStep(
                command=p.defn.id,
                fields=dict(p.values),
                data_len=p.command.data_len if _length_is_given(p) else None,
                data=base64.b64encode(sent).decode() if sent else None,
                expect=ExpectedStatus(sct=status.sct, sc=status.sc, name=status.name),
                metadata=base64.b64encode(metadata).decode() if metadata is not None else None,
                no_data=p.no_data,
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


class PreparedSteps:
    """Every step of a script validated (`prepare_steps`), each distinct step prepared once."""

    def __init__(self, session: Session, script: CommandScript, device: str) -> None:
        self.session = session
        self.script = script
        self.device = device
        self._prepared: dict[int, Prepared] = {}  # distinct step -> its prepared command

    async def check_all(self) -> None:
        """Prepare every distinct step (UsageError naming the first step that is wrong, nothing sent)."""
        order = self.script.step_list.order
        seen: set[int] = set()
        for i, distinct in enumerate(order):
            if distinct not in seen:
                seen.add(distinct)
                await self.get(i)

    async def get(self, index: int) -> Prepared:
        steps = self.script.step_list
        distinct = steps.order[index]
        prepared = self._prepared.get(distinct)
        if prepared is None:
            step = steps.distinct[distinct]
            try:
                prepared = await self.session.prepare(
                    self.device, step.command, step.assignments(), data_len=step.data_len,
                    data=step.data_bytes(), metadata=step.metadata_bytes(), no_data=step.no_data,
                    allow_destructive=True,
                )  # fmt: skip
            except UsageError as exc:
                raise UsageError(f"{self.script.step_where(index)}: {exc}") from None
            self._prepared[distinct] = prepared
        return prepared

    def forget(self) -> None:
        """Prepare every step again when next asked (the namespace's format changed under them)."""
        self._prepared.clear()

    def destructive(self) -> list[tuple[int, str]]:
        """(step index, command id) of every destructive step (after `check_all`)."""
        risky = {d: p.defn.id for d, p in self._prepared.items() if p.destructive}
        if not risky:
            return []
        return [(i, risky[d]) for i, d in enumerate(self.script.step_list.order) if d in risky]


async def prepare_steps(session: Session, script: CommandScript, device: str) -> PreparedSteps:
    """Validate every step before anything is sent; destructiveness is judged, not yet enforced."""
    prepared = PreparedSteps(session, script, device)
    await prepared.check_all()
    return prepared


async def destructive_steps(session: Session, script: CommandScript, device: str) -> list[tuple[int, str]]:
    """(step index, command id) of every destructive step, for the one up-front confirmation."""
    return (await prepare_steps(session, script, device)).destructive()


def replay_device(script: CommandScript, device: str | None) -> str:
    chosen = device or script.device
    if not chosen:
        raise UsageError("the script is not pinned to a device: name one with --device")
    return chosen


def list_steps(steps: Sequence[tuple[int, str]], shown: int = 10) -> str:
    """`3 (write), 5 (write), ... and 998 more`: steps named in a message, a bounded number of them."""
    listed = ", ".join(f"{i + 1} ({cmd})" for i, cmd in steps[:shown])
    return listed + (f" and {len(steps) - shown:,} more" if len(steps) > shown else "")


async def replay_stream(
    session: Session,
    script: CommandScript,
    device: str | None = None,
    *,
    allow_destructive: bool = False,
    decode: bool = True,
) -> AsyncIterator[StepOutcome]:
    """Send every step in order, yielding each outcome as it completes (nothing is kept here: a caller
    that keeps nothing either replays any length in flat memory). All steps are validated first, and a
    script with destructive steps is refused as a whole unless allowed: nothing is sent then. A device
    error ends the replay (its outcome is the last). `decode=False` leaves the data undecoded."""
    target = replay_device(script, device)
    prepared = await prepare_steps(session, script, target)
    risky = prepared.destructive()
    if risky and not allow_destructive:
        raise UsageError(
            f"the script has destructive steps: {list_steps(risky)}; pass --allow-destructive to run it"
        )
    steps = script.step_list
    for i in range(len(steps)):
        step = steps[i]
        try:
            command = await prepared.get(i)
            result = await session.send(command, decode=decode)
        except DeviceError as exc:
            yield StepOutcome(i, step, None, str(exc))
            return
        if command.defn.id == "format-nvm" and result.ok:
            prepared.forget()  # the LBA format may have changed: lengths and metadata with it
        yield StepOutcome(i, step, result)


async def replay(
    session: Session,
    script: CommandScript,
    device: str | None = None,
    *,
    allow_destructive: bool = False,
    on_step: Callable[[StepOutcome], None] | None = None,
    decode: bool = True,
) -> list[StepOutcome]:
    """`replay_stream`, every outcome kept and returned (the TUI shows them all); `on_step` sees each as it
    completes."""
    outcomes = []
    stream = replay_stream(session, script, device, allow_destructive=allow_destructive, decode=decode)
    async for outcome in stream:
        outcomes.append(outcome)
        if on_step:
            on_step(outcome)
    return outcomes
