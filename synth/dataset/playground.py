"""Exchanges saved from the playground: a run of hand-written examples for each persona.

The run is an ordinary run of the store (same spec.json, conversations log and catalog row), so
Review, the filters, `m` (mark as example) and export work on it.  What makes it a playground
run: its topic source is ``playground`` (a list of the topics talked about, so far), its
endpoint ``playground`` and model ``hand-written``, and its run metadata says
``source: playground``.  One such run per persona version (the run's identity holds the
persona's pattern, as any run's does).  Each saved exchange is the k-th conversation of its
topic, so saving twice on one topic keeps both.  Samples moved out of the Library's preview
(``synth.dataset.preview_move``) go into the same run, through ``save_conversation``.
"""

from __future__ import annotations

from typing import Callable

from synth.dataset.store import Store
from synth.generate.chat import ChatSession
from synth.models import Conversation, Persona, RunSpec, Topic, TopicSource, conversation_id

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
    return save_conversation(
        store, session.persona, session.topic_text,
        lambda run_id, cid, k: session.to_conversation(run_id=run_id, conversation_id=cid, k=k))


def save_conversation(store: Store, persona: Persona, topic_text: str,
                      build: Callable[[str, str, int], Conversation]) -> tuple[str, str]:
    """Append a conversation on ``topic_text`` to the persona's playground run (a run of
    hand-written and kept examples): ``build(run_id, conversation_id, k)`` makes it.  Returns
    (run id, conversation id).  The playground's saves and the Library's moved samples."""
    spec = playground_spec(persona, [])
    run_id = store.bind(spec)
    old = store.load(run_id).conversations if store.spec_path(run_id).exists() else []
    topic = Topic(text=topic_text)
    k = sum(1 for c in old if c.topic_id == topic.id)
    cid = conversation_id(run_id, topic.id, k)
    conv = build(run_id, cid, k)
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


def playground_run(store: Store, persona: Persona) -> str:
    """The id the persona's playground run has (or will have once something is saved)."""
    return store.bind(playground_spec(persona, []))
