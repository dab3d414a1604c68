"""Few-shot examples given as ids of stored conversations (``- conversation: ID`` under a
persona's ``examples:``): looked up when a run starts and by ``chatsynth check``, shown in the
prompt like an inline example (with the conversation's review edit), counted in the estimate,
used by ``copies_example``; a bad one named by file, line and field.  The real CLI against a
real loopback fault server."""

from __future__ import annotations

import json

import pytest

from synth.dataset.store import Store


def _stored(cli, ws, fs, topics="short", limit=2, persona="eve"):
    r = cli("run", "--persona", persona, "--topics", topics, "--limit", str(limit),
            "--base-url", fs.url, "-q")
    assert r.returncode == 0, r.stderr
    store = Store(ws.runs_dir)
    run_id = store.resolve_run("latest")
    return run_id, store.load(run_id).conversations


def _add_ref(ws, ref: str, persona: str = "eve") -> tuple[str, int]:
    """Appends ``- conversation: REF`` to the persona's examples; (file text, its line)."""
    return _insert(ws, f"  - conversation: {ref}", persona)


def _insert(ws, entry: str, persona: str = "eve") -> tuple[str, int]:
    """Puts ``entry`` (lines) at the end of the persona's ``examples:`` list; (text, the line
    of its first line)."""
    path = ws.personas_dir / f"{persona}.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    start = lines.index("examples:")
    end = next(i for i in range(start + 1, len(lines)) if lines[i][:1] not in (" ", "#", ""))
    lines[end:end] = entry.splitlines()
    text = "\n".join(lines) + "\n"
    path.write_text(text, encoding="utf-8")
    return text, end + 1


def _prompt_tokens(cli, topics: str) -> int:
    r = cli("estimate", "--persona", "eve", "--topics", topics, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["run"]["prompt_tokens"]


def test_an_example_by_id_is_shown_like_an_inline_one_counted_and_checked(cli, ws, fs):
    run_id, convs = _stored(cli, ws, fs)
    c0 = next(c for c in convs if c.topic == "short topic 0")
    (ws.topics_dir / "again.txt").write_text("short topic 0\n")
    before = _prompt_tokens(cli, "again")
    # the conversation as it stands now: a review edit is what the example shows
    r = cli("review", run_id, "--edit", c0.id, "--turn", "2", "--text", "What would help most?")
    assert r.returncode == 0, r.stderr
    _add_ref(ws, c0.id)
    eve = ws.personas_dir / "eve.yaml"
    eve.write_text(eve.read_text(encoding="utf-8") + "examples_per_prompt: 2\n", encoding="utf-8")
    r = cli("check")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"by id: {c0.id}" in cli("personas", "eve").stdout
    assert _prompt_tokens(cli, "again") > before  # the estimate counts its tokens

    fs.reset()
    r = cli("run", "--persona", "eve", "--topics", "again", "--base-url", fs.url, "-q")
    assert r.returncode == 0, r.stderr
    prompt = fs.requests[0].body["prompt"]
    first = c0.turns[0].text.strip()
    assert f"USER: {first}\nEVE: What would help most?\nUSER: " in prompt, prompt
    assert "USER: I have a presentation at work on Friday" in prompt  # the inline one too
    # the fault server wrote the same text for the same topic: a near-copy of the example
    r = cli("filter", "latest")
    assert "copies_example" in r.stdout and f"(conversation {c0.id})" in r.stdout, r.stdout
    # RUN/ID names the same conversation
    text = eve.read_text(encoding="utf-8").replace(f"conversation: {c0.id}",
                                                   f"conversation: {run_id[:8]}/{c0.id}")
    eve.write_text(text, encoding="utf-8")
    assert cli("check").returncode == 0


def test_a_missing_id_names_the_file_line_and_field_and_nothing_is_sent(cli, ws, fs):
    _, line = _add_ref(ws, "0123456789abcdef")
    for args in (("check",), ("run", "--persona", "eve", "--topics", "short", "--base-url", fs.url),
                 ("estimate", "--persona", "eve", "--topics", "short")):
        r = cli(*args)
        out = r.stdout + r.stderr
        assert r.returncode == 2 and "Traceback" not in out, out
        assert (f"eve.yaml:{line}: examples[1].conversation: no stored conversation "
                "0123456789abcdef") in out, out
    assert not fs.requests


def test_a_conversation_in_other_speaker_labels_is_refused(cli, ws, fs):
    eve = ws.personas_dir / "eve.yaml"
    (ws.personas_dir / "coach.yaml").write_text(
        eve.read_text(encoding="utf-8").replace("persona_label: EVE", "persona_label: COACH")
        .replace("EVE:", "COACH:"), encoding="utf-8")
    _, convs = _stored(cli, ws, fs, persona="coach", limit=1)
    _, line = _add_ref(ws, convs[0].id)
    r = cli("check")
    out = r.stdout + r.stderr
    assert r.returncode == 2 and "Traceback" not in out
    assert f"eve.yaml:{line}: examples[1].conversation: conversation {convs[0].id}" in out, out
    assert "is in the speaker labels USER/COACH, not this persona's USER/EVE" in out, out


@pytest.mark.parametrize("entry, needle", [
    ("  - conversation: two words", "examples[1].conversation: expected a stored conversation's id"),
    ("  - conversation: abc\n    run: x", "examples[1].run: unknown key 'run'"),
    ("  - conversation: abc\n  - conversation: abc", "examples[2].conversation: conversation abc "
                                                    "is named twice"),
])
def test_a_badly_written_reference_names_its_line(cli, ws, entry, needle):
    _insert(ws, entry)
    r = cli("check")
    out = r.stdout + r.stderr
    assert r.returncode == 2 and "Traceback" not in out
    assert "eve.yaml:" in out and needle in out, out


def test_a_reference_survives_saving_and_marking_another_example(ws):
    from synth.library.edit import add_example
    from synth.library.personas import load_persona

    _add_ref(ws, "0123456789abcdef")
    path = ws.personas_dir / "eve.yaml"
    p, n = add_example(load_persona(path), [("user", "Can we talk?"), ("assistant", "Of course: "
                                                                     "what is on your mind?")])
    text = path.read_text(encoding="utf-8")
    assert n == 2 and text.count("conversation: 0123456789abcdef") == 1
    assert "# Few-shot examples" in text  # comments kept
    back = load_persona(path)
    assert back.example_refs == ["0123456789abcdef"] and len(back.examples) == 2
    assert "EVE: Of course: what is on your mind?" in back.examples[1]
