"""Exports: each format passes validate; splits hold out topics; refusals name the example."""

from __future__ import annotations

import json

import pytest

from data.factory import make_run, turns
from synth.dataset.export import ExportError, ExportOptions, completion_examples, export_run, split
from synth.curate.review import Review
from synth.dataset.validate import validate_file


def _bad(i, k):
    if i == 0 and k == 0:  # a refusal: flagged by the filters
        return turns("Can you help me plan my week?", "I'm sorry, but I can't help with that.",
                     "Oh. Why not?", "As an AI language model I cannot plan weeks. Anything else?")
    if i == 1 and k == 1:  # cut off by a cancel
        return turns("I want to sleep better at night, honestly.", "What time do you go to bed?"), "partial"
    return None


@pytest.fixture
def run(tmp_path):
    return make_run(tmp_path / "runs", n_topics=15, per_topic=2, extra=_bad)


def test_export_all_formats_pass_validate(run, tmp_path):
    store, run_id, spec = run
    res = export_run(store, "latest", tmp_path / "out", ExportOptions(formats=("chat", "sharegpt", "completion")))
    assert sorted(res.files) == ["chat.train", "chat.validation", "completion.train",
                                 "completion.validation", "sharegpt.train", "sharegpt.validation"]
    assert res.refused == []
    for key, path in res.files.items():
        rep = validate_file(path, model="gpt-4o-mini")
        assert rep.errors == [], (key, rep.text())
        expected = ["too_few_examples"] if key.endswith("validation") and rep.examples < 10 else []
        assert [f.code for f in rep.warnings] == expected, (key, rep.text())
        assert rep.format == key.split(".")[0]
    # 30 stored, minus one flagged refusal and one partial
    assert len(res.train_ids) + len(res.validation_ids) == 28
    assert "28 conversations: 0 you accepted + 28 that pass every filter" in res.selection.statement
    assert "1 partial (cut off by a cancel)" in res.selection.statement
    assert "1 flagged by a filter and not accepted" in res.selection.statement
    # completion: one example per persona turn (3 per conversation)
    assert res.examples["completion.train"] + res.examples["completion.validation"] == 28 * 3
    first = json.loads(res.files["chat.train"].read_text().splitlines()[0])
    assert first["messages"][0] == {"role": "system", "content": spec.persona.system_prompt}
    assert [m["role"] for m in first["messages"][1:]] == ["user", "assistant"] * 3
    sg = json.loads(res.files["sharegpt.train"].read_text().splitlines()[0])
    assert [t["from"] for t in sg["conversations"]] == ["system"] + ["human", "gpt"] * 3
    rep = json.loads((tmp_path / "out" / "report.json").read_text())
    assert rep["conversations"]["by_state"] == {"ok": 28, "flagged": 1, "partial": 1}
    assert rep["conversations"]["flagged_by_rule"] == {"refusal": 1, "partial": 1, "turn_count": 1}
    assert rep["finetune"]["epochs"] == 4  # 23 or so train examples: 100 // n
    assert rep["finetune"]["epochs"] == 100 // rep["finetune"]["examples"]
    assert rep["finetune"]["cost"] is None  # no finetune_prices given
    assert (tmp_path / "out" / "report.md").read_text().startswith(f"# Dataset report: run {run_id}")


def test_split_by_topic_never_mixes_topics(run, tmp_path):
    store, run_id, _ = run
    res = export_run(store, run_id, tmp_path / "o", ExportOptions(validation_fraction=0.2, seed=3))
    rs = Review(store, run_id).load()
    topic = {it.id: it.conv.topic_id for it in rs.items}
    train_t = {topic[i] for i in res.train_ids}
    val_t = {topic[i] for i in res.validation_ids}
    assert train_t and val_t and not (train_t & val_t)
    assert len(val_t) == 3  # 20% of 15 topics
    again = export_run(store, run_id, tmp_path / "o2", ExportOptions(validation_fraction=0.2, seed=3))
    assert again.validation_ids == res.validation_ids
    other = export_run(store, run_id, tmp_path / "o3", ExportOptions(validation_fraction=0.2, seed=4))
    assert other.validation_ids != res.validation_ids


def test_split_by_conversation(run):
    store, run_id, _ = run
    items = Review(store, run_id).load().items
    tr, va, topics, _ = split(items, "conversation", 0.25, 0)
    assert len(va) == round(0.25 * len(items)) and not topics
    assert {i.id for i in tr} | {i.id for i in va} == {i.id for i in items}


def test_accepted_policy_edits_and_rejections(run, tmp_path):
    store, run_id, _ = run
    review = Review(store, run_id)
    rs = review.load()
    flagged = next(it for it in rs.items if it.state == "flagged")
    ok = [it for it in rs.items if it.state == "ok"]
    review.accept(flagged.id)
    review.accept(ok[0].id)
    review.reject(ok[1].id)
    new = turns("Edited opening line about a walk?", "Edited reply: walk ten minutes. When can you?",
                "After lunch.", "Good, after lunch it is. Shall we check in Friday?")
    review.edit(ok[0].id, new)
    res = export_run(store, run_id, tmp_path / "acc", ExportOptions(policy="accepted", validation_fraction=0,
                                                                  allow_invalid=True))  # 2 examples
    assert sorted(res.train_ids) == sorted([flagged.id, ok[0].id])
    lines = [json.loads(x) for x in res.files["chat.train"].read_text().splitlines()]
    texts = [m["content"] for ex in lines for m in ex["messages"]]
    assert "Edited reply: walk ten minutes. When can you?" in texts
    # the original stays in the log
    orig = next(c for c in store.load(run_id).conversations if c.id == ok[0].id)
    assert orig.turns[0].text.startswith("Topic 0") or orig.turns[0].text.startswith("Topic")
    res = export_run(store, run_id, tmp_path / "def", ExportOptions(validation_fraction=0))
    assert ok[1].id not in res.train_ids and flagged.id in res.train_ids


def test_completion_examples_carry_separator_and_stop():
    from data.factory import persona
    ts = turns("Hi there.", "Hello! What brings you here?", "Stress.", "Tell me more?")
    ex = completion_examples(ts, persona(), "\n\nEVE:", " END")
    assert ex[0] == (1, {"prompt": "USER: Hi there.\n\nEVE:", "completion": " Hello! What brings you here? END"})
    assert ex[1][1]["prompt"] == "USER: Hi there.\n\nEVE: Hello! What brings you here?\n\nUSER: Stress.\n\nEVE:"


def test_custom_stop_token_in_files(run, tmp_path):
    store, run_id, _ = run
    res = export_run(store, run_id, tmp_path / "c", ExportOptions(formats=("completion",), stop_token=" ###"))
    rows = [json.loads(x) for x in res.files["completion.train"].read_text().splitlines()]
    assert all(r["completion"].endswith(" ###") and r["prompt"].endswith("\n\nEVE:") for r in rows)
    assert 'stop=[" ###"]' in (tmp_path / "c" / "report.md").read_text()


def test_invalid_examples_are_refused_by_name(tmp_path):
    def secret(i, k):
        if i == 2:
            return turns("My key is sk-proj-ABCDEFGHIJKLMNOPQRSTUV1234 - is that safe to share?",
                         "Please never share it. Could you rotate it today?",
                         "Yes, I will rotate it.", "Good. Shall we set a reminder to check tomorrow?")
        return None
    store, run_id, _ = make_run(tmp_path / "runs", n_topics=12, per_topic=1, extra=secret)
    res = export_run(store, run_id, tmp_path / "o", ExportOptions(validation_fraction=0))
    assert len(res.refused) == 1 and res.refused[0].reasons[0].endswith("[secret]")
    assert "sk-proj" not in res.files["chat.train"].read_text()
    assert res.examples["chat.train"] == 11


@pytest.mark.parametrize("fmt", ["chat", "sharegpt", "completion"])
def test_findings_of_an_export_number_the_written_lines(tmp_path, fmt):
    # the export checks each example once, as it writes it: after a refused example the
    # warnings of the ones written later name their lines in the file as written, exactly as
    # validate of that file finds them
    def secret(i, k):
        if i == 2:
            return turns("My key is sk-proj-ABCDEFGHIJKLMNOPQRSTUV1234 - is that safe to share?",
                         "Please never share it. Could you rotate it today?",
                         "Yes, I will rotate it.", "Good. Shall we set a reminder to check tomorrow?")
        return None
    store, run_id, _ = make_run(tmp_path / "runs", n_topics=12, per_topic=1, extra=secret)
    res = export_run(store, run_id, tmp_path / "o", ExportOptions(
        formats=(fmt,), validation_fraction=0, system_prompt=False,
        separator="\n\nEVE:" if fmt == "completion" else None))
    key = f"{fmt}.train"
    assert res.refused and all(r.reasons[0].endswith("[secret]") for r in res.refused)
    again = validate_file(res.files[key], model="gpt-4o-mini", fmt=fmt)
    exported = res.reports[key]
    assert [f.format() for f in exported.findings] == [f.format() for f in again.findings]
    assert exported.example_tokens == again.example_tokens
    assert exported.examples == again.examples == res.examples[key]
    if fmt == "chat":  # no system prompt: every written line warns, numbered 1..n
        assert [f.line for f in exported.warnings] == list(range(1, res.examples[key] + 1))


def test_nothing_to_export_and_bad_options(tmp_path, run):
    store, run_id, _ = run
    with pytest.raises(ExportError, match="nothing to export"):
        export_run(store, run_id, tmp_path / "x", ExportOptions(policy="accepted"))
    with pytest.raises(ExportError, match="--validation-fraction"):
        export_run(store, run_id, tmp_path / "x", ExportOptions(validation_fraction=1.5))


def test_report_measures():
    from synth.dataset.report import distinct_n, first_line_share

    assert distinct_n(["a b c", "a b d"], 2) == 3 / 4  # (a b), (b c), (b d) of 4 bigrams
    assert distinct_n([], 2) == 0.0
    share, top = first_line_share(["Hi, I feel stuck.", "hi i feel stuck", "Money worries."])
    assert share == 2 / 3 and top[0] == ("hi i feel stuck", 2)
    # three conversations that all open differently: nothing shared (was 33.3%)
    assert first_line_share(["I keep putting off my thesis.", "Money worries.", "My sister and I argue."]) \
        == (0.0, [])
    # the first line, not the whole first turn
    assert first_line_share(["I feel stuck.\nAt work, mostly.", "I feel stuck.\nWith money.", "Hello"])[0] == 2 / 3


@pytest.mark.parametrize("fmt", ["chat", "completion"])
def test_report_first_line_and_tokens_per_conversation(run, tmp_path, fmt):
    from synth.tokens import counter_for

    store, run_id, _ = run
    res = export_run(store, run_id, tmp_path / "r", ExportOptions(formats=(fmt,), validation_fraction=0))
    rep = json.loads((tmp_path / "r" / "report.json").read_text())
    assert rep["same_first_line"] == {"share": 0.0, "most_common": []}
    assert rep["tokens_per_conversation"]["min"] > 0
    md = (tmp_path / "r" / "report.md").read_text()
    assert "same first line: none (no two exported conversations open with the same line)" in md
    assert "- tokens per conversation (its turns after trims and edits, as exported): min " in md
    # the tokens of the exported turns with the export's encoding: for chat, the very counts that
    # validated each example (no second tokenization); for completion, counted the same way
    enc = counter_for("gpt-4o-mini")
    want = sorted(sum(enc.count(t.text.strip()) for t in it.turns) for it in res.selection.chosen)
    assert (rep["tokens_per_conversation"]["min"], rep["tokens_per_conversation"]["max"]) == (want[0], want[-1])
    assert sorted(res.turn_tokens.values()) == (want if fmt == "chat" else [])


def test_report_counts_reasons_and_near_duplicates(tmp_path):
    def dup(i, k):
        from data.factory import varied_turns
        return varied_turns(0, 0) if i == 5 else None  # topic 5 repeats topic 0's text
    store, run_id, _ = make_run(tmp_path / "runs", n_topics=12, per_topic=1, extra=dup)
    export_run(store, run_id, tmp_path / "o", ExportOptions(validation_fraction=0))
    rep = json.loads((tmp_path / "o" / "report.json").read_text())
    assert rep["near_duplicates"]["pairs"] == 1 and rep["near_duplicates"]["flagged"] == 1
    assert rep["near_duplicates"]["rate"] == 1 / 12
    assert rep["conversations"]["flagged_by_rule"] == {"near_duplicate": 1}
    assert rep["conversations"]["exported"] == 11
    assert rep["generation_usage"]["counted_here"] == 0
    md = (tmp_path / "o" / "report.md").read_text()
    assert "near-duplicates: 1 pairs, 1 conversations flagged (8.3%)" in md


def test_unknown_finetune_model_is_stated(run, tmp_path):
    store, run_id, _ = run
    res = export_run(store, run_id, tmp_path / "u", ExportOptions(model="llama-3.1-8b"))
    assert any("llama-3.1-8b" in n and "o200k_base" in n for n in res.notes)
    assert any("16,385" in n for n in res.notes)
    assert "llama-3.1-8b" in (tmp_path / "u" / "report.md").read_text()


def test_exports_in_the_same_second_get_their_own_folders(run, tmp_path):
    store, run_id, spec = run
    opts = ExportOptions(formats=("chat",), validation_fraction=0)
    outs = [export_run(store, run_id, None, opts, exports_dir=tmp_path / "exports").out_dir
            for _ in range(3)]
    assert len(set(outs)) == 3 and all(o.parent == tmp_path / "exports" for o in outs)
    for out in outs:  # each folder holds its own complete export
        assert (out / "chat.train.jsonl").stat().st_size > 0


def test_a_part_whose_every_example_is_refused_is_not_written(tmp_path):
    def secret(i, k):
        return turns(f"My key is sk-proj-ABCDEFGHIJKLMNOPQRSTUV{i:04d} - is that safe?",
                     "Please never share it. Could you rotate it today?",
                     "Yes, I will rotate it.", "Good. Shall we set a reminder to check tomorrow?")
    store, run_id, _ = make_run(tmp_path / "runs", n_topics=6, per_topic=1, extra=secret)
    res = export_run(store, run_id, tmp_path / "o", ExportOptions(validation_fraction=0))
    assert res.refused and len(res.refused) == len(res.train_ids) and "chat.train" not in res.files
    assert not (tmp_path / "o" / "chat.train.jsonl").exists()
    assert any("every example was refused" in n for n in res.notes)
    assert "every example was refused" in (tmp_path / "o" / "report.md").read_text()
