"""The footer of every screen: Textual's Footer, rebuilt once per burst of binding changes,
and only when the keys it shows changed.

Textual's Footer schedules a full rebuild of its keys for every change to the screen's
bindings; while a screen starts (mount, first focus, data arriving) several come in a row and
each rebuild composes, styles and draws every key again, mostly to show the same keys (on
the Library's start, half of the footer keys' style passes were for rebuilds that changed
nothing; they come after the first frame, so launch time is unchanged), and Synthesize and
Review ask again on every cursor move (a key such as r or x may come or go with the row): tens
of milliseconds a key press while conversations stream.  Here a rebuild already
scheduled absorbs the next ones, and a rebuild whose keys (what ``compose`` would show, as a
tuple) are those shown already does nothing: it reads the bindings when it runs, so the keys
shown are the same.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


class AppFooter(Footer):
    _rebuild_pending = False
    _shown: tuple | None = None  # the keys of the last compose (``_keys``)

    def _keys(self) -> tuple | None:
        """What ``compose`` shows, as a tuple to compare (None before the bindings are ready)."""
        if not self._bindings_ready:
            return None
        app = self.app
        keys = tuple((b.key, app.get_key_display(b), b.description, b.action, enabled, tooltip,
                      b.group.description if b.group else None,
                      b.group.compact if b.group else None, b.tooltip)
                     for (_, b, enabled, tooltip) in self.screen.active_bindings.values()
                     if b.show)
        palette = self.show_command_palette and app.ENABLE_COMMAND_PALETTE \
            and app.COMMAND_PALETTE_BINDING in self.screen.active_bindings
        return keys, palette, self.compact

    def compose(self):
        self._shown = self._keys()
        yield from super().compose()

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True  # what Footer's own handler records first
        if not screen.app.app_focus or not self.is_attached or screen is not self.screen:
            return
        if not self._rebuild_pending:
            self._rebuild_pending = True
            self.call_after_refresh(self._rebuild)

    async def _rebuild(self) -> None:
        self._rebuild_pending = False  # a change from here on schedules another rebuild
        if not self.is_attached:
            return
        if self._shown is not None and self._keys() == self._shown:
            return  # the same keys: nothing to rebuild
        await self.recompose()
