"""The run lifecycle against the real loopback fault server: why a run ended, retry of one in
flight, discarded apart from failed, and token totals that are the sum of the conversations."""

from __future__ import annotations

import asyncio
import socket
import time

from synth.generate.events import (Chunk, ConversationFailed, ConversationFinished, ConversationStarted,
                          Progress, RunPaused, RunStarted)
from synth.generate.limits import Backoff
from synth.wording import plural
from tests.faultserver import FaultServer, make_spec
from tests.test_engine_faults import collect, endpoint, engine, finished, fs, store, stored_lines

__all__ = ["fs", "store"]  # fixtures


def dead_url() -> str:
    """A loopback URL where nothing listens (a port just given back by the OS)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/v1"


class _Dead:
    url = dead_url()


async def test_a_dead_endpoint_stops_the_run_at_once_and_says_so(store):
    spec = make_spec(4, concurrency=2, limit=2)
    dead = _Dead()
    t0 = time.monotonic()
    events = await collect(engine(store, endpoint(dead), backoff=Backoff(base=0.2, cap=1)), spec)
    fin = finished(events)
    assert time.monotonic() - t0 < 2  # no retries: old code spent 6 tries a conversation
    assert fin.outcome == "stopped"
    assert fin.reason.startswith(f"can't reach {dead.url}") and "refused" in fin.reason
    assert not any(isinstance(e, ConversationStarted) for e in events)
    assert fin.done == 0 and fin.failed == 0


async def test_every_conversation_failing_says_why_not_limit(fs, store):
    fs.default = "500"
    spec = make_spec(4, concurrency=2, limit=2)
    events = await collect(engine(store, endpoint(fs), backoff=Backoff(base=0.01, cap=0.02,
                                                                      max_attempts=2)), spec)
    fin = finished(events)
    assert fin.outcome == "failed"
    assert fin.reason.startswith("every conversation failed: gave up after 2 attempts: HTTP 500")
    assert fin.failed == 2 and fin.done == 0


async def test_retry_of_one_in_flight_writes_it_again_at_once(store):
    with FaultServer(chunk_delay=0.02) as slow:
        spec = make_spec(2, concurrency=2)
        target: list[str] = []
        answers: list[bool] = []

        def on(eng, ev):
            if isinstance(ev, Chunk) and not target:
                target.append(ev.conversation_id)
                answers.append(eng.retry(ev.conversation_id))

        eng = engine(store, endpoint(slow))
        events = await collect(eng, spec, on)
        assert answers == [True]
        starts = [e.attempt for e in events
                  if isinstance(e, ConversationStarted) and e.conversation_id == target[0]]
        assert starts == [1, 2]
        fin = finished(events)
        assert fin.outcome == "complete" and fin.done == 2 and fin.failed == 0
        recs = [r for r in stored_lines(store, spec.run_id) if r["id"] == target[0]]
        assert len(recs) == 1 and recs[0]["status"] == "complete"  # nothing partial stored
        assert recs[0]["params"]["attempts"] == 2
        assert len(slow.requests) == 3


async def test_discarded_is_counted_apart_from_failed(store):
    with FaultServer(chunk_delay=0.02) as slow:
        spec = make_spec(3, concurrency=1)
        target: list[str] = []

        def on(eng, ev):
            if isinstance(ev, ConversationStarted) and not target:
                target.append(ev.conversation_id)
                eng.discard(ev.conversation_id)

        events = await collect(engine(store, endpoint(slow)), spec, on)
        fin = finished(events)
        assert fin.outcome == "complete"
        assert fin.discarded == 1 and fin.failed == 0 and fin.done == 2
        fails = [e for e in events if isinstance(e, ConversationFailed)]
        assert len(fails) == 1 and fails[0].discarded
        last = [e for e in events if isinstance(e, Progress)][-1]
        assert last.discarded == 1 and last.failed == 0


async def test_token_totals_are_the_sum_of_the_stored_conversations_across_a_resume(fs, store):
    spec = make_spec(5, concurrency=2, limit=2)
    first = finished(await collect(engine(store, endpoint(fs)), spec))
    recs = stored_lines(store, spec.run_id)
    assert first.completion_tokens == sum(r["usage"]["completion_tokens"] for r in recs) > 0
    assert first.prompt_tokens == sum(r["usage"]["prompt_tokens"] for r in recs)
    spec.limit = None
    events = await collect(engine(store, endpoint(fs)), spec)
    started = next(e for e in events if isinstance(e, RunStarted))
    assert started.held_completion_tokens == first.completion_tokens
    fin = finished(events)
    recs2 = stored_lines(store, spec.run_id)
    new = recs2[len(recs):]
    # this start: its own conversations; the run: everything it holds (the old code said 0
    # tokens held after a resume)
    assert fin.completion_tokens == sum(r["usage"]["completion_tokens"] for r in new)
    assert fin.run_completion_tokens == sum(r["usage"]["completion_tokens"] for r in recs2)
    assert fin.run_prompt_tokens == sum(r["usage"]["prompt_tokens"] for r in recs2)
    progress = [e for e in events if isinstance(e, Progress)][-1]
    assert progress.run_completion_tokens == fin.run_completion_tokens


async def test_only_writes_a_stored_conversation_again_as_a_run_of_one(fs, store):
    spec = make_spec(3, concurrency=2)
    finished(await collect(engine(store, endpoint(fs)), spec))
    cid = stored_lines(store, spec.run_id)[0]["id"]
    n = len(fs.requests)
    events = [ev async for ev in engine(store, endpoint(fs)).run(spec, only={cid})]
    started = events[0]
    assert isinstance(started, RunStarted) and started.to_write == 1 and started.rewrite == 1
    fin = finished(events)
    assert fin.outcome == "complete" and fin.reason == "wrote 1 conversation again"
    assert fin.done == 3  # the run holds 3, not 4
    assert [e.conversation.id for e in events if isinstance(e, ConversationFinished)] == [cid]
    assert len(fs.requests) == n + 1


async def test_a_paused_run_reports_no_speed(fs, store):
    fs.chunk_delay = 0.02
    spec = make_spec(2, concurrency=2)
    seen: list[Progress] = []

    def on(eng, ev):
        if isinstance(ev, Chunk) and eng.state == "running" and not seen:
            eng.pause()
            seen.append(ev)  # type: ignore[arg-type]

            async def later():
                await asyncio.sleep(0.6)
                eng.resume()

            asyncio.get_running_loop().create_task(later())

    events = await collect(engine(store, endpoint(fs), progress_interval_s=0.05), spec, on)
    i = next(i for i, e in enumerate(events) if isinstance(e, RunPaused))
    during = [e for e in events[i:] if isinstance(e, Progress)][:3]
    assert during and all(p.tokens_per_s == 0.0 for p in during)


def test_plural():
    assert plural(1, "turn") == "1 turn" and plural(2, "problem") == "2 problems"
    assert plural(0, "conversation") == "0 conversations"
