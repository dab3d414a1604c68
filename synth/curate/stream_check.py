"""Check a run's conversations one at a time: what an export needs of each one (its state, the
rules it breaks, whether an export takes it) without holding the run in memory.

The same verdicts and selection as ``Review.load`` + ``ReviewSet.select`` (``synth.curate.review``,
which the app's Review screen uses), from one pass over the run's log: each record is read at its
indexed offset, its effective turns made (the edit, else the re-trim, else as written), checked,
and only a few fields kept (``Brief``).  Near-duplicates, the one rule across conversations, keep
a MinHash band signature per conversation, not its text; the few candidate pairs are re-read to
measure their exact similarity.  ``Checked.turns_of`` reads a conversation's effective turns again
for the export's second pass.
"""

from __future__ import annotations

import json
import os
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from synth.curate.filters import (DuplicatePair, Reason, _bands_for, _signature, check,
                                  conversation_text, jaccard, shingles)
from synth.curate.review import Policy, Selection
from synth.generate.transcript import retrim
from synth.models import Conversation, Persona, Turn

try:  # a faster reader of the same JSON; the standard one where it refuses a record
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover - a declared dependency
    _fast_loads = json.loads


@dataclass(slots=True)
class Brief:
    """What is kept of one stored conversation for the whole run: no text."""

    id: str
    run_id: str
    topic_id: str
    topic: str
    status: str
    decision: str | None
    edited: bool
    rules: tuple[str, ...]  # the rules it breaks, in order, without repeats
    only_partial: bool  # every reason is "partial" (what --include-partial forgives)
    pos: int  # position in the run's index (to read it again)
    reader: "Checked | None" = None

    @property
    def turns(self) -> list[Turn]:
        """Its effective turns, read again from the log (not kept)."""
        assert self.reader is not None
        return self.reader.turns_of(self)[1]

    @property
    def conv(self) -> "Brief":
        """Its own conversation fields (``split`` reads ``it.conv.topic_id`` of a Reviewed)."""
        return self

    @property
    def ok(self) -> bool:
        return not self.rules

    @property
    def state(self) -> str:
        if self.decision:
            return self.decision
        if self.status == "partial":
            return "partial"
        return "ok" if not self.rules else "flagged"


@dataclass
class Checked:
    """A run checked one conversation at a time (``check_stream``)."""

    run_id: str
    persona: Persona
    items: list[Brief]
    pairs: list[DuplicatePair]
    problems: list[str]
    retrim_stops: list[str] | None
    _read: Callable[[int], tuple[Conversation, list[Turn]]] = field(repr=False, default=None)  # type: ignore[assignment]

    def turns_of(self, it: Brief) -> tuple[Conversation, list[Turn]]:
        """The stored conversation and its effective turns, read again."""
        return self._read(it.pos)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for it in self.items:
            out[it.state] = out.get(it.state, 0) + 1
        return out

    def reason_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for it in self.items:
            for rule in it.rules:
                out[rule] = out.get(rule, 0) + 1
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))

    def select(self, policy: Policy = "default", include_partial: bool = False) -> Selection:
        """``ReviewSet.select`` over the briefs: the same choice and the same sentence."""
        chosen: list[Any] = []
        excluded: dict[str, int] = {}

        def skip(why: str) -> None:
            excluded[why] = excluded.get(why, 0) + 1

        n_acc = n_ok = 0
        for it in self.items:
            if it.decision == "rejected":
                skip("rejected by you")
            elif it.status == "partial" and not include_partial:
                skip("partial (cut off by a cancel)")
            elif it.decision == "accepted":
                chosen.append(it)
                n_acc += 1
            elif policy == "accepted":
                skip("not accepted (--only-accepted)")
            elif it.ok or (it.status == "partial" and include_partial and it.only_partial):
                chosen.append(it)
                n_ok += 1
            else:
                skip("flagged by a filter and not accepted")
        if policy == "accepted":
            statement = f"{len(chosen)} conversations you accepted"
        else:
            statement = (f"{len(chosen)} conversations: {n_acc} you accepted + {n_ok} that pass every "
                         "filter and that you did not reject")
        if excluded:
            statement += "; left out: " + ", ".join(f"{n} {why}" for why, n in excluded.items())
        return Selection(chosen, excluded, statement)


BLOCK = 1 << 16  # bytes of the log read at a time (a pass in order reads each block once)


def _record(raw: bytes) -> Any:
    try:
        return _fast_loads(raw)
    except ValueError:  # lone surrogates, huge numbers: what json reads, json reads
        return json.loads(raw)


def check_stream(store: Any, run_id: str, persona: Persona,
                 each: Callable[[Conversation, Brief, list[Turn]], None] | None = None) -> Checked:
    """Check every stored conversation of ``run_id`` (the latest record per id, complete beats
    partial, in order of first appearance), one at a time.  ``each(conv, brief, turns)`` sees every
    stored conversation as it passes (the report's totals), before near-duplicates are known."""
    idx = store.index(run_id)
    path = store.conversations_path(run_id)
    reviews = store.reviews(run_id)
    stops = store.run_meta(run_id).get("retrim_stops")
    rules = persona.rules
    threshold = rules.near_duplicates
    n_bands, rows = _bands_for(threshold) if threshold and threshold > 0 else (0, 0)
    bands = array("q")
    judge = _judge_lookup(store.run_dir(run_id), persona)
    problems = list(idx.problems)
    items: list[Brief] = []
    judged: dict[int, list[Reason]] = {}
    interned: dict[tuple[str, ...], tuple[str, ...]] = {}
    fds = [os.open(path, os.O_RDONLY) if len(idx) else -1]

    block = [0, b""]  # (offset, bytes) of the last block read: records in order share one

    def pread(length: int, offset: int) -> bytes:
        if fds[0] >= 0:
            start, data = block
            if start <= offset and offset + length <= start + len(data):
                return data[offset - start:offset - start + length]
            data = os.pread(fds[0], max(length, BLOCK), offset)  # a syscall per block, not record
            block[:] = [offset, data]
            return data[:length]
        fd = os.open(path, os.O_RDONLY)  # after ``close``: a read now and then
        try:
            return os.pread(fd, length, offset)
        finally:
            os.close(fd)

    def read(pos: int) -> tuple[Conversation, list[Turn]]:
        e = idx.entry(pos)  # one entry: ``entries`` builds them all
        conv = Conversation.from_dict(_record(pread(e.length, e.offset)))
        rec = reviews.get(conv.id)
        source = retrim(conv, stops, persona) if stops is not None else conv
        edited = rec.edited_turns if rec else None
        return source, (edited if edited is not None else source.turns)

    try:
        for pos, e in enumerate(idx.entries):
            try:
                source, turns = read(pos)
            except (TypeError, KeyError, ValueError, AttributeError) as exc:
                problems.append(f"{path}:{e.line}: record does not fit this version ({exc})")
                continue
            rec = reviews.get(source.id)
            reasons = check(source, rules, persona, turns).reasons
            if judge is not None:
                why = judge(turns)
                if why:
                    judged[len(items)] = why
            names = tuple(dict.fromkeys(r.rule for r in reasons))
            it = Brief(id=source.id, run_id=source.run_id, topic_id=source.topic_id,
                       topic=source.topic, status=source.status,
                       decision=rec.decision if rec else None, edited=bool(rec and rec.edited),
                       rules=interned.setdefault(names, names),
                       only_partial=all(r.rule == "partial" for r in reasons), pos=pos)
            if n_bands:
                sig = _signature(conversation_text(turns))
                bands.extend(hash(tuple(sig[b * rows:(b + 1) * rows])) for b in range(n_bands))
            if each is not None:
                each(source, it, turns)
            items.append(it)
        out = Checked(run_id, persona, items, [], problems, stops, read)
        for it in items:
            it.reader = out
        if n_bands:
            out.pairs = _near_duplicates(out, bands, n_bands, threshold)
        for p in out.pairs:  # the later of a pair is flagged (once), as check_run does
            it = out.items[p.b]  # type: ignore[index]
            if "near_duplicate" not in it.rules:
                it.rules = it.rules + ("near_duplicate",)
                it.only_partial = False
        out.pairs = [DuplicatePair(items[p.a].id, items[p.b].id, p.similarity)  # type: ignore[index]
                     for p in out.pairs]
        for k, why in judged.items():  # after near-duplicates, as attach_judgements does
            it = items[k]
            it.rules = tuple(dict.fromkeys([*it.rules, *(r.rule for r in why)]))
            it.only_partial = False
    except BaseException:
        if fds[0] >= 0:
            os.close(fds[0])
        raise
    out._fds = fds  # type: ignore[attr-defined]
    return out


def close(checked: Checked) -> None:
    """Close the log that ``turns_of`` reads (a later read opens it for that read)."""
    fds = getattr(checked, "_fds", [-1])
    if fds[0] >= 0:
        os.close(fds[0])
        fds[0] = -1


def _near_duplicates(out: Checked, bands: array, n_bands: int,
                     threshold: float) -> list[DuplicatePair]:
    """``filters.near_duplicate_texts`` over band keys kept as the run passed: candidates that
    share a band, verified by the exact similarity of their texts (read again).  Positions in
    ``out.items`` stand in for ids until the caller names them."""
    n = len(out.items)
    candidates: set[tuple[int, int]] = set()
    for b in range(n_bands):
        buckets: dict[int, list[int]] = {}
        for i in range(n):
            buckets.setdefault(bands[i * n_bands + b], []).append(i)
        for members in buckets.values():
            if len(members) > 1:
                for x in range(len(members)):
                    for y in range(x + 1, len(members)):
                        candidates.add((members[x], members[y]))
    cache: dict[int, set] = {}

    def sh(i: int) -> set:
        s = cache.get(i)
        if s is None:
            s = cache[i] = shingles(conversation_text(out.turns_of(out.items[i])[1]))
        return s

    pairs = []
    for i, j in sorted(candidates):
        sim = jaccard(sh(i), sh(j))
        if sim >= threshold:
            pairs.append(DuplicatePair(i, j, sim))  # type: ignore[arg-type]
    return pairs


def _judge_lookup(run_dir: Any, persona: Persona) -> Callable[[list[Turn]], list[Reason]] | None:
    """The judge's reasons for a text as it is now (``review.attach_judgements``), or None where
    the run was never judged (and the judge's modules are not even imported)."""
    path = Path(run_dir) / "judge.jsonl"
    if not path.is_file():
        return None
    from synth.curate.judging import JudgeCache, text_key
    from synth.curate.judge import judge_reasons

    cache = JudgeCache(path)

    def reasons(turns: list[Turn]) -> list[Reason]:
        j = cache.latest(text_key(persona, turns))
        return judge_reasons(j) if j is not None else []

    return reasons


def iter_chosen(checked: Checked, chosen: list[Brief]) -> Iterator[tuple[Brief, Conversation, list[Turn]]]:
    """Each chosen conversation with its stored record and effective turns, read again."""
    for it in chosen:
        conv, turns = checked.turns_of(it)
        yield it, conv, turns
