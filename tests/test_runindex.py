"""The run index saved beside the log (conversations.idx): a new process reads it instead of
scanning the log, reads only what was appended since, and never trusts it for another file."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from synth.dataset import runindex
from synth.dataset.store import Store

sys.path.insert(0, str(Path(__file__).parent))
from store_writer import make_conversation  # noqa: E402
from test_store import spec_for  # noqa: E402


def _store_with(workspace, n: int) -> tuple[Store, str]:
    store = Store(workspace.runs_dir)
    rid = store.open_run(spec_for(workspace))
    with store.writer(rid) as w:
        for i in range(n):
            w.append(make_conversation(rid, i))
    return store, rid


def _lines_read(monkeypatch) -> list[int]:
    """Counts the log lines the index reads (a spy on the real reader)."""
    seen: list[int] = []
    real = runindex._fields

    def spy(buf, start, stop):
        seen.append(start)
        return real(buf, start, stop)

    monkeypatch.setattr(runindex, "_fields", spy)
    return seen


def test_a_new_process_reads_the_saved_index_and_only_what_was_appended(workspace, monkeypatch):
    monkeypatch.setattr(runindex, "SAVE_AFTER", 1)
    store, rid = _store_with(workspace, 5)
    first = store.index(rid)
    side = runindex.sidecar_path(store.conversations_path(rid))
    assert side.is_file() and side.stat().st_mode & 0o777 == 0o600
    runindex._CACHE.clear()  # as a new process
    seen = _lines_read(monkeypatch)
    again = store.index(rid)
    assert again is not first and again.ids == first.ids and again.offsets == first.offsets
    assert len(seen) <= 1  # the last indexed line, checked in place; no scan
    with store.writer(rid) as w:
        w.append(make_conversation(rid, 5))
        w.append(make_conversation(rid, 6))
    runindex._CACHE.clear()
    seen.clear()
    grown = store.index(rid)
    assert len(seen) <= 3 and grown.counts() == (7, 0)
    assert [e.id for e in grown.entries] == [c.id for c in store.load(rid).conversations]
    assert store.read_conversation(rid, grown.get(grown.ids[6])).id == grown.ids[6]


def test_a_saved_index_of_another_file_or_a_broken_one_is_not_used(workspace, monkeypatch):
    monkeypatch.setattr(runindex, "SAVE_AFTER", 1)
    store, rid = _store_with(workspace, 4)
    store.index(rid)
    path = store.conversations_path(rid)
    lines = path.read_bytes().splitlines(keepends=True)
    copy = path.with_name("copy.jsonl")
    copy.write_bytes(lines[0] + lines[2] + lines[1] + b"".join(lines[3:]))  # same size, new file
    os.replace(copy, path)
    runindex._CACHE.clear()
    idx = store.index(rid)
    assert [e.id for e in idx.entries] == [c.id for c in store.load(rid).conversations]
    runindex.sidecar_path(path).write_bytes(b"\x00not an index")
    runindex._CACHE.clear()
    assert store.index(rid).ids == idx.ids and not store.index(rid).problems


def test_the_writer_keeps_the_saved_index_current_so_a_reader_scans_no_line(workspace, monkeypatch):
    """The run's writer saves the index as it appends (at its close, and at an fsync once
    SAVE_AFTER lines are new): a reader in a new process reads no log line to list the run."""
    store, rid = _store_with(workspace, 5)  # written, never read
    side = runindex.sidecar_path(store.conversations_path(rid))
    assert side.is_file() and side.stat().st_mode & 0o777 == 0o600
    runindex._CACHE.clear()
    seen = _lines_read(monkeypatch)
    idx = store.index(rid)
    assert len(seen) <= 1 and idx.counts() == (5, 0)
    assert idx.ids == [c.id for c in store.load(rid).conversations]
    # a partial record then its complete one, and a run still being written: saved at an fsync
    monkeypatch.setattr(runindex, "SAVE_AFTER", 2)
    with store.writer(rid) as w:
        part = make_conversation(rid, 5)
        part.status = "partial"
        w.append(part)
        w.append(make_conversation(rid, 5))
        w.sync()  # what the engine's store thread does when an fsync is due
        runindex._CACHE.clear()
        seen.clear()
        live = store.index(rid)
        assert len(seen) <= 1 and live.counts() == (6, 0) and len(live) == 6
        w.append(make_conversation(rid, 6))
    runindex._CACHE.clear()
    seen.clear()
    done = store.index(rid)
    assert len(seen) <= 1 and done.counts() == (7, 0)
    fresh = runindex.RunIndex(done.path, end=0)
    with open(done.path, "rb") as fh:
        first = fh.readline()
        fresh.end = len(first)
        runindex._extend(fresh, fh, fresh.end, os.path.getsize(done.path))
    assert (fresh.ids, fresh.offsets, fresh.lengths, fresh.statuses, fresh.line_nos, fresh.end) == (
        done.ids, done.offsets, done.lengths, done.statuses, done.line_nos, done.end)
    assert store.read_conversation(rid, done.get(done.ids[5])).status == "complete"


def test_a_big_run_is_listed_at_once_and_counted_later(workspace):
    """list_runs(counted_under=) reads no index of a log bigger than that (its counts are left
    for a thread); a run indexed in this process is counted at once."""
    store, rid = _store_with(workspace, 5)
    runindex._CACHE.clear()
    quick = store.list_runs(counted_under=0)
    assert [(r.run_id, r.counted, r.done) for r in quick] == [(rid, False, 0)]
    assert str(store.conversations_path(rid)) not in runindex._CACHE  # nothing was read
    assert store.list_runs(counted_under=1 << 30)[0].counted  # a small log: counted at once
    full = store.list_runs()
    assert (full[0].counted, full[0].done) == (True, 5)
    assert store.list_runs(counted_under=0)[0].done == 5  # now in memory: counted


async def test_the_run_picker_fills_a_big_runs_counts_from_a_thread(workspace, monkeypatch):
    from tui.app import ChatsynthApp
    from tui.testing import wait_for
    from tui.widgets import run_picker

    store, rid = _store_with(workspace, 5)
    runindex._CACHE.clear()
    monkeypatch.setattr(run_picker, "COUNT_LATER", 0)  # every run counts as big
    app = ChatsynthApp(workspace, blink=False, first_run=False, start="export")
    async with app.run_test(size=(120, 40)) as pilot:
        picker = app.screen.query_one("#export-run")

        def label() -> str:
            return next((str(text) for text, v in picker._options if v == picker.value), "")

        await wait_for(pilot, lambda: picker.value == rid, 20)
        first = label()
        await wait_for(pilot, lambda: "· 5/" in label(), 20)  # counted in the thread
        assert "· …/" in first or "· 5/" in first
        assert app.screen.run_id == rid
