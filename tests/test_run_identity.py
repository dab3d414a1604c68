"""Work-item identity: a run is "this persona's pattern x this topic source x these settings".

Adding topics or raising per-topic extends the same run and writes only the new items; a
removed topic keeps its stored conversations; editing the synthesis prompt or a sampling value
starts a new run and the estimate says so; a run folder written before work-item ids (checked
in as a fixture) opens, resumes and exports as it did.  Real CLI, real fault server.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rel_faultproc import FaultProc
from synth.dataset.store import Store

LEGACY = Path(__file__).resolve().parent / "data" / "legacy_run"
LEGACY_RUN = "df745f1e1c3f"

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def fault():
    with FaultProc(turns=4, words_per_turn=6) as fp:
        yield fp


def _topics(ws, name: str, n: int) -> Path:
    p = ws.topics_dir / f"{name}.txt"
    p.write_text("".join(f"grow topic {i:03d}: a small worry\n" for i in range(n)), encoding="utf-8")
    return p


def _add_fault(cli, fault) -> None:
    r = cli("endpoint", "add", "fault", "--base-url", fault.url, "--model", "fault-model",
            "--style", "completion")
    assert r.returncode == 0, r.stderr


def _run(cli, fault, *extra: str):
    fault.reset()
    r = cli("run", "--persona", "eve", "--topics", "grow", "--endpoint", "fault",
            "--concurrency", "8", "-q", *extra)
    assert r.returncode == 0, r.stdout + r.stderr
    return r, len(fault.log())


def _complete(store: Store, run_id: str) -> list:
    return [c for c in store.load(run_id).conversations if c.status == "complete"]


def test_adding_a_topic_writes_one_and_raising_per_topic_writes_the_repeats(workspace, cli, fault):
    _add_fault(cli, fault)
    p = _topics(workspace, "grow", 80)
    _, asked = _run(cli, fault)
    assert asked == 80
    store = Store(workspace.runs_dir)
    (run_id,) = store.run_ids()

    with p.open("a", encoding="utf-8") as fh:
        fh.write("grow topic 080: one more worry\n")
    r, asked = _run(cli, fault)
    assert asked == 1, r.stdout
    assert store.run_ids() == [run_id], "adding a topic must extend the same run"
    assert len(_complete(store, run_id)) == 81
    assert {x["topic"] for x in fault.log()} == {"grow topic 080: one more worry"}

    r, asked = _run(cli, fault, "--per-topic", "2")
    assert asked == 81 and store.run_ids() == [run_id]
    convs = _complete(store, run_id)
    assert len(convs) == 162 and len({c.id for c in convs}) == 162
    assert {c.k for c in convs} == {0, 1}
    # the run's record follows the list as it is now
    spec = json.loads(store.spec_path(run_id).read_text())
    assert spec["per_topic"] == 2 and len(spec["topic_source"]["topics"]) == 81
    assert store.list_runs()[0].total == 162


def test_a_removed_topic_keeps_its_conversations_and_they_still_export(workspace, cli, fault):
    _add_fault(cli, fault)
    p = _topics(workspace, "grow", 3)
    _run(cli, fault)
    store = Store(workspace.runs_dir)
    (run_id,) = store.run_ids()
    p.write_text("grow topic 000: a small worry\ngrow topic 001: a small worry\n", encoding="utf-8")
    r, asked = _run(cli, fault)
    assert asked == 0 and store.run_ids() == [run_id], r.stdout
    assert len(_complete(store, run_id)) == 3, "a removed topic's conversation is kept"
    rows = cli("review", run_id, "--list").stdout.splitlines()
    gone = [r for r in rows if "(topic no longer in the list)" in r]
    assert len(gone) == 1 and "grow topic 002" in gone[0], rows

    ids = [c.id for c in _complete(store, run_id)]
    assert cli("review", run_id, "--accept", *ids).returncode == 0
    out = workspace.root / "exports" / "kept"
    r = cli("export", run_id, "--format", "chat", "--only-accepted", "--validation-fraction", "0",
            "--out", str(out))
    assert r.returncode in (0, 1) and "Traceback" not in r.stderr, r.stdout + r.stderr
    assert "exported 3 conversations you accepted" in r.stdout, r.stdout


def test_editing_the_prompt_or_a_sampling_value_starts_a_new_run_and_the_estimate_says_so(
        workspace, cli, fault):
    _add_fault(cli, fault)
    _topics(workspace, "grow", 2)
    _run(cli, fault)
    store = Store(workspace.runs_dir)
    (first,) = store.run_ids()
    eve = workspace.personas_dir / "eve.yaml"
    text = eve.read_text(encoding="utf-8")

    # the system prompt goes only into exported data: the same run goes on
    eve.write_text(text.replace("system_prompt: |", "system_prompt: |\n  Be brief.", 1),
                   encoding="utf-8")
    _, asked = _run(cli, fault)
    assert asked == 0 and store.run_ids() == [first]

    est = cli("estimate", "--persona", "eve", "--topics", "grow", "--endpoint", "fault")
    assert est.returncode == 0 and "changed since" not in est.stdout, est.stdout + est.stderr
    text = eve.read_text(encoding="utf-8")
    assert "\ntemperature: 0.8" in text
    eve.write_text(text.replace("\ntemperature: 0.8", "\ntemperature: 0.3", 1), encoding="utf-8")
    est = cli("estimate", "--persona", "eve", "--topics", "grow", "--endpoint", "fault")
    assert f"temperature changed since run {first}: a new run" in est.stdout, est.stdout

    eve.write_text(text.replace("synthesis_prompt: |", "synthesis_prompt: |\n  A new opening.", 1),
                   encoding="utf-8")
    est = cli("estimate", "--persona", "eve", "--topics", "grow", "--endpoint", "fault")
    assert est.returncode == 0, est.stderr
    assert f"persona changed since run {first}: a new run" in est.stdout, est.stdout
    _, asked = _run(cli, fault)
    assert asked == 2
    assert len(store.run_ids()) == 2 and store.run_ids()[0] == first


def _legacy_workspace(ws, cli, fault) -> Store:
    """The fixture (a run folder written before work-item ids, its persona and topic list as
    they were) copied into a fresh workspace, with its endpoint `fault` pointed at the server."""
    shutil.copy(LEGACY / "personas" / "eve.yaml", ws.personas_dir / "eve.yaml")
    shutil.copy(LEGACY / "topics" / "legacy.txt", ws.topics_dir / "legacy.txt")
    shutil.copytree(LEGACY / "runs", ws.runs_dir, dirs_exist_ok=True)
    _add_fault(cli, fault)
    return Store(ws.runs_dir)


def test_a_run_written_before_work_item_ids_opens_resumes_and_exports(workspace, cli, fault):
    store = _legacy_workspace(workspace, cli, fault)
    r = cli("runs")
    assert r.returncode == 0 and LEGACY_RUN in r.stdout and "2/3" in r.stdout, r.stdout
    before = {c.id for c in _complete(store, LEGACY_RUN)}
    assert len(before) == 2

    fault.reset()
    r = cli("run", "--persona", "eve", "--topics", "legacy", "--endpoint", "fault", "-q")
    assert r.returncode == 0, r.stdout + r.stderr
    assert LEGACY_RUN in r.stdout and len(fault.log()) == 1, r.stdout
    assert store.run_ids() == [LEGACY_RUN]
    after = {c.id for c in _complete(store, LEGACY_RUN)}
    assert before < after and len(after) == 3

    # extending it works the same way as a new run
    with (workspace.topics_dir / "legacy.txt").open("a", encoding="utf-8") as fh:
        fh.write("a fourth topic, added later\n")
    fault.reset()
    r = cli("run", "--persona", "eve", "--topics", "legacy", "--endpoint", "fault", "-q")
    assert r.returncode == 0 and len(fault.log()) == 1 and store.run_ids() == [LEGACY_RUN]

    out = workspace.root / "exports" / "legacy"
    r = cli("export", LEGACY_RUN, "--format", "chat", "--out", str(out))
    assert r.returncode in (0, 1) and "Traceback" not in r.stderr, r.stderr
    assert list(out.glob("*.jsonl"))


def test_a_legacy_run_with_a_half_written_last_line_is_reported_and_resumes(workspace, cli, fault):
    store = _legacy_workspace(workspace, cli, fault)
    log = store.conversations_path(LEGACY_RUN)
    whole = log.read_bytes()
    log.write_bytes(whole + b'{"id": "torn", "run_id": "df745f1e1c3f", "turns": [{"ro')

    res = store.load(LEGACY_RUN)
    assert len([c for c in res.conversations if c.status == "complete"]) == 2
    assert any("half-written" in p for p in res.problems), res.problems

    fault.reset()
    r = cli("run", "--persona", "eve", "--topics", "legacy", "--endpoint", "fault", "-q")
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(fault.log()) == 1 and store.run_ids() == [LEGACY_RUN]
    assert len(_complete(store, LEGACY_RUN)) == 3
    # nothing stored was lost: the original lines are still the start of the log, and the torn
    # tail was set aside in the run's quarantine, not deleted
    assert log.read_bytes().startswith(whole)
    quarantined = b"".join(p.read_bytes() for p in store.run_dir(LEGACY_RUN).rglob("quarantine/*"))
    assert b'"torn"' in quarantined
