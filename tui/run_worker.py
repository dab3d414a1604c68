"""The run worker: a child process that runs synth's Engine for the app (no textual here).

Streaming many conversations is CPU work (HTTP, SSE parsing, the SDK's objects); in its own
process it never competes with the UI for the GIL, so keys are answered at once however many
conversations stream.  It talks to ``tui.runner.RunController`` over one duplex pipe:

    app -> worker   ("start", RunRequest)  (RunRequest.only: write just those again)
                    ("pause",) ("resume",) ("cancel", reason)
                    ("retry", cid) ("discard", cid) ("shutdown",)
    worker -> app   ("events", [item, ...])  batched every few milliseconds; an item is an
                    engine event, a RunNote / RunError, or ("verdict", cid, Verdict) just
                    before the ConversationFinished it belongs to

An embedded model started for a run keeps running in the worker until the app exits.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Any

BATCH_S = 0.02


def main(argv: list[str] | None = None) -> int:
    """``python -m tui.run_worker WORKSPACE``: commands on stdin, events on stdout."""
    import sys
    from multiprocessing.connection import Connection
    from pathlib import Path

    argv = sys.argv[1:] if argv is None else argv
    cmd_in = Connection(os.dup(0), writable=False)
    ev_out = Connection(os.dup(1), readable=False)
    _quiet()
    from synth.library.workspace import Workspace
    from tui.services import Services

    services = Services(Workspace(Path(argv[0])))
    worker = _Worker(cmd_in, ev_out, services)
    try:
        worker.serve()
    finally:
        services.close_sessions()
    return 0


def _quiet() -> None:
    """Nothing the worker or a library prints may reach the app's terminal."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)


class _Worker:
    def __init__(self, cmd_in: Any, ev_out: Any, services: Any) -> None:
        self.cmd_in = cmd_in
        self.conn = ev_out
        self.services = services
        self.send_lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.engine: Any = None
        self.user_ep: Any = None  # role-play: the simulated user's own endpoint, for this run
        self.run_thread: threading.Thread | None = None
        self.pending: list[Any] = []
        self.pending_lock = threading.Lock()

    def send(self, msg: tuple) -> None:
        with self.send_lock:
            try:
                self.conn.send(msg)
            except (OSError, EOFError, BrokenPipeError):
                pass

    def push(self, ev: Any) -> None:
        with self.pending_lock:
            self.pending.append(ev)

    def flush(self) -> None:
        with self.pending_lock:
            batch, self.pending = self.pending, []
        if batch:
            self.send(("events", batch))

    # -- commands ---------------------------------------------------------------------------
    def serve(self) -> None:
        flusher = threading.Thread(target=self._flusher, daemon=True)
        flusher.start()
        while True:
            try:
                msg = self.cmd_in.recv()
            except (EOFError, OSError):
                msg = ("shutdown",)
            cmd, args = msg[0], msg[1:]
            if cmd == "start":
                self.start(args[0])
            elif cmd == "shutdown":
                self.control("cancel", "the app is closing")
                if self.run_thread is not None:
                    self.run_thread.join(15)
                self.flush()
                return
            else:
                self.control(cmd, *args)

    def _flusher(self) -> None:
        while True:
            time.sleep(BATCH_S)
            self.flush()

    def control(self, name: str, *args: Any) -> None:
        loop, engine = self.loop, self.engine
        if loop is None or engine is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(lambda: getattr(engine, name)(*args))
        except RuntimeError:
            pass

    def start(self, request: Any) -> None:
        if self.run_thread is not None and self.run_thread.is_alive():
            from tui.live import RunError

            self.push(RunError("a run is already going; pause or cancel it first"))
            return
        self.run_thread = threading.Thread(target=self._run, args=(request,), daemon=True)
        self.run_thread.start()

    # -- one run ----------------------------------------------------------------------------
    def _run(self, request: Any) -> None:
        from synth.errors import ChatsynthError
        from tui.live import RunError, RunNote

        from contextlib import ExitStack

        try:
            session, _ = self.services.endpoint_session(request.endpoint, request.model,
                                                        note=lambda t: self.push(RunNote(t)))
            ep = session.endpoint
            spec = self.services.build_spec(request, ep, session)
            with ExitStack() as stack:
                self.user_ep = self._user_side(stack, spec, ep)
                if getattr(request, "until_pass", None) or getattr(request, "judge", False):
                    from tui.run_rounds import Rounds

                    judge = self.services.open_judge(stack, spec, ep) if request.judge else None
                    asyncio.run(self._closing_user(Rounds(self, ep, spec, request, judge).run()))
                else:
                    asyncio.run(self._closing_user(
                        self._consume(ep, spec, getattr(request, "only", None))))
        except ChatsynthError as err:
            self.push(RunError(str(err)))
        except Exception as exc:  # noqa: BLE001 - shown to the user, never a traceback
            self.push(RunError(f"{type(exc).__name__}: {exc}"))
        finally:
            self.loop, self.engine, self.user_ep = None, None, None
            self.flush()

    def _user_side(self, stack: Any, spec: Any, ep: Any) -> Any:
        """Role-play: the simulated user's own endpoint or model, when its user_simulator:
        block names one (opened as ``chatsynth run`` opens it; None: the run's endpoint)."""
        from synth.generate.roleplay_endpoint import open_user_side, user_side_differs
        from tui.live import RunNote
        from tui.runner import METHOD_FIELD

        if user_side_differs(spec, ep.name, ep.model):
            sim = spec.persona.user_simulator
            self.push(RunNote(f"the simulated user speaks through {sim.endpoint or ep.name}"
                              + (f" ({sim.model})" if sim.model else "")))
        return open_user_side(stack, self.services.ws.config, spec, ep, how=METHOD_FIELD)

    async def _closing_user(self, work: Any) -> None:
        """Run ``work``; then close the simulated user's HTTP client in this loop."""
        try:
            await work
        finally:
            if self.user_ep is not None:
                await self.user_ep.aclose()

    def make_engine(self, ep: Any) -> Any:
        """An engine for one start (an "until N pass" run makes one a round)."""
        from synth.generate.engine import Engine, EngineOptions
        from synth.curate import filters

        self.loop = asyncio.get_running_loop()
        self.engine = Engine(self.services.store, ep, cost_fn=self.services.cost_fn(),
                             user_endpoint=self.user_ep,
                             options=EngineOptions(chunk_interval_s=0.1, progress_interval_s=0.25,
                                                   verdict=lambda c, p: filters.check(c, persona=p)))
        return self.engine

    def verdict_first(self, engine: Any, ev: Any) -> Any:
        """The verdict just before the ConversationFinished it belongs to; returns it."""
        v = engine.verdicts.get(ev.conversation.id)
        if v is not None:
            with self.pending_lock:
                self.pending.append(("verdict", ev.conversation.id, v))
        return v

    async def _consume(self, ep: Any, spec: Any, only: list[str] | None = None) -> None:
        from synth.generate.events import ConversationFinished

        engine = self.make_engine(ep)
        try:
            async for ev in engine.run(spec, only=only):
                if isinstance(ev, ConversationFinished):
                    self.verdict_first(engine, ev)
                self.push(ev)
        finally:
            await ep.aclose()  # its HTTP client belongs to this loop


if __name__ == "__main__":
    raise SystemExit(main())
