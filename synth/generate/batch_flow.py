"""The steps of a batch job that the CLI (``chatsynth batch``) and the app's batch panel share:
the endpoint session of a prepared run, the persona check, sending the failed requests again,
and collecting the batches that have ended.  Nothing here prints; each returns what happened.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

from synth.errors import ChatsynthError
from synth.generate import batch, batch_api
from synth.generate.batch_collect import Collected, ingest
from synth.generate.planner import all_items


def session_for(config: Any, spec: Any, run_id: str, endpoint: str | None = None) -> Any:
    """An (unopened) EndpointSession for a prepared run: its own endpoint unless told."""
    from synth.generate.endpoints import EndpointSession

    name = endpoint or spec.endpoint
    url = name if "://" in name else None
    if not url and config.endpoint(name).is_embedded:
        raise batch.BatchError(f"run {run_id} was written with the embedded model, which takes "
                               "no batch jobs; give --endpoint", field="endpoint")
    return EndpointSession(config, name=None if url else name, base_url=url,
                           model=spec.model or None, style=spec.style)


def check_persona(ws: Any, spec: Any, manifest: dict[str, Any],
                  resolve: Callable[[Any], Any] = lambda persona: persona) -> None:
    """Refuse a run whose persona changed since prepare (its requests write the old pattern).
    ``resolve`` looks up the persona's examples given by id (the store's, a later stage)."""
    from synth.library.personas import find_persona

    try:
        now = resolve(find_persona(ws, spec.persona.id))
    except ChatsynthError:
        return  # gone from the library: the run's own snapshot is what was prepared
    spec_now = type(spec).for_persona(now, spec.topics)
    if batch.persona_key(spec_now) != manifest.get("persona_key"):
        raise batch.BatchError(
            f"persona {spec.persona.id!r} changed since run {spec.run_id} was prepared; these "
            "requests would write the old pattern. Prepare again (a new run), or put the "
            "persona back", path=now.path, field="persona")


def part_ids(store: Any, run_id: str, part: str) -> list[str]:
    """The conversation ids of a prepared part file ([] when it is gone or unreadable)."""
    path = batch.batch_dir(store, run_id) / part
    try:
        with open(path, "rb") as fh:
            return [json.loads(ln)["custom_id"] for ln in fh if ln.strip()]
    except (OSError, ValueError, KeyError):
        return []


def resubmit_failed(client: Any, store: Any, spec: Any, ep: Any, run_id: str, *,
                    note: Callable[[str], None] = lambda s: None, base: float = 0.5
                    ) -> batch_api.Jobs | None:
    """Prepare and submit, as new parts, the requests of ended batches that are not stored
    (failed, expired, cancelled, lost) and in no batch still running.  None: nothing to send
    again.  A run's conversations never submitted (a start capped by a limit) are not sent."""
    jobs = batch_api.Jobs(store, run_id)
    want = unanswered(store, run_id, jobs)
    if not want:
        return None
    n = 1 + sum(1 for j in jobs.jobs if j.startswith("retry"))
    prep = batch.prepare(store, spec, ep, only=want, prefix=f"retry{n}")
    parts = [pt.to_dict() for pt in prep.parts]
    return batch_api.submit(client, store, run_id, parts, style=spec.style, note=note, base=base)


def unanswered(store: Any, run_id: str, jobs: batch_api.Jobs | None = None) -> set[str]:
    """Ids of requests in ended batches that are neither stored nor in a running batch."""
    jobs = jobs or batch_api.Jobs(store, run_id)
    ended, busy = set(), set()
    for j in jobs.jobs.values():
        if j.get("batch_id"):
            ids = part_ids(store, run_id, j["part"])
            (ended if j.get("status") in batch_api.ENDED else busy).update(ids)
    return ended - busy - store.finished_ids(run_id)


@dataclass
class Collection:
    """What one collect did: the answers' tally, the batches it collected, how many still run."""

    result: Collected = field(default_factory=Collected)
    ended: list[dict[str, Any]] = field(default_factory=list)
    running: int = 0
    held: int = 0
    total: int = 0
    unanswered: int = 0  # requests of ended batches not stored (counted once nothing runs)


def collect_ended(client: Any, store: Any, spec: Any, run_id: str, *, price: Callable,
                  request_stop: list[str], jobs: batch_api.Jobs | None = None,
                  note: Callable[[str], None] = lambda s: None, refresh: bool = True,
                  on_stored: Callable[[Any], None] | None = None, base: float = 0.5
                  ) -> Collection:
    """Download and store the answers of every ended batch not collected yet.  A batch is
    marked collected only after all its answers are stored (a kill before: collected again,
    nothing stored twice)."""
    jobs = jobs or batch_api.Jobs(store, run_id)
    if refresh:
        batch_api.refresh(client, jobs, note=note, base=base)
    out = Collection()
    out.ended = [j for j in jobs.jobs.values()
                 if j.get("status") in batch_api.ENDED and not j.get("collected")]
    for job in out.ended:
        files = batch_api.download(client, jobs, job, base=base)
        out.result.merge(ingest(store, spec, run_id, files, model=spec.model,
                                request_stop=request_stop, price=price, on_stored=on_stored))
        jobs.put(job["part"], collected=True)
    out.running = len(jobs.pending())
    finish(store, spec, run_id, out)
    if not out.running:
        out.unanswered = len(unanswered(store, run_id, jobs))
    return out


def finish(store: Any, spec: Any, run_id: str, out: Collection) -> None:
    """Drop from the failures what is stored after all; count what the run holds."""
    held = store.finished_ids(run_id)
    out.result.failed = {k: v for k, v in out.result.failed.items() if k not in held}
    out.held = len(held)
    out.total = len(all_items(spec))
