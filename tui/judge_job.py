"""Judging a run's conversations for Review, in a thread of its own (no textual here).

``Services.judge_job`` makes a ``JudgeJob`` (a ``synth.curate.judging.Judge`` and the (id, turns)
pairs to judge); ``run()`` blocks (call it from a worker thread) and appends each verdict to
``results`` as it comes, which the screen drains on a timer: the screen never waits on the
judge.  ``cancel()`` (Esc) stops it from any thread: requests in flight are dropped, verdicts
already given stay in the run's judge cache.  ``line()`` is the progress: judged, cached,
failed, the judge's tokens and cost.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Sequence

from synth.wording import plural


class JudgeJob:
    def __init__(self, judge: Any, items: Sequence[tuple[str, Any]],
                 close: Callable[[], None] | None = None) -> None:
        self.judge = judge
        self.items = list(items)
        self.total = len(self.items)
        self.results: list[tuple[str, Any]] = []  # (conversation id, Judgement), appended in order
        self.cancelled = False
        self.finished = False
        self.error: str | None = None  # the endpoint refused every request (key, model)
        self._close = close
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None

    @property
    def model(self) -> str:
        return self.judge.ep.model

    def run(self) -> None:
        """Judge every item (blocking); returns when done, cancelled or stopped by the endpoint."""
        try:
            asyncio.run(self._go())
        except Exception as exc:  # noqa: BLE001 - a fatal endpoint error, shown on the screen
            self.error = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        finally:
            self.finished = True
            if self._close is not None:
                try:
                    self._close()
                except Exception:  # noqa: BLE001 - best effort
                    pass

    async def _go(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        if self.cancelled:
            return

        async def one(cid: str, turns: Any) -> None:
            j = await self.judge.judge(turns)
            self.results.append((cid, j))

        try:
            await asyncio.gather(*(one(cid, turns) for cid, turns in self.items))
        except asyncio.CancelledError:
            if not self.cancelled:
                raise
        finally:
            await self.judge.ep.aclose()

    def cancel(self) -> None:
        """Stop judging (safe from any thread; nothing when it has finished)."""
        self.cancelled = True
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not self.finished:
            try:
                loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:  # the loop closed in between: it has finished
                pass

    def line(self) -> str:
        """One line: how far, its state, what it cost (the state before the cost, so a narrow
        screen keeps it): ``judge M: 12/40 judged (3 cached, 1 failed) · Esc cancels · 2,345 +
        678 tokens · $0.0012``."""
        j = self.judge
        done = len(self.results)
        extra = [f"{j.cached} cached"] if j.cached else []
        if j.failed:
            extra.append(f"{j.failed} failed")
        head = f"judge {self.model}: {done}/{self.total} judged" + (
            f" ({', '.join(extra)})" if extra else "")
        if j.ep.free:
            cost = "free (embedded model)"
        elif j.cost is None:
            cost = f"cost ? (no price for {self.model})"
        else:
            cost = f"${j.cost:.4f}"
        tail = ""
        if self.error:
            tail = f" · stopped: {self.error}"
        elif self.finished and self.cancelled:
            tail = f" · cancelled: {plural(self.total - done, 'conversation')} not judged"
        elif self.finished:
            tail = " · done"
        else:
            tail = " · Esc cancels"
        return f"{head}{tail} · {j.prompt_tokens:,} + {j.completion_tokens:,} tokens · {cost}"
