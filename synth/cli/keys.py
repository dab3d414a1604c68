"""`chatsynth key set|list|delete`: API keys in the system keyring (never printed)."""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from synth.library import secrets
def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("key", help="store, list or delete API keys in the system keyring")
    ks = p.add_subparsers(dest="key_command", metavar="ACTION")
    ks.required = True
    s = ks.add_parser("set", help="store a key (read from the terminal, or from stdin when piped)")
    s.add_argument("name", help="key name, e.g. OPENAI_API_KEY (an endpoint's key_name)")
    s.set_defaults(func=cmd_set)
    s = ks.add_parser("list", help="key names and where each is found (values masked)")
    s.set_defaults(func=cmd_list)
    s = ks.add_parser("delete", help="remove a stored key")
    s.add_argument("name")
    s.set_defaults(func=cmd_delete)


def _read_secret(name: str) -> str:
    if sys.stdin.isatty():
        return getpass.getpass(f"{name}: ")
    return sys.stdin.readline().strip()


def cmd_set(args: argparse.Namespace) -> int:
    ok, why = secrets.keyring_available()
    if not ok:
        raise secrets.SecretsError(f"can't store keys here: {why}. Set the environment variable "
                                   f"{args.name} instead", field="key")
    value = _read_secret(args.name)
    secrets.set_key(args.name, value)
    print(f"stored {args.name} in the system keyring ({secrets.mask(value)})")
    return 0


def _known_names(args: argparse.Namespace) -> list[str]:
    names = set(secrets.stored_names())
    try:
        from synth.cli.main import workspace_from

        ws = workspace_from(args)
        names |= {e.key_name for e in ws.config.endpoints if e.key_name}
    except Exception:  # noqa: BLE001 - listing keys must work without a valid workspace
        pass
    return sorted(names)


def cmd_list(args: argparse.Namespace) -> int:
    ok, why = secrets.keyring_available()
    if not ok:
        print(f"(no keyring: {why}; keys come from environment variables only)")
    names = _known_names(args)
    if not names:
        print("no keys known; store one with `chatsynth key set NAME`")
        return 0
    for name in names:
        look = secrets.get_key(name)
        where = {"keyring": "keyring", "env": "environment", "missing": "not set"}[look.source]
        extra = " (environment variable also set)" if look.source == "keyring" and os.environ.get(name) else ""
        print(f"{name:<28} {where:<12} {secrets.mask(look.value)}{extra}")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    existed = secrets.delete_key(args.name)
    print(f"deleted {args.name} from the keyring" if existed else f"{args.name} was not in the keyring")
    return 0 if existed else 1
