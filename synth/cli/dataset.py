"""`chatsynth dataset`: name a list of runs (new, add, remove, show, list, delete) to export as one."""

from __future__ import annotations

import argparse

from synth.errors import ChatsynthError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "dataset", help="name a list of runs to export as one fine-tune set",
        description="A dataset is a named list of runs kept in the workspace's catalog: several "
        "personas, topic lists or models, exported together with `chatsynth export NAME`.")
    dsub = p.add_subparsers(dest="action", metavar="ACTION")
    dsub.required = True
    q = dsub.add_parser("new", help="make a dataset of runs")
    q.add_argument("name")
    q.add_argument("--runs", nargs="+", required=True, metavar="RUN",
                   help="run ids, unique prefixes or 'latest'")
    q.add_argument("--only-accepted", action="store_true",
                   help="its export takes only conversations you accepted")
    q = dsub.add_parser("add", help="add runs to a dataset")
    q.add_argument("name")
    q.add_argument("runs", nargs="+", metavar="RUN")
    q = dsub.add_parser("remove", help="take runs out of a dataset (the runs stay stored)")
    q.add_argument("name")
    q.add_argument("runs", nargs="+", metavar="RUN")
    q = dsub.add_parser("show", help="a dataset's runs with their counts")
    q.add_argument("name")
    dsub.add_parser("list", help="every dataset")
    q = dsub.add_parser("delete", help="forget a dataset (its runs stay stored)")
    q.add_argument("name")
    q.add_argument("--yes", action="store_true", help="really delete it")
    p.set_defaults(func=cmd_dataset)


def cmd_dataset(args: argparse.Namespace) -> int:
    from synth.cli.main import workspace_from
    from synth.dataset.datasets import Datasets, describe
    from synth.dataset.store import Store

    ws = workspace_from(args)
    sets = Datasets(Store(ws.runs_dir))
    if args.action == "list":
        all_sets = sets.all()
        for ds in all_sets:
            print(f"{ds.name}: {', '.join(ds.runs) or 'no runs'}"
                  + (" (only accepted)" if ds.only_accepted else ""))
        if not all_sets:
            print("no datasets yet; make one with `chatsynth dataset new NAME --runs RUN ...`")
        return 0
    if args.action == "new":
        ds = sets.create(args.name, args.runs, only_accepted=args.only_accepted)
        print(f"made {describe(ds)}: {', '.join(ds.runs)}")
        return 0
    if args.action == "add":
        ds = sets.add(args.name, args.runs)
        print(f"{describe(ds)}: {', '.join(ds.runs)}")
        return 0
    if args.action == "remove":
        ds = sets.remove(args.name, args.runs)
        print(f"{describe(ds)}: {', '.join(ds.runs) or 'no runs left'}")
        return 0
    if args.action == "delete":
        sets.get(args.name)
        if not args.yes:
            raise ChatsynthError(f"deleting dataset {args.name!r} needs --yes (its runs stay stored)",
                                 field="--yes")
        sets.delete(args.name)
        print(f"deleted dataset {args.name} (its runs are still stored)")
        return 0
    ds = sets.get(args.name)
    print(describe(ds))
    rows = [("run", "persona", "topics", "model", "stored", "accepted", "passing", "flagged",
             "rejected")]
    totals = [0] * 5
    problems = []
    for c in sets.counts(args.name):
        nums = [c.stored, c.accepted, c.passing, c.flagged, c.rejected]
        totals = [a + b for a, b in zip(totals, nums)]
        rows.append((c.run_id, c.persona, c.topics, c.model or "-", *map(str, nums)))
        problems += [f"{c.run_id}: {p}" for p in c.problems]
    rows.append(("all", "", "", "", *map(str, totals)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(v.rjust(w) if i >= 4 else v.ljust(w)
                        for i, (v, w) in enumerate(zip(r, widths))).rstrip())
    for p in problems:
        print(f"note: {p}")
    return 0
