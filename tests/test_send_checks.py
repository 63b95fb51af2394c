"""What `nvtui send` checks before anything reaches the device (issue 9), as a user meets it: output files
that could not be written, endless or oversized data files, raw commands the hardware would misread,
metadata nobody chose, an NSID for another namespace; and what it now works out for the user: the length
field from `--data-len`, Identify's NSID per CNS, CRD in the status line.

"Nothing sent" is shown by a recording backend (every submission through `open_backend`), beside the
simulator's own counters; each refusal has its control, the same input made right going through.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fuzz.recording import Recorder, install_recorder, is_session_query, run_cli, sim_counters

from nvtui.catalogue import load_catalogue
from nvtui.errors import UsageError
from nvtui.nvme.completion import Completion, Status
from nvtui.render import status_text
from nvtui.safeio import OutputFile
from nvtui.session import Session

CATALOGUE = load_catalogue(user_dir=False)
GET_LOG_PAGE, IDENTIFY, READ, WRITE = 0x02, 0x06, 0x02, 0x01


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with pytest.MonkeyPatch.context() as mp:
        yield install_recorder(mp)


def counters() -> dict[str, int]:
    """The simulator's read and write command counters (0 before it first saved its state)."""
    saved = sim_counters()
    return {k: saved.get(k, 0) for k in ("host_read_commands", "host_write_commands")}


def refused(argv: list[str], recorder: Recorder, *needles: str) -> str:
    """Run the CLI: exit 2, one line naming `needles`, nothing on stdout, nothing submitted."""
    mark, before = recorder.mark(), counters()
    done = run_cli(argv)
    assert done.raised is None, repr(done.raised)
    assert done.code == 2, f"{argv}: exit {done.code}\n{done.out}{done.err}"
    line = done.err.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line, done.err
    for needle in needles:
        assert needle in line, line
    assert done.out == ""
    assert recorder.user_commands_since(mark) == [], f"{argv} submitted {recorder.user_commands_since(mark)}"
    assert counters() == before
    return line


def sent(argv: list[str], recorder: Recorder, code: int = 0) -> tuple[dict[str, object], list[object]]:
    """Run the CLI with --json: the document and what was submitted (the user's command last)."""
    mark = recorder.mark()
    done = run_cli([*argv, "--json"])
    assert done.code == code, f"{argv}: exit {done.code}\n{done.err}"
    return json.loads(done.out), list(recorder.since(mark))


# ---- 1. output files are checked before anything is sent ------------------------------------------------


@pytest.mark.parametrize("kind", ["missing folder", "folder", "symlink", "character device"])
def test_an_output_file_that_cannot_be_written_is_refused_before_the_log_page_is_read(
    kind: str, tmp_path: Path, recorder: Recorder
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    target = {
        "missing folder": tmp_path / "no" / "such" / "folder" / "log.bin",
        "folder": tmp_path,
        "symlink": tmp_path / "planted.bin",
        "character device": Path("/dev/null"),
    }[kind]
    if kind == "symlink":
        target.symlink_to(victim)
    for option in ("--data-out",):
        refused(
            ["send", "sim0", "get-log-page", "lid=smart", option, str(target)], recorder, option, str(target)
        )
    assert victim.read_text() == "keep me"
    # The control: a file in an existing folder gets the 4 KiB the device returned.
    data, submitted = sent(
        ["send", "sim0", "get-log-page", "lid=smart", "--data-out", str(tmp_path / "ok.bin")], recorder
    )
    mine = [c for c in submitted if not is_session_query(c)]  # (the effects log is the session's own query)
    assert [c.opcode for c in mine] == [GET_LOG_PAGE]  # type: ignore[attr-defined]  (an admin command)
    assert (tmp_path / "ok.bin").stat().st_size == data["data_len"] == 4096


def test_an_nvme_cli_line_is_held_to_the_same_checks(tmp_path: Path, recorder: Recorder) -> None:
    refused(
        ["send", "sim0", "--nvme-cli", "nvme smart-log /dev/nvme0", "--data-out", str(tmp_path / "no" / "x")],
        recorder,
        "--data-out",
        "does not exist",
    )
    refused(
        ["send", "sim0", "--nvme-cli", "nvme admin-passthru /dev/nvme0 --opcode=0x06 --cdw10=1 --read"],
        recorder,
        "identify",
        "4096 bytes",
        "address 0",
    )
    out = tmp_path / "smart.bin"
    assert (
        run_cli(["send", "sim0", "--nvme-cli", "nvme smart-log /dev/nvme0", "--data-out", str(out)]).code == 0
    )
    assert out.stat().st_size == 512


def test_an_output_file_for_a_command_that_reads_nothing_is_refused(
    tmp_path: Path, recorder: Recorder
) -> None:
    refused(["send", "sim0", "keep-alive", "--data-out", str(tmp_path / "x.bin")], recorder, "--data-out")
    refused(
        ["send", "sim0n1", "identify", "cns=namespace", "--metadata-out", str(tmp_path / "m.bin")],
        recorder,
        "--metadata-out",
    )
    assert not (tmp_path / "x.bin").exists() and not (tmp_path / "m.bin").exists()


def test_a_failed_command_leaves_the_output_file_as_it_was(tmp_path: Path, recorder: Recorder) -> None:
    out = tmp_path / "block.bin"
    out.write_bytes(b"earlier read")
    done = run_cli(["send", "sim0n1", "read", "slba=0xffffffff", "nlb=1", "--data-out", str(out)])
    assert done.code == 1 and "LBA Out of Range" in done.out
    assert out.read_bytes() == b"earlier read" and "left as it was" in done.err
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_data_that_cannot_be_put_in_place_is_kept_beside_it(tmp_path: Path) -> None:
    out = OutputFile(tmp_path / "log.bin")
    (tmp_path / "log.bin").mkdir()  # the name taken by a folder between the check and the write
    with pytest.raises(UsageError, match="kept in") as refusal:
        out.commit(b"telemetry that cannot be read twice")
    kept = Path(str(refusal.value).rsplit("kept in ", 1)[1])
    assert kept.parent == tmp_path and kept.read_bytes() == b"telemetry that cannot be read twice"


def test_an_output_file_is_written_with_the_users_mode_and_never_through_a_link(tmp_path: Path) -> None:
    existing = tmp_path / "mine.bin"
    existing.write_bytes(b"old")
    existing.chmod(0o640)
    with OutputFile(existing) as out:
        out.commit(b"new")
    assert existing.read_bytes() == b"new" and existing.stat().st_mode & 0o777 == 0o640
    with pytest.raises(UsageError, match="does not exist"):
        OutputFile.check(tmp_path / "missing" / "x")


# ---- 2. --data-in is read within bounds ------------------------------------------------------------------


@pytest.mark.parametrize("source", ["/dev/zero", "/dev/urandom", "fifo", "folder"])
def test_an_endless_data_source_is_refused_without_reading_it(
    source: str, tmp_path: Path, recorder: Recorder
) -> None:
    path = Path(source)
    if source == "fifo":
        path = tmp_path / "pipe"
        os.mkfifo(path)
    elif source == "folder":
        path = tmp_path
    kind = {
        "/dev/zero": "character device",
        "/dev/urandom": "character device",
        "fifo": "FIFO",
        "folder": "folder",
    }
    refused(
        ["send", "sim0n1", "write", "slba=0", "nlb=1", "--data-in", str(path), "--allow-destructive"],
        recorder,
        "--data-in",
        kind[source],
    )


def test_a_huge_data_file_is_read_only_one_byte_past_what_the_command_moves(
    tmp_path: Path, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    huge = tmp_path / "huge.bin"
    with open(huge, "wb") as f:
        f.truncate(16 << 30)  # 16 GiB, sparse
    read_sizes: list[int] = []
    real_read = os.read

    def counting_read(fd: int, n: int) -> bytes:
        chunk = real_read(fd, n)
        read_sizes.append(len(chunk))
        return chunk

    monkeypatch.setattr(os, "read", counting_read)
    refused(
        ["send", "sim0n1", "write", "slba=0", "nlb=1", "--data-in", str(huge), "--allow-destructive"],
        recorder,
        "longer than the 512 bytes",
    )
    assert sum(read_sizes) == 513
    # Raw passthrough without --data-len: bounded too, and told how to go further.
    read_sizes.clear()
    refused(
        ["send", "sim0n1", "io-passthru", "opcode=0x01", "--data-in", str(huge), "--allow-destructive"],
        recorder,
        "longer than 64 MiB",
        "--data-len",
    )
    assert sum(read_sizes) == (64 << 20) + 1


def test_data_in_on_a_command_that_reads_is_refused_before_the_file_is_opened(
    tmp_path: Path, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    opened: list[str] = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda p, *a, **k: (opened.append(str(p)), real_open(p, *a, **k))[1])
    refused(
        ["send", "sim0n1", "read", "slba=0", "nlb=1", "--data-in", str(fifo)],
        recorder,
        "reads from the controller",
        "--data-in",
    )
    refused(["send", "sim0", "keep-alive", "--data-in", str(fifo)], recorder, "transfers no data")
    assert str(fifo) not in opened


# ---- 3. nothing the hardware would misread ---------------------------------------------------------------


def test_a_raw_command_whose_opcode_moves_data_needs_a_buffer_or_no_data(recorder: Recorder) -> None:
    line = refused(
        ["send", "sim0", "admin-passthru", "opcode=0x06", "cdw10=1"],
        recorder,
        "identify",
        "4096 bytes",
        "address 0",
    )
    assert "--data-len 4096" in line
    refused(["send", "sim0", "admin-passthru", "opcode=0x0a", "cdw10=1"], recorder, "--no-data", "address 0")
    refused(["send", "sim0", "admin-passthru", "opcode=0xc2", "--allow-destructive"], recorder, "--no-data")
    # The controls: the buffer the entry calls for, or the user's word that nothing moves.
    doc, submitted = sent(
        ["send", "sim0", "admin-passthru", "opcode=0x06", "cdw10=1", "--data-len", "4096"], recorder
    )
    assert doc["status"]["name"] == "Successful Completion" and submitted[-1].data_len == 4096  # type: ignore[index,attr-defined]
    doc, submitted = sent(["send", "sim0", "admin-passthru", "opcode=0x0a", "cdw10=1", "--no-data"], recorder)
    assert doc["status"]["sc"] == 0 and submitted[-1].data_len == 0  # type: ignore[index,attr-defined]
    refused(
        ["send", "sim0", "admin-passthru", "opcode=0x0a", "--no-data", "--data-len", "8"],
        recorder,
        "--no-data",
    )


def test_a_raw_read_whose_blocks_need_more_than_its_buffer_is_refused(recorder: Recorder) -> None:
    refused(
        ["send", "sim0n1", "io-passthru", "opcode=0x02", "cdw12=7", "--data-len", "512"],
        recorder,
        "nlb=8 x 512-byte LBAs = 4096 bytes",
        "past its end",
    )
    refused(
        ["send", "sim0n2", "io-passthru", "opcode=0x02", "cdw12=1", "--data-len", "4096"],
        recorder,
        "8192 bytes",
    )  # (the zoned namespace's 4 KiB blocks: its set builds on NVM's Read)
    doc, submitted = sent(
        ["send", "sim0n1", "io-passthru", "opcode=0x02", "cdw12=7", "--data-len", "4096"], recorder
    )
    assert doc["status"]["sc"] == 0 and submitted[-1].cdw12 == 7  # type: ignore[index,attr-defined]


async def test_the_namespaces_command_set_picks_the_entry_a_raw_opcode_is(tmp_path: Path) -> None:
    """A user catalogue's Key Value Retrieve shares opcode 02h with Read: on an NVM namespace (its
    descriptor list says CSI 0) a raw 02h is Read, so 512 bytes is the right buffer for one block."""
    kv = tmp_path / "kv.yaml"
    kv.write_text(
        "version: 1\ncommands:\n"
        "- {id: kv-retrieve, name: Retrieve, set: kv, opcode: 0x02, queue: io, help: KV retrieve,\n"
        "   data: {direction: read, length: 8192}, destructive: false}\n"
    )
    catalogue = load_catalogue([kv], user_dir=False)
    assert not catalogue.errors, catalogue.errors
    assert catalogue.entry_for_opcode("io", 0x02, "kv").id == "kv-retrieve"  # type: ignore[union-attr]
    assert catalogue.entry_for_opcode("io", 0x02, "zns").id == "read"  # type: ignore[union-attr]
    session = Session(catalogue)
    try:
        assert await session.command_set("sim0n1") == "nvm" and await session.command_set("sim0n2") == "zns"
        prepared = await session.prepare("sim0n1", "io-passthru", ["opcode=0x02"], data_len=512)
        assert prepared.command.data_len == 512
    finally:
        await session.close()


def test_an_io_command_for_another_namespace_is_refused_as_the_driver_would(recorder: Recorder) -> None:
    refused(["send", "sim0n1", "read", "nsid=2", "slba=0", "nlb=1"], recorder, "nsid=0x2", "sim0n1", "EINVAL")
    refused(["send", "sim0n1", "io-passthru", "opcode=0x00", "nsid=0xffffffff"], recorder, "EINVAL")
    refused(["send", "sim0n2", "flush", "nsid=all"], recorder, "EINVAL")
    _, submitted = sent(["send", "sim0n1", "read", "nsid=1", "slba=0", "nlb=1"], recorder)
    assert submitted[-1].nsid == 1  # type: ignore[attr-defined]


# ---- 4. metadata -----------------------------------------------------------------------------------------


@pytest.fixture
def metadata_namespace(recorder: Recorder) -> Iterator[None]:
    """sim0n1 formatted 512 + 8 bytes of separate metadata for the test, back to 512 after."""
    assert run_cli(["send", "sim0", "format-nvm", "nsid=1", "lbaf=2", "--allow-destructive"]).code == 0
    yield
    assert run_cli(["send", "sim0", "format-nvm", "nsid=1", "lbaf=0", "--allow-destructive"]).code == 0


def test_a_write_without_metadata_is_refused_on_a_metadata_namespace(
    tmp_path: Path, recorder: Recorder, metadata_namespace: None
) -> None:
    data = tmp_path / "block.bin"
    data.write_bytes(os.urandom(512))
    write = ["send", "sim0n1", "write", "slba=9", "nlb=1", "--data-in", str(data), "--allow-destructive"]
    refused(write, recorder, "8 bytes of metadata", "--metadata-in", "--zero-metadata")
    refused(
        [
            "send",
            "sim0n1",
            "io-passthru",
            "opcode=0x01",
            "cdw10=9",
            "--data-len",
            "512",
            "--data-in",
            str(data),
            "--allow-destructive",
        ],
        recorder,
        "8 bytes of metadata",
    )
    # Zeros, asked for by name, go through; and read back as zeros.
    doc, submitted = sent([*write, "--zero-metadata"], recorder)
    assert doc["metadata_len"] == 8 and submitted[-1].metadata == bytes(8)  # type: ignore[attr-defined]
    back = tmp_path / "meta.bin"
    doc, _ = sent(["send", "sim0n1", "read", "slba=9", "nlb=1", "--metadata-out", str(back)], recorder)
    assert doc["metadata_out"] == str(back) and back.read_bytes() == bytes(8)


def test_metadata_round_trips_through_metadata_in_and_out(
    tmp_path: Path, recorder: Recorder, metadata_namespace: None
) -> None:
    data, meta = tmp_path / "d.bin", tmp_path / "m.bin"
    data.write_bytes(os.urandom(4 * 512))
    meta.write_bytes(os.urandom(4 * 8))
    doc, submitted = sent(
        [
            "send",
            "sim0n1",
            "write",
            "slba=20",
            "nlb=4",
            "--data-in",
            str(data),
            "--metadata-in",
            str(meta),
            "--allow-destructive",
        ],
        recorder,
    )
    assert doc["metadata_len"] == 32 and submitted[-1].metadata == meta.read_bytes()  # type: ignore[attr-defined]
    data_back, meta_back = tmp_path / "d-back.bin", tmp_path / "m-back.bin"
    doc, _ = sent(
        [
            "send",
            "sim0n1",
            "read",
            "slba=20",
            "nlb=4",
            "--data-out",
            str(data_back),
            "--metadata-out",
            str(meta_back),
        ],
        recorder,
    )
    assert (doc["metadata_len"], doc["metadata_out"]) == (32, str(meta_back))
    assert data_back.read_bytes() == data.read_bytes() and meta_back.read_bytes() == meta.read_bytes()
    # The raw read of the same blocks gets its metadata buffer from Read's rule, and the same bytes.
    raw_meta = tmp_path / "raw-m.bin"
    doc, _ = sent(
        [
            "send",
            "sim0n1",
            "io-passthru",
            "opcode=0x02",
            "cdw10=20",
            "cdw12=3",
            "--data-len",
            "2048",
            "--metadata-out",
            str(raw_meta),
        ],
        recorder,
    )
    assert doc["metadata_len"] == 32 and raw_meta.read_bytes() == meta.read_bytes()
    # Metadata of the wrong size, metadata for a read, zeros and a file at once: refused.
    short, block = tmp_path / "short.bin", tmp_path / "one.bin"
    short.write_bytes(bytes(7))
    block.write_bytes(bytes(512))
    refused(
        [
            "send",
            "sim0n1",
            "write",
            "slba=20",
            "nlb=1",
            "--data-in",
            str(block),
            "--metadata-in",
            str(short),
            "--allow-destructive",
        ],
        recorder,
        "7 bytes",
        "8 bytes",
    )
    refused(["send", "sim0n1", "read", "slba=20", "--metadata-in", str(meta)], recorder, "--metadata-in")
    refused(
        [
            "send",
            "sim0n1",
            "write",
            "slba=20",
            "--data-in",
            str(block),
            "--metadata-in",
            str(meta),
            "--zero-metadata",
            "--allow-destructive",
        ],
        recorder,
        "--zero-metadata",
    )


def test_metadata_on_a_namespace_without_it_is_refused(tmp_path: Path, recorder: Recorder) -> None:
    meta = tmp_path / "m.bin"
    meta.write_bytes(bytes(8))
    data = tmp_path / "d.bin"
    data.write_bytes(bytes(512))
    refused(
        [
            "send",
            "sim0n1",
            "write",
            "slba=0",
            "--data-in",
            str(data),
            "--metadata-in",
            str(meta),
            "--allow-destructive",
        ],
        recorder,
        "keeps no separate metadata",
    )
    refused(
        ["send", "sim0n1", "read", "slba=0", "--metadata-out", str(tmp_path / "o.bin")],
        recorder,
        "--metadata-out",
    )


async def test_the_uring_backend_refuses_a_write_whose_metadata_is_a_length_alone() -> None:
    """The backend's own guard: a metadata length with no metadata would send the kernel's zeroed buffer."""
    from test_uring_host import _metadata_backend

    from nvtui.nvme.command import Command

    backend, sock = _metadata_backend()
    try:
        with pytest.raises(UsageError, match="must carry 16 bytes of metadata"):
            await backend.submit(
                Command(opcode=WRITE, admin=False, nsid=1, cdw12=1, data_len=1024, metadata_len=16)
            )
        assert backend.io_ring is not None and backend.io_ring.in_flight == 0
    finally:
        await backend.close()
        sock.close()


# ---- 5. --data-len sets the length field the user did not set -------------------------------------------


def test_data_len_derives_an_unset_length_field(recorder: Recorder) -> None:
    doc, submitted = sent(["send", "sim0", "get-log-page", "lid=smart", "--data-len", "512"], recorder)
    assert doc["fields"]["numd"] == 128 and doc["data_len"] == 512  # type: ignore[index]
    assert (submitted[-1].cdw10 >> 16) == 127  # type: ignore[attr-defined]  (NUMDL, 0-based)
    assert doc["decoded"] is not None  # the whole SMART log, decoded
    doc, submitted = sent(["send", "sim0n1", "read", "slba=0", "--data-len", "2048"], recorder)
    assert doc["fields"]["nlb"] == 4 and submitted[-1].cdw12 == 3  # type: ignore[index,attr-defined]
    refused(
        ["send", "sim0", "get-log-page", "lid=smart", "numd=1024", "--data-len", "512"],
        recorder,
        "--data-len 512 disagrees with numd=1024",
    )
    refused(["send", "sim0", "get-log-page", "--data-len", "513"], recorder, "not a whole number of dwords")
    refused(["send", "sim0n1", "read", "--data-len", "700"], recorder, "512-byte LBAs")


# ---- 6. Identify's NSID per CNS --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cns", "nsid"),
    [
        ("controller", 0),
        ("namespace", 1),
        ("active-ns-list", 0),
        ("ns-descriptor-list", 1),
        ("csi-controller", 0),
        ("io-command-set", 0),
        ("csi-namespace", 1),
    ],
)
def test_identify_sends_the_nsid_its_cns_asks_for(cns: str, nsid: int, recorder: Recorder) -> None:
    doc, submitted = sent(["send", "sim0n1", "identify", f"cns={cns}"], recorder)
    assert submitted[-1].nsid == nsid  # type: ignore[attr-defined]
    assert f"--namespace-id={nsid} " in str(doc["nvme_cli_passthru"])
    doc, submitted = sent(["send", "sim0n1", "identify", f"cns={cns}", "nsid=1"], recorder)
    assert submitted[-1].nsid == 1  # type: ignore[attr-defined]  (what the user gives is sent)


def test_a_default_chosen_by_another_field_is_checked_like_any_value(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "version: 1\ncommands:\n"
        "- id: vendor-id\n  name: Vendor identify\n  set: vendor\n  opcode: 0xc6\n  queue: admin\n  help: x\n"
        "  data: {direction: read, length: 4096}\n"
        "  fields:\n"
        "  - {name: cns, at: 'cdw10[7:0]', type: enum, values: {a: 1}}\n"
        "  - name: nsid\n    at: nsid\n    default: {by: nope, defaults: {a: device}}\n"
    )
    done = run_cli(["catalogue", "check", str(bad)])
    assert done.code == 2 and f"{bad}:14" in done.err and "nope" in done.err, done.err


# ---- 8. CRD is shown with DNR and More -------------------------------------------------------------------


def test_crd_is_shown_beside_dnr_and_more(recorder: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    status = Status.make(0, 0x82, dnr=False, more=True, crd=2)  # Namespace Not Ready, retry after CRDT2
    assert status_text(status) == "Namespace Not Ready (SCT 0x0, SC 0x82, More, CRD 2: retry after CRDT2)"
    assert "CRD" not in status_text(Status.make(0, 0x80, dnr=True))
    from nvtui.backend.sim.backend import SimBackend

    async def not_ready(self: SimBackend, cmd: object) -> Completion:
        return Completion(status, latency_ns=1000)

    monkeypatch.setattr(SimBackend, "submit", not_ready)
    done = run_cli(["send", "sim0", "keep-alive"])
    assert done.code == 1 and "CRD 2: retry after CRDT2" in done.out and "More" in done.out
    from nvtui.screens.result import status_text as tui_status_text

    class Result:
        completion = Completion(status)

    assert "CRD 2" in str(tui_status_text(Result()))  # type: ignore[arg-type]


async def test_the_nvme_cli_line_names_the_char_device_nvtui_opened() -> None:
    """Not the repr of the backend's DevicePath (`nvme id-ctrl 'DevicePath(name=...)'` on real devices),
    nor a symlink the user opened it through: each backend says its own nvme-cli path."""
    import os

    from nvtui.backend import open_backend
    from nvtui.backend.discovery import DevicePath
    from nvtui.backend.ioctl import IoctlBackend

    namespace = DevicePath("ng0n1", "nvme0", "/dev/nvme0", "/dev/ng0n1", 1)
    controller = DevicePath("nvme0", "nvme0", "/dev/nvme0", None, 0)
    for path, opened_as, expected in ((namespace, "/tmp/link-to-ng0n1", "/dev/ng0n1"),
                                      (controller, "nvme0", "/dev/nvme0")):  # fmt: skip
        backend = IoctlBackend(opened_as, path, os.open(os.devnull, os.O_RDONLY), workers=1)
        try:
            assert backend.nvme_cli_path == expected
        finally:
            await backend.close()
    async with await open_backend("sim0n1") as sim:
        assert sim.nvme_cli_path == "sim0n1"
