"""Exchanges saved from the playground: a run of hand-written examples for each persona.

The run is an ordinary run of the store (same spec.json, conversations log and catalog row), so
Review, the filters, `m` (mark as example) and export work on it.  What makes it a playground
run: its topic source is ``playground`` (a list of the topics talked about, so far), its
endpoint ``playground`` and model ``hand-written``, and its run metadata says
``source: playground``.  One such run per persona version (the run's identity holds the
persona's pattern, as any run's does).  Each saved exchange is the k-th conversation of its
topic, so saving twice on one topic keeps both.
"""

from __future__ import annotations

from synth.dataset.store import Store
from synth.generate.chat import ChatSession
from synth.models import Persona, RunSpec, Topic, TopicSource, conversation_id

SOURCE = "playground"


def playground_spec(persona: Persona, topics: list[str]) -> RunSpec:
    """The spec of the persona's playground run, listing ``topics`` (in order, once each)."""
    seen: dict[str, Topic] = {}
    for text in topics:
        t = Topic(text=text)
        seen.setdefault(t.id, t)
    src = TopicSource(id=SOURCE, kind="text", topics=list(seen.values()))
    return RunSpec.for_persona(persona, src, endpoint=SOURCE, model="hand-written", concurrency=1)


def is_playground(store: Store, run_id: str) -> bool:
    return store.run_meta(run_id).get("source") == SOURCE


def save_exchange(store: Store, session: ChatSession) -> tuple[str, str]:
    """Store the session's conversation so far (up to the persona's last answer) in the
    persona's playground run.  Returns (run id, conversation id)."""
    persona = session.persona
    spec = playground_spec(persona, [])
    run_id = store.bind(spec)
    old = store.load(run_id).conversations if store.spec_path(run_id).exists() else []
    topic = Topic(text=session.topic_text)
    k = sum(1 for c in old if c.topic_id == topic.id)
    cid = conversation_id(run_id, topic.id, k)
    conv = session.to_conversation(run_id=run_id, conversation_id=cid, k=k)
    counts: dict[str, int] = {}
    for c in [*old, conv]:
        counts[c.topic_id] = counts.get(c.topic_id, 0) + 1
    spec = playground_spec(persona, [c.topic for c in old] + [topic.text])
    spec.per_topic = max(counts.values())  # so every saved (topic, k) is in the run's list
    run_id = store.open_run(spec)
    store.set_run_meta(run_id, source=SOURCE)
    with store.writer(run_id) as writer:
        writer.append(conv)
    return run_id, cid
