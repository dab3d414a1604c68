"""`chatsynth chat`: the playground's REPL in a real subprocess, with piped input, against the
real loopback fault server; a saved exchange shows up in review and in an export."""

from __future__ import annotations

import json
import re


def test_piped_session_with_retry_edit_save(cli, fs, ws):
    r = cli("chat", "--persona", "eve", "--base-url", fs.url, "--style", "completion",
            "--topic", "exam nerves",
            input="hey Eve, I am sad\n/retry\n/edit hey Eve, I am tired\nthanks\n/tokens\n/save\n")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert r.stdout.count("EVE: ") == 4  # answered, again, edited, thanks
    assert "total: " in r.stdout and "over 2 answers" in r.stdout
    m = re.search(r"saved 4 turns as conversation (\w+) in run (\w+)", r.stdout)
    assert m, r.stdout
    cid, run_id = m.groups()
    prompts = [q.body["prompt"] for q in fs.requests]
    assert len(prompts) == 4
    assert prompts[1] == prompts[0]  # /retry asks the same again
    assert prompts[2].endswith("USER: hey Eve, I am tired\nEVE:")  # /edit replaced the turn
    assert "hey Eve, I am sad" not in prompts[3]
    assert all(q.body["stop"][0] == "\nUSER:" for q in fs.requests)

    listed = cli("review", run_id, "--list")
    assert listed.returncode == 0, listed.stderr
    assert cid in listed.stdout and "exam nerves" in listed.stdout
    runs = cli("runs")
    assert run_id in runs.stdout and "playground" in runs.stdout

    assert cli("review", run_id, "--accept", cid).returncode == 0
    out = ws.root / "exp"
    ex = cli("export", run_id, "--out", str(out), "--validation-fraction", "0", "--only-accepted", "--allow-invalid")  # one example: too few to fine-tune
    assert ex.returncode in (0, 1), (ex.stdout, ex.stderr)
    lines = (out / "chat.train.jsonl").read_text().splitlines()
    assert len(lines) == 1
    msgs = json.loads(lines[0])["messages"]
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant"]
    assert msgs[1]["content"] == "hey Eve, I am tired" and msgs[3]["content"] == "thanks"


def test_finetuned_chat_style_sends_the_system_prompt_only(cli, fs, ws):
    r = cli("chat", "--base-url", fs.url, "--style", "chat", "--mode", "finetuned",
            input="hello there\n")
    assert r.returncode == 0, r.stderr
    msgs = fs.requests[-1].body["messages"]
    assert msgs[0]["role"] == "system" and msgs[0]["content"].startswith("You are Eve")
    assert msgs[1:] == [{"role": "user", "content": "hello there"}]


def test_401_mid_conversation_keeps_it_and_exits_3(cli, fs, ws):
    fs.script(["ok", "401"])
    r = cli("chat", "--persona", "eve", "--base-url", fs.url, "--style", "completion",
            input="one\ntwo\n/save\n")
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    assert "the endpoint refused the request: HTTP 401" in r.stderr
    assert "is kept" in r.stderr
    assert "sk-te" not in r.stdout  # (the server's masked key hint stays in the message only)
    m = re.search(r"saved 2 turns as conversation (\w+) in run (\w+)", r.stdout)
    assert m, r.stdout  # the answered part of the conversation was still saved


def test_bad_input(cli, fs, ws):
    r = cli("chat", "--persona", "nobody", "--base-url", fs.url, input="")
    assert r.returncode == 2 and "no persona 'nobody'" in r.stderr and "Traceback" not in r.stderr
    r = cli("chat", "--base-url", fs.url, "--style", "chat", input="/save\n/retry\n/bogus\n")
    assert r.returncode == 0 and "Traceback" not in r.stderr
    assert "nothing to save yet" in r.stderr and "nothing to answer again" in r.stderr
    assert "/bogus: no such command" in r.stderr
    assert not fs.requests


def test_endpoint_down_says_so_and_keeps_the_turn(cli, ws):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = cli("chat", "--base-url", f"http://127.0.0.1:{port}/v1", "--model", "m",
            input="hi\n/save\n")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "no answer: connection failed" in r.stderr and "(1 turns) is kept" in r.stderr
    assert "nothing to save yet" in r.stderr
