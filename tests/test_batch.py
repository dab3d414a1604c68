"""`chatsynth batch ...` as a user runs it: real subprocesses, the real openai SDK against a
loopback Files/Batches server (tests/batchserver.py) that calls the real fault server."""

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
from tests.batchserver import BatchServer
from tests.conftest import REPO
from tests.faultserver import FaultServer


@pytest.fixture
def servers():
    with FaultServer() as fs, BatchServer(fs.url) as bs:
        yield fs, bs


@pytest.fixture
def ws(workspace):
    (workspace.topics_dir / "short.txt").write_text(
        "\n".join(f"short topic {i}" for i in range(8)) + "\n")
    return workspace


def prepare(cli, bs, *extra):
    r = cli("batch", "prepare", "--persona", "eve", "--topics", "short", "--base-url", bs.url,
            "--model", "gpt-4o-mini", *extra)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()[1].rstrip(":")


def stored_ids(ws, run_id):
    path = Store(ws.runs_dir).conversations_path(run_id)
    return [json.loads(x)["id"] for x in path.read_text().splitlines()[1:]]


def test_prepare_submit_status_collect_resubmit_failed_export(cli, ws, servers, tmp_path):
    fs, bs = servers
    run = prepare(cli, bs, "--max-requests", "5")
    folder = Store(ws.runs_dir).run_dir(run) / "batch"
    lines = [json.loads(x) for p in sorted(folder.glob("part-*.jsonl"))
             for x in p.read_text().splitlines()]
    assert len(lines) == 8 and len(list(folder.glob("part-*.jsonl"))) == 2
    assert all(x["url"] == "/v1/completions" and x["body"]["prompt"].endswith("USER:") and "stream" not in x["body"]
               and "stream_options" not in x["body"] for x in lines)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert [p["requests"] for p in manifest["parts"]] == [5, 3]
    bs.upload_429 = 1  # the first upload is told to slow down: retried, not lost
    bs.error_every = 3  # every third request of a batch ends as an error line
    r = cli("batch", "submit", run)
    assert r.returncode == 0, r.stderr
    assert len(bs.batches) == 2
    meta = Store(ws.runs_dir).run_meta(run)["batch_jobs"]
    assert {j["batch_id"] for j in meta.values()} == set(bs.batches)
    bs.retrieve_500 = 1
    r = cli("batch", "status", run, "--wait")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("completed") == 2 and "4/5 done, 1 failed" in r.stdout
    r = cli("batch", "collect", run)
    assert r.returncode == 1  # two failed, listed with the provider's error
    assert r.stdout.count("failed: ") == 2 and "HTTP 500: The server had an error" in r.stdout
    assert "6 conversations stored now" in r.stdout and "holds 6 of 8" in r.stdout
    bs.error_every = None
    r = cli("batch", "submit", run, "--failed")
    assert r.returncode == 0, r.stderr
    assert len(bs.batches) == 3
    retry = [b for b in bs.batches.values() if b["metadata"]["part"].startswith("retry")]
    assert len(retry) == 1
    assert cli("batch", "status", run, "--wait").returncode == 0
    r = cli("batch", "collect", run)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 conversations stored now" in r.stdout and "holds 8 of 8" in r.stdout
    r = cli("batch", "collect", run)  # again: nothing new
    assert "0 conversations stored now" in r.stdout
    ids = stored_ids(ws, run)
    assert len(ids) == 8 and len(set(ids)) == 8
    r = cli("export", run, "--out", str(tmp_path / "out"), "--validation-fraction", "0",
            "--allow-invalid")  # 8 examples are fewer than a fine-tune takes
    assert "exported 8 conversations" in r.stdout, r.stdout + r.stderr
    rows = (tmp_path / "out" / "chat.train.jsonl").read_text().splitlines()
    assert len(rows) == 8 and len(set(rows)) == 8


def test_kill_9_during_submit_leaves_nothing_unknown(cli, ws, servers):
    fs, bs = servers
    run = prepare(cli, bs, "--max-requests", "4")
    bs.create_delay = 5.0  # the batch exists on the server; its answer is late
    env = dict(os.environ, CHATSYNTH_WORKSPACE=str(ws.root))
    proc = subprocess.Popen([sys.executable, "-m", "synth.cli.main", "batch", "submit", run],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not bs.batches and time.monotonic() < deadline:
        time.sleep(0.02)
    assert bs.batches, "the submit never created a batch"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    bs.create_delay = 0.0
    r = cli("batch", "submit", run)
    assert r.returncode == 0, r.stderr
    assert "created before an interruption" in r.stderr
    # one batch per part, each known to the catalog: none made twice, none unknown
    assert len(bs.batches) == 2
    meta = Store(ws.runs_dir).run_meta(run)["batch_jobs"]
    assert {j["batch_id"] for j in meta.values()} == set(bs.batches)
    assert cli("batch", "status", run, "--wait").returncode == 0
    r = cli("batch", "collect", run)
    assert r.returncode == 0 and "holds 8 of 8" in r.stdout
    assert Counter(stored_ids(ws, run)).most_common(1)[0][1] == 1


def test_failed_validation_and_expired_batch_are_listed_and_resubmitted(cli, ws, servers):
    fs, bs = servers
    run = prepare(cli, bs, "--max-requests", "4")
    bs.fail_validation = True  # the first batch fails validation
    assert cli("batch", "submit", run).returncode == 0
    bs.wait_all()
    bs.expire_after = 1  # (applies to the next batch created: the --failed one below)
    r = cli("batch", "collect", run)
    assert "failed validation" in r.stdout and "line 1: The batch failed validation" in r.stdout
    assert "4 conversations stored now" in r.stdout
    r = cli("batch", "submit", run, "--failed")
    assert r.returncode == 0, r.stderr
    bs.wait_all()
    r = cli("batch", "collect", run)
    assert "1 conversation stored now" in r.stdout and "expired" in r.stdout
    assert r.stdout.count("batch_expired") == 0 and "could not be executed" in r.stdout
    r = cli("batch", "submit", run, "--failed")
    bs.wait_all()
    r = cli("batch", "collect", run)
    assert "holds 8 of 8" in r.stdout
    assert len(stored_ids(ws, run)) == 8


def test_status_of_a_batch_the_provider_forgot(cli, ws, servers):
    fs, bs = servers
    run = prepare(cli, bs)
    bs.hold = True
    assert cli("batch", "submit", run).returncode == 0
    bs.forget(next(iter(bs.batches)))
    r = cli("batch", "status", run)
    assert r.returncode == 0 and "lost" in r.stdout and "no longer knows batch" in r.stdout
    r = cli("batch", "submit", run, "--failed")
    assert r.returncode == 0 and len(bs.batches) == 2
    bs.release()
    bs.wait_all()
    r = cli("batch", "collect", run)
    assert "holds 8 of 8" in r.stdout


def test_cancel(cli, ws, servers):
    fs, bs = servers
    run = prepare(cli, bs)
    bs.hold = True
    assert cli("batch", "submit", run).returncode == 0
    r = cli("batch", "cancel", run)
    assert r.returncode == 0 and "cancelling" in r.stdout
    bs.wait_all()
    r = cli("batch", "status", run)
    assert "cancelled" in r.stdout


def test_collect_a_vllm_results_file_with_bad_lines(cli, ws, servers, tmp_path):
    fs, bs = servers
    run = prepare(cli, bs, "--shards", "2")
    folder = Store(ws.runs_dir).run_dir(run) / "batch"
    reqs = [json.loads(x) for p in sorted(folder.glob("part-*.jsonl"))
            for x in p.read_text().splitlines()]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert sorted({p["shard"] for p in manifest["parts"]}) == [1, 2]

    def answer(req, n):  # what vllm run-batch writes: one line per request
        body = {"id": f"cmpl-{n}", "object": "text_completion", "model": "gpt-4o-mini",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "text": " hello there about it.\nEVE: How can I help?\n"
                                     "USER: with this.\nEVE: Sure.\nEND OF CONVERSATION\nTopic: x"}],
                "usage": {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70}}
        return json.dumps({"id": f"vllm-{n}", "custom_id": req["custom_id"],
                           "response": {"status_code": 200, "request_id": f"r{n}", "body": body},
                           "error": None})

    lines = [answer(reqs[0], 0), answer(reqs[1], 1),
             answer({"custom_id": "not-ours"}, 2),  # line 3: unknown custom_id
             "{this is not json",  # line 4
             answer(reqs[0], 3),  # line 5: duplicated
             json.dumps({"custom_id": reqs[2]["custom_id"], "response": {
                 "status_code": 200, "body": {"id": "x", "choices": []}}, "error": None}),  # 6
             answer(reqs[3], 4),
             answer(reqs[4], 5)[:40]]  # line 8: truncated, no newline
    out = tmp_path / "out-1.jsonl"
    out.write_text("\n".join(lines))
    r = cli("batch", "collect", run, "--from", str(out))
    assert "Traceback" not in r.stderr
    assert r.returncode == 1
    assert f"{out}:3: custom_id: 'not-ours' is not a conversation of run" in r.stderr
    assert f"{out}:4: not JSON" in r.stderr
    assert f"{out}:5: custom_id: {reqs[0]['custom_id']} is duplicated (first at {out}:1)" in r.stderr
    assert f"{out}:6: response.body: the answer's body has no choices" in r.stderr
    assert f"{out}:8: a truncated last line" in r.stderr
    assert "3 conversations stored now" in r.stdout
    ids = stored_ids(ws, run)
    assert sorted(ids) == sorted([reqs[0]["custom_id"], reqs[1]["custom_id"], reqs[3]["custom_id"]])
    convs = Store(ws.runs_dir).load(run).conversations
    c = next(x for x in convs if x.id == reqs[0]["custom_id"])
    assert c.raw_text.endswith("Topic: x") and [t.role for t in c.turns] == [
        "user", "assistant", "user", "assistant"]  # trimmed at the stop, turns parsed
    assert c.usage.prompt_tokens == 50 and c.cost is not None
    r = cli("batch", "collect", run, "--from", str(out))
    assert "0 conversations stored now, 3 already stored" in r.stdout
    assert len(stored_ids(ws, run)) == 3
    # the streaming engine writes the rest: the run is resumable as it is
    r = cli("run", "--persona", "eve", "--topics", "short", "--base-url", bs.url.replace(
        bs.url, fs.url), "--model", "gpt-4o-mini", "-q")
    assert "Traceback" not in r.stderr


def test_a_request_over_the_size_limit_is_refused(cli, ws, servers):
    fs, bs = servers
    r = cli("batch", "prepare", "--persona", "eve", "--topics", "short", "--base-url", bs.url,
            "--model", "gpt-4o-mini", "--max-bytes", "200")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "bytes, over the limit of 200 bytes per file" in r.stderr


def test_a_persona_changed_since_prepare_is_refused(cli, ws, servers):
    fs, bs = servers
    run = prepare(cli, bs)
    path = ws.personas_dir / "eve.yaml"
    text = path.read_text()
    name_line = next(ln for ln in text.splitlines() if ln.startswith("name:"))
    path.write_text(text.replace(name_line, "name: Evelyn", 1))  # the pattern changed
    r = cli("batch", "submit", run)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "persona 'eve' changed since run" in r.stderr and "eve.yaml" in r.stderr
    assert not bs.batches
