"""API keys: lookup order explicit > system keyring > environment variable.

Keys live in the system keyring under the service ``chatsynth`` and the endpoint's
``key_name`` (e.g. ``OPENAI_API_KEY``); the environment variable of the same name is the
fallback.  Without any keyring backend (a headless box) everything still works from the
environment, and the messages say how to store a key.  A key is never logged or printed:
``mask`` is the only form that reaches a screen.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from synth.errors import ChatsynthError

SERVICE = "chatsynth"
INDEX = "__chatsynth_key_names__"  # a keyring entry listing the names stored (never values)


class SecretsError(ChatsynthError):
    pass


@dataclass
class KeyLookup:
    name: str
    value: str | None  # never print this
    source: str  # "explicit", "keyring", "env", or "missing"
    note: str = ""  # e.g. why the keyring was not used

    def __repr__(self) -> str:  # keep the value out of any log or traceback
        return f"KeyLookup(name={self.name!r}, source={self.source!r}, value={mask(self.value)!r})"


def _keyring():
    """The keyring module with a usable backend, or (None, why-not)."""
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return None, "the keyring package is not installed"
    try:
        backend = keyring.get_keyring()
    except Exception as exc:  # noqa: BLE001 - a broken backend config is "no keyring"
        return None, f"no keyring backend ({type(exc).__name__})"
    if isinstance(backend, fail.Keyring) or getattr(backend, "priority", 1) <= 0:
        return None, "no system keyring is available on this machine"
    return keyring, ""


def keyring_available() -> tuple[bool, str]:
    kr, why = _keyring()
    return kr is not None, why


def how_to_store(name: str) -> str:
    ok, why = keyring_available()
    if ok:
        return f"store it with `chatsynth key set {name}` or set the environment variable {name}"
    return (f"set the environment variable {name} ({why}; to use a keyring, install and unlock "
            f"one, e.g. gnome-keyring, then run `chatsynth key set {name}`)")


def get_key(name: str | None, explicit: str | None = None) -> KeyLookup:
    """Find the key for ``name``: an explicit value, then the keyring, then ``$name``."""
    if explicit:
        return KeyLookup(name or "", explicit, "explicit")
    if not name:
        return KeyLookup("", None, "missing", "this endpoint has no key_name")
    note = ""
    kr, why = _keyring()
    if kr is not None:
        try:
            val = kr.get_password(SERVICE, name)
        except Exception as exc:  # noqa: BLE001 - locked / unreachable keyring: fall back
            val = None
            note = f"keyring not readable ({type(exc).__name__})"
        if val:
            return KeyLookup(name, val, "keyring")
    else:
        note = why
    env = os.environ.get(name)
    if env:
        return KeyLookup(name, env, "env", note)
    return KeyLookup(name, None, "missing", note)


def set_key(name: str, value: str) -> None:
    _check_name(name)
    if not value or not value.strip():
        raise SecretsError("the key is empty; nothing was stored", field=name)
    kr, why = _keyring()
    if kr is None:
        raise SecretsError(f"can't store the key: {why}. Set the environment variable {name} "
                           "instead", field=name)
    try:
        kr.set_password(SERVICE, name, value.strip())
        names = _index(kr)
        if name not in names:
            kr.set_password(SERVICE, INDEX, json.dumps(sorted(names | {name})))
    except Exception as exc:  # noqa: BLE001 - the backend's message never holds the value
        raise SecretsError(f"the keyring refused to store it ({type(exc).__name__}: {exc})",
                           field=name) from None


def delete_key(name: str) -> bool:
    """Remove a stored key.  False when there was none."""
    _check_name(name)
    kr, why = _keyring()
    if kr is None:
        raise SecretsError(f"no keyring to delete from: {why}", field=name)
    from keyring.errors import PasswordDeleteError

    try:
        kr.delete_password(SERVICE, name)
        existed = True
    except PasswordDeleteError:
        existed = False
    except Exception as exc:  # noqa: BLE001
        raise SecretsError(f"the keyring refused ({type(exc).__name__}: {exc})", field=name) from None
    names = _index(kr)
    if name in names:
        kr.set_password(SERVICE, INDEX, json.dumps(sorted(names - {name})))
    return existed


def stored_names() -> set[str]:
    kr, _ = _keyring()
    return _index(kr) if kr is not None else set()


def _index(kr) -> set[str]:
    try:
        raw = kr.get_password(SERVICE, INDEX)
        names = json.loads(raw) if raw else []
        return {n for n in names if isinstance(n, str)}
    except Exception:  # noqa: BLE001 - a damaged index only hides names from `key list`
        return set()


def _check_name(name: str) -> None:
    if not name or name == INDEX or any(c.isspace() for c in name):
        raise SecretsError("a key name is one word, e.g. OPENAI_API_KEY", field="name")


def mask(value: str | None) -> str:
    """What may be shown of a key: its length class and last 4 characters, nothing else."""
    if not value:
        return "(none)"
    if len(value) < 12:
        return "****"
    return "****" + value[-4:]
