"""Topic brainstorming: the prompt that asks a model for new topics for a list (or for narrower
subtopics of one topic), its cost before the request, the request, and the answer as lines.

Chat endpoints are asked for a JSON list of strings.  Completion endpoints (base models such as
the embedded one) get a numbered list of the existing topics to continue, stopped at the number
after the last one asked for.  ``parse_answer`` refuses an empty answer, one that is not a list
and one far longer than asked for; de-duplication against the list is synth.curate.topic_ideas.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Mapping

from synth.errors import ChatsynthError
from synth.models import Persona, Usage

MAX_ASK = 200  # topics one request may ask for
SHOWN_EXISTING = 200  # existing topics shown to the model (the latest ones)
TOKENS_PER_TOPIC = 40  # completion budget per topic asked for
MAX_ANSWER_CHARS = 100_000  # reading stops here: no list of MAX_ASK topics is this long
MAX_TOPIC_CHARS = 300


class BrainstormError(ChatsynthError):
    """A brainstorm that can't go on (bad N, an answer that is no list of topics)."""


@dataclass
class BrainstormRequest:
    n: int
    style: str  # "chat" | "completion"
    prompt: str  # the completion prompt, or the chat message's text
    stop: list[str]
    max_tokens: int
    parent: str | None = None  # --expand: the topic the new ones narrow down
    numbered_from: int = 1  # completion: the number the answer starts with

    @property
    def messages(self) -> list[dict[str, Any]] | None:
        return [{"role": "user", "content": self.prompt}] if self.style == "chat" else None


def check_n(n: int, flag: str = "--brainstorm") -> int:
    if n < 1:
        raise BrainstormError(f"ask for at least 1 topic (got {n})", field=flag)
    if n > MAX_ASK:
        raise BrainstormError(f"at most {MAX_ASK} topics a request (got {n})", field=flag)
    return n


def build_request(persona: Persona, existing: list[str], n: int, *, style: str,
                  about: str | None = None, parent: str | None = None,
                  siblings: list[str] | None = None) -> BrainstormRequest:
    """The request for ``n`` new topics (``parent``: narrower subtopics of that topic, with
    ``siblings`` its subtopics so far)."""
    check_n(n, "--expand" if parent else "--brainstorm")
    about = " ".join((about or "").split())
    who = f"{persona.name}. {persona.description}".strip()
    shown = (siblings if parent else existing) or []
    shown = shown[-SHOWN_EXISTING:]
    max_tokens = n * TOKENS_PER_TOPIC + 40
    if style == "chat":
        lines = [f"You write topics for conversations with {who}",
                 "Each topic is one line: a situation a user brings, in the user's own words."]
        if parent:
            lines.append(f'Write {n} narrower subtopics of this topic: "{parent}". Each is a '
                         "more specific situation within it.")
        else:
            lines.append(f"Write {n} new topics, each different from the others.")
        if about:
            lines.append(f"Focus on: {about}")
        listed = existing[-SHOWN_EXISTING:] if not parent else shown + [parent]
        if listed:
            lines.append("Topics already in the list (do not repeat them or write near-copies):")
            lines += [f"- {t}" for t in listed]
        lines.append(f"Answer with a JSON list of {n} strings and nothing else.")
        return BrainstormRequest(n=n, style="chat", prompt="\n".join(lines), stop=[],
                                 max_tokens=max_tokens, parent=parent)
    head = (f'Narrower topics for conversations with {who} All within "{parent}".' if parent
            else f"Topics for conversations with {who}")
    head += " One situation a line, in the user's words, each different from the others."
    if about:
        head += f" Focus: {about}"
    body = "".join(f"{i}. {t}\n" for i, t in enumerate(shown, 1))
    k = len(shown) + 1
    return BrainstormRequest(n=n, style="completion", prompt=f"{head}\n\n{body}{k}.",
                             stop=[f"\n{k + n}.", "\n\n"], max_tokens=max_tokens, parent=parent,
                             numbered_from=k)


@dataclass
class BrainstormEstimate:
    model: str
    prompt_tokens: int
    completion_tokens_max: int
    cost_max: float | None  # None: no price known
    free: bool

    def line(self) -> str:
        from synth.pricing import format_usd

        cost = ("no charge (embedded model)" if self.free else
                "cost unknown (no price known)" if self.cost_max is None else
                f"at most {format_usd(self.cost_max)}")
        return (f"estimate: {self.prompt_tokens:,} prompt tokens + at most "
                f"{self.completion_tokens_max:,} completion tokens on {self.model or '?'}: {cost}")


def estimate(req: BrainstormRequest, model: str, *, free: bool = False,
             overrides: Mapping[str, Mapping[str, float]] | None = None) -> BrainstormEstimate:
    """What the request costs, before it is sent (prompt counted exactly, answer at most)."""
    from synth.pricing import price_of
    from synth.tokens import counter_for

    counter = counter_for(model or None)
    if req.style == "chat":
        prompt_tokens = counter.chat_tokens(req.messages or [])
    else:
        prompt_tokens = counter.count(req.prompt)
    price = price_of(model, overrides, local=free)
    return BrainstormEstimate(model=model, prompt_tokens=prompt_tokens,
                              completion_tokens_max=req.max_tokens,
                              cost_max=price.cost(prompt_tokens, req.max_tokens) if price else None,
                              free=free)


async def ask(ep: Any, req: BrainstormRequest, *, temperature: float = 0.9) -> tuple[str, Usage | None]:
    """Send the request (through endpoints.stream_completion) and return the whole answer.
    Raises the endpoint's errors, or BrainstormError for an answer far too long."""
    from synth.generate.endpoints import StreamEnd, stream_completion

    parts: list[str] = []
    size = 0
    usage = None
    gen = stream_completion(ep, prompt=req.prompt, messages=req.messages, style=req.style,
                            max_tokens=req.max_tokens, temperature=temperature, stop=req.stop)
    try:
        async for piece in gen:
            if isinstance(piece, StreamEnd):
                usage = piece.usage
                break
            parts.append(piece)
            size += len(piece)
            if size > MAX_ANSWER_CHARS:
                raise BrainstormError(f"the model's answer ran past {MAX_ANSWER_CHARS:,} "
                                      f"characters for {req.n} topics; nothing was added",
                                      field="answer")
    finally:
        await gen.aclose()
    return "".join(parts), usage


_ITEM = re.compile(r"^\s*(?:\d{1,5}\s*[.)]|[-*\u2022])\s*(.*)$")
_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```\s*$")


def _tidy(item: str) -> str:
    text = " ".join(item.split()).strip("\"'`\u201c\u201d ")
    return text.rstrip(",").strip()


def parse_answer(text: str, req: BrainstormRequest) -> list[str]:
    """The topics in an answer: a JSON list (chat) or numbered lines (completion, or a chat
    model that answered with a list anyway).  Raises BrainstormError when there is none."""
    raw = text.strip()
    if not raw:
        raise BrainstormError("the model's answer was empty; nothing was added", field="answer")
    items: list[str] | None = None
    if req.style == "chat":
        body = _FENCE.sub("", raw).strip()
        start, end = body.find("["), body.rfind("]")
        if start != -1 and end > start:
            try:
                data = json.loads(body[start:end + 1])
            except ValueError:
                data = None
            if isinstance(data, list):
                if not all(isinstance(x, (str, int, float)) for x in data):
                    raise BrainstormError("the model's answer is a JSON list, but not of topics "
                                          "(strings); nothing was added", field="answer")
                items = [str(x) for x in data]
    else:
        raw = f"{req.numbered_from}. {raw}"
    if items is None:
        items = []
        for line in raw.splitlines():
            if not line.strip():
                continue
            m = _ITEM.match(line)
            if not m:
                break  # a base model that went on to something else: the list ended
            items.append(m.group(1))
        if not items:
            snippet = " ".join(raw.split())[:60]
            want = "a JSON list of strings" if req.style == "chat" else "a numbered list"
            raise BrainstormError(f"the model's answer is not a list (expected {want}): "
                                  f"{snippet!r}; nothing was added", field="answer")
    if len(items) > max(2 * req.n, req.n + 20):
        raise BrainstormError(f"the model's answer holds {len(items):,} items for the {req.n} "
                              "asked for; not trusting it, nothing was added", field="answer")
    out = [_tidy(x) for x in items]
    return [t for t in out if t and len(t) <= MAX_TOPIC_CHARS]
