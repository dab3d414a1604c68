"""Sampling controls (top_p, presence/frequency penalties, repeat_penalty) and few-shot examples:
what the request carries, what an endpoint that refuses a value gets, how examples are drawn and
rendered, what they cost in the estimate, the copies_example filter, and the run ids that stay
the same when none of it is set.  A real loopback fault server; the real CLI in a subprocess.
"""

from __future__ import annotations

import json

import pytest

from synth.curate.filters import check
from synth.dataset.store import Store
from synth.generate.endpoints import Endpoint
from synth.generate.engine import Engine, EngineOptions
from synth.generate.estimate import estimate_run
from synth.generate.events import ConversationFinished, RunFinished
from synth.generate.limits import Backoff
from synth.generate.prompts import render
from synth.models import Conversation, Topic, Turn
from tests.faultserver import FaultServer, make_spec

EXAMPLES = [
    "USER: I keep putting off my tax return.\nEVE: That weight is real. What is the first "
    "small piece you could do tonight?\nUSER: Find last year's forms.\nEVE: Good. Try ten "
    "minutes with a timer, then stop.\n",
    "USER: My sister and I argue about our mother's care.\nEVE: That sounds exhausting. "
    "Which decision do you two disagree on most?\n",
    "USER: I want to run a 5k.\nEVE: A lovely goal. Consider three short runs a week to "
    "start: which days suit you?\n",
]


@pytest.fixture
def fs():
    with FaultServer() as server:
        yield server


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "runs")


def _engine(store, fs, style="completion"):
    ep = Endpoint(name="fault", base_url=fs.url, model="fault-model", style=style, timeout=2.0)
    return ep, Engine(store, ep, options=EngineOptions(
        backoff=Backoff(base=0.02, cap=0.2, max_attempts=4)))


async def _run(engine, spec) -> list:
    return [ev async for ev in engine.run(spec)]


async def test_sampling_values_go_in_the_request_and_unset_ones_do_not(fs, store):
    spec = make_spec(2, top_p=0.9, presence_penalty=0.4, repeat_penalty=1.15)
    _, eng = _engine(store, fs)
    events = await _run(eng, spec)
    assert events[-1].done == 2
    for r in fs.requests:
        assert r.body["top_p"] == 0.9 and r.body["presence_penalty"] == 0.4
        assert r.body["repeat_penalty"] == 1.15  # an extra field of the body, as llama.cpp takes it
        assert "frequency_penalty" not in r.body
    plain = make_spec(1, tag="plain")
    fs.requests.clear()
    await _run(_engine(store, fs)[1], plain)
    assert not {"top_p", "presence_penalty", "frequency_penalty", "repeat_penalty"} & set(
        fs.requests[0].body)


async def test_a_refused_sampling_value_is_dropped_and_each_conversation_says_so(fs, store):
    fs.reject_params = {"presence_penalty", "repeat_penalty"}
    spec = make_spec(3, top_p=0.9, presence_penalty=0.4, repeat_penalty=1.15, concurrency=1)
    ep, eng = _engine(store, fs, style="chat")
    events = await _run(eng, spec)
    fin = events[-1]
    assert isinstance(fin, RunFinished) and fin.done == 3 and fin.failed == 0
    assert ep.dropped == {"presence_penalty", "repeat_penalty"}
    assert len(fs.requests) == 3 + 2  # two lessons, learned on the first conversation only
    ok = [r for r in fs.requests if not (fs.reject_params & set(r.body))]
    assert len(ok) == 3 and all(r.body["top_p"] == 0.9 for r in ok)
    convs = [e.conversation for e in events if isinstance(e, ConversationFinished)]
    assert all(c.params["sent_without"] == ["presence_penalty", "repeat_penalty"] for c in convs)
    assert all(c.params["top_p"] == 0.9 for c in convs)


def test_run_ids_change_only_when_a_sampling_value_or_examples_are_set():
    base = make_spec(2)
    assert "top_p" not in base.identity() and "examples" not in base.identity()
    assert make_spec(2, top_p=0.9).run_id != base.run_id
    assert make_spec(2, repeat_penalty=1.1).run_id != make_spec(2, repeat_penalty=1.2).run_id
    with_ex = make_spec(2)
    with_ex.persona.examples = list(EXAMPLES)
    assert with_ex.run_id != base.run_id
    with_ex.persona.examples_per_prompt = 0  # examples kept in the file, none sent
    assert with_ex.run_id == base.run_id


def test_each_conversation_draws_its_own_examples_and_completion_shows_them_as_transcripts():
    spec = make_spec(1)
    persona = spec.persona
    persona.examples = list(EXAMPLES)
    topic = Topic(text="sleep")
    drawn = {tuple(render(persona, topic, key=f"conv-{i}").examples) for i in range(40)}
    assert len(drawn) == 3  # different conversations see different examples
    again = render(persona, topic, key="conv-7")
    assert again.text == render(persona, topic, key="conv-7").text  # the same draw every time
    shown = EXAMPLES[again.examples[0]].strip()
    assert again.text.startswith(shown + "\nEND OF CONVERSATION\n\n")
    assert again.text.endswith("Topic: sleep\n\nUSER:") and again.first_role == "user"
    persona.examples_per_prompt = 2
    assert len(set(render(persona, topic, key="k").examples)) == 2
    chat = render(persona, topic, "chat", key="k")
    assert "An example of the format" in chat.text and chat.messages[0]["content"] == chat.text
    assert all(EXAMPLES[i].strip() in chat.text for i in chat.examples)


def test_the_estimate_counts_the_examples_tokens():
    plain = make_spec(4)
    shown = make_spec(4)
    shown.persona.examples = list(EXAMPLES)
    a = estimate_run(plain)
    b = estimate_run(shown)
    assert b.prompt_tokens > a.prompt_tokens + 4 * 20


def test_a_near_copy_of_an_example_is_flagged_copies_example():
    persona = make_spec(1).persona
    persona.examples = [EXAMPLES[0]]
    turns = [Turn("user", "I keep putting off my tax return."),
             Turn("assistant", "That weight is real. What is the first small piece you could do "
                  "tonight?"),
             Turn("user", "Find last year's forms."),
             Turn("assistant", "Good. Try ten minutes with a timer, then stop.")]
    conv = Conversation(id="c", run_id="r", persona_id=persona.id, topic_id="t", topic="tax",
                        k=0, endpoint="e", model="m", params={}, prompt="", raw_text="",
                        turns=turns, finish_reason="stop")
    v = check(conv, persona=persona)
    assert [r.rule for r in v.reasons] == ["copies_example"]
    assert "example 1" in v.reasons[0].message
    other = list(turns)
    other[1] = Turn("assistant", "Money worries pile up. Would it help to list the forms first?")
    other[3] = Turn("assistant", "Then consider booking an hour on Saturday morning for it.")
    assert check(conv, persona=persona, turns=other).ok


# -- the persona file and the CLI --------------------------------------------------------------

def _set(cli, *pairs: str):
    return cli("personas", "eve", *[x for p in pairs for x in ("--set", p)])


@pytest.mark.parametrize("pair, words", [
    ("presence_penalty=a lot", "presence_penalty: expected a number, got str 'a lot'"),
    ("repeat_penalty=1e9", "repeat_penalty: must be more than 0 and at most 10"),
    ("top_p=0", "top_p: must be more than 0 and at most 1"),
    ("frequency_penalty=true", "frequency_penalty: expected a number"),
    ("examples_per_prompt=1.5", "examples_per_prompt: expected a whole number"),
])
def test_a_bad_sampling_value_is_refused_naming_the_file_and_field(workspace, cli, pair, words):
    before = (workspace.personas_dir / "eve.yaml").read_text(encoding="utf-8")
    r = _set(cli, pair)
    assert r.returncode == 2 and words in r.stderr, r.stderr
    assert "eve.yaml" in r.stderr and "Traceback" not in r.stderr
    assert (workspace.personas_dir / "eve.yaml").read_text(encoding="utf-8") == before


@pytest.mark.parametrize("was, line, words", [
    ("presence_penalty: 0.3", "presence_penalty: a lot",
     "presence_penalty: expected a number, got str 'a lot'"),
    ("repeat_penalty: 1.15", "repeat_penalty: 1e9",
     "repeat_penalty: must be more than 0 and at most 10"),
])
def test_a_bad_penalty_written_in_the_file_names_its_line_and_nothing_is_sent(workspace, cli, fs,
                                                                              was, line, words):
    eve = workspace.personas_dir / "eve.yaml"
    text = eve.read_text(encoding="utf-8").replace(f"\n{was}\n", f"\n{line}\n")
    eve.write_text(text, encoding="utf-8")
    at = text.splitlines().index(line) + 1
    for args in (("check",), ("run", "--persona", "eve", "--topics", "eve", "--limit", "1",
                              "--base-url", fs.url)):
        r = cli(*args)
        out = r.stdout + r.stderr
        assert r.returncode == 2 and "Traceback" not in out, out
        assert f"eve.yaml:{at}: {words}" in out, out
    assert not fs.requests


def test_an_example_in_other_labels_is_refused_with_its_line(workspace, cli):
    eve = workspace.personas_dir / "eve.yaml"
    text = eve.read_text(encoding="utf-8").replace("\nexamples:\n", "\nexamples:\n  - |\n"
                                                   "    USER: hi\n"
                                                   "    AGENT: hello, how can I help?\n", 1)
    eve.write_text(text, encoding="utf-8")
    line = text.splitlines().index("    AGENT: hello, how can I help?") + 1
    r = cli("check")
    assert r.returncode == 2, r.stdout + r.stderr
    out = r.stdout + r.stderr
    assert f"eve.yaml:{line}: examples[" in out and "'AGENT' is not this persona's" in out, out


def test_sampling_values_set_from_the_cli_keep_comments_and_read_back(workspace, cli):
    eve = workspace.personas_dir / "eve.yaml"
    r = _set(cli, "top_p=0.92", "repeat_penalty=1.1")
    assert r.returncode == 0, r.stderr
    text = eve.read_text(encoding="utf-8")
    assert "top_p: 0.92" in text and "repeat_penalty: 1.1" in text
    assert "# speaker label Eve uses in transcripts" in text
    shown = cli("personas", "eve").stdout
    assert "top_p: 0.92" in shown and "repeat_penalty: 1.1" in shown


def test_cli_flags_are_checked_like_temperature(workspace, cli):
    r = cli("run", "--persona", "eve", "--topics", "eve", "--repeat-penalty", "1e9")
    assert r.returncode == 2 and "--repeat-penalty: must be more than 0 and at most 10" in r.stderr
    r = cli("run", "--persona", "eve", "--topics", "eve", "--top-p", "a lot")
    assert r.returncode == 2 and "--top-p" in r.stderr and "Traceback" not in r.stderr


def test_a_cli_run_sends_the_flags_and_says_which_value_the_endpoint_refused(workspace, cli):
    from rel_faultproc import FaultProc

    (workspace.topics_dir / "two.txt").write_text("first worry\nsecond worry\n", encoding="utf-8")
    with FaultProc(turns=4, words_per_turn=6) as fault:
        assert cli("endpoint", "add", "fault", "--base-url", fault.url, "--model", "m",
                   "--style", "completion").returncode == 0
        fault.reject("frequency_penalty")
        r = cli("run", "--persona", "eve", "--topics", "two", "--endpoint", "fault", "-q",
                "--top-p", "0.8", "--frequency-penalty", "0.5", "--concurrency", "1")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "the endpoint refused frequency_penalty=0.5: sent without it" in r.stdout
        sent = [q["params"] for q in fault.log()]
    assert all(p["top_p"] == 0.8 for p in sent)
    assert sum("frequency_penalty" not in p for p in sent) == 2
    spec = json.loads(next(workspace.runs_dir.glob("*/spec.json")).read_text(encoding="utf-8"))
    assert spec["top_p"] == 0.8 and spec["frequency_penalty"] == 0.5


@pytest.mark.parametrize("name", ["eve", "bank-support", "doc-explainer", "socratic-tutor"])
def test_each_shipped_persona_has_an_example_that_passes_its_own_filters(name):
    from dataclasses import replace
    from pathlib import Path

    from synth.library.examples import example_turns
    from synth.library.personas import load_persona

    p = load_persona(Path(__file__).resolve().parent.parent / "personas" / f"{name}.yaml")
    assert len(p.examples) == 1 and p.sampling()
    turns = [Turn(r, t) for r, t in example_turns(p.examples[0], p.user_label, p.persona_label)]
    conv = Conversation(id="c", run_id="r", persona_id=p.id, topic_id="t", topic="x", k=0,
                        endpoint="e", model="m", params={}, prompt="", raw_text="", turns=turns,
                        finish_reason="stop")
    assert check(conv, persona=replace(p, examples=[])).ok  # the shape the filters want
    assert render(p, Topic(text="x", context="a document"), key="c").text.startswith(
        p.examples[0].strip() + "\nEND OF CONVERSATION\n\n")
