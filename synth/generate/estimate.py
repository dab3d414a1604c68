"""What a run will cost before it starts: prompt tokens counted exactly (each topic's rendered
prompt, with the few-shot examples each conversation is given), completion tokens at most max_tokens (or the run's own average so far), in money where
a price is known.  Counts what this start writes: the engine's own plan, limit applied.

Two optional parts, filled in by ``synth.curate.estimate_quality`` (they need the rubric and
the filters): ``JudgeCost``, the judge's tokens and money per conversation, and
``UntilEstimate``, what an "until N pass" run writes at the pass rate seen so far."""

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
    judge: JudgeCost | None = None  # run --judge: the judge's share, its own line
    until: UntilEstimate | None = None  # run --until-pass N: at the observed pass rate

    @property
    def per_attempt(self) -> float | None:
        """Money for one more conversation written (and judged, when on): the run's average
        completion where known, else max_tokens."""
        if self.price is None or not self.to_write:
            return None
        ctok = self.completion_tokens_avg if self.completion_tokens_avg is not None \
            else self.completion_tokens_max
        cost = self.price.cost(self.prompt_tokens, ctok) / self.to_write
        if self.judge is not None:
            if self.judge.per_conversation is None:
                return None
            cost += self.judge.per_conversation
        return cost

    def to_dict(self) -> dict:
        d = asdict(self)
        d["price"] = asdict(self.price) if self.price else None
        if self.judge is not None:
            d["judge"].update(per_conversation=self.judge.per_conversation, cost=self.judge.cost)
        if self.until is not None:
            d["until"].update(rate=self.until.rate, attempts=self.until.attempts,
                              cost=self.until.cost)
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
        judge = self.judge.cost if self.judge is not None else 0.0
        if self.judge is not None:
            out += self.judge.lines()
        if self.cost_max is None or judge is None:
            out.append("cost: unknown (no price known"
                       + (" for the judge)" if self.cost_max is not None else ")"))
        else:
            both = f" (writing + judge {format_usd(judge)})" if self.judge is not None else ""
            out.append(f"cost: at most {format_usd(self.cost_max + judge)}{both}"
                       + (f", about {format_usd(self.cost_avg + judge)} at the run's average"
                          if self.cost_avg is not None else ""))
        if self.until is not None:
            out += self.until.lines()
        out += [f"note: {n}" for n in self.notes]
        return out


@dataclass
class JudgeCost:
    """The judge's share of a judged run: each conversation written is judged once."""

    model: str
    rubric_tokens: int  # the judge's instructions and rubric, the same for every conversation
    text_tokens: int  # the conversation as the judge reads it (average per conversation)
    text_from: str  # "N stored conversations" or "max_tokens (a ceiling)"
    answer_tokens: int  # the expected answer: scores and a sentence per criterion
    criteria: int
    conversations: int  # this start's conversations, each judged once
    price: Price | None

    @property
    def per_conversation(self) -> float | None:
        if self.price is None:
            return None
        return self.price.cost(self.rubric_tokens + self.text_tokens, self.answer_tokens)

    @property
    def cost(self) -> float | None:
        each = self.per_conversation
        return None if each is None else each * self.conversations

    def lines(self) -> list[str]:
        prompt = self.rubric_tokens + self.text_tokens
        price = (f"${self.price.input:g} in / ${self.price.output:g} out per M ({self.price.source})"
                 if self.price else "no price known")
        money = ("no price known" if self.cost is None else
                 f"{format_usd(self.per_conversation)} a conversation, "
                 f"{format_usd(self.cost)} for {self.conversations:,}")
        return [f"judge ({self.model or 'endpoint default'}, {price}): about {prompt:,} prompt + "
                f"{self.answer_tokens:,} answer tokens a conversation (rubric {self.rubric_tokens:,}"
                f" + conversation {self.text_tokens:,} from {self.text_from} + an answer for "
                f"{plural(self.criteria, 'criterion', 'criteria')}): {money}"
                + ("; counted in the cost below" if self.cost is not None else "")]


@dataclass
class UntilEstimate:
    """What "until N pass" writes at the pass rate seen so far (this run, else the persona's
    last run), with what one attempt costs."""

    target: int
    have: int  # passing already in this run
    passing: int  # the rate's numerator and denominator, and where they were seen
    stored: int
    rate_from: str  # "this run" / "run X (the persona's last run)" / "" (no rate known)
    cap: int | None  # the most this start may write (--max, every topic x the per-topic cap)
    cap_why: str
    per_attempt: float | None  # money per conversation written (and judged)
    judged: bool = False
    note: str = ""

    @property
    def rate(self) -> float | None:
        return self.passing / self.stored if self.stored and self.rate_from else None

    @property
    def cost(self) -> float | None:
        n = self.attempts
        return None if n is None or self.per_attempt is None else n * self.per_attempt

    @property
    def attempts(self) -> int | None:
        """Conversations to write to reach the target at the rate (None: no rate, or a rate of
        0 and no cap); the cap bounds it."""
        need = max(0, self.target - self.have)
        rate = self.rate
        if not need:
            return 0
        if rate is None or rate == 0:
            return self.cap if rate == 0 else None
        n = -(-need * self.stored // self.passing)  # ceil(need / rate), exact in integers
        return min(n, self.cap) if self.cap is not None else n

    def lines(self) -> list[str]:
        what = "passing every filter" + (" and the judge" if self.judged else "")
        each = format_usd(self.per_attempt) if self.per_attempt is not None else "no price known"
        head = f"until {self.target:,} pass ({self.have:,} already pass in this run): "
        if self.have >= self.target:
            return [head + "nothing to write"]
        rate = self.rate
        if rate is None:
            out = [head + f"no pass rate known yet (no conversations stored for this persona); "
                   f"{each} per conversation attempted"]
        else:
            n = self.attempts
            cost = format_usd(self.cost) if self.cost is not None else "no price known"
            seen = f"{self.passing:,} of {self.stored:,} {what}, seen in {self.rate_from}"
            if rate == 0:
                out = [head + f"at 0% passing ({seen}): none would pass; at most "
                       f"{n if n is not None else '?'} written ({self.cap_why}), {cost}"]
            else:
                capped = " (capped by " + self.cap_why + ")" if self.cap is not None \
                    and n == self.cap else ""
                out = [head + f"at {rate:.0%} passing ({seen}): about "
                       f"{plural(n or 0, 'conversation')}{capped}, {cost}"
                       + (f" ({each} each)" if self.cost is not None else "")]
        if self.note:
            out.append(f"note: {self.note}")
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
