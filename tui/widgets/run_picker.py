"""Pick a stored run (newest first), or with ``datasets=True`` also a named dataset of runs
(listed first, value ``dataset:NAME``); follows the app's current run."""

from __future__ import annotations

from textual.widgets import Select

from synth.errors import ChatsynthError


DATASET = "dataset:"  # the value prefix of a dataset in the list


class RunPicker(Select[str]):
    def __init__(self, *, datasets: bool = False, **kw) -> None:
        super().__init__([], prompt="no runs yet", allow_blank=True, compact=True, **kw)
        self.datasets = datasets

    def refresh_runs(self, services, want: str | None) -> str | None:
        """Reload the list; select ``want`` (else the newest).  Returns the selected run id."""
        try:
            runs = services.store.list_runs()
        except ChatsynthError as err:
            self.app.report_error(err)  # type: ignore[attr-defined]
            runs = []
        opts = []
        if self.datasets:
            try:
                sets = services.datasets().all()
            except ChatsynthError as err:
                self.app.report_error(err)  # type: ignore[attr-defined]
                sets = []
            opts += [(f"dataset {d.name} · {len(d.runs)} run{'' if len(d.runs) == 1 else 's'}",
                      DATASET + d.name) for d in sets]
        for r in reversed(runs):
            opts.append((f"{r.run_id} · {r.persona} · {r.topics} · {r.done}/{r.total} · {r.model}",
                         r.run_id))
        ids = [v for _, v in opts]
        current = None if self.is_blank() else self.value
        self.set_options(opts)
        pick = want if want in ids else (current if current in ids else (ids[0] if ids else None))
        if pick is not None:
            self.value = pick
        return pick
