"""The saved run index (``conversations.idx`` beside a run's log): its file format, kept so
that saving what a writer appended costs only the new lines, not the whole index.

The file is a sequence of frames, each ``<length, crc32>`` then a marshal payload.  The first
frame is the index as it was when the file was written whole (``write_whole``: atomically, a
temporary file renamed over the old one); each later frame, appended by the run's writer
(``append_frame``), holds only what changed since the frame before it: the entries it added,
the earlier entries it replaced (a complete record after its partial one), and where the
indexed log now ends.  Every frame says where the one before it left off, so a reader applies
frames while they chain and stops at the first that does not (a torn frame from a crash, a
frame a writer appended to a file another process had just replaced): what it did not apply it
reads from the log instead.  Nothing in this file is trusted beyond that: ``runindex`` checks
the result against the log (same file, long enough, its last indexed line in place).
"""

from __future__ import annotations

import marshal
import os
import struct
import zlib
from pathlib import Path

from synth.private_files import FILE_MODE

SIDECAR_VERSION = 2  # 1: one marshal of the whole index (read as unknown: costs one rescan)
_FRAME = struct.Struct("<II")  # payload length, crc32 of the payload
COLUMNS = 6  # ids, offsets, lengths, topics, statuses, line_nos


def sidecar_path(path: Path) -> Path:
    return Path(path).with_suffix(".idx")


def frame(payload: object) -> bytes:
    data = marshal.dumps(payload)
    return _FRAME.pack(len(data), zlib.crc32(data)) + data


def whole(ino: int, end: int, lines: int, columns: tuple) -> bytes:
    """The first frame: the whole index (``columns`` as in ``COLUMNS``)."""
    return frame((SIDECAR_VERSION, ino, end, lines, *columns))


def delta(start: tuple[int, int, int], end: int, lines: int, columns: tuple,
          updates: list[tuple]) -> bytes:
    """A later frame: ``start`` is (end, lines, entries) where the frame before left off;
    ``columns`` the entries added since; ``updates`` (position, offset, length, topic,
    status, line_no) for each earlier entry replaced since."""
    return frame((*start, end, lines, *columns, updates))


def write_whole(path: Path, data: bytes, *, keep: bool = False) -> int | None:
    """Write the index beside ``path`` whole (atomically, owner-only).  With ``keep``, the new
    file stays open for ``append_frame`` and its descriptor is returned; None when it could not
    be written (a failure only costs a rescan)."""
    side = sidecar_path(path)
    tmp = side.with_name(f".{side.name}.{os.getpid()}.tmp")
    fd = None
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, FILE_MODE)
        _write(fd, data)
        os.replace(tmp, side)
    except OSError:
        if fd is not None:
            os.close(fd)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return None
    if keep:
        return fd
    os.close(fd)
    return None


def _write(fd: int, data: bytes) -> None:
    written = os.write(fd, data)
    while written < len(data):
        written += os.write(fd, data[written:])


def append_frame(path: Path, fd: int, data: bytes) -> bool:
    """Append a frame to the saved index open as ``fd``, if that is still the file beside the
    log (not replaced since by another process's whole save); False when it is not, or the
    write failed.  (The open descriptor keeps its inode from being reused by a new file.)"""
    try:
        if os.stat(sidecar_path(path)).st_ino != os.fstat(fd).st_ino:
            return False
        _write(fd, data)
        return True
    except OSError:
        return False


def _frames(raw: bytes):
    at, size = 0, len(raw)
    while at + _FRAME.size <= size:
        length, crc = _FRAME.unpack_from(raw, at)
        body = raw[at + _FRAME.size: at + _FRAME.size + length]
        if len(body) != length or zlib.crc32(body) != crc:
            return  # torn or damaged: what follows is not read
        try:
            yield marshal.loads(body)
        except (ValueError, EOFError, TypeError):
            return
        at += _FRAME.size + length


def load(path: Path, ino: int, size: int) -> tuple[int, int, list[list]] | None:
    """(end, lines, columns) of the saved index of ``path`` (the log's inode and size now), as
    far as its frames chain; None when there is none usable."""
    try:
        raw = sidecar_path(path).read_bytes()
    except OSError:
        return None
    frames = _frames(raw)
    try:
        version, s_ino, end, lines, *columns = next(frames)
        if version != SIDECAR_VERSION or s_ino != ino or end > size or len(columns) != COLUMNS:
            return None
        columns = [list(c) for c in columns]
        if len({len(c) for c in columns}) != 1:
            return None
    except (StopIteration, ValueError, TypeError):
        return None
    for got in frames:
        if not _apply(got, columns, end, lines, size):
            break
        end, lines = got[3], got[4]
    return end, lines, columns


def _apply(got: object, columns: list[list], end: int, lines: int, size: int) -> bool:
    """Apply one later frame if it starts where the index is and holds together."""
    try:
        s_end, s_lines, s_count, n_end, n_lines, *added, updates = got  # type: ignore[misc]
        count = len(columns[0])
        if (s_end, s_lines, s_count) != (end, lines, count) or n_end > size or n_end < end \
                or len(added) != COLUMNS or len({len(c) for c in added}) != 1:
            return False
        if any(not 0 <= u[0] < count or len(u) != COLUMNS for u in updates):
            return False
    except (ValueError, TypeError, IndexError):
        return False
    for col, new in zip(columns, added):
        col.extend(new)
    for pos, *values in updates:
        for col, v in zip(columns[1:], values):
            col[pos] = v
    return True
