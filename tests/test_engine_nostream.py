"""The engine asking for whole answers (``EngineOptions(stream=False)``, `run --no-stream`) and
reading streams itself, against the real fault server: the same guarantees as a stream."""

from __future__ import annotations

import asyncio
import time

import pytest

from synth.generate.endpoints import Endpoint, stream_completion
from synth.generate.events import Chunk, ConversationFinished, ConversationRetrying, RunFinished
from synth.dataset.store import Store
from tests.faultserver import FaultServer, make_spec
from tests.test_engine_faults import collect, engine, stored_lines


@pytest.fixture
def fs():
    with FaultServer() as server:
        yield server


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "runs")


def endpoint(fs, **kw) -> Endpoint:
    kw.setdefault("timeout", 1.0)
    return Endpoint(name="fault", base_url=fs.url, model="fault-model",
                    style=kw.pop("style", "completion"), **kw)


async def test_whole_answers_survive_every_fault_exactly_once(fs, store):
    spec = make_spec(10, concurrency=4)
    faults = {0: "500", 1: "502", 2: "cut", 3: "malformed", 4: "wrongjson", 5: "empty",
              6: "stall:3", 7: "stallmid:3", 8: "503"}
    for i, action in faults.items():
        fs.script([action], match=f"topic number {i}\n")
    events = await collect(engine(store, endpoint(fs), stream=False), spec)
    fin = events[-1]
    assert isinstance(fin, RunFinished)
    assert fin.outcome == "complete" and fin.done == 10 and fin.failed == 0
    recs = stored_lines(store, spec.run_id)
    assert len(recs) == 10 and len({r["id"] for r in recs}) == 10
    assert all(r["status"] == "complete" and len(r["turns"]) == 6 for r in recs)
    assert all(r["usage"]["source"] == "server" for r in recs)
    reasons = " | ".join(e.reason for e in events if isinstance(e, ConversationRetrying))
    for word in ("HTTP 500", "HTTP 502", "HTTP 503", "dropped", "garbled", "no text",
                 "timed out"):
        assert word in reasons
    for i in faults:
        assert len(fs.requests_for(f"topic number {i}\n")) == 2
    assert all(r.body["stream"] is False and "stream_options" not in r.body
               for r in fs.requests)
    # nothing is "written" until the answer is whole: one chunk each, the kept text
    chunks = [e for e in events if isinstance(e, Chunk)]
    assert len(chunks) == 10


async def test_stops_the_server_ignores_are_applied_after_the_fact(fs, store):
    fs.honour_stop = False
    spec = make_spec(3, concurrency=3, stop=["\nEVE:", "END OF CONVERSATION"])
    events = await collect(engine(store, endpoint(fs, max_stop=1), stream=False), spec)
    assert events[-1].outcome == "complete"
    for r in stored_lines(store, spec.run_id):
        assert r["trim"]["stop"] == "\nEVE:" and len(r["turns"]) == 1
        assert "END OF CONVERSATION" in r["trim"]["tail"]  # the whole answer came
    assert all(r.stop == ["\nEVE:"] for r in fs.requests)


async def test_chat_style_without_a_stream(fs, store):
    spec = make_spec(2, concurrency=2, style="chat")
    events = await collect(engine(store, endpoint(fs, style="chat"), stream=False), spec)
    assert events[-1].outcome == "complete" and events[-1].done == 2
    assert all(len(r["turns"]) >= 5 for r in stored_lines(store, spec.run_id))
    assert {r.path for r in fs.requests} == {"/v1/chat/completions"}


@pytest.mark.parametrize("interval", [0.0, 30.0])
async def test_streamed_chunks_add_up_to_the_text_before_the_stop(fs, store, interval):
    """The stop search looks only at the new piece and the end of the text before it; what
    the UI is sent ends where the stop sequence begins (a stop split over pieces is found),
    or, when its first pieces had already gone out, never runs past the stop's end."""
    fs.honour_stop = False  # the server runs on: the stop is found on our side
    stop = "CONVERSATION\n\nTopic"
    spec = make_spec(4, concurrency=4, stop=[stop], tag=f"chunks{interval}")
    events = await collect(engine(store, endpoint(fs), chunk_interval_s=interval), spec)
    assert events[-1].outcome == "complete"
    sent: dict[str, str] = {}
    for e in events:
        if isinstance(e, Chunk):
            sent[e.conversation_id] = sent.get(e.conversation_id, "") + e.text
    done = [e.conversation for e in events if isinstance(e, ConversationFinished)]
    assert len(done) == 4
    for c in done:
        assert c.trim.stop == stop and c.raw_text[c.trim.at:].startswith(stop)
        if interval:  # nothing went out before the stop was found: exactly the kept text
            assert sent[c.id] == c.raw_text[:c.trim.at]
        else:
            assert c.raw_text.startswith(sent[c.id])
            assert c.trim.at <= len(sent[c.id]) < c.trim.at + len(stop)


async def test_a_whole_answer_takes_as_long_as_its_stream(store):
    """The fault server paces a non-streamed answer like the stream it would have sent, so
    paced benchmarks compare like with like (it used to answer at once)."""
    with FaultServer(chunk_delay=0.01) as slow:
        ep = Endpoint(name="slow", base_url=slow.url, model="fault-model", style="completion")
        times = {}
        for stream in (True, False):
            t0 = time.monotonic()
            got = [p async for p in stream_completion(
                ep, prompt="Topic: pacing\n\nUSER:", messages=None, style="completion",
                max_tokens=200, temperature=0.5, stop=[], stream=stream)]
            times[stream] = time.monotonic() - t0
            assert got[-1].finish_reason == "length"
        await ep.aclose()
    pieces = len(fs_text_pieces())
    assert pieces > 50
    # at least the sum of the stream's pauses (it used to answer in a few ms), and about as
    # long as the stream (which also pays for sending each chunk)
    assert times[False] >= pieces * 0.01 and times[True] >= pieces * 0.01, times
    assert times[False] >= 0.6 * times[True], times


def fs_text_pieces() -> list[str]:
    import re

    text, _ = FaultServer()._text("Topic: pacing\n\nUSER:", False, [])
    return re.findall(r"\s*\S+", text)


async def test_a_stream_cut_off_by_a_cancel_is_kept_as_partial_but_a_whole_answer_is_not(store):
    for stream in (True, False):
        with FaultServer(chunk_delay=0.02) as slow:
            ep = Endpoint(name="slow", base_url=slow.url, model="fault-model",
                          style="completion")
            spec = make_spec(2, concurrency=2, tag=f"cancel{stream}")
            eng = engine(store, ep, stream=stream)

            async def cancel_soon() -> None:
                await asyncio.sleep(0.6)
                eng.cancel()

            task = asyncio.create_task(cancel_soon())
            events = await collect(eng, spec)
            await task
            await ep.aclose()
        assert events[-1].outcome == "cancelled"
        recs = stored_lines(store, spec.run_id)
        if stream:
            assert len(recs) == 2 and {r["status"] for r in recs} == {"partial"}
        else:
            assert recs == []


def test_an_endpoint_used_again_under_a_new_event_loop_makes_a_new_client(tmp_path):
    """Two runs with one Endpoint, each in its own asyncio.run (a benchmark's two sides, a
    second brainstorm): the HTTP client of the first loop must not be used by the second
    ("Event loop is closed")."""
    import asyncio

    from rel_helpers import fault_endpoint
    from faultserver import FaultServer
    from synth.generate.endpoints import stream_completion

    async def one(ep):
        out = []
        async for piece in stream_completion(ep, prompt="Topic: x\n\nUSER:", messages=None,
                                             style="completion", max_tokens=64, temperature=0.5,
                                             stop=["END OF CONVERSATION"]):
            out.append(piece)
        return out

    with FaultServer() as fs:
        ep = fault_endpoint(fs.url)
        first = asyncio.run(one(ep))
        second = asyncio.run(one(ep))
    assert first and second and len(first) == len(second)
