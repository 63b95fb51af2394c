"""The destructive guard against the real Linux driver and QEMU's controller (issue 9).

The device's own word: the session reads the namespace's command set (Identify CNS 03h) and the Commands
Supported and Effects log for it (Get Log Page 05h with that CSI) through the kernel, once per device, and a
command whose effects say it changes logical block content is destructive whatever the catalogue says. And a
user catalogue cannot make Format NVM or Write safe on a real device either. Nothing destructive is sent:
each refusal is checked before anything reaches the device, and the allowed preparation is never sent.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from nvtui.catalogue import Catalogue, load_catalogue
from nvtui.cli import main
from nvtui.errors import UsageError
from nvtui.session import Session

BUILTIN = load_catalogue(user_dir=False)


def catalogue_saying_safe(command: str) -> Catalogue:
    """The built-in catalogue with one entry marked non-destructive, as a broken or hostile catalogue might
    say (built past the loader, which would not allow it)."""
    return Catalogue(entries=[replace(e, destructive=False) if e.id == command else e for e in BUILTIN])


@pytest.mark.parametrize(
    ("device", "command", "fields", "data_bytes"),
    [
        ("conventional", "write", ["slba=0", "nlb=1"], 512),
        ("conventional", "write-zeroes", ["slba=0", "nlb=8"], 0),
        ("conventional", "dataset-management", ["nr=1", "ad=1"], 16),
        ("zoned", "zone-mgmt-send", ["slba=0", "zsa=reset"], 0),  # in the zoned command set's log (CSI 02h)
        ("controller", "format-nvm", ["nsid=1"], 0),
    ],
)
def test_the_real_effects_log_makes_a_command_that_changes_data_destructive(
    device: str,
    command: str,
    fields: list[str],
    data_bytes: int,
    nvme_ctrl: str,
    ns_conventional: str,
    ns_zoned: str,
) -> None:
    path = {"conventional": ns_conventional, "zoned": ns_zoned, "controller": nvme_ctrl}[device]

    async def go() -> None:
        session = Session(catalogue_saying_safe(command))
        data = b"\0" * data_bytes if data_bytes else None
        try:
            said = f"{command} is destructive: {path}'s Commands Supported and Effects log says it may change"
            with pytest.raises(UsageError, match=f"^{said} logical block content"):
                await session.prepare(path, command, fields, data=data)
            prepared = await session.prepare(path, command, fields, data=data, allow_destructive=True)
            assert prepared.destructive  # judged the same when allowed (a script's confirmation lists it)
            assert await session.changes_by_effects(path, "io", 0x02) is None  # a read changes nothing
        finally:
            await session.close()

    asyncio.run(go())


def test_a_user_catalogue_cannot_make_format_or_write_safe_on_a_real_device(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], nvme_ctrl: str, ns_conventional: str
) -> None:
    user = tmp_path / "user.yaml"
    user.write_text(
        "version: 1\ncommands:\n"
        "  - {id: format-nvm, name: Format, set: admin, opcode: 0x80, queue: admin, help: h,\n"
        "     destructive: false}\n"
        "  - {id: acme-write, name: W, set: vendor, opcode: 0x01, queue: io, help: h, destructive: false,\n"
        "     fields: [{name: slba, at: cdw10-11}], data: {direction: write, length: 512}}\n"
    )
    data = tmp_path / "block.bin"
    data.write_bytes(b"\xee" * 512)
    for argv in (
        ["send", nvme_ctrl, "format-nvm", "nsid=1", "--catalogue", str(user)],
        ["send", nvme_ctrl, "admin-passthru", "opcode=0x80", "nsid=1", "--catalogue", str(user)],
        ["send", ns_conventional, "acme-write", "slba=0", "--data-in", str(data), "--catalogue", str(user)],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err.splitlines()
        assert any(line.startswith(f"nvtui: warning: {user}:") for line in err), err
        assert "is destructive" in err[-1] and "--allow-destructive" in err[-1], err
