"""Trim on a big run (issue 15 item 4): its rows, with where each conversation is cut, come from
the run's index and a read of each row on view; the whole run is read only when something needs
it (typed stops, Ctrl+R) or a moment after the first paint.  Before, the "Cut at" and "Turns"
columns showed "…" until a full load that started right after the first paint and held the
interpreter through the first second (bench_bigrun: Trim's first paint 1.59 s on 100,000).

A run counts as big from ``prefill.CHILD_FROM`` conversations; these tests lower it to 1 so a
run of 120 counts, and set how long the deferred load waits, so no clock decides a result."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from synth.curate.review import Review
from synth.dataset import prefill
from tui.app import ChatsynthApp
from tui.screens.trim import TrimScreen
from tui.testing import notified, wait_for

REPO = Path(__file__).resolve().parent.parent
N = 120


def _big_run(workspace, monkeypatch):
    spec = importlib.util.spec_from_file_location("bench_export", REPO / "bench" / "bench_export.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    store, run_id, _ = mod.make_store(workspace.runs_dir, N)
    monkeypatch.setattr(prefill, "CHILD_FROM", 1)
    return store, run_id


async def _opened(pilot):
    scr = pilot.app.screen
    table = scr.query_one("#trim-table")
    await wait_for(pilot, lambda: table.row_count == N and scr.preview is not None, 30)
    await pilot.pause()
    return scr, table


async def test_trim_rows_show_their_cuts_before_the_whole_run_is_read(workspace, monkeypatch):
    store, run_id = _big_run(workspace, monkeypatch)
    turns = {it.id: str(len(it.turns)) for it in Review(store, run_id).load(filters=False).items}
    monkeypatch.setattr(TrimScreen, "DEFER_LOAD", 600.0)  # only a need starts the full load
    app = ChatsynthApp(workspace, blink=False, first_run=False, start="trim")
    async with app.run_test(size=(160, 48)) as pilot:
        scr, table = await _opened(pilot)
        await pilot.pause(0.3)
        assert scr.rs is None, "the full load waits for a need"
        on_view = table.keys_on_view()
        assert len(on_view) > 20
        assert [table.get_cell(k, "stop") for k in on_view] == ["—"] * len(on_view)
        assert [table.get_cell(k, "turns") for k in on_view] == [turns[k] for k in on_view]
        # Ctrl+R needs the whole run: it says so and starts reading it
        table.focus()
        await pilot.press("ctrl+r")
        await notified(pilot, "Still reading the run")
        await wait_for(pilot, lambda: scr.rs is not None, 30)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ConfirmDialog")
        await pilot.press("n")
    assert app.unexpected_errors == []


async def test_typed_stops_start_the_deferred_load_and_the_table_follows(workspace, monkeypatch):
    _big_run(workspace, monkeypatch)
    monkeypatch.setattr(TrimScreen, "DEFER_LOAD", 600.0)
    app = ChatsynthApp(workspace, blink=False, first_run=False, start="trim")
    async with app.run_test(size=(160, 48)) as pilot:
        scr, _ = await _opened(pilot)
        assert scr.rs is None
        scr.query_one("#trim-stops").load_text("EVE:")
        await wait_for(pilot, lambda: scr.rs is not None and scr.cuts_for == ["EVE:"], 30)
    assert app.unexpected_errors == []


async def test_the_deferred_load_starts_on_its_own(workspace, monkeypatch):
    _big_run(workspace, monkeypatch)
    monkeypatch.setattr(TrimScreen, "DEFER_LOAD", 0.2)
    app = ChatsynthApp(workspace, blink=False, first_run=False, start="trim")
    async with app.run_test(size=(160, 48)) as pilot:
        scr, _ = await _opened(pilot)
        await wait_for(pilot, lambda: scr.rs is not None and len(scr.rs.items) == N, 30)
    assert app.unexpected_errors == []
