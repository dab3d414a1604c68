"""Soak: 500 conversations through every transient fault the fault server knows.

The fault server runs in its own process (tests/rel_faultproc.py), so this process holds only
the engine, the store and the test: its memory is the engine's.  Every request the server
saw comes back with its arrival time on the same monotonic clock as this process.

Checks: every conversation exactly once in the store's log; a 429's Retry-After honoured
(the same conversation's next request comes no sooner); no request after a cancel; memory
bounded (no growth per conversation between conversation 100 and 500).
"""

from __future__ import annotations

import asyncio
import gc
import time
import sys
from collections import Counter, defaultdict

import pytest

from rel_faultproc import FaultProc
from rel_helpers import duplicate_complete_ids, fault_endpoint, make_workspace, mixed_actions, \
    raw_records, rss_kb
from synth.generate.engine import Engine, EngineOptions
from synth.generate.events import Chunk, ConversationFailed, ConversationFinished, ConversationRetrying, \
    RunFinished
from synth.generate.limits import Backoff
from synth.models import RunSpec
from synth.generate.planner import all_items
from synth.dataset.store import Store

N = 500
RETRY_AFTER = 0.2
STALL = 1.5  # beyond the request timeout below: the client must give up and retry
TIMEOUT = 0.6
SEED = 20261121

pytestmark = pytest.mark.timeout(180)


def _options() -> EngineOptions:
    # short backoff so 500 conversations through ~30% faults finish fast; Retry-After still rules
    return EngineOptions(backoff=Backoff(base=0.02, cap=0.2, max_attempts=12), emit_chunks=True,
                         storm_window_s=60.0)


def test_soak_500_conversations_every_fault_exactly_once(tmp_path):
    ws, persona, topics = make_workspace(tmp_path / "ws", N)
    store = Store(ws.runs_dir)
    spec = RunSpec.for_persona(persona, topics, endpoint="fault", model="fault-model",
                               concurrency=16)
    actions = mixed_actions(int(N * 1.8), fault_rate=0.2, seed=SEED, retry_after=RETRY_AFTER,
                            stall=STALL)
    with FaultProc(turns=6, words_per_turn=8) as fp:
        fp.script(actions)
        ep = fault_endpoint(fp.url, timeout=TIMEOUT)
        engine = Engine(store, ep, options=_options())
        mem: dict[int, tuple[int, int]] = {}
        seen: list[str] = []
        failures: list[str] = []
        finished: list[RunFinished] = []

        async def drive() -> None:
            async for ev in engine.run(spec):
                if isinstance(ev, ConversationFinished):
                    seen.append(ev.conversation.id)
                    n = len(seen)
                    if n in (100, N):
                        gc.collect()
                        mem[n] = (sys.getallocatedblocks(), len(gc.get_objects()), rss_kb())
                elif isinstance(ev, ConversationFailed):
                    failures.append(ev.reason)
                elif isinstance(ev, RunFinished):
                    finished.append(ev)
            await ep.aclose()

        t0 = time.monotonic()
        asyncio.run(asyncio.wait_for(drive(), 150))
        elapsed = time.monotonic() - t0
        log = fp.log()

    # the run finished, everything stored, nothing failed for good
    assert finished and finished[0].outcome == "complete", finished
    assert failures == [], failures[:5]
    assert finished[0].done == N and finished[0].failed == 0

    # every conversation exactly once: in the events and in the raw log on disk
    expected = {it.conversation_id for it in all_items(spec)}
    assert len(seen) == N and set(seen) == expected
    recs = raw_records(store.conversations_path(engine.run_id))
    ids = Counter(r["id"] for r in recs)
    assert len(recs) == N, f"{len(recs)} records for {N} conversations"
    assert set(ids) == expected and max(ids.values()) == 1
    assert all(r["status"] == "complete" for r in recs)
    assert duplicate_complete_ids(store.conversations_path(engine.run_id)) == {}
    loaded = store.load(engine.run_id)
    assert len(loaded.conversations) == N and loaded.problems == []
    assert all(len(c.turns) >= 4 for c in loaded.conversations)

    # every fault was served, and retried
    kinds = Counter(r["action"].split(":")[0] for r in log)
    for k in ("429", "429date", "500", "502", "503", "cut", "stall", "stallmid", "malformed",
              "wrongjson", "empty"):
        assert kinds[k] >= 1, f"fault {k} never served: {kinds}"
    assert len(log) > N + kinds["ok"] // 10  # retries happened

    # Retry-After honoured: the same conversation's next request comes no sooner
    by_topic: dict[str, list[dict]] = defaultdict(list)
    for r in log:
        by_topic[r["topic"]].append(r)
    checked = 0
    for reqs in by_topic.values():
        reqs.sort(key=lambda r: r["t"])
        for a, b in zip(reqs, reqs[1:]):
            if a["action"] == f"429:{RETRY_AFTER}":
                assert b["t"] - a["t"] >= RETRY_AFTER - 0.005, (a, b)
                checked += 1
    assert checked >= 5

    # memory bounded: what stays allocated between conversation 100 and 500, per conversation.
    # Interpreter blocks (every object, strings included) and gc-tracked objects are exact and
    # cheap to read; RSS is the loose outer bound.  Keeping each finished conversation alive
    # (its Conversation, turns, prompt and raw text) costs ~30 blocks and ~10 tracked objects.
    span = N - 100
    blocks = (mem[N][0] - mem[100][0]) / span
    objects = (mem[N][1] - mem[100][1]) / span
    rss = (mem[N][2] - mem[100][2]) * 1024 / span
    print(f"\nsoak: {N} conversations, {len(log)} requests, {elapsed:.1f}s; per conversation "
          f"from 100 to {N}: {blocks:+.1f} blocks, {objects:+.1f} gc objects, {rss:+.0f} B RSS")
    assert blocks < 8, f"allocated blocks grow {blocks:.1f} per conversation"
    assert objects < 4, f"live objects grow {objects:.1f} per conversation"
    assert rss < 16_000, f"RSS grows {rss:.0f} B per conversation"
    assert elapsed < 120


def test_no_request_after_cancel_and_resume_completes(tmp_path):
    """Cancel mid-run while streams are open and workers sleep on a Retry-After; then nothing
    reaches the server, the cut-off ones are partial, and a resume writes each missing one once."""
    n = 120
    ws, persona, topics = make_workspace(tmp_path / "ws", n, name="cancel")
    store = Store(ws.runs_dir)
    spec = RunSpec.for_persona(persona, topics, endpoint="fault", model="fault-model",
                               concurrency=12)
    with FaultProc(chunk_delay=0.01, turns=6, words_per_turn=8) as fp:
        # streams open, then a long Retry-After: at the cancel some conversations are mid-stream
        # and one worker sleeps on the Retry-After
        fp.script(["ok"] * 20 + ["429:1.5"])
        ep = fault_endpoint(fp.url, timeout=5)
        engine = Engine(store, ep, options=EngineOptions(
            backoff=Backoff(base=0.3, cap=1.0, max_attempts=8), emit_chunks=True))
        marks: dict[str, float] = {}
        outcome: list[RunFinished] = []

        async def drive() -> None:
            streaming: set[str] = set()
            async for ev in engine.run(spec):
                if isinstance(ev, ConversationRetrying):
                    marks.setdefault("retrying", time.monotonic())
                elif isinstance(ev, Chunk):
                    streaming.add(ev.conversation_id)
                elif isinstance(ev, ConversationFinished):
                    streaming.discard(ev.conversation.id)
                if "retrying" in marks and len(streaming) >= 3 and "cancel" not in marks:
                    marks["cancel"] = time.monotonic()
                    engine.cancel("test cancel")
                elif isinstance(ev, RunFinished):
                    marks["finished"] = time.monotonic()
                    outcome.append(ev)
            await ep.aclose()
            await asyncio.sleep(2.5)  # longer than any Retry-After or backoff in play

        asyncio.run(asyncio.wait_for(drive(), 60))
        log = fp.log()

        assert outcome and outcome[0].outcome == "cancelled"
        late = [r for r in log if r["t"] > marks["cancel"] + 0.05]
        assert late == [], f"{len(late)} requests after the cancel, e.g. {late[:2]}"
        assert marks["finished"] - marks["cancel"] < 2.0  # cancel does not wait out a cooldown
        recs = raw_records(store.conversations_path(engine.run_id))
        statuses = Counter(r["status"] for r in recs)
        assert statuses["complete"] == outcome[0].done < n
        assert statuses["partial"] >= 1  # streams were open at the cancel

        # resume: only what is missing is requested, each once, and the run completes
        before = len(fp.log())
        ep2 = fault_endpoint(fp.url, timeout=5)
        engine2 = Engine(store, ep2, options=_options())
        fin: list[RunFinished] = []

        async def resume() -> None:
            async for ev in engine2.run(spec):
                if isinstance(ev, RunFinished):
                    fin.append(ev)
            await ep2.aclose()

        asyncio.run(asyncio.wait_for(resume(), 60))
        new = fp.log()[before:]
    assert fin and fin[0].outcome == "complete" and fin[0].done == n
    done_topics = {c.topic for c in store.load(engine.run_id).conversations
                   if c.status == "complete" and c.created_at < marks["cancel"] + 0.01}
    assert not done_topics & {r["topic"] for r in new}, "a finished conversation was requested again"
    assert duplicate_complete_ids(store.conversations_path(engine.run_id)) == {}
    loaded = store.load(engine.run_id)
    assert sum(c.status == "complete" for c in loaded.conversations) == n
    assert len(loaded.conversations) == n


def test_ctrl_c_on_chatsynth_run_sends_nothing_more(tmp_path):
    """The same promise through the CLI: SIGINT to `chatsynth run` mid-stream, while a worker
    waits out a Retry-After; after the signal the server sees no new request, the process
    exits 130, and what was cut off is kept as partial."""
    import os
    import signal
    import subprocess

    from rel_helpers import REPO, chatsynth_cmd, cli_env

    n = 60
    ws, _, _ = make_workspace(tmp_path / "ws", n, name="sigint")
    with FaultProc(chunk_delay=0.01, turns=6, words_per_turn=8) as fp:
        fp.script(["ok"] * 6 + ["429:3"])
        proc = subprocess.Popen(chatsynth_cmd() + [
            "run", "--topics", "sigint", "--base-url", fp.url, "--model", "fault-model",
            "--concurrency", "4", "-q", "--stream"],  # stdout is a pipe: ask for streams
            cwd=REPO, env=cli_env(ws.root),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        end = time.monotonic() + 30
        while time.monotonic() < end and not any(r["action"].startswith("429") for r in fp.log()):
            time.sleep(0.02)
        time.sleep(0.3)  # streams open, one worker on its Retry-After
        t_sig = time.monotonic()
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        t_exit = time.monotonic()
        time.sleep(3.5)  # past the Retry-After: a leftover worker would ask now
        log = fp.log()
    assert proc.returncode == 130, err[-800:]
    assert "Traceback" not in err
    assert t_exit - t_sig < 3, "Ctrl+C waited out the Retry-After"
    late = [r for r in log if r["t"] > t_sig + 0.05]
    assert late == [], late[:3]
    store = Store(ws.runs_dir)
    run_id = store.run_ids()[0]
    statuses = Counter(c.status for c in store.load(run_id).conversations)
    assert statuses["partial"] >= 1 and statuses["complete"] >= 1, statuses
    assert duplicate_complete_ids(store.conversations_path(run_id)) == {}
