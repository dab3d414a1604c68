"""The footer (tui/widgets/footer.py) answers the mouse as Textual's Footer did: a click on a key
presses it, a disabled key rings the bell, keys that do not fit move sideways with the wheel, the
key under the pointer shows its tooltip."""

from __future__ import annotations

from textual import events
from textual.app import App
from textual.binding import Binding

from tui.app import ChatsynthApp
from tui.testing import wait_for
from tui.widgets.footer import AppFooter


async def test_a_click_on_a_footer_key_presses_it(workspace):
    app = ChatsynthApp(workspace, blink=False, first_run=False)
    async with app.run_test(size=(160, 48)) as pilot:
        footer = app.screen.query_one(AppFooter)
        await wait_for(pilot, lambda: ("f1", "Help", True) in footer.keys)
        assert footer.keys[-1][0] == "ctrl+p"  # the command palette's key, on the right
        start, _end = footer.key_span("ctrl+p")
        assert start > 100
        start, end = footer.key_span("f1")
        assert "".join(s.text for s in footer.render_line(0))[start:end] == " f1 Help "
        await pilot.click(AppFooter, offset=(start + 1, 0))
        await wait_for(pilot, lambda: type(app.screen).__name__ == "HelpScreen")


class Keys(App):
    """A bare app with the footer: one key enabled, one disabled (shown dim), more keys than
    fit in 40 cells."""

    BINDINGS = [Binding("a", "count('a')", "Add", tooltip="Adds one"),
                Binding("b", "count('b')", "Blocked")] + \
        [Binding(k, f"count('{k}')", f"Key {k} here") for k in "cdefgh"]

    def __init__(self) -> None:
        super().__init__()
        self.counts: dict[str, int] = {}
        self.bells = 0

    def compose(self):
        yield AppFooter()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return None if parameters == ("b",) else True

    def action_count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    def bell(self) -> None:
        self.bells += 1


async def test_a_disabled_key_rings_the_bell_and_an_enabled_one_runs_its_action():
    app = Keys()
    async with app.run_test(size=(40, 5)) as pilot:
        footer = app.query_one(AppFooter)
        await wait_for(pilot, lambda: ("b", "Blocked", False) in footer.keys)
        assert ("a", "Add", True) in footer.keys
        line = footer.render_line(0)
        assert all(s.style.dim for s in line if "Blocked" in s.text or s.text == " b ")
        assert not any(s.style.dim for s in line if "Add" in s.text)
        start, _ = footer.key_span("b")
        await pilot.click(AppFooter, offset=(start + 1, 0))
        await pilot.pause()
        assert app.bells == 1 and app.counts == {}
        start, _ = footer.key_span("a")
        await pilot.hover(AppFooter, offset=(start + 1, 0))
        await pilot.pause()
        assert footer.tooltip == "Adds one"
        await pilot.click(AppFooter, offset=(start + 1, 0))
        await wait_for(pilot, lambda: app.counts == {"a": 1})
        assert app.bells == 1


async def test_keys_that_do_not_fit_move_sideways_with_the_wheel():
    app = Keys()
    async with app.run_test(size=(40, 5)) as pilot:
        footer = app.query_one(AppFooter)
        await wait_for(pilot, lambda: ("h", "Key h here", True) in footer.keys)
        with_a = "".join(s.text for s in footer.render_line(0))
        assert with_a.startswith(" a Add ") and "Key h here" not in with_a
        for _ in range(30):  # the wheel over the footer, as Pilot sends its clicks
            await pilot._post_mouse_events([events.MouseScrollDown], AppFooter, offset=(1, 0))
        shown = "".join(s.text for s in footer.render_line(0))
        assert " h Key h here ▏^p palette" in shown and " a Add " not in shown  # all of h shown
        start, _ = footer.key_span("h")
        await pilot.click(AppFooter, offset=(start + 1, 0))
        await wait_for(pilot, lambda: app.counts == {"h": 1})
        for _ in range(30):
            await pilot._post_mouse_events([events.MouseScrollUp], AppFooter, offset=(1, 0))
        assert "".join(s.text for s in footer.render_line(0)) == with_a
