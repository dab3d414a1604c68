"""What a role-play run will cost before it starts (``synth.generate.estimate`` hands role-play
specs here).

Each turn is a request that sends its side's instructions (the persona's system prompt, or the
simulated user's prompt for that conversation, counted exactly) plus the conversation so far,
so the prompt grows with every turn: over ``T`` turns at a mean turn length of ``L`` tokens the
prompt tokens are the instructions once per turn plus ``L x (0 + 1 + ... + T-1)``.  The figures
are given at ``min_turns`` and at ``max_turns`` (the ceiling, used for the cost's "at most").
``L``: the run's own mean where it holds conversations, else the persona's few-shot examples'
mean turn, else half the turn's ``max_tokens``.  Each side is priced at its own model: the
simulated user's at its block's ``model`` where it names one, else the run's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from synth.generate.estimate import RunEstimate
from synth.pricing import Price, format_usd, price_of

LABEL_TOKENS = 4  # "USER: " / a chat message's framing, per turn


@dataclass
class RoleplayEstimate(RunEstimate):
    prompt_tokens_min: int = 0  # every conversation ending at min_turns
    turn_tokens: int = 0  # L, the mean turn length used
    turns: tuple[int, int] = (0, 0)  # (min, max) turns of a conversation
    user_model: str | None = None  # the simulated user's model, where it is not the run's
    user_price: Price | None = None

    @property
    def per_attempt(self) -> float | None:
        """Money for one more conversation: both sides, at the run's average where known."""
        cost = self.cost_avg if self.cost_avg is not None else self.cost_max
        if cost is None or not self.to_write:
            return None
        if self.judge is not None:
            if self.judge.per_conversation is None:
                return None
            return cost / self.to_write + self.judge.per_conversation
        return cost / self.to_write

    def lines(self) -> list[str]:
        lo, hi = self.turns
        out = []
        for line in super().lines():
            if line.startswith("model:") and self.user_model:
                p = self.user_price
                line += (f"; the simulated user's model: {self.user_model}, price: "
                         + (f"${p.input:g} in / ${p.output:g} out per M tokens ({p.source})"
                            if p else "no price known (add it under prices: in chatsynth.yaml)"))
            elif line.startswith("prompt tokens:"):
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
    return sum(sides(base_user, base_persona, turns, turn_tokens))


def sides(base_user: int, base_persona: int, turns: int, turn_tokens: int) -> tuple[int, int]:
    """(the simulated user's, the persona's) prompt tokens of one conversation of ``turns``
    turns: turn ``i`` (from 0, the user's the even ones) sends ``i`` turns so far."""
    step = turn_tokens + LABEL_TOKENS
    users, personas = (turns + 1) // 2, turns // 2
    user_so_far = sum(range(0, turns, 2))
    persona_so_far = sum(range(1, turns, 2))
    return users * base_user + step * user_so_far, personas * base_persona + step * persona_so_far


def _both(user: Price | None, persona: Price | None, ptok: tuple[int, int],
          ctok: tuple[int, int]) -> float | None:
    """Money for (user, persona) prompt and completion tokens, each side at its own price."""
    if user is None or persona is None:
        return None
    return user.cost(ptok[0], ctok[0]) + persona.cost(ptok[1], ctok[1])


def _user_side(sim: Any, spec: Any, overrides: Any, local: bool) -> tuple[str | None, Price | None]:
    """The simulated user's own model (None: the run's) and its price.  Another endpoint
    named "local" is the embedded model (no charge); any other is priced by the model."""
    if not sim.model or sim.model == spec.model:
        return None, None
    own_local = local if sim.endpoint in (None, spec.endpoint) else sim.endpoint == "local"
    return sim.model, price_of(sim.model, overrides, local=own_local)


def estimate_roleplay(spec: Any, *, overrides: Mapping[str, Mapping[str, float]] | None = None,
                      local: bool = False, stored: Sequence[Any] = ()) -> RoleplayEstimate:
    from synth.generate.planner import plan
    from synth.generate.roleplay import simulator_prompt
    from synth.generate.transcript import Speakers, parse_turns
    from synth.tokens import counter_for

    from synth.generate.roleplay_endpoint import check_roleplay

    check_roleplay(spec)  # no user_simulator: block: the persona file and field named
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
    n = len(todo)

    def prompts(turns: int) -> tuple[int, int]:
        per = [sides(u, base_persona, turns, L) for u in users]
        return sum(x for x, _ in per), sum(y for _, y in per)

    def written(turns: int, each: float) -> tuple[int, int]:  # (user, persona) completion
        return round((turns + 1) // 2 * each * n), round(turns // 2 * each * n)

    p_hi, p_lo = prompts(hi), prompts(lo)
    ptok_hi, ptok_lo = sum(p_hi), sum(p_lo)
    ctok_max = hi * sim.max_tokens * n
    avg = None
    if finished:
        avg = round(sum(c.usage.completion_tokens for c in finished) / len(finished) * n)
    notes.append(f"role-play: the mean turn of {L} tokens is from {where}; a conversation ends "
                 f"on the simulated user's {sim.end_marker} or at {hi} turns")
    price = price_of(spec.model, overrides, local=local)
    user_model, user_price = _user_side(sim, spec, overrides, local)
    them = user_price if user_model else price
    at_lo, at_hi = _both(them, price, p_lo, written(lo, L)), _both(them, price, p_hi, written(hi, L))
    if at_lo is not None and at_hi is not None and n and (at_hi or at_lo):
        both = (f" (the simulated user at {user_model}, {persona.name} at "
                f"{spec.model or 'the endpoint default'})" if user_model else "")
        notes.append(f"role-play: about {format_usd(at_lo)} at {lo} turns, "
                     f"{format_usd(at_hi)} at {hi}{both}")
    cost_avg = None
    if avg is not None:  # split between the sides as their turns are
        cost_avg = _both(them, price, p_hi, (round(avg * ((hi + 1) // 2) / hi),
                                             avg - round(avg * ((hi + 1) // 2) / hi)))
    return RoleplayEstimate(
        model=spec.model, conversations=p.total, already_done=p.already_done, to_write=n,
        missing=p.total - p.already_done, limit=spec.limit, prompt_tokens=ptok_hi,
        completion_tokens_max=ctok_max, completion_tokens_avg=avg, avg_from=len(finished),
        price=price, cost_max=_both(them, price, p_hi, written(hi, sim.max_tokens)),
        cost_avg=cost_avg, encoding=counter.encoding_name, notes=notes,
        prompt_tokens_min=ptok_lo, turn_tokens=L, turns=(lo, hi), user_model=user_model,
        user_price=user_price)
