"""Trim: edit stop sequences and see at once where each conversation would be cut.

The kept text and the trimmed tail are shown differently, with the sequence that fired; apply
to the selected conversation (stored as an edit) or to the whole run (a re-trim every unedited
conversation follows).  No request is made: it is all ``synth.transcript.retrim`` on the text
already stored.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, DataTable, Label, Static, TextArea

from synth.errors import ChatsynthError
from synth.filters import check
from synth.transcript import retrim
from tui.screens.run_screen import RunScreen
from tui.stops_text import stops_to_text, text_to_stops
from tui.widgets.run_picker import RunPicker


def cut_view(raw: str, at: int | None, stop: str | None, prefix: str = "") -> Text:
    """The raw text: what is kept as is, a ✂ mark with the stop that fired, the tail struck."""
    t = Text(prefix, style="dim")
    if at is None:
        t.append(raw or "(no text)")
        return t
    t.append(raw[:at])
    t.append(f" ✂ {stop!r} ", style="bold reverse red")
    t.append(raw[at:], style="dim strike")
    return t


class TrimScreen(RunScreen):
    MODE = "trim"
    PICKER_ID = "trim-run"
    TABLE_ID = "trim-table"
    TITLE = "Trim"
    HELP = """\
Pick a run and a conversation; edit the stop sequences (one a line, \\n is a newline) and
see at once where the text is cut: the kept part as is, a ✂ mark naming the sequence that
fired, the trimmed tail struck through; below, the turns it leaves and the filters' verdict.
Ctrl+S applies the stops to this conversation (stored as an edit), Ctrl+R to the whole run
(every unedited conversation); Ctrl+G puts back the run's own stops. Nothing is requested
again."""

    BINDINGS = [
        Binding("ctrl+s", "apply_one", "Apply to this one"),
        Binding("ctrl+r", "apply_run", "Apply to run"),
        Binding("ctrl+g", "reset", "Reset stops"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.preview = None
        self._stops_run: str | None = None

    def compose(self) -> ComposeResult:
        yield self.nav()
        with Horizontal(classes="picker-row"):
            yield Label("Run ", classes="field-label")
            yield RunPicker(id="trim-run")
        with Horizontal(id="trim"):
            with Vertical(id="trim-side"):
                yield DataTable(id="trim-table", cursor_type="row", zebra_stripes=True)
            with Vertical(id="trim-main"):
                yield Label("Stop sequences (one a line, \\n = newline): the view follows as you type",
                            classes="field-label")
                yield TextArea("", id="trim-stops", soft_wrap=False, compact=True)
                with Horizontal(classes="button-row"):
                    yield Button("Apply to this one ^S", id="trim-one", variant="primary", compact=True)
                    yield Button("Apply to run ^R", id="trim-run-all", compact=True)
                    yield Button("Reset ^G", id="trim-reset", compact=True)
                yield Static("", id="trim-status", classes="status-line")
                with VerticalScroll(id="trim-raw-box"):
                    yield Static("", id="trim-raw")
        yield self.footer()

    def on_mount(self) -> None:
        t = self.query_one("#trim-table", DataTable)
        t.add_column("Topic", key="topic", width=26)
        t.add_column("Cut at", key="stop", width=14)
        t.add_column("Turns", key="turns", width=5)
        super().on_mount()

    def no_runs(self) -> None:
        self.set_status("No runs yet: write some in Synthesize (2).", "muted")

    def run_loaded(self, run_id: str, rs) -> None:
        review = self.review
        table = self.query_one("#trim-table", DataTable)
        table.clear()
        for it in rs.items:
            c = it.conv
            table.add_row(c.topic, self._cut_label(it, rs), str(len(it.turns)), key=c.id)
        if self._stops_run != run_id:  # a reload of the same run keeps what the user typed
            self._stops_run = run_id
            stops = rs.retrim_stops if rs.retrim_stops is not None else review.persona.stop
            spec_stops = rs.items[0].conv.params.get("stop") if rs.items else None
            if rs.retrim_stops is None and spec_stops is not None:
                stops = spec_stops
            self.query_one("#trim-stops", TextArea).load_text(stops_to_text(list(stops)))
        want = getattr(self.app, "current_conversation_id", None)
        ids = [it.id for it in rs.items]
        if want in ids:
            table.move_cursor(row=ids.index(want), animate=False)
            self.selected = want
        elif ids:
            self.selected = ids[0]
        self.redraw()

    def _cut_label(self, it, rs) -> str:
        """Where this conversation is cut now: the run's re-trim where one was applied."""
        if it.edited:
            return "edited"
        conv = it.conv
        if rs.retrim_stops is not None:
            conv = retrim(conv, rs.retrim_stops, self.review.persona)
        return repr(conv.trim.stop) if conv.trim.stop else "—"

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value != self.selected:
            self.selected = event.row_key.value
            self.app.current_conversation_id = self.selected  # type: ignore[attr-defined]
            self.redraw()

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        if event.text_area.id == "trim-stops":
            self.redraw()

    def stops(self) -> list[str]:
        return text_to_stops(self.query_one("#trim-stops", TextArea).text)

    def redraw(self) -> None:
        if self.rs is None or self.selected is None or self.review is None:
            return
        try:
            it = self.rs.by_id(self.selected)
        except KeyError:
            return
        persona = self.review.persona
        new = retrim(it.conv, self.stops(), persona)
        self.preview = new
        verdict = check(new, persona=persona)
        tr = new.trim
        kept = len(new.raw_text) if tr.at is None else tr.at
        fired = f"cut at {tr.stop!r} (character {tr.at:,})" if tr.stop else "no stop sequence fires: kept whole"
        line = (f"{fired} · kept {kept:,} characters, trimmed {len(tr.tail):,} · {len(new.turns)} turns · "
                + ("✓ passes every filter" if verdict.ok else "⚑ " + verdict.summary()))
        if it.edited:
            line += " · (this conversation has an edit: applying replaces it)"
        self.set_status(line, "good" if verdict.ok else "warn")
        first = it.conv.params.get("first_role")
        prefix = {"user": persona.user_label + ":", "assistant": persona.persona_label + ":"}.get(first, "")
        self.query_one("#trim-raw", Static).update(cut_view(new.raw_text, tr.at, tr.stop, prefix))

    def set_status(self, text: str, kind: str = "") -> None:
        st = self.query_one("#trim-status", Static)
        st.update(Text(text))
        st.set_classes(f"status-line {kind}".strip())

    # -- applying -----------------------------------------------------------------------------
    def action_apply_one(self) -> None:
        if self.review is None or self.preview is None or self.selected is None:
            return
        try:
            self.review.edit(self.selected, self.preview.turns,
                             note=f"re-trimmed at {self.stops()!r}")
        except ChatsynthError as err:
            self.error(err)
            return
        self.app.notify(f"Re-trimmed this conversation: {len(self.preview.turns)} turns kept.")
        self.load_run(self.run_id)  # type: ignore[arg-type]

    def action_apply_run(self) -> None:
        if self.review is None:
            return
        try:
            self.review.set_retrim(self.stops())
        except ChatsynthError as err:
            self.error(err)
            return
        self.app.notify("Re-trimmed every unedited conversation of the run with these stops.")
        self.load_run(self.run_id)  # type: ignore[arg-type]

    def action_reset(self) -> None:
        if self.rs is None or not self.rs.items:
            return
        self.query_one("#trim-stops", TextArea).load_text(
            stops_to_text(list(self.rs.items[0].conv.params.get("stop") or [])))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        actions = {"trim-one": self.action_apply_one, "trim-run-all": self.action_apply_run,
                   "trim-reset": self.action_reset}
        if event.button.id in actions:
            event.stop()
            actions[event.button.id]()

    def palette_commands(self):
        return [
            ("Apply stops to this conversation", "Ctrl+S: stored as an edit", self.action_apply_one),
            ("Apply stops to the whole run", "Ctrl+R: every unedited conversation", self.action_apply_run),
            ("Reset stop sequences", "Ctrl+G: the run's own stops", self.action_reset),
        ]
