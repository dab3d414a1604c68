"""The Synthesize form: persona, topics, method, how many, endpoint, model, sampling, stops,
limits.

``request()`` turns it into a ``RunRequest`` (raising a ChatsynthError naming the field);
``Changed`` is posted (debounced by the screen) so the estimate can follow every edit.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Checkbox, Input, Label, Select, Static, TextArea

from synth import checks
from synth.errors import ChatsynthError
from synth.models import SAMPLING_FIELDS
from tui.guard import Guarded
from tui.runner import METHOD_FIELD, RunRequest
from tui.widgets.mark_checkbox import MarkCheckbox
from synth.stops_text import stops_to_text, text_to_stops


def chosen(select: Select) -> str | None:
    """A Select's value, or None when nothing is picked (never Textual's ``Select.NULL``)."""
    return None if select.is_blank() else str(select.value)


def own_topic_source(persona_id: str | None, sources: list) -> str | None:
    """The id of the topic source written for ``persona_id`` (its ``persona:`` names it, or it
    has the persona's name), else None."""
    if not persona_id:
        return None
    for s in sources:
        if getattr(s, "persona", None) == persona_id:
            return s.id
    return persona_id if any(s.id == persona_id for s in sources) else None


LIMIT_MODES = [("at most N", "limit"), ("until N pass", "until")]
METHODS = [("transcript", "transcript"), ("role-play", "roleplay")]
SAMPLING_LABELS = dict(zip(SAMPLING_FIELDS, ("Top p", "Presence", "Frequency", "Repeat")))


def _sampling_cell(key: str) -> Vertical:
    """Top p or a penalty; blank: the persona's value, else the server's default."""
    return _cell(SAMPLING_LABELS[key], Input(
        "", id=f"rf-{key}", type="number", placeholder="-", compact=True,
        tooltip=f"{key} ({checks.NUMBERS[key].describe()}); blank: the persona's, "
                "else the server's default"))


def _cell(label: str, widget) -> Vertical:
    return Vertical(Label(label, classes="field-label"), widget, classes="field-cell")


class RunForm(Guarded, VerticalScroll):
    class Changed(Message):
        pass

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._loading = False
        self.personas: dict[str, Any] = {}
        self.sources: dict[str, Any] = {}

    def compose(self) -> ComposeResult:
        yield Label("Persona", classes="field-label")
        yield Select([], id="rf-persona", allow_blank=True, compact=True, prompt="pick a persona")
        yield Label("Topics", classes="field-label")
        yield Select([], id="rf-topics", allow_blank=True, compact=True, prompt="pick topics")
        yield Label("Method", classes="field-label")
        yield Select(METHODS, id="rf-method", value="transcript", allow_blank=False, compact=True,
                     tooltip="transcript: one request writes the whole conversation; role-play: "
                     "the persona's user_simulator talks with it, a request per turn (run "
                     "--method); follows the persona's method: when the persona changes")
        limit = _cell("Limit", Select(
            LIMIT_MODES, id="rf-limit_mode", value="limit", compact=True, allow_blank=False,
            tooltip="at most N: write N now (blank: all); until N pass: write until N pass every "
            "filter (and the judge), topics first, then further samples of each"))
        limit.add_class("wide")
        yield Horizontal(
            limit,
            _cell("N", Input("", id="rf-limit", type="integer", placeholder="all", compact=True)),
            classes="field-row")
        yield Horizontal(
            _cell("Per topic", Input("1", id="rf-per_topic", type="integer", compact=True)),
            _cell("Max", Input("", id="rf-max", type="integer", placeholder="-", compact=True,
                               disabled=True, tooltip="with until N pass: write at most this "
                               "many now (blank: every topic x 5 samples)")),
            _cell("Judge", MarkCheckbox("on", id="rf-judge", tooltip="judge each conversation "
                                        "as it finishes with the persona's rubric (run --judge)")),
            classes="field-row")
        yield Label("Endpoint", classes="field-label")
        yield Select([("local", "local")], id="rf-endpoint", allow_blank=False, compact=True)
        yield Label("Model", classes="field-label")
        yield Input("", id="rf-model", placeholder="endpoint default", compact=True)
        yield Horizontal(
            _cell("Temperature", Input("", id="rf-temperature", type="number", compact=True)),
            _cell("Max tokens", Input("", id="rf-max_tokens", type="integer", compact=True)),
            _sampling_cell("top_p"),
            classes="field-row")
        yield Label("Stop sequences (\\n = newline)", classes="field-label")
        yield TextArea("", id="rf-stop", soft_wrap=False, compact=True, classes="stops-area")
        yield Horizontal(
            _cell("Concurrency", Input("", id="rf-concurrency", type="integer", compact=True)),
            _cell("Budget $", Input("", id="rf-budget", type="number", placeholder="none", compact=True)),
            classes="field-row")
        yield Static("", id="estimate", classes="estimate")
        # the penalties, below the estimate: seldom changed, and the estimate stays in view
        yield Label("Penalties (blank: the persona's, else the server's default)",
                    classes="field-label")
        yield Horizontal(*(_sampling_cell(k) for k in SAMPLING_FIELDS[1:]), classes="field-row")

    # -- filling --------------------------------------------------------------------------
    def fill(self, services: Any, preselect: dict[str, Any]) -> None:
        self._loading = True
        personas, _ = services.personas()
        sources, _ = services.topic_sources()
        self.personas = {p.id: p for p in personas}
        defaults = services.ws.config.defaults or {}
        ps = self.query_one("#rf-persona", Select)
        ps.set_options([(f"{p.name} ({p.id})", p.id) for p in personas])
        ts = self.query_one("#rf-topics", Select)
        ts.set_options([(f"{s.id} ({len(s.topics)})", s.id) for s in sources])
        es = self.query_one("#rf-endpoint", Select)
        names = services.endpoint_names()
        es.set_options(names)
        want_p = preselect.get("persona") or defaults.get("persona")
        if want_p in self.personas:
            ps.value = want_p
        self.sources = {s.id: s for s in sources}
        want_t = preselect.get("topics") or defaults.get("topics") or self.own_topics(want_p)
        if want_t in self.sources:
            ts.value = want_t
        try:
            ep = services.ws.config.default_endpoint
        except ChatsynthError:
            ep = "local"
        if any(n == ep for _, n in names):
            es.value = ep
        self.query_one("#rf-per_topic", Input).value = str(defaults.get("per_topic", 1))
        self.query_one("#rf-concurrency", Input).value = str(defaults.get("concurrency", 4))
        self.persona_defaults()
        self._loading = False

    def refresh_lists(self, services: Any) -> None:
        """New or renamed personas and topic sources from the Library; the choices stay."""
        personas, _ = services.personas()
        sources, _ = services.topic_sources()
        self.personas = {p.id: p for p in personas}
        self.sources = {s.id: s for s in sources}
        self._loading = True
        for sel_id, opts in (("#rf-persona", [(f"{p.name} ({p.id})", p.id) for p in personas]),
                             ("#rf-topics", [(f"{s.id} ({len(s.topics)})", s.id) for s in sources])):
            sel = self.query_one(sel_id, Select)
            keep = sel.value
            sel.set_options(opts)
            if any(v == keep for _, v in opts):
                sel.value = keep
        self._loading = False

    def own_topics(self, persona_id: str | None) -> str | None:
        """The topic source written for this persona: one that names it, or has its name."""
        return own_topic_source(persona_id, list(self.sources.values()))

    def persona_defaults(self) -> None:
        """Sampling fields and stops from the chosen persona."""
        p = self.personas.get(chosen(self.query_one("#rf-persona", Select)))
        if p is None:
            return
        self.query_one("#rf-temperature", Input).value = f"{p.temperature:g}"
        self.query_one("#rf-max_tokens", Input).value = str(p.max_tokens)
        for key in SAMPLING_FIELDS:
            value = getattr(p, key)
            self.query_one(f"#rf-{key}", Input).value = "" if value is None else f"{value:g}"
        self.query_one("#rf-stop", TextArea).load_text(stops_to_text(p.stop))
        self.query_one("#rf-method", Select).value = p.method

    # -- reading --------------------------------------------------------------------------
    def _num(self, name: str, *, required: bool = False, check: str | None = None,
             label: str | None = None):
        """A number field, checked against synth.checks.NUMBERS (the table the CLI uses)."""
        raw = self.query_one(f"#rf-{name}", Input).value
        label = label or name.replace("_", " ")
        if not raw.strip() and required:
            raise ChatsynthError("is required", field=label)
        return checks.number_text(check or name, raw, field=label)

    @property
    def until_mode(self) -> bool:
        return chosen(self.query_one("#rf-limit_mode", Select)) == "until"

    def _until(self) -> int:
        """The N of "until N pass": required, 1 or more (as `run --until-pass N`)."""
        if not self.query_one("#rf-limit", Input).value.strip():
            raise ChatsynthError("is required: how many conversations must pass (N next to "
                                 "Limit)", field="until N pass")
        return self._num("limit", check="until_pass", label="until N pass")

    def limit_mode_changed(self) -> None:
        """Max goes with "until N pass" only; N's hint follows the mode."""
        until = self.until_mode
        self.query_one("#rf-max", Input).disabled = not until
        self.query_one("#rf-limit", Input).placeholder = "needed" if until else "all"

    def request(self) -> RunRequest:
        persona = chosen(self.query_one("#rf-persona", Select))
        topics = chosen(self.query_one("#rf-topics", Select))
        if persona is None:
            raise ChatsynthError("nothing picked: choose the persona to write as in the Persona "
                                 "list at the top of the form", field="persona")
        if topics is None:
            raise ChatsynthError("nothing picked: choose the topic list to write about in the "
                                 "Topics list under Persona", field="topics")
        endpoint = chosen(self.query_one("#rf-endpoint", Select))
        until = self.until_mode
        method = self._method(persona)
        return RunRequest(
            persona=persona, topics=topics,
            per_topic=self._num("per_topic", required=True),
            limit=None if until else self._num("limit"),
            until_pass=self._until() if until else None,
            max_new=self._num("max", label="max") if until else None,
            judge=self.query_one("#rf-judge", Checkbox).value,
            endpoint=endpoint,
            model=self.query_one("#rf-model", Input).value.strip() or None,
            temperature=self._num("temperature"),
            max_tokens=self._num("max_tokens"),
            **{key: self._num(key) for key in SAMPLING_FIELDS},
            stop=text_to_stops(self.query_one("#rf-stop", TextArea).text),
            concurrency=self._num("concurrency"),
            budget=self._num("budget"),
            method=method,
        )

    def _method(self, persona_id: str) -> str:
        """The chosen method; role-play needs the persona's user_simulator: block (its file
        and the field named, as ``run --method roleplay`` says)."""
        from types import SimpleNamespace

        from synth.generate.roleplay_endpoint import check_roleplay

        method = chosen(self.query_one("#rf-method", Select)) or "transcript"
        p = self.personas.get(persona_id)
        if p is not None:
            check_roleplay(SimpleNamespace(method=method, persona=p), how=METHOD_FIELD)
        return method

    def set_estimate(self, text: str, kind: str = "") -> None:
        est = self.query_one("#estimate", Static)
        est.update(text)
        est.set_classes(f"estimate {kind}".strip())

    # -- changes --------------------------------------------------------------------------
    def on_select_changed(self, event: Select.Changed) -> None:
        if self._loading:
            return
        if event.select.id == "rf-limit_mode":
            self.limit_mode_changed()
        if event.select.id == "rf-persona":
            self._loading = True
            self.persona_defaults()
            own = self.own_topics(chosen(event.select))
            if own is not None:
                self.query_one("#rf-topics", Select).value = own
            self._loading = False
        self.post_message(self.Changed())

    def on_input_changed(self, event: Input.Changed) -> None:
        if not self._loading:
            self.post_message(self.Changed())

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        if not self._loading:
            self.post_message(self.Changed())

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        if not self._loading:
            self.post_message(self.Changed())
