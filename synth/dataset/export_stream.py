"""Export one run without holding it: the conversations are checked one at a time
(``synth.curate.stream_check``), then the chosen ones read again a chunk at a time and written
to every part at once (chat.train, chat.validation, ...), each example tokenized once (a ShareGPT
example reuses its chat example's count) and the report's figures counted as they pass.  Memory
stays flat however big the run; the files and the report are those of the in-memory export
(``synth.dataset.export.export_sources``, which a dataset of several runs still takes).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from synth.curate.stream_check import check_stream, close
from synth.dataset.export import (ExportError, ExportOptions, ExportResult, Source,
                                  default_separator, default_stop, split)
from synth.dataset.export_parts import CHUNK, PartWriter
from synth.dataset.report_tally import Tally, turn_tokens_of
from synth.dataset.turn_counts import TurnCounts, release_free_memory
from synth.models import Turn
from synth.private_files import DIR_MODE
from synth.wording import plural


@dataclass(slots=True)
class _Row:
    """A chosen conversation, read again: what building its examples takes."""

    id: str
    turns: list[Turn]


def export_run_streaming(store: Any, run_id: str, out_dir: Path, opts: ExportOptions, *,
                         finetune_prices: dict[str, float] | None = None,
                         progress: Callable[[str], None] | None = None) -> ExportResult:
    """Select, split, build, validate, write and report one stored run, one conversation at a
    time (the run's id resolved by the caller)."""
    from synth.dataset.report import build_report, write_report
    from synth.tokens import counter_for

    t0 = time.perf_counter()
    opts.check()
    say = progress or (lambda _msg: None)
    spec = store.get_spec(run_id)
    persona = spec.persona
    say(f"loading run {run_id} and checking every conversation")
    tally = Tally()
    counter = counter_for(opts.model)
    tc = TurnCounts(counter)  # counted in threads while the filters run

    def each(conv: Any, it: Any, turns: list[Turn]) -> None:
        tally.add_stored(conv)
        tc.add(it.id, turns)

    try:
        checked = check_stream(store, run_id, persona, each=each)
        tc.finish()
    finally:
        tc.close()  # every count made: the threads end before the second pass
    release_free_memory()
    writers: dict[str, PartWriter] = {}
    try:
        tally.add_states(checked.counts(), checked.reason_counts())
        tally.pairs = list(checked.pairs)
        sel = checked.select(opts.policy, opts.include_partial)
        if not sel.chosen:
            raise ExportError(f"nothing to export: {sel.statement}. Accept conversations with "
                              f"`chatsynth review RUN --accept ID` or look at `chatsynth filter RUN`",
                              field="run")
        train, val, val_topics, notes = split(sel.chosen, opts.split_by, opts.validation_fraction,
                                              opts.seed)
        sep, stop = opts.separator, opts.stop_token
        system = persona.system_prompt.strip() if opts.system_prompt else None
        out_dir = Path(out_dir)
        out_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)  # a folder it makes is owner-only
        result = ExportResult(out_dir=out_dir, files={}, examples={}, refused=[], selection=sel,
                              train_ids=[it.id for it in train],
                              validation_ids=[it.id for it in val], validation_topics=val_topics,
                              notes=notes,
                              separator=sep if sep is not None else default_separator(persona),
                              stop_token=stop if stop is not None else default_stop(persona))
        in_val = set(result.validation_ids)
        del train, val
        for fmt in opts.formats:
            for part, n in (("train", len(result.train_ids)), ("validation", len(in_val))):
                if n:
                    key = f"{fmt}.{part}"
                    say(f"building, validating and writing {key} ({plural(n, 'conversation')})")
                    writers[key] = PartWriter(out_dir / f"{key}.jsonl", fmt, part,
                                              lambda _it: persona, opts, sep, stop, counter)
        counted = [w for w in writers.values() if w.fmt != "completion"]
        for start in range(0, len(sel.chosen), CHUNK):
            chunk = sel.chosen[start:start + CHUNK]
            rows = [_Row(it.id, checked.turns_of(it)[1]) for it in chunk]
            parts = {"train": [r for r in rows if r.id not in in_val],
                     "validation": [r for r in rows if r.id in in_val]}
            known: dict[str, Any] = {}  # chat counts of this chunk, shared by chat and ShareGPT
            seen: dict[str, int] = {}
            for r in rows:
                c = tc.chat_count(r.id, r.turns, system)
                if c is not None:
                    known[r.id] = c
                    seen[r.id] = c.turns
                tc.counts.pop(r.id, None)
            for w in writers.values():
                w.feed(parts[w.part], known)
            seen.update((r.id, n) for w in counted for r in parts[w.part]
                        if (n := w.out.turn_tokens.get(r.id)) is not None)
            for it, r, n in zip(chunk, rows, turn_tokens_of(rows, seen, opts.model)):
                tally.add_chosen(it.run_id, r.turns, it.edited, n)
        for key, w in writers.items():
            done = w.finish()
            result.refused += done.refused
            result.turn_tokens.update(done.turn_tokens)
            rep = done.report
            if rep is None:  # every example refused: no empty file for a trainer to reject
                result.notes.append(f"{key}: every example was refused, so no {key}.jsonl "
                                    "was written")
                continue
            if not done.written:  # a file a trainer would reject: not written
                result.withheld[key] = rep
                continue
            result.files[key] = w.path
            result.examples[key] = done.examples
            result.reports[key] = rep
            result.notes += [n for n in rep.notes if n not in result.notes]
        writers = {}
    finally:
        for w in writers.values():
            w.abandon()
        close(checked)
        tc.close()
    result.seconds = time.perf_counter() - t0
    info = {"run_id": run_id, "persona": spec.persona.id, "topics": spec.topics.id,
            "endpoint": spec.endpoint, "model": spec.model, "per_topic": spec.per_topic,
            "store_problems": checked.problems}
    source = Source(checked, persona, info)  # type: ignore[arg-type]
    report = build_report([source], result, opts, finetune_prices=finetune_prices, tally=tally)
    result.report_paths = write_report(report, out_dir)
    return result
