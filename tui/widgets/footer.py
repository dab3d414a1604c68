"""The footer of every screen: Textual's Footer, rebuilt once per burst of binding changes.

Textual's Footer schedules a full rebuild of its keys for every change to the screen's
bindings; while a screen starts (mount, first focus, data arriving) three come in a row and
each rebuild restyles every key.  Here a rebuild already scheduled absorbs the next ones: it
reads the bindings when it runs, so the keys shown are the same.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


class AppFooter(Footer):
    _rebuild_pending = False

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True  # what Footer's own handler records first
        if not screen.app.app_focus or not self.is_attached or screen is not self.screen:
            return
        if not self._rebuild_pending:
            self._rebuild_pending = True
            self.call_after_refresh(self._rebuild)

    async def _rebuild(self) -> None:
        self._rebuild_pending = False  # a change from here on schedules another rebuild
        await self.recompose()
