"""A judged or "until N pass" run in the run worker, as `chatsynth run --judge --until-pass N
--max M` does it (no textual here): each conversation is judged as it finishes (the judge's
own concurrency, pipelined with writing), and an "until N pass" run writes in rounds, topics
first, then further samples of each topic, until N pass every filter (and the judge), or
--max, or every topic x the per-topic cap stops it.

The app sees one run: each round's RunStarted and events go through, ``Passing`` says how many
pass ("passing 37/100") and what the judge has cost, and one RunFinished, merged over the
rounds, ends it (its reason says why it stopped).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from synth.curate.judge_setup import tally
from synth.curate.until import JudgePipe, UntilPass, merge_rounds, passing
from synth.generate.events import ConversationFinished, Progress, RunFinished, RunStarted
from tui.live import Passing
from tui.services import UNTIL_PER_TOPIC


class Rounds:
    def __init__(self, worker: Any, ep: Any, spec: Any, request: Any, judge: Any) -> None:
        self.worker = worker
        self.store = worker.services.store
        self.ep = ep
        self.spec = spec
        self.judge = judge
        self.pipe = JudgePipe(judge, spec.persona) if judge is not None else None
        self.until = UntilPass(request.until_pass, request.max_new,
                               max(UNTIL_PER_TOPIC, spec.per_topic)) \
            if request.until_pass else None
        self.have = 0  # passing at the start of this round (counted from the store)
        self.live = 0  # passing among this round's, without the judge (the filters' verdicts)

    def passing_now(self) -> Passing:
        live = self.pipe.live_pass if self.pipe is not None else self.live
        target = self.until.target if self.until is not None else None
        return Passing(self.have + live, target, f"judge {tally(self.judge)}" if self.judge else "")

    def count(self, run_id: str) -> None:
        self.have = passing(self.store, run_id, self.spec.persona, self.judge is not None)
        self.live = 0
        if self.pipe is not None:
            self.pipe.live_pass = 0

    async def run(self) -> None:
        finished: RunFinished | None = None
        stop_reason = ""
        spec, until, pipe = self.spec, self.until, self.pipe
        try:
            while True:
                if until is not None:
                    run_id = self.store.bind(spec)
                    if self.store.spec_path(run_id).exists():
                        if pipe is not None and until.rounds == 0:
                            await pipe.judge_stored(self.store, run_id)
                        self.count(run_id)
                    self.worker.push(self.passing_now())
                    spec.limit, stop_reason = until.next_limit(self.have)
                    if not spec.limit:
                        break
                engine = self.worker.make_engine(self.ep)
                started = None
                async for ev in engine.run(spec):
                    if isinstance(ev, RunFinished):
                        finished = merge_rounds(finished, ev)
                        continue  # one RunFinished for the whole run, below
                    if isinstance(ev, RunStarted):
                        started = ev
                        if pipe is not None:
                            pipe.use_cache(self.store, ev.run_id)
                    elif isinstance(ev, ConversationFinished):
                        v = self.worker.verdict_first(engine, ev)
                        if pipe is not None:
                            pipe.finished(ev.conversation)
                        elif v is not None and v.ok:
                            self.live += 1
                    elif isinstance(ev, Progress):
                        self.worker.push(self.passing_now())
                    self.worker.push(ev)
                if pipe is not None:
                    await pipe.wait()
                if finished is None or until is None or finished.outcome not in ("complete", "limit"):
                    break
                self.count(finished.run_id)
                until.rounds += 1
                until.written += started.to_write if started else 0
                if started is not None and not started.to_write:
                    if spec.per_topic >= until.max_per_topic:
                        stop_reason = (f"every topic x {until.max_per_topic} tried, "
                                       f"{self.have}/{until.target} passing")
                        break
                    spec.per_topic += 1  # every topic written: further samples of each
        finally:
            if pipe is not None:
                for t in list(pipe.tasks):
                    t.cancel()
                await pipe.judge.ep.aclose()
            await self.ep.aclose()
        if finished is None and until is not None:  # enough passed before anything was written
            run_id = self.store.bind(spec)
            finished = RunFinished(run_id=run_id, outcome="complete", reason="", done=0,
                                   failed=0, total=0)
        if finished is not None:
            if finished.run_id and (until is not None or pipe is not None):
                self.count(finished.run_id)
            self.worker.push(self.passing_now())
            if stop_reason and finished.outcome in ("complete", "limit"):
                finished = dataclasses.replace(finished, reason=stop_reason)
            self.worker.push(finished)
