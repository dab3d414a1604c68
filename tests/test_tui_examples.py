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


async def test_persona_form_edits_sampling_values_checked_like_the_cli(workspace):
    path = workspace.personas_dir / "eve.yaml"
    app = ChatsynthApp(workspace, blink=False, first_run=False)
    async with app.run_test(size=SIZE) as pilot:
        scr = app.screen
        await wait_for(pilot, lambda: scr.current is not None)
        scr.query_one("#persona-list").focus()
        await pilot.press("enter")
        form = await wait_for(pilot, lambda: scr.form)
        await wait_for(pilot, lambda: form.original is not None)
        assert scr.query_one("#pf-top_p").value == "0.9"
        assert scr.query_one("#pf-frequency_penalty").value == ""  # unset: the server's
        assert "Few-shot examples: 1 in the file" in str(scr.query_one("#pf-examples").render())
        scr.query_one("#pf-repeat_penalty").value = "a lot"
        await wait_for(pilot, lambda: form.error is not None)
        assert form.error.startswith("repeat_penalty: expected a number"), form.error
        scr.query_one("#pf-repeat_penalty").value = "1e9"
        await wait_for(pilot, lambda: form.error and "more than 0 and at most 10" in form.error)
        scr.query_one("#pf-repeat_penalty").value = "1.3"
        scr.query_one("#pf-top_p").value = ""
        await wait_for(pilot, lambda: form.error is None and form.dirty)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not form.dirty)
        assert app.unexpected_errors == []
    saved = load_persona(path)
    assert saved.repeat_penalty == 1.3 and saved.top_p is None and len(saved.examples) == 1
    assert "# Sampling values that suit the small embedded model" in path.read_text()


async def test_synthesize_form_takes_the_personas_sampling_values_and_checks_them(workspace):
    from tui.widgets.run_form import RunForm

    app = ChatsynthApp(workspace, blink=False, first_run=False, start="synthesize")
    async with app.run_test(size=SIZE) as pilot:
        scr = app.screen
        form = scr.query_one(RunForm)
        await wait_for(pilot, lambda: scr.query_one("#rf-top_p").value == "0.9")
        assert scr.query_one("#rf-repeat_penalty").value == "1.15"
        scr.query_one("#rf-frequency_penalty").value = "0.5"
        req = form.request()
        assert (req.top_p, req.presence_penalty, req.frequency_penalty, req.repeat_penalty) == (
            0.9, 0.3, 0.5, 1.15)
        spec = app.services.spec_for(req, endpoint="local", model="m", style=None)
        assert spec.sampling() == {"top_p": 0.9, "presence_penalty": 0.3,
                                   "frequency_penalty": 0.5, "repeat_penalty": 1.15}
        scr.query_one("#rf-presence_penalty").value = "3"
        with pytest.raises(Exception, match="presence penalty: must be between -2 and 2, not 3"):
            form.request()
        assert app.unexpected_errors == []
