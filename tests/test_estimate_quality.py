"""`chatsynth estimate --judge` and `--until-pass N`: the judge's tokens and money as their own
line, counted in the cost, and the cost at the pass rate seen so far (this run, else the
persona's last run, else none known: the cost per attempt).  The real CLI in a subprocess,
conversations written by the loopback fault server."""

from __future__ import annotations

import json

import pytest

from synth.curate.judge import judge_messages, rubric_for
from synth.library.personas import find_persona
from synth.tokens import counter_for


@pytest.fixture
def fault_ws(cli, ws, fs):
    """The test workspace with an endpoint ``fault`` on the fault server, priced."""
    r = cli("endpoint", "add", "fault", "--base-url", fs.url, "--model", "fault-model",
            "--style", "chat")
    assert r.returncode == 0, r.stderr
    with open(ws.root / "chatsynth.yaml", "a") as f:
        f.write("prices:\n  fault-model: {input: 1.0, output: 2.0}\n"
                "  judge-model: {input: 10.0, output: 20.0}\n")
    return ws


def _estimate(cli, *args):
    r = cli("estimate", "--persona", "eve", "--topics", "short", "--endpoint", "fault", *args)
    assert r.returncode == 0, r.stderr
    return r.stdout


def _json(cli, *args):
    return json.loads(_estimate(cli, *args, "--json"))["run"]


def test_the_judge_is_its_own_line_priced_at_the_judge_models_rates(cli, fault_ws):
    plain = _json(cli)
    judged = _json(cli, "--judge", "--judge-model", "judge-model")
    j = judged["judge"]
    eve = find_persona(fault_ws, "eve")
    rubric = counter_for("judge-model").chat_tokens(judge_messages(eve, rubric_for(eve), []))
    # rubric prompt + the conversation (max_tokens: none stored yet) + the answer, per conversation
    assert j["rubric_tokens"] == rubric and j["text_tokens"] == eve.max_tokens
    assert j["answer_tokens"] == 16 + 36 * len(rubric_for(eve).criteria)
    each = ((rubric + eve.max_tokens) * 10.0 + j["answer_tokens"] * 20.0) / 1e6
    assert j["per_conversation"] == pytest.approx(each)
    assert j["conversations"] == 8 and j["cost"] == pytest.approx(8 * each)
    assert judged["cost_max"] == plain["cost_max"]  # the writer's share is unchanged
    out = _estimate(cli, "--judge", "--judge-model", "judge-model")
    line = next(ln for ln in out.splitlines() if ln.startswith("judge ("))
    assert "judge (judge-model, $10 in / $20 out per M (workspace config))" in line
    assert f"rubric {rubric:,} + conversation {eve.max_tokens:,} from max_tokens" in line
    cost = next(ln for ln in out.splitlines() if ln.startswith("cost:"))
    total = plain["cost_max"] + 8 * each
    assert cost.startswith(f"cost: at most ${total:,.2f} (writing + judge ${8 * each:,.2f})")
    assert "judge" not in _estimate(cli)  # no --judge: no judge line


def test_the_judge_defaults_to_the_writers_model_and_measures_stored_conversations(cli, fault_ws):
    r = cli("run", "--persona", "eve", "--topics", "short", "--endpoint", "fault", "--limit", "4", "-q")
    assert r.returncode == 0, r.stderr
    j = _json(cli, "--judge")["judge"]
    assert j["model"] == "fault-model" and j["price"]["input"] == 1.0
    assert j["text_from"] == "4 stored conversations" and 0 < j["text_tokens"] < 700
    assert j["conversations"] == 4  # the 4 not stored yet


def test_judge_estimate_of_a_persona_with_no_rubric_names_the_field(cli, fault_ws):
    path = fault_ws.personas_dir / "eve.yaml"
    import yaml

    data = yaml.safe_load(path.read_text())
    data["description"] = ""
    data["rules"]["patterns"] = []
    path.write_text(yaml.safe_dump(data))
    r = cli("estimate", "--persona", "eve", "--topics", "short", "--endpoint", "fault", "--judge")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "judge.criteria" in r.stderr and "eve.yaml" in r.stderr


def test_until_pass_with_no_rate_known_shows_the_cost_per_attempt(cli, fault_ws):
    out = _estimate(cli, "--until-pass", "5")
    line = next(ln for ln in out.splitlines() if ln.startswith("until 5 pass"))
    assert "no pass rate known yet" in line and "per conversation attempted" in line
    # the main lines count the most it may write: every topic x the per-topic cap (5)
    assert "conversations: 40 (0 already stored, 40 to write)" in out
    assert "to write" in _estimate(cli, "--until-pass", "5", "--max", "12")
    assert "12 to write: limit 12 of 40 missing" in _estimate(cli, "--until-pass", "5", "--max", "12")


def test_until_pass_at_the_rate_seen_in_this_run_then_in_the_personas_last_run(cli, fault_ws, fs):
    r = cli("run", "--persona", "eve", "--topics", "short", "--endpoint", "fault", "--limit", "4", "-q")
    assert r.returncode == 0, r.stderr
    fs.script(["jlow"], match="short topic 1")
    r = cli("judge", "latest", "--endpoint", "fault", "-q")
    assert "3/4 pass the judge" in r.stdout, r.stdout
    run_id = cli("runs").stdout.splitlines()[1].split()[0]
    est = _json(cli, "--until-pass", "9", "--judge")
    u = est["until"]
    assert (u["passing"], u["stored"], u["have"]) == (3, 4, 3) and u["judged"]
    assert u["rate"] == 0.75 and u["attempts"] == 8  # 6 more at 75%: 8 written
    assert u["cost"] == pytest.approx(8 * u["per_attempt"])
    out = _estimate(cli, "--until-pass", "9", "--judge")
    assert (f"until 9 pass (3 already pass in this run): at 75% passing (3 of 4 passing every "
            f"filter and the judge, seen in this run ({run_id})): about 8 conversations, "
            f"${u['cost']:.4f}") in out
    # --max caps it, and says so
    assert "about 5 conversations (capped by --max 5)" in _estimate(
        cli, "--until-pass", "9", "--judge", "--max", "5")
    # another topic list of the same persona: a new run, at the rate of the persona's last run
    (fault_ws.topics_dir / "more.txt").write_text("more topic a\nmore topic b\n")
    r = cli("estimate", "--persona", "eve", "--topics", "more", "--endpoint", "fault",
            "--until-pass", "3", "--judge")
    assert r.returncode == 0, r.stderr
    assert (f"at 75% passing (3 of 4 passing every filter and the judge, seen in run {run_id} "
            "(the persona's last run)): about 4 conversations") in r.stdout
    # enough already pass: nothing to write
    assert "until 2 pass (3 already pass in this run): nothing to write" in _estimate(
        cli, "--until-pass", "2", "--judge")


@pytest.mark.parametrize("args,needle", [
    (["--until-pass", "0"], "--until-pass must be 1 or more, got 0"),
    (["--max", "3"], "--max goes with --until-pass N"),
    (["--until-pass", "3", "--limit", "2"], "give --until-pass N or --limit N, not both"),
])
def test_bad_until_flags_are_named(cli, fault_ws, args, needle):
    r = cli("estimate", "--persona", "eve", "--topics", "short", "--endpoint", "fault", *args)
    assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr
