"""Role-play writing: a simulated user (the persona's ``user_simulator:``) talks with the persona
turn by turn, and each turn is one streamed request of the engine.

A mixin of ``synth.generate.engine.Engine``: ``_roleplay`` stands in for one conversation's
single request, so the gate (pause, cooldown, RPM/TPM, budget), retries with backoff and
Retry-After, storms, cancel, storing and counting are the engine's own (``engine_conv``).

- Chat style: the persona side sends the persona's ``system_prompt`` and the conversation so
  far; the user side sends the simulator's prompt and the conversation with the roles swapped.
- Completion style (base models, the embedded one): both sides continue one shared transcript
  in the persona's labels, each request stopping at the other speaker's label.  The transcript
  opens with the persona's synthesis prompt for the topic (its few-shot examples included):
  a base model follows a transcript's framing, not a simulated user's instructions.
- Each turn's text goes out as the engine's ``Chunk`` events, in the persona's labels
  ("USER: ...\\nEVE: ..."), so a UI shows the turns appear as a transcript streams.
- It ends on the end marker (stripped; the closing user turn that carries it is not stored,
  so the conversation ends with the persona), on ``max_turns`` (finish ``max_turns``: the
  filters' truncated rule flags it), on an empty user turn (the simulated user has nothing
  more to say: a base model ends a transcript so), on an empty persona turn (kept: the
  empty-turn rule flags it), or on a cancel (stored as partial, like any conversation cut off).  A marker before
  ``min_turns`` is stripped and the conversation goes on.
- A transient fault mid-turn retries that turn (the finished turns are kept by this task); a
  conversation is stored once, whole, at its end: after a kill -9 it is written again from its
  start, never stored twice.
- Usage is the sum of both sides' requests; the cost prices each side at its own model.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from dataclasses import dataclass, field
from typing import Any

from synth.generate import transcript
from synth.generate.endpoints import StreamEnd, estimate_tokens
from synth.generate.engine_conv import TurnRequest, _Budget, _Live
from synth.generate.events import Chunk
from synth.generate.prompts import Prompt, fill, render, values_for
from synth.models import Conversation, Persona, Topic, Trim, Turn, Usage, UserSimulator

KICKOFF = "(Write your first message.)"


@dataclass
class RoleplayState:
    """One role-play conversation so far (kept across the retries of its task)."""

    sim_prompt: str
    brief: str
    head: str = ""  # completion style: the shared transcript's opening
    turns: list[Turn] = field(default_factory=list)
    usage: dict[str, list[int]] = field(default_factory=lambda: {"assistant": [0, 0],
                                                                  "user": [0, 0]})
    estimated: bool = False  # some turn's usage was estimated, not reported
    ended: str | None = None  # marker | max_turns | user_done | empty_turn
    current: str | None = None  # the role of the turn being written
    current_from: int = 0  # where that turn's text starts in the live text


def simulator_prompt(persona: Persona, topic: Topic, key: str) -> tuple[str, str]:
    """The simulated user's prompt for one conversation, and the brief drawn for it."""
    sim = persona.user_simulator
    assert sim is not None
    brief = random.Random(f"brief:{key}").choice(sim.briefs) if sim.briefs else ""
    return fill(sim.prompt, {**values_for(persona, topic), "brief": brief}).strip(), brief


def transcript_text(persona: Persona, turns: list[Turn]) -> str:
    labels = {"user": persona.user_label, "assistant": persona.persona_label}
    return "\n".join(f"{labels[t.role]}: {t.text}" for t in turns)


def turn_prompt(persona: Persona, state: RoleplayState, role: str, style: str) -> Prompt:
    """What one side is sent for its next turn (see the module's first lines)."""
    if style == "chat":
        if role == "assistant":
            msgs = [{"role": "system", "content": persona.system_prompt}]
            msgs += [{"role": t.role, "content": t.text} for t in state.turns]
        else:
            msgs = [{"role": "system", "content": state.sim_prompt}]
            msgs += [{"role": "assistant" if t.role == "user" else "user", "content": t.text}
                     for t in state.turns] or [{"role": "user", "content": KICKOFF}]
        return Prompt(style="chat", text="\n\n".join(m["content"] for m in msgs), messages=msgs)
    label = persona.persona_label if role == "assistant" else persona.user_label
    body = transcript_text(persona, state.turns)
    text = f"{state.head}\n\n" + (body + "\n" if body else "") + f"{label}:"
    return Prompt(style="completion", text=text, first_role=role)  # type: ignore[arg-type]


def transcript_head(persona: Persona, topic: Topic, key: str) -> str:
    """Completion style: the synthesis prompt for the topic without the label it ends with."""
    prompt = render(persona, topic, "completion", key)
    text = prompt.text.rstrip()
    return text.rsplit("\n", 1)[0].rstrip() if prompt.first_role else text


def turn_stops(persona: Persona, sim: UserSimulator, role: str, stops: list[str]) -> list[str]:
    """The other speaker's label first, then the speaker's own (a base model that starts a
    second turn of its own has ended this one), then the run's own stop sequences (servers take
    only a few: the rest are applied on our side).  Not the end marker: a server cuts a stop
    sequence out of the answer, and the marker must be seen (it is looked for in each user
    turn, and what follows it dropped)."""
    own, other = persona.persona_label, persona.user_label
    if role == "user":
        own, other = other, own
    out = [f"\n{other}:", f"\n{own}:"]
    return out + [s for s in stops if s and s not in out]


def clean_turn(text: str, persona: Persona, role: str) -> str:
    """A turn as stored: its own leading label (which chat models like to write) dropped, runs
    of blank lines made one, outer space stripped."""
    names = [persona.persona_label, persona.name] if role == "assistant" else [persona.user_label]
    pat = r"^\s*\**\s*(?:" + "|".join(re.escape(n) for n in names if n) + r")\s*\**\s*:\s*\**"
    text = re.sub(pat, "", text, flags=re.IGNORECASE)
    return re.sub(r"\n\s*\n(\s*\n)+", "\n\n", text).strip()


class RoleplayWork:
    """The role-play half of the engine (see the module's first lines)."""

    async def _roleplay(self, live: _Live) -> StreamEnd:
        spec = self.spec
        persona = spec.persona
        sim = persona.user_simulator
        assert sim is not None  # Engine.run refuses a role-play run without one
        state: RoleplayState | None = live.rp
        if state is None:
            text, brief = simulator_prompt(persona, live.item.topic, live.cid)
            state = live.rp = RoleplayState(sim_prompt=text, brief=brief)
            if spec.style != "chat":
                state.head = text = transcript_head(persona, live.item.topic, live.cid)
            live.prompt = Prompt(style=spec.style, text=text)  # what the record keeps
            live.started = time.monotonic()
        elif state.turns:  # a retry of a turn: what was written before it shows again
            self._restore(live, state)
        user_ep = getattr(self, "user_endpoint", None) or self.endpoint
        first = True
        while True:
            role = "assistant" if state.turns and state.turns[-1].role == "user" else "user"
            if role == "user" and len(state.turns) + 2 > sim.max_turns:
                state.ended = "max_turns"  # the persona answers last: pairs of turns only
                break
            req = TurnRequest(prompt=turn_prompt(persona, state, role, spec.style),
                              stops=turn_stops(persona, sim, role, self._stops),
                              endpoint=self.endpoint if role == "assistant" else user_ep,
                              max_tokens=sim.max_tokens)
            if not first:  # the first request of an attempt went through the engine's gate
                try:
                    await self._gate(live, req)
                except _Budget:  # stopped like a cancel: what was written is kept as partial
                    raise asyncio.CancelledError() from None
            first = False
            label = persona.user_label if role == "user" else persona.persona_label
            opening = ("\n" if state.turns else "") + f"{label}: "
            live.parts.append(opening)
            live.chars += len(opening)
            if self.opt.emit_chunks:
                self._emit(Chunk(conversation_id=live.cid, text=opening))
            state.current, state.current_from = role, live.chars
            end = await self._stream(live, req)
            raw = live.raw[state.current_from:]
            hit = transcript.find_stop(raw, req.stops)
            said = raw[:hit[0]] if hit else raw
            marker = role == "user" and sim.end_marker in said
            self._count_turn(state, role, req, said, end)
            text = clean_turn(said.split(sim.end_marker, 1)[0] if marker else said, persona, role)
            state.current = None
            if marker and len(state.turns) >= sim.min_turns:
                state.ended = "marker"
                break
            if not text and role == "user":
                state.ended = "user_done"  # nothing more to say (END OF CONVERSATION, say)
                break
            state.turns.append(Turn(role=role, text=text, label=label))  # type: ignore[arg-type]
            self._restore(live, state, emit=False)
            if not text:
                state.ended = "empty_turn"
                break
        if state.turns and state.turns[-1].role == "user" and state.ended != "empty_turn":
            state.turns.pop()  # never end on the user's side
        finish = {"marker": "stop", "max_turns": "max_turns"}.get(state.ended or "", "stop")
        return StreamEnd(finish_reason=finish, usage=self._rp_usage(state))

    def _restore(self, live: _Live, state: RoleplayState, emit: bool = True) -> None:
        text = transcript_text(self.spec.persona, state.turns)
        live.parts[:] = [text]
        live.chars = len(text)
        if text:
            live.streaming = True
            if emit and self.opt.emit_chunks:
                self._emit(Chunk(conversation_id=live.cid, text=text))

    def _count_turn(self, state: RoleplayState, role: str, req: TurnRequest, said: str,
                    end: StreamEnd) -> None:
        u = end.usage
        if u is None or u.source != "server":
            state.estimated = True
            p, c = estimate_tokens(req.prompt.text), estimate_tokens(said)
        else:
            p, c = u.prompt_tokens, u.completion_tokens
        state.usage[role][0] += p
        state.usage[role][1] += c

    @staticmethod
    def _rp_usage(state: RoleplayState) -> Usage:
        p = sum(v[0] for v in state.usage.values())
        c = sum(v[1] for v in state.usage.values())
        return Usage(prompt_tokens=p, completion_tokens=c,
                     source="estimate" if state.estimated else "server")

    def _build(self, live: _Live, *, status: str, finish: str | None,
               usage: Usage | None) -> Conversation:
        state: RoleplayState | None = live.rp
        if state is None:
            return super()._build(live, status=status, finish=finish, usage=usage)  # type: ignore[misc]
        turns = list(state.turns)
        if status == "partial" and state.current is not None:
            persona = self.spec.persona
            said = clean_turn(live.raw[state.current_from:], persona, state.current)
            if said:
                label = persona.user_label if state.current == "user" else persona.persona_label
                turns.append(Turn(role=state.current, text=said, label=label))  # type: ignore[arg-type]
        usage = usage or self._rp_usage(state)
        conv = super()._build(live, status=status, finish=finish, usage=usage)  # type: ignore[misc]
        conv.prompt = state.head or state.sim_prompt
        conv.raw_text = transcript_text(self.spec.persona, turns)
        conv.turns = turns
        conv.trim = Trim()
        sim = self.spec.persona.user_simulator
        user_ep = getattr(self, "user_endpoint", None) or self.endpoint
        conv.params.update({
            "method": "roleplay", "end": state.ended if status == "complete" else "cancelled",
            "user_simulator": {"brief": state.brief, "end_marker": sim.end_marker,
                               "min_turns": sim.min_turns, "max_turns": sim.max_turns,
                               "max_tokens": sim.max_tokens, "model": user_ep.model},
            "usage_by_side": {k: {"prompt_tokens": v[0], "completion_tokens": v[1]}
                              for k, v in state.usage.items()}})
        conv.cost = self._rp_cost(state, user_ep)
        return conv

    def _rp_cost(self, state: RoleplayState, user_ep: Any) -> float | None:
        mine = self._price(*state.usage["assistant"])
        if user_ep is self.endpoint:
            theirs = self._price(*state.usage["user"])
        elif user_ep.free:
            theirs = 0.0
        else:
            try:
                theirs = self.cost_fn(user_ep.model, *state.usage["user"]) if self.cost_fn else None
            except Exception:  # noqa: BLE001 - a price table problem must not stop a run
                theirs = None
        return None if mine is None or theirs is None else mine + theirs

    def _account(self, conv: Conversation) -> None:
        # the summed prompt tokens of every turn are not this conversation's prompt: keep the
        # tokens-per-character the budget's worst case uses as it was
        keep = self._tokens_per_char
        super()._account(conv)  # type: ignore[misc]
        if conv.params.get("method") == "roleplay":
            self._tokens_per_char = keep
