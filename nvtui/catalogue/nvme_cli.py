"""The nvme-cli command line equivalent to a command: the passthrough form (any command), and the device as
nvme-cli names it (a simulated device becomes a placeholder the user replaces). The idiomatic form, with
nvme-cli's own verb, is `nvtui.nvmecli.idiomatic_line`; `nvtui.nvmecli.nvme_cli_lines` gives both.
"""

from __future__ import annotations

import re

from nvtui.catalogue.model import CommandDef
from nvtui.nvme.command import CDW_NAMES, Command, DataDirection

CONTROLLER_PLACEHOLDER = "/dev/nvmeX"
NAMESPACE_PLACEHOLDER = "/dev/nvmeXnY"
_SIM_NAMESPACE = re.compile(r"^(?:/dev/)?sim\d+n\d+$")
_SIM_CONTROLLER = re.compile(r"^(?:/dev/)?sim\d+$")


def nvme_cli_device(device_path: str) -> str:
    """The device as an nvme-cli line names it: real devices as they are, a simulated one as a placeholder
    (`/dev/nvmeX` for a controller, `/dev/nvmeXnY` for a namespace): nvme-cli cannot open `sim0n1`."""
    if _SIM_NAMESPACE.match(device_path):
        return NAMESPACE_PLACEHOLDER
    if _SIM_CONTROLLER.match(device_path):
        return CONTROLLER_PLACEHOLDER
    return device_path


def nvme_cli_line(
    defn: CommandDef, cmd: Command, device_path: str, *, input_file: str | None = None,
    metadata_file: str | None = None,
) -> str:  # fmt: skip
    """The nvme-cli passthrough command line that sends exactly `cmd`.

    Data for write-direction commands comes from `input_file`; without one, `/dev/zero` when the data is
    all zeros (or absent), else `data.bin` (the caller should save the data there, or name its file).
    """
    import shlex

    args = [
        "nvme", "admin-passthru" if cmd.admin else "io-passthru", shlex.quote(nvme_cli_device(device_path)),
        f"--opcode={cmd.opcode:#04x}", f"--namespace-id={cmd.nsid}",
    ]  # fmt: skip
    if cmd.flags:
        args.append(f"--flags={cmd.flags:#x}")
    for name in CDW_NAMES[1:]:
        value = getattr(cmd, name)
        if value:
            args.append(f"--{name}={value:#x}")
    if cmd.timeout_ms:
        args.append(f"--timeout={cmd.timeout_ms}")
    direction = cmd.direction
    if cmd.data_len:
        args.append(f"--data-len={cmd.data_len}")
        if direction in (DataDirection.CONTROLLER_TO_HOST, DataDirection.BIDIRECTIONAL):
            args.append("--read")
        if direction in (DataDirection.HOST_TO_CONTROLLER, DataDirection.BIDIRECTIONAL):
            args.append("--write")
            source = input_file or ("/dev/zero" if not cmd.data or not any(cmd.data) else "data.bin")
            args.append(f"--input-file={shlex.quote(source)}")
    if cmd.metadata_len:
        args.append(f"--metadata-len={cmd.metadata_len}")
        if direction in (DataDirection.HOST_TO_CONTROLLER, DataDirection.BIDIRECTIONAL):
            meta = metadata_file or (
                "/dev/zero" if not cmd.metadata or not any(cmd.metadata) else "metadata.bin"
            )
            args.append(f"--metadata={shlex.quote(meta)}")
    return " ".join(args)

