"""F1: the keys that work here and what the current screen is for."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Markdown

from tui.guard import Guarded

GLOBAL_KEYS = [
    ("1 … 6", "switch screens: Library, Synthesize, Trim, Review, Export, Settings"),
    ("F1", "this help"),
    ("Ctrl+P", "command palette: this screen's actions, screens, theme"),
    ("Ctrl+T", "light / dark theme"),
    ("Tab / Shift+Tab", "move between fields; the mouse works everywhere too"),
    ("Ctrl+Q", "quit (a running synthesis is cancelled cleanly)"),
]

ABOUT = """\
chatsynth writes fine-tuning conversations for a chatbot persona: design a **persona** and a
list of **topics** in the Library, watch conversations being written in **Synthesize**, cut
run-on text with stop sequences in **Trim**, accept or reject them in **Review**, and write
train / validation files in **Export**. Endpoints and API keys are in **Settings**.
"""


def _key_name(key: str) -> str:
    return ", ".join(k.replace("ctrl+", "Ctrl+").replace("shift+", "Shift+")
                     .replace("escape", "Esc").replace("enter", "Enter") for k in key.split(","))


class HelpScreen(Guarded, ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close")]

    def __init__(self, under: Screen) -> None:
        super().__init__(classes="dialog")
        self.under = under

    def compose(self) -> ComposeResult:
        title = getattr(self.under, "TITLE", None) or type(self.under).__name__
        lines = [f"# Help: {title}", "", (getattr(self.under, "HELP", "") or "").strip(), ""]
        own = [b for b in getattr(self.under, "BINDINGS", []) if isinstance(b, Binding)]
        if own:
            lines += ["## Keys on this screen", "", "| Key | Does |", "|---|---|"]
            lines += [f"| {_key_name(b.key)} | {b.description} |" for b in own if b.description]
            lines.append("")
        lines += ["## Keys everywhere", "", "| Key | Does |", "|---|---|"]
        lines += [f"| {k} | {d} |" for k, d in GLOBAL_KEYS]
        lines += ["", "## What chatsynth does", "", ABOUT]
        with VerticalScroll(classes="dialog-box help-box"):
            yield Markdown("\n".join(lines))

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)
