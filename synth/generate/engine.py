"""The async run loop: one stream of typed events per run.

    engine = Engine(store, endpoint)
    async for ev in engine.run(spec):      # RunStarted ... RunFinished
        ...
    engine.pause() / engine.resume() / engine.cancel()      # from any task of the same loop
    engine.retry(conversation_id) / engine.discard(conversation_id)
    async for ev in engine.run(spec, only={cid}):  # write these again, nothing else

What it guarantees:
- Resume: conversations already complete in the store are never requested again.
- Before the first request the endpoint is tested once: one that can't be reached stops the
  run at once (outcome "stopped"), rather than costing every conversation its retries.
- Retry: one in flight is cut off (nothing stored) and written again at once; its attempt
  count goes on from where it was.  A discarded one is counted apart from failed ones.
- Each finished conversation is appended to the store BEFORE ConversationFinished (one write:
  it survives a kill -9; the log is fsync'd from the store thread at most 0.5 s apart).
- At most ``spec.concurrency`` requests in flight; optional RPM/TPM token buckets.
- Transient faults (408/409/429/5xx, timeouts, dropped or garbled streams) are retried with
  exponential backoff and jitter, never sooner than a server's Retry-After (which also holds
  back every other worker).  Fatal ones (400/401/403/404) stop the run at once with the
  server's message.  If every request keeps failing, the run pauses (RunPaused) instead of
  spinning; with ``pause_ends_run`` (the CLI) it ends with outcome "paused".
- A money budget stops the run before it would be exceeded: a request starts only when the
  cost so far, plus what is in flight, plus this request's worst case (its prompt and
  ``max_tokens`` of output) stays within the budget.
- Cancel: no new request starts; a conversation cut off mid-stream is stored with
  status="partial" (kept, flagged by the filters, excluded from export by default); one that
  had written nothing is not stored.  A later start of the same spec rewrites partial ones.
- Streamed or not (``EngineOptions.stream``): the same retries, stops (applied here after
  the fact when the whole answer comes at once), timeouts and resume.
- Progress events are coalesced (a few per second), and text chunks are merged per
  conversation (at most about 20 per second each), so a UI with 64 streams is not flooded.

What happens to one conversation (its gate, stream, storing and counting) is in
``synth.generate.engine_conv``; the per-conversation token tally and the endpoint test in
``synth.generate.runstate``.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable

from synth.generate import transcript
from synth.generate.endpoints import Endpoint
from synth.generate.engine_conv import ConversationWork, _Live
from synth.generate.roleplay import RoleplayWork
from synth.errors import ChatsynthError
from synth.generate.events import Event, Progress, RunFinished, RunPaused, RunResumed, RunStarted
from synth.generate.limits import Backoff, Cooldown, Storm, TokenBucket
from synth.models import Conversation, Persona, RunSpec, WorkItem
from synth.generate.planner import plan
from synth.generate.runstate import Tally, unreachable
from synth.wording import plural

CostFn = Callable[[str, int, int], "float | None"]


class EngineError(ChatsynthError):
    """A run that can't start as asked (e.g. a budget with no known price)."""


def default_cost_fn() -> CostFn | None:
    try:
        from synth.pricing import cost_of  # written by the export engineer
    except ImportError:
        return None
    return cost_of


@dataclass
class EngineOptions:
    backoff: Backoff = field(default_factory=Backoff)
    storm_threshold: int = 8  # failed attempts in a row ...
    storm_window_s: float = 30.0  # ... and no success for this long -> pause
    pause_ends_run: bool = False  # headless: a pause ends the run (outcome "paused")
    chunk_interval_s: float = 0.05
    progress_interval_s: float = 0.25
    emit_chunks: bool = True
    # False: ask for whole answers (no stream): stops are still applied here after the fact,
    # and the endpoint's timeout then covers the whole answer; for runs nobody watches
    stream: bool = True
    # a verdict for each finished conversation (engine.verdicts), e.g. the filters' check: the
    # caller's choice, so the engine needs nothing from a later stage of the flow
    verdict: Callable[[Conversation, Persona], Any] | None = None
    probe: bool = True  # test the endpoint once before the first request


class Engine(RoleplayWork, ConversationWork):
    def __init__(self, store: Any, endpoint: Endpoint, *, options: EngineOptions | None = None,
                 cost_fn: CostFn | None = None, user_endpoint: Endpoint | None = None) -> None:
        self.store = store
        self.endpoint = endpoint
        self.user_endpoint = user_endpoint  # role-play: the simulated user's, when not the same
        self.opt = options or EngineOptions()
        self.cost_fn = cost_fn if cost_fn is not None else default_cost_fn()
        self.verdicts: dict[str, Any] = {}  # conversation id -> filters.Verdict
        self.state = "idle"  # idle | running | paused | finished
        self._reset()

    def _reset(self) -> None:
        self._q: asyncio.Queue[Any] | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._live: dict[str, _Live] = {}
        self._queue: deque[WorkItem] = deque()
        self._items: dict[str, WorkItem] = {}
        self._failed_ids: set[str] = set()
        self._discarded_ids: set[str] = set()
        self._done_ids: set[str] = set()  # finished this start
        self._before: set[str] = set()  # complete in the store before this start
        self._attempts: dict[str, int] = {}  # attempts so far per conversation, this start
        self._last_failure = ""
        self._tally = Tally()
        self._final: set[str] = set()  # ids whose task has sent its last event
        self._slot_free: set[str] = set()  # tasks past their request (parsing, storing)
        self._done = self._failed = 0
        self._cost = 0.0
        self._cost_known = True
        self._reserved = 0.0
        self._tokens_per_char = 1 / 3
        self._outcome: str | None = None
        self._reason = ""
        self._budget_hit = False
        self._dirty = True
        self._t0 = time.monotonic()

    # -- control (call from the loop that runs the engine) --------------------------------------
    def pause(self, reason: str = "paused by the user") -> None:
        if self.state == "running":
            self.state = "paused"
            self._unpaused.clear()
            self._emit(RunPaused(reason=reason))

    def resume(self) -> None:
        if self.state == "paused":
            self.state = "running"
            self._storm.reset()
            self._unpaused.set()
            self._emit(RunResumed())
            self._wake.set()

    def cancel(self, reason: str = "cancelled") -> None:
        self._stop("cancelled", reason)

    def retry(self, conversation_id: str) -> bool:
        """Write this conversation (again): a failed one, or a finished one to regenerate."""
        item = self._items.get(conversation_id)
        if item is None or self.state not in ("running", "paused") or self._outcome:
            return False
        if item in self._queue:
            return False
        live = self._live.get(conversation_id)
        task = self._tasks.get(conversation_id)
        if task is not None and conversation_id not in self._final:
            if live is None or live.retry:
                return False
            live.retry = True  # cut it off (nothing stored) and write it again at once
            task.cancel()
        if conversation_id in self._failed_ids:
            self._failed_ids.discard(conversation_id)
            self._failed -= 1
        if conversation_id in self._discarded_ids:
            self._discarded_ids.discard(conversation_id)
        self._queue.appendleft(item)
        self._dirty = True
        self._wake.set()
        return True

    def discard(self, conversation_id: str) -> bool:
        """Drop one conversation: stop its request if in flight, never store it in this run."""
        live = self._live.get(conversation_id)
        task = self._tasks.get(conversation_id)
        if live is not None and task is not None:
            live.discard = True
            task.cancel()
            return True
        for it in list(self._queue):
            if it.conversation_id == conversation_id:
                self._queue.remove(it)
                self._fail(it, "discarded by the user", discarded=True)
                return True
        return False

    # -- the event stream --------------------------------------------------------------------
    async def run(self, spec: RunSpec, only: set[str] | list[str] | None = None
                  ) -> AsyncIterator[Event]:
        """The run's events.  ``only``: write just these conversations (again, if stored)."""
        if self.state in ("running", "paused"):
            raise EngineError("this engine is already running a run")
        self._reset()
        self.verdicts = {}
        self.state = "running"
        q: asyncio.Queue[Any] = asyncio.Queue()
        self._q = q
        driver = asyncio.create_task(self._drive(spec, set(only) if only else None))
        try:
            while True:
                ev = await q.get()
                if isinstance(ev, BaseException):
                    raise ev
                yield ev
                if isinstance(ev, RunFinished):
                    break
        finally:
            if not driver.done():
                self._stop("cancelled", "the consumer stopped listening")
                try:
                    await driver
                except BaseException:  # noqa: BLE001 - already reporting another way
                    pass
            self.state = "finished"

    def _emit(self, ev: Any) -> None:
        if self._q is not None:
            self._q.put_nowait(ev)

    # -- driver ------------------------------------------------------------------------------
    async def _drive(self, spec: RunSpec, only: set[str] | None) -> None:
        try:
            await self._drive_inner(spec, only)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            for t in self._tasks.values():
                t.cancel()
            self._emit(exc if isinstance(exc, Exception) else EngineError(f"run aborted: {exc!r}"))
            if not isinstance(exc, Exception):
                raise

    async def _drive_inner(self, spec: RunSpec, only: set[str] | None) -> None:
        self.spec = spec
        ep = self.endpoint
        if spec.budget is not None and not ep.free and self._price(1000, 1000) is None:
            raise EngineError(f"no price is known for model {ep.model!r}, so a budget can't be "
                              "enforced; add it under `prices:` in chatsynth.yaml or drop --budget",
                              field="budget")
        if spec.method == "roleplay" and spec.persona.user_simulator is None:
            raise EngineError(f"persona {spec.persona.id!r} has no user_simulator: block, so it "
                              "can't be written by role-play", field="method")
        self._unpaused = asyncio.Event()
        self._unpaused.set()
        self._wake = asyncio.Event()
        self._cooldown = Cooldown()
        self._storm = Storm(threshold=self.opt.storm_threshold, window_s=self.opt.storm_window_s)
        self._rpm = TokenBucket(spec.rpm) if spec.rpm else None
        self._tpm = TokenBucket(spec.tpm) if spec.tpm else None
        self._stops = [s for s in spec.stop if s]
        self._speakers = transcript.Speakers.for_persona(spec.persona)
        self._verdict = self.opt.verdict

        run_id = await asyncio.to_thread(self.store.open_run, spec)
        run_id = run_id or spec.run_id
        self.run_id = run_id
        stored = await asyncio.to_thread(self.store.load, run_id)
        self._tally = Tally(stored.conversations)
        finished = set(self._tally.held)
        self._before = finished
        p = plan(spec, finished)
        self._items = {it.conversation_id: it for it in p.items}
        todo = p.todo
        if only is not None:
            missing = sorted(only - set(self._items))
            if missing:
                raise EngineError(f"conversation {missing[0]} is not part of run {run_id} as it is "
                                  "set up now", field="run")
            todo = [it for it in p.items if it.conversation_id in only]
        self._total = p.total
        self._already = p.already_done
        self._queue = deque(todo)
        self._t0 = time.monotonic()
        writer = await asyncio.to_thread(self.store.writer, run_id)
        self._writer = writer
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chatsynth-store")
        self._sync: asyncio.Future[None] | None = None
        self._emit(RunStarted(run_id=run_id, spec=spec, total=p.total, already_done=p.already_done,
                              to_write=len(todo), endpoint_label=ep.label or ep.name,
                              rewrite=sum(1 for it in todo if it.conversation_id in finished),
                              held_prompt_tokens=self._tally.run_prompt,
                              held_completion_tokens=self._tally.run_completion))
        self._emit(self._progress())
        ticker = asyncio.create_task(self._ticker())
        try:
            if self._queue:  # the client (its transport's imports, TLS context) made off the
                await asyncio.to_thread(lambda: ep.client)  # loop, not in the first request
            if self._queue and self.opt.probe:
                why = await unreachable(ep)
                if why:
                    self._stop("stopped", f"{why}; nothing was requested")
            await self._schedule(max(1, int(spec.concurrency or 1)))
        finally:
            ticker.cancel()
            for t in list(self._tasks.values()):
                t.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks.values(), return_exceptions=True)
            self._io.shutdown(wait=True)
            writer.close()
        problems = list(getattr(writer, "problems", []))
        outcome = self._outcome
        if outcome is None:
            if self._budget_hit:
                outcome, self._reason = "budget", self._reason or "the budget would be exceeded"
            elif self._failed and not self._done_ids:
                outcome = "failed"
                self._reason = f"every conversation failed: {self._last_failure}"
            elif only is not None:
                outcome, self._reason = "complete", f"wrote {plural(len(todo), 'conversation')} again"
            elif spec.limit is not None and self._already + self._done < self._total:
                outcome, self._reason = "limit", f"wrote up to the limit of {spec.limit}"
            else:
                outcome = "complete"
        self._emit(self._progress())
        self._emit(RunFinished(
            run_id=run_id, outcome=outcome, reason=self._reason, done=self._already + self._done,
            failed=self._failed, total=self._total, prompt_tokens=self._tally.prompt,
            completion_tokens=self._tally.completion, cost=self._cost if self._cost_known else None,
            elapsed_s=time.monotonic() - self._t0,
            store_path=str(self.store.conversations_path(run_id)), problems=problems,
            discarded=len(self._discarded_ids), run_prompt_tokens=self._tally.run_prompt,
            run_completion_tokens=self._tally.run_completion, already_done=self._already))

    async def _schedule(self, concurrency: int) -> None:
        while True:
            self._wake.clear()
            while (self._outcome is None and not self._budget_hit and self._queue
                   and len(self._tasks) - len(self._slot_free) < concurrency):
                if self._queue[0].conversation_id in self._tasks:
                    break  # a retry of one whose task is still ending: its end wakes us
                item = self._queue.popleft()
                cid = item.conversation_id
                self._final.discard(cid)
                task = asyncio.create_task(self._conversation(item))
                self._tasks[cid] = task
                task.add_done_callback(lambda _t, cid=cid: self._task_done(cid))
            if not self._tasks and (not self._queue or self._outcome or self._budget_hit):
                return
            await self._wake.wait()

    def _task_done(self, cid: str) -> None:
        self._slot_free.discard(cid)
        self._tasks.pop(cid, None)
        self._live.pop(cid, None)
        self._wake.set()

    def _stop(self, outcome: str, reason: str) -> None:
        if self._outcome is None:
            self._outcome = outcome
            self._reason = reason
        me = asyncio.current_task()
        for t in list(self._tasks.values()):
            if t is not me:
                t.cancel()
        if getattr(self, "_wake", None) is not None:
            self._unpaused.set()
            self._wake.set()

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.opt.progress_interval_s)
            # while text streams in, tokens/s and in-flight change even with nothing finishing
            if self._dirty or any(lv.streaming for lv in self._live.values()):
                self._emit(self._progress())

    def _progress(self) -> Progress:
        self._dirty = False
        elapsed = time.monotonic() - self._t0
        live_tokens = sum((lv.chars + 3) // 4 for lv in self._live.values())
        t = self._tally
        rate = (t.completion + live_tokens) / elapsed if elapsed > 0 else 0.0
        return Progress(
            done=self._already + self._done, failed=self._failed,
            remaining=len(self._queue) + len(self._tasks), in_flight=sum(
                1 for lv in self._live.values() if lv.streaming),
            prompt_tokens=t.prompt, completion_tokens=t.completion,
            cost=self._cost if self._cost_known else None,
            tokens_per_s=0.0 if self.state == "paused" else rate, elapsed_s=elapsed,
            budget=getattr(self, "spec", None) and self.spec.budget,
            discarded=len(self._discarded_ids), run_prompt_tokens=t.run_prompt,
            run_completion_tokens=t.run_completion)

    # -- money --------------------------------------------------------------------------------
    def _price(self, ptok: int, ctok: int) -> float | None:
        if self.endpoint.free:
            return 0.0
        if self.cost_fn is None:
            return None
        try:
            c = self.cost_fn(self.endpoint.model, ptok, ctok)
        except Exception:  # noqa: BLE001 - a price table problem must not stop a run
            return None
        return None if c is None else float(c)
