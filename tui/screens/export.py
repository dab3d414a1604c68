"""Export screen (being built)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from tui.screens.base import BaseScreen


class ExportScreen(BaseScreen):
    MODE = "export"
    TITLE = "Export"

    def compose(self) -> ComposeResult:
        yield self.nav()
        yield Static("Export: coming soon", classes="hint")
        yield self.footer()
