"""`chatsynth endpoint list|add|edit|remove|default|test`: the app's Settings screen, headless.

Endpoints are edited in chatsynth.yaml in place (comments kept); a change is written only if
the whole config is still valid.  Keys are never taken here: an endpoint names its key, and
`chatsynth key set NAME` stores it.
"""

from __future__ import annotations

import argparse
import sys

from synth.generate import connection

from synth.library import settings
from synth.errors import ChatsynthError, WorkspaceError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("endpoint", help="list, add, edit or test endpoints; pick the default")
    es = p.add_subparsers(dest="endpoint_command", metavar="ACTION")
    es.required = True
    s = es.add_parser("list", help="every endpoint, its model, style and where its key comes from")
    s.set_defaults(func=cmd_list)
    for action, helptext in (("add", "add an OpenAI-compatible endpoint"),
                             ("edit", "change an endpoint (only the options given)")):
        s = es.add_parser(action, help=helptext)
        s.add_argument("name", help="a one-word name, e.g. openai, vllm, ollama")
        if action == "edit":
            s.add_argument("--rename", metavar="NEW", help="give the endpoint a new name")
        s.add_argument("--base-url", required=action == "add", help="e.g. http://localhost:8000/v1")
        s.add_argument("--model", dest="default_model", help="the model used unless a run names one")
        s.add_argument("--style", choices=("chat", "completion"),
                       help="chat completions (chat models) or text completions (base models)")
        s.add_argument("--key-name", help="keyring entry / environment variable holding its key "
                                          "(store it with `chatsynth key set NAME`)")
        s.add_argument("--max-stop", type=int, help="how many stop sequences it accepts (OpenAI: 4)")
        s.add_argument("--batch", action=argparse.BooleanOptionalAction, default=None,
                       help="it takes batch jobs (Files + Batches APIs, about half the price): "
                            "the app's Synthesize screen then offers 'as a batch job'")
        s.add_argument("--default", action="store_true", help="also make it the default endpoint")
        s.set_defaults(func=cmd_save, action=action)
    s = es.add_parser("remove", help="take an endpoint out of chatsynth.yaml (with --yes)")
    s.add_argument("name")
    s.add_argument("--yes", action="store_true", help="confirm the removal")
    s.add_argument("--default", metavar="OTHER",
                   help="the endpoint that becomes the default (needed to remove the default)")
    s.set_defaults(func=cmd_remove)
    s = es.add_parser("default", help="make an endpoint the default")
    s.add_argument("name")
    s.set_defaults(func=cmd_default)
    s = es.add_parser("test", help="reach an endpoint and list its models")
    s.add_argument("name", nargs="?", help="default: the default endpoint")
    s.set_defaults(func=cmd_test)


def _ws(args):
    from synth.cli.main import workspace_from

    return workspace_from(args)


def cmd_list(args: argparse.Namespace) -> int:
    ws = _ws(args)
    cfg = ws.config
    names = [e.name for e in cfg.endpoints]
    eps = list(cfg.endpoints)
    if "local" not in names:
        eps.insert(0, cfg.endpoint("local"))
    for ep in eps:
        mark = "*" if ep.name == cfg.default_endpoint else " "
        where = "embedded demo model" if ep.is_embedded else (ep.base_url or "?")
        model = ep.default_model or ("gemma-3-270m" if ep.is_embedded else "(no default model)")
        print(f"{mark} {ep.name:<14} {ep.style:<11} {model:<24} {where}"
              + ("  (batch jobs)" if ep.batch else ""))
        if not ep.is_embedded:
            print(f"  {'':<14} key: {settings.key_status(ep.key_name)}")
    print("(* = the default endpoint)")
    return 0


def cmd_save(args: argparse.Namespace) -> int:
    ws = _ws(args)
    known = {e.name for e in ws.config.endpoints}
    if args.action == "edit" and args.name not in known:
        raise WorkspaceError(f"no endpoint named {args.name!r} in chatsynth.yaml "
                             f"(configured: {', '.join(sorted(known)) or 'none'})", field="name")
    values = {"name": getattr(args, "rename", None) or args.name}
    for key in ("base_url", "default_model", "style", "key_name", "max_stop", "batch"):
        value = getattr(args, key)
        if value is not None:
            values[key] = value
    old = args.name if args.action == "edit" else None
    settings.save_endpoint(ws, old, values)
    name = values["name"]
    if args.default:
        settings.set_default_endpoint(ws, name)
    verb = "added" if old is None else "saved"
    print(f"{verb} endpoint {name} in {ws.config_path}"
          + (" (now the default)" if ws.config.default_endpoint == name else ""))
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    ws = _ws(args)
    if not args.yes:
        raise WorkspaceError(f"this removes {args.name} from chatsynth.yaml; add --yes to confirm",
                             field="remove")
    settings.remove_endpoint(ws, args.name, args.default)
    print(f"removed endpoint {args.name} from {ws.config_path}"
          + (f"; the default is now {args.default}" if args.default else ""))
    return 0


def cmd_default(args: argparse.Namespace) -> int:
    ws = _ws(args)
    ws.config.endpoint(args.name)  # a clear error for an unknown name
    settings.set_default_endpoint(ws, args.name)
    print(f"default endpoint: {args.name}")
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    ws = _ws(args)
    name = args.name or ws.config.default_endpoint
    ws.config.endpoint(name)  # an unknown name is bad input (exit 2)
    from synth.cli.main import EXIT_STOPPED

    try:
        print(connection.test_connection(ws, name))
    except ChatsynthError as err:  # unreachable, refused, no key: the endpoint's answer
        print(f"chatsynth: error: {err}", file=sys.stderr)
        return EXIT_STOPPED
    return 0
