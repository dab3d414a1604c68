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


def every(err: ChatsynthError) -> list[ChatsynthError]:
    """The error and the others found in the same file (``Collector``), in order."""
    return [err, *getattr(err, "more", [])]


class Collector:
    """Runs a file's independent checks and keeps every problem, so that a file's problems are
    all reported at once (the first is raised, carrying the rest in ``.more``)."""

    def __init__(self) -> None:
        self.errors: list[ChatsynthError] = []

    def __call__(self, fn, *args, on_error=None, **kw):
        """``fn(*args, **kw)``; on a ChatsynthError, note it and return ``on_error``."""
        try:
            return fn(*args, **kw)
        except ChatsynthError as err:
            self.errors.extend(every(err))
            return on_error

    def add(self, err: ChatsynthError) -> None:
        self.errors.extend(every(err))

    def done(self) -> None:
        if self.errors:
            first, *rest = self.errors
            first.more = rest  # type: ignore[attr-defined]
            raise first
