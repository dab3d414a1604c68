"""One finished answer -> a stored Conversation: stop trimming, turn parsing, usage and cost.

The streaming engine (``engine_conv``) and a batch job's collect (``batch_collect``) both build
their conversations here, so an answer gets the same record whichever way it was written.
"""

from __future__ import annotations

import time
from typing import Callable, Sequence

from synth.generate import transcript
from synth.generate.endpoints import estimate_tokens
from synth.generate.prompts import Prompt
from synth.models import Conversation, RunSpec, Usage, WorkItem


def build_conversation(*, run_id: str, spec: RunSpec, item: WorkItem, prompt: Prompt, raw: str,
                       model: str, request_stop: list[str], stops: Sequence[str],
                       speakers: transcript.Speakers, status: str, finish: str | None,
                       usage: Usage | None, attempts: int, duration_s: float,
                       price: Callable[[int, int], float | None],
                       extra_params: dict | None = None) -> Conversation:
    """The record of one answer (``raw``: the model's text, cut at a stop or not);
    ``extra_params``: what else the request carried (sampling values, examples shown)."""
    turns, trim, _ = transcript.transcript_of(raw, stops, speakers, prompt.first_role)
    if usage is None:
        usage = Usage(prompt_tokens=estimate_tokens(prompt.text),
                      completion_tokens=estimate_tokens(raw), source="estimate")
    cost = price(usage.prompt_tokens, usage.completion_tokens)
    return Conversation(
        id=item.conversation_id, run_id=run_id, persona_id=spec.persona.id,
        topic_id=item.topic.id, topic=item.topic.text, k=item.k, endpoint=spec.endpoint,
        model=model,
        params={"style": prompt.style, "temperature": spec.temperature,
                "max_tokens": spec.max_tokens, "stop": list(spec.stop),
                "seed": None if spec.seed is None else spec.seed + item.k,
                "request_stop": request_stop,
                "first_role": prompt.first_role,
                "user_labels": speakers.user, "persona_labels": speakers.assistant,
                "attempts": attempts, **(extra_params or {})},
        prompt=prompt.text, raw_text=raw, turns=turns, trim=trim,
        finish_reason=finish, usage=usage, status=status,  # type: ignore[arg-type]
        created_at=time.time(), duration_s=duration_s, cost=cost,
        context=item.topic.context)
