"""One fine-tune example at a time: parse a line (duplicate keys, NaN, lone surrogates), detect
the format, and check a chat, ShareGPT or prompt/completion example against the trainers' rules.
Each problem is a Finding that names its line; ``synth.dataset.validate`` runs these over files.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Iterable, Literal

Severity = Literal["error", "warning"]
Format = Literal["chat", "sharegpt", "completion"]

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


_PLAIN_ROLES = ("system", "user", "assistant")  # roles with no check of their own


def _may_hold_key(s: str) -> bool:
    """``_API_KEY`` finds something (each of its forms starts "sk-" or "hf_": a cheap test first)."""
    return ("sk-" in s or "hf_" in s) and _API_KEY.search(s) is not None


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
        if type(m) is dict and len(m) == 2 and m.get("role") in _PLAIN_ROLES:
            content = m.get("content")  # the usual message: nothing below can find a fault
            if (type(content) is str and content and not _may_hold_key(content)
                    and (content.isascii() or not _has_lone_surrogate(content))):
                roles.append(m["role"])
                continue
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
            elif isinstance(content, str) and _may_hold_key(content):
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
        elif _may_hold_key(t["value"]):
            out.append(F(lineno, "secret", f"{w} value looks like it holds an API key"))
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
        elif _may_hold_key(ex[k]):
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
