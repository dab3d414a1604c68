"""A persona as a form: fields in inputs, the prompts in text areas, validated as you type
with the very checks (and messages) the CLI uses (``synth.library.personas.persona_from_mapping``)."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Input, Label, Select, Static, TextArea

from synth import checks
from synth.errors import LibraryError
from synth.library.personas import persona_from_mapping, persona_to_mapping
from synth.models import SAMPLING_FIELDS, Persona
from tui.guard import Guarded
from synth.stops_text import stops_to_text, text_to_stops

TEXT_FIELDS = ("name", "description", "persona_label", "user_label", "temperature", "max_tokens",
               *SAMPLING_FIELDS)
SAMPLING_LABELS = {"top_p": "Top p", "presence_penalty": "Presence",
                   "frequency_penalty": "Frequency", "repeat_penalty": "Repeat"}  # penalties
AREA_FIELDS = ("stop", "system_prompt", "synthesis_prompt")


def _field(name: str, placeholder: str = "") -> Input:
    """One line of the form; focus puts the cursor at the end (typing never replaces the value)."""
    return Input(id=f"pf-{name}", placeholder=placeholder, compact=True, select_on_focus=False)


def _number(raw: str) -> Any:
    raw = raw.strip()
    if raw == "":
        return None
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    return raw  # the library says "expected a number, got str ..."


def _examples_line(p: Persona | None) -> str:
    if p is None or not p.examples:
        return "Few-shot examples: none (in Review, m makes a conversation one)"
    return (f"Few-shot examples: {len(p.examples)} in the file, {p.examples_per_prompt} shown "
            "a prompt (in Review, m adds one)")


class PersonaForm(Guarded, VerticalScroll):
    """Edit one persona.  Posts ``PersonaForm.Changed`` with the validation result."""

    class Changed(Message):
        def __init__(self, form: "PersonaForm", persona: Persona | None, error: str | None,
                     dirty: bool) -> None:
            super().__init__()
            self.form = form
            self.persona = persona
            self.error = error
            self.dirty = dirty

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.original: Persona | None = None
        self.valid: Persona | None = None
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="persona-status", classes="status-line")
        yield Label("Name", classes="field-label")
        yield _field("name", "Eve")
        yield Label("Description", classes="field-label")
        yield _field("description")
        with Horizontal(classes="field-row"):
            with Vertical(classes="field-cell"):
                yield Label("Persona label", classes="field-label")
                yield _field("persona_label", "EVE")
            with Vertical(classes="field-cell"):
                yield Label("User label", classes="field-label")
                yield _field("user_label", "USER")
            with Vertical(classes="field-cell style-cell"):  # role-play needs user_simulator:
                yield Label("Method", classes="field-label")
                yield Select([("transcript", "transcript"), ("roleplay", "roleplay")],
                             allow_blank=False, value="transcript", id="pf-method", compact=True,
                             tooltip="transcript: one request writes the conversation; roleplay: "
                             "the persona's user_simulator talks with it turn by turn")
        with Horizontal(classes="field-row"):
            with Vertical(classes="field-cell style-cell"):
                yield Label("Style", classes="field-label")
                yield Select([("completion", "completion"), ("chat", "chat")],
                             allow_blank=False, value="completion", id="pf-style", compact=True)
            with Vertical(classes="field-cell"):
                yield Label("Temperature", classes="field-label")
                yield _field("temperature")
            with Vertical(classes="field-cell"):
                yield Label("Max tokens", classes="field-label")
                yield _field("max_tokens")
        with Horizontal(classes="field-row"):  # blank: not sent, the server's default
            for key in SAMPLING_FIELDS:
                with Vertical(classes="field-cell"):
                    yield Label(SAMPLING_LABELS[key], classes="field-label")
                    field = _field(key, "-")
                    field.tooltip = (f"{key} ({checks.NUMBERS[key].describe()}); blank: not "
                                     "sent, the server's default")
                    yield field
        yield Static("", id="pf-examples", classes="field-label")
        yield Label("Stop sequences (one a line, \\n = newline)", classes="field-label")
        yield TextArea(id="pf-stop", classes="stops-area", soft_wrap=False, compact=True)
        yield Label("System prompt (exported as the system message)", classes="field-label")
        yield TextArea(id="pf-system_prompt", classes="prompt-area", compact=True)
        yield Label("Synthesis prompt: {topic} {context} {name} {description} {persona_label} {user_label}", classes="field-label")
        yield TextArea(id="pf-synthesis_prompt", classes="prompt-area tall", compact=True)

    # -- loading & reading ----------------------------------------------------------------
    def load(self, persona: Persona | None) -> None:
        self.original = persona
        self.disabled = persona is None
        p = persona
        # Filling the fields is not an edit: no change events, one validation at the end.
        with self.prevent(Input.Changed, TextArea.Changed, Select.Changed):
            self.query_one("#pf-name", Input).value = p.name if p else ""
            self.query_one("#pf-description", Input).value = p.description if p else ""
            self.query_one("#pf-persona_label", Input).value = p.persona_label if p else ""
            self.query_one("#pf-user_label", Input).value = p.user_label if p else ""
            self.query_one("#pf-temperature", Input).value = f"{p.temperature:g}" if p else ""
            self.query_one("#pf-max_tokens", Input).value = str(p.max_tokens) if p else ""
            for key in SAMPLING_FIELDS:
                value = getattr(p, key) if p else None
                self.query_one(f"#pf-{key}", Input).value = "" if value is None else f"{value:g}"
            self.query_one("#pf-examples", Static).update(_examples_line(p))
            self.query_one("#pf-style", Select).value = p.style if p else "completion"
            self.query_one("#pf-method", Select).value = p.method if p else "transcript"
            self.query_one("#pf-stop", TextArea).load_text(stops_to_text(p.stop) if p else "")
            self.query_one("#pf-system_prompt", TextArea).load_text(p.system_prompt if p else "")
            self.query_one("#pf-synthesis_prompt", TextArea).load_text(p.synthesis_prompt if p else "")
        self.scroll_home(animate=False)
        self.revalidate()

    def mapping(self) -> dict[str, Any]:
        base = persona_to_mapping(self.original) if self.original else {}
        val = lambda f: self.query_one(f"#pf-{f}", Input).value  # noqa: E731
        base.update({
            "name": val("name"),
            "description": val("description"),
            "persona_label": val("persona_label"),
            "user_label": val("user_label"),
            "temperature": _number(val("temperature")),
            "max_tokens": _number(val("max_tokens")),
            **{key: _number(val(key)) for key in SAMPLING_FIELDS},
            "style": self.query_one("#pf-style", Select).value,
            "method": self.query_one("#pf-method", Select).value,
            "stop": text_to_stops(self.query_one("#pf-stop", TextArea).text),
            "system_prompt": self.query_one("#pf-system_prompt", TextArea).text,
            "synthesis_prompt": self.query_one("#pf-synthesis_prompt", TextArea).text,
        })
        sp = base["synthesis_prompt"]
        if "\n" in sp.rstrip("\n"):  # saved as a YAML literal block, which ends in one newline
            base["synthesis_prompt"] = sp.rstrip("\n") + "\n"
        return {k: v for k, v in base.items() if v is not None}

    def revalidate(self) -> None:
        if self.original is None:
            self.valid, self.error = None, None
            self._status("Pick a persona on the left, or press n for a new one.", "muted")
            return
        try:
            self.valid = persona_from_mapping(self.mapping(), self.original.path, self.original.id)
            self.error = None
        except LibraryError as err:  # the library's message; the file path is not news here
            where = f"{err.field}: " if err.field else ""
            self.valid, self.error = None, f"{where}{err.message}"
        dirty = self.dirty
        if self.error:
            self._status(f"✗ {self.error}", "bad")
        elif dirty:
            self._status("● unsaved changes — valid. Ctrl+S saves.", "warn")
        else:
            self._status(f"✓ {self.original.id}.yaml — valid, saved", "good")
        self.post_message(self.Changed(self, self.valid, self.error, dirty))

    @property
    def dirty(self) -> bool:
        if self.original is None:
            return False
        if self.valid is None:
            return True
        return self.valid.content_hash() != self.original.content_hash()

    def _status(self, text: str, kind: str) -> None:
        st = self.query_one("#persona-status", Static)
        st.update(text)
        st.set_classes(f"status-line {kind}")

    # -- as you type ----------------------------------------------------------------------
    def on_input_changed(self, event: Input.Changed) -> None:
        self.revalidate()

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        self.revalidate()

    def on_select_changed(self, event: Select.Changed) -> None:
        self.revalidate()
