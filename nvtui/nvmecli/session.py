"""Sending an imported nvme-cli line: the session-layer step between `parse_nvme_cli` and `Session.send`.

What needs the device is settled here: the namespace ID a verb takes from the opened device, the data length
of a read or write (the namespace's LBA size), and the data read from the line's file, taken as nvme-cli
takes it (its first `--data-size` bytes, zeros after).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from nvtui.errors import DeviceError, UsageError
from nvtui.nvme.identify import CNS_CONTROLLER, identify_command
from nvtui.nvme.timeouts import MAX_TIMEOUT_S, MIN_TIMEOUT_S
from nvtui.nvmecli.parse import ImportedCommand
from nvtui.session import Prepared, Session

__all__ = ["prepare_imported", "read_data"]

ALL_NAMESPACES = 0xFFFFFFFF
ZERO_SOURCES = ("/dev/zero",)
ELPE_OFFSET = 262
ERROR_LOG_ENTRY_DWORDS = 16


async def prepare_imported(
    session: Session, imported: ImportedCommand, *, allow_destructive: bool = False, device: str | None = None
) -> Prepared:
    """`imported` prepared on `device` (default: the line's own), like `Session.prepare`: UsageError (exit 2)
    and nothing sent when it must not or cannot be sent."""
    device = device or imported.device
    values = dict(imported.values)
    if "nsid" not in values and imported.nsid_rule == "device-or-all":
        backend = await session.backend(device)
        values["nsid"] = backend.nsid or ALL_NAMESPACES
    if imported.verb == "error-log":
        values["numd"] = await _error_log_numd(session, device, imported, values)
    assignments = {k: str(v) for k, v in values.items()}
    options = imported.options
    data = options.data
    # A passthrough line without --data-len moves no data (nvme-cli gives no buffer): the line's word for
    # --no-data. The catalogue entry of its opcode still refuses it where that entry says data moves.
    no_data = imported.verb in ("admin-passthru", "io-passthru") and (
        options.data_len is None and data is None and options.data_in is None
    )
    prepared = await session.prepare(
        device, imported.command, assignments, data_len=options.data_len if data is None else None, data=data,
        no_data=no_data, allow_destructive=allow_destructive,
    )  # fmt: skip
    if options.data_in is not None and prepared.command.direction.value & 1:
        length = prepared.command.data_len
        content = read_data(options.data_in, length, options.data_size)
        prepared = await session.prepare(
            device, imported.command, assignments, data=content, allow_destructive=allow_destructive,
            data_len=length if options.data_len is not None and data is None else None,
        )  # fmt: skip
    if options.timeout_ms:  # the line's --timeout (ms): the kernel's, and how long nvtui waits
        seconds = min(max(-(-options.timeout_ms // 1000), MIN_TIMEOUT_S), MAX_TIMEOUT_S)
        command = prepared.command.with_(timeout_ms=options.timeout_ms)
        prepared = replace(prepared, command=command, timeout=seconds)
    return prepared


async def _error_log_numd(
    session: Session, device: str, imported: ImportedCommand, values: dict[str, int]
) -> int:
    """nvme-cli's error-log asks Identify Controller first and reads at most ELPE+1 entries (64 bytes, 16
    dwords each): the NUMD it sends. NVMe Base 2.0 Fig. 275: ELPE at byte 262, 0-based."""
    numd = values.get("numd")
    if numd is None:
        numd = session.catalogue.get(imported.command).field("numd").default or ERROR_LOG_ENTRY_DWORDS
    backend = await session.backend(device)
    done = await backend.submit(identify_command(CNS_CONTROLLER))
    if not done.ok or done.data is None or len(done.data) <= ELPE_OFFSET:
        raise DeviceError(
            f"{device}: Identify Controller failed ({done.status}); nvme error-log needs it first"
        )
    return min(numd, (done.data[ELPE_OFFSET] + 1) * ERROR_LOG_ENTRY_DWORDS)


def read_data(path: Path, length: int, data_size: int | None = None) -> bytes:
    """The data a write sends, as nvme-cli reads it: at most `data_size` bytes of `path` (or `length`), zeros
    after, `length` bytes in all. A file longer than what it may give is refused rather than cut short."""
    from nvtui.safeio import read_input

    if str(path) in ZERO_SOURCES:
        return bytes(length)
    take = length if data_size is None else min(data_size, length)
    content = read_input(path, take if data_size is None else max(take, data_size), "--data")
    if data_size is None and len(content) > length:
        raise UsageError(f"--data {path} is {len(content)} bytes; the command sends {length}")
    return content[:take].ljust(length, b"\0")
