"""The preview area of the store: sample conversations written from the Library's persona form.

A sample is written by the same engine, prompt renderer and filters as a run, from the form's
current values (saved or not), but it is kept apart from the runs::

    <workspace>/preview/<persona_id>/      a Store of its own (catalog.json, <run_id>/...)

One "run" there per persona version (the persona's content) and topic; each new sample of the
same version and topic is one more conversation of it (``per_topic`` grows by one).  The
workspace's ``runs/`` catalog never lists them, so the run list, Review, export and datasets
never see a sample.  A sample leaves the preview area when the user keeps it as one of the
persona's few-shot examples (``synth.library.edit.add_example``) or moves it into a run
(``synth.dataset.preview_move``: the preview run's metadata then lists it under ``moved``).

When the persona has a rubric and a judge endpoint is set, the judge scores the sample after
its filters, in the same job (cancelled with it); the verdict goes to the preview run's judge
cache (``judge.jsonl``, as a run's does for Review), so the list shows it again later.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from synth.curate.filters import Verdict, check
from synth.dataset.store import Store
from synth.errors import StoreError
from synth.generate.engine import Engine, EngineOptions
from synth.generate.prompts import Prompt, render
from synth.generate.planner import all_items
from synth.models import Conversation, Persona, RunSpec, Topic, TopicSource

PREVIEW_DIR = "preview"
SOURCE_ID = "preview"  # the one-topic "source" of a sample


@dataclass
class Sample:
    """One stored sample: its conversation, the persona version and the filters' verdict."""

    conversation: Conversation
    version: str  # the persona's content hash when it was written
    verdict: Verdict
    judgement: Any = None  # synth.curate.judge.Judgement, when the judge scored it
    persona: Persona | None = None  # the persona (form values) it was written with


@dataclass
class Judged:
    """The event a SampleJob hands on after the judge: its Judgement, or why it has none."""

    conversation_id: str
    judgement: Any = None
    error: str | None = None


def preview_root(workspace_root: Path) -> Path:
    return Path(workspace_root) / PREVIEW_DIR


class PreviewArea:
    """The samples of a workspace, one Store per persona under ``preview/``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def store(self, persona_id: str) -> Store:
        return Store(self.root / persona_id)

    def spec(self, persona: Persona, topic: Topic, *, endpoint: str, model: str,
             style: str | None) -> RunSpec:
        """The spec of the next sample of this persona version and topic."""
        source = TopicSource(id=SOURCE_ID, kind="yaml", topics=[topic])
        spec = RunSpec.for_persona(persona, source, endpoint=endpoint, model=model, style=style,
                                   concurrency=1)
        store = self.store(persona.id)
        have = 0
        if store.spec_path(spec.run_id).exists():
            have = len(store.finished_ids(spec.run_id))
        spec.per_topic = have + 1
        return spec

    def next_prompt(self, persona: Persona, topic: Topic, *, endpoint: str, model: str,
                    style: str | None) -> Prompt:
        """Exactly the prompt the next sample will send (its examples are drawn by its id)."""
        spec = self.spec(persona, topic, endpoint=endpoint, model=model, style=style)
        item = all_items(spec)[-1]
        return render(spec.persona, item.topic, spec.style, key=item.conversation_id)

    def samples(self, persona_id: str) -> list[Sample]:
        """Every sample of a persona, newest first, each with its persona version."""
        store = self.store(persona_id)
        if not store.catalog_path.exists():
            return []
        from synth.curate.judging import CACHE_NAME, JudgeCache, text_key

        out: list[Sample] = []
        for run_id in store.run_ids():
            try:
                persona = store.get_spec(run_id).persona
                convs = store.load(run_id).conversations
            except StoreError:
                continue  # an unreadable sample is left as it is
            moved = store.run_meta(run_id).get("moved") or {}
            cache_path = store.run_dir(run_id) / CACHE_NAME
            cache = JudgeCache(cache_path) if cache_path.is_file() else None
            version = persona.content_hash()
            for conv in convs:
                if conv.id in moved:
                    continue
                verdict = (Verdict.from_dict(conv.verdict) if conv.verdict
                           else check(conv, persona=persona))
                j = cache.latest(text_key(persona, conv.turns)) if cache else None
                out.append(Sample(conv, version, verdict, j, persona))
        out.sort(key=lambda s: s.conversation.created_at, reverse=True)
        return out


class SampleJob:
    """One sample being written (in a thread of its own); ``cancel`` from any thread."""

    def __init__(self, area: PreviewArea, spec: RunSpec, endpoint: Any,
                 cost_fn: Callable | None = None, judge: Any = None) -> None:
        self.area = area
        self.spec = spec
        self.endpoint = endpoint
        self.cost_fn = cost_fn
        self.judge = judge  # a synth.curate.judging.Judge (its cache: the preview run's), or None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._engine: Engine | None = None
        self._task: asyncio.Task | None = None  # set while the judge scores the sample
        self._lock = threading.Lock()
        self.cancelled = False

    def cancel(self, reason: str = "the form was edited") -> None:
        with self._lock:
            self.cancelled = True
            if self._loop is not None and self._engine is not None and not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self._engine.cancel, reason)
                if self._task is not None:
                    self._loop.call_soon_threadsafe(self._task.cancel)

    def run(self, on_event: Callable[[Any], None]) -> None:
        """Write the sample (blocking), handing every engine event to ``on_event``."""
        asyncio.run(self._run(on_event))

    async def _run(self, on_event: Callable[[Any], None]) -> None:
        opts = EngineOptions(verdict=lambda c, p: check(c, persona=p), pause_ends_run=True,
                             chunk_interval_s=0.05)
        engine = Engine(self.area.store(self.spec.persona.id), self.endpoint, options=opts,
                        cost_fn=self.cost_fn)
        with self._lock:
            if self.cancelled:
                return
            self._loop, self._engine = asyncio.get_running_loop(), engine
        from synth.generate.events import ConversationFinished

        written: list[Conversation] = []
        try:
            async for ev in engine.run(self.spec):
                if isinstance(ev, ConversationFinished):
                    written.append(ev.conversation)
                on_event(ev)
            if self.judge is not None and written and written[0].status == "complete":
                on_event(await self._judge(written[0]))
        finally:
            with self._lock:
                self._loop = self._engine = self._task = None
            await self.endpoint.aclose()  # its HTTP client belongs to this loop
            if self.judge is not None:
                await self.judge.ep.aclose()

    async def _judge(self, conv: Conversation) -> Judged:
        """The judge's verdict on the sample (kept in its cache), or why there is none."""
        with self._lock:
            if self.cancelled:
                return Judged(conv.id, error="cancelled")
            self._task = asyncio.current_task()
        try:
            j = await self.judge.judge(conv.turns)
        except asyncio.CancelledError:
            return Judged(conv.id, error="cancelled")
        except Exception as exc:  # noqa: BLE001 - a fatal endpoint error: said in one line
            return Judged(conv.id, error=getattr(exc, "message", None) or str(exc))
        finally:
            with self._lock:
                self._task = None
        return Judged(conv.id, judgement=j, error=j.error)
