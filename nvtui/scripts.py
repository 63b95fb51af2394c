"""Command scripts: what the user sent, saved as schema-versioned YAML and replayed in the TUI or headless.

```yaml
nvtui-script: 2
device: sim0n1            # optional: where steps that name no device go
steps:
  - command: identify
    device: sim0n1        # the device the step went to (version 2; version-1 scripts still read)
    fields: {cns: 1}
    expect: {sct: 0, sc: 0, name: Successful Completion}
  - command: read
    device: sim0n2
    fields: {slba: 0, nlb: 0}
    digest: sha256:<hex>  # optional: the data read; a replay reading other data says "data differs"
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

A replay sends each step to the device it recorded, unless mapped (`DeviceMap`: `--device NEW` sends every
step to NEW, `--device OLD=NEW` one recorded device to another); a recorded device that is neither there nor
mapped stops the replay before anything is sent.
"""

from __future__ import annotations

import base64
import hashlib
from array import array
from bisect import bisect_right
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TextIO, overload

from nvtui.errors import DeviceError, NvtuiError, UsageError
from nvtui.session import Prepared, SendResult, Session
from nvtui.yamlio import Lines  # at run time: the disk cache reads a script back by its type hints

if TYPE_CHECKING:
    from nvtui import scripts_schema
    from nvtui.catalogue import Catalogue
    from nvtui.yamlio import StreamedItem

SCRIPT_VERSION: Literal[2] = 2  # 2: each step names its device, and may carry a digest of the data it read
READ_VERSIONS = (1, 2)
DIGEST_PREFIX = "sha256:"
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
    device: str | None = None  # the device it went to (None: the script's device, or the one named)
    digest: str | None = None  # `sha256:<hex>` of the data it read

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
        return (self.command, fields, data, expect, self.note, self.device, self.digest)

    def to_dict(self) -> dict[str, object]:
        """The step as saved: the command, and each other key that is not at its default."""
        out: dict[str, object] = {"command": self.command}
        if self.device is not None:
            out["device"] = self.device
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
        if self.digest is not None:
            out["digest"] = self.digest
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
    version: Literal[1, 2] = SCRIPT_VERSION
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

        body: dict[str, object] = {"nvtui-script": SCRIPT_VERSION}  # saved as this nvtui writes it
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
            raise UsageError(
                f"{source}:1: a command script is a mapping with `nvtui-script: {SCRIPT_VERSION}` and `steps`"
            )
        version = data.get("nvtui-script")
        if type(version) is not int or version not in READ_VERSIONS:  # True and 1.0 equal 1 but are not it
            line = line_of(lines, ("nvtui-script",))
            raise UsageError(
                f"{source}:{line}: field nvtui-script: this nvtui reads script versions "
                f"{' and '.join(map(str, READ_VERSIONS))}, not {data.get('nvtui-script')!r}"
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
        device=s.device,
        digest=s.digest,
    )


def data_digest(data: bytes) -> str:
    """How a step records the data it read (`sha256:<hex>`)."""
    return DIGEST_PREFIX + hashlib.sha256(data).hexdigest()


def _length_is_given(p: Prepared) -> bool:
    """Whether the data length must be saved: the fields do not tie it (device-independent otherwise)."""
    return p.defn.expected_length(p.values).kind in ("user", "optional") and p.command.data_len > 0


def script_from_history(results: Sequence[SendResult], pin_device: str | None = None) -> CommandScript:
    """A script replaying `results` in order, each with its device and recorded status; a read from a
    namespace (an I/O command's data) with the digest of what it read."""
    steps = []
    for r in results:
        p, status = r.prepared, r.completion.status
        read = r.completion.data if r.ok and p.defn.queue == "io" and p.reads_data else None
        sent = p.command.data if p.command.data is not None and p.command.direction.value & 1 else None
        if p.defn.buffer_given(p.values):
            sent = None  # built from the buffer fields the step records: a replay builds the same bytes
        metadata = p.command.metadata if p.command.direction.value & 1 else None
        steps.append(
            ScriptStep(
                command=p.defn.id,
                fields=p.defn.shown_values(p.values),  # a KV key as its text, read back as typed
                data_len=p.command.data_len if _length_is_given(p) else None,
                data=base64.b64encode(sent).decode() if sent else None,
                expect=ExpectedStatus(sct=status.sct, sc=status.sc, name=status.name),
                metadata=base64.b64encode(metadata).decode() if metadata is not None else None,
                no_data=p.no_data,
                device=p.device,
                digest=data_digest(read) if read is not None else None,
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
    def device(self) -> str | None:
        """The device the step was sent to (None: it was not sent)."""
        return self.result.prepared.device if self.result is not None else None

    @property
    def status_matches(self) -> bool:
        """The status equals the recorded one (or, with none recorded, is success)."""
        if self.result is None:
            return False
        status = self.result.completion.status
        if self.step.expect is None:
            return status.ok
        return (status.sct, status.sc) == (self.step.expect.sct, self.step.expect.sc)

    @property
    def data_differs(self) -> bool:
        """The step recorded a digest of the data it read, and the data read now is other data."""
        if self.step.digest is None or self.result is None or not self.result.ok:
            return False
        return data_digest(self.result.completion.data or b"") != self.step.digest

    @property
    def matches(self) -> bool:
        """The status equals the recorded one, and the data read (where a digest was recorded) too."""
        return self.status_matches and not self.data_differs

    def to_json(self) -> dict[str, object]:
        done = self.result.completion if self.result else None
        return {
            "step": self.index + 1,
            "command": self.step.command,
            "device": self.device,
            "fields": dict(self.step.fields),
            "status": done.status.to_json() if done else None,
            "recorded": self.step.expect.to_json() if self.step.expect else None,
            "matches": self.matches,
            "data_differs": self.data_differs,
            "latency_ns": done.latency_ns if done else None,
            "error": self.error,
        }


@dataclass(frozen=True)
class DeviceMap:
    """Where a replay sends each step: `default` takes every step (`--device NEW`), `pairs` one recorded
    device each (`--device OLD=NEW`, ahead of the default); a step goes to its recorded device otherwise."""

    default: str | None = None
    pairs: Mapping[str, str] = field(default_factory=dict)
    fallback: str | None = None  # for steps that record no device and are not sent to `default` (the TUI's)

    @classmethod
    def parse(cls, specs: str | Sequence[str] | None, option: str = "--device") -> DeviceMap:
        """`NEW` or `OLD=NEW`, each at most once; UsageError naming the option and what is wrong."""
        if specs is None:
            return cls()
        if isinstance(specs, str):
            specs = [specs]
        default: str | None = None
        pairs: dict[str, str] = {}
        for spec in specs:
            old, sep, new = spec.partition("=")
            if not sep:
                if default is not None:
                    raise UsageError(
                        f"{option} {spec}: every step already goes to {default} ({option} NEW is given once; "
                        f"{option} OLD=NEW maps one recorded device)"
                    )
                if not spec.strip():
                    raise UsageError(f"{option}: an empty device name")
                default = spec
                continue
            if not old.strip() or not new.strip():
                raise UsageError(f"{option} {spec}: expected OLD=NEW, two device names")
            if old in pairs:
                raise UsageError(f"{option} {spec}: {old} is already mapped to {pairs[old]}")
            pairs[old] = new
        return cls(default, pairs)

    def target(self, recorded: str | None) -> str | None:
        if recorded is not None and recorded in self.pairs:
            return self.pairs[recorded]
        return self.default or recorded or self.fallback


def key_fields(step: ScriptStep, catalogue: Catalogue | None) -> dict[str, int | str]:
    """The fields that tell a step apart: the command's first enum field (its selector: cns, lid, fid, zsa)
    and those not at their catalogue default, enum values by name (all of them, as recorded, when the
    catalogue does not know the command)."""
    try:
        defn = catalogue.get(step.command) if catalogue is not None else None
    except UsageError:
        defn = None
    if defn is None:
        return dict(step.fields)
    by_name = {f.name: f for f in defn.fields}
    selector = next((f.name for f in defn.fields if f.kind == "enum"), None)  # cns, lid, fid, zsa, ...
    shown: dict[str, int | str] = {}
    for name, value in step.fields.items():
        fdef = by_name.get(name)
        if fdef is not None and value == fdef.default and name != selector:
            continue
        names = {v: k for k, v in fdef.values.items()} if fdef is not None and fdef.kind == "enum" else {}
        shown[name] = names.get(value, value) if isinstance(value, int) else value
    return shown


def recorded_devices(script: CommandScript) -> list[str]:
    """The devices a script's steps went to, in the order they first appear."""
    seen: dict[str, None] = {}
    for step in script.step_list.distinct:
        device = step.device or script.device
        if device:
            seen.setdefault(device, None)
    return list(seen)


class PreparedSteps:
    """Every step of a script validated (`prepare_steps`), each distinct step prepared once."""

    def __init__(
        self, session: Session, script: CommandScript, devices: DeviceMap | str | None,
        timeout: int | None = None,
    ) -> None:  # fmt: skip
        self.session = session
        self.script = script
        self.devices = devices if isinstance(devices, DeviceMap) else DeviceMap.parse(devices)
        self.timeout = timeout
        self._prepared: dict[int, Prepared] = {}  # distinct step -> its prepared command
        self._present: set[str] = set()  # target devices that opened

    async def check_all(self) -> None:
        """Prepare every distinct step (UsageError naming the first step that is wrong, nothing sent)."""
        order = self.script.step_list.order
        seen: set[int] = set()
        for i, distinct in enumerate(order):
            if distinct not in seen:
                seen.add(distinct)
                await self.get(i)

    async def target(self, index: int) -> str:
        """The device step `index` goes to, opened: UsageError when it names none, or names one that is not
        here and not mapped (said before anything is sent: `check_all` asks for every step first)."""
        step = self.script.steps[index]
        recorded = step.device or self.script.device
        device = self.devices.target(recorded)
        if device is None:
            raise UsageError(
                f"{self.script.step_where(index)}: the step records no device: name one with --device"
            )
        if device not in self._present:
            try:
                await self.session.backend(device)
            except NvtuiError as exc:
                where = self.script.step_where(index)
                if device == recorded:
                    raise UsageError(
                        f"{where}: it went to {recorded}, which cannot be opened here ({exc}); map it with "
                        f"--device {recorded}=NEW"
                    ) from None
                raise UsageError(f"{where}: {recorded} maps to {device}: {exc}") from None
            self._present.add(device)
        return device

    async def get(self, index: int) -> Prepared:
        steps = self.script.step_list
        distinct = steps.order[index]
        prepared = self._prepared.get(distinct)
        if prepared is None:
            step = steps.distinct[distinct]
            device = await self.target(index)
            try:
                prepared = await self.session.prepare(
                    device, step.command, step.fields, data_len=step.data_len,  # a key: text, not a number
                    data=step.data_bytes(), metadata=step.metadata_bytes(), no_data=step.no_data,
                    allow_destructive=True, timeout=self.timeout,
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


async def prepare_steps(
    session: Session, script: CommandScript, devices: DeviceMap | str | None, timeout: int | None = None
) -> PreparedSteps:
    """Validate every step before anything is sent; destructiveness is judged, not yet enforced."""
    prepared = PreparedSteps(session, script, devices, timeout)
    await prepared.check_all()
    return prepared


async def destructive_steps(
    session: Session, script: CommandScript, devices: DeviceMap | str | None
) -> list[tuple[int, str]]:
    """(step index, command id) of every destructive step, for the one up-front confirmation."""
    return (await prepare_steps(session, script, devices)).destructive()


def list_steps(steps: Sequence[tuple[int, str]], shown: int = 10) -> str:
    """`3 (write), 5 (write), ... and 998 more`: steps named in a message, a bounded number of them."""
    listed = ", ".join(f"{i + 1} ({cmd})" for i, cmd in steps[:shown])
    return listed + (f" and {len(steps) - shown:,} more" if len(steps) > shown else "")


async def replay_stream(
    session: Session,
    script: CommandScript,
    devices: DeviceMap | str | None = None,
    *,
    allow_destructive: bool = False,
    decode: bool = True,
    timeout: int | None = None,
) -> AsyncIterator[StepOutcome]:
    """Send every step in order, yielding each outcome as it completes (nothing is kept here: a caller
    that keeps nothing either replays any length in flat memory). All steps are validated first (their
    devices too: see `PreparedSteps.target`), and a script with destructive steps is refused as a whole
    unless allowed: nothing is sent then. A device error (a timeout among them) ends the replay (its
    outcome is the last). `decode=False` leaves the data undecoded; `timeout`: seconds for each step."""
    prepared = await prepare_steps(session, script, devices, timeout)
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
    devices: DeviceMap | str | None = None,
    *,
    allow_destructive: bool = False,
    on_step: Callable[[StepOutcome], None] | None = None,
    decode: bool = True,
    timeout: int | None = None,
) -> list[StepOutcome]:
    """`replay_stream`, every outcome kept and returned (the TUI shows them all); `on_step` sees each as it
    completes."""
    outcomes = []
    stream = replay_stream(session, script, devices, allow_destructive=allow_destructive, decode=decode,
                           timeout=timeout)  # fmt: skip
    async for outcome in stream:
        outcomes.append(outcome)
        if on_step:
            on_step(outcome)
    return outcomes
