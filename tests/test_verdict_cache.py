"""Cached filter verdicts (synth/curate/verdict_cache.py): the same verdicts and near-duplicate
pairs as check_run; a second open judges nothing again, an edit judges only the edited
conversation, a changed rule judges every one."""

from __future__ import annotations

import random
import sys
from dataclasses import replace
from pathlib import Path

from synth.curate import verdict_cache
from synth.curate.review import Review
from synth.dataset.store import Store
from synth.models import Turn

sys.path.insert(0, str(Path(__file__).parent))
from store_writer import make_conversation  # noqa: E402
from test_store import spec_for  # noqa: E402

WORDS = ("calm plan week step small feel talk sleep walk breath morning list friend call note "
         "habit tired busy focus quiet").split()


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)) + "."


def _run(workspace) -> tuple[Store, str]:
    rng = random.Random(7)
    store = Store(workspace.runs_dir)
    rid = store.open_run(spec_for(workspace))
    with store.writer(rid) as w:
        for i in range(30):
            c = make_conversation(rid, i)
            c.turns = [Turn("user" if j % 2 == 0 else "assistant", _text(rng, 40)) for j in range(6)]
            if i == 4:
                c.turns[3].text = "As an AI language model I do not have feelings."  # refusal
            if i == 9:
                c.turns = c.turns[:2]  # too few turns
            if i in (20, 21):  # near-copies of conversation 2
                base = [Turn(t.role, t.text) for t in store_turns[2]]
                base[-1].text += " Really."
                c.turns = base
            if i == 2:
                store_turns[2] = c.turns
            c.raw_text = "\n".join(t.text for t in c.turns)
            w.append(c)
    return store, rid


store_turns: dict[int, list[Turn]] = {}


def _judged(monkeypatch) -> list[str]:
    """The conversations the filters judge (a spy on the real check)."""
    seen: list[str] = []
    real = verdict_cache.check

    def spy(conv, *a, **kw):
        seen.append(conv.id)
        return real(conv, *a, **kw)

    monkeypatch.setattr(verdict_cache, "check", spy)
    return seen


def _summary(rs) -> list[tuple]:
    return [(it.id, it.verdict.ok, [r.to_dict() for r in it.verdict.reasons]) for it in rs.items]


def test_cached_verdicts_equal_the_filters_and_judge_only_what_changed(workspace, monkeypatch):
    store, rid = _run(workspace)
    review = Review(store, rid)
    plain = review.load()
    rules = {r for it in plain.items for r in it.verdict.rules}
    assert {"refusal", "turn_count", "near_duplicate"} <= rules  # the run exercises them
    seen = _judged(monkeypatch)
    progress: list[tuple[int, int]] = []
    first = review.load(cache=True, progress=lambda d, t: progress.append((d, t)))
    assert _summary(first) == _summary(plain) and first.pairs == plain.pairs
    assert len(seen) == 30 and progress[-1] == (30, 30)
    cache = store.run_dir(rid) / verdict_cache.CACHE_NAME
    assert cache.stat().st_mode & 0o777 == 0o600
    seen.clear()
    again = Review(store, rid).load(cache=True)
    assert seen == [] and _summary(again) == _summary(plain) and again.pairs == plain.pairs
    edited = plain.items[4].id
    review.edit(edited, [Turn("user", "Hello there, I need help."), Turn("assistant", "Tell me more."),
                         Turn("user", "My week is busy."), Turn("assistant", "What would help?")])
    after = review.load(cache=True)
    assert seen == [edited]
    assert _summary(after) == _summary(review.load())
    seen.clear()
    persona = review.persona
    stricter = Review(store, rid, replace(persona, rules=replace(persona.rules, min_turns=8)))
    got = stricter.load(cache=True)
    assert len(seen) == 30 and all(not it.verdict.ok for it in got.items)


def test_verdicts_come_in_slices_of_the_run(workspace, monkeypatch):
    """on_verdicts hears every conversation once, slice by slice in run order, each with the
    verdict its own rules give (near-duplicates are found at the end, on the whole run)."""
    store, rid = _run(workspace)
    monkeypatch.setattr(verdict_cache, "SLICE", 7)
    slices: list[dict] = []
    rs = Review(store, rid).load(cache=True, on_verdicts=slices.append)
    assert [len(s) for s in slices] == [7, 7, 7, 7, 2]
    assert [cid for s in slices for cid in s] == [it.id for it in rs.items]
    got = {cid: v for s in slices for cid, v in s.items()}
    for it in rs.items:
        own = [r.rule for r in it.verdict.reasons if r.rule != "near_duplicate"]
        assert got[it.id].rules == own or got[it.id].rules == it.verdict.rules, it.id
    assert not got[rs.items[4].id].ok and not got[rs.items[9].id].ok


async def test_review_rows_show_verdicts_as_slices_arrive(workspace, monkeypatch):
    """While the filters still check the run, the rows on view show each slice's verdicts."""
    import threading

    from tui.app import ChatsynthApp
    from tui.screens.run_screen import RunScreen
    from tui.testing import wait_for

    store, rid = _run(workspace)
    monkeypatch.setattr(verdict_cache, "SLICE", 10)
    go_on = threading.Event()
    real = RunScreen._verdicts

    def first_slice_then_hold(self, got):
        real(self, got)
        go_on.wait(30)  # the test looks at the rows while the load is held here

    monkeypatch.setattr(RunScreen, "_verdicts", first_slice_then_hold)
    app = ChatsynthApp(workspace, blink=False, first_run=False, start="review")
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            scr = app.screen
            table = scr.query_one("#review-table")
            ids = store.index(rid).ids
            await wait_for(pilot, lambda: "⚑ flagged" in str(table.get_row(ids[4])[0]), 10)
            assert scr.rs is None  # still loading: the verdict came with its slice
            assert "refusal" in str(table.get_row(ids[4])[2])
            assert "· ok" in str(table.get_row(ids[0])[0])
            assert "checking" in str(table.get_row(ids[15])[0])  # its slice has not come
            go_on.set()
            await wait_for(pilot, lambda: scr.rs is not None, 30)
            assert "checking" not in str(table.get_row(ids[15])[0])
    finally:
        go_on.set()


def test_a_child_process_does_the_first_pass_and_the_app_only_reads_its_cache(workspace, monkeypatch):
    """synth.dataset.prefill runs the filters over the run in a child process: its slices reach
    the caller as they come, it leaves the verdict cache full, and the load after it judges none."""
    from synth.dataset import prefill

    store, rid = _run(workspace)
    plain = Review(store, rid).load()
    assert prefill.stale(store, rid)
    slices: list[dict] = []
    progress: list[tuple[int, int]] = []
    assert prefill.check_in_child(store, rid, lambda d, t: progress.append((d, t)), slices.append)
    assert not prefill.stale(store, rid) and progress[-1] == (30, 30)
    got = {cid: v for s in slices for cid, v in s.items()}
    assert list(got) == [it.id for it in plain.items]
    assert not got[plain.items[4].id].ok and "refusal" in got[plain.items[4].id].rules
    seen = _judged(monkeypatch)
    after = Review(store, rid).load(cache=True)
    assert seen == [] and _summary(after) == _summary(plain)
    assert not prefill.check_in_child(store, "no-such-run")  # a child that fails says so


async def test_review_on_a_big_run_checks_it_in_a_child_process(workspace, monkeypatch):
    from synth.dataset import prefill
    from tui.app import ChatsynthApp
    from tui.testing import wait_for

    store, rid = _run(workspace)
    plain = Review(store, rid).load()
    monkeypatch.setattr(prefill, "CHILD_FROM", 1)  # 30 conversations count as big
    seen = _judged(monkeypatch)  # the app's process judges none of them
    app = ChatsynthApp(workspace, blink=False, first_run=False, start="review")
    async with app.run_test(size=(120, 40)) as pilot:
        scr = app.screen
        await wait_for(pilot, lambda: scr.rs is not None, 60)
        assert seen == [] and _summary(scr.rs) == _summary(plain)
        assert (store.run_dir(rid) / verdict_cache.CACHE_NAME).is_file()
