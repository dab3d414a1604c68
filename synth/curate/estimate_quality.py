"""The estimate's judge and "until N pass" parts (``synth.generate.estimate`` holds the figures).

``estimate_quality`` is what `chatsynth estimate` and the app's Synthesize estimate call: the
run's estimate, with (``judge=True``) the judge's tokens and money per conversation, counted
from the persona's rubric prompt, the conversation as the judge reads it and the expected
answer, priced at the judge model's rates; and (``until=``) what an "until N pass" run writes
at the pass rate seen so far: this run's, else the persona's last run's, else none known (the
cost per attempt).  The pass rate is conversations passing every filter (and the judge, when
on and it has judged them) over conversations stored, read through ``Review``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from synth.generate.estimate import JudgeCost, RunEstimate, UntilEstimate, estimate_run
from synth.pricing import price_of
from synth.wording import plural

ANSWER_BASE, ANSWER_PER_CRITERION = 16, 36  # tokens: {"criteria": [...], "turns": [...]}
SAMPLE = 50  # stored conversations measured for the judge's conversation size


@dataclass
class Until:
    """What `--until-pass N --max M --max-per-topic K` asks for."""

    target: int
    max_new: int | None = None
    max_per_topic: int = 5


def judge_model(cfg: Any, persona: Any, writer_endpoint: str, writer_model: str,
                endpoint: str | None = None, model: str | None = None) -> tuple[str, bool]:
    """(model, free) of the judge, chosen as `run --judge` chooses it: the flags, else the
    persona's judge block, else defaults.judge_endpoint/judge_model, else the writer's."""
    spec = persona.judge
    defaults = cfg.defaults or {}
    name = endpoint or (spec.endpoint if spec else None) or defaults.get("judge_endpoint")
    chosen = model or (spec.model if spec else None) or defaults.get("judge_model")
    ep = cfg.endpoint(name or writer_endpoint)
    if ep.name == writer_endpoint:
        return chosen or writer_model, ep.is_embedded
    if ep.is_embedded:
        from synth.generate.local import MODEL_ALIAS

        return chosen or MODEL_ALIAS, True
    return chosen or ep.default_model or "", False


def judge_cost(spec: Any, conversations: int, model: str, *, free: bool = False,
               overrides: Mapping[str, Mapping[str, float]] | None = None,
               stored: Sequence[Any] = ()) -> JudgeCost:
    """The judge's tokens per conversation and their price.  A persona with no rubric raises
    the LibraryError `run --judge` would (naming judge.criteria)."""
    from synth.curate.judge import judge_messages, rubric_for, transcript
    from synth.tokens import counter_for

    persona = spec.persona
    rubric = rubric_for(persona)
    counter = counter_for(model or None)
    base = judge_messages(persona, rubric, [])
    rubric_tokens = counter.chat_tokens(base)
    sample = [c for c in stored if getattr(c, "status", "complete") == "complete" and c.turns]
    sample = sample[-SAMPLE:]
    if sample:
        sizes = counter.count_many([transcript(persona, c.turns) for c in sample])
        text, text_from = round(sum(sizes) / len(sizes)), plural(len(sample), "stored conversation")
    else:
        text, text_from = spec.max_tokens, "max_tokens (a ceiling: none stored yet)"
    answer = ANSWER_BASE + ANSWER_PER_CRITERION * len(rubric.criteria)
    return JudgeCost(model=model, rubric_tokens=rubric_tokens, text_tokens=text,
                     text_from=text_from, answer_tokens=answer, criteria=len(rubric.criteria),
                     conversations=conversations, price=price_of(model, overrides, local=free))


def pass_counts(store: Any, run_id: str, persona: Any = None, judged: bool = False
                ) -> tuple[int, int, bool]:
    """(passing, stored, judge counted) for a run: complete conversations passing every filter
    and not rejected, and with ``judged`` only those the judge passed, when it has judged any
    (else the filters alone, and the third value says so)."""
    from synth.curate.review import Review

    items = [it for it in Review(store, run_id, persona).load().items
             if it.conv.status == "complete"]
    use_judge = judged and any(it.judgement is not None for it in items)
    passing = sum(1 for it in items if it.decision != "rejected" and it.verdict.ok
                  and (not use_judge or (it.judgement is not None and it.judgement.passed)))
    return passing, len(items), use_judge


def last_run_of(store: Any, persona_id: str, but: str) -> str | None:
    """The persona's most recent run (other than ``but``) holding a stored conversation."""
    runs = [r for r in store.list_runs()
            if r.persona == persona_id and r.run_id != but and r.done and not r.errors]
    return runs[-1].run_id if runs else None


def until_estimate(store: Any, run_id: str, spec: Any, until: Until, est: RunEstimate,
                   judged: bool) -> UntilEstimate:
    have = passing = stored = 0
    rate_from, note = "", ""
    used_judge = False
    if run_id in set(store.run_ids()):
        have, stored, used_judge = pass_counts(store, run_id, spec.persona, judged)
        passing = have
        if stored:
            rate_from = f"this run ({run_id})"
    if not stored:
        last = last_run_of(store, spec.persona.id, run_id)
        if last is not None:
            passing, stored, used_judge = pass_counts(store, last, None, judged)
            rate_from = f"run {last} (the persona's last run)" if stored else ""
    if judged and stored and not used_judge:
        note = "no judgements stored in that run: the rate counts the filters alone"
    cap_why = (f"--max {until.max_new}" if until.max_new is not None
               and until.max_new <= est.missing else
               f"every topic x {until.max_per_topic} (the per-topic cap)")
    return UntilEstimate(target=until.target, have=have, passing=passing, stored=stored,
                         rate_from=rate_from, cap=est.to_write, cap_why=cap_why,
                         per_attempt=est.per_attempt, judged=used_judge, note=note)


def estimate_quality(store: Any, spec: Any, *, overrides: Mapping[str, Mapping[str, float]] | None = None,
                     local: bool = False, judge: tuple[str, bool] | None = None,
                     until: Until | None = None) -> RunEstimate:
    """The run's estimate with the judge's line (``judge``: its (model, free)) and the "until N
    pass" line.  With ``until`` the main lines count the most this start may write: every
    topic x the per-topic cap, --max applied."""
    if until is not None:
        spec = dataclasses.replace(spec, per_topic=max(spec.per_topic, until.max_per_topic),
                                   limit=until.max_new)
    run_id = store.bind(spec)
    stored = store.load(run_id).conversations if run_id in set(store.run_ids()) else []
    est = estimate_run(spec, overrides=overrides, local=local, stored=stored)
    if judge is not None:
        est.judge = judge_cost(spec, est.to_write, judge[0], free=judge[1], overrides=overrides,
                               stored=stored)
    if until is not None:
        est.until = until_estimate(store, run_id, spec, until, est, judge is not None)
    changed = store.changed_since(spec)
    if changed:
        est.notes.insert(0, changed)
    return est
