"""The session layer: catalogue entry + field values -> Command -> backend -> Completion -> decoded result.

The CLI, the TUI and script replay all send through `Session`, so the safety checks (destructive commands,
direction/length disagreements, refused commands) and the decoding live in one place.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from nvtui.backend import Backend, open_backend
from nvtui.catalogue import Catalogue, CommandDef
from nvtui.errors import DeviceError, UsageError
from nvtui.nvme.command import Command
from nvtui.nvme.completion import Completion

if TYPE_CHECKING:  # the decoders load when a result is decoded (nvtui.nvme.decode)
    from nvtui.nvme.decode import Record

IDENTIFY_OPCODE = 0x06
EFFECTS_LOG = 0x05  # Commands Supported and Effects (NVMe Base 2.0, 5.16.1.6)
EFFECTS_LOG_BYTES = 4096


@dataclass(frozen=True)
class LbaFormat:
    lba_size: int
    metadata_size: int
    extended: bool


@dataclass(frozen=True)
class Prepared:
    """A command ready to send: what the user asked for, and what will go to the device."""

    device: str
    defn: CommandDef
    values: dict[str, int]
    command: Command
    warnings: tuple[str, ...] = ()
    destructive: bool = False


@dataclass(frozen=True)
class SendResult:
    prepared: Prepared
    completion: Completion
    decoded: Record | None
    decoder: str | None
    device_path: str  # the device as nvme-cli would name it (/dev/ng0n1, or the simulator's name)
    notices: tuple[str, ...] = ()
    sent_at: float = field(default_factory=time.time)
    catalogue: Catalogue | None = field(default=None, repr=False)  # for the idiomatic nvme-cli line

    @property
    def ok(self) -> bool:
        return self.completion.ok

    @cached_property
    def nvme_cli_pair(self) -> tuple[str | None, str]:
        """(nvme-cli's own verb, or None; the passthrough form), worked out when first asked for (a replay
        of a long script shows only statuses)."""
        from nvtui.nvmecli.export import nvme_cli_lines

        p = self.prepared
        return nvme_cli_lines(self.catalogue, p.defn, p.values, p.command, self.device_path)

    @property
    def nvme_cli(self) -> str:
        """The equivalent nvme-cli command line: nvme-cli's own verb where one says it, else passthrough."""
        idiomatic, passthru = self.nvme_cli_pair
        return idiomatic or passthru

    @property
    def nvme_cli_passthru(self) -> str:
        return self.nvme_cli_pair[1]

    def to_json(self) -> dict[str, object]:
        p, c = self.prepared, self.completion
        return {
            "device": p.device,
            "command": p.defn.id,
            "fields": dict(p.values),
            "status": c.status.to_json(),
            "result": c.result,
            "latency_ns": c.latency_ns,
            "data_len": p.command.data_len,
            "decoded": self.decoded.to_json() if self.decoded is not None else None,
            "nvme_cli": self.nvme_cli,
            "nvme_cli_passthru": self.nvme_cli_passthru,
        }


class Session:
    """Open devices (one backend each, kept open), prepare and send commands, keep the history."""

    def __init__(self, catalogue: Catalogue, backend_kind: str | None = None) -> None:
        self.catalogue = catalogue
        self.backend_kind = backend_kind
        self.history: list[SendResult] = []
        self._backends: dict[str, Backend] = {}
        self._formats: dict[str, LbaFormat] = {}

    async def backend(self, device: str) -> Backend:
        if device not in self._backends:
            self._backends[device] = await open_backend(device, self.backend_kind)
        return self._backends[device]

    async def close(self) -> None:
        backends, self._backends = list(self._backends.values()), {}
        for b in backends:
            await b.close()

    async def lba_format(self, device: str) -> LbaFormat | None:
        """The namespace's current LBA format, from Identify Namespace (None for a controller device)."""
        if device in self._formats:
            return self._formats[device]
        backend = await self.backend(device)
        if not backend.nsid:
            return None
        cmd = Command(opcode=IDENTIFY_OPCODE, admin=True, nsid=backend.nsid, cdw10=0, data_len=4096)
        done = await backend.submit(cmd)
        if not done.ok or done.data is None:
            raise DeviceError(f"{device}: Identify Namespace failed: {done.status}")
        from nvtui.nvme.decode.identify import current_lba_format

        lba_size, ms, extended = current_lba_format(done.data)
        fmt = LbaFormat(lba_size, ms, extended)
        self._formats[device] = fmt
        return fmt

    async def prepare(
        self,
        device: str,
        command: str | CommandDef,
        assignments: Sequence[str] | Mapping[str, str] = (),
        *,
        data_len: int | None = None,
        data: bytes | None = None,
        allow_destructive: bool = False,
    ) -> Prepared:
        """Parse and encode; refuse what must not be sent. Raises UsageError (exit 2): nothing is sent."""
        defn = command if isinstance(command, CommandDef) else self.catalogue.get(command)
        values = defn.parse_values(assignments)
        refusal = defn.refusal(values)
        if refusal:
            raise UsageError(f"{defn.id}: refused for passthrough: {refusal}")
        destructive = defn.is_destructive(values)  # judged before the device is asked anything
        if destructive and not allow_destructive:
            raise UsageError(
                f"{defn.id} is destructive (it can change data or state on {device}); "
                "pass --allow-destructive to send it"
            )
        backend = await self.backend(device)
        if backend.nsid == 0 and defn.queue == "io":
            raise UsageError(
                f"{defn.id} is an I/O command: it needs a namespace device (e.g. ng0n1 or sim0n1), "
                f"not the controller {device}"
            )
        fmt = await self.lba_format(device) if defn.queue == "io" else None
        cmd = defn.encode(
            values,
            device_nsid=backend.nsid,
            lba_size=fmt.lba_size if fmt else None,
            metadata_size=fmt.metadata_size if fmt and not fmt.extended else 0,
            data_len=data_len,
            data=data,
        )
        return Prepared(device, defn, values, cmd, tuple(defn.problems(cmd)), destructive)

    async def send(self, prepared: Prepared, *, decode: bool = True) -> SendResult:
        """Submit a prepared command and decode what comes back (unless `decode` is False: a replay that
        shows only statuses). DeviceError (exit 3) on kernel errors."""
        backend = await self.backend(prepared.device)
        completion = await backend.submit(prepared.command)
        decoded, decoder_name, notices = self._decode(prepared, completion) if decode else (None, None, ())
        if backend.notice:
            notices = (backend.notice, *notices)
        device_path = getattr(backend, "path", None) or prepared.device
        result = SendResult(
            prepared=prepared,
            completion=completion,
            decoded=decoded,
            decoder=decoder_name,
            device_path=str(device_path),
            notices=notices,
            catalogue=self.catalogue,
        )
        self.history.append(result)
        if prepared.defn.id == "format-nvm" and completion.ok:
            self._formats.pop(prepared.device, None)  # the LBA format may have changed
        return result

    def _decode(
        self, prepared: Prepared, completion: Completion
    ) -> tuple[Record | None, str | None, tuple[str, ...]]:
        if not completion.ok:
            return None, None, ()
        defn, values = prepared.defn, prepared.values
        name = defn.decoder_for(values) if completion.data else None
        raw = completion.data
        context: dict[str, object] = dict(defn.decoder_context(values))
        if name is None and defn.result_decoder:
            name, raw = defn.result_decoder, (completion.result & 0xFFFFFFFF).to_bytes(4, "little")
            context = dict(defn.result_decoder_context(values))
        if name is None or raw is None:
            return None, None, ()
        from nvtui.nvme.decode import decode

        try:
            return decode(name, raw, **context), name, ()
        except Exception as exc:  # a device's odd data must not lose the result: show raw, say why
            return None, name, (f"decoder {name} could not decode the data: {exc}",)


@dataclass(frozen=True)
class LbaFormatRow:
    index: int
    data_size: int  # bytes per block
    metadata_size: int
    performance: str  # Relative Performance, by name
    in_use: bool


@dataclass(frozen=True)
class DeviceProfile:
    """What a device says about itself, for the Devices screen: its LBA formats and which catalogue
    commands it supports (from its Commands Supported and Effects log)."""

    lba_formats: tuple[LbaFormatRow, ...] = ()
    supported: dict[str, tuple[str, ...]] = field(default_factory=dict)  # queue -> catalogue ids
    unsupported: dict[str, tuple[str, ...]] = field(default_factory=dict)
    problems: tuple[str, ...] = ()  # what could not be learned, and why


def lba_format_rows(identify_namespace: Record) -> tuple[LbaFormatRow, ...]:
    from nvtui.nvme.decode import Field, Group
    from nvtui.nvme.decode.identify import lba_format_index

    flbas, nlbaf, group = identify_namespace["flbas"], identify_namespace["nlbaf"], identify_namespace["lbaf"]
    if not isinstance(group, Group) or not isinstance(flbas, Field) or not isinstance(nlbaf, Field):
        return ()

    def number(item: Field) -> int:
        return item.raw if isinstance(item.raw, int) else 0

    in_use = lba_format_index(number(flbas), number(nlbaf))
    rows = []
    for i, fmt in enumerate(group.records):
        f = {item.name: item for item in fmt.items if isinstance(item, Field)}
        lbads, ms = number(f["lbads"]), number(f["ms"])
        rows.append(LbaFormatRow(i, 1 << lbads if lbads else 0, ms, f["rp"].meaning, i == in_use))
    return tuple(rows)


async def probe_device(catalogue: Catalogue, device: str, backend_kind: str | None = None) -> DeviceProfile:
    """Ask `device` (through a session of its own, so no user history is touched) for its profile."""
    from nvtui.nvme.decode.logs import supported_opcodes

    probe = Session(catalogue, backend_kind)
    formats: tuple[LbaFormatRow, ...] = ()
    problems: list[str] = []
    supported: dict[str, tuple[str, ...]] = {}
    unsupported: dict[str, tuple[str, ...]] = {}
    try:
        backend = await probe.backend(device)
        if backend.nsid:
            ident = await send_once(probe, device, "identify", ["cns=0"])
            if ident.decoded is not None:
                formats = lba_format_rows(ident.decoded)
            else:
                problems.append(f"Identify Namespace: {ident.completion.status.name}")
        effects = await send_once(
            probe, device, "get-log-page", [f"lid={EFFECTS_LOG}", f"numd={EFFECTS_LOG_BYTES // 4}"]
        )
        if effects.ok and effects.completion.data:
            admin, io = supported_opcodes(effects.completion.data)
            queues = {"admin": admin, "io": io} if backend.nsid else {"admin": admin}
            entries = [e for e in catalogue.entries if not e.raw and not e.preset_of]  # presets: their entry
            for queue, opcodes in queues.items():
                on_queue = [e for e in entries if e.queue == queue]
                supported[queue] = tuple(sorted({e.id for e in on_queue if e.opcode in opcodes}))
                unsupported[queue] = tuple(sorted({e.id for e in on_queue if e.opcode not in opcodes}))
        else:
            problems.append(f"Commands Supported and Effects log: {effects.completion.status.name}")
    finally:
        await probe.close()
    return DeviceProfile(formats, supported, unsupported, tuple(problems))


async def send_once(
    session: Session,
    device: str,
    command: str,
    assignments: Sequence[str],
    *,
    data_len: int | None = None,
    data: bytes | None = None,
    allow_destructive: bool = False,
) -> SendResult:
    prepared = await session.prepare(
        device, command, assignments, data_len=data_len, data=data, allow_destructive=allow_destructive
    )
    return await session.send(prepared)
