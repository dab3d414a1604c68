"""Role-play through the real engine against the loopback fault server: a simulated user and the
persona take turns, each turn a streamed request (chat and completion style), at concurrency 16,
with Retry-After, a stream cut mid-turn, a cancel, resume, and the filters' truncated rule."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

from synth.curate.filters import check
from synth.dataset.store import Store
from synth.generate.endpoints import Endpoint
from synth.generate.engine import Engine, EngineOptions
from synth.generate.events import Chunk, ConversationFinished, ConversationRetrying, RunFinished
from synth.generate.limits import Backoff
from synth.models import UserSimulator
from tests.faultserver import RP_END, make_spec

SIM = UserSimulator(prompt="You play someone with this on their mind.\nTopic: {topic}\n{brief}\n"
                           "When your need is met, write " + RP_END + ".",
                    briefs=["A nurse.", "A student."], min_turns=4, max_turns=8, max_tokens=60)


def rp_spec(n: int, *, tag: str = "rp", sim: UserSimulator = SIM, **kw):
    spec = make_spec(n, tag=tag, method="roleplay", **kw)
    spec.persona.user_simulator = sim
    spec.persona.system_prompt = "You are Eve, a life coach. Ask one question a reply."
    return spec


def endpoint(fs, style="chat", **kw) -> Endpoint:
    return Endpoint(name="fault", base_url=fs.url, model="fault-model", style=style,
                    timeout=kw.pop("timeout", 2.0), **kw)


def engine(store, ep, **opt) -> Engine:
    opt.setdefault("backoff", Backoff(base=0.02, cap=0.2, max_attempts=6))
    user_ep = opt.pop("user_endpoint", None)
    return Engine(store, ep, options=EngineOptions(**opt), cost_fn=opt.pop("cost_fn", None),
                  user_endpoint=user_ep)


async def collect(eng, spec, on_event=None) -> list:
    out = []
    async for ev in eng.run(spec):
        out.append(ev)
        if on_event:
            on_event(eng, ev)
    return out


def stored(store, run_id) -> list[dict]:
    return [json.loads(x) for x in store.conversations_path(run_id).read_text().splitlines()[1:]]


def test_rp_end_marker_is_what_the_simulator_prompt_says():
    assert RP_END in SIM.prompt


async def test_chat_roleplay_at_concurrency_16(fs, tmp_path):
    store = Store(tmp_path / "runs")
    spec = rp_spec(40, concurrency=16, style="chat")
    chunks: Counter = Counter()
    live_text: dict[str, str] = {}

    def on(eng, ev):
        if isinstance(ev, Chunk):
            chunks[ev.conversation_id] += 1
            live_text[ev.conversation_id] = live_text.get(ev.conversation_id, "") + ev.text

    events = await collect(engine(store, endpoint(fs)), spec, on)
    fin = events[-1]
    assert isinstance(fin, RunFinished) and fin.outcome == "complete" and fin.done == 40
    recs = stored(store, spec.run_id)
    assert len(recs) == 40 and len({r["id"] for r in recs}) == 40
    ends = Counter(r["params"]["end"] for r in recs)
    assert ends["marker"] > 0 and ends["max_turns"] > 0, ends  # both ways a conversation ends
    persona = spec.persona
    for r in recs:
        roles = [t["role"] for t in r["turns"]]
        assert roles[0] == "user" and roles[-1] == "assistant"
        assert all(a != b for a, b in zip(roles, roles[1:]))
        assert len(roles) <= SIM.max_turns
        assert not any(RP_END in t["text"] for t in r["turns"])  # the marker is never stored
        assert r["raw_text"].startswith("USER: ") and RP_END not in r["raw_text"]
        side = r["params"]["usage_by_side"]
        assert side["user"]["completion_tokens"] > 0 and side["assistant"]["completion_tokens"] > 0
        assert r["usage"]["prompt_tokens"] == side["user"]["prompt_tokens"] + side["assistant"]["prompt_tokens"]
        assert 0 < r["duration_s"] < 60
        assert r["params"]["method"] == "roleplay" and r["params"]["user_simulator"]["brief"] in SIM.briefs
        from synth.models import Conversation

        reasons = {x.rule for x in check(Conversation.from_dict(r), persona=persona).reasons}
        if r["params"]["end"] == "max_turns":
            assert r["finish_reason"] == "max_turns" and "truncated" in reasons
            assert len(roles) == SIM.max_turns
        else:
            assert "truncated" not in reasons and len(roles) >= SIM.min_turns
    # every turn streamed as chunks, in the persona's labels
    for r in recs:
        assert chunks[r["id"]] >= len(r["turns"])
        assert "USER: " in live_text[r["id"]] and "\nEVE: " in live_text[r["id"]]
    # what each side was sent: the persona its system prompt, the user the simulator's, swapped
    chat = [q for q in fs.requests if q.path.endswith("chat/completions")]
    persona_side = [q for q in chat if q.body["messages"][0]["content"] == persona.system_prompt]
    user_side = [q for q in chat if RP_END in q.body["messages"][0]["content"]]
    assert len(persona_side) + len(user_side) == len(chat)
    assert all(q.body["stream"] for q in chat)
    longest = max(persona_side, key=lambda q: len(q.body["messages"]))
    assert [m["role"] for m in longest.body["messages"][1:]][:2] == ["user", "assistant"]
    longest_u = max(user_side, key=lambda q: len(q.body["messages"]))
    assert [m["role"] for m in longest_u.body["messages"][1:]][:2] == ["assistant", "user"]
    # one end marker before min_turns was stripped and the conversation went on
    early = [r for r in recs if any(t["text"] == "Thanks, that really helps." for t in r["turns"])]
    assert early, "no conversation saw the marker before min_turns"
    # resume: nothing more is requested
    n = len(fs.requests)
    events = await collect(engine(store, endpoint(fs)), spec)
    assert events[-1].done == 40 and len(fs.requests) == n


async def test_completion_roleplay_shares_one_transcript_and_stops_at_labels(fs, tmp_path):
    store = Store(tmp_path / "runs")
    spec = rp_spec(6, concurrency=4, style="completion")
    events = await collect(engine(store, endpoint(fs, style="completion")), spec)
    assert events[-1].outcome == "complete" and events[-1].done == 6
    comp = [q for q in fs.requests if q.path == "/v1/completions"]
    assert comp
    for q in comp:
        if q.prompt.rstrip().endswith("EVE:"):
            assert q.stop[:2] == ["\nUSER:", "\nEVE:"] and q.prompt.startswith("A coaching session with Eve.")
        else:
            assert q.prompt.rstrip().endswith("USER:")
            assert q.stop[:2] == ["\nEVE:", "\nUSER:"] and RP_END not in q.stop and "Topic: rp topic" in q.prompt
            assert RP_END not in q.prompt  # a base model gets the transcript, not instructions
    for r in stored(store, spec.run_id):
        assert all("and so on" not in t["text"] and "USER:" not in t["text"]
                   and "EVE:" not in t["text"] for t in r["turns"])  # cut at the other's label
        assert r["turns"][0]["role"] == "user" and r["turns"][-1]["role"] == "assistant"


async def test_retry_after_and_a_cut_stream_mid_turn_retry_that_turn_only(fs, tmp_path):
    store = Store(tmp_path / "runs")
    spec = rp_spec(1, tag="faulty", style="chat")
    # the persona's second answer: first a 429 with Retry-After, then a stream cut mid-turn
    fs.script(["ok", "429:1", "cut", "ok"], match="You are Eve")
    events = await collect(engine(store, endpoint(fs)), spec)
    fin = events[-1]
    assert fin.outcome == "complete" and fin.done == 1
    retries = [e for e in events if isinstance(e, ConversationRetrying)]
    assert len(retries) == 2 and "429" in retries[0].reason
    reqs = fs.requests
    i429 = next(i for i, q in enumerate(reqs) if q.action == "429:1")
    assert reqs[i429 + 1].t - reqs[i429].t >= 0.95  # nothing sooner than Retry-After
    # the user's turns before the fault were not asked again
    user_side = [q for q in reqs if RP_END in q.prompt]
    assert len({len(q.body["messages"]) for q in user_side}) == len(user_side)
    (rec,) = stored(store, spec.run_id)
    assert rec["status"] == "complete" and rec["params"]["attempts"] == 3


async def test_cancel_mid_roleplay_keeps_a_partial_and_nothing_comes_after(fs, tmp_path):
    fs.chunk_delay = 0.02
    store = Store(tmp_path / "runs")
    spec = rp_spec(4, concurrency=4, style="chat", tag="cancel")
    seen = {"n": 0}

    def on(eng, ev):
        if isinstance(ev, Chunk):
            seen["n"] += 1
            if seen["n"] == 30:
                eng.cancel("test cancel")

    events = await collect(engine(store, endpoint(fs)), spec, on)
    assert events[-1].outcome == "cancelled"
    n, t_end = len(fs.requests), max(q.t for q in fs.requests)
    await asyncio.sleep(0.3)
    assert len(fs.requests) == n and max(q.t for q in fs.requests) == t_end
    recs = stored(store, spec.run_id)
    partial = [r for r in recs if r["status"] == "partial"]
    assert partial and all(r["finish_reason"] == "cancelled" and r["turns"] for r in partial)
    assert all(r["params"]["end"] == "cancelled" for r in partial)
    # a later start writes them again, whole, and stores each once more (the last one counts)
    fs.chunk_delay = 0.0
    events = await collect(engine(store, endpoint(fs)), spec)
    assert events[-1].outcome == "complete" and events[-1].done == 4
    from synth.dataset.store import Store as S

    held = S(tmp_path / "runs").load(spec.run_id).conversations
    assert len(held) == 4 and all(c.status == "complete" for c in held)


async def test_a_separate_user_endpoint_answers_the_users_side(fs, tmp_path):
    from tests.faultserver import FaultServer

    with FaultServer() as other:
        store = Store(tmp_path / "runs")
        spec = rp_spec(3, style="chat", tag="two")
        eng = engine(store, endpoint(fs), user_endpoint=endpoint(other))
        events = await collect(eng, spec)
        assert events[-1].done == 3
        assert all(RP_END not in q.body["messages"][0]["content"] for q in fs.requests
                   if q.path.endswith("chat/completions"))
        assert other.requests and all(RP_END in q.body["messages"][0]["content"]
                                      for q in other.requests if q.path.endswith("completions"))
    fins = [e for e in events if isinstance(e, ConversationFinished)]
    assert all(f.conversation.params["user_simulator"]["model"] == "fault-model" for f in fins)


async def test_client_side_label_stop_and_a_leaked_label(tmp_path):
    """A server that ignores stop sequences: each turn is cut at the other speaker's label on
    our side.  A simulated user that writes the persona's label inside its turn is flagged by
    the leaked-label rule."""
    from synth.models import Conversation
    from tests.faultserver import FaultServer

    with FaultServer(honour_stop=False) as fs:
        store = Store(tmp_path / "runs")
        spec = rp_spec(3, style="completion", tag="nostop")
        events = await collect(engine(store, endpoint(fs, style="completion")), spec)
        assert events[-1].done == 3
        for r in stored(store, spec.run_id):
            assert not any("and so on" in t["text"] or "\n" in t["text"] for t in r["turns"])
        store2 = Store(tmp_path / "runs2")
        spec = rp_spec(2, style="chat", tag="leak")
        events = await collect(engine(store2, endpoint(fs)), spec)
        assert events[-1].done == 2
        for r in stored(store2, spec.run_id):
            assert any("EVE: I would tell you" in t["text"] for t in r["turns"] if t["role"] == "user")
            rules = {x.rule for x in check(Conversation.from_dict(r), persona=spec.persona).reasons}
            assert "leaked_label" in rules, rules
