"""Submit, check, cancel and download a run's batch jobs through the openai SDK's Files and
Batches APIs (OpenAI's, or any provider's that is compatible).

Every file id and batch id is written to the run's catalog entry (``store.set_run_meta``, an
atomic, fsync'd write) BEFORE the call that could make the next one, so a kill -9 at any moment
leaves nothing submitted that chatsynth does not know about:

    upload   record {state: uploading} -> files.create -> record {state: creating, file_id}
    create   batches.create(metadata: run, part) -> record {state: submitted, batch_id}

A part found ``creating`` (killed between the two) is looked for among the provider's batches by
its input file before it is created again, so it is never submitted twice.  Transient faults
(429, 5xx, a dropped connection) are retried with backoff, never sooner than Retry-After.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import openai

from synth.generate.batch import BatchError, batch_dir, url_for
from synth.generate.endpoints import Endpoint, FatalError, TransientError, classify

ENDED = ("completed", "failed", "expired", "cancelled", "lost")
META = "batch_jobs"


def client_for(ep: Endpoint) -> openai.OpenAI:
    return openai.OpenAI(api_key=ep.api_key, base_url=ep.base_url, max_retries=0,
                         timeout=openai.Timeout(ep.timeout, connect=ep.connect_timeout),
                         default_headers=ep.headers or None)


class Jobs:
    """The run's batch jobs as recorded in its catalog entry: part file -> record."""

    def __init__(self, store: Any, run_id: str) -> None:
        self.store = store
        self.run_id = run_id
        self.jobs: dict[str, dict[str, Any]] = dict(store.run_meta(run_id).get(META) or {})

    def put(self, part: str, **values: Any) -> dict[str, Any]:
        job = dict(self.jobs.get(part) or {"part": part})
        job.update(values)
        self.jobs[part] = job
        self.store.set_run_meta(self.run_id, **{META: self.jobs})  # atomic and fsync'd
        return job

    def pending(self) -> list[dict[str, Any]]:
        return [j for j in self.jobs.values() if j.get("batch_id") and j.get("status") not in ENDED]


def with_retry(call: Callable[[], Any], *, what: str, attempts: int = 6, base: float = 0.5,
               sleep: Callable[[float], None] = time.sleep, before_retry: Callable[[], Any] | None
               = None) -> Any:
    """``call()``, tried again on a transient fault; a fatal one raises BatchError at once."""
    for n in range(1, attempts + 1):
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - sorted by classify
            err = classify(exc)
            if isinstance(err, FatalError):
                raise BatchError(f"{what}: {err.message}") from None
            assert isinstance(err, TransientError)
            if n == attempts:
                raise BatchError(f"{what}: gave up after {n} attempts: {err.message}") from None
            sleep(max(err.retry_after or 0.0, min(30.0, base * 2 ** (n - 1))))
            if before_retry is not None:
                found = before_retry()
                if found is not None:
                    return found
    raise AssertionError("unreachable")  # pragma: no cover


def find_batch(client: openai.OpenAI, file_id: str) -> Any | None:
    """The provider's batch made from ``file_id``, if there is one."""
    try:
        for b in client.batches.list(limit=100):
            if b.input_file_id == file_id:
                return b
    except Exception:  # noqa: BLE001 - no list: the caller goes on as if none was found
        return None
    return None


def submit(client: openai.OpenAI, store: Any, run_id: str, parts: list[dict[str, Any]], *,
           style: str, note: Callable[[str], None] = lambda s: None, base: float = 0.5) -> Jobs:
    """Upload and create a batch for each part not submitted yet (and finish half-done ones)."""
    jobs = Jobs(store, run_id)
    folder = batch_dir(store, run_id)
    for part in parts:
        name = part["file"]
        job = jobs.jobs.get(name) or {}
        if job.get("batch_id"):
            continue
        if job.get("state") == "creating" and job.get("file_id"):
            found = find_batch(client, job["file_id"])
            if found is not None:
                jobs.put(name, state="submitted", batch_id=found.id, status="submitted",
                         submitted_at=found.created_at)
                note(f"{name}: found batch {found.id}, created before an interruption")
                continue
        path = folder / name
        if not path.is_file():
            raise BatchError("the prepared part is missing; prepare again", path=path)
        file_id = job.get("file_id") if job.get("state") == "creating" else None
        if not file_id:
            jobs.put(name, state="uploading", requests=part.get("requests", 0))
            up = with_retry(lambda: client.files.create(file=(name, path.read_bytes()),
                                                        purpose="batch"),
                            what=f"uploading {name}", base=base)
            file_id = up.id
            jobs.put(name, state="creating", file_id=file_id)
        b = with_retry(lambda: client.batches.create(
            input_file_id=file_id, endpoint=url_for(style), completion_window="24h",
            metadata={"chatsynth_run": run_id, "part": name}),
            what=f"creating the batch for {name}", base=base,
            before_retry=lambda: find_batch(client, file_id))
        # "submitted" until refresh() records the provider's state and file ids
        jobs.put(name, state="submitted", batch_id=b.id, status="submitted",
                 submitted_at=b.created_at or time.time())
        note(f"{name}: batch {b.id} ({part.get('requests', 0):,} requests)")
    return jobs


def refresh(client: openai.OpenAI, jobs: Jobs, *, base: float = 0.5,
            note: Callable[[str], None] = lambda s: None) -> None:
    """Ask the provider where each unfinished batch is, and record it."""
    for job in jobs.pending():
        bid = job["batch_id"]
        try:
            b = with_retry(lambda: client.batches.retrieve(bid), what=f"checking batch {bid}",
                           attempts=3, base=base)
        except BatchError as err:
            if "HTTP 404" in err.message:
                jobs.put(job["part"], status="lost", error=f"the provider no longer knows batch "
                         f"{bid}; its requests can be sent again with `submit --failed`")
            else:
                note(str(err))
            continue
        counts = b.request_counts
        errors = [f"{e.line or '-'}: {e.message}" for e in (b.errors.data or [])] if b.errors \
            else []
        jobs.put(job["part"], status=b.status, output_file_id=b.output_file_id,
                 error_file_id=b.error_file_id, errors=errors,
                 counts={"total": counts.total, "completed": counts.completed,
                         "failed": counts.failed} if counts else None)


def cancel(client: openai.OpenAI, jobs: Jobs, *, base: float = 0.5) -> list[str]:
    said = []
    for job in jobs.pending():
        b = with_retry(lambda: client.batches.cancel(job["batch_id"]),
                       what=f"cancelling batch {job['batch_id']}", base=base)
        jobs.put(job["part"], status=b.status)
        said.append(f"{job['part']}: batch {b.id} {b.status}")
    return said


def download(client: openai.OpenAI, jobs: Jobs, job: dict[str, Any], *, base: float = 0.5
             ) -> list[Path]:
    """The output and error files of an ended batch, saved beside the parts (atomically)."""
    folder = batch_dir(jobs.store, jobs.run_id)
    out = []
    for key, kind in (("output_file_id", "out"), ("error_file_id", "err")):
        fid = job.get(key)
        if not fid:
            continue
        path = folder / f"{kind}-{job['batch_id']}.jsonl"
        if not path.is_file():
            data = with_retry(lambda: client.files.content(fid).read(),
                              what=f"downloading {fid}", base=base)
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_bytes(data)
            tmp.chmod(0o600)
            tmp.replace(path)
        out.append(path)
    return out
