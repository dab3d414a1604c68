"""Aberration filters: each rule fires on its aberration, stays quiet on a good conversation."""

from __future__ import annotations

import dataclasses
import random
import time

import pytest

from data.factory import GOOD, FilterRules, PatternRule, conv, good_conv, persona, turns
from synth.errors import LibraryError
from synth.curate.filters import (RULES, Verdict, check, check_run, jaccard, near_duplicate_texts,
                           near_duplicates, pattern_problems, shingles)

EVE = persona()


def rules_of(v: Verdict) -> list[str]:
    return v.rules


def test_good_conversation_passes():
    v = check(good_conv(), EVE.rules, EVE)
    assert v.ok, v.summary()
    assert v.reasons == []


def test_too_few_and_too_many_turns():
    v = check(conv(turns("hi", "Hello, what brings you here?")), FilterRules(min_turns=4), EVE)
    assert rules_of(v) == ["turn_count"] and "only 2 turns (at least 4)" in v.reasons[0].message
    many = turns(*(["How are you doing today, honestly?"] * 2 + [f"turn {i} text here?" for i in range(8)]))
    v = check(conv(many), FilterRules(max_turns=6, repeated_lines=False), EVE)
    assert rules_of(v) == ["turn_count"] and "10 turns (at most 6)" in v.reasons[0].message


def test_wrong_order_start_end_and_alternation():
    ts = turns(("assistant", "Hi, I am Eve. What is on your mind?"), ("user", "Work."),
               ("user", "Mostly my boss."), ("assistant", "Tell me more?"), ("user", "Okay."))
    v = check(conv(ts), FilterRules(min_turns=1), EVE)
    msgs = [r.message for r in v.reasons if r.rule == "order"]
    assert msgs[0] == "starts with Eve, not the user"
    assert msgs[1] == "turns 2 and 3 are both from the user"
    assert msgs[2] == "ends with the user's turn, not Eve's"
    assert [r.turn_index for r in v.reasons if r.rule == "order"] == [0, 2, 4]
    assert check(conv(ts), FilterRules(min_turns=1, alternation=False), EVE).ok


def test_empty_turn():
    ts = turns(*GOOD_WITH(2, "   \n"))
    v = check(conv(ts), EVE.rules, EVE)
    assert rules_of(v) == ["empty_turn"]
    assert v.reasons[0].turn_index == 2 and "turn 3 (the user) is empty" == v.reasons[0].message


def GOOD_WITH(i: int, text: str) -> list[str]:
    from data.factory import GOOD
    g = list(GOOD)
    g[i] = text
    return g


@pytest.mark.parametrize("text,label", [
    ("That helps a lot.\nUSER: But what about weekends?", "USER:"),
    ("That helps a lot. User: but what about weekends?", "User:"),
    ("I hear you. EVE: Let's plan the week?", "EVE:"),
    ("I hear you.\n**Eve:** Let's plan the week?", "Eve:"),
    ("Sure?\nAssistant: here is a plan", "Assistant:"),
])
def test_leaked_speaker_label(text, label):
    v = check(conv(turns(*GOOD_WITH(3, text))), EVE.rules, EVE)
    assert rules_of(v) == ["leaked_label"], v.summary()
    assert v.reasons[0].turn_index == 3 and label in v.reasons[0].message


@pytest.mark.parametrize("text", [
    "Note: the ratio is 3:1, so what would a first step be?",
    "Here is a tip: write it down. Can you do that tonight?",
    "Everyone says users: ask questions. Would that help?",
])
def test_no_false_leaked_label(text):
    assert check(conv(turns(*GOOD_WITH(3, text))), EVE.rules, EVE).ok


def test_repeated_lines_like_the_small_local_model():
    # what Gemma 3 270M really writes: the same line again and again, "User:" vs "USER:"
    raw = [
        ("user", "I have been feeling really stressed at work lately."),
        ("assistant", "I understand how you feel. It is normal to feel stressed at work. "
                      "I understand how you feel."),
        ("user", "What should I do?"),
        ("assistant", "It is normal to feel stressed at work.\nYou can talk to your manager?"),
    ]
    v = check(conv(turns(*raw)), EVE.rules, EVE)
    reps = [r for r in v.reasons if r.rule == "repeated_line"]
    assert [r.turn_index for r in reps] == [1, 3]
    assert reps[0].message == 'turn 2 repeats "i understand how you feel" again in the same turn'
    assert reps[1].message == 'turn 4 repeats "it is normal to feel stressed at work" from turn 2'
    assert check(conv(turns(*raw)), FilterRules(repeated_lines=False), EVE).ok


def test_short_repeats_are_fine():
    g = GOOD_WITH(1, "I see. That sounds heavy. What part feels hardest?")
    g[3] = "I see. Try five papers this week. Which five?"
    assert check(conv(turns(*g)), EVE.rules, EVE).ok


@pytest.mark.parametrize("text,role_index", [
    ("As an AI language model, I cannot feel stress, but what helps you?", 3),
    ("I'm sorry, but I can't help with that.", 3),
    ("I don't have personal feelings, but could we plan?", 5),
    ("I cannot assist with that request.", 1),
    ("As an AI, I wonder too. What do you think?", 2),  # a user turn with a disclaimer
])
def test_refusals_and_disclaimers(text, role_index):
    v = check(conv(turns(*GOOD_WITH(role_index, text))), EVE.rules, EVE)
    assert rules_of(v) == ["refusal"], v.summary()
    assert v.reasons[0].turn_index == role_index


def test_user_may_say_they_cannot():
    assert check(conv(turns(*GOOD_WITH(2, "I'm sorry, but I can't make it to the gym."))), EVE.rules, EVE).ok


def test_pattern_rule_every_assistant_turn_has_a_question_mark():
    rule = PatternRule(name="asks", applies_to="assistant", require_any=[r"\?"],
                       reason="each reply asks a question")
    rules = FilterRules(patterns=[rule])
    assert check(good_conv(), rules, EVE).ok
    v = check(conv(turns(*GOOD_WITH(3, "Read five papers this week."))), rules, EVE)
    assert rules_of(v) == ["pattern:asks"]
    assert v.reasons[0].message == "turn 4: each reply asks a question" and v.reasons[0].turn_index == 3


def test_pattern_rule_forbid_and_bad_regex():
    rules = FilterRules(patterns=[PatternRule(name="no-pin", forbid=[r"(?i)\bPIN\b"])])
    v = check(conv(turns(*GOOD_WITH(5, "Could you tell me your PIN?"))), rules, EVE)
    assert rules_of(v) == ["pattern:no-pin"] and '"PIN"' in v.reasons[0].message
    bad = FilterRules(patterns=[PatternRule(name="broken", require_any=["(unclosed"])])
    assert pattern_problems(bad)[0].startswith("rules.patterns.broken: invalid regular expression")
    with pytest.raises(LibraryError, match="rules.patterns.broken"):
        check(good_conv(), bad, EVE)


def test_partial_is_flagged():
    v = check(good_conv(status="partial"), EVE.rules, EVE)
    assert rules_of(v) == ["partial"]


def test_edited_turns_are_judged_instead():
    bad = conv(turns(*GOOD_WITH(3, "")))
    assert not check(bad, EVE.rules, EVE).ok
    assert check(bad, EVE.rules, EVE, turns=good_conv().turns).ok


def test_every_rule_is_documented():
    assert set(RULES) >= {"turn_count", "order", "empty_turn", "leaked_label", "repeated_line",
                          "refusal", "pattern", "near_duplicate", "partial"}


def test_verdict_round_trip():
    v = check(conv(turns("hi")), EVE.rules, EVE)
    assert Verdict.from_dict(v.to_dict()) == v


# -- near-duplicates --------------------------------------------------------------------------

def _text(rng: random.Random, n: int = 120) -> str:
    words = ["stress", "work", "sleep", "plan", "goal", "week", "friend", "family", "walk", "talk",
             "habit", "morning", "evening", "list", "small", "step", "feel", "try", "time", "rest"]
    vocab = words + [f"w{i}" for i in range(2000)]
    return " ".join(rng.choice(vocab) for _ in range(n))


def test_near_duplicates_found_and_distinct_ones_not():
    rng = random.Random(1)
    texts = [_text(rng) for _ in range(300)]
    w = texts[10].split()
    w[5] = "changed"  # one word changed in 120
    texts.append(" ".join(w))
    pairs = near_duplicate_texts(texts, 0.8)
    assert [(i, j) for i, j, _ in pairs] == [(10, 300)]
    sim = pairs[0][2]
    assert sim == jaccard(shingles(texts[10]), shingles(texts[300])) and 0.9 < sim < 1.0
    assert near_duplicate_texts(texts, 0) == []


def test_check_run_flags_the_later_duplicate_only():
    a = good_conv("topic a", 0)
    b = good_conv("topic b", 0)  # the same text on another topic
    c = conv(turns("Money worries keep me up at night, every single night.",
                   "That is exhausting. When did it start, and what have you tried so far?",
                   "A month ago. I tried budgeting apps.",
                   "Let us list three fixed costs tonight. Which is largest?"), topic="topic c")
    verdicts, pairs = check_run([a, b, c], EVE)
    assert [(p.a, p.b) for p in pairs] == [(a.id, b.id)] and pairs[0].similarity == 1.0
    assert verdicts[a.id].ok and verdicts[c.id].ok
    assert verdicts[b.id].rules == ["near_duplicate"] and a.id in verdicts[b.id].reasons[0].message
    assert near_duplicates([a, c], 0.8) == []


def test_near_duplicates_scale():
    rng = random.Random(2)
    texts = [_text(rng, 200) for _ in range(5000)]
    t = time.perf_counter()
    assert near_duplicate_texts(texts, 0.8) == []
    assert time.perf_counter() - t < 10


def test_small_model_transcript_end_to_end():
    """Raw text the way Gemma 3 270M continues a prompt ending in "USER:": parsed by the engine's
    transcript functions, then judged."""
    from synth.generate.transcript import Speakers, transcript_of

    raw = (" I feel tired all the time.\n"
           "EVE: I'm sorry to hear that. Tiredness can have many causes. Tiredness can have many causes.\n"
           "User: What should I do?\n"
           "EVE: You should get more sleep. You should get more sleep. You should get more sleep.\n"
           "USER: Ok.\n"
           "EVE: Is there anything else? USER: No thanks.\n"
           "Topic: next conversation")
    ts, trim, _ = transcript_of(raw, ["Topic:"], Speakers.for_persona(EVE), "user")
    assert [t.role for t in ts] == ["user", "assistant", "user", "assistant", "user", "assistant"]
    v = check(conv(ts), EVE.rules, EVE)
    by_rule = {r.rule: r for r in v.reasons}
    assert [r.turn_index for r in v.reasons if r.rule == "repeated_line"] == [1, 3]
    assert by_rule["leaked_label"].turn_index == 5 and '"USER:"' in by_rule["leaked_label"].message
    assert trim.stop == "Topic:"


# -- truncated: stopped at max_tokens, or cut by a stop sequence inside a turn -----------------

def _engine_conv(raw: str, stops: list[str], finish: str, max_tokens: int = 700):
    """A conversation the way the engine builds it from a finished stream."""
    from synth.generate.transcript import Speakers, transcript_of

    ts, trim, _ = transcript_of(raw, stops, Speakers.for_persona(EVE), "user")
    c = conv(ts)
    return dataclasses.replace(c, raw_text=raw, trim=trim, finish_reason=finish,
                               params={"max_tokens": max_tokens, "first_role": "user"})


_PAT = ("".join(f"{'USER' if i % 2 == 0 else 'EVE'}: {GOOD[i]}\n" for i in range(5))
        + "EVE: PAT #20: It allows us")


def test_truncated_at_max_tokens_is_flagged_with_the_cut_text():
    c = _engine_conv(" " + _PAT.split(": ", 1)[1], [], "length")
    v = check(c, EVE.rules, EVE)
    assert rules_of(v) == ["truncated"], v.summary()
    r = v.reasons[0]
    assert r.turn_index == 5
    assert r.message == ('turn 6 (Eve) was cut off by the server at max_tokens (700): '
                         'it ends "PAT #20: It allows us"')
    # the same text, finished by the model itself: nothing to flag
    assert check(_engine_conv(" " + _PAT.split(": ", 1)[1], [], "stop"), EVE.rules, EVE).ok


def test_truncated_can_be_turned_off_and_an_edit_that_finishes_the_turn_clears_it():
    c = _engine_conv(" " + _PAT.split(": ", 1)[1], [], "length")
    assert check(c, FilterRules(truncated=False), EVE).ok
    fixed = [*c.turns[:5], dataclasses.replace(c.turns[5], text="It allows us to rest. Shall we?")]
    assert check(c, EVE.rules, EVE, turns=fixed).ok
    assert check(c, EVE.rules, EVE, turns=c.turns[:4]).ok  # the cut turn removed


def test_length_cut_in_text_after_the_conversation_ended_is_not_flagged():
    raw = " " + _PAT.split(": ", 1)[1].replace("PAT #20: It allows us", "Shall we?") + "\n---\nTopic: another one"
    c = _engine_conv(raw, [], "length")
    assert check(c, EVE.rules, EVE).ok, check(c, EVE.rules, EVE).summary()


def test_stop_sequence_inside_a_turn_is_flagged_and_at_a_line_start_is_not():
    raw = " " + _PAT.split(": ", 1)[1].replace("PAT #20: It allows us", "It allows us to rest well. Shall we?")
    mid = _engine_conv(raw, ["allows"], "stop")
    v = check(mid, EVE.rules, EVE)
    assert rules_of(v) == ["truncated"]
    assert v.reasons[0].message == ("turn 6 (Eve) was cut inside the turn by the stop sequence "
                                    "'allows': it ends \"It\"")
    assert check(_engine_conv(raw + "\nEND OF CONVERSATION\nUSER: more", ["END OF CONVERSATION"],
                              "stop"), EVE.rules, EVE).ok
    # a stop after a finished sentence on the same line is not a cut turn either
    assert check(_engine_conv(raw + " END", ["END"], "stop"), EVE.rules, EVE).ok


def test_partial_is_not_also_truncated():
    c = dataclasses.replace(_engine_conv(" " + _PAT.split(": ", 1)[1], [], "length"), status="partial")
    assert rules_of(check(c, EVE.rules, EVE)) == ["partial"]


def test_truncated_rule_from_persona_yaml(tmp_path):
    from synth.library.personas import load_persona

    p = tmp_path / "eve.yaml"
    p.write_text("name: Eve\npersona_label: EVE\nuser_label: USER\nsystem_prompt: x\n"
                 "synthesis_prompt: 'Topic: {topic}'\nrules:\n  truncated: false\n")
    assert load_persona(p).rules.truncated is False
    p.write_text(p.read_text().replace("truncated: false", "truncated: maybe"))
    with pytest.raises(LibraryError, match="rules.truncated"):
        load_persona(p)


def test_units_are_the_same_with_a_nul_in_the_text():
    """_units translates the whole text at once, joining its sentences with NUL; a text that
    holds a NUL itself is cut the old way, with the same units."""
    from synth.curate.filters import _units

    want = ["the plan is small", "we start the plan tomorrow"]
    assert _units("The plan is small. We start, the plan tomorrow!") == want
    assert _units("The plan\x00is small. We start, the plan tomorrow!") == ["the plan\x00is small", want[1]]
    assert _units("One two.  three four five six seven? \n\n... eight") == ["three four five six seven"]
