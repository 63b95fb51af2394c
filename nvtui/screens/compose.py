"""Compose: pick a catalogue command, fill its fields, watch the submission entry it makes, and send it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Label, Static
from textual.worker import get_current_worker

from nvtui.composition import Composition
from nvtui.errors import NvtuiError, UsageError
from nvtui.screens import messages
from nvtui.screens.base import SectionScreen, internal_error, says_failures
from nvtui.screens.safety import may_send
from nvtui.widgets.catalogue_list import CatalogueList
from nvtui.widgets.command_form import CommandForm
from nvtui.widgets.command_line import CommandLine
from nvtui.widgets.headless import steady_cursors
from nvtui.widgets.pending import send_watched
from nvtui.widgets.submission_view import SubmissionView

if TYPE_CHECKING:
    from nvtui.catalogue import Catalogue, CommandDef
    from nvtui.session import Prepared

RAW_ADMIN, RAW_IO = "admin-passthru", "io-passthru"


FORM_MOUNT_LIMIT = 10.0  # seconds: a form's widgets mount in milliseconds; a torn-down screen stops waiting


async def _mounted_whole(form: CommandForm) -> None:
    """Wait until every widget of `form` has handled its Mount: Textual's `await mount(...)` does not wait
    for the widgets a child composes, and a Select still mounting when its form is removed (a later pick)
    looks for parts of itself already gone, which stops the app (NoMatches in Select's mount, under load)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + FORM_MOUNT_LIMIT
    while form.parent is not None and loop.time() < deadline:
        if all(w.is_mounted for w in form.walk_children(Widget, with_self=True)):
            return
        await asyncio.sleep(0.005)


class ComposeScreen(SectionScreen):
    SECTION = "compose"
    DEFAULT_CSS = """
    ComposeScreen #compose-main {
        width: 1fr;
        padding: 0 0 0 1;
    }
    ComposeScreen #form-holder {
        height: 1fr;
    }
    ComposeScreen #command-line {
        margin: 0 1 0 0;
    }
    ComposeScreen #line-error {
        color: $text-error;
        height: 1;
        margin: 0 1 0 0;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    ComposeScreen #data-row {
        height: 1;
        margin: 0 0 1 0;
    }
    ComposeScreen #data-row Label {
        width: 5;
        text-style: bold;
    }
    ComposeScreen #data-len {
        width: 12;
        margin: 0 1 0 0;
    }
    ComposeScreen #data-in, ComposeScreen #data-out {
        width: 1fr;
        margin: 0 1 0 0;
    }
    ComposeScreen #meta-row {
        height: 1;
        margin: 0 0 1 0;
    }
    ComposeScreen #meta-row Label {
        width: 5;
        text-style: bold;
    }
    ComposeScreen #metadata-in, ComposeScreen #metadata-out {
        width: 1fr;
        margin: 0 1 0 0;
    }
    ComposeScreen #data-row Checkbox, ComposeScreen #meta-row Checkbox {
        width: auto;
        height: 1;
        border: none;
        padding: 0;
        margin: 0 1 0 0;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "send", "Send", priority=True),
        Binding("ctrl+f", "find", "Find", priority=True),
        Binding("ctrl+o", "jump", "Jump", priority=True),
        Binding("ctrl+e", "edit_line", "Line", priority=True),
        Binding("ctrl+r", "raw", "Raw"),
        Binding("ctrl+l", "load", "Load run"),
        Binding("ctrl+g", "whole_log", "Whole log", show=False),
    ]

    line_error: reactive[str] = reactive("")
    """The CLI's one-line error for what the command line says ("" when it reads); nothing is sent."""

    def __init__(self) -> None:
        super().__init__()
        self.defn: CommandDef | None = None
        self._files: dict[str, dict[str, str | bool]] = {}  # by command id: its data and metadata files
        self._line_written = ""  # the text the form last wrote into the command line
        self._line_follows_form = False  # after an nvme-cli import: the form's next change rewrites the line
        self._focus_after_mount = False
        # Forms are replaced one at a time, in the order picked, and only the latest pick's is mounted:
        # cancelling a replacement in the middle of Textual's remove or mount (an exclusive worker) could
        # leave the holder waiting on a form that never finishes pruning.
        self._form_lock = asyncio.Lock()
        self._form_wanted = 0  # the number of the latest pick
        self.form_values: dict[str, str] = {}
        self.form_valid = True
        self.prepared: Prepared | None = None
        self._pending: tuple[str, dict[str, str]] | None = None

    def compose_body(self) -> ComposeResult:
        with Horizontal():
            yield CatalogueList(id="catalogue")
            with Vertical(id="compose-main"):
                yield CommandLine(lambda: self.nvapp.catalogue, id="command-line")
                line_error = Static("", id="line-error")
                line_error.display = False  # shown while the line says something nvtui cannot read
                yield line_error
                with Vertical(id="form-holder"):
                    yield Static("Pick a command on the left (type to filter, Enter to pick).", id="no-form")
                with Horizontal(id="data-row"):
                    yield Label("data")
                    yield Input(placeholder="length", id="data-len", compact=True)
                    yield Input(placeholder="input file", id="data-in", compact=True)
                    yield Input(placeholder="output file", id="data-out", compact=True)
                    no_data = Checkbox("no data", id="no-data", compact=True)
                    no_data.tooltip = "a raw command whose opcode says it moves data moves none (--no-data)"
                    no_data.display = False  # shown for raw commands (open_command)
                    yield no_data
                with Horizontal(id="meta-row") as meta_row:
                    meta_row.display = False  # shown for commands that move metadata (open_command)
                    yield Label("meta")
                    yield Input(placeholder="metadata input file", id="metadata-in", compact=True)
                    yield Input(placeholder="metadata output file", id="metadata-out", compact=True)
                    zeros = Checkbox("zeros", id="zero-metadata", compact=True)
                    zeros.tooltip = "a write stores zeros as its metadata (--zero-metadata)"
                    yield zeros
                yield SubmissionView(id="submission")

    def on_mount(self) -> None:
        steady_cursors(self)
        self.watch(self.app, "catalogue", self._catalogue_changed)
        self.watch(self.app, "device", self._device_changed, init=False)
        self.query_one("#catalogue-filter", Input).focus()

    # --- attributes down ----------------------------------------------------------------------------

    def _catalogue_changed(self, catalogue: Catalogue | None) -> None:
        self.query_one(CatalogueList).set_catalogue(catalogue)
        if catalogue is None:
            return
        if self._pending is not None:
            command_id, assignments = self._pending
            self._pending = None
            self.open_command(command_id, assignments)
        elif self.defn is None and "identify" in catalogue:
            self.open_command("identify")

    def _device_changed(self, _device: str) -> None:
        self.refresh_preview()

    def open_command(self, command_id: str, assignments: dict[str, str] | None = None) -> None:
        """Show `command_id`'s form, prefilled with `assignments` (field -> text)."""
        catalogue = self.nvapp.catalogue
        if catalogue is None:
            self._pending = (command_id, dict(assignments or {}))
            return
        try:
            defn = catalogue.get(command_id)
        except UsageError as exc:
            self.notify(str(exc), severity="error")
            return
        self._swap_files(self.defn, defn)
        self.defn = defn
        self.prepared = None
        # Until the new form is mounted and says otherwise, the command is what was asked for: a send right
        # after the pick (Enter, Ctrl+S) sends this command, never the old form's values.
        self.form_values = dict(assignments or {})
        self.form_valid = True
        # Metadata files and zeros only where blocks carry metadata; "no data" only for raw commands.
        self.query_one("#meta-row").display = defn.metadata or defn.raw
        self.query_one("#no-data").display = defn.raw
        self.query_one(CatalogueList).select(defn.id)
        self._form_wanted += 1
        self.run_worker(self._replace_form(defn, assignments, self._form_wanted), group="form")

    def _swap_files(self, old: CommandDef | None, new: CommandDef) -> None:
        """File fields belong to the command they were set for: a write's input file is not a read's."""
        if old is not None and old.id == new.id:
            return
        inputs = list(self.query("#data-row Input, #meta-row Input").results(Input))
        boxes = list(self.query("#data-row Checkbox, #meta-row Checkbox").results(Checkbox))
        if old is not None:
            kept: dict[str, str | bool] = {w.id or "": w.value for w in inputs}
            kept.update({w.id or "": w.value for w in boxes})
            self._files[old.id] = kept
        restored = self._files.get(new.id, {})
        for field_input in inputs:
            field_input.value = str(restored.get(field_input.id or "", ""))
        for box in boxes:
            box.value = bool(restored.get(box.id or "", False))

    async def _replace_form(self, defn: CommandDef, assignments: dict[str, str] | None, pick: int) -> None:
        async with self._form_lock:
            if pick != self._form_wanted:
                return  # picked over before its turn: the later pick's form is the one to show
            holder = self.query_one("#form-holder")
            await holder.remove_children()
            form = CommandForm(defn, assignments, id="form")
            await holder.mount(form)
            await _mounted_whole(form)
        if pick != self._form_wanted:
            return
        if self._focus_after_mount:
            self._focus_after_mount = False
            self._focus_form()

    # --- events up ----------------------------------------------------------------------------------

    @on(CatalogueList.Picked)
    def _picked(self, event: CatalogueList.Picked) -> None:
        self._focus_after_mount = True  # on to the new form's first field, once it is there
        self.open_command(event.command_id, event.assignments)

    def _focus_form(self) -> None:
        """The new form's first field focused, the form shown from its top (the command's name and spec
        line): scrolling to the field as well would depend on whether the form was laid out yet."""
        controls = self.query("#form Input, #form Select, #form Checkbox")
        if controls:
            controls.first().focus(scroll_visible=False)
            self.query_one(CommandForm).scroll_home(animate=False)

    @on(CommandForm.Changed)
    def _form_changed(self, event: CommandForm.Changed) -> None:
        self.form_values = event.values
        self.form_valid = event.valid
        self.refresh_preview()
        line = self.query_one(CommandLine)
        if line.has_focus and not self._line_follows_form:
            return  # the user is typing the line: it is the source, the form follows it
        self._line_follows_form = False
        from nvtui.catalogue.cmdline import line_of

        text = line_of(event.form.defn, event.values)
        if text != line.value:
            self._line_written = text
            line.value = text
            line.cursor_position = len(text)
        self.line_error = ""

    @on(Input.Changed, "#command-line")
    def _line_changed(self, event: Input.Changed) -> None:
        """The line typed (or pasted): the form follows it. An nvme-cli line is imported."""
        event.stop()
        text = event.value
        if text == self._line_written:
            return  # what the form itself wrote
        self._line_written = ""
        catalogue = self.nvapp.catalogue
        if catalogue is None or not text.strip():
            self.line_error = ""  # an empty line says nothing: the form stands as it is
            return
        pasted = text.strip().removeprefix("sudo ").lstrip()  # from a shell's history, as often as not
        if pasted.startswith("nvme "):
            self.import_nvme_cli(pasted)
            return
        from nvtui.catalogue.cmdline import parse_line

        parsed = parse_line(catalogue, text)
        self.line_error = parsed.error or ""
        if parsed.defn is None:
            return
        forms = self.query(CommandForm)
        if forms and forms.first().defn is parsed.defn and self.defn is parsed.defn:
            forms.first().set_values(parsed.texts)
        else:  # another command (or its form not mounted yet): its form, filled from the line
            self.open_command(parsed.defn.id, parsed.texts)

    @work(exclusive=True, group="import")
    async def import_nvme_cli(self, line: str) -> None:
        """A pasted nvme-cli line becomes the command it means, on this screen's device (the line's own
        device is nvme-cli's; nvtui sends where the user is). One line says what cannot be mapped."""
        from nvtui.nvmecli.parse import parse_nvme_cli
        from nvtui.nvmecli.session import prepare_imported

        session, catalogue = self.nvapp.session, self.nvapp.catalogue
        if session is None or catalogue is None:
            return
        try:
            imported = parse_nvme_cli(line, catalogue)
            if imported.options.data is not None:
                raise UsageError(
                    f"nvme {imported.verb}: the form cannot carry the data this line builds; "
                    f"send it with `nvtui send --nvme-cli '{line}'`"
                )
            device = self.nvapp.device
            prepared = await prepare_imported(session, imported, allow_destructive=True, device=device)
        except NvtuiError as exc:
            self.line_error = str(exc)
            return
        except Exception as exc:
            self.line_error = internal_error(exc)
            return
        defn = prepared.defn
        texts = {}
        for f in defn.fields:
            if f.name in prepared.values:
                texts[f.name] = defn.text_of(f.name, prepared.values)
        self.line_error = ""
        self._line_follows_form = True
        self.open_command(defn.id, texts)
        options = imported.options
        files = {
            "data-len": str(options.data_len) if options.data_len is not None else "",
            "data-in": str(options.data_in or ""),
            "data-out": str(options.data_out or ""),
        }
        for ident, text in files.items():
            self.query_one(f"#{ident}", Input).value = text

    def watch_line_error(self, error: str) -> None:
        shown = self.query_one("#line-error", Static)
        shown.update(error)
        shown.display = bool(error)

    @on(Input.Changed, "#data-row Input, #meta-row Input")
    @on(Checkbox.Changed, "#data-row Checkbox, #meta-row Checkbox")
    def _data_changed(self) -> None:
        self.refresh_preview()

    @on(Input.Submitted, "#command-line")
    def _line_entered(self, event: Input.Submitted) -> None:
        """Enter on the command line: on to the form's first field (it never sends)."""
        event.stop()
        self._focus_form()

    @on(Input.Submitted, "#form-holder Input, #data-row Input, #meta-row Input")
    def _enter_moves_on(self, event: Input.Submitted) -> None:
        """Enter in a field moves to the next one; Ctrl+S sends (Enter never does: no accidental sends)."""
        event.stop()
        self.focus_next()

    # --- the composed command -----------------------------------------------------------------------

    def composition(self) -> Composition | None:
        """What the user composed, or None; raises UsageError for an unreadable data length."""
        if self.defn is None:
            return None
        from nvtui.numbers import NumberTooLong, parse_number  # the CLI's --data-len rule, to the letter

        text = self.query_one("#data-len", Input).value.strip()
        try:
            data_len = parse_number(text) if text else None
        except NumberTooLong as exc:
            raise UsageError(f"data length: {exc}") from None
        if text and data_len is None:
            raise UsageError(f"data length {text!r} is not a number (decimal or 0x-hex)")
        if data_len is not None and not 0 <= data_len <= 0xFFFFFFFF:
            raise UsageError(f"data length {data_len} out of range 0-4294967295")

        def path(field: str) -> Path | None:
            control = self.query_one(f"#{field}", Input)
            text = control.value.strip() if control.parent is None or control.parent.display else ""
            return Path(text).expanduser() if text else None

        def ticked(field: str) -> bool:
            control = self.query_one(f"#{field}", Checkbox)
            return control.value and control.display and (control.parent is None or control.parent.display)

        return Composition(
            self.defn.id,
            {k: v for k, v in self.form_values.items() if v != ""},
            data_len,
            path("data-in"),
            path("data-out"),
            path("metadata-in"),
            path("metadata-out"),
            ticked("zero-metadata"),
            ticked("no-data"),
        )

    def refresh_preview(self) -> None:
        self.preview()

    @work(exclusive=True, group="preview")
    async def preview(self) -> None:
        view = self.query_one(SubmissionView)
        session, device = self.nvapp.session, self.nvapp.device
        if self.defn is None or session is None:
            view.show_hint("")
            return
        try:
            composition = self.composition()
            self.post_message(messages.Composed(composition))
            if composition is None:
                return
            prepared = await session.prepare(
                device,
                self.defn,
                composition.assignments,
                **buffers(composition),
                allow_destructive=True,  # a preview never sends; the send asks first
            )
            backend = await session.backend(device)
        except NvtuiError as exc:
            self.prepared = None
            view.show_problem(str(exc))
            return
        except Exception as exc:  # never lose the app to a bug below: say what broke
            self.prepared = None
            view.show_problem(internal_error(exc))
            return
        from nvtui.nvmecli.export import nvme_cli_lines

        self.prepared = prepared
        path = backend.nvme_cli_path
        idiomatic, passthru = nvme_cli_lines(  # nvme-cli's own verb where one says it, and the passthru form
            self.nvapp.catalogue,
            prepared.defn,
            prepared.values,
            prepared.command,
            path,
            input_file=str(data_in) if (data_in := composition.data_in) else None,
            output_file=str(data_out) if (data_out := composition.data_out) else None,
        )
        cli = [idiomatic, passthru] if idiomatic and idiomatic != passthru else [passthru]
        notes = [
            f.zero_based_note(prepared.values[f.name])
            for f in prepared.defn.fields
            if f.zero_based and f.name in prepared.values
        ] + ([prepared.notice] if prepared.notice else [])  # an event request says it waits for an event
        view.show_command(prepared.command, cli, list(prepared.warnings), notes, prepared.destructive)

    # --- actions ------------------------------------------------------------------------------------

    def action_find(self) -> None:
        self.query_one("#catalogue-filter", Input).focus()

    def action_edit_line(self) -> None:
        """Ctrl+E: to the command line, its text selected (type a new line over it, or End to edit it)."""
        line = self.query_one(CommandLine)
        line.focus()
        line.select_all()

    def action_jump(self) -> None:
        """Jump mode: each field (then the line, the filter and the data files) with a hint key."""
        from nvtui.screens.jump import JumpScreen

        forms = self.query(CommandForm)
        targets = forms.first().targets() if forms else []
        targets += [
            ("command-line", "command-line"), ("filter", "catalogue-filter"), ("data-len", "data-len"),
            ("data-in", "data-in"), ("data-out", "data-out"),
        ]  # fmt: skip

        def jump(ident: str | None) -> None:
            if ident:
                self.query_one(f"#{ident}").focus()

        self.app.push_screen(JumpScreen(targets), jump)

    def action_raw(self) -> None:
        """Raw mode: any opcode and CDWs, through the admin (or, on a namespace, the I/O) passthru entry."""
        device = self.nvapp.device
        on_namespace = any(
            ns.name == device for c in self.nvapp.controllers for ns in c.namespaces
        ) or device.removeprefix("/dev/").startswith("ng")
        wanted = RAW_ADMIN if self.defn is None or self.defn.id == RAW_IO or not on_namespace else RAW_IO
        self.open_command(wanted)

    def action_load(self) -> None:
        self.app.switch_mode("load")

    def action_send(self) -> None:
        if self.defn is None:
            self.notify("Pick a command first.", severity="warning")
            return
        if self.line_error:
            self.notify(self.line_error, title="Not sent", severity="error")
            return
        if not self.form_valid:
            self.notify("A field is out of range or unreadable; see the red field.", severity="error")
            return
        self.send()

    def action_whole_log(self) -> None:
        """Ctrl+G: the whole telemetry log the form names (lid telemetry-host or telemetry-controller) into
        the output file, in MDTS-sized pieces, with a progress bar."""
        if self.defn is None or "get-log-page" not in (self.defn.id, self.defn.preset_of):
            self.notify("Ctrl+G fetches a whole telemetry log: pick get-log-page or telemetry-log first.",
                        severity="warning")  # fmt: skip
            return
        self.fetch_whole_log()

    @work(exclusive=True, group="send")
    @says_failures("Not fetched", timeout=8, rescan=True)
    async def fetch_whole_log(self) -> None:
        from nvtui.telemetry import TelemetryFailed, fetch_telemetry
        from nvtui.widgets.telemetry_progress import TelemetryProgress

        app = self.nvapp
        session, device = app.session, app.device
        composition = self.composition()
        if session is None or self.defn is None or composition is None:
            return
        if composition.data_out is None:
            raise UsageError("a whole log goes to a file: give the output file")
        values = self.defn.complete(self.defn.parse_given(composition.assignments))
        worker = get_current_worker()
        what = f"Telemetry log {values['lid']:02X}h of {device} into {composition.data_out}"
        dialog = TelemetryProgress(what, worker.cancel)
        await self.app.push_screen(dialog)
        try:
            log = await fetch_telemetry(
                session, device, composition.data_out, lid=values["lid"],
                create=bool(values.get("lsp", 0) & 1), progress=dialog.advance,
            )  # fmt: skip
        except TelemetryFailed as exc:
            self.notify(str(exc), title="Telemetry", severity="error", timeout=10)
            return
        finally:
            if self.app.screen is dialog:
                dialog.dismiss()
        for notice in log.notices:
            self.notify(notice, title="Telemetry", severity="warning", timeout=10)
        done = f"{log.size:,} bytes (data areas 1-{log.data_area}) in {log.pieces} pieces into {log.path}"
        self.notify(done, title=f"Telemetry log {log.lid:02X}h", timeout=8)

    @work(exclusive=True, group="send")
    @says_failures("Not sent", timeout=8, rescan=True)  # a device error: the device may have gone
    async def send(self) -> None:
        app = self.nvapp
        session, device = app.session, app.device
        if session is None or self.defn is None:
            self.notify("The catalogue is still loading.", severity="warning")
            return
        composition = self.composition()
        assert composition is not None
        prepared = await session.prepare(
            device,
            self.defn,
            composition.assignments,
            **buffers(composition),  # output files checked now, reserved by the send
            allow_destructive=True,  # judged below: read-only refuses, otherwise the user confirms
        )
        if not await may_send(self.app, prepared, "the command"):
            return
        result = await send_watched(self.app, session, prepared)  # elapsed time shown, Esc aborts
        if result is None:
            return
        if result.output_error is not None:
            self.notify(result.output_error, title="Output file", severity="error", timeout=10)
        self.post_message(messages.ShowResult(result))


def buffers(composition: Composition) -> dict[str, Any]:
    """The composition's data and metadata options, as `Session.prepare` takes them."""
    return {
        "data_len": composition.data_len,
        "data_in": composition.data_in,
        "data_out": composition.data_out,
        "metadata_in": composition.metadata_in,
        "metadata_out": composition.metadata_out,
        "zero_metadata": composition.zero_metadata,
        "no_data": composition.no_data,
    }
