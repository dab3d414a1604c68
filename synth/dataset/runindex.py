"""An index of one run's conversation log: for each stored conversation (the record a full load
keeps: the latest per id, complete beats partial) its byte offset and length in the file, its
topic and status.  Lets a screen list 100,000 conversations without reading
their bodies, and read one body on demand (``read_record``).

Built by one pass over the file's bytes that picks those few fields out of each line without
parsing it (a line the quick reading can't place is parsed in full), kept in memory per log
file and extended, not rebuilt, when the log has grown: the log is append-only.
``synth.dataset.store.Store.index`` is the way in.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from synth.dataset.runlog import check_header

_ID = re.compile(rb'^\{"id":\s?"([^"\\]+)"')
_TOPIC = re.compile(rb'"topic":\s?("(?:[^"\\]|\\.)*")')
_STATUS = re.compile(rb'"status":\s?"([a-z]+)"')


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
    entries: list[Entry] = field(default_factory=list)  # in order of first appearance
    positions: dict[str, int] = field(default_factory=dict)  # id -> position in entries
    problems: list[str] = field(default_factory=list)
    end: int = 0  # bytes of the file indexed (whole lines only)
    lines: int = 1  # lines read (the header included)
    key: tuple = ()

    def get(self, cid: str) -> Entry | None:
        pos = self.positions.get(cid)
        return self.entries[pos] if pos is not None else None

    def counts(self) -> tuple[int, int]:
        """(complete, other) conversations."""
        done = sum(1 for e in self.entries if e.status == "complete")
        return done, len(self.entries) - done


_CACHE: dict[str, RunIndex] = {}


def _fields(raw: bytes) -> tuple[str, str, str] | None:
    """(id, topic, status) of one record line, or None for a line that is not one."""
    m_id = _ID.match(raw)
    at = raw.find(b'"topic":')
    st = raw.rfind(b'"status":')
    # a key's name inside a string is escaped (\"topic\":), so these finds meet only keys; the
    # record's own "topic" comes before any nested dict, its "status" after them all
    if m_id and at > 0 and st > 0:
        m_topic, m_status = _TOPIC.match(raw, at), _STATUS.match(raw, st)
        if m_topic and m_status:
            try:
                topic = m_topic.group(1)
                topic = topic[1:-1].decode() if b"\\" not in topic else json.loads(topic)
                return m_id.group(1).decode(), topic, m_status.group(1).decode()
            except (ValueError, UnicodeDecodeError):
                pass
    try:
        rec = json.loads(raw)
        if not isinstance(rec, dict) or "id" not in rec:
            return None
        return str(rec["id"]), str(rec.get("topic", "")), str(rec.get("status", "complete"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def _extend(idx: RunIndex, fh, start: int) -> None:
    fh.seek(start)
    offset, n = start, idx.lines
    entries, positions = idx.entries, idx.positions
    for raw in fh:
        n += 1
        if not raw.endswith(b"\n"):
            idx.problems.append(f"{idx.path}:{n}: a half-written last line ({len(raw)} bytes) is "
                                "not read")
            n -= 1
            break
        got = _fields(raw)
        if got is None:
            idx.problems.append(f"{idx.path}:{n}: unreadable record skipped")
        else:
            cid, topic, status = got
            e = Entry(cid, offset, len(raw), topic, status, n)
            pos = positions.get(cid)
            if pos is None:
                positions[cid] = len(entries)
                entries.append(e)
            elif not (entries[pos].status == "complete" and status == "partial"):
                entries[pos] = e
        offset += len(raw)
    idx.end, idx.lines = offset, n


def index_log(path: Path, run_id: str) -> RunIndex:
    """The index of ``path`` as it is now (extended from the last one when the log only grew)."""
    path = Path(path)
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
        if old is not None and old.key and old.key[0] == st.st_ino and old.end <= st.st_size \
                and not old.problems and _same_tail(fh, old):
            idx = old  # appended to since: read only what is new
            idx.problems = []
        else:
            idx = RunIndex(path, end=len(first))
        _extend(idx, fh, idx.end)
    idx.key = key
    if not idx.problems:  # a torn tail may be repaired: read it again next time
        _CACHE[str(path)] = idx
    return idx


def _same_tail(fh, idx: RunIndex) -> bool:
    """The last indexed line is still where it was (the file was appended to, not rewritten)."""
    if not idx.entries:
        return idx.end > 0
    last = max(idx.entries, key=lambda e: e.offset)
    fh.seek(last.offset)
    raw = fh.read(last.length)
    got = _fields(raw) if raw.endswith(b"\n") else None
    return got is not None and got[0] == last.id


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
