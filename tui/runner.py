"""Runs one synthesis at a time for the app: synth's Engine in a background thread with its
own event loop, so that HTTP streaming and parsing never compete with the UI's loop.

The screen drains the events at its own pace (``drain``) and controls the run through
thread-safe calls (pause, resume, cancel, retry, discard).  No textual here.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from synth.errors import ChatsynthError
from tui.live import RunError, RunNote


@dataclass
class RunRequest:
    """What the Synthesize form asks for."""

    persona: str
    topics: str
    per_topic: int = 1
    endpoint: str | None = None
    model: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    stop: list[str] | None = None
    concurrency: int | None = None
    budget: float | None = None
    limit: int | None = None
    seed: int | None = None


class RunController:
    def __init__(self, services: Any) -> None:
        self.services = services
        self.events: deque[Any] = deque()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._engine: Any = None
        self.spec: Any = None
        self.endpoint: Any = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, request: RunRequest) -> None:
        if self.running:
            raise ChatsynthError("a run is already going; pause or cancel it first", field="run")
        self.events.clear()
        self._engine = None
        self._loop = None
        self._thread = threading.Thread(target=self._main, args=(request,), daemon=True,
                                        name="chatsynth-run")
        self._thread.start()

    def drain(self, most: int = 100_000) -> list[Any]:
        out = []
        pop = self.events.popleft
        try:
            for _ in range(most):
                out.append(pop())
        except IndexError:
            pass
        return out

    # -- control (thread-safe) ------------------------------------------------------------
    def _call(self, name: str, *args: Any) -> bool:
        loop, engine = self._loop, self._engine
        if loop is None or engine is None or loop.is_closed():
            return False
        try:
            loop.call_soon_threadsafe(lambda: getattr(engine, name)(*args))
        except RuntimeError:  # the loop just closed
            return False
        return True

    def pause(self) -> bool:
        return self._call("pause")

    def resume(self) -> bool:
        return self._call("resume")

    def cancel(self, reason: str = "cancelled by the user") -> bool:
        return self._call("cancel", reason)

    def retry(self, conversation_id: str) -> bool:
        return self._call("retry", conversation_id)

    def discard(self, conversation_id: str) -> bool:
        return self._call("discard", conversation_id)

    def verdict_of(self, conversation_id: str) -> Any:
        engine = self._engine
        return engine.verdicts.get(conversation_id) if engine is not None else None

    @property
    def state(self) -> str:
        engine = self._engine
        return engine.state if engine is not None else "idle"

    def shutdown(self, timeout: float = 10.0) -> None:
        self.cancel("the app is closing")
        if self._thread is not None:
            self._thread.join(timeout)

    # -- the run thread ---------------------------------------------------------------------
    def _main(self, request: RunRequest) -> None:
        try:
            session, label = self.services.endpoint_session(request.endpoint, request.model,
                                                            note=lambda t: self.events.append(RunNote(t)))
            ep = session.endpoint
            spec = self.services.build_spec(request, ep, session)
            self.spec, self.endpoint = spec, ep
            asyncio.run(self._consume(ep, spec))
        except ChatsynthError as err:
            self.events.append(RunError(str(err)))
        except Exception as exc:  # noqa: BLE001 - shown to the user, never a traceback
            self.events.append(RunError(f"{type(exc).__name__}: {exc}"))
        finally:
            self._loop = None

    async def _consume(self, ep: Any, spec: Any) -> None:
        from synth.engine import Engine, EngineOptions

        self._loop = asyncio.get_running_loop()
        engine = Engine(self.services.store, ep, cost_fn=self.services.cost_fn(),
                        options=EngineOptions(chunk_interval_s=0.05, progress_interval_s=0.2))
        self._engine = engine
        push = self.events.append
        try:
            async for ev in engine.run(spec):
                push(ev)
        finally:
            await ep.aclose()  # its HTTP client belongs to this loop
