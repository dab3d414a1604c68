"""Synthesize screen, the run's lifecycle with Pilot against the real loopback fault server:
retry (during a run and after it), a dead endpoint, discarded apart from failed, token totals
that are the sum of the rows, and no speed while paused."""

from __future__ import annotations


from synth.dataset.store import Store
from tests.test_engine_lifecycle import dead_url
from tui.app import ChatsynthApp
from tui.testing import notified, use_endpoint, wait_for

SIZE = (120, 40)


def app_for(ws) -> ChatsynthApp:
    return ChatsynthApp(ws, blink=False, first_run=False, start="synthesize")


async def start(pilot, limit: int, concurrency: int = 1):
    scr = pilot.app.screen
    scr.query_one("#rf-limit").value = str(limit)
    scr.query_one("#rf-concurrency").value = str(concurrency)
    await pilot.press("f5")
    await wait_for(pilot, lambda: scr.live is not None and scr.live.convs)
    return scr


def status(scr) -> str:
    return str(scr.query_one("#run-status").render())


def shown(app, key: str) -> bool:
    b = app.screen.active_bindings.get(key)
    return b is not None and b.enabled


async def test_retry_while_writing_cuts_it_off_and_writes_it_again(loop_ws, server):
    server.chunk_delay = 0.05
    app = app_for(loop_ws)
    async with app.run_test(size=SIZE) as pilot:
        scr = await start(pilot, limit=1)
        first = scr.live.order[0]
        await wait_for(pilot, lambda: scr.live.convs[first].chars > 0)
        assert scr.selected == first and shown(app, "r") and shown(app, "x")
        await pilot.press("r")
        await wait_for(pilot, lambda: scr.live.convs[first].attempt == 2)  # old code: stayed 1
        await wait_for(pilot, lambda: scr.live.state == "finished", timeout=60)
        await pilot.pause(0.2)
        fin = scr.live.finished
        assert fin.done == 1 and fin.failed == 0
        assert scr.query_one("#conv-table").get_cell(first, "try") == "2"
        conv = scr.live.convs[first].conversation
        assert conv is not None and conv.params["attempts"] == 2
        assert len(server.requests) == 2
        assert app.unexpected_errors == []


async def test_retry_after_the_run_writes_it_again_in_a_run_of_one(loop_ws, server):
    app = app_for(loop_ws)
    async with app.run_test(size=SIZE) as pilot:
        scr = await start(pilot, limit=2, concurrency=2)
        await wait_for(pilot, lambda: scr.live.state == "finished", timeout=30)
        scr.follow = False
        table = scr.query_one("#conv-table")
        table.move_cursor(row=0)
        await pilot.pause()
        cid = scr.selected
        assert cid is not None
        assert shown(app, "r")  # it can act: shown
        assert not shown(app, "x")  # nothing left to discard once a run has ended: hidden
        await pilot.press("r")
        await notified(pilot, "in a run of one")
        await wait_for(pilot, lambda: scr.live.finished is not None and
                       scr.live.started is not None and scr.live.started.rewrite == 1, timeout=30)
        fin = scr.live.finished
        assert fin.outcome == "complete" and fin.reason == "wrote 1 conversation again"
        assert fin.done == 2 and list(scr.live.convs) == [cid]
        assert len(server.requests) == 3
        assert "wrote 1 conversation again" in status(scr)
        assert app.unexpected_errors == []


async def test_a_dead_endpoint_says_it_cant_be_reached(workspace):
    url = dead_url()
    use_endpoint(workspace, url)
    app = app_for(workspace)
    async with app.run_test(size=SIZE) as pilot:
        scr = app.screen
        scr.query_one("#rf-limit").value = "2"
        await pilot.press("f5")
        await wait_for(pilot, lambda: scr.live is not None and scr.live.state == "finished",
                       timeout=15)
        text = status(scr)
        assert "finished: stopped" in text and f"can't reach {url}" in text
        assert "limit" not in text and "0 failed" in text
        await notified(pilot, "failed. Can't reach")
        assert app.unexpected_errors == []


async def test_discarded_is_its_own_count(loop_ws, server):
    server.chunk_delay = 0.04
    app = app_for(loop_ws)
    async with app.run_test(size=SIZE) as pilot:
        scr = await start(pilot, limit=2)
        first = scr.live.order[0]
        await wait_for(pilot, lambda: scr.live.convs[first].chars > 0)
        await pilot.press("x")
        await wait_for(pilot, lambda: scr.live.state == "finished", timeout=30)
        await pilot.pause(0.2)
        text = status(scr)
        assert "1/2 done · 0 failed · 1 discarded" in text, text
        assert scr.live.finished.discarded == 1 and scr.live.finished.failed == 0


async def test_token_totals_are_the_sum_of_the_rows_after_cancel_and_resume(loop_ws, server):
    server.chunk_delay = 0.03
    app = app_for(loop_ws)
    async with app.run_test(size=SIZE) as pilot:
        scr = await start(pilot, limit=4, concurrency=2)
        convs = scr.live.convs
        # one stored, one cut off mid-stream (kept as partial)
        await wait_for(pilot, lambda: any(c.status in ("done", "flagged") for c in convs.values())
                       and any(c.status == "writing" and c.chars for c in convs.values()),
                       timeout=30)
        await pilot.press("c")
        await wait_for(pilot, lambda: scr.live.state == "finished", timeout=30)
        await pilot.pause(0.2)
        rows = sum(c.tokens for c in scr.live.convs.values())
        assert any(c.status == "partial" for c in convs.values())
        assert rows > 0 and rows == scr.live.finished.completion_tokens
        assert f"{rows:,} tokens written" in status(scr)
        table = scr.query_one("#conv-table")
        assert rows == sum(int(table.get_cell(cid, "tok")) for cid in scr.live.order)
        # resume: the header says this start and the run, the run's being what the store holds
        await pilot.press("f5")
        await wait_for(pilot, lambda: scr.live.finished is not None, timeout=30)
        await pilot.pause(0.2)
        here = sum(c.tokens for c in scr.live.convs.values())
        held = Store(loop_ws.runs_dir).load(scr.live.run_id).conversations
        in_run = sum(c.usage.completion_tokens for c in held if c.status == "complete")
        assert f"{here:,} tokens this start, {in_run:,} in the run" in status(scr)
        assert app.unexpected_errors == []


async def test_a_paused_run_shows_no_speed(loop_ws, server):
    server.chunk_delay = 0.05
    app = app_for(loop_ws)
    async with app.run_test(size=SIZE) as pilot:
        scr = await start(pilot, limit=3)
        await wait_for(pilot, lambda: "tok/s" in status(scr))
        await pilot.press("p")
        await wait_for(pilot, lambda: scr.live.state == "paused")
        await pilot.pause(0.6)
        assert "paused" in status(scr) and "tok/s" not in status(scr)
        await pilot.press("c")
        await wait_for(pilot, lambda: scr.live.state == "finished", timeout=30)


async def test_ctrl_q_during_a_run_asks_first_and_no_keeps_it_writing(loop_ws, server):
    """Ctrl+Q while a run writes asks before quitting (it used to quit at once); n keeps the
    app and the run going, a second Ctrl+Q does not stack dialogs, y quits."""
    server.chunk_delay = 0.05
    app = app_for(loop_ws)
    async with app.run_test(size=SIZE) as pilot:
        scr = await start(pilot, limit=3)
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ConfirmDialog")
        assert "still writing" in str(app.screen.query_one(".dialog-question").render())
        await pilot.press("ctrl+q")
        assert len(app.screen_stack) == 2  # the run's screen and one question
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is scr)
        assert app.is_running and app.return_code is None and scr.runner.running
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ConfirmDialog")
        await pilot.press("y")
        await wait_for(pilot, lambda: app.return_code is not None)
    assert app.unexpected_errors == []


async def test_ctrl_q_after_a_run_has_finished_quits_without_asking(loop_ws, server):
    app = app_for(loop_ws)
    async with app.run_test(size=SIZE) as pilot:
        scr = await start(pilot, limit=2, concurrency=2)
        await wait_for(pilot, lambda: scr.live.state == "finished", timeout=30)
        assert not app.services.run_in_progress()
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: app.return_code is not None)
    assert app.unexpected_errors == []
