"""What the app redraws per key press on Synthesize: the footer is drawn again only when the keys
it shows change, and the chat view reuses its turn widgets (a rebuild or a mount per cursor move
is what made keys slow while conversations streamed; bench/bench_tui.py measures the time)."""

from __future__ import annotations

from tui.app import ChatsynthApp
from tui.testing import wait_for
from tui.widgets.chat_view import ChatView
from tui.widgets.footer import AppFooter

SIZE = (120, 40)


def _keys(scr) -> list[str]:
    return [key for key, _description, _enabled in scr.query_one(AppFooter).keys]


async def test_cursor_moves_keep_the_footer_and_the_turn_widgets(loop_ws, server):
    app = ChatsynthApp(loop_ws, blink=False, first_run=False, start="synthesize")
    async with app.run_test(size=SIZE) as pilot:
        scr = app.screen
        scr.query_one("#rf-limit").value = "3"
        scr.query_one("#rf-concurrency").value = "3"
        await pilot.press("f5")
        await wait_for(pilot, lambda: scr.live is not None and scr.live.state == "finished", 30)
        table = scr.query_one("#conv-table")
        await wait_for(pilot, lambda: table.row_count == 3)
        table.focus()
        table.move_cursor(row=0)
        await pilot.pause(0.3)
        chat = scr.query_one(ChatView)
        footer = scr.query_one(AppFooter)
        before, turns, paints = _keys(scr), list(chat._widgets), footer.paints
        assert "r" in before  # r retries a finished one: shown
        for key in ("down", "down", "up"):
            await pilot.press(key)
            await wait_for(pilot, lambda: chat._header.startswith(
                scr.live.convs[scr.selected].topic))
            await pilot.pause(0.2)
        assert scr.selected == scr.live.order[1]
        assert _keys(scr) == before
        assert footer.paints == paints, "the footer was drawn again for the same keys"
        assert chat._widgets[:len(turns)] == turns, "turn widgets were remounted"
        shown = [w for w in chat._widgets if w.display]
        assert len(shown) == len(scr.live.convs[scr.selected].conversation.turns)
        assert app.unexpected_errors == []


async def test_footer_still_follows_keys_that_come_and_go(loop_ws, server):
    server.chunk_delay = 0.05
    app = ChatsynthApp(loop_ws, blink=False, first_run=False, start="synthesize")
    async with app.run_test(size=SIZE) as pilot:
        scr = app.screen
        scr.query_one("#rf-limit").value = "2"
        scr.query_one("#rf-concurrency").value = "2"
        await pilot.press("f5")
        await wait_for(pilot, lambda: scr.live is not None and scr.selected is not None
                       and scr.live.convs[scr.selected].status == "writing")
        await wait_for(pilot, lambda: "x" in _keys(scr))  # discard: writing
        await wait_for(pilot, lambda: scr.live.state == "finished", 30)
        await wait_for(pilot, lambda: {"r", "f"} <= set(_keys(scr)) and "x" not in _keys(scr))
