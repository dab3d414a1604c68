"""Speaker-labelled text -> turns, and client-side trimming at stop sequences.

Pure functions: the engine calls them on the streamed text, and the TUI can call them again
later with other stop sequences (``retrim``) without a new request.

Parsing is tolerant of what real models write:
- label variants: case and spacing ("EVE:", "Eve :", "User:"), markdown bold ("**Eve:**"),
  the persona's display name in place of its label;
- multi-line turns (every line up to the next label belongs to the turn);
- a preamble before the first label (dropped, unless the prompt ended with a label, in which
  case the text before the first label *is* that speaker's first turn);
- text past the end of the conversation: a separator line ("---", "###"), an "END OF
  CONVERSATION" line, or a line that starts another labelled section ("Topic:") ends parsing.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field, replace
from typing import Iterable, Sequence

from synth.models import Conversation, Persona, Role, Trim, Turn

# -- stop sequences ---------------------------------------------------------------------------


def find_stop(text: str, stops: Iterable[str], start: int = 0) -> tuple[int, str] | None:
    """The earliest (offset, stop) of any non-empty stop sequence in ``text[start:]``."""
    best: tuple[int, str] | None = None
    for s in stops:
        if not s:
            continue
        i = text.find(s, start)
        if i >= 0 and (best is None or i < best[0] or (i == best[0] and len(s) > len(best[1]))):
            best = (i, s)
    return best


def trim(raw: str, stops: Iterable[str]) -> tuple[str, Trim]:
    """Cut ``raw`` at the first stop sequence.  Returns (kept text, Trim record)."""
    hit = find_stop(raw, stops)
    if hit is None:
        return raw, Trim()
    at, stop = hit
    return raw[:at], Trim(stop=stop, at=at, tail=raw[at:])


# -- speaker labels ---------------------------------------------------------------------------

_END_LINE = re.compile(
    r"^\s*(?:-{3,}|={3,}|#{2,}.*|\*{3,}|_{3,}|\(?\s*(?:the\s+)?end(?:\s+of\s+(?:the\s+)?"
    r"(?:conversation|transcript|session))?\s*\)?\.?|<\|?\s*end[^>]*>)\s*$",
    re.IGNORECASE,
)
# A line that opens some other labelled section: "Topic: ...", "Conversation 2:", "NOTE:".
_OTHER_LABEL = re.compile(r"^\s*\**\s*([A-Za-z][A-Za-z0-9 _'-]{0,30}?)\s*\**\s*:\**(?:\s|$)")


@dataclass
class Speakers:
    """How each role's turns are introduced.  ``aliases`` are matched case-insensitively."""

    user: list[str]
    assistant: list[str]
    # Labels that, at the start of a line after the conversation began, mean it has ended.
    enders: list[str] = field(default_factory=lambda: ["topic", "conversation", "transcript",
                                                        "session", "example", "title"])

    @classmethod
    def for_persona(cls, persona: Persona) -> "Speakers":
        assistant = [persona.persona_label]
        if persona.name and persona.name.lower() != persona.persona_label.lower():
            assistant.append(persona.name)
        user = [persona.user_label]
        if persona.user_label.lower() != "user":
            user.append("User")
        return cls(user=user, assistant=assistant)

    @classmethod
    def labels(cls, persona_label: str, user_label: str) -> "Speakers":
        return cls(user=[user_label], assistant=[persona_label])


def _label_regex(speakers: Speakers) -> re.Pattern[str]:
    # compiled once per set of labels: collecting 100,000 answers of one persona compiled it
    # 100,000 times (a fifth of the cost of each)
    return _label_regex_for(tuple(speakers.user), tuple(speakers.assistant))


@functools.lru_cache(maxsize=64)
def _label_regex_for(user: tuple[str, ...], assistant: tuple[str, ...]) -> re.Pattern[str]:
    def alt(names: Sequence[str]) -> str:
        # "Eve" also matches "E V E"? no; but spacing around and inside multiword labels is loose.
        parts = sorted({n.strip() for n in names if n.strip()}, key=len, reverse=True)
        return "|".join(r"\s+".join(re.escape(w) for w in p.split()) for p in parts)

    return re.compile(
        r"^[ \t]*(?:\*\*|__)?[ \t]*(?:(?P<user>" + alt(user) + r")|(?P<assistant>"
        + alt(assistant) + r"))[ \t]*(?:\*\*|__)?[ \t]*:[ \t]*(?:\*\*|__)?[ \t]?",
        re.IGNORECASE | re.MULTILINE,
    )


@dataclass
class Parsed:
    turns: list[Turn]
    preamble: str = ""  # text before the first label (when it was not a turn)
    overflow: str = ""  # text after the conversation ended


def parse_turns(text: str, speakers: Speakers, *, first_role: Role | None = None) -> Parsed:
    """Split ``text`` into turns by speaker label.

    ``first_role``: the prompt ended with this speaker's label, so the text before the first
    label in ``text`` is that speaker's first turn rather than a preamble.
    """
    rx = _label_regex(speakers)
    enders = {e.lower() for e in speakers.enders}
    own = {n.strip().lower() for n in (*speakers.user, *speakers.assistant)}
    turns: list[Turn] = []
    preamble = ""
    overflow = ""
    role: Role | None = first_role
    label = ""
    buf: list[str] = []
    started = first_role is not None

    def flush() -> None:
        if role is None:
            return
        body = "\n".join(buf).strip()
        if body or label:
            turns.append(Turn(role=role, text=body, label=label))

    lines = text.split("\n")
    for idx, line in enumerate(lines):
        m = rx.match(line)
        if m:
            if role is None and not started:
                preamble = "\n".join(buf).strip()
            else:
                flush()
            started = True
            role = "user" if m.group("user") is not None else "assistant"
            label = m.group(0).strip().rstrip(":").strip(" *_").rstrip().rstrip(":").strip()
            buf = [line[m.end():]]
            continue
        if started and (_END_LINE.match(line) or _ends_here(line, enders, own)):
            if role is not None and (turns or "\n".join(buf).strip()):
                overflow = "\n".join(lines[idx:])
                break
        buf.append(line)
    else:
        if not started:
            return Parsed(turns=[], preamble=text.strip())
    flush()
    return Parsed(turns=turns, preamble=preamble, overflow=overflow.strip("\n"))


def _ends_here(line: str, enders: set[str], own: set[str]) -> bool:
    m = _OTHER_LABEL.match(line)
    if not m:
        return False
    name = re.sub(r"\s+", " ", m.group(1).strip().lower())
    if name in own:
        return False
    first = name.split(" ")[0]
    return name in enders or first in enders


# -- conversations ----------------------------------------------------------------------------


def first_role_of(conv: Conversation) -> Role | None:
    r = conv.params.get("first_role")
    return r if r in ("user", "assistant") else None


def transcript_of(raw: str, stops: Sequence[str], speakers: Speakers,
                  first_role: Role | None) -> tuple[list[Turn], Trim, Parsed]:
    """Trim then parse: what the engine stores for a finished stream."""
    kept, t = trim(raw, stops)
    parsed = parse_turns(kept, speakers, first_role=first_role)
    return parsed.turns, t, parsed


def retrim(conv: Conversation, stops: Sequence[str], persona: Persona | None = None) -> Conversation:
    """The same conversation trimmed with other stop sequences: no request, only ``raw_text``."""
    speakers = Speakers.for_persona(persona) if persona else _speakers_from_params(conv)
    turns, t, _ = transcript_of(conv.raw_text, stops, speakers, first_role_of(conv))
    params = dict(conv.params)
    params["stop"] = list(stops)
    return replace(conv, turns=turns, trim=t, params=params)


_ENDS_SENTENCE = re.compile(r"[.!?\u2026)\]}>\"'\u201d\u2019*_`~]\s*$")  # not ':' (more was to come)


def truncation(conv: Conversation, turns: Sequence[Turn] | None = None) -> str | None:
    """Why the last turn of ``conv`` was cut off before its end, or None when it was not.

    Two ways: the server stopped at max_tokens (``finish_reason == "length"``) and no stop
    sequence cut the text earlier; or a stop sequence fired inside a turn (not at a line start)
    and the kept turn does not end a sentence.  Text the parser dropped after the conversation
    ended does not count.  ``turns``: the turns judged, when they differ from ``conv.turns`` (a
    review edit): an edit that rewrote or removed the cut turn is no longer cut.
    """
    if conv.status == "partial" or not conv.turns:
        return None
    last = conv.turns[-1].text.strip()
    if turns is not None and (not turns or turns[-1].text.strip() != last):
        return None
    at = conv.trim.at if conv.trim.stop is not None and conv.trim.at is not None else len(conv.raw_text)
    kept = conv.raw_text[:at]
    if not last or not kept.rstrip().endswith(last):
        return None  # the cut fell after the conversation ended, in text the parser dropped
    if conv.trim.stop is None:
        if conv.finish_reason == "max_turns":  # role-play: the simulated user never ended it
            limit = (conv.params.get("user_simulator") or {}).get("max_turns")
            return "reached max_turns" + (f" ({limit})" if limit else "") + \
                " before the simulated user ended the conversation"
        if conv.finish_reason != "length":
            return None
        limit = conv.params.get("max_tokens")
        return "was cut off by the server at max_tokens" + (f" ({limit})" if limit else "")
    stop = conv.trim.stop
    if (not kept.strip() or kept.rstrip(" \t").endswith("\n") or stop[:1] in ("\n", "\r")
            or _ENDS_SENTENCE.search(last)):
        return None
    return f"was cut inside the turn by the stop sequence {stop!r}"


def _speakers_from_params(conv: Conversation) -> Speakers:
    p = conv.params
    return Speakers(user=list(p.get("user_labels") or ["USER"]),
                    assistant=list(p.get("persona_labels") or ["ASSISTANT"]))


def render_transcript(turns: Sequence[Turn], persona_label: str, user_label: str) -> str:
    """Turns back into labelled text (for display and for completion-style exports)."""
    out = []
    for t in turns:
        lab = persona_label if t.role == "assistant" else user_label
        out.append(f"{lab}: {t.text}")
    return "\n".join(out)
