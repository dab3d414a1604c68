"""The dataset report written beside every export, as Markdown (to read) and JSON (to diff).

Counts by verdict and by rule, turns per conversation, tokens, the near-duplicate rate, the
share of conversations that open with the same first line, distinct-2 of persona turns, the
files with their validation results, and the estimated fine-tune (billed tokens, epochs, cost).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

from synth.dataset.report_tally import _WORDS, Distinct2, Tally, first_line, turn_tokens_of
from synth.dataset.validate import Distribution


def distinct_n(texts: Sequence[str], n: int = 2) -> float:
    """Distinct-n: distinct word n-grams / all word n-grams over ``texts`` (0 when none)."""
    if n == 2:
        d = Distinct2()
        for t in texts:
            d.add(t)
        return d.value()
    seen: set[tuple[str, ...]] = set()
    total = 0
    for t in texts:
        w = _WORDS.findall(t.lower())
        grams = list(zip(*(w[i:] for i in range(n))))
        total += len(grams)
        seen.update(grams)
    return len(seen) / total if total else 0.0


def first_line_share(openings: Sequence[str]) -> tuple[float, list[tuple[str, int]]]:
    """The share of conversations whose first line is also another one's first line (the most
    common such line), and up to three lines that open more than one conversation.  0.0 when
    every conversation opens differently.  ``openings``: each conversation's first turn."""
    t = Tally()
    t.openings.update(first_line(x) for x in openings)
    t.n_openings = len(openings)
    return t.first_line_share()


def _dist(values: Sequence[float]) -> dict[str, float] | None:
    d = Distribution.of(values)
    return asdict(d) if d else None


def tally_sources(sources: Sequence[Any], result: Any, opts: Any) -> Tally:
    """The report's counts of loaded runs (``synth.dataset.export.Source``): what a streaming
    export counts as it goes."""
    t = Tally()
    for s in sources:
        t.add_states(s.rs.counts(), s.rs.reason_counts())
        for it in s.rs.items:
            t.add_stored(it.conv)
        t.pairs += s.rs.pairs
    chosen = result.selection.chosen
    for it, n in zip(chosen, turn_tokens_of(chosen, result.turn_tokens, opts.model)):
        t.add_chosen(it.conv.run_id, it.turns, it.edited, n)
    return t


def build_report(sources: Sequence[Any], result: Any, opts: Any, *, dataset: str | None = None,
                 finetune_prices: dict[str, float] | None = None,
                 tally: Tally | None = None) -> dict[str, Any]:
    """The report of an export of one run or of a dataset's runs: ``sources`` (each with
    ``info``, ``persona`` and ``run_id``), their counts in ``tally`` (else counted from each
    source's loaded review set)."""
    from synth.pricing import finetune_estimate

    t = tally if tally is not None else tally_sources(sources, result, opts)
    chosen = result.selection.chosen
    tokens = t.tokens
    n = t.stored
    by_state, by_rule = t.by_state, t.by_rule
    pairs = t.pairs
    dup_flagged = by_rule.get("near_duplicate", 0)
    share, top = t.first_line_share()
    files = {}
    for key, rep in result.reports.items():
        files[key] = {"path": str(result.files[key]), "examples": result.examples[key],
                      "errors": len(rep.errors), "warnings": len(rep.warnings),
                      "warning_counts": {k: v for k, v in rep.counts().items()},
                      "tokens": sum(rep.example_tokens),
                      "distributions": {k: asdict(v) for k, v in rep.distributions.items()}}
    train_key = next((f"{f}.train" for f in ("chat", "sharegpt", "completion") if f"{f}.train" in result.reports), None)
    ft = None
    if train_key:
        ft = finetune_estimate(result.reports[train_key].example_tokens, opts.model, finetune_prices).to_dict()
        ft["file"] = train_key
    usage_p, usage_c, counted = t.usage()
    train, val = set(result.train_ids), set(result.validation_ids)
    train_by, val_by = Counter(), Counter()
    for it in chosen:
        if it.id in train:
            train_by[it.conv.run_id] += 1
        elif it.id in val:
            val_by[it.conv.run_id] += 1
    runs, personas = [], {}
    for s in sources:
        rid = s.info.get("run_id") or _run_id(s)
        row = {**{k: v for k, v in s.info.items() if k != "store_problems"},
               "stored": t.stored_by_run[rid], "exported": t.exported_by_run[rid],
               "train": train_by[rid], "validation": val_by[rid]}
        runs.append(row)
        p = personas.setdefault(s.persona.id, {"id": s.persona.id, "name": s.persona.name,
                                               "persona_label": s.persona.persona_label,
                                               "user_label": s.persona.user_label, "runs": 0,
                                               "exported": 0, "train": 0, "validation": 0})
        p["runs"] += 1
        for k in ("exported", "train", "validation"):
            p[k] += row[k]
    cross = result.selection.cross_run_pairs
    first = sources[0]
    return {
        "dataset": dataset,
        "run": first.info if len(sources) == 1 else {"run_id": None, "runs": len(sources)},
        "runs": runs,
        "persona": {"id": first.persona.id, "name": first.persona.name,
                    "persona_label": first.persona.persona_label,
                    "user_label": first.persona.user_label},
        "personas": list(personas.values()),
        "selection": result.selection.statement,
        "conversations": {
            "stored": n,
            "by_state": dict(by_state),
            "flagged_by_rule": dict(by_rule.most_common()),
            "exported": len(chosen),
            "train": len(result.train_ids),
            "validation": len(result.validation_ids),
            "edited": t.edited,
        },
        "split": {"by": opts.split_by, "validation_fraction": opts.validation_fraction,
                  "seed": opts.seed, "validation_topics": result.validation_topics},
        # in the order of the validation files' examples (`chatsynth eval` reads them)
        "validation": [{"id": it.id, "run_id": it.conv.run_id, "topic": it.conv.topic}
                       for it in chosen if it.id in val],
        "turns_per_conversation": _dist(t.turns),
        "tokens_per_conversation": _dist(tokens),
        "generation_usage": {"prompt_tokens": usage_p, "completion_tokens": usage_c,
                             "counted_here": counted,
                             "cost_usd": round(t.cost, 6) if t.cost_known else None,
                             "cost_known_for": t.cost_known},
        "near_duplicates": {"pairs": len(pairs), "flagged": dup_flagged,
                            "rate": dup_flagged / n if n else 0.0,
                            "examples": [p.to_dict() for p in pairs[:10]],
                            "across_runs_left_out": len(cross),
                            "across_runs": [{"kept": a, "left_out": b, "similarity": round(sim, 3)}
                                            for a, b, sim in cross[:50]]},
        "same_first_line": {"share": share, "most_common": [{"line": t, "count": c} for t, c in top]},
        "distinct_2_persona": t.distinct2.value(),
        "completion_format": {"separator": result.separator, "stop_token": result.stop_token},
        "files": files,
        "refused": [asdict(r) for r in result.refused],
        "not_written": {key: [f.format(f"{key}.jsonl") for f in rep.errors]
                        for key, rep in result.withheld.items()},
        "finetune": ft,
        "notes": result.notes,
        "store_problems": [p for s in sources for p in s.info.get("store_problems") or []],
        "export_seconds": round(result.seconds, 3),
    }


def _run_id(source: Any) -> str:
    rs = getattr(source, "rs", None)
    return rs.run_id if rs is not None else source.run_id


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def render_markdown(r: dict[str, Any]) -> str:
    c = r["conversations"]
    if r.get("dataset"):
        out = [f"# Dataset report: dataset {r['dataset']}", ""]
        out += [f"{len(r['runs'])} runs of {len(r['personas'])} persona(s). Exported {r['selection']}.", ""]
        out += ["## Runs", "", "| run | persona | topics | model | stored | exported | train | validation |",
                "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        out += [f"| {x.get('run_id')} | {x.get('persona')} | {x.get('topics')} | {x.get('model') or '?'} | "
                f"{x['stored']} | {x['exported']} | {x['train']} | {x['validation']} |" for x in r["runs"]]
        out += ["", "## Personas", "", "| persona | labels | runs | exported | train | validation |",
                "| --- | --- | --- | --- | --- | --- |"]
        out += [f"| {p['name']} ({p['id']}) | {p['persona_label']} / {p['user_label']} | {p['runs']} | "
                f"{p['exported']} | {p['train']} | {p['validation']} |" for p in r["personas"]]
        out.append("")
    else:
        out = [f"# Dataset report: run {r['run'].get('run_id', '?')}", ""]
        out += [f"Persona **{r['persona']['name']}** ({r['persona']['id']}), written by "
                f"{r['run'].get('model') or '?'} on {r['run'].get('endpoint') or '?'}.", "",
                f"Exported {r['selection']}.", ""]
    out += ["## Conversations", "", "| state | count |", "| --- | --- |"]
    out += [f"| {k} | {v} |" for k, v in c["by_state"].items()]
    out += ["", f"Train: {c['train']}, validation: {c['validation']} "
            f"(split by {r['split']['by']}, seed {r['split']['seed']}); edited by you: {c['edited']}.", ""]
    if r["split"]["validation_topics"]:
        out += ["Validation topics (never in train): " + "; ".join(r["split"]["validation_topics"][:20])
                + (" ..." if len(r["split"]["validation_topics"]) > 20 else ""), ""]
    if c["flagged_by_rule"]:
        out += ["### Flagged, by rule", "", "| rule | conversations |", "| --- | --- |"]
        out += [f"| {k} | {v} |" for k, v in c["flagged_by_rule"].items()]
        out.append("")
    out += ["## Shape", ""]
    t = r["turns_per_conversation"]
    if t:
        out.append(f"- turns per conversation: min {t['min']:.0f}, median {t['median']:g}, max {t['max']:.0f}")
    t = r.get("tokens_per_conversation")
    if t:
        out.append(f"- tokens per conversation (its turns after trims and edits, as exported): "
                   f"min {t['min']:,.0f}, median {t['median']:,g}, max {t['max']:,.0f}")
    nd = r["near_duplicates"]
    out += [f"- near-duplicates: {nd['pairs']} pairs, {nd['flagged']} conversations flagged ({_pct(nd['rate'])})"
            + (f"; across runs: {nd['across_runs_left_out']} left out (a near-copy of one kept from "
               "another run)" if r.get("dataset") else ""),
            (f"- same first line: {_pct(r['same_first_line']['share'])} of exported conversations open with "
             f"\"{r['same_first_line']['most_common'][0]['line'][:80]}\"" if r["same_first_line"]["most_common"]
             else "- same first line: none (no two exported conversations open with the same line)"),
            f"- distinct-2 of persona turns: {r['distinct_2_persona']:.3f} (1.0: no word pair repeats)",
            ""]
    g = r["generation_usage"]
    out += ["## Tokens and cost", "",
            f"- writing the run: {g['prompt_tokens']:,} prompt + {g['completion_tokens']:,} completion tokens"
            + (f", ${g['cost_usd']:.4f}" if g["cost_usd"] is not None else ", no price known")
            + (f" (server-reported, except {g['counted_here']} counted with tiktoken)" if g["counted_here"]
               else " (server-reported)")]
    ft = r["finetune"]
    if ft:
        cost = f"${ft['cost']:.2f} at ${ft['price_per_m']:g}/M ({ft['price_key']})" if ft["cost"] is not None \
            else "no training price for this model in chatsynth.yaml finetune_prices"
        out += [f"- fine-tuning {ft['model']} on {ft['file']}: {ft['tokens_per_epoch']:,} billed tokens per epoch "
                f"x {ft['epochs']} epochs (the trainer's default for {ft['examples']} examples) = "
                f"{ft['billed_tokens']:,} tokens; {cost}"]
        out += [f"- note: {n}" for n in ft["notes"]]
    out += ["", "## Files", "", "| file | examples | tokens | errors | warnings |", "| --- | --- | --- | --- | --- |"]
    out += [f"| {Path(f['path']).name} | {f['examples']:,} | {f['tokens']:,} | {f['errors']} | {f['warnings']} |"
            for f in r["files"].values()]
    cf = r["completion_format"]
    if any(k.startswith("completion.") for k in r["files"]):
        out += ["", f"Completion format: prompts end with {json.dumps(cf['separator'])}; completions end with "
                f"{json.dumps(cf['stop_token'])}. Call the fine-tuned model with stop={json.dumps([cf['stop_token']])}."]
    if r.get("not_written"):
        out += ["", "## Files not written (they have errors; `--allow-invalid` writes them)", ""]
        out += [f"- {line}" for lines in r["not_written"].values() for line in lines[:20]]
    if r["refused"]:
        out += ["", "## Refused examples (not written)", ""]
        out += [f"- {x['conversation_id']} ({x['format']}.{x['split']}"
                + (f", turn {x['turn_index'] + 1}" if x["turn_index"] is not None else "") + "): "
                + "; ".join(x["reasons"]) for x in r["refused"][:50]]
    if r["notes"] or r.get("store_problems"):
        out += ["", "## Notes", ""] + [f"- {n}" for n in r["notes"] + list(r.get("store_problems") or [])]
    return "\n".join(out) + "\n"


def write_report(report: dict[str, Any], out_dir: Path) -> list[Path]:
    from synth.library.yamlio import atomic_write_text

    md = Path(out_dir) / "report.md"
    js = Path(out_dir) / "report.json"
    atomic_write_text(js, json.dumps(report, indent=1, ensure_ascii=False) + "\n", mode=0o600)
    atomic_write_text(md, render_markdown(report), mode=0o600)  # owner-only, like the data
    return [md, js]
