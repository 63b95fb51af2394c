"""The Scripts screen replays a script saved on two devices where each step went (the zone steps to the zoned
namespace), maps recorded devices with m (all to one, or one by one), and refuses a device that is neither
there nor mapped before anything is sent."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot

from nvtui.app import NvtuiApp
from nvtui.screens.scripts import ScriptsScreen
from tests.pilots import until
from tests.test_app import SIZE, ready, sim_env  # noqa: F401  (sim_env: the autouse fixture)
from tests.test_snapshots_scripts import TWO_DEVICES


@pytest.fixture
def two_devices(sim_env: Path) -> Path:  # noqa: F811
    path = sim_env / "two-devices.yaml"
    path.write_text(TWO_DEVICES)
    return path


async def opened(pilot: Pilot[int], path: Path) -> ScriptsScreen:
    app = await ready(pilot)
    await pilot.press("f6")
    await until(pilot, lambda: isinstance(app.screen, ScriptsScreen), "the Scripts screen")
    screen = app.screen
    assert isinstance(screen, ScriptsScreen)
    screen.open_script(path)
    return screen


async def map_devices(pilot: Pilot[int], screen: ScriptsScreen, text: str) -> None:
    await pilot.press("m")
    await until(pilot, lambda: type(pilot.app.screen).__name__ == "PathPrompt", "the mapping prompt")
    await pilot.press("ctrl+u", *text, "enter")
    await until(pilot, lambda: pilot.app.screen is screen, "the prompt to close")


def sent_to(app: NvtuiApp) -> list[tuple[str, str]]:
    assert app.session is not None
    return [(r.prepared.defn.id, r.prepared.device) for r in app.session.history]


async def test_each_step_goes_to_the_device_it_recorded(two_devices: Path) -> None:
    app = NvtuiApp(include_real_devices=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, two_devices)
        await pilot.press("r")
        await until(pilot, lambda: len(screen.outcomes) == 5, "the replay")
        assert sent_to(app)[3] == ("zone-mgmt-recv", "sim0n2")
        assert all(o.matches for o in screen.outcomes.values())


async def test_m_maps_devices_all_to_one_or_one_by_one(two_devices: Path) -> None:
    app = NvtuiApp(include_real_devices=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, two_devices)
        await map_devices(pilot, screen, "sim0n1")
        await pilot.press("r")
        await until(pilot, lambda: len(screen.outcomes) == 5, "the replay")
        assert {device for _, device in sent_to(app)} == {"sim0n1"}
        zone = screen.outcomes[3]
        assert zone.result is not None and zone.result.completion.status.name == "Invalid Command Opcode"
        await app.workers.wait_for_complete()
        # One by one: the namespaces swapped.
        await map_devices(pilot, screen, "sim0n1=sim0n2 sim0n2=sim0n1")
        assert screen.device_specs == ["sim0n1=sim0n2", "sim0n2=sim0n1"]
        before = len(sent_to(app))
        await pilot.press("r")
        await until(pilot, lambda: len(sent_to(app)) == before + 5, "the second replay")
        assert sent_to(app)[before:][0] == ("identify", "sim0n2")
        assert sent_to(app)[before:][3] == ("zone-mgmt-recv", "sim0n1")


async def test_a_missing_device_is_one_line_and_nothing_is_sent(sim_env: Path) -> None:  # noqa: F811
    path = sim_env / "elsewhere.yaml"
    path.write_text(TWO_DEVICES.replace("sim0n2", "ng7n2"))
    app = NvtuiApp(include_real_devices=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, path)
        await pilot.press("r")
        await until(pilot, lambda: any("ng7n2" in n.message for n in app._notifications), "the refusal")
        await app.workers.wait_for_complete()
        (message,) = [n.message for n in app._notifications if "ng7n2" in n.message]
        assert "step 4 (zone-mgmt-recv): it went to ng7n2, which cannot be opened here" in message
        assert "\n" not in message and sent_to(app) == [] and screen.outcomes == {}
