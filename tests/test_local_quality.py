"""Issue 10's and 11's checks on the embedded model (Gemma 3 270M through llama.cpp, for real):
`run --until-pass 1 --max 3 --judge` runs end to end whatever the tiny model's scores are, and
`topics eve --brainstorm N --yes` adds only new, distinct topics and leaves the file valid with
its comments."""

from __future__ import annotations

import importlib.util
import os
import re

import pytest

from synth.curate.filters import near_duplicate_texts
from synth.curate.topic_ideas import TOPIC_SIMILARITY, topic_key
from synth.library.topics import load_topic_source

HAVE = importlib.util.find_spec("llama_cpp") is not None
if not HAVE and not os.environ.get("CI"):
    pytest.skip("llama-cpp-python is not installed (make test installs it)", allow_module_level=True)

pytestmark = pytest.mark.local_model


def test_until_pass_with_the_judge_runs_end_to_end_on_the_embedded_model(cli, workspace):
    (workspace.topics_dir / "two.txt").write_text(
        "I can't stop checking my phone in bed\nMy sister and I argue about our mother's care\n")
    r = cli("run", "--persona", "eve", "--topics", "two", "--until-pass", "1", "--max", "3",
            "--judge", "--max-tokens", "48", timeout=900)
    out = r.stdout + r.stderr
    assert "Traceback" not in out, out
    # whatever the tiny model wrote and scored: at most 3 written, a judge line, a passing count
    assert r.returncode in (0, 1), out
    m = re.search(r"passing (\d)/1: (.+)", r.stdout)
    assert m, out
    assert (r.returncode == 0) == (m[1] == "1"), out
    assert re.search(r"judge \([^)]+\): judged \d+", r.stdout), out
    stored = int(re.search(r"(\d+) of \d+ stored", r.stdout)[1])
    assert 1 <= stored <= 3, out


def test_brainstorm_adds_only_new_distinct_topics_on_the_embedded_model(cli, workspace):
    path = workspace.topics_dir / "eve.txt"
    before = path.read_text(encoding="utf-8")
    old = [t.text for t in load_topic_source(path).topics]
    r = cli("topics", "eve", "--brainstorm", "10", "--yes", timeout=900)
    out = r.stdout + r.stderr
    assert "Traceback" not in out and r.returncode == 0, out
    after = path.read_text(encoding="utf-8")
    assert after.startswith(before)  # appended: every comment and topic kept as written
    assert [ln for ln in before.splitlines() if ln.startswith("#")] == \
        [ln for ln in after.splitlines() if ln.startswith("#")][:before.count("\n#") + 1]
    now = [t.text for t in load_topic_source(path).topics]  # the file still loads
    assert now[:len(old)] == old
    added = now[len(old):]
    assert len(added) <= 10
    keys = [topic_key(t) for t in now]
    assert all(keys) and len(set(keys)) == len(keys), added  # none equal, case and punctuation aside
    near = [(now[a], now[b], sim) for a, b, sim in near_duplicate_texts(now, TOPIC_SIMILARITY)
            if b >= len(old)]
    assert not near, near  # no added topic is a near-duplicate of an earlier one
