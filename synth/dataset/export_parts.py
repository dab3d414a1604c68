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


def build(fmt: str, items: Sequence[Any], persona_of: Callable[[Any], Persona],
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


class PartWriter:
    """One part's file, fed chunks of conversations in order (``feed``) and put in place by
    ``finish`` only when it is complete and fit to write (else nothing is left behind)."""

    def __init__(self, path: Path, fmt: str, part: str, persona_of: Callable[[Any], Persona],
                 opts: ExportOptions, sep: str | None, stop: str | None, counter: Any) -> None:
        self.path, self.fmt, self.part = path, fmt, part
        self.persona_of, self.opts, self.sep, self.stop = persona_of, opts, sep, stop
        self.dumps = json.JSONEncoder(ensure_ascii=False).encode
        self.fc = FileCheck(path=path.name, model=opts.model, fmt=fmt,  # type: ignore[arg-type]
                            validation_file=(part == "validation"), counter=counter)
        self.out = Part(report=None)
        fd, self.tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        self.fh = os.fdopen(fd, "w", encoding="utf-8")

    def feed(self, items: Sequence[Any], known: dict[str, Any] | None = None) -> None:
        """Build, check and write the examples of ``items`` (Reviewed, or anything with ``id``
        and ``turns``).  ``known``: chat counts of the same messages already made (a ShareGPT
        example counts as its chat example does), by conversation id; filled as it goes."""
        out, fc, fmt = self.out, self.fc, self.fmt
        examples, origin = build(fmt, items, self.persona_of, self.opts, self.sep, self.stop)
        first = out.examples + 1  # line numbers as if every example were kept
        kept = []
        for k, (i, ex, found, count) in enumerate(
                fc.examine([(first + k, ex) for k, ex in enumerate(examples)],
                           known=None if fmt == "completion" else known,
                           keys=None if fmt == "completion" else [o[0] for o in origin])):
            if count is None:
                cid, turn = origin[k]
                why = [f"{f.message} [{f.code}]" for f in found if f.severity == "error"]
                out.refused.append(Refused(cid, fmt, self.part, turn, why or ["invalid"]))
                continue
            out.examples += 1
            line = out.examples
            if line != i:
                found = [dataclasses.replace(f, line=line) for f in found]
            kept.append((line, ex, found, count))
            if fmt != "completion":
                out.turn_tokens[origin[k][0]] = count.turns
        fc.add(kept)
        self.fh.write("".join(self.dumps(ex) + "\n" for _, ex, _, _ in kept))

    def finish(self) -> Part:
        out = self.out
        try:
            self.fh.flush()
            os.fsync(self.fh.fileno())
            self.fh.close()
            if out.examples:
                out.report = self.fc.report()
                if not out.report.errors or self.opts.allow_invalid:
                    os.chmod(self.tmp, FILE_MODE)
                    os.replace(self.tmp, self.path)
                    out.written = True
                    out.report.path = str(self.path)
        finally:
            if not out.written:
                self.abandon()
        return out

    def abandon(self) -> None:
        """Leave nothing behind (an export that failed part way)."""
        if not self.fh.closed:
            self.fh.close()
        try:
            os.unlink(self.tmp)
        except FileNotFoundError:
            pass


def write_part(path: Path, fmt: str, part: str, items: Sequence[Reviewed],
               persona_of: Callable[[Reviewed], Persona], opts: ExportOptions,
               sep: str | None, stop: str | None, counter: Any) -> Part:
    """Build, check and write ``path`` (e.g. out/chat.train.jsonl) chunk by chunk.  Invalid
    examples are refused (not written); the file is put in place only if some example is left
    and the file has no error (or ``opts.allow_invalid``); otherwise nothing is left behind."""
    w = PartWriter(path, fmt, part, persona_of, opts, sep, stop, counter)
    try:
        for start in range(0, len(items), CHUNK):
            w.feed(items[start:start + CHUNK])
    except BaseException:
        w.abandon()
        raise
    return w.finish()
