"""A table that draws only the rows on screen: Review and Trim list runs of 100,000
conversations, where a DataTable builds every row up front (seconds) and measures them all.

Rows are a list of keys; a cell function gives a key's cells when its row comes into view (the
result is kept until ``refresh_rows``).  Keys, cursor and the few DataTable calls the screens use
(``cursor_row``, ``move_cursor``, ``get_cell``, ``get_row``, ``rows``, ``row_count``,
``update_cell``) behave as a DataTable's; a moved cursor posts ``VirtualTable.RowHighlighted``.
``set_rows`` costs no per-row work (the key -> row map is built on first need; drawing a row
never needs it), so a filter that shows another 100,000 rows is answered at once.
"""

from __future__ import annotations

from typing import Callable

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.events import Click
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets._data_table import RowKey


class VirtualTable(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    VirtualTable { background: $surface; color: $foreground; height: auto; max-height: 100%; }
    VirtualTable > .virtual-table--header { text-style: bold; background: $panel; }
    VirtualTable > .virtual-table--even { background: $surface-lighten-1 20%; }
    VirtualTable > .virtual-table--cursor { background: $block-cursor-blurred-background; }
    VirtualTable:focus > .virtual-table--cursor { background: $block-cursor-background;
        color: $block-cursor-foreground; text-style: bold; }
    """
    COMPONENT_CLASSES = {"virtual-table--header", "virtual-table--even", "virtual-table--cursor"}
    BINDINGS = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
    ]

    cursor_row: reactive[int] = reactive(0, always_update=True, init=False)

    class RowHighlighted(Message):
        def __init__(self, table: "VirtualTable", row: int, key: str | None) -> None:
            super().__init__()
            self.table, self.cursor_row = table, row
            self.row_key = RowKey(key) if key is not None else None

        @property
        def control(self) -> "VirtualTable":
            return self.table

    def __init__(self, *, id: str | None = None, classes: str | None = None, **_ignored) -> None:
        super().__init__(id=id, classes=classes)
        self.columns: list[tuple[str, str, int]] = []  # label, key, width
        self.keys: list[str] = []
        self._pos_map: dict[str, int] | None = {}
        self._cells: Callable[[str], tuple] = lambda key: ()
        self._cache: dict[str, tuple] = {}
        self._over: dict[tuple[str, str], object] = {}

    # -- what the screens call ---------------------------------------------------------------
    def add_column(self, label: str, *, key: str, width: int) -> None:
        self.columns.append((label, key, width))

    def set_rows(self, keys: list[str], cells: Callable[[str], tuple]) -> None:
        """Show these rows (the cursor stays on row 0, or on ``move_cursor``'s)."""
        self.keys = list(keys)
        self._pos_map = None  # built on first need (``_pos``)
        self._cells = cells
        self._cache.clear()
        self._over.clear()
        self.virtual_size = Size(sum(w + 1 for _, _, w in self.columns), len(self.keys) + 1)
        self.set_reactive(VirtualTable.cursor_row, min(self.cursor_row, max(len(self.keys) - 1, 0)))
        self.refresh()

    @property
    def _pos(self) -> dict[str, int]:
        """Key -> row of every row."""
        if self._pos_map is None:
            self._pos_map = {k: i for i, k in enumerate(self.keys)}
        return self._pos_map

    def row_of(self, key: str | None) -> int | None:
        """The row showing ``key``, or None (no map needed: a scan of the keys at C speed)."""
        if self._pos_map is not None:
            return self._pos_map.get(key)  # type: ignore[arg-type]
        try:
            return self.keys.index(key)  # type: ignore[arg-type]
        except ValueError:
            return None

    def refresh_rows(self, keys: list[str] | None = None) -> None:
        """Ask the cell function again (for these keys, or all)."""
        for k in keys if keys is not None else list(self._cache):
            self._cache.pop(k, None)
            for col in self.columns:
                self._over.pop((k, col[1]), None)
        self.refresh()

    def keys_on_view(self) -> list[str]:
        """The keys of the rows on screen now."""
        top = int(self.scroll_y)
        return self.keys[top:top + max(self.scrollable_content_region.height - 1, 0)]

    @property
    def row_count(self) -> int:
        return len(self.keys)

    @property
    def rows(self) -> list[RowKey]:
        return [RowKey(k) for k in self.keys]

    def row_cells(self, key) -> tuple:
        key = getattr(key, "value", key)
        got = self._cache.get(key)
        if got is None:
            got = self._cache[key] = tuple(self._cells(key))
        return got

    def get_row(self, key) -> list:
        key = getattr(key, "value", key)
        return [self.get_cell(key, col) for _, col, _ in self.columns]

    def get_cell(self, key, column: str):
        key = getattr(key, "value", key)
        if key not in self._pos:
            raise KeyError(key)
        return self._cell(key, column)

    def _cell(self, key: str, column: str):
        if (key, column) in self._over:
            return self._over[key, column]
        i = next(n for n, c in enumerate(self.columns) if c[1] == column)
        return self.row_cells(key)[i]

    def update_cell(self, key, column: str, value) -> None:
        key = getattr(key, "value", key)
        if key not in self._pos:
            raise KeyError(key)
        self._over[key, column] = value
        self.refresh()

    def move_cursor(self, *, row: int, animate: bool = False, **_ignored) -> None:
        self.cursor_row = max(0, min(row, len(self.keys) - 1))

    @property
    def cursor_key(self) -> str | None:
        return self.keys[self.cursor_row] if 0 <= self.cursor_row < len(self.keys) else None

    # -- keys and mouse ----------------------------------------------------------------------
    def watch_cursor_row(self, row: int) -> None:
        body = max(self.scrollable_content_region.height - 1, 1)
        if row < self.scroll_y:
            self.scroll_to(y=row, animate=False, immediate=True)
        elif row >= self.scroll_y + body:
            self.scroll_to(y=row - body + 1, animate=False, immediate=True)
        self.refresh()
        self.post_message(self.RowHighlighted(self, row, self.cursor_key))

    def action_cursor(self, step: int) -> None:
        if self.keys:
            self.move_cursor(row=self.cursor_row + step)

    def action_page(self, step: int) -> None:
        self.action_cursor(step * max(self.scrollable_content_region.height - 2, 1))

    def action_jump(self, row: int) -> None:
        if self.keys:
            self.move_cursor(row=row if row >= 0 else len(self.keys) - 1)

    def on_click(self, event: Click) -> None:
        if event.y >= 1:
            row = int(self.scroll_y) + event.y - 1
            if row < len(self.keys):
                self.move_cursor(row=row)

    # -- drawing: only the lines on screen ---------------------------------------------------
    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y == 0:
            style = base + self.get_component_rich_style("virtual-table--header")
            return self._strip([c[0] for c in self.columns], style, width)
        row = int(self.scroll_y) + y - 1
        if row >= len(self.keys):
            return Strip.blank(width, base)
        key = self.keys[row]
        cells = [self._cell(key, col) for _, col, _ in self.columns]  # a row on view: no check
        style = base
        if row == self.cursor_row:
            style = base + self.get_component_rich_style("virtual-table--cursor")
        elif row % 2:
            style = base + self.get_component_rich_style("virtual-table--even")
        return self._strip(cells, style, width)

    def _strip(self, cells: list, style: Style, width: int) -> Strip:
        line = Text(no_wrap=True, overflow="ellipsis", end="")
        for (_, _, w), cell in zip(self.columns, cells):
            t = cell.copy() if isinstance(cell, Text) else Text(str(cell))
            t.truncate(w, overflow="ellipsis", pad=True)
            line.append(" ")
            line.append_text(t)
        segs = [Segment(s.text, style + s.style if s.style else style)
                for s in line.render(self.app.console)]
        return Strip(segs).adjust_cell_length(width, style)
