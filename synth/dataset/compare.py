"""Two runs side by side (two versions of a persona, two models, two sampling settings) on the
topics they share: pass rate and failures by rule, judge scores where judged, turns, tokens,
cost per passing conversation and distinct-2, the pairs of conversations written for the same
topic, and the persona and settings that differ.  ``chatsynth compare`` prints it and writes it
as Markdown or JSON; nothing here makes a request or changes a run."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from synth.curate.review import Review, Reviewed
from synth.dataset.report import distinct_n
from synth.errors import ChatsynthError
from synth.models import Persona, RunSpec, Turn

# what a run was written with, beside the persona's own text (compared field by field)
SETTINGS = ("endpoint", "model", "style", "temperature", "max_tokens", "top_p", "presence_penalty",
            "frequency_penalty", "repeat_penalty", "stop", "seed", "per_topic")


@dataclass
class Side:
    """One run's figures over the shared topics."""

    run_id: str
    persona: str
    model: str
    labels: tuple[str, str] = ("", "")  # the persona's speaker labels: (persona, user)
    conversations: int = 0
    passing: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)  # rule -> conversations it flagged
    judged: int = 0
    judge_passed: int = 0
    judge_failed: int = 0
    judge_mean: float | None = None  # mean of each judged conversation's deciding score
    turns_mean: float = 0.0
    tokens_mean: float = 0.0
    cost: float | None = None  # USD written for these conversations, where a price is known
    distinct_2: float = 0.0  # of the persona's turns

    @property
    def pass_rate(self) -> float:
        return self.passing / self.conversations if self.conversations else 0.0

    @property
    def cost_per_passing(self) -> float | None:
        if self.cost is None or not self.passing:
            return None
        return self.cost / self.passing


@dataclass
class Pair:
    topic: str
    a: Reviewed
    b: Reviewed


@dataclass
class Comparison:
    a: Side
    b: Side
    topics: list[str]  # shared, in run A's order
    only_a: int  # topics only run A wrote
    only_b: int
    pairs: list[Pair]
    persona_diff: list[str]  # unified diff of the personas as the runs stored them
    settings: list[tuple[str, Any, Any]]  # (setting, A's value, B's value) where they differ


def _key(topic: str) -> str:
    return " ".join(topic.split()).casefold()


def compare_runs(store: Any, ref_a: str, ref_b: str) -> Comparison:
    """Compare two stored runs (ids, prefixes or 'latest') on the topics both wrote."""
    run_a, run_b = store.resolve_run(ref_a), store.resolve_run(ref_b)
    if run_a == run_b:
        raise ChatsynthError(f"{ref_a!r} and {ref_b!r} are the same run ({run_a}): name two runs",
                             field="runs")
    sides, specs = [], []
    for run_id in (run_a, run_b):
        spec = store.get_spec(run_id)
        items = [it for it in Review(store, run_id, spec.persona).load().items
                 if it.conv.status == "complete"]
        by_topic: dict[str, list[Reviewed]] = {}
        for it in items:
            by_topic.setdefault(_key(it.conv.topic), []).append(it)
        sides.append(by_topic)
        specs.append(spec)
    shared = [t for t in sides[0] if t in sides[1]]
    if not shared:
        raise ChatsynthError(
            f"runs {run_a} ({len(sides[0])} topics written) and {run_b} ({len(sides[1])}) have no "
            "topic in common: compare runs of the same topic list", field="runs")
    keep = set(shared)
    figures = [_side(run_id, spec, [it for t in keep for it in by_topic[t]])
               for run_id, spec, by_topic in zip((run_a, run_b), specs, sides)]
    pairs = [Pair(sides[0][t][0].conv.topic, *(min(s[t], key=lambda it: it.conv.k) for s in sides))
             for t in shared]
    return Comparison(a=figures[0], b=figures[1], topics=[p.topic for p in pairs],
                      only_a=len(sides[0]) - len(shared), only_b=len(sides[1]) - len(shared),
                      pairs=pairs, persona_diff=persona_diff(specs[0].persona, specs[1].persona,
                                                             run_a, run_b),
                      settings=settings_diff(specs[0], specs[1]))


def _side(run_id: str, spec: RunSpec, items: list[Reviewed]) -> Side:
    s = Side(run_id=run_id, persona=spec.persona.id, model=spec.model or spec.endpoint,
             labels=(spec.persona.persona_label, spec.persona.user_label), conversations=len(items))
    scores, costs = [], []
    for it in items:
        if it.verdict.ok:
            s.passing += 1
        for rule in it.verdict.rules:
            s.by_rule[rule] = s.by_rule.get(rule, 0) + 1
        j = it.judgement
        if j is not None:
            s.judged += 1
            s.judge_failed += j.failed
            s.judge_passed += j.passed
            if j.score is not None:
                scores.append(j.score)
        if it.conv.cost is not None:
            costs.append(it.conv.cost)
    n = len(items) or 1
    s.turns_mean = sum(len(it.turns) for it in items) / n
    s.tokens_mean = sum(it.tokens for it in items) / n
    s.judge_mean = sum(scores) / len(scores) if scores else None
    s.cost = sum(costs) if costs else None
    s.distinct_2 = distinct_n([t.text for it in items for t in it.turns if t.role == "assistant"])
    return s


def _persona_lines(p: Persona) -> list[str]:
    d = p.to_dict()
    d.pop("path", None)
    lines = []
    for key, value in d.items():
        if isinstance(value, str) and "\n" in value:
            lines.append(f"{key}:")
            lines += ["  " + ln for ln in value.splitlines()]
        else:
            lines.append(f"{key}: {value!r}")
    return lines


def persona_diff(a: Persona, b: Persona, name_a: str, name_b: str) -> list[str]:
    """The personas as each run stored them, as a unified diff (empty when they are the same)."""
    return list(difflib.unified_diff(_persona_lines(a), _persona_lines(b), f"{name_a} persona",
                                     f"{name_b} persona", lineterm="", n=1))


def settings_diff(a: RunSpec, b: RunSpec) -> list[tuple[str, Any, Any]]:
    return [(k, getattr(a, k), getattr(b, k)) for k in SETTINGS if getattr(a, k) != getattr(b, k)]


# -- how it is shown ------------------------------------------------------------------------

def _money(v: float | None) -> str:
    return "n/a" if v is None else f"${v:,.4f}"


def _num(v: float | None, fmt: str = "{:.2f}") -> str:
    return "n/a" if v is None else fmt.format(v)


def table_rows(c: Comparison) -> list[tuple[str, str, str]]:
    """(what, run A, run B) for the summary table, rules by how often either flagged them."""
    a, b = c.a, c.b
    rows = [("run", a.run_id, b.run_id), ("persona / model", f"{a.persona} / {a.model}",
                                            f"{b.persona} / {b.model}"),
            ("conversations", str(a.conversations), str(b.conversations)),
            ("pass every filter", f"{a.passing} ({a.pass_rate:.0%})", f"{b.passing} ({b.pass_rate:.0%})")]
    for rule in sorted(set(a.by_rule) | set(b.by_rule), key=lambda r: -(a.by_rule.get(r, 0) + b.by_rule.get(r, 0))):
        rows.append((f"  flagged by {rule}", str(a.by_rule.get(rule, 0)), str(b.by_rule.get(rule, 0))))
    if a.judged or b.judged:
        rows.append(("judge", _judge(a), _judge(b)))
    rows += [("turns (mean)", _num(a.turns_mean, "{:.1f}"), _num(b.turns_mean, "{:.1f}")),
             ("tokens (mean)", _num(a.tokens_mean, "{:,.0f}"), _num(b.tokens_mean, "{:,.0f}")),
             ("cost per passing conversation", _money(a.cost_per_passing), _money(b.cost_per_passing)),
             ("distinct-2 of the persona's turns", f"{a.distinct_2:.3f}", f"{b.distinct_2:.3f}")]
    return rows


def _judge(s: Side) -> str:
    text = f"{s.judge_passed}/{s.judged} pass, mean {_num(s.judge_mean)}"
    return text + (f", {s.judge_failed} failed" if s.judge_failed else "")


def _transcript(turns: list[Turn], persona: str) -> list[str]:
    return [f"**{'user' if t.role == 'user' else persona}:** {' '.join(t.text.split())}" for t in turns]


def to_markdown(c: Comparison, pairs: int | None = None) -> str:
    """The whole comparison as Markdown; ``pairs`` limits the conversations shown side by side."""
    out = [f"# {c.a.run_id} vs {c.b.run_id}", "",
           f"On the {len(c.topics)} topics both runs wrote"
           + (f" ({c.only_a} only in A, {c.only_b} only in B, left out)" if c.only_a or c.only_b else "")
           + ".", "", "| | A | B |", "|---|---|---|"]
    out += [f"| {w} | {x} | {y} |" for w, x, y in table_rows(c)]
    out += ["", "## What differs", ""]
    if c.settings:
        out += [f"- `{k}`: {x!r} → {y!r}" for k, x, y in c.settings]
    if c.persona_diff:
        out += ["", "```diff", *c.persona_diff, "```"]
    if not c.settings and not c.persona_diff:
        out.append("Nothing: the same persona and settings (the runs differ only by chance).")
    shown = c.pairs if pairs is None else c.pairs[:pairs]
    out += ["", f"## Conversations for the same topic ({len(shown)} of {len(c.pairs)})"]
    for p in shown:
        out += ["", f"### {p.topic}", "", "| A | B |", "|---|---|"]
        left, right = _cell(p.a, c.a.persona), _cell(p.b, c.b.persona)
        out.append(f"| {'<br>'.join(left)} | {'<br>'.join(right)} |")
    return "\n".join(out) + "\n"


def _cell(it: Reviewed, persona: str) -> list[str]:
    head = "passes" if it.verdict.ok else "flagged: " + ", ".join(it.verdict.rules)
    if it.judgement is not None:
        head += f"; judge {it.judgement.short()}"
    return [f"*{it.id}: {head}*"] + [ln.replace("|", "\\|") for ln in _transcript(it.turns, persona)]


def to_json(c: Comparison) -> dict[str, Any]:
    def side(s: Side) -> dict[str, Any]:
        return {"run": s.run_id, "persona": s.persona, "model": s.model,
                "conversations": s.conversations, "passing": s.passing,
                "pass_rate": round(s.pass_rate, 4), "flagged_by_rule": s.by_rule,
                "judged": s.judged, "judge_passed": s.judge_passed, "judge_failed": s.judge_failed,
                "judge_mean": s.judge_mean, "turns_mean": round(s.turns_mean, 2),
                "tokens_mean": round(s.tokens_mean, 1), "cost": s.cost,
                "cost_per_passing": s.cost_per_passing, "distinct_2": round(s.distinct_2, 4)}

    return {"a": side(c.a), "b": side(c.b), "shared_topics": len(c.topics), "only_a": c.only_a,
            "only_b": c.only_b, "settings": [{"setting": k, "a": x, "b": y} for k, x, y in c.settings],
            "persona_diff": c.persona_diff,
            "pairs": [{"topic": p.topic, "a": p.a.id, "b": p.b.id, "a_passes": p.a.verdict.ok,
                       "b_passes": p.b.verdict.ok} for p in c.pairs]}
