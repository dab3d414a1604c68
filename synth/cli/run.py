"""`chatsynth run` (write conversations, headless) and `chatsynth runs` (list runs)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from typing import Any, TextIO

from synth import checks
from synth.generate.events import ConversationFailed, Progress, RunFinished, RunPaused, RunStarted
from synth.wording import plural

EXIT = {"complete": 0, "limit": 0, "failed": 1, "stopped": 3, "paused": 4, "budget": 5,
        "cancelled": 130}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run", help="write conversations for a persona and a topic source (resumes a run)",
        description="Write one conversation per topic (x --per-topic) with an OpenAI-compatible "
        "endpoint, or with the embedded small offline demo model when none is configured. "
        "Starting the same run again writes only what is missing.")
    p.add_argument("--persona", help="persona name or YAML file (default: config defaults.persona)")
    p.add_argument("--topics", help="topic source name, file or folder (default: config defaults.topics)")
    p.add_argument("--per-topic", type=int, help="conversations per topic (default 1)")
    p.add_argument("--limit", type=int, help="write at most this many conversations now")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--endpoint", help="endpoint name from chatsynth.yaml ('local': the embedded model)")
    g.add_argument("--base-url", help="any OpenAI-compatible URL, e.g. http://127.0.0.1:8080/v1")
    p.add_argument("--key-name", help="keyring entry / environment variable with the key for --base-url")
    p.add_argument("--model", help="model id (default: the endpoint's default_model, else the first it lists)")
    p.add_argument("--style", choices=["chat", "completion"], help="API style (default: the endpoint's)")
    p.add_argument("--concurrency", type=int, help="requests in flight (default: config, else 4)")
    p.add_argument("--rpm", type=int, help="requests per minute budget")
    p.add_argument("--tpm", type=int, help="tokens per minute budget")
    p.add_argument("--budget", type=float, help="stop before spending more than this many USD")
    p.add_argument("--temperature", type=float)
    p.add_argument("--max-tokens", type=int)
    p.add_argument("--stop", action="append", metavar="S",
                   help="stop sequence (repeatable; replaces the persona's; \\n is a newline)")
    p.add_argument("--seed", type=int)
    p.add_argument("--timeout", type=float, help="seconds to wait for the server between bytes "
                   "(with --no-stream: for the whole answer)")
    p.add_argument("--max-attempts", type=int, default=6, help="tries per conversation (default 6)")
    p.add_argument("--pause-after", type=float, default=30.0, metavar="S",
                   help="pause (exit 4) when every request has failed for S seconds (default 30)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress line, summary only")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--no-stream", dest="stream", action="store_false", default=None,
                   help="ask for whole answers, not streams: far less CPU per conversation; "
                   "stops are applied here after the fact (default when stdout is not a "
                   "terminal and the server takes every stop sequence)")
    g.add_argument("--stream", dest="stream", action="store_true",
                   help="stream every answer (default on a terminal)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("runs", help="list runs with their counts")
    p.set_defaults(func=cmd_runs)


def unescape(s: str) -> str:
    """``\\n``, ``\\t`` and ``\\\\`` in a --stop value, as a shell user types them."""
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and i + 1 < len(s) and s[i + 1] in "nt\\":
            out.append({"n": "\n", "t": "\t", "\\": "\\"}[s[i + 1]])
            i += 2
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def wants_stream(choice: bool | None, tty: bool, stops: list[str], sent: list[str]) -> bool:
    """Stream, or ask for whole answers?  The user's --stream / --no-stream; else stream on a
    terminal (someone watches), and where a stop sequence the server is not sent must cut the
    answer early on our side (a whole answer would run on to max_tokens, and cost it)."""
    if choice is not None:
        return choice
    return tty or len([s for s in stops if s]) > len(sent)


def cmd_run(args: argparse.Namespace) -> int:
    from synth.cli.main import workspace_from
    from synth.generate.endpoints import EndpointSession
    from synth.library.personas import find_persona
    from synth.library.topics import find_topics
    from synth.models import RunSpec
    from synth.dataset.store import Store

    checks.flags(args, ("temperature", "max_tokens", "per_topic", "limit", "concurrency", "rpm",
                        "tpm", "budget", "timeout", "max_attempts", "pause_after"))
    ws = workspace_from(args)
    cfg = ws.config
    defaults = cfg.defaults or {}
    persona = find_persona(ws, args.persona or str(defaults.get("persona", "eve")))
    topics = find_topics(ws, args.topics or str(defaults.get("topics", persona.id)))
    from synth.library.files import require_topics

    require_topics(topics)  # an empty list is valid, but there is nothing to run
    stops = [unescape(s) for s in args.stop] if args.stop else None
    session = EndpointSession(cfg, name=args.endpoint, base_url=args.base_url, model=args.model,
                              style=args.style, key_name=args.key_name, persona_style=persona.style)
    out = sys.stderr
    if not args.quiet and not args.base_url and cfg.endpoint(args.endpoint).is_embedded:
        print("starting the embedded small offline demo model (Gemma 3 270M)...", file=out, flush=True)
    with session as ep:
        if args.timeout:
            ep.timeout = args.timeout
        spec = RunSpec.for_persona(
            persona, topics,
            per_topic=args.per_topic or int(defaults.get("per_topic", 1)),
            endpoint=ep.name, model=ep.model, style=ep.style, temperature=args.temperature,
            max_tokens=args.max_tokens, stop=stops, seed=args.seed,
            concurrency=args.concurrency or session.concurrency or int(defaults.get("concurrency", 4)),
            rpm=args.rpm or session.rpm, tpm=args.tpm or session.tpm, budget=args.budget,
            limit=args.limit)
        stream = wants_stream(args.stream, sys.stdout.isatty(), list(spec.stop),
                              ep.request_stops(spec.stop))
        return asyncio.run(_run(Store(ws.runs_dir), ep, spec, args, _cost_fn(cfg), stream))


def _cost_fn(cfg: Any):
    try:
        from synth.pricing import cost_of
    except ImportError:  # pragma: no cover - pricing ships with the package
        return None
    prices = cfg.prices or None
    return lambda model, p, c: cost_of(model, p, c, prices)


async def _run(store: Any, ep: Any, spec: Any, args: argparse.Namespace, cost_fn: Any,
               stream: bool = True) -> int:
    from synth.generate.engine import Engine, EngineOptions
    from synth.generate.limits import Backoff

    engine = Engine(store, ep, cost_fn=cost_fn, options=EngineOptions(
        backoff=Backoff(max_attempts=args.max_attempts), pause_ends_run=True,
        storm_window_s=args.pause_after, storm_threshold=min(8, max(2, spec.concurrency * 2)),
        emit_chunks=False, stream=stream))
    loop = asyncio.get_running_loop()
    interrupted = False

    def on_signal(sig: int) -> None:
        nonlocal interrupted
        interrupted = True
        engine.cancel("interrupted (Ctrl+C)" if sig == signal.SIGINT else "terminated")
        loop.remove_signal_handler(sig)  # a second one stops at once

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, on_signal, sig)
        except (NotImplementedError, RuntimeError, ValueError):  # pragma: no cover
            pass
    bar = ProgressLine(sys.stderr, quiet=args.quiet)
    finished: RunFinished | None = None
    try:
        async for ev in engine.run(spec):
            if isinstance(ev, RunStarted):
                bar.started(ev)
            elif isinstance(ev, Progress):
                bar.progress(ev)
            elif isinstance(ev, ConversationFailed):
                kind = "partial" if ev.partial else "discarded" if ev.discarded else "failed"
                bar.note(f"{kind}: {ev.topic[:50]!r}: {ev.reason}")
            elif isinstance(ev, RunPaused):
                bar.note(f"paused: {ev.reason}")
            elif isinstance(ev, RunFinished):
                finished = ev
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.remove_signal_handler(sig)
            except (NotImplementedError, RuntimeError, ValueError):  # pragma: no cover
                pass
        await ep.aclose()
        bar.clear()
    assert finished is not None
    print_summary(finished, spec, sys.stdout)
    if interrupted:
        return 130
    code = EXIT.get(finished.outcome, 1)
    if code == 0 and finished.failed:
        code = 1
    if finished.outcome in ("stopped", "paused", "budget", "failed"):
        print(f"chatsynth: {finished.outcome}: {finished.reason}", file=sys.stderr)
    return code


class ProgressLine:
    """Progress on stderr: rich's live progress bar on a terminal, else a plain line every few
    seconds (logs and pipes get whole lines, never carriage returns)."""

    def __init__(self, out: TextIO, quiet: bool = False) -> None:
        self.out = out
        self.quiet = quiet
        self.tty = out.isatty()
        self.last = 0.0
        self.target = 0
        self._bar: Any = None  # rich.progress.Progress while a run shows on a terminal
        self._task: Any = None

    def started(self, ev: RunStarted) -> None:
        self.target = ev.already_done + ev.to_write - ev.rewrite
        if self.quiet:
            return
        resumed = f", {ev.already_done:,} already stored" if ev.already_done else ""
        print(f"run {ev.run_id}: {ev.to_write:,} to write with {ev.endpoint_label}{resumed} "
              f"(the run holds {ev.total:,})", file=self.out, flush=True)
        if self.tty:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as Bar

            self._bar = Bar(BarColumn(bar_width=24), MofNCompleteColumn(), TextColumn("done,"),
                                 TextColumn("{task.fields[line]}"), TimeElapsedColumn(),
                                 console=Console(file=self.out), transient=True,
                                 refresh_per_second=4)
            self._task = self._bar.add_task("run", total=max(1, self.target), line="")
            self._bar.start()

    @staticmethod
    def describe(p: Progress) -> str:
        """Everything but the count done: failures, what is writing, speed, money."""
        cost = "cost ?" if p.cost is None else f"${p.cost:.4f}"
        if p.budget is not None:
            cost += f" of ${p.budget:.2f}"
        parts = [f"{p.failed:,} failed"]
        if p.discarded:
            parts.append(f"{p.discarded:,} discarded")
        parts.append(f"{p.in_flight:,} writing")
        return f"{', '.join(parts)} | {p.tokens_per_s:,.1f} tok/s | {cost}"

    def progress(self, p: Progress) -> None:
        if self.quiet:
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=p.done, total=max(1, self.target),
                             line=self.describe(p))
            return
        now = time.monotonic()
        if now - self.last < 5.0 and p.remaining:
            return
        self.last = now
        print(f"{p.done:,}/{self.target:,} done, {self.describe(p)} | {p.elapsed_s:.0f}s",
              file=self.out, flush=True)

    def note(self, text: str) -> None:
        if self.quiet:
            return
        if self._bar is not None:
            self._bar.console.print(text, markup=False, highlight=False, soft_wrap=True)
        else:
            print(text, file=self.out, flush=True)

    def clear(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def print_summary(f: RunFinished, spec: Any, out: TextIO) -> None:
    cost = "unknown (no price for this model)" if f.cost is None else f"${f.cost:.4f}"
    print(f"run {f.run_id}: {f.outcome}" + (f" - {f.reason}" if f.reason else ""), file=out)
    discarded = f", {f.discarded:,} discarded" if f.discarded else ""
    print(f"  conversations: {f.done:,} of {f.total:,} stored, {f.failed:,} failed this time"
          f"{discarded}", file=out)
    print(f"  tokens: {f.prompt_tokens:,} prompt + {f.completion_tokens:,} completion; "
          f"cost {cost}; {f.elapsed_s:.1f}s", file=out)
    if f.already_done:
        print(f"  the run holds {plural(f.done, 'conversation')}: {f.run_prompt_tokens:,} prompt + "
              f"{f.run_completion_tokens:,} completion tokens in all", file=out)
    print(f"  stored in: {f.store_path}", file=out)
    for p in f.problems:
        print(f"  note: {p}", file=out)


def cmd_runs(args: argparse.Namespace) -> int:
    from synth.cli.main import workspace_from
    from synth.dataset.store import Store

    ws = workspace_from(args)
    runs = Store(ws.runs_dir).list_runs()
    if not runs:
        print(f"no runs yet in {ws.runs_dir}; start one with `chatsynth run`")
        return 0
    rows = [("run", "persona", "topics", "endpoint", "model", "done", "partial", "created")]
    for r in runs:
        ep = r.endpoint.split("://", 1)[-1].removesuffix("/v1")
        rows.append((r.run_id, r.persona, r.topics, ep, r.model or "-", f"{r.done}/{r.total}",
                     str(r.partial), time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created_at))))
    widths = [min(32, max(len(row[i]) for row in rows)) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        cells = [c if len(c) <= w else c[: w - 1] + "~" for c, w in zip(row, widths)]
        print("  ".join(c.rjust(w) if i in (5, 6) else c.ljust(w)
                        for i, (c, w) in enumerate(zip(cells, widths))).rstrip())
        if n:
            for prob in runs[n - 1].problems:
                print(f"  note: {prob}")
    errors = [e for r in runs for e in r.errors]
    for err in errors:
        print(f"chatsynth: error: {err}", file=sys.stderr)
    return 2 if errors else 0
