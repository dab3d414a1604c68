"""`chatsynth judge RUN|DATASET`: the LLM judge on stored conversations, and its agreement
with your own accept/reject decisions.  Also the judge's endpoint flags that `run --judge` and
`eval --judge` share; which endpoint judges and what it cost: synth/curate/judge_setup.py."""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from typing import Any

from synth import checks
from synth.wording import plural


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "judge", help="score a run's (or a dataset's) conversations with an LLM judge and the "
        "persona's rubric",
        description="Ask an LLM judge to score each conversation on the persona's rubric "
        "(judge.criteria, else its description and pattern rules' reasons). Verdicts are cached "
        "by text, rubric and judge model: judging again costs nothing, an edited turn is judged "
        "again. A conversation under the threshold, or one the judge failed on, is flagged by "
        "the 'judge' filter rule.")
    p.add_argument("run", help="a dataset's name, or a run id, a unique prefix of one, or 'latest'")
    add_judge_endpoint_args(p, prefix="")
    p.add_argument("--limit", type=int, help="judge at most this many conversations")
    p.add_argument("--concurrency", type=int, default=4, help="judge requests in flight (default 4)")
    p.add_argument("--agreement", action="store_true",
                   help="the judge's precision and recall against your accept/reject decisions")
    p.add_argument("-q", "--quiet", action="store_true", help="summary only")
    p.set_defaults(func=cmd_judge)


def add_judge_endpoint_args(p: argparse.ArgumentParser, prefix: str = "judge-") -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument(f"--{prefix}endpoint", dest="judge_endpoint",
                   help="the judge's endpoint (default: the persona's judge.endpoint, else "
                   "defaults.judge_endpoint, else the default endpoint)")
    g.add_argument(f"--{prefix}base-url", dest="judge_base_url", help="any OpenAI-compatible URL")
    p.add_argument(f"--{prefix}key-name", dest="judge_key_name",
                   help="keyring entry / environment variable with the key for the base URL")
    p.add_argument(f"--{prefix}model", dest="judge_model", help="the judge's model")


def judge_flags(args: argparse.Namespace) -> dict[str, Any]:
    """``add_judge_endpoint_args``' flags as ``open_judge``'s keywords."""
    return {"endpoint": args.judge_endpoint, "base_url": args.judge_base_url,
            "model": args.judge_model, "key_name": args.judge_key_name}


def agreement(items: list[Any]) -> str:
    """Precision and recall of "the judge passes it" against "you accepted it"."""
    pairs = [(it.judgement.passed, it.decision == "accepted") for it in items
             if it.decision and it.judgement is not None and not it.judgement.failed]
    if not pairs:
        return ("agreement: no conversation has both your decision and a judgement; accept or "
                "reject some (chatsynth review, or Review in the app) and judge again")
    tp = sum(1 for j, u in pairs if j and u)
    fp = sum(1 for j, u in pairs if j and not u)
    fn = sum(1 for j, u in pairs if not j and u)
    prec = f"{tp / (tp + fp):.2f} ({tp}/{tp + fp})" if tp + fp else "- (it passed none)"
    rec = f"{tp / (tp + fn):.2f} ({tp}/{tp + fn})" if tp + fn else "- (you accepted none)"
    agree = sum(1 for j, u in pairs if j == u)
    return (f"agreement on {plural(len(pairs), 'conversation')} you decided: precision {prec} "
            f"(of those it passes, you accepted), recall {rec} (of those you accepted, it "
            f"passes); same call on {agree}/{len(pairs)}")


def cmd_judge(args: argparse.Namespace) -> int:
    from synth.cli.main import workspace_from
    from synth.curate.judge_setup import current_judge, make_judge, open_judge, tally
    from synth.curate.review import Review
    from synth.dataset.datasets import Datasets
    from synth.dataset.store import Store

    checks.flags(args, ("limit", "concurrency"))
    ws = workspace_from(args)
    store = Store(ws.runs_dir)
    ds = Datasets(store)
    runs = ds.get(args.run).runs if ds.exists(args.run) else [store.resolve_run(args.run)]
    left = args.limit
    code = 0
    all_items: list[Any] = []
    out = sys.stdout
    for run_id in runs:
        if left is not None and left <= 0:
            break
        review = Review(store, run_id)
        persona = current_judge(ws, review.persona)
        items = [it for it in review.load().items if it.conv.status == "complete" and it.turns]
        if left is not None:
            items, left = items[:left], left - min(left, len(items))
        with ExitStack() as stack:
            ep = open_judge(stack, ws, persona, **judge_flags(args))
            judge = make_judge(ws, store, run_id, persona, ep, args.concurrency)
            from synth.curate.judging import judge_all

            res = judge_all(judge, [(it.id, it.turns) for it in items])
        for it in items:
            it.judgement = res[it.id]
        all_items += items
        if not args.quiet:
            for it in items:
                j = it.judgement
                mark = "FAILED" if j.failed else "pass" if j.passed else "flag"
                why = "; ".join(f"{k} {v}: {j.reasons.get(k, '')}" for k, v in j.scores.items()
                                if v < j.threshold) or ("" if not j.failed else j.error)
                print(f"{it.id}  {mark:6}  {j.short() if not j.failed else '-'}"
                      + (f"  | {why}" if why and not j.passed else ""), file=out)
        n_pass = sum(1 for it in items if it.judgement.passed)
        print(f"run {run_id}: {n_pass}/{len(items)} pass the judge ({ep.model}, threshold "
              f"{judge.rubric.threshold:g}); {tally(judge)}", file=out)
        for note in judge.notes[:1]:
            print(f"  note: {note}", file=out)
        if judge.failed:
            code = 1
    if args.agreement:
        print(agreement(all_items), file=out)
    return code
