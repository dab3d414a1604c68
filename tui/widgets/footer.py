"""The footer of every screen: the keys that work where you are, as one widget that draws them
itself, and repaints only when the keys it shows change.

It looks and answers as Textual's Footer does (" KEY Description " per binding the screen
shows, the command palette's key on the right, disabled keys dim, the key under the pointer
highlighted, a mouse down presses the key, the wheel moves keys that do not fit sideways), but
Textual's Footer composes a widget per key, and composes them all again for each change of the
screen's bindings: on every screen's start (tens of widgets styled and laid out) and, on
Synthesize and Review, on cursor moves.  Here a change of bindings costs reading the keys; a
repaint follows only when they differ from those drawn.
"""

from __future__ import annotations

from typing import NamedTuple

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.screen import Screen
from textual.strip import Strip
from textual.widget import Widget

from tui.guard import Guarded


class FooterItem(NamedTuple):
    key: str
    display: str  # as the app shows the key (^p, f5, del)
    description: str
    action: str
    enabled: bool
    tooltip: str

    @property
    def width(self) -> int:
        return len(self.display) + 2 + len(self.description) + 1 if self.description \
            else len(self.display)


class AppFooter(Guarded, Widget, can_focus=False):
    """One line: the screen's keys; the command palette's key on the right."""

    ALLOW_SELECT = False
    COMPONENT_CLASSES = {"footer--key", "footer--description", "footer--hover",
                         "footer--separator"}
    DEFAULT_CSS = """
    AppFooter {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
        pointer: pointer;
        & > .footer--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        & > .footer--description {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
        & > .footer--hover { color: $footer-key-foreground; background: $block-hover-background; }
        & > .footer--separator { color: $foreground 20%; }
    }
    """

    SCROLL_STEP = 4  # cells a turn of the wheel moves the keys (Textual's scroll sensitivity)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.paints = 0  # how many times the keys were drawn (tests check what a change costs)
        self._drawn: tuple[tuple[FooterItem, ...], FooterItem | None] | None = None
        self._check_pending = False
        self._hover: FooterItem | None = None
        self._scroll = 0  # cells of the keys scrolled off on the left
        self._overflow = 0
        self._hits: list[tuple[int, int, FooterItem]] = []  # [start, end) of each key drawn

    # what it shows

    def _read(self) -> tuple[tuple[FooterItem, ...], FooterItem | None]:
        """The keys to show now, and the command palette's key (None where it is not shown)."""
        app = self.app
        bindings = self.screen.active_bindings
        first: dict[str, FooterItem] = {}  # the first binding of each action, in order
        for _node, b, enabled, tooltip in bindings.values():
            if b.show and b.action not in first:
                first[b.action] = FooterItem(b.key, app.get_key_display(b), b.description,
                                             b.action, enabled, tooltip)
        palette = None
        if app.ENABLE_COMMAND_PALETTE and app.COMMAND_PALETTE_BINDING in bindings:
            _node, b, enabled, _tooltip = bindings[app.COMMAND_PALETTE_BINDING]
            palette = FooterItem(b.key, app.get_key_display(b), b.description, b.action,
                                 enabled, b.tooltip or b.description)
        return tuple(first.values()), palette

    @property
    def keys(self) -> list[tuple[str, str, bool]]:
        """(key, description, enabled) of each key drawn, the palette's last."""
        if self._drawn is None:
            return []
        items, palette = self._drawn
        return [(i.key, i.description, i.enabled) for i in (*items, *([palette] if palette else []))]

    def key_span(self, key: str) -> tuple[int, int]:
        """The cells [start, end) where a key is drawn now (KeyError where it is not)."""
        for start, end, item in self._hits:
            if item.key == key:
                return start, end
        raise KeyError(key)

    # drawing

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        description = self.get_component_rich_style("footer--description")
        pad = Style.from_color(None, description.bgcolor)  # padding: the background only
        if y != 0:
            return Strip.blank(width, pad)
        self.paints += 1
        self._drawn = items, palette = self._read()
        key_style = self.get_component_rich_style("footer--key")
        hover = self.get_component_rich_style("footer--hover")
        dim = Style(dim=True)

        def item_segments(item: FooterItem, compact: bool = False) -> list[Segment]:
            key, desc = key_style, description
            if item == self._hover:
                key, desc = key + Style(bgcolor=hover.bgcolor), desc + Style(bgcolor=hover.bgcolor)
            if not item.enabled:
                key, desc = dim + key, dim + desc
            if not item.description:
                return [Segment(item.display, key)]
            if compact:  # (Textual draws the palette's key compact)
                return [Segment(item.display, key), Segment(f" {item.description}", desc)]
            return [Segment(f" {item.display} ", key), Segment(f"{item.description} ", desc)]

        right: list[Segment] = []
        if palette is not None:  # docked right, after a thin line, as Textual draws it
            separator = self.get_component_rich_style("footer--separator")
            right = [Segment("▏", Style.from_color(separator.color, pad.bgcolor)),
                     *item_segments(palette, compact=True), Segment(" ", pad)]
        right_width = sum(s.cell_length for s in right)
        room = max(width - right_width, 0)
        total = sum(item.width for item in items)
        self._overflow = max(total - room, 0)  # cells of keys that do not fit
        self._scroll = min(self._scroll, self._overflow)
        hits, segments, x = [], [], -self._scroll
        for item in items:
            hits.append((x, x + item.width, item))
            segments += item_segments(item)
            x += item.width
        if palette is not None:
            hits.append((room, width, palette))
        self._hits = [(max(a, 0), min(b, room), i) for a, b, i in hits[:len(items)]
                      if b > 0 and a < room] + hits[len(items):]
        left = Strip(segments).crop(self._scroll, self._scroll + room) \
            .adjust_cell_length(room, pad)
        return Strip.join([left, Strip(right)]).crop(0, width).adjust_cell_length(width, pad) \
            .simplify()

    def item_at(self, x: int) -> FooterItem | None:
        return next((item for start, end, item in self._hits if start <= x < end), None)

    # following the bindings

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self.bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def bindings_changed(self, screen: Screen) -> None:
        """The screen's bindings changed: after this burst of changes, repaint if the keys
        shown would differ (while the app has no focus the keys stay, as Textual's)."""
        if not screen.app.app_focus or not self.is_attached or screen is not self.screen:
            return
        if not self._check_pending:
            self._check_pending = True
            self.call_after_refresh(self._check)

    def _check(self) -> None:
        self._check_pending = False
        if self.is_attached and self._read() != self._drawn:
            self.refresh()

    # the mouse

    def _set_hover(self, item: FooterItem | None) -> None:
        if item != self._hover:
            self._hover = item
            self.tooltip = (item.tooltip or None) if item else None
            self.refresh()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        self._set_hover(self.item_at(event.x))

    def on_leave(self, event: events.Leave) -> None:
        self._set_hover(None)

    def on_mouse_down(self, event: events.MouseDown) -> None:
        """A key pressed with the mouse: as if typed (a bell where it is disabled)."""
        item = self.item_at(event.x)
        if item is None:
            return
        event.stop()
        if item.enabled:
            self.app.simulate_key(item.key)
        else:
            self.app.bell()

    def _scroll_by(self, cells: int, event: events.MouseEvent) -> None:
        scroll = max(0, min(self._scroll + cells, self._overflow))
        if scroll != self._scroll:
            self._scroll = scroll
            self.refresh()
            event.stop()
            event.prevent_default()

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self._scroll_by(self.SCROLL_STEP, event)

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self._scroll_by(-self.SCROLL_STEP, event)
