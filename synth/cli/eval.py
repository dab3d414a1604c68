"""`chatsynth eval EXPORT_DIR --a ENDPOINT[:MODEL][:MODE] --b ...`: held-out evaluation of an
export: each contestant answers the opening user turns of the validation conversations (topics no
training example saw), the persona's one-turn filters (and the judge, with --judge) score every
answer, and a Markdown and JSON report compares them (``synth.dataset.evaluate``)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from synth.errors import ChatsynthError


def register(sub: argparse._SubParsersAction) -> None:
    from synth.cli.judge import add_judge_endpoint_args

    p = sub.add_parser(
        "eval", help="held-out evaluation of an export: two models or modes on unseen topics",
        description="Each contestant answers the opening user turns of the export's validation "
        "conversations (topics no training example saw) as the persona's next turn; the "
        "persona's one-turn filter rules (empty, leaked labels, refusals, its pattern rules) and, "
        "with --judge, its judge score every answer. A contestant is ENDPOINT[:MODEL][:MODE], "
        "MODE 'prompted' (the persona's synthesis prompt with the conversation so far; the "
        "default) or 'finetuned' (only the exported system prompt and the turns, as chat "
        "messages).")
    p.add_argument("export_dir", type=Path, help="a folder `chatsynth export` wrote")
    p.add_argument("--a", required=True, metavar="ENDPOINT[:MODEL][:MODE]", help="contestant A")
    p.add_argument("--b", metavar="ENDPOINT[:MODEL][:MODE]", help="contestant B")
    p.add_argument("--turns", type=int, default=1,
                   help="answer each validation conversation's first K user turns (default 1)")
    p.add_argument("--limit", type=int, help="at most this many openings")
    p.add_argument("--concurrency", type=int, default=4, help="requests in flight (default 4)")
    p.add_argument("--max-tokens", type=int, default=300, help="per answer (default 300)")
    p.add_argument("--judge", action="store_true", help="score each answer with the persona's judge")
    add_judge_endpoint_args(p)
    p.add_argument("--out", type=Path,
                   help="folder for eval.md and eval.json (default: EXPORT_DIR/eval-TIME)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_eval)


def cmd_eval(args: argparse.Namespace) -> int:
    from synth import checks
    from synth.cli.main import workspace_from
    from synth.curate.eval_answers import Player, parse_contestant
    from synth.dataset import evaluate
    from synth.dataset.store import Store
    from synth.generate.endpoints import EndpointSession

    for flag, kind in (("turns", "max"), ("concurrency", "concurrency"),
                       ("max_tokens", "max_tokens"), ("limit", "max")):
        if getattr(args, flag) is not None:  # "max": a whole number, at least 1
            checks.number(kind, getattr(args, flag), field="--" + flag.replace("_", "-"))
    ws = workspace_from(args)
    cs = [parse_contestant(args.a, "a", ws.config)]
    if args.b:
        cs.append(parse_contestant(args.b, "b", ws.config))
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        raise ChatsynthError("is a file: name a folder for eval.md and eval.json", path=args.out,
                             field="--out")
    es = evaluate.load_export(args.export_dir, Store(ws.runs_dir), ws, args.turns)
    if args.limit:
        es.openings = es.openings[:args.limit]
    persona = es.persona
    if args.judge and persona.judge is None:
        from synth.curate.judge_setup import current_judge

        persona = current_judge(ws, persona)
        if persona.judge is None:
            raise ChatsynthError(f"persona {persona.id!r} has no judge: block; add one to use "
                                 "--judge", field="--judge")
    say = (lambda m: None) if args.json else (lambda m: print(m, file=sys.stderr, flush=True))
    say(f"eval: {len(es.openings)} openings from {es.conversations} validation conversations on "
        f"{len(es.topics)} topics; {' vs '.join(c.name for c in cs)}")
    with ExitStack() as stack:
        players, opened = [], {}
        for c in cs:
            try:
                if c.endpoint in opened:
                    base, conc = opened[c.endpoint]
                    ep = dataclasses.replace(base, model=c.model or base.model, _client=None,
                                             dropped=set(base.dropped))
                else:
                    session = EndpointSession(ws.config, name=c.endpoint, model=c.model,
                                              persona_style=persona.style)
                    ep = stack.enter_context(session)
                    conc = session.concurrency
                    opened[c.endpoint] = (ep, conc)
                players.append(Player(c, ep, conc or args.concurrency))
            except ChatsynthError as err:
                say(f"{c.name}: {err}")
                players.append(Player(c, None, 1, down=str(err)))
        judge = None
        if args.judge:
            judge = _judge(stack, ws, persona, args, players)
        rows = asyncio.run(_go(players, persona, es, args, judge, ws))
    rep = evaluate.summarise(es, cs, rows, players)
    if judge is not None:
        rep["judge_usage"] = {"prompt_tokens": judge.prompt_tokens,
                              "completion_tokens": judge.completion_tokens, "cost_usd": judge.cost}
    out = args.out or es.folder / f"eval-{time.strftime('%Y%m%d-%H%M%S')}"
    evaluate.write_report(rep, out)
    failed = sum(c["failed"] for c in rep["contestants"])
    if args.json:
        json.dump(rep, sys.stdout, indent=1, ensure_ascii=False)
        print()
    else:
        rows_ = evaluate.table_rows(rep)
        widths = [max(len(r[i]) for r in rows_) for i in range(len(rows_[0]))]
        for r in rows_:
            print("  ".join(x.ljust(w) for x, w in zip(r, widths)).rstrip())
        for c in rep["contestants"]:
            if c["failed"]:
                print(f"{c['key'].upper()}: {c['failed']} of {c['answers']} answers failed"
                      + (f": {c['error']}" if c["error"] else ""))
        print(f"wrote {out / 'eval.md'} and eval.json ({len(es.openings)} openings side by side)")
    return 1 if failed else 0


def _judge(stack: ExitStack, ws, persona, args, players):
    from synth.cli.judge import judge_flags
    from synth.curate.judge import rubric_for
    from synth.curate.judge_setup import open_judge
    from synth.curate.judging import Judge
    from synth.pricing import cost_fn

    writer = next((p.ep for p in players if p.ep is not None), None)
    ep = open_judge(stack, ws, persona, writer=writer, **judge_flags(args))
    return Judge(ep, persona, rubric_for(persona), cost_fn=cost_fn(ws.config.prices or None),
                 concurrency=args.concurrency)


async def _go(players, persona, es, args, judge, ws):
    from synth.curate.eval_answers import answer_all
    from synth.pricing import cost_fn

    try:
        return await answer_all(players, persona, es.system, es.openings,
                                concurrency=args.concurrency, max_tokens=args.max_tokens,
                                judge=judge, cost_fn=cost_fn(ws.config.prices or None))
    finally:
        for p in players:
            if p.ep is not None:
                await p.ep.aclose()
        if judge is not None:
            await judge.ep.aclose()
