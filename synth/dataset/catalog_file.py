"""The runs catalog's file (``runs/catalog.json``): TinyDB's storage, written atomically and
never touched when it can't be parsed; tinydb itself is imported on first use."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from synth.errors import StoreError
from synth.library.yamlio import atomic_write_text
from synth.private_files import FILE_MODE


def Query():  # noqa: N802 - tinydb's Query(), imported when the catalog is first queried
    from tinydb import Query as TinyQuery

    return TinyQuery()


class AtomicJSONStorage:
    """TinyDB storage (its Storage interface: read, write, close) that replaces the file
    atomically (never a truncated catalog on a crash) and refuses to touch a file it can't
    parse.  tinydb itself is imported on first use of the catalog, not with this module."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def read(self) -> dict[str, Any] | None:
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except UnicodeDecodeError:
            raise StoreError("catalog is not UTF-8 text; it was left as it is", path=self.path,
                             line=1) from None
        if not raw.strip():
            return None
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise StoreError(f"catalog is not valid JSON ({exc.msg}); it was left as it is",
                             path=self.path, line=exc.lineno) from None
        except RecursionError:
            raise StoreError("catalog is nested too deeply to be ours; it was left as it is",
                             path=self.path, line=1) from None
        if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
            raise StoreError("not a chatsynth catalog (expected TinyDB tables); it was left as it is",
                             path=self.path, line=1)
        return data

    def write(self, data: dict[str, Any]) -> None:
        atomic_write_text(self.path, json.dumps(data, ensure_ascii=False), mode=FILE_MODE)

    def close(self) -> None:
        pass
