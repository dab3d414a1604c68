"""Review screen (being built)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from tui.screens.base import BaseScreen


class ReviewScreen(BaseScreen):
    MODE = "review"
    TITLE = "Review"

    def compose(self) -> ComposeResult:
        yield self.nav()
        yield Static("Review: coming soon", classes="hint")
        yield self.footer()
