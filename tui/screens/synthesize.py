"""Synthesize screen (being built)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from tui.screens.base import BaseScreen


class SynthesizeScreen(BaseScreen):
    MODE = "synthesize"
    TITLE = "Synthesize"

    def compose(self) -> ComposeResult:
        yield self.nav()
        yield Static("Synthesize: coming soon", classes="hint")
        yield self.footer()
