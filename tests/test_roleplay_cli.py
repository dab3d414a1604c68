"""`chatsynth run / estimate --method roleplay` in a real subprocess against the loopback fault
server: turns written and stored, the estimate's growing prompt, and the bad-input messages."""

from __future__ import annotations

import json
import re

from synth.dataset.store import Store


def test_run_method_roleplay_writes_turn_by_turn(cli, ws, fs):
    r = cli("run", "--persona", "eve", "--topics", "short", "--limit", "3", "--base-url", fs.url,
            "--model", "fault-model", "--style", "chat", "--method", "roleplay", "-q")
    assert r.returncode == 0, r.stderr
    run_id = re.search(r"run (\w+): limit", r.stdout).group(1)
    convs = Store(ws.runs_dir).load(run_id).conversations
    assert len(convs) == 3
    for c in convs:
        assert c.params["method"] == "roleplay" and c.params["user_simulator"]["brief"]
        assert [t.role for t in c.turns][:2] == ["user", "assistant"]
        assert "[END]" not in c.raw_text
    # the persona's side got Eve's own system prompt; the user's side the simulator's prompt
    systems = {q.body["messages"][0]["content"][:30] for q in fs.requests
               if q.path.endswith("chat/completions")}
    assert any(s.startswith("You are Eve, a digital life") for s in systems)
    assert any(s.startswith("You are a person talking with") for s in systems)
    # the same command again: the next 3 (a limit counts what this start writes)
    n = len(fs.requests)
    r = cli("run", "--persona", "eve", "--topics", "short", "--limit", "3", "--base-url", fs.url,
            "--model", "fault-model", "--style", "chat", "--method", "roleplay", "-q")
    assert r.returncode == 0 and len(fs.requests) > n
    assert len(Store(ws.runs_dir).load(run_id).conversations) == 6
    # transcript (the persona's method) is another run
    r = cli("run", "--persona", "eve", "--topics", "short", "--limit", "1", "--base-url", fs.url,
            "--model", "fault-model", "-q")
    assert r.returncode == 0 and run_id not in r.stdout


def test_estimate_says_the_prompt_grows_each_turn(cli, ws):
    r = cli("estimate", "--persona", "eve", "--topics", "short", "--model", "gpt-4o-mini",
            "--endpoint", "local", "--method", "roleplay", "--json")
    assert r.returncode == 0, r.stderr
    est = json.loads(r.stdout)["run"]
    assert est["turns"] == [4, 8] and est["prompt_tokens"] > est["prompt_tokens_min"] > 0
    # 8 conversations of 8 turns: each turn sends the conversation so far (0 + 1 + ... + 7 turns)
    assert est["prompt_tokens"] > 8 * est["turn_tokens"] * (8 * 7 // 2)
    r = cli("estimate", "--persona", "eve", "--topics", "short", "--model", "gpt-4o-mini",
            "--method", "roleplay")
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("prompt tokens:"))
    assert "each turn sends the conversation so far" in line and " to " in line
    assert "exact" not in line


def test_roleplay_without_a_simulator_is_one_line_exit_2(cli, ws, fs):
    r = cli("run", "--persona", "bank-support", "--topics", "short", "--base-url", fs.url,
            "--model", "m", "--method", "roleplay")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "bank-support.yaml: user_simulator:" in r.stderr and "--method roleplay" in r.stderr
    assert not fs.requests  # refused before anything was asked
    r = cli("run", "--topics", "short", "--base-url", fs.url, "--method", "improv")
    assert r.returncode == 2 and "invalid choice: 'improv'" in r.stderr


def test_batch_refuses_roleplay(cli, ws, fs):
    r = cli("batch", "prepare", "--topics", "short", "--base-url", fs.url, "--model", "m",
            "--method", "roleplay")
    assert r.returncode == 2 and "turn by turn" in r.stderr and "Traceback" not in r.stderr


def test_personas_shows_the_method_and_the_simulator(cli, ws):
    r = cli("personas", "eve")
    assert r.returncode == 0
    assert "method: transcript   user simulator: 4 to 8 turns, ends on [END], 5 briefs" in r.stdout
    r = cli("personas", "eve", "--set", "method=roleplay")
    assert r.returncode == 0, r.stderr
    assert "method: roleplay" in cli("personas", "eve").stdout
