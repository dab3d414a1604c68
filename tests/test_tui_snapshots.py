"""SVG snapshots of every screen at 120x40, and at 80x24 (the smallest size every screen must
be usable at), with fixed data (cursor blink off, no clock on screen).  Update after a deliberate change with `pytest tests/test_tui_snapshots.py
--snapshot-update` and look at the SVGs."""

from __future__ import annotations

import dataclasses

import pytest

from faultserver import FaultServer
from tui.app import ChatsynthApp
from tui.testing import make_run, steady, unchanged, use_endpoint, wait_for

SIZE = (120, 40)
SMALL = (80, 24)


@pytest.fixture
def no_keyring(monkeypatch):
    """The same keyring message on every machine."""
    import keyring.core

    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setattr(keyring.core, "_keyring_backend", None)
    yield
    keyring.core._keyring_backend = None


@pytest.fixture
def run_ws(workspace):
    with FaultServer() as fs:
        use_endpoint(workspace, fs.url)
        make_run(workspace, limit=6, concurrency=1)  # stored in topic order
    return workspace


def app_at(ws, mode):
    return ChatsynthApp(ws, blink=False, first_run=False, start=mode)


async def library_ready(pilot):
    scr = pilot.app.screen
    await wait_for(pilot, lambda: scr.current is not None)
    await steady(pilot)


async def library_invalid_edit(pilot):
    scr = pilot.app.screen
    await wait_for(pilot, lambda: scr.current is not None)
    await pilot.press("ctrl+e")
    await wait_for(pilot, lambda: scr.form is not None and scr.form.original is not None)
    field = scr.query_one("#pf-user_label")
    field.value = "EVE"
    await wait_for(pilot, lambda: scr.query_one("#persona-form").error)
    # the editor puts the focus on its first field after a refresh: settle it on the field the
    # user typed in, or the picture depends on which came first (the cursor is drawn in it)
    field.focus()
    await wait_for(pilot, lambda: pilot.app.focused is field)
    await steady(pilot)
    # focusing scrolls the form to the field, before or after the error line above it grows the
    # form: show it from the top (the error and the field are both there)
    for w in scr.query("#persona-form, #persona-edit"):
        w.scroll_home(animate=False)
    await steady(pilot)
    await unchanged(pilot)


def test_library(workspace, snap_compare):
    assert snap_compare(app_at(workspace, "library"), terminal_size=SIZE, run_before=library_ready)


def test_library_invalid_persona(workspace, snap_compare):
    assert snap_compare(app_at(workspace, "library"), terminal_size=SIZE, run_before=library_invalid_edit)


def test_library_80x24(workspace, snap_compare):
    assert snap_compare(app_at(workspace, "library"), terminal_size=SMALL, run_before=library_ready)


def test_library_editor_80x24(workspace, snap_compare):
    assert snap_compare(app_at(workspace, "library"), terminal_size=SMALL, run_before=library_invalid_edit)


def test_library_topics_80x24(workspace, snap_compare):
    """Narrow: the topics take the persona's place while the topic side has the focus."""
    async def topics(pilot):
        scr = pilot.app.screen
        await wait_for(pilot, lambda: scr.current is not None)
        scr.query_one("#source-list").focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: pilot.app.focused is scr.query_one("#topic-table"))
        await steady(pilot)

    assert snap_compare(app_at(workspace, "library"), terminal_size=SMALL, run_before=topics)


async def synthesize_ready(pilot):
    est = pilot.app.screen.query_one("#estimate")
    await wait_for(pilot, lambda: "prompt tokens" in str(est.render()))
    await steady(pilot)


def test_synthesize_form_and_estimate(workspace, snap_compare):
    assert snap_compare(app_at(workspace, "synthesize"), terminal_size=SIZE, run_before=synthesize_ready)


def test_synthesize_80x24(workspace, snap_compare):
    assert snap_compare(app_at(workspace, "synthesize"), terminal_size=SMALL, run_before=synthesize_ready)


def test_synthesize_finished_run(workspace, snap_compare):
    fs = FaultServer().start()
    use_endpoint(workspace, fs.url)

    async def run(pilot):
        app = pilot.app
        scr = app.screen
        est = scr.query_one("#estimate")
        await wait_for(pilot, lambda: "prompt tokens" in str(est.render()))
        scr.query_one("#rf-limit").value = "5"
        await pilot.press("f5")
        await wait_for(pilot, lambda: scr.live is not None and scr.live.state == "finished", 30)
        await wait_for(pilot, lambda: "5 already" in str(est.render()))
        # speed and time depend on the machine: fix them for the picture
        scr.live.progress = dataclasses.replace(scr.live.progress, tokens_per_s=123.0, elapsed_s=1.0)
        scr.draw_totals()
        scr.follow = False
        table = scr.query_one("#conv-table")
        table.focus()
        table.move_cursor(row=0)
        await pilot.pause()
        scr.draw_selected()
        scr.query_one("#live-chat").scroll_home(animate=False)
        app.clear_notifications()
        await steady(pilot)

    try:
        assert snap_compare(app_at(workspace, "synthesize"), terminal_size=SIZE, run_before=run)
    finally:
        fs.stop()


async def trim_ready(pilot):
    scr = pilot.app.screen
    await wait_for(pilot, lambda: scr.preview is not None)
    scr.query_one("#trim-stops").load_text("EVE: what would")
    await wait_for(pilot, lambda: scr.preview.trim.stop == "EVE: what would")
    await wait_for(pilot, lambda: scr.cuts_for == ["EVE: what would"])  # the table follows
    scr.query_one("#trim-table").focus()
    await steady(pilot)


async def review_ready(pilot):
    scr = pilot.app.screen
    await wait_for(pilot, lambda: scr.rs is not None and scr.shown)
    await pilot.press("a")
    await wait_for(pilot, lambda: scr.rs.items[0].decision == "accepted")
    await pilot.press("x")
    await wait_for(pilot, lambda: scr.rs.items[1].decision == "rejected")
    await steady(pilot)


async def export_ready(pilot):
    scr = pilot.app.screen
    await wait_for(pilot, lambda: scr.run_id is not None)
    await pilot.press("f5")
    await wait_for(pilot, lambda: "Checked" in str(scr.query_one("#export-status").render()), 30)
    await steady(pilot)


async def settings_ready(pilot):
    scr = pilot.app.screen
    await wait_for(pilot, lambda: scr.editing is not None)
    await steady(pilot)


def test_trim(run_ws, snap_compare):
    assert snap_compare(app_at(run_ws, "trim"), terminal_size=SIZE, run_before=trim_ready)


def test_review(run_ws, snap_compare):
    assert snap_compare(app_at(run_ws, "review"), terminal_size=SIZE, run_before=review_ready)


def test_export_checked(run_ws, snap_compare):
    assert snap_compare(app_at(run_ws, "export"), terminal_size=SIZE, run_before=export_ready)


def test_settings(workspace, no_keyring, snap_compare):
    assert snap_compare(app_at(workspace, "settings"), terminal_size=SIZE, run_before=settings_ready)


def test_trim_80x24(run_ws, snap_compare):
    assert snap_compare(app_at(run_ws, "trim"), terminal_size=SMALL, run_before=trim_ready)


def test_review_80x24(run_ws, snap_compare):
    assert snap_compare(app_at(run_ws, "review"), terminal_size=SMALL, run_before=review_ready)


def test_export_80x24(run_ws, snap_compare):
    assert snap_compare(app_at(run_ws, "export"), terminal_size=SMALL, run_before=export_ready)


def test_settings_80x24(workspace, no_keyring, snap_compare):
    assert snap_compare(app_at(workspace, "settings"), terminal_size=SMALL, run_before=settings_ready)


def test_help_light_theme(workspace, snap_compare):
    async def ready(pilot):
        scr = pilot.app.screen
        await wait_for(pilot, lambda: scr.current is not None)
        await pilot.press("ctrl+t", "f1")
        await steady(pilot)

    assert snap_compare(app_at(workspace, "library"), terminal_size=SIZE, run_before=ready)
