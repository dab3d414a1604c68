"""DataTable columns sized from their cells when they are added."""

from __future__ import annotations

from typing import Sequence

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import DataTable


def _width(cell: object) -> int:
    return cell_len(cell.plain if isinstance(cell, Text) else str(cell))


def add_sized_columns(table: DataTable, labels: Sequence[object], rows: Sequence[Sequence[object]]) -> None:
    """Columns as wide as their widest cell, measured here rather than on the table's next
    idle: the first frame already has its final layout, and a busy app (nothing idle for a
    while) never shows columns cut to their labels.  Labels are text as written, not markup."""
    for col, label in enumerate(labels):
        width = max([_width(label), *(_width(r[col]) for r in rows)])
        table.add_column(label if isinstance(label, Text) else Text(str(label)), width=width)
