"""What every screen of the app shares: the nav bar, the footer, errors as notifications,
and the screen's own commands for the command palette."""

from __future__ import annotations

import sys
from typing import Callable, Iterable

from textual import events
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, Input

from tui.guard import Guarded
from tui.widgets.footer import AppFooter
from tui.widgets.nav import NavBar

Command = tuple[str, str, Callable[[], object]]


class BaseScreen(Guarded, Screen):
    """A top-level screen (one of the app's modes)."""

    MODE = ""
    HELP = ""  # a paragraph for the help screen
    BINDINGS = [Binding("escape", "leave_field", "Leave field", show=False)]

    HOME = ""  # selector of the screen's main list: where the focus goes when it has nowhere

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The size classes (-narrow, -wide, -short, -tall) for the terminal's size now, before
        # the screen is styled: Textual sets them on the first Resize, after the first frame,
        # and then styles and draws every widget again.
        size = self.app.size
        for dimension, points in ((size.width, self.app.HORIZONTAL_BREAKPOINTS),
                                  (size.height, self.app.VERTICAL_BREAKPOINTS)):
            hit = next((name for at, name in sorted(points or [], reverse=True) if dimension >= at),
                       None)
            if hit:
                self.add_class(hit)

    _resumed = False
    _laid_out_at = None  # the terminal size the screen was last laid out for (see _on_resize)

    def _on_screen_resume(self, event: events.ScreenResume) -> None:
        """Textual restyles every widget of a screen each time it is shown (``refresh_styles``,
        for what changed while it was away: the theme, say).  On its first showing each widget
        was styled a moment before, as it was mounted, with the same rules
        (tests/test_tui_styles_once.py checks), so that pass is skipped: on the Library it
        was a fifth of the style passes before the first frame.  Textual's own handler (Screen's)
        runs after this one, reads the flag and lays the screen out for the terminal's size."""
        if not self._resumed:
            self._resumed = True
            event.refresh_styles = False
        self._laid_out_at = self.app.size

    def _on_resize(self, event: events.Resize) -> None:
        """A Resize to the size the screen was laid out for changes nothing, and Textual lays
        every widget out again for it all the same: a launch brings three (the driver's first
        Resize and the app's, after the first frame was laid out for that size), two full
        layouts of the first screen thrown away.  They are dropped here (Screen's own handler
        does not run); a change made since the last layout asked for a layout of its own, which
        the next refresh does, and a new size is laid out as before."""
        if self._laid_out_at is not None and event.size == self._laid_out_at:
            event.prevent_default()
            event.stop()
            return
        self._laid_out_at = event.size

    def action_leave_field(self) -> None:
        """Esc in a text field hands the keys back to the screen (1-6 switch screens again):
        focus the screen's main list, or nothing."""
        if not _is_text_field(self.focused):
            return
        self.set_focus(self.home_focus())

    def home_focus(self) -> Widget | None:
        """The screen's main list (``HOME``), else its first focusable table or list."""
        if self.HOME:
            found = [w for w in self.query(self.HOME) if w.focusable]
            if found:
                return found[0]
        return next((w for w in self.query("DataTable, OptionList")
                     if w.focusable and type(w).__name__ != "SelectOverlay"), None)  # not a Select's

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


def _is_text_field(w: Widget | None) -> bool:
    """An Input or a TextArea.  TextArea (a heavy import) is loaded only by the screens that
    show one: where it is not loaded yet, no widget is one."""
    text_area = sys.modules.get("textual.widgets._text_area")
    return isinstance(w, Input) or (text_area is not None and isinstance(w, text_area.TextArea))


def no_blink(root) -> None:
    """Turn the cursor blink off where the app asks (stable snapshots)."""
    if getattr(root.app, "blink", True):
        return
    for w in root.query(Input):
        w.cursor_blink = False
    for w in root.query("TextArea"):  # by name: TextArea is imported only by screens that use it
        w.cursor_blink = False


def restore_focus(screen: Screen, back: Widget | None) -> None:
    """After a dialog closes: leave the focus where the dialog's action put it; else give it back
    to ``back``; where that is gone or a button (clicked, with no keys of its own), to the
    screen's main list."""
    def usable(w: Widget | None) -> bool:
        return w is not None and w.is_attached and w.screen is screen and w.focusable \
            and not isinstance(w, Button)

    if usable(screen.focused):
        return
    if usable(back):
        screen.set_focus(back)
        return
    home = getattr(screen, "home_focus", None)
    if callable(home):
        screen.set_focus(home())
