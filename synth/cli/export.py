"""`chatsynth export | validate | estimate`: the dataset side of the CLI (review, filter and
trim live in ``synth.cli.review``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from synth import checks
from synth.errors import ChatsynthError
from synth.stops_text import unescape_stop
from synth.wording import plural


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help="write fine-tune files (train/validation) and a dataset report for a run "
        "or a dataset", description="Export a run's conversations, or a dataset's runs as one set "
        "(`chatsynth dataset`), as fine-tune JSONL. By default it takes every conversation you did "
        "not reject that you accepted or that passes every filter; partial ones are left out. A "
        "dataset's export also leaves out near-copies across its runs and never puts a topic in "
        "both parts. Every example is validated before it is written.")
    p.add_argument("run", help="a dataset's name, or a run id, a unique prefix of one, or 'latest'")
    p.add_argument("--format", default="chat", choices=["chat", "sharegpt", "completion", "all"],
                   help="chat {messages}, sharegpt {conversations}, completion {prompt, completion}, or all")
    p.add_argument("--split-by", default="topic", choices=["topic", "conversation"],
                   help="hold out whole topics (default) or random conversations for validation")
    p.add_argument("--validation-fraction", type=float, default=0.2, help="share held out (default 0.2; 0: none)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split (default 0)")
    p.add_argument("--out", type=Path, help="output folder (default: exports/RUN-TIMESTAMP in the workspace)")
    p.add_argument("--only-accepted", action="store_true", help="take only conversations you accepted")
    p.add_argument("--include-partial", action="store_true", help="also take partial (cancelled) conversations")
    p.add_argument("--stop-token", help="completion format: what every completion ends with "
                   "(default: \\n\\n + the user's label + ':'); \\n is a newline")
    p.add_argument("--separator", help="completion format: what every prompt ends with "
                   "(default: \\n\\n + the persona's label + ':')")
    p.add_argument("--no-system", action="store_true", help="leave the persona's system prompt out")
    p.add_argument("--model", default="gpt-4o-mini",
                   help="the model you will fine-tune: token limit, token counts, training cost (default gpt-4o-mini)")
    p.add_argument("--allow-invalid", action="store_true",
                   help="also write a file that has errors (say, too few examples); exit 1 all the same")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("validate", help="check a fine-tune JSONL file (chat, ShareGPT or prompt/completion)",
                       description="Check any fine-tune JSONL file: every check of OpenAI's cookbook, "
                       "plus non-JSON lines, JSON arrays, too few examples, examples over the token "
                       "limit, and the distribution of sizes. Exit 1 when it finds errors.")
    p.add_argument("file", type=Path)
    p.add_argument("--model", help="the model to fine-tune (token limit and encoding; default: a stated default)")
    p.add_argument("--format", choices=["chat", "sharegpt", "completion"], help="default: detected")
    p.add_argument("--max-tokens", type=int, help="token limit per example (default: the model's)")
    p.add_argument("--validation-file", action="store_true",
                   help="a validation file: fewer than 10 examples is only a warning")
    p.add_argument("--json", action="store_true", help="print the findings as JSON")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("estimate", help="tokens and money a run and its fine-tune would cost (no request)",
                       description="Count the exact prompt tokens of a run, the most completion tokens "
                       "it may take (and the run's own average where some conversations exist), the "
                       "money, and the projected fine-tune. Makes no request.")
    p.add_argument("--persona", help="persona name or file (default: config defaults.persona)")
    p.add_argument("--topics", help="topic source (default: config defaults.topics)")
    p.add_argument("--per-topic", type=int)
    p.add_argument("--endpoint", help="endpoint name from chatsynth.yaml")
    p.add_argument("--model", help="model id (default: the endpoint's default_model)")
    p.add_argument("--style", choices=["chat", "completion"])
    p.add_argument("--max-tokens", type=int)
    p.add_argument("--method", choices=["transcript", "roleplay"], help="default: the persona's")
    p.add_argument("--limit", type=int, help="what one `run --limit N` start writes: at most N of "
                   "the conversations not stored yet (default: all of them)")
    p.add_argument("--judge", action="store_true", help="as `run --judge`: add the judge's "
                   "tokens and money per conversation (its rubric prompt, the conversation, the "
                   "answer) at the judge model's rates")
    p.add_argument("--judge-endpoint", help="the judge's endpoint (default: as `run --judge`)")
    p.add_argument("--judge-model", help="the judge's model")
    p.add_argument("--until-pass", type=int, metavar="N", help="as `run --until-pass N`: the cost "
                   "at the pass rate seen so far in the run (else the persona's last run)")
    p.add_argument("--max", type=int, metavar="N", help="with --until-pass: write at most N now")
    p.add_argument("--max-per-topic", type=int, default=5, metavar="K",
                   help="with --until-pass: at most K conversations of a topic (default 5)")
    p.add_argument("--finetune-model", default="gpt-4o-mini", help="model to fine-tune (default gpt-4o-mini)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_estimate)


def _unescape(s: str | None) -> str | None:
    return None if s is None else unescape_stop(s)


def _store(args: argparse.Namespace):
    from synth.cli.main import workspace_from
    from synth.dataset.store import Store

    ws = workspace_from(args)
    return ws, Store(ws.runs_dir)


def cmd_export(args: argparse.Namespace) -> int:
    from synth.dataset.datasets import Datasets
    from synth.dataset.export import FORMATS, ExportOptions, export_dataset, export_run

    ws, store = _store(args)
    opts = ExportOptions(
        formats=FORMATS if args.format == "all" else (args.format,), split_by=args.split_by,
        validation_fraction=args.validation_fraction, seed=args.seed,
        policy="accepted" if args.only_accepted else "default", include_partial=args.include_partial,
        separator=_unescape(args.separator), stop_token=_unescape(args.stop_token),
        system_prompt=not args.no_system, model=args.model, allow_invalid=args.allow_invalid)
    opts.check()
    export = export_dataset if Datasets(store).exists(args.run) else export_run
    res = export(store, args.run, args.out, opts, exports_dir=ws.exports_dir,
                 finetune_prices=ws.config.finetune_prices,
                 progress=lambda m: print(f"... {m}", file=sys.stderr, flush=True))
    if args.json:
        print(res.report_paths[1].read_text(encoding="utf-8"), end="")
    else:
        print(f"exported {res.selection.statement}")
        for n in res.notes:
            print(f"note: {n}")
        for key, path in res.files.items():
            rep = res.reports[key]
            print(f"{path}: {res.examples[key]:,} examples, {sum(rep.example_tokens):,} tokens, "
                  f"{len(rep.errors)} errors, {len(rep.warnings)} warnings")
            for f in rep.errors[:10]:
                print(f"  {f.format(path.name)}")
        for r in res.refused[:20]:
            where = f", turn {r.turn_index + 1}" if r.turn_index is not None else ""
            print(f"refused {r.conversation_id} ({r.format}.{r.split}{where}): {'; '.join(r.reasons)}")
        if len(res.refused) > 20:
            print(f"... {len(res.refused) - 20} more refused examples: see the report")
        for key, rep in res.withheld.items():
            print(f"not written: {key}.jsonl ({rep.examples:,} examples), "
                  f"{len(rep.errors)} error(s):")
            for f in rep.errors[:10]:
                print(f"  {f.format(key + '.jsonl')}")
        if res.withheld:
            print("--allow-invalid writes files with errors anyway")
        print(f"report: {res.report_paths[0]}")
    return 0 if res.ok else 1


def cmd_validate(args: argparse.Namespace) -> int:
    from synth.dataset.validate import validate_file

    if args.max_tokens is not None and args.max_tokens <= 0:
        raise ChatsynthError(f"must be more than 0, not {args.max_tokens}", field="--max-tokens")
    rep = validate_file(args.file, model=args.model, fmt=args.format, limit=args.max_tokens,
                        validation_file=True if args.validation_file else None)
    if args.json:
        print(json.dumps(rep.to_dict(), indent=1, ensure_ascii=False))
    else:
        print(rep.text())
        if rep.example_tokens:
            from synth.pricing import finetune_estimate

            prices = _finetune_prices(args)
            for line in finetune_estimate(rep.example_tokens, args.model or "", prices, limit=rep.limit).lines():
                print(line)
    return 1 if rep.errors else 0


def _finetune_prices(args: argparse.Namespace) -> dict[str, float] | None:
    """The workspace's fine-tune prices where a workspace is at hand (validate needs none)."""
    from synth.cli.main import workspace_from

    try:
        return workspace_from(args).config.finetune_prices
    except ChatsynthError:
        return None


def cmd_estimate(args: argparse.Namespace) -> int:
    from synth.cli.main import workspace_from
    from synth.library.personas import find_persona
    from synth.library.topics import find_topics
    from synth.models import RunSpec
    from synth.cli.run import check_until_flags
    from synth.curate.estimate_quality import Until, estimate_quality, judge_model
    from synth.pricing import finetune_estimate
    from synth.dataset.store import Store
    from synth.tokens import counter_for

    checks.flags(args, ("per_topic", "max_tokens", "limit"))
    check_until_flags(args)
    ws = workspace_from(args)
    cfg = ws.config
    defaults = cfg.defaults or {}
    from synth.dataset.example_refs import resolve_examples

    store = Store(ws.runs_dir)
    persona = resolve_examples(store, find_persona(ws, args.persona or str(defaults.get("persona", "eve"))))
    topics = find_topics(ws, args.topics or str(defaults.get("topics", persona.id)))
    ep = cfg.endpoint(args.endpoint)
    if ep.is_embedded:
        from synth.generate.local import MODEL_ALIAS

        model = args.model or MODEL_ALIAS
    else:
        model = args.model or ep.default_model or ""
    style = args.style or (persona.style if ep.is_embedded else ep.style)
    spec = RunSpec.for_persona(persona, topics, per_topic=args.per_topic or int(defaults.get("per_topic", 1)),
                               endpoint=ep.name, model=model, style=style, max_tokens=args.max_tokens,
                               limit=args.limit, method=args.method)
    judge = judge_model(cfg, persona, ep.name, model, args.judge_endpoint, args.judge_model) \
        if args.judge else None
    until = Until(args.until_pass, args.max, max(args.max_per_topic, spec.per_topic)) \
        if args.until_pass else None
    est = estimate_quality(store, spec, overrides=cfg.prices, local=ep.is_embedded,
                           judge=judge, until=until)
    # the fine-tune this run would feed: one example per conversation, 80% in train
    counter = counter_for(args.finetune_model)
    sys_tokens = counter.count(persona.system_prompt.strip())
    per_conv = (est.completion_tokens_avg / max(1, est.to_write) if est.completion_tokens_avg
                else spec.max_tokens)
    n_train = max(1, round((est.already_done + est.to_write) * 0.8))  # what the run holds after this start
    example = int(sys_tokens + per_conv + 3 + 3 * 11 + 12)  # ~10 turns + system: 3 per message
    ft = finetune_estimate([example] * n_train, args.finetune_model, cfg.finetune_prices)
    if args.json:
        print(json.dumps({"run_id": spec.run_id, "run": est.to_dict(), "finetune_projection": ft.to_dict()},
                         indent=1))
        return 0
    print(f"run {spec.run_id}: persona {persona.id}, topics {topics.id} "
          f"({plural(len(topics.topics), 'topic')} x {spec.per_topic}), endpoint {ep.name}, "
          f"style {style}")
    for line in est.lines():
        print(line)
    print(f"fine-tune projection ({plural(n_train, 'training example')} of about {example:,} tokens: "
          f"{'the run average' if est.completion_tokens_avg else 'max_tokens'} + system prompt):")
    for line in ft.lines():
        print("  " + line)
    return 0
