"""Review state over the store's catalog: accept, reject, edit, bulk accept, re-trim."""

from __future__ import annotations

from data.factory import make_run, turns
from synth.curate.review import Review


def _one_flagged(i, k):
    if i == 3:
        return turns("Hello there, I feel lost lately.", "I understand how you feel completely. "
                     "I understand how you feel completely.", "Thanks.", "What feels most lost?")
    return None


def test_accept_reject_undecide_persist(tmp_path):
    store, run_id, _ = make_run(tmp_path / "runs", n_topics=5, per_topic=1)
    rv = Review(store, run_id)
    ids = [it.id for it in rv.load().items]
    rv.accept(ids[0], note="nice")
    rv.reject(ids[1])
    rs = Review(store, run_id).load()  # a fresh object reads the catalog
    assert [it.state for it in rs.items] == ["accepted", "rejected", "ok", "ok", "ok"]
    assert rs.items[0].note == "nice"
    rv.undecide(ids[0])
    assert rv.load().items[0].state == "ok"


def test_edit_keeps_original_and_is_judged_on_edit(tmp_path):
    store, run_id, _ = make_run(tmp_path / "runs", n_topics=5, per_topic=1, extra=_one_flagged)
    rv = Review(store, run_id)
    rs = rv.load()
    bad = rs.items[3]
    assert bad.state == "flagged" and bad.verdict.rules == ["repeated_line"]
    assert rs.next_flagged().id == bad.id and rs.next_flagged(after=bad.id).id == bad.id
    rv.reject(bad.id)
    fixed = turns("Hello there, I feel lost lately.", "I understand how you feel. What changed recently?",
                  "Thanks.", "What feels most lost?")
    rv.edit(bad.id, fixed, note="removed the repeat")
    it = rv.load().by_id(bad.id)
    assert it.edited and it.verdict.ok and it.decision == "rejected"  # an edit keeps the decision
    assert it.turns[1].text == "I understand how you feel. What changed recently?"
    assert it.conv.turns[1].text.count("I understand how you feel completely.") == 2  # original kept
    assert store.reviews(run_id)[bad.id].edited
    rv.revert_edit(bad.id)
    it = rv.load().by_id(bad.id)
    assert not it.edited and not it.verdict.ok and it.decision == "rejected"
    assert rv.load().next_flagged() is None  # decided ones are not "waiting"


def test_bulk_accept_takes_only_ok_undecided(tmp_path):
    store, run_id, _ = make_run(tmp_path / "runs", n_topics=6, per_topic=1, extra=_one_flagged)
    rv = Review(store, run_id)
    ids = [it.id for it in rv.load().items]
    rv.reject(ids[0])
    assert rv.accept_all_ok() == 4
    states = [it.state for it in rv.load().items]
    assert states == ["rejected", "accepted", "accepted", "flagged", "accepted", "accepted"]
    assert rv.accept_all_ok() == 0


def test_retrim_applies_to_unedited_conversations(tmp_path):
    store, run_id, spec = make_run(tmp_path / "runs", n_topics=3, per_topic=1)
    rv = Review(store, run_id, spec.persona)
    assert all(len(it.turns) == 6 for it in rv.load().items)
    rv.set_retrim(["\nUSER: Yes, I can"])
    rs = rv.load()
    assert rs.retrim_stops == ["\nUSER: Yes, I can"]
    assert [len(it.turns) for it in rs.items] == [4, 4, 4]  # cut before "Yes, I can try that"
    assert all(it.conv.turns[4].text.startswith("Yes, I can") for it in rs.items)  # log unchanged
    rv.set_retrim(None)
    assert all(len(it.turns) == 6 for it in rv.load().items)


def test_tokens_follow_trims_and_edits(tmp_path):
    """One count per conversation: the tokens of its turns as they stand now."""
    from synth.curate.review import conversation_tokens

    store, run_id, spec = make_run(tmp_path / "runs", n_topics=3, per_topic=1)
    rv = Review(store, run_id, spec.persona)
    it = rv.load().items[0]
    assert it.tokens == conversation_tokens([it.turns])[0] > 50
    assert it.tokens != it.conv.usage.completion_tokens  # not the generation's usage
    rv.set_retrim(["\nUSER: Yes, I can"])
    rs = rv.load()
    rs.count_tokens()
    cut = rs.by_id(it.id)
    assert cut.tokens == conversation_tokens([cut.turns])[0] < it.tokens
    rv.edit(it.id, turns("Hi.", "Hello. What brings you here?", "Work.", "Shall we start with one step?"))
    edited = rv.load().by_id(it.id)
    assert edited.tokens == conversation_tokens([edited.turns])[0] < cut.tokens


def test_truncated_judged_where_the_retrim_cuts_now(tmp_path):
    """A re-trim that cuts a turn in the middle flags it; one that cuts between turns does not."""
    store, run_id, spec = make_run(tmp_path / "runs", n_topics=2, per_topic=1)
    rv = Review(store, run_id, spec.persona)
    rv.set_retrim(["minutes"])  # inside the persona's 4th turn: "... for 5 minutes. Could you..."
    rs = rv.load()
    assert all(it.verdict.rules == ["truncated"] for it in rs.items), [it.verdict.rules for it in rs.items]
    assert "was cut inside the turn by the stop sequence 'minutes'" in rs.items[0].verdict.summary()
    assert rv.accept_all_ok(rs) == 0
    rv.set_retrim(["\nUSER: Yes, I can"])
    assert all(it.verdict.ok for it in rv.load().items)
