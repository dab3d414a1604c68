"""`chatsynth estimate --method roleplay` prices each side at its own model (the simulated
user's ``user_simulator: model:`` where it names one), and refuses a persona without a
simulated user with its file and field named (it was a traceback)."""

from __future__ import annotations

import json


def _sim_model(ws, model: str | None) -> None:
    eve = ws.personas_dir / "eve.yaml"
    body = eve.read_text(encoding="utf-8")
    body = body.replace("\n  model: sim-model\n", "\n")
    if model:
        body = body.replace("\n  max_turns: 8\n", f"\n  max_turns: 8\n  model: {model}\n", 1)
    eve.write_text(body, encoding="utf-8")


def _prices(ws, run: tuple[float, float], sim: tuple[float, float]) -> None:
    text = ws.config_path.read_text(encoding="utf-8").split("\nprices:")[0]
    text += (f"\nprices:\n  run-model: {{input: {run[0]}, output: {run[1]}}}\n"
             f"  sim-model: {{input: {sim[0]}, output: {sim[1]}}}\n")
    ws.config_path.write_text(text, encoding="utf-8")


def _estimate(cli, *more: str) -> dict:
    r = cli("estimate", "--persona", "eve", "--topics", "short", "--model", "run-model",
            "--endpoint", "openai", "--method", "roleplay", "--limit", "4", *more)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["run"] if "--json" in more else r.stdout


def test_each_side_priced_at_its_own_model(cli, ws):
    _sim_model(ws, "sim-model")
    _prices(ws, run=(0, 0), sim=(1, 1))  # only the simulated user costs
    user_only = _estimate(cli, "--json")
    assert user_only["user_model"] == "sim-model"
    assert user_only["user_price"]["input"] == 1 and user_only["price"]["input"] == 0
    _prices(ws, run=(1, 1), sim=(0, 0))  # only the persona costs
    persona_only = _estimate(cli, "--json")
    assert user_only["cost_max"] > 0 and persona_only["cost_max"] > 0
    # both at one price: the two sides add up to it
    _prices(ws, run=(1, 1), sim=(1, 1))
    one = _estimate(cli, "--json")
    assert one["prompt_tokens"] == user_only["prompt_tokens"] == persona_only["prompt_tokens"]
    assert abs(user_only["cost_max"] + persona_only["cost_max"] - one["cost_max"]) < 1e-9
    # no simulator model: both sides at the run's (the simulated user's price is not asked)
    _sim_model(ws, None)
    _prices(ws, run=(0, 0), sim=(1, 1))
    none = _estimate(cli, "--json")
    assert none["user_model"] is None and none["cost_max"] == 0
    # the user speaks first: of 8 turns its 4 send 0+2+4+6 turns so far, Eve's 1+3+5+7
    assert user_only["cost_max"] < persona_only["cost_max"]
    # the text names both models, in the model line and the range note
    _sim_model(ws, "sim-model")
    _prices(ws, run=(1, 2), sim=(3, 4))
    text = _estimate(cli)
    assert "the simulated user's model: sim-model, price: $3 in / $4 out" in text
    assert "(the simulated user at sim-model, Eve at run-model)" in text


def test_estimate_without_a_simulator_names_the_file(cli, ws):
    r = cli("estimate", "--persona", "bank-support", "--topics", "short", "--model", "m",
            "--method", "roleplay")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "bank-support.yaml: user_simulator:" in r.stderr and "--method roleplay" in r.stderr
