"""The Library preview pane with the judge on (the loopback fault server as writer and judge):
the judge's line under the filters' verdict, a failing judge said in one line with the sample
kept, and `m` moving the highlighted sample into the persona's playground run, which Review
then lists."""

from __future__ import annotations

from faultserver import JUDGE_MARK
from tui.app import ChatsynthApp
from tui.testing import wait_for

from tui.testing import set_judge_endpoint
from test_tui_preview import SIZE, app_for, open_eve, text_of, write_sample


async def test_the_judges_verdict_is_shown_under_the_sample(loop_ws, server):
    set_judge_endpoint(loop_ws)
    server.script(["jlow"], match=JUDGE_MARK)
    app = app_for(loop_ws)
    async with app.run_test(size=SIZE) as pilot:
        scr = await open_eve(pilot)
        await write_sample(pilot, scr)
        verdict = text_of(scr, "#preview-verdict")
        assert "filters:" in verdict or "✗" in verdict
        assert "judge fake-model: ✗ fail · lowest 2 (needs 3)" in verdict and "2/5" in verdict
        listed = [str(o.prompt) for o in scr.query_one("#preview-list").options]
        assert any("judge ✗ 2" in x for x in listed)
        assert app.unexpected_errors == []


async def test_a_failing_judge_is_one_line_and_the_sample_stays(loop_ws, server):
    set_judge_endpoint(loop_ws)
    server.script(["401"] * 5, match=JUDGE_MARK)
    app = app_for(loop_ws)
    async with app.run_test(size=SIZE) as pilot:
        scr = await open_eve(pilot)
        await write_sample(pilot, scr)
        verdict = text_of(scr, "#preview-verdict")
        lines = [ln for ln in verdict.splitlines() if "judge" in ln]
        assert len(lines) == 1 and lines[0].startswith("✗ judge failed:")
        assert len(scr.pane.samples) == 1 and "EVE:" in text_of(scr, "#preview-sample")


async def test_the_judge_off_says_why_in_one_muted_line(loop_ws, server):
    app = app_for(loop_ws)
    async with app.run_test(size=SIZE) as pilot:
        scr = await open_eve(pilot)
        await write_sample(pilot, scr)
        assert "judge off: no judge endpoint" in text_of(scr, "#preview-verdict")
        assert not any(JUDGE_MARK in r.prompt for r in server.requests)


async def test_m_moves_the_sample_into_a_run_and_review_lists_it(loop_ws, server):
    app = app_for(loop_ws)
    async with app.run_test(size=SIZE) as pilot:
        scr = await open_eve(pilot)
        await write_sample(pilot, scr)
        sample = scr.pane.samples[0]
        box = scr.query_one("#preview-list")
        box.focus()
        box.highlighted = 1  # the first row heads the version
        await pilot.press("m")
        await wait_for(pilot, lambda: "moved into run" in text_of(scr, "#preview-state"))
        assert "Review and Export see it now" in text_of(scr, "#preview-state")
        assert scr.pane.samples == []
        assert any("no samples yet" in str(o.prompt) for o in box.options)
        assert app.unexpected_errors == []
    app = ChatsynthApp(loop_ws, blink=False, first_run=False, start="review")
    async with app.run_test(size=SIZE) as pilot:
        scr = app.screen
        await wait_for(pilot, lambda: scr.rs is not None and len(scr.rs.items) == 1, 20)
        it = scr.rs.items[0]
        assert it.conv.topic == sample.conversation.topic
        assert it.conv.params["origin"]["sample"] == sample.conversation.id
