"""`chatsynth run` and `chatsynth runs` as a user runs them: real subprocesses, real sockets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from synth.dataset.store import Store
from tests.conftest import REPO
from tests.faultserver import FaultServer


def one_line_error(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = [ln for ln in stderr.strip().splitlines() if ln.startswith("chatsynth:")]
    assert lines, stderr
    return lines[-1]


def test_run_against_any_openai_compatible_url(cli, ws, fs):
    r = cli("run", "--persona", "eve", "--topics", "short", "--limit", "5",
            "--base-url", fs.url, "-q")
    assert r.returncode == 0, r.stderr
    assert "5 of 8 stored" in r.stdout
    path = next(ln.split("stored in:")[1].strip() for ln in r.stdout.splitlines() if "stored in:" in ln)
    lines = open(path).read().splitlines()[1:]
    assert len(lines) == 5
    assert all(json.loads(x)["model"] == "fault-model" for x in lines)  # picked from /v1/models
    r = cli("runs")
    assert r.returncode == 0 and "5/8" in r.stdout and "fault-model" in r.stdout
    # the same command again resumes: only the missing 3
    r = cli("run", "--persona", "eve", "--topics", "short", "--base-url", fs.url, "-q")
    assert r.returncode == 0 and "8 of 8 stored" in r.stdout
    assert len(fs.requests) == 8


def test_401_exits_3_with_the_servers_message(cli, ws, fs):
    fs.default = "401"
    r = cli("run", "--topics", "short", "--base-url", fs.url, "--model", "m")
    assert r.returncode == 3, r.stderr
    msg = one_line_error(r.stderr)
    assert "Incorrect API key provided" in msg
    assert len(fs.requests) <= 4


def test_everything_failing_exits_4(cli, ws, fs):
    fs.default = "503"
    r = cli("run", "--topics", "short", "--base-url", fs.url, "--model", "m",
            "--pause-after", "0.5", "--max-attempts", "100", "--concurrency", "2")
    assert r.returncode == 4, r.stderr
    assert "every request is failing" in one_line_error(r.stderr)


def test_budget_exits_5_before_exceeding(cli, ws, fs):
    r = cli("run", "--topics", "short", "--base-url", fs.url, "--model", "gpt-4o-mini",
            "--budget", "0.0003", "--max-tokens", "150", "--concurrency", "1", "-q")
    assert r.returncode == 5, r.stderr
    spent = float(r.stdout.split("cost $")[1].split(";")[0])
    assert 0 < spent <= 0.0003 and "8 of 8" not in r.stdout
    assert "budget" in one_line_error(r.stderr)


@pytest.mark.parametrize("args, needle", [
    (["--persona", "nobody"], "no persona 'nobody'"),
    (["--topics", "nothing"], "no topic source 'nothing'"),
    (["--concurrency", "0"], "--concurrency: must be between 1 and 1000, not 0"),
    (["--endpoint", "nowhere"], "no endpoint named 'nowhere'"),
])
def test_bad_input_is_one_line_exit_2(cli, ws, args, needle):
    r = cli("run", "--topics", "short", *args)
    assert r.returncode == 2
    assert needle in one_line_error(r.stderr)


def test_missing_key_says_how_to_store_it(cli, ws):
    env = {"OPENAI_API_KEY": "", "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    r = cli("run", "--topics", "short", "--endpoint", "openai", env=env)
    assert r.returncode == 2
    msg = one_line_error(r.stderr)
    assert "no API key" in msg and "OPENAI_API_KEY" in msg


def test_unreachable_url_is_one_line(cli, ws):
    r = cli("run", "--topics", "short", "--base-url", "http://127.0.0.1:9/v1")
    assert r.returncode == 2
    assert "can't reach" in one_line_error(r.stderr)


def test_sigkill_mid_run_then_restart_gives_exactly_the_target(ws):
    n = 12
    (ws.topics_dir / "kill.txt").write_text("\n".join(f"kill topic {i}" for i in range(n)) + "\n")
    with FaultServer(chunk_delay=0.01) as slow:  # about 1.2 s a conversation
        cmd = [sys.executable, "-m", "synth.cli.main", "run", "--topics", "kill", "--base-url",
               slow.url, "--model", "fault-model", "--concurrency", "3", "-q"]
        env = dict(os.environ)
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        store = Store(ws.runs_dir)
        deadline = time.monotonic() + 60
        run_id = None
        while time.monotonic() < deadline:
            runs = list(ws.runs_dir.glob("*/conversations.jsonl"))
            if runs:
                run_id = runs[0].parent.name
                if len(store.finished_ids(run_id)) >= 3:
                    break
            time.sleep(0.05)
        assert run_id, "the run never started"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        done_before = len(store.finished_ids(run_id))
        assert 3 <= done_before < n
        r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
    res = store.load(run_id)
    complete = [c for c in res.conversations if c.status == "complete"]
    assert len(complete) == n
    lines = store.conversations_path(run_id).read_text().splitlines()[1:]
    ids = Counter(json.loads(x)["id"] for x in lines if x.strip())
    assert len(ids) == n and set(ids.values()) == {1}  # no conversation written twice
    # the restart asked only for what was missing
    asked = Counter(r.prompt for r in slow.requests)
    assert sum(asked.values()) <= n + 3  # at most the 3 that were in flight at the kill


def test_interrupt_without_a_stream_stores_nothing_partial_and_resumes(ws):
    """Without a stream nothing has come in before the answer: a Ctrl+C mid-request stores
    nothing for it, exits 130, sends nothing more, and the next start writes every one."""
    with FaultServer(chunk_delay=0.05) as slow:  # each answer takes ~3 s to come
        cmd = [sys.executable, "-m", "synth.cli.main", "run", "--topics", "short", "--base-url",
               slow.url, "--model", "fault-model", "--concurrency", "2", "--no-stream"]
        proc = subprocess.Popen(cmd, cwd=REPO, env=dict(os.environ), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        end = time.monotonic() + 30
        while time.monotonic() < end and len(slow.requests) < 2:
            time.sleep(0.05)
        time.sleep(0.5)
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        n = len(slow.requests)
        time.sleep(0.3)
        assert len(slow.requests) == n
        assert all(r.body["stream"] is False for r in slow.requests)
        assert proc.returncode == 130, err
        assert "Traceback" not in err and "cancelled" in out
        run_id = next(ws.runs_dir.glob("*/conversations.jsonl")).parent.name
        assert Store(ws.runs_dir).load(run_id).conversations == []
        slow.chunk_delay = 0.0
        r = subprocess.run(cmd, cwd=REPO, env=dict(os.environ), capture_output=True, text=True,
                           timeout=60)
    assert r.returncode == 0, r.stderr
    convs = Store(ws.runs_dir).load(run_id).conversations
    assert len(convs) == 8 and all(c.status == "complete" for c in convs)


def test_no_stream_by_default_when_stdout_is_not_a_terminal(cli, ws, fs):
    """A piped run asks for whole answers; --stream streams; the stops still cut the text."""
    r = cli("run", "--topics", "short", "--limit", "2", "--base-url", fs.url, "-q",
            "--stop", "END OF CONVERSATION")
    assert r.returncode == 0, r.stderr
    assert [q.body["stream"] for q in fs.requests] == [False, False]
    assert all("stream_options" not in q.body for q in fs.requests)
    r = cli("run", "--topics", "short", "--limit", "1", "--base-url", fs.url, "-q",
            "--stop", "END OF CONVERSATION", "--stream")
    assert r.returncode == 0, r.stderr
    assert [q.body["stream"] for q in fs.requests] == [False, False, True]
    path = next(ln.split("stored in:")[1].strip() for ln in r.stdout.splitlines() if "stored in:" in ln)
    recs = [json.loads(x) for x in open(path).read().splitlines()[1:]]
    assert len(recs) == 3 and all(len(c["turns"]) == 6 and c["usage"]["source"] == "server"
                                  for c in recs)


def test_who_chooses_stream_or_not():
    from synth.cli.run import wants_stream

    assert wants_stream(None, True, ["a"], ["a"]) is True  # a terminal: someone watches
    assert wants_stream(None, False, ["a"], ["a"]) is False  # piped: whole answers
    assert wants_stream(None, False, ["a", "b"], ["a"]) is True  # "b" must cut it early here
    assert wants_stream(None, False, ["", "a"], ["a"]) is False  # an empty stop is no stop
    assert wants_stream(False, True, ["a", "b"], ["a"]) is False  # --no-stream wins
    assert wants_stream(True, False, [], []) is True  # --stream wins


def test_stops_the_server_is_not_sent_keep_the_stream(cli, ws, fs):
    """An endpoint that takes one stop sequence: the other must cut the answer on our side as
    it streams in, so a piped run streams anyway, and --no-stream trims it after the fact."""
    r = cli("endpoint", "add", "one-stop", "--base-url", fs.url, "--model", "fault-model",
            "--max-stop", "1")
    assert r.returncode == 0, r.stderr
    fs.honour_stop = False  # the server runs on past its stop: only ours cut the text
    stops = ("--stop", "\\nEVE:", "--stop", "END OF CONVERSATION")
    r = cli("run", "--topics", "short", "--limit", "1", "--endpoint", "one-stop", "-q", *stops)
    assert r.returncode == 0, r.stderr
    r = cli("run", "--topics", "short", "--limit", "1", "--endpoint", "one-stop", "-q",
            "--no-stream", *stops)
    assert r.returncode == 0, r.stderr
    assert [q.body["stream"] for q in fs.requests] == [True, False]
    assert all(q.stop == ["\nEVE:"] for q in fs.requests)
    path = next(ln.split("stored in:")[1].strip() for ln in r.stdout.splitlines() if "stored in:" in ln)
    recs = [json.loads(x) for x in open(path).read().splitlines()[1:]]
    assert len(recs) == 2
    for c in recs:
        assert c["trim"]["stop"] == "\nEVE:" and len(c["turns"]) == 1, c["trim"]


def test_stop_flags_reach_the_server_and_the_store(cli, ws, fs):
    r = cli("run", "--topics", "short", "--limit", "1", "--base-url", fs.url, "-q",
            "--stop", "\\nEVE:", "--stop", "END OF CONVERSATION")
    assert r.returncode == 0, r.stderr
    assert fs.requests[0].stop == ["\nEVE:", "END OF CONVERSATION"]
    path = next(ln.split("stored in:")[1].strip() for ln in r.stdout.splitlines() if "stored in:" in ln)
    rec = json.loads(open(path).read().splitlines()[1])
    assert rec["params"]["stop"] == ["\nEVE:", "END OF CONVERSATION"]
    assert len(rec["turns"]) == 1  # the server stopped before EVE's first turn


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_ends_cleanly_with_partial_conversations_kept(ws, sig):
    with FaultServer(chunk_delay=0.02) as slow:
        # --stream: stdout is a pipe here, which would otherwise ask for whole answers
        cmd = [sys.executable, "-m", "synth.cli.main", "run", "--topics", "short", "--base-url",
               slow.url, "--model", "fault-model", "--concurrency", "2", "--stream"]
        proc = subprocess.Popen(cmd, cwd=REPO, env=dict(os.environ), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        end = time.monotonic() + 30
        while time.monotonic() < end and len(slow.requests) < 2:
            time.sleep(0.05)
        time.sleep(0.5)  # mid-stream
        os.kill(proc.pid, sig)
        out, err = proc.communicate(timeout=30)
        n = len(slow.requests)
        time.sleep(0.3)
        assert len(slow.requests) == n
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "cancelled" in out
    run_id = next(ws.runs_dir.glob("*/conversations.jsonl")).parent.name
    convs = Store(ws.runs_dir).load(run_id).conversations
    assert convs and all(c.status == "partial" for c in convs)
