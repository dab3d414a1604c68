"""The Eval screen (Ctrl+P "Evaluate an export on its held-out topics") with Pilot, over an export
the real CLI wrote from a run against the loopback fault server: prompted vs finetuned, the table
equal to eval.json's figures, both answers of the opening under the cursor, a contestant whose
endpoint is down (its answers failed, the other shown), Esc cancels (nothing written), an export
with no validation part says so in place; snapshots at 160x48 and 80x24."""

from __future__ import annotations

import json
from pathlib import Path

from textual.widgets import Input, Select

from synth.dataset.evaluate import table_rows
from tui.app import ChatsynthApp
from tui.testing import steady, unchanged, wait_for


def make_export(cli, ws, fs, name: str = "exp", *extra: str) -> Path:
    r = cli("endpoint", "add", "fault", "--base-url", fs.url, "--model", "fault-model",
            "--style", "completion")
    assert r.returncode == 0 or "already" in r.stderr, r.stderr
    # one at a time: the run's conversations (and so the export's validation openings, in the
    # snapshots) are stored in topic order, not in the order a loaded machine finishes them
    r = cli("run", "--persona", "eve", "--topics", "short", "--endpoint", "fault", "-q",
            "--concurrency", "1")
    assert r.returncode == 0, r.stderr
    out = Path(ws.exports_dir) / name
    r = cli("export", "latest", "--out", str(out), "--allow-invalid", *extra)
    assert (out / "report.json").is_file(), r.stderr
    fs.reset()
    return out


def cells(table) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def note(scr) -> str:
    return str(scr.query_one("#ev-note").render())


async def open_eval(app, pilot, a: str = "fault", b: str | None = "fault"):
    await pilot.pause()
    app.action_evaluate()
    scr = await wait_for(pilot, lambda: type(app.screen).__name__ == "EvalScreen" and app.screen)
    await wait_for(pilot, lambda: scr.query("#ev-note") and ("validation" in note(scr) or "✗" in note(scr)))
    scr.query_one("#ev-a-endpoint", Select).value = a
    if b is None:
        scr.query_one("#ev-b-endpoint", Select).clear()
    else:
        scr.query_one("#ev-b-endpoint", Select).value = b
    await pilot.pause()
    return scr


async def test_eval_screen_prompted_vs_finetuned_shows_eval_json(cli, ws, fs):
    exp = make_export(cli, ws, fs)
    app = ChatsynthApp(ws, blink=False, first_run=False, start="export")
    async with app.run_test(size=(160, 48)) as pilot:
        scr = await open_eval(app, pilot)
        assert scr.query_one("#ev-export", Select).value == str(exp)
        assert "Eve: " in note(scr) and "validation conversations on" in note(scr)
        assert scr.specs() == ["fault:prompted", "fault:finetuned"]
        scr.query_one("#ev-turns", Input).value = "2"
        await pilot.press("f5")
        await wait_for(pilot, lambda: scr.report is not None, timeout=30)
        assert "Report: " in note(scr) and str(scr.md_path).endswith("eval.md")
        rep = json.loads((scr.md_path.parent / "eval.json").read_text())
        assert scr.md_path.parent.parent == exp
        n = len(rep["openings"])
        assert n == 2 * rep["conversations"] and [c["answers"] for c in rep["contestants"]] == [n, n]
        summary = scr.query_one("#ev-summary")
        assert cells(summary) == table_rows(rep)[1:]  # the figures are eval.json's
        assert [str(c.label) for c in summary.columns.values()] == table_rows(rep)[0]
        assert any(r[0] == "every rule" for r in cells(summary))
        opens = scr.query_one("#ev-openings")
        # sized from their cells when shown, not on some later idle (a busy app drew the
        # columns cut to their labels)
        for table in (summary, opens):
            for i, col in enumerate(table.columns.values()):
                widest = max(len(str(col.label)), *(len(r[i]) for r in cells(table)))
                assert not col.auto_width and col.width == widest, (table.id, col.label)
        assert opens.row_count == n and cells(opens)[0][:2] == ["1", rep["openings"][0]["topic"]]
        head_a = str(scr.query_one("#ev-chat-a .chat-header").render())
        head_b = str(scr.query_one("#ev-chat-b .chat-header").render())
        assert head_a.startswith("A · fault:prompted · ") and head_b.startswith("B · fault:finetuned · ")
        await pilot.press("down")
        second = rep["answers"][2]  # opening 1, contestant a (sorted by opening, contestant)
        await wait_for(pilot, lambda: second["text"][:20] in
                       " ".join(str(w.render()) for w in scr.query("#ev-chat-a .turn")))
        await pilot.press("escape")
        await wait_for(pilot, lambda: type(app.screen).__name__ != "EvalScreen")
        assert app.unexpected_errors == []


async def test_eval_screen_endpoint_down_marks_its_answers_failed(cli, ws, fs):
    make_export(cli, ws, fs)
    cli("endpoint", "add", "down", "--base-url", "http://127.0.0.1:9/v1", "--model", "m")
    ws.reload()
    app = ChatsynthApp(ws, blink=False, first_run=False, start="review")
    async with app.run_test(size=(160, 48)) as pilot:
        scr = await open_eval(app, pilot, "fault", "down")
        await pilot.press("f5")
        await wait_for(pilot, lambda: scr.report is not None, timeout=60)
        a, b = scr.report["contestants"]
        assert a["failed"] == 0 and b["failed"] == b["answers"] > 0
        assert f"B: {b['failed']} of {b['answers']} answers failed" in note(scr)
        marks = cells(scr.query_one("#ev-openings"))
        assert all(r[3] == "failed" and r[2] != "failed" for r in marks)
        assert "failed: " in str(scr.query_one("#ev-chat-b .chat-header").render())
        assert "passes" in str(scr.query_one("#ev-chat-a .chat-header").render()) or \
            "flagged" in str(scr.query_one("#ev-chat-a .chat-header").render())
        assert app.unexpected_errors == []


async def test_esc_cancels_an_evaluation_and_writes_nothing(cli, ws, fs):
    exp = make_export(cli, ws, fs)
    fs.script(["stall:20"] * 40)
    app = ChatsynthApp(ws, blink=False, first_run=False, start="review")
    async with app.run_test(size=(160, 48)) as pilot:
        scr = await open_eval(app, pilot, "fault", None)
        await pilot.press("f5")
        await wait_for(pilot, lambda: "A: 0/" in note(scr) and "Esc cancels" in note(scr))
        await pilot.press("escape")
        await wait_for(pilot, lambda: "Cancelled: nothing written." in note(scr), timeout=10)
        assert type(app.screen).__name__ == "EvalScreen" and scr.job is None
        assert not list(exp.glob("eval-*"))
        await pilot.press("escape")  # nothing running: Esc closes
        await wait_for(pilot, lambda: type(app.screen).__name__ != "EvalScreen")
        assert app.unexpected_errors == []


async def test_an_export_with_no_validation_part_says_so(cli, ws, fs):
    make_export(cli, ws, fs, "noval", "--validation-fraction", "0")
    app = ChatsynthApp(ws, blink=False, first_run=False, start="review")
    async with app.run_test(size=(80, 24)) as pilot:
        scr = await open_eval(app, pilot)
        assert "the export has no validation part" in note(scr)
        await pilot.press("f5")
        await wait_for(pilot, lambda: scr.job is None and "no validation part" in note(scr))
        assert scr.report is None and app.unexpected_errors == []


async def eval_ready(pilot):
    scr = await open_eval(pilot.app, pilot)
    await pilot.press("f5")
    await wait_for(pilot, lambda: scr.report is not None, timeout=30)
    scr.query_one("#ev-note").update("Report: exports/exp/eval-TIME/eval.md (and eval.json)")
    await pilot.press("down")
    await steady(pilot)
    await unchanged(pilot)  # under load the summary's columns were measured once more after it


def test_eval_snapshot(cli, ws, fs, snap_compare):
    make_export(cli, ws, fs)
    app = ChatsynthApp(ws, blink=False, first_run=False, start="review")
    assert snap_compare(app, terminal_size=(160, 48), run_before=eval_ready)


def test_eval_snapshot_80x24(cli, ws, fs, snap_compare):
    make_export(cli, ws, fs)
    app = ChatsynthApp(ws, blink=False, first_run=False, start="review")
    assert snap_compare(app, terminal_size=(80, 24), run_before=eval_ready)
