"""What the app redraws per key press on Synthesize: the footer is rebuilt only when the keys it
shows change, and the chat view reuses its turn widgets (a rebuild or a mount per cursor move
is what made keys slow while conversations streamed; bench/bench_tui.py measures the time)."""

from __future__ import annotations

from textual.widgets._footer import FooterKey

from tui.app import ChatsynthApp
from tui.testing import wait_for
from tui.widgets.chat_view import ChatView

SIZE = (120, 40)


def _keys(scr) -> list[FooterKey]:
    return list(scr.query(FooterKey))


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
        before, turns = _keys(scr), list(chat._widgets)
        assert any(k.key == "r" for k in before)  # r retries a finished one: shown
        for key in ("down", "down", "up"):
            await pilot.press(key)
            await wait_for(pilot, lambda: chat._header.startswith(
                scr.live.convs[scr.selected].topic))
            await pilot.pause(0.2)
        assert scr.selected == scr.live.order[1]
        after = _keys(scr)
        assert [k.key for k in after] == [k.key for k in before]
        assert all(a is b for a, b in zip(after, before)), "the footer was rebuilt"
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
        await wait_for(pilot, lambda: any(k.key == "x" for k in _keys(scr)))  # discard: writing
        await wait_for(pilot, lambda: scr.live.state == "finished", 30)
        # (mid-rebuild the footer has no keys at all: wait for the whole new set)
        await wait_for(pilot, lambda: {k.key for k in _keys(scr)} >= {"r", "f"}
                       and not any(k.key == "x" for k in _keys(scr)))
