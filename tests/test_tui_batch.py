"""Synthesize "as a batch job": the app's batch panel driven with Pilot against the loopback
Files/Batches server (tests/batchserver.py), which answers through the real fault server."""

from __future__ import annotations

import json

import pytest

from faultserver import FaultServer
from synth.dataset.store import Store
from tests.batchserver import BatchServer
from tui.app import ChatsynthApp
from tui.testing import notified, steady, wait_for
from tui.widgets.batch_panel import BatchPanel

SIZE = (160, 48)


@pytest.fixture
def servers():
    with FaultServer() as fs, BatchServer(fs.url) as bs:
        yield fs, bs


@pytest.fixture
def fast_polls(monkeypatch):
    monkeypatch.setattr(BatchPanel, "POLL_FIRST", 0.2)  # the backoff's first step, in seconds


def batch_endpoint(ws, url: str, batch: bool = True) -> None:
    """The workspace's default endpoint: the loopback batch server, with batch: true."""
    text = ws.config_path.read_text(encoding="utf-8")
    text = text.replace("default_endpoint: local", "default_endpoint: bat")
    entry = (f"endpoints:\n  - name: bat\n    base_url: {url}\n    default_model: gpt-4o-mini\n"
             f"    style: completion\n" + ("    batch: true\n" if batch else ""))
    ws.config_path.write_text(text.replace("endpoints:\n", entry, 1), encoding="utf-8")
    ws.reload()


def stored_ids(ws, run_id):
    path = Store(ws.runs_dir).conversations_path(run_id)
    return [json.loads(x)["id"] for x in path.read_text().splitlines()[1:]]


def status(scr) -> str:
    return str(scr.query_one("#batch-status").render())


async def offered(pilot, limit: str = "6"):
    scr = pilot.app.screen
    panel = scr.query_one(BatchPanel)
    scr.query_one("#rf-limit").value = limit
    await wait_for(pilot, lambda: panel.display and f"{limit} requests, at most" in status(scr),
                   timeout=15)
    return scr, panel


async def test_submit_collect_resend_failed_and_review(workspace, servers, fast_polls):
    fs, bs = servers
    batch_endpoint(workspace, bs.url)
    bs.upload_429 = 1  # the first upload is told to slow down: retried, not lost
    bs.error_every = 3  # every third request of a batch ends as an error line
    app = ChatsynthApp(workspace, blink=False, first_run=False, start="synthesize")
    async with app.run_test(size=SIZE) as pilot:
        scr, panel = await offered(pilot)
        assert "6 requests, at most $" in status(scr)
        await pilot.press("b")
        await wait_for(pilot, lambda: panel.run_id is not None and not panel.submitting, 20)
        run = panel.run_id
        await wait_for(pilot, lambda: "the run holds 4 of 80" in status(scr), timeout=30)
        assert "2 answered with an error or not at all: s sends them again" in status(scr)
        table = scr.query_one("#batch-table")
        assert table.row_count == 1 and "completed" in str(table.get_row_at(0)[1])
        assert len(stored_ids(workspace, run)) == 4
        await notified(pilot, "v opens them in Review")
        bs.error_every = None
        table.focus()
        await pilot.press("s")  # send the failed ones again
        await wait_for(pilot, lambda: "the run holds 6 of 80" in status(scr), timeout=30)
        assert table.row_count == 2
        ids = stored_ids(workspace, run)
        assert len(ids) == 6 == len(set(ids))  # every work item stored exactly once
        await pilot.press("g")  # checking again collects nothing twice
        await pilot.pause(0.5)
        await wait_for(pilot, lambda: not panel._busy)
        assert len(stored_ids(workspace, run)) == 6
        await pilot.press("v")
        await wait_for(pilot, lambda: app.screen.MODE == "review")
        assert app.current_run_id == run
        assert app.unexpected_errors == []
    assert ("POST", "/v1/files") in bs.calls and ("POST", "/v1/batches") in bs.calls


async def test_batches_in_flight_are_found_again_after_quitting(workspace, servers, fast_polls):
    fs, bs = servers
    batch_endpoint(workspace, bs.url)
    bs.hold = True  # the batch stays in_progress until released
    app = ChatsynthApp(workspace, blink=False, first_run=False, start="synthesize")
    async with app.run_test(size=SIZE) as pilot:
        scr, panel = await offered(pilot, "3")
        await pilot.press("b")
        await wait_for(pilot, lambda: panel.run_id is not None and not panel.submitting, 20)
        run = panel.run_id
        await wait_for(pilot, lambda: "1 running" in status(scr), timeout=15)
        await pilot.press("ctrl+q")
    assert not Store(workspace.runs_dir).conversations_path(run).exists() or \
        stored_ids(workspace, run) == []
    bs.release()
    app = ChatsynthApp(workspace, blink=False, first_run=False, start="synthesize")
    async with app.run_test(size=SIZE) as pilot:
        scr = app.screen
        panel = scr.query_one(BatchPanel)
        await wait_for(pilot, lambda: panel.run_id == run, timeout=10)
        await wait_for(pilot, lambda: "the run holds 3 of 80" in status(scr), timeout=30)
        assert app.unexpected_errors == []
    assert len(set(stored_ids(workspace, run))) == 3 == len(stored_ids(workspace, run))


async def test_errors_are_shown_and_the_run_stays_resumable(workspace, servers, fast_polls):
    fs, bs = servers
    batch_endpoint(workspace, bs.url)
    bs.fail_validation = True  # the first batch fails validation
    app = ChatsynthApp(workspace, blink=False, first_run=False, start="synthesize")
    async with app.run_test(size=SIZE) as pilot:
        scr, panel = await offered(pilot, "3")
        bs.retrieve_500 = 4  # the first checks get HTTP 500: shown, then tried again
        await pilot.press("b")
        await wait_for(pilot, lambda: panel.run_id is not None and not panel.submitting, 20)
        await wait_for(pilot, lambda: "✗ part-0001.jsonl failed" in status(scr), timeout=40)
        assert "3 answered with an error or not at all: s sends them again" in status(scr)
        # b again on a run whose parts are all submitted sends what is missing as new parts
        await pilot.press("b")
        await wait_for(pilot, lambda: "the run holds 3 of 80" in status(scr), timeout=40)
        assert [r[0] for r in map(scr.query_one("#batch-table").get_row_at, range(2))] == \
            ["part-0001", "more1-0001"]
        assert app.unexpected_errors == []


async def test_an_endpoint_without_batch_jobs_is_not_offered(workspace, servers):
    fs, bs = servers
    batch_endpoint(workspace, bs.url, batch=False)
    app = ChatsynthApp(workspace, blink=False, first_run=False, start="synthesize")
    async with app.run_test(size=SIZE) as pilot:
        scr = app.screen
        panel = scr.query_one(BatchPanel)
        await wait_for(pilot, lambda: "prompt tokens" in str(scr.query_one("#estimate").render()))
        await pilot.press("b")
        await notified(pilot, "endpoint bat takes no batch jobs: turn on 'Takes batch jobs'")
        assert not panel.display and panel.run_id is None
        assert bs.calls == []


def panel_ws(workspace):
    """A run with batch records as a session would leave them (fixed ids and ages)."""
    import time

    from synth.generate.batch_api import Jobs
    from tui.runner import RunRequest
    from tui.services import Services

    batch_endpoint(workspace, "http://127.0.0.1:9/v1")
    services = Services(workspace)
    spec = services.spec_for(RunRequest(persona="eve", topics="eve", endpoint="bat", limit=8),
                             endpoint="bat", model="gpt-4o-mini", style="completion")
    run = Store(workspace.runs_dir).open_run(spec) or spec.run_id
    jobs = Jobs(Store(workspace.runs_dir), run)
    now = time.time()
    jobs.put("part-0001.jsonl", state="submitted", batch_id="batch_0001", status="completed",
             requests=6, counts={"total": 6, "completed": 4, "failed": 2},
             submitted_at=now - 3 * 3600, collected=True)
    jobs.put("retry1-0001.jsonl", state="submitted", batch_id="batch_0002",
             status="in_progress", requests=2, counts={"total": 2, "completed": 1, "failed": 0},
             submitted_at=now - 600)
    jobs.put("part-0002.jsonl", state="uploading", requests=2)
    return workspace


@pytest.mark.parametrize("size", [(160, 48), (80, 24)], ids=["160x48", "80x24"])
def test_synthesize_with_the_batch_panel(workspace, snap_compare, monkeypatch, size):
    # found again at start; no check is made while the picture is taken
    monkeypatch.setattr(BatchPanel, "POLL_REOPEN", 3600.0)
    monkeypatch.setattr(BatchPanel, "POLL_FIRST", 3600.0)
    ws = panel_ws(workspace)

    async def ready(pilot):
        scr = pilot.app.screen
        panel = scr.query_one(BatchPanel)
        await wait_for(pilot, lambda: panel.run_id is not None)
        est = scr.query_one("#estimate")
        await wait_for(pilot, lambda: "prompt tokens" in str(est.render()))
        await steady(pilot)

    app = ChatsynthApp(ws, blink=False, first_run=False, start="synthesize")
    assert snap_compare(app, terminal_size=size, run_before=ready)
