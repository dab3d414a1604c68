"""Settings screen (being built)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from tui.screens.base import BaseScreen


class SettingsScreen(BaseScreen):
    MODE = "settings"
    TITLE = "Settings"

    def compose(self) -> ComposeResult:
        yield self.nav()
        yield Static("Settings: coming soon", classes="hint")
        yield self.footer()
