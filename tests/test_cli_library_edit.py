"""Headless library edits, as the Library screen does them: `personas NAME --set key=value`,
`topics NAME --remove / --rename`, and a new topic list that starts empty.  Real subprocesses;
every refusal exits 2, names file:line: field and leaves the file as it was."""

from __future__ import annotations

from synth.library.personas import load_persona

from synth.library.topics import load_topic_source


def error_line(r) -> str:
    assert r.returncode == 2 and "Traceback" not in r.stderr, (r.returncode, r.stderr)
    return r.stderr.strip().splitlines()[-1]


def test_personas_set_changes_fields_and_keeps_comments(workspace, cli):
    path = workspace.personas_dir / "eve.yaml"
    before = path.read_text()
    r = cli("personas", "eve", "--set", "temperature=0.5", "--set", "description=A calm coach.",
            "--set", "max_tokens=300")
    assert r.returncode == 0, r.stderr
    p = load_persona(path)
    assert (p.temperature, p.description, p.max_tokens) == (0.5, "A calm coach.", 300)
    after = path.read_text()
    for comment in ("# Eve: a digital life coach", "# speaker label Eve uses in transcripts",
                    "# base models continue the transcript"):
        assert comment in before and comment in after
    r = cli("personas", "eve", "--set", 'stop=["END", "USER:"]')
    assert r.returncode == 0, r.stderr
    assert load_persona(path).stop == ["END", "USER:"]


def test_personas_set_refusals_change_nothing(workspace, cli):
    path = workspace.personas_dir / "eve.yaml"
    before = path.read_bytes()
    line = next(i for i, ln in enumerate(before.decode().splitlines(), 1)
                if ln.startswith("temperature:"))
    cases = [
        (("--set", "temperature=abc"), f"{path}:{line}: temperature: expected a number"),
        (("--set", "temperature=5"), f"{path}:{line}: temperature: must be between 0 and 2"),
        (("--set", "temprature=1"), f"{path}: temprature: unknown key 'temprature' (did you mean "
                                    "'temperature'?)"),
        (("--set", "description=ok", "--set", "max_tokens=-3"), f"{path}:"),  # all or nothing
        (("--set", "persona_label=USER"), "user_label: persona_label and user_label must differ"),
        (("--set", "stop=[unclosed"), f"{path}: stop: not a valid value"),
        (("--set", "no-equals-sign"), "--set: expected key=value"),
    ]
    for args, needle in cases:
        line_out = error_line(cli("personas", "eve", *args))
        assert needle in line_out, (args, line_out)
        assert path.read_bytes() == before, args
    assert "max_tokens" in error_line(cli("personas", "eve", "--set", "max_tokens=-3"))


YAML_LIST = """\
# my list
persona: eve  # who it is for
topics:
  - sleep before exams   # the first one
  - moving city
  - a third  # the last one
"""


def test_topics_remove_and_rename_keep_comments(workspace, cli):
    path = workspace.topics_dir / "mine.yaml"
    path.write_text(YAML_LIST)
    r = cli("topics", "mine", "--remove", "Moving  City")  # case and spacing don't count
    assert r.returncode == 0, r.stderr
    assert [t.text for t in load_topic_source(path).topics] == ["sleep before exams", "a third"]
    r = cli("topics", "mine", "--rename", "a third", "a brand new third")
    assert r.returncode == 0, r.stderr
    text = path.read_text()
    assert [t.text for t in load_topic_source(path).topics] == ["sleep before exams",
                                                                "a brand new third"]
    for comment in ("# my list", "# who it is for", "# the first one", "# the last one"):
        assert comment in text
    # a text list: comment lines stay where they are
    txt = workspace.topics_dir / "eve.txt"
    lines = txt.read_text().splitlines()
    first = next(ln for ln in lines if ln and not ln.startswith("#"))
    r = cli("topics", "eve", "--rename", first, "thesis procrastination")
    assert r.returncode == 0, r.stderr
    assert txt.read_text().splitlines() == [("thesis procrastination" if ln == first else ln)
                                            for ln in lines]
    r = cli("topics", "eve", "--remove", "thesis procrastination")
    assert r.returncode == 0, r.stderr
    assert txt.read_text().splitlines() == [ln for ln in lines if ln != first]


def test_topics_remove_and_rename_refusals(workspace, cli):
    path = workspace.topics_dir / "mine.yaml"
    path.write_text(YAML_LIST)
    cases = [
        (("--remove", "not there"), f"{path}: topics: no topic 'not there' in this list"),
        (("--rename", "not there", "x"), f"{path}: topics: no topic 'not there'"),
        (("--rename", "a third", "SLEEP before exams"),
         f"{path}: topics: 'sleep before exams' is already in the list (line 4); nothing was "
         "renamed"),
        (("--rename", "a third", "  "), f"{path}: topics: the new topic is empty"),
    ]
    for args, needle in cases:
        assert needle in error_line(cli("topics", "mine", *args)), args
        assert path.read_text() == YAML_LIST, args
    docs = workspace.topics_dir / "doc-explainer"
    assert "a folder of documents" in error_line(cli("topics", "doc-explainer", "--remove", "x"))
    assert docs.is_dir()


def test_a_new_topic_list_starts_empty_is_valid_and_is_not_run(workspace, cli):
    r = cli("topics", "fresh", "--new")
    assert r.returncode == 0 and "no topics yet" in r.stdout, r.stderr
    path = workspace.topics_dir / "fresh.yaml"
    assert load_topic_source(path).topics == []
    assert "A first topic" not in path.read_text()
    assert cli("check").returncode == 0
    r = cli("topics")
    assert r.returncode == 0 and any("fresh" in ln and "no topics yet" in ln
                                     for ln in r.stdout.splitlines()), r.stdout
    r = cli("topics", "fresh")
    assert r.returncode == 0 and "no topics yet" in r.stdout
    line = error_line(cli("run", "--persona", "eve", "--topics", "fresh", "--base-url",
                          "http://127.0.0.1:9/v1", "--model", "m"))
    assert f"{path}: topics: no topics yet in 'fresh'; add some first" in line
    assert not any(workspace.runs_dir.glob("*/spec.json"))  # nothing was started
    r = cli("topics", "fresh", "--add", "a real topic")
    assert r.returncode == 0 and [t.text for t in load_topic_source(path).topics] == ["a real topic"]
