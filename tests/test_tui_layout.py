"""Every screen usable at small terminal sizes: the main pane keeps at least 40 columns at
80x24 and 90x30 (side panes shrink; at narrow widths the Library shows the persona or the
topics beside its lists, whichever side has the focus).  The pictures: test_tui_snapshots."""

from __future__ import annotations

import pytest

from faultserver import FaultServer
from tui.app import ChatsynthApp
from tui.testing import make_run, use_endpoint, wait_for

MAIN = {
    "library": "#persona-pane",
    "synthesize": "#synth-main",
    "trim": "#trim-main",
    "review": "#review-main",
    "export": "#export-main",
    "settings": "#settings-main",
}


@pytest.fixture(scope="module")
def run_ws(tmp_path_factory):
    from synth.library.workspace import init_workspace

    ws, _ = init_workspace(tmp_path_factory.mktemp("layout") / "ws")
    with FaultServer() as fs:
        use_endpoint(ws, fs.url)
        make_run(ws, limit=3, concurrency=1)
    return ws


@pytest.mark.parametrize("size", [(80, 24), (90, 30)])
async def test_main_pane_keeps_40_columns_on_every_screen(run_ws, size):
    app = ChatsynthApp(run_ws, blink=False, first_run=False, start="library")
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: app.screen.current is not None)
        widths = {}
        for mode, main in MAIN.items():
            app.action_goto(mode)
            await wait_for(pilot, lambda m=mode: app.current_mode == m)
            await pilot.pause()
            widths[mode] = app.screen.query_one(main).region.width
        app.action_goto("library")
        await wait_for(pilot, lambda: app.current_mode == "library")
        scr = app.screen
        await scr.open_editor()
        await pilot.pause()
        widths["library editor"] = scr.query_one("#persona-form").region.width
        app.action_goto("review")
        await wait_for(pilot, lambda: app.current_mode == "review")
        await wait_for(pilot, lambda: app.screen.query(".turn"))
        await pilot.pause()
        widths["review chat"] = min(t.content_region.width for t in app.screen.query(".turn"))
        assert all(w >= 40 for m, w in widths.items() if m != "review chat"), widths
        assert widths["review chat"] >= 30, widths


async def test_narrow_library_shows_the_side_that_has_the_focus(run_ws):
    app = ChatsynthApp(run_ws, blink=False, first_run=False, start="library")
    async with app.run_test(size=(80, 24)) as pilot:
        scr = app.screen
        await wait_for(pilot, lambda: scr.current is not None)
        pane, topics = scr.query_one("#persona-pane"), scr.query_one("#topic-editor")
        assert pane.region.width >= 40 and topics.region.width == 0
        scr.query_one("#source-list").focus()
        await pilot.pause()
        assert topics.region.width >= 40 and pane.region.width == 0
        await pilot.press("enter")  # the topic table takes the keys
        await wait_for(pilot, lambda: app.focused is scr.query_one("#topic-table"))
        scr.query_one("#persona-list").focus()
        await pilot.pause()
        assert pane.region.width >= 40 and topics.region.width == 0
    app = ChatsynthApp(run_ws, blink=False, first_run=False, start="library")
    async with app.run_test(size=(160, 48)) as pilot:  # wide: both, whatever has the focus
        scr = app.screen
        await wait_for(pilot, lambda: scr.current is not None)
        scr.query_one("#source-list").focus()
        await pilot.pause()
        assert scr.query_one("#persona-pane").region.width >= 40
        assert scr.query_one("#topic-editor").region.width == 46
