"""Runs one synthesis at a time for the app: synth's Engine in a worker *process*
(``python -m tui.run_worker``, commands and events as pickles over its stdin and stdout), so that HTTP streaming and parsing never compete with the UI for the GIL.

The screen drains the events at its own pace (``drain``) and controls the run with
``pause``/``resume``/``cancel``/``retry``/``discard``; those are messages to the worker, which
calls the engine's own methods in the engine's loop.  No textual here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synth.errors import ChatsynthError
from synth.generate.events import RunFinished
from synth.generate.processes import terminate
from tui.live import RunError


METHOD_FIELD = "the form's Method: role-play"  # where the app's user chose role-play


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
    top_p: float | None = None  # None: the persona's (else the server's default)
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    repeat_penalty: float | None = None
    only: list[str] | None = None  # write just these conversations (again, if stored)
    until_pass: int | None = None  # run --until-pass N: write until N pass (limit stays None)
    max_new: int | None = None  # with until_pass: --max, the most written in this start
    judge: bool = False  # run --judge: judge each conversation as it finishes
    method: str | None = None  # run --method: "transcript" or "roleplay"; None: the persona's


class RunController:
    def __init__(self, services: Any) -> None:
        self.services = services
        self.events: deque[Any] = deque()
        self.verdicts: dict[str, Any] = {}
        self._proc: Any = None
        self._conn: Any = None
        self._reader: threading.Thread | None = None
        self._active = False  # a run was started and its RunFinished / RunError not seen yet
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._active and self._proc is not None and self._proc.poll() is None

    def _ensure_worker(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        from multiprocessing.connection import Connection

        env = dict(os.environ)
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join([root] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        proc = subprocess.Popen(
            [sys.executable, "-m", "tui.run_worker", str(self.services.ws.root)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
            start_new_session=True)  # no terminal signals: the app stops it itself
        self._proc = proc
        self._conn = Connection(os.dup(proc.stdin.fileno()), readable=False)  # type: ignore[union-attr]
        events_in = Connection(os.dup(proc.stdout.fileno()), writable=False)  # type: ignore[union-attr]
        proc.stdin.close()  # type: ignore[union-attr]
        proc.stdout.close()  # type: ignore[union-attr]
        self._reader = threading.Thread(target=self._read, args=(events_in,), daemon=True,
                                        name="chatsynth-run-reader")
        self._reader.start()

    def _read(self, conn: Any) -> None:
        while True:
            try:
                kind, batch = conn.recv()
            except (EOFError, OSError):
                break
            except Exception as exc:  # noqa: BLE001 - an unreadable message: say so, go on
                self.events.append(RunError(f"lost a message from the run worker ({exc})"))
                continue
            if kind != "events":
                continue
            for item in batch:
                if isinstance(item, tuple) and item and item[0] == "verdict":
                    self.verdicts[item[1]] = item[2]
                    continue
                if isinstance(item, (RunFinished, RunError)):
                    self._active = False
                self.events.append(item)
        if self._active:
            self._active = False
            self.events.append(RunError("the run worker stopped unexpectedly"))

    def _send(self, *msg: Any) -> bool:
        conn = self._conn
        if conn is None:
            return False
        with self._lock:
            try:
                conn.send(msg)
            except (OSError, EOFError, BrokenPipeError):
                return False
        return True

    def start(self, request: RunRequest) -> None:
        if self.running:
            raise ChatsynthError("a run is already going; pause or cancel it first", field="run")
        self.events.clear()
        self.verdicts.clear()
        self._ensure_worker()
        self._active = True
        if not self._send("start", request):
            self._active = False
            raise ChatsynthError("could not reach the run worker", field="run")

    def drain(self, most: int = 100_000) -> list[Any]:
        out = []
        pop = self.events.popleft
        try:
            for _ in range(most):
                out.append(pop())
        except IndexError:
            pass
        return out

    # -- control ---------------------------------------------------------------------------
    def pause(self) -> bool:
        return self.running and self._send("pause")

    def resume(self) -> bool:
        return self.running and self._send("resume")

    def cancel(self, reason: str = "cancelled by the user") -> bool:
        return self.running and self._send("cancel", reason)

    def retry(self, conversation_id: str) -> bool:
        return self.running and self._send("retry", conversation_id)

    def discard(self, conversation_id: str) -> bool:
        return self.running and self._send("discard", conversation_id)

    def verdict_of(self, conversation_id: str) -> Any:
        return self.verdicts.get(conversation_id)

    def shutdown(self, timeout: float = 15.0) -> None:
        """Cancel a run cleanly (partial conversations are kept), stop the worker and with it
        any embedded model."""
        proc = self._proc
        if proc is None:
            return
        self._send("shutdown")
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            terminate(proc)
        if self._conn is not None:
            self._conn.close()
        self._proc = self._conn = None
