"""Pick a stored run (newest first), or with ``datasets=True`` also a named dataset of runs
(listed first, value ``dataset:NAME``); follows the app's current run.  A big run's counts are
read in a thread (its index may need reading): the list shows at once, its counts follow."""

from __future__ import annotations

from textual import work
from textual.widgets import Select

from synth.errors import ChatsynthError


DATASET = "dataset:"  # the value prefix of a dataset in the list
COUNT_LATER = 4 << 20  # bytes of a run's log above which its counts are read in a thread


class RunPicker(Select[str]):
    def __init__(self, *, datasets: bool = False, **kw) -> None:
        super().__init__([], prompt="no runs yet", allow_blank=True, compact=True, **kw)
        self.datasets = datasets
        self._sets: list = []  # the dataset options, kept for a later fill of the counts

    def refresh_runs(self, services, want: str | None) -> str | None:
        """Reload the list; select ``want`` (else the newest).  Returns the selected run id."""
        try:
            runs = services.store.list_runs(counted_under=COUNT_LATER)
        except ChatsynthError as err:
            self.app.report_error(err)  # type: ignore[attr-defined]
            runs = []
        self._sets = []
        if self.datasets:
            try:
                sets = services.datasets().all()
            except ChatsynthError as err:
                self.app.report_error(err)  # type: ignore[attr-defined]
                sets = []
            self._sets = [(f"dataset {d.name} · {len(d.runs)} run{'' if len(d.runs) == 1 else 's'}",
                           DATASET + d.name) for d in sets]
        current = None if self.is_blank() else self.value
        pick = self._fill(runs, want, current)
        if any(not r.counted for r in runs):
            self._count(services)
        return pick

    def _fill(self, runs, want: str | None, current: str | None) -> str | None:
        opts = list(self._sets)
        for r in reversed(runs):
            done = f"{r.done}" if r.counted else "…"
            opts.append((f"{r.run_id} · {r.persona} · {r.topics} · {done}/{r.total} · {r.model}",
                         r.run_id))
        ids = [v for _, v in opts]
        self.set_options(opts)
        self.prompt = "pick a run" if opts else "no runs yet"  # the list's first line says it too
        pick = want if want in ids else (current if current in ids else (ids[0] if ids else None))
        if pick is not None:
            self.value = pick
        return pick

    @work(thread=True, exclusive=True, group="run-picker-counts", exit_on_error=False)
    def _count(self, services) -> None:
        try:
            runs = services.store.list_runs()
        except ChatsynthError as err:
            self.app.call_from_thread(self.app.report_error, err)  # type: ignore[attr-defined]
            return
        self.app.call_from_thread(self._counted, runs)

    def _counted(self, runs) -> None:
        current = None if self.is_blank() else self.value
        self._fill(runs, current, current)
