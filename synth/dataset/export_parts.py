"""One part of an export (say chat.train): its examples built, validated and written a chunk of
conversations at a time, each example tokenized once (the validation's count is the one the
report and the fine-tune estimate use), the file written as it goes so that memory stays flat
however big the run, and put in place atomically only when it is complete and fit to write.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from synth.curate.review import Reviewed
from synth.dataset.export import (ExportOptions, Refused, chat_example, completion_examples,
                                  default_separator, default_stop, sharegpt_example, _clean)
from synth.dataset.validate import FileCheck, ValidationReport
from synth.models import Persona
from synth.private_files import FILE_MODE

CHUNK = 1000  # conversations built, checked and written at a time


@dataclass
class Part:
    """What became of one part: its report (None: no example left), written or not."""

    report: ValidationReport | None
    examples: int = 0
    written: bool = False
    refused: list[Refused] = field(default_factory=list)
    turn_tokens: dict[str, int] = field(default_factory=dict)  # chat/ShareGPT: id -> its turns' tokens


def build(fmt: str, items: Sequence[Reviewed], persona_of: Callable[[Reviewed], Persona],
          opts: ExportOptions, sep: str | None, stop: str | None
          ) -> tuple[list[dict[str, Any]], list[tuple[str, int | None]]]:
    """Examples and, per example, (conversation id, persona turn index or None).  Each
    conversation takes its own persona's system prompt and labels (a dataset mixes personas);
    ``sep``/``stop``: the completion format's, or None for each persona's default."""
    examples: list[dict[str, Any]] = []
    origin: list[tuple[str, int | None]] = []
    for it in items:
        persona = persona_of(it)
        system = persona.system_prompt.strip() if opts.system_prompt else None
        turns = _clean(it.turns)
        if fmt == "chat":
            examples.append(chat_example(turns, system))
            origin.append((it.id, None))
        elif fmt == "sharegpt":
            examples.append(sharegpt_example(turns, system))
            origin.append((it.id, None))
        else:
            for i, ex in completion_examples(
                    turns, persona, sep if sep is not None else default_separator(persona),
                    stop if stop is not None else default_stop(persona)):
                examples.append(ex)
                origin.append((it.id, i))
    return examples, origin


def write_part(path: Path, fmt: str, part: str, items: Sequence[Reviewed],
               persona_of: Callable[[Reviewed], Persona], opts: ExportOptions,
               sep: str | None, stop: str | None, counter: Any) -> Part:
    """Build, check and write ``path`` (e.g. out/chat.train.jsonl) chunk by chunk.  Invalid
    examples are refused (not written); the file is put in place only if some example is left
    and the file has no error (or ``opts.allow_invalid``); otherwise nothing is left behind."""
    dumps = json.JSONEncoder(ensure_ascii=False).encode
    fc = FileCheck(path=path.name, model=opts.model, fmt=fmt,  # type: ignore[arg-type]
                   validation_file=(part == "validation"), counter=counter)
    out = Part(report=None)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for start in range(0, len(items), CHUNK):
                examples, origin = build(fmt, items[start:start + CHUNK], persona_of, opts, sep, stop)
                first = out.examples + 1  # line numbers as if every example were kept
                kept = []
                for k, (i, ex, found, count) in enumerate(
                        fc.examine([(first + k, ex) for k, ex in enumerate(examples)])):
                    if count is None:
                        cid, turn = origin[k]
                        why = [f"{f.message} [{f.code}]" for f in found if f.severity == "error"]
                        out.refused.append(Refused(cid, fmt, part, turn, why or ["invalid"]))
                        continue
                    out.examples += 1
                    line = out.examples
                    if line != i:
                        found = [dataclasses.replace(f, line=line) for f in found]
                    kept.append((line, ex, found, count))
                    if fmt != "completion":
                        out.turn_tokens[origin[k][0]] = count.turns
                fc.add(kept)
                fh.write("".join(dumps(ex) + "\n" for _, ex, _, _ in kept))
            fh.flush()
            os.fsync(fh.fileno())
        if out.examples:
            out.report = fc.report()
            if not out.report.errors or opts.allow_invalid:
                os.chmod(tmp, FILE_MODE)
                os.replace(tmp, path)
                out.written = True
                out.report.path = str(path)
    finally:
        if not out.written:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
    return out
