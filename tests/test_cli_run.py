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


@pytest.fixture
def fs():
    with FaultServer() as server:
        yield server


@pytest.fixture
def ws(workspace):
    (workspace.topics_dir / "short.txt").write_text(
        "\n".join(f"short topic {i}" for i in range(8)) + "\n")
    return workspace


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
        cmd = [sys.executable, "-m", "synth.cli.main", "run", "--topics", "short", "--base-url",
               slow.url, "--model", "fault-model", "--concurrency", "2"]
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
