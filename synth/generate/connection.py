"""Test an endpoint's connection the way the Settings screen's Test and `chatsynth endpoint
test` do: the embedded model is installed, a key is there where one is named, the server answers
with its list of models.  One line back, or a ChatsynthError that says why."""

from __future__ import annotations

from synth.errors import ChatsynthError


def test_connection(ws, name: str) -> str:
    """Reach the endpoint and list its models (blocking).  Raises ChatsynthError with why."""
    from synth.generate import local
    from synth.library import secrets
    from synth.generate.endpoints import NO_KEY, EndpointError, list_models

    cfg = ws.config.endpoint(name)
    if cfg.is_embedded:
        ok, why = local.available()
        if not ok:
            raise ChatsynthError(why, field=name)
        return f"{name}: the small offline demo model is installed and starts on first use"
    key = secrets.get_key(cfg.key_name)
    if cfg.key_name and key.value is None:
        raise ChatsynthError(f"no API key: {secrets.how_to_store(cfg.key_name)}", field=name)
    try:
        models = list_models(str(cfg.base_url), key.value or NO_KEY, timeout=10.0)
    except EndpointError as err:
        raise ChatsynthError(f"{cfg.base_url}: {err.message}", field=name) from None
    except Exception as exc:  # noqa: BLE001 - connection problems, shown as one line
        raise ChatsynthError(f"can't reach {cfg.base_url} ({type(exc).__name__})", field=name) from None
    have = f"{len(models)} model{'' if len(models) == 1 else 's'}" + (f", e.g. {', '.join(models[:3])}" if models else "")
    note = ""
    if cfg.default_model and models and cfg.default_model not in models:
        note = f"; note: default model {cfg.default_model!r} is not in its list"
    return f"{name}: connected, {have}{note}"
