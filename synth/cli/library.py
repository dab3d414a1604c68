"""`chatsynth init`, `personas`, `topics`, `check`: the workspace and its library."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from synth.errors import ChatsynthError, LibraryError, every
from synth.library.personas import find_persona, load_personas
from synth.library.topics import find_topics, load_topic_sources
from synth.library.workspace import init_workspace
from synth.wording import plural


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init", help="create a workspace with the example personas and topics")
    p.add_argument("dir", nargs="?", type=Path, default=Path("."), help="folder (default: here)")
    p.add_argument("--no-examples", action="store_true", help="leave personas/ and topics/ empty")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("personas", help="list the workspace's personas; create, copy, rename or "
                                        "delete one")
    p.add_argument("name", nargs="?", help="show one persona in full (or the one to change)")
    act = p.add_mutually_exclusive_group()
    act.add_argument("--new", action="store_true", help="create NAME from a template")
    act.add_argument("--copy-to", metavar="NEW", help="copy NAME's file (comments and all) to NEW")
    act.add_argument("--rename-to", metavar="NEW", help="rename NAME's file to NEW")
    act.add_argument("--delete", action="store_true", help="delete NAME's file (with --yes)")
    act.add_argument("--set", dest="set_fields", metavar="KEY=VALUE", action="append",
                     help="set a field in NAME's file, e.g. temperature=0.7 or "
                          "'stop=[\"END\", \"USER:\"]' (repeatable; checked like the file; "
                          "comments kept)")
    p.add_argument("--yes", action="store_true", help="confirm --delete")
    p.set_defaults(func=cmd_personas)

    p = sub.add_parser("topics", help="list topic sources with their counts; create a list, add, "
                                      "import, remove or rename topics, delete a list")
    p.add_argument("name", nargs="?", help="list the topics of one source (or the one to change)")
    act = p.add_mutually_exclusive_group()
    act.add_argument("--new", action="store_true", help="create the YAML list NAME (empty)")
    act.add_argument("--add", metavar="TOPIC", action="append", help="add a topic (repeatable)")
    act.add_argument("--import", dest="import_file", metavar="FILE", type=Path,
                     help="add the topics of a text file (one a line; # comments skipped; "
                          "ones already there skipped)")
    act.add_argument("--remove", metavar="TOPIC", help="remove a topic (comments kept)")
    act.add_argument("--rename", nargs=2, metavar=("OLD", "NEW"),
                     help="reword a topic in place (comments kept)")
    act.add_argument("--delete", action="store_true", help="delete the list's file (with --yes)")
    act.add_argument("--brainstorm", metavar="N", type=int,
                     help="ask the model for N new topics for the list's persona (shown; added "
                          "with --yes, or written to --out FILE)")
    act.add_argument("--expand", nargs=2, metavar=("TOPIC", "N"),
                     help="ask the model for N narrower subtopics of TOPIC (recorded as its "
                          "subtopics)")
    p.add_argument("--yes", action="store_true", help="confirm --delete; add what --brainstorm "
                                                      "or --expand found")
    from synth.cli.brainstorm import add_brainstorm_flags
    add_brainstorm_flags(p)
    p.set_defaults(func=cmd_topics)

    p = sub.add_parser("check", help="validate every persona, topic source and the config")
    p.set_defaults(func=cmd_check)


def _ws(args):
    from synth.cli.main import workspace_from

    return workspace_from(args)


def cmd_init(args: argparse.Namespace) -> int:
    ws, created = init_workspace(args.dir, examples=not args.no_examples)
    print(f"workspace: {ws.root}")
    for path in created:
        print(f"  created {path.relative_to(ws.root)}")
    if not created:
        print("  (everything was already there; nothing was overwritten)")
    print(f"next: cd {ws.root} && chatsynth personas")
    return 0


def _needs_name(args: argparse.Namespace, what: str) -> None:
    changing = any(getattr(args, k, None) for k in ("new", "copy_to", "rename_to", "delete", "add",
                                                     "import_file", "set_fields", "remove",
                                                     "rename", "brainstorm", "expand"))
    if changing and not args.name:
        raise LibraryError(f"name the {what} to change, e.g. `chatsynth {args.command} NAME ...`",
                           field="name")
    if getattr(args, "brainstorm", None) is not None and not args.name:
        raise LibraryError(f"name the {what} to brainstorm for, e.g. `chatsynth topics NAME "
                           "--brainstorm 10`", field="name")
    if getattr(args, "delete", False) and not args.yes:
        raise LibraryError("--delete removes the file; add --yes to confirm", field="delete")


def _persona_change(ws, args: argparse.Namespace) -> bool:
    from synth.library import files as library_files
    if args.new:
        p = library_files.new_persona(ws.personas_dir, args.name)
        print(f"created {p.path}; edit it, then `chatsynth check`")
    elif args.copy_to:
        p = library_files.duplicate_persona(find_persona(ws, args.name), args.copy_to)
        print(f"copied {args.name} to {p.path}")
    elif args.rename_to:
        p = library_files.rename_persona(find_persona(ws, args.name), args.rename_to)
        print(f"renamed {args.name} to {p.path}")
    elif args.delete:
        p = find_persona(ws, args.name)
        library_files.delete_persona(p)
        print(f"deleted {p.path}")
    elif args.set_fields:
        from synth.library.edit import parse_assignment, set_persona_fields

        p = set_persona_fields(find_persona(ws, args.name), args.set_fields)
        keys = ", ".join(dict.fromkeys(parse_assignment(a)[0] for a in args.set_fields))
        print(f"set {keys} in {p.path}")
    else:
        return False
    return True


def cmd_personas(args: argparse.Namespace) -> int:
    ws = _ws(args)
    _needs_name(args, "persona")
    if _persona_change(ws, args):
        return 0
    if args.name:
        p = find_persona(ws, args.name)
        print(f"{p.name} ({p.id}) - {p.path}")
        if p.description:
            print(f"  {p.description}")
        print(f"  labels: {p.user_label} / {p.persona_label}   style: {p.style}   "
              f"temperature: {p.temperature}   max_tokens: {p.max_tokens}")
        if p.sampling():
            print("  sampling: " + "   ".join(f"{k}: {v:g}" for k, v in p.sampling().items()))
        if p.examples or p.example_refs:
            refs = f", by id: {', '.join(p.example_refs)}" if p.example_refs else ""
            print(f"  examples: {len(p.examples) + len(p.example_refs)} ({p.examples_per_prompt} "
                  f"a prompt{refs})")
        if p.user_simulator or p.method != "transcript":
            sim = p.user_simulator
            print(f"  method: {p.method}" + (f"   user simulator: {sim.min_turns} to "
                  f"{sim.max_turns} turns, ends on {sim.end_marker}, {len(sim.briefs)} briefs"
                                           if sim else ""))
        print(f"  stop: {', '.join(repr(s) for s in p.stop) or '(none)'}")
        print("  rules: " + ", ".join(r.name for r in p.rules.patterns) if p.rules.patterns else "  rules: defaults")
        print("  system prompt:")
        print("    " + p.system_prompt.replace("\n", "\n    "))
        print("  synthesis prompt:")
        print("    " + p.synthesis_prompt.rstrip().replace("\n", "\n    "))
        return 0
    personas, errors = load_personas(ws)
    print(f"personas in {ws.personas_dir}:")
    width = max((len(p.id) for p in personas), default=4)
    for p in personas:
        same = [o.id for o in personas if o is not p and o.name.casefold() == p.name.casefold()]
        note = f"  (same name as {', '.join(same)}: choose it as {p.id})" if same else ""
        print(f"  {p.id:<{width}}  {p.name:<10} {p.style:<10} {p.description}{note}")
    if not personas and not errors:
        print("  (none; `chatsynth init` adds the examples)")
    for err in errors:
        print(f"chatsynth: error: {err}", file=sys.stderr)
    return 2 if errors else 0


def _topics_change(ws, args: argparse.Namespace) -> bool:
    from synth.library import files as library_files
    if args.new:
        src = library_files.new_topic_source(ws.topics_dir, args.name)
        print(f"created {src.path} with no topics yet; add them with --add or --import")
        return True
    if not (args.add or args.import_file or args.delete or args.remove or args.rename):
        return False
    src = find_topics(ws, args.name)
    if args.delete:
        library_files.delete_topic_source(src)
        print(f"deleted {src.path}")
        return True
    if args.remove or args.rename:
        from synth.library import edit as library_edit
        if args.remove:
            saved = library_edit.remove_topic(src, args.remove)
            print(f"removed {args.remove!r} from {src.path} (now {len(saved.topics)})")
        else:
            library_edit.rename_topic(src, *args.rename)
            print(f"renamed {args.rename[0]!r} to {' '.join(args.rename[1].split())!r} in {src.path}")
        return True
    if src.kind == "folder":
        raise LibraryError("a folder of documents gets a new file per context, not topics",
                           path=src.path)
    new = args.add or library_files.read_topic_lines(args.import_file)
    fresh = library_files.new_topics([t.text for t in src.topics], new)
    skipped = len(new) - len(fresh)
    if args.add and skipped:
        raise LibraryError("empty, or already in the list (nothing was added)", path=src.path,
                           field="topics")
    saved = library_files.save_topics(src, [t.text for t in src.topics] + fresh)
    print(f"added {len(fresh)} topic{'' if len(fresh) == 1 else 's'} to {src.path} "
          f"(now {len(saved.topics)})"
          + (f"; {skipped} already there" if skipped else ""))
    return True


def cmd_topics(args: argparse.Namespace) -> int:
    ws = _ws(args)
    _needs_name(args, "topic source")
    if args.brainstorm is not None or args.expand:
        from synth.cli.brainstorm import cmd_brainstorm
        return cmd_brainstorm(ws, args)
    if _topics_change(ws, args):
        return 0
    if args.name:
        src = find_topics(ws, args.name)
        if not src.topics:
            print(f"no topics yet in {src.path}; add them with `chatsynth topics {src.id} --add "
                  "TOPIC` or --import FILE")
        for i, t in enumerate(src.topics, 1):
            extra = f"  ({len(t.context)} characters)" if t.context else ""
            print(f"{i:4}  {t.text}{extra}")
        return 0
    sources, errors = load_topic_sources(ws)
    print(f"topic sources in {ws.topics_dir}:")
    width = max((len(s.id) for s in sources), default=4)
    for s in sources:
        what = "documents" if s.kind == "folder" else "topics"
        for_ = f"  for {s.persona}" if s.persona else ""
        count = f"{len(s.topics):5} {what:<9}" if s.topics else f"{'no topics yet':<15}"
        print(f"  {s.id:<{width}}  {count} ({s.kind}){for_}")
    if not sources and not errors:
        print("  (none; `chatsynth init` adds the examples)")
    for err in errors:
        print(f"chatsynth: error: {err}", file=sys.stderr)
    return 2 if errors else 0


def cmd_check(args: argparse.Namespace) -> int:
    ws = _ws(args)
    problems: list[ChatsynthError] = []
    try:
        ws.config
    except ChatsynthError as err:
        problems += every(err)
    personas, perr = load_personas(ws)
    sources, serr = load_topic_sources(ws)
    if any(p.example_refs for p in personas):
        from synth.dataset.example_refs import resolve_examples
        from synth.dataset.store import Store

        store = Store(ws.runs_dir)
        for p in personas:
            try:
                resolve_examples(store, p)  # examples given by id: does each still exist?
            except ChatsynthError as err:
                perr.append(err)
    for err in perr + serr:
        problems += every(err)
    for err in problems:
        print(f"chatsynth: error: {err}", file=sys.stderr)
    print(f"{plural(len(personas), 'persona')}, {plural(len(sources), 'topic source')}, "
          f"{plural(len(problems), 'problem')}")
    return 2 if problems else 0
