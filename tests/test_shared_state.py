"""The app's shared state flows down by binding: each section's top bar shows the device and the safety mode
(READ-ONLY / WRITES ALLOWED) the app holds, and the Load screen's line names what a run repeats, as soon as
they change, on a screen already shown or one shown later."""

from __future__ import annotations

from nvtui.composition import Composition
from nvtui.screens.load import LoadScreen
from nvtui.widgets.topbar import TopBar
from tests.pilots import until
from tests.test_app import SIZE, make_app, ready, sim_env  # noqa: F401  (sim_env: the autouse fixture)


def top_bar(app: object) -> str:
    screen = app.screen  # type: ignore[attr-defined]
    return str(screen.query_one(TopBar).render())


async def test_ctrl_w_and_a_new_device_show_on_every_sections_top_bar() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await until(pilot, lambda: "READ-ONLY" in top_bar(app) and "sim0n1" in top_bar(app), "the top bar")
        await pilot.press("ctrl+w")
        await until(pilot, lambda: "WRITES ALLOWED" in top_bar(app), "writes allowed on the Devices screen")
        app.device = "sim0n2"
        await until(pilot, lambda: "sim0n2" in top_bar(app), "the new device on the Devices screen")
        await pilot.press("f5")  # a screen first shown now starts with the app's state
        await until(pilot, lambda: isinstance(app.screen, LoadScreen), "the Load screen")
        await until(pilot, lambda: "WRITES ALLOWED" in top_bar(app) and "sim0n2" in top_bar(app), "its bar")
        await pilot.press("ctrl+w")
        await until(pilot, lambda: "READ-ONLY" in top_bar(app), "read-only again")


async def test_the_load_screen_names_what_it_repeats_and_where() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("f5")
        await until(pilot, lambda: isinstance(app.screen, LoadScreen), "the Load screen")
        line = lambda: str(app.screen.query_one("#load-command").render())  # noqa: E731
        first = "repeats: identify cns=1 (compose another in F3) on sim0n1"
        await until(pilot, lambda: line() == first, "the default")
        app.composition = Composition("read", {"slba": "16", "nlb": "8"})
        await until(pilot, lambda: line() == "repeats: read slba=16 nlb=8 on sim0n1", "the composed read")
        app.device = "sim0n2"
        await until(pilot, lambda: line() == "repeats: read slba=16 nlb=8 on sim0n2", "the new device")
