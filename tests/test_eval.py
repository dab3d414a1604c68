"""`chatsynth eval`: held-out evaluation of an export against the real loopback fault server, in
real CLI subprocesses: the requests each mode sends, the report's numbers against a recount of
its JSON, the Wilson interval on known counts, and each bad input as one clear line."""

from __future__ import annotations

import json

import pytest

from synth.curate.eval_answers import mean_ci, parse_contestant, wilson
from synth.errors import ChatsynthError


def _export(cli, fs, tmp_path, *extra: str):
    r = cli("endpoint", "add", "fault", "--base-url", fs.url, "--model", "fault-model",
            "--style", "completion")
    assert r.returncode == 0, r.stderr
    r = cli("run", "--persona", "eve", "--topics", "short", "--endpoint", "fault", "-q")
    assert r.returncode == 0, r.stderr
    out = tmp_path / "exp"
    r = cli("export", "latest", "--out", str(out), "--allow-invalid", *extra)
    assert "Traceback" not in r.stderr, r.stderr
    fs.reset()
    return out


def test_eval_prompted_vs_finetuned_on_the_fault_server(ws, cli, fs, tmp_path):
    exp = _export(cli, fs, tmp_path)
    report = json.loads((exp / "report.json").read_text())
    val = report["validation"]
    assert len(val) == report["conversations"]["validation"] >= 1
    assert {v["topic"] for v in val} == set(report["split"]["validation_topics"])
    out = tmp_path / "ev"
    r = cli("eval", str(exp), "--a", "fault:prompted", "--b", "fault:fault-model:finetuned",
            "--turns", "2", "--out", str(out))
    assert r.returncode == 0, r.stderr
    rep = json.loads((out / "eval.json").read_text())
    n_open = len(rep["openings"])
    assert n_open == 2 * len(val)  # two user turns of each validation conversation
    assert [o["user_turn"] for o in rep["openings"][:2]] == [1, 2]
    assert rep["openings"][1]["turns"][-1]["role"] == "user" and len(rep["openings"][1]["turns"]) == 3

    comp = [q for q in fs.requests if q.path.endswith("/completions") and "chat" not in q.path]
    chat = [q for q in fs.requests if q.path.endswith("/chat/completions")]
    assert len(comp) == len(chat) == n_open
    for q in comp:  # prompted, completion style: the persona's prompt, the turns, the persona's label
        assert q.prompt.rstrip().endswith("EVE:") and "\nUSER:" in q.stop
        assert "Topic:" in q.prompt  # eve's synthesis prompt
    system = next(iter(json.loads(ln) for ln in (exp / "chat.validation.jsonl").read_text().splitlines()))
    system = system["messages"][0]["content"]
    for q in chat:  # finetuned: only the exported system prompt, then the turns; no stop
        msgs = q.body["messages"]
        assert msgs[0] == {"role": "system", "content": system}
        assert [m["role"] for m in msgs[1:]] in (["user"], ["user", "assistant", "user"])
        assert "Topic:" not in q.prompt and not q.stop

    # the report's numbers are a recount of its own answers
    for c in rep["contestants"]:
        mine = [a for a in rep["answers"] if a["contestant"] == c["key"]]
        assert c["answers"] == n_open and c["failed"] == 0
        for rule in rep["rules"]:
            k = sum(1 for a in mine if rule not in {x["rule"] for x in a["reasons"]})
            assert c["rules"][rule]["pass"] == k and c["rules"][rule]["of"] == n_open
            assert c["rules"][rule]["ci"] == pytest.approx(list(wilson(k, n_open)))
        assert c["rules"]["all"]["pass"] == sum(1 for a in mine if a["ok"])
        assert c["completion_tokens"] == sum(a["completion_tokens"] for a in mine)
    a_all = rep["contestants"][0]["rules"]["all"]
    md = (out / "eval.md").read_text()
    assert f"{a_all['pass']}/{a_all['of']}" in md and "## Answers side by side" in md
    assert "| rule leaked_label |" in md and "**B** (fault:fault-model:finetuned)" in md
    assert "every rule" in r.stdout and "wrote" in r.stdout


def test_a_contestant_whose_endpoint_is_down(ws, cli, fs, tmp_path):
    exp = _export(cli, fs, tmp_path)
    cli("endpoint", "add", "down", "--base-url", "http://127.0.0.1:9/v1", "--model", "m")
    out = tmp_path / "ev"
    r = cli("eval", str(exp), "--a", "fault", "--b", "down:finetuned", "--out", str(out))
    assert r.returncode == 1 and "Traceback" not in r.stderr + r.stdout
    assert "B: " in r.stdout and "answers failed" in r.stdout
    rep = json.loads((out / "eval.json").read_text())
    a, b = rep["contestants"]
    assert a["failed"] == 0 and a["answered"] == len(rep["openings"]) > 0
    assert b["answered"] == 0 and b["failed"] == len(rep["openings"])
    assert all(x["failed"] for x in rep["answers"] if x["contestant"] == "b")


def test_bad_input_is_one_clear_line(ws, cli, fs, tmp_path):
    exp = _export(cli, fs, tmp_path)

    def bad(*args, says):
        r = cli("eval", *args)
        assert r.returncode == 2, (r.stdout, r.stderr)
        assert "Traceback" not in r.stderr and r.stderr.strip().count("\n") == 0, r.stderr
        assert says in r.stderr, r.stderr

    (tmp_path / "empty").mkdir()
    bad(str(tmp_path / "empty"), "--a", "fault", says="not an export: no report.json")
    bad(str(tmp_path / "nope"), "--a", "fault", says="no such folder")
    bad(str(exp), "--a", "nosuch:prompted", says="--a: no endpoint named 'nosuch'")
    bad(str(exp), "--a", "fault", "--b", "fault:m:weird", says="--b: unknown mode 'weird'")
    bad(str(exp), "--a", "fault::prompted", says="--a: 'fault::prompted' has an empty part")
    bad(str(exp), "--a", "fault", "--turns", "0", says="--turns")
    (exp / "report.json").write_text("{not json")
    bad(str(exp), "--a", "fault", says="report.json: not an export's report")
    noval = tmp_path / "noval"
    r = cli("export", "latest", "--out", str(noval), "--validation-fraction", "0", "--allow-invalid")
    assert (noval / "report.json").is_file(), r.stderr
    bad(str(noval), "--a", "fault", says="the export has no validation part")
    assert not fs.requests  # nothing sent for any of them


def test_wilson_interval_on_known_counts():
    lo, hi = wilson(8, 10)  # the textbook example: 0.490 to 0.943
    assert (lo, hi) == (pytest.approx(0.4902, abs=1e-4), pytest.approx(0.9433, abs=1e-4))
    assert wilson(0, 4) == (0.0, pytest.approx(0.4899, abs=1e-4))
    assert wilson(4, 4) == (pytest.approx(0.5101, abs=1e-4), 1.0)
    assert wilson(0, 0) is None
    m, lo, hi = mean_ci([3, 4, 5])  # mean 4, sd 1: 4 +- 1.96/sqrt(3)
    assert (m, lo, hi) == (4, pytest.approx(4 - 1.1316, abs=1e-4), pytest.approx(4 + 1.1316, abs=1e-4))


def test_contestant_specs():
    c = parse_contestant("ollama:llama3:8b:finetuned", "a")
    assert (c.endpoint, c.model, c.mode) == ("ollama", "llama3:8b", "finetuned")
    c = parse_contestant("local", "b")
    assert (c.endpoint, c.model, c.mode) == ("local", None, "prompted")
    c = parse_contestant("openai:gpt-4o-mini", "a")
    assert (c.model, c.mode) == ("gpt-4o-mini", "prompted")
    for spec in ("", "a:", ":b", "x:y:z"):
        with pytest.raises(ChatsynthError):
            parse_contestant(spec, "a")


def test_eval_with_the_judge(ws, cli, fs, tmp_path):
    exp = _export(cli, fs, tmp_path)
    r = cli("eval", str(exp), "--a", "fault", "--judge", "--limit", "1")
    assert r.returncode == 2 and "--judge: persona 'eve' has no judge: block" in r.stderr
    with open(ws.root / "personas" / "eve.yaml", "a") as fh:  # a judge block added after the run
        fh.write("judge:\n  threshold: 3\n  criteria:\n    - name: listens\n"
                 "      description: Eve reflects what the user said first\n")
    fs.judge_score = 2
    out = tmp_path / "ev"
    r = cli("eval", str(exp), "--a", "fault", "--b", "fault:finetuned", "--judge", "--limit", "2",
            "--out", str(out))
    assert r.returncode == 0, r.stderr
    rep = json.loads((out / "eval.json").read_text())
    for c in rep["contestants"]:
        assert c["judge"] == {"judged": 2, "scored": 2, "mean": 2.0, "ci": [2.0, 2.0], "passed": 0}
    assert all(a["judge"]["score"] == 2 and not a["judge"]["passed"] for a in rep["answers"])
    assert "judge score" in r.stdout and "2.00 (2.00-2.00) n=2" in r.stdout
