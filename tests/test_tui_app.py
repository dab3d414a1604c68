"""The app as a whole: first start, navigation, command palette, help, theme, errors."""

from __future__ import annotations

from faultserver import FaultServer
from tui.app import ChatsynthApp
from tui.testing import notified, use_endpoint, wait_for
from tui.widgets.nav import NavBar

SIZE = (120, 40)


async def test_first_start_writes_conversations_at_once(workspace):
    """No runs yet: the app opens on Synthesize and starts writing (the default endpoint is the
    embedded model in a fresh workspace; here a loopback server stands in for it)."""
    with FaultServer(chunk_delay=0.005) as fs:
        use_endpoint(workspace, fs.url)
        app = ChatsynthApp(workspace, blink=False)
        assert app.first_run
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: type(app.screen).__name__ == "SynthesizeScreen")
            scr = app.screen
            await wait_for(pilot, lambda: scr.live is not None and scr.live.convs, timeout=15)
            await notified(pilot, "Welcome")
            await wait_for(pilot, lambda: scr.live.state == "finished", timeout=30)
            assert scr.live.finished.done == 3
            assert app.unexpected_errors == []


async def test_keys_switch_screens_and_palette_knows_the_screen(workspace):
    app = ChatsynthApp(workspace, blink=False, first_run=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        names = {}
        for key, mode in zip("123456", ("library", "synthesize", "trim", "review", "export", "settings")):
            app.set_focus(None)
            await pilot.press(key)
            await wait_for(pilot, lambda m=mode: app.current_mode == m)
            names[mode] = type(app.screen).__name__
        assert names["review"] == "ReviewScreen" and names["settings"] == "SettingsScreen"
        # the palette lists this screen's own actions first
        await pilot.press("1")
        await wait_for(pilot, lambda: app.current_mode == "library")
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert titles[0] == "Edit persona" and "Go to Review" in titles
        await pilot.press("ctrl+e")  # editing: Save comes first instead
        await wait_for(pilot, lambda: app.screen.form is not None)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert titles[0] == "Save persona" and "Edit persona" not in titles
        app.set_focus(None)
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "CommandPalette")
        await pilot.press(*"duplicate")
        await pilot.pause(0.3)
        await pilot.press("escape")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "LibraryScreen")


async def test_help_theme_and_errors_as_notifications(workspace):
    app = ChatsynthApp(workspace, blink=False, first_run=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("f1")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "HelpScreen")
        md = app.screen.query_one("Markdown")._markdown
        assert "Keys here" in md and "| Ctrl+G | Try it |" in md
        await pilot.press("escape")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "LibraryScreen")
        assert app.theme == "textual-dark"
        await pilot.press("ctrl+t")
        assert app.theme == "textual-light"
        # an unexpected error in a handler is a notification, not a crash with a traceback
        app.call_later(lambda: 1 / 0)
        await wait_for(pilot, lambda: app.unexpected_errors)
        assert app.is_running
        await notified(pilot, "ZeroDivisionError")
        assert (workspace.runs_dir / "tui-errors.log").exists()
        await pilot.press("2")  # and it still answers keys
        await wait_for(pilot, lambda: app.current_mode == "synthesize")


async def test_mouse_click_on_nav_switches_screen(workspace):
    app = ChatsynthApp(workspace, blink=False, first_run=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        nav = app.screen.query_one(NavBar)
        start, end = nav.span("review")

        def style_of(label: str):
            return next(seg.style for seg in nav.render_line(0) if seg.text == label)

        assert style_of("4 Review") != style_of("1 Library")  # dim: not the current screen
        await pilot.hover(NavBar, offset=(start + 1, 0))
        await pilot.pause()
        assert style_of("4 Review") == style_of("1 Library")  # under the pointer: bright
        await pilot.click(NavBar, offset=(start + 1, 0))  # on the label
        await wait_for(pilot, lambda: app.current_mode == "review")
        assert nav.current == "library"  # the Library's bar goes on showing the Library
        review_nav = app.screen.query_one(NavBar)
        assert review_nav.current == "review"
        start, end = review_nav.span("trim")
        await pilot.click(NavBar, offset=(end - 1, 1))  # on the underline, under the label
        await wait_for(pilot, lambda: app.current_mode == "trim")
        await pilot.click(NavBar, offset=(review_nav.span("settings")[1] + 2, 0))  # past them
        await pilot.pause()
        assert app.current_mode == "trim"


async def test_escape_leaves_a_text_field_so_number_keys_switch_screens(workspace):
    from textual.widgets import Input, TextArea

    app = ChatsynthApp(workspace, blink=False, first_run=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("2")  # (in the Library's persona form Esc leaves the editor: test_tui_unsaved)
        await wait_for(pilot, lambda: app.current_mode == "synthesize")
        field = next(w for w in app.screen.query(TextArea) if w.focusable)
        field.focus()
        await pilot.pause()
        before = field.text
        await pilot.press("4")
        await pilot.pause()
        assert app.current_mode == "synthesize" and field.text != before, "in a field, 4 is text"
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.focused, (Input, TextArea))
        await pilot.press("4")
        await wait_for(pilot, lambda: app.current_mode == "review")


async def test_theme_is_kept_across_restarts_in_the_user_settings(workspace, tmp_path):
    """Ctrl+T is remembered in the per-user config folder ($XDG_CONFIG_HOME, isolated per test
    by conftest), never in the workspace's chatsynth.yaml."""
    import json
    import os
    from pathlib import Path

    config = workspace.config_path.read_text(encoding="utf-8")
    prefs = Path(os.environ["XDG_CONFIG_HOME"]) / "chatsynth" / "tui.json"
    app = ChatsynthApp(workspace, blink=False, first_run=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.theme == "textual-dark"
        await pilot.press("ctrl+t")
        assert app.theme == "textual-light"
    assert json.loads(prefs.read_text(encoding="utf-8")) == {"theme": "textual-light"}
    assert workspace.config_path.read_text(encoding="utf-8") == config
    app = ChatsynthApp(workspace, blink=False, first_run=False)  # a restart
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.theme == "textual-light"
        await pilot.press("ctrl+t")
    app = ChatsynthApp(workspace, blink=False, first_run=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.theme == "textual-dark"


async def test_broken_user_settings_are_named_and_never_overwritten(workspace):
    import os
    from pathlib import Path

    prefs = Path(os.environ["XDG_CONFIG_HOME"]) / "chatsynth" / "tui.json"
    prefs.parent.mkdir(parents=True)
    prefs.write_text('{\n  "theme": "textual-light",\n}\n', encoding="utf-8")
    app = ChatsynthApp(workspace, blink=False, first_run=False)
    async with app.run_test(size=SIZE) as pilot:
        await notified(pilot, f"{prefs}:3: not valid JSON")
        assert app.theme == "textual-dark"
        await pilot.press("ctrl+t")
        assert app.theme == "textual-light"
        await notified(pilot, "not overwritten")
    assert prefs.read_text(encoding="utf-8") == '{\n  "theme": "textual-light",\n}\n'
