"""What a role-play run will cost before it starts (``synth.generate.estimate`` hands role-play
specs here).

Each turn is a request that sends its side's instructions (the persona's system prompt, or the
simulated user's prompt for that conversation, counted exactly) plus the conversation so far,
so the prompt grows with every turn: over ``T`` turns at a mean turn length of ``L`` tokens the
prompt tokens are the instructions once per turn plus ``L x (0 + 1 + ... + T-1)``.  The figures
are given at ``min_turns`` and at ``max_turns`` (the ceiling, used for the cost's "at most").
``L``: the run's own mean where it holds conversations, else the persona's few-shot examples'
mean turn, else half the turn's ``max_tokens``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from synth.generate.estimate import RunEstimate
from synth.pricing import format_usd, price_of

LABEL_TOKENS = 4  # "USER: " / a chat message's framing, per turn


@dataclass
class RoleplayEstimate(RunEstimate):
    prompt_tokens_min: int = 0  # every conversation ending at min_turns
    turn_tokens: int = 0  # L, the mean turn length used
    turns: tuple[int, int] = (0, 0)  # (min, max) turns of a conversation

    def lines(self) -> list[str]:
        lo, hi = self.turns
        out = []
        for line in super().lines():
            if line.startswith("prompt tokens:"):
                line = (f"prompt tokens: {self.prompt_tokens_min:,} to {self.prompt_tokens:,} "
                        f"(role-play, {lo} to {hi} turns a conversation: each turn sends the "
                        f"conversation so far, summed over turns at a mean turn of "
                        f"{self.turn_tokens} tokens; {self.encoding})")
            elif line.startswith("completion tokens: at most"):
                line = (f"completion tokens: at most {self.completion_tokens_max:,} "
                        f"(max_turns {hi} x the turn's max_tokens x {self.to_write:,} to write)")
            out.append(line)
        return out


def grown(base_user: int, base_persona: int, turns: int, turn_tokens: int) -> int:
    """Prompt tokens of one conversation of ``turns`` turns (the user speaks first)."""
    users, personas = (turns + 1) // 2, turns // 2
    return (users * base_user + personas * base_persona
            + (turn_tokens + LABEL_TOKENS) * turns * (turns - 1) // 2)


def estimate_roleplay(spec: Any, *, overrides: Mapping[str, Mapping[str, float]] | None = None,
                      local: bool = False, stored: Sequence[Any] = ()) -> RoleplayEstimate:
    from synth.generate.planner import plan
    from synth.generate.roleplay import simulator_prompt
    from synth.generate.transcript import Speakers, parse_turns
    from synth.tokens import counter_for

    persona, sim = spec.persona, spec.persona.user_simulator
    counter = counter_for(spec.model or None)
    notes = [counter.note] if counter.note else []
    done_ids = {c.id for c in stored if getattr(c, "status", "complete") == "complete"}
    p = plan(spec, done_ids)
    todo = p.todo
    users = counter.count_many([simulator_prompt(persona, w.topic, w.conversation_id)[0]
                                for w in todo])
    base_persona = counter.count(persona.system_prompt)
    finished = [c for c in stored if c.id in done_ids and c.turns]
    if finished:
        turn = sum(c.usage.completion_tokens for c in finished) / sum(len(c.turns) for c in finished)
        where = f"this run's mean over {len(finished)} stored"
    else:
        speakers = Speakers.for_persona(persona)
        ex = [t.text for e in persona.examples for t in parse_turns(e, speakers).turns]
        turn = sum(counter.count_many(ex)) / len(ex) if ex else sim.max_tokens / 2
        where = "the persona's examples" if ex else "half the turn's max_tokens"
    L = max(1, round(turn))
    lo = max(2, sim.min_turns + sim.min_turns % 2)
    hi = max(2, sim.max_turns - sim.max_turns % 2)
    lo = min(lo, hi)
    ptok_hi = sum(grown(u, base_persona, hi, L) for u in users)
    ptok_lo = sum(grown(u, base_persona, lo, L) for u in users)
    ctok_max = hi * sim.max_tokens * len(todo)
    avg = None
    if finished:
        avg = round(sum(c.usage.completion_tokens for c in finished) / len(finished) * len(todo))
    notes.append(f"role-play: the mean turn of {L} tokens is from {where}; a conversation ends "
                 f"on the simulated user's {sim.end_marker} or at {hi} turns")
    price = price_of(spec.model, overrides, local=local)
    if price and todo and (price.input or price.output):
        notes.append(f"role-play: about {format_usd(price.cost(ptok_lo, lo * L * len(todo)))} at "
                     f"{lo} turns, {format_usd(price.cost(ptok_hi, hi * L * len(todo)))} at {hi}")
    return RoleplayEstimate(
        model=spec.model, conversations=p.total, already_done=p.already_done, to_write=len(todo),
        missing=p.total - p.already_done, limit=spec.limit, prompt_tokens=ptok_hi,
        completion_tokens_max=ctok_max, completion_tokens_avg=avg, avg_from=len(finished),
        price=price, cost_max=price.cost(ptok_hi, ctok_max) if price else None,
        cost_avg=price.cost(ptok_hi, avg) if price and avg is not None else None,
        encoding=counter.encoding_name, notes=notes, prompt_tokens_min=ptok_lo, turn_tokens=L,
        turns=(lo, hi))
