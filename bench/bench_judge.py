"""Judge throughput: conversations judged per second at concurrency 16 through chatsynth's LLM
judge (``synth.curate.judging.Judge``: the rubric's request with its JSON schema, the tolerant
parse and range checks, token and cost counts, the verdict cache's key) against a bare
``AsyncOpenAI`` loop sending the same requests and reading each answer with ``json.loads``.

The fault server (tests/faultserver.py, in its own process) plays the judge: every request
whose system message is chatsynth's judge prompt gets a valid JSON verdict.  The sides take
turns, round by round, on the same server; the best round of each counts.

    python bench/bench_judge.py            # 1,000 conversations a round, 3 rounds
    python bench/bench_judge.py --quick    # 96 a round, 2 rounds (the test suite)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import openai  # noqa: E402

from synth.curate.judge import answer_schema, judge_messages, rubric_for  # noqa: E402
from synth.curate.judging import Judge, JudgeCache  # noqa: E402
from synth.generate.endpoints import Endpoint  # noqa: E402
from synth.library.personas import load_persona  # noqa: E402
from synth.models import Turn  # noqa: E402

CONCURRENCY = 16
MAX_TOKENS = 600  # the judge's own default


def start_server() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "faultserver.py"), "--port", "0",
                             "--no-record"], stdout=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        proc.kill()
        raise SystemExit(f"fault server did not start: {url!r}")
    return proc, url


def conversations(n: int, tag: str) -> list[list[Turn]]:
    """n distinct 8-turn conversations (distinct, so no verdict comes from the cache)."""
    out = []
    for i in range(n):
        turns = []
        for t in range(8):
            if t % 2 == 0:
                turns.append(Turn("user", f"({tag} {i}) I keep putting off task {t} at work and "
                                          "it weighs on me every evening."))
            else:
                turns.append(Turn("assistant", "That weight is real. What is the smallest "
                                               f"piece of task {t - 1} you could try tonight?"))
        out.append(turns)
    return out


async def chatsynth_side(url: str, persona, convs: list[list[Turn]]) -> int:
    ep = Endpoint(name="fault", base_url=url, model="fault-model", style="chat")
    judge = Judge(ep, persona, rubric_for(persona), cache=JudgeCache(None),
                  concurrency=CONCURRENCY)
    try:
        res = await asyncio.gather(*(judge.judge(t) for t in convs))
    finally:
        await ep.aclose()
    assert judge.judged == len(convs) and not judge.failed, (judge.judged, judge.failed)
    return sum(j.passed for j in res)


async def bare_side(url: str, persona, convs: list[list[Turn]]) -> int:
    """The floor: the same requests (messages and schema made beforehand, untimed), answers
    read with json.loads and nothing else."""
    rubric = rubric_for(persona)
    schema = {"type": "json_schema", "json_schema": {"name": "judgement",
                                                     "schema": answer_schema(rubric)}}
    requests = [judge_messages(persona, rubric, t) for t in convs]
    client = openai.AsyncOpenAI(api_key="x", base_url=url, max_retries=0)
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one(messages) -> int:
        async with sem:
            resp = await client.chat.completions.create(
                model="fault-model", messages=messages, max_tokens=MAX_TOKENS, temperature=0,
                response_format=schema)
        obj = json.loads(resp.choices[0].message.content)
        return int(all(c["score"] >= 3 for c in obj["criteria"]))

    try:
        return sum(await asyncio.gather(*(one(m) for m in requests)))
    finally:
        await client.close()


def timed(side, url: str, persona, convs) -> tuple[float, float, int]:
    """(judged per second, client CPU ms per conversation, passed) of one round."""
    c0, t0 = time.process_time(), time.perf_counter()
    passed = asyncio.run(side(url, persona, convs))
    wall = time.perf_counter() - t0
    return len(convs) / wall, (time.process_time() - c0) * 1000 / len(convs), passed


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("-n", type=int, default=None, help="conversations a round")
    ap.add_argument("--rounds", type=int, default=None)
    a = ap.parse_args(argv)
    n = a.n or (96 if a.quick else 1_000)
    rounds = a.rounds or (2 if a.quick else 3)
    persona = load_persona(ROOT / "personas" / "eve.yaml")
    proc, url = start_server()
    best: dict[str, tuple[float, float, int]] = {}
    try:
        for r in range(rounds):
            sides = [("bare", bare_side), ("chatsynth", chatsynth_side)]
            for name, side in sides if r % 2 == 0 else sides[::-1]:
                got = timed(side, url, persona, conversations(n, f"{name}{r}"))
                if name not in best or got[0] > best[name][0]:
                    best[name] = got
    finally:
        proc.kill()
        proc.wait()
    cs, bare = best["chatsynth"], best["bare"]
    result = {"bench": "judge", "conversations": n, "rounds": rounds, "concurrency": CONCURRENCY,
              "criteria": len(rubric_for(persona).criteria),
              "chatsynth_conv_per_s": round(cs[0], 1), "bare_conv_per_s": round(bare[0], 1),
              "chatsynth_cpu_ms_per_conv": round(cs[1], 2),
              "bare_cpu_ms_per_conv": round(bare[1], 2),
              "chatsynth_passed": cs[2], "bare_passed": bare[2],
              "ratio": round(cs[0] / bare[0], 3)}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
