"""Flows between screens a newcomer takes: Try it from the Library, F5 with nothing picked, the
estimate with a limit, and that no message ever shows a widget's internal value."""

from __future__ import annotations

import pytest

from faultserver import FaultServer
from tui.app import ChatsynthApp
from tui.testing import notified, use_endpoint, wait_for

SIZE = (120, 40)
INTERNAL = ("Select.NULL", "Select.BLANK", "NoSelection")


@pytest.fixture
def server():
    with FaultServer(chunk_delay=0.01) as fs:
        yield fs


@pytest.fixture
def loop_ws(workspace, server):
    use_endpoint(workspace, server.url)
    return workspace


def shown_text(app) -> str:
    """Everything the user can read now: the screen as drawn and every notification so far."""
    return app.export_screenshot() + "\n".join(str(n.message) for n in app._notifications)


async def new_persona(pilot, name: str) -> None:
    app = pilot.app
    lib = app.screen
    await wait_for(pilot, lambda: lib.current is not None)
    lib.query_one("#persona-list").focus()
    await pilot.press("n")
    await wait_for(pilot, lambda: app.screen.query("#prompt-input"))
    await pilot.press(*name, "enter")
    await wait_for(pilot, lambda: lib.current is not None and lib.current.id == name)


async def estimate_text(pilot, scr, contains: str) -> str:
    est = scr.query_one("#estimate")
    await wait_for(pilot, lambda: contains in str(est.render()))
    return str(est.render())


async def test_try_it_on_a_new_persona_picks_a_topic_list(loop_ws, server):
    """Ctrl+G on a persona with no list of its own: Synthesize opens with a topic list picked
    (it was left on "pick topics", and the estimate said "no topic source 'Select.NULL'")."""
    app = ChatsynthApp(loop_ws, blink=False, first_run=False)
    async with app.run_test(size=SIZE) as pilot:
        await new_persona(pilot, "coach")
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: app.current_mode == "synthesize")
        scr = app.screen
        await wait_for(pilot, lambda: scr.query_one("#rf-persona").value == "coach")
        await estimate_text(pilot, scr, "prompt tokens")
        await pilot.pause(0.5)  # every change event of the fill has been handled
        assert scr.query_one("#rf-topics").value == "eve"  # the list shown in the Library
        assert scr.query_one("#rf-persona").value == "coach"
        for bad in INTERNAL:
            assert bad not in shown_text(app)
        assert app.unexpected_errors == []


async def test_try_it_picks_the_personas_own_list(loop_ws):
    app = ChatsynthApp(loop_ws, blink=False, first_run=False)
    async with app.run_test(size=SIZE) as pilot:
        lib = app.screen
        await wait_for(pilot, lambda: lib.current is not None)
        lib.query_one("#persona-list").focus()
        idx = next(i for i, p in enumerate(lib.personas) if p.id == "socratic-tutor")
        lib.query_one("#persona-list").highlighted = idx
        await wait_for(pilot, lambda: lib.current.id == "socratic-tutor")
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: app.current_mode == "synthesize")
        scr = app.screen
        await wait_for(pilot, lambda: scr.query_one("#rf-topics").value == "socratic-tutor")
        await pilot.pause(0.5)
        assert scr.query_one("#rf-persona").value == "socratic-tutor"
        assert scr.query_one("#rf-topics").value == "socratic-tutor"


async def test_f5_with_no_topics_is_refused_before_anything_starts(loop_ws, server):
    app = ChatsynthApp(loop_ws, blink=False, first_run=False, start="synthesize")
    async with app.run_test(size=SIZE) as pilot:
        scr = app.screen
        await estimate_text(pilot, scr, "prompt tokens")
        scr.query_one("#rf-topics").clear()
        est = await estimate_text(pilot, scr, "✗")
        assert "choose the topic list" in est
        await pilot.press("f5")
        await notified(pilot, "choose the topic list to write about in the Topics list")
        await pilot.pause(0.3)
        assert scr.live is None and not app.services.runner.running
        assert server.requests == []
        scr.query_one("#rf-persona").clear()
        await pilot.press("f5")
        await notified(pilot, "choose the persona")
        for bad in INTERNAL:
            assert bad not in shown_text(app)
        assert app.unexpected_errors == []


async def test_no_message_shows_a_widgets_internal_value(loop_ws, server):
    """Walk the flows a newcomer takes (every screen, Try it on a new persona, F5 with nothing
    picked, a limit) and read everything shown: never a widget's internal value."""
    app = ChatsynthApp(loop_ws, blink=False, first_run=False)
    async with app.run_test(size=SIZE) as pilot:
        seen = []
        for key in "123456":
            app.set_focus(None)
            await pilot.press(key)
            await pilot.pause(0.3)
            seen.append(shown_text(app))
            await pilot.press("f1")
            await pilot.pause(0.2)
            seen.append(shown_text(app))
            await pilot.press("escape")
            await pilot.pause()
        await pilot.press("1")
        await wait_for(pilot, lambda: app.current_mode == "library")
        await new_persona(pilot, "coach")
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: app.current_mode == "synthesize")
        scr = app.screen
        await estimate_text(pilot, scr, "prompt tokens")
        seen.append(shown_text(app))
        for sel in ("#rf-topics", "#rf-persona"):
            scr.query_one(sel).clear()
            await estimate_text(pilot, scr, "✗")
            seen.append(shown_text(app))
            await pilot.press("f5")
            await pilot.pause(0.3)
            seen.append(shown_text(app))
        for key in "3456":
            app.set_focus(None)
            await pilot.press(key)
            await pilot.pause(0.3)
            seen.append(shown_text(app))
        assert server.requests == []
        for text in seen:
            for bad in INTERNAL:
                assert bad not in text
        assert app.unexpected_errors == []


async def test_estimate_follows_limit(loop_ws):
    """Limit 2 in the form: the estimate counts two conversations (it counted all 80)."""
    app = ChatsynthApp(loop_ws, blink=False, first_run=False, start="synthesize")
    async with app.run_test(size=SIZE) as pilot:
        scr = app.screen
        await estimate_text(pilot, scr, "80 to write)")
        scr.query_one("#rf-max_tokens").value = "500"
        scr.query_one("#rf-limit").value = "2"
        est = await estimate_text(pilot, scr, "2 to write")
        assert "0 already stored, 2 to write: limit 2 of 80 missing" in est
        assert "at most 1,000 (max_tokens x 2 to write)" in est
        scr.query_one("#rf-limit").value = ""
        await estimate_text(pilot, scr, "at most 40,000 (max_tokens x 80 to write)")
        assert app.unexpected_errors == []
