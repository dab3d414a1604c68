"""`chatsynth review | filter | trim`: curation from the command line, the same actions as the
app's Review (accept, reject, edit or remove a turn) and Trim (re-trim a run with other stop
sequences, no new request) screens, through ``synth.curate.review.Review``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from synth.errors import ChatsynthError
from synth.stops_text import unescape_stop
from synth.wording import plural


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "review", help="accept, reject or edit conversations of a run, or list them",
        description="Review decisions and edits. An edit keeps the original text in the run's log; "
        "the edited turns are what the filters judge and export writes (as the app's Review e).")
    p.add_argument("run", help="run id, prefix or 'latest'")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--accept", metavar="ID", nargs="+", help="accept these conversations (id or prefix)")
    g.add_argument("--reject", metavar="ID", nargs="+", help="reject these conversations")
    g.add_argument("--undecide", metavar="ID", nargs="+", help="forget the decision on these")
    g.add_argument("--accept-ok", action="store_true", help="accept every undecided one that passes every filter")
    g.add_argument("--list", action="store_true", help="list conversations with their state")
    g.add_argument("--next", action="store_true", help="show the next flagged undecided conversation")
    g.add_argument("--edit", metavar="ID", help="edit one conversation: with --turn N --text TEXT, "
                   "or --remove-turn N")
    p.add_argument("--turn", type=int, metavar="N", help="with --edit: the turn to rewrite (1 is the first)")
    p.add_argument("--text", help="with --edit --turn: the turn's new text ('-': read it from stdin; "
                   "\\n is a newline)")
    p.add_argument("--remove-turn", type=int, metavar="N", help="with --edit: remove turn N")
    p.set_defaults(func=cmd_review)

    p = sub.add_parser("filter", help="show the filters' verdict on each conversation of a run")
    p.add_argument("run", help="run id, prefix or 'latest'")
    p.add_argument("--all", action="store_true", help="list ok conversations too")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_filter)

    p = sub.add_parser(
        "trim", help="re-trim a run with other stop sequences (no new request)",
        description="Show where these stop sequences would cut each conversation of a run and how "
        "many would change; --apply applies them to every unedited conversation (as the app's "
        "Trim Ctrl+R). Only the stored text is cut again: no request is made.")
    p.add_argument("run", help="run id, prefix or 'latest'")
    p.add_argument("--stop", action="append", default=None, metavar="TEXT",
                   help="a stop sequence (repeat for more; \\n is a newline)")
    p.add_argument("--apply", action="store_true", help="apply them to the run (default: only show)")
    p.add_argument("--as-written", action="store_true",
                   help="forget the run's re-trim: every conversation as the run wrote it")
    p.set_defaults(func=cmd_trim)


def _load_review(args: argparse.Namespace):
    from synth.cli.main import workspace_from
    from synth.curate.review import Review
    from synth.dataset.store import Store

    store = Store(workspace_from(args).runs_dir)
    run_id = store.resolve_run(args.run)
    review = Review(store, run_id)
    return review, review.load()


def _pick(rs: Any, ref: str, field: str = "conversation") -> Any:
    hits = [it for it in rs.items if it.id.startswith(ref)] if ref else []
    if len(hits) != 1:
        what = "no conversation" if not hits else f"{len(hits)} conversations"
        raise ChatsynthError(f"{what} with id {ref!r} in run {rs.run_id}", field=field)
    return hits[0]


def _row(it: Any) -> str:
    flag = (" (edited)" if it.edited else "") + ("" if it.listed else " (topic no longer in the list)")
    why = "" if it.verdict.ok else " - " + it.verdict.summary()
    return (f"{it.id}  {it.state:<8} {plural(len(it.turns), 'turn'):>8} {it.tokens:>6,} tokens  "
            f"{it.conv.topic[:50]!r}{flag}{why}")


def cmd_review(args: argparse.Namespace) -> int:
    if args.edit is None and (args.turn, args.text, args.remove_turn) != (None, None, None):
        raise ChatsynthError("needs --edit ID (the conversation to edit)",
                             field="--turn" if args.turn is not None else
                             "--text" if args.text is not None else "--remove-turn")
    review, rs = _load_review(args)
    if args.list or args.next or args.accept_ok:
        rs.count_tokens()
    if args.list:
        for it in rs.items:
            print(_row(it))
        print(", ".join(f"{k} {v}" for k, v in sorted(rs.counts().items())) or "no conversations")
        return 0
    if args.next:
        it = rs.next_flagged()
        if it is None:
            print("no flagged conversation is waiting for a decision")
            return 0
        print(_row(it))
        for i, t in enumerate(it.turns, 1):
            print(f"  {i:>2} {t.role}: {t.text}")
        return 0
    if args.accept_ok:
        print(f"accepted {review.accept_all_ok(rs)} conversations that pass every filter")
        return 0
    if args.edit is not None:
        return _edit(args, review, rs)
    ids = args.accept or args.reject or args.undecide
    action = review.accept if args.accept else review.reject if args.reject else review.undecide
    verb = "accepted" if args.accept else "rejected" if args.reject else "undecided"
    for ref in ids:
        it = _pick(rs, ref)
        action(it.id)
        print(f"{verb} {it.id}")
    return 0


def _edit(args: argparse.Namespace, review: Any, rs: Any) -> int:
    from synth.models import Turn

    it = _pick(rs, args.edit, "--edit")
    if (args.turn is None) == (args.remove_turn is None):
        raise ChatsynthError("give either --turn N --text TEXT or --remove-turn N", field="--edit")
    n = args.turn if args.turn is not None else args.remove_turn
    flag = "--turn" if args.turn is not None else "--remove-turn"
    if not 1 <= n <= len(it.turns):
        raise ChatsynthError(f"no turn {n}: conversation {it.id} has {len(it.turns)} turns "
                             f"(1 to {len(it.turns)})" if it.turns else
                             f"no turn {n}: conversation {it.id} has no turns", field=flag)
    turns = [Turn(t.role, t.text, t.label) for t in it.turns]
    if args.turn is not None:
        if args.text is None:
            raise ChatsynthError("needs --text TEXT (the turn's new text)", field="--turn")
        text = sys.stdin.read() if args.text == "-" else unescape_stop(args.text)
        if not text.strip():
            raise ChatsynthError("the new text is empty (use --remove-turn N to remove a turn)",
                                 field="--text")
        turns[n - 1].text = text.strip()
        done = f"turn {n} ({turns[n - 1].role}) rewritten"
    else:
        if args.text is not None:
            raise ChatsynthError("--remove-turn takes no --text", field="--text")
        gone = turns.pop(n - 1)
        done = f"turn {n} ({gone.role}) removed"
    review.edit(it.id, turns, note=f"edited with chatsynth review --edit: {done}")
    now = review.load().by_id(it.id)
    print(f"edited {it.id}: {done}; the original stays in the run's log")
    print(_row(now))
    return 0


def cmd_filter(args: argparse.Namespace) -> int:
    _, rs = _load_review(args)
    if args.json:
        print(json.dumps({"run_id": rs.run_id,
                          "verdicts": {it.id: it.verdict.to_dict() for it in rs.items},
                          "near_duplicates": [p.to_dict() for p in rs.pairs]}, indent=1))
        return 0
    shown = [it for it in rs.items if args.all or not it.verdict.ok]
    for it in shown:
        print(_row(it))
    n_ok = sum(1 for it in rs.items if it.verdict.ok)
    print(f"{n_ok} of {len(rs.items)} conversations pass every filter")
    for rule, n in rs.reason_counts().items():
        print(f"  {rule}: {n}")
    for p in rs.problems:
        print(f"note: {p}")
    return 0


def cmd_trim(args: argparse.Namespace) -> int:
    from synth.curate.filters import check
    from synth.generate.transcript import retrim

    if args.as_written and args.stop:
        raise ChatsynthError("--as-written takes no --stop", field="--as-written")
    if not args.as_written and not args.stop:
        raise ChatsynthError("give at least one --stop TEXT (or --as-written)", field="--stop")
    stops = None if args.as_written else [unescape_stop(s) for s in args.stop]
    if stops is not None and not all(stops):
        raise ChatsynthError("a stop sequence must not be empty", field="--stop")
    review, rs = _load_review(args)
    persona = review.persona
    changed = edited = 0
    for it in rs.items:
        if it.edited:
            edited += 1
            print(f"{it.id}  edited   keeps your edit ({len(it.turns)} turns)")
            continue
        new = it.conv if stops is None else retrim(it.conv, stops, persona)
        differs = [t.text for t in new.turns] != [t.text for t in it.turns]
        changed += differs
        tr = new.trim
        where = (f"cut at {tr.stop!r} (character {tr.at:,}, {len(tr.tail):,} trimmed)" if tr.stop
                 else "no stop fires: kept whole")
        v = check(new, persona=persona)
        print(f"{it.id}  {'changes' if differs else 'same':<8} {where}; {len(it.turns)} -> "
              f"{len(new.turns)} turns; " + ("passes every filter" if v.ok else "⚑ " + ", ".join(v.rules)))
    what = "as written" if stops is None else "at " + ", ".join(repr(s) for s in stops)
    print(f"{changed} of {len(rs.items)} conversations change when cut {what}"
          + (f"; {edited} edited ones keep their edit" if edited else ""))
    if not args.apply:
        print("nothing applied (add --apply)")
        return 0
    review.set_retrim(stops)
    after = review.load()
    n_ok = sum(1 for it in after.items if it.verdict.ok)
    print(f"applied to run {rs.run_id}: {n_ok} of {len(after.items)} conversations pass every filter")
    return 0
