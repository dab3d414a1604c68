"""The dataset report's figures, counted as conversations pass (``Tally``), so that an export
never holds the run to report on it: states and rules, usage and cost of every stored
conversation; turns, tokens, first lines and distinct-2 of every exported one.

Distinct-2 keeps each distinct word pair as one 64-bit number (two word ids), in sorted NumPy
arrays (a part of the set each, merged batch by batch, so that a merge never copies the whole
set) where NumPy is installed, else in a set: the same exact count.
"""

from __future__ import annotations

import re
from collections import Counter
from itertools import count
from typing import Any, Iterable, Sequence

_WORDS = re.compile(r"\w+")

try:
    import numpy as _np
except ImportError:  # pragma: no cover - NumPy comes with the embedded model's package
    _np = None


class Distinct2:
    """Distinct word pairs / all word pairs over the texts added (``distinct_n`` with n=2).

    Memory: the distinct pairs themselves, 8 bytes each, in ``PARTS`` sorted arrays (split by
    the pair's last word id), each merged on its own, so that a merge copies a sixteenth of the
    set, not all of it twice over; the words of the texts not merged yet wait as ids."""

    PARTS = 16  # power of two
    CHUNK = 1 << 17  # word ids held as Python ints before they become an array
    BATCH = 1 << 21  # pair keys in sorted arrays before they are merged into the whole set

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self._next = count()
        self.total = 0
        self._pending: list[int] = []  # word ids, each text's followed by -1
        self._chunks: list[Any] = []  # sorted unique arrays not merged into _seen yet
        self._chunked = 0
        self._seen: Any = ([_np.empty(0, dtype=_np.uint64) for _ in range(self.PARTS)]
                           if _np is not None else set())

    def add(self, text: str) -> None:
        w = _WORDS.findall(text.lower())
        if len(w) < 2:
            return
        self.total += len(w) - 1
        if _np is None:
            ids = list(map(self.ids.setdefault, w, self._next))
            self._seen.update((a << 32) | b for a, b in zip(ids, ids[1:]))
            return
        self._pending += map(self.ids.setdefault, w, self._next)
        self._pending.append(-1)
        if len(self._pending) >= self.CHUNK:
            self._merge(final=False)

    def _merge(self, final: bool = True) -> None:
        """Pending ids -> the sorted unique keys of their pairs (a chunk); chunks -> the sorted
        parts of every key seen, once they hold ``BATCH`` keys (or at the end)."""
        if _np is None:
            return
        if self._pending:
            ids = _np.array(self._pending, dtype=_np.int64)
            self._pending = []
            a, b = ids[:-1], ids[1:]
            keys = ((a << 32) | b)[(a >= 0) & (b >= 0)].astype(_np.uint64)
            keys.sort()
            self._chunks.append(_sorted_unique(keys))
            self._chunked += len(self._chunks[-1])
        if self._chunks and (final or self._chunked >= self.BATCH):
            new = _np.concatenate(self._chunks)
            self._chunks, self._chunked = [], 0
            part = new & _np.uint64(self.PARTS - 1)
            for p in range(self.PARTS):
                mine = new[part == p]  # sorted runs, in order: one sort merges them
                if len(mine):
                    both = _np.concatenate([self._seen[p], mine])
                    both.sort(kind="stable")  # sorted runs: merged in about linear time
                    self._seen[p] = _sorted_unique(both)

    def value(self) -> float:
        self._merge()
        seen = len(self._seen) if _np is None else sum(map(len, self._seen))
        return seen / self.total if self.total else 0.0


def _sorted_unique(a: Any) -> Any:
    """A sorted array without its repeats (np.unique hashes; this only compares neighbours)."""
    keep = _np.empty(len(a), dtype=bool)
    keep[:1] = True
    _np.not_equal(a[1:], a[:-1], out=keep[1:])
    return a[keep]


def first_line(text: str) -> str:
    """The first non-blank line of ``text``, lower-cased words only ("Hi, I'm stuck." -> "hi i m stuck")."""
    for line in text.splitlines():
        norm = " ".join(_WORDS.findall(line.lower()))
        if norm:
            return norm
    return ""


class Tally:
    """The report's counts, fed as an export goes (``Source``-free: one run or many)."""

    def __init__(self) -> None:
        self.by_state: Counter[str] = Counter()
        self.by_rule: Counter[str] = Counter()
        self.stored = 0
        self.stored_by_run: Counter[str] = Counter()
        self.usage_p = self.usage_c = self.counted = 0
        self._estimates: dict[str, list[str]] = {}
        self.cost = 0  # summed in the conversations' order, as sum() does
        self.cost_known = 0
        self.pairs: list[Any] = []  # DuplicatePair, every run's
        self.turns: list[int] = []  # per exported conversation, in order
        self.tokens: list[int] = []
        self.edited = 0
        self.openings: Counter[str] = Counter()
        self.n_openings = 0
        self.distinct2 = Distinct2()
        self.exported_by_run: Counter[str] = Counter()

    # -- every stored conversation
    def add_states(self, counts: dict[str, int], reason_counts: dict[str, int]) -> None:
        self.by_state.update(counts)
        self.by_rule.update(reason_counts)

    def add_stored(self, conv: Any) -> None:
        self.stored += 1
        self.stored_by_run[conv.run_id] += 1
        if conv.usage.source == "server":
            self.usage_p += conv.usage.prompt_tokens
            self.usage_c += conv.usage.completion_tokens
        else:
            self.counted += 1
            todo = self._estimates.setdefault(conv.model, [])
            todo += (conv.prompt, conv.raw_text)
            if len(todo) >= 4000:
                self._count_estimates()
        if conv.cost is not None:
            self.cost += conv.cost
            self.cost_known += 1

    def _count_estimates(self) -> None:
        """Usage the server did not report, counted with tiktoken (``tokens.usage_of``)."""
        from synth.tokens import counter_for

        for model, texts in self._estimates.items():
            if texts:
                n = counter_for(model or None).count_many(texts)
                self.usage_p += sum(n[0::2])
                self.usage_c += sum(n[1::2])
        self._estimates = {}

    # -- every exported conversation
    def add_chosen(self, run_id: str, turns: Sequence[Any], edited: bool, tokens: int) -> None:
        self.exported_by_run[run_id] += 1
        self.turns.append(len(turns))
        self.tokens.append(tokens)
        self.edited += bool(edited)
        if turns:
            self.openings[first_line(turns[0].text)] += 1
            self.n_openings += 1
        for t in turns:
            if t.role == "assistant":
                self.distinct2.add(t.text)

    def usage(self) -> tuple[int, int, int]:
        self._count_estimates()
        return self.usage_p, self.usage_c, self.counted

    def first_line_share(self) -> tuple[float, list[tuple[str, int]]]:
        if not self.n_openings:
            return 0.0, []
        top = [(line, n) for line, n in Counter({k: v for k, v in self.openings.items() if k})
               .most_common(3) if n > 1]
        return (top[0][1] / self.n_openings if top else 0.0), top


def turn_tokens_of(items: Iterable[Any], known: dict[str, int], model: str) -> list[int]:
    """Tokens of each conversation's turns (stripped, as exported, with the export's encoding):
    the count that validated its chat or ShareGPT example where there is one, else counted here
    the same way.  ``items``: anything with ``id`` and ``turns``."""
    from synth.tokens import counter_for

    items = list(items)
    todo = [it for it in items if it.id not in known]
    got: dict[str, int] = {}
    if todo:
        lens = counter_for(model).count_many([t.text.strip() for it in todo for t in it.turns])
        pos = 0
        for it in todo:
            got[it.id] = sum(lens[pos:pos + len(it.turns)])
            pos += len(it.turns)
    return [known[it.id] if it.id in known else got[it.id] for it in items]
