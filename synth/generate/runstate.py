"""Bookkeeping the engine keeps for one run, outside its request loop:

- ``Tally``: tokens per conversation, so the totals of "this start" are always the sum of its
  conversations (a conversation written again replaces its old figures, never adds to them),
  and "the run holds" also counts what was stored before this start (resume).
- ``unreachable``: the endpoint's connection test, once before the first request, so a dead
  endpoint stops a run at once instead of costing every conversation its retries.
- ``plural``: "1 turn" / "2 turns" for run and progress lines.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, Iterable

from synth.models import Conversation


class Tally:
    """Prompt and completion tokens, one entry per conversation."""

    def __init__(self, held: Iterable[Conversation] = ()) -> None:
        # complete in the store before this start: id -> (prompt, completion)
        self.held: dict[str, tuple[int, int]] = {
            c.id: (c.usage.prompt_tokens, c.usage.completion_tokens)
            for c in held if c.status == "complete"}
        self.now: dict[str, tuple[int, int, bool]] = {}  # stored this start: (p, c, complete)
        self.prompt = self.completion = 0  # this start
        self.run_prompt = sum(p for p, _ in self.held.values())
        self.run_completion = sum(c for _, c in self.held.values())

    def _in_run(self, cid: str) -> tuple[int, int]:
        """What ``cid`` adds to the run's totals (the record the store's load() keeps)."""
        now = self.now.get(cid)
        if now is not None and (now[2] or cid not in self.held):
            return now[0], now[1]
        return self.held.get(cid, (0, 0))

    def add(self, conv: Conversation) -> None:
        cid = conv.id
        old_run = self._in_run(cid)
        old = self.now.get(cid)
        if old is not None:
            self.prompt -= old[0]
            self.completion -= old[1]
        p, c = conv.usage.prompt_tokens, conv.usage.completion_tokens
        self.now[cid] = (p, c, conv.status == "complete")
        self.prompt += p
        self.completion += c
        new_run = self._in_run(cid)
        self.run_prompt += new_run[0] - old_run[0]
        self.run_completion += new_run[1] - old_run[1]


def _why(exc: BaseException) -> str:
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", str(exc)).strip()
    return text or type(exc).__name__


async def unreachable(ep: Any) -> str | None:
    """Why ``ep`` can't be reached (no connection at all), or None.  Any HTTP answer, even an
    error, means the server is there: the first request will say what is wrong with it."""
    import httpx

    from synth.generate.endpoints import NO_KEY, list_models

    try:
        await asyncio.to_thread(list_models, ep.base_url, ep.api_key or NO_KEY,
                                timeout=max(1.0, float(ep.connect_timeout)))
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.UnsupportedProtocol) as exc:
        return f"can't reach {ep.base_url} ({_why(exc).lower()})"
    except Exception:  # noqa: BLE001 - it answered (or was slow to): the requests will tell
        return None
    return None
