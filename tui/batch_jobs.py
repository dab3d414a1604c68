"""What the Synthesize screen's batch panel asks of synth (no textual here): whether an endpoint
takes batch jobs, the estimate at the batch price, prepare + submit, poll and collect, cancel,
and sending the failed requests again.  Every call blocks; the panel runs them in a thread.

All of it goes through ``synth.generate.batch`` / ``batch_api`` / ``batch_flow``: what was
submitted is recorded in the run's catalog entry before the next request, so an app closed at
any moment finds its batches again on the next launch (``runs_in_flight``).
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from synth.generate import batch, batch_api, batch_flow


def _quiet(text: str) -> None:
    pass


class BatchJobs:
    """The app's batch jobs, over the services' workspace and store."""

    def __init__(self, services: Any) -> None:
        self.services = services

    @property
    def store(self) -> Any:
        return self.services.store

    @property
    def config(self) -> Any:
        return self.services.ws.config

    def unsupported(self, endpoint: str | None) -> str:
        """Why ``endpoint`` is not offered "as a batch job" ("" when it is)."""
        ep = self.config.endpoint(endpoint)
        if ep.is_embedded:
            return f"{ep.name} is the embedded demo model, which takes no batch jobs"
        if not ep.batch:
            return (f"endpoint {ep.name} takes no batch jobs: turn on 'Takes batch jobs' for it "
                    "in Settings (6) if its provider has a Batch API")
        return ""

    def _price(self, model: str) -> Any:
        from synth.pricing import batch_price_of

        return batch_price_of(model, self.config.prices or None)

    def estimate_line(self, req: Any) -> str:
        """One line: what the run's missing conversations cost at the batch price."""
        from synth.generate.estimate import estimate_run
        from synth.pricing import format_usd

        ep_cfg = self.config.endpoint(req.endpoint)
        model = req.model or self.services.default_model(req.endpoint)
        spec = self.services.spec_for(req, endpoint=ep_cfg.name, model=model, style=ep_cfg.style)
        run_id = self.store.bind(spec)
        stored = self.store.load(run_id).conversations if run_id in set(self.store.run_ids()) \
            else []
        est = estimate_run(spec, overrides=self.config.prices or None, stored=stored)
        bp = self._price(model)
        n = f"{est.to_write:,} request{'s' if est.to_write != 1 else ''}"
        if bp is None:
            return f"{n}; batch cost unknown (no price for {model}; add it under prices:)"
        cost = format_usd(bp.cost(est.prompt_tokens, est.completion_tokens_max))
        return (f"{n}, at most {cost} at the batch price (${bp.input:g} in / ${bp.output:g} "
                f"out per M tokens, {bp.source})")

    def start(self, req: Any, *, note: Callable[[str], None] = _quiet,
              stop: threading.Event | None = None, base: float = 0.5) -> str:
        """Prepare the form's run as request parts and submit them; returns the run id.  A run
        that already has batches recorded is not prepared again: its parts not yet submitted
        are (a submit stopped by Esc, or cut off by closing the app).  ``stop`` set: no new
        part is started (the one being sent finishes and is recorded)."""
        from synth.generate.endpoints import EndpointSession

        why = self.unsupported(req.endpoint)
        if why:
            raise batch.BatchError(why, field="endpoint")
        ep_cfg = self.config.endpoint(req.endpoint)
        with EndpointSession(self.config, name=ep_cfg.name, model=req.model or None) as ep:
            spec = self.services.spec_for(req, endpoint=ep.name, model=ep.model, style=ep.style)
            run_id = self.store.bind(spec)
            known = run_id in set(self.store.run_ids())
            jobs = batch_api.Jobs(self.store, run_id) if known else None
            if jobs is not None and jobs.jobs:
                manifest = batch.read_manifest(self.store, run_id)
                batch_flow.check_persona(self.services.ws, spec, manifest,
                                         resolve=self.services.resolve_examples)
                parts = [p for p in manifest["parts"]
                         if not (jobs.jobs.get(p["file"]) or {}).get("batch_id")]
                if parts:
                    note(f"run {run_id}: finishing the submit of its prepared parts…")
                else:  # all submitted: what is missing now (failed, or past a raised limit)
                    parts = self._more(spec, ep, run_id, jobs)
            else:
                note("preparing the request files…")
                prep = batch.prepare(self.store, spec, ep)
                run_id = prep.run_id
                parts = [pt.to_dict() for pt in prep.parts]
                if not parts:
                    raise batch.BatchError(f"run {run_id} already holds every conversation; "
                                           "nothing to submit", field="run")
            client = batch_api.client_for(ep)
            for n, part in enumerate(parts, 1):
                if stop is not None and stop.is_set():
                    note(f"submit stopped after {n - 1} of {len(parts)} parts; b submits the rest")
                    break
                note(f"submitting part {n} of {len(parts)}…")
                batch_api.submit(client, self.store, run_id, [part], style=spec.style, note=note,
                                 base=base)
        return run_id

    def _more(self, spec: Any, ep: Any, run_id: str, jobs: batch_api.Jobs) -> list[dict]:
        """New parts for the form's missing conversations that no running batch holds."""
        from synth.generate.planner import plan

        busy = {cid for j in jobs.jobs.values() if j.get("status") not in batch_api.ENDED
                for cid in batch_flow.part_ids(self.store, run_id, j["part"])}
        want = {it.conversation_id for it in plan(spec, self.store.finished_ids(run_id)).todo}
        want -= busy
        if not want:
            raise batch.BatchError(f"run {run_id}: nothing to submit (every conversation is "
                                   "stored or in a batch still running)", field="run")
        n = 1 + sum(1 for j in jobs.jobs if j.startswith("more"))
        prep = batch.prepare(self.store, spec, ep, only=want, prefix=f"more{n}")
        return [pt.to_dict() for pt in prep.parts]

    def jobs(self, run_id: str) -> list[dict[str, Any]]:
        """The run's batch records as stored (no request)."""
        return list(batch_api.Jobs(self.store, run_id).jobs.values())

    def runs_in_flight(self) -> list[str]:
        """Runs with a batch not collected yet (newest first): found again after a restart."""
        out = []
        for run_id in reversed(self.store.run_ids()):
            try:
                jobs = self.store.run_meta(run_id).get(batch_api.META) or {}
            except Exception:  # noqa: BLE001 - an unreadable entry is shown elsewhere
                continue
            if any(not j.get("collected") for j in jobs.values()):
                out.append(run_id)
        return out

    def _session(self, run_id: str) -> tuple[Any, Any]:
        spec = self.store.get_spec(run_id)
        return spec, batch_flow.session_for(self.config, spec, run_id)

    def poll(self, run_id: str, *, note: Callable[[str], None] = _quiet, base: float = 0.5
             ) -> batch_flow.Collection:
        """Ask where each batch is, and store the answers of those that ended."""
        spec, session = self._session(run_id)
        bp = self._price(spec.model)
        price = (lambda p, c: bp.cost(p, c)) if bp is not None else (lambda p, c: None)
        with session as ep:
            return batch_flow.collect_ended(
                batch_api.client_for(ep), self.store, spec, run_id, price=price,
                request_stop=ep.request_stops(spec.stop), note=note, base=base)

    def cancel(self, run_id: str, *, base: float = 0.5) -> list[str]:
        spec, session = self._session(run_id)
        with session as ep:
            return batch_api.cancel(batch_api.client_for(ep), batch_api.Jobs(self.store, run_id),
                                    base=base)

    def resend_failed(self, run_id: str, *, note: Callable[[str], None] = _quiet,
                      base: float = 0.5) -> int:
        """Submit again the requests neither stored nor running; how many batches were made."""
        spec, session = self._session(run_id)
        before = {j["part"] for j in self.jobs(run_id)}
        with session as ep:
            jobs = batch_flow.resubmit_failed(batch_api.client_for(ep), self.store, spec, ep,
                                              run_id, note=note, base=base)
        return 0 if jobs is None else len(set(jobs.jobs) - before)
