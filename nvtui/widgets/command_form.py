"""A form built from a catalogue entry's fields: enums as selects, flags as checkboxes, integers as inputs.

Integers accept decimal or 0x-hex and are checked by the field's own parser (range, names), so the form
and the CLI accept exactly the same text. Every change posts `CommandForm.Changed` with the values as
typed; the owner turns them into a command through the session layer.
"""

from __future__ import annotations

from contextlib import suppress
from typing import TYPE_CHECKING, ClassVar

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.validation import ValidationResult, Validator
from textual.widgets import Checkbox, Input, Label, Select, Static
from textual.widgets.select import InvalidSelectValueError

from nvtui.errors import UsageError
from nvtui.widgets.headless import steady_cursors

if TYPE_CHECKING:
    from nvtui.catalogue import CommandDef, FieldDef


CUSTOM = "\0custom"  # the select option that opens the number box beside an enum


class FieldValidator(Validator):
    """Valid when the catalogue field parses the text (decimal, 0x-hex, or a value name, in range)."""

    def __init__(self, fdef: FieldDef) -> None:
        super().__init__()
        self.fdef = fdef

    def validate(self, value: str) -> ValidationResult:
        if value.strip() == "" and not self.fdef.required:
            return self.success()  # blank: the field's default
        try:
            self.fdef.parse(value)
        except UsageError as exc:
            return self.failure(str(exc))
        return self.success()


class FlagBox(Checkbox, inherit_bindings=False):
    """A flag field: Space toggles it; Enter moves on to the next field, as in every other field."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_button", "Toggle", show=False),
        Binding("enter", "next", "Next field", show=False),
    ]

    def action_next(self) -> None:
        self.screen.focus_next()


class CommandForm(VerticalScroll, can_focus=False):  # Tab goes field to field, not to the scroller
    """The fields of one command. `values` maps each field name to its text ("" = default)."""

    DEFAULT_CSS = """
    CommandForm {
        height: 1fr;
        padding: 0 1 0 0;
    }
    CommandForm .field {
        height: auto;
    }
    CommandForm .field:focus-within {
        height: auto;  /* a rule on .field itself, so Textual restyles its help when focus comes and goes */
    }
    CommandForm .field-row {
        height: 1;
    }
    CommandForm .field-name {
        width: 10;
        text-style: bold;
    }
    CommandForm .field-row Input, CommandForm .field-row Select {
        width: 1fr;
    }
    CommandForm .field-row Input.custom-value {
        width: 12;
        margin: 0 0 0 1;
    }
    CommandForm .field-row Checkbox {
        border: none;
        height: 1;
        padding: 0;
        width: 1fr;
    }
    CommandForm .field-help {
        color: $text-muted;
        height: auto;
        margin: 0 0 0 10;
        display: none;
    }
    CommandForm .field:focus-within .field-help {
        display: block;  /* one line per field; the focused one says what it is */
    }
    CommandForm .command-help {
        color: $text-muted;
        height: auto;
        margin: 0 0 1 0;
    }
    """

    class Changed(Message):
        def __init__(self, form: CommandForm, values: dict[str, str], valid: bool) -> None:
            super().__init__()
            self.form = form
            self.values = values
            self.valid = valid

        @property
        def control(self) -> CommandForm:
            return self.form

    def __init__(
        self, defn: CommandDef, initial: dict[str, str] | None = None, *, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.defn = defn
        self.initial = dict(initial or {})
        # The command's fields, then its data buffer's (from the layout: a broken one leaves them out, and
        # a send says why).
        try:
            self.field_defs = defn.form_fields
        except UsageError:
            self.field_defs = defn.fields

    def compose(self) -> ComposeResult:
        d = self.defn
        where = f" ({d.spec})" if d.spec else ""
        opcode = "any opcode" if d.raw else f"opcode {d.opcode:#04x}"
        yield Static(f"[b]{d.name}[/b]: {opcode}, {d.queue} queue{where}\n{d.help}", classes="command-help")
        for f in self.field_defs:
            with Vertical(classes="field"):
                with Horizontal(classes="field-row"):
                    yield Label(f.name, classes="field-name")
                    yield self._control(f)
                    if f.kind == "enum" and f.values:
                        yield self._custom_input(f)
                yield Static(self._help_text(f), classes="field-help")
        if not self.field_defs:
            yield Static("This command has no fields.", classes="command-help")

    def _help_text(self, f: FieldDef) -> str:
        parts = [f.help] if f.help else []
        parts.append(f"{f.location}, {f.range_text()}")
        if f.zero_based:
            parts.append(f.zero_based_note())
        return " · ".join(parts)

    def _initial_text(self, f: FieldDef) -> str:
        if f.name in self.initial:
            return self.initial[f.name]
        if (
            f.kind == "bytes"
            or self._length_of(f) is not None
            or f.name == self.defn.byte_count_field
            or f.buffer
        ):  # a key is typed; its length field is set from it; a value's size from the data; a buffer field
            return ""  # given builds the buffer
        return "" if f.default is None or f.default_by is not None else str(f.default)

    def _length_of(self, f: FieldDef) -> str | None:
        """The byte string (a KV key) whose length `f` carries, or None."""
        keys = (b.name for b in self.defn.fields if b.kind == "bytes" and b.length_field == f.name)
        return next(keys, None)

    @staticmethod
    def _enum_name(f: FieldDef, text: str) -> str | None:
        """The value name `text` stands for (a name, or a number that has one), else None."""
        try:
            return f.name_of(f.parse(text)) if text.strip() else None
        except UsageError:
            return None

    def _control(self, f: FieldDef) -> Input | Select[str] | FlagBox:
        text = self._initial_text(f)
        ident = f"field-{f.name}"
        if f.kind == "flag":
            on_ = text.strip().lower() in {"1", "true", "yes", "on"}
            return FlagBox(f.help or f.name, on_, id=ident, compact=True)
        if f.kind == "enum" and f.values:
            options = [(f"{name} ({number:#x})", name) for name, number in f.values.items()]
            options.append(("other value…", CUSTOM))
            chosen = self._enum_name(f, text)
            if chosen is None and text.strip():
                chosen = CUSTOM
            return Select(
                options,
                value=chosen if chosen is not None else Select.NULL,
                allow_blank=chosen is None,
                id=ident,
                compact=True,
            )
        placeholder = "namespace of the device" if f.default is None else f"default {f.default}"
        if f.kind == "bytes":
            placeholder = "text, or 0x-hex bytes"
        elif f.kind == "list":
            placeholder = "data buffer: 1 or 1,2,..."
        elif f.buffer:
            placeholder = "data buffer: 0 unless given"
        elif (keyed := self._length_of(f)) is not None:
            placeholder = f"set from {keyed}"
        elif f.name == self.defn.byte_count_field:
            placeholder = "set from the data (input file)"
        elif f.default_by is not None:  # left empty: the session picks the default by the other field's value
            placeholder = f"default by {f.default_by.by}"
        return Input(
            text,
            placeholder=placeholder,
            validators=[FieldValidator(f)],
            id=ident,
            compact=True,
        )  # entering a field selects its text: typing 16384 over 0 gives 16384

    def _custom_input(self, f: FieldDef) -> Input:
        """Beside an enum's select: any number in range, for values the catalogue does not name."""
        text = self._initial_text(f)
        custom = bool(text.strip()) and self._enum_name(f, text) is None
        field_input = Input(
            text if custom else "",
            placeholder="0x..",
            validators=[FieldValidator(f)],
            id=f"custom-{f.name}",
            compact=True,
            classes="custom-value",
        )
        field_input.display = custom
        return field_input

    def on_mount(self) -> None:
        steady_cursors(self)
        self._post_changed()

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """The focused field's help is shown under it: scroll so that it is seen too."""
        for node in event.widget.ancestors:
            if isinstance(node, Vertical) and node.has_class("field"):
                self.call_after_refresh(self.scroll_to_widget, node, animate=False)
                return

    @property
    def values(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for f in self.field_defs:
            control = self.query_one(f"#field-{f.name}")
            if isinstance(control, Checkbox):
                out[f.name] = "1" if control.value else "0"
            elif isinstance(control, Select):
                if control.value == CUSTOM:
                    out[f.name] = self.query_one(f"#custom-{f.name}", Input).value.strip()
                else:
                    out[f.name] = "" if control.value is Select.NULL else str(control.value)
            elif isinstance(control, Input):
                out[f.name] = control.value.strip()
        return out

    @property
    def valid(self) -> bool:
        return all(i.is_valid for i in self.query(Input) if i.display)  # a hidden number box is not used

    def set_value(self, name: str, text: str) -> None:
        """Set one field as if typed (used by tests and by the palette's prefilled commands)."""
        control = self.query_one(f"#field-{name}")
        if isinstance(control, Checkbox):
            control.value = text.strip().lower() in {"1", "true", "yes", "on"}
        elif isinstance(control, Select):
            chosen = self._enum_name(self.defn.field(name), text)
            if chosen is None:
                self.query_one(f"#custom-{name}", Input).value = text
                control.value = CUSTOM
            else:
                control.value = chosen
        elif isinstance(control, Input):
            control.value = text

    def set_values(self, texts: dict[str, str]) -> None:
        """Every field as `texts` gives it, the others back to their initial text (the command line's
        words: a word taken out of the line puts its field back to the default)."""
        for f in self.field_defs:
            text = texts.get(f.name, self._initial_text(f))
            if self.values.get(f.name, "") == text.strip():
                continue
            control = self.query_one(f"#field-{f.name}")
            if isinstance(control, Select) and not text.strip():
                with suppress(InvalidSelectValueError):  # a select without a blank keeps its value
                    control.clear()
                continue
            self.set_value(f.name, text)

    def targets(self) -> list[tuple[str, str]]:
        """(field name, control id) of each field, in order: where jump mode may go."""
        return [(f.name, f"field-{f.name}") for f in self.field_defs]

    def _post_changed(self) -> None:
        if not self._fields_mounted():
            return  # removed while it mounted (another command picked at once): it has nothing to say
        self.post_message(self.Changed(self, self.values, self.valid))

    def _fields_mounted(self) -> bool:
        """Whether every field's control is in the form. Not so for a form removed while it was mounting
        (the Compose screen replaces its form when a second command is picked before the first form is
        up): its children are gone, but its own Mount still arrives."""
        return self.is_attached and all(self.query(f"#field-{f.name}") for f in self.field_defs)

    @on(Select.Changed)
    def _enum_changed(self, event: Select.Changed) -> None:
        name = (event.select.id or "").removeprefix("field-")
        custom = self.query_one(f"#custom-{name}", Input)
        custom.display = event.value == CUSTOM
        if custom.display and self.has_focus_within:  # chosen here ("other value…"), not set from the line
            custom.focus()

    @on(Input.Changed)
    @on(Select.Changed)
    @on(Checkbox.Changed)
    def _field_changed(self, event: Message) -> None:
        event.stop()
        self._post_changed()
