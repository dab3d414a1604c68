"""Helpers for Pilot tests and the benchmark (no test framework imports here)."""

from __future__ import annotations

import asyncio
import time
from typing import Callable


async def wait_for(pilot, predicate: Callable[[], object], timeout: float = 10.0,
                   step: float = 0.02) -> object:
    """Pause the pilot until ``predicate()`` is truthy; raise TimeoutError after ``timeout``.

    A predicate that looks up a row or key not there yet (``LookupError``) counts as not met:
    tables fill in after the screen mounts, and reload while a run grows."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value, missing = predicate(), None
        except LookupError as exc:
            value, missing = None, exc
        if value:
            return value
        if time.monotonic() > deadline:
            why = f" (last look: {type(missing).__name__}: {missing})" if missing else ""
            raise TimeoutError(f"condition not met in {timeout}s{why}")
        await pilot.pause(step)


async def notified(pilot, text: str, timeout: float = 10.0) -> None:
    """Wait until a notification containing ``text`` has been shown.  (``App.notify`` posts a
    message; the notification is recorded when the app handles it, not at the call.)"""
    app = pilot.app
    await wait_for(pilot, lambda: any(text in str(n.message) for n in app._notifications), timeout)


def tables_measured(screen) -> bool:
    """True once every DataTable on ``screen`` has measured its rows and columns.

    A DataTable sizes its columns on idle, after rows are added; a picture taken before that
    shows every column as wide as its label."""
    from textual.widgets import DataTable

    return all(not t._require_update_dimensions and not t._updated_cells
               for t in screen.query(DataTable))


async def steady(pilot) -> None:
    """Wait until the screen's tables are measured, then let one more refresh through."""
    await wait_for(pilot, lambda: tables_measured(pilot.app.screen))
    await pilot.pause()
    await wait_for(pilot, lambda: tables_measured(pilot.app.screen))


async def unchanged(pilot, most: int = 60, calm: int = 4) -> None:
    """Until the picture has stayed the same for ``calm`` looks 80 ms apart (text areas and
    tables wrap or size again once a scroll bar comes or goes, some refreshes after the rest)."""
    before, same = None, 0
    for _ in range(most):
        await pilot.pause(0.08)
        now = pilot.app.export_screenshot()
        same = same + 1 if now == before else 0
        if same >= calm:
            return
        before = now


async def settle(pilot, rounds: int = 3) -> None:
    for _ in range(rounds):
        await pilot.pause()
    await asyncio.sleep(0)


def use_endpoint(ws, url: str, name: str = "loop", model: str = "fake-model",
                 style: str = "completion") -> None:
    """Point a test workspace's default endpoint at a loopback OpenAI-compatible server."""
    text = ws.config_path.read_text(encoding="utf-8")
    text = text.replace("default_endpoint: local", f"default_endpoint: {name}")
    entry = (f"endpoints:\n  - name: {name}\n    base_url: {url}\n    default_model: {model}\n"
             f"    style: {style}\n")
    text = text.replace("endpoints:\n", entry, 1)
    ws.config_path.write_text(text, encoding="utf-8")
    ws.reload()


def set_judge_endpoint(ws, name: str = "loop") -> None:
    """Make endpoint ``name`` the workspace's judge (``defaults: judge_endpoint:``)."""
    text = ws.config_path.read_text(encoding="utf-8")
    ws.config_path.write_text(text.replace("defaults:\n", f"defaults:\n  judge_endpoint: {name}\n", 1),
                              encoding="utf-8")
    ws.reload()


def make_run(ws, *, limit: int = 6, persona: str = "eve", topics: str = "eve",
             endpoint: str | None = None, timeout: float = 60.0, concurrency: int = 4):
    """Write a run through the app's own run controller (blocking).  Returns RunFinished."""
    from synth.generate.events import RunFinished
    from tui.live import RunError
    from tui.runner import RunRequest
    from tui.services import Services

    services = Services(ws)
    runner = services.runner
    runner.start(RunRequest(persona=persona, topics=topics, endpoint=endpoint, limit=limit,
                            concurrency=concurrency))
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            for ev in runner.drain():
                if isinstance(ev, RunFinished):
                    return ev
                if isinstance(ev, RunError):
                    raise RuntimeError(ev.message)
            time.sleep(0.02)
        raise TimeoutError("run did not finish")
    finally:
        services.shutdown()
