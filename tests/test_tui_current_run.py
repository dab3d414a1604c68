"""The run a user picks on one screen is the one the others open: Review, Trim and Export follow
the app's current run, and a pick in any of their pickers makes it current (an Export that
came back from its "Write anyway?" dialog used to jump to the newest run)."""

from __future__ import annotations

from tests.faultserver import FaultServer
from tui.app import ChatsynthApp
from tui.testing import make_run, use_endpoint, wait_for


def _two_runs(ws) -> tuple[str, str]:
    with FaultServer() as fs:
        use_endpoint(ws, fs.url)
        old = make_run(ws, limit=2, concurrency=1).run_id
        new = make_run(ws, limit=2, topics="socratic-tutor", persona="socratic-tutor").run_id
    return old, new


async def test_a_run_picked_in_review_is_the_one_export_and_trim_open(workspace):
    old, new = _two_runs(workspace)
    app = ChatsynthApp(workspace, blink=False, first_run=False, start="review")
    async with app.run_test(size=(120, 40)) as pilot:
        picker = app.screen.query_one("#review-run")
        await wait_for(pilot, lambda: picker.value == new)  # the newest first
        assert picker.prompt == "pick a run"  # not "no runs yet" above a list of runs
        picker.value = old
        await wait_for(pilot, lambda: app.screen.run_id == old)
        await pilot.press("5")
        export = app.screen
        await wait_for(pilot, lambda: export.query_one("#export-run").value == old)
        assert export.run_id == old
        await pilot.press("3")
        await wait_for(pilot, lambda: app.screen.query_one("#trim-run").value == old)
        # a pick in Export's own picker holds when Export comes back (after a dialog, a tab)
        await pilot.press("5")
        await wait_for(pilot, lambda: app.screen is export)
        export.query_one("#export-run").value = new
        await wait_for(pilot, lambda: export.run_id == new)
        await pilot.press("4")
        await wait_for(pilot, lambda: app.screen.query_one("#review-run").value == new)
        await pilot.press("5")
        await wait_for(pilot, lambda: app.screen is export)
        await pilot.pause()
        assert export.query_one("#export-run").value == new


async def test_with_no_runs_the_picker_says_so(workspace):
    app = ChatsynthApp(workspace, blink=False, first_run=False, start="export")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        picker = app.screen.query_one("#export-run")
        assert picker.is_blank() and picker.prompt == "no runs yet"
