"""Workspace settings, for the app's Settings screen and `chatsynth endpoint`: endpoints in
chatsynth.yaml (edited in place, comments kept, written only if the result is a valid config),
connection tests, and where each API key comes from (masked; keys themselves live in the
keyring or the environment, never in a file or a log)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from synth import checks
from synth.errors import ChatsynthError, WorkspaceError
from synth.library.workspace import DEFAULT_CONFIG, parse_config
from synth.library.yamlio import atomic_write_text, dump_yaml, parse_yaml_document, read_text

EDITABLE = ("name", "base_url", "default_model", "style", "key_name", "max_stop", "batch")


def _doc(ws) -> Any:
    path = ws.config_path
    text = read_text(path) if path.exists() else DEFAULT_CONFIG
    doc = parse_yaml_document(text, path)
    if not isinstance(doc, dict):
        raise WorkspaceError("the config is not a mapping", path=path, line=1)
    return doc


def _write_checked(ws, doc: Any) -> None:
    """Write the config only if it parses as a valid config (checked on a scratch copy)."""
    text = dump_yaml(doc)
    fd, tmp = tempfile.mkstemp(prefix=".chatsynth-", suffix=".yaml", dir=str(ws.root))
    os.close(fd)
    try:
        Path(tmp).write_text(text, encoding="utf-8")
        try:
            parse_config(Path(tmp))
        except ChatsynthError as err:
            raise WorkspaceError(f"not saved: {err.message}", path=ws.config_path,
                                 field=err.field) from None
    finally:
        Path(tmp).unlink(missing_ok=True)
    atomic_write_text(ws.config_path, text, mode=0o600)
    ws.reload()


def save_endpoint(ws, old_name: str | None, values: dict[str, Any]) -> None:
    """Add an endpoint, or change the one named ``old_name``; only EDITABLE keys are touched."""
    from ruamel.yaml.comments import CommentedMap

    name = checks.name(str(values.get("name") or ""), error=WorkspaceError)
    if values.get("base_url"):
        checks.base_url(values["base_url"], error=WorkspaceError)
    doc = _doc(ws)
    eps = doc.get("endpoints")
    if eps is None:
        from ruamel.yaml.comments import CommentedSeq

        eps = doc["endpoints"] = CommentedSeq()
    names = [str(e.get("name")) for e in eps if isinstance(e, dict)]
    if name != old_name and name in names:
        raise WorkspaceError(f"an endpoint named {name!r} already exists", field="name")
    entry = None
    if old_name is not None:
        entry = next((e for e in eps if isinstance(e, dict) and e.get("name") == old_name), None)
    if entry is None:
        entry = CommentedMap()
        eps.append(entry)
    for key in EDITABLE:
        if key not in values:
            continue  # not part of this edit: left as written
        val = values.get(key)
        if isinstance(val, str):
            val = val.strip()
        if val in (None, "") or (key == "batch" and val is False):  # batch: false is the default
            if key in entry and key != "name":
                del entry[key]
            continue
        entry[key] = val
    if entry.get("kind") == "embedded":
        entry.pop("base_url", None)
    if old_name is not None and old_name != name and doc.get("default_endpoint") == old_name:
        doc["default_endpoint"] = name
    _write_checked(ws, doc)


def remove_endpoint(ws, name: str, new_default: str | None = None) -> None:
    """Take an endpoint out of chatsynth.yaml.  The default endpoint is removed only when
    ``new_default`` names another one, which becomes the default."""
    doc = _doc(ws)
    eps = doc.get("endpoints") or []
    entry = next((e for e in eps if isinstance(e, dict) and e.get("name") == name), None)
    if entry is None:
        known = ", ".join(str(e.get("name")) for e in eps if isinstance(e, dict)) or "none"
        raise WorkspaceError(f"no endpoint named {name!r} in chatsynth.yaml (configured: {known})",
                             field="name")
    current = str(doc.get("default_endpoint") or "local")
    if new_default is not None:
        if new_default == name:
            raise WorkspaceError("the new default must be another endpoint", field="default")
        ws.config.endpoint(new_default)  # a clear error for an unknown name
    elif current == name:
        others = [str(e.get("name")) for e in eps if isinstance(e, dict) and e is not entry]
        other = next(iter(others), "local" if name != "local" else None)
        raise WorkspaceError(f"{name} is the default endpoint: name another to become the default"
                             + (f" (e.g. --default {other})" if other else ""), field="default")
    eps.remove(entry)
    if new_default is not None:
        doc["default_endpoint"] = new_default
    _write_checked(ws, doc)


def set_default_endpoint(ws, name: str) -> None:
    doc = _doc(ws)
    doc["default_endpoint"] = name
    _write_checked(ws, doc)


def key_status(name: str | None) -> str:
    """Where the key for ``name`` comes from, masked: never the key itself."""
    from synth.library import secrets
    if not name:
        return "this endpoint needs no key"
    k = secrets.get_key(name)
    if k.source == "keyring":
        return f"{name}: stored in the system keyring ({secrets.mask(k.value)})"
    if k.source == "env":
        return f"{name}: from the environment variable ({secrets.mask(k.value)})"
    return f"{name}: not set. {secrets.how_to_store(name)}"


def keyring_note() -> str:
    from synth.library import secrets
    ok, why = secrets.keyring_available()
    if ok:
        return "Keys are kept in your system keyring, never in chatsynth.yaml or a log."
    return (f"No keyring here ({why}): set the key in the environment variable named by the "
            "endpoint's key name instead, e.g. export OPENAI_API_KEY=… before starting chatsynth.")
