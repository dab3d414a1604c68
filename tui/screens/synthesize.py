"""Synthesize: set up a run, see the estimate, start it and watch every conversation live.

Events from the engine (running in its own process, see ``tui.runner``) are applied to a
``LiveRun`` as they come and drawn at ~12 Hz: the selected conversation streaming in full and
the totals; the table of conversations gets its new rows at once and its changed cells at 4 Hz,
all in one go (a change to a DataTable renders every row on view again, which a key press then
waits for).
"""

from __future__ import annotations

import time
from dataclasses import replace

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, ProgressBar, Static

from synth.errors import ChatsynthError
from synth.generate.events import RunFinished
from synth.models import Topic
from synth.generate.prompts import render
from synth.generate.transcript import Speakers, parse_turns
from tui.live import LiveRun, RunError
from tui.screens.base import BaseScreen
from tui.screens.synth_estimate import EstimateLine
from tui.widgets.batch_panel import BatchPanel
from tui.widgets.button import AppButton
from tui.widgets.chat_view import ChatView, quiet_update
from tui.widgets.run_form import RunForm

FLUSH_HZ = 12
TABLE_PERIOD_S = 0.25  # the table's cells change at 4 Hz (new rows at once; the chat at 12 Hz)
FIRST_RUN_LIMIT = 3


class ConversationTable(DataTable):
    BINDINGS = [
        Binding("r", "screen.retry", "Retry one"),
        Binding("x,delete", "screen.discard", "Discard one"),
        Binding("t", "screen.trim", "Trim"),
        Binding("f", "screen.follow", "Follow newest"),
    ]


class SynthesizeScreen(EstimateLine, BaseScreen):
    MODE = "synthesize"
    HOME = "#conv-table"
    TITLE = "Synthesize"
    HELP = """\
Set up a run on the left (persona, topics, how many, endpoint, model, sampling, stop
sequences, concurrency, budget); the estimate below the form follows every change. F5 starts
(or resumes: the same settings write only what is missing). While it runs, the table lists
every conversation (status, topic, tokens); the selected one streams in full below it, the
user's turns and the persona's turns in different colours. p pauses and resumes, c cancels
(what was cut off mid-stream is kept as partial), r writes the selected conversation again
(one being written is cut off and started over; after the run has ended, r writes it in a
run of one), x discards one still being written, t opens it in Trim, f follows the newest.
b: as a batch job, for endpoints that take them (see the batch panel's own help line)."""

    BINDINGS = [
        Binding("f5", "start", "Start"),
        Binding("p", "pause", "Pause/resume"),
        Binding("c", "cancel", "Cancel run"),
        Binding("v", "review", "Review run", show=False),
        Binding("b", "batch", "As a batch job", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.live: LiveRun | None = None
        self.selected: str | None = None
        self.follow = True
        self._moving = False
        self._speakers: Speakers | None = None
        self._first_role = None
        self._labels = ("", "")
        self._started_once = False
        self._cells: dict[str, tuple[str, str, str]] = {}  # what each row shows now
        self._table_added: list[str] = []  # rows and cells not drawn yet (see _draw_rows)
        self._table_dirty: set[str] = set()
        self._table_at = 0.0
        self._totals_at = 0.0
        self._request = None  # what the last run was started with (a retry after it reuses it)
        self._keys_for: tuple = ()  # what the footer's run keys were last checked against

    def compose(self) -> ComposeResult:
        yield self.nav()
        with Horizontal(id="synth"):
            with Vertical(id="synth-side"):
                yield RunForm(id="run-form")
                with Horizontal(classes="button-row", id="run-buttons"):
                    yield AppButton("Start F5", id="run-start", variant="success", compact=True)
                    yield AppButton("Pause p", id="run-pause", compact=True)
                    yield AppButton("Cancel c", id="run-cancel", variant="error", compact=True)
            with Vertical(id="synth-main"):
                yield Static("No run yet. Check the form on the left, then press F5.",
                             id="run-status", classes="status-line muted")
                yield ProgressBar(id="run-progress", show_eta=False)
                yield BatchPanel(id="batch-panel")
                yield ConversationTable(id="conv-table", cursor_type="row", zebra_stripes=True)
                yield ChatView(id="live-chat")
        yield self.footer()

    def on_mount(self) -> None:
        table = self.query_one(ConversationTable)
        table.add_column("Status", key="st", width=28)
        table.add_column("Topic", key="topic", width=34)
        table.add_column("Tokens", key="tok", width=7)
        table.add_column("Try", key="try", width=3)
        form = self.query_one(RunForm)
        form.fill(self.services, getattr(self.app, "preselect", {}))
        self.query_one(ProgressBar).display = False  # until a run starts
        self.set_interval(1 / FLUSH_HZ, self.flush)
        self.schedule_estimate()
        super().on_mount()
        if getattr(self.app, "first_run", False) and not self._started_once:
            self.call_after_refresh(self.first_run)

    def on_screen_resume(self) -> None:
        pre = getattr(self.app, "preselect", {})
        form = self.query_one(RunForm)
        if pre:
            form.fill(self.services, pre)
            self.app.preselect = {}  # type: ignore[attr-defined]
        else:
            form.refresh_lists(self.services)
        self.schedule_estimate()

    # -- first start: a conversation within seconds ---------------------------------------
    def first_run(self) -> None:
        from synth.generate import local
        form = self.query_one(RunForm)
        try:
            ep = self.ws.config.endpoint(None)
        except ChatsynthError as err:
            self.error(err)
            return
        if ep.is_embedded:
            ok, why = local.available()
            if not ok:
                self.set_status(f"Welcome! The small offline demo model can't run here: {why}. "
                                "Add an endpoint in Settings (6), then press F5.", "warn")
                return
        from textual.widgets import Input

        form.query_one("#rf-limit", Input).value = str(FIRST_RUN_LIMIT)
        self.app.notify(f"Welcome! Writing {FIRST_RUN_LIMIT} example conversations with "
                        f"{'the small offline demo model' if ep.is_embedded else ep.name}. "
                        "Press c to cancel, F1 for help.", timeout=8)
        self.action_start()

    def on_run_form_changed(self, event: RunForm.Changed) -> None:
        # (Textual also calls EstimateLine's handler: the estimate follows the form too)
        self.query_one(BatchPanel).form_changed()

    def action_batch(self) -> None:  # b: as a batch job (tui/widgets/batch_panel.py)
        self.query_one(BatchPanel).start()

    # -- run control -------------------------------------------------------------------------
    @property
    def runner(self):
        return self.services.runner

    def action_start(self) -> None:
        if self.live is not None and self.live.active and self.runner.running:
            if self.live.state == "paused":
                self.action_pause()
                return
            self.app.notify("A run is going. Pause (p) or cancel (c) it first.", severity="warning")
            return
        try:
            req = self.query_one(RunForm).request()
        except ChatsynthError as err:
            self.error(err, "Can't start")
            return
        self._begin(req)

    def _begin(self, req) -> bool:
        """Start a run for ``req`` and show it from scratch."""
        try:
            self.runner.start(req)
        except ChatsynthError as err:
            self.error(err, "Can't start")
            return False
        self._request = req
        self._started_once = True
        self.live = LiveRun(verdict_of=self.runner.verdict_of)
        self.app.live = self.live  # type: ignore[attr-defined]
        self.selected, self.follow = None, True
        self._speakers = None
        self.query_one(ConversationTable).clear()
        self._cells, self._table_added, self._table_dirty = {}, [], set()
        self.query_one(ChatView).clear("")
        self.set_status("starting…", "muted")
        self.query_one(ConversationTable).focus()  # so p, c, r, x work at once
        self.refresh_bindings()
        return True

    def action_pause(self) -> None:
        if self.live is None or not self.runner.running:
            return
        if self.live.state == "paused":
            self.runner.resume()
        elif self.live.state == "running":
            self.runner.pause()

    def action_cancel(self) -> None:
        if self.live is not None and self.runner.running:
            self.runner.cancel("cancelled by the user")
            self.set_status("cancelling…", "warn")

    def _conv(self):
        live, cid = self.live, self.selected
        return live.convs.get(cid) if live is not None and cid is not None else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Run keys show only while they can act: r on a conversation not already queued
        (during a run, or after it: a run of one), x on one still to be written."""
        if action == "retry":
            c = self._conv()
            if c is None or c.status == "queued":
                return False
            return self.runner.running or self._request is not None
        if action == "discard":
            c = self._conv()
            return (c is not None and self.runner.running
                    and c.status in ("writing", "retrying", "queued"))
        return True

    def action_retry(self) -> None:
        c = self._conv()
        if c is None or not self.check_action("retry", ()):
            return
        self.follow = False  # the reader is working on this one: keep it selected
        if self.runner.running:
            if not self.runner.retry(c.cid):
                self.app.notify("Can't reach the run to retry that one.", severity="warning")
                return
            self.live.queued(c.cid)  # type: ignore[union-attr]
            self.app.notify(f"Writing {c.topic[:40]!r} again.", markup=False)
        else:  # the run has ended: write this one again in a run of one
            cid = c.cid
            if self._begin(replace(self._request, only=[cid], limit=None,
                                   until_pass=None, max_new=None)):
                self.follow = False
                self.app.notify(f"Writing {c.topic[:40]!r} again in a run of one.", markup=False)
        self.refresh_bindings()

    def action_discard(self) -> None:
        c = self._conv()
        if c is None or not self.check_action("discard", ()):
            return
        self.follow = False
        self.runner.discard(c.cid)

    def action_follow(self) -> None:
        self.follow = True

    def action_trim(self) -> None:
        if self.live and self.live.run_id:
            self.app.open_run(self.live.run_id, self.selected, "trim")  # type: ignore[attr-defined]

    def action_review(self) -> None:
        if self.live and self.live.run_id:
            self.app.open_run(self.live.run_id, self.selected, "review")  # type: ignore[attr-defined]

    def on_button_pressed(self, event: Button.Pressed) -> None:
        actions = {"run-start": self.action_start, "run-pause": self.action_pause,
                   "run-cancel": self.action_cancel}
        if event.button.id in actions:
            event.stop()
            actions[event.button.id]()

    # -- drawing (~12 Hz) ------------------------------------------------------------------
    def flush(self) -> None:
        live = self.live
        if live is None:
            return
        events = self.runner.drain()
        for ev in events:
            live.apply(ev)
            if isinstance(ev, RunFinished):
                self.finished(ev)
            elif isinstance(ev, RunError):
                self.app.notify(ev.message, title="Run failed", severity="error", markup=False,
                                timeout=10)
        if live.started is not None and self._speakers is None:
            spec = live.started.spec
            self._speakers = Speakers.for_persona(spec.persona)
            self._first_role = render(spec.persona, Topic(text="x"), spec.style).first_role
            self._labels = (spec.persona.persona_label, spec.persona.user_label)
            self.app.current_run_id = live.run_id  # type: ignore[attr-defined]
        added, dirty = live.take_dirty()
        self._table_added += added
        self._table_dirty |= dirty
        now = time.monotonic()
        if added or not live.active or now - self._table_at >= TABLE_PERIOD_S:
            self._table_at = now
            self._draw_rows(live)
        if self.selected is not None and self.selected in dirty:
            self.draw_selected()
        c = self._conv()
        keys_for = (live.state, self.runner.running, self.selected, c.status if c else None)
        if keys_for != self._keys_for:
            self._keys_for = keys_for
            self.refresh_bindings()
        if live.changed or (live.active and now - self._totals_at > 0.5):
            live.changed = False
            self._totals_at = now
            self.draw_totals()

    def _draw_rows(self, live: LiveRun) -> None:
        """The table's new rows and changed cells since it was last drawn, at once: any change
        to a DataTable renders every row on view again."""
        added, dirty = self._table_added, self._table_dirty
        self._table_added, self._table_dirty = [], set()
        table = self.query_one(ConversationTable)
        shown = self._cells
        for cid in added:
            c = live.convs[cid]
            table.add_row(c.status_label, c.topic, str(c.tokens), str(c.attempt), key=cid)
            shown[cid] = (c.status_label, str(c.tokens), str(c.attempt))
        for cid in dirty - set(added):
            if cid in shown:
                c = live.convs[cid]
                new = (c.status_label, str(c.tokens), str(c.attempt))
                for col, a, b in zip(("st", "tok", "try"), shown[cid], new):
                    if a != b:  # only what changed
                        table.update_cell(cid, col, b)
                shown[cid] = new
        if self.follow and (added or dirty):
            self._follow(live, added)
        elif added and self.selected is not None:
            self.draw_selected()

    def _follow(self, live: LiveRun, added: list[str]) -> None:
        """Keep showing a conversation that is being written (the newest with text)."""
        cur = live.convs.get(self.selected) if self.selected else None
        if cur is not None and cur.status == "writing" and cur.chars:
            return
        pick = next((cid for cid in reversed(live.order)
                     if live.convs[cid].status == "writing" and live.convs[cid].chars), None)
        if pick is None and cur is None and live.order:
            pick = live.order[-1]
        if pick is not None and pick != self.selected:
            self._select(pick)

    def _select(self, cid: str) -> None:
        table = self.query_one(ConversationTable)
        try:
            row = table.get_row_index(cid)
        except Exception:  # noqa: BLE001 - a row not drawn yet
            return
        self.selected = cid
        if table.cursor_row != row:
            self._moving = True
            table.move_cursor(row=row, animate=False)
        self.draw_selected()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id != "conv-table" or event.row_key is None:
            return
        cid = event.row_key.value
        if self._moving:
            self._moving = False
        elif cid != self.selected:
            self.follow = False  # the reader chose one: stop following the newest
        if cid != self.selected:
            self.selected = cid
            self.app.current_conversation_id = cid  # type: ignore[attr-defined]
            self.draw_selected()

    def draw_selected(self) -> None:
        live, cid = self.live, self.selected
        chat = self.query_one(ChatView)
        if live is None or cid is None or cid not in live.convs:
            return
        c = live.convs[cid]
        pl, ul = self._labels
        header = f"{c.topic}  ·  {c.status_label}"
        if c.conversation is not None:
            conv = c.conversation
            note = f"✂ cut at {conv.trim.stop!r}" if conv.trim.stop else ""
            chat.show(conv.turns, pl, ul, header=header, tail=conv.trim.tail[:2000], tail_note=note)
            return
        text = c.text
        turns = parse_turns(text, self._speakers, first_role=self._first_role).turns \
            if self._speakers and text else []
        chat.show(turns, pl, ul, header=header, writing=c.status == "writing")

    def draw_totals(self) -> None:
        live = self.live
        if live is None:
            return
        kind = {"paused": "warn", "error": "bad", "finished": "good"}.get(live.state, "")
        line = live.summary()
        if live.state == "paused" and live.paused_reason:
            line += f"  ·  {live.paused_reason} (p resumes)"
        if live.finished is not None and live.finished.reason:
            line += f"  ·  {live.finished.reason}"
        if live.started is not None:
            line = f"run {live.started.run_id} · {live.started.endpoint_label}\n{line}"
        self.set_status(line, kind)
        done, total = live.fraction()
        bar = self.query_one(ProgressBar)
        bar.display = True
        bar.update(total=total or None, progress=done)
        pause = self.query_one("#run-pause", Button)
        pause.label = "Resume p" if live.state == "paused" else "Pause p"

    def set_status(self, text: str, kind: str = "") -> None:
        st = self.query_one("#run-status", Static)
        quiet_update(st, Text(text))
        classes = f"status-line {kind}".strip()
        if st.classes != frozenset(classes.split()):
            st.set_classes(classes)

    def finished(self, ev: RunFinished) -> None:
        self.schedule_estimate()  # what is left to write has changed
        sev = "information" if ev.outcome in ("complete", "limit") else "warning"
        discarded = f", {ev.discarded} discarded" if ev.discarded else ""
        reason = f" {ev.reason[:1].upper()}{ev.reason[1:]}" \
            + ("" if ev.reason.endswith((".", "!", "?")) else ".") if ev.reason else ""
        self.app.notify(f"Run {ev.outcome}: {ev.done} of {ev.total} stored, {ev.failed} failed"
                        f"{discarded}.{reason}" + (" Press v to review." if ev.done else ""),
                        severity=sev, markup=False, timeout=8)

    def palette_commands(self):
        return [
            ("Start or resume the run", "F5: write what is missing for these settings", self.action_start),
            ("Pause / resume the run", "p", self.action_pause),
            ("Cancel the run", "c: partial conversations are kept, flagged", self.action_cancel),
            ("Retry the selected conversation", "r: write it again", self.action_retry),
            ("Discard the selected conversation", "x: stop it and never store it", self.action_discard),
            ("Trim the selected conversation", "t: open it in Trim", self.action_trim),
            ("Review this run", "v: open the run in Review", self.action_review),
            ("Follow the newest conversation", "f", self.action_follow),
        ]
