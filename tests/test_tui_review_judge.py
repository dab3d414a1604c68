"""Review's LLM judge parts against the loopback fault server as the judge: the Judge column
and the detail pane (a failed judgement shown as failed, never a pass), the filter by judge
outcome, the sort by score, judging from the screen (j) with its progress and cost, Esc
cancelling it, and the message when no judge endpoint is set."""

from __future__ import annotations

import pytest

from faultserver import FaultServer
from synth.curate.review import Review
from synth.dataset.store import Store
from tui.app import ChatsynthApp
from tui.testing import make_run, notified, set_judge_endpoint, use_endpoint, wait_for

SIZE = (160, 48)
LOW, BAD = "thesis", "promoted to manager"  # the topics of the 1st and 2nd conversation


@pytest.fixture
def judged_fs(workspace):
    """A run of 6 written against the fault server, which stays up to judge them: the first
    conversation scores 2 (under the threshold), the judge fails on the second (not JSON three
    times), the rest score 4."""
    with FaultServer() as fs:
        use_endpoint(workspace, fs.url)
        make_run(workspace, limit=6, concurrency=1)
        fs.script(["jlow"], match=LOW)
        fs.script(["jnotjson"] * 3, match=BAD)
        yield workspace, fs


def app_at(ws):
    return ChatsynthApp(ws, blink=False, first_run=False, start="review")


def cells(scr, column):
    table = scr.query_one("#review-table")
    return [str(table.get_cell(k, column)) for k in table.rows]


async def judged(pilot):
    scr = pilot.app.screen
    await wait_for(pilot, lambda: scr.rs is not None and len(scr.shown) == 6)
    scr.query_one("#review-table").focus()
    await pilot.press("j")
    await wait_for(pilot, lambda: scr.judge_job is None and not scr._judge_opening
                   and scr.rs is not None and scr.rs.items[0].judgement is not None, 20)
    await wait_for(pilot, lambda: "· done" in str(scr.query_one("#review-judging").render()))
    # the run is loaded again once the judge is done: wait for that too, then give the table
    # the keys (a key pressed during the reload may land elsewhere on a busy machine)
    await wait_for(pilot, lambda: not any(w.group == "run-load" and not w.is_finished
                                          for w in pilot.app.workers), 20)
    await pilot.pause()
    scr.query_one("#review-table").focus()
    await wait_for(pilot, lambda: pilot.app.focused is scr.query_one("#review-table"))
    return scr


async def test_judging_from_review_shows_scores_reasons_and_a_failure_as_failed(judged_fs):
    ws, fs = judged_fs
    set_judge_endpoint(ws)
    app = app_at(ws)
    async with app.run_test(size=SIZE) as pilot:
        scr = await judged(pilot)
        line = str(scr.query_one("#review-judging").render())
        assert "judge fake-model: 6/6 judged (1 failed)" in line and "tokens" in line
        assert "· done ·" in line and "cost ? (no price for fake-model)" in line
        col = cells(scr, "judge")
        assert col[0] == "⚑ 2/5" and col[1] == "✗ failed" and col[2:] == ["✓ 4/5"] * 4
        # the failed one is flagged by the judge rule and never passes
        bad = scr.rs.items[1]
        assert bad.judgement.failed and not bad.verdict.ok and "judge" in bad.verdict.rules
        assert cells(scr, "state")[1].startswith("⚑ flagged")
        # the detail pane: per criterion score and reason, and the turns objected to
        detail = str(scr.query_one("#review-reasons").render())
        assert "⚑ judge: under the threshold" in detail
        assert "⚑ persona 2/5: persona scored 2." in detail and "objects to turn 2" in detail
        await pilot.press("down")
        await wait_for(pilot, lambda: scr.selected == bad.id)
        detail = str(scr.query_one("#review-reasons").render())
        assert "✗ judge failed" in detail and "not JSON" in detail and "judge passes" not in detail
        await pilot.press("down")
        detail = str(scr.query_one("#review-reasons").render())
        assert "✓ judge passes it" in detail and "✓ persona 4/5: persona scored 4." in detail
        # judging again costs nothing: every passing verdict is cached; the failed one is asked again
        n = len(fs.requests)
        fs.script(["ok"], match=BAD)
        await pilot.press("j")
        await wait_for(pilot, lambda: "· done" in str(scr.query_one("#review-judging").render())
                       and scr.judge_job is None, 20)
        line = str(scr.query_one("#review-judging").render())
        assert "6/6 judged (5 cached)" in line
        assert len(fs.requests) == n + 1
        await wait_for(pilot, lambda: cells(scr, "judge")[1] == "✓ 4/5")
        assert app.unexpected_errors == []


async def test_filter_by_judge_outcome_and_sort_by_score(judged_fs):
    ws, fs = judged_fs
    set_judge_endpoint(ws)
    app = app_at(ws)
    async with app.run_test(size=SIZE) as pilot:
        scr = await judged(pilot)
        ids = [it.id for it in scr.rs.items]
        pick = scr.query_one("#review-judge")
        for value, want in (("under", [ids[0]]), ("failed", [ids[1]]), ("passed", ids[2:]),
                            ("none", []), ("any", ids)):
            pick.value = value
            await wait_for(pilot, lambda: scr.shown == want)
        # s: lowest first (failed counts as the worst), highest first, back to run order
        await pilot.press("s")
        await wait_for(pilot, lambda: scr.shown[:2] == [ids[1], ids[0]])
        assert "sorted by judge score, lowest first" in str(scr.query_one("#review-counts").render())
        await pilot.press("s")
        await wait_for(pilot, lambda: scr.shown[-2:] == [ids[0], ids[1]])
        await pilot.press("s")
        await wait_for(pilot, lambda: scr.shown == ids)
        assert "sorted" not in str(scr.query_one("#review-counts").render())
        assert app.unexpected_errors == []


async def test_sorting_with_nothing_judged_says_so_and_no_endpoint_says_how_to_set_one(judged_fs):
    ws, fs = judged_fs
    app = app_at(ws)
    async with app.run_test(size=SIZE) as pilot:
        scr = app.screen
        await wait_for(pilot, lambda: scr.rs is not None and len(scr.shown) == 6)
        ids = list(scr.shown)
        scr.query_one("#review-table").focus()
        await pilot.press("s")
        await notified(pilot, "No conversation is judged yet")
        assert scr.shown == ids and scr.sort_by is None
        assert cells(scr, "judge") == [""] * 6  # blank: not judged
        assert "not judged yet" in str(scr.query_one("#review-reasons").render())
        n = len(fs.requests)
        await pilot.press("j")
        await notified(pilot, "no judge endpoint for Eve: add a judge: block with endpoint: NAME")
        assert any("judge_endpoint: NAME under defaults: in chatsynth.yaml" in str(m.message)
                   for m in app._notifications)
        assert len(fs.requests) == n and not scr.query_one("#review-judging").display
        await pilot.press("f1")  # the help names both keys and what Esc does while judging
        await wait_for(pilot, lambda: type(app.screen).__name__ == "HelpScreen")
        md = app.screen.query_one("Markdown")._markdown
        assert "| Judge |" in md and "| Sort by score |" in md and "Esc cancels" in md
        assert app.unexpected_errors == []


async def test_esc_cancels_judging_and_keeps_what_was_judged(judged_fs):
    ws, fs = judged_fs
    set_judge_endpoint(ws)
    fs.reset()
    fs.script(["ok"], match=LOW)
    fs.default = "stall:30"  # every other judge request hangs until cancelled
    store = Store(ws.runs_dir)
    run_id = store.resolve_run("latest")
    app = app_at(ws)
    async with app.run_test(size=SIZE) as pilot:
        scr = app.screen
        await wait_for(pilot, lambda: scr.rs is not None and len(scr.shown) == 6)
        scr.query_one("#review-table").focus()
        await pilot.press("j")
        await wait_for(pilot, lambda: scr.judge_job is not None and len(scr.judge_job.results) == 1, 20)
        assert "Esc cancels" in str(scr.query_one("#review-judging").render())
        await pilot.press("escape")
        await wait_for(pilot, lambda: scr.judge_job is None, 10)
        line = str(scr.query_one("#review-judging").render())
        assert "1/6 judged" in line and "cancelled: 5 conversations not judged" in line
        await wait_for(pilot, lambda: cells(scr, "judge")[0] == "✓ 4/5")
        assert cells(scr, "judge")[1:] == [""] * 5
        assert app.unexpected_errors == []
    # the one judged is kept in the run's judge cache
    items = Review(store, run_id).load().items
    assert items[0].judgement is not None and items[0].judgement.passed
    assert all(it.judgement is None for it in items[1:])


async def judged_view(pilot):
    from tui.testing import steady

    await judged(pilot)
    await steady(pilot)


async def judged_failed_view(pilot):
    from tui.testing import steady

    scr = await judged(pilot)
    await pilot.press("down")
    await wait_for(pilot, lambda: scr.selected == scr.rs.items[1].id)
    await steady(pilot)


def test_snapshot_judged_review(judged_fs, snap_compare):
    ws, _ = judged_fs
    set_judge_endpoint(ws)
    assert snap_compare(app_at(ws), terminal_size=SIZE, run_before=judged_view)


def test_snapshot_judged_review_failed_80x24(judged_fs, snap_compare):
    ws, _ = judged_fs
    set_judge_endpoint(ws)
    assert snap_compare(app_at(ws), terminal_size=(80, 24), run_before=judged_failed_view)
