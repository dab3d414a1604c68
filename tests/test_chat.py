"""The playground's engine (synth.generate.chat) against the real loopback fault server: the
exact request each mode and style sends, stop/retry/edit, counts, errors that keep the
conversation, and a saved exchange in the persona's playground run."""

from __future__ import annotations

import asyncio

import pytest

from synth.dataset.playground import is_playground, save_exchange
from synth.dataset.store import Store
from synth.generate.chat import ChatError, ChatSession
from synth.generate.endpoints import Endpoint
from synth.library.personas import find_persona


def _ep(fs, style: str) -> Endpoint:
    return Endpoint(name="fault", base_url=fs.url, model="fault-model", style=style)


async def _all(it) -> str:
    return "".join([p async for p in it])


def _talk(chat: ChatSession, *steps) -> list[str]:
    async def go():
        out = []
        for fn, *a in steps:
            out.append(await _all(getattr(chat, fn)(*a)))
        await chat.endpoint.aclose()
        return out
    return asyncio.run(go())


def test_prompted_completion_stops_at_the_user_label(fs, ws):
    eve = find_persona(ws, "eve")
    chat = ChatSession(_ep(fs, "completion"), eve, topic="exam nerves")
    a1, a2 = _talk(chat, ("say", "hey Eve, I am sad"), ("say", "work is too much"))
    assert a1 and a2 and "USER:" not in a1 and not a1.startswith(" ")
    req = fs.requests[-1]
    assert req.path.endswith("/completions") and not req.path.endswith("chat/completions")
    assert req.body["stop"][:2] == ["\nUSER:", "\nEVE:"]
    prompt = req.body["prompt"]
    assert "Topic: exam nerves" in prompt  # the synthesis prompt, rendered for the topic
    assert prompt.endswith(f"USER: hey Eve, I am sad\nEVE: {a1}\nUSER: work is too much\nEVE:")
    assert [t.role for t in chat.turns] == ["user", "assistant", "user", "assistant"]
    assert chat.turns[3].text == a2.strip()
    p, c, cost = chat.totals()
    assert len(chat.exchanges) == 2 and p > 0 and c > 0
    assert chat.exchanges[0].usage.source == "server"  # the fault server reports usage
    assert cost is None  # no price is known for "fault-model"


def test_prompted_chat_sends_the_prompt_as_system_and_the_turns_as_messages(fs, ws):
    eve = find_persona(ws, "eve")
    chat = ChatSession(_ep(fs, "chat"), eve)
    _talk(chat, ("say", "hello"))
    req = fs.requests[-1]
    assert req.path.endswith("chat/completions")
    msgs = req.body["messages"]
    assert msgs[0]["role"] == "system" and "transcript of a coaching session" in msgs[0]["content"]
    assert "Topic: whatever is on the user's mind today" in msgs[0]["content"]  # the neutral one
    assert msgs[1:] == [{"role": "user", "content": "hello"}]
    assert req.body["stop"][0] == "\nUSER:"


def test_finetuned_sends_only_the_system_prompt(fs, ws):
    eve = find_persona(ws, "eve")
    chat = ChatSession(_ep(fs, "chat"), eve, mode="finetuned", topic="exam nerves")
    a1, _ = _talk(chat, ("say", "hi"), ("say", "and then?"))
    msgs = fs.requests[-1].body["messages"]
    assert msgs == [{"role": "system", "content": eve.system_prompt.strip()},
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": a1.strip()},
                    {"role": "user", "content": "and then?"}]
    assert "stop" not in fs.requests[-1].body
    # completion-only: the system prompt, then the transcript in the export's format
    chat = ChatSession(_ep(fs, "completion"), eve, mode="finetuned")
    (a,) = _talk(chat, ("say", "hi"))
    req = fs.requests[-1]
    assert req.body["prompt"] == eve.system_prompt.strip() + "\n\nUSER: hi\n\nEVE:"
    assert req.body["stop"][0] == "\n\nUSER:"
    assert "transcript of a coaching session" not in req.body["prompt"]


def test_retry_and_edit_replace_the_last_answer(fs, ws):
    eve = find_persona(ws, "eve")
    chat = ChatSession(_ep(fs, "completion"), eve)
    _talk(chat, ("say", "first"), ("retry",), ("edit", "second thought"))
    assert [t.role for t in chat.turns] == ["user", "assistant"]
    assert chat.turns[0].text == "second thought"
    assert len(chat.exchanges) == 1  # the replaced answers no longer count
    assert fs.requests[-1].body["prompt"].endswith("USER: second thought\nEVE:")
    assert len(fs.requests) == 3


def test_stop_keeps_what_came(ws):
    from tests.faultserver import FaultServer

    eve = find_persona(ws, "eve")
    with FaultServer(chunk_delay=0.05, honour_stop=False) as slow:
        chat = ChatSession(_ep(slow, "chat"), eve, mode="finetuned")

        async def go():
            got = []
            async for piece in chat.say("hi"):
                got.append(piece)
                if len(got) == 3:
                    chat.stop()
            await chat.endpoint.aclose()
            return "".join(got)
        text = asyncio.run(go())
    assert text and chat.turns[-1].role == "assistant" and chat.turns[-1].text == text.strip()
    assert chat.exchanges[-1].partial
    assert "END OF CONVERSATION" not in text  # the whole answer would have run to it


def test_401_mid_conversation_keeps_the_conversation(fs, ws):
    eve = find_persona(ws, "eve")
    chat = ChatSession(_ep(fs, "completion"), eve)
    _talk(chat, ("say", "one"))
    fs.script(["401"])
    with pytest.raises(ChatError) as info:
        _talk(chat, ("say", "two"))
    assert info.value.fatal and "HTTP 401" in str(info.value)
    assert [t.text for t in chat.turns][0::2] == ["one", "two"]  # the unanswered turn is kept
    assert len(chat.answered_turns()) == 2
    (a,) = _talk(chat, ("retry",))  # and can be asked again
    assert a and chat.turns[-1].role == "assistant" and len(chat.turns) == 4


def test_save_exchange_files_it_in_the_personas_playground_run(fs, ws):
    eve = find_persona(ws, "eve")
    store = Store(ws.runs_dir)
    chat = ChatSession(_ep(fs, "completion"), eve, topic="exam nerves")
    _talk(chat, ("say", "one"), ("say", "two"))
    run_id, cid = save_exchange(store, chat)
    run2, cid2 = save_exchange(store, chat)  # saved again: a second conversation, same run
    assert run2 == run_id and cid2 != cid and is_playground(store, run_id)
    convs = {c.id: c for c in store.load(run_id).conversations}
    assert set(convs) == {cid, cid2}
    conv = convs[cid]
    assert conv.topic == "exam nerves" and conv.persona_id == "eve" and len(conv.turns) == 4
    assert conv.params["source"] == "playground" and conv.params["mode"] == "prompted"
    assert conv.turns[0].text == "one" and conv.turns[2].text == "two"
    spec = store.get_spec(run_id)
    assert [t.text for t in spec.topics.topics] == ["exam nerves"] and spec.per_topic == 2
