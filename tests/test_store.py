"""The store: O(1) appends, crash safety, foreign and corrupt files, reviews."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from synth.errors import StoreError
from synth.library.personas import find_persona
from synth.library.topics import find_topics
from synth.models import RunSpec, Turn
from synth.dataset.store import Store

sys.path.insert(0, str(Path(__file__).parent))
from store_writer import make_conversation  # noqa: E402

RUN = "run0000000001"


def spec_for(ws):
    return RunSpec.for_persona(find_persona(ws, "eve"), find_topics(ws, "eve"), model="m")


def test_append_and_load(tmp_path):
    store = Store(tmp_path)
    with store.writer(RUN) as w:
        for i in range(5):
            w.append(make_conversation(RUN, i))
    res = store.load(RUN)
    assert [c.id for c in res.conversations] == [f"conv-{i:07d}" for i in range(5)]
    assert res.problems == []
    assert res.conversations[0].turns[1].role == "assistant"


def test_open_run_is_idempotent_and_keeps_spec(workspace):
    store = Store(workspace.runs_dir)
    spec = spec_for(workspace)
    rid = store.open_run(spec)
    assert store.open_run(spec) == rid
    assert len(store.run_ids()) == 1
    back = store.get_spec(rid)
    assert back.run_id == rid and back.persona.name == "Eve"
    assert len(back.topics.topics) == len(spec.topics.topics)
    spec.concurrency = 9  # how a run proceeds is not its identity
    assert store.open_run(spec) == rid


def test_only_one_writer(tmp_path):
    store = Store(tmp_path)
    with store.writer(RUN):
        with pytest.raises(StoreError, match="another chatsynth process"):
            store.writer(RUN)
    store.writer(RUN).close()  # free again


def test_half_written_last_line_is_set_aside(tmp_path):
    store = Store(tmp_path)
    with store.writer(RUN) as w:
        for i in range(3):
            w.append(make_conversation(RUN, i))
    path = store.conversations_path(RUN)
    with open(path, "ab") as fh:
        fh.write(b'{"id": "conv-9", "run_id": "' + RUN.encode() + b'", "tur')
    res = store.load(RUN)
    assert len(res.conversations) == 3
    assert len(res.problems) == 1 and "half-written last line" in res.problems[0]
    assert f"{path}:5:" in res.problems[0]
    quarantined = list((path.parent / "quarantine").iterdir())
    assert len(quarantined) == 1 and quarantined[0].read_bytes().endswith(b'"tur')
    # the log is whole again and the next append is a clean line
    with store.writer(RUN) as w:
        w.append(make_conversation(RUN, 3))
    res = store.load(RUN)
    assert len(res.conversations) == 4 and res.problems == []


def test_reader_leaves_tail_alone_while_a_writer_holds_the_run(tmp_path):
    store = Store(tmp_path)
    w = store.writer(RUN)
    w.append(make_conversation(RUN, 0))
    path = store.conversations_path(RUN)
    with open(path, "ab") as fh:
        fh.write(b'{"id": "half')
    res = store.load(RUN)
    assert len(res.conversations) == 1 and "half-written" in res.problems[0]
    assert path.read_bytes().endswith(b'{"id": "half'), "a reader never edits a file being written"
    w.close()


def test_foreign_file_is_refused_and_untouched(tmp_path):
    store = Store(tmp_path)
    path = store.conversations_path(RUN)
    path.parent.mkdir(parents=True)
    content = b'{"messages": [{"role": "user", "content": "hi"}]}\n'
    path.write_bytes(content)
    with pytest.raises(StoreError) as e:
        store.load(RUN)
    assert "not a chatsynth conversation log" in str(e.value) and str(path) in str(e.value)
    with pytest.raises(StoreError):
        store.writer(RUN)
    assert path.read_bytes() == content


def test_corrupt_middle_line_reported_by_number(tmp_path):
    store = Store(tmp_path)
    with store.writer(RUN) as w:
        for i in range(3):
            w.append(make_conversation(RUN, i))
    path = store.conversations_path(RUN)
    lines = path.read_bytes().split(b"\n")
    lines[2] = b"garbage{{"
    path.write_bytes(b"\n".join(lines))
    res = store.load(RUN)
    assert len(res.conversations) == 2
    assert any(f"{path}:3:" in p for p in res.problems)


def test_corrupt_catalog_is_reported_and_not_overwritten(workspace):
    store = Store(workspace.runs_dir)
    store.open_run(spec_for(workspace))
    store.catalog_path.write_text('{"runs": {"1": {"run_id": "x"}')
    before = store.catalog_path.read_bytes()
    with pytest.raises(StoreError) as e:
        store.list_runs()
    assert str(store.catalog_path) in str(e.value) and "not valid JSON" in str(e.value)
    with pytest.raises(StoreError):
        store.set_review("x", "y", "accepted")
    assert store.catalog_path.read_bytes() == before


def test_partial_superseded_by_complete(tmp_path):
    store = Store(tmp_path)
    c = make_conversation(RUN, 0)
    c.status = "partial"
    with store.writer(RUN) as w:
        w.append(c)
    assert store.finished_ids(RUN) == set()
    c2 = make_conversation(RUN, 0)
    with store.writer(RUN) as w:
        w.append(c2)
    res = store.load(RUN)
    assert len(res.conversations) == 1 and res.conversations[0].status == "complete"
    assert store.finished_ids(RUN) == {c.id}


def test_reviews_persist(tmp_path):
    store = Store(tmp_path)
    store.set_review(RUN, "a", "accepted")
    store.set_review(RUN, "b", "rejected", note="leaked label")
    store.set_review(RUN, "a", "accepted", edited_turns=[Turn("user", "hi"), Turn("assistant", "hello?")])
    store.set_reviews(RUN, {"c": "accepted", "b": None})
    again = Store(tmp_path).reviews(RUN)
    assert again["a"].edited and again["a"].edited_turns[1].text == "hello?"
    assert again["b"].decision is None and again["b"].note == "leaked label"
    assert again["c"].decision == "accepted"
    assert oct(store.catalog_path.stat().st_mode & 0o777) == "0o600"


def test_sigkill_mid_write_loses_no_stored_conversation(tmp_path):
    """Kill a writer at random moments; every conversation whose append returned is there."""
    rng = random.Random(7)
    total_seen: set[str] = set()
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parent.parent))
    start = 0
    for round_ in range(5):
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).parent / "store_writer.py"), str(tmp_path), RUN,
             "100000", str(start)], stdout=subprocess.PIPE, text=True, env=env)
        first = proc.stdout.readline()  # it is up and writing
        time.sleep(rng.random() * 0.5)
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        out = first + out
        stored = {line.split()[1] for line in out.splitlines() if line.startswith("stored ")}
        assert stored, "the writer stored something before it was killed"
        total_seen |= stored
        res = Store(tmp_path).load(RUN)
        ids = [c.id for c in res.conversations]
        assert len(ids) == len(set(ids))
        missing = total_seen - set(ids)
        assert not missing, f"round {round_}: lost {len(missing)} stored conversations"
        start = max(int(i.split("-")[1]) for i in ids) + 1
    # the file reads back whole after all that
    res = Store(tmp_path).load(RUN)
    assert all(p.startswith(str(Store(tmp_path).conversations_path(RUN))) for p in res.problems)


def test_deeply_nested_line_is_a_problem_not_a_crash(tmp_path):
    store = Store(tmp_path)
    with store.writer(RUN) as w:
        w.append(make_conversation(RUN, 0))
    path = store.conversations_path(RUN)
    with open(path, "ab") as fh:
        fh.write(b"[" * 100_000 + b"]" * 100_000 + b"\n")
    res = store.load(RUN)
    assert len(res.conversations) == 1
    assert any(f"{path}:3:" in p and "nested too deeply" in p for p in res.problems)


def test_append_without_sync_and_sync_due(tmp_path):
    store = Store(tmp_path, fsync_interval=3600)
    with store.writer(RUN) as w:
        assert not w.sync_due()
        w.append(make_conversation(RUN, 0), sync=False)  # kill -9 safe without an fsync
        assert Store(tmp_path).load(RUN).conversations[0].id == "conv-0000000"
        w.fsync_interval = 0
        assert w.sync_due()
        w.sync()
        w.fsync_interval = 3600
        assert not w.sync_due()


def test_list_runs_counts_from_the_index_and_reads_only_what_was_appended(workspace, monkeypatch):
    """Listing runs (every screen of the app does) never loads the conversations: it counts
    from the run's index, which a grown log extends from where it ended."""
    from synth.dataset import runindex

    store = Store(workspace.runs_dir)
    rid = store.open_run(spec_for(workspace))
    with store.writer(rid) as w:
        for i in range(3):
            w.append(make_conversation(rid, i))
    loads = []
    real_load = Store.load
    monkeypatch.setattr(Store, "load", lambda self, r: loads.append(r) or real_load(self, r))
    assert [(r.done, r.partial) for r in store.list_runs()] == [(3, 0)]
    first = store.index(rid)
    end = first.end
    with store.writer(rid) as w:
        w.append(make_conversation(rid, 3))
    assert [r.done for r in Store(workspace.runs_dir).list_runs()] == [4]
    assert loads == []
    again = store.index(rid)
    assert again is first and again.end > end  # extended, not rebuilt
    assert [e.id for e in again.entries] == [c.id for c in real_load(store, rid).conversations]
    entry = again.entries[2]
    assert store.read_conversation(rid, entry).to_dict() == \
        real_load(store, rid).conversations[2].to_dict()
    runindex._CACHE.clear()
    assert [e.id for e in store.index(rid).entries] == [e.id for e in again.entries]


