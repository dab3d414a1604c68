"""The live state of a run, built from the engine's events (no textual here).

Events are applied as they arrive (cheap: a list append per text chunk); the screen renders
what changed at a fixed rate (``dirty`` sets), never per chunk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from synth.generate.endpoints import estimate_tokens
from synth.generate.events import (
    Chunk, ConversationFailed, ConversationFinished, ConversationRetrying, ConversationStarted,
    Progress, RunFinished, RunPaused, RunResumed, RunStarted,
)
from synth.models import Conversation, Usage
from synth.wording import plural

STATUS_ICONS = {
    "writing": "●",
    "retrying": "↻",
    "done": "✓",
    "flagged": "⚑",
    "failed": "✗",
    "partial": "◐",
    "discarded": "–",
    "stopped": "■",
    "queued": "…",  # asked to be written again, not started yet  # the run ended before it was written: nothing stored
}


@dataclass
class RunNote:
    """Not an engine event: something the run controller wants shown (starting a model...)."""

    text: str


@dataclass
class Passing:
    """Not an engine event: how many of a judged or "until N pass" run pass so far."""

    have: int
    target: int | None  # None: a judged run with no target
    judge: str = ""  # the judge's tally: judged, failed, tokens, money


@dataclass
class RunError:
    """The run could not start or ended with an error (a message for the user)."""

    message: str


@dataclass
class LiveConv:
    cid: str
    topic: str
    k: int = 0
    status: str = "writing"
    attempt: int = 1
    reason: str = ""
    chunks: list[str] = field(default_factory=list)
    chars: int = 0
    conversation: Conversation | None = None
    usage: Usage | None = None  # a partial one's stored usage
    before: str = ""  # the status it had when it was queued to be written again
    verdict: Any = None  # filters.Verdict, when known

    @property
    def text(self) -> str:
        if self.conversation is not None:
            return self.conversation.raw_text
        if len(self.chunks) > 1:
            self.chunks[:] = ["".join(self.chunks)]
        return self.chunks[0] if self.chunks else ""

    @property
    def tokens(self) -> int:
        """Completion tokens: the stored record's once there is one (the same figure the run's
        totals add up), an estimate from the text while it is being written, else 0."""
        if self.conversation is not None:
            return self.conversation.usage.completion_tokens
        if self.usage is not None:
            return self.usage.completion_tokens
        if self.status in ("writing", "retrying") and self.chars:
            return estimate_tokens("x" * self.chars)
        return 0

    @property
    def status_label(self) -> str:
        icon = STATUS_ICONS.get(self.status, "?")
        label = self.status
        if self.status == "retrying":
            label = f"retry {self.attempt}"
        if self.status == "flagged" and self.verdict is not None:
            label = "flagged: " + ", ".join(self.verdict.rules)
        elif self.status in ("failed", "partial") and self.reason:
            label = f"{self.status}: {self.reason}"
        return f"{icon} {label}"


class LiveRun:
    """What the Synthesize screen shows: every conversation of this start, and the totals."""

    def __init__(self, verdict_of=None) -> None:
        self.verdict_of = verdict_of or (lambda cid: None)
        self.state = "starting"  # starting | running | paused | finished | error
        self.note = ""
        self.started: RunStarted | None = None
        self.progress: Progress | None = None
        self.finished: RunFinished | None = None
        self.paused_reason = ""
        self.error = ""
        self.order: list[str] = []
        self.convs: dict[str, LiveConv] = {}
        self.dirty: set[str] = set()  # conversations whose row or text changed
        self.added: list[str] = []  # conversations with no row yet
        self.changed = True  # totals changed
        self.events = 0
        self.passing: Passing | None = None

    @property
    def run_id(self) -> str | None:
        return self.started.run_id if self.started else None

    @property
    def active(self) -> bool:
        return self.state in ("starting", "running", "paused")

    def apply(self, ev: Any) -> None:
        self.events += 1
        if isinstance(ev, Chunk):
            c = self.convs.get(ev.conversation_id)
            if c is not None:
                c.chunks.append(ev.text)
                c.chars += len(ev.text)
                self.dirty.add(c.cid)
            return
        self.changed = True
        if isinstance(ev, ConversationStarted):
            c = self.convs.get(ev.conversation_id)
            if c is None:
                c = self.convs[ev.conversation_id] = LiveConv(ev.conversation_id, ev.topic, ev.k)
                self.order.append(c.cid)
                self.added.append(c.cid)
            c.status, c.attempt, c.reason = "writing", ev.attempt, ""
            c.chunks, c.chars, c.conversation, c.verdict, c.usage = [], 0, None, None, None
            self.dirty.add(c.cid)
        elif isinstance(ev, ConversationRetrying):
            c = self.convs.get(ev.conversation_id)
            if c is not None:
                c.status, c.attempt = "retrying", ev.attempt
                c.reason = f"{ev.reason} (waiting {ev.wait_s:.1f}s)"
                self.dirty.add(c.cid)
        elif isinstance(ev, ConversationFinished):
            conv = ev.conversation
            c = self.convs.get(conv.id)
            if c is None:
                c = self.convs[conv.id] = LiveConv(conv.id, conv.topic, conv.k)
                self.order.append(c.cid)
                self.added.append(c.cid)
            c.conversation = conv
            c.chunks, c.chars = [], len(conv.raw_text)
            c.verdict = self.verdict_of(conv.id)
            c.status = "flagged" if (c.verdict is not None and not c.verdict.ok) else "done"
            self.dirty.add(c.cid)
        elif isinstance(ev, ConversationFailed):
            c = self.convs.get(ev.conversation_id)
            if c is None:
                c = self.convs[ev.conversation_id] = LiveConv(ev.conversation_id, ev.topic)
                self.order.append(c.cid)
                self.added.append(c.cid)
            c.reason = ev.reason
            c.status = "partial" if ev.partial else ("discarded" if ev.discarded else "failed")
            c.usage = ev.usage
            self.dirty.add(c.cid)
        elif isinstance(ev, Progress):
            self.progress = ev
        elif isinstance(ev, RunStarted):
            self.started = ev
            self.state = "running"
            self.note = ""
        elif isinstance(ev, RunPaused):
            self.state = "paused"
            self.paused_reason = ev.reason
        elif isinstance(ev, RunResumed):
            self.state = "running"
            self.paused_reason = ""
        elif isinstance(ev, RunFinished):
            self.finished = ev
            self.state = "finished"
            for c in self.convs.values():
                if c.status == "queued":  # the run ended before it started again
                    c.status = c.before
                    self.dirty.add(c.cid)
                if c.status in ("writing", "retrying"):  # cut off with nothing stored
                    c.status, c.reason = "stopped", ""
                    self.dirty.add(c.cid)
        elif isinstance(ev, Passing):
            self.passing = ev
        elif isinstance(ev, RunNote):
            self.note = ev.text
        elif isinstance(ev, RunError):
            self.error = ev.message
            self.state = "error"

    def take_dirty(self) -> tuple[list[str], set[str]]:
        added, dirty = self.added, self.dirty
        self.added, self.dirty = [], set()
        return added, dirty

    def tokens(self) -> tuple[int, int | None]:
        """(this start, the whole run): completion tokens.  This start is the sum of the rows;
        the run adds what was stored before it (None when this start rewrote stored ones)."""
        here = sum(c.tokens for c in self.convs.values())
        st = self.started
        if st is None or not st.already_done or st.rewrite:
            return here, None
        return here, st.held_completion_tokens + here

    def summary(self) -> str:
        """One line: state, counts, speed, money."""
        if self.state == "error":
            return f"✗ {self.error}"
        p = self.progress
        parts = []
        state = {"starting": "starting", "running": "running", "paused": "paused",
                 "finished": "finished"}[self.state]
        if self.finished is not None:
            state = f"finished: {self.finished.outcome}"
        parts.append(state)
        if self.started is not None and p is not None:
            writing = sum(1 for c in self.convs.values() if c.status == "writing" and c.chars)
            target = self.target()
            counts = f"{p.done:,}/{target:,} done · {p.failed:,} failed"
            if p.discarded:
                counts += f" · {p.discarded:,} discarded"
            if self.state != "finished":
                counts += f" · {p.remaining:,} remaining · {writing:,} writing"
            parts.append(counts)
            if self.state == "running":  # paused or ended: no speed to speak of
                parts.append(f"{p.tokens_per_s:,.0f} tok/s")
            cost = "cost ?" if p.cost is None else f"${p.cost:.4f}"
            if p.budget is not None:
                cost += f" of ${p.budget:.2f} budget"
            parts.append(cost)
            here, run = self.tokens()
            if run is None:
                parts.append(f"{plural(here, 'token')} written")
            else:
                parts.append(f"{here:,} tokens this start, {run:,} in the run")
        elif self.note:
            parts.append(self.note)
        ps = self.passing
        if ps is not None:
            parts.append(f"passing {ps.have:,}/{ps.target:,}" if ps.target else
                         f"{ps.have:,} passing")
            if ps.judge:
                parts.append(ps.judge)
        return "  ·  ".join(parts)

    def target(self) -> int:
        st = self.started
        return 0 if st is None else st.already_done + st.to_write - st.rewrite

    def fraction(self) -> tuple[int, int]:
        if self.passing is not None and self.passing.target:  # "until N pass": the bar is N
            return min(self.passing.have, self.passing.target), self.passing.target
        if self.started is None or self.progress is None:
            return 0, 0
        if self.started.rewrite:  # a run that writes stored ones again: count this start's
            ended = sum(1 for c in self.convs.values()
                        if c.status not in ("writing", "retrying", "queued"))
            return ended, max(1, self.started.to_write)
        p = self.progress
        return min(self.target(), p.done + p.failed + p.discarded), max(1, self.target())

    def queued(self, cid: str) -> None:
        """The user asked for ``cid`` to be written again; its ConversationStarted follows."""
        c = self.convs.get(cid)
        if c is not None and c.status != "queued":
            c.before, c.status = c.status, "queued"
            self.dirty.add(cid)
