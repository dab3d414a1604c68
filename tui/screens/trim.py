"""Trim: edit stop sequences and see at once where each conversation would be cut.

The kept text and the trimmed tail are shown differently, with the sequence that fired; apply
to the selected conversation (stored as an edit) or to the whole run (a re-trim every unedited
conversation follows).  No request is made: it is all ``synth.generate.transcript.retrim`` on the text
already stored.

The table follows the typed stops too: a moment after the last key, every row shows where they
would cut (worked out in a thread), before anything is applied.  Ctrl+R asks first, saying how
many conversations would change.

On a big run the rows come from the run's index, each row's cut read on demand as it comes into
view; the whole run is read (``RunScreen.DEFER_LOAD``) once the stops are edited, on Ctrl+R, or
a moment after the first paint, so nothing competes with the first frame.
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Label, Static, TextArea

from synth.errors import ChatsynthError
from synth.curate.filters import check
from synth.generate.transcript import retrim
from tui.screens.dialogs import ConfirmDialog
from tui.screens.run_screen import RunScreen
from synth.stops_text import stops_to_text, text_to_stops
from tui.widgets.button import AppButton
from tui.widgets.run_picker import RunPicker
from tui.widgets.virtual_table import VirtualTable


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
    HOME = "#trim-table"
    PICKER_ID = "trim-run"
    TABLE_ID = "trim-table"
    TITLE = "Trim"
    FILTERS = False
    DEFER_LOAD = 1.0  # the rows on view need no full load: it waits for a need or a second
    HELP = """\
Pick a run and a conversation; edit the stop sequences (one a line, \\n is a newline) and
see at once where the text is cut: the kept part as is, a ✂ mark naming the sequence that
fired, the trimmed tail struck through; below, the turns it leaves and the filters' verdict.
The table's "Cut at" column follows the typed stops for every conversation. Ctrl+S applies
the stops to this conversation (stored as an edit), Ctrl+R to the whole run (every unedited
conversation, after saying how many change); Ctrl+G puts back the run's own stops. Nothing
is requested again."""

    BINDINGS = [
        Binding("ctrl+s", "apply_one", "Apply to this one"),
        Binding("ctrl+r", "apply_run", "Apply to run"),
        Binding("ctrl+g", "reset", "Reset stops"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.preview = None
        self._stops_run: str | None = None
        self._stops_put: list[str] | None = None  # the stops the field was given (not typed)
        self._cuts_timer = None
        self.cuts_for: list[str] | None = None  # the stops the table's "Cut at" column shows
        self.cut_rows: dict[str, tuple[str, str]] = {}  # id -> (cut at, turns) at those stops

    def compose(self) -> ComposeResult:
        yield self.nav()
        with Horizontal(classes="picker-row"):
            yield Label("Run ", classes="field-label")
            yield RunPicker(id="trim-run")
        with Horizontal(id="trim"):
            with Vertical(id="trim-side"):
                yield VirtualTable(id="trim-table")
            with Vertical(id="trim-main"):
                yield Label("Stop sequences (one a line, \\n = newline): the view follows as you type",
                            classes="field-label")
                yield TextArea("", id="trim-stops", soft_wrap=False, compact=True)
                with Horizontal(classes="button-row"):
                    yield AppButton("Apply to this one ^S", id="trim-one", variant="primary", compact=True)
                    yield AppButton("Apply to run ^R", id="trim-run-all", compact=True)
                    yield AppButton("Reset ^G", id="trim-reset", compact=True)
                yield Static("", id="trim-status", classes="status-line")
                with VerticalScroll(id="trim-raw-box"):
                    yield Static("", id="trim-raw")
        yield self.footer()

    def on_mount(self) -> None:
        t = self.query_one("#trim-table", VirtualTable)
        t.add_column("Topic", key="topic", width=26)
        t.add_column("Cut at", key="stop", width=14)
        t.add_column("Turns", key="turns", width=5)
        super().on_mount()

    def no_runs(self) -> None:
        self.set_status("No runs yet: write some in Synthesize (2).", "muted")

    def run_indexed(self, run_id: str, index) -> None:
        """The rows at once from the run's index, each row's cut read as it comes into view."""
        table = self.query_one("#trim-table", VirtualTable)
        ids = index.ids
        table.set_rows(ids, lambda cid: (index.topic(cid), *self._quick_cut(cid)))
        want = getattr(self.app, "current_conversation_id", None)
        self.selected = want if want in index.positions else (ids[0] if ids else None)
        if self.selected is not None:
            table.move_cursor(row=index.positions[self.selected])
        first = self.quick_item(ids[0]) if ids else None
        self._init_stops(run_id, self.meta.get("retrim_stops"), first[0] if first else None)
        self.redraw()

    def _init_stops(self, run_id: str, retrim_stops, first) -> None:
        """The stops field: the run's re-trim, else its own stops (a reload keeps what was typed)."""
        if self._stops_run == run_id:
            return
        self._stops_run = run_id
        stops = retrim_stops if retrim_stops is not None else self.review.persona.stop
        spec_stops = first.params.get("stop") if first is not None else None
        if retrim_stops is None and spec_stops is not None:
            stops = spec_stops
        self._stops_put = list(stops)
        self.query_one("#trim-stops", TextArea).load_text(stops_to_text(self._stops_put))

    def run_loaded(self, run_id: str, rs) -> None:
        table = self.query_one("#trim-table", VirtualTable)
        self.cut_rows = {}
        table.set_rows([it.id for it in rs.items], lambda cid: self._row(rs.by_id(cid), rs))
        self._init_stops(run_id, rs.retrim_stops, rs.items[0].conv if rs.items else None)
        self.schedule_cuts()  # a reload that kept typed stops: the table follows them again
        want = getattr(self.app, "current_conversation_id", None)
        ids = [it.id for it in rs.items]
        if want in ids:
            table.move_cursor(row=ids.index(want), animate=False)
            self.selected = want
        elif ids:
            self.selected = ids[0]
        self.redraw()

    def _quick_cut(self, cid: str) -> tuple[str, str]:
        """(cut at, turns) of one row before the full load: its body read at its offset."""
        got = self.quick_item(cid) if self.rs is None else None
        if got is None:
            return "…", "…"
        conv, turns, edited = got
        return self._cut_at(conv, edited, self.meta.get("retrim_stops")), str(len(turns))

    def _row(self, it, rs) -> tuple[str, str, str]:
        if it.id in self.cut_rows:  # where the typed stops cut
            return (it.conv.topic, *self.cut_rows[it.id])
        return it.conv.topic, self._cut_at(it.conv, it.edited, rs.retrim_stops), str(len(it.turns))

    def _cut_at(self, conv, edited: bool, retrim_stops) -> str:
        """Where a conversation is cut now: the run's re-trim where one was applied."""
        if edited:
            return "edited"
        if retrim_stops is not None:
            conv = retrim(conv, retrim_stops, self.review.persona)
        return repr(conv.trim.stop) if conv.trim.stop else "—"

    def on_virtual_table_row_highlighted(self, event: VirtualTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value != self.selected:
            self.selected = event.row_key.value
            self.app.current_conversation_id = self.selected  # type: ignore[attr-defined]
            self.redraw()

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        if event.text_area.id == "trim-stops":
            self.redraw()
            self.schedule_cuts()

    # -- the table follows the typed stops (debounced, in a thread) ---------------------------
    def schedule_cuts(self) -> None:
        if self.rs is None and self.stops() != self._stops_put:
            self.load_now()  # the table follows typed stops over the whole run: read it now
        if self._cuts_timer is not None:
            self._cuts_timer.stop()
        self._cuts_timer = self.set_timer(0.3, self.refresh_cuts)

    def refresh_cuts(self) -> None:
        if self.rs is not None and self.review is not None:
            self._cuts_worker(self.rs, self.review.persona, self.stops())

    @work(thread=True, exclusive=True, group="trim-cuts", exit_on_error=False)
    def _cuts_worker(self, rs, persona, stops: list[str]) -> None:
        rows = {}
        for it in rs.items:
            if it.edited:
                rows[it.id] = ("edited", str(len(it.turns)))
                continue
            new = retrim(it.conv, stops, persona)
            rows[it.id] = (repr(new.trim.stop) if new.trim.stop else "—", str(len(new.turns)))
        self.app.call_from_thread(self._show_cuts, rs, stops, rows)

    def _show_cuts(self, rs, stops: list[str], rows: dict[str, tuple[str, str]]) -> None:
        if rs is not self.rs or stops != self.stops():
            return  # the run or the stops changed meanwhile: a newer pass follows
        self.cut_rows = rows  # the rows on screen are drawn again from these
        self.query_one("#trim-table", VirtualTable).refresh_rows()
        self.cuts_for = list(stops)

    def stops(self) -> list[str]:
        return text_to_stops(self.query_one("#trim-stops", TextArea).text)

    def redraw(self) -> None:
        if self.selected is None or self.review is None:
            return
        if self.rs is not None:
            try:
                it = self.rs.by_id(self.selected)
            except KeyError:
                return
            conv, edited = it.conv, it.edited
        else:  # the full load is still reading: this one, read at its offset
            got = self.quick_item(self.selected)
            if got is None:
                return
            conv, _, edited = got
        persona = self.review.persona
        new = retrim(conv, self.stops(), persona)
        self.preview = new
        verdict = check(new, persona=persona)
        tr = new.trim
        kept = len(new.raw_text) if tr.at is None else tr.at
        fired = f"cut at {tr.stop!r} (character {tr.at:,})" if tr.stop else "no stop sequence fires: kept whole"
        line = (f"{fired} · kept {kept:,} characters, trimmed {len(tr.tail):,} · {len(new.turns)} turns · "
                + ("✓ passes every filter" if verdict.ok else "⚑ " + verdict.summary()))
        if edited:
            line += " · (this conversation has an edit: applying replaces it)"
        self.set_status(line, "good" if verdict.ok else "warn")
        first = conv.params.get("first_role")
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

    def changes(self, stops: list[str]) -> tuple[int, int, int]:
        """(conversations whose turns these stops change, unedited ones, edited ones)."""
        persona = self.review.persona if self.review else None
        unedited = [it for it in self.rs.items if not it.edited] if self.rs else []
        changed = sum(1 for it in unedited if retrim(it.conv, stops, persona).turns != it.turns)
        return changed, len(unedited), (len(self.rs.items) - len(unedited)) if self.rs else 0

    def action_apply_run(self) -> None:
        if self.review is None or self.rs is None:
            if self.index is not None:
                self.load_now()
                self.app.notify("Still reading the run; Ctrl+R works when it is read.")
            return
        stops = self.stops()
        changed, unedited, edited = self.changes(stops)
        question = (f"Apply these stops to the whole run? {changed} of {unedited} unedited "
                    f"conversation{'s' if unedited != 1 else ''} change"
                    + ((" (1 edited by hand stays as it is)" if edited == 1 else
                        f" ({edited} edited by hand stay as they are)") if edited else "")
                    + ". No request is made.")
        run_id, review = self.run_id, self.review

        def answer(yes: bool | None) -> None:
            if not yes or run_id != self.run_id:
                return
            try:
                review.set_retrim(stops)
            except ChatsynthError as err:
                self.error(err)
                return
            self.app.notify(f"Re-trimmed the run with these stops: {changed} conversation"
                            f"{'s' if changed != 1 else ''} changed.")
            self.load_run(run_id)  # type: ignore[arg-type]

        self.app.push_screen(ConfirmDialog(question, yes="Apply", danger=False), answer)

    def action_reset(self) -> None:
        if self.rs is not None:
            first = self.rs.items[0].conv if self.rs.items else None
        else:  # the full load is deferred or still reading: the first one, read at its offset
            got = self.quick_item(self.index.ids[0]) if self.index is not None and self.index.ids else None
            first = got[0] if got else None
        if first is None:
            return
        self.query_one("#trim-stops", TextArea).load_text(stops_to_text(list(first.params.get("stop") or [])))

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
