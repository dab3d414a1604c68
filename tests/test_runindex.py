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
