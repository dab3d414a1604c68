"""The LLM judge's parts of Review: its column, its verdict in the detail pane, the filter by
judge outcome, the sort by score, and judging the run from the screen (j; Esc cancels).

Judging goes through ``Services.judge_job`` (the endpoint, the rubric, the run's judge cache)
and runs in a worker thread (``tui.judge_job.JudgeJob``); a timer drains its verdicts into the
table as they come and shows its progress, tokens and cost.  A judgement that failed is shown
as failed, never as a pass.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Select, Static

from synth.errors import ChatsynthError

JUDGE_VIEWS = [("any judge", "any"), ("judge: under", "under"), ("judge: passed", "passed"),
               ("judge: failed", "failed"), ("not judged", "none")]
SORTS = [None, "low", "high"]  # run order, lowest score first, highest first
SORT_WORDS = {"low": "sorted by judge score, lowest first (failed first)",
              "high": "sorted by judge score, highest first"}


def outcome(j) -> str:
    """none / failed / passed / under: what the judge said of a conversation."""
    if j is None:
        return "none"
    if j.failed:
        return "failed"
    return "passed" if j.passed else "under"


def judge_cell(j) -> Text:
    """The table's Judge column: the overall (lowest) score, "failed", or blank."""
    kind = outcome(j)
    if kind == "none":
        return Text("")
    if kind == "failed":
        return Text("✗ failed", style="bold red")
    score = f"{j.score:g}/5"
    return Text(f"✓ {score}", style="green") if kind == "passed" else Text(f"⚑ {score}", style="yellow")


def judge_detail(j, threshold_hint: str = "") -> Text:
    """The judge's verdict for the detail pane: per criterion its score and one-sentence reason,
    and the turns it objects to; a failure is said as one (not a pass)."""
    kind = outcome(j)
    if kind == "none":
        return Text("judge: not judged yet (j asks the judge about the run)", style="dim")
    if kind == "failed":
        text = Text("✗ judge failed ", style="bold red")
        text.append(f"({j.model}): {j.error}; not a pass, j asks again")
        return text
    head = "✓ judge passes it" if kind == "passed" else "⚑ judge: under the threshold"
    text = Text(head, style="green" if kind == "passed" else "bold yellow")
    text.append(f" ({j.model}, lowest {j.score:g}/5, threshold {j.threshold:g})", style="dim")
    for name, s in j.scores.items():
        mark = "✓" if s >= j.threshold else "⚑"
        text.append(f"\n  {mark} {name} {s}/5", style="bold" if s < j.threshold else "")
        why = j.reasons.get(name)
        if why:
            text.append(f": {why}")
    if j.turns:
        text.append(f"\n  objects to turn{'s' if len(j.turns) > 1 else ''} "
                    + ", ".join(map(str, j.turns)), style="italic")
    return text


def sort_key(direction: str):
    """A key for ``sorted`` over Reviewed items: lowest first puts failed judgements first (the
    worst); highest first puts them after the scored ones; the ones not judged come last."""
    def key(it):
        j = it.judgement
        if j is None:
            return (2, 0.0)
        if j.failed:
            return (0, -1.0) if direction == "low" else (1, 0.0)
        return (0, float(j.score)) if direction == "low" else (0, -float(j.score))
    return key


class ReviewJudgeMixin:
    """Judge actions for ReviewScreen (which provides rs, shown, fill_table, services, ...)."""

    judge_job = None
    judge_run_id: str | None = None
    sort_by: str | None = None
    _judge_opening = False  # the worker is opening the endpoint
    _judge_cancel_early = False  # Esc came while it was
    _judge_seen = 0  # verdicts of the job already drawn

    def judge_visible(self, it, value=None) -> bool:
        value = value or self.query_one("#review-judge", Select).value
        return value in ("any", Select.BLANK) or outcome(it.judgement) == value

    def judge_order(self, items: list) -> list:
        return sorted(items, key=sort_key(self.sort_by)) if self.sort_by else items

    def sort_words(self) -> str:
        return SORT_WORDS.get(self.sort_by or "", "")

    # -- sort ----------------------------------------------------------------------------------
    def action_sort_score(self) -> None:
        if self.rs is None:
            if self.index is not None:
                self.app.notify("The filters are still checking this run; s works when they are done.")
            return
        if not any(it.judgement is not None for it in self.rs.items):
            self.sort_by = None
            self.app.notify("No conversation is judged yet, so there is no score to sort by: "
                            "j asks the judge.")
            return
        self.sort_by = SORTS[(SORTS.index(self.sort_by) + 1) % len(SORTS)]
        self.fill_table()
        self.app.notify(f"Review: {self.sort_words() or 'in run order'}.")

    # -- judging -------------------------------------------------------------------------------
    def action_judge(self) -> None:
        if self.judge_job is not None or self._judge_opening:
            self.app.notify("The judge is already at work; Esc cancels it.")
            return
        if self.rs is None or self.review is None:
            if self.index is not None:
                self.app.notify("The filters are still checking this run; j works when they are done.")
            return
        persona = self.services.judge_persona(self.review.persona)
        try:
            self.services.judge_endpoint(persona)
        except ChatsynthError as err:
            self.error(err, "No judge endpoint")
            return
        items = [(it.id, it.turns) for it in self.rs.items
                 if it.conv.status == "complete" and it.turns]
        if not items:
            self.app.notify("Nothing to judge: the run has no complete conversation.")
            return
        self.judge_run_id = self.run_id
        self._judge_opening, self._judge_cancel_early, self._judge_seen = True, False, 0
        self._judge_line(f"judge: opening the endpoint for {len(items):,} conversations…")
        self.run_worker(lambda: self._judge_thread(self.run_id, persona, items), thread=True,
                        exit_on_error=False, group="judge")

    def _judge_thread(self, run_id, persona, items) -> None:
        try:
            job = self.services.judge_job(run_id, persona, items)
        except ChatsynthError as err:
            self.app.call_from_thread(self._judge_failed, err)
            return
        except Exception as exc:  # noqa: BLE001 - an endpoint that can't be opened
            self.app.call_from_thread(self._judge_failed, ChatsynthError(
                getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"))
            return
        self.app.call_from_thread(self._judge_started, job)
        job.run()

    def _judge_failed(self, err) -> None:
        self._judge_line("")
        self._judge_opening = False
        self.error(err, "The judge can't start")

    def _judge_started(self, job) -> None:
        self.judge_job, self._judge_opening = job, False
        if self._judge_cancel_early:
            job.cancel()
        self._judge_timer = self.set_interval(0.25, self._judge_tick)
        self._judge_tick()

    def _judge_tick(self) -> None:
        job = self.judge_job
        if job is None:
            return
        done = job.finished  # read first: every verdict is in results before it is set
        fresh = job.results[self._judge_seen:]
        self._judge_seen += len(fresh)
        if fresh and self.rs is not None and self.run_id == self.judge_run_id:
            from synth.curate.review import apply_judgement

            for cid, j in fresh:
                try:
                    apply_judgement(self.rs.by_id(cid), j)
                except KeyError:
                    continue
            self._arr = None  # the filters' arrays: a judge verdict changes states and rules
            self.query_one("#review-table").refresh_rows([cid for cid, _ in fresh])
            self.draw_counts()
            if self.selected in {cid for cid, _ in fresh}:
                self.draw_selected()
        self._judge_line(job.line())
        if done:
            self._judge_done(job)

    def _judge_done(self, job) -> None:
        self._judge_timer.stop()
        self.judge_job = None
        if job.error:
            self.app.notify(f"The judge stopped: {job.error}", severity="error", markup=False)
        if self.run_id == self.judge_run_id and self.run_id is not None:
            self.load_run(self.run_id)  # the judge rule's reasons and counts, filters re-applied

    def action_leave_field(self) -> None:
        """Esc: stop the judge when it works (the screen's Esc binding); else what Esc does
        everywhere (leave a text field)."""
        job = self.judge_job
        if job is not None:
            job.cancel()
            self._judge_line(job.line().replace("Esc cancels", "cancelling…"))
            return
        if self._judge_opening:  # still opening the endpoint: cancelled as soon as it is open
            self._judge_cancel_early = True
            self._judge_line("judge: cancelling…")
            return
        super().action_leave_field()  # type: ignore[misc]

    def _judge_line(self, text: str) -> None:
        line = self.query_one("#review-judging", Static)
        line.update(Text(text))
        line.display = bool(text)

    def stop_judging(self) -> None:
        """Leaving the run or the app: stop the judge (what it judged is kept)."""
        if self.judge_job is not None:
            self.judge_job.cancel()
