"""The playground's engine: talk to a persona through any endpoint, one answer at a time.

Two modes:
- ``prompted``: the persona's synthesis prompt, rendered for a topic (the user's, or a neutral
  one), with the conversation so far.  Completion style continues the transcript in the
  persona's labels and ends the prompt with the persona's label; the request stops at the
  user's label (``\\nUSER:``) and the persona's own, so each answer is one turn.  Chat style
  sends the rendered prompt as the system message (told to answer as the persona, one turn)
  and the turns as messages.
- ``finetuned``: only the persona's exported ``system_prompt`` and the turns as chat messages,
  as a model fine-tuned on the export will be used; a completion-only endpoint gets the system
  prompt, then the transcript in the export's completion format (turns joined by a blank line,
  ending ``\\n\\nEVE:``, stopping at ``\\n\\nUSER:``).

``ChatSession.say/retry/edit`` are async iterators of the answer's text pieces (cut at the stop
sequences on our side too, for a server that ignores them); ``stop()`` (from any thread) ends an
answer early and keeps what came.  Requests go through ``endpoints.stream_completion`` (and so
``sse``), the engine's own request code.  An endpoint error raises ``ChatError`` and leaves the
conversation as it was, the user's unanswered turn included, so ``retry`` can ask again.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import AsyncIterator, Callable, Literal

from synth.errors import ChatsynthError
from synth.generate import transcript
from synth.generate.endpoints import Endpoint, EndpointError, FatalError, StreamEnd, \
    estimate_tokens, stream_completion
from synth.generate.prompts import render
from synth.models import Conversation, Persona, Topic, Turn, Usage

Mode = Literal["prompted", "finetuned"]
MODES = ("prompted", "finetuned")
NEUTRAL_TOPIC = "whatever is on the user's mind today"


class ChatError(ChatsynthError):
    """An answer failed (endpoint down, key refused): the conversation so far is kept."""

    def __init__(self, message: str, *, fatal: bool = False) -> None:
        super().__init__(message, field="endpoint")
        self.fatal = fatal
        self.exit_code = 3 if fatal else 1


@dataclass
class ChatRequest:
    """What one answer sends: a prompt (completion) or messages (chat), and the stops."""

    style: str
    prompt: str
    messages: list[dict[str, str]]
    stop: list[str]


@dataclass
class Exchange:
    """The tokens and cost of one answer (its request, including the conversation so far)."""

    usage: Usage
    cost: float | None
    partial: bool = False


@dataclass
class ChatSession:
    endpoint: Endpoint
    persona: Persona
    mode: Mode = "prompted"
    topic: str | None = None
    style: str | None = None  # the API style (default: the endpoint's)
    price: Callable[[str, int, int], float | None] | None = None  # (model, prompt, completion)
    max_tokens: int | None = None
    temperature: float | None = None
    turns: list[Turn] = field(default_factory=list)
    exchanges: list[Exchange] = field(default_factory=list)
    last_prompt: str = ""  # the text of the last request (for a saved exchange's record)
    _stopping: bool = False

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ChatsynthError(f"mode must be prompted or finetuned, not {self.mode!r}",
                                 field="--mode")

    # -- the request ------------------------------------------------------------------------
    @property
    def api_style(self) -> str:
        return self.style or self.endpoint.style

    @property
    def topic_text(self) -> str:
        return (self.topic or "").strip() or NEUTRAL_TOPIC

    def _label(self, t: Turn) -> str:
        return self.persona.persona_label if t.role == "assistant" else self.persona.user_label

    def request(self) -> ChatRequest:
        """What the next answer would send, for the turns as they are now."""
        p = self.persona
        user_stop = f"\n{p.user_label}:"
        turns = [{"role": t.role, "content": t.text} for t in self.turns]
        if self.mode == "finetuned":
            system = p.system_prompt.strip()
            if self.api_style == "chat":
                msgs = ([{"role": "system", "content": system}] if system else []) + turns
                return ChatRequest("chat", system, msgs, [])
            text = "\n\n".join(f"{self._label(t)}: {t.text}" for t in self.turns)
            text = (system + "\n\n" if system else "") + text + f"\n\n{p.persona_label}:"
            return ChatRequest("completion", text, [], [f"\n\n{p.user_label}:", user_stop])
        # the persona's own label too: a second turn of the persona is not this answer's
        own = f"\n{p.persona_label}:"
        stops = [user_stop, own] + [s for s in p.stop if s and s not in (user_stop, own)]
        topic = Topic(text=self.topic_text)
        if self.api_style == "chat":
            base = render(p, topic, "chat", key="playground")
            system = (base.text + f"\n\nNow you are {p.name} in this conversation: answer the "
                      f"user's last message as {p.persona_label} would, with one turn only, "
                      "without a speaker label.")
            return ChatRequest("chat", system, [{"role": "system", "content": system}] + turns,
                               stops)
        base = render(p, topic, "completion", key="playground")
        text = base.text
        if base.first_role is not None:  # the prompt ends with a label: the turns follow it
            text = text.rstrip().rsplit("\n", 1)[0].rstrip()
        lines = "\n".join(f"{self._label(t)}: {t.text}" for t in self.turns)
        return ChatRequest("completion", f"{text}\n\n{lines}\n{p.persona_label}:", [], stops)

    # -- talking ----------------------------------------------------------------------------
    def stop(self) -> None:
        """End the answer being written (safe from another thread); what came is kept."""
        self._stopping = True

    def say(self, text: str) -> AsyncIterator[str]:
        text = text.strip()
        if not text:
            raise ChatsynthError("nothing to say: type a message", field="message")
        if self.turns and self.turns[-1].role == "user":  # the last one got no answer
            self.turns[-1] = Turn(role="user", text=self.turns[-1].text + "\n" + text)
        else:
            self.turns.append(Turn(role="user", text=text))
        return self._answer()

    def retry(self) -> AsyncIterator[str]:
        """Write the last answer again (or answer the last turn, if it got none)."""
        if not any(t.role == "user" for t in self.turns):
            raise ChatsynthError("nothing to answer again: say something first", field="/retry")
        self._drop_answer()
        return self._answer()

    def edit(self, text: str) -> AsyncIterator[str]:
        """Replace the user's last turn and answer it again."""
        text = text.strip()
        if not text:
            raise ChatsynthError("give the new text: /edit TEXT", field="/edit")
        if not any(t.role == "user" for t in self.turns):
            raise ChatsynthError("no turn of yours to edit yet", field="/edit")
        self._drop_answer()
        self.turns[-1] = Turn(role="user", text=text)
        return self._answer()

    def _drop_answer(self) -> None:
        """Take the answer(s) after the user's last turn away (and their exchange's count)."""
        while self.turns and self.turns[-1].role == "assistant":
            self.turns.pop()
            if self.exchanges:
                self.exchanges.pop()

    async def _answer(self) -> AsyncIterator[str]:
        req = self.request()
        self.last_prompt = req.prompt
        self._stopping = False
        p = self.persona
        ep = self.endpoint
        gen = stream_completion(
            ep, prompt=req.prompt, messages=req.messages or None, style=req.style,  # type: ignore[arg-type]
            max_tokens=self.max_tokens or p.max_tokens,
            temperature=p.temperature if self.temperature is None else self.temperature,
            stop=req.stop, sampling=p.sampling())
        cut = _Cutter(req.stop, [p.persona_label, p.name])
        end: StreamEnd | None = None
        partial = False
        try:
            async for piece in gen:
                if isinstance(piece, StreamEnd):
                    end = piece
                    break
                out, done = cut.feed(piece)
                if out:
                    yield out
                if done or self._stopping:
                    partial = self._stopping and not done
                    break
            rest = cut.flush()
            if rest:
                yield rest
        except EndpointError as err:
            raise ChatError(_said(err), fatal=isinstance(err, FatalError)) from None
        except BaseException:  # cancelled, or the caller closed us: keep what came
            partial = True
            self._keep(req.prompt, cut.text, None, partial=True)
            raise
        finally:
            await gen.aclose()
        self._keep(req.prompt, cut.text, end.usage if end else None, partial=partial)

    def _keep(self, prompt: str, text: str, usage: Usage | None, *, partial: bool) -> None:
        text = text.strip()
        if not text or (self.turns and self.turns[-1].role == "assistant"):
            return
        self.turns.append(Turn(role="assistant", text=text, label=self.persona.persona_label))
        if usage is None:
            usage = Usage(prompt_tokens=estimate_tokens(prompt),
                          completion_tokens=estimate_tokens(text), source="estimate")
        self.exchanges.append(Exchange(usage=usage, cost=self._cost(usage), partial=partial))

    def _cost(self, usage: Usage) -> float | None:
        if self.endpoint.free:
            return 0.0
        if self.price is None:
            return None
        try:
            return self.price(self.endpoint.model, usage.prompt_tokens, usage.completion_tokens)
        except Exception:  # noqa: BLE001 - a price table problem must not end the talk
            return None

    # -- counts and records -------------------------------------------------------------------
    def totals(self) -> tuple[int, int, float | None]:
        """(prompt tokens, completion tokens, cost or None where a price is unknown)."""
        p = sum(e.usage.prompt_tokens for e in self.exchanges)
        c = sum(e.usage.completion_tokens for e in self.exchanges)
        costs = [e.cost for e in self.exchanges]
        return p, c, (None if any(x is None for x in costs) else sum(costs))  # type: ignore[misc]

    def answered_turns(self) -> list[Turn]:
        """The turns up to the persona's last answer (an unanswered last turn is left out)."""
        turns = list(self.turns)
        while turns and turns[-1].role == "user":
            turns.pop()
        return turns

    def to_conversation(self, *, run_id: str, conversation_id: str, k: int) -> Conversation:
        """The exchange as a stored conversation (a hand-written example of the persona)."""
        turns = self.answered_turns()
        if not turns:
            raise ChatsynthError("nothing to save yet: no answer so far", field="/save")
        p = self.persona
        ptok, ctok, cost = self.totals()
        raw = "\n".join(f"{self._label(t)}: {t.text}" for t in turns)
        speakers = transcript.Speakers.for_persona(p)
        return Conversation(
            id=conversation_id, run_id=run_id, persona_id=p.id, topic_id=Topic(self.topic_text).id,
            topic=self.topic_text, k=k, endpoint=self.endpoint.name, model=self.endpoint.model,
            params={"source": "playground", "mode": self.mode, "style": self.api_style,
                    "temperature": p.temperature if self.temperature is None else self.temperature,
                    "max_tokens": self.max_tokens or p.max_tokens, "stop": list(p.stop),
                    "first_role": "user", "user_labels": speakers.user,
                    "persona_labels": speakers.assistant},
            prompt=self.last_prompt, raw_text=raw,
            turns=[Turn(role=t.role, text=t.text, label=self._label(t)) for t in turns],
            finish_reason="stop", usage=Usage(prompt_tokens=ptok, completion_tokens=ctok,
                                              source="estimate" if any(
                                                  e.usage.source == "estimate"
                                                  for e in self.exchanges) else "server"),
            status="complete", created_at=time.time(), cost=cost)


def _said(err: EndpointError) -> str:
    if isinstance(err, FatalError):
        return f"the endpoint refused the request: {err.message}"
    return f"no answer: {err.message}"


class _Cutter:
    """The answer's text as it streams: leading blanks and a leading persona label dropped,
    cut at the first stop sequence (text that may be the start of one is held back)."""

    def __init__(self, stops: list[str], labels: list[str]) -> None:
        self.stops = [s for s in stops if s]
        self.keep = max((len(s) for s in self.stops), default=1) - 1
        names = sorted({x.strip() for x in labels if x.strip()}, key=len, reverse=True)
        self.label = re.compile(r"^\s*(?:\*\*)?\s*(?:" + "|".join(map(re.escape, names))
                                + r")\s*(?:\*\*)?\s*:\s*(?:\*\*)?\s*", re.IGNORECASE)
        self.head_len = max((len(n) for n in names), default=0) + 6
        self.head_done = False
        self.pending = ""  # not yet given out
        self.text = ""  # given out so far

    def feed(self, piece: str) -> tuple[str, bool]:
        self.pending += piece
        hit = transcript.find_stop(self.pending, self.stops)
        if hit is not None:
            self.pending = self.pending[:hit[0]]
            return self._out(len(self.pending), final=True), True
        if not self.head_done and len(self.pending.lstrip()) < self.head_len:
            return "", False
        return self._out(len(self.pending) - self.keep), False

    def flush(self) -> str:
        return self._out(len(self.pending), final=True)

    def _out(self, upto: int, final: bool = False) -> str:
        if not self.head_done and (final or upto > 0):
            self.pending = self.label.sub("", self.pending, count=1).lstrip()
            self.head_done = True
            upto = len(self.pending) if final else len(self.pending) - self.keep
        if upto <= 0:
            return ""
        out, self.pending = self.pending[:upto], self.pending[upto:]
        self.text += out
        return out
