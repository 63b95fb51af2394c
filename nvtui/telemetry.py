"""Fetching a whole telemetry log (NVMe Base 2.1, 5.1.12.1.8 and 5.1.12.1.9: Telemetry Host-Initiated, LID
07h, and Controller-Initiated, LID 08h) into a file: the 512-byte header first, then the data areas up to the
one asked for, in pieces no larger than the controller's MDTS, each read at its log page offset (LPO).

The header says where each data area ends (DALB1..DALB4, in 512-byte blocks counted from the start of the
log). A host-initiated log is captured anew when the header is read with LSP bit 0 set (`create`); the data
blocks are then read with LSP 0, so they all come from that capture. Reading the header again at the end
shows whether the controller replaced the data while it was read (its data generation number moved on).
Data area 4 is reported only when the host enabled it (Host Behavior Support, ETDAS).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from nvtui.errors import DeviceError, UsageError
from nvtui.safeio import OutputFile

if TYPE_CHECKING:
    from nvtui.nvme.completion import Status
    from nvtui.nvme.decode.base import Record
    from nvtui.session import Session

TELEMETRY_BLOCK = 512  # bytes in a telemetry data block, the header included
LID_HOST, LID_CONTROLLER = 0x07, 0x08
STRUCTURES = {LID_HOST: "telemetry-host-log", LID_CONTROLLER: "telemetry-controller-log"}
MIN_PAGE_SIZE = (
    4096  # CAP.MPSMIN, the unit of MDTS: not readable from user space; 4 KiB on every known device
)
NO_MDTS_PIECE = 1 << 20  # pieces when the controller sets no limit (MDTS 0)
GENERATION = {LID_HOST: "hostdgn", LID_CONTROLLER: "ctrldgn"}

Progress = Callable[[int, int], None]  # (bytes read so far, bytes in all)


class TelemetryFailed(DeviceError):
    """The device returned an error status for one of the log's pieces."""

    def __init__(self, message: str, status: Status) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class TelemetryLog:
    device: str
    lid: int
    data_area: int  # the last data area read (1-4)
    path: Path
    size: int  # bytes written: the header and the data areas
    piece: int  # the largest piece read at once (bytes)
    pieces: int  # Get Log Page commands sent, the header's included
    header: Record
    notices: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "device": self.device,
            "command": "get-log-page",
            "lid": self.lid,
            "data_area": self.data_area,
            "data_out": str(self.path),
            "bytes": self.size,
            "piece": self.piece,
            "pieces": self.pieces,
            "header": self.header.to_json(),
            "notices": list(self.notices),
        }


def _decode(structure: str, data: bytes) -> Record:
    from nvtui.nvme.decode import decode

    return decode(structure, data)


def _int(record: Record, name: str) -> int:
    value = record.value(name)
    if not isinstance(value, int):
        raise DeviceError(f"{record.name}: {name} not transferred")
    return value


async def max_transfer(session: Session, device: str) -> int:
    """The largest data transfer the controller takes (Identify Controller MDTS), in bytes."""
    prepared = await session.prepare(device, "identify", ["cns=controller", "nsid=0"])
    result = await session.send(prepared, decode=False)
    data = result.completion.data
    if not result.ok or not data:
        raise TelemetryFailed(f"{device}: Identify Controller failed: {result.completion.status}",
                              result.completion.status)  # fmt: skip
    mdts = _int(_decode("identify-controller", data), "mdts")
    return MIN_PAGE_SIZE << mdts if mdts else NO_MDTS_PIECE


async def _read(
    session: Session, device: str, lid: int, offset: int, length: int, *, create: bool, timeout: int | None
) -> bytes:
    fields = [f"lid={lid}", "nsid=0", f"numd={length // 4}", f"lpo={offset}", "rae=1", f"lsp={int(create)}"]
    prepared = await session.prepare(device, "get-log-page", fields, timeout=timeout)
    result = await session.send(prepared, decode=False)
    c = result.completion
    if not c.ok:
        where = "the header" if offset == 0 else f"{length:,} bytes at offset {offset:,}"
        raise TelemetryFailed(f"{device}: telemetry log {lid:02X}h, {where}: {c.status}", c.status)
    data = c.data or b""
    if len(data) < length:
        raise DeviceError(
            f"{device}: telemetry log {lid:02X}h: {len(data)} bytes came back, {length} asked for"
        )
    return data[:length]


def last_block(header: Record, data_area: int) -> int:
    """The last 512-byte block of data area `data_area` (0: the log holds only its header)."""
    return _int(header, f"dalb{data_area}")


async def fetch_telemetry(
    session: Session,
    device: str,
    out: Path,
    *,
    lid: int = LID_HOST,
    data_area: int = 3,
    create: bool = True,
    progress: Progress | None = None,
    timeout: int | None = None,
) -> TelemetryLog:
    """Read the whole telemetry log `lid` (07h or 08h) up to data area `data_area` into `out`.

    UsageError (nothing sent) for a bad LID, data area or output file; TelemetryFailed when the device
    returns an error status (the file is left as it was); UsageError when data area 4 is asked for and the
    controller does not report it."""
    if lid not in STRUCTURES:
        raise UsageError(
            f"lid={lid:#04x}: a whole log is fetched for telemetry-host (07h) or telemetry-controller (08h)"
        )
    if not 1 <= data_area <= 4:
        raise UsageError(f"--data-area {data_area} out of range 1-4")
    create = create and lid == LID_HOST  # the controller-initiated log has no LSP
    with OutputFile(out, "--data-out") as output:
        piece = await max_transfer(session, device)
        head = await _read(session, device, lid, 0, TELEMETRY_BLOCK, create=create, timeout=timeout)
        header = _decode(STRUCTURES[lid], head)
        last = last_block(header, data_area)
        if data_area == 4 and last == 0:
            raise UsageError(
                f"{device}: data area 4 is not reported (dalb4 is 0): the host enables it with Host Behavior "
                "Support's etdas (set-features fid=host-behavior-support), where the controller supports it"
            )
        size = TELEMETRY_BLOCK * (last + 1) if last else TELEMETRY_BLOCK
        output.append(head)
        done, pieces = TELEMETRY_BLOCK, 1
        if progress is not None:
            progress(done, size)
        while done < size:
            length = min(piece, size - done)
            output.append(await _read(session, device, lid, done, length, create=False, timeout=timeout))
            done += length
            pieces += 1
            if progress is not None:
                progress(done, size)
        notices: list[str] = []
        if size > TELEMETRY_BLOCK:
            last_header = await _read(session, device, lid, 0, TELEMETRY_BLOCK, create=False, timeout=timeout)
            again = _decode(STRUCTURES[lid], last_header)
            before, after = _int(header, GENERATION[lid]), _int(again, GENERATION[lid])
            if before != after:
                notices.append(
                    f"the controller captured new telemetry data while it was read ({GENERATION[lid]} "
                    f"{before} -> {after}): the file mixes two captures; fetch it again"
                )
            pieces += 1
        output.commit(b"")
    return TelemetryLog(device, lid, data_area, Path(out), size, piece, pieces, header, tuple(notices))
