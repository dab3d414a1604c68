"""Transcript parsing, client-side trimming and prompt rendering: pure functions, real text."""

from __future__ import annotations

from synth.models import Conversation, Persona, Topic
from synth.generate.prompts import fill, render
from synth.generate.transcript import Speakers, find_stop, parse_turns, retrim, trim

SP = Speakers(user=["USER"], assistant=["EVE", "Eve"])


def persona(**kw) -> Persona:
    d = dict(id="eve", name="Eve", persona_label="EVE", user_label="USER", system_prompt="s",
             synthesis_prompt="About {name}.\nTopic: {topic}\n\n{user_label}:", style="completion")
    d.update(kw)
    return Persona(**d)


def test_label_variants_and_multiline_turns():
    text = ("USER: I can't sleep.\nIt has been weeks.\n"
            "Eve : That sounds draining. What time do you go to bed?\n"
            "user:Around two.\n"
            "**EVE:** Try a fixed wind-down at eleven.\n")
    turns = parse_turns(text, SP).turns
    assert [t.role for t in turns] == ["user", "assistant", "user", "assistant"]
    assert turns[0].text == "I can't sleep.\nIt has been weeks."
    assert turns[1].label == "Eve"
    assert turns[2].text == "Around two."
    assert turns[3].text == "Try a fixed wind-down at eleven."


def test_preamble_dropped_unless_prompt_ended_with_a_label():
    text = "Here is a conversation:\nUSER: hi\nEVE: hello?"
    p = parse_turns(text, SP)
    assert p.preamble == "Here is a conversation:"
    assert [t.text for t in p.turns] == ["hi", "hello?"]
    # completion style: the prompt ended with "USER:", so the text before a label is the user's
    p2 = parse_turns(" I feel stuck.\nEVE: Stuck how?", SP, first_role="user")
    assert [(t.role, t.text) for t in p2.turns] == [("user", "I feel stuck."), ("assistant", "Stuck how?")]


def test_text_past_the_end_is_overflow_not_turns():
    text = ("USER: a\nEVE: b?\nEND OF CONVERSATION\n\nTopic: something else\nUSER: c\n")
    p = parse_turns(text, SP)
    assert [t.text for t in p.turns] == ["a", "b?"]
    assert p.overflow.startswith("END OF CONVERSATION")
    p = parse_turns("USER: a\nEVE: b\n---\nUSER: new one", SP)
    assert len(p.turns) == 2 and p.overflow.startswith("---")
    p = parse_turns("USER: a\nEVE: b\nTopic: next\nUSER: x", SP)
    assert len(p.turns) == 2 and "Topic: next" in p.overflow


def test_inline_colons_and_unknown_labels_inside_a_turn_are_kept():
    text = "USER: my plan: run\nNote: later\nEVE: ok"
    p = parse_turns(text, SP)
    assert p.turns[0].text == "my plan: run\nNote: later"
    assert p.turns[1].text == "ok"


def test_no_labels_at_all():
    p = parse_turns("just some text", SP)
    assert p.turns == [] and p.preamble == "just some text"


def test_trim_earliest_stop_records_where_and_what():
    raw = "USER: a\nEVE: b\nEND OF CONVERSATION\nTopic: x"
    kept, t = trim(raw, ["Topic:", "END OF CONVERSATION"])
    assert kept == "USER: a\nEVE: b\n"
    assert t.stop == "END OF CONVERSATION" and t.at == len(kept)
    assert t.tail == raw[len(kept):]
    kept, t = trim(raw, [])
    assert kept == raw and t.stop is None and t.tail == ""
    assert find_stop("abcabc", ["c", "bc"]) == (1, "bc")  # earliest, then longest
    assert find_stop("abc", ["", "z"]) is None


def test_retrim_without_a_request():
    raw = " hi\nEVE: hello?\nUSER: more\nEVE: yes!\n\n\nUSER: again"
    conv = Conversation(id="c", run_id="r", persona_id="eve", topic_id="t", topic="x", k=0,
                        endpoint="e", model="m", params={"first_role": "user", "stop": []},
                        prompt="p", raw_text=raw, turns=[])
    a = retrim(conv, ["\n\n\n"], persona())
    assert len(a.turns) == 4 and a.trim.stop == "\n\n\n" and a.trim.tail.endswith("again")
    b = retrim(conv, ["USER: more"], persona())
    assert len(b.turns) == 2 and b.params["stop"] == ["USER: more"]
    assert conv.turns == []  # the original is untouched


def test_render_completion_ends_with_user_label_and_fills_placeholders():
    p = render(persona(), Topic(text="sleep"))
    assert p.text.endswith("USER:") and p.first_role == "user"
    assert "Topic: sleep" in p.text and "About Eve." in p.text
    # a template without a trailing label gets one
    p = render(persona(synthesis_prompt="Write about {topic}."), Topic(text="t"))
    assert p.text == "Write about t.\n\nUSER:"


def test_render_chat_and_unknown_placeholders_never_crash():
    per = persona(synthesis_prompt="Hi {nope} {{literal}} {topic} {context}\n{user_label}:")
    p = render(per, Topic(text="t", context="doc text"), style="chat")
    assert p.messages == [{"role": "user", "content": "Hi {nope} {literal} t doc text"}]
    assert fill("{a} {b} {", {"a": "1"}) == "1 {b} {"
