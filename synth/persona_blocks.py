"""A persona's optional blocks as types: ``judge:`` (the LLM judge's rubric) and
``user_simulator:`` (role-play's simulated user).  ``synth.models`` re-exports them with the
Persona that holds them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class UserSimulator:
    """A persona's ``user_simulator:`` block (role-play): the simulated user's prompt, the marker
    it writes when its need is met, how many turns (both speakers) a conversation may have, the
    most tokens of one turn, briefs (one drawn per conversation as ``{brief}``) and optionally
    another endpoint or model for the user's side."""

    prompt: str
    end_marker: str = "[END]"
    min_turns: int = 4
    max_turns: int = 12
    max_tokens: int = 200
    briefs: list[str] = field(default_factory=list)
    endpoint: str | None = None
    model: str | None = None


@dataclass
class JudgeCriterion:
    """One line of a judge's rubric: a name and what a good conversation does."""

    name: str
    description: str


@dataclass
class JudgeSpec:
    """A persona's ``judge:`` block: the rubric, the pass threshold (the lowest score, 1-5,
    that passes) and which endpoint/model judges (None: the workspace's ``judge_endpoint``)."""

    criteria: list[JudgeCriterion] = field(default_factory=list)
    threshold: float = 3.0
    endpoint: str | None = None
    model: str | None = None

    def __post_init__(self) -> None:
        self.threshold = float(self.threshold)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "JudgeSpec | None":
        if d is None:
            return None
        d = dict(d)
        crit = [c if isinstance(c, JudgeCriterion) else JudgeCriterion(**c)
                for c in d.pop("criteria", [])]
        return cls(criteria=crit, **d)
