"""Fine-tune exports: chat, ShareGPT and prompt/completion JSONL, a train/validation split, each
file validated before it is written, and a dataset report beside them.

- chat: ``{"messages": [{"role": "system"|"user"|"assistant", "content": ...}]}`` (OpenAI,
  Together, Fireworks, TRL, Axolotl, Unsloth);
- sharegpt: ``{"conversations": [{"from": "system"|"human"|"gpt", "value": ...}]}``
  (LLaMA-Factory, Axolotl);
- completion: one example per persona turn, ``{"prompt": transcript so far + separator,
  "completion": " " + the persona's turn + stop token}``; the separator defaults to
  ``"\\n\\n" + persona label + ":"`` and the stop token to ``"\\n\\n" + user label + ":"`` - the
  stop sequence to give the fine-tuned model so that it answers one turn only.

The split is by topic by default (validation topics never appear in train), or by conversation.
Examples that fail validation are not written: the result lists which and why.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

from synth.errors import ChatsynthError
from synth.models import Persona, Turn
from synth.curate.review import Policy, Reviewed, ReviewSet, Selection
from synth.private_files import DIR_MODE, private_dir
from synth.wording import plural

FORMATS = ("chat", "sharegpt", "completion")
SplitBy = Literal["topic", "conversation"]


class ExportError(ChatsynthError):
    """An export that can't be written as asked."""


@dataclass
class ExportOptions:
    formats: Sequence[str] = ("chat",)
    split_by: SplitBy = "topic"
    validation_fraction: float = 0.2
    seed: int = 0
    policy: Policy = "default"
    include_partial: bool = False
    separator: str | None = None  # completion format; default "\n\n<PERSONA_LABEL>:"
    stop_token: str | None = None  # completion format; default "\n\n<USER_LABEL>:"
    system_prompt: bool = True  # put the persona's system prompt in chat / ShareGPT examples
    model: str = "gpt-4o-mini"  # the model to fine-tune: token limit, counting, training cost
    allow_invalid: bool = False  # write a part even when its file has errors (else it is withheld)

    def check(self) -> None:
        bad = [f for f in self.formats if f not in FORMATS]
        if bad or not self.formats:
            raise ExportError(f"unknown format {bad[0] if bad else ''!r} (choose from {', '.join(FORMATS)}, all)",
                              field="--format")
        if not 0 <= self.validation_fraction < 1:
            raise ExportError(f"must be at least 0 and below 1, not {self.validation_fraction}",
                              field="--validation-fraction")
        if self.split_by not in ("topic", "conversation"):
            raise ExportError("must be 'topic' or 'conversation'", field="--split-by")
        if self.stop_token is not None and not self.stop_token.strip():
            raise ExportError("must not be empty or only whitespace", field="--stop-token")


@dataclass
class Refused:
    conversation_id: str
    format: str
    split: str
    turn_index: int | None  # completion format: the persona turn of the refused example
    reasons: list[str]


@dataclass
class ExportResult:
    out_dir: Path
    files: dict[str, Path]  # "chat.train" -> path
    examples: dict[str, int]  # "chat.train" -> examples written
    refused: list[Refused]
    selection: Selection
    train_ids: list[str]
    validation_ids: list[str]
    validation_topics: list[str]
    notes: list[str] = field(default_factory=list)
    reports: dict[str, Any] = field(default_factory=dict)  # "chat.train" -> ValidationReport
    withheld: dict[str, Any] = field(default_factory=dict)  # parts not written: their reports
    report_paths: list[Path] = field(default_factory=list)
    separator: str = ""
    stop_token: str = ""
    seconds: float = 0.0
    # tokens of each exported conversation's turns, from the count that validated its example
    turn_tokens: dict[str, int] = field(default_factory=dict)

    @property
    def written_errors(self) -> int:
        """Errors in the files that were written (only with ``allow_invalid``)."""
        return sum(len(r.errors) for r in self.reports.values())

    @property
    def ok(self) -> bool:
        """Every example written, every part written, no file with an error."""
        return not (self.refused or self.withheld or self.written_errors)

    def error_lines(self) -> list[str]:
        """Every error of every part, written or withheld, as ``file:line: error: ...``."""
        return [f.format(f"{key}.jsonl") for key, rep in [*self.withheld.items(), *self.reports.items()]
                for f in rep.errors]


# -- formats -------------------------------------------------------------------------------------

def _clean(turns: Sequence[Turn]) -> list[Turn]:
    return [Turn(t.role, t.text.strip(), t.label) for t in turns]


def chat_example(turns: Sequence[Turn], system: str | None) -> dict[str, Any]:
    msgs = [{"role": "system", "content": system}] if system else []
    msgs += [{"role": t.role, "content": t.text} for t in turns]
    return {"messages": msgs}


def sharegpt_example(turns: Sequence[Turn], system: str | None) -> dict[str, Any]:
    conv = [{"from": "system", "value": system}] if system else []
    conv += [{"from": "human" if t.role == "user" else "gpt", "value": t.text} for t in turns]
    return {"conversations": conv}


def completion_examples(turns: Sequence[Turn], persona: Persona, separator: str,
                        stop_token: str) -> list[tuple[int, dict[str, str]]]:
    """(turn index, example) for each persona turn: the transcript so far ends with the
    separator; the completion is the persona's turn ending with the stop token."""
    out = []
    parts: list[str] = []
    for i, t in enumerate(turns):
        if t.role == "assistant":
            prompt = "\n\n".join(parts) + separator if parts else separator.lstrip()
            out.append((i, {"prompt": prompt, "completion": " " + t.text + stop_token}))
        label = persona.persona_label if t.role == "assistant" else persona.user_label
        parts.append(f"{label}: {t.text}")
    return out


# -- split ---------------------------------------------------------------------------------------

def split(items: Sequence[Reviewed], by: SplitBy, fraction: float, seed: int
          ) -> tuple[list[Reviewed], list[Reviewed], list[str], list[str]]:
    """(train, validation, validation topics, notes).  Deterministic for a seed."""
    notes: list[str] = []
    if fraction <= 0 or not items:
        return list(items), [], [], notes
    rng = random.Random(seed)
    if by == "conversation":
        ids = sorted(it.id for it in items)
        rng.shuffle(ids)
        n_val = min(len(ids) - 1, max(1, round(fraction * len(ids)))) if len(ids) > 1 else 0
        val = set(ids[:n_val])
        return ([it for it in items if it.id not in val], [it for it in items if it.id in val], [], notes)
    topics = sorted({it.conv.topic_id for it in items})
    if len(topics) < 2:
        notes.append("only one topic: nothing can be held out by topic, so there is no validation "
                     "file (use --split-by conversation)")
        return list(items), [], [], notes
    rng.shuffle(topics)
    n_val = min(len(topics) - 1, max(1, round(fraction * len(topics))))
    val_topics = set(topics[:n_val])
    names = sorted({it.conv.topic for it in items if it.conv.topic_id in val_topics})
    return ([it for it in items if it.conv.topic_id not in val_topics],
            [it for it in items if it.conv.topic_id in val_topics], names, notes)


# -- writing -------------------------------------------------------------------------------------

def default_separator(persona: Persona) -> str:
    return f"\n\n{persona.persona_label}:"


def default_stop(persona: Persona) -> str:
    return f"\n\n{persona.user_label}:"


@dataclass
class Source:
    """One run's part of an export: its review set, its persona and what the report says of it."""

    rs: ReviewSet
    persona: Persona
    info: dict[str, Any] = field(default_factory=dict)


def export_reviewed(rs: ReviewSet, persona: Persona, out_dir: Path, opts: ExportOptions, *,
                    run_info: dict[str, Any] | None = None,
                    finetune_prices: dict[str, float] | None = None,
                    progress: Callable[[str], None] | None = None) -> ExportResult:
    """Export a loaded review set: select, split, build, validate, write, report."""
    return export_sources([Source(rs, persona, run_info or {})], out_dir, opts,
                          finetune_prices=finetune_prices, progress=progress)


def export_sources(sources: Sequence[Source], out_dir: Path, opts: ExportOptions, *,
                   dataset: str | None = None, finetune_prices: dict[str, float] | None = None,
                   progress: Callable[[str], None] | None = None) -> ExportResult:
    """Export one run or several (a dataset) as one set: select in each, drop near-duplicates
    across runs, split by topic over all of them, build, validate, write, report."""
    from synth.dataset.report import build_report, write_report
    from synth.tokens import counter_for
    from synth.dataset.export_parts import write_part

    t0 = time.perf_counter()
    opts.check()
    say = progress or (lambda _msg: None)
    sel = select_sources(sources, opts)
    if not sel.chosen:
        what = f"dataset {dataset}" if dataset else "RUN"
        raise ExportError(f"nothing to export: {sel.statement}. Accept conversations with "
                          f"`chatsynth review RUN --accept ID` or look at `chatsynth filter RUN`"
                          + (f" for the runs of {what}" if dataset else ""), field="run")
    persona_by_run = {s.rs.run_id: s.persona for s in sources}

    def persona_of(it: Reviewed) -> Persona:
        return persona_by_run[it.conv.run_id]

    train, val, val_topics, notes = split(sel.chosen, opts.split_by, opts.validation_fraction, opts.seed)
    used = list({id(p): p for p in (persona_of(it) for it in sel.chosen)}.values())
    labels = {(p.persona_label, p.user_label) for p in used}
    sep, stop = opts.separator, opts.stop_token
    if len(labels) > 1 and "completion" in opts.formats and (sep is None or stop is None):
        notes.append("the runs' personas use different speaker labels: each completion example "
                     "uses its own persona's separator and stop token (give --separator and "
                     "--stop-token for one of each)")
    shown_sep = sep if sep is not None else default_separator(used[0])
    shown_stop = stop if stop is not None else default_stop(used[0])
    counter = counter_for(opts.model)
    out_dir = Path(out_dir)
    out_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)  # a folder it makes is owner-only
    result = ExportResult(out_dir=out_dir, files={}, examples={}, refused=[], selection=sel,
                          train_ids=[it.id for it in train], validation_ids=[it.id for it in val],
                          validation_topics=val_topics, notes=notes, separator=shown_sep,
                          stop_token=shown_stop)
    for fmt in opts.formats:
        for part, items in (("train", train), ("validation", val)):
            if not items:
                continue
            key = f"{fmt}.{part}"
            path = out_dir / f"{key}.jsonl"
            say(f"building, validating and writing {key} ({plural(len(items), 'conversation')})")
            done = write_part(path, fmt, part, items, persona_of, opts, sep, stop, counter)
            result.refused += done.refused
            result.turn_tokens.update(done.turn_tokens)
            rep = done.report
            if rep is None:  # every example refused: no empty file for a trainer to reject
                result.notes.append(f"{key}: every example was refused, so no {key}.jsonl "
                                    "was written")
                continue
            if not done.written:  # a file a trainer would reject: not written
                result.withheld[key] = rep  # the report lists its errors
                continue
            result.files[key] = path
            result.examples[key] = done.examples
            result.reports[key] = rep
            result.notes += [n for n in rep.notes if n not in result.notes]  # e.g. a stated encoding
    result.seconds = time.perf_counter() - t0
    report = build_report(sources, result, opts, dataset=dataset, finetune_prices=finetune_prices)
    result.report_paths = write_report(report, out_dir)
    return result


def select_sources(sources: Sequence[Source], opts: ExportOptions) -> Selection:
    """Each run's own selection, then (over several runs) the later of two near-duplicate
    conversations from different runs left out: the same check as within a run, at the
    threshold of the later conversation's persona."""
    if len(sources) == 1:
        return sources[0].rs.select(opts.policy, opts.include_partial)
    from synth.curate.filters import conversation_text, near_duplicate_texts

    chosen: list[Reviewed] = []
    excluded: dict[str, int] = {}
    threshold: list[float] = []
    for s in sources:
        sel = s.rs.select(opts.policy, opts.include_partial)
        chosen += sel.chosen
        threshold += [s.persona.rules.near_duplicates] * len(sel.chosen)
        for why, n in sel.excluded.items():
            excluded[why] = excluded.get(why, 0) + n
    low = min((t for t in threshold if t > 0), default=0.0)
    drop: set[int] = set()
    pairs = []
    texts = [conversation_text(it.turns) for it in chosen]
    for i, j, sim in near_duplicate_texts(texts, low):
        if (chosen[i].conv.run_id != chosen[j].conv.run_id and threshold[j] > 0
                and sim >= threshold[j] and i not in drop):
            drop.add(j)
            pairs.append((chosen[i].id, chosen[j].id, sim))
    if drop:
        excluded["near-duplicates of a conversation in another run"] = len(drop)
    kept = [it for k, it in enumerate(chosen) if k not in drop]
    n_acc = sum(1 for it in kept if it.decision == "accepted")
    statement = (f"{len(kept)} conversations from {len(sources)} runs: {n_acc} you accepted + "
                 f"{len(kept) - n_acc} that pass every filter and that you did not reject"
                 if opts.policy != "accepted" else
                 f"{len(kept)} conversations you accepted, from {len(sources)} runs")
    if excluded:
        statement += "; left out: " + ", ".join(f"{n} {why}" for why, n in excluded.items())
    return Selection(kept, excluded, statement, cross_run_pairs=pairs)


def export_run(store: Any, run_ref: str, out_dir: Path | None, opts: ExportOptions, *,
               exports_dir: Path | None = None, finetune_prices: dict[str, float] | None = None,
               progress: Callable[[str], None] | None = None) -> ExportResult:
    """Export a stored run (``run_ref``: an id, a unique prefix or ``latest``), one
    conversation at a time (``synth.dataset.export_stream``)."""
    from synth.dataset.export_stream import export_run_streaming

    run_id = store.resolve_run(run_ref)
    opts.check()
    store.get_spec(run_id)  # a run without a readable spec fails before a folder is made
    if out_dir is None:
        out_dir = _new_folder(exports_dir or (Path(store.runs_dir).parent / "exports"),
                              f"{run_id}-{time.strftime('%Y%m%d-%H%M%S')}")
    return export_run_streaming(store, run_id, Path(out_dir), opts,
                                finetune_prices=finetune_prices, progress=progress)


def export_dataset(store: Any, name: str, out_dir: Path | None, opts: ExportOptions, *,
                   exports_dir: Path | None = None, finetune_prices: dict[str, float] | None = None,
                   progress: Callable[[str], None] | None = None) -> ExportResult:
    """Export a named dataset (``synth.dataset.datasets``): its runs as one set."""
    from synth.dataset.datasets import Datasets

    ds = Datasets(store).get(name)
    if not ds.runs:
        raise ExportError(f"dataset {name!r} has no runs; add some with "
                          f"`chatsynth dataset add {name} RUN`", field="dataset")
    if ds.only_accepted:
        opts.policy = "accepted"
    sources = [load_source(store, run_id, progress) for run_id in ds.runs]
    if out_dir is None:
        out_dir = _new_folder(exports_dir or (Path(store.runs_dir).parent / "exports"),
                              f"{name}-{time.strftime('%Y%m%d-%H%M%S')}")
    return export_sources(sources, Path(out_dir), opts, dataset=name,
                          finetune_prices=finetune_prices, progress=progress)


def load_source(store: Any, run_id: str, progress: Callable[[str], None] | None = None) -> Source:
    from synth.curate.review import Review

    spec = store.get_spec(run_id)
    (progress or (lambda _m: None))(f"loading run {run_id} and checking every conversation")
    rs = Review(store, run_id, spec.persona).load()
    info = {"run_id": run_id, "persona": spec.persona.id, "topics": spec.topics.id,
            "endpoint": spec.endpoint, "model": spec.model, "per_topic": spec.per_topic,
            "store_problems": rs.problems}
    return Source(rs, spec.persona, info)


def _new_folder(base: Path, name: str) -> Path:
    """Create and return ``base/name``, or ``name-2``, ``name-3``, ... when that is taken (two
    exports in the same second): an automatic export never writes into an earlier one."""
    private_dir(base)
    for n in range(1, 10_000):
        path = base / (name if n == 1 else f"{name}-{n}")
        try:
            path.mkdir(mode=DIR_MODE)
            return path
        except FileExistsError:
            continue
    raise ExportError(f"no free folder name for {name} in {base}")
