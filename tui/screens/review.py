"""Review: every conversation of a run with its verdict; read it as a chat; decide.

Decisions and edits are stored in the run's catalog through ``synth.curate.review.Review`` (they
persist); the verdicts are the filters' (``check_run``, near-duplicates included).
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Select, Static

from synth.errors import ChatsynthError
from synth.curate.filters import RULES
from tui.screens.run_screen import RunScreen
from tui.screens.review_loading import STATE_ICONS, ReviewLoadingMixin
from tui.screens.review_judge import JUDGE_VIEWS, ReviewJudgeMixin, judge_cell, judge_detail
from tui.screens.dialogs import TextPrompt
from tui.screens.edit_turn import EditTurnDialog
from tui.widgets.chat_view import ChatView, quiet_update
from tui.widgets.run_picker import RunPicker
from tui.widgets.virtual_table import VirtualTable

VIEWS = [("All", "all"), ("Flagged", "flagged"), ("Passing", "ok"), ("Accepted", "accepted"),
         ("Rejected", "rejected"), ("Partial", "partial"), ("Undecided", "undecided")]


class ReviewTable(VirtualTable):
    BINDINGS = [
        Binding("a", "screen.decide('accepted')", "Accept"),
        Binding("x", "screen.decide('rejected')", "Reject"),
        Binding("u", "screen.decide(None)", "Undecide"),
        Binding("n", "screen.next_flagged", "Next flagged"),
        Binding("e", "screen.edit_turn", "Edit a turn"),
        Binding("A", "screen.accept_all_ok", "Accept all passing"),
        Binding("D", "screen.add_to_dataset", "To dataset", show=False),
        Binding("m", "screen.mark_example", "Make it an example"),
        Binding("j", "screen.judge", "Judge"),
        Binding("s", "screen.sort_score", "Sort by score"),
    ]


class ReviewScreen(ReviewLoadingMixin, ReviewJudgeMixin, RunScreen):
    MODE = "review"
    HOME = "#review-table"
    PICKER_ID = "review-run"
    TABLE_ID = "review-table"
    TITLE = "Review"
    HELP = """\
Every conversation of the run with the filters' verdict and reasons, its turns and tokens.
The selected one reads as a chat on the right; flagged turns are marked. a accepts, x rejects,
u undecides, n jumps to the next undecided flagged one, e edits a turn (the original text is
kept; the edit is what export writes), A accepts every undecided conversation that passes
every filter, m makes the conversation one of its persona's few-shot examples (saved to the
persona's file; later runs show it to the model). Filter the table by verdict, by reason or by
the judge's outcome at the top. Decisions are saved at once. D adds this run to a dataset (a
new one, or one that exists) to export several runs as one set.
j asks the LLM judge (the persona's judge.endpoint, else defaults.judge_endpoint) to score the
run's conversations on the persona's rubric, with its progress, tokens and cost on the line
above the table; verdicts are cached, so judging again costs nothing; Esc cancels. The Judge
column shows the lowest criterion score (or "failed": never a pass); the pane above the chat
shows each criterion's score and reason and the turns objected to. s sorts by score: lowest
first, highest first, then back to run order."""

    def __init__(self) -> None:
        super().__init__()
        self.shown: list[str] = []
        self._progress_timer = None
        self._loading_text = ""
        self._arr = None  # index arrays of the loaded set (``_arrays``)
        self._filtered: dict = {}  # (view, reason) -> ids, for this _arr

    def compose(self) -> ComposeResult:
        yield self.nav()
        with Horizontal(classes="picker-row"):
            yield Label("Run ", classes="field-label")
            yield RunPicker(id="review-run")
            yield Select(VIEWS, value="all", allow_blank=False, compact=True, id="review-view")
            yield Select([("any reason", "any")], value="any", allow_blank=False, compact=True,
                         id="review-reason")
            yield Select(JUDGE_VIEWS, value="any", allow_blank=False, compact=True, id="review-judge")
        yield Static("", id="review-counts", classes="status-line")
        yield Static("", id="review-judging", classes="status-line")
        with Horizontal(id="review"):
            with Vertical(id="review-side"):
                yield ReviewTable(id="review-table")
            with Vertical(id="review-main"):
                yield Static("", id="review-reasons", classes="reasons")
                yield ChatView(id="review-chat")
        yield self.footer()

    def on_mount(self) -> None:
        t = self.query_one(ReviewTable)
        t.add_column("State", key="state", width=11)
        t.add_column("Judge", key="judge", width=8)
        t.add_column("Reasons", key="reasons", width=18)
        t.add_column("Turns", key="turns", width=5)
        t.add_column("Tokens", key="tokens", width=6)
        t.add_column("Topic", key="topic", width=20)
        super().on_mount()
        self.query_one("#review-judging").display = False

    def no_runs(self) -> None:
        self.query_one("#review-counts", Static).update("No runs yet: write some in Synthesize (2).")

    def on_select_changed(self, event: Select.Changed) -> None:
        super().on_select_changed(event)
        if event.select.id in ("review-view", "review-reason", "review-judge"):
            self.fill_table()

    def run_loaded(self, run_id: str, rs) -> None:
        reasons = [("any reason", "any")] + [(f"{r} ({n})", r) for r, n in rs.reason_counts().items()]
        sel = self.query_one("#review-reason", Select)
        keep = sel.value
        sel.set_options(reasons)
        sel.value = keep if any(v == keep for _, v in reasons) else "any"
        want = self.selected or getattr(self.app, "current_conversation_id", None)
        self.fill_table(want)
        for p in rs.problems[:3]:
            self.app.notify(p, severity="warning", markup=False)

    def _visible(self, it, view=None, reason=None) -> bool:
        view = view or self.query_one("#review-view", Select).value
        reason = reason or self.query_one("#review-reason", Select).value
        if view == "undecided" and it.decision is not None:
            return False
        if view not in ("all", "undecided") and it.state != view:
            return False
        if reason not in ("any", Select.BLANK) and reason not in it.verdict.rules:
            return False
        return self.judge_visible(it)

    def _cells(self, it) -> tuple:
        reasons = ", ".join(it.verdict.rules) if it.verdict.rules else "—"
        state = STATE_ICONS.get(it.state, it.state) + (" ✎" if it.edited else "")
        return (state, judge_cell(it.judgement), reasons, str(len(it.turns)), f"{it.tokens:,}",
                it.conv.topic)

    def _arrays(self) -> tuple:
        """(ids, states, rules, export count, ids by state) of the loaded set as index arrays,
        built once per load and after a decision: filtering 100,000 rows walks these (or takes
        a list made earlier), not the row objects."""
        if self._arr is None or self._arr[0] is not self.rs:
            items = self.rs.items
            ids, states = [it.id for it in items], [it.state for it in items]
            by_state: dict[str, list[str]] = {}
            for cid, st in zip(ids, states):
                got = by_state.get(st)
                if got is None:
                    got = by_state[st] = []
                got.append(cid)
            self._arr = (self.rs, ids, states,
                         [it.verdict.rules if not it.verdict.ok else () for it in items],
                         len(self.rs.select().chosen), by_state)
            self._filtered = {}
        return self._arr[1:]

    def filtered(self, view, reason) -> list[str]:
        """The ids the view and reason filters let through, in run order (read-only: kept for
        the next time the same filter is chosen, until the set changes)."""
        ids, states, rules, _, by_state = self._arrays()
        any_reason = reason in ("any", Select.BLANK)
        if any_reason and view == "all":
            return ids
        if any_reason and view in STATE_ICONS:
            return by_state.get(view, [])
        got = self._filtered.get((view, reason))
        if got is None:
            got = self._filtered[view, reason] = [
                cid for cid, st, ru in zip(ids, states, rules)
                if (view == "all" or st == view
                    or view == "undecided" and st not in ("accepted", "rejected"))
                and (any_reason or reason in ru)]
        return got

    def fill_table(self, want: str | None = None) -> None:
        if self.rs is None:
            return
        table = self.query_one(ReviewTable)
        view = self.query_one("#review-view", Select).value
        reason = self.query_one("#review-reason", Select).value
        self.shown = self.filtered(view, reason)
        judge = self.query_one("#review-judge", Select).value
        if judge not in ("any", Select.BLANK) or self.sort_by:  # the judge's filter and sort
            by = self.rs.by_id
            self.shown = [it.id for it in self.judge_order(
                [by(cid) for cid in self.shown if self.judge_visible(by(cid), judge)])]
        table.set_rows(self.shown, lambda cid: self._cells(self.rs.by_id(cid)))
        self.draw_counts()
        want = want or self.selected
        row = table.row_of(want) if want is not None else None
        if row is not None:
            table.move_cursor(row=row, animate=False)
            self.selected = want
        elif self.shown:
            self.selected = self.shown[0]
        else:
            self.selected = None
        self.draw_selected()

    def draw_counts(self) -> None:
        rs = self.rs
        *_, chosen, by_state = self._arrays()
        parts = [f"{len(rs.items)} conversations"] + [f"{len(v)} {k}" for k, v in by_state.items()]
        parts.append(f"export would take {chosen}")
        if self.sort_by:
            parts.append(self.sort_words())
        quiet_update(self.query_one("#review-counts", Static),
                     Text("  ·  ".join(parts) + f"  ·  showing {len(self.shown)}"))

    def on_virtual_table_row_highlighted(self, event: VirtualTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value != self.selected:
            self.selected = event.row_key.value
            self.app.current_conversation_id = self.selected  # type: ignore[attr-defined]
            self.draw_selected()

    def draw_selected(self) -> None:
        chat = self.query_one(ChatView)
        box = self.query_one("#review-reasons", Static)
        it = None
        if self.rs is not None and self.selected is not None:
            it = self.rs.by_id(self.selected)
        elif self.selected is not None:
            it = self._quick_reviewed(self.selected)
        if it is None or self.review is None:
            chat.clear("")
            box.update("")
            return
        persona = self.review.persona
        marks: dict[int, list[str]] = {}
        for r in it.verdict.reasons:
            if r.turn_index is not None and r.rule != "judge":
                marks.setdefault(r.turn_index, []).append(r.rule)
        j = it.judgement
        for n in (j.turns if j is not None and not j.failed else []):
            marks.setdefault(n - 1, []).append("judge")
        found = [r for r in it.verdict.reasons if r.rule != "judge"]  # the judge's: below
        if self.rs is None:
            text = Text("the filters are still checking the run; this one on its own: ", style="dim")
            text.append("✓ passes" if it.verdict.ok else "⚑ " + ", ".join(it.verdict.rules))
        elif not found:
            text = Text("✓ passes every filter" if j is None or j.passed else
                        "✓ passes the other filters", style="green")
        else:
            text = Text()
            for r in found:
                text.append(f"⚑ {r.rule}: ", style="bold")
                text.append(f"{r.message}\n")
            text.rstrip()
        if self.rs is not None:  # one line when the filters found nothing: 80x24 shows 4
            text.append("  ·  " if not found else "\n")
            text.append_text(judge_detail(j))
        if it.decision:
            text.append(f"\nyou {it.decision} it", style="bold")
        if it.edited:
            text.append("  ✎ edited (the original is kept in the log)", style="italic")
        if not it.listed:
            text.append("\ntopic no longer in the run's list: kept, and still exported", style="italic")
        quiet_update(box, text)  # a layout only where its height changes
        chat.show(it.turns, persona.persona_label, persona.user_label,
                  header=f"{it.conv.topic}  ·  {it.conv.id}", marks=marks, numbered=True)
        chat.scroll_home(animate=False)

    # -- decisions ---------------------------------------------------------------------------
    def action_decide(self, decision: str | None) -> None:
        if self.review is None or self.selected is None:
            return
        cid = self.selected
        try:
            {"accepted": self.review.accept, "rejected": self.review.reject}.get(
                decision or "", self.review.undecide)(cid)
        except ChatsynthError as err:
            self.error(err)
            return
        if self.rs is None:  # still loading: the row shows the decision, the load reads it
            self.reviews = {**self.reviews, cid: self.services.store.reviews(self.run_id).get(cid)}
            self.query_one(ReviewTable).refresh_rows([cid])
            if decision:
                self.move_down()
            return
        it = self.rs.by_id(cid)
        it.decision = decision
        self._arr = None  # its state and the export count changed
        self.update_row(it)
        if decision and self.query_one("#review-view", Select).value == "all":
            self.move_down()

    def update_row(self, it) -> None:
        table = self.query_one(ReviewTable)
        if it.id not in self.shown:
            return
        if not self._visible(it):
            self.fill_table()
            return
        table.refresh_rows([it.id])
        self.draw_counts()
        self.draw_selected()

    def move_down(self) -> None:
        table = self.query_one(ReviewTable)
        if table.cursor_row < table.row_count - 1:
            table.move_cursor(row=table.cursor_row + 1, animate=False)

    def action_next_flagged(self) -> None:
        if self.rs is None:
            if self.index is not None:
                self.app.notify("The filters are still checking this run; n works when they are done.")
            return
        nxt = self.rs.next_flagged(self.selected)
        if nxt is None:
            self.app.notify("No undecided flagged conversations left.")
            return
        if nxt.id not in self.shown:
            self.query_one("#review-view", Select).value = "all"
            self.query_one("#review-reason", Select).value = "any"
            self.query_one("#review-judge", Select).value = "any"
            self.fill_table(nxt.id)
        else:
            self.query_one(ReviewTable).move_cursor(row=self.shown.index(nxt.id), animate=False)
        self.selected = nxt.id
        self.draw_selected()

    def action_accept_all_ok(self) -> None:
        if self.review is None or self.rs is None:
            if self.index is not None:
                self.app.notify("The filters are still checking this run; A works when they are done.")
            return
        try:
            n = self.review.accept_all_ok(self.rs)
        except ChatsynthError as err:
            self.error(err)
            return
        self.app.notify(f"Accepted {n} conversations that pass every filter.")
        self.load_run(self.run_id)  # type: ignore[arg-type]

    def action_edit_turn(self) -> None:
        if self.rs is None or self.selected is None:
            return
        it = self.rs.by_id(self.selected)
        if not it.turns:
            return
        first = next((r.turn_index for r in it.verdict.reasons if r.turn_index is not None), 0)
        persona = self.review.persona  # type: ignore[union-attr]
        cid = self.selected

        def done(turns) -> None:
            if turns is None:
                return
            try:
                self.review.edit(cid, turns, note="edited in review")  # type: ignore[union-attr]
            except ChatsynthError as err:
                self.error(err)
                return
            self.app.notify("Edit saved; the original stays in the log.")
            self.load_run(self.run_id)  # type: ignore[arg-type]

        self.app.push_screen(EditTurnDialog(it.turns, first, persona.persona_label,
                                            persona.user_label), done)

    def action_add_to_dataset(self) -> None:
        """Ask for a dataset's name and add this run to it (made when there is none); a wrong
        name or a run already there is said in the dialog, which keeps what was typed."""
        run_id = self.run_id
        if run_id is None:
            return
        have = ", ".join(self.services.datasets().names()) or "none yet"

        def add(name: str) -> None:
            said = self.services.add_to_dataset(name, run_id)
            self.app.notify(f"Run {run_id} added: {said}. Export it on screen 5.", markup=False)

        self.app.push_screen(TextPrompt(f"Add run {run_id} to the dataset (a new name makes one; "
                                        f"have: {have}):", act=add,
                                        empty="type the dataset's name first"))

    def action_mark_example(self) -> None:
        if self.rs is None or self.selected is None:
            return
        it = self.rs.by_id(self.selected)
        try:
            persona, n = self.services.add_example(it.conv.persona_id, it.turns)
        except ChatsynthError as err:
            self.error(err)
            return
        self.app.notify(f"Saved as example {n} of {persona.name} ({persona.path.name}); "
                        "runs started from now on show it to the model.", markup=False)

    def palette_commands(self):
        return [
            ("Add this run to a dataset", "D", self.action_add_to_dataset),
            ("Accept conversation", "a", lambda: self.action_decide("accepted")),
            ("Reject conversation", "x", lambda: self.action_decide("rejected")),
            ("Undecide conversation", "u", lambda: self.action_decide(None)),
            ("Next flagged conversation", "n", self.action_next_flagged),
            ("Edit a turn", "e", self.action_edit_turn),
            ("Accept all passing conversations", "A", self.action_accept_all_ok),
            ("Make it a few-shot example of its persona", "m", self.action_mark_example),
            ("Judge the run's conversations with the LLM judge", "j", self.action_judge),
            ("Sort by judge score", "s", self.action_sort_score),
        ] + [(f"Show only: {rule}", desc, lambda r=rule: self._only(r)) for rule, desc in RULES.items()]

    def _only(self, rule: str) -> None:
        sel = self.query_one("#review-reason", Select)
        if any(v == rule for _, v in sel._options):  # noqa: SLF001
            sel.value = rule
        else:
            self.app.notify(f"No conversation is flagged by {rule}.")
