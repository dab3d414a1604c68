"""Fine-tune file checks for any JSONL file, not only ours: chat, ShareGPT, prompt/completion.

Chat files get every check of OpenAI's cookbook data-prep notebook (a dict per line, a
``messages`` list, allowed keys and roles, string content, at least one assistant message,
missing system / user message warnings), plus: lines that are not JSON, a JSON array instead of
JSON Lines, an empty file, fewer than 10 examples, examples over the model's token limit, and
the distribution of messages, tokens and assistant tokens per example.  Every finding names its
line number.  ``validate_lines`` is what ``export`` runs on its examples before writing them.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from synth.dataset.example_checks import (
    CHECKS, Finding, Format, detect_format, parse_line, to_messages,
)
from synth.errors import ChatsynthError


MIN_EXAMPLES = 10


@dataclass
class Distribution:
    min: float
    median: float
    p10: float
    p90: float
    max: float
    mean: float

    @classmethod
    def of(cls, values: Sequence[float]) -> "Distribution | None":
        if not values:
            return None
        v = sorted(values)
        return cls(min=v[0], median=quantile(v, 0.5), p10=quantile(v, 0.1), p90=quantile(v, 0.9),
                   max=v[-1], mean=sum(v) / len(v))

    def line(self, name: str) -> str:
        def f(x: float) -> str:
            return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.1f}"
        return (f"{name}: min {f(self.min)}, p10 {f(self.p10)}, median {f(self.median)}, "
                f"p90 {f(self.p90)}, max {f(self.max)}")


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    n = len(sorted_values)
    pos = (n - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, n - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


@dataclass
class ValidationReport:
    path: str
    format: str
    examples: int  # lines that are JSON objects
    lines: int
    findings: list[Finding] = field(default_factory=list)
    model: str = ""
    encoding: str = ""
    limit: int = 0
    notes: list[str] = field(default_factory=list)
    distributions: dict[str, Distribution] = field(default_factory=dict)
    example_tokens: list[int] = field(default_factory=list)  # per valid example, in file order
    invalid_lines: list[int] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.findings:
            out[f.code] = out.get(f.code, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path, "format": self.format, "examples": self.examples, "lines": self.lines,
            "ok": self.ok, "errors": len(self.errors), "warnings": len(self.warnings),
            "counts": self.counts(), "findings": [asdict(f) for f in self.findings],
            "model": self.model, "encoding": self.encoding, "token_limit": self.limit,
            "notes": self.notes,
            "distributions": {k: asdict(v) for k, v in self.distributions.items()},
        }

    def text(self, *, most: int = 200) -> str:
        out = [f"{self.path}: {self.examples:,} examples, {self.format} format"
               + (f", tokens counted with {self.encoding}" if self.encoding else "")
               + (f" for {self.model}" if self.model and self.encoding else "")
               + (f", limit {self.limit:,} tokens per example" if self.limit else "")]
        shown = self.findings[:most]
        out += [f.format(self.path) for f in shown]
        if len(self.findings) > most:
            out.append(f"... and {len(self.findings) - most:,} more findings (see --json)")
        out += [f"note: {n}" for n in self.notes]
        for name, d in self.distributions.items():
            out.append(d.line(name))
        c = self.counts()
        if c:
            out.append("findings by kind: " + ", ".join(f"{k} {v}" for k, v in sorted(c.items())))
        out.append(f"{len(self.errors):,} error(s), {len(self.warnings):,} warning(s)"
                   + ("" if self.errors else ": no errors found"))
        return "\n".join(out)


def split_lines(data: bytes) -> list[bytes]:
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return [ln[:-1] if ln.endswith(b"\r") else ln for ln in lines]


def _looks_like_validation_file(path: str) -> bool:
    """validation.jsonl, chat.val.jsonl, eval_set.jsonl, test.jsonl - but not latest.jsonl."""
    words = re.split(r"[^a-z0-9]+", Path(path).name.lower())
    return any(w.startswith("valid") or w in ("val", "eval", "test", "dev") for w in words)


class FileCheck:
    """The checks of one file, fed chunk by chunk (``examine`` then ``add``) so that an export
    validates its examples as it writes them, each tokenized once, without holding the file.
    ``validate_lines`` feeds it a whole file at once."""

    def __init__(self, *, path: str = "", model: str | None = None, fmt: Format = "chat",
                 limit: int | None = None, validation_file: bool | None = None,
                 min_examples: int = MIN_EXAMPLES, counter: Any = None) -> None:
        from synth.tokens import TokenCounter, training_limit

        self.counter = counter or TokenCounter(model)
        if limit is None:
            limit, lim_note = training_limit(model)
        else:
            lim_note = None
        self.path, self.fmt, self.limit = path, fmt, limit
        self.validation_file, self.min_examples = validation_file, min_examples
        self.notes = [n for n in (self.counter.note, lim_note) if n]
        self.findings: list[Finding] = []
        self.bad: set[int] = set()
        self.counts: list[Any] = []  # ChatCount of each valid example, in file order
        self.examples = 0  # values that are JSON objects
        self.lines = 0
        self.blank = True  # no line with anything on it (yet)
        self._suffix: list[str | None] = [None, None]  # completion: common prompt/completion ends

    def examine(self, numbered: Sequence[tuple[int, Any]], *, known: dict[Any, Any] | None = None,
                keys: Sequence[Any] | None = None) -> list[tuple[int, Any, list[Finding], Any]]:
        """(line, value, findings, ChatCount or None where the example is invalid) for parsed
        values; one batch of token counts for the valid ones.  Changes nothing: see ``add``.
        ``known``/``keys`` (chat and ShareGPT): counts of the same messages made before, by a
        key per value (an export's conversation id), used instead of counting again and filled
        with the new ones."""
        from synth.tokens import ChatCount

        check = CHECKS[self.fmt]
        rows: list[tuple[int, Any, list[Finding], Any]] = []
        valid: list[int] = []
        for i, v in numbered:
            f = check(v, i)
            if not any(x.severity == "error" for x in f):
                valid.append(len(rows))
            rows.append((i, v, f, None))
        if self.fmt == "completion":  # plain text: no chat overhead
            n = self.counter.count_many([x for k in valid for x in (rows[k][1]["prompt"], rows[k][1]["completion"])])
            counts = [ChatCount(total=p + c, assistant=c, messages=2) for p, c in zip(n[0::2], n[1::2])]
        elif known is not None and keys is not None:
            todo = [k for k in valid if keys[k] not in known]
            for k, c in zip(todo, self.counter.chat_counts([to_messages(rows[k][1], self.fmt)
                                                            for k in todo])):
                known[keys[k]] = c
            counts = [known[keys[k]] for k in valid]
        else:
            counts = self.counter.chat_counts([to_messages(rows[k][1], self.fmt) for k in valid])
        for k, c in zip(valid, counts):
            i, v, f, _ = rows[k]
            if c.total > self.limit:
                f = [*f, Finding(i, "too_long", f"{c.total:,} tokens, over the {self.limit:,}-token "
                                                f"limit per example (the trainer truncates or rejects it)")]
                c = None
            rows[k] = (i, v, f, c)
        return rows

    def add(self, rows: Sequence[tuple[int, Any, list[Finding], Any]]) -> None:
        """Record examined rows as lines of the file (their findings, counts, bad lines)."""
        if rows:
            self.blank = False
        for i, v, f, c in rows:
            self.lines = max(self.lines, i)
            self.findings += f
            if isinstance(v, dict):
                self.examples += 1
            if c is None:
                self.bad.add(i)
                continue
            self.counts.append(c)
            if self.fmt == "completion":
                self._suffix = [_common_end(self._suffix[0], v["prompt"]),
                                _common_end(self._suffix[1], v["completion"])]

    def report(self) -> ValidationReport:
        counts = self.counts
        report = ValidationReport(path=self.path, format=self.fmt, lines=self.lines,
                                  examples=self.examples, model=self.counter.model,
                                  encoding=self.counter.encoding_name, limit=self.limit,
                                  notes=list(self.notes))
        report.example_tokens = [c.total for c in counts]
        if counts:
            if self.fmt != "completion":
                report.distributions["messages per example"] = Distribution.of([c.messages for c in counts])
            report.distributions["tokens per example"] = Distribution.of([c.total for c in counts])
            report.distributions["assistant tokens per example" if self.fmt != "completion" else
                                 "completion tokens per example"] = Distribution.of([c.assistant for c in counts])
        findings = list(self.findings)
        if self.blank:
            findings.insert(0, Finding(None, "empty_file", "the file is empty: no examples"))
        elif self.examples < self.min_examples:
            is_val = (self.validation_file if self.validation_file is not None
                      else _looks_like_validation_file(self.path))
            if is_val:
                findings.insert(0, Finding(None, "too_few_examples", f"only {self.examples} "
                                           "example(s); fine for a validation file", "warning"))
            else:
                findings.insert(0, Finding(None, "too_few_examples", f"only {self.examples} example(s): "
                                           f"fine-tuning needs at least {self.min_examples}"))
        if self.fmt == "completion" and len(counts) > 1:
            findings += _completion_consistency(*self._suffix)
        findings.sort(key=lambda f: (f.line or 0))
        report.findings = findings
        report.invalid_lines = sorted(self.bad | {f.line for f in findings
                                                  if f.severity == "error" and f.line is not None})
        return report


def validate_lines(lines: Sequence[bytes] | Sequence[str], *, path: str = "", model: str | None = None,
                   fmt: Format | None = None, limit: int | None = None,
                   validation_file: bool | None = None, min_examples: int = MIN_EXAMPLES,
                   counter: Any = None) -> ValidationReport:
    """Check JSONL lines (without their newlines).  Line numbers count from 1."""
    values: list[tuple[int, Any]] = []
    parse_findings: list[Finding] = []
    for i, raw in enumerate(lines, 1):
        v, f = parse_line(raw, i)
        parse_findings += f
        if v is not None or (raw.strip() and not f):
            values.append((i, v))
    fc = FileCheck(path=path, model=model, fmt=fmt or detect_format(v for _, v in values), limit=limit,
                   validation_file=validation_file, min_examples=min_examples, counter=counter)
    fc.findings += parse_findings
    fc.bad |= {f.line for f in parse_findings if f.severity == "error" and f.line is not None}
    fc.add(fc.examine(values))
    fc.lines = len(lines)
    fc.blank = not any(x.strip() for x in lines)
    return fc.report()


def _common_end(acc: str | None, s: str) -> str:
    """The common suffix of ``acc`` (None: nothing seen yet) and ``s``."""
    if acc is None:
        return s
    n = 0
    while n < min(len(acc), len(s)) and acc[-1 - n] == s[-1 - n]:
        n += 1
    return acc[len(acc) - n:]


def _completion_consistency(prompt_end: str | None, completion_end: str | None) -> list[Finding]:
    """OpenAI's legacy guide: every prompt ends with the same separator, every completion with
    the same stop sequence."""
    out = []
    if not (prompt_end or "").strip():
        out.append(Finding(None, "no_common_separator", "prompts do not all end with the same "
                           "separator (e.g. \"\\n\\nEVE:\"); the model can't tell where to answer",
                           "warning"))
    if not (completion_end or "").strip():
        out.append(Finding(None, "no_common_stop", "completions do not all end with the same stop "
                           "sequence; the model won't learn where to stop", "warning"))
    return out


BATCH = 2000  # lines parsed, checked and counted at a time by validate_file


def validate_file(path: str | Path, *, model: str | None = None, fmt: Format | None = None,
                  limit: int | None = None, validation_file: bool | None = None) -> ValidationReport:
    """``validate_lines`` of a file, read and checked a batch of lines at a time (memory stays
    flat however big the file); a file that is one JSON array is read whole to say so."""
    p = Path(path)
    try:
        fh = open(p, "rb")
    except FileNotFoundError:
        raise ChatsynthError("no such file", path=p) from None
    except IsADirectoryError:
        raise ChatsynthError("is a folder, expected a JSONL file", path=p) from None
    except OSError as exc:
        raise ChatsynthError(f"can't read: {exc.strerror}", path=p) from None
    try:
        with fh:
            head = fh.read(1 << 16)
            if head.startswith(b"\xef\xbb\xbf"):
                head = head[3:]
            if head.lstrip().startswith(b"[") or (not head.strip() and head):
                data = head + fh.read()  # a JSON array, or blank so far: as it always was
                rep = _json_array(p, data, fmt)
                if rep is not None:
                    return rep
                return validate_lines(split_lines(data), path=str(p), model=model, fmt=fmt,
                                      limit=limit, validation_file=validation_file)
            return _validate_stream(_lines(head, fh), str(p), model, fmt, limit, validation_file)
    except IsADirectoryError:
        raise ChatsynthError("is a folder, expected a JSONL file", path=p) from None
    except OSError as exc:
        raise ChatsynthError(f"can't read: {exc.strerror}", path=p) from None


def _json_array(p: Path, data: bytes, fmt: Format | None) -> ValidationReport | None:
    stripped = data.lstrip()
    if not stripped.startswith(b"["):
        return None
    try:
        arr = json.loads(stripped)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        arr = None
    if not isinstance(arr, list):
        return None
    r = ValidationReport(path=str(p), format=fmt or detect_format(arr), examples=0,
                         lines=data.count(b"\n") + 1)
    r.findings.append(Finding(1, "json_array", f"the file is one JSON array of {len(arr)} "
                              "items, not JSON Lines: write one example per line, no brackets"))
    return r


def _lines(head: bytes, fh: Any):
    """The file's lines as ``split_lines`` cuts them (at b"\\n" only), ``head`` (its start)
    first; each with its newline but the last where the file does not end with one."""
    first = head + (fh.readline() if head and not head.endswith(b"\n") else b"")
    pieces = first.split(b"\n")
    for piece in pieces[:-1]:
        yield piece + b"\n"
    if pieces[-1]:
        yield pieces[-1]
    yield from fh


def _validate_stream(raws: Any, path: str, model: str | None, fmt: Format | None,
                     limit: int | None, validation_file: bool | None) -> ValidationReport:
    fc: FileCheck | None = None
    values: list[tuple[int, Any]] = []
    parse_findings: list[Finding] = []
    n, blank = 0, True

    def flush(final: bool) -> FileCheck | None:
        nonlocal values, parse_findings
        check = fc
        if check is None:
            if not final and not any(isinstance(v, dict) for _, v in values):
                return None  # the format is told by the first object: read on
            check = FileCheck(path=path, model=model, fmt=fmt or detect_format(v for _, v in values),
                              limit=limit, validation_file=validation_file)
        check.findings += parse_findings
        check.bad |= {f.line for f in parse_findings if f.severity == "error" and f.line is not None}
        check.add(check.examine(values))
        values, parse_findings = [], []
        return check

    for raw in raws:
        n += 1
        if raw.endswith(b"\n"):
            raw = raw[:-1]
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if blank and raw.strip():
            blank = False
        v, f = parse_line(raw, n)
        parse_findings += f
        if v is not None or (raw.strip() and not f):
            values.append((n, v))
        if len(values) >= BATCH:
            fc = flush(False) or fc
    fc = flush(True)
    assert fc is not None
    fc.lines = n
    fc.blank = blank
    return fc.report()
