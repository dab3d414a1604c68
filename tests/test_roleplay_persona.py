"""Role-play persona fields: ``method`` and the ``user_simulator:`` block load, save back with
comments kept, and every bad value gets a file:line: field message (CLI: one line, exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from synth.errors import LibraryError, every
from synth.library.personas import load_persona, save_persona

EVE = Path(__file__).resolve().parent.parent / "personas" / "eve.yaml"

BLOCK = """user_simulator:
  prompt: |
    You are someone worried about {topic}. {brief}
    When you are helped, write [END].
  briefs:
    - A tired nurse.
  end_marker: "[END]"   # the marker
  min_turns: 4
  max_turns: 8
"""


def persona_text(block: str = BLOCK, method: str | None = "roleplay") -> str:
    base = "\n".join(ln for ln in EVE.read_text().split("\n"))
    start = base.index("user_simulator:")
    end = base.index("rules:", start)
    base = base[:start] + block + base[end:]
    return base + (f"method: {method}\n" if method else "")


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "rp.yaml"
    p.write_text(text)
    return p


def test_shipped_eve_has_a_working_simulator():
    eve = load_persona(EVE)
    assert eve.method == "transcript"  # role-play is chosen per run (see the report/README)
    sim = eve.user_simulator
    assert sim is not None and "{topic}" in sim.prompt and "{brief}" in sim.prompt
    assert sim.end_marker == "[END]" and 2 <= sim.min_turns <= sim.max_turns
    assert len(sim.briefs) >= 3


def test_roleplay_persona_loads_and_saves_with_comments(tmp_path):
    p = write(tmp_path, persona_text())
    persona = load_persona(p)
    assert persona.method == "roleplay"
    assert persona.user_simulator.max_turns == 8 and persona.user_simulator.briefs == ["A tired nurse."]
    persona.user_simulator.max_turns = 10
    save_persona(persona)
    text = p.read_text()
    assert "max_turns: 10" in text and "# the marker" in text and "prompt: |" in text
    again = load_persona(p)
    assert again.user_simulator.max_turns == 10 and again.content_hash() == persona.content_hash()


def test_a_roleplay_run_is_another_run_and_old_runs_keep_their_ids():
    """Transcript runs' identity gains no key (earlier runs keep their ids); role-play is
    another run, and a change of the simulator makes another run again."""
    from synth.models import RunSpec, Topic, TopicSource

    eve = load_persona(EVE)
    topics = TopicSource(id="t", kind="text", topics=[Topic(text="a")])
    plain = RunSpec.for_persona(eve, topics)
    assert "method" not in plain.identity() and "roleplay" not in plain.identity()
    rp = RunSpec.for_persona(eve, topics, method="roleplay")
    rp_id = rp.run_id
    assert rp.identity()["method"] == "roleplay" and rp_id != plain.run_id
    assert RunSpec.from_dict(rp.to_dict()).run_id == rp_id
    eve.user_simulator.max_turns += 2
    assert RunSpec.for_persona(eve, topics, method="roleplay").run_id != rp_id


BAD = [
    ("  prompt: |\n    Talk about {topic} and {mood}.\n", "user_simulator.prompt", "unknown placeholder {mood}"),
    ("  prompt: Just talk.\n", "user_simulator.prompt", "{topic} or {context}"),
    ("  prompt: About {topic}.\n  min_turns: 8\n  max_turns: 4\n", "user_simulator.min_turns",
     "min_turns (8) is more than max_turns (4)"),
    ("  prompt: About {topic}.\n  end_marker: EVE\n", "user_simulator.end_marker", "speaker label"),
    ("  prompt: About {topic}.\n  end_marker: 'user:'\n", "user_simulator.end_marker", "speaker label"),
    ("  prompt: About {topic}.\n  max_turns: many\n", "user_simulator.max_turns", "whole number"),
    ("  prompt: About {topic}.\n  min_turns: 1\n", "user_simulator.min_turns", "between 2 and 200"),
    ("  prompt: About {topic}.\n  max_tokens: 0\n", "user_simulator.max_tokens", "between 1"),
    ("  prompt: About {topic}.\n  turns: 5\n", "user_simulator.turns", "unknown"),
    ("  prompt: About {topic}.\n  briefs: [ok, '']\n", "user_simulator.briefs", "list of short texts"),
]


@pytest.mark.parametrize("body,field,needle", BAD, ids=[b[1] + ":" + b[2][:12] for b in BAD])
def test_bad_simulator_names_file_line_field(tmp_path, body, field, needle):
    p = write(tmp_path, persona_text("user_simulator:\n" + body))
    with pytest.raises(LibraryError) as ei:
        load_persona(p)
    errs = [e for e in every(ei.value) if e.field == field]
    assert errs, [str(e) for e in every(ei.value)]
    err = errs[0]
    assert needle in err.message and err.path == str(p)
    lines = p.read_text().split("\n")
    key = field.split(".")[-1]
    assert lines[err.line - 1].lstrip().startswith(key + ":"), (err.line, lines[err.line - 1])


def test_bad_method_and_roleplay_without_block(tmp_path):
    p = write(tmp_path, persona_text(method="improv"))
    with pytest.raises(LibraryError) as ei:
        load_persona(p)
    assert ei.value.field == "method" and "'transcript' or 'roleplay'" in ei.value.message
    text = persona_text().replace(BLOCK, "")
    p = write(tmp_path, text)
    with pytest.raises(LibraryError) as ei:
        load_persona(p)
    assert ei.value.field == "method" and "user_simulator" in ei.value.message
    assert p.read_text().split("\n")[ei.value.line - 1].startswith("method:")


def test_cli_check_reports_a_bad_simulator_on_one_line(workspace, cli):
    target = workspace.personas_dir / "eve.yaml"
    target.write_text(persona_text("user_simulator:\n  prompt: About {topic}.\n  min_turns: 9\n"
                                   "  max_turns: 3\n"))
    r = cli("check")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    line = next(ln for ln in (r.stdout + r.stderr).splitlines() if "user_simulator.min_turns" in ln)
    assert "eve.yaml:" in line and "min_turns (9) is more than max_turns (3)" in line
