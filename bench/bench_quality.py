"""Conversation quality on the embedded model: the shipped Eve persona with and without its
few-shot example and sampling values (issue 10, "Measured").

Same model (the embedded Gemma 3 270M), same topics (the first N of topics/eve.txt), one
conversation each, the same seed and temperature, written one at a time through the full engine
as ``chatsynth run`` writes them, then judged by the filters as ``chatsynth filter`` judges them:

- (a) "plain": personas/eve.yaml without its ``examples`` and with no optional sampling value
  (top_p, presence/frequency/repeat penalty unset) - the persona as it was before they existed;
- (b) "shipped": personas/eve.yaml as it ships (its example conversation and sampling values).

Two shares for each: conversations whose speaker labels and turn order are right (no filter
reason among order, leaked_label, empty_turn, turn_count), and conversations that pass every
filter.  Ratios are (b) / (a); where (a) has none, the ratio is not defined and says so.

    python bench/bench_quality.py            # 20 topics, the persona's max_tokens
    python bench/bench_quality.py --quick    # 2 topics x at most 48 tokens (for tests)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SEED = 4242
SHAPE_RULES = {"order", "leaked_label", "empty_turn", "turn_count"}


def variants():
    """(a) plain and (b) shipped Eve, both from personas/eve.yaml."""
    from synth.library.personas import load_persona
    from synth.models import SAMPLING_FIELDS

    shipped = load_persona(ROOT / "personas" / "eve.yaml")
    plain = replace(shipped, examples=[], **{k: None for k in SAMPLING_FIELDS})
    return {"plain": plain, "shipped": shipped}


def topics(n: int):
    from synth.library.topics import load_topic_source

    src = load_topic_source(ROOT / "topics" / "eve.txt")
    return replace(src, id=f"bench-quality-{n}", topics=src.topics[:n])


async def _write(store, ep, spec) -> list:
    from synth.generate.engine import Engine, EngineOptions
    from synth.generate.events import RunFinished

    fin = None
    async for ev in Engine(store, ep, options=EngineOptions(emit_chunks=False)).run(spec):
        if isinstance(ev, RunFinished):
            fin = ev
    if fin is None or fin.outcome not in ("complete",):
        raise RuntimeError(f"the run did not complete: {fin and (fin.outcome, fin.reason)}")
    return [c for c in store.load(spec.run_id).conversations if c.status == "complete"]


def run(n: int, max_tokens: int | None) -> dict:
    from synth.curate.filters import check_run
    from synth.dataset.store import Store
    from synth.generate import local
    from synth.generate.endpoints import EndpointSession
    from synth.library.workspace import Config
    from synth.models import RunSpec

    ok, why = local.available()
    if not ok:
        raise RuntimeError(f"the embedded model is not installed here: {why}")
    src = topics(n)
    out: dict = {"topics": n, "seed": SEED}
    session = EndpointSession(Config(), name="local")
    ep = session.open()
    try:
        with tempfile.TemporaryDirectory() as d:
            store = Store(Path(d) / "runs")
            for name, persona in variants().items():
                spec = RunSpec.for_persona(persona, src, endpoint="local", model=ep.model,
                                           seed=SEED, concurrency=1, max_tokens=max_tokens)
                t0 = time.perf_counter()
                convs = asyncio.run(_write(store, ep, spec))
                verdicts, _ = check_run(convs, persona)
                rules = [{r.rule.split(":")[0] for r in verdicts[c.id].reasons} for c in convs]
                out[name] = {
                    "conversations": len(convs),
                    "right_shape": sum(not (r & SHAPE_RULES) for r in rules),
                    "pass": sum(verdicts[c.id].ok for c in convs),
                    "reasons": {k: sum(k in r for r in rules) for k in sorted(set().union(*rules))},
                    "sampling": persona.sampling(), "examples": len(persona.examples),
                    "max_tokens": spec.max_tokens, "seconds": round(time.perf_counter() - t0, 1),
                }
    finally:
        session.close()
    for key in ("right_shape", "pass"):
        a, b = out["plain"][key], out["shipped"][key]
        out[f"{key}_ratio"] = round(b / a, 3) if a else None
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--quick", action="store_true", help="2 topics x 48 tokens (for tests)")
    ap.add_argument("-n", type=int, default=None, help="topics (default 20)")
    ap.add_argument("--max-tokens", type=int, default=None, help="default: the persona's")
    a = ap.parse_args(argv)
    out = run(a.n or (2 if a.quick else 20), a.max_tokens or (48 if a.quick else None))
    print(json.dumps({"bench": "quality", **out}))
    return out


if __name__ == "__main__":
    main()
