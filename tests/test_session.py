"""The session layer on the simulator: device profiles, LBA formats, the history."""

from __future__ import annotations

from nvtui.catalogue import load_catalogue
from nvtui.nvme.identify import LbaFormat
from nvtui.session import Session, probe_device, send_once


async def test_probe_reports_lba_formats_and_supported_commands() -> None:
    catalogue = load_catalogue(user_dir=False)
    profile = await probe_device(catalogue, "sim0n1")
    assert profile.lba_formats == (
        LbaFormat(512, relative_performance=1),
        LbaFormat(4096),
        LbaFormat(512, 8, relative_performance=2),
    )
    assert profile.lba_format_in_use == 0
    assert {"identify", "get-log-page", "format-nvm"} <= set(profile.supported["admin"])
    assert {"read", "write", "dataset-management"} <= set(profile.supported["io"])
    assert {"namespace-management", "namespace-attachment"} <= set(profile.supported["admin"])
    assert "capacity-management" in profile.unsupported["admin"] and profile.problems == ()


async def test_probe_of_a_controller_lists_admin_commands_only() -> None:
    profile = await probe_device(load_catalogue(user_dir=False), "sim0")
    assert profile.lba_formats == () and set(profile.supported) == {"admin"}


async def test_probe_does_not_touch_the_users_history() -> None:
    catalogue = load_catalogue(user_dir=False)
    session = Session(catalogue)
    try:
        await send_once(session, "sim0n1", "identify", ["cns=1"])
        await probe_device(catalogue, "sim0n1")
        assert [r.prepared.defn.id for r in session.history] == ["identify"]
    finally:
        await session.close()


async def test_format_change_is_seen_by_later_commands() -> None:
    session = Session(load_catalogue(user_dir=False))
    try:
        assert (await session.lba_format("sim0n1")).lba_size == 512  # type: ignore[union-attr]
        done = await send_once(session, "sim0n1", "format-nvm", ["lbaf=1"], allow_destructive=True)
        assert done.ok
        read = await session.prepare("sim0n1", "read", ["slba=0", "nlb=1"])
        assert read.command.data_len == 4096
    finally:
        await session.close()
