"""A screen's first showing skips Textual's restyle of every widget (they were styled as they
were mounted): each widget must then have exactly the rules a full restyle gives it, on the
Library (the first screen) and on a screen opened later, in either theme."""

from __future__ import annotations

import pytest

from tui.app import ChatsynthApp
from tui.testing import wait_for


def _styles(screen) -> dict:
    return {(type(w).__name__, w.id, i): (w._css_styles.get_rules(), sorted(w.classes))
            for i, w in enumerate(screen.walk_children(with_self=True))}


@pytest.mark.parametrize("theme", ["textual-dark", "textual-light"])
async def test_screens_shown_once_are_styled_as_a_full_restyle_styles_them(workspace, theme):
    app = ChatsynthApp(workspace, blink=False, first_run=False)
    app.theme = theme  # as the user's settings give it: before the first screen
    async with app.run_test(size=(160, 48)) as pilot:
        assert app.theme == theme
        scr = app.screen
        await wait_for(pilot, lambda: scr.current is not None)
        await pilot.pause()
        shown = _styles(scr)
        assert len(shown) > 30 and any(rules for rules, _ in shown.values())
        scr.update_node_styles(animate=False)
        assert _styles(scr) == shown
        await pilot.press("5")  # Export: built and shown for the first time now
        await wait_for(pilot, lambda: app.current_mode == "export")
        await pilot.pause()
        export = app.screen
        shown = _styles(export)
        assert len(shown) > 20
        export.update_node_styles(animate=False)
        assert _styles(export) == shown
        assert not app.unexpected_errors


async def test_a_resize_to_the_size_laid_out_lays_nothing_out_again(workspace):
    """A launch brought three Resizes with the terminal's size, each laying every widget of the
    first screen out again; a real change of size is still laid out, with the size classes."""
    from textual import events
    from textual.screen import Screen

    layouts: list[object] = []
    original = Screen._refresh_layout

    def counted(self, size=None, scroll=False):
        layouts.append(size)
        return original(self, size, scroll)

    app = ChatsynthApp(workspace, blink=False, first_run=False)
    async with app.run_test(size=(160, 48)) as pilot:
        scr = app.screen
        await wait_for(pilot, lambda: scr.current is not None)
        await pilot.pause()
        Screen._refresh_layout = counted
        try:
            scr.post_message(events.Resize(app.size, app.size))
            await pilot.pause()
            assert layouts == []
            await pilot.resize_terminal(90, 30)
            await wait_for(pilot, lambda: scr.size.width == 90)
            assert layouts, "a new size was not laid out"
            assert {"-narrow", "-short"} <= set(scr.classes) and "-wide" not in scr.classes
            assert scr.query_one("#persona-card").region.right <= 90
            # resized while another screen shows: laid out for the new size when shown again,
            # and the size it had before is a change again
            await pilot.press("2")
            await wait_for(pilot, lambda: app.current_mode == "synthesize")
            await pilot.resize_terminal(160, 48)
            await pilot.pause()
            await pilot.press("1")
            await wait_for(pilot, lambda: app.screen is scr and "-wide" in scr.classes)
            await wait_for(pilot, lambda: scr.query_one("#persona-card").region.right > 100)
            await pilot.resize_terminal(90, 30)
            await wait_for(pilot, lambda: "-narrow" in scr.classes
                           and scr.query_one("#persona-card").region.right <= 90)
        finally:
            Screen._refresh_layout = original
        assert not app.unexpected_errors
