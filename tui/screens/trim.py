"""Trim screen (being built)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from tui.screens.base import BaseScreen


class TrimScreen(BaseScreen):
    MODE = "trim"
    TITLE = "Trim"

    def compose(self) -> ComposeResult:
        yield self.nav()
        yield Static("Trim: coming soon", classes="hint")
        yield self.footer()
