"""The engine against a real misbehaving HTTP server on loopback (real sockets, SSE)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter

import pytest

from synth.generate.endpoints import Endpoint
from synth.generate.engine import Engine, EngineOptions
from synth.generate.events import (Chunk, ConversationFailed, ConversationFinished, ConversationRetrying,
                          ConversationStarted, Progress, RunFinished, RunPaused, RunResumed)
from synth.generate.limits import Backoff
from synth.dataset.store import Store
from tests.faultserver import FaultServer, make_spec


@pytest.fixture
def fs():
    with FaultServer() as server:
        yield server


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "runs")


def endpoint(fs, **kw) -> Endpoint:
    kw.setdefault("timeout", 1.0)
    return Endpoint(name="fault", base_url=fs.url, model=kw.pop("model", "fault-model"),
                    style=kw.pop("style", "completion"), **kw)


def engine(store, ep, **opt) -> Engine:
    opt.setdefault("backoff", Backoff(base=0.02, cap=0.2, max_attempts=6))
    return Engine(store, ep, options=EngineOptions(**opt), cost_fn=opt.pop("cost_fn", None))


async def collect(eng: Engine, spec, on_event=None) -> list:
    out = []
    async for ev in eng.run(spec):
        out.append(ev)
        if on_event:
            on_event(eng, ev)
    return out


def stored_lines(store, run_id) -> list[dict]:
    lines = store.conversations_path(run_id).read_text().splitlines()[1:]
    return [json.loads(x) for x in lines]


def finished(events) -> RunFinished:
    assert isinstance(events[-1], RunFinished)
    return events[-1]


async def test_transient_faults_end_with_every_conversation_exactly_once(fs, store):
    spec = make_spec(10, concurrency=4)
    faults = {0: "500", 1: "502", 2: "cut", 3: "malformed", 4: "wrongjson", 5: "empty",
              6: "stall:3", 7: "stallmid:3", 8: "503"}
    for i, action in faults.items():
        fs.script([action], match=f"topic number {i}\n")
    events = await collect(engine(store, endpoint(fs)), spec)
    fin = finished(events)
    assert fin.outcome == "complete" and fin.done == 10 and fin.failed == 0
    recs = stored_lines(store, spec.run_id)
    assert len(recs) == 10 and len({r["id"] for r in recs}) == 10
    assert all(r["status"] == "complete" and len(r["turns"]) == 6 for r in recs)
    retries = [e for e in events if isinstance(e, ConversationRetrying)]
    assert len(retries) == len(faults)
    reasons = " | ".join(r.reason for r in retries)
    for word in ("HTTP 500", "HTTP 502", "HTTP 503", "dropped", "garbled", "no text",
                 "timed out"):
        assert word in reasons
    for i in faults:  # each faulted topic was asked exactly twice, the others once
        assert len(fs.requests_for(f"topic number {i}\n")) == 2
    assert len(fs.requests_for("topic number 9\n")) == 1
    # the store is written before the event: each Finished conversation is already on disk
    assert {e.conversation.id for e in events if isinstance(e, ConversationFinished)} == \
        {r["id"] for r in recs}


async def test_retry_after_seconds_and_http_date_are_honoured(fs, store):
    spec = make_spec(3, concurrency=1)
    fs.script(["429:1.5"], match="topic number 0\n")
    fs.script(["429date:2"], match="topic number 1\n")
    events = await collect(engine(store, endpoint(fs)), spec)
    assert finished(events).done == 3
    a = fs.requests_for("topic number 0\n")
    b = fs.requests_for("topic number 1\n")
    assert [r.action for r in a] == ["429:1.5", "ok"]
    assert a[1].t - a[0].t >= 1.5
    # an HTTP date has whole seconds: "in 2 s" is between 1 and 2 seconds away
    assert b[1].t - b[0].t >= 0.95
    waits = [e.wait_s for e in events if isinstance(e, ConversationRetrying)]
    assert waits[0] >= 1.5


async def test_401_stops_the_run_at_once_with_the_servers_message(fs, store):
    fs.default = "401"
    spec = make_spec(30, concurrency=4)
    t0 = time.monotonic()
    events = await collect(engine(store, endpoint(fs)), spec)
    fin = finished(events)
    assert time.monotonic() - t0 < 3
    assert fin.outcome == "stopped"
    assert "Incorrect API key provided" in fin.reason and "401" in fin.reason
    assert len(fs.requests) <= 4  # no retries: at most the requests already in flight
    assert fin.done == 0 and not stored_lines(store, spec.run_id)


async def test_missing_model_404_stops_with_message(fs, store):
    fs.known_models = {"real-model"}
    spec = make_spec(5, concurrency=2, model="no-such-model")
    events = await collect(engine(store, endpoint(fs, model="no-such-model")), spec)
    fin = finished(events)
    assert fin.outcome == "stopped" and "does not exist" in fin.reason
    assert len(fs.requests) <= 2


async def test_every_request_failing_pauses_instead_of_spinning(fs, store):
    fs.default = "503"
    spec = make_spec(8, concurrency=2)
    eng = engine(store, endpoint(fs), storm_threshold=4, storm_window_s=0.3,
                 backoff=Backoff(base=0.02, cap=0.05, max_attempts=1000), pause_ends_run=True)
    t0 = time.monotonic()
    events = await collect(eng, spec)
    fin = finished(events)
    assert fin.outcome == "paused" and "503" in fin.reason
    assert any(isinstance(e, RunPaused) for e in events)
    assert time.monotonic() - t0 < 3
    n = len(fs.requests)
    await asyncio.sleep(0.3)
    assert len(fs.requests) == n  # nothing keeps hammering the server


async def test_paused_run_resumes_when_told(fs, store):
    fs.default = "503"
    spec = make_spec(4, concurrency=2)
    eng = engine(store, endpoint(fs), storm_threshold=3, storm_window_s=0.2,
                 backoff=Backoff(base=0.02, cap=0.05, max_attempts=1000))

    def on(eng, ev):
        if isinstance(ev, RunPaused):
            n = len(fs.requests)

            async def later():
                await asyncio.sleep(0.3)
                assert len(fs.requests) <= n + 2  # paused: no new attempts start
                fs.default = "ok"
                eng.resume()

            asyncio.get_running_loop().create_task(later())

    events = await collect(eng, spec, on)
    kinds = [type(e) for e in events]
    assert RunPaused in kinds and RunResumed in kinds
    assert kinds.index(RunPaused) < kinds.index(RunResumed)
    fin = finished(events)
    assert fin.outcome == "complete" and fin.done == 4


async def test_cancel_keeps_partial_conversations_and_sends_nothing_after(store):
    with FaultServer(chunk_delay=0.03) as slow:
        spec = make_spec(6, concurrency=3)
        cancelled_at: list[float] = []
        streaming: set[str] = set()

        def on(eng, ev):
            if isinstance(ev, Chunk):
                streaming.add(ev.conversation_id)
                # all 3 in flight are streaming (so the server has seen their requests)
                if len(streaming) == 3 and not cancelled_at:
                    cancelled_at.append(time.monotonic())
                    eng.cancel()

        events = await collect(engine(store, endpoint(slow)), spec, on)
        fin = finished(events)
        assert fin.outcome == "cancelled"
        await asyncio.sleep(0.3)
        assert len(slow.requests) == 3  # the other 3 were never asked for
        assert all(r.t <= cancelled_at[0] for r in slow.requests)
        partial_events = [e for e in events if isinstance(e, ConversationFailed) and e.partial]
        recs = stored_lines(store, spec.run_id)
        assert len(recs) == 3 and all(r["status"] == "partial" for r in recs)
        assert len(partial_events) == len(recs)
        assert all(r["raw_text"] and r["finish_reason"] == "cancelled" for r in recs)
        assert store.finished_ids(spec.run_id) == set()
    # resume with a fast server: partial ones are rewritten, every conversation ends complete
    with FaultServer() as fast:
        events = await collect(engine(store, endpoint(fast)), spec)
        fin = finished(events)
        assert fin.outcome == "complete" and fin.done == 6
        loaded = store.load(spec.run_id).conversations
        assert len(loaded) == 6 and all(c.status == "complete" for c in loaded)


async def test_resume_writes_only_what_is_missing(fs, store):
    spec = make_spec(6, concurrency=3, limit=4)
    fin = finished(await collect(engine(store, endpoint(fs)), spec))
    assert fin.outcome == "limit" and fin.done == 4
    spec.limit = None
    events = await collect(engine(store, endpoint(fs)), spec)
    started = events[0]
    assert started.already_done == 4 and started.to_write == 2
    assert finished(events).done == 6
    n = len(fs.requests)
    events = await collect(engine(store, endpoint(fs)), spec)
    assert events[0].to_write == 0 and len(fs.requests) == n
    ids = Counter(r["id"] for r in stored_lines(store, spec.run_id))
    assert len(ids) == 6 and set(ids.values()) == {1}


async def test_budget_stops_before_it_is_exceeded(fs, store):
    price = 0.0001  # USD per token, in and out
    spec = make_spec(20, concurrency=2, budget=0.06, max_tokens=150)
    eng = Engine(store, endpoint(fs), cost_fn=lambda m, p, c: (p + c) * price,
                 options=EngineOptions(backoff=Backoff(base=0.02)))
    events = await collect(eng, spec)
    fin = finished(events)
    assert fin.outcome == "budget" and "budget" in fin.reason
    assert 0 < fin.done < 20
    assert fin.cost is not None and fin.cost <= 0.06
    assert abs(fin.cost - sum(r["cost"] for r in stored_lines(store, spec.run_id))) < 1e-9


async def test_budget_without_a_known_price_is_refused(fs, store):
    spec = make_spec(2, budget=1.0)
    with pytest.raises(Exception, match="no price is known"):
        await collect(Engine(store, endpoint(fs), cost_fn=lambda m, p, c: None), spec)


async def test_stops_beyond_the_servers_limit_are_applied_client_side(fs, store):
    spec = make_spec(2, stop=["ZZZ", "END OF CONVERSATION"])
    events = await collect(engine(store, endpoint(fs, max_stop=1)), spec)
    assert finished(events).done == 2
    assert all(r.stop == ["ZZZ"] for r in fs.requests)  # only max_stop of them were sent
    for r in stored_lines(store, spec.run_id):
        assert r["trim"]["stop"] == "END OF CONVERSATION"
        assert r["trim"]["at"] == r["raw_text"].index("END OF CONVERSATION")
        assert len(r["turns"]) == 6 and r["usage"]["source"] == "estimate"
        assert r["params"]["request_stop"] == ["ZZZ"]


async def test_usage_from_the_server_is_recorded(fs, store):
    spec = make_spec(2)
    events = await collect(engine(store, endpoint(fs)), spec)
    done = [e for e in events if isinstance(e, ConversationFinished)]
    assert len(done) == 2
    for e in done:
        assert e.usage.source == "server" and e.usage.completion_tokens > 10
        assert e.finish_reason == "stop"


async def test_chat_style(fs, store):
    spec = make_spec(2, style="chat")
    events = await collect(engine(store, endpoint(fs, style="chat")), spec)
    assert finished(events).done == 2
    assert all(r.path == "/v1/chat/completions" for r in fs.requests)
    recs = stored_lines(store, spec.run_id)
    assert all(len(r["turns"]) == 6 and r["turns"][0]["role"] == "user" for r in recs)


async def test_rpm_limit_spaces_requests(fs, store):
    spec = make_spec(10, concurrency=10, rpm=240)  # 4 a second, a burst of 4
    await collect(engine(store, endpoint(fs)), spec)
    ts = sorted(r.t for r in fs.requests)
    assert len(ts) == 10
    assert ts[-1] - ts[0] >= 1.3  # 6 requests past the burst at 0.25 s each


async def test_discard_and_retry_one_conversation(store):
    with FaultServer(chunk_delay=0.02) as slow:
        spec = make_spec(3, concurrency=3)
        target: list[str] = []

        def on(eng, ev):
            if isinstance(ev, ConversationStarted) and not target:
                target.append(ev.conversation_id)
                assert eng.discard(ev.conversation_id)
            elif isinstance(ev, ConversationFailed) and ev.conversation_id == target[0]:
                assert eng.retry(ev.conversation_id)

        events = await collect(engine(store, endpoint(slow)), spec, on)
        fails = [e for e in events if isinstance(e, ConversationFailed)]
        assert [f.reason for f in fails] == ["discarded by the user"]
        fin = finished(events)
        assert fin.done == 3 and fin.failed == 0
        ids = Counter(r["id"] for r in stored_lines(store, spec.run_id))
        assert ids[target[0]] == 1 and len(ids) == 3


async def test_events_are_coalesced_for_many_streams(store):
    with FaultServer(chunk_delay=0.002) as server:
        spec = make_spec(64, concurrency=64)
        t0 = time.monotonic()
        events = await collect(engine(store, endpoint(server, timeout=10)), spec)
        elapsed = time.monotonic() - t0
        assert finished(events).done == 64
        progress = [e for e in events if isinstance(e, Progress)]
        chunks = [e for e in events if isinstance(e, Chunk)]
        pieces = 64 * len(server._text("x", False, [])[0].split())
        assert len(progress) <= elapsed / 0.25 + 4
        assert len(chunks) < pieces / 2  # merged, not one event per token
        text = {}
        for c in chunks:
            text[c.conversation_id] = text.get(c.conversation_id, "") + c.text
        for e in events:
            if isinstance(e, ConversationFinished):
                assert text[e.conversation.id] == e.conversation.raw_text


async def test_parameters_a_model_rejects_are_dropped_once_and_remembered(fs, store):
    fs.reject_params = {"max_tokens", "temperature", "stream_options"}
    spec = make_spec(3, concurrency=1, style="chat")
    ep = endpoint(fs, style="chat")
    events = await collect(engine(store, ep), spec)
    assert finished(events).done == 3
    assert ep.token_param == "max_completion_tokens"
    assert ep.dropped == {"temperature", "stream_options"}
    ok = [r for r in fs.requests if r.action == "ok" and not (fs.reject_params & set(r.body))]
    assert len(ok) == 3 and all(r.body["max_completion_tokens"] == 200 for r in ok)
    assert len(fs.requests) == 3 + 3  # three lessons learned on the first conversation only


async def test_a_second_writer_on_the_same_run_is_refused(fs, store):
    spec = make_spec(2)
    store.open_run(spec)
    with store.writer(spec.run_id):
        with pytest.raises(Exception, match="another chatsynth process is writing this run"):
            await collect(engine(store, endpoint(fs)), spec)
    assert not fs.requests


async def test_per_topic_repeats_get_their_own_seed(fs, store):
    spec = make_spec(2, per_topic=3, seed=41)
    events = await collect(engine(store, endpoint(fs)), spec)
    assert finished(events).done == 6
    seeds = sorted(r.body["seed"] for r in fs.requests)
    assert seeds == [41, 41, 42, 42, 43, 43]
    assert {r["params"]["seed"] for r in stored_lines(store, spec.run_id)} == {41, 42, 43}
