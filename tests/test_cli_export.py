"""The dataset commands end to end, in real subprocesses: exit codes, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from data.factory import make_run, turns

DATA = Path(__file__).parent / "data"


def _flag_first(i, k):
    if i == 0 and k == 0:
        return turns("Plan my week?", "As an AI language model I cannot plan weeks.",
                     "Fine.", "Anything else I can do for you?")
    return None


def test_export_then_validate_every_file(workspace, cli, tmp_path):
    make_run(workspace.runs_dir, n_topics=15, per_topic=2, extra=_flag_first)
    out = tmp_path / "exp"
    r = cli("export", "latest", "--format", "all", "--out", str(out), "--seed", "1")
    assert r.returncode == 0, r.stderr
    assert "29 conversations: 0 you accepted + 29 that pass every filter" in r.stdout
    assert "1 flagged by a filter and not accepted" in r.stdout
    files = sorted(p.name for p in out.glob("*.jsonl"))
    assert files == ["chat.train.jsonl", "chat.validation.jsonl", "completion.train.jsonl",
                     "completion.validation.jsonl", "sharegpt.train.jsonl", "sharegpt.validation.jsonl"]
    assert (out / "report.md").exists() and (out / "report.json").exists()
    for name in files:
        v = cli("validate", str(out / name), "--model", "gpt-4o-mini")
        assert v.returncode == 0, v.stdout
        assert "0 error(s)" in v.stdout and "no errors found" in v.stdout
    v = cli("validate", str(out / "chat.train.jsonl"), "--json")
    assert json.loads(v.stdout)["ok"] is True


def test_validate_toy_and_broken_files(cli):
    r = cli("validate", str(DATA / "toy_chat_fine_tuning.jsonl"), "--model", "gpt-4o-mini")
    assert r.returncode == 1
    found = [ln for ln in r.stdout.splitlines() if ": error: " in ln or ": warning: " in ln]
    assert [ln.split(": ", 1)[0].rsplit(":", 1)[1] for ln in found] == ["3", "6", "9"]
    assert "[missing_user]" in found[0] and "[too_long]" in found[1] and "[missing_system]" in found[2]
    assert "tokens per example: min" in r.stdout and "billed training tokens" in r.stdout
    r = cli("validate", str(DATA / "broken_lines.jsonl"))
    assert r.returncode == 1 and "broken_lines.jsonl:29: error:" in r.stdout
    assert "Traceback" not in r.stdout + r.stderr


def test_validate_bad_input_is_one_line(cli, tmp_path):
    r = cli("validate", str(tmp_path / "missing.jsonl"))
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "no such file" in r.stderr
    r = cli("validate", str(tmp_path))
    assert r.returncode == 2 and "is a folder" in r.stderr


def test_review_and_filter_commands(workspace, cli):
    _, run_id, _ = make_run(workspace.runs_dir, n_topics=12, per_topic=1, extra=_flag_first)
    r = cli("filter", run_id)
    assert r.returncode == 0 and "11 of 12 conversations pass every filter" in r.stdout
    assert "refusal: 1" in r.stdout
    flagged_id = r.stdout.splitlines()[0].split()[0]
    r = cli("review", "latest", "--next")
    assert r.returncode == 0 and r.stdout.startswith(flagged_id) and "As an AI language model" in r.stdout
    r = cli("review", "latest", "--accept", flagged_id[:6])
    assert r.returncode == 0 and f"accepted {flagged_id}" in r.stdout
    r = cli("review", "latest", "--accept-ok")
    assert "accepted 11 conversations" in r.stdout
    r = cli("review", "latest", "--list")
    assert r.stdout.strip().splitlines()[-1] == "accepted 12"
    r = cli("review", "latest", "--reject", "nope")
    assert r.returncode == 2 and "no conversation with id 'nope'" in r.stderr
    r = cli("export", "nosuchrun")
    assert r.returncode == 2 and "no run 'nosuchrun'" in r.stderr and "Traceback" not in r.stderr


def test_estimate_makes_no_request(workspace, cli):
    r = cli("estimate", "--persona", "eve", "--topics", "eve", "--endpoint", "openai",
            "--model", "gpt-4o-mini", "--per-topic", "2", env={"OPENAI_API_KEY": "", "HTTPS_PROXY": "http://127.0.0.1:9"})
    assert r.returncode == 0, r.stderr
    assert "prompt tokens:" in r.stdout and "(exact, o200k_base)" in r.stdout
    assert "completion tokens: at most" in r.stdout and "cost: at most $" in r.stdout
    assert "billed training tokens" in r.stdout and "training cost: $" in r.stdout
    r = cli("estimate", "--persona", "eve", "--topics", "eve", "--model", "llama3.2", "--endpoint", "openai", "--json")
    d = json.loads(r.stdout)
    assert d["run"]["price"] is None and d["run"]["cost_max"] is None
    assert any("llama3.2" in n for n in d["run"]["notes"])
    r = cli("estimate", "--persona", "nobody")
    assert r.returncode == 2 and "no persona 'nobody'" in r.stderr


def test_estimate_counts_the_limit(workspace, cli):
    """`estimate --limit N` counts what `run --limit N` writes (there was no --limit)."""
    args = ("estimate", "--persona", "eve", "--topics", "eve", "--endpoint", "openai",
            "--model", "gpt-4o-mini", "--max-tokens", "500")
    r = cli(*args, "--limit", "2", "--json")
    assert r.returncode == 0, r.stderr
    run = json.loads(r.stdout)["run"]
    assert run["to_write"] == 2 and run["completion_tokens_max"] == 1000 and run["limit"] == 2
    assert run["conversations"] == run["missing"] == 80
    whole = json.loads(cli(*args, "--json").stdout)["run"]
    assert whole["to_write"] == 80 and run["prompt_tokens"] < whole["prompt_tokens"]
    r = cli(*args, "--limit", "2")
    assert "80 (0 already stored, 2 to write: limit 2 of 80 missing)" in r.stdout
    assert "completion tokens: at most 1,000 (max_tokens x 2 to write)" in r.stdout
    r = cli(*args, "--limit", "-1")
    assert r.returncode == 2 and "--limit: must be 0 or more" in r.stderr and "Traceback" not in r.stderr
