"""Per-user settings of the terminal app (the theme): a small JSON file in the platform's
config folder (platformdirs; $XDG_CONFIG_HOME/chatsynth/tui.json on Linux), never in the
workspace's chatsynth.yaml, which is shared data.

A file that cannot be read is reported (path, line, what is wrong), used as empty and never
written over, so a hand edit with a typo is not lost.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

THEMES = ("textual-dark", "textual-light")


def prefs_path() -> Path:
    from platformdirs import user_config_dir

    return Path(user_config_dir("chatsynth", appauthor=False)) / "tui.json"


class Prefs:
    """Read once at start; ``set`` writes the file at once (atomically)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or prefs_path()
        self.data: dict[str, Any] = {}
        self.problem: str | None = None  # why the file was not used, for a notification
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        except OSError as err:
            self.problem = f"{self.path}: cannot read: {err.strerror or err}"
            return
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            self.problem = f"{self.path}:{err.lineno}: not valid JSON: {err.msg}"
            return
        if not isinstance(data, dict):
            self.problem = f"{self.path}:1: expected a JSON object, got {type(data).__name__}"
            return
        self.data = data

    @property
    def theme(self) -> str:
        theme = self.data.get("theme")
        return theme if theme in THEMES else THEMES[0]

    def set(self, key: str, value: Any) -> str | None:
        """Store one setting; returns why it was not written, or None."""
        if self.problem:
            return f"{self.problem} (not overwritten; settings are not kept)"
        self.data[key] = value
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(self.data, indent=2) + "\n", encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as err:
            return f"{self.path}: cannot write: {err.strerror or err}"
        return None
