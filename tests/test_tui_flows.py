"""Flows between screens a newcomer takes: Try it from the Library, F5 with nothing picked, the
estimate with a limit, and that no message ever shows a widget's internal value."""

from __future__ import annotations

import pytest

from faultserver import FaultServer
from tui.app import ChatsynthApp
from tui.testing import notified, use_endpoint, wait_for

SIZE = (120, 40)
INTERNAL = ("Select.NULL", "Select.BLANK", "NoSelection")


def shown_text(app) -> str:
    """Everything the user can read now: the screen as drawn and every notification so far."""
    return app.export_screenshot() + "\n".join(str(n.message) for n in app._notifications)


async def new_persona(pilot, name: str) -> None:
    app = pilot.app
    lib = app.screen
    await wait_for(pilot, lambda: lib.current is not None)
    lib.query_one("#persona-list").focus()
    await pilot.press("n")
    await wait_for(pilot, lambda: app.screen.query("#prompt-input"))
    await pilot.press(*name, "enter")
    await wait_for(pilot, lambda: lib.current is not None and lib.current.id == name)


async def estimate_text(pilot, scr, contains: str) -> str:
    est = scr.query_one("#estimate")
    await wait_for(pilot, lambda: contains in str(est.render()))
    return str(est.render())


async def test_try_it_on_a_new_persona_picks_a_topic_list(loop_ws, server):
    """Ctrl+G on a persona with no list of its own: Synthesize opens with a topic list picked
    (it was left on "pick topics", and the estimate said "no topic source 'Select.NULL'")."""
    app = ChatsynthApp(loop_ws, blink=False, first_run=False)
    async with app.run_test(size=SIZE) as pilot:
        await new_persona(pilot, "coach")
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: app.current_mode == "synthesize")
        scr = app.screen
        await wait_for(pilot, lambda: scr.query_one("#rf-persona").value == "coach")
        await estimate_text(pilot, scr, "prompt tokens")
        await pilot.pause(0.5)  # every change event of the fill has been handled
        assert scr.query_one("#rf-topics").value == "eve"  # the list shown in the Library
        assert scr.query_one("#rf-persona").value == "coach"
        for bad in INTERNAL:
            assert bad not in shown_text(app)
        assert app.unexpected_errors == []


async def test_try_it_picks_the_personas_own_list(loop_ws):
    app = ChatsynthApp(loop_ws, blink=False, first_run=False)
    async with app.run_test(size=SIZE) as pilot:
        lib = app.screen
        await wait_for(pilot, lambda: lib.current is not None)
        lib.query_one("#persona-list").focus()
        idx = next(i for i, p in enumerate(lib.personas) if p.id == "socratic-tutor")
        lib.query_one("#persona-list").highlighted = idx
        await wait_for(pilot, lambda: lib.current.id == "socratic-tutor")
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: app.current_mode == "synthesize")
        scr = app.screen
        await wait_for(pilot, lambda: scr.query_one("#rf-topics").value == "socratic-tutor")
        await pilot.pause(0.5)
        assert scr.query_one("#rf-persona").value == "socratic-tutor"
        assert scr.query_one("#rf-topics").value == "socratic-tutor"


async def test_f5_with_no_topics_is_refused_before_anything_starts(loop_ws, server):
    app = ChatsynthApp(loop_ws, blink=False, first_run=False, start="synthesize")
    async with app.run_test(size=SIZE) as pilot:
        scr = app.screen
        await estimate_text(pilot, scr, "prompt tokens")
        scr.query_one("#rf-topics").clear()
        est = await estimate_text(pilot, scr, "✗")
        assert "choose the topic list" in est
        await pilot.press("f5")
        await notified(pilot, "choose the topic list to write about in the Topics list")
        await pilot.pause(0.3)
        assert scr.live is None and not app.services.runner.running
        assert server.requests == []
        scr.query_one("#rf-persona").clear()
        await pilot.press("f5")
        await notified(pilot, "choose the persona")
        for bad in INTERNAL:
            assert bad not in shown_text(app)
        assert app.unexpected_errors == []


async def test_no_message_shows_a_widgets_internal_value(loop_ws, server):
    """Walk the flows a newcomer takes (every screen, Try it on a new persona, F5 with nothing
    picked, a limit) and read everything shown: never a widget's internal value."""
    app = ChatsynthApp(loop_ws, blink=False, first_run=False)
    async with app.run_test(size=SIZE) as pilot:
        seen = []
        for key in "123456":
            app.set_focus(None)
            await pilot.press(key)
            await pilot.pause(0.3)
            seen.append(shown_text(app))
            await pilot.press("f1")
            await pilot.pause(0.2)
            seen.append(shown_text(app))
            await pilot.press("escape")
            await pilot.pause()
        await pilot.press("1")
        await wait_for(pilot, lambda: app.current_mode == "library")
        await new_persona(pilot, "coach")
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: app.current_mode == "synthesize")
        scr = app.screen
        await estimate_text(pilot, scr, "prompt tokens")
        seen.append(shown_text(app))
        for sel in ("#rf-topics", "#rf-persona"):
            scr.query_one(sel).clear()
            await estimate_text(pilot, scr, "✗")
            seen.append(shown_text(app))
            await pilot.press("f5")
            await pilot.pause(0.3)
            seen.append(shown_text(app))
        for key in "3456":
            app.set_focus(None)
            await pilot.press(key)
            await pilot.pause(0.3)
            seen.append(shown_text(app))
        assert server.requests == []
        for text in seen:
            for bad in INTERNAL:
                assert bad not in text
        assert app.unexpected_errors == []


async def test_estimate_follows_limit(loop_ws):
    """Limit 2 in the form: the estimate counts two conversations (it counted all 80)."""
    app = ChatsynthApp(loop_ws, blink=False, first_run=False, start="synthesize")
    async with app.run_test(size=SIZE) as pilot:
        scr = app.screen
        await estimate_text(pilot, scr, "80 to write)")
        scr.query_one("#rf-max_tokens").value = "500"
        scr.query_one("#rf-limit").value = "2"
        est = await estimate_text(pilot, scr, "2 to write")
        assert "0 already stored, 2 to write: limit 2 of 80 missing" in est
        assert "at most 1,000 (max_tokens x 2 to write)" in est
        scr.query_one("#rf-limit").value = ""
        await estimate_text(pilot, scr, "at most 40,000 (max_tokens x 80 to write)")
        assert app.unexpected_errors == []


async def test_new_persona_dialog_keeps_an_empty_or_bad_name_and_says_why(workspace):
    """An empty or invalid name closed the dialog silently and threw away what was typed."""
    app = ChatsynthApp(workspace, blink=False, first_run=False)
    async with app.run_test(size=SIZE) as pilot:
        lib = app.screen
        await wait_for(pilot, lambda: lib.current is not None)
        before = sorted(p.name for p in workspace.personas_dir.iterdir())
        lib.query_one("#persona-list").focus()
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen.query("#prompt-input"))
        dialog = app.screen
        err, field = dialog.query_one("#prompt-error"), dialog.query_one("#prompt-input")
        await pilot.press("enter")  # nothing typed
        await wait_for(pilot, lambda: "type a file name first" in str(err.render()))
        assert app.screen is dialog and app.focused is field
        await pilot.press(*"my coach", "enter")  # a space is not allowed in a file name
        await wait_for(pilot, lambda: "letters, digits" in str(err.render()))
        assert app.screen is dialog and field.value == "my coach" and app.focused is field
        assert sorted(p.name for p in workspace.personas_dir.iterdir()) == before
        await pilot.press("ctrl+u", *"my-coach", "enter")
        await wait_for(pilot, lambda: lib.current is not None and lib.current.id == "my-coach")
        assert app.screen is lib and (workspace.personas_dir / "my-coach.yaml").exists()
        assert app.unexpected_errors == []


async def test_focus_returns_after_a_dialog_so_keys_work(workspace):
    """After a dialog opened from a button closed, the focus was on the button and e, d, n did
    nothing; it goes back to the persona list, so the list's keys work at once."""
    app = ChatsynthApp(workspace, blink=False, first_run=False)
    async with app.run_test(size=SIZE) as pilot:
        lib = app.screen
        await wait_for(pilot, lambda: lib.current is not None)
        plist = lib.query_one("#persona-list")
        await pilot.click("#persona-new")
        await wait_for(pilot, lambda: app.screen is not lib)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is lib and app.focused is plist)
        await pilot.press("d")  # duplicate: a key of the list works at once
        await wait_for(pilot, lambda: app.screen is not lib)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is lib and app.focused is plist)
        # a dialog from the topic list gives the focus back to it
        table = lib.query_one("#topic-table")
        table.focus()
        await pilot.press("a")
        await wait_for(pilot, lambda: app.screen is not lib)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is lib and app.focused is table)
        # the form: delete from the command palette while a form field has the cursor
        await pilot.press("ctrl+e")
        await wait_for(pilot, lambda: lib.form is not None and app.focused is lib.query_one("#pf-name"))
        lib.action_delete_persona()
        await wait_for(pilot, lambda: app.screen is not lib)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is lib and app.focused is lib.query_one("#pf-name"))
        # Esc in a field goes to the persona list, where e edits and d duplicates
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.focused is plist)
        assert app.unexpected_errors == []


async def test_single_key_bindings_never_fire_in_a_text_field(workspace):
    """Type every single-character key bound on a screen into each of its text fields: each one
    lands in the field, and no command runs (no dialog, no other screen, no editor)."""
    from textual.widgets import Input, TextArea

    app = ChatsynthApp(workspace, blink=False, first_run=False)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.current is not None)
        await pilot.press("ctrl+e")
        await wait_for(pilot, lambda: app.screen.form is not None)
        for mode in ("library", "synthesize", "settings"):
            app.set_focus(None)
            await pilot.press(str(("library", "synthesize", "trim", "review", "export",
                                   "settings").index(mode) + 1))
            await wait_for(pilot, lambda m=mode: app.current_mode == m)
            await pilot.pause(0.3)
            scr = app.screen
            keys = sorted({k for w in [scr, app, *scr.query("*")]
                           for b in getattr(w, "BINDINGS", []) if hasattr(b, "key")
                           for k in b.key.split(",") if len(k) == 1})
            assert keys, mode
            inputs = [w for w in scr.query(Input) if w.focusable and w.type == "text"]
            areas = [w for w in scr.query(TextArea) if w.focusable]
            fields = inputs[:1] + areas[:1]
            assert inputs, mode
            for field in fields:
                field.focus()
                await pilot.pause()
                before = field.value if isinstance(field, Input) else field.text
                await pilot.press(*keys)
                await pilot.pause(0.2)
                assert app.screen is scr and app.current_mode == mode, (mode, field.id)
                after = field.value if isinstance(field, Input) else field.text
                assert after != before, (mode, field.id)
                assert isinstance(app.focused, (Input, TextArea))
        assert app.unexpected_errors == []


async def test_help_lists_every_key_of_the_screen_and_its_parts(workspace):
    """F1 listed only the screen's own bindings (Review showed only "Esc Leave field", Synthesize
    left out r/x/t/f): it is built from the bindings of the screen, its widgets and the app."""
    from tui.screens.help import _own

    app = ChatsynthApp(workspace, blink=False, first_run=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        expected = {
            "library": ["Duplicate", "Rename", "Try it", "New list", "Move up", "Import"],
            "synthesize": ["Start", "Pause/resume", "Retry one", "Discard one", "Follow newest"],
            "trim": ["Apply to this one", "Apply to run", "Reset stops"],
            "review": ["Accept", "Reject", "Next flagged", "Edit a turn", "Accept all passing"],
            "export": ["Check", "Write files"],
            "settings": ["Test connection", "Make default", "New"],
        }
        for i, (mode, must) in enumerate(expected.items(), 1):
            app.set_focus(None)
            await pilot.press(str(i))
            await wait_for(pilot, lambda m=mode: app.current_mode == m)
            await pilot.pause(0.3)
            scr = app.screen
            ours = {b.description for w in [scr, *scr.query("*")] if w.display for b in _own(w)}
            await pilot.press("f1")
            await wait_for(pilot, lambda: type(app.screen).__name__ == "HelpScreen")
            md = app.screen.query_one("Markdown")._markdown
            for desc in must:
                assert f"| {desc} |" in md, (mode, desc)
            for desc in ours - {"Save persona"}:  # Save only while a persona is being edited
                assert f"| {desc} |" in md, (mode, desc)
            assert "switch screens: Library, Synthesize, Trim, Review, Export, Settings" in md
            assert "| F1 | Help |" in md and "| Ctrl+Q | Quit |" in md
            await pilot.press("escape")
            await wait_for(pilot, lambda s=scr: app.screen is s)
        # keys switched off where they can't work are left out; they come back when they can
        await pilot.press("1")
        await wait_for(pilot, lambda: app.current_mode == "library" and app.screen.current)
        await pilot.press("f1")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "HelpScreen")
        assert "| Ctrl+S | Save persona |" not in app.screen.query_one("Markdown")._markdown
        await pilot.press("escape")
        await pilot.press("ctrl+e")
        await wait_for(pilot, lambda: app.screen.form is not None)
        await pilot.press("f1")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "HelpScreen")
        assert "| Ctrl+S | Save persona |" in app.screen.query_one("Markdown")._markdown
        assert app.unexpected_errors == []


@pytest.fixture
def run_ws(workspace):
    from tui.testing import make_run

    with FaultServer() as fs:
        use_endpoint(workspace, fs.url)
        fin = make_run(workspace, limit=6)
    assert fin.done == 6
    return workspace


async def test_trim_table_follows_the_typed_stops_and_ctrl_r_asks(run_ws):
    """Typing a stop moved only the selected row's preview; every row's "Cut at" stayed "—"
    until Ctrl+R, which applied at once.  Now the table follows the typed stops, and Ctrl+R
    says how many conversations change before anything is stored."""
    from synth.dataset.store import Store

    store = Store(run_ws.runs_dir)
    run_id = store.resolve_run("latest")
    app = ChatsynthApp(run_ws, blink=False, first_run=False, start="trim")
    async with app.run_test(size=SIZE) as pilot:
        scr = app.screen
        await wait_for(pilot, lambda: scr.rs is not None and scr.preview is not None)
        table = scr.query_one("#trim-table")
        await wait_for(pilot, lambda: scr.cuts_for is not None)
        cuts = lambda: [table.get_cell(k, "stop") for k in table.rows]  # noqa: E731
        assert set(cuts()) == {"—"}
        turns_before = [table.get_cell(k, "turns") for k in table.rows]
        area = scr.query_one("#trim-stops")
        area.focus()
        area.move_cursor(area.document.end)
        await pilot.press("enter", *"EVE: what would")
        await wait_for(pilot, lambda: cuts().count("'EVE: what would'") >= 2)
        others = [k for k in table.rows if k.value != scr.selected]
        assert any(table.get_cell(k, "stop") == "'EVE: what would'" for k in others)
        assert [table.get_cell(k, "turns") for k in table.rows] != turns_before
        assert store.run_meta(run_id).get("retrim_stops") is None  # nothing applied yet
        would = cuts().count("'EVE: what would'")
        # Ctrl+R asks first; No keeps the run as it was
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ConfirmDialog")
        question = str(app.screen.query_one(".dialog-question").render())
        assert f"{would} of 6 unedited conversations change" in question
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is scr)
        assert store.run_meta(run_id).get("retrim_stops") is None
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ConfirmDialog")
        await pilot.press("y")
        await wait_for(pilot, lambda: store.run_meta(run_id).get("retrim_stops") is not None)
        assert "EVE: what would" in store.run_meta(run_id)["retrim_stops"]
        await notified(pilot, f"{would} conversations changed")
        assert app.unexpected_errors == []
