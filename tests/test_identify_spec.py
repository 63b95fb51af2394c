"""The spec layer's Identify builder and its one LBA-format type."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nvtui.backend import open_backend
from nvtui.nvme.decode import decode
from nvtui.nvme.decode.identify import current_lba_format
from nvtui.nvme.identify import (
    CNS_CONTROLLER,
    CNS_CSI_NAMESPACE,
    CNS_NAMESPACE,
    LbaFormat,
    identify_command,
    lba_format_in_use,
    lba_formats,
    max_transfer,
    namespace_size,
)


def test_identify_command_places_cns_cntid_and_csi_as_the_spec_says() -> None:
    cmd = identify_command(CNS_CSI_NAMESPACE, 2, csi=2, cntid=0x1234)
    assert (cmd.opcode, cmd.admin, cmd.nsid, cmd.data_len) == (0x06, True, 2, 4096)
    assert cmd.cdw10 == 0x1234_0005 and cmd.cdw11 == 0x0200_0000  # CNTID 31:16, CNS 7:0; CSI 31:24
    with pytest.raises(ValueError, match="CNS 256"):
        identify_command(256)


def test_an_lba_format_packs_into_the_dword_identify_namespace_lists() -> None:
    fmt = LbaFormat(4096, 64, relative_performance=2)
    assert fmt.lbads == 12 and fmt.dword() == 64 | 12 << 16 | 2 << 24
    assert LbaFormat.from_dword(fmt.dword()) == fmt and fmt.performance == "Good performance"
    assert LbaFormat(512, 8, extended=True).separate_metadata == 0
    assert LbaFormat(512, 8).separate_metadata == 8
    with pytest.raises(ValueError, match="512 bytes"):
        LbaFormat(1000)
    with pytest.raises(ValueError, match="LBADS 8"):
        LbaFormat.from_dword(8 << 16)


def _namespace(flbas: int, formats: list[int], nsze: int = 0) -> bytes:
    buf = bytearray(4096)
    buf[0:8] = nsze.to_bytes(8, "little")
    buf[25], buf[26] = len(formats) - 1, flbas
    for i, dword in enumerate(formats):
        buf[128 + 4 * i : 132 + 4 * i] = dword.to_bytes(4, "little")
    return bytes(buf)


def test_the_format_in_use_carries_flbas_extended_bit_and_the_others_do_not() -> None:
    data = _namespace(0x11, [9 << 16, 8 | 12 << 16 | 1 << 24, 0], nsze=1000)
    formats, in_use = lba_formats(data)
    assert in_use == 1 and namespace_size(data) == 1000
    assert formats == (LbaFormat(512), LbaFormat(4096, 8, 1, extended=True), None)
    assert lba_format_in_use(data) == LbaFormat(4096, 8, 1, extended=True)
    with pytest.raises(ValueError, match="LBADS 0"):
        lba_format_in_use(_namespace(0x02, [9 << 16, 9 << 16, 0]))
    with pytest.raises(ValueError, match="LBA format 5"):
        lba_format_in_use(_namespace(0x05, [9 << 16]))


def test_mdts_is_in_units_of_the_minimum_page_and_zero_means_no_limit() -> None:
    ctrl = bytearray(4096)
    assert max_transfer(bytes(ctrl)) == 0
    ctrl[77] = 5
    assert max_transfer(bytes(ctrl)) == 128 * 1024


@given(
    flbas=st.integers(0, 0x7F),
    formats=st.lists(st.integers(0, (1 << 26) - 1), min_size=1, max_size=64),
)
def test_the_format_in_use_agrees_with_the_decoders_reading(flbas: int, formats: list[int]) -> None:
    data = _namespace(flbas, formats)
    try:
        expected = current_lba_format(data)
    except ValueError:
        with pytest.raises(ValueError):
            lba_format_in_use(data)
        return
    got = lba_format_in_use(data)
    assert (got.lba_size, got.metadata_size, got.extended) == expected
    assert (got.lba_size, got.metadata_size, got.extended) == current_lba_format(
        decode("identify-namespace", data)
    )


async def test_every_backend_says_its_lba_format_and_a_controller_has_none() -> None:
    async with await open_backend("sim0n1") as ns, await open_backend("sim0") as ctrl:
        assert await ns.lba_format() == LbaFormat(512, relative_performance=1)
        assert await ctrl.lba_format() is None
        done = await ctrl.submit(identify_command(CNS_CONTROLLER))
        assert done.ok and done.data is not None and len(done.data) == 4096
        done = await ns.submit(identify_command(CNS_NAMESPACE, ns.nsid))
        assert done.ok and done.data is not None and lba_format_in_use(done.data).lba_size == 512
