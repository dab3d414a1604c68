"""Synthesize screen with a role-play persona (``method: roleplay``): the turns of the selected
conversation appear one by one while it is written, through the app's own run worker, against
the loopback fault server (completion style: one shared transcript, a request per turn)."""

from __future__ import annotations

import pytest

from faultserver import FaultServer
from tui.app import ChatsynthApp
from tui.testing import use_endpoint, wait_for
from tui.widgets.chat_view import ChatView


@pytest.fixture
def server():
    with FaultServer(chunk_delay=0.03) as fs:
        yield fs


async def test_roleplay_turns_appear_live(workspace, server):
    use_endpoint(workspace, server.url)
    eve = workspace.personas_dir / "eve.yaml"
    eve.write_text(eve.read_text() + "method: roleplay\n")
    app = ChatsynthApp(workspace, blink=False, first_run=False, start="synthesize")
    async with app.run_test(size=(120, 40)) as pilot:
        scr = app.screen
        est = scr.query_one("#estimate")
        await wait_for(pilot, lambda: "each turn sends the conversation so far" in str(est.render()))
        scr.query_one("#rf-limit").value = "2"
        scr.query_one("#rf-concurrency").value = "2"
        await pilot.press("f5")
        await wait_for(pilot, lambda: scr.live is not None and scr.live.convs)
        chat = scr.query_one(ChatView)
        counts = []

        def grows() -> bool:
            unfinished = [c for c in scr.live.convs.values() if c.conversation is None]
            if unfinished and chat._widgets:
                counts.append(len(chat._widgets))
            return len(set(counts)) >= 3  # 1, 2, 3 ... turns shown while still being written

        await wait_for(pilot, grows, timeout=30)
        classes = [set(w.classes) for w in chat._widgets]
        assert {"turn", "user"} <= classes[0] and {"turn", "persona"} <= classes[1]
        await wait_for(pilot, lambda: scr.live.state == "finished", timeout=60)
        assert scr.live.finished.done == 2 and app.unexpected_errors == []
        convs = [c.conversation for c in scr.live.convs.values()]
        assert all(c.params["method"] == "roleplay" and len(c.turns) >= 4 for c in convs)
    # a request per turn, each stopping at the other speaker's label
    firsts = {tuple(r.stop[:1]) for r in server.requests if r.path == "/v1/completions"}
    assert firsts == {("\nEVE:",), ("\nUSER:",)}


async def test_persona_form_chooses_the_method(workspace):
    from synth.library.personas import find_persona, load_persona
    from tests.test_tui_library import open_form

    app = ChatsynthApp(workspace, blink=False, first_run=False, start="library")
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot)
        assert form.original.id == "eve"
        assert form.query_one("#pf-method").value == "transcript"
        form.query_one("#pf-method").value = "roleplay"
        await wait_for(pilot, lambda: form.valid is not None and form.valid.method == "roleplay")
        await pilot.press("ctrl+s")
        path = workspace.personas_dir / "eve.yaml"
        await wait_for(pilot, lambda: "method: roleplay" in path.read_text())
        text = path.read_text()
        assert "# Role-play (`chatsynth run --method roleplay`" in text  # comments kept
        assert load_persona(path).method == "roleplay"
        # a persona without a simulated user can't be role-play: the library's message
        form.load(find_persona(workspace, "bank-support"))
        form.query_one("#pf-method").value = "roleplay"
        await wait_for(pilot, lambda: form.error is not None)
        assert form.error.startswith("method: method roleplay needs a user_simulator: block")
        assert "user_simulator" not in (workspace.personas_dir / "bank-support.yaml").read_text()
        assert app.unexpected_errors == []
