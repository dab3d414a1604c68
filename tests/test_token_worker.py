"""A big export counts its turns' tokens in a worker process (synth/dataset/token_worker.py)
while its first pass goes on: the same counts and the same files as counting in threads, and a
worker that dies or can't count hands its batches back to the threads."""

from __future__ import annotations

import pytest

import synth.dataset.export_stream as export_stream
import synth.dataset.turn_counts as turn_counts
from data.golden_export import GOLDEN, golden_run, normalised
from synth.dataset.export import ExportOptions, export_run
from synth.dataset.turn_counts import TurnCounts
from synth.models import Turn
from synth.tokens import TokenCounter, counter_for


def _convs(n: int) -> list[tuple[str, list[Turn]]]:
    return [(f"c{i}", [Turn("user", f"  Question {i}: how do I plan week {i}?  "),
                       Turn("assistant", f"Start small — one step on day {i % 7}. Weird: {'ü' * (i % 5)} 日本")])
            for i in range(n)]


def _count(counter, convs, *, worker: bool, kill_after: int | None = None) -> TurnCounts:
    tc = TurnCounts(counter, worker=worker)
    try:
        for i, (cid, ts) in enumerate(convs):
            tc.add(cid, ts)
            if kill_after is not None and i == kill_after:
                assert tc._worker is not None  # noqa: SLF001 - the fault is a real dead process
                tc._worker.proc.kill()
                tc._worker.proc.wait()
        tc.finish()
    finally:
        tc.close()
    return tc


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(turn_counts, "BATCH", 40)
    monkeypatch.setattr(turn_counts, "WORKER_FROM", 2)


def test_the_worker_counts_what_the_threads_count(small_batches):
    counter = counter_for("gpt-4o-mini")
    convs = _convs(300)
    threads = _count(counter, convs, worker=False)
    worker = _count(counter, convs, worker=True)
    assert not threads.worker_used and worker.worker_used and worker.worker_note is None
    assert worker.counts == threads.counts
    assert len(worker.counts) == 300
    assert worker.counts["c7"] == tuple(counter.count(t.text.strip()) for t in convs[7][1])


def test_a_worker_that_dies_hands_its_batches_back_to_the_threads(small_batches):
    counter = counter_for("gpt-4o-mini")
    convs = _convs(300)
    want = _count(counter, convs, worker=False).counts
    tc = _count(counter, convs, worker=True, kill_after=100)
    assert tc.worker_used and "did not answer" in (tc.worker_note or "")
    assert tc.counts == want


def test_a_worker_that_cannot_load_the_encoding_is_given_up(small_batches):
    counter = TokenCounter(encoding="o200k_base")
    counter.encoding_name = "no_such_encoding"  # the worker fails to load it and exits
    want = _count(counter_for("gpt-4o-mini"), _convs(200), worker=False).counts
    tc = _count(counter, _convs(200), worker=True)
    assert tc.worker_used and tc.worker_note
    assert tc.counts == want


def test_an_export_counted_by_the_worker_writes_the_golden_files(tmp_path, monkeypatch):
    monkeypatch.setattr(turn_counts, "BATCH", 4)
    monkeypatch.setattr(turn_counts, "WORKER_FROM", 1)
    made: list[TurnCounts] = []

    class Recorded(TurnCounts):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(export_stream, "TurnCounts", Recorded)
    store, run_id = golden_run(tmp_path / "runs")
    export_run(store, run_id, tmp_path / "all", ExportOptions(formats=("chat", "sharegpt", "completion")))
    assert made and made[0].worker_used and made[0].worker_note is None
    want = {p.name: p.read_text(encoding="utf-8") for p in sorted((GOLDEN / "all").iterdir())}
    assert normalised(tmp_path / "all") == want
