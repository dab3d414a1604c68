"""Synthesize screen: a run against the loopback OpenAI-compatible fault server, watched live."""

from __future__ import annotations

import pytest

from tui.app import ChatsynthApp
from tui.testing import notified, wait_for
from tui.widgets.chat_view import ChatView

SIZE = (120, 40)


async def test_run_streams_live_and_finishes(loop_ws, server):
    app = ChatsynthApp(loop_ws, blink=False, first_run=False, start="synthesize")
    async with app.run_test(size=SIZE) as pilot:
        scr = app.screen
        est = scr.query_one("#estimate")
        await wait_for(pilot, lambda: "prompt tokens" in str(est.render()))
        assert "80 to write" in str(est.render())
        scr.query_one("#rf-limit").value = "4"
        scr.query_one("#rf-concurrency").value = "2"
        await pilot.press("f5")
        # conversations appear in the table and the selected one streams turn by turn
        await wait_for(pilot, lambda: scr.live is not None and scr.live.convs)
        chat = scr.query_one(ChatView)
        await wait_for(pilot, lambda: len(chat._widgets) >= 2, timeout=15)
        classes = [set(w.classes) for w in chat._widgets]
        assert {"turn", "user"} <= classes[0] and {"turn", "persona"} <= classes[1]
        await wait_for(pilot, lambda: scr.live.state == "finished", timeout=30)
        await pilot.pause(0.2)
        assert scr.live.finished.outcome == "limit"
        assert scr.live.finished.done == 4
        table = scr.query_one("#conv-table")
        assert table.row_count == 4
        status = str(scr.query_one("#run-status").render())
        assert "4/4 done" in status and "0 failed" in status
        assert app.current_run_id == scr.live.run_id
        assert app.unexpected_errors == []
    # every request went to the loopback server with the persona's prompt
    assert len(server.requests) == 4
    assert all("Topic:" in r.prompt for r in server.requests)


async def test_pause_resume_cancel(loop_ws, server):
    server.chunk_delay = 0.05
    app = ChatsynthApp(loop_ws, blink=False, first_run=False, start="synthesize")
    async with app.run_test(size=SIZE) as pilot:
        scr = app.screen
        scr.query_one("#rf-limit").value = "6"
        scr.query_one("#rf-concurrency").value = "2"
        await pilot.press("f5")
        await wait_for(pilot, lambda: scr.live is not None and scr.live.state == "running")
        scr.query_one("#conv-table").focus()
        await pilot.press("p")
        await wait_for(pilot, lambda: scr.live.state == "paused")
        assert "Resume" in str(scr.query_one("#run-pause").label)
        await pilot.press("p")
        await wait_for(pilot, lambda: scr.live.state == "running")
        await pilot.press("c")
        await wait_for(pilot, lambda: scr.live.state == "finished", timeout=20)
        assert scr.live.finished.outcome == "cancelled"
        assert scr.live.finished.done < 6
        assert app.unexpected_errors == []


async def test_fatal_error_is_a_notification(loop_ws, server):
    server.default = "401"
    app = ChatsynthApp(loop_ws, blink=False, first_run=False, start="synthesize")
    async with app.run_test(size=SIZE) as pilot:
        scr = app.screen
        scr.query_one("#rf-limit").value = "2"
        await pilot.press("f5")
        await wait_for(pilot, lambda: scr.live is not None and scr.live.state == "finished", timeout=20)
        assert scr.live.finished.outcome == "stopped"
        assert "401" in str(scr.query_one("#run-status").render())
        await notified(pilot, "stopped")
        assert app.unexpected_errors == []


async def test_bad_form_value_is_refused(loop_ws):
    app = ChatsynthApp(loop_ws, blink=False, first_run=False, start="synthesize")
    async with app.run_test(size=SIZE) as pilot:
        scr = app.screen
        scr.query_one("#rf-per_topic").value = "0"
        await pilot.press("f5")
        await pilot.pause()
        assert scr.live is None
        await notified(pilot, "per topic")


async def test_discard_then_retry_one_conversation(loop_ws, server):
    server.chunk_delay = 0.03
    app = ChatsynthApp(loop_ws, blink=False, first_run=False, start="synthesize")
    async with app.run_test(size=SIZE) as pilot:
        scr = app.screen
        scr.query_one("#rf-limit").value = "3"
        scr.query_one("#rf-concurrency").value = "1"
        await pilot.press("f5")
        await wait_for(pilot, lambda: scr.live is not None and scr.live.convs)
        table = scr.query_one("#conv-table")
        assert app.focused is table  # run keys work at once after F5
        first = scr.live.order[0]
        await wait_for(pilot, lambda: scr.live.convs[first].chars > 0)
        table.move_cursor(row=0)
        await pilot.pause()
        assert scr.selected == first
        await pilot.press("x")
        await wait_for(pilot, lambda: scr.live.convs[first].status == "discarded")
        await pilot.press("r")
        await wait_for(pilot, lambda: scr.live.convs[first].status in ("writing", "done", "flagged"))
        await wait_for(pilot, lambda: scr.live.state == "finished", timeout=30)
        assert scr.live.convs[first].status in ("done", "flagged")
        assert scr.live.finished.done == 3 and scr.live.finished.failed == 0
        assert app.unexpected_errors == []


@pytest.mark.parametrize("field, value, needle", [
    ("temperature", "3", "temperature: must be between 0 and 2, not 3"),
    ("temperature", "-1", "temperature: must be between 0 and 2, not -1"),
    ("max_tokens", "0", "max tokens: must be between 1 and 200000, not 0"),
    ("concurrency", "0", "concurrency: must be between 1 and 1000, not 0"),
    ("budget", "-1", "budget: must be 0 or more"),
])
async def test_out_of_range_sampling_is_refused_like_the_cli(loop_ws, field, value, needle):
    """Issue 9: the form ran with temperature 3; now the same table as `chatsynth run` decides."""
    app = ChatsynthApp(loop_ws, blink=False, first_run=False, start="synthesize")
    async with app.run_test(size=SIZE) as pilot:
        scr = app.screen
        scr.query_one(f"#rf-{field}").value = value
        await pilot.press("f5")
        await pilot.pause()
        assert scr.live is None
        await notified(pilot, needle)
        assert not any(loop_ws.runs_dir.glob("*/spec.json"))
