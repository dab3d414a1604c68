"""A persona's ``method:`` and ``user_simulator:`` block (role-play): parse and check them
(file:line: field), and write the block back.

```yaml
method: roleplay          # or transcript (the default): one request writes the whole conversation
user_simulator:
  prompt: |               # the simulated user's instructions; {topic}/{context} required
    You are a person talking with a life coach about: {topic}. {brief}
    When your need is met, write [END].
  briefs:                 # optional: one is drawn per conversation as {brief}
    - You are a nurse on night shifts; you write short, tired sentences.
  end_marker: "[END]"     # what the simulated user writes when its need is met
  min_turns: 4            # turns of both speakers; the marker is not honoured before this
  max_turns: 12           # a conversation that reaches this without the marker is flagged
  max_tokens: 200         # the most tokens of one turn (either side)
  endpoint: openai        # optional: another endpoint or model for the user's side
  model: gpt-4o-mini
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from synth.errors import Collector, LibraryError
from synth.persona_blocks import UserSimulator
from synth.library.yamlio import item_line, key_lines, unknown_key_message

SIM_KEYS = {"prompt", "briefs", "end_marker", "min_turns", "max_turns", "max_tokens",
            "endpoint", "model"}
METHODS = ("transcript", "roleplay")
SIM_PLACEHOLDERS = {"topic", "context", "brief", "name", "description", "persona_label",
                    "user_label"}
_DEFAULT = UserSimulator(prompt="")


def parse_method(raw: Any, *, path: Path | None, line: int | None) -> str:
    if raw is None:
        return "transcript"
    if raw not in METHODS:
        raise LibraryError(f"method must be 'transcript' or 'roleplay', got {raw!r}", path=path,
                           line=line, field="method")
    return str(raw)


def parse_simulator(raw: Any, labels: tuple[str | None, str | None], *, path: Path | None,
                    line: int | None) -> UserSimulator | None:
    """The ``user_simulator:`` block, or None.  ``labels``: the persona's two speaker labels
    (an end marker equal to one of them would end every turn).  Every problem is found."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise LibraryError("must be a mapping (prompt, end_marker, min_turns, max_turns, ...)",
                           path=path, line=line, field="user_simulator")
    lines = key_lines(raw)
    take = Collector()

    def at(key: str) -> int | None:
        return lines.get(key, line)

    for key in raw:
        if str(key) not in SIM_KEYS:
            take.add(LibraryError(unknown_key_message(str(key), SIM_KEYS), path=path,
                                  line=at(str(key)), field=f"user_simulator.{key}"))
    prompt = raw.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        take.add(LibraryError("the simulated user's prompt is required text", path=path,
                              line=at("prompt"), field="user_simulator.prompt"))
        prompt = ""
    else:
        take(_check_prompt, prompt, path=path, line=at("prompt"))
    briefs = raw.get("briefs") or []
    if not isinstance(briefs, list) or not all(isinstance(b, str) and b.strip() for b in briefs):
        bad = next((i for i, b in enumerate(briefs) if not (isinstance(b, str) and b.strip())), 0) \
            if isinstance(briefs, list) else None
        take.add(LibraryError("must be a list of short texts (one is drawn per conversation)",
                              path=path, line=(item_line(briefs, bad) if bad is not None else None)
                              or at("briefs"), field="user_simulator.briefs"))
        briefs = []
    marker = raw.get("end_marker", _DEFAULT.end_marker)
    if not isinstance(marker, str) or not marker.strip():
        take.add(LibraryError(f"must be a non-empty text, got {marker!r}", path=path,
                              line=at("end_marker"), field="user_simulator.end_marker"))
        marker = _DEFAULT.end_marker
    marker = marker.strip()
    for label in labels:
        if label and marker.rstrip(":").strip().casefold() == label.casefold():
            take.add(LibraryError(f"the end marker {marker!r} is the speaker label {label!r}: "
                                  "every turn would end the conversation; use e.g. [END]",
                                  path=path, line=at("end_marker"),
                                  field="user_simulator.end_marker"))
    nums = {}
    for key, lo, hi in (("min_turns", 2, 200), ("max_turns", 2, 200), ("max_tokens", 1, 32_768)):
        nums[key] = take(_int, raw, key, lo, hi, path=path, line=at(key),
                         on_error=getattr(_DEFAULT, key))
    if nums["min_turns"] > nums["max_turns"]:
        take.add(LibraryError(f"min_turns ({nums['min_turns']}) is more than max_turns "
                              f"({nums['max_turns']})", path=path, line=at("min_turns"),
                              field="user_simulator.min_turns"))
    names: dict[str, str | None] = {}
    for key in ("endpoint", "model"):
        val = raw.get(key)
        if val is not None and (not isinstance(val, str) or not val.strip()):
            take.add(LibraryError(f"must be a name, got {val!r}", path=path, line=at(key),
                                  field=f"user_simulator.{key}"))
            val = None
        names[key] = val.strip() if isinstance(val, str) else None
    take.done()
    return UserSimulator(prompt=prompt, end_marker=marker, briefs=[b.strip() for b in briefs],
                         endpoint=names["endpoint"], model=names["model"], **nums)


def _check_prompt(prompt: str, *, path, line) -> None:
    from synth.library.personas import check_template, template_placeholders

    field = "user_simulator.prompt"
    check_template(prompt, path=path, line=line, field=field, allowed=SIM_PLACEHOLDERS)
    names = template_placeholders(prompt)
    if "topic" not in names and "context" not in names:
        raise LibraryError("the prompt must use {topic} or {context}, or every conversation "
                           "would be about the same thing", path=path, line=line, field=field)


def _int(raw: dict, key: str, lo: int, hi: int, *, path, line) -> int:
    val = raw.get(key)
    if val is None:
        return getattr(_DEFAULT, key)
    if isinstance(val, bool) or not isinstance(val, int):
        raise LibraryError(f"expected a whole number, got {type(val).__name__} {val!r}"[:160],
                           path=path, line=line, field=f"user_simulator.{key}")
    if not lo <= val <= hi:
        raise LibraryError(f"must be between {lo} and {hi}, got {val}", path=path, line=line,
                           field=f"user_simulator.{key}")
    return int(val)


def simulator_to_mapping(sim: UserSimulator, literal=str) -> dict[str, Any]:
    """The block as written back to the persona file (defaults left out); ``literal`` makes a
    many-line text a YAML block."""
    d: dict[str, Any] = {"prompt": literal(sim.prompt)}
    if sim.briefs:
        d["briefs"] = list(sim.briefs)
    for key in ("end_marker", "min_turns", "max_turns", "max_tokens", "endpoint", "model"):
        if getattr(sim, key) != getattr(_DEFAULT, key):
            d[key] = getattr(sim, key)
    return d


def update_simulator(target: dict, old: UserSimulator | None, new: UserSimulator,
                     literal=str) -> None:
    """Change only the keys of a loaded block whose values changed (comments stay)."""
    full = simulator_to_mapping(new, literal)
    for key in ("prompt", "briefs", "end_marker", "min_turns", "max_turns", "max_tokens",
                "endpoint", "model"):
        if old is not None and getattr(old, key) == getattr(new, key):
            continue
        if key in full:
            target[key] = full[key]
        elif getattr(new, key) in (None, []) or old is None:
            target.pop(key, None)
        else:
            target[key] = getattr(new, key)  # back to the default: written out all the same
