"""The session layer: catalogue entry + field values -> Command -> backend -> Completion -> decoded result.

The CLI, the TUI and script replay all send through `Session`, so the safety checks (destructive commands,
direction/length disagreements, refused commands) and the decoding live in one place.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from nvtui.backend import Backend, is_simulated, open_backend
from nvtui.catalogue import Catalogue, CommandDef
from nvtui.catalogue.model import KV_SET
from nvtui.errors import CommandTimeout, DeviceError, KernelCancelled, UsageError
from nvtui.nvme.command import Command, DataDirection
from nvtui.nvme.completion import Completion
from nvtui.nvme.identify import (
    CNS_CSI_NAMESPACE,
    CNS_NAMESPACE,
    CNS_NS_DESCRIPTORS,
    CSI_KV,
    LbaFormat,
    identify_command,
    lba_formats,
)
from nvtui.nvme.timeouts import MAX_TIMEOUT_S, MIN_TIMEOUT_S
from nvtui.safeio import OutputFile, TooLong, read_input

if TYPE_CHECKING:  # the decoders load when a result is decoded (nvtui.nvme.decode)
    from nvtui.nvme.decode import Record

NIDT_CSI = 0x04  # Namespace Identification Descriptor type: Command Set Identifier (NVMe Base 2.0, Fig. 278)
# Command Set Identifiers (NVMe Base 2.0, Fig. 285) by the catalogue's set names.
CSI_SETS = {0x00: "nvm", 0x01: "kv", 0x02: "zns"}
EFFECTS_LOG = 0x05  # Commands Supported and Effects (NVMe Base 2.0, 5.16.1.6)
EFFECTS_LOG_BYTES = 4096
# The most --data-in read when neither the fields nor --data-len bound the length (raw passthrough, or a
# length that is the user's): far above any controller's MDTS, far below what would exhaust memory.
DATA_IN_LIMIT = 64 << 20
GET_LOG_PAGE_OPCODE = 0x02
# Commands Supported and Effects data structure (NVMe Base 2.0, Fig. 211): the bits that mean a command
# changes what is stored. LBCC: logical block content; NCC: namespace capabilities; NIC: namespace inventory.
EFFECTS_CHANGING = {1: "logical block content", 2: "namespace capabilities", 3: "the namespace inventory"}
# nvtui waits this much longer than the kernel's own timeout, so that the kernel's (or the simulator's) answer
# to a command that timed out is what the user sees when it comes.
TIMEOUT_GRACE_S = 0.5


@dataclass(frozen=True)
class Prepared:
    """A command ready to send: what the user asked for, and what will go to the device.

    `data_out` / `metadata_out`: the files the data and metadata read are written to, checked already and
    reserved again by `Session.send` before the command goes out. `no_data`: the user asserted that a raw
    command whose opcode says it moves data moves none."""

    device: str
    defn: CommandDef
    values: dict[str, int]
    command: Command
    warnings: tuple[str, ...] = ()
    destructive: bool = False
    no_data: bool = False
    data_out: Path | None = None
    metadata_out: Path | None = None
    timeout: int = 0  # seconds a send waits for the completion (also the kernel's timeout_ms); 0: not set

    @property
    def notice(self) -> str | None:
        """Said before the command is sent: it waits for an event, and for how long (None for most)."""
        return self.defn.event_notice(self.timeout)

    @property
    def reads_data(self) -> bool:
        """The controller returns data (the kernel copies a buffer back: opcode bit 0 clear)."""
        return self.command.data_len > 0 and self.command.direction is DataDirection.CONTROLLER_TO_HOST

    @property
    def reads_metadata(self) -> bool:
        return self.command.metadata_len > 0 and self.command.direction is DataDirection.CONTROLLER_TO_HOST


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
    data_out: Path | None = None  # where the data read was written (None: not written)
    metadata_out: Path | None = None  # where the metadata read was written
    output_error: str | None = None  # an output file could not be written (what came back is kept: see it)

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
            "fields": p.defn.shown_values(p.values),  # a KV key as text or 0x-hex
            "status": c.status.to_json(),
            "result": c.result,
            "latency_ns": c.latency_ns,
            "data_len": p.command.data_len,
            "metadata_len": p.command.metadata_len,
            "metadata_out": str(self.metadata_out) if self.metadata_out is not None else None,
            "decoded": self.decoded.to_json() if self.decoded is not None else None,
            "nvme_cli": self.nvme_cli,
            "nvme_cli_passthru": self.nvme_cli_passthru,
        }


class Session:
    """Open devices (one backend each, kept open), prepare and send commands, keep the history."""

    def __init__(
        self, catalogue: Catalogue, backend_kind: str | None = None, *, history_limit: int | None = None
    ) -> None:
        """`history_limit`: keep at most that many results in `history` (None: all, as the TUI shows them;
        0: none, for a headless replay that streams its results)."""
        self.catalogue = catalogue
        self.backend_kind = backend_kind
        self.history: list[SendResult] = []
        self.history_limit = history_limit
        self._backends: dict[str, Backend] = {}
        self._formats: dict[str, LbaFormat] = {}
        self._facts: dict[str, dict[str, object]] = {}  # device -> DEVICE_CONTEXT facts learned from it
        self._command_sets: dict[str, str | None] = {}
        self._effects: dict[str, dict[str, bytes] | None] = {}  # device -> queue -> its effects entries
        self._transports: dict[str, str | None] = {}  # device -> its controller's transport
        self.default_timeout: int | None = None  # seconds, for entries without their own (the TUI's setting)

    async def backend(self, device: str) -> Backend:
        if device not in self._backends:
            answers = self.catalogue.simulated_answer  # what `simulate:` entries answer on a simulated device
            self._backends[device] = await open_backend(device, self.backend_kind, answers=answers)
        return self._backends[device]

    def transport(self, device: str) -> str | None:
        """The transport of `device`'s controller, read from sysfs without opening it: the kernel's name
        (`pcie`, `tcp`, ...), `sim` for a simulated device; None when sysfs does not say."""
        if device not in self._transports:
            if is_simulated(device):
                self._transports[device] = "sim"
            else:
                from nvtui.backend.discovery import transport_of

                self._transports[device] = transport_of(device)
        return self._transports[device]

    async def close(self) -> None:
        backends, self._backends = list(self._backends.values()), {}
        for b in backends:
            await b.close()

    async def lba_format(self, device: str) -> LbaFormat | None:
        """The namespace's current LBA format, from Identify Namespace (None for a controller device, and for
        a Key Value namespace, which has no logical blocks: its Identify Namespace is refused)."""
        if device in self._formats:
            return self._formats[device]
        if self._command_sets.get(device) == KV_SET:  # known already (a KV command was checked against it)
            return None
        backend = await self.backend(device)
        try:
            fmt = await backend.lba_format()
        except DeviceError:
            # Identify Namespace refused (or zeros): a Key Value namespace has no LBA format to read
            if backend.nsid and await self.command_set(device) == KV_SET:
                return None
            raise
        if fmt is not None:
            self._formats[device] = fmt
        return fmt

    async def command_set(self, device: str) -> str | None:
        """The catalogue set name of the namespace's I/O command set (from its Namespace Identification
        Descriptor list, CNS 03h), or None when the device does not say (a controller, an older device)."""
        if device in self._command_sets:
            return self._command_sets[device]
        backend = await self.backend(device)
        found: str | None = None
        if backend.nsid:
            done = await backend.submit(identify_command(CNS_NS_DESCRIPTORS, backend.nsid))
            if done.ok and done.data:
                from nvtui.nvme.decode import Field, Group, decode

                group = decode("namespace-descriptor-list", done.data)["descriptors"]
                for descriptor in group.records if isinstance(group, Group) else ():
                    nidt, nid = descriptor["nidt"], descriptor["nid"]
                    if isinstance(nidt, Field) and nidt.raw == NIDT_CSI and isinstance(nid, Field):
                        found = CSI_SETS.get(nid.raw[0]) if isinstance(nid.raw, bytes) and nid.raw else None
        self._command_sets[device] = found
        return found

    async def prepare(
        self,
        device: str,
        command: str | CommandDef,
        assignments: Sequence[str] | Mapping[str, str | int] = (),
        *,
        data_len: int | None = None,
        data: bytes | None = None,
        data_in: Path | None = None,
        data_out: Path | None = None,
        metadata: bytes | None = None,
        metadata_in: Path | None = None,
        metadata_out: Path | None = None,
        zero_metadata: bool = False,
        no_data: bool = False,
        allow_destructive: bool = False,
        timeout: int | None = None,
    ) -> Prepared:
        """Parse and encode; refuse what must not be sent. Raises UsageError (exit 2): nothing is sent.

        `timeout`: seconds to wait for the completion (None: the entry's own, else `default_timeout`, else
        60); a timeout given, the entry's own or the setting also goes to the kernel as the command's
        timeout_ms (without any, the kernel's default applies: nvme_core's admin_timeout, 60 s, as nvtui's).

        Data and metadata for the controller come as bytes (`data`, `metadata`) or from files (`data_in`,
        `metadata_in`: read only as far as the command moves, plus one byte to tell a longer file).
        `data_out` / `metadata_out` are checked here and reserved by `send`. `zero_metadata`: a write on a
        namespace with separate metadata carries zeros as its metadata (without it, or metadata, it is
        refused). `no_data`: the user asserts that a raw command whose opcode says it moves data moves none.
        """
        defn = command if isinstance(command, CommandDef) else self.catalogue.get(command)
        if timeout is not None and not MIN_TIMEOUT_S <= timeout <= MAX_TIMEOUT_S:
            raise UsageError(f"timeout {timeout} out of range {MIN_TIMEOUT_S}-{MAX_TIMEOUT_S} seconds")
        # The catalogue's word on the device's transport (from sysfs), before its fields: nothing is sent.
        if defn.refused_on:
            refusal = defn.transport_refusal(self.transport(device))
            if refusal:
                raise UsageError(f"{defn.id}: refused on {device}: {refusal}")
        seconds = defn.timeout_for(timeout, self.default_timeout)
        given = defn.parse_given(assignments)
        values = defn.complete(given)
        refusal = defn.refusal(values)
        if refusal:
            raise UsageError(f"{defn.id}: refused for passthrough: {refusal}")
        destructive = defn.is_destructive(values)  # judged before the device is asked anything
        if destructive and not allow_destructive:
            raise UsageError(
                f"{defn.id} is destructive (it can change data or state on {device}); "
                "pass --allow-destructive to send it"
            )
        _check_buffers_given(defn, values, data_len=data_len, data=data, data_in=data_in, data_out=data_out,
                             metadata=metadata, metadata_in=metadata_in, metadata_out=metadata_out,
                             zero_metadata=zero_metadata, no_data=no_data)  # fmt: skip
        backend = await self.backend(device)
        if backend.nsid == 0 and defn.queue == "io":
            raise UsageError(
                f"{defn.id} is an I/O command: it needs a namespace device (e.g. ng0n1 or sim0n1), "
                f"not the controller {device}"
            )
        if (
            defn.queue == "io"
            and not defn.raw
            and (defn.set == KV_SET or self.catalogue.needs_command_set("io", defn.opcode))
        ):  # a KV command never goes to an NVM namespace (01h is Write there), nor Write to a KV one
            command_set = await self.command_set(device)
            if not self.catalogue.for_command_set(defn, command_set):
                csi = next(csi for csi, name in CSI_SETS.items() if name == command_set)
                there = self.catalogue.entry_for_opcode("io", defn.opcode, command_set)
                meaning = f"is {there.id}" if there is not None else f"is not {defn.id}"
                raise UsageError(
                    f"{defn.id} is a {defn.set} command set command; {device} is a namespace of the "
                    f"{command_set} command set (CSI {csi:02x}h), where opcode {defn.opcode:#04x} {meaning}: "
                    "not sent"
                )
        if not destructive:  # whatever the catalogue says, the device's own word on what the opcode changes
            opcode = values.get("opcode", defn.opcode) if defn.raw else defn.opcode
            changes = await self.changes_by_effects(device, defn.queue, opcode)
            destructive = changes is not None
            if destructive and not allow_destructive:
                raise UsageError(
                    f"{defn.id} is destructive: {device}'s Commands Supported and Effects log says it may "
                    f"change {changes}; pass --allow-destructive to send it"
                )
        fmt = await self.lba_format(device) if defn.queue == "io" else None
        lba_size = fmt.lba_size if fmt else None
        if data_len is not None and not defn.raw:
            given = defn.derive_length(given, data_len, lba_size)
            values = defn.complete(given)
        if data_in is not None:
            built_from = defn.buffer_given(values)
            if built_from:  # one says what the buffer holds: the file, or the fields (refused before reading)
                raise UsageError(
                    f"{defn.id}: --data-in {data_in} and the buffer fields {', '.join(built_from)} both say "
                    "what the data buffer holds: give one"
                )
        if (data_in is not None or data is not None) and data_len is None and defn.sized_by_data(given):
            # The entry's length is a byte count the user left out (KV Store's value size, Security Send's
            # transfer length): the data's size sets it, as nvme-cli takes a file's size.
            if data_in is not None:
                data = _read_whole_data_in(data_in)
            assert data is not None
            given = defn.derive_length(given, len(data), lba_size)
            values = defn.complete(given)
        elif data_in is not None:
            data = _read_data_in(defn, values, data_in, data_len, lba_size)
        cmd = defn.encode(
            values,
            device_nsid=backend.nsid,
            lba_size=lba_size,
            metadata_size=fmt.metadata_size if fmt and not fmt.extended else 0,
            data_len=data_len,
            data=data,
        )
        if defn.queue == "io" and cmd.nsid != backend.nsid:
            raise UsageError(
                f"{defn.id}: nsid={cmd.nsid:#x} is not the namespace of {device} ({backend.nsid}): the "
                "Linux driver refuses an I/O command for another namespace (EINVAL); send it on that "
                "namespace's device"
            )
        if defn.raw:
            cmd = await self._check_raw(device, defn, cmd, fmt, no_data=no_data)
        cmd = _with_metadata(defn, device, cmd, fmt, metadata=metadata, metadata_in=metadata_in,
                             zero_metadata=zero_metadata)  # fmt: skip
        problems = [p for p in defn.problems(cmd) if not (no_data and p.endswith("but data_len is 0"))]
        if any(t is not None for t in (timeout, defn.timeout, self.default_timeout)):
            cmd = cmd.with_(timeout_ms=seconds * 1000)  # the kernel's too (else its default, as nvtui's)
        prepared = Prepared(device, defn, values, cmd, tuple(problems), destructive, no_data, data_out,
                            metadata_out, seconds)  # fmt: skip
        _check_outputs(prepared)
        return prepared

    async def _check_raw(
        self, device: str, defn: CommandDef, cmd: Command, fmt: LbaFormat | None, *, no_data: bool
    ) -> Command:
        """A raw command checked against the catalogue entry with its opcode (its fields and length rule
        say what the dwords ask the controller to move), and against its opcode's direction bits: a buffer
        too small for what the command moves, or none where the opcode says data moves, is refused (the
        controller would transfer past it, or to address 0). Returns it with the metadata its entry says."""
        command_set: str | None = None
        if defn.queue == "io" and self.catalogue.needs_command_set("io", cmd.opcode):
            command_set = await self.command_set(device)
        entry = self.catalogue.entry_for_opcode(defn.queue, cmd.opcode, command_set or None)
        what = f"{defn.id} opcode {cmd.opcode:#04x}"
        moves_none = False
        if entry is not None:
            values = entry.decode_fields(cmd)
            expected = entry.expected_length(values, fmt.lba_size if fmt else None)
            what = f"{what} ({entry.id})"
            if expected.kind == "bytes":
                moves_none = expected.size == 0
                if cmd.data_len < expected.size:
                    given = f"a {cmd.data_len}-byte buffer (--data-len)" if cmd.data_len else "no buffer"
                    where = "past its end" if cmd.data_len else "to address 0"
                    raise UsageError(
                        f"{what} moves {expected.size} bytes ({expected.why}) but has {given}: the "
                        f"controller would transfer {where}; give --data-len {expected.size}"
                    )
            if entry.metadata and fmt is not None and fmt.metadata_size and not fmt.extended:
                count = entry.lba_count(values)
                if count:
                    cmd = cmd.with_(metadata_len=count * fmt.metadata_size)
        if cmd.direction is not DataDirection.NONE and cmd.data_len == 0 and not (moves_none or no_data):
            bits = cmd.direction
            raise UsageError(
                f"{what} transfers {bits.short} data (opcode bits 1:0 = {bits.value:02b}) but has no buffer: "
                "the controller would transfer to address 0; give --data-len N, or --no-data if it moves none"
            )
        return cmd

    def _record(self, result: SendResult) -> None:
        limit = self.history_limit
        if limit == 0:
            return
        self.history.append(result)
        if limit is not None and len(self.history) > 2 * limit:  # trimmed in batches: appends stay O(1)
            del self.history[: len(self.history) - limit]

    async def changes_by_effects(self, device: str, queue: str, opcode: int) -> str | None:
        """What `opcode` may change according to the device's Commands Supported and Effects log (logical
        block content, namespace capabilities or inventory), or None: it changes none, or the device has
        no such log. The log is read once per device (with the namespace's command set for I/O opcodes)."""
        if device not in self._effects:
            self._effects[device] = await self._read_effects(device)
        effects = self._effects[device]
        if effects is None or queue not in effects:
            return None
        entry = int.from_bytes(effects[queue][4 * opcode : 4 * opcode + 4], "little")
        changed = [what for bit, what in EFFECTS_CHANGING.items() if entry >> bit & 1]
        return " and ".join(changed) if changed else None

    async def _read_effects(self, device: str) -> dict[str, bytes] | None:
        """Admin and I/O effects entries (256 dwords each); None when the device does not report them."""
        backend = await self.backend(device)
        try:
            command_set = await self.command_set(device)  # the I/O half is per command set (NVM, KV, ZNS)
            csi = next((csi for csi, name in CSI_SETS.items() if name == command_set), 0)
            numd = EFFECTS_LOG_BYTES // 4 - 1  # 0-based
            log = Command(opcode=GET_LOG_PAGE_OPCODE, admin=True, nsid=0, cdw10=numd << 16 | EFFECTS_LOG,
                          cdw14=csi << 24, data_len=EFFECTS_LOG_BYTES)  # fmt: skip
            done = await backend.submit(log)
        except DeviceError:
            return None  # e.g. admin commands not permitted: the catalogue alone decides
        if not done.ok or done.data is None or len(done.data) < EFFECTS_LOG_BYTES // 2:
            return None
        return {"admin": done.data[:1024], "io": done.data[1024:2048]}  # ACS0..255, IOCS0..255

    async def send(self, prepared: Prepared, *, decode: bool = True) -> SendResult:
        """Submit a prepared command and decode what comes back (unless `decode` is False: a replay that
        shows only statuses). DeviceError (exit 3) on kernel errors."""
        _check_data_given(prepared)
        backend = await self.backend(prepared.device)
        outputs = _reserve_outputs(prepared)  # checked again, and held, before the command goes out
        try:
            completion = await submit_within(backend, prepared)
        except BaseException:
            for out in outputs.values():
                out.discard()
            raise
        if prepared.defn.returned_by_result and completion.ok and completion.data is not None:
            # DW0 counts the bytes that hold data (KV Retrieve: the value's size, maybe more than the buffer)
            completion = replace(completion, data=completion.data[: completion.result])
        written, output_notices, output_error = _commit_outputs(outputs, completion)
        facts: dict[str, object] = {}
        missing: tuple[str, ...] = ()
        if decode and completion.ok and completion.data:
            facts, missing = await self._device_facts(prepared)
        decoded, decoder_name, notices = (
            self._decode(prepared, completion, facts, missing) if decode else (None, None, ())
        )
        notices = (*output_notices, *notices)
        notice = backend.notice  # reading it takes it (a notice is shown once)
        if notice:
            notices = (notice, *notices)
        device_path = backend.nvme_cli_path
        result = SendResult(
            prepared=prepared,
            completion=completion,
            decoded=decoded,
            decoder=decoder_name,
            device_path=device_path,
            notices=notices,
            catalogue=self.catalogue,
            data_out=written.get("data"),
            metadata_out=written.get("metadata"),
            output_error=output_error,
        )
        self._record(result)
        if prepared.defn.id == "format-nvm" and completion.ok:
            self._formats.pop(prepared.device, None)  # the LBA format may have changed
            self._facts.pop(prepared.device, None)
        return result

    async def _device_facts(self, prepared: Prepared) -> tuple[dict[str, object], tuple[str, ...]]:
        """The device facts the decode rule asks for (DEVICE_CONTEXT), and the names of those the device
        would not tell."""
        wanted = prepared.defn.device_context(prepared.values)
        if not wanted:
            return {}, ()
        known = self._facts.setdefault(prepared.device, {})
        missing: list[str] = []
        for name in wanted:
            if name not in known:
                value = await self._learn(prepared.device, name)
                if value is None:
                    missing.append(name)
                    continue
                known[name] = value
        return {k: known[k] for k in wanted if k in known}, tuple(missing)

    async def _learn(self, device: str, name: str) -> int | None:
        """One device fact (DEVICE_CONTEXT), asked of the device; None when it does not say."""
        assert name == "zdes_bytes", name
        from nvtui.nvme.identify import CSI_ZNS, zone_extension_bytes

        backend = await self.backend(device)
        if not backend.nsid:
            return None
        ident = await backend.submit(identify_command(CNS_NAMESPACE, backend.nsid))
        zns = await backend.submit(identify_command(CNS_CSI_NAMESPACE, backend.nsid, csi=CSI_ZNS))
        if not (ident.ok and ident.data and zns.ok and zns.data):
            return None
        try:
            return zone_extension_bytes(ident.data, zns.data)
        except ValueError:
            return None

    def _decode(
        self, prepared: Prepared, completion: Completion, facts: Mapping[str, object] | None = None,
        missing: tuple[str, ...] = (),
    ) -> tuple[Record | None, str | None, tuple[str, ...]]:  # fmt: skip
        if not completion.ok:
            return None, None, ()
        defn, values = prepared.defn, prepared.values
        name = defn.decoder_for(values) if completion.data else None
        if name is not None and missing:  # decoding without them would misplace fields: show the bytes
            from nvtui.catalogue.model import DEVICE_CONTEXT

            why = "; ".join(f"{prepared.device} did not say {DEVICE_CONTEXT[m]}" for m in missing)
            return None, name, (f"decoder {name} not applied: {why}",)
        raw = completion.data
        context: dict[str, object] = {**defn.decoder_context(values), **(facts or {})}
        if "result" in defn.completion_context(values):
            context["result"] = completion.result & 0xFFFFFFFF  # Dword 0
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


async def submit_within(backend: Backend, prepared: Prepared) -> Completion:
    """`backend.submit`, waited for at most the command's timeout (plus a grace for the kernel's own answer):
    CommandTimeout then, and the wait is withdrawn (the backend keeps any buffer the kernel may still fill
    until its completion comes; the simulator withdraws an event request)."""
    if not prepared.timeout:
        return await backend.submit(prepared.command)
    try:
        return await asyncio.wait_for(backend.submit(prepared.command), prepared.timeout + TIMEOUT_GRACE_S)
    except (TimeoutError, CommandTimeout):  # nvtui's wait, or the backend's own (the simulator's event wait)
        raise CommandTimeout(timed_out(prepared)) from None
    except KernelCancelled:  # the kernel's timeout (the same one, given as timeout_ms) expired first
        raise CommandTimeout(timed_out(prepared, by_kernel=True)) from None


def timed_out(prepared: Prepared, *, by_kernel: bool = False) -> str:
    """The one line that reports a command that timed out: nvtui stopped waiting, or the kernel's timeout
    (given the same seconds as timeout_ms) cancelled it first."""
    who = "the kernel's timeout cancelled it" if by_kernel else "nvtui stopped waiting"
    return (
        f"{prepared.defn.id} on {prepared.device}: no completion within {prepared.timeout} s: "
        f"timed out ({who})"
    )


def _check_buffers_given(
    defn: CommandDef,
    values: Mapping[str, int],
    *,
    data_len: int | None,
    data: bytes | None,
    data_in: Path | None,
    data_out: Path | None,
    metadata: bytes | None,
    metadata_in: Path | None,
    metadata_out: Path | None,
    zero_metadata: bool,
    no_data: bool,
) -> None:
    """What contradicts itself or the command's direction, before any file is opened or device asked."""
    if data is not None and data_in is not None:
        raise UsageError(f"{defn.id}: data given twice (bytes and --data-in {data_in})")
    if metadata is not None and metadata_in is not None:
        raise UsageError(f"{defn.id}: metadata given twice (bytes and --metadata-in {metadata_in})")
    if zero_metadata and (metadata is not None or metadata_in is not None):
        raise UsageError(f"{defn.id}: --zero-metadata and --metadata-in both say what the metadata holds")
    if data_out is not None and metadata_out is not None and Path(data_out) == Path(metadata_out):
        raise UsageError(f"--data-out and --metadata-out name the same file {data_out}")
    if no_data and (data_len or data is not None or data_in is not None):
        raise UsageError(f"{defn.id}: --no-data says it moves no data, but data (or --data-len) was given")
    direction = defn.direction_of(values)
    reads = direction is DataDirection.CONTROLLER_TO_HOST
    for given, option in ((data_in, "--data-in"), (metadata_in, "--metadata-in")):
        if given is None:
            continue
        if direction is DataDirection.NONE:
            raise UsageError(f"{defn.id} transfers no data: {option} {given} has nothing to go with")
        if reads:
            raise UsageError(f"{defn.id} reads from the controller: {option} {given} has nothing to send")
    for given, option in ((data_out, "--data-out"), (metadata_out, "--metadata-out")):
        if given is not None and direction in (DataDirection.NONE, DataDirection.HOST_TO_CONTROLLER):
            raise UsageError(f"{defn.id} reads nothing from the controller: {option} {given} stays empty")
        if given is not None:
            OutputFile.check(given, option)
    if not defn.raw and not defn.metadata:
        for named, option in ((metadata_in, "--metadata-in"), (metadata_out, "--metadata-out")):
            if named is not None:
                raise UsageError(f"{defn.id} moves no metadata: {option} {named} has nothing to go with")


def _read_whole_data_in(path: Path) -> bytes:
    """A data file whose size is the command's length: read whole, up to DATA_IN_LIMIT."""
    try:
        return read_input(path, DATA_IN_LIMIT, "--data-in")
    except TooLong:
        raise TooLong(f"--data-in {path} is longer than {DATA_IN_LIMIT >> 20} MiB") from None


def _read_data_in(
    defn: CommandDef, values: Mapping[str, int], path: Path, data_len: int | None, lba_size: int | None
) -> bytes:
    """The data file, read no further than the command moves (+1 byte, to tell "longer than")."""
    if data_len is not None:
        return read_input(path, data_len, "--data-in")
    expected = defn.expected_length(values, lba_size)
    if expected.kind == "bytes":
        return read_input(path, expected.size, "--data-in")
    try:
        return read_input(path, DATA_IN_LIMIT, "--data-in")
    except TooLong:
        raise TooLong(
            f"--data-in {path} is longer than {DATA_IN_LIMIT >> 20} MiB; --data-len allows a longer transfer"
        ) from None


def _with_metadata(
    defn: CommandDef,
    device: str,
    cmd: Command,
    fmt: LbaFormat | None,
    *,
    metadata: bytes | None,
    metadata_in: Path | None,
    zero_metadata: bool,
) -> Command:
    """The metadata a command carries on a namespace that keeps it in a separate buffer: what the user
    gave, or zeros when asked for explicitly. A write, compare or append without either is refused: the
    device would store metadata nobody chose (the kernel passes a zeroed buffer without a word)."""
    given = metadata is not None or metadata_in is not None
    if cmd.metadata_len == 0:
        if not given:
            return cmd
        if fmt is None or cmd.direction is DataDirection.NONE:
            raise UsageError(f"{defn.id} moves no metadata: --metadata-in has nothing to go with")
        layout = f"{fmt.lba_size} + {fmt.metadata_size}" + (" interleaved" if fmt.extended else "")
        raise UsageError(
            f"{device} keeps no separate metadata ({layout} bytes per block): --metadata-in has nothing to "
            "go with"
        )
    if cmd.direction is not DataDirection.HOST_TO_CONTROLLER:
        return cmd  # a read: the backend gives the device a buffer of metadata_len bytes to fill
    if metadata_in is not None:
        metadata = read_input(metadata_in, cmd.metadata_len, "--metadata-in")
    elif zero_metadata:
        metadata = bytes(cmd.metadata_len)
    if metadata is None:
        per_block = fmt.metadata_size if fmt else 0
        raise UsageError(
            f"{device} keeps {per_block} bytes of metadata per block in a separate buffer: this "
            f"{defn.id} must carry {cmd.metadata_len} bytes of metadata; give --metadata-in FILE, or "
            "--zero-metadata to store zeros"
        )
    if len(metadata) != cmd.metadata_len:
        raise UsageError(
            f"{defn.id}: the metadata is {len(metadata)} bytes but the command moves {cmd.metadata_len} bytes"
        )
    return cmd.with_(metadata=metadata)


def _check_data_given(prepared: Prepared) -> None:
    """A command that sends data to the controller goes with the data the user gave, never with a buffer of
    zeros nobody chose (a write would overwrite blocks with them): zeros, too, come from a file."""
    cmd = prepared.command
    if cmd.data_len and cmd.data is None and cmd.direction in _SENDS:
        build = prepared.defn.build
        fields = f", or its buffer's fields ({', '.join(b.name for b in build.fields)})" if build else ""
        raise UsageError(
            f"{prepared.defn.id} sends {cmd.data_len:,} bytes to the controller and none were given: give "
            f"them (--data-in FILE; in Compose, the input file; in a script, the step's data{fields})"
        )


_SENDS = (DataDirection.HOST_TO_CONTROLLER, DataDirection.BIDIRECTIONAL)


def _check_outputs(prepared: Prepared) -> None:
    """An output file for something the command does not read is refused: it would stay empty."""
    if prepared.data_out is not None and not prepared.reads_data:
        raise UsageError(
            f"{prepared.defn.id} reads no data here (data length {prepared.command.data_len}): "
            f"--data-out {prepared.data_out} would stay empty"
        )
    if prepared.metadata_out is not None and not prepared.reads_metadata:
        raise UsageError(
            f"{prepared.defn.id} reads no metadata from {prepared.device} (it keeps none in a separate "
            f"buffer): --metadata-out {prepared.metadata_out} would stay empty"
        )


def _reserve_outputs(prepared: Prepared) -> dict[str, OutputFile]:
    """Each output file checked and reserved (UsageError, nothing sent, when one cannot be written)."""
    outputs: dict[str, OutputFile] = {}
    try:
        if prepared.data_out is not None:
            outputs["data"] = OutputFile(prepared.data_out, "--data-out")
        if prepared.metadata_out is not None:
            outputs["metadata"] = OutputFile(prepared.metadata_out, "--metadata-out")
    except BaseException:
        for out in outputs.values():
            out.discard()
        raise
    return outputs


def _commit_outputs(
    outputs: Mapping[str, OutputFile], completion: Completion
) -> tuple[dict[str, Path], tuple[str, ...], str | None]:
    """Write what came back: (where each part went, notices, the first write error). After an error
    status the files are left as they were: what a failed command returns is not the data asked for."""
    written: dict[str, Path] = {}
    notices: list[str] = []
    error: str | None = None
    for part, out in outputs.items():
        payload = completion.data if part == "data" else completion.metadata
        if not completion.ok or payload is None:
            out.discard()
            notices.append(f"{out.what} {out.path} left as it was: the command failed")
            continue
        try:
            out.commit(payload)
            written[part] = out.path
        except UsageError as exc:
            error = error or str(exc)
            notices.append(str(exc))
    return written, tuple(notices), error


@dataclass(frozen=True)
class KvLimits:
    """A Key Value namespace's KV Identify Namespace (CNS 05h, CSI 01h): its size and use in bytes, and per
    KV format the longest key, the longest value (bytes) and the most keys (0: not reported)."""

    size: int
    used: int
    formats: tuple[tuple[int, int, int], ...]


def kv_limits(data: bytes) -> KvLimits:
    """The KV Identify Namespace structure, through its layout (identify-ns-kv)."""
    from nvtui.structures import decode

    def number(v: object) -> int:
        return v if isinstance(v, int) and not isinstance(v, bool) else 0

    values = decode("identify-ns-kv", data).to_json()
    formats = values.get("kvf")
    rows = [f for f in formats if isinstance(f, dict)] if isinstance(formats, list) else []
    return KvLimits(
        number(values.get("nsze")),
        number(values.get("nuse")),
        tuple((number(f.get("kml")), number(f.get("vml")), number(f.get("mnk"))) for f in rows),
    )


@dataclass(frozen=True)
class DeviceProfile:
    """What a device says about itself, for the Devices screen: its LBA formats and which catalogue
    commands it supports (from its Commands Supported and Effects log)."""

    lba_formats: tuple[LbaFormat | None, ...] = ()  # as Identify Namespace lists them (None: unusable)
    lba_format_in_use: int | None = None  # the index of the one the namespace is in
    supported: dict[str, tuple[str, ...]] = field(default_factory=dict)  # queue -> catalogue ids
    unsupported: dict[str, tuple[str, ...]] = field(default_factory=dict)
    problems: tuple[str, ...] = ()  # what could not be learned, and why
    command_set: str | None = None  # the namespace's I/O command set (nvm, zns, kv), whose effects were read
    kv: KvLimits | None = None  # a Key Value namespace's limits, in place of LBA formats


async def probe_device(catalogue: Catalogue, device: str, backend_kind: str | None = None) -> DeviceProfile:
    """Ask `device` (through a session of its own, so no user history is touched) for its profile."""
    from nvtui.nvme.decode.logs import supported_opcodes

    probe = Session(catalogue, backend_kind)
    formats: tuple[LbaFormat | None, ...] = ()
    in_use: int | None = None
    problems: list[str] = []
    supported: dict[str, tuple[str, ...]] = {}
    unsupported: dict[str, tuple[str, ...]] = {}
    kv: KvLimits | None = None
    try:
        backend = await probe.backend(device)
        # The I/O half of the effects log is per command set: ask for the one the namespace uses (ZNS, KV).
        command_set = await probe.command_set(device) if backend.nsid else None
        if backend.nsid and command_set == KV_SET:  # no LBA formats: its keys' and values' limits
            ident = await backend.submit(identify_command(CNS_CSI_NAMESPACE, backend.nsid, csi=CSI_KV))
            if ident.ok and ident.data is not None:
                kv = kv_limits(ident.data)
            else:
                problems.append(f"Identify Namespace (Key Value): {ident.status.name}")
        elif backend.nsid:
            ident = await backend.submit(identify_command(CNS_NAMESPACE, backend.nsid))
            if ident.ok and ident.data is not None:
                formats, in_use = lba_formats(ident.data)
            else:
                problems.append(f"Identify Namespace: {ident.status.name}")
        csi_of = {name: csi for csi, name in CSI_SETS.items()}
        csi = [f"csi={csi_of[command_set]}"] if command_set in csi_of else []
        effects = await send_once(
            probe, device, "get-log-page", [f"lid={EFFECTS_LOG}", f"numd={EFFECTS_LOG_BYTES // 4}", *csi]
        )
        if effects.ok and effects.completion.data:
            admin, io = supported_opcodes(effects.completion.data)
            queues = {"admin": admin, "io": io} if backend.nsid else {"admin": admin}
            entries = [e for e in catalogue.entries if not e.raw and not e.preset_of]  # presets: their entry
            for queue, opcodes in queues.items():
                # the namespace's own set's commands (01h is Store on a KV namespace, Write elsewhere)
                ours = [e for e in entries if catalogue.for_command_set(e, command_set)]
                on_queue = [e for e in ours if e.queue == queue]
                supported[queue] = tuple(sorted({e.id for e in on_queue if e.opcode in opcodes}))
                unsupported[queue] = tuple(sorted({e.id for e in on_queue if e.opcode not in opcodes}))
        else:
            problems.append(f"Commands Supported and Effects log: {effects.completion.status.name}")
    finally:
        await probe.close()
    return DeviceProfile(formats, in_use, supported, unsupported, tuple(problems), command_set, kv)


async def send_once(
    session: Session,
    device: str,
    command: str,
    assignments: Sequence[str],
    *,
    data_len: int | None = None,
    data: bytes | None = None,
    metadata: bytes | None = None,
    allow_destructive: bool = False,
) -> SendResult:
    prepared = await session.prepare(
        device, command, assignments, data_len=data_len, data=data, metadata=metadata,
        allow_destructive=allow_destructive,
    )  # fmt: skip
    return await session.send(prepared)
