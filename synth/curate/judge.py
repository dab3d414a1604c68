"""The LLM judge's rubric, request and answer: what is asked, and how an answer is read.

``rubric_for(persona)`` is the persona's ``judge.criteria``, or, with none given, one built from
its description and its pattern rules' reasons.  ``judge_messages`` asks for, per criterion, a
score 1-5 and a one-sentence reason, plus the turn numbers the judge objects to;
``answer_schema`` is the same as a JSON schema for servers that take ``response_format``.
``parse_answer`` reads an answer tolerantly (code fences, prose around the JSON, scores as
numeric strings) and raises ``AnswerError`` on anything it cannot trust (not JSON, a criterion
missing, a score of 0, 9 or "high"): the caller asks again, then records "judge failed".
A ``Judgement`` is what is stored and shown; a failed one never passes.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

from synth.errors import LibraryError
from synth.models import Persona, Turn, stable_id
from synth.persona_blocks import JudgeCriterion
from synth.curate.filters import Reason

SCORE_MIN, SCORE_MAX = 1, 5


class AnswerError(ValueError):
    """A judge answer that cannot be used as it is (asked again, then "judge failed")."""


@dataclass
class Rubric:
    criteria: list[JudgeCriterion]
    threshold: float = 3.0
    built: bool = False  # made from the description and pattern rules (no judge.criteria)

    @property
    def key(self) -> str:
        return stable_id([[c.name, c.description] for c in self.criteria], self.threshold)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.criteria]


def rubric_for(persona: Persona) -> Rubric:
    """The persona's rubric.  No criteria, no description and no pattern rules: an error
    naming the persona file's ``judge.criteria``."""
    spec = persona.judge
    threshold = spec.threshold if spec else 3.0
    if spec and spec.criteria:
        return Rubric(list(spec.criteria), threshold)
    crit: list[JudgeCriterion] = []
    if persona.description.strip():
        crit.append(JudgeCriterion("persona", f"{persona.name} speaks and acts as described: "
                                   f"{persona.description.strip()}"))
    for p in persona.rules.patterns:
        if p.reason.strip():
            crit.append(JudgeCriterion(p.name, p.reason.strip()))
    if not crit:
        raise LibraryError("the judge has no rubric: give judge.criteria, or a description or "
                           "pattern rules with reasons to build one from",
                           path=persona.path, field="judge.criteria")
    return Rubric(crit, threshold, built=True)


def transcript(persona: Persona, turns: Sequence[Turn]) -> str:
    """The conversation as the judge reads it: numbered turns in the persona's labels."""
    out = []
    for i, t in enumerate(turns):
        who = persona.persona_label if t.role == "assistant" else persona.user_label
        out.append(f"[{i + 1}] {who}: {t.text}")
    return "\n".join(out)


JUDGE_MARK = "You are a strict judge of synthetic chatbot conversations."


def judge_messages(persona: Persona, rubric: Rubric, turns: Sequence[Turn]) -> list[dict[str, str]]:
    crit = "\n".join(f"- {c.name}: {c.description}" for c in rubric.criteria)
    example = {"criteria": [{"name": c.name, "score": 4, "reason": "one sentence"}
                            for c in rubric.criteria[:2]], "turns": [3]}
    system = (f"{JUDGE_MARK} The chatbot is {persona.name} ({persona.persona_label}); "
              f"the user is {persona.user_label}. "
              f"{persona.description.strip()}\n\nScore the conversation on each criterion from "
              f"{SCORE_MIN} (fails it) to {SCORE_MAX} (does it fully), with a one-sentence reason, "
              "and list the turn numbers you object to.\n\nCriteria:\n" + crit +
              "\n\nAnswer with JSON only, no other text, in this shape: " + json.dumps(example))
    return [{"role": "system", "content": system},
            {"role": "user", "content": "Conversation:\n" + transcript(persona, turns)}]


def answer_schema(rubric: Rubric) -> dict[str, Any]:
    """The answer as a JSON schema (OpenAI's ``response_format``; llama.cpp's json_schema)."""
    return {
        "type": "object",
        "properties": {
            "criteria": {"type": "array", "items": {
                "type": "object",
                "properties": {"name": {"type": "string", "enum": rubric.names},
                               "score": {"type": "integer", "minimum": SCORE_MIN,
                                         "maximum": SCORE_MAX},
                               "reason": {"type": "string"}},
                "required": ["name", "score", "reason"], "additionalProperties": False}},
            "turns": {"type": "array", "items": {"type": "integer"}},
        },
        "required": ["criteria", "turns"], "additionalProperties": False,
    }


def tuple_schema(rubric: Rubric) -> dict[str, Any]:
    """The same answer with one entry per criterion, in the rubric's order (for llama.cpp's
    grammar-constrained JSON: an array of any criteria lets a small model name one and stop)."""
    schema = answer_schema(rubric)
    item = schema["properties"]["criteria"]["items"]
    schema["properties"]["criteria"] = {"type": "array", "prefixItems": [
        {**item, "properties": {**item["properties"], "name": {"const": n},
                                "score": {"enum": list(range(SCORE_MIN, SCORE_MAX + 1))}}}
        for n in rubric.names]}  # (the grammar keeps no integer bounds: an enum it keeps)
    return schema


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def _json_of(text: str) -> Any:
    text = (text or "").strip()
    m = _FENCE.search(text)
    if m:
        text = m.group(1).strip()
    start = text.find("{")
    if start < 0:
        raise AnswerError(f"not JSON: {_short(text)!r}")
    try:
        obj, _ = json.JSONDecoder().raw_decode(text[start:])
    except ValueError:
        raise AnswerError(f"not JSON: {_short(text)!r}") from None
    if not isinstance(obj, dict):
        raise AnswerError("not a JSON object")
    return obj


def _short(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _score(name: str, raw: Any) -> int:
    val = raw
    if isinstance(val, str) and re.fullmatch(r"\s*\d+(\.0+)?\s*", val):
        val = float(val)
    if isinstance(val, bool) or not isinstance(val, (int, float)) or val != int(val):
        raise AnswerError(f"criterion {name!r}: score {raw!r} is not a whole number "
                          f"{SCORE_MIN}-{SCORE_MAX}")
    if not SCORE_MIN <= val <= SCORE_MAX:
        raise AnswerError(f"criterion {name!r}: score {raw!r} is out of range "
                          f"{SCORE_MIN}-{SCORE_MAX}")
    return int(val)


def parse_answer(text: str, rubric: Rubric, n_turns: int) -> tuple[dict[str, int], dict[str, str], list[int]]:
    """Scores and reasons by criterion, and the turns objected to (1-based, in range)."""
    obj = _json_of(text)
    raw = obj.get("criteria", obj.get("scores"))
    items: dict[str, Any] = {}
    if isinstance(raw, list):
        for it in raw:
            if isinstance(it, dict) and isinstance(it.get("name"), str):
                items[it["name"].strip()] = it
    elif isinstance(raw, dict):
        items = {str(k).strip(): v if isinstance(v, dict) else {"score": v} for k, v in raw.items()}
    missing = [n for n in rubric.names if n not in items]
    if missing:
        raise AnswerError("missing criteria: " + ", ".join(missing))
    scores, reasons = {}, {}
    for name in rubric.names:
        scores[name] = _score(name, items[name].get("score"))
        reasons[name] = " ".join(str(items[name].get("reason") or "").split())
    turns_raw = obj.get("turns") or []
    if not isinstance(turns_raw, list):
        turns_raw = []
    turns = sorted({int(t) for t in turns_raw
                    if isinstance(t, (int, float)) and not isinstance(t, bool)
                    and t == int(t) and 1 <= t <= n_turns})
    return scores, reasons, turns


@dataclass
class Judgement:
    """One conversation's judgement (or the judge's failure to give one)."""

    model: str
    scores: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    turns: list[int] = field(default_factory=list)  # 1-based turns the judge objects to
    threshold: float = 3.0
    error: str | None = None  # "judge failed: ..." when no usable answer came
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = 0.0
    cached: bool = False

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def passed(self) -> bool:
        """Every criterion at or above the threshold; a failed judgement never passes."""
        return not self.failed and bool(self.scores) and \
            all(s >= self.threshold for s in self.scores.values())

    @property
    def score(self) -> float | None:
        """The lowest criterion score (what decides a pass), None when it failed."""
        return None if self.failed or not self.scores else float(min(self.scores.values()))

    def short(self) -> str:
        if self.failed:
            return f"judge failed: {self.error}"
        return " ".join(f"{k}={v}" for k, v in self.scores.items())

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("cached")
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Judgement":
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in known and k != "cached"})


def judge_reasons(j: Judgement) -> list[Reason]:
    """The ``judge`` rule's reasons: each criterion under the threshold with the judge's own
    reason, or the failure (shown, never a pass)."""
    if j.failed:
        return [Reason("judge", f"judge failed: {j.error}")]
    out = []
    first = j.turns[0] - 1 if j.turns else None
    where = f" (turns {', '.join(map(str, j.turns))})" if j.turns else ""
    for name, s in j.scores.items():
        if s < j.threshold:
            why = j.reasons.get(name) or "no reason given"
            out.append(Reason("judge", f"judge: {name} {s}/5: {why}{where}", first))
    return out
