"""Judging conversations against an endpoint, with a cache that makes judging twice free.

``JudgeCache`` is an append-only JSONL file in the run's folder (``judge.jsonl``, owner-only),
keyed by (the conversation's text after trims and edits, the rubric, the judge model): an edited
turn is a new text, so it is judged again.  ``Judge.judge(turns)`` sends one request (JSON schema
``response_format`` where the server takes it; when the server refuses that form by name
(a 400 or 422, or llama-cpp-python's 500 from its request validation), a JSON object with the
schema (llama.cpp's grammar-constrained JSON), then no response_format at all, remembered for
the rest of the run), reads the answer with ``parse_answer``, asks again on a bad
answer or a transient error, and returns a failed ``Judgement`` when no usable answer came.  A
fatal endpoint error (wrong key, unknown model) is raised: no judgement can succeed.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any, Callable, Sequence

from synth.models import Persona, Turn, stable_id
from synth.private_files import FILE_MODE, tighten
from synth.generate.endpoints import Endpoint, FatalError, TransientError, classify, server_message
from synth.curate.judge import (
    AnswerError, Judgement, Rubric, answer_schema, judge_messages, parse_answer, transcript,
    tuple_schema,
)

CACHE_NAME = "judge.jsonl"


def text_key(persona: Persona, turns: Sequence[Turn]) -> str:
    return stable_id(transcript(persona, turns), length=20)


class JudgeCache:
    """Judgements by (text key, rubric key, model); ``latest(key)``: the last judgement of that
    text by any rubric or model (what Review shows)."""

    def __init__(self, path: Path | None) -> None:
        self.path = Path(path) if path else None
        self._by: dict[tuple[str, str], Judgement] = {}
        self._latest: dict[str, Judgement] = {}
        if self.path and self.path.is_file():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    rec = json.loads(line)
                    j = Judgement.from_dict(rec["judgement"])
                    self._by[(rec["key"], rec["rubric"], j.model)] = j
                except (ValueError, KeyError, TypeError):
                    continue  # a half-written last line: that one is judged again
                self._latest[rec["key"]] = j

    def get(self, key: str, rubric: str, model: str) -> Judgement | None:
        return self._by.get((key, rubric, model))

    def latest(self, key: str) -> Judgement | None:
        return self._latest.get(key)

    def put(self, key: str, rubric: str, j: Judgement) -> None:
        self._by[(key, rubric, j.model)] = j
        self._latest[key] = j
        if self.path is None:
            return
        line = json.dumps({"key": key, "rubric": rubric, "judgement": j.to_dict()},
                          ensure_ascii=False) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
        try:
            os.write(fd, line.encode("utf-8"))
        finally:
            os.close(fd)
        tighten(self.path, FILE_MODE)


class Judge:
    """Judges conversations of one persona with one endpoint; counts tokens, cost, failures."""

    def __init__(self, ep: Endpoint, persona: Persona, rubric: Rubric, *,
                 cache: JudgeCache | None = None, cost_fn: Callable[..., Any] | None = None,
                 answers: int = 3, transient_tries: int = 4, max_tokens: int = 600,
                 concurrency: int = 4) -> None:
        self.ep = ep
        self.persona = persona
        self.rubric = rubric
        self.cache = cache or JudgeCache(None)
        self.cost_fn = cost_fn
        self.answers = answers
        self.transient_tries = transient_tries
        self.max_tokens = max_tokens
        self.formats = ["json_schema", "json_object"]  # response_formats not yet refused
        self.notes: list[str] = []
        self.sem = asyncio.Semaphore(max(1, concurrency))
        self.judged = self.failed = self.cached = 0
        self.prompt_tokens = self.completion_tokens = 0
        self.cost: float | None = 0.0

    async def judge(self, turns: Sequence[Turn]) -> Judgement:
        key = text_key(self.persona, turns)
        hit = self.cache.get(key, self.rubric.key, self.ep.model)
        if hit is not None and not hit.failed:
            self.cached += 1
            hit.cached = True
            return hit
        async with self.sem:
            j = await self._ask(turns)
        self.cache.put(key, self.rubric.key, j)
        self.judged += 1
        self.failed += j.failed
        self.prompt_tokens += j.prompt_tokens
        self.completion_tokens += j.completion_tokens
        if self.cost is not None:
            self.cost = None if j.cost is None else self.cost + j.cost
        return j

    async def _ask(self, turns: Sequence[Turn]) -> Judgement:
        messages = judge_messages(self.persona, self.rubric, turns)
        j = Judgement(model=self.ep.model, threshold=self.rubric.threshold)
        problems: list[str] = []
        answers = transient = 0
        while answers < self.answers:
            try:
                text, usage = await self._request(messages)
            except TransientError as err:
                transient += 1
                if transient >= self.transient_tries:
                    problems.append(err.message)
                    break
                await asyncio.sleep(min(4.0, err.retry_after or 0.2 * 2 ** transient))
                continue
            answers += 1
            self._count(j, usage, messages, text)
            try:
                j.scores, j.reasons, j.turns = parse_answer(text, self.rubric, len(turns))
                return j
            except AnswerError as err:
                problems.append(str(err))
        j.error = f"no usable answer in {answers} {'try' if answers == 1 else 'tries'}" + \
            (f" ({problems[-1]})" if problems else "")
        return j

    def _count(self, j: Judgement, usage: Any, messages: list[dict[str, str]], text: str) -> None:
        p = int(getattr(usage, "prompt_tokens", 0) or 0) if usage else 0
        c = int(getattr(usage, "completion_tokens", 0) or 0) if usage else 0
        if not usage:
            p = sum(len(m["content"]) for m in messages) // 4
            c = len(text) // 4
        j.prompt_tokens += p
        j.completion_tokens += c
        if self.ep.free:
            return
        price = self.cost_fn(self.ep.model, p, c) if self.cost_fn else None
        j.cost = None if price is None or j.cost is None else j.cost + price

    async def _request(self, messages: list[dict[str, str]]) -> tuple[str, Any]:
        import openai

        for _ in range(4):
            kw: dict[str, Any] = {"model": self.ep.model, "messages": messages,
                                  self.ep.token_param: self.max_tokens}
            if "temperature" not in self.ep.dropped:
                kw["temperature"] = 0
            if self.formats:
                kw["response_format"] = response_format(self.formats[0], self.rubric)
            try:
                resp = await self.ep.client.chat.completions.create(**kw)
            except openai.APIStatusError as exc:
                msg = server_message(exc)
                if exc.status_code in (400, 422, 500) and "response_format" in kw \
                        and "response_format" in msg:
                    sent = kw["response_format"]["type"]
                    if self.formats and self.formats[0] == sent:
                        self.formats.pop(0)
                        then = (f"a {self.formats[0]} response_format" if self.formats
                                else "JSON asked for in the prompt")
                        self.notes.append(f"the judge endpoint refused a {sent} response_format; "
                                          f"{then} instead")
                    continue
                raise classify(exc) from None
            except (openai.APIError, OSError, ValueError) as exc:
                raise classify(exc) from None
            choices = getattr(resp, "choices", None) or []
            text = (choices[0].message.content or "") if choices else ""
            return text, getattr(resp, "usage", None)
        raise FatalError("the judge endpoint rejected every form of the request")


def response_format(kind: str, rubric) -> dict[str, Any]:
    """The request's ``response_format``: OpenAI's json_schema, or llama.cpp's json_object with a
    schema naming every criterion in turn (both constrain the answer to the rubric's shape)."""
    if kind == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": "judgement",
                                                       "schema": answer_schema(rubric)}}
    return {"type": "json_object", "schema": tuple_schema(rubric)}


def judge_all(judge: Judge, items: Sequence[tuple[str, Sequence[Turn]]]) -> dict[str, Judgement]:
    """Judge many conversations (id, turns) at the judge's concurrency; blocking."""

    async def go() -> dict[str, Judgement]:
        try:
            res = await asyncio.gather(*(judge.judge(t) for _, t in items))
        finally:
            await judge.ep.aclose()
        return {cid: j for (cid, _), j in zip(items, res)}

    return asyncio.run(go())
