"""Aberration filters: named rules that give a verdict and reasons, never delete anything.

Per conversation: ``check(conv, rules, persona) -> Verdict``.  Across a run:
``near_duplicates(convs, threshold)`` (one-permutation MinHash with banding, verified by exact
Jaccard similarity of word 3-gram shingles) and ``check_run`` which combines both.

Each rule has a stable name (``RULES``) that the user sees next to a plain-language reason; a
persona's ``FilterRules`` turns rules on and off and sets their limits.
"""

from __future__ import annotations

import re
import zlib
from bisect import bisect_left
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import repeat
from typing import Any, Callable, Sequence

from synth.errors import LibraryError
from synth.library.examples import example_text, example_turns
from synth.models import Conversation, FilterRules, Persona, Turn
from synth.generate.transcript import truncation

# The rules, by name, and what each one means (shown in the TUI and the report).
RULES: dict[str, str] = {
    "partial": "the conversation was cut off before it ended (the run was cancelled)",
    "truncated": "the last turn was cut off (max_tokens, or a stop sequence inside a turn)",
    "turn_count": "too few or too many turns",
    "order": "turns must start with the user, end with the persona and alternate",
    "empty_turn": "a turn with no text",
    "leaked_label": "a speaker label inside a turn's text (the transcript was not split right)",
    "repeated_line": "a line or sentence repeated within the conversation",
    "refusal": "a refusal or an 'as an AI' disclaimer",
    "pattern": "the persona's own pattern rule (pattern:NAME)",
    "near_duplicate": "nearly the same text as an earlier conversation of the run",
    "judge": "the LLM judge scored a criterion under the persona's threshold, or could not judge",
    "copies_example": "nearly the same text as one of the persona's few-shot examples",
}


@dataclass(frozen=True)
class Reason:
    rule: str  # a key of RULES, or "pattern:NAME"
    message: str  # for the user, e.g. 'turn 5 repeats "I hear you." from turn 3'
    turn_index: int | None = None  # 0-based index into the conversation's turns

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "message": self.message, "turn_index": self.turn_index}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Reason":
        return cls(rule=d["rule"], message=d["message"], turn_index=d.get("turn_index"))


@dataclass
class Verdict:
    ok: bool
    reasons: list[Reason] = field(default_factory=list)

    @property
    def rules(self) -> list[str]:
        """The names of the rules that fired, in order, without repeats."""
        return list(dict.fromkeys(r.rule for r in self.reasons))

    def summary(self) -> str:
        return "ok" if self.ok else "; ".join(r.message for r in self.reasons)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "reasons": [r.to_dict() for r in self.reasons]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Verdict":
        return cls(ok=bool(d["ok"]), reasons=[Reason.from_dict(r) for r in d.get("reasons", [])])


def _who(turn: Turn, persona: Persona) -> str:
    return persona.name if turn.role == "assistant" else "the user"


def _quote(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _ending(text: str, n: int = 50) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else "…" + text[-(n - 1):]


# -- per-conversation rules --------------------------------------------------------------------

def _turn_count(turns: list[Turn], rules: FilterRules, persona: Persona) -> list[Reason]:
    n = len(turns)
    if n < rules.min_turns:
        return [Reason("turn_count", f"only {n} turn{'s' if n != 1 else ''} (at least {rules.min_turns})")]
    if n > rules.max_turns:
        return [Reason("turn_count", f"{n} turn{'s' if n != 1 else ''} (at most {rules.max_turns})")]
    return []


def _order(turns: list[Turn], rules: FilterRules, persona: Persona) -> list[Reason]:
    out: list[Reason] = []
    if not turns:
        return out
    if turns[0].role != "user":
        out.append(Reason("order", f"starts with {persona.name}, not the user", 0))
    for i in range(1, len(turns)):
        if turns[i].role == turns[i - 1].role:
            out.append(Reason("order", f"turns {i} and {i + 1} are both from {_who(turns[i], persona)}", i))
            break
    if turns[-1].role != "assistant":
        out.append(Reason("order", f"ends with the user's turn, not {persona.name}'s", len(turns) - 1))
    return out


def _empty(turns: list[Turn], rules: FilterRules, persona: Persona) -> list[Reason]:
    return [Reason("empty_turn", f"turn {i + 1} ({_who(t, persona)}) is empty", i)
            for i, t in enumerate(turns) if not t.text.strip()]


_GENERIC_LABELS = ("user", "assistant", "human", "ai", "bot", "system", "customer", "client", "me", "you")


@lru_cache(maxsize=256)
def _label_regex(labels: tuple[str, ...]) -> re.Pattern[str]:
    own = "|".join(re.escape(x) for x in labels if x)
    generic = "|".join(_GENERIC_LABELS)
    # the persona's own labels anywhere after a line start or sentence end; generic ones at a
    # line start only (so "Note: ..." or "ratio 3:1" never fire)
    return re.compile(
        rf"(?:^|(?<=[\s.!?\"']))\**\s*(?:{own})\s*\**\s*:|^[ \t]*\**\s*(?:{generic})\s*\**\s*:(?=\s)",
        re.IGNORECASE | re.MULTILINE,
    )


def _leaked(turns: list[Turn], rules: FilterRules, persona: Persona) -> list[Reason]:
    labels = tuple(sorted({persona.persona_label.strip(), persona.user_label.strip(), persona.name.strip()} - {""}))
    rx = _label_regex(labels)
    out = []
    for i, t in enumerate(turns):
        m = rx.search(t.text) if ":" in t.text else None
        if m:
            out.append(Reason("leaked_label", f"turn {i + 1} contains the speaker label "
                              f"\"{m.group(0).strip(' *')}\" (two turns run together)", i))
    return out


_PUNCT = str.maketrans({c: " " for c in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~\u2018\u2019\u201c\u201d\u2014\u2013\u2026"})
_SENT_SPLIT = re.compile(r"[.!?]+(?:\s+|$)|\n+")


def _units(text: str) -> list[str]:
    """Sentences and lines, normalised; short ones ("I see.", "Thank you!") may repeat."""
    pieces = _SENT_SPLIT.split(text.lower())  # translated at once, cut apart again at NULs:
    pieces = ("\x00".join(pieces).translate(_PUNCT).split("\x00") if "\x00" not in text
              else [p.translate(_PUNCT) for p in pieces])
    out = []
    for piece in pieces:
        words = piece.split()
        if len(words) >= 3:
            norm = " ".join(words)
            if len(norm) >= 12:
                out.append(norm)
    return out


def _repeated(turns: list[Turn], rules: FilterRules, persona: Persona) -> list[Reason]:
    seen: dict[str, int] = {}
    out: list[Reason] = []
    for i, t in enumerate(turns):
        for unit in _units(t.text):
            first = seen.get(unit)
            if first is None:
                seen[unit] = i
                continue
            where = "again in the same turn" if first == i else f"from turn {first + 1}"
            out.append(Reason("repeated_line", f"turn {i + 1} repeats \"{_quote(unit)}\" {where}", i))
            break  # one reason per turn is enough
        if len(out) >= 3:
            break
    return out


_REFUSAL_ANY = re.compile(
    r"\bas an? (?:ai|artificial intelligence|language model|large language model|llm|"
    r"ai (?:language )?model|virtual assistant|chatbot)\b|"
    r"\bi(?:'m| am) (?:just |only )?an? (?:ai|language model|large language model|chatbot)\b|"
    r"\bi (?:do not|don't) have (?:personal )?(?:feelings|emotions|opinions|experiences|a body)\b|"
    r"\b(?:trained|developed|created) by openai\b",
    re.IGNORECASE,
)
_REFUSAL_PERSONA = re.compile(
    r"\bi(?:'m| am) (?:sorry|afraid),? but i (?:can(?:no|')t|cannot|am unable to|won't)\b|"
    r"\bi (?:can(?:no|')t|cannot|am unable to|won't) (?:help|assist|provide|comply|answer|do) "
    r"(?:you )?with (?:that|this)(?: request)?\b|"
    r"\bi(?:'m| am) (?:not able|unable) to (?:help|assist) with (?:that|this)\b",
    re.IGNORECASE,
)


# every refusal pattern holds one of these: a cheap test before the regular expressions
_REFUSAL_WORDS = ("as a", "i'm", "i am", "i do", "openai", "i can", "i won")


def _refusals(turns: list[Turn], rules: FilterRules, persona: Persona) -> list[Reason]:
    out = []
    for i, t in enumerate(turns):
        low = t.text.lower()
        if not any(w in low for w in _REFUSAL_WORDS):
            continue
        m = _REFUSAL_ANY.search(t.text)
        if m is None and t.role == "assistant":
            m = _REFUSAL_PERSONA.search(t.text)
        if m:
            out.append(Reason("refusal", f"turn {i + 1} ({_who(t, persona)}) says \"{_quote(m.group(0))}\"", i))
    return out


@lru_cache(maxsize=1024)
def compile_pattern(rx: str, rule: str = "") -> re.Pattern[str]:
    try:
        return re.compile(rx)
    except re.error as exc:
        raise LibraryError(f"invalid regular expression {rx!r}: {exc}",
                           field=f"rules.patterns.{rule}" if rule else "rules.patterns") from None


def pattern_problems(rules: FilterRules) -> list[str]:
    """Problems with a persona's pattern rules (invalid regexes, unknown roles), for the library."""
    out = []
    for p in rules.patterns:
        if p.applies_to not in ("user", "assistant"):
            out.append(f"rules.patterns.{p.name}: applies_to must be 'user' or 'assistant'")
        for rx in [*p.require_any, *p.forbid]:
            try:
                re.compile(rx)
            except re.error as exc:
                out.append(f"rules.patterns.{p.name}: invalid regular expression {rx!r}: {exc}")
    return out


def _patterns(turns: list[Turn], rules: FilterRules, persona: Persona) -> list[Reason]:
    out = []
    for p in rules.patterns:
        req = [compile_pattern(r, p.name) for r in p.require_any]
        forb = [compile_pattern(r, p.name) for r in p.forbid]
        for i, t in enumerate(turns):
            if t.role != p.applies_to:
                continue
            if req and not any(r.search(t.text) for r in req):
                why = p.reason or f"matches none of {', '.join(p.require_any)}"
                out.append(Reason(f"pattern:{p.name}", f"turn {i + 1}: {why}", i))
            for r in forb:
                m = r.search(t.text)
                if m:
                    why = p.reason or f"matches forbidden {r.pattern}"
                    out.append(Reason(f"pattern:{p.name}", f"turn {i + 1}: {why} (\"{_quote(m.group(0), 40)}\")", i))
                    break
    return out


def check(conv: Conversation, rules: FilterRules | None = None, persona: Persona | None = None,
          turns: list[Turn] | None = None) -> Verdict:
    """The verdict on one conversation.  ``turns`` overrides ``conv.turns`` (a review edit)."""
    if persona is None:
        persona = Persona(id=conv.persona_id, name="the persona", persona_label="", user_label="",
                          system_prompt="", synthesis_prompt="")
    rules = rules or persona.rules
    turns = conv.turns if turns is None else turns
    reasons: list[Reason] = []
    if conv.status == "partial":
        reasons.append(Reason("partial", "cut off before it ended (the run was cancelled)"))
    if rules.truncated:
        why = truncation(conv, None if turns is conv.turns else turns)
        if why:
            reasons.append(Reason("truncated", f"turn {len(turns)} ({_who(turns[-1], persona)}) {why}: "
                                  f"it ends \"{_ending(turns[-1].text)}\"", len(turns) - 1))
    reasons += _turn_count(turns, rules, persona)
    if rules.alternation:
        reasons += _order(turns, rules, persona)
    if rules.empty_turns:
        reasons += _empty(turns, rules, persona)
    if rules.leaked_labels:
        reasons += _leaked(turns, rules, persona)
    if rules.repeated_lines:
        reasons += _repeated(turns, rules, persona)
    if rules.refusals:
        reasons += _refusals(turns, rules, persona)
    reasons += _patterns(turns, rules, persona)
    reasons += _copies_example(turns, rules, persona)
    return Verdict(ok=not reasons, reasons=reasons)


@lru_cache(maxsize=64)
def _example_shingles(text: str, user_label: str, persona_label: str) -> frozenset:
    try:
        return frozenset(shingles(example_text(example_turns(text, user_label, persona_label))))
    except ValueError:  # checked when the persona loaded; a stored snapshot may be older
        return frozenset()


def _copies_example(turns: list[Turn], rules: FilterRules, persona: Persona) -> list[Reason]:
    """A conversation that is a near-copy of one of its persona's examples (the
    near-duplicate threshold; 0 turns both off)."""
    examples = persona.all_examples()
    if not examples or not rules.near_duplicates or not turns:
        return []
    mine = shingles(conversation_text(turns))
    for i, ex in enumerate(examples):
        sim = jaccard(mine, set(_example_shingles(ex, persona.user_label, persona.persona_label)))
        if sim >= rules.near_duplicates:
            extra = i - len(persona.examples)
            which = f" (conversation {persona.example_refs[extra]})" if extra >= 0 else ""
            return [Reason("copies_example", f"a near-copy of the persona's example {i + 1}"
                                             f"{which} (similarity {sim:.2f})")]
    return []


# -- near-duplicates across a run --------------------------------------------------------------

@dataclass(frozen=True)
class DuplicatePair:
    a: str  # the earlier conversation's id (kept)
    b: str  # the later one's id (flagged)
    similarity: float  # exact Jaccard similarity of word 3-gram shingles

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "similarity": round(self.similarity, 4)}


_BINS = 100
_EDGES = [(-(1 << 63)) + ((1 << 64) * i) // _BINS for i in range(_BINS)]
_TOP = 1 << 63  # above every hash: the end of the sorted list


def _word_ids(text: str) -> list[int]:
    """Words, lower-cased without punctuation, as CRC-32 ids (the same in every process)."""
    return list(map(zlib.crc32, map(str.encode, text.lower().translate(_PUNCT).split())))


def shingles(text: str, k: int = 3) -> set:
    """Word k-gram shingles (tuples of word ids)."""
    ids = _word_ids(text)
    if len(ids) < k:
        return {tuple(ids)} if ids else set()
    return set(zip(*(ids[i:] for i in range(k))))


def _signature(text: str) -> list[int]:
    """One-permutation MinHash over word 3-grams: the least shingle hash in each of _BINS equal
    ranges of the hash space; an empty range borrows the next range's least hash (densifying)."""
    ids = _word_ids(text)
    hs = sorted(map(hash, zip(ids, ids[1:], ids[2:])) if len(ids) >= 3 else [hash(tuple(ids))])
    hs.append(_TOP)
    return [hs[j] for j in map(bisect_left, repeat(hs), _EDGES)]


def _bands_for(threshold: float) -> tuple[int, int]:
    """(bands, rows), rows * bands <= _BINS, whose S-curve rises well below ``threshold``."""
    if threshold >= 0.7:
        return 20, 5
    if threshold >= 0.45:
        return 33, 3
    return 50, 2


def jaccard(a: set, b: set) -> float:
    if not a and not b:
        return 1.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def near_duplicate_texts(texts: Sequence[str], threshold: float = 0.8) -> list[tuple[int, int, float]]:
    """Pairs (i, j, similarity), i < j, of texts whose shingle Jaccard similarity >= threshold."""
    if threshold <= 0 or len(texts) < 2:
        return []
    n_bands, rows = _bands_for(threshold)
    band_keys: list[list[int]] = [[] for _ in range(n_bands)]
    for text in texts:
        sig = _signature(text)
        for b in range(n_bands):
            band_keys[b].append(hash(tuple(sig[b * rows:(b + 1) * rows])))
    return similar_pairs(band_keys, lambda i: shingles(texts[i]), threshold)


def similar_pairs(band_keys: Sequence[Sequence[int]], shingles_of: Callable[[int], set],
                  threshold: float) -> list[tuple[int, int, float]]:
    """(i, j, similarity), i < j, of items sharing a key in a band (``band_keys[b][i]``) that
    are at least ``threshold`` alike."""
    candidates: set[tuple[int, int]] = set()
    for keys in band_keys:
        buckets: dict[int, list[int]] = {}
        for i, key in enumerate(keys):
            buckets.setdefault(key, []).append(i)
        for members in buckets.values():
            if len(members) > 1:
                for x in range(len(members)):
                    for y in range(x + 1, len(members)):
                        candidates.add((members[x], members[y]))
    cache: dict[int, set] = {}

    def sh(i: int) -> set:
        if i not in cache:
            cache[i] = shingles_of(i)
        return cache[i]

    pairs = ((i, j, jaccard(sh(i), sh(j))) for i, j in sorted(candidates))
    return [p for p in pairs if p[2] >= threshold]


def conversation_text(turns: Sequence[Turn]) -> str:
    return "\n".join(t.text for t in turns)


def near_duplicates(convs: Sequence[Conversation], threshold: float = 0.8,
                    turns: dict[str, list[Turn]] | None = None) -> list[DuplicatePair]:
    """Near-duplicate pairs across ``convs`` (earlier first).  ``turns``: edited turns by id."""
    turns = turns or {}
    texts = [conversation_text(turns.get(c.id, c.turns)) for c in convs]
    return [DuplicatePair(convs[i].id, convs[j].id, sim) for i, j, sim in near_duplicate_texts(texts, threshold)]


def check_run(convs: Sequence[Conversation], persona: Persona | None = None,
              rules: FilterRules | None = None,
              turns: dict[str, list[Turn]] | None = None) -> tuple[dict[str, Verdict], list[DuplicatePair]]:
    """Verdicts for every conversation of a run, near-duplicates included.

    Of a near-duplicate pair the later conversation is flagged and the earlier one kept.
    ``turns`` maps conversation ids to edited turns (review edits) to judge instead.
    """
    turns = turns or {}
    verdicts: dict[str, Verdict] = {}
    for c in convs:
        r = rules or (persona.rules if persona else FilterRules())
        verdicts[c.id] = check(c, r, persona, turns.get(c.id))
    threshold = (rules or (persona.rules if persona else FilterRules())).near_duplicates
    pairs = near_duplicates(convs, threshold, turns) if threshold and threshold > 0 else []
    flag_near_duplicates(verdicts, pairs)
    return verdicts, pairs


def flag_near_duplicates(verdicts: dict[str, Verdict], pairs: Sequence[DuplicatePair]) -> None:
    """The later conversation of each near-duplicate pair fails, naming the earlier one."""
    for b, p in {p.b: p for p in reversed(pairs)}.items():
        verdicts[b].reasons.append(Reason("near_duplicate", f"near-duplicate of conversation "
                                          f"{p.a} (similarity {p.similarity:.2f})"))
        verdicts[b].ok = False
