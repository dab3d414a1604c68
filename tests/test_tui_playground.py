"""The Playground screen (Ctrl+P "Playground: talk to a persona", p on a persona in the Library)
with Pilot, against the loopback fault server: a prompted exchange streams in, Esc stops an
answer and keeps what came, Ctrl+R and Ctrl+L change the last exchange, Ctrl+S stores it in the
persona's playground run (read back through the Store), a 401 mid-conversation keeps it and
Ctrl+R works after, changing the persona asks first, Esc leaves when nothing streams.
Snapshots at 160x48 and 80x24."""

from __future__ import annotations

import pytest

from faultserver import FaultServer
from synth.dataset.store import Store
from tui.app import ChatsynthApp
from tui.testing import settle, use_endpoint, wait_for

SIZE = (160, 48)
SMALL = (80, 24)


@pytest.fixture
def server():
    with FaultServer() as fs:
        yield fs


@pytest.fixture
def loop_ws(workspace, server):
    use_endpoint(workspace, server.url)
    return workspace


def app_for(ws, start: str = "review"):
    return ChatsynthApp(ws, blink=False, first_run=False, start=start)


def text_of(scr, sel: str) -> str:
    return str(scr.query_one(sel).render())


def shown(scr) -> str:
    """The plain text of every turn the chat view shows."""
    return "\n".join(str(w.render()) for w in scr.query("#pg-chat .turn"))


async def open_playground(pilot):
    app = pilot.app
    await pilot.pause()
    app.action_playground()
    scr = await wait_for(pilot, lambda: type(app.screen).__name__ == "PlaygroundScreen"
                         and app.screen)
    await wait_for(pilot, lambda: scr._picked[0] is not None)
    return scr


async def say(pilot, scr, text: str) -> None:
    await pilot.click("#pg-input")
    scr.query_one("#pg-input").value = text
    await press(pilot, scr, "enter")


async def press(pilot, scr, key: str) -> None:
    """Press a key that starts an answer, and wait until that answer has ended."""
    before = scr.ended
    await pilot.press(key)
    await wait_for(pilot, lambda: scr.ended > before and not scr.streaming, timeout=20)
    await settle(pilot)


async def test_a_prompted_exchange_streams_in_with_its_counts(loop_ws, server):
    server.chunk_delay = 0.05
    app = app_for(loop_ws)
    async with app.run_test(size=SIZE) as pilot:
        scr = await open_playground(pilot)
        assert scr._picked == ("eve", "prompted", "loop")  # the default persona and endpoint
        scr.query_one("#pg-input").value = "hey Eve, I'm sad"
        await pilot.press("enter")
        await wait_for(pilot, lambda: scr.streaming and scr._live, timeout=5)
        assert scr.query_one("#pg-persona").disabled  # no switching mid-answer
        assert "hey Eve, I'm sad" in shown(scr)
        await wait_for(pilot, lambda: not scr.streaming, timeout=20)
        await settle(pilot)
        chat = scr.chat
        assert [t.role for t in chat.turns] == ["user", "assistant"]
        answer = chat.turns[1].text
        assert answer and answer in shown(scr)
        req = server.requests[-1]
        assert "USER: hey Eve, I'm sad" in req.prompt and req.prompt.endswith("EVE:")
        assert "\nUSER:" in req.stop  # one turn at a time
        e = chat.exchanges[0]
        status = text_of(scr, "#pg-status")
        assert f"last answer: {e.usage.prompt_tokens} + {e.usage.completion_tokens} tokens" in status
        assert "total (1 answer): " in status
        assert app.unexpected_errors == []


async def test_empty_enter_says_so_and_esc_leaves_when_nothing_streams(loop_ws, server):
    app = app_for(loop_ws)
    async with app.run_test(size=SMALL) as pilot:
        scr = await open_playground(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert "Type a message first" in text_of(scr, "#pg-note")
        assert server.requests == [] and not scr.streaming
        await pilot.press("escape")
        await wait_for(pilot, lambda: type(app.screen).__name__ != "PlaygroundScreen")
        assert app.unexpected_errors == []


async def test_esc_stops_the_answer_and_keeps_what_came(loop_ws, server):
    server.chunk_delay = 0.05
    app = app_for(loop_ws)
    async with app.run_test(size=SIZE) as pilot:
        scr = await open_playground(pilot)
        scr.query_one("#pg-input").value = "tell me a long story"
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(scr._live) > 10, timeout=10)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not scr.streaming, timeout=5)
        await settle(pilot)
        chat = scr.chat
        assert chat.turns[-1].role == "assistant" and chat.exchanges[-1].partial
        kept = chat.turns[-1].text
        assert kept and kept in shown(scr)
        assert "Stopped: what came is kept" in text_of(scr, "#pg-note")
        assert type(app.screen).__name__ == "PlaygroundScreen"  # Esc stopped, did not leave
        # the full answer would have been longer than what was kept
        server.chunk_delay = 0.0
        await press(pilot, scr, "ctrl+r")
        assert len(chat.turns) == 2 and not chat.exchanges[-1].partial
        assert len(chat.turns[-1].text) > len(kept)
        assert app.unexpected_errors == []


async def test_regenerate_edit_and_save(loop_ws, server):
    app = app_for(loop_ws)
    async with app.run_test(size=SIZE) as pilot:
        scr = await open_playground(pilot)
        await say(pilot, scr, "first thing")
        await say(pilot, scr, "second thing")
        chat = scr.chat
        assert len(chat.turns) == 4 and len(server.requests) == 2
        await press(pilot, scr, "ctrl+r")
        assert len(chat.turns) == 4 and len(chat.exchanges) == 2  # the last answer replaced
        assert len(server.requests) == 3
        assert server.requests[-1].prompt == server.requests[-2].prompt  # the same question
        await pilot.press("ctrl+l")
        await settle(pilot)
        box = scr.query_one("#pg-input")
        assert box.value == "second thing" and scr.editing
        box.value = "something else instead"
        await press(pilot, scr, "enter")
        assert [t.text for t in chat.turns if t.role == "user"] == ["first thing",
                                                                    "something else instead"]
        assert len(chat.turns) == 4
        assert "USER: something else instead" in server.requests[-1].prompt
        assert "second thing" not in server.requests[-1].prompt
        assert "second thing" not in shown(scr)
        answers = [t.text for t in chat.turns if t.role == "assistant"]
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "Saved 4 turns" in text_of(scr, "#pg-note"))
        note = text_of(scr, "#pg-note")
        assert "Review (4) shows it" in note
        store = Store(loop_ws.runs_dir)
        run_id = app.current_run_id
        assert run_id in note and app.current_conversation_id in note
        convs = store.load(run_id).conversations
        assert len(convs) == 1 and convs[0].id == app.current_conversation_id
        assert [t.text for t in convs[0].turns] == ["first thing", answers[0],
                                                    "something else instead", answers[1]]
        assert store.run_meta(run_id).get("source") == "playground"
        # saved: Esc leaves without asking
        await pilot.press("escape")
        await wait_for(pilot, lambda: type(app.screen).__name__ != "PlaygroundScreen")
        assert app.unexpected_errors == []


async def test_a_401_mid_conversation_keeps_it_and_regenerate_works_after(loop_ws, server):
    server.script(["ok", "401"])
    app = app_for(loop_ws)
    async with app.run_test(size=SIZE) as pilot:
        scr = await open_playground(pilot)
        await say(pilot, scr, "one")
        first = scr.chat.turns[1].text
        await say(pilot, scr, "two")
        note = text_of(scr, "#pg-note")
        assert "the endpoint refused the request: HTTP 401" in note
        assert "the conversation so far is kept" in note and "Ctrl+R" in note
        assert [t.text for t in scr.chat.turns] == ["one", first, "two"]
        assert "one" in shown(scr) and first in shown(scr) and "two" in shown(scr)
        await press(pilot, scr, "ctrl+r")  # the server answers again
        assert [t.role for t in scr.chat.turns] == ["user", "assistant", "user", "assistant"]
        assert text_of(scr, "#pg-note").strip() == ""
        assert app.unexpected_errors == []


async def test_an_endpoint_that_is_down_is_said_and_nothing_is_lost(workspace):
    with FaultServer() as fs:
        url = fs.url
    use_endpoint(workspace, url)  # nothing listens there any more
    app = app_for(workspace)
    async with app.run_test(size=SIZE) as pilot:
        scr = await open_playground(pilot)
        await say(pilot, scr, "anyone there?")
        assert "no answer" in text_of(scr, "#pg-note")
        assert [t.text for t in scr.chat.turns] == ["anyone there?"]
        assert "anyone there?" in shown(scr)
        assert app.unexpected_errors == []


async def test_changing_the_persona_asks_first(loop_ws, server):
    app = app_for(loop_ws)
    async with app.run_test(size=SIZE) as pilot:
        scr = await open_playground(pilot)
        await say(pilot, scr, "hello")
        assert scr.dirty
        scr.query_one("#pg-mode").value = "finetuned"
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ConfirmDialog")
        await pilot.press("n")  # keep it
        await wait_for(pilot, lambda: app.screen is scr)
        await settle(pilot)
        assert scr._picked[1] == "prompted" and scr.query_one("#pg-mode").value == "prompted"
        assert len(scr.chat.turns) == 2
        scr.query_one("#pg-mode").value = "finetuned"
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ConfirmDialog")
        await pilot.press("y")
        await wait_for(pilot, lambda: app.screen is scr and scr._picked[1] == "finetuned")
        await settle(pilot)
        assert scr.chat is None and "New conversation with eve (finetuned)" in text_of(scr, "#pg-note")
        await say(pilot, scr, "hello again")
        req = server.requests[-1]
        assert "Topic:" not in req.prompt and req.prompt.rstrip().endswith("EVE:")
        assert "USER: hello again" in req.prompt
        assert app.unexpected_errors == []


async def test_p_in_the_library_opens_the_selected_persona(loop_ws):
    app = app_for(loop_ws, start="library")
    async with app.run_test(size=SIZE) as pilot:
        scr = pilot.app.screen
        await wait_for(pilot, lambda: scr.current is not None)
        scr.query_one("#persona-list").focus()
        await pilot.press("p")
        pg = await wait_for(pilot, lambda: type(app.screen).__name__ == "PlaygroundScreen"
                            and app.screen)
        await wait_for(pilot, lambda: pg._picked[0] == scr.current.id)
        assert app.unexpected_errors == []


# -- snapshots ------------------------------------------------------------------------------
def talked(text: str):
    async def run_before(pilot):
        scr = await open_playground(pilot)
        await say(pilot, scr, text)
        await pilot.click("#pg-input")
        await settle(pilot)
    return run_before


def test_snapshot_playground(loop_ws, snap_compare):
    assert snap_compare(app_for(loop_ws), terminal_size=SIZE, run_before=talked("hey Eve, I'm sad"))


def test_snapshot_playground_80x24(loop_ws, snap_compare):
    assert snap_compare(app_for(loop_ws), terminal_size=SMALL, run_before=talked("hey Eve, I'm sad"))


async def test_ctrl_q_with_an_unsaved_conversation_asks_and_saves_it_before_quitting(loop_ws, server):
    """The Playground is pushed over a tab: Ctrl+Q asks about its unsaved conversation too;
    Cancel keeps it on screen, Save stores it and then quits."""
    app = app_for(loop_ws)
    async with app.run_test(size=SIZE) as pilot:
        scr = await open_playground(pilot)
        await say(pilot, scr, "hey Eve, I'm sad")
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "UnsavedDialog")
        await pilot.click("#cancel")
        await wait_for(pilot, lambda: app.screen is scr)
        assert scr.dirty and app.is_running
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "UnsavedDialog")
        await pilot.click("#save")
        await wait_for(pilot, lambda: not app.is_running, 10)
    store = Store(loop_ws.runs_dir)
    saved = [c for r in store.run_ids() for c in store.load(r).conversations]
    assert [t.text for t in saved[0].turns][0] == "hey Eve, I'm sad" and len(saved) == 1
