"""Errors a user can act on: each names the file, line and field where it can."""

from __future__ import annotations

from pathlib import Path


class ChatsynthError(Exception):
    """A problem the user can fix.  The CLI prints ``str(err)`` on one line and exits ``exit_code``."""

    exit_code = 2

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        message = " ".join(str(message).split())  # always one line
        self.message = message if len(message) <= 300 else message[:297] + "..."
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        super().__init__(self.format())

    def format(self) -> str:
        where = ""
        if self.path:
            where = self.path
            if self.line is not None:
                where += f":{self.line}"
            if self.field:
                where += f": {self.field}"
            where += ": "
        elif self.field:
            where = f"{self.field}: "
        return f"{where}{self.message}"


class LibraryError(ChatsynthError):
    """A persona, topic source or config file is not valid."""


class StoreError(ChatsynthError):
    """A run's files can't be read or written safely."""


class WorkspaceError(ChatsynthError):
    """No workspace, or a workspace that can't be used."""
