"""The simulated NVMe controller: the default device when no real one is usable.

Controller `sim0` (admin commands only) with namespaces `sim0n1` (conventional, 1 GiB; LBA formats
512 B, 4 KiB and 512 B + 8 B separate metadata), `sim0n2` (zoned, 1 GiB of 4 KiB blocks in 64 MiB zones of
62 MiB capacity, at most 14 active and 12 open) and `sim0n3` (Key Value, 256 MiB) when new; Namespace
Management creates and deletes others (up to `sim0n8`), Namespace Attachment attaches and detaches them;
discovery lists the attached ones.
State persists under `state_dir()`: what a command changed is journaled before it completes (it survives a
kill -9), a Flush or a clean shutdown makes it survive a power loss too, and processes share the controller
command by command (see `controller.py`).
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING

from nvtui.backend.base import ControllerInfo, NamespaceInfo
from nvtui.backend.sim import identity
from nvtui.backend.sim.firmware import Firmware
from nvtui.backend.sim.specs import NAMESPACE_SPECS, OLD_FACTORY, TEMPLATES, NamespaceSpec, created_spec
from nvtui.backend.sim.state import STATE_FILE, Damaged, folder_refusal, load_state, state_dir

if TYPE_CHECKING:
    from nvtui.backend.sim.backend import SIM_DEVICES, SimBackend, open_sim
    from nvtui.backend.sim.latency import LatencyModel

__all__ = ["SIM_DEVICES", "LatencyModel", "SimBackend", "open_sim", "sim_controllers", "state_dir"]

# The simulator itself (controller, storage, zones) loads when a device is opened: discovery describes it
# from its specs and saved state alone.
_LATER = {
    "SIM_DEVICES": "nvtui.backend.sim.backend",
    "SimBackend": "nvtui.backend.sim.backend",
    "open_sim": "nvtui.backend.sim.backend",
    "LatencyModel": "nvtui.backend.sim.latency",
}


def __getattr__(name: str) -> object:
    if name in _LATER:
        return getattr(import_module(_LATER[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def sim_controllers(directory: Path | None = None) -> list[ControllerInfo]:
    """The simulated controller as discovery reports it, in its current formats, without opening (or
    locking) it: from its checkpoint (which a Format NVM rewrites at once), else the defaults. A folder nvtui
    refuses, or a damaged state, is reported as the controller's access error (opening it says the same)."""
    directory = directory if directory is not None else state_dir()
    serial, firmware = "", identity.FIRMWARE
    specs: dict[int, NamespaceSpec] = dict(NAMESPACE_SPECS)
    formats = dict.fromkeys(specs, 0)
    problem = folder_refusal(directory)
    state = None
    if problem is not None:
        problem = f"nvtui refuses the simulator's folder {directory}: {problem}"
    else:
        state, damage = load_state(directory / STATE_FILE)
        if damage is not None:
            problem = (
                f"the simulator's state {directory / STATE_FILE} is damaged: {damage} (`nvtui sim reset`)"
            )
    if state is not None:
        serial = str(state.get("serial", ""))[:20]
        firmware = _running_firmware(state.get("firmware")) or firmware
        schema = state.get("schema")
        if isinstance(schema, int) and schema >= 5:  # the namespaces Namespace Management left
            specs = _attached(state.get("namespace_set"), specs)
        else:  # a drive made before it: namespaces 1 and 2
            specs = {nsid: specs[nsid] for nsid in OLD_FACTORY}
        formats = dict.fromkeys(specs, 0)
        namespaces = state.get("namespaces")
        if isinstance(namespaces, dict):
            for nsid, spec in specs.items():
                ns_state = namespaces.get(str(nsid))
                index = ns_state.get("format") if isinstance(ns_state, dict) else 0
                if isinstance(index, int) and 0 <= index < len(spec.formats):
                    formats[nsid] = index
    namespaces_info = []
    for nsid, spec in specs.items():
        fmt = spec.formats[formats[nsid]]
        namespaces_info.append(
            NamespaceInfo(
                name=f"{identity.CONTROLLER_NAME}n{nsid}",
                nsid=nsid,
                char_dev=None,
                block_dev=None,
                size_bytes=spec.size_bytes,
                lba_size=fmt.lba_size,
                metadata_size=fmt.metadata_size,
                zoned=spec.zoned,
                command_set=spec.command_set,
                accessible=problem is None,
                access_error=problem,
            )
        )
    return [
        ControllerInfo(
            name=identity.CONTROLLER_NAME,
            char_dev=None,
            model=identity.MODEL,
            serial=serial or "(created on first open)",
            firmware=firmware,
            transport="sim",
            address=str(directory),
            state="live",
            simulated=True,
            uring_cmd=False,
            accessible=problem is None,
            access_error=problem,
            namespaces=tuple(namespaces_info),
        )
    ]


def _attached(value: object, factory: dict[int, NamespaceSpec]) -> dict[int, NamespaceSpec]:
    """The attached namespaces a checkpoint names (the controller checks it whole when it opens: here what
    is not as it writes it is left out; without the set, the factory namespaces)."""
    out: dict[int, NamespaceSpec] = {}
    if not isinstance(value, dict):
        return factory
    for key, entry in value.items():
        if not (isinstance(key, str) and key.isdigit() and 1 <= int(key) <= identity.NN):
            continue
        if not isinstance(entry, dict) or entry.get("attached") is not True:
            continue
        csi, size = entry.get("csi"), entry.get("size")
        ints = all(isinstance(v, int) and not isinstance(v, bool) for v in (csi, size))
        if ints and isinstance(csi, int) and csi in TEMPLATES and isinstance(size, int) and size > 0:
            out[int(key)] = created_spec(int(key), csi, size)
    return dict(sorted(out.items()))


def _running_firmware(value: object) -> str | None:
    """The running revision a checkpoint names (a commit that activates one checkpoints at once); None when
    its firmware is not as the controller writes it (opening the controller says what is wrong)."""
    firmware = Firmware()  # firmware.py is small, and imports no more of the simulator than this module
    try:
        firmware.restore_summary(value, "firmware")
    except Damaged:
        return None
    return firmware.running
