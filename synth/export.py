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

import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

from synth.errors import ChatsynthError
from synth.models import Persona, Turn
from synth.review import Policy, Reviewed, ReviewSet, Selection
from synth.private_files import DIR_MODE, FILE_MODE, private_dir
from synth.yamlio import atomic_write_text

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

def write_lines_atomic(path: Path, lines: Sequence[str]) -> None:
    """Write JSONL so that a crash leaves the old file or the new one, never half of one."""
    atomic_write_text(path, "\n".join(lines) + "\n" if lines else "", mode=FILE_MODE)


def _build(fmt: str, items: Sequence[Reviewed], persona: Persona, opts: ExportOptions, sep: str,
           stop: str) -> tuple[list[str], list[tuple[str, int | None]]]:
    """Serialized lines and, per line, (conversation id, persona turn index or None)."""
    system = persona.system_prompt.strip() if opts.system_prompt else None
    dumps = json.JSONEncoder(ensure_ascii=False).encode
    lines: list[str] = []
    origin: list[tuple[str, int | None]] = []
    for it in items:
        turns = _clean(it.turns)
        if fmt == "chat":
            lines.append(dumps(chat_example(turns, system)))
            origin.append((it.id, None))
        elif fmt == "sharegpt":
            lines.append(dumps(sharegpt_example(turns, system)))
            origin.append((it.id, None))
        else:
            for i, ex in completion_examples(turns, persona, sep, stop):
                lines.append(dumps(ex))
                origin.append((it.id, i))
    return lines, origin


def export_reviewed(rs: ReviewSet, persona: Persona, out_dir: Path, opts: ExportOptions, *,
                    run_info: dict[str, Any] | None = None,
                    finetune_prices: dict[str, float] | None = None,
                    progress: Callable[[str], None] | None = None) -> ExportResult:
    """Export a loaded review set: select, split, build, validate, write, report."""
    from synth.report import build_report, write_report
    from synth.tokens import counter_for
    from synth.validate import validate_lines

    t0 = time.perf_counter()
    opts.check()
    say = progress or (lambda _msg: None)
    sel = rs.select(opts.policy, opts.include_partial)
    if not sel.chosen:
        raise ExportError(f"nothing to export: {sel.statement}. Accept conversations with "
                          "`chatsynth review RUN --accept ID` or look at `chatsynth filter RUN`",
                          field="run")
    train, val, val_topics, notes = split(sel.chosen, opts.split_by, opts.validation_fraction, opts.seed)
    sep = opts.separator if opts.separator is not None else f"\n\n{persona.persona_label}:"
    stop = opts.stop_token if opts.stop_token is not None else f"\n\n{persona.user_label}:"
    counter = counter_for(opts.model)
    out_dir = Path(out_dir)
    out_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)  # a folder it makes is owner-only
    result = ExportResult(out_dir=out_dir, files={}, examples={}, refused=[], selection=sel,
                          train_ids=[it.id for it in train], validation_ids=[it.id for it in val],
                          validation_topics=val_topics, notes=notes, separator=sep, stop_token=stop)
    for fmt in opts.formats:
        for part, items in (("train", train), ("validation", val)):
            if not items:
                continue
            key = f"{fmt}.{part}"
            say(f"building {key} ({len(items):,} conversations)")
            lines, origin = _build(fmt, items, persona, opts, sep, stop)
            say(f"validating {key} ({len(lines):,} examples)")
            rep = validate_lines(lines, path=f"{key}.jsonl", model=opts.model, fmt=fmt,  # type: ignore[arg-type]
                                 validation_file=(part == "validation"), counter=counter)
            bad = set(rep.invalid_lines)
            if bad:
                why: dict[int, list[str]] = {}
                for f in rep.errors:
                    if f.line is not None:
                        why.setdefault(f.line, []).append(f"{f.message} [{f.code}]")
                for ln in sorted(bad):
                    cid, turn = origin[ln - 1]
                    result.refused.append(Refused(cid, fmt, part, turn, why.get(ln, ["invalid"])))
                keep = [i for i in range(len(lines)) if i + 1 not in bad]
                lines = [lines[i] for i in keep]
                rep = validate_lines(lines, path=f"{key}.jsonl", model=opts.model, fmt=fmt,  # type: ignore[arg-type]
                                     validation_file=(part == "validation"), counter=counter)
            if not lines:  # every example refused: no empty file for a trainer to reject
                result.notes.append(f"{key}: every example was refused, so no {key}.jsonl "
                                    "was written")
                continue
            if rep.errors and not opts.allow_invalid:  # a file a trainer would reject: not written
                result.withheld[key] = rep  # the report lists its errors
                continue
            path = out_dir / f"{key}.jsonl"
            say(f"writing {path}")
            write_lines_atomic(path, lines)
            result.files[key] = path
            result.examples[key] = len(lines)
            rep.path = str(path)
            result.reports[key] = rep
            result.notes += [n for n in rep.notes if n not in result.notes]  # e.g. a stated encoding
    result.seconds = time.perf_counter() - t0
    report = build_report(rs, result, persona, opts, run_info=run_info or {},
                          finetune_prices=finetune_prices)
    result.report_paths = write_report(report, out_dir)
    return result


def export_run(store: Any, run_ref: str, out_dir: Path | None, opts: ExportOptions, *,
               exports_dir: Path | None = None, finetune_prices: dict[str, float] | None = None,
               progress: Callable[[str], None] | None = None) -> ExportResult:
    """Export a stored run (``run_ref``: an id, a unique prefix or ``latest``)."""
    from synth.review import Review

    run_id = store.resolve_run(run_ref)
    spec = store.get_spec(run_id)
    (progress or (lambda _m: None))(f"loading run {run_id} and checking every conversation")
    rs = Review(store, run_id, spec.persona).load()
    if out_dir is None:
        base = exports_dir or (Path(store.runs_dir).parent / "exports")
        out_dir = _new_folder(base, f"{run_id}-{time.strftime('%Y%m%d-%H%M%S')}")
    info = {"run_id": run_id, "persona": spec.persona.id, "topics": spec.topics.id,
            "endpoint": spec.endpoint, "model": spec.model, "per_topic": spec.per_topic,
            "store_problems": rs.problems}
    return export_reviewed(rs, spec.persona, Path(out_dir), opts, run_info=info,
                           finetune_prices=finetune_prices, progress=progress)


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
