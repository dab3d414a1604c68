"""Trim, Review and Export screens on a run written through the app's run controller against
the loopback fault server."""

from __future__ import annotations

import json

import pytest

from faultserver import FaultServer
from synth.curate.review import Review
from synth.dataset.store import Store
from tui.app import ChatsynthApp
from tui.testing import make_run, use_endpoint, wait_for

SIZE = (120, 40)


@pytest.fixture
def run_ws(workspace):
    with FaultServer() as fs:
        use_endpoint(workspace, fs.url)
        fin = make_run(workspace, limit=6)
    assert fin.done == 6
    return workspace


def app_at(ws, mode):
    return ChatsynthApp(ws, blink=False, first_run=False, start=mode)


async def test_trim_preview_and_apply(run_ws):
    store = Store(run_ws.runs_dir)
    run_id = store.resolve_run("latest")
    app = app_at(run_ws, "trim")
    async with app.run_test(size=SIZE) as pilot:
        scr = app.screen
        await wait_for(pilot, lambda: scr.rs is not None and scr.preview is not None)
        assert scr.preview.trim.stop is None  # the server honoured the stops: nothing to cut
        turns_before = len(scr.preview.turns)
        # a new stop sequence: the cut moves at once, no request
        scr.query_one("#trim-stops").load_text("EVE: what would")
        await wait_for(pilot, lambda: scr.preview.trim.stop == "EVE: what would")
        raw = scr.query_one("#trim-raw").render()
        assert "✂ 'EVE: what would'" in str(raw)
        assert "cut at 'EVE: what would'" in str(scr.query_one("#trim-status").render())
        assert len(scr.preview.turns) < turns_before
        cid = scr.selected
        kept = len(scr.preview.turns)
        scr.query_one("#trim-table").focus()
        await pilot.press("ctrl+s")  # apply to this conversation
        await wait_for(pilot, lambda: Review(store, run_id).load().by_id(cid).edited)
        assert len(Review(store, run_id).load().by_id(cid).turns) == kept
        # and to the whole run, after a question that says how many change
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ConfirmDialog")
        question = str(app.screen.query_one(".dialog-question").render())
        assert "of 5 unedited conversations change (1 edited by hand stays as it is)" in question
        await pilot.press("y")
        await wait_for(pilot, lambda: store.run_meta(run_id).get("retrim_stops") == ["EVE: what would"])
        table = scr.query_one("#trim-table")
        await wait_for(pilot, lambda: table.get_cell(cid, "stop") == "edited")
        cuts = [table.get_cell(k, "stop") for k in table.rows if k.value != cid]
        assert "'EVE: what would'" in cuts, "the table shows where the run's re-trim cuts"
        assert app.unexpected_errors == []


async def test_review_accept_reject_filter_next_and_edit(run_ws):
    store = Store(run_ws.runs_dir)
    run_id = store.resolve_run("latest")
    app = app_at(run_ws, "review")
    async with app.run_test(size=SIZE) as pilot:
        scr = app.screen
        await wait_for(pilot, lambda: scr.rs is not None and len(scr.shown) == 6)
        table = scr.query_one("#review-table")
        table.focus()
        first = scr.selected
        await pilot.press("a")
        await wait_for(pilot, lambda: store.reviews(run_id).get(first) is not None)
        assert store.reviews(run_id)[first].decision == "accepted"
        second = scr.selected
        assert second != first  # moved on to the next one
        await pilot.press("x")
        await wait_for(pilot, lambda: second in store.reviews(run_id))
        assert store.reviews(run_id)[second].decision == "rejected"
        assert "✗ rejected" in str(table.get_row(second)[0])
        # filter by verdict
        scr.query_one("#review-view").value = "rejected"
        await wait_for(pilot, lambda: scr.shown == [second])
        scr.query_one("#review-view").value = "all"
        await wait_for(pilot, lambda: len(scr.shown) == 6)
        # edit a turn: the original stays in the log, the edit is what counts
        table.focus()
        table.move_cursor(row=2)
        await pilot.pause()
        target = scr.selected
        tokens_before = table.get_cell(target, "tokens")
        await pilot.press("e")
        await pilot.pause()
        area = app.screen.query_one("#edit-text")
        area.load_text("I changed this turn.")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: Review(store, run_id).load().by_id(target).edited)
        it = Review(store, run_id).load().by_id(target)
        assert "I changed this turn." in [t.text for t in it.turns]
        # the Tokens column counts the edited conversation (it was the generation's usage)
        from synth.curate.review import conversation_tokens
        await wait_for(pilot, lambda: table.get_cell(target, "tokens") != tokens_before)
        assert table.get_cell(target, "tokens") == f"{conversation_tokens([it.turns])[0]:,}"
        assert "I changed this turn." not in it.conv.raw_text
        assert app.unexpected_errors == []
    # decisions persist: a new app shows them
    app2 = app_at(run_ws, "review")
    async with app2.run_test(size=SIZE) as pilot:
        scr = app2.screen
        await wait_for(pilot, lambda: scr.rs is not None and scr.shown)
        assert scr.rs.by_id(first).decision == "accepted"
        assert scr.rs.by_id(second).decision == "rejected"


async def test_review_next_flagged(run_ws):
    store = Store(run_ws.runs_dir)
    run_id = store.resolve_run("latest")
    # make one conversation flagged: an edit that leaves a single turn
    rs = Review(store, run_id).load()
    victim = rs.items[3]
    Review(store, run_id).edit(victim.id, victim.turns[:1])
    app = app_at(run_ws, "review")
    async with app.run_test(size=SIZE) as pilot:
        scr = app.screen
        await wait_for(pilot, lambda: scr.rs is not None and scr.shown)
        assert scr.rs.by_id(victim.id).state == "flagged"
        scr.query_one("#review-table").focus()
        await pilot.press("n")
        await wait_for(pilot, lambda: scr.selected == victim.id)
        reasons = str(scr.query_one("#review-reasons").render())
        assert "turn_count" in reasons
        scr.query_one("#review-reason").value = "turn_count"
        await wait_for(pilot, lambda: scr.shown == [victim.id])


async def test_export_check_then_write(run_ws):
    """6 conversations: the train file would hold 5 examples, under the 10 a trainer needs, so
    Write asks first, naming the error; No writes nothing, Write anyway writes."""
    from tui.screens.dialogs import ConfirmDialog

    app = app_at(run_ws, "export")
    async with app.run_test(size=SIZE) as pilot:
        scr = app.screen
        await wait_for(pilot, lambda: scr.run_id is not None)
        await pilot.press("f5")
        status = scr.query_one("#export-status")
        await wait_for(pilot, lambda: "Checked" in str(status.render()), timeout=30)
        assert not any(run_ws.exports_dir.iterdir())  # a check writes nothing
        assert "Dataset report" in scr.query_one("#export-report")._markdown
        assert "not written unless you confirm: chat.train.jsonl" in str(status.render())
        await pilot.press("ctrl+w")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), timeout=30)
        question = str(app.screen.query_one(".dialog-question").render())
        assert "chat.train.jsonl would fail validation" in question
        assert "only 5 example(s): fine-tuning needs at least 10 [too_few_examples]" in question
        await pilot.press("n")
        await wait_for(pilot, lambda: "Nothing written" in str(status.render()))
        assert not any(run_ws.exports_dir.iterdir())
        await pilot.press("ctrl+w")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), timeout=30)
        await pilot.press("y")
        await wait_for(pilot, lambda: "Written" in str(status.render()), timeout=30)
        assert "Written WITH ERRORS, as you confirmed (✗ 1 errors" in str(status.render())
        out = [p for p in run_ws.exports_dir.iterdir() if p.is_dir()]
        assert len(out) == 1
        train = out[0] / "chat.train.jsonl"
        assert train.exists() and str(train) in str(status.render())
        first = json.loads(train.read_text().splitlines()[0])
        assert [m["role"] for m in first["messages"]][:2] == ["system", "user"]
        assert (out[0] / "report.md").exists()
        assert app.unexpected_errors == []


async def test_export_checkboxes_show_their_state(run_ws):
    from tui.widgets.mark_checkbox import MarkCheckbox

    app = app_at(run_ws, "export")
    async with app.run_test(size=SIZE) as pilot:
        scr = app.screen
        await wait_for(pilot, lambda: scr.run_id is not None)
        chat, sharegpt = scr.query_one("#ex-fmt-chat", MarkCheckbox), scr.query_one("#ex-fmt-sharegpt", MarkCheckbox)
        assert str(chat.render()).startswith("[✓]") and str(sharegpt.render()).startswith("[ ]")
        sharegpt.focus()
        await pilot.press("space")
        await wait_for(pilot, lambda: sharegpt.value)
        assert str(sharegpt.render()).startswith("[✓]")
        assert scr.options().formats == ["chat", "sharegpt"]


async def test_exported_file_passes_validate(run_ws, cli):
    app = app_at(run_ws, "export")
    async with app.run_test(size=SIZE) as pilot:
        scr = app.screen
        await wait_for(pilot, lambda: scr.run_id is not None)
        scr.query_one("#ex-split").value = "conversation"  # 6 conversations: 5 train, 1 validation
        await pilot.press("ctrl+w")
        await wait_for(pilot, lambda: len(app.screen_stack) > 1 or "Written" in str(
            scr.query_one("#export-status").render()), timeout=30)
        await pilot.press("y")  # the train file has too few examples: written as confirmed
        await wait_for(pilot, lambda: "Written" in str(scr.query_one("#export-status").render()),
                       timeout=30)
    out = next(p for p in run_ws.exports_dir.iterdir() if p.is_dir())
    res = cli("validate", str(out / "chat.validation.jsonl"))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "0 error(s)" in res.stdout
    res = cli("validate", str(out / "chat.train.jsonl"))
    assert res.returncode == 1 and "[too_few_examples]" in res.stdout  # what the dialog named
