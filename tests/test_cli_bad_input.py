"""Bad input from the command line: one line naming file:line: field, exit code 2, no traceback,
and nothing stored is changed."""

from __future__ import annotations

import json

from synth.library.personas import find_persona

from synth.library.topics import find_topics
from synth.models import RunSpec
from synth.dataset.store import Store


def one_error_line(r) -> str:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr + r.stdout
    errors = [l for l in r.stderr.splitlines() if l.startswith("chatsynth: error:")]
    assert len(errors) == 1, r.stderr
    return errors[0]


def test_duplicate_topic_via_cli(workspace, cli):
    path = workspace.topics_dir / "mine.txt"
    path.write_text("one\ntwo\nONE\n")
    line = one_error_line(cli("topics"))
    assert f"{path}:3: topics: duplicate topic" in line


def test_empty_topic_list_via_cli(workspace, cli):
    path = workspace.topics_dir / "empty.yaml"
    path.write_text("persona: eve\ntopics: []\n")
    r = cli("topics")  # valid, listed as empty
    assert r.returncode == 0 and any("empty" in ln and "no topics yet" in ln
                                     for ln in r.stdout.splitlines()), r.stdout + r.stderr
    line = one_error_line(cli("run", "--persona", "eve", "--topics", "empty"))
    assert f"{path}: topics: no topics yet in 'empty'" in line


def test_bad_config_via_cli(workspace, cli):
    cfg = workspace.config_path
    cfg.write_text(cfg.read_text().replace("default_endpoint: local", "default_endpont: local"))
    line = one_error_line(cli("check"))
    assert f"{cfg}:" in line and "default_endpont" in line and "did you mean 'default_endpoint'" in line


def test_store_file_not_ours_via_cli(workspace, cli):
    store = Store(workspace.runs_dir)
    rid = store.open_run(RunSpec.for_persona(find_persona(workspace, "eve"), find_topics(workspace, "eve")))
    path = store.conversations_path(rid)
    foreign = json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n"
    path.write_text(foreign)
    line = one_error_line(cli("runs"))
    assert f"{path}:1: not a chatsynth conversation log" in line
    assert path.read_text() == foreign


def test_store_file_truncated_mid_line_via_cli(workspace, cli):
    store = Store(workspace.runs_dir)
    rid = store.open_run(RunSpec.for_persona(find_persona(workspace, "eve"), find_topics(workspace, "eve")))
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from store_writer import make_conversation

    with store.writer(rid) as w:
        w.append(make_conversation(rid, 0))
    path = store.conversations_path(rid)
    with open(path, "ab") as fh:
        fh.write(b'{"id": "cut-sh')
    r = cli("runs")
    assert r.returncode == 0 and "Traceback" not in r.stderr
    assert "half-written last line" in r.stdout and "1/80" in r.stdout
    assert list((path.parent / "quarantine").iterdir()), "the torn line is set aside, not dropped"


def test_base_url_that_is_not_a_url_is_named_before_any_request(workspace, cli):
    """`run --base-url notaurl` (and judge/brainstorm/batch, which open endpoints the same way)
    names the flag and the rule; it used to go on to a connection error per conversation."""
    for bad, why in (("notaurl", "must start with http:// or https://"), ("http://", "has no host"),
                     ("http://127.0.0.1:port/v1", "has a bad port")):
        line = one_error_line(cli("run", "--persona", "eve", "--topics", "eve", "--base-url", bad,
                                  "--model", "m", "--limit", "1"))
        assert "--base-url: " + why in line and repr(bad) in line, line
    assert Store(workspace.runs_dir).run_ids() == []  # nothing was started
