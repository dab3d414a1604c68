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
