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
        assert len(shown) > 40 and any(rules for rules, _ in shown.values())
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
