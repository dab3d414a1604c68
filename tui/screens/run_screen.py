"""A screen over one stored run (Trim, Review): a run picker that follows the app's current
run, and the run loaded in a thread in two steps, so a run of 100,000 conversations shows at once:
first its index (ids, topics, decisions; no bodies), drawn as soon as it is read, then the full
review set (``self.rs``: bodies, edits, and for Review the filters' verdicts).  Until then a
conversation's body is read on demand at its indexed offset (``quick_item``).

The full load keeps the filters' verdicts in the run's folder (``synth.curate.verdict_cache``:
a second open judges only what changed) and says how far it is (``load_progress``); on a big
run whose cache is stale the filters' pass runs first in a child process
(``synth.dataset.prefill``), so the app's interpreter stays free for keys.  It runs
with the cyclic garbage collector paused and then freezes what it built: a collection over the
millions of objects of a big run held the interpreter for a second at a time, stalling keys.
It starts once the index's rows are painted (it would compete with the first frame for the
interpreter), and hands the filters' verdicts over in slices (``partial``), which the screen
draws into the rows on view as they come.  A screen that shows nothing from it at first (Trim:
``DEFER_LOAD``) starts it on a big run only when it needs it (``load_now``) or after that many
seconds: the app's interpreter stays free for the first frame and the first keys."""

from __future__ import annotations

import gc
import threading
import time

from textual import work
from textual.worker import get_current_worker
from textual.widgets import Select

from synth.errors import ChatsynthError
from synth.curate.review import Review, effective_turns
from synth.dataset import prefill
from tui.screens.base import BaseScreen
from tui.widgets.run_picker import RunPicker


class RunScreen(BaseScreen):
    PICKER_ID = ""
    TABLE_ID = ""
    FILTERS = True  # the full load runs the filters over the whole run (Review); Trim needs none
    DEFER_LOAD = 0.0  # seconds a big run's full load waits after the first paint (``load_now``)

    def __init__(self) -> None:
        super().__init__()
        self.run_id: str | None = None
        self.review: Review | None = None
        self.rs = None
        self.index = None  # synth.dataset.runindex.RunIndex of the run being loaded
        self.reviews: dict = {}  # conversation id -> ReviewRecord, read with the index
        self.meta: dict = {}
        self.selected: str | None = None
        self.load_progress: tuple[int, int] | None = None  # (judged, total) while the filters run
        self.partial: dict = {}  # conversation id -> Verdict, slice by slice while the filters run
        self._load_now = threading.Event()  # a deferred full load starts when this is set

    def on_screen_resume(self) -> None:
        if self.focused is None or self.focused.id == self.PICKER_ID:
            self.query_one(f"#{self.TABLE_ID}").focus()
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
        if event.select.id == self.PICKER_ID and isinstance(event.value, str):
            self.app.current_run_id = event.value  # type: ignore[attr-defined]  # the others follow
            if event.value != self.run_id:
                self.load_run(event.value)

    def load_run(self, run_id: str) -> None:
        self.run_id = run_id
        self._load_now.set()  # a load still deferred is for another run or a stale set: end it
        self._load_now = threading.Event()
        self._load(run_id, self._load_now)

    def load_now(self) -> None:
        """Start a deferred full load now (``DEFER_LOAD``): something needs the whole run."""
        self._load_now.set()

    def on_unmount(self) -> None:
        self._load_now.set()  # no deferred load outlives the screen

    @work(thread=True, exclusive=True, group="run-load", exit_on_error=False)
    def _load(self, run_id: str, load_now: threading.Event) -> None:
        store = self.services.store
        try:
            review = Review(store, run_id)
            if self.rs is None or self.rs.run_id != run_id:  # a reload keeps the old set shown
                index, reviews, meta = store.index(run_id), store.reviews(run_id), store.run_meta(run_id)
                review.persona  # noqa: B018 - read here, not on the first key press
                painted = threading.Event()
                self.app.call_from_thread(self._indexed, run_id, review, index, reviews, meta,
                                          painted)
                painted.wait(5)  # the rows on screen first: then the long part
                if self.DEFER_LOAD and len(index) >= prefill.CHILD_FROM:
                    load_now.wait(self.DEFER_LOAD)
                    if get_current_worker().is_cancelled or run_id != self.run_id:
                        return
            if self.FILTERS and len(store.index(run_id)) >= prefill.CHILD_FROM \
                    and prefill.stale(store, run_id):  # the filters' first pass: not here
                worker = get_current_worker()
                prefill.check_in_child(store, run_id, self._progress, self._verdicts,
                                       lambda: worker.is_cancelled or run_id != self.run_id)
            gc.disable()
            try:
                rs = review.load(filters=self.FILTERS, cache=True, progress=self._progress,
                                 on_verdicts=self._verdicts)
            finally:
                gc.freeze()  # what the load built is long-lived: no collection walks it again
                gc.enable()
        except ChatsynthError as err:
            self.app.call_from_thread(self.error, err)
            return
        self.app.call_from_thread(self._loaded, run_id, review, rs)

    def _progress(self, done: int, total: int) -> None:
        self.load_progress = (done, total)  # read by the screen's timer (no call into the UI)
        time.sleep(0.002)  # let the screen's thread take the interpreter between slices

    def _verdicts(self, got: dict) -> None:
        self.partial.update(got)  # read by the screen's timer, which redraws the rows on view

    def _indexed(self, run_id: str, review: Review, index, reviews: dict, meta: dict,
                 painted: threading.Event) -> None:
        if run_id != self.run_id:
            painted.set()
            return
        self.review, self.rs, self.index, self.reviews, self.meta = review, None, index, reviews, meta
        self.partial = {}
        self.run_indexed(run_id, index)
        self.call_after_refresh(painted.set)

    def _loaded(self, run_id: str, review: Review, rs) -> None:
        if run_id != self.run_id:
            return
        self.review, self.rs, self.load_progress, self.partial = review, rs, None, {}
        self.run_loaded(run_id, rs)

    def run_indexed(self, run_id: str, index) -> None:
        """Draw the run's rows from its index (``self.rs`` is None until ``run_loaded``)."""

    def run_loaded(self, run_id: str, rs) -> None:
        """Draw the loaded run (``self.review`` and ``self.rs`` are set)."""
        raise NotImplementedError

    def quick_item(self, cid: str):
        """(conversation as stored, its effective turns, edited?) read on demand from the index,
        or None where it can't be read (said once by the full load)."""
        entry = self.index.get(cid) if self.index is not None else None
        if entry is None or self.review is None:
            return None
        try:
            conv = self.services.store.read_conversation(self.run_id, entry)  # type: ignore[arg-type]
        except ChatsynthError:
            return None
        rec = self.reviews.get(cid)
        edited = rec.edited_turns if rec else None
        turns = effective_turns(conv, edited, self.meta.get("retrim_stops"), self.review.persona)
        return conv, turns, edited is not None
