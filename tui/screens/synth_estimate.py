"""The Synthesize screen's estimate under the form: it follows every change of the form
(debounced), is worked out in a thread (counting a big topic list's prompts takes a moment)
and never breaks the screen.  With Judge ticked it has the judge's line; with "until N pass"
the cost at the pass rate seen so far (``Services.estimate``)."""

from __future__ import annotations

from textual import work

from synth.errors import ChatsynthError
from tui.widgets.run_form import RunForm


class EstimateLine:
    """Mixed into SynthesizeScreen (a Screen with ``services`` and a RunForm)."""

    _estimate_timer = None

    def on_run_form_changed(self, event: RunForm.Changed) -> None:
        self.schedule_estimate()

    def schedule_estimate(self) -> None:
        if self._estimate_timer is not None:
            self._estimate_timer.stop()
        self._estimate_timer = self.set_timer(0.3, self.estimate)

    def estimate(self) -> None:
        try:
            req = self.query_one(RunForm).request()
        except ChatsynthError as err:
            self.query_one(RunForm).set_estimate(f"✗ {err}", "bad")
            return
        self._estimate_worker(req)

    @work(thread=True, exclusive=True, group="estimate", exit_on_error=False)
    def _estimate_worker(self, req) -> None:
        try:
            est = self.services.estimate(req)
            text, kind = "Estimate\n" + "\n".join(est.lines()), ""
        except ChatsynthError as err:
            text, kind = f"✗ estimate: {err}", "bad"
        except Exception as exc:  # noqa: BLE001 - the estimate must never break the screen
            text, kind = f"✗ estimate failed: {type(exc).__name__}: {exc}", "bad"
        self.app.call_from_thread(self.query_one(RunForm).set_estimate, text, kind)
