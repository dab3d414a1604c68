"""Load, validate and save personas (topic sources: ``synth.library.topics``).

Every problem is a LibraryError naming file, line and field.  Saving a persona goes back through
the round-trip YAML document it was loaded from, so the user's comments and key order survive.
"""

from __future__ import annotations

import math
import re
import string
from pathlib import Path
from typing import Any

from synth import checks
from synth.errors import Collector, LibraryError
from synth.models import SAMPLING_FIELDS, FilterRules, PatternRule, Persona
from synth.library.examples import parse_examples
from synth.library.judge_block import judge_to_mapping, parse_judge
from synth.library.simulator_block import (
    parse_method, parse_simulator, simulator_to_mapping, update_simulator,
)
from synth.library.yamlio import (
    atomic_write_text, dump_yaml, item_line, key_lines, load_yaml_mapping, parse_yaml,
    parse_yaml_document, read_text, unknown_key_message,
)

PLACEHOLDERS = {"topic", "context", "name", "description", "persona_label", "user_label"}
REQUIRED = ("name", "persona_label", "user_label", "system_prompt", "synthesis_prompt")
PERSONA_KEYS = {
    *REQUIRED, "description", "style", "temperature", "max_tokens", "stop", "rules",
    "judge", *SAMPLING_FIELDS, "examples", "examples_per_prompt", "method", "user_simulator",
}
RULE_KEYS = set(FilterRules.__dataclass_fields__)
PATTERN_KEYS = set(PatternRule.__dataclass_fields__)
_LABEL_RE = re.compile(r"^[^\s:][^:\n]{0,39}$")


# -- personas ---------------------------------------------------------------------------------

def template_placeholders(template: str) -> list[str]:
    """Names of the ``{placeholders}`` in a template; raises ValueError on a stray brace."""
    names = []
    for _, field_name, _, _ in string.Formatter().parse(template):
        if field_name is not None:
            names.append(field_name)
    return names


def check_template(template: str, *, path: Path | None, line: int | None, field: str,
                   allowed: set[str] = PLACEHOLDERS) -> None:
    try:
        names = template_placeholders(template)
    except ValueError as exc:
        raise LibraryError(f"bad brace in template ({exc}); write a literal brace as {{{{ or }}}}",
                           path=path, line=line, field=field) from None
    for name in names:
        if name not in allowed:
            raise LibraryError(
                f"unknown placeholder {{{name}}} (allowed: "
                + ", ".join("{" + p + "}" for p in sorted(allowed)) + ")",
                path=path, line=line, field=field)


def type_error(expected: str, value: Any, *, path, line, field) -> LibraryError:
    return LibraryError(f"expected {expected}, got {type(value).__name__} {value!r}"[:160],
                        path=path, line=line, field=field)


def _str(data, key, lines, path, *, required=False, default="") -> str:
    if key not in data or data[key] is None:
        if required:
            raise LibraryError("required field is missing", path=path, line=1, field=key)
        return default
    val = data[key]
    if not isinstance(val, str):
        raise type_error("text", val, path=path, line=lines.get(key), field=key)
    if required and not val.strip():
        raise LibraryError("must not be empty", path=path, line=lines.get(key), field=key)
    return str(val)


def _number(data, key, lines, path, *, default, kind=float, lo=None, hi=None):
    if key not in data or data[key] is None:
        return default
    val = data[key]
    ok = isinstance(val, (int, float)) and not isinstance(val, bool)
    if kind is int:
        ok = isinstance(val, int) and not isinstance(val, bool)
    if not ok:
        raise type_error("an integer" if kind is int else "a number", val, path=path,
                          line=lines.get(key), field=key)
    if not math.isfinite(val):
        raise LibraryError(f"must be a finite number, not {val}", path=path, line=lines.get(key),
                           field=key)
    if (lo is not None and val < lo) or (hi is not None and val > hi):
        raise LibraryError(f"must be between {lo} and {hi}, got {val}", path=path,
                           line=lines.get(key), field=key)
    return kind(val)


def _regex_list(value, *, path, line, field) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise type_error("a list of regular expressions", value, path=path, line=line, field=field)
    out = []
    for i, pat in enumerate(value):
        if not isinstance(pat, str):
            raise type_error("a regular expression (text)", pat, path=path,
                              line=item_line(value, i) or line, field=f"{field}[{i}]")
        try:
            re.compile(pat)
        except re.error as exc:
            raise LibraryError(f"invalid regular expression {pat!r}: {exc}", path=path,
                               line=item_line(value, i) or line, field=f"{field}[{i}]") from None
        out.append(str(pat))
    return out


def parse_rules(raw: Any, *, path: Path | None, line: int | None) -> FilterRules:
    if raw is None:
        return FilterRules()
    if not isinstance(raw, dict):
        raise type_error("a mapping of rule settings", raw, path=path, line=line, field="rules")
    lines = key_lines(raw)
    take = Collector()
    for key in raw:
        if key not in RULE_KEYS:
            take.add(LibraryError(unknown_key_message(str(key), RULE_KEYS), path=path,
                                  line=lines.get(str(key), line), field=f"rules.{key}"))
    rules = FilterRules()
    for key in ("alternation", "empty_turns", "leaked_labels", "repeated_lines", "refusals",
                "truncated"):
        if key in raw:
            if not isinstance(raw[key], bool):
                take.add(type_error("true or false", raw[key], path=path, line=lines.get(key),
                                     field=f"rules.{key}"))
                continue
            setattr(rules, key, bool(raw[key]))
    for key in ("min_turns", "max_turns"):
        setattr(rules, key, take(_number, raw, key, lines, path, default=getattr(rules, key),
                                 kind=int, lo=0, hi=10_000, on_error=getattr(rules, key)))
    rules.near_duplicates = take(_number, raw, "near_duplicates", lines, path,
                                 default=rules.near_duplicates, lo=0, hi=1,
                                 on_error=rules.near_duplicates)
    if rules.min_turns > rules.max_turns:
        take.add(LibraryError(f"min_turns ({rules.min_turns}) is more than max_turns "
                              f"({rules.max_turns})", path=path, line=lines.get("min_turns"),
                              field="rules.min_turns"))
    pats = raw.get("patterns") or []
    if not isinstance(pats, list):
        take.add(type_error("a list of pattern rules", pats, path=path,
                             line=lines.get("patterns"), field="rules.patterns"))
        pats = []
    for i, p in enumerate(pats):
        rule = take(_pattern_rule, p, i, pats, lines, path)
        if rule is not None:
            rules.patterns.append(rule)
    take.done()
    return rules


def _pattern_rule(p: Any, i: int, pats: list, lines: dict[str, int], path) -> PatternRule:
    pline = item_line(pats, i) or lines.get("patterns")
    fld = f"rules.patterns[{i}]"
    if not isinstance(p, dict):
        raise type_error("a mapping with name, applies_to, require_any, forbid", p, path=path,
                          line=pline, field=fld)
    plines = key_lines(p)
    for key in p:
        if key not in PATTERN_KEYS:
            raise LibraryError(unknown_key_message(str(key), PATTERN_KEYS), path=path,
                               line=plines.get(str(key), pline), field=f"{fld}.{key}")
    name = p.get("name")
    if not isinstance(name, str) or not name.strip():
        raise LibraryError("each pattern rule needs a name", path=path, line=pline,
                           field=f"{fld}.name")
    applies = p.get("applies_to", "assistant")
    if applies not in ("assistant", "user"):
        raise LibraryError("applies_to must be 'assistant' or 'user'", path=path,
                           line=plines.get("applies_to", pline), field=f"{fld}.applies_to")
    req = _regex_list(p.get("require_any"), path=path, line=plines.get("require_any", pline),
                      field=f"{fld}.require_any")
    forbid = _regex_list(p.get("forbid"), path=path, line=plines.get("forbid", pline),
                         field=f"{fld}.forbid")
    if not req and not forbid:
        raise LibraryError("a pattern rule needs require_any or forbid", path=path, line=pline,
                           field=fld)
    reason = p.get("reason") or ""
    if not isinstance(reason, str):
        raise type_error("text", reason, path=path, line=plines.get("reason", pline),
                          field=f"{fld}.reason")
    return PatternRule(name=str(name), applies_to=applies, require_any=req, forbid=forbid,
                       reason=str(reason))


def persona_from_mapping(data: Any, path: Path | None, persona_id: str,
                         lines: dict[str, int] | None = None) -> Persona:
    """Validate a persona mapping (as loaded from YAML, or as edited in the TUI).  Every
    problem is found: the first is raised, the others ride along in its ``.more``."""
    lines = lines if lines is not None else key_lines(data)
    take = Collector()
    for key in data:
        if str(key) not in PERSONA_KEYS:
            take.add(LibraryError(unknown_key_message(str(key), PERSONA_KEYS), path=path,
                                  line=lines.get(str(key)), field=str(key)))
    vals = {k: take(_str, data, k, lines, path, required=True) for k in REQUIRED}
    for key in ("persona_label", "user_label"):
        if vals[key] is not None:
            vals[key] = take(_label, vals[key], path, lines.get(key), key)
    if vals["persona_label"] and vals["user_label"] and \
            vals["persona_label"].casefold() == vals["user_label"].casefold():
        take.add(LibraryError("persona_label and user_label must differ", path=path,
                              line=lines.get("user_label"), field="user_label"))
    if vals["synthesis_prompt"] is not None:
        take(check_template, vals["synthesis_prompt"], path=path,
             line=lines.get("synthesis_prompt"), field="synthesis_prompt")
    style = take(_style, data, lines, path)
    stop = take(_stops, data.get("stop"), path, lines.get("stop"))
    sampling = {key: take(_sampling, data, key, lines, path, default=default)
                for key, default in (("temperature", 0.8), ("max_tokens", 800),
                                     *((k, None) for k in SAMPLING_FIELDS),
                                     ("examples_per_prompt", 1))}
    description = take(_str, data, "description", lines, path)
    rules = take(parse_rules, data.get("rules"), path=path, line=lines.get("rules"))
    judge = take(parse_judge, data.get("judge"), path=path, line=lines.get("judge"))
    examples, refs = [], []
    if vals["persona_label"] and vals["user_label"]:
        examples, refs = take(parse_examples, data.get("examples"), vals["user_label"],
                              vals["persona_label"], path=path, line=lines.get("examples")) \
            or ([], [])
    method = take(parse_method, data.get("method"), path=path, line=lines.get("method"))
    sim = take(parse_simulator, data.get("user_simulator"),
               (vals["persona_label"], vals["user_label"]), path=path,
               line=lines.get("user_simulator"))
    if method == "roleplay" and sim is None and "user_simulator" not in data:
        take.add(LibraryError("method roleplay needs a user_simulator: block (the simulated "
                              "user's prompt)", path=path, line=lines.get("method"),
                              field="method"))
    take.done()
    return Persona(
        id=persona_id,
        name=vals["name"].strip(),
        description=description.strip(),
        persona_label=vals["persona_label"],
        user_label=vals["user_label"],
        system_prompt=vals["system_prompt"].strip(),
        synthesis_prompt=vals["synthesis_prompt"],
        style=style,  # type: ignore[arg-type]
        temperature=sampling["temperature"],
        max_tokens=sampling["max_tokens"],
        stop=stop,
        rules=rules,
        path=path,
        judge=judge,
        **{k: sampling[k] for k in SAMPLING_FIELDS},
        examples=examples,
        examples_per_prompt=sampling["examples_per_prompt"],
        example_refs=refs,
        method=method or "transcript",  # type: ignore[arg-type]
        user_simulator=sim,
    )


def _label(text: str, path, line, key) -> str:
    label = text.strip()
    if not _LABEL_RE.match(label):
        raise LibraryError("a speaker label is one short line without ':' (e.g. EVE)",
                           path=path, line=line, field=key)
    return label


def _style(data, lines, path) -> str:
    style = _str(data, "style", lines, path, default="completion")
    if style not in ("completion", "chat"):
        raise LibraryError(f"style must be 'completion' or 'chat', got {style!r}", path=path,
                           line=lines.get("style"), field="style")
    return style


def _stops(stop: Any, path, line) -> list[str]:
    stop = stop or []
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
        raise type_error("a list of non-empty stop sequences", stop, path=path, line=line,
                          field="stop")
    return [str(s) for s in stop]


def _sampling(data, key, lines, path, *, default):
    """A sampling value, checked against the one table of limits (synth.checks.NUMBERS)."""
    if key not in data or data[key] is None:
        return default
    return checks.number(key, data[key], path=path, line=lines.get(key), error=LibraryError)


def load_persona(path: Path) -> Persona:
    path = Path(path)
    data, lines = load_yaml_mapping(path, allowed=None, what="persona")  # keys: checked below
    return persona_from_mapping(data, path, path.stem, lines)


def persona_files(ws) -> list[Path]:
    d = ws.personas_dir
    return sorted(p for p in d.glob("*.y*ml") if p.suffix in (".yaml", ".yml")) if d.is_dir() else []


def load_personas(ws) -> tuple[list[Persona], list[LibraryError]]:
    """Every persona in the workspace, and the errors of those that did not load."""
    out, errors = [], []
    for p in persona_files(ws):
        try:
            out.append(load_persona(p))
        except LibraryError as err:
            errors.append(err)
    return out, errors


def find_persona(ws, name_or_path: str) -> Persona:
    cand = Path(name_or_path).expanduser()
    if cand.suffix in (".yaml", ".yml") and cand.exists():
        return load_persona(cand)
    for p in persona_files(ws):
        if p.stem == name_or_path:
            return load_persona(p)
    # fall back to a persona's display name, case-insensitively; two with that name: ask for one
    hits = [p for p in load_personas(ws)[0] if p.name.casefold() == name_or_path.casefold()]
    if len(hits) > 1:
        raise LibraryError(f"{len(hits)} personas are named {name_or_path!r}: pick one by its file "
                           f"name ({', '.join(p.id for p in hits)})", field="persona")
    if hits:
        return hits[0]
    known = ", ".join(p.stem for p in persona_files(ws)) or "none"
    raise LibraryError(f"no persona {name_or_path!r} in {ws.personas_dir} (have: {known})",
                       field="persona")


def persona_to_mapping(persona: Persona) -> dict[str, Any]:
    rules = persona.rules
    default = FilterRules()
    rd: dict[str, Any] = {}
    for key in ("min_turns", "max_turns", "alternation", "empty_turns", "leaked_labels",
                "repeated_lines", "refusals", "truncated", "near_duplicates"):
        if getattr(rules, key) != getattr(default, key):
            rd[key] = getattr(rules, key)
    if rules.patterns:
        rd["patterns"] = [
            {k: v for k, v in (("name", p.name), ("applies_to", p.applies_to),
                               ("require_any", p.require_any), ("forbid", p.forbid),
                               ("reason", p.reason)) if v not in ([], "")}
            for p in rules.patterns
        ]
    d: dict[str, Any] = {
        "name": persona.name,
        "description": persona.description,
        "persona_label": persona.persona_label,
        "user_label": persona.user_label,
        "style": persona.style,
        "temperature": persona.temperature,
        "max_tokens": persona.max_tokens,
        "stop": list(persona.stop),
        "system_prompt": persona.system_prompt,
        "synthesis_prompt": persona.synthesis_prompt,
    }
    d.update(persona.sampling())  # only the values that are set
    if persona.examples or persona.example_refs:
        d["examples"] = [_literal(e.rstrip("\n") + "\n") for e in persona.examples] + \
            [{"conversation": ref} for ref in persona.example_refs]
    if persona.examples_per_prompt != 1:
        d["examples_per_prompt"] = persona.examples_per_prompt
    if rd:
        d["rules"] = rd
    if persona.judge is not None:
        d["judge"] = judge_to_mapping(persona.judge)
    if persona.method != "transcript":
        d["method"] = persona.method
    if persona.user_simulator is not None:
        d["user_simulator"] = simulator_to_mapping(persona.user_simulator, _literal)
    return d


def _literal(text: str):
    from ruamel.yaml.scalarstring import LiteralScalarString

    return LiteralScalarString(text) if "\n" in text else text


def save_persona(persona: Persona, path: Path | None = None) -> Path:
    """Write a persona back to YAML.  Fields that did not change are left exactly as the user
    wrote them (comments, quoting, key order); changed fields are replaced in place."""
    path = Path(path or persona.path or "")
    if not str(path):
        raise LibraryError("no file to save the persona to", field="path")
    new = persona_to_mapping(persona)
    doc: Any = None
    old: Persona | None = None
    if path.exists():
        try:
            doc = parse_yaml_document(read_text(path), path)
            old = persona_from_mapping(doc, path, path.stem) if isinstance(doc, dict) else None
        except LibraryError:
            doc, old = None, None  # an unreadable file is replaced whole (the user asked to save)
    if not isinstance(doc, dict):
        from ruamel.yaml.comments import CommentedMap

        doc = CommentedMap()
    for key in list(doc):
        if key not in new and key in PERSONA_KEYS and key not in ("rules", "judge"):
            del doc[key]
    for key, val in new.items():
        if old is not None and key in doc and getattr(old, key) == getattr(persona, key) and (
                key != "examples" or old.example_refs == persona.example_refs):
            continue  # unchanged: keep the user's text, quoting and comments
        if key == "user_simulator" and isinstance(doc.get(key), dict):
            update_simulator(doc[key], old and old.user_simulator, persona.user_simulator,
                             _literal)  # changed key by key: the block's comments stay
            continue
        if (key == "examples" and old is not None and isinstance(doc.get(key), list)
                and persona.examples[:len(old.examples)] == old.examples
                and old.example_refs == persona.example_refs):
            # inline examples added: the rest stays as written
            doc[key].extend(val[len(old.examples):len(persona.examples)])
            continue
        if isinstance(val, str) and "\n" in val:
            # system_prompt is read back stripped, so it keeps the usual "|" block style;
            # the synthesis prompt is kept to the character ("|-" when it has no final newline)
            val = _literal(val + "\n" if key == "system_prompt" else val)
        doc[key] = val
    if old is not None and "rules" in doc and old.rules != persona.rules:
        doc["rules"] = new.get("rules", {})
    elif "rules" not in doc and "rules" in new:
        doc["rules"] = new["rules"]
    if (old is not None and old.judge != persona.judge) or ("judge" not in doc and "judge" in new):
        if "judge" in new:
            doc["judge"] = new["judge"]
        else:
            doc.pop("judge", None)
    text = dump_yaml(doc)
    # refuse to write something that would not load back as what was asked for
    check = persona_from_mapping(parse_yaml(text, path), path, path.stem)
    if check.content_hash() != Persona(**{**persona.__dict__, "id": path.stem}).content_hash():
        raise LibraryError("the persona would not read back as saved; nothing was written",
                           path=path)
    atomic_write_text(path, text)
    persona.path = path
    return path
