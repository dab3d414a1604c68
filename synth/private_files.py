"""Owner-only modes for what a run and an export write: conversations can hold private
documents, so runs/ and exports/ and everything under them are 0700 folders and 0600 files
(as chatsynth.yaml and runs/catalog.json already are).  Folders made by an older version are
tightened the next time a run or an export writes into them."""

from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> Path:
    """Make ``path`` (and any missing parents) and leave ``path`` itself owner-only."""
    path = Path(path)
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    tighten(path, DIR_MODE)
    return path


def tighten(path: Path, mode: int) -> None:
    """Take group and other access away from an existing file or folder of ours."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    if st.st_mode & 0o077:
        try:
            os.chmod(path, st.st_mode & mode & 0o777)
        except PermissionError:
            pass  # not ours (a shared folder): leave it as its owner set it


def tighten_fd(fd: int) -> None:
    """``tighten`` for a file already open (a lock file)."""
    try:
        os.fchmod(fd, FILE_MODE)
    except PermissionError:
        pass


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to an owner-only ``path`` so that a crash leaves the old file or the whole
    new one, never part of it (a temporary file, fsync'd, renamed over it, the folder fsync'd)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def write_private_cache(path: Path, data: bytes) -> None:
    """Write a cache entry to an owner-only ``path`` through a temporary file renamed over it:
    a reader sees the old entry or the new one, never a half-written one.  No fsync (a cache a
    crash loses is only slower to read next time).  Raises OSError, the temporary file gone."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def fsync_dir(d: Path) -> None:
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
