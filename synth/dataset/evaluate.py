"""Held-out evaluation of an export (`chatsynth eval`): which opening user turns to answer (from
the export's validation part: topics no training example saw) and the report of how each
contestant did: rule adherence with Wilson 95% intervals, judge scores with a 95% interval,
tokens and cost, and the answers side by side per opening.  The answering and scoring is
``synth.curate.eval_answers``.

The export's report.json lists its validation conversations (id, run, topic) in the order of the
validation file's examples; the turns are read from chat.validation.jsonl (or the ShareGPT file),
the persona from the run's stored spec (as it was when the run was written).
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from synth.errors import ChatsynthError
from synth.models import Persona, Turn
from synth.curate.eval_answers import Contestant, Opening, answer_all, mean_ci, rule_names, wilson


@dataclass
class EvalSet:
    folder: Path
    persona: Persona
    system: str | None  # the exported system prompt (None: exported without one)
    file: Path
    conversations: int
    topics: list[str]
    openings: list[Opening]


def _bad(folder: Path, why: str, field: str = "EXPORT_DIR") -> ChatsynthError:
    return ChatsynthError(why, path=folder, field=field)


def load_export(folder: Path, store: Any, ws: Any, turns: int = 1) -> EvalSet:
    """The openings of an export's validation conversations: for each, its first ``turns`` user
    turns, each with the conversation up to it."""
    folder = Path(folder)
    if not folder.is_dir():
        raise _bad(folder, "no such folder" if not folder.exists() else "is not a folder")
    rp = folder / "report.json"
    if not rp.is_file():
        raise _bad(folder, "not an export: no report.json (`chatsynth export RUN` writes one)")
    try:
        report = json.loads(rp.read_text(encoding="utf-8"))
        n_val = int(report["conversations"]["validation"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ChatsynthError(f"not an export's report ({type(exc).__name__}: {exc})",
                             path=rp) from None
    if not n_val:
        raise _bad(folder, "the export has no validation part (export again with "
                   "--validation-fraction above 0 and at least two topics)")
    val = report.get("validation")
    if not isinstance(val, list):
        raise _bad(folder, "the export was written before chatsynth recorded its validation "
                   "conversations: export the run again")
    fmt, path = next(((f, folder / f"{f}.validation.jsonl") for f in ("chat", "sharegpt")
                      if (folder / f"{f}.validation.jsonl").is_file()), (None, None))
    if fmt is None or path is None:
        raise _bad(folder, "no chat.validation.jsonl or sharegpt.validation.jsonl (export with "
                   "--format chat)")
    refused = {r.get("conversation_id") for r in report.get("refused") or []
               if r.get("format") == fmt and r.get("split") == "validation"}
    items = [v for v in val if v.get("id") not in refused]
    convs = _read_examples(path, fmt)
    if len(convs) != len(items):
        raise ChatsynthError(f"has {len(convs)} examples where report.json lists {len(items)} "
                             "validation conversations: the files were changed after the export",
                             path=path)
    persona = _persona(store, ws, report, items)
    system = next((c[0] for c in convs if c[0]), None)
    openings: list[Opening] = []
    for it, (_, ts) in zip(items, convs):
        users = [i for i, t in enumerate(ts) if t.role == "user"][:turns]
        for n, i in enumerate(users, 1):
            openings.append(Opening(len(openings), it["id"], it.get("topic") or "", n, ts[:i + 1]))
    topics = list(dict.fromkeys(it.get("topic") or "" for it in items))
    return EvalSet(folder, persona, system, path, len(items), topics, openings)


def _read_examples(path: Path, fmt: str) -> list[tuple[str | None, list[Turn]]]:
    out = []
    roles = {"user": "user", "human": "user", "assistant": "assistant", "gpt": "assistant"}
    for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        key, r, c = ("messages", "role", "content") if fmt == "chat" else ("conversations", "from", "value")
        try:
            msgs = json.loads(line)[key]
            system = next((str(m[c]) for m in msgs if m[r] == "system"), None)
            ts = [Turn(roles[m[r]], str(m[c])) for m in msgs if m[r] != "system"]  # type: ignore[arg-type]
        except (ValueError, KeyError, TypeError) as exc:
            raise ChatsynthError(f"not a {fmt} example ({type(exc).__name__}: {exc})", path=path,
                                 line=no, field=key) from None
        out.append((system, ts))
    return out


def _persona(store: Any, ws: Any, report: dict[str, Any], items: list[dict[str, Any]]) -> Persona:
    if len(report.get("personas") or []) > 1:
        raise ChatsynthError("an export of several personas: evaluate an export of one persona",
                             field="EXPORT_DIR")
    run_id = next((it.get("run_id") for it in items if it.get("run_id")), None)
    try:
        return store.get_spec(run_id).persona
    except (ChatsynthError, OSError, TypeError):
        from synth.library.personas import find_persona

        pid = (report.get("persona") or {}).get("id")
        if not pid:
            raise ChatsynthError(f"run {run_id} is not in this workspace and the report names no "
                                 "persona", field="EXPORT_DIR") from None
        return find_persona(ws, pid)


# -- answering from a worker thread (the app's Eval screen) ----------------------------------------

class Cancelled(Exception):
    """The evaluation was cancelled before every answer came in (nothing is written)."""


def answer_blocking(players: Sequence[Any], persona: Persona, es: EvalSet, *, concurrency: int,
                    max_tokens: int, judge: Any = None, cost_fn: Callable[..., Any] | None = None,
                    on_answer: Callable[[dict[str, Any]], None] | None = None,
                    cancel: threading.Event | None = None) -> list[dict[str, Any]]:
    """Every answer (``answer_all``), blocking: ``on_answer(row)`` after each; ``cancel`` set:
    the requests in flight are dropped and Cancelled is raised.  The players' endpoints (and the
    judge's) are closed at the end."""
    async def go() -> list[dict[str, Any]]:
        task = asyncio.ensure_future(answer_all(
            players, persona, es.system, es.openings, concurrency=concurrency,
            max_tokens=max_tokens, judge=judge, cost_fn=cost_fn, on_answer=on_answer))
        try:
            while not task.done():
                if cancel is not None and cancel.is_set():
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
                    raise Cancelled()
                await asyncio.wait({task}, timeout=0.05)
            return task.result()
        finally:
            for ep in [*(p.ep for p in players if p.ep is not None), *([judge.ep] if judge else [])]:
                await ep.aclose()

    return asyncio.run(go())


def write_report(rep: dict[str, Any], out: Path) -> Path:
    """eval.json and eval.md into ``out`` (private); returns eval.md's path."""
    from synth.library.yamlio import atomic_write_text
    from synth.private_files import private_dir

    private_dir(out)
    atomic_write_text(out / "eval.json", json.dumps(rep, indent=1, ensure_ascii=False) + "\n", mode=0o600)
    atomic_write_text(out / "eval.md", to_markdown(rep), mode=0o600)
    return out / "eval.md"


# -- the report ---------------------------------------------------------------------------------

def summarise(es: EvalSet, contestants: Sequence[Contestant], rows: Sequence[dict[str, Any]],
              players: Sequence[Any] = ()) -> dict[str, Any]:
    rules = rule_names(es.persona)
    down = {p.c.key: p.down for p in players}
    out = []
    for c in contestants:
        mine = [r for r in rows if r["contestant"] == c.key]
        ok = [r for r in mine if r["failed"] is None]
        n = len(ok)
        fired = [{x["rule"] for x in r["reasons"]} for r in ok]
        stats = {}
        for rule in rules + ["all"]:
            k = sum(1 for f in fired if not f) if rule == "all" else sum(1 for f in fired if rule not in f)
            ci = wilson(k, n)
            stats[rule] = {"pass": k, "of": n, "share": k / n if n else None,
                           "ci": list(ci) if ci else None}
        scores = [r["judge"]["score"] for r in ok if r["judge"] and r["judge"]["score"] is not None]
        judged = [r for r in ok if r["judge"]]
        m = mean_ci(scores)
        costs = [r["cost_usd"] for r in ok]
        out.append({**{k: getattr(c, k) for k in ("key", "spec", "endpoint", "model", "mode")},
                    "answers": len(mine), "answered": n, "failed": len(mine) - n,
                    "error": down.get(c.key), "rules": stats,
                    "judge": None if not judged else {
                        "judged": len(judged), "scored": len(scores),
                        "mean": m[0] if m else None, "ci": [m[1], m[2]] if m else None,
                        "passed": sum(1 for r in judged if r["judge"]["passed"])},
                    "prompt_tokens": sum(r["prompt_tokens"] for r in ok),
                    "completion_tokens": sum(r["completion_tokens"] for r in ok),
                    "cost_usd": (round(sum(costs), 6) if costs and None not in costs else None)})
    return {"export": str(es.folder), "validation_file": es.file.name,
            "persona": {"id": es.persona.id, "name": es.persona.name,
                        "persona_label": es.persona.persona_label,
                        "user_label": es.persona.user_label},
            "system_prompt": es.system, "conversations": es.conversations, "topics": es.topics,
            "rules": rules, "contestants": out,
            "openings": [{"index": o.index, "conversation_id": o.conversation_id, "topic": o.topic,
                          "user_turn": o.user_turn, "turns": [t.to_dict() for t in o.turns]}
                         for o in es.openings],
            "answers": sorted(rows, key=lambda r: (r["opening"], r["contestant"]))}


def _pct(s: dict[str, Any]) -> str:
    if s["share"] is None:
        return "-"
    lo, hi = s["ci"]
    return f"{s['share']:.0%} ({lo:.0%}-{hi:.0%}) {s['pass']}/{s['of']}"


def table_rows(rep: dict[str, Any]) -> list[list[str]]:
    """[what, A, B, ...]: the rules, the judge, tokens and cost (the printed and Markdown table)."""
    cs = rep["contestants"]
    rows = [["", *[f"{c['key'].upper()}: {c['spec']}" for c in cs]]]
    rows += [[f"rule {r}" if r != "all" else "every rule", *[_pct(c["rules"][r]) for c in cs]]
             for r in [*rep["rules"], "all"]]
    if any(c["judge"] for c in cs):
        rows.append(["judge score", *[
            "-" if not c["judge"] or c["judge"]["mean"] is None else
            f"{c['judge']['mean']:.2f} ({c['judge']['ci'][0]:.2f}-{c['judge']['ci'][1]:.2f}) "
            f"n={c['judge']['scored']}" for c in cs]])
    rows.append(["answers (failed)", *[f"{c['answered']} ({c['failed']})" for c in cs]])
    rows.append(["tokens (prompt + completion)",
                 *[f"{c['prompt_tokens']:,} + {c['completion_tokens']:,}" for c in cs]])
    rows.append(["cost", *["?" if c["cost_usd"] is None else f"${c['cost_usd']:.4f}" for c in cs]])
    return rows


def to_markdown(rep: dict[str, Any]) -> str:
    by = {(a["opening"], a["contestant"]): a for a in rep["answers"]}
    out = [f"# Held-out evaluation: {rep['persona']['name']}", "",
           f"{len(rep['openings'])} openings from {rep['conversations']} validation conversations "
           f"on {len(rep['topics'])} topics no training example saw ({rep['export']}, "
           f"{rep['validation_file']}). Shares are of the answers given; 95% Wilson intervals; "
           "the judge's score is the lowest criterion score, its mean with a 95% interval.", ""]
    rows = table_rows(rep)
    out += ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    for c in rep["contestants"]:
        if c["error"]:
            out += ["", f"**{c['key'].upper()} failed:** {c['error']}"]
    out += ["", "## Answers side by side", ""]
    for o in rep["openings"]:
        out += [f"### {o['index'] + 1}. {o['topic']} (user turn {o['user_turn']})", ""]
        labels = {"user": rep["persona"]["user_label"], "assistant": rep["persona"]["persona_label"]}
        out += [f"> **{labels[t['role']]}:** " + " ".join(t["text"].split()) for t in o["turns"]]
        out.append("")
        for c in rep["contestants"]:
            a = by.get((o["index"], c["key"]))
            if a is None:
                continue
            if a["failed"]:
                verdict = f"failed: {a['failed']}"
            else:
                verdict = "passes" if a["ok"] else "; ".join(r["message"] for r in a["reasons"])
                if a["judge"]:
                    j = a["judge"]
                    verdict += f"; judge {j['score'] if j['score'] is not None else 'failed'}"
            out += [f"**{c['key'].upper()}** ({c['spec']}): {verdict}", "",
                    "    " + (a["text"].replace("\n", "\n    ") or "(nothing)"), ""]
    return "\n".join(out) + "\n"
