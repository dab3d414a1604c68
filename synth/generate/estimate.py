"""What a run will cost before it starts: prompt tokens counted exactly (each topic's rendered
prompt, with the few-shot examples each conversation is given), completion tokens at most max_tokens (or the run's own average so far), in money where
a price is known.  Counts what this start writes: the engine's own plan, limit applied."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

from synth.pricing import Price, format_usd, price_of
from synth.wording import plural

@dataclass
class RunEstimate:
    model: str
    conversations: int  # the run's total
    already_done: int  # in the store (a resumed run writes only the rest)
    to_write: int  # what this start writes: the missing ones, capped by the limit
    prompt_tokens: int  # exact (tiktoken) for what this start writes
    completion_tokens_max: int  # max_tokens x to_write: the ceiling
    completion_tokens_avg: int | None  # the run's own average so far x to_write
    avg_from: int  # how many stored conversations the average comes from
    price: Price | None
    cost_max: float | None
    cost_avg: float | None
    encoding: str
    notes: list[str]
    missing: int = 0  # not stored yet (to_write is fewer where the limit caps it)
    limit: int | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["price"] = asdict(self.price) if self.price else None
        return d

    def lines(self) -> list[str]:
        out = [
            f"model: {self.model or '(endpoint default)'}; price: "
            + (f"${self.price.input:g} in / ${self.price.output:g} out per M tokens ({self.price.source})"
               if self.price else "no price known (add it under prices: in chatsynth.yaml)"),
            f"conversations: {self.conversations:,} ({self.already_done:,} already stored, "
            f"{self.to_write:,} to write"
            + (f": limit {self.limit:,} of {self.missing:,} missing)"
               if self.limit is not None and self.to_write < self.missing else ")"),
            f"prompt tokens: {self.prompt_tokens:,} (exact, {self.encoding})",
            f"completion tokens: at most {self.completion_tokens_max:,} (max_tokens x {self.to_write:,} to write)",
        ]
        if self.completion_tokens_avg is not None:
            out.append(f"completion tokens: about {self.completion_tokens_avg:,} "
                       f"(this run's average over {plural(self.avg_from, 'stored conversation')})")
        if self.cost_max is None:
            out.append("cost: unknown (no price known)")
        else:
            out.append(f"cost: at most {format_usd(self.cost_max)}"
                       + (f", about {format_usd(self.cost_avg)} at the run's average"
                          if self.cost_avg is not None else ""))
        out += [f"note: {n}" for n in self.notes]
        return out


def estimate_run(spec: Any, *, overrides: Mapping[str, Mapping[str, float]] | None = None,
                 local: bool = False, stored: Sequence[Any] = ()) -> RunEstimate:
    """What a run will cost, without a request.  ``stored``: the run's conversations so far."""
    if getattr(spec, "method", "transcript") == "roleplay":  # a request per turn, growing
        from synth.generate.roleplay_estimate import estimate_roleplay

        return estimate_roleplay(spec, overrides=overrides, local=local, stored=stored)
    from synth.generate.planner import plan
    from synth.generate.prompts import pick_examples, render
    from synth.tokens import counter_for

    counter = counter_for(spec.model or None)
    notes = [counter.note] if counter.note else []
    done_ids = {c.id for c in stored if getattr(c, "status", "complete") == "complete"}
    # what this start writes: the engine's own plan (missing ones, topics first, capped by limit)
    p = plan(spec, done_ids)
    total, todo = p.total, p.todo
    missing = total - p.already_done
    # every repeat of a topic with the same examples sends the same prompt: count each once
    prompts: dict = {}
    item_key = {}
    for w in todo:
        cid = w.conversation_id
        key = item_key[cid] = (w.topic.id, tuple(pick_examples(spec.persona, cid)))
        if key not in prompts:
            prompts[key] = render(spec.persona, w.topic, spec.style, cid)
    ids = list(prompts)
    if spec.style == "chat":
        counts = [c.total for c in counter.chat_counts([prompts[i].messages for i in ids])]
    else:
        counts = counter.count_many([prompts[i].text for i in ids])
    per_topic = dict(zip(ids, counts))
    prompt_tokens = sum(per_topic[item_key[w.conversation_id]] for w in todo)
    ctok_max = spec.max_tokens * len(todo)
    finished = [c for c in stored if c.id in done_ids]
    avg = None
    if finished:
        mean = sum(c.usage.completion_tokens for c in finished) / len(finished)
        avg = round(mean * len(todo))
        if any(c.usage.source == "estimate" for c in finished):
            notes.append("some stored conversations have estimated (not server-reported) usage")
    price = price_of(spec.model, overrides, local=local)
    return RunEstimate(
        model=spec.model, conversations=total, already_done=p.already_done, to_write=len(todo),
        missing=missing, limit=spec.limit,
        prompt_tokens=prompt_tokens, completion_tokens_max=ctok_max, completion_tokens_avg=avg,
        avg_from=len(finished), price=price,
        cost_max=price.cost(prompt_tokens, ctok_max) if price else None,
        cost_avg=price.cost(prompt_tokens, avg) if price and avg is not None else None,
        encoding=counter.encoding_name, notes=notes)
