"""Moving a Library preview sample into a run, so Review and export see it.

By default the sample goes into the persona's playground run (the run of hand-written and kept
examples of that persona version, ``synth.dataset.playground.save_conversation``); ``run``
names another run of the same persona instead.  The moved conversation keeps its text, its
filters' verdict and its writer (endpoint, model), gets the run's ids, and says where it came
from in ``params["origin"]`` (``preview``, the sample's id, the persona version); the judge's
verdict, when there is one, is copied into the run's judge cache.

Crash-safe order: the conversation is appended to the run first, then the preview run's
metadata lists the sample under ``moved`` (which hides it from the preview list).  A crash in
between leaves it in both places, never in neither; moving it again finds the copy already in
the run (by its origin) and only hides the sample.
"""

from __future__ import annotations

from dataclasses import replace

from synth.dataset.preview import PreviewArea, Sample
from synth.dataset.store import Store
from synth.errors import StoreError
from synth.models import Conversation, Topic, conversation_id


def find_sample(area: PreviewArea, ref: str, persona_id: str | None = None) -> tuple[str, Sample]:
    """(persona id, sample) for a sample id or a unique prefix of one; a StoreError saying
    which ids there are otherwise."""
    ref = ref.strip()
    ids = [persona_id] if persona_id else sorted(
        p.name for p in area.root.iterdir() if p.is_dir()) if area.root.is_dir() else []
    hits = [(pid, s) for pid in ids for s in area.samples(pid)
            if ref and s.conversation.id.startswith(ref)]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise StoreError(f"no preview sample {ref!r} (`chatsynth preview list --persona ID` "
                         "lists them)", field="sample")
    raise StoreError(f"{ref!r} matches {len(hits)} samples; give more of the id", field="sample")


def move_sample(area: PreviewArea, store: Store, ref: str, run: str | None = None,
                persona_id: str | None = None) -> tuple[str, str, Sample]:
    """Move the sample into ``run`` (an id, prefix or ``latest``), else the persona's playground
    run.  Returns (run id, conversation id there, the sample as it was)."""
    from synth.dataset.playground import save_conversation

    pid, sample = find_sample(area, ref, persona_id)
    conv, persona = sample.conversation, sample.persona
    if persona is None:
        raise StoreError(f"sample {conv.id} has no readable spec; it was left as it is",
                         field="sample")
    origin = {"from": "preview", "sample": conv.id, "persona_version": sample.version,
              "preview_run": conv.run_id}

    def build(run_id: str, cid: str, k: int) -> Conversation:
        params = dict(conv.params)
        params["origin"] = origin
        return replace(conv, id=cid, run_id=run_id, k=k, params=params)

    if run is None:
        from synth.dataset.playground import playground_run

        target = playground_run(store, persona)
        done = _already_there(store, target, conv.id)
        if done is None:
            target, done = save_conversation(store, persona, conv.topic, build)
        run_persona = persona
    else:
        target = store.resolve_run(run)
        run_persona = store.get_spec(target).persona
        if run_persona.id != pid:
            raise StoreError(f"run {target} is a run of {run_persona.id}, not of {pid}: move a "
                             f"sample into a run of its own persona", field="--run")
        done = _already_there(store, target, conv.id)
        if done is None:
            done = _append(store, target, conv.topic, build)
    if sample.judgement is not None:
        _copy_judgement(store, target, run_persona, sample)
    preview = area.store(pid)
    moved = dict(preview.run_meta(conv.run_id).get("moved") or {})
    moved[conv.id] = f"{target}/{done}"
    preview.set_run_meta(conv.run_id, moved=moved)
    return target, done, sample


def _already_there(store: Store, run_id: str, sample_id: str) -> str | None:
    """The id of the sample's copy in the run (a move cut short before the preview was told)."""
    if not store.spec_path(run_id).exists():
        return None
    for c in store.load(run_id).conversations:
        if (c.params.get("origin") or {}).get("sample") == sample_id:
            return c.id
    return None


def _append(store: Store, run_id: str, topic_text: str, build) -> str:
    """Append to an ordinary run: the next k of its topic that no stored conversation has."""
    topic = Topic(text=topic_text)
    have = {c.id for c in store.load(run_id).conversations}
    k = 0
    while conversation_id(run_id, topic.id, k) in have:
        k += 1
    cid = conversation_id(run_id, topic.id, k)
    with store.writer(run_id) as writer:
        writer.append(build(run_id, cid, k))
    return cid


def _copy_judgement(store: Store, run_id: str, persona, sample: Sample) -> None:
    """The judge's verdict on the sample, in the run's judge cache (what Review reads)."""
    from synth.curate.judge import rubric_for
    from synth.curate.judging import CACHE_NAME, JudgeCache, text_key
    from synth.errors import ChatsynthError

    try:
        rubric = rubric_for(sample.persona).key
    except ChatsynthError:
        return
    cache = JudgeCache(store.run_dir(run_id) / CACHE_NAME)
    cache.put(text_key(persona, sample.conversation.turns), rubric, sample.judgement)
