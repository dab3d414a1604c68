"""The filters' verdicts on a whole run, cached per conversation so that opening a run of
100,000 a second time costs a read, not a minute of filtering.

``check_run_cached`` gives what ``synth.curate.filters.check_run`` gives (the same verdicts and
near-duplicate pairs) but keeps, per conversation, its verdict and its compact near-duplicate
signature (the MinHash band keys: a few hundred bytes, not the text) in ``verdicts.cache`` in the
run's folder (owner-only).  A conversation's entry is keyed by everything its verdict reads (its
text as judged now: trims and edits included, status, finish reason, cut); the file by the
rules' fingerprint (the persona's rules, labels, name and examples), so a changed rule judges
every conversation again and an edit judges only the edited one.  Near-duplicate pairs are found
from the cached band keys each time (a cross-conversation rule) and verified on the texts of the
candidates only.  ``progress(done, total)`` is called between slices of the work, and
``verdicts(slice)`` with each slice's verdicts (conversation id -> Verdict, near-duplicates not
yet found: those need the whole run) so a screen can show them as they come.
"""

from __future__ import annotations

import hashlib
import json
import marshal
from array import array
from pathlib import Path
from typing import Callable, Sequence

from synth.curate.filters import (DuplicatePair, Verdict, _bands_for, _signature, check,
                                  conversation_text, flag_near_duplicates, shingles,
                                  similar_pairs)
from synth.models import Conversation, Persona, Turn
from synth.private_files import write_private_cache

CACHE_NAME = "verdicts.cache"
VERSION = 1
SLICE = 2000  # conversations between progress calls


def fingerprint(persona: Persona) -> str:
    """What every verdict of a run depends on besides the conversation itself."""
    data = {"v": VERSION, "rules": persona.rules.to_dict(), "name": persona.name,
            "labels": [persona.persona_label, persona.user_label], "examples": list(persona.examples)}
    return hashlib.blake2b(json.dumps(data, sort_keys=True, default=str).encode(),
                           digest_size=16).hexdigest()


def conv_key(conv: Conversation, turns: Sequence[Turn]) -> bytes:
    """Everything of one conversation that its verdict reads."""
    h = hashlib.blake2b(digest_size=16)
    h.update(json.dumps([conv.id, conv.status, conv.finish_reason, conv.trim.stop, conv.trim.at,
                         conv.params.get("max_tokens"), turns is conv.turns,
                         [(t.role, t.text) for t in turns]]).encode())
    h.update(conv.raw_text.encode())
    return h.digest()


def band_keys(text: str, threshold: float) -> bytes:
    n_bands, rows = _bands_for(threshold)
    sig = _signature(text)
    return array("q", [hash(tuple(sig[b * rows:(b + 1) * rows])) for b in range(n_bands)]).tobytes()


def _read(path: Path, fp: str) -> dict:
    try:
        got = marshal.loads(path.read_bytes())
        if isinstance(got, tuple) and len(got) == 2 and got[0] == fp and isinstance(got[1], dict):
            return got[1]
    except (OSError, ValueError, EOFError, TypeError):
        pass
    return {}


def _write(path: Path, fp: str, entries: dict) -> None:
    try:
        write_private_cache(path, marshal.dumps((fp, entries)))
    except OSError:  # a cache that can't be written only costs the next open its time
        pass


def check_run_cached(convs: Sequence[Conversation], persona: Persona, turns: dict[str, list[Turn]],
                     run_dir: Path | None,
                     progress: Callable[[int, int], None] | None = None,
                     on_verdicts: Callable[[dict[str, Verdict]], None] | None = None
                     ) -> tuple[dict[str, Verdict], list[DuplicatePair]]:
    """``check_run(convs, persona, turns=turns)`` with the per-conversation work cached in
    ``run_dir`` (None: no cache)."""
    rules = persona.rules
    threshold = rules.near_duplicates if rules.near_duplicates and rules.near_duplicates > 0 else 0
    fp = fingerprint(persona)
    path = Path(run_dir) / CACHE_NAME if run_dir is not None else None
    old = _read(path, fp) if path is not None else {}
    new: dict = {}
    verdicts: dict[str, Verdict] = {}
    bands: list[bytes] = []
    total = len(convs)
    done_to = 0
    for i, c in enumerate(convs):
        if i % SLICE == 0 and i:
            if on_verdicts is not None:
                on_verdicts({x.id: verdicts[x.id] for x in convs[done_to:i]})
            done_to = i
        if progress is not None and i % SLICE == 0:
            progress(i, total)
        t = turns.get(c.id, c.turns)
        key = conv_key(c, t)
        got = old.get(key)
        if got is None:
            v = check(c, rules, persona, turns.get(c.id))
            got = (v.to_dict() if not v.ok else None,
                   band_keys(conversation_text(t), threshold) if threshold else b"")
        new[key] = got
        verdicts[c.id] = Verdict.from_dict(got[0]) if got[0] is not None else Verdict(ok=True)
        bands.append(got[1])
    if on_verdicts is not None and done_to < total:
        on_verdicts({x.id: verdicts[x.id] for x in convs[done_to:]})
    if path is not None and new.keys() != old.keys():
        _write(path, fp, new)
    pairs = _pairs(convs, turns, bands, threshold) if threshold else []
    flag_near_duplicates(verdicts, pairs)
    if progress is not None:
        progress(total, total)
    return verdicts, pairs


def _pairs(convs: Sequence[Conversation], turns: dict[str, list[Turn]], bands: list[bytes],
           threshold: float) -> list[DuplicatePair]:
    """Near-duplicate pairs from the band keys (as ``filters.near_duplicate_texts``)."""
    if len(convs) < 2:
        return []
    n_bands = _bands_for(threshold)[0]
    cols = [array("q", b) for b in bands]

    def shingles_of(i: int) -> set:
        c = convs[i]
        return shingles(conversation_text(turns.get(c.id, c.turns)))

    band_keys = [[keys[b] for keys in cols] for b in range(n_bands)]
    return [DuplicatePair(convs[i].id, convs[j].id, sim)
            for i, j, sim in similar_pairs(band_keys, shingles_of, threshold)]
