"""The TUI's settings persist in the XDG config folder: the theme and the command timeout chosen in the TUI
are there at the next start; a bad settings file is one line naming the file, its line and the field."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from nvtui.app import NvtuiApp
from nvtui.errors import UsageError
from nvtui.locations import settings_file
from nvtui.settings import Settings, load_settings, save_settings
from tests.pilots import until
from tests.test_app import SIZE, ready, sim_env  # noqa: F401  (sim_env: the autouse fixture)


def test_absent_settings_are_the_defaults_and_saved_ones_come_back() -> None:
    assert load_settings() == Settings()
    save_settings(Settings(theme="nord", timeout=30))
    path = settings_file()
    assert json.loads(path.read_text()) == {"theme": "nord", "timeout": 30}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_settings() == Settings(theme="nord", timeout=30)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{\n  "theme": "nord",\n  "timeout": 0\n}\n', ":3: field timeout: 0 out of range 1-86400 seconds"),
        ('{\n  "timeout": "10"\n}\n', ':2: field timeout: a whole number of seconds, not "10"'),
        ('{\n  "timeout": true\n}\n', ":2: field timeout: a whole number of seconds, not true"),
        ('{\n  "colour": 1\n}\n', ":2: field colour: unknown setting (known: theme, timeout, scripts_"),
        ('{\n  "theme": "nord",\n  oops\n}\n', ":3: not valid JSON: Expecting property name enclosed"),
        ("[1, 2]\n", ":1: the settings are a JSON object"),
    ],
)
def test_a_bad_settings_file_is_one_line_with_file_and_line(text: str, message: str) -> None:
    path = settings_file()
    path.parent.mkdir(parents=True, mode=0o700)
    path.write_text(text)
    with pytest.raises(UsageError) as info:
        load_settings()
    assert str(info.value).startswith(f"{path}{message}") and "\n" not in str(info.value)


def test_a_symlinked_settings_file_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.json"
    target.write_text('{"timeout": 5}')
    path = settings_file()
    path.parent.mkdir(parents=True, mode=0o700)
    path.symlink_to(target)
    with pytest.raises(UsageError, match="cannot read"):
        load_settings()


async def test_the_timeout_and_the_theme_chosen_in_the_tui_persist() -> None:
    app = NvtuiApp(include_real_devices=False)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+t")
        await until(pilot, lambda: type(app.screen).__name__ == "PathPrompt", "the timeout prompt")
        await pilot.press("ctrl+u", "7", "enter")
        await until(pilot, lambda: app.settings.timeout == 7, "the setting")
        assert app.session is not None and app.session.default_timeout == 7
        prepared = await app.session.prepare("sim0n1", "identify", ["cns=1"])
        assert prepared.timeout == 7 and prepared.command.timeout_ms == 7000  # the kernel's too
        aer = await app.session.prepare("sim0n1", "aer")
        assert aer.timeout == 10  # an entry's own timeout stays
        app.theme = "nord"
        await until(pilot, lambda: app.settings.theme == "nord", "the theme to be kept")
    assert json.loads(settings_file().read_text()) == {"theme": "nord", "timeout": 7}
    again = NvtuiApp(include_real_devices=False)
    async with again.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert again.theme == "nord" and again.session is not None and again.session.default_timeout == 7


async def test_a_bad_timeout_typed_in_the_tui_changes_nothing() -> None:
    app = NvtuiApp(include_real_devices=False)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+t")
        await until(pilot, lambda: type(app.screen).__name__ == "PathPrompt", "the timeout prompt")
        await pilot.press("ctrl+u", *"0x0", "enter")
        refused = lambda: any("timeout '0x0'" in n.message for n in app._notifications)  # noqa: E731
        await until(pilot, refused, "the refusal")
        assert app.settings.timeout is None and not os.path.lexists(settings_file())


async def test_a_bad_settings_file_is_said_once_and_the_tui_works(sim_env: Path) -> None:  # noqa: F811
    path = settings_file()
    path.parent.mkdir(parents=True, mode=0o700)
    path.write_text('{"timeout": -3}')
    app = NvtuiApp(include_real_devices=False)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        (message,) = [n.message for n in app._notifications if str(path) in n.message]
        assert message == f"{path}:1: field timeout: -3 out of range 1-86400 seconds"
        assert app.settings == Settings() and app.session is not None and app.session.default_timeout is None
    assert path.read_text() == '{"timeout": -3}'  # left as it was


def test_the_palette_finds_scripts_in_the_scripts_folder_the_settings_name(sim_env: Path) -> None:  # noqa: F811
    from nvtui.screens.scripts import find_scripts

    folder = sim_env / "my-scripts"
    folder.mkdir()
    (folder / "check.yaml").write_text("nvtui-script: 2\nsteps: []\n")
    (folder / "other.yaml").write_text("version: 1\ncommands: []\n")  # a catalogue, not a script
    assert find_scripts() == []
    save_settings(Settings(scripts_folder=str(folder)))
    assert find_scripts() == [folder / "check.yaml"]
