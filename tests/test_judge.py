"""The LLM judge against a real loopback server: rubric, tolerant parse, every bad answer,
the cache, the `judge` filter rule, `chatsynth judge`, `run --judge` and `--until-pass`."""

from __future__ import annotations

import json

import pytest

from synth.curate.judge import rubric_for
from synth.curate.judging import Judge, judge_all
from synth.generate.endpoints import Endpoint
from synth.models import PatternRule, Turn
from tests.faultserver import make_spec

TURNS = [Turn("user", "hello there"), Turn("assistant", "what would help?")]


def _persona():
    p = make_spec(1).persona
    p.description = "A coach who listens."
    p.rules.patterns.append(PatternRule(name="asks", reason="Every Eve reply asks a question."))
    return p


def _judge_once(fs, action):
    fs.script([action] * 3)
    p = _persona()
    return judge_all(Judge(Endpoint(name="f", base_url=fs.url, model="fault-model"), p,
                           rubric_for(p)), [("c", TURNS)])["c"]


def test_rubric_is_built_from_description_and_pattern_reasons():
    r = rubric_for(_persona())
    assert r.built and r.names == ["persona", "asks"]
    assert "Every Eve reply asks a question." in r.criteria[1].description


def test_a_good_answer_passes_and_a_low_one_does_not(fs):
    j = _judge_once(fs, "ok")
    assert j.passed and j.scores == {"persona": 4, "asks": 4}
    # the request asked for a JSON schema naming the criteria
    rf = fs.requests[0].body["response_format"]
    assert rf["json_schema"]["schema"]["properties"]["criteria"]["items"]["properties"]["name"][
        "enum"] == ["persona", "asks"]
    fs.reset()
    j = _judge_once(fs, "jlow")
    assert not j.passed and not j.failed and j.turns == [2]


def test_prose_around_fenced_json_is_read(fs):
    assert _judge_once(fs, "jfence").passed


@pytest.mark.parametrize("action,needle", [
    ("jnotjson", "not JSON"), ("jmissing", "missing criteria: asks"),
    ("j0", "score 0 is out of range"), ("j9", "score 9 is out of range"),
    ("jhigh", "score 'high' is not a whole number")])
def test_every_bad_answer_is_asked_again_then_a_failed_judgement_never_a_pass(fs, action, needle):
    j = _judge_once(fs, action)
    assert j.failed and not j.passed and j.score is None
    assert needle in j.error and "3 tries" in j.error
    assert len(fs.requests) == 3


def test_a_bad_answer_then_a_good_one_passes(fs):
    fs.script(["jnotjson", "ok"])
    p = _persona()
    j = judge_all(Judge(Endpoint(name="f", base_url=fs.url, model="fault-model"), p,
                        rubric_for(p)), [("c", TURNS)])["c"]
    assert j.passed and len(fs.requests) == 2


def test_a_server_refusing_response_format_gets_a_json_instruction(fs):
    fs.reject_params = {"response_format"}
    p = _persona()
    judge = Judge(Endpoint(name="f", base_url=fs.url, model="fault-model"), p, rubric_for(p),
                  concurrency=1)
    res = judge_all(judge, [("a", TURNS), ("b", TURNS[:1])])
    assert all(j.passed for j in res.values())
    assert "json_schema response_format" in judge.notes[0]
    assert "JSON asked for in the prompt" in judge.notes[1]
    # each form refused once (json_schema, then json_object), learned for the rest of the run
    assert [r.body["response_format"]["type"] for r in fs.requests if "response_format" in r.body] \
        == ["json_schema", "json_object"]


def test_a_server_refusing_json_schema_with_a_500_gets_a_json_object_naming_each_criterion(fs):
    """llama-cpp-python's server (the embedded model) answers a json_schema response_format
    with a 500 from its request validation: the judge asks for its json_object with a schema
    instead, whose criteria are a tuple, one entry per criterion in the rubric's order."""
    fs.reject_formats = {"json_schema"}
    p = _persona()
    judge = Judge(Endpoint(name="f", base_url=fs.url, model="fault-model"), p, rubric_for(p),
                  concurrency=1)
    res = judge_all(judge, [("a", TURNS), ("b", TURNS[:1])])
    assert all(j.passed for j in res.values())
    assert judge.notes == ["the judge endpoint refused a json_schema response_format; "
                           "a json_object response_format instead"]
    kinds = [r.body["response_format"]["type"] for r in fs.requests]
    assert kinds == ["json_schema", "json_object", "json_object"]
    crit = fs.requests[-1].body["response_format"]["schema"]["properties"]["criteria"]
    assert [c["properties"]["name"]["const"] for c in crit["prefixItems"]] == ["persona", "asks"]
    assert crit["prefixItems"][0]["properties"]["score"]["enum"] == [1, 2, 3, 4, 5]


def _stored_run(cli, fs, n=4, topics="short"):
    r = cli("run", "--persona", "eve", "--topics", topics, "--limit", str(n),
            "--base-url", fs.url, "-q")
    assert r.returncode == 0, r.stderr


def test_judge_command_caches_flags_and_rejudges_an_edit(cli, ws, fs):
    _stored_run(cli, fs)
    fs.script(["jlow"], match="short topic 1")
    r = cli("judge", "latest", "--base-url", fs.url)
    assert r.returncode == 0, r.stderr
    assert "3/4 pass the judge" in r.stdout and "judged 4:" in r.stdout
    # the judge rule flags it, with the judge's reasons
    r = cli("filter", "latest")
    assert "3 of 4" in r.stdout and "judge: persona 2/5: persona scored 2." in r.stdout
    n = len(fs.requests)
    r = cli("judge", "latest", "--base-url", fs.url, "-q")  # again: nothing sent
    assert "judged 0, 4 cached" in r.stdout and len(fs.requests) == n
    flagged = next(ln.split()[0] for ln in cli("judge", "latest", "--base-url", fs.url).stdout
                   .splitlines() if " flag " in ln)
    r = cli("review", "latest", "--edit", flagged, "--turn", "2", "--text", "What would help?")
    assert r.returncode == 0, r.stderr
    r = cli("judge", "latest", "--base-url", fs.url, "-q")
    assert "judged 1, 3 cached" in r.stdout and "4/4 pass" in r.stdout


def test_agreement_with_the_users_decisions(cli, ws, fs):
    _stored_run(cli, fs)
    fs.script(["jlow"], match="short topic 1")
    fs.script(["jlow"], match="short topic 2")
    ids = [ln.split()[0] for ln in cli("judge", "latest", "--base-url", fs.url).stdout.splitlines()
           if ln[:1].isalnum() and not ln.startswith("run ")]
    lines = [ln for ln in cli("judge", "latest", "--base-url", fs.url).stdout.splitlines()
             if not ln.startswith("run ")]
    passed = [ln.split()[0] for ln in lines if " pass " in ln]
    flagged = [ln.split()[0] for ln in lines if " flag " in ln]
    assert len(ids) == 4 and len(passed) == 2 and len(flagged) == 2
    # you accept one it passed and one it flagged, and reject the other it passed
    cli("review", "latest", "--accept", passed[0])
    cli("review", "latest", "--accept", flagged[0])
    cli("review", "latest", "--reject", passed[1])
    r = cli("judge", "latest", "--base-url", fs.url, "--agreement", "-q")
    assert "precision 0.50 (1/2)" in r.stdout and "recall 0.50 (1/2)" in r.stdout


def test_until_pass_with_the_judge_ends_with_exactly_n_passing(cli, ws, fs):
    fs.script(["ok", "jlow"], match="short topic 0")  # written, then judged low
    fs.script(["ok", "jnotjson", "jnotjson", "jnotjson"], match="short topic 1")  # judge fails
    r = cli("run", "--persona", "eve", "--topics", "short", "--until-pass", "5", "--judge",
            "--base-url", fs.url, "--concurrency", "2")
    assert r.returncode == 0, r.stderr
    assert "passing 5/5" in r.stdout and "judge (fault-model): judged 7" in r.stdout
    r = cli("filter", "latest")
    assert "5 of 7 conversations pass every filter" in r.stdout, r.stdout
    assert "judge failed: no usable answer in 3 tries (not JSON" in r.stdout


def test_done_when_until_pass_5_on_eve_ends_with_5_passing_and_judge_costs_counted(cli, ws, fs):
    """Issue 10's check, as written: `run --persona eve --topics eve --until-pass 5 --judge`."""
    import re

    cfg = ws.root / "chatsynth.yaml"
    cfg.write_text(cfg.read_text() + "prices:\n  fault-model: {input: 1000, output: 3000}\n")
    first = "I keep procrastinating on my thesis and feel like a fraud"
    fs.script(["ok", "jlow"], match=first)  # written, then judged under the threshold
    r = cli("run", "--persona", "eve", "--topics", "eve", "--until-pass", "5", "--judge",
            "--base-url", fs.url, "--concurrency", "2")
    assert r.returncode == 0, r.stderr
    assert "passing 5/5: 5 pass (the target was 5)" in r.stdout, r.stdout
    m = re.search(r"judge \(fault-model\): judged (\d+): ([\d,]+) \+ ([\d,]+) tokens, "
                  r"\$(\d+\.\d{4})", r.stdout)
    assert m, r.stdout
    judged, p, c = int(m[1]), int(m[2].replace(",", "")), int(m[3].replace(",", ""))
    assert judged == 6 and p > 0 and c > 0
    assert float(m[4]) == pytest.approx((p * 1000 + c * 3000) / 1e6, abs=1e-4)
    # the progress line carries the judge's figures too (the final line of each round)
    assert re.search(r"judge \d+ \(0 failed\), [\d,]+ tok, \$\d+\.\d{4}", r.stderr), r.stderr
    r = cli("filter", "latest")
    assert "5 of 6 conversations pass every filter" in r.stdout, r.stdout


def test_until_pass_never_counts_a_failed_judgement(cli, ws, fs):
    fs.default = "ok"
    r = cli("run", "--persona", "eve", "--topics", "short", "--until-pass", "2", "--max", "3",
            "--judge", "--base-url", fs.url)
    assert r.returncode == 0
    fs.reset()
    # a judge that only ever answers prose: nothing passes, the cap stops it, exit 1
    ws2 = ws.topics_dir / "other.txt"
    ws2.write_text("other topic a\nother topic b\n")
    fs.default = "jnotjson"  # generation requests are not judge requests: they stream "ok"
    r = cli("run", "--persona", "eve", "--topics", "other", "--until-pass", "2", "--max", "3",
            "--max-per-topic", "1", "--judge", "--base-url", fs.url)
    assert r.returncode == 1
    assert "passing 0/2" in r.stdout


def test_until_pass_takes_further_samples_of_each_topic(cli, ws, fs):
    # the fault server writes the same text for a topic each time: the further samples are
    # near-duplicates, so they never pass, and the per-topic cap stops the run
    (ws.topics_dir / "two.txt").write_text("two topic a\ntwo topic b\n")
    r = cli("run", "--persona", "eve", "--topics", "two", "--until-pass", "5", "--max-per-topic",
            "3", "--base-url", fs.url, "-q")
    assert r.returncode == 1, r.stderr
    assert "6 of 6 stored" in r.stdout
    assert "every topic x 3 (--max-per-topic) tried, 2/5 passing" in r.stdout


@pytest.mark.parametrize("block,needle", [
    ("judge:\n  threshold: 9\n", "eve.yaml:{line}: judge.threshold: must be a number between 1 and 5"),
    ("judge:\n  criteria:\n    - name: x\n", "judge.criteria[0].description: required text"),
    ("judge:\n  treshold: 2\n", "judge.treshold: unknown key 'treshold' (did you mean 'threshold'?)"),
])
def test_a_bad_judge_block_names_file_line_and_field(cli, ws, block, needle):
    path = ws.personas_dir / "eve.yaml"
    text = path.read_text()
    line = len(text.splitlines()) + 2
    path.write_text(text + block)
    r = cli("check")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert needle.format(line=line) in r.stderr + r.stdout


def test_a_rubric_with_nothing_to_judge_by_is_refused_before_writing(cli, ws, fs):
    (ws.personas_dir / "bare.yaml").write_text(
        "name: Bare\npersona_label: BOT\nuser_label: USER\nsystem_prompt: hi\n"
        "synthesis_prompt: \"Topic: {topic}\\n\\nUSER:\"\n")
    r = cli("run", "--persona", "bare", "--topics", "short", "--judge", "--base-url", fs.url)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "bare.yaml: judge.criteria: the judge has no rubric" in r.stderr
    assert not fs.requests


def test_judging_a_run_whose_persona_has_no_rubric_is_refused_naming_the_file(cli, ws, fs):
    (ws.personas_dir / "bare.yaml").write_text(
        "name: Bare\npersona_label: EVE\nuser_label: USER\nsystem_prompt: hi\n"
        "synthesis_prompt: \"Topic: {topic}\\n\\nUSER:\"\n")
    r = cli("run", "--persona", "bare", "--topics", "short", "--limit", "1", "--base-url", fs.url,
            "-q")
    assert r.returncode == 0, r.stderr
    n = len(fs.requests)
    r = cli("judge", "latest", "--base-url", fs.url)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "bare.yaml: judge.criteria: the judge has no rubric" in r.stderr, r.stderr
    assert len(fs.requests) == n  # no judge request was sent


def test_a_judge_block_round_trips_through_save(ws):
    from synth.library.personas import load_persona, save_persona
    from synth.persona_blocks import JudgeCriterion, JudgeSpec

    path = ws.personas_dir / "eve.yaml"
    p = load_persona(path)
    p.judge = JudgeSpec([JudgeCriterion("next-step", "Ends with a next step.")], threshold=4)
    save_persona(p)
    back = load_persona(path)
    assert back.judge == p.judge
    assert "# " in path.read_text()  # the user's comments are kept
    assert json.dumps(back.to_dict()["judge"])
