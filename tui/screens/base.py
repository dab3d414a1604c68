"""What every screen of the app shares: the nav bar, the footer, errors as notifications,
and the screen's own commands for the command palette."""

from __future__ import annotations

from typing import Callable, Iterable

from textual.screen import Screen
from textual.widgets import Footer, Input, TextArea

from tui.guard import Guarded
from tui.widgets.nav import NavBar

Command = tuple[str, str, Callable[[], object]]


class BaseScreen(Guarded, Screen):
    """A top-level screen (one of the app's modes)."""

    MODE = ""
    HELP = ""  # a paragraph for the help screen

    def nav(self) -> NavBar:
        return NavBar(self.MODE)

    def footer(self) -> Footer:
        return Footer()

    def on_mount(self) -> None:
        no_blink(self)

    def palette_commands(self) -> Iterable[Command]:
        """(title, help, callback) for the command palette; screens add their actions."""
        return []

    def error(self, err: BaseException, title: str = "") -> None:
        self.app.report_error(err, title)  # type: ignore[attr-defined]

    @property
    def services(self):
        return self.app.services  # type: ignore[attr-defined]

    @property
    def ws(self):
        return self.app.ws  # type: ignore[attr-defined]


def no_blink(root) -> None:
    """Turn the cursor blink off where the app asks (stable snapshots)."""
    if getattr(root.app, "blink", True):
        return
    for w in root.query(Input):
        w.cursor_blink = False
    for w in root.query(TextArea):
        w.cursor_blink = False
