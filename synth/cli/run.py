"""`chatsynth run` (write conversations, headless) and `chatsynth runs` (list runs)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from typing import Any, TextIO

from synth import checks
from synth.generate.events import (
    ConversationFailed, ConversationFinished, Progress, RunFinished, RunPaused, RunStarted,
)
from synth.pricing import cost_fn
from synth.stops_text import unescape_stop
from synth.wording import plural

EXIT = {"complete": 0, "limit": 0, "failed": 1, "stopped": 3, "paused": 4, "budget": 5,
        "cancelled": 130}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run", help="write conversations for a persona and a topic source (resumes a run)",
        description="Write one conversation per topic (x --per-topic) with an OpenAI-compatible "
        "endpoint, or with the embedded small offline demo model when none is configured. "
        "Starting the same run again writes only what is missing.")
    add_spec_args(p, limit_help="write at most this many conversations now")
    p.add_argument("--concurrency", type=int, help="requests in flight (default: config, else 4)")
    p.add_argument("--rpm", type=int, help="requests per minute budget")
    p.add_argument("--tpm", type=int, help="tokens per minute budget")
    p.add_argument("--budget", type=float, help="stop before spending more than this many USD")
    p.add_argument("--timeout", type=float, help="seconds to wait for the server between bytes "
                   "(with --no-stream: for the whole answer)")
    p.add_argument("--max-attempts", type=int, default=6, help="tries per conversation (default 6)")
    p.add_argument("--pause-after", type=float, default=30.0, metavar="S",
                   help="pause (exit 4) when every request has failed for S seconds (default 30)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress line, summary only")
    p.add_argument("--judge", action="store_true", help="judge each conversation as it finishes "
                   "with the LLM judge and the persona's rubric (see `chatsynth judge`)")
    from synth.cli.judge import add_judge_endpoint_args

    add_judge_endpoint_args(p)
    p.add_argument("--judge-concurrency", type=int, default=4, help="judge requests in flight")
    p.add_argument("--until-pass", type=int, metavar="N", help="keep writing (topics first, then "
                   "further samples of each topic) until N conversations pass every filter "
                   "(and the judge with --judge)")
    p.add_argument("--max", type=int, metavar="N", help="with --until-pass: write at most N now")
    p.add_argument("--max-per-topic", type=int, default=5, metavar="K",
                   help="with --until-pass: at most K conversations of a topic (default 5)")
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


def add_spec_args(p: argparse.ArgumentParser, *, limit_help: str) -> None:
    """The flags that say what a run is: `run` and `batch prepare` take the same ones, so the
    same flags make the same run either way (``spec_from_args``)."""
    p.add_argument("--persona", help="persona name or YAML file (default: config defaults.persona)")
    p.add_argument("--topics", help="topic source name, file or folder (default: config defaults.topics)")
    p.add_argument("--per-topic", type=int, help="conversations per topic (default 1)")
    p.add_argument("--limit", type=int, help=limit_help)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--endpoint", help="endpoint name from chatsynth.yaml ('local': the embedded model)")
    g.add_argument("--base-url", help="any OpenAI-compatible URL, e.g. http://127.0.0.1:8080/v1")
    p.add_argument("--key-name", help="keyring entry / environment variable with the key for --base-url")
    p.add_argument("--model", help="model id (default: the endpoint's default_model, else the first it lists)")
    p.add_argument("--style", choices=["chat", "completion"], help="API style (default: the endpoint's)")
    p.add_argument("--temperature", type=float)
    p.add_argument("--max-tokens", type=int)
    p.add_argument("--stop", action="append", metavar="S",
                   help="stop sequence (repeatable; replaces the persona's; \\n is a newline)")
    p.add_argument("--seed", type=int)
    p.add_argument("--method", choices=("transcript", "roleplay"), help="one request writes the "
                   "whole conversation, or a simulated user talks with the persona turn by turn "
                   "(its user_simulator: block); default: the persona's method")
    for name, what in (("top-p", "nucleus sampling, above 0 and at most 1"),
                       ("presence-penalty", "-2 to 2"), ("frequency-penalty", "-2 to 2"),
                       ("repeat-penalty", "llama.cpp and vLLM; 1 is none")):
        p.add_argument("--" + name, type=float, metavar="X",
                       help=f"{what} (default: the persona's, else the server's)")


SPEC_FLAGS = ("temperature", "max_tokens", *checks.SAMPLING, "per_topic", "limit")


def spec_from_args(args: argparse.Namespace, persona: Any, topics: Any, ep: Any,
                   defaults: dict[str, Any], **how: Any) -> Any:
    """The RunSpec that ``add_spec_args``' flags ask for (``how``: concurrency, budget, ...)."""
    from synth.models import RunSpec

    return RunSpec.for_persona(
        persona, topics, per_topic=args.per_topic or int(defaults.get("per_topic", 1)),
        endpoint=ep.name, model=ep.model, style=ep.style, temperature=args.temperature,
        max_tokens=args.max_tokens, stop=[unescape_stop(s) for s in args.stop] if args.stop else None,
        seed=args.seed, limit=args.limit, method=getattr(args, "method", None), **{k: getattr(args, k) for k in checks.SAMPLING}, **how)


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
    from synth.dataset.store import Store
    from synth.dataset.example_refs import resolve_examples

    checks.flags(args, (*SPEC_FLAGS, "concurrency", "rpm", "tpm", "budget", "timeout",
                        "max_attempts", "pause_after"))
    check_until_flags(args)
    ws = workspace_from(args)
    cfg = ws.config
    defaults = cfg.defaults or {}
    persona = find_persona(ws, args.persona or str(defaults.get("persona", "eve")))
    persona = resolve_examples(Store(ws.runs_dir), persona)  # examples given by id
    topics = find_topics(ws, args.topics or str(defaults.get("topics", persona.id)))
    from synth.library.files import require_topics

    require_topics(topics)  # an empty list is valid, but there is nothing to run
    session = EndpointSession(cfg, name=args.endpoint, base_url=args.base_url, model=args.model,
                              style=args.style, key_name=args.key_name, persona_style=persona.style)
    out = sys.stderr
    if not args.quiet and not args.base_url and cfg.endpoint(args.endpoint).is_embedded:
        print("starting the embedded small offline demo model (Gemma 3 270M)...", file=out, flush=True)
    from contextlib import ExitStack

    with session as ep, ExitStack() as stack:
        judge = None
        if args.judge:
            from synth.cli.judge import judge_flags
            from synth.curate.judge import rubric_for
            from synth.curate.judge_setup import current_judge, open_judge
            from synth.curate.judging import Judge

            rubric = rubric_for(persona)  # no rubric: refused before anything is written
            jep = open_judge(stack, ws, current_judge(ws, persona), writer=ep, **judge_flags(args))
            judge = Judge(jep, persona, rubric, cost_fn=cost_fn(cfg.prices or None),
                          concurrency=args.judge_concurrency)
        if args.timeout:
            ep.timeout = args.timeout
        spec = spec_from_args(
            args, persona, topics, ep, defaults,
            concurrency=args.concurrency or session.concurrency or int(defaults.get("concurrency", 4)),
            rpm=args.rpm or session.rpm, tpm=args.tpm or session.tpm, budget=args.budget)
        from synth.generate.roleplay_endpoint import open_user_side

        args.user_ep = open_user_side(stack, cfg, spec, ep)  # role-play: the simulated user's
        stream = wants_stream(args.stream, sys.stdout.isatty(), list(spec.stop),
                              ep.request_stops(spec.stop))
        return asyncio.run(_run(Store(ws.runs_dir), ep, spec, args, cost_fn(cfg.prices or None),
                                judge, stream))


def check_until_flags(args: argparse.Namespace) -> None:
    from synth.errors import ChatsynthError

    for name in ("until_pass", "max", "max_per_topic", "judge_concurrency"):
        val = getattr(args, name, None)
        if val is not None and val < 1:
            raise ChatsynthError(f"--{name.replace('_', '-')} must be 1 or more, got {val}",
                                 field=name)
    if args.max is not None and args.until_pass is None:
        raise ChatsynthError("--max goes with --until-pass N (for a plain run: --limit)",
                             field="max")
    if args.until_pass is not None and args.limit is not None:
        raise ChatsynthError("give --until-pass N or --limit N, not both", field="limit")


async def _run(store: Any, ep: Any, spec: Any, args: argparse.Namespace, cost_fn: Any,
               judge: Any = None, stream: bool = True) -> int:
    from synth.generate.engine import Engine, EngineOptions
    from synth.generate.limits import Backoff
    from synth.curate.until import JudgePipe, UntilPass, merge_rounds, passing

    engine: Any = None
    loop = asyncio.get_running_loop()
    interrupted = False

    def on_signal(sig: int) -> None:
        nonlocal interrupted
        interrupted = True
        if engine is not None:
            engine.cancel("interrupted (Ctrl+C)" if sig == signal.SIGINT else "terminated")
        loop.remove_signal_handler(sig)  # a second one stops at once

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, on_signal, sig)
        except (NotImplementedError, RuntimeError, ValueError):  # pragma: no cover
            pass
    bar = ProgressLine(sys.stderr, quiet=args.quiet)
    until = UntilPass(args.until_pass, args.max, max(args.max_per_topic, spec.per_topic)) \
        if args.until_pass else None
    pipe = JudgePipe(judge, spec.persona) if judge is not None else None
    finished: RunFinished | None = None
    stop_reason = ""
    have = 0
    try:
        while True:
            if until is not None:
                run_id = store.bind(spec)
                if store.spec_path(run_id).exists():
                    if pipe is not None and until.rounds == 0:
                        await pipe.judge_stored(store, run_id)  # what an earlier start wrote
                    have = passing(store, run_id, spec.persona, judge is not None)
                spec.limit, stop_reason = until.next_limit(have)
                if not spec.limit:
                    break
            engine = Engine(store, ep, cost_fn=cost_fn, user_endpoint=getattr(args, "user_ep", None),
                            options=EngineOptions(
                backoff=Backoff(max_attempts=args.max_attempts), pause_ends_run=True,
                storm_window_s=args.pause_after,
                storm_threshold=min(8, max(2, spec.concurrency * 2)), emit_chunks=False,
                stream=stream))
            bar.extra = (lambda: _extra(pipe, until, have)) if (pipe or until) else None
            started = None
            async for ev in engine.run(spec):
                if isinstance(ev, RunStarted):
                    started = ev
                    if pipe is not None:
                        pipe.use_cache(store, ev.run_id)
                    if until is None or until.rounds == 0 or ev.to_write:
                        bar.started(ev)
                elif isinstance(ev, ConversationFinished):
                    if pipe is not None:
                        pipe.finished(ev.conversation)
                elif isinstance(ev, Progress):
                    bar.progress(ev)
                elif isinstance(ev, ConversationFailed):
                    kind = "partial" if ev.partial else "discarded" if ev.discarded else "failed"
                    bar.note(f"{kind}: {ev.topic[:50]!r}: {ev.reason}")
                elif isinstance(ev, RunPaused):
                    bar.note(f"paused: {ev.reason}")
                elif isinstance(ev, RunFinished):
                    finished = merge_rounds(finished, ev)
            if pipe is not None:
                await pipe.wait()
                pipe.live_pass = 0
            if until is None or interrupted or finished.outcome not in ("complete", "limit"):
                break
            until.rounds += 1
            until.written += started.to_write if started else 0
            if started is not None and not started.to_write:
                if spec.per_topic >= until.max_per_topic:
                    have = passing(store, finished.run_id, spec.persona, judge is not None)
                    stop_reason = (f"every topic x {until.max_per_topic} (--max-per-topic) tried, "
                                   f"{have}/{until.target} passing")
                    break
                spec.per_topic += 1  # every topic written: further samples of each
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.remove_signal_handler(sig)
            except (NotImplementedError, RuntimeError, ValueError):  # pragma: no cover
                pass
        if pipe is not None:
            for t in list(pipe.tasks):
                t.cancel()
            await pipe.judge.ep.aclose()
        for e in {id(x): x for x in (ep, getattr(args, "user_ep", None)) if x}.values():
            await e.aclose()
        bar.clear()
    assert finished is not None
    print_summary(finished, spec, sys.stdout)
    if judge is not None:
        from synth.curate.judge_setup import tally

        print(f"  judge ({judge.ep.model}): {tally(judge)}", file=sys.stdout)
        for note in judge.notes[:1]:
            print(f"  note: {note}", file=sys.stdout)
    refused = [k for k in spec.sampling() if k in ep.dropped]
    if refused:
        print("  note: the endpoint refused " + ", ".join(f"{k}={spec.sampling()[k]:g}" for k in refused)
              + ": sent without " + ("it" if len(refused) == 1 else "them"), file=sys.stdout)
    if interrupted:
        return 130
    code = EXIT.get(finished.outcome, 1)
    if code == 0 and finished.failed:
        code = 1
    if finished.outcome in ("stopped", "paused", "budget", "failed"):
        print(f"chatsynth: {finished.outcome}: {finished.reason}", file=sys.stderr)
    elif until is not None:
        print(f"  passing {have}/{until.target}: {stop_reason}", file=sys.stdout)
        if have < until.target and code == 0:
            code = 1
    return code


def _extra(pipe: Any, until: Any, have: int) -> str:
    parts = []
    if until is not None:
        live = pipe.live_pass if pipe is not None else 0
        parts.append(f"passing {have + live}/{until.target}" + ("+" if pipe is None else ""))
    if pipe is not None:
        j = pipe.judge
        cost = "?" if j.cost is None else f"${j.cost:.4f}"
        parts.append(f"judge {j.judged + j.cached} ({j.failed} failed), "
                     f"{j.prompt_tokens + j.completion_tokens:,} tok, {cost}")
    return " | ".join(parts)


class ProgressLine:
    """Progress on stderr: rich's live progress bar on a terminal, else a plain line every few
    seconds (logs and pipes get whole lines, never carriage returns)."""

    def __init__(self, out: TextIO, quiet: bool = False) -> None:
        self.out = out
        self.quiet = quiet
        self.tty = out.isatty()
        self.last = 0.0
        self.target = 0
        self.extra: Any = None  # a function giving judge / passing figures for the line
        self._bar: Any = None  # rich.progress.Progress while a run shows on a terminal
        self._task: Any = None

    def started(self, ev: RunStarted) -> None:
        self.clear()  # an "until N pass" run starts a round
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
        line = self.describe(p) + (f" | {self.extra()}" if self.extra else "")
        if self._bar is not None:
            self._bar.update(self._task, completed=p.done, total=max(1, self.target),
                             line=line)
            return
        now = time.monotonic()
        if now - self.last < 5.0 and p.remaining:
            return
        self.last = now
        print(f"{p.done:,}/{self.target:,} done, {line} | {p.elapsed_s:.0f}s",
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
