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


def test_export_withholds_a_file_with_errors_and_exits_1(workspace, cli, tmp_path):
    """6 conversations: the train file would hold 5 examples, fewer than the 10 a trainer needs."""
    make_run(workspace.runs_dir, n_topics=6, per_topic=1)
    out = tmp_path / "exp"
    r = cli("export", "latest", "--out", str(out))
    assert r.returncode == 1, r.stdout + r.stderr
    assert not (out / "chat.train.jsonl").exists()
    assert "not written: chat.train.jsonl (5 examples), 1 error(s):" in r.stdout
    assert "chat.train.jsonl: error: only 5 example(s): fine-tuning needs at least 10 [too_few_examples]" in r.stdout
    assert (out / "chat.validation.jsonl").exists()  # a valid part is still written
    assert "Files not written" in (out / "report.md").read_text()
    # told to: written, and still exit 1, as `validate` fails it
    out2 = tmp_path / "exp2"
    r = cli("export", "latest", "--out", str(out2), "--allow-invalid")
    assert r.returncode == 1 and (out2 / "chat.train.jsonl").exists()
    assert "1 errors" in r.stdout and "[too_few_examples]" in r.stdout
    assert cli("validate", str(out2 / "chat.train.jsonl")).returncode == 1


def _cut_at_max_tokens(i, k):
    if i == 1:
        return {"turns": turns("Can you explain PAT to me?", "Sure. What do you know about it already?",
                               "Nothing much, honestly.", "PAT #20: It allows us"),
                "finish_reason": "length", "params": {"max_tokens": 700}}
    return None


def test_truncated_conversation_is_flagged_everywhere(workspace, cli, tmp_path):
    _, run_id, _ = make_run(workspace.runs_dir, n_topics=12, per_topic=1, extra=_cut_at_max_tokens)
    r = cli("filter", run_id)
    assert "11 of 12 conversations pass every filter" in r.stdout and "truncated: 1" in r.stdout
    assert ('turn 4 (Eve) was cut off by the server at max_tokens (700): it ends "PAT #20: It allows us"'
            in r.stdout)
    cut = r.stdout.splitlines()[0].split()[0]
    r = cli("review", run_id, "--accept-ok")
    assert "accepted 11 conversations" in r.stdout  # A leaves the cut one alone
    r = cli("review", run_id, "--list")
    assert any(ln.startswith(cut) and "flagged" in ln for ln in r.stdout.splitlines())
    out = tmp_path / "exp"
    cli("export", run_id, "--out", str(out), "--validation-fraction", "0")
    rep = json.loads((out / "report.json").read_text())
    assert rep["conversations"]["flagged_by_rule"] == {"truncated": 1}
    assert "| truncated | 1 |" in (out / "report.md").read_text()
    # the persona turns the rule off
    spec = workspace.runs_dir / run_id / "spec.json"
    data = json.loads(spec.read_text())
    data["persona_snapshot"]["rules"]["truncated"] = False
    spec.write_text(json.dumps(data))
    assert "12 of 12 conversations pass every filter" in cli("filter", run_id).stdout


def test_trim_shows_then_applies_new_stops(workspace, cli):
    _, run_id, _ = make_run(workspace.runs_dir, n_topics=4, per_topic=1)
    before = cli("review", run_id, "--list").stdout
    r = cli("trim", run_id, "--stop", "Stalling on")
    assert r.returncode == 0, r.stderr
    rows = r.stdout.splitlines()
    assert sum(1 for ln in rows if " changes  cut at 'Stalling on' (character " in ln) == 4
    assert "6 -> 2 turns; ⚑ turn_count, empty_turn" in rows[0]
    assert rows[-2] == "4 of 4 conversations change when cut at 'Stalling on'"
    assert rows[-1] == "nothing applied (add --apply)"
    assert cli("review", run_id, "--list").stdout == before  # only shown
    r = cli("trim", run_id, "--stop", "Stalling on", "--apply")
    assert r.returncode == 0 and "applied to run" in r.stdout.splitlines()[-1]
    after = cli("review", run_id, "--list").stdout
    assert " 2 turns " in after and after.splitlines()[-1] == "flagged 4"  # no request made
    r = cli("trim", run_id, "--as-written", "--apply")
    assert cli("review", run_id, "--list").stdout == before
    r = cli("trim", run_id)
    assert r.returncode == 2 and "--stop: give at least one --stop TEXT" in r.stderr


def test_review_edit_and_remove_a_turn(workspace, cli):
    store, run_id, _ = make_run(workspace.runs_dir, n_topics=4, per_topic=1)
    first = cli("review", run_id, "--list").stdout.splitlines()[0]
    cid = first.split()[0]
    tokens_before = int(first.split("turns")[1].split("tokens")[0].replace(",", ""))
    r = cli("review", run_id, "--edit", cid[:6], "--turn", "2", "--text", "Short. Try it?")
    assert r.returncode == 0, r.stderr
    assert f"edited {cid}: turn 2 (assistant) rewritten" in r.stdout
    from synth.curate.review import Review
    it = Review(store, run_id).load().by_id(cid)
    assert it.edited and it.turns[1].text == "Short. Try it?" and "Short. Try it?" not in it.conv.raw_text
    row = cli("review", run_id, "--list").stdout.splitlines()[0]
    assert int(row.split("turns")[1].split("tokens")[0].replace(",", "")) < tokens_before
    r = cli("review", run_id, "--edit", cid, "--remove-turn", "6")
    assert r.returncode == 0 and "turn 6 (assistant) removed" in r.stdout and "flagged" in r.stdout
    assert len(Review(store, run_id).load().by_id(cid).turns) == 5
    for args, msg in [(["--edit", "nope", "--turn", "1", "--text", "x"], "--edit: no conversation with id 'nope'"),
                      (["--edit", cid, "--turn", "9", "--text", "x"], f"--turn: no turn 9: conversation {cid} has 5 turns (1 to 5)"),
                      (["--edit", cid, "--remove-turn", "0"], "--remove-turn: no turn 0"),
                      (["--edit", cid, "--turn", "1", "--text", " "], "--text: the new text is empty"),
                      (["--edit", cid], "--edit: give either --turn N --text TEXT or --remove-turn N"),
                      (["--list", "--turn", "1"], "--turn: needs --edit ID")]:
        r = cli("review", run_id, *args)
        assert r.returncode == 2 and msg in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr
    assert len(Review(store, run_id).load().by_id(cid).turns) == 5  # nothing changed by those


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


def test_escapes_in_typed_text_keep_every_other_character(workspace, cli):
    """`--text` and `--stop` read \\n as a newline; a non-ASCII letter beside it stays as typed
    (a unicode_escape decode turned 'Café' into 'CafÃ©')."""
    store, run_id, _ = make_run(workspace.runs_dir, n_topics=2, per_topic=1)
    cid = cli("review", run_id, "--list").stdout.splitlines()[0].split()[0]
    r = cli("review", run_id, "--edit", cid, "--turn", "2", "--text", "Café, naïve?\\nTry it.")
    assert r.returncode == 0, r.stderr
    from synth.curate.review import Review
    assert Review(store, run_id).load().by_id(cid).turns[1].text == "Café, naïve?\nTry it."
    r = cli("trim", run_id, "--stop", "déjà\\n")
    assert r.returncode == 0 and "'déjà\\n'" in r.stdout, r.stdout + r.stderr
