"""Scripts: save the history (or a selection of it) as a YAML command script; open a script and replay it
step by step or whole, each step on the device it recorded (or the one it is mapped to: m), its outcome
beside the command."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Checkbox, DataTable, Label, SelectionList, Static

from nvtui.errors import NvtuiError
from nvtui.locations import scripts_dir
from nvtui.screens.base import SectionScreen, Styles, role, says_failures, says_failures_now
from nvtui.screens.modals import PathPrompt
from nvtui.screens.safety import may_replay

if TYPE_CHECKING:
    from nvtui.scripts import CommandScript, DeviceMap, ScriptStep, StepOutcome
    from nvtui.session import SendResult

DEFAULT_SCRIPT = "nvtui-script.yaml"
SCRIPT_MARK = "nvtui-script:"


def scripts_folder() -> Path:
    """The scripts folder: the settings' `scripts_folder`, else `locations.scripts_dir()`."""
    from nvtui.settings import load_settings

    try:
        return load_settings().scripts_path()
    except NvtuiError:  # a bad settings file is said at start; the default folder meanwhile
        return scripts_dir()


def find_scripts(limit: int = 50) -> list[Path]:
    """Command scripts in the working directory and the scripts folder (files starting `nvtui-script:`)."""
    found: list[Path] = []
    for folder in (Path.cwd(), scripts_folder()):
        if not folder.is_dir():
            continue
        for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
            try:
                with path.open(encoding="utf-8", errors="replace") as f:
                    head = f.read(400)
            except OSError:
                continue
            if any(line.startswith(SCRIPT_MARK) for line in head.splitlines()):
                found.append(path)
            if len(found) >= limit:
                return found
    return found


def fields_text(fields: dict[str, int | str]) -> str:
    return " ".join(f"{k}={v}" for k, v in fields.items())


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def expected_cell(step: ScriptStep) -> Text:
    """Before a replay: the status the step recorded."""
    if step.expect is None:
        return Text("expects success", style="dim")
    return Text(f"expects {'success' if (step.expect.sct, step.expect.sc) == (0, 0) else step.expect.name}",
                style="dim")  # fmt: skip


def outcome_cell(outcome: StepOutcome, styles: Styles | None = None) -> Text:
    """The replayed step: "✓ same" when its status (and data, where recorded) equal the recorded ones,
    else what differs: the status by name, or "data differs"."""
    if outcome.result is None:
        return Text(f"✗ error: {outcome.error}", style=role(styles, "error", bold=True))
    if outcome.matches:
        return Text("✓ same", style=role(styles, "success", bold=True))
    if outcome.status_matches:
        return Text("✗ data differs", style=role(styles, "error", bold=True))
    status = outcome.result.completion.status
    return Text(f"✗ {status.name}", style=role(styles, "error", bold=True))


class ScriptsScreen(SectionScreen):
    SECTION = "scripts"
    DEFAULT_CSS = """
    ScriptsScreen #scripts-history {
        height: 7;
        border-top: solid $primary-darken-2;
    }
    ScriptsScreen Label.heading {
        text-style: bold;
        padding: 0 1;
    }
    ScriptsScreen #history-select {
        height: 1fr;
        border: none;
    }
    ScriptsScreen .history-head {
        height: 1;
    }
    ScriptsScreen .history-head Label {
        width: 1fr;
    }
    ScriptsScreen #pin {
        border: none;
        height: 1;
        padding: 0;
    }
    ScriptsScreen #script-pane {
        height: 1fr;
    }
    ScriptsScreen #script-info {
        height: auto;
        max-height: 3;
    }
    ScriptsScreen #script-steps {
        height: 1fr;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "save(True)", "Save all"),
        Binding("s", "save(False)", "Save selected"),
        Binding("o", "open", "Open"),
        Binding("n", "step", "Step"),
        Binding("r", "replay", "Replay all"),
        Binding("m", "map_devices", "Map devices"),
    ]
    # Column widths: step, device and outcome fixed; command and key fields share what is left.
    FIXED_WIDTHS: ClassVar[dict[str, int]] = {"n": 3, "device": 7, "outcome": 24}

    def __init__(self) -> None:
        super().__init__()
        self.script: CommandScript | None = None
        self.script_path: Path | None = None
        self.next_step = 0
        self.confirmed = False  # the up-front confirmation of the open script's destructive steps
        self.device_specs: list[str] = []  # the user's mapping, as `nvtui run --device` values
        self.outcomes: dict[int, StepOutcome] = {}

    def compose_body(self) -> ComposeResult:
        with Vertical(id="script-pane"):
            yield Static(
                "No script open. o: open a script; a / s: save the history as one.", id="script-info"
            )
            yield DataTable(id="script-steps", cursor_type="row", zebra_stripes=True)
        with Vertical(id="scripts-history"):
            with Horizontal(classes="history-head"):
                yield Label("History: space selects, a saves all, s the selection", classes="heading")
                yield Checkbox("pin to device", id="pin", compact=True)
            yield SelectionList[int](id="history-select")

    def on_mount(self) -> None:
        self._fill_table()

    def on_resize(self) -> None:
        if self.script is not None:
            self._fill_table()

    def on_screen_resume(self) -> None:
        self._fill_history()

    def _history(self) -> list[SendResult]:
        session = self.nvapp.session
        return list(session.history) if session is not None else []

    def _fill_history(self) -> None:
        history = self._history()
        selection = self.query_one("#history-select", SelectionList)
        if selection.option_count == len(history):
            return
        chosen = set(selection.selected)
        selection.clear_options()
        styles = self.theme_styles()
        for i, r in enumerate(history):
            ok = r.completion.status.ok
            label = Text(f"{i + 1:>3} ")
            label.append("✓ " if ok else "✗ ", style=role(styles, "success" if ok else "error"))
            label.append(f"{r.prepared.defn.id} ")
            label.append(r.prepared.device, style="dim")
            selection.add_option((label, i, i in chosen))

    # --- saving -------------------------------------------------------------------------------------

    def action_save(self, everything: bool) -> None:
        history = self._history()
        selected = sorted(self.query_one("#history-select", SelectionList).selected)
        results = history if everything else [history[i] for i in selected if i < len(history)]
        if not results:
            why = "nothing sent yet" if not history else "nothing selected (space selects, a saves all)"
            self.notify(f"No script saved: {why}.", severity="warning")
            return
        self.save(results)

    @work(exclusive=True, group="scripts")
    @says_failures()
    async def save(self, results: list[SendResult]) -> None:
        from nvtui.scripts import script_from_history

        default = str(self.script_path or Path.cwd() / DEFAULT_SCRIPT)
        answer = await self.app.push_screen_wait(
            PathPrompt(f"Save {len(results)} command(s) as a script", default, "path/to/script.yaml")
        )
        if not answer:
            return
        path = Path(answer).expanduser()
        pin = self.query_one("#pin", Checkbox).value
        script = script_from_history(results, pin_device=self.nvapp.device if pin else None)
        script.save(path)
        self.notify(f"Saved {len(results)} step(s) to {path}; `nvtui run {path}` replays it headless.")
        self.open_script(path)

    # --- opening ------------------------------------------------------------------------------------

    @work(exclusive=True, group="scripts")
    async def action_open(self) -> None:
        default = str(self.script_path or Path.cwd() / DEFAULT_SCRIPT)
        answer = await self.app.push_screen_wait(PathPrompt("Open a command script", default, "script.yaml"))
        if answer:
            self.open_script(Path(answer).expanduser())

    @says_failures_now("Cannot open the script", timeout=10)
    def open_script(self, path: Path) -> None:
        from nvtui.scripts import CommandScript

        script = CommandScript.load(path)
        self.script, self.script_path = script, path
        self.next_step, self.confirmed = 0, False
        self.device_specs, self.outcomes = [], {}
        self._fill_table()
        self._show_info()
        self.query_one("#script-steps", DataTable).focus()

    def _fill_table(self) -> None:
        """The steps, one row each: step, device, command, the fields that tell it apart, and its outcome
        (the recorded status until it is replayed). Widths fit the screen, so the outcome is always in
        view; a long field list is cut short (the script file has it whole)."""
        from nvtui.scripts import key_fields

        table = self.query_one("#script-steps", DataTable)
        cursor = table.cursor_row
        table.clear(columns=True)
        fixed = self.FIXED_WIDTHS
        # Each column has 1 cell of padding either side; the scrollbar takes 2 when the rows overflow.
        room = max((table.size.width or self.app.size.width) - sum(fixed.values()) - 5 * 2 - 2, 20)
        distinct = self.script.step_list.distinct if self.script is not None else []
        longest = max((len(step.command) for step in distinct), default=7)
        command_width = max(min(longest, 26, room // 2), 7)
        fields_width = room - command_width
        table.add_column("#", key="n", width=fixed["n"])
        table.add_column("device", key="device", width=fixed["device"])
        table.add_column("command", key="command", width=command_width)
        table.add_column("key fields", key="fields", width=fields_width)
        table.add_column("outcome", key="outcome", width=fixed["outcome"])
        if self.script is None:
            return
        devices = self._device_map()
        catalogue = self.nvapp.catalogue
        for i, step in enumerate(self.script.steps):
            device = devices.target(step.device or self.script.device) or "-"
            done = self.outcomes.get(i)
            outcome = outcome_cell(done, self.theme_styles()) if done is not None else expected_cell(step)
            table.add_row(
                str(i + 1), clip(device, fixed["device"]), clip(step.command, command_width),
                clip(fields_text(key_fields(step, catalogue)), fields_width), outcome, key=str(i),
            )  # fmt: skip
        if 0 <= cursor < table.row_count:
            table.move_cursor(row=cursor)

    def _device_map(self) -> DeviceMap:
        """The user's mapping; steps that record no device go to the device chosen in the TUI."""
        from dataclasses import replace

        from nvtui.scripts import DeviceMap

        return replace(DeviceMap.parse(self.device_specs), fallback=self.nvapp.device)

    def _targets(self) -> str:
        """`sim0n1, sim0n2`: where the open script's steps go."""
        assert self.script is not None
        devices = self._device_map()
        targets = {devices.target(s.device or self.script.device) for s in self.script.step_list.distinct}
        return ", ".join(sorted(t for t in targets if t)) or "-"

    def _show_info(self, extra: str = "") -> None:
        if self.script is None or self.script_path is None:
            return
        info = Text()
        info.append(f"{self.script_path.name}", style="bold")
        mapped = f" (mapped: {' '.join(self.device_specs)})" if self.device_specs else ""
        info.append(f"  {len(self.script.steps)} steps on {self._targets()}{mapped}")
        done = min(self.next_step, len(self.script.steps))
        info.append(f"  next: step {done + 1}" if done < len(self.script.steps) else "  all steps sent")
        if extra:
            info.append(f"\n{extra}")
        self.query_one("#script-info", Static).update(info)

    # --- replaying ----------------------------------------------------------------------------------

    def action_step(self) -> None:
        if self.script is None:
            self.notify("Open a script first (o).", severity="warning")
            return
        if self.next_step >= len(self.script.steps):
            self.next_step = 0  # start over
            self._clear_outcomes()
        self.replay(only=self.next_step)

    def action_replay(self) -> None:
        if self.script is None:
            self.notify("Open a script first (o).", severity="warning")
            return
        self.next_step = 0
        self._clear_outcomes()
        self.replay(only=None)

    def _clear_outcomes(self) -> None:
        self.outcomes = {}
        table = self.query_one("#script-steps", DataTable)
        assert self.script is not None
        for i, step in enumerate(self.script.steps):
            table.update_cell(str(i), "outcome", expected_cell(step))

    @work(exclusive=True, group="scripts")
    @says_failures("Devices not mapped")
    async def action_map_devices(self) -> None:
        """Map recorded devices to others: `NEW` sends every step to NEW, `OLD=NEW` one recorded device's
        steps (as `nvtui run --device`); `OLD=OLD` (what the prompt first offers) keeps a device."""
        from nvtui.scripts import DeviceMap, recorded_devices

        if self.script is None:
            self.notify("Open a script first (o).", severity="warning")
            return
        recorded = recorded_devices(self.script)
        current = " ".join(self.device_specs) or " ".join(f"{d}={d}" for d in recorded) or self.nvapp.device
        title = f"Map devices (recorded: {', '.join(recorded) or 'none'})"
        answer = await self.app.push_screen_wait(PathPrompt(title, current, "NEW or OLD=NEW ..."))
        if answer is None:
            return
        specs = answer.split()
        DeviceMap.parse(specs)
        self.device_specs = [s for s in specs if s.partition("=")[0] != s.partition("=")[2]]  # drop OLD=OLD
        self.confirmed = False  # the destructive steps are judged again for the new devices
        self._fill_table()
        self._show_info()

    @work(exclusive=True, group="replay")
    @says_failures("Replay stopped", timeout=10)
    async def replay(self, only: int | None) -> None:
        """Replay the whole script, or only step `only`; destructive steps are confirmed once, up front."""
        from nvtui.scripts import destructive_steps, replay

        app, script = self.nvapp, self.script
        session = app.session
        if session is None or script is None or self.script_path is None:
            return
        devices = self._device_map()
        if not self.confirmed:
            risky = await destructive_steps(session, script, devices)
            if not await may_replay(self.app, self._targets(), risky, self.script_path.name):
                return
            self.confirmed = True
        if only is None:
            part, offset = script, 0
        else:
            part, offset = script.with_steps([script.steps[only]], first=only), only
        table = self.query_one("#script-steps", DataTable)

        def on_step(outcome: StepOutcome) -> None:
            index = outcome.index + offset
            self.outcomes[index] = outcome
            table.update_cell(str(index), "outcome", outcome_cell(outcome, self.theme_styles()))
            table.move_cursor(row=index)
            self.next_step = index + 1

        outcomes = await replay(session, part, devices, allow_destructive=True, on_step=on_step)
        self._fill_history()
        matched = sum(o.matches for o in outcomes)
        self._show_info(f"{matched}/{len(outcomes)} replayed step(s) matched their recorded status")
