"""What `chatsynth run --method roleplay` adds outside the engine: the check that the persona
has a simulated user, and the simulated user's own endpoint or model when its ``user_simulator:``
block names one (the persona's side keeps the run's endpoint)."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from synth.errors import LibraryError


def check_roleplay(spec: Any) -> None:
    """A role-play run needs the persona's ``user_simulator:`` block (file: field named)."""
    if spec.method == "roleplay" and spec.persona.user_simulator is None:
        raise LibraryError(f"persona {spec.persona.id!r} has no user_simulator: block (the "
                           "simulated user's prompt), which --method roleplay needs",
                           path=spec.persona.path, field="user_simulator")


def open_user_side(stack: ExitStack, cfg: Any, spec: Any, ep: Any) -> Any:
    """The endpoint the simulated user speaks through, or None for the run's own."""
    check_roleplay(spec)
    sim = spec.persona.user_simulator
    if spec.method != "roleplay" or sim is None or (sim.endpoint is None and sim.model is None):
        return None
    if sim.endpoint in (None, ep.name) and sim.model in (None, ep.model):
        return None
    from synth.generate.endpoints import EndpointSession

    known = {e.name for e in cfg.endpoints} | {"local"}
    if sim.endpoint is None and ep.name not in known:  # the run's --base-url, another model
        session = EndpointSession(cfg, base_url=ep.base_url, model=sim.model, style=spec.style)
    else:
        name = sim.endpoint or ep.name
        if cfg.endpoint(name).is_embedded and ep.name == name:
            return None  # one embedded model serves both sides
        session = EndpointSession(cfg, name=name, model=sim.model, style=spec.style)
    return stack.enter_context(session)  # both sides speak the run's style
