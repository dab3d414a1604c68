"""Parsed YAML kept between launches, so the app's first screen does not import PyYAML.

Importing PyYAML costs about 20 ms (its pure-Python reader compiles a large pattern even when
libyaml does the reading), more than parsing every file the first screen reads (about 3 ms).
A successful parse is kept, per file, in the user's cache folder together with a hash of the
text it came from; the next read of that file with the same text loads the kept values
(``yamllines``' containers, line numbers included) instead.  The text is read and hashed every
time, so an edit, by chatsynth or anyone, is always seen: nothing rests on file times.

Only files are kept (one entry each, replaced when the text changes), never a parse that
failed.  The entries are written by this user, readable only by them (0600), like the files
they come from; a missing, unreadable or foreign entry is a miss, never an error.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path
from typing import Any

MISS = object()
VERSION = 1  # bump when the parsed shape changes


def cache_dir() -> Path:
    env = os.environ.get("CHATSYNTH_YAML_CACHE")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("chatsynth", appauthor=False)) / "yaml"


def _entry(path: Path) -> Path:
    name = hashlib.blake2b(str(Path(path).resolve()).encode("utf-8", "surrogateescape"),
                           digest_size=16).hexdigest()
    return cache_dir() / f"{name}.pickle"


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=20).digest()


def get(text: str, path: Path) -> Any:
    """What ``text`` (read from ``path``) parsed to last time, or ``MISS``."""
    try:
        raw = _entry(path).read_bytes()
        version, digest, data = pickle.loads(raw)
    except Exception:  # noqa: BLE001 - no entry, or one this version can't read: a miss
        return MISS
    if version != VERSION or digest != _digest(text):
        return MISS
    return data


def put(text: str, path: Path, data: Any) -> None:
    """Keep ``data`` as what ``text`` from ``path`` parses to (only for a file that exists)."""
    from synth.private_files import write_private_cache

    try:
        if not Path(path).is_file():
            return
        blob = pickle.dumps((VERSION, _digest(text), data), protocol=pickle.HIGHEST_PROTOCOL)
        entry = _entry(path)
        entry.parent.mkdir(parents=True, exist_ok=True)
        write_private_cache(entry, blob)
    except Exception:  # noqa: BLE001 - a cache that can't be written is only slower
        pass
