"""Issue 9's send-path checks against the real Linux nvme driver and QEMU's controller: a raw command
without the buffer its opcode needs never reaches the driver; an I/O command for another namespace is
refused before the driver (which refuses it too, with EINVAL); metadata round-trips through --metadata-in
and --metadata-out on the namespace formatted with 8 bytes of separate metadata, over uring_cmd and the
ioctl; a device named through a symlink (or a node made elsewhere) is the device it leads to; Identify
Controller on a namespace goes out with NSID 0, as nvme-cli's id-ctrl; --data-len sets NUMD.

In-process `main()` calls (a process start costs seconds under TCG); a recording backend sees every
submission, so "refused before the driver" is a fact, not a guess.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fuzz.recording import Recorder, install_recorder, run_cli

from nvtui.backend.ioctl import open_ioctl
from nvtui.backend.uring import open_uring
from nvtui.errors import DeviceError
from tests.vm.conftest import block_device
from tests.vm.nvm import rw

pytestmark = pytest.mark.vm

READ = 0x02
BACKENDS = [[], ["--backend", "ioctl"]]


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with pytest.MonkeyPatch.context() as mp:
        yield install_recorder(mp)


def refused(argv: list[str], recorder: Recorder, *needles: str) -> None:
    mark = recorder.mark()
    done = run_cli(argv)
    assert done.code == 2, f"{argv}: exit {done.code}\n{done.out}{done.err}"
    for needle in needles:
        assert needle in done.err, done.err
    assert recorder.user_commands_since(mark) == [], f"{argv} reached the driver"


def sent(argv: list[str]) -> dict[str, object]:
    done = run_cli([*argv, "--json"])
    assert done.code == 0, f"{argv}: exit {done.code}\n{done.err}"
    return json.loads(done.out)  # type: ignore[no-any-return]


@pytest.mark.parametrize("backend", BACKENDS, ids=["uring", "ioctl"])
def test_a_raw_command_without_its_buffer_never_reaches_the_driver(
    backend: list[str], recorder: Recorder, nvme_ctrl: str, ns_conventional: str, tmp_path: Path
) -> None:
    refused(
        ["send", ns_conventional, "io-passthru", "opcode=0x02", "cdw10=8", *backend],
        recorder,
        "read",
        "no buffer",
        "address 0",
    )
    refused(
        ["send", ns_conventional, "io-passthru", "opcode=0x02", "cdw12=7", "--data-len", "512", *backend],
        recorder,
        "4096 bytes",
        "past its end",
    )
    refused(
        ["send", nvme_ctrl, "admin-passthru", "opcode=0x06", "cdw10=1", *backend],
        recorder,
        "identify",
        "4096 bytes",
    )
    # The controls: with the buffers their catalogue entries call for, the driver takes them.
    raw, ref = tmp_path / "raw.bin", tmp_path / "read.bin"
    sent(
        [
            "send",
            ns_conventional,
            "io-passthru",
            "opcode=0x02",
            "cdw10=8",
            "cdw12=7",
            "--data-len",
            "4096",
            "--data-out",
            str(raw),
            *backend,
        ]
    )
    sent(["send", ns_conventional, "read", "slba=8", "nlb=8", "--data-out", str(ref), *backend])
    assert raw.read_bytes() == ref.read_bytes() and len(raw.read_bytes()) == 4096
    doc = sent(
        ["send", nvme_ctrl, "admin-passthru", "opcode=0x06", "cdw10=1", "--data-len", "4096", *backend]
    )
    assert doc["data_len"] == 4096


def test_an_io_command_for_another_namespace_is_refused_before_the_driver_refuses_it(
    recorder: Recorder, nvme_namespaces: dict[int, str], ns_conventional: str
) -> None:
    own = next(n for n, dev in nvme_namespaces.items() if dev == ns_conventional)
    other = next(n for n in nvme_namespaces if n != own)
    refused(["send", ns_conventional, "read", f"nsid={other}", "slba=0", "nlb=1"], recorder, "EINVAL")
    # Flush may change block content by QEMU's effects log: allowed, it is still refused for its NSID
    refused(
        ["send", ns_conventional, "io-passthru", "opcode=0x00", f"nsid={other}", "--allow-destructive"],
        recorder,
        "EINVAL",
    )

    async def straight_to_the_driver() -> list[str]:
        errors = []
        for opener in (open_ioctl, open_uring):
            dev = opener(ns_conventional)
            try:
                with pytest.raises(DeviceError) as caught:
                    await dev.submit(rw(READ, other, 0, 1, 512))
                errors.append(str(caught.value))
            finally:
                await dev.close()
        return errors

    for error in asyncio.run(straight_to_the_driver()):  # what nvtui spares the user: the kernel's word
        assert "EINVAL" in error or "Invalid argument" in error, error


@pytest.mark.parametrize("backend", BACKENDS, ids=["uring", "ioctl"])
def test_metadata_round_trips_through_metadata_in_and_out(
    backend: list[str], recorder: Recorder, ns_metadata: str, tmp_path: Path
) -> None:
    slba = 2048 if backend else 1024
    data, meta = tmp_path / "d.bin", tmp_path / "m.bin"
    data.write_bytes(os.urandom(4 * 512))
    meta.write_bytes(os.urandom(4 * 8))
    write = [
        "send",
        ns_metadata,
        "write",
        f"slba={slba}",
        "nlb=4",
        "--data-in",
        str(data),
        "--allow-destructive",
    ]
    refused([*write, *backend], recorder, "8 bytes of metadata per block", "--metadata-in", "--zero-metadata")
    doc = sent([*write, "--metadata-in", str(meta), *backend])
    assert doc["metadata_len"] == 32
    data_back, meta_back = tmp_path / "d-back.bin", tmp_path / "m-back.bin"
    doc = sent(
        [
            "send",
            ns_metadata,
            "read",
            f"slba={slba}",
            "nlb=4",
            "--data-out",
            str(data_back),
            "--metadata-out",
            str(meta_back),
            *backend,
        ]
    )
    assert (doc["metadata_len"], doc["metadata_out"]) == (32, str(meta_back))
    assert data_back.read_bytes() == data.read_bytes() and meta_back.read_bytes() == meta.read_bytes()
    # The raw read of the same blocks gets the metadata buffer Read's rule gives, and the same bytes.
    raw_meta = tmp_path / "raw-m.bin"
    sent(
        [
            "send",
            ns_metadata,
            "io-passthru",
            "opcode=0x02",
            f"cdw10={slba}",
            "cdw12=3",
            "--data-len",
            "2048",
            "--metadata-out",
            str(raw_meta),
            *backend,
        ]
    )
    assert raw_meta.read_bytes() == meta.read_bytes()
    # Zeros, asked for by name, are what the blocks then hold.
    sent([*write, "--zero-metadata", *backend])
    sent(["send", ns_metadata, "read", f"slba={slba}", "nlb=4", "--metadata-out", str(meta_back), *backend])
    assert meta_back.read_bytes() == bytes(32)

    async def oracle() -> bytes | None:  # the ioctl, below the catalogue, sees the same
        dev = open_ioctl(ns_metadata)
        try:
            return (await dev.submit(rw(READ, dev.nsid, slba, 4, 512, metadata_len=32))).metadata
        finally:
            await dev.close()

    assert asyncio.run(oracle()) == bytes(32)


def test_a_device_named_through_a_symlink_is_the_device(
    nvme_namespaces: dict[int, str], ns_conventional: str, tmp_path: Path
) -> None:
    own = next(n for n, dev in nvme_namespaces.items() if dev == ns_conventional)
    link = tmp_path / "harness-link"
    link.symlink_to(ns_conventional)
    by_id = tmp_path / "by-id" / "nvme-QEMU_NVMe_Ctrl_nvtui0001"
    by_id.parent.mkdir()
    by_id.symlink_to(block_device(ns_conventional))  # as udev links /dev/disk/by-id: to the block device
    node = tmp_path / "mknod-node"
    os.mknod(node, stat.S_IFCHR | 0o600, os.stat(ns_conventional).st_rdev)  # a node under no NVMe name
    expected = sent(["send", ns_conventional, "identify", "cns=namespace"])["decoded"]
    for name in (link, by_id, node):
        doc = sent(["send", str(name), "identify", "cns=namespace"])
        assert f"--namespace-id={own} " in str(doc["nvme_cli_passthru"]) and doc["decoded"] == expected, name
        assert sent(["send", str(name), "read", "slba=0", "nlb=1"])["status"]["sc"] == 0  # type: ignore[index]
    not_nvme = tmp_path / "null-link"
    not_nvme.symlink_to("/dev/null")
    done = run_cli(["send", str(not_nvme), "identify"])
    assert done.code == 2 and "is not an NVMe device" in done.err


def test_identify_controller_on_a_namespace_goes_out_with_nsid_0_like_nvme_cli(
    nvme_cli: str, nvme_ctrl: str, ns_conventional: str
) -> None:
    doc = sent(["send", ns_conventional, "identify", "cns=controller"])
    assert doc["fields"]["nsid"] == 0 and "--namespace-id=0 " in str(doc["nvme_cli_passthru"])  # type: ignore[index]
    theirs = json.loads(
        subprocess.run(
            [nvme_cli, "id-ctrl", nvme_ctrl, "-o", "json"], capture_output=True, text=True, check=True
        ).stdout
    )
    decoded = doc["decoded"]
    assert isinstance(decoded, dict)
    assert (decoded["sn"], decoded["mn"], decoded["cntlid"]) == (
        theirs["sn"].strip(),
        theirs["mn"].strip(),
        theirs["cntlid"],
    )


def test_data_len_sets_numd_on_a_real_controller(nvme_ctrl: str) -> None:
    doc = sent(["send", nvme_ctrl, "get-log-page", "lid=smart", "--data-len", "512"])
    assert doc["fields"]["numd"] == 128 and doc["data_len"] == 512  # type: ignore[index]
    decoded = doc["decoded"]
    assert isinstance(decoded, dict) and "temperature" in decoded
