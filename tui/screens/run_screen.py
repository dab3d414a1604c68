"""A screen over one stored run (Trim, Review): a run picker that follows the app's current
run, and the run's review set loaded in a thread."""

from __future__ import annotations

from textual import work
from textual.widgets import DataTable, Select

from synth.errors import ChatsynthError
from synth.curate.review import Review
from tui.screens.base import BaseScreen
from tui.widgets.run_picker import RunPicker


class RunScreen(BaseScreen):
    PICKER_ID = ""
    TABLE_ID = ""

    def __init__(self) -> None:
        super().__init__()
        self.run_id: str | None = None
        self.review: Review | None = None
        self.rs = None
        self.selected: str | None = None

    def on_screen_resume(self) -> None:
        if self.focused is None or self.focused.id == self.PICKER_ID:
            self.query_one(f"#{self.TABLE_ID}", DataTable).focus()
        want = getattr(self.app, "current_run_id", None)
        rid = self.query_one(f"#{self.PICKER_ID}", RunPicker).refresh_runs(self.services,
                                                                         want or self.run_id)
        if rid:
            self.load_run(rid)
        else:
            self.no_runs()

    def no_runs(self) -> None:
        """Say that there is nothing to show yet."""

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == self.PICKER_ID and isinstance(event.value, str) \
                and event.value != self.run_id:
            self.load_run(event.value)

    def load_run(self, run_id: str) -> None:
        self.run_id = run_id
        self._load(run_id)

    @work(thread=True, exclusive=True, group="run-load", exit_on_error=False)
    def _load(self, run_id: str) -> None:
        try:
            review = Review(self.services.store, run_id)
            rs = review.load()
            rs.count_tokens()  # here, not while the table is drawn
        except ChatsynthError as err:
            self.app.call_from_thread(self.error, err)
            return
        self.app.call_from_thread(self._loaded, run_id, review, rs)

    def _loaded(self, run_id: str, review: Review, rs) -> None:
        if run_id != self.run_id:
            return
        self.review, self.rs = review, rs
        self.run_loaded(run_id, rs)

    def run_loaded(self, run_id: str, rs) -> None:
        """Draw the loaded run (``self.review`` and ``self.rs`` are set)."""
        raise NotImplementedError
