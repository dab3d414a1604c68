"""Datasets in the app: Review's D adds the shown run to a dataset (made when new; a mistake is
said in the dialog, which keeps the typed name), and Export picks a dataset like a run."""

from __future__ import annotations

from data.factory import make_run
from synth.dataset.datasets import Datasets
from synth.dataset.store import Store
from tui.app import ChatsynthApp
from tui.testing import wait_for

SIZE = (120, 40)


def _runs(ws):
    _, a, _ = make_run(ws.runs_dir, n_topics=10, per_topic=1, model="model-one")
    _, b, _ = make_run(ws.runs_dir, n_topics=10, per_topic=1, model="model-two", first_topic=20)
    return a, b


async def test_review_D_adds_the_run_to_a_dataset_and_says_what_is_wrong_in_place(workspace):
    a, b = _runs(workspace)
    sets = Datasets(Store(workspace.runs_dir))
    app = ChatsynthApp(workspace, blink=False, first_run=False, start="review")
    async with app.run_test(size=SIZE) as pilot:
        scr = app.screen
        await wait_for(pilot, lambda: scr.rs is not None)
        shown = scr.run_id
        assert shown in (a, b)
        scr.query_one("#review-table").focus()
        await pilot.press("D")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "TextPrompt")
        await pilot.press(*"mix", "enter")
        await wait_for(pilot, lambda: sets.exists("mix"))
        assert sets.get("mix").runs == [shown]
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ReviewScreen")
        # the same run again: refused in the dialog, the name kept
        await pilot.press("D")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "TextPrompt")
        await pilot.press(*"mix", "enter")
        err = app.screen.query_one("#prompt-error")
        await wait_for(pilot, lambda: "already in dataset 'mix'" in str(err.render()))
        assert app.screen.query_one("#prompt-input").value == "mix"
        await pilot.press("escape")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ReviewScreen")
        assert sets.get("mix").runs == [shown]


async def test_export_picks_a_dataset_and_checks_it_as_one_set(workspace):
    a, b = _runs(workspace)
    Datasets(Store(workspace.runs_dir)).create("mix", [a, b])
    app = ChatsynthApp(workspace, blink=False, first_run=False, start="export")
    async with app.run_test(size=SIZE) as pilot:
        scr = app.screen
        await wait_for(pilot, lambda: scr.run_id is not None)
        picker = scr.query_one("#export-run")
        labels = [str(label) for label, _ in picker._options]
        assert any(lab.startswith("dataset mix · 2 runs") for lab in labels), labels
        picker.value = "dataset:mix"
        await wait_for(pilot, lambda: scr.run_id == "dataset:mix")
        status = scr.query_one("#export-status")
        assert "Dataset mix" in str(status.render())
        await pilot.press("f5")
        await wait_for(pilot, lambda: "Checked" in str(status.render()), timeout=30)
        report = scr.query_one("#export-report")._markdown
        assert "Dataset report: dataset mix" in report and "## Runs" in report
        assert not any(workspace.exports_dir.iterdir())  # a check writes nothing
