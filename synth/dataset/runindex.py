"""An index of one run's conversation log: for each stored conversation (the record a full load
keeps: the latest per id, complete beats partial) its byte offset and length in the file, its
topic and status.  Lets a screen list 100,000 conversations without reading their bodies, and
read one body on demand (``read_record``).

Kept as parallel lists (``ids``, ``offsets``, ``topics``, ...: index arrays, not an object per
row), built by one pass over the file's bytes (mapped, not copied line by line) that picks those
few fields out of each line without parsing it (a line the quick reading can't place is parsed
in full).  Kept in memory per log file and extended, not rebuilt, when the log has grown (the log
is append-only), and saved beside the log (``conversations.idx``, owner-only) so that the next
process reads it in a few milliseconds instead of scanning the log again: the saved index is
trusted only while the log is the same file, at least as long, with its last indexed line where
it was.  ``synth.dataset.store.Store.index`` is the way in.

The run's one writer keeps the saved index current as it appends (``Keeper``: an entry per line
it writes, from the line it already holds; what is new appended to the saved index at an fsync
once ``SAVE_AFTER`` lines are new and when it closes, so a save costs the new lines only: the
file's format is ``runindex_file``), so the app's first open of a just-written run reads no
log line.
"""

from __future__ import annotations

import json
import mmap
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

from synth.dataset import runindex_file as saved
from synth.dataset.runlog import check_header

_ID = re.compile(rb'\{"id":\s?"([^"\\]+)"')
_TOPIC = re.compile(rb'"topic":\s?("(?:[^"\\]|\\.)*")')
_STATUS = re.compile(rb'"status":\s?"([a-z]+)"')
SAVE_AFTER = 2000  # lines newly indexed before the index is saved beside the log
sidecar_path = saved.sidecar_path  # where the saved index lives beside a log


@dataclass
class Entry:
    id: str
    offset: int  # of the line in the file
    length: int  # of the line, newline included
    topic: str
    status: str
    line: int  # 1-based line number (for messages)


@dataclass
class RunIndex:
    path: Path
    ids: list[str] = field(default_factory=list)  # in order of first appearance
    offsets: list[int] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    line_nos: list[int] = field(default_factory=list)
    positions: dict[str, int] = field(default_factory=dict)  # id -> position in the lists
    problems: list[str] = field(default_factory=list)
    end: int = 0  # bytes of the file indexed (whole lines only)
    lines: int = 1  # lines read (the header included)
    key: tuple = ()

    def __len__(self) -> int:
        return len(self.ids)

    def entry(self, pos: int) -> Entry:
        return Entry(self.ids[pos], self.offsets[pos], self.lengths[pos], self.topics[pos],
                     self.statuses[pos], self.line_nos[pos])

    def get(self, cid: str) -> Entry | None:
        pos = self.positions.get(cid)
        return self.entry(pos) if pos is not None else None

    def topic(self, cid: str) -> str:
        pos = self.positions.get(cid)
        return self.topics[pos] if pos is not None else ""

    @property
    def entries(self) -> list[Entry]:
        """Every entry as an object (for a few rows; screens use the lists)."""
        return [self.entry(i) for i in range(len(self.ids))]

    def counts(self) -> tuple[int, int]:
        """(complete, other) conversations."""
        done = self.statuses.count("complete")
        return done, len(self.ids) - done

    def _put(self, cid: str, offset: int, length: int, topic: str, status: str, n: int) -> None:
        pos = self.positions.get(cid)
        if pos is None:
            self.positions[cid] = len(self.ids)
            self.ids.append(cid)
            self.offsets.append(offset)
            self.lengths.append(length)
            self.topics.append(topic)
            self.statuses.append(status)
            self.line_nos.append(n)
        elif not (self.statuses[pos] == "complete" and status == "partial"):
            self.offsets[pos], self.lengths[pos], self.topics[pos] = offset, length, topic
            self.statuses[pos], self.line_nos[pos] = status, n


_CACHE: dict[str, RunIndex] = {}


def _fields(buf, start: int, stop: int) -> tuple[str, str, str] | None:
    """(id, topic, status) of the record line ``buf[start:stop]``, or None for a line that is not one."""
    m_id = _ID.match(buf, start, stop)
    at = buf.find(b'"topic":', start, stop)
    st = buf.rfind(b'"status":', start, stop)
    # a key's name inside a string is escaped (\"topic\":), so these finds meet only keys; the
    # record's own "topic" comes before any nested dict, its "status" after them all
    if m_id and at > 0 and st > 0:
        m_topic, m_status = _TOPIC.match(buf, at, stop), _STATUS.match(buf, st, stop)
        if m_topic and m_status:
            try:
                topic = m_topic.group(1)
                topic = topic[1:-1].decode() if b"\\" not in topic else json.loads(topic)
                return m_id.group(1).decode(), topic, m_status.group(1).decode()
            except (ValueError, UnicodeDecodeError):
                pass
    try:
        rec = json.loads(buf[start:stop])
        if not isinstance(rec, dict) or "id" not in rec:
            return None
        return str(rec["id"]), str(rec.get("topic", "")), str(rec.get("status", "complete"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def _extend(idx: RunIndex, fh, start: int, size: int) -> int:
    """Index the whole lines of ``fh`` from byte ``start`` to ``size``; returns how many were read."""
    if size <= start:
        idx.end = start
        return 0
    offset, n, n0 = start, idx.lines, idx.lines
    with mmap.mmap(fh.fileno(), size, access=mmap.ACCESS_READ) as buf:
        find, put = buf.find, idx._put
        while offset < size:
            nl = find(b"\n", offset, size)
            n += 1
            if nl < 0:
                idx.problems.append(f"{idx.path}:{n}: a half-written last line ({size - offset} "
                                    "bytes) is not read")
                n -= 1
                break
            got = _fields(buf, offset, nl + 1)
            if got is None:
                idx.problems.append(f"{idx.path}:{n}: unreadable record skipped")
            else:
                put(got[0], offset, nl + 1 - offset, got[1], got[2], n)
            offset = nl + 1
    idx.end, idx.lines = offset, n
    return n - n0


def _columns(idx: RunIndex, since: int = 0) -> tuple:
    return (idx.ids[since:], idx.offsets[since:], idx.lengths[since:], idx.topics[since:],
            idx.statuses[since:], idx.line_nos[since:])


def _save(idx: RunIndex, ino: int) -> None:
    """Write the whole index beside the log (a failure only costs a rescan)."""
    saved.write_whole(idx.path, saved.whole(ino, idx.end, idx.lines, _columns(idx)))


def _load_saved(path: Path, ino: int, size: int) -> RunIndex | None:
    got = saved.load(path, ino, size)
    if got is None:
        return None
    end, lines, (ids, offsets, lengths, topics, statuses, line_nos) = got
    return RunIndex(path, ids, offsets, lengths, topics, statuses, line_nos,
                    dict(zip(ids, range(len(ids)))), end=end, lines=lines)


def in_memory(path: Path) -> bool:
    """This process holds the index of ``path`` as the file is now (no read needed)."""
    old = _CACHE.get(str(path))
    if old is None:
        return False
    try:
        st = os.stat(path)
    except OSError:
        return False
    return old.key == (st.st_ino, st.st_size, st.st_mtime_ns)


_LOCK = threading.Lock()  # one index read at a time: a second caller finds the first's


def index_log(path: Path, run_id: str) -> RunIndex:
    """The index of ``path`` as it is now (extended from the last one when the log only grew)."""
    with _LOCK:
        return _index_log(Path(path), run_id)


def _index_log(path: Path, run_id: str) -> RunIndex:
    try:
        st = path.stat()
    except FileNotFoundError:
        return RunIndex(path)
    key = (st.st_ino, st.st_size, st.st_mtime_ns)
    old = _CACHE.get(str(path))
    if old is not None and old.key == key:
        return old
    with open(path, "rb") as fh:
        first = fh.readline()
        if not first:
            return RunIndex(path)
        check_header(first if first.endswith(b"\n") else first + b"\n", path, run_id)
        if old is None:
            old = _load_saved(path, st.st_ino, st.st_size)
            if old is not None:
                old.key = (st.st_ino,)
        if old is not None and old.key and old.key[0] == st.st_ino and old.end <= st.st_size \
                and not old.problems and _same_tail(fh, old):
            idx = old  # appended to since: read only what is new
            idx.problems = []
        else:
            idx = RunIndex(path, end=len(first))
        read = _extend(idx, fh, idx.end, st.st_size)
    idx.key = key
    if not idx.problems:  # a torn tail may be repaired: read it again next time
        _CACHE[str(path)] = idx
        if read >= SAVE_AFTER:
            _save(idx, st.st_ino)
    return idx


def _same_tail(fh, idx: RunIndex) -> bool:
    """The last indexed line is still where it was (the file was appended to, not rewritten)."""
    if not idx.ids:
        return idx.end > 0
    pos = max(range(len(idx.ids)), key=idx.offsets.__getitem__)
    fh.seek(idx.offsets[pos])
    raw = fh.read(idx.lengths[pos])
    got = _fields(raw, 0, len(raw)) if raw.endswith(b"\n") else None
    return got is not None and got[0] == idx.ids[pos]


def read_record(path: Path, entry: Entry) -> dict:
    """The stored record of one indexed conversation (one read of its line)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        raw = os.pread(fd, entry.length, entry.offset)
    finally:
        os.close(fd)
    rec = json.loads(raw)
    if not isinstance(rec, dict) or rec.get("id") != entry.id:
        raise ValueError(f"{path}:{entry.line}: the log changed under the index")
    return rec


class Keeper:
    """The index of a log kept by its one writer (which holds the run's lock): ``add`` records
    each line as it is appended (a few list appends), ``save`` appends what changed since the
    last save to the saved index (O(new lines): see ``runindex_file``).  Built when the writer
    opens (from the saved index and the log's tail; a scan only for a log no process has
    indexed), and saved whole then; a log whose index has problems is not kept (the readers
    rescan it).  ``add`` and ``save`` may run on different threads (the engine fsyncs on its
    store thread)."""

    def __init__(self, path: Path, run_id: str) -> None:
        got = index_log(path, run_id)  # a copy: a reader in this process may hold that one
        idx = RunIndex(got.path, list(got.ids), list(got.offsets), list(got.lengths),
                       list(got.topics), list(got.statuses), list(got.line_nos),
                       dict(got.positions), list(got.problems), got.end, got.lines)
        st = os.stat(path)
        self.ok = not idx.problems and idx.end == st.st_size
        self.idx, self.ino, self.unsaved = idx, st.st_ino, 0
        self._lock = threading.Lock()  # the index's lists
        self._saving = threading.Lock()  # the saved file
        self.dirty: set[int] = set()  # positions saved before and replaced since
        self.side: int | None = None  # the saved file this writer appends to, kept open
        self.saved = (idx.end, idx.lines, len(idx))  # where the saved file leaves off
        if self.ok:
            self._write_whole(_columns(idx))

    def _write_whole(self, columns: tuple) -> None:
        idx, old = self.idx, self.side
        data = saved.whole(self.ino, self.saved[0], self.saved[1], columns)
        self.side = saved.write_whole(idx.path, data, keep=True)
        if old is not None:
            os.close(old)

    def add(self, cid: str, topic: str, status: str, length: int) -> None:
        if not self.ok:
            return
        with self._lock:
            idx = self.idx
            idx.lines += 1
            count = len(idx.ids)
            idx._put(cid, idx.end, length, topic, status, idx.lines)
            if len(idx.ids) == count and idx.positions[cid] < self.saved[2]:
                self.dirty.add(idx.positions[cid])
            idx.end += length
            self.unsaved += 1

    def save(self, *, when_due: bool = False) -> None:
        """Save what is new (with ``when_due``: only once ``SAVE_AFTER`` lines are new)."""
        if not self.ok or self.unsaved == 0 or (when_due and self.unsaved < SAVE_AFTER):
            return
        with self._saving:
            with self._lock:
                idx, start = self.idx, self.saved
                updates = [(p, idx.offsets[p], idx.lengths[p], idx.topics[p], idx.statuses[p],
                            idx.line_nos[p]) for p in sorted(self.dirty)]
                cols = _columns(idx, start[2])
                self.saved, self.dirty, self.unsaved = (idx.end, idx.lines, len(idx)), set(), 0
            data = saved.delta(start, self.saved[0], self.saved[1], cols, updates)
            if self.side is not None and saved.append_frame(idx.path, self.side, data):
                return
            with self._lock:  # replaced by a reader's whole save, or not written: save whole
                self.saved, self.dirty, self.unsaved = (idx.end, idx.lines, len(idx)), set(), 0
                columns = _columns(idx)
            self._write_whole(columns)

    def close(self) -> None:
        """Save what is new and let the saved file go."""
        try:
            self.save()
        finally:
            with self._saving:
                if self.side is not None:
                    os.close(self.side)
                    self.side = None
