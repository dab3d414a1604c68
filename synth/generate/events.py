"""Typed events that a run streams.  The TUI, the CLI, tests and benchmarks render these only."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Union

from synth.models import Conversation, RunSpec, Usage

# "failed": every conversation this start tried failed (the reason says why)
RunOutcome = Literal["complete", "cancelled", "stopped", "paused", "budget", "limit", "failed"]


@dataclass(frozen=True)
class RunStarted:
    run_id: str
    spec: RunSpec
    total: int  # conversations the run should hold in the end
    already_done: int  # finished in the store before this start (resume)
    to_write: int  # what this start will try to write
    endpoint_label: str = ""  # e.g. "local (small offline demo model: Gemma 3 270M)"
    rewrite: int = 0  # of to_write, how many are already stored and are written again
    held_prompt_tokens: int = 0  # tokens of the conversations stored before this start
    held_completion_tokens: int = 0


@dataclass(frozen=True)
class ConversationStarted:
    run_id: str
    conversation_id: str
    topic: str
    k: int
    attempt: int = 1


@dataclass(frozen=True)
class Chunk:
    conversation_id: str
    text: str


@dataclass(frozen=True)
class ConversationRetrying:
    conversation_id: str
    attempt: int
    wait_s: float
    reason: str


@dataclass(frozen=True)
class ConversationFinished:
    conversation: Conversation
    finish_reason: str | None
    usage: Usage


@dataclass(frozen=True)
class ConversationFailed:
    conversation_id: str
    topic: str
    reason: str
    partial: bool = False  # True: cut off by a cancel; kept (flagged) or dropped
    discarded: bool = False  # True: the user discarded it (not counted as failed)
    usage: Usage | None = None  # a partial one's stored usage


@dataclass(frozen=True)
class Progress:
    done: int
    failed: int
    remaining: int
    in_flight: int
    prompt_tokens: int
    completion_tokens: int
    cost: float | None  # None where no price is known
    tokens_per_s: float
    elapsed_s: float
    budget: float | None = None
    discarded: int = 0
    # prompt_tokens / completion_tokens: this start, the sum of its conversations (a rewritten
    # one counts once); run_*: what the run holds, stored before this start included
    run_prompt_tokens: int = 0
    run_completion_tokens: int = 0


@dataclass(frozen=True)
class RunPaused:
    reason: str


@dataclass(frozen=True)
class RunResumed:
    pass


@dataclass(frozen=True)
class RunFinished:
    run_id: str
    outcome: RunOutcome
    reason: str
    done: int
    failed: int
    total: int
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    elapsed_s: float = 0.0
    store_path: str = ""
    problems: list[str] = field(default_factory=list)
    discarded: int = 0
    run_prompt_tokens: int = 0
    run_completion_tokens: int = 0
    already_done: int = 0  # stored before this start


Event = Union[
    RunStarted,
    ConversationStarted,
    Chunk,
    ConversationRetrying,
    ConversationFinished,
    ConversationFailed,
    Progress,
    RunPaused,
    RunResumed,
    RunFinished,
]
