"""The Synthesize form's Method (transcript / role-play, as `run --method`): choosing role-play
for a transcript persona writes turn by turn through the app's run worker against the loopback
fault server, the estimate follows, a persona without a simulated user is refused with its file
and field named, and a simulator whose block names another endpoint is sent there."""

from __future__ import annotations

import pytest

from faultserver import FaultServer
from tui.app import ChatsynthApp
from tui.testing import make_run, use_endpoint, wait_for

GROWS = "each turn sends the conversation so far"
SIM_START = "You are a person talking with Eve"


@pytest.fixture
def server():
    with FaultServer(chunk_delay=0.01) as fs:
        yield fs


def _estimate(scr) -> str:
    return str(scr.query_one("#estimate").render())


async def test_form_chooses_roleplay_for_a_transcript_persona(workspace, server):
    use_endpoint(workspace, server.url, style="chat")
    app = ChatsynthApp(workspace, blink=False, first_run=False, start="synthesize")
    async with app.run_test(size=(120, 40)) as pilot:
        scr = app.screen
        method = scr.query_one("#rf-method")
        await wait_for(pilot, lambda: _estimate(scr).startswith("Estimate"))
        assert method.value == "transcript"  # eve's own method
        assert GROWS not in _estimate(scr)
        method.value = "roleplay"
        await wait_for(pilot, lambda: GROWS in _estimate(scr))
        line = next(ln for ln in _estimate(scr).splitlines() if ln.startswith("prompt tokens:"))
        assert "(role-play, 4 to 8 turns a conversation" in line
        scr.query_one("#rf-limit").value = "2"
        await pilot.press("f5")
        await wait_for(pilot, lambda: scr.live is not None and scr.live.state == "finished",
                       timeout=60)
        assert scr.live.finished.done == 2 and app.unexpected_errors == []
        convs = [c.conversation for c in scr.live.convs.values()]
        assert all(c.params["method"] == "roleplay" and len(c.turns) >= 4 for c in convs)
        # a request per turn: the persona's side with Eve's prompt, the user's the simulator's
        systems = [q.body["messages"][0]["content"] for q in server.requests
                   if q.path.endswith("chat/completions")]
        assert len(systems) >= 8
        assert any(s.startswith("You are Eve, a digital life") for s in systems)
        assert any(s.startswith(SIM_START) for s in systems)
        # back to transcript: one request a conversation again, and another run
        method.value = "transcript"
        await wait_for(pilot, lambda: GROWS not in _estimate(scr)
                       and _estimate(scr).startswith("Estimate"))
        scr.query_one("#rf-limit").value = "1"
        n = len(server.requests)
        await pilot.press("f5")
        await wait_for(pilot, lambda: scr.live.state == "finished" and len(server.requests) > n,
                       timeout=60)
        assert len(server.requests) == n + 1
        assert scr.live.finished.done == 1
        assert next(iter(scr.live.convs.values())).conversation.params.get("method") != "roleplay"


async def test_roleplay_without_a_simulator_is_refused(workspace, server):
    use_endpoint(workspace, server.url, style="chat")
    app = ChatsynthApp(workspace, blink=False, first_run=False, start="synthesize")
    async with app.run_test(size=(120, 40)) as pilot:
        scr = app.screen
        scr.query_one("#rf-persona").value = "bank-support"
        await wait_for(pilot, lambda: "bank" in str(scr.query_one("#rf-topics").value))
        scr.query_one("#rf-method").value = "roleplay"
        await wait_for(pilot, lambda: _estimate(scr).startswith("✗"))
        want = ("bank-support.yaml: user_simulator: persona 'bank-support' has no "
                "user_simulator: block")
        assert want in _estimate(scr) and "Method: role-play" in _estimate(scr)
        await pilot.press("f5")
        await pilot.pause()
        shown = " ".join(str(n.message) for n in app._notifications)
        assert want in shown and "Traceback" not in shown
        assert scr.live is None and not server.requests  # nothing was asked
        # choosing the persona again puts its own method back
        scr.query_one("#rf-persona").value = "eve"
        await wait_for(pilot, lambda: scr.query_one("#rf-method").value == "transcript")
        assert app.unexpected_errors == []


def test_simulator_on_another_endpoint_gets_the_users_side(workspace, server):
    """eve's user_simulator: names endpoint ``other``: a run through the app's run worker sends
    every user turn there and every persona turn to the run's endpoint."""
    with FaultServer() as other:
        use_endpoint(workspace, server.url, style="chat")
        text = workspace.config_path.read_text(encoding="utf-8")
        text = text.replace("endpoints:\n", f"endpoints:\n  - name: other\n    base_url: "
                            f"{other.url}\n    default_model: sim-model\n    style: chat\n", 1)
        workspace.config_path.write_text(text, encoding="utf-8")
        eve = workspace.personas_dir / "eve.yaml"
        body = eve.read_text(encoding="utf-8")
        assert "\n  max_turns: 8\n" in body
        eve.write_text(body.replace("\n  max_turns: 8\n", "\n  max_turns: 8\n  endpoint: other\n",
                                    1) + "method: roleplay\n", encoding="utf-8")
        workspace.reload()
        done = make_run(workspace, limit=2, concurrency=2)
        assert done.done == 2, done
        mine = [q.body["messages"][0]["content"] for q in server.requests
                if q.path.endswith("chat/completions")]
        theirs = [q for q in other.requests if q.path.endswith("chat/completions")]
        assert len(mine) >= 4 and len(theirs) >= 4
        assert not any(s.startswith(SIM_START) for s in mine)
        assert all(q.body["messages"][0]["content"].startswith(SIM_START) for q in theirs)
        assert {q.model for q in theirs} == {"sim-model"}
