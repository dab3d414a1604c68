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
from typing import Any, Iterable, Literal, Sequence

from synth.errors import ChatsynthError

Severity = Literal["error", "warning"]
Format = Literal["chat", "sharegpt", "completion"]

MIN_EXAMPLES = 10
CHAT_ROLES = ("system", "user", "assistant", "function")
CHAT_MESSAGE_KEYS = ("role", "content", "name", "weight", "function_call")
CHAT_TOP_KEYS = ("messages", "tools", "functions", "parallel_tool_calls")
SHAREGPT_FROM = ("system", "human", "gpt")
SHAREGPT_TOOL_FROM = ("function_call", "observation")
_API_KEY = re.compile(r"\b(?:sk-(?:proj-)?[A-Za-z0-9_-]{20,}|sk-ant-[A-Za-z0-9_-]{20,}|hf_[A-Za-z0-9]{30,})")


@dataclass(frozen=True)
class Finding:
    line: int | None  # 1-based line of the file; None: the whole file
    code: str  # stable name, e.g. "missing_content" (the cookbook's names where it has one)
    message: str
    severity: Severity = "error"

    def format(self, path: str = "") -> str:
        where = f"{path}:{self.line}" if self.line is not None else path
        return f"{where + ': ' if where else ''}{self.severity}: {self.message} [{self.code}]"


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


class _Dupes:
    """json object_pairs_hook that notes duplicate keys (json keeps only the last silently)."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        d = dict(pairs)
        if len(d) != len(pairs):
            seen: set[str] = set()
            self.keys += [k for k, _ in pairs if k in seen or seen.add(k)]  # type: ignore[func-returns-value]
        return d


def _bad_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON (write null or a number)")


def _has_lone_surrogate(s: str) -> bool:
    try:
        s.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def parse_line(raw: bytes | str, lineno: int) -> tuple[Any, list[Finding]]:
    """One JSONL line (bytes from a file, or str from an export) -> (value or None, findings)."""
    if not raw.strip():
        return None, [Finding(lineno, "blank_line", "empty line: JSON Lines needs one JSON object on every line")]
    if isinstance(raw, str):
        text = raw
    else:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return None, [Finding(lineno, "not_utf8", f"not UTF-8 (byte 0x{raw[exc.start]:02x} at "
                                                      f"column {exc.start + 1}); save the file as UTF-8")]
    hook = _Dupes()
    try:
        value = json.loads(text, object_pairs_hook=hook, parse_constant=_bad_constant)
    except json.JSONDecodeError as exc:
        what = "not JSON" if exc.msg != "Extra data" else "more than one JSON value on one line"
        return None, [Finding(lineno, "not_json", f"{what}: {exc.msg} at column {exc.colno}")]
    except ValueError as exc:
        return None, [Finding(lineno, "invalid_number", str(exc))]
    except RecursionError:
        return None, [Finding(lineno, "too_deep", "JSON nested too deeply to read (thousands of "
                                                  "levels); no trainer accepts such a line")]
    found = []
    if hook.keys:
        found.append(Finding(lineno, "duplicate_key", f"key {hook.keys[0]!r} appears twice in one "
                                                      "object; only the last would be read"))
    return value, found


def _where(i: int) -> str:
    return f"messages[{i}]"


def check_chat(ex: Any, lineno: int) -> list[Finding]:
    """The cookbook's format checks for one chat example, plus a few it misses."""
    F = Finding
    if not isinstance(ex, dict):
        return [F(lineno, "data_type", f"each line must be a JSON object, not a {_json_type(ex)}")]
    out: list[Finding] = []
    msgs = ex.get("messages")
    if "messages" not in ex:
        hint = next((f" (found {k!r}: is this a ShareGPT or prompt/completion file? try --format)"
                     for k in ("conversations", "prompt") if k in ex), "")
        if not hint and "message" in ex:
            hint = " (found 'message': the key is 'messages')"
        return [F(lineno, "missing_messages_list", f"no \"messages\" list{hint}")]
    if not isinstance(msgs, list):
        return [F(lineno, "messages_not_list", f"\"messages\" must be a list, not a {_json_type(msgs)}")]
    if not msgs:
        return [F(lineno, "empty_messages", "\"messages\" is an empty list")]
    for k in ex:
        if k not in CHAT_TOP_KEYS:
            out.append(F(lineno, "unknown_key", f"unknown key {k!r} next to \"messages\" "
                                                "(trainers ignore or reject it)", "warning"))
    roles = []
    for i, m in enumerate(msgs):
        w = _where(i)
        if not isinstance(m, dict):
            out.append(F(lineno, "message_not_dict", f"{w} must be an object, not a {_json_type(m)}"))
            continue
        role = m.get("role")
        roles.append(role)
        has_fc = m.get("function_call") is not None
        bad_keys = [k for k in m if k not in CHAT_MESSAGE_KEYS]
        if bad_keys:
            out.append(F(lineno, "message_unrecognized_key",
                         f"{w} has key {bad_keys[0]!r} (allowed: {', '.join(CHAT_MESSAGE_KEYS)})"))
        if "role" not in m or ("content" not in m and not has_fc):
            missing = "role" if "role" not in m else "content"
            out.append(F(lineno, "message_missing_key", f"{w} has no {missing!r}"))
        if "role" in m and (not isinstance(role, str) or role not in CHAT_ROLES):
            hint = f" (roles are lower case: {role.lower()!r})" if isinstance(role, str) and role.lower() in CHAT_ROLES else ""
            out.append(F(lineno, "unrecognized_role",
                         f"{w} role {role!r} is not one of {', '.join(CHAT_ROLES)}{hint}"))
        content = m.get("content")
        if "content" in m or not has_fc:
            if content is not None and not isinstance(content, str):
                out.append(F(lineno, "content_not_string",
                             f"{w} content must be a string, not a {_json_type(content)}"))
            elif "content" in m and not content and not has_fc:
                out.append(F(lineno, "missing_content", f"{w} ({role}) has "
                             + ("null content" if content is None else "empty content")))
            elif isinstance(content, str) and _has_lone_surrogate(content):
                out.append(F(lineno, "invalid_unicode", f"{w} content has a lone surrogate "
                                                         "(\\ud800-\\udfff): not encodable as UTF-8"))
            elif isinstance(content, str) and _API_KEY.search(content):
                out.append(F(lineno, "secret", f"{w} content looks like it holds an API key"))
        if "weight" in m:
            if m["weight"] not in (0, 1) or isinstance(m["weight"], bool):
                out.append(F(lineno, "bad_weight", f"{w} weight must be 0 or 1, not {m['weight']!r}"))
            elif role != "assistant":
                out.append(F(lineno, "weight_not_assistant", f"{w} has a weight but only assistant "
                                                              "messages can have one"))
        if "name" in m and (not isinstance(m["name"], str) or not m["name"]):
            out.append(F(lineno, "bad_name", f"{w} name must be a non-empty string"))
        if role == "function" and not m.get("name"):
            out.append(F(lineno, "function_missing_name", f"{w} is a function message without a name"))
        if has_fc and not (isinstance(m["function_call"], dict) and "name" in m["function_call"]):
            out.append(F(lineno, "bad_function_call", f"{w} function_call must be an object with a name"))
    if "assistant" not in roles and not any(f.code in ("unrecognized_role", "message_not_dict") for f in out):
        out.append(F(lineno, "example_missing_assistant_message", "no assistant message (nothing to train on)"))
    if not any(f.severity == "error" for f in out):
        if "system" not in roles:
            out.append(F(lineno, "missing_system", "no system message", "warning"))
        if "user" not in roles:
            out.append(F(lineno, "missing_user", "no user message", "warning"))
        if "system" in roles[1:]:
            out.append(F(lineno, "system_not_first", "a system message after the first message", "warning"))
    return out


def check_sharegpt(ex: Any, lineno: int) -> list[Finding]:
    F = Finding
    if not isinstance(ex, dict):
        return [F(lineno, "data_type", f"each line must be a JSON object, not a {_json_type(ex)}")]
    conv = ex.get("conversations")
    if "conversations" not in ex:
        return [F(lineno, "missing_conversations_list", "no \"conversations\" list")]
    if not isinstance(conv, list) or not conv:
        return [F(lineno, "conversations_not_list", "\"conversations\" must be a non-empty list")]
    out: list[Finding] = []
    froms = []
    for i, t in enumerate(conv):
        w = f"conversations[{i}]"
        if not isinstance(t, dict):
            out.append(F(lineno, "turn_not_dict", f"{w} must be an object, not a {_json_type(t)}"))
            continue
        if "from" not in t or "value" not in t:
            out.append(F(lineno, "turn_missing_key", f"{w} needs \"from\" and \"value\""))
            continue
        extra = [k for k in t if k not in ("from", "value", "weight")]
        if extra:
            out.append(F(lineno, "turn_unrecognized_key", f"{w} has key {extra[0]!r}", "warning"))
        if t["from"] not in SHAREGPT_FROM + SHAREGPT_TOOL_FROM:
            out.append(F(lineno, "unrecognized_from", f"{w} from {t['from']!r} is not one of "
                                                      f"{', '.join(SHAREGPT_FROM)}"))
        if not isinstance(t["value"], str):
            out.append(F(lineno, "value_not_string", f"{w} value must be a string"))
        elif not t["value"].strip():
            out.append(F(lineno, "empty_value", f"{w} ({t['from']}) has an empty value"))
        froms.append(t["from"])
    if out:
        return out
    body = froms[1:] if froms and froms[0] == "system" else froms
    if "system" in body:
        out.append(F(lineno, "system_not_first", "a system turn after the first turn"))
    expect_human = True
    for i, fr in enumerate(body):
        human_like = fr in ("human", "observation")
        if human_like != expect_human:
            out.append(F(lineno, "bad_order", f"turn {i + 1} after the system turn is {fr!r}: turns "
                                              "must alternate human, gpt, starting with human"))
            break
        expect_human = not expect_human
    if not out and (not body or body[-1] not in ("gpt", "function_call")):
        out.append(F(lineno, "missing_gpt_last", "must end with a gpt turn (trainers drop it otherwise)"))
    return out


def check_completion(ex: Any, lineno: int) -> list[Finding]:
    F = Finding
    if not isinstance(ex, dict):
        return [F(lineno, "data_type", f"each line must be a JSON object, not a {_json_type(ex)}")]
    out = []
    for k in ("prompt", "completion"):
        if k not in ex:
            out.append(F(lineno, "missing_key", f"no {k!r}"))
        elif not isinstance(ex[k], str):
            out.append(F(lineno, "not_string", f"{k!r} must be a string, not a {_json_type(ex[k])}"))
        elif not ex[k].strip():
            out.append(F(lineno, "empty_value", f"{k!r} is empty"))
        elif _API_KEY.search(ex[k]):
            out.append(F(lineno, "secret", f"{k!r} looks like it holds an API key"))
    extra = [k for k in ex if k not in ("prompt", "completion")]
    if extra:
        out.append(F(lineno, "unknown_key", f"unknown key {extra[0]!r}", "warning"))
    return out


CHECKS = {"chat": check_chat, "sharegpt": check_sharegpt, "completion": check_completion}


def _json_type(v: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null",
            int: "number", float: "number"}.get(type(v), type(v).__name__)


def detect_format(values: Iterable[Any]) -> Format:
    for v in values:
        if isinstance(v, dict):
            if "messages" in v:
                return "chat"
            if "conversations" in v:
                return "sharegpt"
            if "prompt" in v or "completion" in v:
                return "completion"
    return "chat"


def to_messages(ex: dict[str, Any], fmt: Format) -> list[dict[str, Any]]:
    """A valid chat or ShareGPT example as chat messages (for token counts)."""
    if fmt == "sharegpt":
        role = {"system": "system", "human": "user", "gpt": "assistant", "observation": "user",
                "function_call": "assistant"}
        return [{"role": role[t["from"]], "content": t["value"]} for t in ex["conversations"]]
    return ex["messages"]


def split_lines(data: bytes) -> list[bytes]:
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return [ln[:-1] if ln.endswith(b"\r") else ln for ln in lines]


def _looks_like_validation_file(path: str) -> bool:
    """validation.jsonl, chat.val.jsonl, eval_set.jsonl, test.jsonl - but not latest.jsonl."""
    words = re.split(r"[^a-z0-9]+", Path(path).name.lower())
    return any(w.startswith("valid") or w in ("val", "eval", "test", "dev") for w in words)


def validate_lines(lines: Sequence[bytes] | Sequence[str], *, path: str = "", model: str | None = None,
                   fmt: Format | None = None, limit: int | None = None,
                   validation_file: bool | None = None, min_examples: int = MIN_EXAMPLES,
                   counter: Any = None) -> ValidationReport:
    """Check JSONL lines (without their newlines).  Line numbers count from 1."""
    from synth.tokens import TokenCounter, training_limit

    values: list[tuple[int, Any]] = []
    findings: list[Finding] = []
    for i, raw in enumerate(lines, 1):
        v, f = parse_line(raw, i)
        findings += f
        if v is not None or (raw.strip() and not f):
            values.append((i, v))
    fmt = fmt or detect_format(v for _, v in values)
    check = CHECKS[fmt]
    valid: list[tuple[int, dict[str, Any]]] = []
    bad_lines = {f.line for f in findings if f.severity == "error"}
    for i, v in values:
        f = check(v, i)
        findings += f
        if any(x.severity == "error" for x in f):
            bad_lines.add(i)
        elif i not in bad_lines:
            valid.append((i, v))
    counter = counter or TokenCounter(model)
    if limit is None:
        limit, lim_note = training_limit(model)
    else:
        lim_note = None
    report = ValidationReport(path=path, format=fmt, lines=len(lines),
                              examples=sum(1 for _, v in values if isinstance(v, dict)),
                              model=counter.model, encoding=counter.encoding_name, limit=limit)
    report.notes += [n for n in (counter.note, lim_note) if n]
    if fmt == "completion":  # plain text: no chat overhead
        from synth.tokens import ChatCount

        n = counter.count_many([x for _, v in valid for x in (v["prompt"], v["completion"])])
        counts = [ChatCount(total=p + c, assistant=c, messages=2) for p, c in zip(n[0::2], n[1::2])]
    else:
        counts = counter.chat_counts([to_messages(v, fmt) for _, v in valid])
    over = []
    for (i, _), c in zip(valid, counts):
        if c.total > limit:
            findings.append(Finding(i, "too_long", f"{c.total:,} tokens, over the {limit:,}-token limit "
                                                   f"per example (the trainer truncates or rejects it)"))
            bad_lines.add(i)
            over.append(i)
    report.example_tokens = [c.total for c in counts]
    if valid:
        if fmt != "completion":
            report.distributions["messages per example"] = Distribution.of([c.messages for c in counts])
        report.distributions["tokens per example"] = Distribution.of([c.total for c in counts])
        report.distributions["assistant tokens per example" if fmt != "completion" else
                             "completion tokens per example"] = Distribution.of([c.assistant for c in counts])
    if not lines or not any(x.strip() for x in lines):
        findings.insert(0, Finding(None, "empty_file", "the file is empty: no examples"))
    elif report.examples < min_examples:
        is_val = validation_file if validation_file is not None else _looks_like_validation_file(path)
        if is_val:
            findings.insert(0, Finding(None, "too_few_examples", f"only {report.examples} example(s); "
                                       f"fine for a validation file", "warning"))
        else:
            findings.insert(0, Finding(None, "too_few_examples", f"only {report.examples} example(s): "
                                       f"fine-tuning needs at least {min_examples}"))
    if fmt == "completion" and len(valid) > 1:
        findings += _completion_consistency(valid)
    findings.sort(key=lambda f: (f.line or 0))
    report.findings = findings
    report.invalid_lines = sorted(x for x in bad_lines if x is not None)
    return report


def _common_suffix(strings: list[str]) -> str:
    rev = [s[::-1] for s in strings]
    lo, hi = min(rev), max(rev)
    n = 0
    while n < min(len(lo), len(hi)) and lo[n] == hi[n]:
        n += 1
    return lo[:n][::-1]


def _completion_consistency(valid: list[tuple[int, dict[str, Any]]]) -> list[Finding]:
    """OpenAI's legacy guide: every prompt ends with the same separator, every completion with
    the same stop sequence."""
    out = []
    if not _common_suffix([v["prompt"] for _, v in valid]).strip():
        out.append(Finding(None, "no_common_separator", "prompts do not all end with the same "
                           "separator (e.g. \"\\n\\nEVE:\"); the model can't tell where to answer",
                           "warning"))
    if not _common_suffix([v["completion"] for _, v in valid]).strip():
        out.append(Finding(None, "no_common_stop", "completions do not all end with the same stop "
                           "sequence; the model won't learn where to stop", "warning"))
    return out


def validate_file(path: str | Path, *, model: str | None = None, fmt: Format | None = None,
                  limit: int | None = None, validation_file: bool | None = None) -> ValidationReport:
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise ChatsynthError("no such file", path=p) from None
    except IsADirectoryError:
        raise ChatsynthError("is a folder, expected a JSONL file", path=p) from None
    except OSError as exc:
        raise ChatsynthError(f"can't read: {exc.strerror}", path=p) from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    stripped = data.lstrip()
    if stripped.startswith(b"["):
        try:
            arr = json.loads(stripped)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            arr = None
        if isinstance(arr, list):
            r = ValidationReport(path=str(p), format=fmt or detect_format(arr), examples=0,
                                 lines=data.count(b"\n") + 1)
            r.findings.append(Finding(1, "json_array", f"the file is one JSON array of {len(arr)} "
                                      "items, not JSON Lines: write one example per line, no brackets"))
            return r
    return validate_lines(split_lines(data), path=str(p), model=model, fmt=fmt, limit=limit,
                          validation_file=validation_file)
