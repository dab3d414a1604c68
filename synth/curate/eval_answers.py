"""Held-out evaluation, the answering and scoring half: contestants (``ENDPOINT[:MODEL][:MODE]``)
answer opening user turns one persona turn at a time, and each answer is scored by the persona's
one-turn filter rules (and the judge, when asked).  ``synth.dataset.evaluate`` reads the export
and writes the report.

Modes: ``prompted`` sends the persona's synthesis prompt with the conversation so far (completion
style: the transcript in the persona's labels ending with the persona's label, stopped at the
user's label, so the answer is one turn; chat style: the rendered prompt as the system message and
the turns as messages); ``finetuned`` sends only the exported system prompt and the turns as chat
messages, as a model fine-tuned on the export will be used.  Requests go through
``synth.generate.endpoints.stream_completion`` (retries with backoff on transient errors).
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from synth.errors import ChatsynthError
from synth.models import Conversation, Persona, Topic, Turn
from synth.generate.endpoints import FatalError, StreamEnd, TransientError, estimate_tokens, stream_completion
from synth.generate.prompts import render
from synth.curate.filters import check

MODES = ("prompted", "finetuned")
ONE_TURN_RULES = ("empty_turn", "leaked_label", "refusal")  # plus the persona's pattern rules


@dataclass
class Contestant:
    key: str  # "a" or "b"
    spec: str
    endpoint: str
    model: str | None
    mode: str

    @property
    def name(self) -> str:
        return f"{self.key.upper()}: {self.endpoint}{':' + self.model if self.model else ''} ({self.mode})"


def parse_contestant(spec: str, key: str, config: Any = None) -> Contestant:
    """``ENDPOINT[:MODEL][:MODE]``; a model with ':' in its name needs the mode after it.
    ``config``: the workspace config, to check the endpoint exists."""
    flag = f"--{key}"
    parts = (spec or "").split(":")
    if any(not p.strip() for p in parts):
        raise ChatsynthError(f"{spec!r} has an empty part: write ENDPOINT[:MODEL][:prompted|finetuned]",
                             field=flag)
    parts = [p.strip() for p in parts]
    mode = "prompted"
    if len(parts) >= 2 and parts[-1].lower().replace("-", "") in MODES:
        mode = parts.pop().lower().replace("-", "")
    elif len(parts) >= 3:
        raise ChatsynthError(f"unknown mode {parts[-1]!r} in {spec!r} (prompted or finetuned; a "
                             "model name with ':' needs the mode after it)", field=flag)
    endpoint, model = parts[0], (":".join(parts[1:]) or None)
    if config is not None:
        try:
            config.endpoint(endpoint)
        except ChatsynthError as err:
            raise ChatsynthError(err.message, field=flag) from None
    return Contestant(key, spec, endpoint, model, mode)


@dataclass
class Opening:
    """The conversation so far, up to (and with) the user turn the contestant answers."""

    index: int
    conversation_id: str
    topic: str
    user_turn: int  # 1-based: the user's first, second, ... turn
    turns: list[Turn]


@dataclass
class Request:
    style: str
    prompt: str
    messages: list[dict[str, Any]] | None
    stop: list[str]


def _transcript(persona: Persona, turns: Sequence[Turn]) -> str:
    return "\n\n".join(f"{persona.persona_label if t.role == 'assistant' else persona.user_label}: "
                       f"{t.text}" for t in turns)


def build_request(c_mode: str, style: str, persona: Persona, system: str | None,
                  op: Opening) -> Request:
    chat = [{"role": t.role, "content": t.text} for t in op.turns]
    if c_mode == "finetuned":
        return Request("chat", "", ([{"role": "system", "content": system}] if system else []) + chat, [])
    stop = [f"\n{persona.user_label}:", *[s for s in persona.stop if s.strip()]]
    r = render(persona, Topic(text=op.topic), style, key=op.conversation_id)  # type: ignore[arg-type]
    if style == "chat":
        sysmsg = (r.text + f"\n\nYou are {persona.name} ({persona.persona_label}) in this "
                  f"conversation: write only {persona.name}'s next turn.")
        return Request("chat", "", [{"role": "system", "content": sysmsg}, *chat], stop)
    body = r.text.rstrip()
    if r.first_role is not None:  # the prompt ends with a speaker label: the turns take its place
        body = body.rsplit("\n", 1)[0].rstrip() if "\n" in body else ""
    text = (body + "\n\n" if body else "") + _transcript(persona, op.turns) + f"\n\n{persona.persona_label}:"
    return Request("completion", text, None, stop)


def clean_answer(text: str, req: Request, persona: Persona) -> str:
    """The answer cut at a stop the server did not apply, without a leading own label."""
    cut = min((text.find(s) for s in req.stop if s and s in text), default=-1)
    text = (text[:cut] if cut >= 0 else text).strip()
    if req.stop:  # prompted: a chat model may start with the persona's label
        for lab in (persona.persona_label, persona.name):
            if lab and text.lower().startswith(lab.lower() + ":"):
                text = text[len(lab) + 1:].strip()
                break
    return text


def rule_names(persona: Persona) -> list[str]:
    """The one-turn rules this persona has on, in report order."""
    r = persona.rules
    on = {"empty_turn": r.empty_turns, "leaked_label": r.leaked_labels, "refusal": r.refusals}
    return [n for n in ONE_TURN_RULES if on[n]] + \
        [f"pattern:{p.name}" for p in r.patterns if p.applies_to == "assistant"]


def score(persona: Persona, op: Opening, answer: str) -> list[dict[str, Any]]:
    """The one-turn rules' reasons against the answer (as the persona's turn after the opening)."""
    turns = [*op.turns, Turn("assistant", answer, persona.persona_label)]
    rules = dataclasses.replace(persona.rules, min_turns=0, max_turns=10 ** 9, alternation=False,
                                repeated_lines=False, truncated=False, near_duplicates=0)
    conv = Conversation(id=op.conversation_id, run_id="eval", persona_id=persona.id, topic_id="",
                        topic=op.topic, k=0, endpoint="", model="", params={}, prompt="",
                        raw_text="", turns=turns)
    names = set(rule_names(persona))
    last = len(turns) - 1
    return [r.to_dict() for r in check(conv, rules, persona, turns=turns).reasons
            if r.turn_index == last and r.rule in names]


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """The Wilson score interval of k successes in n (95% for z=1.96); None when n is 0."""
    if n <= 0:
        return None
    p = k / n
    d = 1 + z * z / n
    c = p + z * z / (2 * n)
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (max(0.0, (c - h) / d), min(1.0, (c + h) / d))


def mean_ci(xs: Sequence[float], z: float = 1.96) -> tuple[float, float, float] | None:
    """(mean, low, high): the mean with a normal 95% interval (sample standard deviation)."""
    if not xs:
        return None
    m = sum(xs) / len(xs)
    if len(xs) < 2:
        return (m, m, m)
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))
    h = z * sd / math.sqrt(len(xs))
    return (m, m - h, m + h)


@dataclass
class Player:
    """A contestant with its open endpoint (None: it could not be opened: ``down`` says why)."""

    c: Contestant
    ep: Any
    concurrency: int
    down: str | None = None
    fails_in_a_row: int = 0
    answered: int = 0
    sem: asyncio.Semaphore | None = field(default=None, repr=False)


async def ask(p: Player, req: Request, persona: Persona, max_tokens: int,
              tries: int = 4) -> tuple[str, int, int]:
    """The answer and its (prompt, completion) tokens; raises FatalError or TransientError."""
    for n in range(tries):
        pieces: list[str] = []
        end: StreamEnd | None = None
        try:
            async for x in stream_completion(p.ep, prompt=req.prompt, messages=req.messages,
                                             style=req.style, max_tokens=max_tokens,  # type: ignore[arg-type]
                                             temperature=persona.temperature, stop=req.stop):
                if isinstance(x, StreamEnd):
                    end = x
                else:
                    pieces.append(x)
        except TransientError as err:
            if n == tries - 1:
                raise
            await asyncio.sleep(min(4.0, err.retry_after or 0.25 * 2 ** n))
            continue
        text = "".join(pieces)
        u = end.usage if end else None
        sent = req.prompt or "\n".join(str(m["content"]) for m in req.messages or [])
        return (text, u.prompt_tokens if u else estimate_tokens(sent),
                u.completion_tokens if u else estimate_tokens(text))
    raise TransientError("no answer")  # pragma: no cover - the loop returns or raises


async def answer_all(players: Sequence[Player], persona: Persona, system: str | None,
                     openings: Sequence[Opening], *, concurrency: int, max_tokens: int,
                     judge: Any = None, cost_fn: Callable[..., Any] | None = None,
                     progress: Callable[[str], None] | None = None,
                     on_answer: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Every player's answer to every opening, scored; a failed answer says why.
    ``on_answer(row)``: after each answer (the app's progress per contestant)."""
    total = asyncio.Semaphore(max(1, concurrency))
    for p in players:
        p.sem = asyncio.Semaphore(max(1, min(concurrency, p.concurrency or concurrency)))
    done = [0]

    async def one(p: Player, op: Opening) -> dict[str, Any]:
        row: dict[str, Any] = {"opening": op.index, "contestant": p.c.key, "text": "",
                               "failed": None, "reasons": [], "ok": False, "judge": None,
                               "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": None}
        async with total, p.sem:  # type: ignore[union-attr]
            if p.down:
                row["failed"] = p.down
            else:
                req = build_request(p.c.mode, p.ep.style, persona, system, op)
                try:
                    raw, pt, ct = await ask(p, req, persona, max_tokens)
                    p.fails_in_a_row, p.answered = 0, p.answered + 1
                    row.update(text=clean_answer(raw, req, persona), prompt_tokens=pt,
                               completion_tokens=ct)
                    if not p.ep.free and cost_fn is not None:
                        row["cost_usd"] = cost_fn(p.ep.model, pt, ct)
                    elif p.ep.free:
                        row["cost_usd"] = 0.0
                except (FatalError, TransientError) as err:
                    row["failed"] = err.message
                    p.fails_in_a_row += 1
                    if isinstance(err, FatalError) or (not p.answered and p.fails_in_a_row >= 2):
                        p.down = f"not sent: {p.c.endpoint} failed earlier ({err.message})"
        if row["failed"] is None:
            row["reasons"] = score(persona, op, row["text"])
            row["ok"] = not row["reasons"]
            if judge is not None:
                row["judge"] = await _judge(judge, op, row["text"], persona)
        done[0] += 1
        if progress:
            progress(f"{done[0]}/{len(players) * len(openings)} answers")
        if on_answer:
            on_answer(row)
        return row

    return list(await asyncio.gather(*(one(p, op) for op in openings for p in players)))


async def _judge(judge: Any, op: Opening, text: str, persona: Persona) -> dict[str, Any]:
    try:
        j = await judge.judge([*op.turns, Turn("assistant", text, persona.persona_label)])
    except (FatalError, TransientError) as err:
        return {"score": None, "passed": False, "error": err.message}
    return {"score": j.score, "passed": j.passed, "error": j.error, "scores": dict(j.scores)}
