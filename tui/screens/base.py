"""What every screen of the app shares: the nav bar, the footer, errors as notifications,
and the screen's own commands for the command palette."""

from __future__ import annotations

from typing import Callable, Iterable

from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Input, TextArea

from tui.guard import Guarded
from tui.widgets.footer import AppFooter
from tui.widgets.nav import NavBar

Command = tuple[str, str, Callable[[], object]]


class BaseScreen(Guarded, Screen):
    """A top-level screen (one of the app's modes)."""

    MODE = ""
    HELP = ""  # a paragraph for the help screen
    BINDINGS = [Binding("escape", "leave_field", "Leave field", show=False)]

    def action_leave_field(self) -> None:
        """Esc in a text field hands the keys back to the screen (1-6 switch screens again):
        focus the screen's first table, or nothing."""
        if not isinstance(self.focused, (Input, TextArea)):
            return
        tables = [t for t in self.query(DataTable) if t.focusable]
        self.set_focus(tables[0] if tables else None)

    def nav(self) -> NavBar:
        return NavBar(self.MODE)

    def footer(self) -> AppFooter:
        return AppFooter()

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
