"""Where a role-play run's simulated user speaks: the check that the persona has one (its
``user_simulator:`` block), and the simulated user's own endpoint or model when the block names
one (the persona's side keeps the run's endpoint).  Shared by ``chatsynth run`` and the app's
run worker, so both open the same endpoint for the same persona."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from synth.errors import LibraryError

CLI_CHOICE = "--method roleplay"


def check_roleplay(spec: Any, how: str = CLI_CHOICE) -> None:
    """A role-play run needs the persona's ``user_simulator:`` block (file: field named).
    ``how``: the words for where role-play was chosen ("--method roleplay", a form's field)."""
    if getattr(spec, "method", "transcript") == "roleplay" and spec.persona.user_simulator is None:
        raise LibraryError(f"persona {spec.persona.id!r} has no user_simulator: block (the "
                           f"simulated user's prompt), which {how} needs",
                           path=spec.persona.path, field="user_simulator")


def user_side_differs(spec: Any, ep_name: str, ep_model: str | None) -> bool:
    """Does the simulated user speak through another endpoint or model than the run's?"""
    sim = spec.persona.user_simulator
    if getattr(spec, "method", "transcript") != "roleplay" or sim is None:
        return False
    return sim.endpoint not in (None, ep_name) or sim.model not in (None, ep_model)


def open_user_side(stack: ExitStack, cfg: Any, spec: Any, ep: Any,
                   how: str = CLI_CHOICE) -> Any:
    """The endpoint the simulated user speaks through (entered on ``stack``, closed with it),
    or None for the run's own.  Blocking: an embedded model is started here."""
    check_roleplay(spec, how)
    if not user_side_differs(spec, ep.name, ep.model):
        return None
    from synth.generate.endpoints import EndpointSession

    sim = spec.persona.user_simulator
    known = {e.name for e in cfg.endpoints} | {"local"}
    if sim.endpoint is None and ep.name not in known:  # the run's --base-url, another model
        session = EndpointSession(cfg, base_url=ep.base_url, model=sim.model, style=spec.style)
    else:
        name = sim.endpoint or ep.name
        if cfg.endpoint(name).is_embedded and ep.name == name:
            return None  # one embedded model serves both sides
        session = EndpointSession(cfg, name=name, model=sim.model, style=spec.style)
    return stack.enter_context(session)  # both sides speak the run's style
