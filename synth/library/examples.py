"""A persona's few-shot examples: whole conversations written in the persona's own speaker
labels, e.g. ``USER: ...`` / ``EVE: ...``, one block of text each (``examples:`` in the file).

An entry may instead name a stored conversation, ``- conversation: ID`` (or ``RUN/ID``), as
``chatsynth filter RUN --all`` lists them; its text is looked up when a run starts
(``synth.dataset.example_refs``) and rendered in the persona's labels like an inline one.

``example_turns`` splits one into (role, text) turns and says what is wrong with it (a label
that is neither of the persona's, text before the first label, turns out of order);
``parse_examples`` checks the list as loaded from YAML, naming the file, line and entry.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from synth.errors import LibraryError
from synth.library.yamlio import item_line, unknown_key_message

# a line that starts with a speaker label: "USER:", "Eve :", "AGENT:" (no lower-case-only words
# such as "Note:" unless they are one of the persona's labels)
_LABEL_LINE = re.compile(r"^\s*([^\s:][^:\n]{0,39}?)\s*:(\s|$)")


class ExampleError(ValueError):
    """What is wrong with one example, and on which of its lines (0-based)."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.line = line


def example_turns(text: str, user_label: str, persona_label: str) -> list[tuple[str, str]]:
    """``[(role, text), ...]`` of an example, or ExampleError saying what is wrong."""
    roles = {user_label.strip().casefold(): "user", persona_label.strip().casefold(): "assistant"}
    turns: list[list[str]] = []
    for n, line in enumerate(text.splitlines()):
        m = _LABEL_LINE.match(line)
        label = m.group(1).strip() if m else ""
        if m and label.casefold() in roles:
            turns.append([roles[label.casefold()], line[m.end(1):].lstrip().removeprefix(":").strip()])
            continue
        if m and label.upper() == label and any(c.isalpha() for c in label):
            raise ExampleError(f"speaker label {label!r} is not this persona's ({user_label} or "
                               f"{persona_label})", n)
        if not turns:
            if line.strip():
                raise ExampleError(f"text before the first speaker label ({user_label}:)", n)
            continue
        turns[-1][1] = (turns[-1][1] + "\n" + line).strip()
    if len(turns) < 2:
        raise ExampleError(f"an example needs at least two turns ({user_label}: and "
                           f"{persona_label}:)")
    for i, (role, body) in enumerate(turns):
        want = "user" if i % 2 == 0 else "assistant"
        if role != want:
            who = user_label if want == "user" else persona_label
            raise ExampleError(f"turn {i + 1} should be {who}'s: turns alternate, starting with "
                               f"{user_label}")
        if not body:
            raise ExampleError(f"turn {i + 1} is empty")
    return [(r, t) for r, t in turns]


def render_example(turns: list[tuple[str, str]], user_label: str, persona_label: str) -> str:
    """(role, text) turns as an example's text: one ``LABEL: text`` line (or block) a turn."""
    labels = {"user": user_label, "assistant": persona_label}
    return "".join(f"{labels[role]}: {body.strip()}\n" for role, body in turns)


_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


def parse_ref(entry: dict, *, path: Path | None, line: int | None, field: str) -> str:
    """``{conversation: ID}`` or ``{conversation: RUN/ID}``: the reference, checked for form."""
    extra = [str(k) for k in entry if k != "conversation"]
    if extra:
        raise LibraryError(unknown_key_message(extra[0], {"conversation"}), path=path, line=line,
                           field=f"{field}.{extra[0]}")
    ref = entry.get("conversation")
    if not isinstance(ref, str) or not _REF.match(ref.strip()):
        raise LibraryError(f"expected a stored conversation's id (or RUN/ID), got {ref!r}"[:160],
                           path=path, line=line, field=f"{field}.conversation")
    return ref.strip()


def example_text(turns: list[tuple[str, str]]) -> str:
    """The turns' text alone (no labels), as the near-copy check compares it."""
    return "\n".join(t for _, t in turns)


def parse_examples(raw: Any, user_label: str, persona_label: str, *, path: Path | None,
                   line: int | None) -> tuple[list[str], list[str]]:
    """The ``examples:`` list as loaded: (inline examples, each a block of text in the
    persona's labels; references to stored conversations, looked up when a run starts)."""
    if raw is None:
        return [], []
    if not isinstance(raw, list):
        raise LibraryError(f"expected a list of example conversations, got {type(raw).__name__}",
                           path=path, line=line, field="examples")
    out, refs = [], []
    for i, entry in enumerate(raw):
        at = item_line(raw, i) or line
        if isinstance(entry, dict):
            ref = parse_ref(entry, path=path, line=at, field=f"examples[{i}]")
            if ref in refs:
                raise LibraryError(f"conversation {ref} is named twice", path=path, line=at,
                                   field=f"examples[{i}].conversation")
            refs.append(ref)
            continue
        if not isinstance(entry, str):
            raise LibraryError(f"expected a conversation as text ({user_label}: ... / "
                               f"{persona_label}: ...) or conversation: ID, got "
                               f"{type(entry).__name__}", path=path, line=at, field=f"examples[{i}]")
        try:
            example_turns(entry, user_label, persona_label)
        except ExampleError as exc:
            # a block scalar starts on the line after its "- |"
            where = at + 1 + exc.line if at is not None and "\n" in entry else at
            raise LibraryError(str(exc), path=path, line=where, field=f"examples[{i}]") from None
        out.append(entry.strip("\n") + "\n")
    return out, refs


def ref_position(raw: Any, ref: str) -> tuple[int | None, int | None]:
    """(index in the file's ``examples:`` list, its line) of the entry naming ``ref``."""
    for i, entry in enumerate(raw if isinstance(raw, list) else []):
        if isinstance(entry, dict) and str(entry.get("conversation", "")).strip() == ref:
            return i, item_line(raw, i)
    return None, None
