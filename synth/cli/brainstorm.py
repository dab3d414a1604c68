"""`chatsynth topics NAME --brainstorm N` and `--expand TOPIC N`: ask the model for new topics
(or narrower subtopics of one), show the estimate before the request, print what is new and
distinct, and add it with --yes (comments kept) or write it to --out FILE.  The topic file is
unchanged unless --yes adds something."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from synth.errors import ChatsynthError, LibraryError


class EndpointStopped(ChatsynthError):
    exit_code = 3  # as `chatsynth run`: stopped by the endpoint


def add_brainstorm_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("brainstorming (--brainstorm / --expand)")
    g.add_argument("--about", metavar="TEXT", help="what the new topics should be about")
    g.add_argument("--persona", help="the persona the list is for (default: the list's "
                                     "persona: field, else the persona of the same name)")
    g.add_argument("--endpoint", help="endpoint name from chatsynth.yaml ('local': the embedded "
                                      "model)")
    g.add_argument("--base-url", help="any OpenAI-compatible URL instead of a named endpoint")
    g.add_argument("--model", help="model id (default: the endpoint's default_model)")
    g.add_argument("--style", choices=["chat", "completion"],
                   help="API style (default: the endpoint's): chat asks for a JSON list, "
                        "completion continues a numbered list")
    g.add_argument("--out", type=Path, metavar="FILE",
                   help="write the new topics to FILE (one a line) instead of the list")


def _count(raw: str | int, flag: str) -> int:
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise LibraryError(f"expected a whole number of topics, got {raw!r}", field=flag) from None


def cmd_brainstorm(ws, args: argparse.Namespace) -> int:
    from synth.curate import topic_ideas
    from synth.generate import brainstorm
    from synth.generate.endpoints import EndpointError, EndpointSession
    from synth.library.edit import add_topics
    from synth.library.topics import find_topics

    parent = None
    if args.expand:
        parent, n = args.expand[0], _count(args.expand[1], "--expand")
        brainstorm.check_n(n, "--expand")
    else:
        n = brainstorm.check_n(args.brainstorm)
    if args.out is not None and args.out.exists():
        raise LibraryError("already exists; choose a new file for --out", path=args.out,
                           field="--out")
    source = find_topics(ws, args.name)
    persona = topic_ideas.persona_for(ws, source, args.persona)
    topic_ideas.prepare(source, persona, n, style="chat", parent=parent)  # refuse early
    cfg = ws.config
    session = EndpointSession(cfg, name=args.endpoint, base_url=args.base_url, model=args.model,
                              style=args.style, persona_style=persona.style)
    if not args.base_url and cfg.endpoint(args.endpoint).is_embedded:
        print("starting the embedded small offline demo model (Gemma 3 270M)...",
              file=sys.stderr, flush=True)
    with session as ep:
        req = topic_ideas.prepare(source, persona, n, style=ep.style, about=args.about,
                                  parent=parent)
        est = brainstorm.estimate(req, ep.model, free=ep.free, overrides=cfg.prices or None)
        print(est.line(), flush=True)
        try:
            ideas = topic_ideas.propose(source, req, ep, estimate=est)
        except EndpointError as err:
            raise EndpointStopped(f"{ep.label or ep.base_url}: {err.message}",
                                  field="endpoint") from None
    print(ideas.summary() + ":")
    for i, t in enumerate(ideas.topics, 1):
        print(f"{i:4}  {t}")
    for text, why in ideas.dropped:
        print(f"  left out: {text!r}: {why}")
    if args.out is not None:
        from synth.library.yamlio import atomic_write_text
        atomic_write_text(args.out, "".join(f"{t}\n" for t in ideas.topics))
        print(f"wrote {len(ideas.topics)} to {args.out}; {source.path} is unchanged")
    elif args.yes:
        saved = add_topics(source, ideas.topics, parent=ideas.parent)
        print(f"added {len(ideas.topics)} to {source.path} (now {len(saved.topics)})")
    else:
        print("nothing added; add them with --yes, or write them to a file with --out FILE")
    return 0
