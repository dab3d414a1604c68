"""What a judged or "until N pass" run adds to a run, outside the engine (`chatsynth run
--judge --until-pass N` and the app's Synthesize both sit on it).

``JudgePipe`` consumes the engine's ConversationFinished events and judges each conversation
as it finishes (its own concurrency, pipelined with writing); ``wait()`` lets the last
judgements finish.  ``passing(...)`` counts the run's conversations that pass every filter (and
the judge, when on): a conversation the judge failed on never counts.  ``UntilPass.next_limit``
decides how much an "until N pass" run writes next (topics first, then further samples of each
topic), and ``merge_rounds`` makes one RunFinished of its rounds.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from synth.curate.filters import check
from synth.generate.events import RunFinished


class JudgePipe:
    def __init__(self, judge: Any, persona: Any) -> None:
        self.judge = judge
        self.persona = persona
        self.tasks: set[asyncio.Task] = set()
        self.live_pass = 0  # conversations of this round that pass the filters and the judge

    def finished(self, conv: Any) -> None:
        async def one() -> None:
            j = await self.judge.judge(conv.turns)
            if j.passed and check(conv, self.persona.rules, self.persona).ok:
                self.live_pass += 1

        t = asyncio.create_task(one())
        self.tasks.add(t)
        t.add_done_callback(self.tasks.discard)

    def use_cache(self, store: Any, run_id: str) -> None:
        """The judge's verdicts are cached in the run's folder (judging twice costs nothing)."""
        from synth.curate.judging import CACHE_NAME, JudgeCache

        if self.judge.cache.path is None:
            self.judge.cache = JudgeCache(store.run_dir(run_id) / CACHE_NAME)

    async def judge_stored(self, store: Any, run_id: str) -> None:
        """Judge the run's stored conversations as they are now (cached ones cost nothing)."""
        from synth.curate.review import Review

        self.use_cache(store, run_id)
        rs = Review(store, run_id, self.persona).load()
        await asyncio.gather(*(self.judge.judge(it.turns) for it in rs.items
                               if it.conv.status == "complete" and it.turns
                               and it.decision != "rejected"))

    async def wait(self) -> None:
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=False)


def passing(store: Any, run_id: str, persona: Any, judged: bool) -> int:
    """Conversations of the run that pass every filter (the judge's rule included) and that the
    user did not reject; with the judge on, only those it judged and passed."""
    from synth.curate.review import Review

    rs = Review(store, run_id, persona).load()
    return sum(1 for it in rs.items
               if it.decision != "rejected" and it.conv.status == "complete" and it.verdict.ok
               and (not judged or (it.judgement is not None and it.judgement.passed)))


@dataclass
class UntilPass:
    """The state of an "until N pass" run across its rounds."""

    target: int
    max_new: int | None  # --max: conversations written in this invocation at most
    max_per_topic: int
    written: int = 0
    rounds: int = 0

    def next_limit(self, have: int) -> tuple[int, str]:
        """How many to write next (0: stop) and, when stopping, why."""
        if have >= self.target:
            return 0, f"{have} pass (the target was {self.target})"
        need = self.target - have
        if self.max_new is not None:
            left = self.max_new - self.written
            if left <= 0:
                return 0, f"reached --max {self.max_new} with {have}/{self.target} passing"
            need = min(need, left)
        return need, ""


def merge_rounds(prev: RunFinished | None, ev: RunFinished) -> RunFinished:
    """One summary over the rounds of an "until N pass" run."""
    import dataclasses

    if prev is None:
        return ev
    cost = None if prev.cost is None or ev.cost is None else prev.cost + ev.cost
    return dataclasses.replace(
        ev, failed=ev.failed + prev.failed, discarded=ev.discarded + prev.discarded,
        prompt_tokens=ev.prompt_tokens + prev.prompt_tokens, cost=cost,
        completion_tokens=ev.completion_tokens + prev.completion_tokens,
        elapsed_s=ev.elapsed_s + prev.elapsed_s, already_done=prev.already_done)
