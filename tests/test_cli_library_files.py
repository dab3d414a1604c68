"""`chatsynth personas` and `chatsynth topics` change the library headless, as the Library
screen does: create, copy, rename, delete; add and import topics.  Real subprocesses."""

from __future__ import annotations

from synth.library.personas import load_persona

from synth.library.topics import load_topic_source


def test_persona_new_copy_rename_delete(workspace, cli):
    pdir = workspace.personas_dir
    r = cli("personas", "coach", "--new")
    assert r.returncode == 0 and (pdir / "coach.yaml").exists(), r.stderr
    assert cli("check").returncode == 0  # the template is a valid persona
    r = cli("personas", "eve", "--copy-to", "eve2")
    assert r.returncode == 0 and (pdir / "eve2.yaml").read_text() == (pdir / "eve.yaml").read_text()
    r = cli("personas", "eve2", "--rename-to", "evelyn")
    assert r.returncode == 0 and not (pdir / "eve2.yaml").exists()
    assert load_persona(pdir / "evelyn.yaml").name == "Eve"
    r = cli("personas", "evelyn", "--delete")  # not without --yes
    assert r.returncode == 2 and "--yes" in r.stderr and (pdir / "evelyn.yaml").exists()
    assert cli("personas", "evelyn", "--delete", "--yes").returncode == 0
    assert not (pdir / "evelyn.yaml").exists()


def test_persona_changes_never_overwrite(workspace, cli):
    pdir = workspace.personas_dir
    before = {p.name: p.read_bytes() for p in pdir.iterdir()}
    for args, needle in ((("personas", "eve", "--copy-to", "socratic-tutor"), "already exists"),
                         (("personas", "eve", "--rename-to", "bad name"), "letters, digits"),
                         (("personas", "eve", "--new"), "already exists"),
                         (("personas", "nobody", "--copy-to", "x"), "nobody"),
                         (("personas", "--new"), "name the persona")):
        r = cli(*args)
        assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
    assert {p.name: p.read_bytes() for p in pdir.iterdir()} == before


def test_topics_new_add_import_delete(workspace, cli, tmp_path):
    path = workspace.topics_dir / "mine.yaml"
    assert cli("topics", "mine", "--new").returncode == 0 and path.exists()
    r = cli("topics", "mine", "--add", "Feeling stuck", "--add", "Moving  abroad")
    assert r.returncode == 0, r.stderr
    assert [t.text for t in load_topic_source(path).topics][-2:] == ["Feeling stuck", "Moving abroad"]
    r = cli("topics", "mine", "--add", "feeling stuck")  # the same topic, other case
    assert r.returncode == 2 and "already in the list" in r.stderr
    imp = tmp_path / "more.txt"
    imp.write_text("# a comment\nLearning to say no\n\nMoving abroad\n", encoding="utf-8")
    r = cli("topics", "mine", "--import", str(imp))
    assert r.returncode == 0 and "added 1 topic" in r.stdout and "1 already there" in r.stdout
    assert load_topic_source(path).topics[-1].text == "Learning to say no"
    r = cli("topics", "doc-explainer", "--add", "x")
    assert r.returncode == 2 and "folder of documents" in r.stderr
    r = cli("topics", "mine", "--import", str(tmp_path / "missing.txt"))
    assert r.returncode == 2 and "no such file" in r.stderr
    assert cli("topics", "mine", "--delete", "--yes").returncode == 0 and not path.exists()
