"""One run's conversation log (``conversations.jsonl``): its header, the writer that appends
one whole line per conversation (O_APPEND, fsync'd at most ``fsync_interval`` apart), the lock
that keeps one writer per run, and the repair that sets a half-written last line aside in
``quarantine/`` (never deleted).  ``synth.dataset.store`` is the only user."""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any, Iterator

from synth.errors import StoreError
from synth.models import Conversation
from synth.private_files import FILE_MODE, private_dir, tighten, tighten_fd, write_private

FORMAT = 1
HEADER_KEY = "chatsynth"
HEADER_KIND = "conversations"
CONV_FILE = "conversations.jsonl"


def _header(run_id: str) -> bytes:
    return (json.dumps({HEADER_KEY: HEADER_KIND, "format": FORMAT, "run_id": run_id}) + "\n").encode()


def check_header(first: bytes, path: Path, run_id: str) -> None:
    try:
        head = json.loads(first)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        head = None
    if not isinstance(head, dict) or head.get(HEADER_KEY) != HEADER_KIND:
        preview = first[:60].decode("utf-8", "replace").strip()
        raise StoreError(f"not a chatsynth conversation log (first line: {preview!r}); "
                         "it was left as it is", path=path, line=1)
    if head.get("format") != FORMAT:
        raise StoreError(f"conversation log format {head.get('format')!r} is not one this version "
                         f"reads ({FORMAT})", path=path, line=1)
    if head.get("run_id") != run_id:
        raise StoreError(f"this log belongs to run {head.get('run_id')!r}, not {run_id!r}",
                         path=path, line=1)


class ConversationWriter:
    """The one writer of a run's log.  Holds an exclusive lock while open."""

    def __init__(self, store: Any, run_id: str) -> None:  # a synth.dataset.store.Store
        self.store = store
        self.fsync_interval = store.fsync_interval
        self._last_sync = time.monotonic()
        self.run_id = run_id
        self.path = store.conversations_path(run_id)
        self.problems: list[str] = []
        self._lock_fd: int | None = None
        self._fd: int | None = None
        self._keeper: Any = None  # synth.dataset.runindex.Keeper: the saved index kept current

    def open(self) -> "ConversationWriter":
        private_dir(self.path.parent.parent)  # runs/
        private_dir(self.path.parent)
        self._lock_fd = try_lock(self.path.parent / "writer.lock")
        if self._lock_fd is None:
            raise StoreError("another chatsynth process is writing this run; wait for it or stop it",
                             path=self.path)
        try:
            if not self.path.exists():
                write_private(self.path, _header(self.run_id))
            self.problems += repair_tail(self.path, self.run_id)
            tighten(self.path, FILE_MODE)  # a log written by an older version was 0644
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        except BaseException:
            self.close()
            raise
        try:
            from synth.dataset.runindex import Keeper

            self._keeper = Keeper(self.path, self.run_id)
        except (StoreError, OSError, ValueError):  # an index that can't be kept costs a rescan
            self._keeper = None
        return self

    def append(self, conv: Conversation, *, sync: bool = True) -> None:
        """Store one conversation; when this returns, it survives a kill -9 of this process.

        With ``sync`` (the default) the log is also fsync'd when ``fsync_interval`` has passed.
        A caller that must not block on the disk passes ``sync=False`` and calls ``sync()``
        from another thread when ``sync_due()`` says so."""
        if self._fd is None:
            raise StoreError("writer is closed", path=self.path)
        if conv.run_id != self.run_id:
            raise StoreError(f"conversation {conv.id} belongs to run {conv.run_id}", path=self.path)
        line = json.dumps(conv.to_dict(), ensure_ascii=False, separators=(",", ":")) + "\n"
        data = line.encode("utf-8")
        written = os.write(self._fd, data)
        while written < len(data):  # a short write; finish the line
            written += os.write(self._fd, data[written:])
        if self._keeper is not None:
            self._keeper.add(conv.id, conv.topic, conv.status, len(data))
        if sync and self.sync_due():
            self.sync()

    def sync_due(self) -> bool:
        return time.monotonic() - self._last_sync >= self.fsync_interval

    def sync(self) -> None:
        """fsync the log (for power loss; a process crash loses nothing either way)."""
        self._last_sync = time.monotonic()
        if self._fd is not None:
            os.fsync(self._fd)
        if self._keeper is not None:
            self._keeper.save(when_due=True)

    def close(self) -> None:
        if self._fd is not None:
            try:
                os.fsync(self._fd)
            finally:
                os.close(self._fd)
            self._fd = None
            if self._keeper is not None:
                self._keeper.close()
                self._keeper = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def __enter__(self) -> "ConversationWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def try_lock(path: Path) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    tighten_fd(fd)  # one an older version made is 0644
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def repair_tail(path: Path, run_id: str) -> list[str]:
    """Check the header and move a half-written last line to quarantine/.  Caller holds the lock."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        first = fh.readline()
        if not first.endswith(b"\n"):
            if not first:
                # an empty file can only be ours, from a crash before the header existed
                write_private(path, _header(run_id))
                return []
            check_header(first + b"\n", path, run_id)  # foreign? raises
            raise StoreError("conversation log header is cut short", path=path, line=1)
        check_header(first, path, run_id)
        # find the last newline without reading the whole file
        block = 1 << 16
        pos = size
        last_nl = -1
        while pos > 0 and last_nl < 0:
            start = max(0, pos - block)
            fh.seek(start)
            chunk = fh.read(pos - start)
            i = chunk.rfind(b"\n")
            if i >= 0:
                last_nl = start + i
            pos = start
        if last_nl == size - 1:
            return []
        fh.seek(last_nl + 1)
        fragment = fh.read()
    qdir = path.parent / "quarantine"
    private_dir(qdir)
    qpath = qdir / f"{CONV_FILE}.{time.strftime('%Y%m%dT%H%M%S')}.{os.getpid()}.tail"
    with os.fdopen(os.open(qpath, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE), "wb") as q:
        q.write(fragment)
        q.flush()
        os.fsync(q.fileno())
    line_no = _count_lines(path, last_nl + 1) + 1
    with open(path, "r+b") as fh:
        fh.truncate(last_nl + 1)
        fh.flush()
        os.fsync(fh.fileno())
    return [f"{path}:{line_no}: a half-written last line ({len(fragment)} bytes, from an "
            f"interrupted write) was set aside in {qpath}"]


def _count_lines(path: Path, upto: int) -> int:
    n = 0
    with open(path, "rb") as fh:
        remaining = upto
        while remaining > 0:
            chunk = fh.read(min(1 << 20, remaining))
            if not chunk:
                break
            n += chunk.count(b"\n")
            remaining -= len(chunk)
    return n


def ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"


def iter_records(path: Path, run_id: str) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """(line number, record or None, problem or None) for each whole line after the header."""
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        return
    with fh:
        first = fh.readline()
        if not first:
            return
        check_header(first if first.endswith(b"\n") else first + b"\n", path, run_id)
        n = 1
        for raw in fh:
            n += 1
            if not raw.endswith(b"\n"):
                yield n, None, (f"{path}:{n}: a half-written last line ({len(raw)} bytes) is "
                                "being written now or was cut off by a crash; it is not read "
                                "and will be set aside in quarantine/ by the next writer")
                return
            try:
                rec = json.loads(raw)
                if not isinstance(rec, dict) or "id" not in rec:
                    raise ValueError("not a conversation record")
                yield n, rec, None
            except (ValueError, UnicodeDecodeError, RecursionError) as exc:
                why = "nested too deeply" if isinstance(exc, RecursionError) else exc
                yield n, None, f"{path}:{n}: unreadable record skipped ({why})"
