"""Topic brainstorming headless: `chatsynth topics NAME --brainstorm N` / `--expand TOPIC N`
against the real loopback fault server (chat: a JSON list; completion: a numbered list
continued), the estimate before the request, de-duplication, --yes / --out, the tree, and every
bad answer refused with the topic file left as it was."""

from __future__ import annotations

import pytest

from synth.curate.topic_ideas import dedupe, topic_key
from synth.library.topics import load_topic_source
from tests.faultserver import FaultServer


@pytest.fixture
def fs():
    with FaultServer() as server:
        yield server


def brainstorm(cli, fs, *args, style="chat"):
    return cli("topics", *args, "--base-url", fs.url, "--model", "gpt-4o-mini", "--style", style)


def test_chat_brainstorm_adds_only_new_distinct_topics_with_yes(cli, workspace, fs):
    path = workspace.topics_dir / "eve.txt"
    before = path.read_text()
    old = load_topic_source(path).topics
    r = brainstorm(cli, fs, "eve", "--brainstorm", "4", "--about", "family and health")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.index("estimate: ") < out.index("4 new topics (asked for 4)")
    assert "prompt tokens + at most 200 completion tokens on gpt-4o-mini: at most $0.0" in out
    assert "already in the list" in out and "near-duplicate of" in out and "repeats" in out
    assert path.read_text() == before  # shown, not added, without --yes
    sent = fs.requests[-1].body["messages"][0]["content"]
    assert "Focus on: family and health" in sent and old[-1].text in sent  # the list is shown
    assert "JSON list of 4 strings" in sent
    r = brainstorm(cli, fs, "eve", "--brainstorm", "4", "--yes")
    assert r.returncode == 0, r.stderr
    after = load_topic_source(path).topics
    assert [t.text for t in after[:len(old)]] == [t.text for t in old]
    new = [t.text for t in after[len(old):]]
    assert new == ["I want to start running again after an injury",
                   "My sister and I have not spoken since the wedding",
                   "I freeze whenever my manager asks me a question in meetings",
                   "Moving to a new city where I know nobody"]
    assert path.read_text().startswith(before)  # comments and every old line kept
    # asked again: the model repeats what is there now, and only new ones are added
    r = brainstorm(cli, fs, "eve", "--brainstorm", "2", "--yes")
    assert r.returncode == 0, r.stderr
    assert len(load_topic_source(path).topics) == len(after) + 2


def test_completion_style_continues_a_numbered_list_and_out_writes_a_file(cli, workspace, fs,
                                                                           tmp_path):
    path = workspace.topics_dir / "eve.txt"
    before = path.read_bytes()
    n_old = len(load_topic_source(path).topics)
    out = tmp_path / "ideas.txt"
    r = brainstorm(cli, fs, "eve", "--brainstorm", "5", "--out", str(out), style="completion")
    assert r.returncode == 0, r.stderr
    req = fs.requests[-1]
    assert req.path.endswith("/completions") and "chat" not in req.path
    assert req.prompt.endswith(f"\n{n_old + 1}.") and f"\n{n_old}. " in req.prompt
    assert req.stop[0] == f"\n{n_old + 6}."
    assert path.read_bytes() == before
    lines = out.read_text().splitlines()
    assert lines == ["I want to start running again after an injury",
                     "My sister and I have not spoken since the wedding"]
    r = brainstorm(cli, fs, "eve", "--brainstorm", "5", "--out", str(out), style="completion")
    assert r.returncode == 2 and f"{out}: --out: already exists" in r.stderr


def test_expand_records_the_tree_in_a_text_and_a_yaml_list(cli, workspace, fs):
    path = workspace.topics_dir / "eve.txt"
    parent = load_topic_source(path).topics[1].text
    r = brainstorm(cli, fs, "eve", "--expand", parent.lower(), "3", "--yes")
    assert r.returncode == 0, r.stderr
    assert "3 subtopics of" in r.stdout
    assert f"# subtopics of: {parent}\n" in path.read_text()
    src = load_topic_source(path)
    subs = [t for t in src.topics if t.parent == parent]
    assert [t.text for t in subs] == [
        "At work: i miss the structure i had before i retired",
        "With my family: keeping a budget when my income changes every month",
        "Late at night: my teenage son only talks to me through text messages"]
    # a plain topic added later is not taken for a subtopic
    r = cli("topics", "eve", "--add", "A plain new topic")
    assert r.returncode == 0, r.stderr
    assert load_topic_source(path).topics[-1].parent is None
    # a YAML list records {topic, from}; its comments stay; a reorder keeps the tree
    ypath = workspace.topics_dir / "bank-support.yaml"
    before = ypath.read_text()
    yparent = load_topic_source(ypath).topics[0].text
    r = brainstorm(cli, fs, "bank-support", "--persona", "bank-support", "--expand", yparent,
                   "2", "--yes")
    assert r.returncode == 0, r.stderr
    text = ypath.read_text()
    assert f"from: {yparent}" in text
    assert [ln for ln in before.splitlines() if "#" in ln] == \
        [ln for ln in text.splitlines() if "#" in ln and "from:" not in ln]
    src = load_topic_source(ypath)
    assert [t.parent for t in src.topics[-2:]] == [yparent, yparent]
    from synth.library.files import save_topics
    texts = [t.text for t in src.topics]
    saved = save_topics(src, texts[-1:] + texts[:-1])
    assert saved.topics[0].parent == yparent and saved.topics[1].parent is None
    r = cli("topics", "bank-support", "--rename", saved.topics[0].text, "Renamed subtopic")
    assert r.returncode == 0, r.stderr
    assert load_topic_source(ypath).topics[0].parent == yparent


@pytest.mark.parametrize("mode, message", [
    ("empty", "the model's answer was empty; nothing was added"),
    ("notlist", "the model's answer is not a list (expected a JSON list of strings)"),
    ("badjson", "a JSON list, but not of topics (strings)"),
    ("dupes", "is already in the list or repeats another; nothing was added"),
    ("lines", "nothing was added"),
])
def test_a_bad_answer_is_refused_and_changes_nothing(cli, workspace, fs, mode, message):
    path = workspace.topics_dir / "eve.txt"
    before = path.read_bytes()
    fs.script(f"ideas:{mode}")
    r = brainstorm(cli, fs, "eve", "--brainstorm", "5", "--yes")
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    line = r.stderr.strip().splitlines()[-1]
    assert line.startswith("chatsynth: error: ") and message in line, line
    assert "answer" in line  # the field
    assert path.read_bytes() == before


def test_bad_numbers_and_names_are_refused_before_any_request(cli, workspace, fs):
    path = workspace.topics_dir / "eve.txt"
    before = path.read_bytes()
    cases = [
        (("eve", "--brainstorm", "0"), "--brainstorm: ask for at least 1 topic (got 0)"),
        (("eve", "--brainstorm", "-5"), "--brainstorm: ask for at least 1 topic (got -5)"),
        (("eve", "--brainstorm", "201"), "--brainstorm: at most 200 topics a request"),
        (("eve", "--expand", "no such topic", "3"), "--expand: no topic 'no such topic'"),
        (("eve", "--expand", "x", "many"), "--expand: expected a whole number"),
        (("doc-explainer", "--brainstorm", "3", "--persona", "eve"), "a folder of documents"),
    ]
    for args, needle in cases:
        r = brainstorm(cli, fs, *args)
        assert r.returncode == 2 and "Traceback" not in r.stderr, (args, r.stderr)
        assert needle in r.stderr.strip().splitlines()[-1], (args, r.stderr)
    assert fs.requests == [] or all("topics for" not in q.prompt for q in fs.requests)
    assert path.read_bytes() == before


def test_an_endpoint_error_exits_3(cli, workspace, fs):
    fs.script("401")
    r = brainstorm(cli, fs, "eve", "--brainstorm", "3", "--yes")
    assert r.returncode == 3 and "Incorrect API key" in r.stderr and "Traceback" not in r.stderr


def test_dedupe_uses_case_punctuation_and_the_filters_similarity():
    kept, dropped = dedupe(
        ["Sleep before exams"],
        ["sleep, before EXAMS!", "Talking to my boss about a raise",
         "talking to my boss about a raise soon", "Planning a quiet holiday", "  "])
    assert kept == ["Talking to my boss about a raise", "Planning a quiet holiday"]
    reasons = dict(dropped)
    assert reasons["sleep, before EXAMS!"] == "already in the list"
    assert reasons["talking to my boss about a raise soon"].startswith("near-duplicate of")
    assert topic_key("  Hello,   World! ") == "hello world"
