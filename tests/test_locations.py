"""Where nvtui keeps its files, and the rules that keep a root nvtui from being redirected: folders only the
user can write, files opened without following symlinks, temporary files made exclusively, inputs bounded."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from nvtui import locations
from nvtui.errors import UsageError
from nvtui.locations import UnsafeFolder, private_dir
from nvtui.safeio import OutputFile, TooLong, read_input, read_private, write_atomic

NOBODY = 65534


def test_every_folder_follows_one_rule_for_its_variables(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(var, "relative/ignored")  # not absolute: ignored, as the XDG spec says
    monkeypatch.delenv("NVTUI_SIM_DIR")
    monkeypatch.delenv("NVTUI_CACHE_DIR")
    home = tmp_path / "home"
    assert locations.user_catalogue_dir() == home / ".config" / "nvtui" / "commands.d"
    assert locations.settings_file() == home / ".config" / "nvtui" / "settings.json"
    assert locations.scripts_dir() == home / ".local" / "share" / "nvtui" / "scripts"
    assert locations.state_dir() == home / ".local" / "state" / "nvtui" / "sim"
    assert locations.cache_dir() == home / ".cache" / "nvtui"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NVTUI_SIM_DIR", "here/sim")  # NVTUI_* paths may be relative to the working folder
    monkeypatch.setenv("NVTUI_CACHE_DIR", "~/c")
    assert locations.state_dir() == tmp_path / "here" / "sim"
    assert locations.cache_dir() == home / "c"
    monkeypatch.setenv("NVTUI_CACHE_DIR", "off")
    assert locations.cache_dir() is None


def test_a_private_folder_is_created_for_the_user_alone(tmp_path: Path) -> None:
    made = private_dir(tmp_path / "a" / "b" / "c")
    for folder in (tmp_path / "a", tmp_path / "a" / "b", made):
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert private_dir(made) == made  # an existing good folder is fine


def test_a_planted_symlink_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "victim").mkdir(mode=0o700)
    (tmp_path / "state").symlink_to(tmp_path / "victim")
    with pytest.raises(UnsafeFolder, match="symbolic link"):
        private_dir(tmp_path / "state")


def test_a_folder_others_can_write_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(UnsafeFolder, match=r"mode 0777\); chmod go-w"):
        private_dir(shared)
    inner = tmp_path / "open" / "inner"
    inner.mkdir(parents=True, mode=0o700)
    (tmp_path / "open").chmod(0o777)  # its parent lets anyone rename it away
    with pytest.raises(UnsafeFolder, match=r"parent .*open can be written"):
        private_dir(inner)
    (tmp_path / "open").chmod(0o1777)  # sticky, like /tmp: nobody else can rename what is ours
    assert private_dir(inner) == inner


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to hand a folder to another user")
def test_another_users_folder_is_refused(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, NOBODY, NOBODY)
    with pytest.raises(UnsafeFolder, match=f"belongs to uid {NOBODY}"):
        private_dir(theirs)


def test_an_atomic_write_replaces_a_planted_symlink_instead_of_following_it(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    (tmp_path / "state.json").symlink_to(victim)
    write_atomic(tmp_path / "state.json", b"{}")
    assert victim.read_bytes() == b"precious"
    assert not (tmp_path / "state.json").is_symlink()
    assert (tmp_path / "state.json").read_bytes() == b"{}"
    assert stat.S_IMODE(os.stat(tmp_path / "state.json").st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json", "victim"]  # no temporary left


def test_own_files_are_never_read_through_a_symlink_nor_past_their_bound(tmp_path: Path) -> None:
    (tmp_path / "real").write_bytes(b"x" * 10)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(OSError):
        read_private(tmp_path / "link", 100)
    assert read_private(tmp_path / "real", 10) == b"x" * 10
    with pytest.raises(TooLong):
        read_private(tmp_path / "real", 9)


def test_endless_and_special_inputs_are_refused_before_reading(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="/dev/zero is a character device"):
        read_input(Path("/dev/zero"), 512, "--data-in")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="is a FIFO"):
        read_input(fifo, 512, "--data-in")
    with pytest.raises(UsageError, match="is a folder"):
        read_input(tmp_path, 512, "--data-in")
    big = tmp_path / "big"
    big.write_bytes(bytes(4096))
    with pytest.raises(TooLong, match="longer than the 512 bytes"):
        read_input(big, 512, "--data-in")
    assert read_input(big, 4096, "--data-in") == bytes(4096)
    with pytest.raises(UsageError, match="No such file"):
        read_input(tmp_path / "missing", 1, "--data-in")


def test_an_output_file_is_checked_and_reserved_before_anything_is_sent(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"folder .*no/such does not exist"):
        OutputFile(tmp_path / "no" / "such" / "x")
    with pytest.raises(UsageError, match="is a folder"):
        OutputFile(tmp_path)
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    (tmp_path / "out").symlink_to(victim)
    with pytest.raises(UsageError, match="is a symbolic link"):
        OutputFile(tmp_path / "out")
    with OutputFile(tmp_path / "data.bin") as out:
        out.commit(b"read back")
    assert (tmp_path / "data.bin").read_bytes() == b"read back"
    with OutputFile(tmp_path / "data.bin"):
        pass  # not committed (the command failed): the old file stays, no temporary is left
    assert (tmp_path / "data.bin").read_bytes() == b"read back"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.bin", "out", "victim"]
    assert victim.read_bytes() == b"precious"


@pytest.mark.skipif(os.geteuid() != 0, reason="root writes anywhere: the folder's write check is for users")
def test_an_output_folder_the_user_cannot_write_is_named() -> None:
    import shutil
    import tempfile

    locked = Path(tempfile.mkdtemp(prefix="nvtui-locked-"))  # in /tmp: others may enter, not write
    locked.chmod(0o755)
    try:
        _as_nobody_output_is_refused(locked)
    finally:
        shutil.rmtree(locked)


def _as_nobody_output_is_refused(locked: Path) -> None:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        os.setgid(NOBODY)
        os.setuid(NOBODY)
        try:
            OutputFile(locked / "x")
        except UsageError as exc:
            os._exit(0 if "cannot write in" in str(exc) else 1)
        os._exit(2)
    _pid, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
