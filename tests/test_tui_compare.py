"""The Compare screen (Ctrl+P "Compare two runs") with Pilot, over runs written by the real CLI
against the loopback fault server: the previous run of the persona is picked as A, the figures
and the persona diff show, the cursor's topic shows both conversations, s swaps, a pair with no
topic in common says so, Esc closes."""

from __future__ import annotations

import pytest

from faultserver import FaultServer
from tests.test_compare import stored_run, two_runs
from tui.app import ChatsynthApp
from tui.testing import make_run, steady, unchanged, use_endpoint, wait_for


def cells(table) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_compare_screen_shows_two_versions_side_by_side(cli, ws, fs):
    a, b = two_runs(cli, ws, fs)
    store_cid = None
    app = ChatsynthApp(ws, blink=False, first_run=False, start="review")
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        app.action_compare()
        scr = await wait_for(pilot, lambda: type(app.screen).__name__ == "CompareScreen" and app.screen)
        await wait_for(pilot, lambda: scr.comparison is not None)
        assert scr._picked() == (a, b)  # B the newest, A the run of the same persona before it
        note = str(scr.query_one("#cmp-note").render())
        assert "On the 4 topics both runs wrote (2 only in A, 0 only in B, left out)." in note
        rows = cells(scr.query_one("#cmp-summary"))
        assert ["passing", "4 (100%)", "4 (100%)"] in rows
        diff = str(scr.query_one("#cmp-diff").render())
        assert "temperature 0.8 → 0.5" in diff and "+  Version two." in diff
        topics = scr.query_one("#cmp-topics")
        assert topics.row_count == 4 and cells(topics)[0][1:] == ["✓", "✓"]
        head_a = scr.query_one("#cmp-chat-a .chat-header").render()
        assert str(head_a).startswith(f"A · {scr.comparison.pairs[0].a.id} · passes")
        await pilot.press("down")
        await wait_for(pilot, lambda: str(scr.query_one("#cmp-chat-b .chat-header").render())
                       .startswith(f"B · {scr.comparison.pairs[1].b.id}"))
        await pilot.press("s")
        await wait_for(pilot, lambda: scr._picked() == (b, a) and scr.comparison is not None
                       and scr.comparison.a.run_id == b)
        assert "0 only in A, 2 only in B" in str(scr.query_one("#cmp-note").render())
        await pilot.press("escape")
        await wait_for(pilot, lambda: type(app.screen).__name__ != "CompareScreen")
        assert app.unexpected_errors == [] and store_cid is None


async def test_compare_screen_with_no_topic_in_common_says_so(cli, ws, fs):
    a = stored_run(cli("run", "--persona", "eve", "--topics", "short", "--limit", "2",
                       "--base-url", fs.url, "-q"))
    (ws.topics_dir / "other.txt").write_text("a topic of its own\n")
    c = stored_run(cli("run", "--persona", "eve", "--topics", "other", "--base-url", fs.url, "-q"))
    app = ChatsynthApp(ws, blink=False, first_run=False, start="review")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.action_compare(a, c)
        scr = await wait_for(pilot, lambda: type(app.screen).__name__ == "CompareScreen" and app.screen)
        await wait_for(pilot, lambda: scr.query("#cmp-note")
                       and "no topic in common" in str(scr.query_one("#cmp-note").render()))
        assert scr.query_one("#cmp-topics").row_count == 0
        assert app.unexpected_errors == []


@pytest.fixture
def two_versions(workspace):
    """Eve on 5 topics, then Eve with another system prompt and temperature on 3 of them,
    through the app's own run controller (fixed ids: the same picture on every machine)."""
    with FaultServer() as server:
        use_endpoint(workspace, server.url)
        make_run(workspace, limit=5, concurrency=1)
        path = workspace.personas_dir / "eve.yaml"
        text = path.read_text()
        text = text.replace("system_prompt: |\n", "system_prompt: |\n  Version two.\n", 1)
        path.write_text(text.replace("temperature: 0.8", "temperature: 0.5", 1))
        make_run(workspace, limit=3, concurrency=1)
    return workspace


async def compare_ready(pilot):
    pilot.app.action_compare()
    scr = await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "CompareScreen"
                         and pilot.app.screen)
    await wait_for(pilot, lambda: scr.comparison is not None)
    await pilot.press("down")
    await steady(pilot)
    await unchanged(pilot)


def test_compare_snapshot(two_versions, snap_compare):
    app = ChatsynthApp(two_versions, blink=False, first_run=False, start="review")
    assert snap_compare(app, terminal_size=(160, 48), run_before=compare_ready)


def test_compare_snapshot_80x24(two_versions, snap_compare):
    app = ChatsynthApp(two_versions, blink=False, first_run=False, start="review")
    assert snap_compare(app, terminal_size=(80, 24), run_before=compare_ready)
