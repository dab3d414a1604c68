"""The bar of screen tabs at the top of every screen (clickable; keys 1-6 do the same).

One widget that draws its two rows itself: the labels, and the underline bar with the current
screen's label highlighted.  It looks as Textual's Tabs did (the colours are the same theme
variables, as component classes) but costs one widget where Tabs took eleven (Tabs, its
containers, six Tab and an Underline, each composed, mounted, styled and laid out) on every
screen's start.
"""

from __future__ import annotations

from rich.style import Style
from rich.segment import Segment
from textual import events
from textual.strip import Strip
from textual.widget import Widget

from tui.guard import Guarded

TABS = (
    ("library", "1 Library"),
    ("synthesize", "2 Synthesize"),
    ("trim", "3 Trim"),
    ("review", "4 Review"),
    ("export", "5 Export"),
    ("settings", "6 Settings"),
)


def _spans() -> dict[str, tuple[int, int]]:
    """Each screen's label as drawn: [start, end) cells, a cell of padding each side."""
    spans, x = {}, 0
    for mode, label in TABS:
        spans[mode] = (x, x + len(label) + 2)
        x += len(label) + 2
    return spans


SPANS = _spans()


class NavBar(Guarded, Widget, can_focus=False):
    """The six screens' labels; the current one is bright and underlined.  Never takes focus."""

    ALLOW_SELECT = False
    COMPONENT_CLASSES = {"nav--tab", "nav--active", "nav--bar"}
    DEFAULT_CSS = """
    NavBar {
        width: 100%;
        height: 2;
        pointer: pointer;
        & > .nav--tab { color: $foreground 50%; }
        & > .nav--active { color: $foreground; }
        & > .nav--bar { color: $block-cursor-background; background: $foreground 10%; }
        &:ansi {
            & > .nav--tab { text-style: dim; }
            & > .nav--active { text-style: not dim bold; }
            & > .nav--bar { color: $block-cursor-background; background: $border-blurred; }
        }
    }
    """

    def __init__(self, current: str) -> None:
        super().__init__(id="nav")
        self.current = current
        self._hover: str | None = None  # the label under the pointer

    def span(self, mode: str) -> tuple[int, int]:
        """The cells [start, end) of a screen's label (padding included), from the bar's left."""
        return SPANS[mode]

    def mode_at(self, x: int) -> str | None:
        return next((mode for mode, (start, end) in SPANS.items() if start <= x < end), None)

    def render_line(self, y: int) -> Strip:
        """Row 0 the labels, row 1 the underline (segments as Textual's Tabs drew them)."""
        width = self.size.width
        tab = self.get_component_rich_style("nav--tab")
        pad = Style.from_color(None, tab.bgcolor)  # padding: the background only
        if y == 0:
            active = self.get_component_rich_style("nav--active")
            runs: list[tuple[str, Style]] = []
            for mode, label in TABS:
                shown = active if mode in (self.current, self._hover) else tab
                runs += [(" ", pad), (label, shown), (" ", pad)]
        elif y == 1:  # as Textual's Underline draws its Bar, the current label's cells bright
            bar = self.get_component_rich_style("nav--bar")
            dim, bright = (Style.from_color(bar.bgcolor, tab.bgcolor),
                           Style.from_color(bar.color, tab.bgcolor))
            start, end = SPANS.get(self.current, (1, 1))
            start, end = min(start + 1, width), min(end - 1, width)
            runs = [("━" * (start - 1) + "╸", dim), ("━" * (end - start), bright),
                    ("╺" + "━" * (width - end - 1) if end < width else "", dim)]
        else:
            runs = []
        segments = [Segment(text, style) for text, style in _merged(runs)]
        return Strip(segments).adjust_cell_length(width, pad)

    def _set_hover(self, mode: str | None) -> None:
        if mode != self._hover:
            self._hover = mode
            self.refresh()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        self._set_hover(self.mode_at(event.x) if event.y == 0 else None)

    def on_leave(self, event: events.Leave) -> None:
        self._set_hover(None)

    def on_click(self, event: events.Click) -> None:
        """A click on a label, or on the bar under it, goes to that screen (this bar goes on
        showing its own screen: each screen has its own)."""
        event.stop()
        mode = self.mode_at(event.x)
        if mode and mode != self.current:
            self.app.action_goto(mode)  # type: ignore[attr-defined]


def _merged(runs: list[tuple[str, Style]]) -> list[tuple[str, Style]]:
    """Adjacent runs of the same style as one (one segment each, as Textual's widgets drew)."""
    out: list[tuple[str, Style]] = []
    for text, style in runs:
        if not text:
            continue
        if out and out[-1][1] == style:
            out[-1] = (out[-1][0] + text, style)
        else:
            out.append((text, style))
    return out
