"""The Library preview's judge and its move into a run, on the real loopback fault server: a
sample is judged after its filters when the persona has a rubric and a judge endpoint is set
(the verdict kept in the preview run's judge cache, so the list shows it again), a judge that
fails leaves the sample and says why, the judge is off without an endpoint; moving a sample
writes it into the persona's playground run (origin recorded, judge verdict copied for Review)
and hides it from the preview, a move cut short is finished without a second copy; and the
headless `chatsynth preview list` / `preview move`."""

from __future__ import annotations

import pytest

from faultserver import JUDGE_MARK, FaultServer
from synth.curate.review import attach_judgements
from synth.dataset.preview import Judged
from synth.dataset.preview_move import move_sample
from synth.dataset.store import Store
from synth.library.personas import find_persona
from synth.library.topics import load_topic_sources
from tui.services import Services
from tui.testing import make_run, set_judge_endpoint, use_endpoint


@pytest.fixture
def fs_ws(workspace):
    with FaultServer() as fs:
        use_endpoint(workspace, fs.url)
        yield workspace, fs


def eve_topic(ws, i: int = 0):
    sources, _ = load_topic_sources(ws)
    return next(s for s in sources if s.id == "eve").topics[i]


def write_sample(ws, topic=None):
    """One sample through the app's service path; returns (job, events)."""
    svc = Services(ws)
    job = svc.preview_job(find_persona(ws, "eve"), topic or eve_topic(ws))
    events: list = []
    try:
        job.run(events.append)
    finally:
        job.close()
    return job, events


def test_a_sample_is_judged_after_its_filters_and_the_list_shows_it_again(fs_ws):
    ws, fs = fs_ws
    set_judge_endpoint(ws)
    fs.script(["jlow"], match=JUDGE_MARK)
    job, events = write_sample(ws)
    assert job.judge_note is None
    judged = [e for e in events if isinstance(e, Judged)]
    assert len(judged) == 1 and judged[0].judgement is not None
    j = judged[0].judgement
    assert not j.passed and j.score == 2.0 and j.scores  # jlow: every criterion 2
    assert any(JUDGE_MARK in r.prompt for r in fs.requests)
    samples = Services(ws).preview_samples("eve")
    assert len(samples) == 1 and samples[0].judgement is not None
    assert samples[0].judgement.scores == j.scores  # read back from the preview's judge cache


def test_no_judge_endpoint_means_no_judge_and_one_reason(fs_ws):
    ws, fs = fs_ws
    job, events = write_sample(ws)
    assert job.judge is None and job.judge_note.startswith("judge off: no judge endpoint")
    assert not any(isinstance(e, Judged) for e in events)
    assert not any(JUDGE_MARK in r.prompt for r in fs.requests)
    assert Services(ws).preview_samples("eve")[0].judgement is None


def test_a_judge_that_fails_leaves_the_sample_and_its_filters_verdict(fs_ws):
    ws, fs = fs_ws
    set_judge_endpoint(ws)
    fs.script(["401"] * 5, match=JUDGE_MARK)
    job, events = write_sample(ws)
    judged = [e for e in events if isinstance(e, Judged)]
    assert len(judged) == 1 and judged[0].judgement is None and judged[0].error
    samples = Services(ws).preview_samples("eve")
    assert len(samples) == 1 and samples[0].conversation.status == "complete"
    assert samples[0].verdict is not None and samples[0].judgement is None


def test_moving_a_sample_puts_it_in_the_playground_run_with_its_origin_and_verdicts(fs_ws, cli):
    ws, fs = fs_ws
    set_judge_endpoint(ws)
    write_sample(ws)
    svc = Services(ws)
    [sample] = svc.preview_samples("eve")
    run_id, cid, _ = svc.preview_move(sample.conversation.id, "eve")
    assert svc.preview_samples("eve") == []  # moved, not copied
    store = Store(ws.runs_dir)
    [conv] = store.load(run_id).conversations
    assert conv.id == cid and conv.run_id == run_id
    assert [t.text for t in conv.turns] == [t.text for t in sample.conversation.turns]
    assert conv.verdict == sample.conversation.verdict
    assert conv.params["origin"] == {"from": "preview", "sample": sample.conversation.id,
                                     "persona_version": sample.version,
                                     "preview_run": sample.conversation.run_id}
    assert store.run_meta(run_id)["source"] == "playground"
    # Review reads the judge's verdict from the run's own cache
    from synth.curate.review import Review
    review = Review(store, run_id)
    rv = review.load()
    attach_judgements(store.run_dir(run_id), review.persona, rv.items)
    assert rv.items[0].judgement is not None and rv.items[0].judgement.scores == \
        sample.judgement.scores
    # the CLI sees it as any run
    out = cli("runs")
    assert out.returncode == 0 and run_id[:8] in out.stdout


def test_a_move_cut_short_is_finished_without_a_second_copy(fs_ws):
    ws, fs = fs_ws
    write_sample(ws)
    svc = Services(ws)
    [sample] = svc.preview_samples("eve")
    run_id, cid, _ = svc.preview_move(sample.conversation.id, "eve")
    # a crash after writing into the run, before the preview was told: the sample is back
    svc.preview.store("eve").set_run_meta(sample.conversation.run_id, moved={})
    assert len(svc.preview_samples("eve")) == 1
    again = move_sample(svc.preview, svc.store, sample.conversation.id[:10])
    assert again[:2] == (run_id, cid)
    assert len(Store(ws.runs_dir).load(run_id).conversations) == 1
    assert svc.preview_samples("eve") == []


def test_cli_preview_list_and_move(fs_ws, cli):
    ws, fs = fs_ws
    write_sample(ws)
    write_sample(ws, eve_topic(ws, 1))
    samples = Services(ws).preview_samples("eve")
    out = cli("preview", "list", "--persona", "eve")
    assert out.returncode == 0, out.stderr
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("  ")]
    assert [ln.split()[0] for ln in lines] == [s.conversation.id for s in samples]  # newest first
    assert samples[0].version[:8] in lines[0] and samples[0].conversation.topic[:30] in lines[0]
    assert "pass" in lines[0] or "flagged" in lines[0]
    # an unknown id, and a run of another persona: a clear message, nothing moved
    bad = cli("preview", "move", "nosuchsample")
    assert bad.returncode == 2 and "no preview sample 'nosuchsample'" in bad.stderr
    assert "Traceback" not in bad.stderr
    make_run(ws, limit=1, persona="eve")
    other = [r for r in Store(ws.runs_dir).list_runs()][0].run_id
    store = Store(ws.runs_dir)
    spec = store.get_spec(other)
    assert spec.persona.id == "eve"
    # a run of eve: the sample goes there
    sid = samples[1].conversation.id
    ok = cli("preview", "move", sid, "--run", other)
    assert ok.returncode == 0, ok.stderr
    assert f"into run {other}" in ok.stdout
    assert any((c.params.get("origin") or {}).get("sample") == sid
               for c in store.load(other).conversations)
    out = cli("preview", "list", "--persona", "eve")
    assert sid not in out.stdout and samples[0].conversation.id in out.stdout


def test_cli_preview_move_refuses_a_run_of_another_persona(fs_ws, cli):
    ws, fs = fs_ws
    write_sample(ws)
    sid = Services(ws).preview_samples("eve")[0].conversation.id
    personas = [p.id for p in Services(ws).personas()[0] if p.id != "eve"]
    make_run(ws, limit=1, persona=personas[0], topics="eve")
    other = Store(ws.runs_dir).list_runs()[0].run_id
    bad = cli("preview", "move", sid, "--run", other)
    assert bad.returncode == 2 and f"is a run of {personas[0]}, not of eve" in bad.stderr
    assert len(Services(ws).preview_samples("eve")) == 1  # still there
