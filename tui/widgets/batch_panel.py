"""The Synthesize screen's batch panel: "as a batch job" for endpoints with ``batch: true``.

b (on the screen) prepares and submits the form's run as Batch API jobs (Esc while it submits
stops before the next part); the panel then lists the run's batches (part, batch, state,
counts, age), polls them with backoff while the app is open, collects each one that ends into
the store (its conversations are then in Review, v) and says what failed.  k cancels the
batches still running, s sends the failed and expired requests again, g checks now.  Batches
recorded in a run's catalog entry are found again when the app starts.  Every request goes
through ``services.batches`` (tui/batch_jobs.py) in a thread worker.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from synth.errors import ChatsynthError

ENDED = ("completed", "failed", "expired", "cancelled", "lost")
STATE_STYLE = {"completed": "green", "failed": "red", "expired": "red", "lost": "red",
               "cancelled": "yellow", "cancelling": "yellow"}


class BatchTable(DataTable):
    BINDINGS = [
        Binding("escape", "stop_submit", "Stop submitting"),
        Binding("k", "cancel_batches", "Cancel batches"),
        Binding("s", "resend", "Send failed again"),
        Binding("g", "poll_now", "Check now"),
        Binding("v", "review", "Review run"),
    ]

    @property
    def panel(self) -> "BatchPanel":
        return self.parent  # type: ignore[return-value]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop_submit":
            return self.panel.submitting  # otherwise Esc leaves the table as everywhere
        return True

    def action_stop_submit(self) -> None:
        self.panel.stop_submit()

    def action_cancel_batches(self) -> None:
        self.panel.cancel()

    def action_resend(self) -> None:
        self.panel.resend()

    def action_poll_now(self) -> None:
        self.panel.poll_now()

    def action_review(self) -> None:
        self.panel.review()


def _age(seconds: float) -> str:
    if seconds < 90:
        return f"{max(0, int(seconds))} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class BatchPanel(Vertical):
    """Submitted batches of one run, polled with backoff; hidden until there is something."""

    POLL_FIRST = 2.0  # seconds before the first check after a submit or a change
    POLL_MAX = 60.0
    POLL_REOPEN = 0.1  # batches found at start are checked at once

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.run_id: str | None = None
        self.submitting = False
        self._stop = threading.Event()
        self._delay = self.POLL_FIRST
        self._timer = None
        self._busy = False  # a poll, cancel or resend in flight
        self._offer = ""  # the hint shown while no run is shown
        self._seen: tuple = ()
        self.stored_now = 0  # conversations collected since the panel showed this run
        self._offered: tuple = ()  # (request, why not) the offer was last worked out for

    @property
    def services(self):
        return self.app.services  # type: ignore[attr-defined]

    def compose(self) -> ComposeResult:
        yield Static("", id="batch-title", classes="pane-title")
        yield Static("", id="batch-status", classes="status-line")
        yield BatchTable(id="batch-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        t = self.query_one(BatchTable)
        for label, key, width in (("Part", "part", 12), ("State", "state", 13),
                                  ("Done", "done", 11), ("Failed", "failed", 6),
                                  ("Age", "age", 7), ("Batch", "batch", 26)):
            t.add_column(label, key=key, width=width)
        t.display = False
        self.display = False
        self._find_in_flight()
        # the form is filled after this; Settings may turn batch: true on while we are away
        self.set_interval(1.0, self.form_changed)

    # -- what is offered ------------------------------------------------------------------
    def _request(self) -> Any | None:
        from tui.widgets.run_form import RunForm

        try:
            return self.screen.query_one(RunForm).request()
        except ChatsynthError:
            return None

    def form_changed(self) -> None:
        """The run form changed: offer "as a batch job" (with its estimate) when it applies."""
        if self.run_id is not None and not self.submitting:
            return  # a run's batches are shown; b on another endpoint shows its own
        req = self._request()
        if req is None:
            return
        try:
            why = self.services.batches.unsupported(req.endpoint)
        except ChatsynthError:
            why = "x"
        if (req, why) == self._offered:
            return
        self._offered = (req, why)
        if why:
            if self.run_id is None:
                self.display = False
            return
        self._estimate(req)

    @work(thread=True, exclusive=True, group="batch-estimate", exit_on_error=False)
    def _estimate(self, req: Any) -> None:
        try:
            line = self.services.batches.estimate_line(req)
        except ChatsynthError as err:
            line = f"estimate: {err}"
        except Exception as exc:  # noqa: BLE001 - the estimate must never break the screen
            line = f"estimate failed: {type(exc).__name__}: {exc}"
        self.app.call_from_thread(self._show_offer, line, req)

    def _show_offer(self, line: str, req: Any = None) -> None:
        if self.run_id is not None:
            return
        if req is not None and self._offered and self._offered[0] is not req:
            return  # an estimate for a form since changed came in after the newer one's
        self._offer = line
        self.display = True
        self._title("As a batch job: b submits this run (about half the price, answers within "
                    "24 h)")
        self._status(line)

    # -- submit ---------------------------------------------------------------------------
    def start(self) -> None:
        """b on the Synthesize screen: submit the form's run as a batch job."""
        from tui.widgets.run_form import RunForm

        runner = self.services.runner
        live = getattr(self.screen, "live", None)
        if live is not None and live.active and runner.running:
            self.app.notify("A run is going. Pause (p) or cancel (c) it first.", severity="warning")
            return
        try:
            req = self.screen.query_one(RunForm).request()
        except ChatsynthError as err:
            self.app.report_error(err, "Can't submit")  # type: ignore[attr-defined]
            return
        why = self.services.batches.unsupported(req.endpoint)
        if why:
            self.app.notify(f"Not offered as a batch job: {why}.", severity="warning",
                            markup=False, timeout=8)
            return
        if self.submitting:
            self.app.notify("Already submitting; Esc stops it.", severity="warning")
            return
        self.submitting = True
        self._stop.clear()
        self.display = True
        self._title("Submitting as a batch job… (Esc stops before the next part)")
        self.query_one(BatchTable).display = True
        self.query_one(BatchTable).focus()
        self.screen.refresh_bindings()  # Esc now stops the submit
        self._submit(req)

    @work(thread=True, exclusive=True, group="batch-submit", exit_on_error=False)
    def _submit(self, req: Any) -> None:
        note = lambda text: self.app.call_from_thread(self._status, text)  # noqa: E731
        run_id, err = None, None
        try:
            run_id = self.services.batches.start(req, note=note, stop=self._stop)
        except ChatsynthError as e:
            err = e
        except Exception as e:  # noqa: BLE001 - shown, never a crash of the app
            err = ChatsynthError(f"{type(e).__name__}: {e}")
        self.app.call_from_thread(self._submitted, run_id, err)

    def _submitted(self, run_id: str | None, err: Exception | None) -> None:
        self.submitting = False
        self.screen.refresh_bindings()
        if err is not None:
            self._status(f"✗ submit: {err}; what was sent is recorded: b goes on from there",
                         "bad")
            self.app.notify(str(err), title="Batch submit failed", severity="error",
                            markup=False, timeout=10)
            run_id = run_id or self._recorded_run()
            if run_id is None:
                return
        self.show_run(run_id)
        if err is None:
            self.app.notify(f"Run {run_id} submitted as a batch job; the panel follows it.",
                            markup=False)

    def _recorded_run(self) -> str | None:
        found = self.services.batches.runs_in_flight()
        return found[0] if found else None

    def stop_submit(self) -> None:
        if self.submitting:
            self._stop.set()
            self._status("stopping after the part being sent…", "warn")

    # -- the run's batches ----------------------------------------------------------------
    @work(thread=True, exclusive=True, group="batch-find", exit_on_error=False)
    def _find_in_flight(self) -> None:
        try:
            found = self.services.batches.runs_in_flight()
        except Exception:  # noqa: BLE001 - an unreadable catalog is reported elsewhere
            return
        if found:
            self.app.call_from_thread(self.show_run, found[0], True)

    def show_run(self, run_id: str, reopened: bool = False) -> None:
        if run_id != self.run_id:
            self.stored_now = 0
        self.run_id = run_id
        self.display = True
        self.query_one(BatchTable).display = True
        self.draw()
        if getattr(self.screen, "live", None) is None:  # no streamed run shown: keys k, s, g, v
            self.query_one(BatchTable).focus()
        if reopened:
            self._status("batches found from an earlier session; checking them…")
        self._delay = self.POLL_FIRST
        self._schedule(self.POLL_REOPEN if reopened else self.POLL_FIRST)

    def draw(self) -> None:
        if self.run_id is None:
            return
        jobs = self.services.batches.jobs(self.run_id)
        running = sum(1 for j in jobs if j.get("batch_id") and j.get("status") not in ENDED)
        unsent = sum(1 for j in jobs if not j.get("batch_id"))
        self._title(f"Batch jobs of run {self.run_id}: {len(jobs)} part(s), {running} running"
                    + (f", {unsent} not submitted (b submits them)" if unsent else ""))
        t = self.query_one(BatchTable)
        row = t.cursor_row
        t.clear()
        now = time.time()
        for j in jobs:
            state = j.get("status") or j.get("state") or "?"
            if not j.get("batch_id"):
                state = f"{j.get('state', 'prepared')}"
            c = j.get("counts") or {}
            done = f"{c.get('completed', 0):,}/{c.get('total', 0):,}" if c else \
                f"0/{j.get('requests', 0):,}"
            age = _age(now - float(j["submitted_at"])) if j.get("submitted_at") else "-"
            st = Text(state + (" ✓" if j.get("collected") else ""),
                      style=STATE_STYLE.get(state, ""))
            t.add_row(j["part"].removesuffix(".jsonl"), st, done,
                      str(c.get("failed", 0) if c else 0), age, j.get("batch_id") or "-",
                      key=j["part"])
        if jobs:
            t.move_cursor(row=min(row, len(jobs) - 1), animate=False)

    def _schedule(self, delay: float) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(delay, self._tick)

    def _tick(self) -> None:
        if self.run_id is None or self._busy or self.submitting:
            self._schedule(self._delay)
            return
        self._busy = True
        self._poll(self.run_id)

    def poll_now(self) -> None:
        self._delay = self.POLL_FIRST
        if not self._busy and self.run_id is not None:
            self._busy = True
            self._poll(self.run_id)

    @work(thread=True, exclusive=True, group="batch-poll", exit_on_error=False)
    def _poll(self, run_id: str) -> None:
        notes: list[str] = []
        out, err = None, None
        try:
            out = self.services.batches.poll(run_id, note=notes.append)
        except ChatsynthError as e:
            err = e
        except Exception as e:  # noqa: BLE001 - shown, never a crash of the app
            err = ChatsynthError(f"{type(e).__name__}: {e}")
        self.app.call_from_thread(self._polled, run_id, out, err, notes)

    def _polled(self, run_id: str, out: Any, err: Exception | None, notes: list[str]) -> None:
        self._busy = False
        if run_id != self.run_id:
            return
        self.draw()
        jobs = self.services.batches.jobs(run_id)
        seen = tuple((j.get("status"), str(j.get("counts"))) for j in jobs)
        self._delay = self.POLL_FIRST if seen != self._seen else min(self.POLL_MAX,
                                                                     self._delay * 1.5)
        self._seen = seen
        if err is not None:
            self._status(f"✗ checking the batches: {err} (tried again in {self._delay:.0f} s)",
                         "bad")
        else:
            self._report(out, notes)
        if err is not None or out.running or any(not j.get("collected") and j.get("batch_id")
                                                 for j in jobs):
            self._schedule(self._delay)

    def _report(self, out: Any, notes: list[str]) -> None:
        res = out.result
        self.stored_now += res.stored
        if res.stored:
            self.app.notify(f"{res.stored} conversation(s) collected from batches of run "
                            f"{self.run_id}; v opens them in Review.", markup=False)
        failed = [j for j in out.ended if j.get("status") in ("failed", "expired", "lost",
                                                               "cancelled")]
        bits = [f"the run holds {out.held:,} of {out.total:,}"]
        if self.stored_now:
            bits.append(f"{self.stored_now:,} collected now (v: Review)")
        if out.running:
            bits.append(f"{out.running} running, checked again in {self._delay:.0f} s")
        missing = out.unanswered
        if not out.running and missing:
            bits.append(f"{missing:,} answered with an error or not at all: s sends them again")
        line = "; ".join(bits)
        for j in failed:
            why = "; ".join([*(f"line {e}" for e in j.get("errors") or []),
                             *([j["error"]] if j.get("error") else [])])
            line += f"\n✗ {j['part']} {j['status']}" + (f": {why}" if why else "")
        for n in notes[-2:]:
            line += f"\n⚠ {n}"
        kind = "bad" if failed else "warn" if notes or (missing and not out.running) else \
            "good" if not out.running else ""
        self._status(line, kind)

    # -- cancel, resend, review -----------------------------------------------------------
    def cancel(self) -> None:
        if self.run_id is not None and not self._busy:
            self._busy = True
            self._status("cancelling the batches still running…", "warn")
            self._act(self.run_id, "cancel")

    def resend(self) -> None:
        if self.run_id is not None and not self._busy:
            self._busy = True
            self._status("sending the failed requests again…")
            self._act(self.run_id, "resend")

    @work(thread=True, exclusive=True, group="batch-act", exit_on_error=False)
    def _act(self, run_id: str, what: str) -> None:
        try:
            if what == "cancel":
                said = self.services.batches.cancel(run_id)
                text = f"{len(said)} batch(es) cancelled" if said else "nothing running to cancel"
            else:
                n = self.services.batches.resend_failed(run_id)
                text = f"{n} new batch(es) submitted for the failed requests" if n else \
                    "nothing to send again (every request is stored or still running)"
            kind = ""
        except ChatsynthError as e:
            text, kind = f"✗ {what}: {e}", "bad"
        except Exception as e:  # noqa: BLE001 - shown, never a crash of the app
            text, kind = f"✗ {what}: {type(e).__name__}: {e}", "bad"
        self.app.call_from_thread(self._acted, run_id, text, kind)

    def _acted(self, run_id: str, text: str, kind: str) -> None:
        self._busy = False
        self._status(text, kind)
        self.app.notify(text, markup=False, severity="error" if kind == "bad" else "information")
        if run_id == self.run_id:
            self.draw()
            self._delay = self.POLL_FIRST
            self._schedule(self._delay)

    def review(self) -> None:
        if self.run_id is not None:
            self.app.open_run(self.run_id, None, "review")  # type: ignore[attr-defined]

    # -- drawing helpers ------------------------------------------------------------------
    def _title(self, text: str) -> None:
        self.query_one("#batch-title", Static).update(Text(text))

    def _status(self, text: str, kind: str = "") -> None:
        st = self.query_one("#batch-status", Static)
        st.update(Text(text))
        st.set_classes(f"status-line {kind}".strip())
