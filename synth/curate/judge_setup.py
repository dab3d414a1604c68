"""Setting up the LLM judge for a run: which endpoint and model judge (``open_judge``), the
run's persona with its judge block as the file has it now (``current_judge``), a Judge with
its verdict cache in the run's folder (``make_judge``), and the one-line tally of what judging
cost (``tally``).  `chatsynth judge`, `run --judge`, `eval --judge` and the app share them."""

from __future__ import annotations

import dataclasses
from contextlib import ExitStack
from typing import Any


def open_judge(stack: ExitStack, ws: Any, persona: Any, *, endpoint: str | None = None,
               base_url: str | None = None, model: str | None = None,
               key_name: str | None = None, writer: Any = None) -> Any:
    """The judge's Endpoint: ``endpoint``/``base_url``/``model`` (the user's choice), else the
    persona's judge block, else the workspace's defaults.judge_endpoint/judge_model, else the
    writer's endpoint (``writer``) or the default.  The same endpoint as the writer is shared
    (an embedded model is not started twice)."""
    from synth.generate.endpoints import EndpointSession

    cfg = ws.config
    spec = persona.judge
    defaults = cfg.defaults or {}
    name = endpoint or (spec.endpoint if spec else None) or defaults.get("judge_endpoint")
    model = model or (spec.model if spec else None) or defaults.get("judge_model")
    if writer is not None and not base_url and (name is None or name == writer.name):
        return dataclasses.replace(writer, model=model or writer.model, _client=None,
                                   dropped=set(writer.dropped))
    session = EndpointSession(cfg, name=name, base_url=base_url, model=model, style="chat",
                              key_name=key_name)
    return stack.enter_context(session)


def current_judge(ws: Any, persona: Any) -> Any:
    """The run's persona with the judge block of its file as it is now (added after the run)."""
    from synth.errors import ChatsynthError
    from synth.library.personas import find_persona

    try:
        now = find_persona(ws, persona.id)
    except ChatsynthError:
        return persona
    if now.judge is not None:
        persona.judge = now.judge
    return persona


def make_judge(ws: Any, store: Any, run_id: str, persona: Any, ep: Any, concurrency: int) -> Any:
    """A Judge on ``ep`` with the persona's rubric, its verdicts cached in the run's folder."""
    from synth.curate.judge import rubric_for
    from synth.curate.judging import CACHE_NAME, Judge, JudgeCache
    from synth.pricing import cost_fn

    rubric = rubric_for(persona)
    cache = JudgeCache(store.run_dir(run_id) / CACHE_NAME)
    return Judge(ep, persona, rubric, cache=cache, cost_fn=cost_fn(ws.config.prices or None),
                 concurrency=concurrency)


def tally(judge: Any) -> str:
    """What judging did and cost, in one line: "judged 12, 3 cached: 1,234 + 56 tokens, $0.0012"."""
    cost = "cost ?" if judge.cost is None else f"${judge.cost:.4f}"
    failed = f", {judge.failed} failed" if judge.failed else ""
    cached = f", {judge.cached} cached" if judge.cached else ""
    return (f"judged {judge.judged}{cached}{failed}: {judge.prompt_tokens:,} + "
            f"{judge.completion_tokens:,} tokens, {cost}")
