"""The footer of every screen: Textual's Footer, rebuilt only when the keys it shows change.

Textual's Footer schedules a full rebuild of its keys for every change to the screen's
bindings: while a screen starts (mount, first focus, data arriving) three come in a row, and
Synthesize and Review ask again on every cursor move (a key such as r or x may come or go
with the row).  Each rebuild mounts and restyles every key and lays the screen out again: tens
of milliseconds a key press, more while conversations stream.  Here a rebuild already
scheduled absorbs the next ones (it reads the bindings when it runs), and a rebuild whose keys
would be the same as those shown (each binding, enabled or not, its tooltip) does nothing.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


class AppFooter(Footer):
    _rebuild_pending = False
    _shown: tuple | None = None  # what the keys on screen were built from

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True  # what Footer's own handler records first
        if not screen.app.app_focus or not self.is_attached or screen is not self.screen:
            return
        if not self._rebuild_pending:
            self._rebuild_pending = True
            self.call_after_refresh(self._rebuild)

    def _keys(self) -> tuple:
        """Everything ``Footer.compose`` reads from the bindings, in its order."""
        return tuple((b, enabled, tip) for _, b, enabled, tip in
                     self.screen.active_bindings.values()) + (self.show_command_palette,)

    async def _rebuild(self) -> None:
        self._rebuild_pending = False  # a change from here on schedules another rebuild
        if not self.is_attached:
            return
        keys = self._keys()
        if keys == self._shown:
            return
        self._shown = keys
        await self.recompose()
