"""Build real Conversation / Persona objects for tests (no store, no model needed)."""

from __future__ import annotations

from synth.models import Conversation, FilterRules, PatternRule, Persona, Turn, Usage, conversation_id


def persona(**kw) -> Persona:
    base = dict(id="eve", name="Eve", persona_label="EVE", user_label="USER",
                system_prompt="You are Eve, a digital life coach who listens with compassion.",
                synthesis_prompt="Topic: {topic}\n\n{user_label}:", rules=FilterRules())
    base.update(kw)
    return Persona(**base)


def turns(*pairs: tuple[str, str] | str) -> list[Turn]:
    """turns("hi", "hello?") alternates user/assistant; ("assistant", "x") sets a role."""
    out = []
    for i, p in enumerate(pairs):
        if isinstance(p, tuple):
            role, text = p
        else:
            role, text = ("user" if i % 2 == 0 else "assistant"), p
        out.append(Turn(role=role, text=text, label="USER" if role == "user" else "EVE"))
    return out


def conv(ts: list[Turn], *, topic: str = "feeling stuck at work", k: int = 0, run_id: str = "run1",
         status: str = "complete", model: str = "gpt-4o-mini") -> Conversation:
    cid = conversation_id(run_id, topic, k)
    return Conversation(
        id=cid, run_id=run_id, persona_id="eve", topic_id=topic[:12], topic=topic, k=k,
        endpoint="openai", model=model, params={}, prompt=f"Topic: {topic}\n\nUSER:",
        raw_text="\n".join(f"{t.label}: {t.text}" for t in ts), turns=ts, status=status,
        usage=Usage(prompt_tokens=50, completion_tokens=200),
    )


GOOD = [
    "I keep putting off my thesis and I feel awful about it.",
    "That sounds heavy to carry. What part of the thesis feels hardest to start?",
    "Probably the literature review. There is just so much to read.",
    "Try picking five papers for this week and summarising one a day. Which five come to mind?",
    "Maybe the ones my supervisor sent me.",
    "Good choice: start with the shortest one tomorrow morning. Would that work for you?",
]


def good_conv(topic: str = "feeling stuck at work", k: int = 0, **kw) -> Conversation:
    return conv(turns(*GOOD), topic=topic, k=k, **kw)


__all__ = ["persona", "turns", "conv", "good_conv", "GOOD", "PatternRule", "FilterRules"]


# -- a real stored run -------------------------------------------------------------------------

PLANS = ["a walking routine", "a reading plan", "a budget sheet", "a sleep schedule", "a call list",
         "a study timetable", "a meal plan", "a journaling habit", "a gym routine", "a tidy-up list"]


def varied_turns(i: int, k: int = 0) -> list:
    """Six distinct, well-formed turns for topic i, variant k (no filter fires on them)."""
    plan = PLANS[i % len(PLANS)]
    if k % 2:
        return turns(
            f"Could we talk about {plan}? Week {i} went badly and I skipped it {k + i} times.",
            f"Of course. Skipping {plan} {k + i} times tells us something. Which days went best?",
            f"Weekends, when nobody needs me before {8 + i % 4} in the morning.",
            f"So mornings free of demands help. Might {plan} fit at {7 + i % 4}:30 on weekdays too?",
            f"Maybe on Tuesdays and Thursdays, starting with {plan} {i}.",
            "Two mornings is a solid start. Write them in your calendar tonight, okay?",
        )
    return turns(
        f"Topic {i} variant {k}: I want to start {plan} but I keep stalling on day {i}.",
        f"Stalling on {plan} is common, number {i}. What usually stops you on day {i + k}?",
        f"Honestly I get tired after work around {17 + i % 5} o'clock and scroll my phone.",
        f"Then put {plan} before {17 + i % 5} o'clock for {5 + i} minutes. Could you try it tomorrow?",
        f"Yes, I can try that with {plan} number {i}.",
        f"Great. Note how you feel after session {i}, and we can adjust it together. Deal?",
    )


def make_run(runs_dir, n_topics: int = 15, per_topic: int = 2, *, extra=None, model="gpt-4o-mini",
             first_topic: int = 0, persona_kw: dict | None = None):
    """Store a run of n_topics x per_topic good conversations; ``extra(i, k)`` may return other
    turns (or a (turns, status) pair, or a dict of Conversation fields with "turns") for some items.
    Topics are numbered from ``first_topic`` (two runs over the same numbers share topics and
    texts); ``persona_kw`` changes the persona.  Returns (store, run_id, spec)."""
    from synth.models import RunSpec, Topic, TopicSource
    from synth.dataset.store import Store

    p = persona(**{"rules": FilterRules(near_duplicates=0.8), **(persona_kw or {})})
    src = TopicSource(id="eve", kind="text", topics=[Topic(text=f"topic {i}: {PLANS[i % len(PLANS)]}")
                                                     for i in range(first_topic, first_topic + n_topics)])
    spec = RunSpec.for_persona(p, src, per_topic=per_topic, endpoint="openai", model=model)
    store = Store(runs_dir, fsync_interval=60)
    run_id = store.open_run(spec)
    with store.writer(run_id) as w:
        for k in range(per_topic):
            for i, t in enumerate(src.topics, first_topic):
                ts, status = varied_turns(i, k), "complete"
                got = extra(i, k) if extra else None
                fields = {}
                if isinstance(got, dict):  # turns and other Conversation fields
                    fields = dict(got)
                    got = fields.pop("turns")
                if got is not None:
                    ts, status = got if isinstance(got, tuple) else (got, "complete")
                c = conv(ts, topic=t.text, k=k, run_id=run_id, status=status, model=model)
                for name, value in fields.items():
                    setattr(c, name, value)
                c.id = conversation_id(run_id, t.id, k)
                c.topic_id = t.id
                c.persona_id = p.id
                c.cost = 0.0001
                w.append(c)
    return store, run_id, spec
