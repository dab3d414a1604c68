"""Personas and topic sources: load, validate, save back; every error names file:line: field."""

from __future__ import annotations

from pathlib import Path

import pytest

from synth.errors import LibraryError
from synth.library.personas import find_persona, load_persona, load_personas, save_persona
from synth.library.topics import (
    find_topics, load_topic_source, load_topic_sources, save_topic_source,
)
from synth.models import Topic

EVE = Path(__file__).resolve().parent.parent / "personas" / "eve.yaml"


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return p


def eve_text() -> str:
    return EVE.read_text()


def test_examples_load(workspace):
    personas, errors = load_personas(workspace)
    assert not errors
    ids = {p.id for p in personas}
    assert {"eve", "bank-support", "socratic-tutor"} <= ids
    sources, errors = load_topic_sources(workspace)
    assert not errors
    counts = {s.id: len(s.topics) for s in sources}
    assert counts["eve"] >= 60 and counts["bank-support"] >= 30 and counts["socratic-tutor"] >= 30
    folder = find_topics(workspace, "doc-explainer")
    assert folder.kind == "folder" and all(t.context for t in folder.topics)


def test_eve_fields():
    eve = load_persona(EVE)
    assert eve.name == "Eve" and eve.persona_label == "EVE" and eve.user_label == "USER"
    assert "{topic}" in eve.synthesis_prompt
    assert eve.rules.patterns, "Eve's own pattern rule is expressed in the file"
    assert eve.stop


def test_yaml_syntax_error_names_line(tmp_path):
    p = write(tmp_path, "bad.yaml", "name: Eve\npersona_label: EVE\nuser_label: [USER\n")
    with pytest.raises(LibraryError) as e:
        load_persona(p)
    msg = str(e.value)
    assert msg.startswith(f"{p}:") and "YAML syntax error" in msg
    assert e.value.line is not None and e.value.line >= 3


def test_unknown_key_typo_is_reported(tmp_path):
    text = eve_text().replace("temperature:", "temprature:")
    p = write(tmp_path, "eve.yaml", text)
    with pytest.raises(LibraryError) as e:
        load_persona(p)
    line = next(i for i, l in enumerate(text.splitlines(), 1) if l.startswith("temprature"))
    assert e.value.line == line and e.value.field == "temprature"
    assert "did you mean 'temperature'" in str(e.value)


def test_wrong_type(tmp_path):
    text = eve_text()
    import re

    text = re.sub(r"(?m)^temperature:.*$", "temperature: warm", text)
    p = write(tmp_path, "eve.yaml", text)
    with pytest.raises(LibraryError) as e:
        load_persona(p)
    assert e.value.field == "temperature" and "expected a number" in str(e.value)


def test_missing_required_field(tmp_path):
    text = "\n".join(l for l in eve_text().splitlines() if not l.startswith("persona_label"))
    p = write(tmp_path, "eve.yaml", text)
    with pytest.raises(LibraryError) as e:
        load_persona(p)
    assert e.value.field == "persona_label" and "required" in str(e.value)


def test_unknown_placeholder(tmp_path):
    text = eve_text().replace("{topic}", "{topik}", 1)
    p = write(tmp_path, "eve.yaml", text)
    with pytest.raises(LibraryError) as e:
        load_persona(p)
    assert e.value.field == "synthesis_prompt" and "{topik}" in str(e.value)
    assert e.value.line is not None


def test_bad_regex_in_rule(tmp_path):
    p = write(tmp_path, "p.yaml", """\
name: X
persona_label: BOT
user_label: USER
system_prompt: hi
synthesis_prompt: "Topic: {topic}\\nUSER:"
rules:
  patterns:
    - name: q
      require_any: ['(unclosed']
""")
    with pytest.raises(LibraryError) as e:
        load_persona(p)
    assert e.value.field == "rules.patterns[0].require_any[0]" and e.value.line == 9


def test_non_utf8(tmp_path):
    p = write(tmp_path, "eve.yaml", b"name: Eve\ndescription: caf\xe9\n")
    with pytest.raises(LibraryError) as e:
        load_persona(p)
    assert "not UTF-8" in str(e.value) and e.value.line == 2


def test_topics_text_duplicate_and_empty(tmp_path):
    p = write(tmp_path, "t.txt", "# header\nfirst topic\n\nsecond topic\nFirst  topic\n")
    with pytest.raises(LibraryError) as e:
        load_topic_source(p)
    assert e.value.line == 5 and "duplicate topic" in str(e.value) and "line 2" in str(e.value)
    empty = write(tmp_path, "e.txt", "# only a comment\n\n")  # valid: no topics yet
    assert load_topic_source(empty).topics == []


def test_topics_yaml_errors(tmp_path):
    p = write(tmp_path, "t.yaml", "topics:\n  - one\n  - {a: 1}\n")
    with pytest.raises(LibraryError) as e:
        load_topic_source(p)
    assert e.value.line == 3 and e.value.field == "topics[1]"
    p = write(tmp_path, "u.yaml", "persona: eve\ntopcs:\n  - one\n")
    with pytest.raises(LibraryError) as e:
        load_topic_source(p)
    assert e.value.field == "topcs" and e.value.line == 2
    p = write(tmp_path, "v.yaml", "topics: []\n")  # an empty list is valid (nothing to run yet)
    assert load_topic_source(p).topics == []


def test_persona_round_trip_keeps_comments(tmp_path):
    p = write(tmp_path, "eve.yaml", eve_text())
    eve = load_persona(p)
    eve.temperature = 0.55
    eve.system_prompt += "\nBe brief."
    save_persona(eve)
    again = load_persona(p)
    assert again.temperature == 0.55 and again.system_prompt.endswith("Be brief.")
    assert again.synthesis_prompt == eve.synthesis_prompt
    changed = [l for l in p.read_text().splitlines() if l not in eve_text().splitlines()]
    assert changed == ["temperature: 0.55", "  Be brief."], "only the edited lines change"
    original_comments = [l.strip() for l in eve_text().splitlines() if l.strip().startswith("#")]
    saved = p.read_text()
    for c in original_comments:
        assert c in saved, f"comment lost on save: {c}"


def test_save_changed_list(tmp_path):
    p = write(tmp_path, "eve.yaml", eve_text())
    eve = load_persona(p)
    eve.stop = eve.stop + ["\nUSER: bye"]
    save_persona(eve)
    assert load_persona(p).stop[-1] == "\nUSER: bye"


def test_save_refuses_invalid(tmp_path):
    p = write(tmp_path, "eve.yaml", eve_text())
    eve = load_persona(p)
    eve.synthesis_prompt = "Talk about {nonsense}"
    with pytest.raises(LibraryError):
        save_persona(eve)
    assert p.read_text() == eve_text(), "a failed save never changes the file"


def test_topic_list_save_round_trip(tmp_path):
    p = write(tmp_path, "t.txt", "# my topics\none\ntwo\n")
    src = load_topic_source(p)
    src.topics.insert(0, Topic(text="zero"))
    save_topic_source(src)
    assert p.read_text() == "# my topics\nzero\none\ntwo\n"
    y = write(tmp_path, "t.yaml", "# comment kept\npersona: eve\ntopics:\n  - a\n  - b\n")
    src = load_topic_source(y)
    src.topics.reverse()
    save_topic_source(src)
    assert "# comment kept" in y.read_text()
    assert [t.text for t in load_topic_source(y).topics] == ["b", "a"]


def test_reordering_a_text_list_keeps_its_subtopic_tree(tmp_path):
    """Saving a text list (the TUI's reorder, edit and delete all do) writes the
    '# subtopics of:' groups again from each topic's parent; they used to be dropped, and every
    subtopic became a plain topic."""
    from synth.library.files import save_topics

    p = write(tmp_path, "t.txt", "# my topics\nwork\nhome\n\n# subtopics of: work\nwork: a boss\n"
                                 "work: a deadline\n")
    src = load_topic_source(p)
    assert [t.parent for t in src.topics] == [None, None, "work", "work"]
    saved = save_topics(src, ["work: a deadline", "work", "home", "work: a boss"])
    assert [(t.text, t.parent) for t in saved.topics] == [
        ("work: a deadline", "work"), ("work", None), ("home", None), ("work: a boss", "work")]
    assert p.read_text() == ("# my topics\n\n# subtopics of: work\nwork: a deadline\n\nwork\nhome\n"
                             "\n# subtopics of: work\nwork: a boss\n")
    saved = save_topics(saved, ["work", "home", "work: a boss", "work: a deadline"])
    assert p.read_text() == ("# my topics\nwork\nhome\n\n# subtopics of: work\nwork: a boss\n"
                             "work: a deadline\n")


def test_find_persona_unknown(workspace):
    with pytest.raises(LibraryError) as e:
        find_persona(workspace, "nobody")
    assert "eve" in str(e.value)


def test_cli_lists_personas_and_topics(workspace, cli):
    r = cli("personas")
    assert r.returncode == 0 and "eve" in r.stdout and "bank-support" in r.stdout
    r = cli("topics")
    assert r.returncode == 0
    assert any(l.split()[:2] == ["eve", "80"] for l in r.stdout.splitlines()[1:]), r.stdout


@pytest.mark.parametrize("content, needle", [
    ("name: Eve\npersona_label: EVE\nuser_label: [\n", "YAML syntax error"),
    (None, "unknown key 'temprature'"),
    (b"name: \xff\n", "not UTF-8"),
])
def test_cli_bad_persona_one_line_exit_2(workspace, cli, content, needle):
    path = workspace.personas_dir / "broken.yaml"
    if content is None:
        content = eve_text().replace("temperature:", "temprature:")
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    r = cli("personas", "broken")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and needle in lines[0] and f"{path}:" in lines[0]


def test_init_never_overwrites(tmp_path, cli):
    target = tmp_path / "w"
    assert cli("init", str(target)).returncode == 0
    (target / "personas" / "eve.yaml").write_text("# mine\n")
    r = cli("init", str(target))
    assert r.returncode == 0 and (target / "personas" / "eve.yaml").read_text() == "# mine\n"


def test_save_multiline_prompt_without_final_newline(tmp_path):
    p = write(tmp_path, "eve.yaml", eve_text())
    eve = load_persona(p)
    eve.synthesis_prompt = "Talk about {topic}.\nNo newline at the end: {user_label}:"
    save_persona(eve)
    assert load_persona(p).synthesis_prompt == eve.synthesis_prompt


def test_init_with_a_relative_folder(tmp_path, cli):
    r = cli("init", "rel-ws", cwd=tmp_path)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert f"workspace: {tmp_path / 'rel-ws'}" in r.stdout and "created chatsynth.yaml" in r.stdout
    assert (tmp_path / "rel-ws" / "personas" / "eve.yaml").exists()


def test_a_duplicate_in_an_edited_list_names_topic_numbers_not_wrong_lines(workspace):
    """Issue 9: saving eve.txt (two comment lines on top) with topic 5 repeating topic 3 said
    "eve.txt:5 ... (first on line 3)": lines counted without the comments, off by two."""
    from synth.library import files as library_files
    from synth.errors import every

    src = load_topic_source(workspace.topics_dir / "eve.txt")
    texts = [t.text for t in src.topics]
    before = (workspace.topics_dir / "eve.txt").read_text()
    with pytest.raises(LibraryError) as e:
        library_files.save_topics(src, texts[:4] + [texts[2]] + texts[4:] + [texts[0]])
    msgs = [str(x) for x in every(e.value)]
    assert len(msgs) == 2
    assert msgs[0].endswith(f"eve.txt: topic 5: duplicate topic {texts[2]!r} (the same as topic 3)")
    assert msgs[1].endswith(f"topic {len(texts) + 2}: duplicate topic {texts[0]!r} (the same as topic 1)")
    assert "line" not in " ".join(msgs)
    assert (workspace.topics_dir / "eve.txt").read_text() == before


def test_estimate_wording_for_one_topic_and_no_price(workspace, cli):
    (workspace.topics_dir / "one.txt").write_text("just one topic\n")
    r = cli("estimate", "--topics", "one", "--endpoint", "openai", "--model", "no-such-model-x")
    assert r.returncode == 0, r.stderr
    assert "(1 topic x 1)" in r.stdout and "1 topics" not in r.stdout
    assert "cost: unknown (no price known)\n" in r.stdout
    assert "at most no price" not in r.stdout
    assert "(1 training example of about" in r.stdout
