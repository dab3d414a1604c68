"""The Eval screen's job (no textual here): held-out evaluation of an export, as
``chatsynth eval`` does it (``synth.dataset.evaluate``), from a worker thread: the exports to pick
from, the export's openings, each contestant's endpoint opened, every answer reported as it comes
in, cancellable, and the report written next to the export (eval-TIME/eval.md and eval.json)."""

from __future__ import annotations

import dataclasses
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Callable, Sequence

from synth.errors import ChatsynthError


class EvalJob:
    """One evaluation; ``cancel`` (set from the app's thread) stops it before anything is written."""

    def __init__(self, services: Any) -> None:
        self.services = services
        self.ws = services.ws
        self.cancel = threading.Event()

    def exports(self) -> list[Path]:
        """The workspace's export folders (with a report.json), newest first."""
        root = Path(self.ws.exports_dir)
        found = [p for p in root.iterdir() if (p / "report.json").is_file()] if root.is_dir() else []
        return sorted(found, key=lambda p: (p / "report.json").stat().st_mtime, reverse=True)

    def load(self, folder: Path, turns: int):
        from synth.dataset.evaluate import load_export

        return load_export(folder, self.services.store, self.ws, turns)

    def run(self, folder: Path, specs: Sequence[str], *, turns: int, judge: bool,
            on_answer: Callable[[dict[str, Any]], None] = lambda row: None,
            on_start: Callable[[Any], None] = lambda es: None, max_tokens: int = 300) -> tuple[dict[str, Any], Path]:
        """Blocking: answer, score and write the report; returns (report, eval.md's path).
        Raises ChatsynthError for bad input, ``synth.dataset.evaluate.Cancelled`` when cancelled."""
        from synth.curate.eval_answers import Player, parse_contestant
        from synth.dataset import evaluate
        from synth.generate.endpoints import EndpointSession

        cfg = self.ws.config
        cs = [parse_contestant(s, k, cfg) for s, k in zip(specs, "ab")]
        es = self.load(folder, turns)
        persona = es.persona
        if judge:
            persona = self.services.judge_persona(persona)
            if persona.judge is None:
                raise ChatsynthError(f"persona {persona.id!r} has no judge: block; add one to "
                                     "judge the answers", field="judge")
        on_start(es)
        conc = int((cfg.defaults or {}).get("concurrency", 4))
        with ExitStack() as stack:
            players, opened = [], {}
            for c in cs:
                try:
                    if c.endpoint in opened:
                        base, n = opened[c.endpoint]
                        ep = dataclasses.replace(base, model=c.model or base.model, _client=None,
                                                 dropped=set(base.dropped))
                    else:
                        session = EndpointSession(cfg, name=c.endpoint, model=c.model,
                                                  persona_style=persona.style)
                        ep = stack.enter_context(session)
                        n = session.concurrency
                        opened[c.endpoint] = (ep, n)
                    players.append(Player(c, ep, n or conc))
                except ChatsynthError as err:
                    players.append(Player(c, None, 1, down=str(err)))
            jd = self._judge(stack, persona, players) if judge else None
            rows = evaluate.answer_blocking(players, persona, es, concurrency=conc,
                                            max_tokens=max_tokens, judge=jd,
                                            cost_fn=self.services.cost_fn(),
                                            on_answer=on_answer, cancel=self.cancel)
        rep = evaluate.summarise(es, cs, rows, players)
        if jd is not None:
            rep["judge_usage"] = {"prompt_tokens": jd.prompt_tokens,
                                  "completion_tokens": jd.completion_tokens, "cost_usd": jd.cost}
        return rep, evaluate.write_report(rep, es.folder / f"eval-{time.strftime('%Y%m%d-%H%M%S')}")

    def _judge(self, stack: ExitStack, persona: Any, players: Sequence[Any]) -> Any:
        from synth.curate.judge import rubric_for
        from synth.curate.judge_setup import open_judge
        from synth.curate.judging import Judge

        writer = next((p.ep for p in players if p.ep is not None), None)
        ep = open_judge(stack, self.ws, persona, writer=writer)
        return Judge(ep, persona, rubric_for(persona), cost_fn=self.services.cost_fn(), concurrency=4)
