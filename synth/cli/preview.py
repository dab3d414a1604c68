"""`chatsynth preview list --persona eve` and `chatsynth preview move SAMPLE_ID [--run RUN]`: the
Library's preview samples headless (``synth.dataset.preview``): listed newest first with their
persona version, topic and verdicts, and one moved into a run (``synth.dataset.preview_move``)
so Review and export see it."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime

from synth.errors import ChatsynthError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "preview", help="the Library's preview samples: list them, move one into a run",
        description="Samples written in the Library's live preview (F5) are kept apart from the "
        "runs and never exported. List them, or move one into a run so Review and export see it.")
    psub = p.add_subparsers(dest="preview_cmd", metavar="COMMAND", required=True)
    ls = psub.add_parser("list", help="a persona's samples, newest first",
                         description="A persona's samples, newest first: id, persona version "
                         "(short hash), topic, the filters' verdict and the judge's when judged.")
    ls.add_argument("--persona", help="persona id (default: config defaults.persona)")
    ls.add_argument("--json", action="store_true", help="print the samples as JSON")
    ls.set_defaults(func=cmd_list)
    mv = psub.add_parser("move", help="move a sample into a run",
                         description="Move a sample (id or unique prefix) into the persona's run "
                         "of hand-written and kept examples (its playground run), or into --run, "
                         "a run of the same persona. It leaves the preview list.")
    mv.add_argument("sample", help="sample id or a unique prefix of one (`preview list`)")
    mv.add_argument("--run", help="run id, prefix or 'latest' (default: the persona's playground run)")
    mv.add_argument("--persona", help="look for the sample among this persona's only")
    mv.set_defaults(func=cmd_move)


def _area(args: argparse.Namespace):
    from synth.cli.main import workspace_from
    from synth.dataset.preview import PreviewArea, preview_root

    ws = workspace_from(args)
    return ws, PreviewArea(preview_root(ws.root))


def _persona_id(ws, area, name: str | None) -> str:
    from synth.library.personas import find_persona

    name = name or str((ws.config.defaults or {}).get("persona", "eve"))
    if (area.root / name).is_dir():
        return name  # samples of a persona whose file has gone are still listed
    return find_persona(ws, name).id


def _verdict(s) -> str:
    out = "pass" if s.verdict.ok else "flagged: " + ", ".join(sorted({r.rule for r in s.verdict.reasons}))
    j = s.judgement
    if j is not None:
        out += " · judge failed" if j.failed else \
            f" · judge {'pass' if j.passed else 'fail'} {j.score:g}/5"
    if s.conversation.status == "partial":
        out += " · partial"
    return out


def cmd_list(args: argparse.Namespace) -> int:
    ws, area = _area(args)
    pid = _persona_id(ws, area, args.persona)
    samples = area.samples(pid)
    if args.json:
        json.dump([{"id": s.conversation.id, "version": s.version, "topic": s.conversation.topic,
                    "status": s.conversation.status, "created_at": s.conversation.created_at,
                    "verdict": s.verdict.to_dict(),
                    "judge": s.judgement.to_dict() if s.judgement is not None else None}
                   for s in samples], sys.stdout, indent=1, ensure_ascii=False)
        print()
        return 0
    if not samples:
        print(f"no preview samples of {pid} (F5 in the Library's persona editor writes one)")
        return 0
    print(f"{len(samples)} preview sample{'s' if len(samples) != 1 else ''} of {pid}, newest first:")
    for s in samples:
        when = datetime.fromtimestamp(s.conversation.created_at).strftime("%Y-%m-%d %H:%M")
        print(f"  {s.conversation.id}  {s.version[:8]}  {when}  {s.conversation.topic[:50]}  "
              f"{_verdict(s)}")
    return 0


def cmd_move(args: argparse.Namespace) -> int:
    from synth.dataset.preview_move import move_sample
    from synth.dataset.store import Store

    ws, area = _area(args)
    if not args.sample.strip():
        raise ChatsynthError("give a sample id (`chatsynth preview list` lists them)", field="sample")
    pid = _persona_id(ws, area, args.persona) if args.persona else None
    run_id, cid, sample = move_sample(area, Store(ws.runs_dir), args.sample, run=args.run,
                                      persona_id=pid)
    print(f"moved sample {sample.conversation.id} ({sample.conversation.topic[:50]}) into run "
          f"{run_id} as conversation {cid}; `chatsynth review {run_id}` and export see it now")
    return 0
