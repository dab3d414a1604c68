"""`chatsynth compare RUN_A RUN_B`: two runs side by side on the topics they share (pass rate by
rule, judge scores, turns, tokens, cost per passing conversation, distinct-2), what differs in
their persona and settings, and the conversations each wrote for the same topic
(``synth.dataset.compare``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from synth.errors import ChatsynthError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare", help="two runs side by side on the topics they share",
        description="Compare two runs (two versions of a persona, two models, two sampling "
        "settings) on the topics both wrote: pass rate and what each filter rule flagged, judge "
        "scores where judged, turns, tokens, cost per passing conversation, distinct-2, what "
        "differs in the persona and settings, and the conversations for the same topic.")
    p.add_argument("run_a", help="run id, prefix or 'latest'")
    p.add_argument("run_b", help="run id, prefix or 'latest'")
    p.add_argument("--out", type=Path, help="write the whole comparison as Markdown to this file")
    p.add_argument("--pairs", type=int, default=None,
                   help="in --out, show at most this many pairs of conversations (default: all)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(func=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    from synth import checks
    from synth.cli.main import workspace_from
    from synth.dataset import compare
    from synth.dataset.store import Store

    if args.pairs is not None:
        checks.number("pairs", args.pairs, field="--pairs")
    if args.out is not None and args.out.is_dir():
        raise ChatsynthError("is a folder: name a file for the Markdown report", path=args.out,
                             field="--out")
    store = Store(workspace_from(args).runs_dir)
    c = compare.compare_runs(store, args.run_a, args.run_b)
    if args.out is not None:
        from synth.library.yamlio import atomic_write_text

        atomic_write_text(args.out, compare.to_markdown(c, args.pairs))
    if args.json:
        json.dump(compare.to_json(c), sys.stdout, indent=1)
        print()
        return 0
    rows = compare.table_rows(c)
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    print(f"On the {len(c.topics)} topics both runs wrote"
          + (f" ({c.only_a} only in A, {c.only_b} only in B, left out)" if c.only_a or c.only_b else "")
          + ":")
    for what, a, b in rows:
        print(f"  {what:<{w0}}  {a:<{w1}}  {b}")
    if c.settings:
        print("Settings that differ: " + "; ".join(f"{k} {x!r} -> {y!r}" for k, x, y in c.settings))
    if c.persona_diff:
        print("Persona that differs:")
        for line in c.persona_diff[2:]:
            print("  " + line)
    if not c.settings and not c.persona_diff:
        print("Same persona and settings: the runs differ only by chance.")
    if args.out is not None:
        print(f"wrote {args.out} ({len(c.pairs)} pairs of conversations side by side)")
    return 0
