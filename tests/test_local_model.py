"""The embedded model for real: llama-cpp-python's server with Gemma 3 270M on loopback."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from dataclasses import replace

import httpx
import pytest

from synth.generate.endpoints import EndpointSession
from synth.generate.engine import Engine, EngineOptions
from synth.generate.events import Chunk, ConversationFinished, RunFinished
from synth.library.personas import load_persona
from synth.library.topics import load_topic_source
from synth.models import SAMPLING_FIELDS, RunSpec
from synth.dataset.store import Store
from synth.library.workspace import Config
from tests.conftest import REPO

HAVE = importlib.util.find_spec("llama_cpp") is not None
if not HAVE and not os.environ.get("CI"):
    pytest.skip("llama-cpp-python is not installed (make test installs it)", allow_module_level=True)

pytestmark = pytest.mark.local_model


@pytest.fixture(scope="module")
def local_ep():
    session = EndpointSession(Config(), name="local")
    ep = session.open()
    yield ep
    session.close()


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_gone(pid: int, timeout: float = 15) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


async def test_a_run_with_the_embedded_model(local_ep, tmp_path):
    assert "small offline demo model" in local_ep.label
    # the stop search on real model output: Eve without her example and sampling values, whose
    # first 32 tokens reach a "\nUSER:" line (with them, the longer opening turns may not)
    persona = replace(load_persona(REPO / "personas" / "eve.yaml"), examples=[],
                      **{k: None for k in SAMPLING_FIELDS})
    topics = load_topic_source(REPO / "topics" / "eve.txt")
    topics.topics = topics.topics[:6]
    local_ep.max_stop = 0  # apply every stop client-side, so we can see which one fired
    spec = RunSpec.for_persona(persona, topics, endpoint="local", model=local_ep.model,
                               max_tokens=32, temperature=0.7, seed=7, concurrency=2,
                               stop=["\nUSER:", "\nUser:", "END OF CONVERSATION"])
    store = Store(tmp_path / "runs")
    events = []
    async for ev in Engine(store, local_ep, options=EngineOptions()).run(spec):
        events.append(ev)
    fin = events[-1]
    assert isinstance(fin, RunFinished) and fin.done == 6, fin
    assert sum(isinstance(e, Chunk) for e in events) >= 6
    convs = [e.conversation for e in events if isinstance(e, ConversationFinished)]
    assert len(convs) == 6
    for c in convs:
        assert c.raw_text and c.turns and c.turns[0].role == "user"
        assert c.usage.completion_tokens > 0 and c.usage.prompt_tokens > 50
        assert c.finish_reason in ("stop", "length")
    stopped = [c for c in convs if c.trim.stop]
    assert stopped, [c.raw_text for c in convs]
    for c in stopped:
        assert c.raw_text[c.trim.at:].startswith(c.trim.stop)
        assert c.finish_reason == "stop"
    # a second start of the same spec writes nothing new
    size = store.conversations_path(spec.run_id).stat().st_size
    events = [ev async for ev in Engine(store, local_ep).run(spec)]
    assert events[0].already_done == 6 and events[0].to_write == 0 and events[-1].done == 6
    assert store.conversations_path(spec.run_id).stat().st_size == size


def _streamed_text(base_url: str, prompt: str, leave_after: int | None = None) -> str:
    """A streamed completion's text, read event by event; ``leave_after`` events, then the
    connection is closed as a client that goes away closes it."""
    body = {"prompt": prompt, "max_tokens": 40, "temperature": 0, "seed": 1, "stream": True}
    parts = []
    with httpx.stream("POST", base_url + "/completions", json=body, timeout=120) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            parts.append(json.loads(line[6:])["choices"][0]["text"])
            if leave_after is not None and len(parts) >= leave_after:
                break
    return "".join(parts)


def test_a_stream_left_early_frees_the_model_for_the_next_request(local_ep):
    """The server reads the model ahead of what it has sent (local_readahead.py); a client that
    leaves mid-stream stops that, and the next request gets the model to itself."""
    prompt = "USER: Give me three tips for sleeping better.\nASSISTANT:"
    whole = _streamed_text(local_ep.base_url, prompt)
    assert len(whole) > 20
    for _ in range(3):
        assert _streamed_text(local_ep.base_url, prompt, leave_after=3)
        assert _streamed_text(local_ep.base_url, prompt) == whole


def test_server_stops_with_the_session(tmp_path):
    session = EndpointSession(Config(), name="local")
    ep = session.open()
    pid = session.server.pid
    assert httpx.get(ep.base_url + "/models", timeout=5).status_code == 200
    session.close()
    assert _wait_gone(pid)


def test_server_computes_logits_only_where_llama_does():
    """llama_cpp's server defaults to logits for every prompt token (logits_all), which doubled
    the evaluation of each new prompt with Gemma's 262k-token vocabulary (bench_local.py: 0.889x
    llama-cpp-python direct).  chatsynth never asks for logprobs: the server runs with
    llama_cpp.Llama's own default, and still answers."""
    import inspect

    import llama_cpp

    session = EndpointSession(Config(), name="local")
    ep = session.open()
    try:
        args = list(session.server.proc.args)
        assert args[args.index("--logits_all") + 1] == "False"
        assert inspect.signature(llama_cpp.Llama).parameters["logits_all"].default is False
        r = httpx.post(ep.base_url + "/completions", json={"prompt": "Hello", "max_tokens": 2,
                                                           "temperature": 0}, timeout=60)
        assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] > 0
    finally:
        session.close()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_no_orphan_server_when_the_cli_dies(workspace, sig):
    (workspace.topics_dir / "one.txt").write_text("a topic\n")
    proc = subprocess.Popen([sys.executable, "-m", "synth.cli.main", "run", "--topics", "one",
                             "--max-tokens", "400"], cwd=REPO, env=dict(os.environ),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    child = None
    end = time.monotonic() + 90
    while time.monotonic() < end and child is None:
        kids = [k for k in _children(proc.pid)
                if b"synth.generate.local" in Path(f"/proc/{k}/cmdline").read_bytes()]
        child = kids[0] if kids else None
        time.sleep(0.1)
    assert child, "the local server never started"
    # wait until it serves, so the kill lands mid-run
    runs = workspace.runs_dir
    while time.monotonic() < end and not list(runs.glob("*/conversations.jsonl")):
        time.sleep(0.1)
    os.kill(proc.pid, sig)
    rc = proc.wait(30)
    assert _wait_gone(child), "the llama.cpp server outlived chatsynth"
    if sig == signal.SIGINT:
        assert rc == 130
        err = proc.stderr.read().decode()
        assert "Traceback" not in err


def test_cli_run_with_no_configuration_uses_the_embedded_model(cli, workspace):
    (workspace.root / "chatsynth.yaml").write_text("endpoints: []\n")  # nothing configured
    r = cli("run", "--persona", "eve", "--topics", "eve", "--per-topic", "1", "--limit", "2",
            "--max-tokens", "16", timeout=300)
    assert r.returncode == 0, r.stderr
    assert "small offline demo model" in r.stderr
    assert "2 of 80 stored" in r.stdout
    path = Path(next(ln.split("stored in:")[1].strip() for ln in r.stdout.splitlines()
                     if "stored in:" in ln))
    recs = [json.loads(x) for x in path.read_text().splitlines()[1:]]
    assert len(recs) == 2 and all(x["model"] == "gemma-3-270m" and x["raw_text"] for x in recs)


def test_cli_roleplay_of_eve_on_the_embedded_model(cli, workspace):
    """Role-play offline: Eve's shipped user_simulator, completion style, each turn a request to
    the embedded model stopping at the other speaker's label."""
    r = cli("run", "--persona", "eve", "--topics", "eve", "--limit", "1", "--endpoint", "local",
            "--method", "roleplay", "-q", timeout=600)
    assert r.returncode == 0, r.stderr
    path = Path(next(ln.split("stored in:")[1].strip() for ln in r.stdout.splitlines()
                     if "stored in:" in ln))
    (rec,) = [json.loads(x) for x in path.read_text().splitlines()[1:]]
    roles = [t["role"] for t in rec["turns"]]
    assert rec["params"]["method"] == "roleplay" and rec["model"] == "gemma-3-270m"
    assert roles[0] == "user" and roles[-1] == "assistant" and len(roles) >= 2
    assert all(a != b for a, b in zip(roles, roles[1:]))
    assert not any(t["text"].startswith(("USER:", "EVE:")) for t in rec["turns"])
    side = rec["params"]["usage_by_side"]
    assert side["user"]["completion_tokens"] > 0 and side["assistant"]["completion_tokens"] > 0
