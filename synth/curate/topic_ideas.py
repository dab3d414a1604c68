"""Brainstormed topics, curated: ask the model (synth.generate.brainstorm), then drop what the
list already has or the answer repeats: the same text once case, spacing and punctuation are set
aside, or a near-duplicate by the filters' own similarity measure (Jaccard similarity of word
3-gram shingles, synth.curate.filters.near_duplicate_texts).  What is left is shown for
acceptance; nothing here writes the topic file (synth.library.edit.add_topics does, when the
user accepts).  Used by `chatsynth topics NAME --brainstorm/--expand` and the app's checklist.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from synth.curate.filters import near_duplicate_texts
from synth.errors import LibraryError
from synth.generate import brainstorm
from synth.models import Persona, TopicSource

# topics are a line long: word 3-grams of two short lines overlap less than two conversations'
# do, so the bar is lower than the run filter's 0.8 for the same measure
TOPIC_SIMILARITY = 0.6
_NOT_WORD = re.compile(r"[^\w\s]+")


def topic_key(text: str) -> str:
    """A topic with case, spacing and punctuation set aside."""
    return " ".join(_NOT_WORD.sub(" ", text).casefold().split())


def dedupe(existing: list[str], candidates: list[str], threshold: float = TOPIC_SIMILARITY,
           parent: str | None = None) -> tuple[list[str], list[tuple[str, str]]]:
    """(kept, dropped with the reason), in the candidates' order.  A subtopic may echo its
    ``parent``'s words: only an exact repeat of the parent is left out, not a near one."""
    have = {topic_key(t): (t, True) for t in existing}  # key -> (text, in the list already)
    kept_at: dict[int, str] = {}
    dropped: list[tuple[str, str]] = []
    for i, text in enumerate(candidates):
        k = topic_key(text)
        if not k:
            dropped.append((text, "no words"))
        elif k in have:
            first, listed = have[k]
            dropped.append((text, "already in the list" if listed else f"repeats {first!r}"))
        else:
            have[k] = (text, False)
            kept_at[i] = text
    # near-duplicates among the list and the survivors, with the filters' measure
    order = list(kept_at)
    texts = list(existing) + [kept_at[i] for i in order]
    n_old = len(existing)
    gone: set[int] = set()
    for a, b, sim in near_duplicate_texts(texts, threshold):
        if b < n_old or b in gone or a in gone or (parent is not None and texts[a] == parent):
            continue
        gone.add(b)
        dropped.append((texts[b], f"near-duplicate of {texts[a]!r} (similarity {sim:.2f})"))
    kept = [t for j, t in enumerate(texts[n_old:], n_old) if j not in gone]
    return kept, dropped


@dataclass
class Ideas:
    asked: int
    topics: list[str]  # new, distinct, at most ``asked``
    dropped: list[tuple[str, str]] = field(default_factory=list)
    parent: str | None = None
    estimate: Any = None  # brainstorm.BrainstormEstimate
    answer_items: int = 0

    def summary(self) -> str:
        what = f"subtopic{'s' if len(self.topics) != 1 else ''} of {self.parent!r}" \
            if self.parent else f"new topic{'s' if len(self.topics) != 1 else ''}"
        out = f"{len(self.topics)} {what} (asked for {self.asked})"
        if self.dropped:
            out += f"; {len(self.dropped)} left out as repeats or near-duplicates"
        return out


def persona_for(ws: Any, source: TopicSource, name: str | None) -> Persona:
    """The persona a list is brainstormed for: --persona, else the list's ``persona:``, else
    the persona with the list's name."""
    from synth.library.personas import find_persona

    want = name or source.persona
    if want:
        return find_persona(ws, want)
    try:
        return find_persona(ws, source.id)
    except LibraryError:
        raise LibraryError(f"which persona is {source.id!r} for? Give --persona NAME (or add "
                           "`persona: NAME` to a YAML list)", path=source.path,
                           field="persona") from None


def prepare(source: TopicSource, persona: Persona, n: int, *, style: str,
            about: str | None = None, parent: str | None = None) -> brainstorm.BrainstormRequest:
    if source.kind == "folder":
        raise LibraryError("a folder of documents gets new files, not brainstormed topics",
                           path=source.path, field="topics")
    existing = [t.text for t in source.topics]
    siblings = None
    if parent is not None:
        match = [t.text for t in source.topics if topic_key(t.text) == topic_key(parent)]
        if not match:
            raise LibraryError(f"no topic {parent!r} in this list to expand "
                               f"(`chatsynth topics {source.id}` lists them)", path=source.path,
                               field="--expand")
        parent = match[0]
        siblings = [t.text for t in source.topics if t.parent and
                    topic_key(t.parent) == topic_key(parent)]
    return brainstorm.build_request(persona, existing, n, style=style, about=about,
                                    parent=parent, siblings=siblings)


def propose(source: TopicSource, req: brainstorm.BrainstormRequest, ep: Any, *,
            estimate: Any = None, on_answer: Callable[[str], None] | None = None) -> Ideas:
    """Send the request to the open endpoint ``ep`` and curate the answer (blocking)."""
    async def go() -> str:
        try:
            text, _usage = await brainstorm.ask(ep, req)
            return text
        finally:
            await ep.aclose()  # the client belongs to this event loop

    text = asyncio.run(go())
    if on_answer:
        on_answer(text)
    items = brainstorm.parse_answer(text, req)
    kept, dropped = dedupe([t.text for t in source.topics], items, parent=req.parent)
    if not kept:
        raise brainstorm.BrainstormError(
            f"every one of the {len(items)} topics the model wrote is already in the list or "
            "repeats another; nothing was added", path=source.path, field="answer")
    extra = kept[req.n:]
    dropped += [(t, f"more than the {req.n} asked for") for t in extra]
    return Ideas(asked=req.n, topics=kept[:req.n], dropped=dropped, parent=req.parent,
                 estimate=estimate, answer_items=len(items))
