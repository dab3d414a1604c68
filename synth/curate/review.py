"""Review state of a run: accept, reject, edit, re-trim; the verdicts and what export takes.

Everything is stored in the store's catalog (``Store.set_review`` / ``Store.reviews`` /
``Store.set_run_meta``); the TUI only draws it.  An edited conversation keeps its original text
in the conversation log: the edit lives beside it, is marked edited, and its turns are the
*effective* turns that filters judge and exports write.  A re-trim (other stop sequences, no
request) is stored as run metadata ``retrim_stops`` and applies to every unedited conversation.

Which conversations an export takes (``Selection``): by default every conversation that is not
rejected and either was accepted by the user or passes every filter; partial ones (cut off by a
cancel) are left out unless asked.  ``policy="accepted"`` takes accepted ones only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from synth.errors import ChatsynthError
from synth.curate.filters import DuplicatePair, Verdict, check_run
from synth.models import Conversation, Persona, Turn
from synth.generate.transcript import retrim

Decision = Literal["accepted", "rejected"] | None
Policy = Literal["default", "accepted"]


@dataclass
class Reviewed:
    conv: Conversation  # as stored: the original text
    turns: list[Turn]  # effective turns: the edit, else the re-trim, else the original
    decision: str | None
    edited: bool
    verdict: Verdict
    note: str = ""
    _tokens: int | None = field(default=None, repr=False)
    # False: its topic (or its k) is no longer in the run's list; still stored and exportable
    listed: bool = True
    judgement: Any = None  # synth.curate.judge.Judgement of the turns as they are now, if judged

    @property
    def id(self) -> str:
        return self.conv.id

    @property
    def tokens(self) -> int:
        """Tokens of the conversation as it stands now (after trims and edits): the one count
        that Review, the CLI and the report show (``conversation_tokens``)."""
        if self._tokens is None:
            self._tokens = conversation_tokens([self.turns])[0]
        return self._tokens

    @property
    def state(self) -> str:
        """accepted / rejected / partial / flagged / ok: one word for a list view."""
        if self.decision:
            return self.decision
        if self.conv.status == "partial":
            return "partial"
        return "ok" if self.verdict.ok else "flagged"


@dataclass
class Selection:
    chosen: list[Reviewed]
    excluded: dict[str, int]  # why -> how many
    statement: str  # what was taken, in one sentence, for the CLI, the TUI and the report
    # a dataset's export: (kept id, left-out id, similarity) of near-duplicates across its runs
    cross_run_pairs: list[tuple[str, str, float]] = field(default_factory=list)


@dataclass
class ReviewSet:
    run_id: str
    items: list[Reviewed]
    pairs: list[DuplicatePair]
    problems: list[str] = field(default_factory=list)  # unreadable store lines
    retrim_stops: list[str] | None = None
    _ids: dict[str, Reviewed] = field(default_factory=dict, repr=False)

    def by_id(self, cid: str) -> Reviewed:
        if len(self._ids) != len(self.items):
            self._ids = {it.id: it for it in self.items}
        if cid in self._ids:
            return self._ids[cid]
        for it in self.items:
            if it.id == cid or it.id.startswith(cid):
                return it
        raise KeyError(cid)

    def count_tokens(self) -> None:
        """Count every conversation's tokens in one batch (a thread can do it ahead of drawing)."""
        todo = [it for it in self.items if it._tokens is None]
        for it, n in zip(todo, conversation_tokens([it.turns for it in todo])):
            it._tokens = n

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for it in self.items:
            out[it.state] = out.get(it.state, 0) + 1
        return out

    def reason_counts(self) -> dict[str, int]:
        """Flagged conversations by rule (a conversation counts once per rule it breaks)."""
        out: dict[str, int] = {}
        for it in self.items:
            for rule in it.verdict.rules:
                out[rule] = out.get(rule, 0) + 1
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))

    def next_flagged(self, after: str | None = None) -> Reviewed | None:
        """The next undecided flagged (or partial) conversation after ``after``, wrapping round."""
        start = 0
        if after is not None:
            ids = [it.id for it in self.items]
            start = ids.index(after) + 1 if after in ids else 0
        order = self.items[start:] + self.items[:start]
        return next((it for it in order if it.decision is None and not it.verdict.ok), None)

    def select(self, policy: Policy = "default", include_partial: bool = False) -> Selection:
        chosen: list[Reviewed] = []
        excluded: dict[str, int] = {}

        def skip(why: str) -> None:
            excluded[why] = excluded.get(why, 0) + 1

        n_acc = n_ok = 0
        for it in self.items:
            if it.decision == "rejected":
                skip("rejected by you")
            elif it.conv.status == "partial" and not include_partial:
                skip("partial (cut off by a cancel)")
            elif it.decision == "accepted":
                chosen.append(it)
                n_acc += 1
            elif policy == "accepted":
                skip("not accepted (--only-accepted)")
            elif it.verdict.ok or (it.conv.status == "partial" and include_partial
                                   and all(r.rule == "partial" for r in it.verdict.reasons)):
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


def conversation_tokens(many: list[list[Turn]]) -> list[int]:
    """Tokens of each conversation's turns (their text, o200k_base as tiktoken counts it; a
    quarter of the characters where no encoding can be loaded)."""
    texts = ["\n".join(t.text for t in turns) for turns in many]
    try:
        from synth.tokens import counter_for

        return counter_for(None).count_many(texts)
    except ChatsynthError:  # no tokenizer offline: an estimate, the same everywhere
        return [(len(x) + 3) // 4 for x in texts]


def effective_turns(conv: Conversation, edited: list[Turn] | None, retrim_stops: list[str] | None,
                    persona: Persona | None) -> list[Turn]:
    if edited is not None:
        return edited
    if retrim_stops is not None:
        return retrim(conv, retrim_stops, persona).turns
    return conv.turns


def attach_judgements(run_dir: Any, persona: Persona, items: list[Reviewed]) -> None:
    """The judge's verdict on each conversation's text as it is now (the ``judge`` rule): an
    edited turn has no verdict until it is judged again."""
    from pathlib import Path

    from synth.curate.judging import CACHE_NAME, JudgeCache, text_key

    path = Path(run_dir) / CACHE_NAME
    if not path.is_file():
        return
    cache = JudgeCache(path)
    for it in items:
        j = cache.latest(text_key(persona, it.turns))
        if j is not None:
            apply_judgement(it, j)


def apply_judgement(it: Reviewed, j: Any) -> None:
    """Give ``it`` the judgement ``j``: the ``judge`` rule's reasons replace any earlier ones
    (a judge that failed, asked again), and the verdict is ok only when no rule fired."""
    from synth.curate.judge import judge_reasons

    it.judgement = j
    it.verdict.reasons = [r for r in it.verdict.reasons if r.rule != "judge"] + judge_reasons(j)
    it.verdict.ok = not it.verdict.reasons


class Review:
    """Review actions on one run, over a ``synth.dataset.store.Store``."""

    def __init__(self, store: Any, run_id: str, persona: Persona | None = None) -> None:
        self.store = store
        self.run_id = run_id
        self._persona = persona

    @property
    def persona(self) -> Persona:
        if self._persona is None:
            self._persona = self.store.get_spec(self.run_id).persona
        return self._persona

    def load(self, convs: list[Conversation] | None = None, filters: bool = True,
             cache: bool = False, progress: Any = None, on_verdicts: Any = None) -> ReviewSet:
        """Conversations with their decisions, edits and verdicts (near-duplicates included).
        ``filters=False`` runs no filter (every verdict ok): for a caller that shows none.
        ``cache=True`` keeps each conversation's verdict in the run's folder
        (``synth.curate.verdict_cache``: a second open judges only what changed);
        ``progress(done, total)`` hears how far the filters are, and with the cache
        ``on_verdicts(slice)`` gets each slice's verdicts as they are found."""
        problems: list[str] = []
        if convs is None:
            res = self.store.load(self.run_id)
            convs, problems = res.conversations, res.problems
        reviews = self.store.reviews(self.run_id)
        meta = self.store.run_meta(self.run_id)
        stops = meta.get("retrim_stops")
        persona = self.persona
        eff: dict[str, list[Turn]] = {}
        judged: list[Conversation] = []  # as re-trimmed: where the text is cut now
        for c in convs:
            rec = reviews.get(c.id)
            source = retrim(c, stops, persona) if stops is not None else c
            judged.append(source)
            edited = rec.edited_turns if rec else None
            eff[c.id] = edited if edited is not None else source.turns
        if filters and cache:
            from synth.curate.verdict_cache import check_run_cached

            verdicts, pairs = check_run_cached(judged, persona, eff,
                                               self.store.run_dir(self.run_id), progress,
                                               on_verdicts)
        elif filters:
            verdicts, pairs = check_run(judged, persona, turns=eff)
        else:
            verdicts, pairs = {c.id: Verdict(ok=True) for c in convs}, []
        listed = self._listed()
        items = []
        for c in convs:
            rec = reviews.get(c.id)
            items.append(Reviewed(conv=c, turns=eff[c.id], decision=rec.decision if rec else None,
                                  edited=bool(rec and rec.edited), verdict=verdicts[c.id],
                                  note=rec.note if rec else "",
                                  listed=listed is None or (c.topic_id, c.k) in listed))
        attach_judgements(self.store.run_dir(self.run_id), persona, items)
        return ReviewSet(self.run_id, items, pairs, problems, stops)

    def _listed(self) -> set[tuple[str, int]] | None:
        """(topic id, k) of every item of the run as its list stands at its latest start (a
        removed topic's conversations stay stored); None where the spec can't be read."""
        try:
            spec = self.store.get_spec(self.run_id)
        except ChatsynthError:
            return None
        return {(t.id, k) for k in range(spec.per_topic) for t in spec.topics.topics}

    def accept(self, cid: str, note: str = "") -> None:
        self.store.set_review(self.run_id, cid, "accepted", note=note)

    def reject(self, cid: str, note: str = "") -> None:
        self.store.set_review(self.run_id, cid, "rejected", note=note)

    def undecide(self, cid: str) -> None:
        self.store.set_review(self.run_id, cid, None)

    def edit(self, cid: str, turns: list[Turn], note: str = "") -> None:
        """Store edited turns (the original stays in the log); keeps any decision."""
        rec = self.store.reviews(self.run_id).get(cid)
        self.store.set_review(self.run_id, cid, rec.decision if rec else None,
                              edited_turns=list(turns), note=note)

    def revert_edit(self, cid: str) -> None:
        rec = self.store.reviews(self.run_id).get(cid)
        self.store.set_review(self.run_id, cid, rec.decision if rec else None, edited_turns=None,
                              keep_edit=False)

    def accept_all_ok(self, rs: ReviewSet | None = None) -> int:
        """Accept every undecided conversation that passes every filter.  Returns how many."""
        rs = rs or self.load()
        todo = {it.id: "accepted" for it in rs.items
                if it.decision is None and it.verdict.ok and it.conv.status == "complete"}
        if todo:
            self.store.set_reviews(self.run_id, todo)
        return len(todo)

    def set_retrim(self, stops: list[str] | None) -> None:
        """Re-trim every unedited conversation at these stop sequences (None: as written)."""
        self.store.set_run_meta(self.run_id, retrim_stops=list(stops) if stops is not None else None)
