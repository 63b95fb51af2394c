"""Hypothesis strategies for `nvtui send` with files that must never be read or written: device files,
FIFOs and folders as data, output paths that are folders, planted symlinks, devices or in missing folders,
on commands that would otherwise go through (the command lists below are each sent whole by a control).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hypothesis import strategies as st

# Commands that read from the controller, and what they read: (device, command and fields).
READERS: list[tuple[str, list[str]]] = [
    ("sim0", ["get-log-page", "lid=smart"]),
    ("sim0", ["get-log-page", "lid=error", "numd=64"]),
    ("sim0n1", ["identify", "cns=controller"]),
    ("sim0n1", ["read", "slba=0", "nlb=2"]),
    ("sim0n1", ["io-passthru", "opcode=0x02", "cdw12=0", "--data-len", "512"]),
    ("sim0", ["admin-passthru", "opcode=0x06", "cdw10=1", "--data-len", "4096"]),
    ("sim0n2", ["zone-mgmt-recv", "numd=64"]),
]
# Commands that send data, and how many bytes: (device, command and fields, bytes).
WRITERS: list[tuple[str, list[str], int]] = [
    ("sim0n1", ["write", "slba=40", "nlb=1"], 512),
    ("sim0n1", ["write", "slba=40", "nlb=2"], 1024),
    ("sim0n1", ["io-passthru", "opcode=0x01", "cdw10=40", "--data-len", "512"], 512),
    ("sim0n1", ["compare", "slba=40", "nlb=1"], 512),
    ("sim0n1", ["dataset-management", "nr=1"], 16),
    ("sim0n2", ["zone-append", "zslba=0", "nlb=1"], 4096),
]


@dataclass(frozen=True)
class SendPaths:
    """Files in a temporary folder: good data of each writer's size, and bad inputs and outputs, each with
    what the refusal must say."""

    folder: str
    good_data: dict[int, str]
    bad_inputs: tuple[tuple[str, str], ...]  # (path, a word the error names it by)
    bad_outputs: tuple[tuple[str, str], ...]
    victim: str  # what a planted symlink points to: must never change
    victim_text: str


def make_send_paths(folder: Path) -> SendPaths:
    folder.mkdir(parents=True, exist_ok=True)
    good = {}
    for size in sorted({n for _, _, n in WRITERS}):
        path = folder / f"data-{size}.bin"
        path.write_bytes(bytes([0x5A]) * size)
        good[size] = str(path)
    victim = folder / "victim.txt"
    victim.write_text("the user's file")
    fifo = folder / "pipe"
    if not fifo.exists():
        os.mkfifo(fifo)
    (folder / "a-folder").mkdir(exist_ok=True)
    planted = folder / "planted"
    if not planted.is_symlink():
        planted.symlink_to(victim)
    to_zero = folder / "to-zero"
    if not to_zero.is_symlink():
        to_zero.symlink_to("/dev/zero")
    dangling = folder / "dangling"
    if not dangling.is_symlink():
        dangling.symlink_to(folder / "gone")
    bad_inputs = (
        ("/dev/zero", "character device"),
        ("/dev/urandom", "character device"),
        ("/dev/null", "character device"),
        (str(to_zero), "character device"),  # a link is followed for input, and its target refused
        (str(fifo), "FIFO"),
        (str(folder / "a-folder"), "folder"),
        (str(folder / "missing.bin"), "No such file"),
        (str(dangling), "No such file"),
    )
    bad_outputs = (
        (str(folder / "a-folder"), "folder"),
        (str(planted), "symbolic link"),
        (str(dangling), "symbolic link"),
        (str(fifo), "FIFO"),
        ("/dev/null", "character device"),
        (str(folder / "no" / "such" / "folder" / "out.bin"), "does not exist"),
        (str(victim / "out.bin"), "Not a directory"),  # a file used as a folder
    )
    return SendPaths(str(folder), good, bad_inputs, bad_outputs, str(victim), "the user's file")


@dataclass(frozen=True)
class BadSend:
    argv: list[str]
    option: str  # the option the refusal names
    word: str  # and what it says about the file
    kind: str


@st.composite
def bad_sends(draw: st.DrawFn, paths: SendPaths) -> BadSend:
    """A `send` that would go through but for one file: a bad --data-in on a writer, or a bad --data-out or
    --metadata-out on a reader; the options in any order, with or without --json."""
    if draw(st.booleans()):
        device, command, _ = draw(st.sampled_from(WRITERS))
        path, word = draw(st.sampled_from(paths.bad_inputs))
        option, kind = "--data-in", "input"
        extra = ["--allow-destructive"]
    else:
        device, command = draw(st.sampled_from(READERS))
        path, word = draw(st.sampled_from(paths.bad_outputs))
        option, kind = draw(st.sampled_from(["--data-out", "--metadata-out"])), "output"
        extra = []
        if option == "--metadata-out":  # a reader of blocks, on a namespace without metadata: refused too
            word = ""
    options = [[option, path], extra, ["--json"] if draw(st.booleans()) else []]
    order = draw(st.permutations(range(3)))
    argv = ["send", device, *command]
    for i in order:
        argv += options[i]
    return BadSend(argv, option, word, kind)
