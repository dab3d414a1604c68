"""A persona's few-shot examples: whole conversations written in the persona's own speaker
labels, e.g. ``USER: ...`` / ``EVE: ...``, one block of text each (``examples:`` in the file).

``example_turns`` splits one into (role, text) turns and says what is wrong with it (a label
that is neither of the persona's, text before the first label, turns out of order);
``parse_examples`` checks the list as loaded from YAML, naming the file, line and entry.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from synth.errors import LibraryError
from synth.library.yamlio import item_line

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


def example_text(turns: list[tuple[str, str]]) -> str:
    """The turns' text alone (no labels), as the near-copy check compares it."""
    return "\n".join(t for _, t in turns)


def parse_examples(raw: Any, user_label: str, persona_label: str, *, path: Path | None,
                   line: int | None) -> list[str]:
    """The ``examples:`` list as loaded: each entry a block of text in the persona's labels."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise LibraryError(f"expected a list of example conversations, got {type(raw).__name__}",
                           path=path, line=line, field="examples")
    out = []
    for i, entry in enumerate(raw):
        at = item_line(raw, i) or line
        if not isinstance(entry, str):
            raise LibraryError(f"expected a conversation as text ({user_label}: ... / "
                               f"{persona_label}: ...), got {type(entry).__name__}",
                               path=path, line=at, field=f"examples[{i}]")
        try:
            example_turns(entry, user_label, persona_label)
        except ExampleError as exc:
            # a block scalar starts on the line after its "- |"
            where = at + 1 + exc.line if at is not None and "\n" in entry else at
            raise LibraryError(str(exc), path=path, line=where, field=f"examples[{i}]") from None
        out.append(entry.strip("\n") + "\n")
    return out
