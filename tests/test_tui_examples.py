"""Review's `m`: the conversation on screen becomes one of its persona's few-shot examples,
saved to the persona's file with its comments kept; a second press, or a conversation that is
not a whole conversation, is refused with a message.  Pilot, a run written against the loopback
fault server."""

from __future__ import annotations

import pytest

from faultserver import FaultServer
from synth.curate.review import Review
from synth.dataset.store import Store
from synth.library.personas import load_persona
from tui.app import ChatsynthApp
from tui.testing import make_run, use_endpoint, wait_for

SIZE = (120, 40)


@pytest.fixture
def run_ws(workspace):
    with FaultServer() as fs:
        use_endpoint(workspace, fs.url)
        fin = make_run(workspace, limit=3)
    assert fin.done == 3
    return workspace


async def test_m_saves_the_shown_conversation_as_an_example_of_its_persona(run_ws):
    store = Store(run_ws.runs_dir)
    run_id = store.resolve_run("latest")
    eve = run_ws.personas_dir / "eve.yaml"
    before = load_persona(eve).examples
    rs = Review(store, run_id).load()
    Review(store, run_id).edit(rs.items[2].id, rs.items[2].turns[:1])  # one turn: no example
    app = ChatsynthApp(run_ws, blink=False, first_run=False, start="review")
    async with app.run_test(size=SIZE) as pilot:
        scr = app.screen
        await wait_for(pilot, lambda: scr.rs is not None and len(scr.shown) == 3)
        scr.query_one("#review-table").focus()
        it = scr.rs.by_id(scr.selected)
        await pilot.press("m")
        await wait_for(pilot, lambda: len(load_persona(eve).examples) == len(before) + 1)
        added = load_persona(eve).examples[-1]
        assert added.startswith(f"USER: {it.turns[0].text.strip()}\n")
        assert f"EVE: {it.turns[1].text.strip()}" in added
        assert "# speaker label Eve uses in transcripts" in eve.read_text(encoding="utf-8")
        await pilot.press("m")  # the same one again: refused, the file unchanged
        await pilot.pause()
        assert len(load_persona(eve).examples) == len(before) + 1
        scr.query_one("#review-table").move_cursor(row=scr.shown.index(rs.items[2].id))
        await pilot.pause()
        await pilot.press("m")
        await pilot.pause()
        assert len(load_persona(eve).examples) == len(before) + 1
        shown = " ".join(str(n.message) for n in app._notifications)
        assert "already one of the persona's examples" in shown
        assert "can't be an example: an example needs at least two turns" in shown
        assert app.unexpected_errors == []
