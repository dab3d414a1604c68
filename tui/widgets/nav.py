"""The bar of screen tabs at the top of every screen (clickable; keys 1-6 do the same)."""

from __future__ import annotations

from textual.widgets import Tab, Tabs

from tui.guard import Guarded

TABS = (
    ("library", "1 Library"),
    ("synthesize", "2 Synthesize"),
    ("trim", "3 Trim"),
    ("review", "4 Review"),
    ("export", "5 Export"),
    ("settings", "6 Settings"),
)


class NavBar(Guarded, Tabs):
    """Tabs naming the six screens; the current one is active.  Never takes focus."""

    can_focus = False

    def __init__(self, current: str) -> None:
        super().__init__(*(Tab(label, id=f"nav-{mode}") for mode, label in TABS),
                         active=f"nav-{current}", id="nav")
        self.current = current

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        event.stop()
        mode = (event.tab.id or "").removeprefix("nav-")
        if mode and mode != self.current:
            self.active = f"nav-{self.current}"  # this screen keeps showing its own tab
            self.app.action_goto(mode)  # type: ignore[attr-defined]
