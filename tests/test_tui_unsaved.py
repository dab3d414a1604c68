"""Leaving unsaved persona edits: Esc leaves the editor and Ctrl+Q quits, each asking first
(Save / Discard / Cancel) when the form holds changes; nothing is lost without an answer."""

from __future__ import annotations

from synth.library.personas import load_persona
from tui.app import ChatsynthApp
from tui.testing import wait_for

SIZE = (120, 40)


def app_for(ws) -> ChatsynthApp:
    return ChatsynthApp(ws, blink=False, first_run=False, start="library")


async def edit_name(pilot, name: str | None):
    """Open the editor on eve with Enter; type ``name`` into the name field (None: no edit)."""
    scr = pilot.app.screen
    await wait_for(pilot, lambda: scr.current is not None)
    scr.query_one("#persona-list").focus()
    await pilot.press("enter")
    form = await wait_for(pilot, lambda: scr.form)
    await wait_for(pilot, lambda: form.original is not None and pilot.app.focused is scr.query_one("#pf-name"))
    if name is not None:
        scr.query_one("#pf-name").value = name
        await wait_for(pilot, lambda: form.dirty)
    return scr, form


def asking(app) -> bool:
    return type(app.screen).__name__ == "UnsavedDialog"


async def test_escape_leaves_a_clean_editor_at_once(workspace):
    app = app_for(workspace)
    async with app.run_test(size=SIZE) as pilot:
        scr, form = await edit_name(pilot, None)
        await pilot.press("escape")
        await wait_for(pilot, lambda: scr.form is None)
        assert not asking(app)
        assert scr.query_one("#persona-card").display and scr.query_one("#persona-edit").display
        assert app.focused is scr.query_one("#persona-list")
        await pilot.press("4")  # the keys are the screen's again
        await wait_for(pilot, lambda: app.current_mode == "review")
        assert app.unexpected_errors == []


async def test_escape_with_unsaved_edits_asks_cancel_discard_save(workspace):
    path = workspace.personas_dir / "eve.yaml"
    app = app_for(workspace)
    async with app.run_test(size=SIZE) as pilot:
        scr, form = await edit_name(pilot, "Evelyn")
        await pilot.press("escape")
        await wait_for(pilot, lambda: asking(app))
        await pilot.press("escape")  # cancel: still editing, the edit kept
        await wait_for(pilot, lambda: not asking(app))
        assert scr.form is form and scr.query_one("#pf-name").value == "Evelyn"
        scr.query_one("#pf-description").focus()  # Esc from any field of the form
        await pilot.press("escape")
        await wait_for(pilot, lambda: asking(app))
        await pilot.press("d")  # discard: the card shows the saved persona, the file untouched
        await wait_for(pilot, lambda: scr.form is None)
        assert "Evelyn" not in str(scr.query_one("#persona-card-text").render())
        assert load_persona(path).name == "Eve"
        scr, form = await edit_name(pilot, "Evelyn")
        await pilot.press("escape")
        await wait_for(pilot, lambda: asking(app))
        await pilot.press("s")  # save: written, and the editor closes
        await wait_for(pilot, lambda: scr.form is None)
        assert load_persona(path).name == "Evelyn"
        assert app.unexpected_errors == []


async def test_escape_save_of_an_invalid_form_stays_in_the_editor(workspace):
    app = app_for(workspace)
    async with app.run_test(size=SIZE) as pilot:
        scr, form = await edit_name(pilot, None)
        scr.query_one("#pf-user_label").value = "EVE"  # the same as the persona label
        await wait_for(pilot, lambda: form.error)
        await pilot.press("escape")
        await wait_for(pilot, lambda: asking(app))
        await pilot.press("s")
        await wait_for(pilot, lambda: any("Not saved" in str(n.message) for n in app._notifications))
        assert scr.form is form and not asking(app)
        assert load_persona(workspace.personas_dir / "eve.yaml").user_label == "USER"


async def test_ctrl_q_with_unsaved_edits_asks_and_cancel_keeps_them(workspace):
    app = app_for(workspace)
    async with app.run_test(size=SIZE) as pilot:
        scr, form = await edit_name(pilot, "Evelyn")
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: asking(app))
        assert "Eve (eve.yaml) has unsaved changes" in str(app.screen.query_one(".dialog-question").render())
        await pilot.press("ctrl+q")  # asked already: a second Ctrl+Q does not stack dialogs
        await pilot.press("c")
        await wait_for(pilot, lambda: not asking(app))
        assert app.is_running and app.return_code is None
        assert scr.query_one("#pf-name").value == "Evelyn"
        await wait_for(pilot, lambda: app.focused is scr.query_one("#pf-name"))  # typing goes on where it was


async def test_ctrl_q_discard_quits_and_leaves_the_file(workspace):
    path = workspace.personas_dir / "eve.yaml"
    before = path.read_text(encoding="utf-8")
    app = app_for(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await edit_name(pilot, "Evelyn")
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: asking(app))
        await pilot.press("d")
        await wait_for(pilot, lambda: app.return_code is not None)
    assert path.read_text(encoding="utf-8") == before


async def test_ctrl_q_from_another_screen_shows_the_edit_and_saves(workspace):
    path = workspace.personas_dir / "eve.yaml"
    app = app_for(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await edit_name(pilot, "Evelyn")
        app.set_focus(None)
        await pilot.press("3")
        await wait_for(pilot, lambda: app.current_mode == "trim")
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: asking(app))
        assert app.current_mode == "library"  # the question is asked where the edit is
        await pilot.press("s")
        await wait_for(pilot, lambda: app.return_code is not None)
    assert load_persona(path).name == "Evelyn"


async def test_ctrl_q_without_edits_quits_at_once(workspace):
    app = app_for(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await edit_name(pilot, None)
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: app.return_code is not None)
        assert not asking(app)
