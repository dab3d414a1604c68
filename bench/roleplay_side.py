"""The engine benchmark's role-play line: turns per second through the full engine (role-play,
completion style: one shared transcript, a streamed request per turn, stop at the other
speaker's label, the end marker looked for, an fsync'd append per conversation) against a bare
AsyncOpenAI loop doing the same turn-by-turn requests and nothing else.

Both sides ask the fault server (its own process) the same questions: it answers both speakers
and writes the end marker after 1-4 user turns by the topic, so both sides make the same
number of requests.  Called by ``bench/bench_engine.py`` (``measure_roleplay``).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import openai

from synth.dataset.store import Store
from synth.generate.endpoints import Endpoint
from synth.generate.engine import Engine, EngineOptions
from synth.generate.events import ConversationFinished
from synth.generate.roleplay import clean_turn, transcript_head, transcript_text, turn_stops
from synth.models import Turn, UserSimulator
from tests.faultserver import RP_END, make_spec

SIM = UserSimulator(prompt="Someone with this on their mind: {topic}. Write " + RP_END + " when "
                    "helped.", min_turns=4, max_turns=10, max_tokens=60)


def rp_spec(n: int, tag: str, conc: int):
    spec = make_spec(n, tag=tag, method="roleplay", concurrency=conc)
    spec.persona.user_simulator = SIM
    return spec


async def bare_turns(url: str, n: int, conc: int, tag: str) -> tuple[float, int]:
    """(turns/s, turns): the same conversations, turn by turn, through a bare streaming loop."""
    spec = rp_spec(n, tag, conc)
    persona = spec.persona
    client = openai.AsyncOpenAI(api_key="x", base_url=url, max_retries=0)
    sem = asyncio.Semaphore(conc)
    asked = 0

    async def one(topic) -> None:
        async with sem:  # a conversation in flight holds its slot, as in the engine
            await conversation(topic)

    async def conversation(topic) -> None:
        nonlocal asked
        head = transcript_head(persona, topic, "")
        turns: list[Turn] = []
        while True:
            role = "assistant" if turns and turns[-1].role == "user" else "user"
            if role == "user" and len(turns) + 2 > SIM.max_turns:
                return
            label = persona.persona_label if role == "assistant" else persona.user_label
            body = transcript_text(persona, turns)
            prompt = f"{head}\n\n" + (body + "\n" if body else "") + f"{label}:"
            stops = turn_stops(persona, SIM, role, spec.stop)
            stream = await client.completions.create(
                model="fault-model", prompt=prompt, max_tokens=SIM.max_tokens, stream=True,
                temperature=spec.temperature, stop=stops[:4])
            parts = [c.choices[0].text async for c in stream if c.choices]
            asked += 1
            said = "".join(parts)
            if role == "user" and RP_END in said and len(turns) >= SIM.min_turns:
                return
            text = clean_turn(said.split(RP_END, 1)[0], persona, role)
            if not text and role == "user":
                return
            turns.append(Turn(role=role, text=text))  # type: ignore[arg-type]

    t0 = time.perf_counter()
    await asyncio.gather(*(one(t) for t in spec.topics.topics))
    dt = time.perf_counter() - t0
    await client.close()
    return asked / dt, asked


async def engine_turns(url: str, n: int, conc: int, tag: str, runs_dir: Path) -> tuple[float, int]:
    """(turns/s, turns) through the engine, chunks emitted as for a screen."""
    spec = rp_spec(n, tag, conc)
    ep = Endpoint(name="fault", base_url=url, model="fault-model", style="completion", timeout=30)
    eng = Engine(Store(runs_dir), ep, options=EngineOptions(stream=True, emit_chunks=True))
    turns = 0
    t0 = time.perf_counter()
    async for ev in eng.run(spec):
        if isinstance(ev, ConversationFinished):
            c = ev.conversation
            turns += len(c.turns) + (c.params["end"] in ("marker", "user_done"))
    dt = time.perf_counter() - t0
    await ep.aclose()
    return turns / dt, turns


def measure_roleplay(url: str, n: int, conc: int, rounds: int, tmp: Path) -> dict:
    """Best of ``rounds`` for each side (in alternating order), and their ratio."""
    asyncio.run(bare_turns(url, 4, conc, "rpw"))  # warm-up
    asyncio.run(engine_turns(url, 4, conc, "rpwe", tmp / "rpw"))
    got: dict[str, list[float]] = {"bare": [], "engine": []}
    counts = set()
    for r in range(rounds):
        sides = [("bare", lambda: asyncio.run(bare_turns(url, n, conc, f"rp{r}"))),
                 ("engine", lambda: asyncio.run(engine_turns(url, n, conc, f"rp{r}",
                                                             tmp / f"rp{r}")))]
        for name, fn in (sides if r % 2 == 0 else sides[::-1]):
            rate, turns = fn()
            got[name].append(rate)
            counts.add((name, turns))
    e, b = max(got["engine"]), max(got["bare"])
    return {"conversations": n, "concurrency": conc, "rounds": rounds,
            "engine_turns_per_s": round(e, 1), "bare_turns_per_s": round(b, 1),
            "ratio": round(e / b, 3), "turns": sorted(counts)}
