"""Library screen: edit and save a persona (validated as you type), CRUD, topics."""

from __future__ import annotations

from synth.library.personas import load_persona

from synth.library.topics import load_topic_source
from tui.app import ChatsynthApp
from tui.testing import wait_for
from synth.stops_text import stops_to_text, text_to_stops
from tui.widgets.persona_form import PersonaForm

SIZE = (120, 40)


def app_for(ws, **kw) -> ChatsynthApp:
    return ChatsynthApp(ws, blink=False, first_run=False, **kw)


async def open_form(pilot) -> PersonaForm:
    """Enter on the persona list, as a user would: the card gives way to the form."""
    scr = pilot.app.screen
    await wait_for(pilot, lambda: scr.current is not None)
    scr.query_one("#persona-list").focus()
    await pilot.press("enter")
    form = await wait_for(pilot, lambda: scr.form)
    await wait_for(pilot, lambda: form.original is not None)
    return form


async def test_library_opens_on_a_card_and_edits_on_request(workspace):
    app = app_for(workspace)
    async with app.run_test(size=SIZE) as pilot:
        scr = app.screen
        await wait_for(pilot, lambda: scr.current is not None)
        card = str(scr.query_one("#persona-card-text").render())
        assert "EVE / USER" in card and "compassionate" in card and "{topic}" in card
        assert "turns: 4 to 24" in card and "eve-move: Every Eve reply asks" in card
        assert "truncated on" in card  # every rule the card's persona is checked by is listed
        assert not scr.query(PersonaForm)  # the form is built only when needed
        assert not scr.query_one("#persona-save").display
        await pilot.press("ctrl+s")  # nothing is being edited: nothing happens
        await pilot.pause()
        assert not any("Not saved" in str(n.message) for n in app._notifications)
        # Enter on the card (or e) opens the form with the name focused
        scr.query_one("#persona-card").focus()
        await pilot.press("enter")
        form = await wait_for(pilot, lambda: scr.form)
        await wait_for(pilot, lambda: app.focused is scr.query_one("#pf-name"))
        assert form.original.id == "eve" and scr.query_one("#pf-name").value == "Eve"
        # typing adds to the value (focus does not select it all) and the verdict stays in view
        await pilot.press("x")
        await wait_for(pilot, lambda: form.dirty)
        assert scr.query_one("#pf-name").value == "Evex"
        status = scr.query_one("#persona-status")
        assert "unsaved" in str(status.render())
        assert status.region.height and form.region.contains_region(status.region)
        await pilot.press("backspace")
        await wait_for(pilot, lambda: not form.dirty)
        assert not scr.query_one("#persona-card").display
        assert scr.query_one("#persona-save").display and not scr.query_one("#persona-edit").display
        # picking another persona now loads it into the form
        scr.query_one("#persona-list").focus()
        await pilot.press("down")
        await wait_for(pilot, lambda: form.original.id != "eve")
        assert scr.query_one("#pf-name").value == form.original.name
        assert app.unexpected_errors == []


def test_stop_escapes_round_trip():
    stops = ["END", "\n\n\n", "\nTopic:", "a\\b", "\tX"]
    assert text_to_stops(stops_to_text(stops)) == stops


async def test_edit_validate_and_save_persona(workspace):
    app = app_for(workspace)
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(pilot)
        assert form.original.id == "eve"
        status = app.screen.query_one("#persona-status")
        # a label with a colon: the library's own message, at once
        app.screen.query_one("#pf-persona_label").value = "EVE:"
        await wait_for(pilot, lambda: form.error is not None)
        assert "persona_label" in form.error and "without ':'" in form.error
        assert "✗" in str(status.render())
        # saving an invalid persona writes nothing
        before = (workspace.personas_dir / "eve.yaml").read_text()
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert (workspace.personas_dir / "eve.yaml").read_text() == before
        # fix it and change the name: valid, unsaved
        app.screen.query_one("#pf-persona_label").value = "EVE"
        app.screen.query_one("#pf-name").value = "Evelyn"
        await wait_for(pilot, lambda: form.error is None and form.dirty)
        assert "unsaved" in str(status.render())
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not form.dirty and form.original.name == "Evelyn")
        assert app.unexpected_errors == []
    saved = (workspace.personas_dir / "eve.yaml").read_text()
    assert load_persona(workspace.personas_dir / "eve.yaml").name == "Evelyn"
    assert "# display name" in saved  # the user's comments survive


async def test_bad_number_uses_library_message(workspace):
    app = app_for(workspace)
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(pilot)
        app.screen.query_one("#pf-temperature").value = "hot"
        await wait_for(pilot, lambda: form.error is not None)
        assert "temperature" in form.error and "expected a number" in form.error
        app.screen.query_one("#pf-temperature").value = "5"
        await wait_for(pilot, lambda: form.error and "between 0 and 2" in form.error)


async def test_new_duplicate_rename_delete_persona(workspace):
    app = app_for(workspace)
    async with app.run_test(size=SIZE) as pilot:
        scr = app.screen
        await wait_for(pilot, lambda: scr.current is not None)
        app.screen.query_one("#persona-list").focus()
        await pilot.press("n")
        await pilot.pause()
        await pilot.press(*"coach", "enter")
        # a new persona opens in the form, name focused
        form = await wait_for(pilot, lambda: scr.form)
        await wait_for(pilot, lambda: form.original is not None and form.original.id == "coach")
        await wait_for(pilot, lambda: app.focused is scr.query_one("#pf-name"))
        assert (workspace.personas_dir / "coach.yaml").exists()
        assert form.error is None
        # duplicate
        app.screen.query_one("#persona-list").focus()
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("ctrl+u", *"coach2", "enter")
        await wait_for(pilot, lambda: form.original.id == "coach2")
        # rename
        app.screen.query_one("#persona-list").focus()
        await pilot.press("r")
        await pilot.pause()
        await pilot.press("ctrl+u", *"mentor", "enter")
        await wait_for(pilot, lambda: form.original.id == "mentor")
        assert not (workspace.personas_dir / "coach2.yaml").exists()
        assert (workspace.personas_dir / "mentor.yaml").exists()
        # a taken name is refused in the dialog, which keeps what was typed; nothing overwritten
        app.screen.query_one("#persona-list").focus()
        await pilot.press("r")
        await pilot.pause()
        await pilot.press("ctrl+u", *"eve", "enter")
        dialog = app.screen
        err = dialog.query_one("#prompt-error")
        await wait_for(pilot, lambda: "already exists" in str(err.render()))
        assert dialog.query_one("#prompt-input").value == "eve"
        assert (workspace.personas_dir / "mentor.yaml").exists()
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is scr)
        # delete asks first; cancel keeps the file
        app.screen.query_one("#persona-list").focus()
        await pilot.press("delete")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert (workspace.personas_dir / "mentor.yaml").exists()
        await pilot.press("delete")
        await pilot.pause()
        await pilot.press("y")
        await wait_for(pilot, lambda: not (workspace.personas_dir / "mentor.yaml").exists())
        assert app.unexpected_errors == []


async def test_topics_add_edit_reorder_delete_import_filter(workspace, tmp_path):
    app = app_for(workspace)
    path = workspace.topics_dir / "eve.txt"
    async with app.run_test(size=SIZE) as pilot:
        editor = app.screen.query_one("#topic-editor")
        await wait_for(pilot, lambda: editor.source is not None and editor.source.id == "eve")
        n0 = len(editor.texts)
        table = app.screen.query_one("#topic-table")
        table.focus()
        await pilot.press("a")
        await pilot.pause()
        await pilot.press(*"My cat ignores me", "enter")
        await wait_for(pilot, lambda: len(editor.texts) == n0 + 1)
        src = load_topic_source(path)
        assert src.topics[1].text == "My cat ignores me"  # inserted after the cursor row
        # reorder: move it up to the top
        assert table.cursor_row == 1
        await pilot.press("shift+up")
        await wait_for(pilot, lambda: load_topic_source(path).topics[0].text == "My cat ignores me")
        # edit it
        await pilot.press("e")
        await pilot.pause()
        await pilot.press("ctrl+u", *"My dog ignores me", "enter")
        await wait_for(pilot, lambda: load_topic_source(path).topics[0].text == "My dog ignores me")
        # a duplicate is refused with the library's message
        await pilot.press("a")
        await pilot.pause()
        await pilot.press(*"My dog ignores me", "enter")
        await wait_for(pilot, lambda: "duplicate topic" in prompt_error(app))
        assert len(load_topic_source(path).topics) == n0 + 1
        await pilot.press("escape")  # the dialog kept what was typed until cancelled
        await wait_for(pilot, lambda: not app.screen.query("#prompt-input"))
        # delete it
        table.focus()
        table.move_cursor(row=0)
        await pilot.press("delete")
        await wait_for(pilot, lambda: len(load_topic_source(path).topics) == n0)
        # import from a text file (duplicates skipped)
        imp = tmp_path / "more.txt"
        imp.write_text(f"# comment\nLearning to say no\n\n{editor.texts[2]}\n")
        await pilot.press("i")
        await pilot.pause()
        app.screen.query_one("#prompt-input").value = str(imp)
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(load_topic_source(path).topics) == n0 + 1)
        assert load_topic_source(path).topics[-1].text == "Learning to say no"
        # filter as you type
        await pilot.press("slash")
        await pilot.press(*"Learning", "space", *"to")
        await wait_for(pilot, lambda: table.row_count == 1)
        assert app.unexpected_errors == []


def prompt_error(app) -> str:
    """The error line of the open one-line dialog ('' when none is shown)."""
    err = app.screen.query("#prompt-error")
    return str(err.first().render()) if err and err.first().display else ""


async def test_topic_dialogs_refuse_empty_entries_and_bad_paths_in_place(workspace, tmp_path):
    """Enter on an empty add, edit or import dialog says what to type and keeps the dialog
    open (it used to close as if cancelled); a path that is not there is named in the dialog;
    Esc cancels; the topic file is untouched throughout."""
    app = app_for(workspace)
    path = workspace.topics_dir / "eve.txt"
    before = path.read_text(encoding="utf-8")
    async with app.run_test(size=SIZE) as pilot:
        editor = app.screen.query_one("#topic-editor")
        await wait_for(pilot, lambda: editor.source is not None and editor.source.id == "eve")
        app.screen.query_one("#topic-table").focus()
        for key, typed, says in (("a", "   ", "type a topic first"), ("e", "", "can't be empty"),
                                 ("i", "", "type the path"),
                                 ("i", str(tmp_path / "nope.txt"), "nope.txt")):
            await pilot.press(key)
            inp = await wait_for(pilot, lambda: app.screen.query("#prompt-input") and
                                 app.screen.query_one("#prompt-input"))
            inp.value = typed
            await pilot.press("enter")
            await wait_for(pilot, lambda: says in prompt_error(app))
            assert app.screen.query("#prompt-input"), f"{key}: the dialog closed"
            await pilot.press("escape")
            await wait_for(pilot, lambda: not app.screen.query("#prompt-input"))
            assert app.focused is app.screen.query_one("#topic-table")
        assert path.read_text(encoding="utf-8") == before
        assert app.unexpected_errors == []


async def test_folder_source_shows_documents(workspace):
    app = app_for(workspace)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.sources)
        idx = [s.id for s in screen.sources].index("doc-explainer")
        screen.query_one("#source-list").highlighted = idx
        editor = screen.query_one("#topic-editor")
        await wait_for(pilot, lambda: editor.source is not None and editor.source.id == "doc-explainer")
        table = screen.query_one("#topic-table")
        assert table.row_count == 4
        assert [str(c.label) for c in table.columns.values()][0] == "Document"
        assert not screen.query_one("#topic-buttons").display


async def test_try_it_opens_synthesize_with_the_new_persona(workspace):
    app = app_for(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.current is not None)
        await pilot.press("2")  # Synthesize exists before the persona does
        await wait_for(pilot, lambda: app.current_mode == "synthesize")
        await pilot.press("1")
        await wait_for(pilot, lambda: app.current_mode == "library")
        lib = app.screen
        lib.query_one("#persona-list").focus()
        await pilot.press("n")
        await pilot.pause()
        app.screen.query_one("#prompt-input").value = "coach"
        await pilot.press("enter")
        await wait_for(pilot, lambda: lib.current is not None and lib.current.id == "coach")
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: app.current_mode == "synthesize")
        sel = app.screen.query_one("#rf-persona")
        await wait_for(pilot, lambda: sel.value == "coach")


async def test_switching_away_from_unsaved_edits_asks_first(workspace):
    app = app_for(workspace)
    async with app.run_test(size=SIZE) as pilot:
        scr = app.screen
        form = await open_form(pilot)
        scr.query_one("#pf-name").value = "Evelyn"
        await wait_for(pilot, lambda: form.dirty)
        scr.query_one("#persona-list").focus()
        await pilot.press("down")
        await pilot.pause()
        await pilot.press("escape")  # keep editing: the form still holds the edit
        await pilot.pause()
        assert form.original.id == "eve" and scr.query_one("#pf-name").value == "Evelyn"
        await pilot.press("down")
        await pilot.pause()
        assert type(app.screen).__name__ == "UnsavedDialog"  # save / discard / cancel
        await pilot.press("d")  # discard: the next persona is shown, eve.yaml untouched
        await wait_for(pilot, lambda: form.original.id != "eve")
        assert load_persona(workspace.personas_dir / "eve.yaml").name == "Eve"
        assert app.unexpected_errors == []


async def test_a_new_topic_list_starts_empty(workspace):
    app = app_for(workspace)
    path = workspace.topics_dir / "fresh.yaml"
    async with app.run_test(size=SIZE) as pilot:
        editor = app.screen.query_one("#topic-editor")
        await wait_for(pilot, lambda: editor.source is not None)
        app.screen.query_one("#source-list").focus()
        await pilot.press("n")
        await pilot.pause()
        await pilot.press(*"fresh", "enter")
        await wait_for(pilot, lambda: editor.source is not None and editor.source.id == "fresh")
        assert editor.texts == [] and load_topic_source(path).topics == []
        assert "A first topic" not in path.read_text()
        await pilot.press("a")
        await pilot.pause()
        await pilot.press(*"My first real topic", "enter")
        await wait_for(pilot, lambda: editor.texts == ["My first real topic"])
        await wait_for(pilot, lambda: [t.text for t in load_topic_source(path).topics]
                       == ["My first real topic"])


async def test_nan_temperature_is_refused_and_not_saved(workspace):
    """Issue 9: the form saved `temperature: .nan`, which only failed mid-run."""
    app = app_for(workspace)
    path = workspace.personas_dir / "eve.yaml"
    before = path.read_text()
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(pilot)
        for value in ("nan", "inf", "-inf"):
            app.screen.query_one("#pf-temperature").value = value
            await wait_for(pilot, lambda: form.error is not None)
            assert form.error.startswith("temperature: must be a finite number"), form.error
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert path.read_text() == before
        app.screen.query_one("#pf-temperature").value = "0.7"
        app.screen.query_one("#pf-max_tokens").value = "0"
        await wait_for(pilot, lambda: form.error and form.error.startswith("max_tokens: must be between 1"))
        assert app.unexpected_errors == []
