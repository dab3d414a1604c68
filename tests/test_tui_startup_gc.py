"""No garbage collection while the app builds its first screen (tui/startup_gc.py): paused from
the app's construction to its first frame, the start's objects frozen then, handed back when
the app closes."""

from __future__ import annotations

import asyncio
import gc

import pytest

from tui import startup_gc
from tui.app import ChatsynthApp


@pytest.fixture
def collections():
    """(generation, when) of every collection while the test runs."""
    seen: list[tuple[int, str]] = []
    stage = {"now": "before"}

    def cb(phase, info):
        if phase == "start":
            seen.append((info["generation"], stage["now"]))

    gc.callbacks.append(cb)
    try:
        yield seen, stage
    finally:
        gc.callbacks.remove(cb)
        startup_gc.release()
        assert gc.isenabled()


def test_pause_resume_release():
    assert gc.isenabled()
    startup_gc.pause()
    startup_gc.pause()  # a second pause changes nothing
    assert not gc.isenabled()
    startup_gc.resume()
    assert gc.isenabled() and gc.get_freeze_count() > 0
    startup_gc.resume()  # nothing paused: nothing frozen again
    startup_gc.release()
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_a_collector_someone_else_turned_off_stays_off():
    gc.disable()
    try:
        startup_gc.pause()
        startup_gc.resume()
        startup_gc.release()
        assert not gc.isenabled() and gc.get_freeze_count() == 0
    finally:
        gc.enable()


async def test_no_collection_while_the_first_screen_is_built(ws, collections, monkeypatch):
    seen, stage = collections
    resume = startup_gc.resume

    def resumed():  # the app's call after its first frame (release at exit calls it too)
        if stage["now"] == "start":
            stage["now"] = "resumed"
            frames.append(app.screen.query_one("#persona-list").option_count)
        resume()

    frames: list[int] = []
    monkeypatch.setattr(startup_gc, "resume", resumed)
    gc.collect()  # the test's own garbage out of the way
    del seen[:]
    stage["now"] = "start"
    app = ChatsynthApp(ws, blink=False, first_run=False)
    assert not gc.isenabled()
    async with app.run_test(size=(160, 48)) as pilot:
        while getattr(app.screen, "current", None) is None:
            await asyncio.sleep(0.002)
        await pilot.pause()
        await pilot.pause()
        stage["now"] = "running"
        # the first screen is drawn: collection is back on, the start's objects frozen
        assert gc.isenabled() and gc.get_freeze_count() > 50_000
        assert app.screen.query_one("#persona-list").option_count > 0
        garbage = [[i] for i in range(20_000)]
        for g in garbage:
            g.append(g)  # cycles: only the collector frees them
        del garbage, g
        await pilot.pause()
    assert frames and frames[0] > 0  # resumed once the library was on the first screen
    assert not [s for s in seen if s[1] == "start"], seen
    assert [s for s in seen if s[1] == "running"], "collection did not resume"
    assert gc.isenabled() and gc.get_freeze_count() == 0  # handed back at exit
