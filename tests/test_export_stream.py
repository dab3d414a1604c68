"""The streaming export writes what the in-memory export wrote, byte for byte (files and
report), for a small run with every kind of conversation (tests/data/golden_export.py)."""

from __future__ import annotations

import pytest

from data.golden_export import GOLDEN, golden_run, normalised
from synth.curate.review import Review
from synth.dataset.export import ExportOptions, Source, export_run, export_sources

CASES = {"all": ExportOptions(formats=("chat", "sharegpt", "completion")),
         "accepted": ExportOptions(policy="accepted", split_by="conversation", allow_invalid=True,
                                   seed=2)}


@pytest.fixture(scope="module")
def golden(tmp_path_factory):
    return golden_run(tmp_path_factory.mktemp("golden") / "runs")


@pytest.mark.parametrize("name", sorted(CASES))
def test_streaming_export_matches_the_in_memory_export(golden, tmp_path, name):
    store, run_id = golden
    export_run(store, run_id, tmp_path / name, CASES[name])
    want = {p.name: p.read_text(encoding="utf-8") for p in sorted((GOLDEN / name).iterdir())}
    got = normalised(tmp_path / name)
    assert sorted(got) == sorted(want)
    for fn in want:
        assert got[fn] == want[fn], fn


@pytest.mark.parametrize("name", sorted(CASES))
def test_in_memory_export_still_matches(golden, tmp_path, name):
    """export_sources (a dataset's path) over the loaded run: the same files and report."""
    store, run_id = golden
    spec = store.get_spec(run_id)
    rs = Review(store, run_id, spec.persona).load()
    info = {"run_id": run_id, "persona": spec.persona.id, "topics": spec.topics.id,
            "endpoint": spec.endpoint, "model": spec.model, "per_topic": spec.per_topic,
            "store_problems": rs.problems}
    export_sources([Source(rs, spec.persona, info)], tmp_path / name, CASES[name])
    want = {p.name: p.read_text(encoding="utf-8") for p in sorted((GOLDEN / name).iterdir())}
    assert normalised(tmp_path / name) == want


@pytest.mark.parametrize("system", ["You are Eve.", None])
def test_turn_counts_make_the_chat_count_of_the_example(system):
    """The first pass's per-turn counts give the very ChatCount that counting the chat (or
    ShareGPT) example gives, so the second pass does not tokenize it again."""
    from data.factory import GOOD, turns
    from synth.dataset.export import _clean, chat_example, sharegpt_example
    from synth.dataset.example_checks import to_messages
    from synth.dataset.turn_counts import TurnCounts
    from synth.tokens import counter_for

    counter = counter_for("gpt-4o-mini")
    ts = turns(*[f"  {t}  " for t in GOOD])
    tc = TurnCounts(counter)
    try:
        tc.add("c1", ts)
        tc.finish()
    finally:
        tc.close()
    got = tc.chat_count("c1", ts, system)
    assert got == counter.chat_counts([chat_example(_clean(ts), system)["messages"]])[0]
    assert got == counter.chat_counts([to_messages(sharegpt_example(_clean(ts), system), "sharegpt")])[0]
    assert got.turns == sum(counter.count(t.text.strip()) for t in ts) > 0
    assert tc.chat_count("c1", ts[:-1], system) is None  # other turns: counted by the export


def test_unreadable_records_are_named_by_line_and_the_rest_exports(tmp_path):
    """A line that is not JSON and a record this version can't read are skipped with their
    file:line in the report; every other conversation exports as before."""
    import json

    store, run_id = golden_run(tmp_path / "runs")
    log = store.conversations_path(run_id)
    n = len(log.read_bytes().splitlines())
    with open(log, "ab") as fh:
        fh.write(b'{"id": "half a record\n{"id": "x1"}\n')
    export_run(store, run_id, tmp_path / "o", CASES["all"])
    got = normalised(tmp_path / "o")
    for fn in ("chat.train.jsonl", "completion.validation.jsonl"):
        assert got[fn] == (GOLDEN / "all" / fn).read_text(encoding="utf-8")
    problems = json.loads(got["report.json"])["store_problems"]
    assert len(problems) == 2, problems
    assert problems[0].startswith(f"{log}:{n + 1}: unreadable record")
    assert problems[1].startswith(f"{log}:{n + 2}: record does not fit this version")
