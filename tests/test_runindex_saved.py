"""The saved run index grows by what the writer appended (a save costs the new lines, not the
whole index: bench_store's last 1,000 of 100,000 appends were slower than the first 1,000 while
every save rewrote the whole file), and a reader trusts its frames only while they chain."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from synth.dataset import runindex, runindex_file
from synth.dataset.store import Store

sys.path.insert(0, str(Path(__file__).parent))
from store_writer import make_conversation  # noqa: E402
from test_runindex import _lines_read, _store_with  # noqa: E402


def _scan(path: Path) -> tuple:
    """The index of ``path`` read from the log alone, line by line."""
    fresh = runindex.RunIndex(path)
    with open(path, "rb") as fh:
        fresh.end = len(fh.readline())
        runindex._extend(fresh, fh, fresh.end, os.path.getsize(path))
    return fresh.ids, fresh.offsets, fresh.lengths, fresh.topics, fresh.statuses, fresh.line_nos


def _columns(idx) -> tuple:
    return idx.ids, idx.offsets, idx.lengths, idx.topics, idx.statuses, idx.line_nos


def test_a_save_at_an_fsync_appends_only_the_new_lines(workspace, monkeypatch):
    store, rid = _store_with(workspace, 300)
    path = store.conversations_path(rid)
    side = runindex.sidecar_path(path)
    monkeypatch.setattr(runindex, "SAVE_AFTER", 2)
    with store.writer(rid) as w:
        before = side.read_bytes()
        ino = side.stat().st_ino
        for i in range(300, 304):
            w.append(make_conversation(rid, i))
        w.sync()
        after = side.read_bytes()
        assert side.stat().st_ino == ino  # the same file, appended to: not written again whole
        assert after.startswith(before) and 0 < len(after) - len(before) < len(before) / 20
    runindex._CACHE.clear()
    seen = _lines_read(monkeypatch)
    idx = store.index(rid)
    assert len(seen) <= 1 and len(idx) == 304
    assert _columns(idx) == _scan(path)


def test_a_record_replaced_after_a_save_is_replaced_in_the_saved_index(workspace, monkeypatch):
    """A partial record saved in one frame and its complete record in the next: a new process
    reads the complete one (the later frame replaces the earlier entry in place)."""
    store, rid = _store_with(workspace, 3)
    monkeypatch.setattr(runindex, "SAVE_AFTER", 1)
    with store.writer(rid) as w:
        part = make_conversation(rid, 3)
        part.status = "partial"
        w.append(part)
        w.sync()
        w.append(make_conversation(rid, 4))
        w.append(make_conversation(rid, 3))  # the complete one, after a save
        w.sync()
    runindex._CACHE.clear()
    seen = _lines_read(monkeypatch)
    idx = store.index(rid)
    assert len(seen) <= 1 and idx.counts() == (5, 0)
    assert _columns(idx) == _scan(store.conversations_path(rid))
    assert store.read_conversation(rid, idx.get(idx.ids[3])).status == "complete"


def test_a_torn_last_frame_is_not_trusted_and_the_log_fills_the_rest(workspace, monkeypatch):
    """A writer killed while appending a frame leaves it cut short: a reader applies the frames
    before it and reads the lines after them from the log."""
    store, rid = _store_with(workspace, 10)
    path = store.conversations_path(rid)
    side = runindex.sidecar_path(path)
    monkeypatch.setattr(runindex, "SAVE_AFTER", 1)
    with store.writer(rid) as w:
        for i in range(10, 13):
            w.append(make_conversation(rid, i))
        w.sync()
        whole_and_one = side.stat().st_size
        for i in range(13, 16):
            w.append(make_conversation(rid, i))
        w.sync()
    data = side.read_bytes()
    assert len(data) > whole_and_one
    side.write_bytes(data[:len(data) - 7])  # the second frame torn
    runindex._CACHE.clear()
    seen = _lines_read(monkeypatch)
    idx = store.index(rid)
    assert 3 <= len(seen) <= 4 and not idx.problems  # the 3 lines the torn frame held (+ tail)
    assert _columns(idx) == _scan(path)
    side.write_bytes(data[:whole_and_one - 1])  # the first appended frame torn: its 3 too
    runindex._CACHE.clear()
    seen.clear()
    idx = store.index(rid)
    assert 6 <= len(seen) <= 7 and _columns(idx) == _scan(path)


def test_a_saved_index_another_process_replaced_is_written_whole_again(workspace, monkeypatch):
    """A reader's whole save replaces the file the writer appends to: the writer's next save
    sees another file there and writes it whole (a frame that does not chain is never read)."""
    store, rid = _store_with(workspace, 5)
    path = store.conversations_path(rid)
    side = runindex.sidecar_path(path)
    monkeypatch.setattr(runindex, "SAVE_AFTER", 1)
    with store.writer(rid) as w:
        w.append(make_conversation(rid, 5))
        runindex._CACHE.clear()
        other = store.index(rid)  # as another process: it saves what it read, whole
        runindex._save(other, os.stat(path).st_ino)
        w.append(make_conversation(rid, 6))
        w.sync()
    runindex._CACHE.clear()
    seen = _lines_read(monkeypatch)
    idx = store.index(rid)
    assert len(seen) <= 1 and len(idx) == 7 and _columns(idx) == _scan(path)
    # a frame that starts elsewhere than the file leaves off is not applied
    got = runindex_file.load(path, os.stat(path).st_ino, os.path.getsize(path))
    stray = runindex_file.delta((1, 1, 1), os.path.getsize(path), 99, ([],) * 6, [])
    with open(side, "ab") as fh:
        fh.write(stray)
    assert runindex_file.load(path, os.stat(path).st_ino, os.path.getsize(path)) == got


def test_an_old_whole_index_file_is_read_as_unknown(workspace):
    """A version 1 file (one marshal of the whole index) costs one rescan, not a wrong index."""
    import marshal

    store, rid = _store_with(workspace, 4)
    path = store.conversations_path(rid)
    idx = store.index(rid)
    runindex.sidecar_path(path).write_bytes(marshal.dumps(
        (1, os.stat(path).st_ino, idx.end, idx.lines, *_columns(idx))))
    assert runindex_file.load(path, os.stat(path).st_ino, os.path.getsize(path)) is None
    runindex._CACHE.clear()
    assert _columns(Store(workspace.runs_dir).index(rid)) == _scan(path)
