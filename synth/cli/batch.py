"""`chatsynth batch prepare|submit|status|cancel|collect`: a run written by a provider's Batch
API (about half the price) or by `vllm run-batch` on any number of machines, and stored as a
streamed run stores it."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from synth import checks
from synth.cli.run import SPEC_FLAGS, add_spec_args, spec_from_args
from synth.wording import plural


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("batch", help="write a run as batch jobs (Batch API, vllm run-batch)",
                       description="Prepare a run's missing conversations as OpenAI batch "
                       "request files, submit them, follow them, and collect the answers into "
                       "the run.")
    bsub = p.add_subparsers(dest="batch_command", metavar="STEP", required=True)
    pp = bsub.add_parser("prepare", help="write the run's missing work items as request files")
    add_spec_args(pp, limit_help="prepare at most this many conversations")
    pp.add_argument("--shards", type=int, default=1, help="split for N machines (default 1)")
    pp.add_argument("--max-requests", type=int, default=50_000,
                    help="requests per file (default 50,000, OpenAI's limit)")
    pp.add_argument("--max-bytes", type=int, default=200 * 1024 * 1024,
                    help="bytes per file (default 200 MB, OpenAI's limit)")
    pp.set_defaults(func=cmd_prepare)
    for name, fn, text in (("submit", cmd_submit, "upload the parts and create the batches"),
                           ("status", cmd_status, "where each batch is"),
                           ("cancel", cmd_cancel, "cancel the batches still running"),
                           ("collect", cmd_collect, "download the answers and store them")):
        sp = bsub.add_parser(name, help=text)
        sp.add_argument("run", help="run id, a unique prefix, or 'latest'")
        sp.set_defaults(func=fn)
        if name in ("submit", "status", "cancel", "collect"):
            sp.add_argument("--endpoint", help="endpoint name (default: the run's own)")
    bsub.choices["submit"].add_argument("--failed", action="store_true",
                                        help="send again only the failed and expired requests")
    bsub.choices["status"].add_argument("--wait", action="store_true",
                                        help="poll with backoff until every batch has ended")
    bsub.choices["collect"].add_argument(
        "--from", dest="from_files", action="append", type=Path, metavar="FILE",
        help="ingest this batch output file (e.g. from vllm run-batch) instead (repeatable)")


def _ctx(args: argparse.Namespace) -> tuple[Any, Any]:
    from synth.cli.main import workspace_from
    from synth.dataset.store import Store

    ws = workspace_from(args)
    return ws, Store(ws.runs_dir)


def cmd_prepare(args: argparse.Namespace) -> int:
    from synth.generate.batch import BatchError, prepare
    from synth.generate.endpoints import EndpointSession
    from synth.generate.estimate import estimate_run
    from synth.library.files import require_topics
    from synth.library.personas import find_persona
    from synth.library.topics import find_topics
    from synth.pricing import batch_price_of, format_usd

    checks.flags(args, (*SPEC_FLAGS, "shards", "max_requests", "max_bytes"))
    ws, store = _ctx(args)
    cfg = ws.config
    defaults = cfg.defaults or {}
    persona = find_persona(ws, args.persona or str(defaults.get("persona", "eve")))
    topics = find_topics(ws, args.topics or str(defaults.get("topics", persona.id)))
    require_topics(topics)
    from synth.dataset.example_refs import resolve_examples

    persona = resolve_examples(store, persona)  # examples given by id
    if not args.base_url and cfg.endpoint(args.endpoint).is_embedded:
        raise BatchError("the embedded model takes no batch jobs; give --endpoint with a Batch "
                         "API, or --base-url and --model for vllm run-batch", field="endpoint")
    if (args.method or persona.method) == "roleplay":  # each turn waits on the one before it
        raise BatchError("role-play is written turn by turn, which a batch job can't do; give "
                         "--method transcript", field="method")
    session = EndpointSession(cfg, name=args.endpoint, base_url=args.base_url, model=args.model,
                              style=args.style, key_name=args.key_name, persona_style=persona.style)
    with session as ep:
        spec = spec_from_args(args, persona, topics, ep, defaults)
        done = prepare(store, spec, ep, shards=args.shards, max_requests=args.max_requests,
                       max_bytes=args.max_bytes)
    print(f"run {done.run_id}: {plural(done.items, 'request')} in "
          f"{plural(len(done.parts), 'part')} ({done.already_done:,} of {done.total:,} already "
          f"stored)")
    for pt in done.parts:
        print(f"  {done.folder / pt.file}  shard {pt.shard}  {pt.requests:,} requests  "
              f"{pt.bytes:,} bytes")
    print(f"  manifest: {done.folder / 'manifest.json'}")
    est = estimate_run(spec, overrides=cfg.prices or None,
                       stored=store.load(done.run_id).conversations)
    bp = batch_price_of(spec.model, cfg.prices or None)
    if bp is None:
        print("batch cost: unknown (no price known for this model; add it under prices:)")
    else:
        print(f"batch price: ${bp.input:g} in / ${bp.output:g} out per M tokens ({bp.source})")
        print(f"batch cost: at most {format_usd(bp.cost(est.prompt_tokens, est.completion_tokens_max))}"
              f" for {est.prompt_tokens:,} prompt + at most {est.completion_tokens_max:,} "
              "completion tokens"
              + (f" (streamed: {format_usd(est.cost_max)})" if est.cost_max is not None else ""))
    print(f"next: chatsynth batch submit {done.run_id}   (or, on a GPU machine per shard: "
          "vllm run-batch -i part-N.jsonl -o out-N.jsonl --model M; then chatsynth batch "
          f"collect {done.run_id} --from out-N.jsonl)")
    return 0


def _open(args: argparse.Namespace):
    """(workspace, store, run id, spec, endpoint session) for a prepared run."""
    from synth.generate.batch_flow import session_for

    ws, store = _ctx(args)
    run_id = store.resolve_run(args.run)
    spec = store.get_spec(run_id)
    return ws, store, run_id, spec, session_for(ws.config, spec, run_id, args.endpoint)


def _note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def cmd_submit(args: argparse.Namespace) -> int:
    from synth.dataset.example_refs import resolve_examples
    from synth.generate import batch, batch_api, batch_flow

    ws, store, run_id, spec, session = _open(args)
    manifest = batch.read_manifest(store, run_id)
    batch_flow.check_persona(ws, spec, manifest, resolve=lambda p: resolve_examples(store, p))
    with session as ep:
        if ep.model != spec.model:
            ep.model = spec.model
        client = batch_api.client_for(ep)
        if args.failed:
            jobs = batch_flow.resubmit_failed(client, store, spec, ep, run_id, note=_note)
            if jobs is None:
                print(f"run {run_id}: nothing to send again (every request is stored or still "
                      "running)")
                return 0
        else:
            jobs = batch_api.submit(client, store, run_id, manifest["parts"], style=spec.style,
                                    note=_note)
    sent = [j for j in jobs.jobs.values() if j.get("batch_id")]
    print(f"run {run_id}: {plural(len(sent), 'batch', 'batches')} submitted; follow them with "
          f"`chatsynth batch status {run_id} --wait`")
    return 0


def _line(job: dict[str, Any], now: float) -> str:
    c = job.get("counts") or {}
    age = now - float(job.get("submitted_at") or now)
    counts = (f"{c.get('completed', 0):,}/{c.get('total', 0):,} done, {c.get('failed', 0):,} "
              "failed") if c else "no counts yet"
    text = f"{job.get('batch_id', '-')}  {job['part']}  {job.get('status', job.get('state'))}  " \
           f"{counts}  {age / 60:.0f} min old"
    for e in job.get("errors") or []:
        text += f"\n    error: line {e}"
    if job.get("error"):
        text += f"\n    {job['error']}"
    return text


def cmd_status(args: argparse.Namespace) -> int:
    from synth.generate import batch_api

    ws, store, run_id, spec, session = _open(args)
    jobs = batch_api.Jobs(store, run_id)
    if not jobs.jobs:
        print(f"run {run_id}: nothing submitted; `chatsynth batch submit {run_id}`")
        return 0
    with session as ep:
        client = batch_api.client_for(ep)
        batch_api.refresh(client, jobs, note=_note)
        delay = 1.0
        while args.wait and jobs.pending():
            c = [j.get("counts") or {} for j in jobs.jobs.values()]
            _note(f"{sum(x.get('completed', 0) for x in c):,}/"
                  f"{sum(x.get('total', 0) for x in c):,} done, "
                  f"{plural(len(jobs.pending()), 'batch', 'batches')} running")
            time.sleep(delay)
            delay = min(60.0, delay * 1.5)
            batch_api.refresh(client, jobs, note=_note)
    now = time.time()
    for job in jobs.jobs.values():
        print(_line(job, now))
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    from synth.generate import batch_api

    ws, store, run_id, spec, session = _open(args)
    jobs = batch_api.Jobs(store, run_id)
    with session as ep:
        said = batch_api.cancel(batch_api.client_for(ep), jobs)
    for s in said:
        print(s)
    print(f"run {run_id}: {plural(len(said), 'batch', 'batches')} cancelled")
    return 0


def cmd_collect(args: argparse.Namespace) -> int:
    from synth.generate import batch, batch_api, batch_flow
    from synth.generate.batch_collect import ingest
    from synth.pricing import batch_price_of

    ws, store, run_id, spec, session = _open(args)
    bp = batch_price_of(spec.model, ws.config.prices or None)
    price = (lambda p, c: bp.cost(p, c)) if bp is not None else (lambda p, c: None)
    with session as ep:
        stops = ep.request_stops(spec.stop)
        if args.from_files:
            for f in args.from_files:
                if not f.is_file():
                    raise batch.BatchError("no such file", path=f, field="--from")
            out = batch_flow.Collection(result=ingest(
                store, spec, run_id, list(args.from_files), model=spec.model,
                request_stop=stops, price=price))
            batch_flow.finish(store, spec, run_id, out)
        else:
            jobs = batch_api.Jobs(store, run_id)
            if not jobs.jobs:
                raise batch.BatchError(f"run {run_id} has no submitted batches; submit them, or "
                                       "give --from FILE", field="run")
            out = batch_flow.collect_ended(batch_api.client_for(ep), store, spec, run_id,
                                           price=price, request_stop=stops, jobs=jobs,
                                           note=_note)
            if out.running:
                print(f"note: {plural(out.running, 'batch', 'batches')} still running; collect "
                      "again when they end")
    res = out.result
    for prob in res.problems:
        print(f"note: {prob}", file=sys.stderr)
    for cid, why in sorted(res.failed.items(), key=lambda kv: kv[1]):
        print(f"failed: {cid}: {why}")
    for job in out.ended:
        if job.get("status") in ("failed", "expired", "cancelled", "lost"):
            print(f"batch {job.get('batch_id')} ({job['part']}) {job['status']}"
                  + "".join(f"; line {e}" for e in job.get("errors") or [])
                  + (f"; {job['error']}" if job.get("error") else ""))
    print(f"run {run_id}: {plural(res.stored, 'conversation')} stored now, {res.skipped:,} "
          f"already stored, {len(res.failed):,} failed; the run holds {out.held:,} of "
          f"{out.total:,}")
    if out.held < out.total:
        print(f"send the rest again with `chatsynth batch submit {run_id} --failed`")
    return 1 if res.failed or res.problems else 0
