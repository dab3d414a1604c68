"""Datasets: named lists of runs, exported as one set (issue 14).

Three stored runs (two personas with different speaker labels, two models, two of them sharing
five topics with the same text) go into one dataset; its export puts no topic in both parts,
leaves out the cross-run near-copies and counts them, breaks the report down by run and by
persona, and passes `validate`.  Every mistake is refused with a message and changes nothing.
The real CLI in a subprocess, the real store.
"""

from __future__ import annotations

import json

from data.factory import make_run, varied_turns

BANK = dict(id="bank", name="Sam", persona_label="SAM", user_label="CUSTOMER",
            system_prompt="You are Sam, a careful bank support agent.")


def _three_runs(ws):
    _, a, _ = make_run(ws.runs_dir, n_topics=10, per_topic=1, model="model-one")
    _, b, _ = make_run(ws.runs_dir, n_topics=10, per_topic=1, model="model-two", first_topic=5)
    _, c, _ = make_run(ws.runs_dir, n_topics=8, per_topic=1, model="model-one", first_topic=40,
                       persona_kw=BANK)
    return a, b, c


def _ok(r):
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stdout + r.stderr
    return r.stdout


def _refused(r, *words):
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stdout + r.stderr
    for w in words:
        assert w in r.stderr, r.stderr
    return r.stderr


def test_a_dataset_of_three_runs_exports_as_one_set(workspace, cli, tmp_path):
    a, b, c = _three_runs(workspace)
    assert len({a, b, c}) == 3
    out = _ok(cli("dataset", "new", "mix", "--runs", a, b[:6], c))
    assert "3 runs" in out
    shown = _ok(cli("dataset", "show", "mix"))
    lines = {ln.split()[0]: ln.split() for ln in shown.splitlines()[2:]}
    assert lines[a][1] == "eve" and lines[c][1] == "bank" and lines[b][3] == "model-two"
    assert lines["all"][1:] == ["28", "0", "28", "0", "0"], shown  # stored accepted passing ...

    dest = tmp_path / "mix-export"
    r = cli("export", "mix", "--format", "all", "--out", str(dest))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "left out: 5 near-duplicates of a conversation in another run" in r.stdout, r.stdout
    report = json.loads((dest / "report.json").read_text())
    assert report["dataset"] == "mix"
    assert report["near_duplicates"]["across_runs_left_out"] == 5
    assert {x["left_out"] for x in report["near_duplicates"]["across_runs"]} <= {
        cid for cid in _ids(workspace, b)}
    per_run = {x["run_id"]: x for x in report["runs"]}
    assert per_run[a]["exported"] == 10 and per_run[b]["exported"] == 5 and per_run[c]["exported"] == 8
    personas = {p["id"]: p for p in report["personas"]}
    assert personas["eve"]["runs"] == 2 and personas["eve"]["exported"] == 15
    assert personas["bank"]["exported"] == 8 and personas["bank"]["persona_label"] == "SAM"
    md = (dest / "report.md").read_text()
    assert "## Runs" in md and "## Personas" in md and "across runs: 5 left out" in md

    # no topic in both parts, whichever run it came from
    def topics(part):
        found = set()
        for line in (dest / f"chat.{part}.jsonl").read_text().splitlines():
            first_user = next(m["content"] for m in json.loads(line)["messages"] if m["role"] == "user")
            found.add(first_user)
        return found
    assert topics("train") and topics("validation")
    assert not topics("train") & topics("validation")

    # each conversation keeps its own persona: system prompt and completion labels
    chat = [json.loads(x) for p in ("train", "validation")
            for x in (dest / f"chat.{p}.jsonl").read_text().splitlines()]
    systems = {ex["messages"][0]["content"] for ex in chat}
    assert BANK["system_prompt"] in systems and len(systems) == 2
    assert all([m["role"] for m in ex["messages"][1:]] == ["user", "assistant"] * 3 for ex in chat)
    comp = [json.loads(x) for p in ("train", "validation")
            for x in (dest / f"completion.{p}.jsonl").read_text().splitlines()]
    assert any(ex["prompt"].endswith("\n\nSAM:") for ex in comp)
    assert any(ex["prompt"].endswith("\n\nEVE:") for ex in comp)
    assert any("different speaker labels" in n for n in report["notes"])

    for f in sorted(dest.glob("*.jsonl")):
        v = cli("validate", str(f))
        assert v.returncode == 0, v.stdout + v.stderr


def _ids(ws, run_id):
    from synth.dataset.store import Store

    return {c.id for c in Store(ws.runs_dir).load(run_id).conversations}


def test_topics_split_across_runs_never_land_in_both_parts(workspace, tmp_path):
    from synth.dataset.datasets import Datasets
    from synth.dataset.export import ExportOptions, export_dataset
    from synth.dataset.store import Store

    store = Store(workspace.runs_dir)
    _, a, _ = make_run(workspace.runs_dir, n_topics=10, per_topic=1, model="model-one")
    # run b shares topics 5-9 with run a, in other words: nothing is dropped as a near-copy, so
    # the shared topics come from both runs and must still go to one part only
    _, b, _ = make_run(workspace.runs_dir, n_topics=10, per_topic=1, model="model-two",
                       first_topic=5, extra=lambda i, k: varied_turns(i, 1))
    Datasets(store).create("two", [a, b])
    topic_of = {c.id: c.topic_id for r in (a, b) for c in store.load(r).conversations}
    shared = {topic_of[c] for c in _ids(workspace, a)} & {topic_of[c] for c in _ids(workspace, b)}
    assert len(shared) == 5
    for seed in range(8):
        res = export_dataset(store, "two", tmp_path / f"s{seed}",
                             ExportOptions(seed=seed, validation_fraction=0.4, allow_invalid=True))
        assert res.selection.cross_run_pairs == [] and len(res.selection.chosen) == 20
        train = {topic_of[i] for i in res.train_ids}
        val = {topic_of[i] for i in res.validation_ids}
        assert train and val and not train & val, seed
        both = [t for t in shared if t in val]
        assert all(sum(topic_of[i] == t for i in res.validation_ids) == 2 for t in both)


def test_dataset_mistakes_are_refused_and_change_nothing(workspace, cli, tmp_path):
    a, b, c = _three_runs(workspace)
    catalog = workspace.runs_dir / "catalog.json"
    _refused(cli("dataset", "new", "bad", "--runs", a, "feedbeef"), "no run 'feedbeef'")
    _refused(cli("dataset", "new", "bad", "--runs", a, a), "named twice")
    _refused(cli("dataset", "new", "bad name", "--runs", a), "dataset")
    assert "bad" not in _ok(cli("dataset", "list"))
    before = catalog.read_bytes()
    _refused(cli("dataset", "show", "nope"), "no dataset 'nope'")
    _refused(cli("dataset", "add", "nope", a), "no dataset 'nope'")
    assert catalog.read_bytes() == before

    _ok(cli("dataset", "new", "mix", "--runs", a, b))
    before = catalog.read_bytes()
    _refused(cli("dataset", "new", "mix", "--runs", c), "already exists")
    _refused(cli("dataset", "add", "mix", b), f"run {b} is already in dataset 'mix'")
    _refused(cli("dataset", "add", "mix", c, "feedbeef"), "no run 'feedbeef'")
    _refused(cli("dataset", "remove", "mix", "feedbeef"), "no run matching 'feedbeef'")
    _refused(cli("dataset", "delete", "mix"), "--yes")
    assert catalog.read_bytes() == before, "a refused change must not touch the catalog"

    _ok(cli("dataset", "add", "mix", c))
    assert f"{a}, {b}, {c}" in _ok(cli("dataset", "list"))
    _ok(cli("dataset", "remove", "mix", a[:6], b))
    assert _ok(cli("dataset", "list")).startswith(f"mix: {c}")

    _ok(cli("dataset", "new", "empty", "--runs", a))
    _ok(cli("dataset", "remove", "empty", a))
    r = cli("export", "empty", "--out", str(tmp_path / "e"))
    _refused(r, "dataset 'empty' has no runs")
    assert not (tmp_path / "e").exists()

    _ok(cli("dataset", "delete", "empty", "--yes"))
    assert "empty" not in _ok(cli("dataset", "list"))
    assert len(_ids(workspace, a)) == 10, "deleting a dataset leaves its runs alone"


def test_a_dataset_naming_a_run_whose_files_are_gone_says_so(workspace, cli, tmp_path):
    import shutil

    a, b, _ = _three_runs(workspace)
    _ok(cli("dataset", "new", "mix", "--runs", a, b))
    shutil.rmtree(workspace.runs_dir / b)
    shown = cli("dataset", "show", "mix")
    assert shown.returncode == 0 and f"note: {b}:" in shown.stdout, shown.stdout
    r = cli("export", "mix", "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and f"no run {b!r}" in r.stderr and "Traceback" not in r.stderr, r.stderr
