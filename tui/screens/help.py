"""F1: the keys that work here and what the current screen is for.

The keys are read from the screen's bindings as they are when F1 is pressed (the focused
widget's chain, the screen's other parts, the app), never from a list kept by hand."""

from __future__ import annotations

import re

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Markdown

from tui.guard import Guarded

# keys that are no binding of chatsynth's own (Textual's palette, focus moves, the mouse)
EXTRA_KEYS = [
    ("Ctrl+P", "command palette: this screen's actions, screens, theme"),
    ("Tab / Shift+Tab", "move between fields; the mouse works everywhere too"),
]

ABOUT = """\
chatsynth writes fine-tuning conversations for a chatbot persona: design a **persona** and a
list of **topics** in the Library, watch conversations being written in **Synthesize**, cut
run-on text with stop sequences in **Trim**, accept or reject them in **Review**, and write
train / validation files in **Export**. Endpoints and API keys are in **Settings**.
"""


_KEY_WORDS = {"ctrl": "Ctrl", "shift": "Shift", "alt": "Alt", "escape": "Esc",
              "enter": "Enter", "delete": "Delete", "up": "↑", "down": "↓", "left": "←",
              "right": "→", "slash": "/", "space": "Space", "tab": "Tab"}


def _key_name(key: str) -> str:
    """``ctrl+s`` → ``Ctrl+S``, ``shift+up`` → ``Shift+↑``, ``f5`` → ``F5``."""
    out = []
    for part in key.split("+"):
        word = _KEY_WORDS.get(part)
        if word is None:
            word = part.upper() if len(part) > 1 and part[0] == "f" and part[1:].isdigit() else part
        out.append(word)
    out[-1] = out[-1].upper() if len(out) > 1 and len(out[-1]) == 1 else out[-1]
    return "+".join(out)


def _own(node) -> list[Binding]:
    """The bindings chatsynth's own classes declare on ``node`` (not Textual's built-in ones:
    cursor moves, text editing), in declaration order."""
    found: list[Binding] = []
    for cls in type(node).__mro__:
        if not cls.__module__.startswith("tui."):
            continue
        for b in cls.__dict__.get("BINDINGS", []):
            if isinstance(b, Binding) and b.description and b not in found:
                found.append(b)
    return found


def _describe(b: Binding) -> str:
    if b.action.startswith("goto("):
        from tui.app import SCREEN_TITLES

        mode = b.action[len("goto("):].strip("')\"")
        return f"the {SCREEN_TITLES.get(mode, mode)} screen"
    return b.description


def _part_name(node) -> str:
    """``PersonaList`` → ``persona list``."""
    name = getattr(node, "HELP_NAME", "") or type(node).__name__
    return re.sub(r"(?<!^)(?=[A-Z])", " ", name).lower()


def key_sections(screen: Screen) -> list[tuple[str, list[tuple[str, str]]]]:
    """The keys of ``screen``, from its bindings as they are now: what works where the focus is
    (the focused widget, its parents, the screen: Textual's active binding map, so keys a text
    field takes for typing and actions switched off are left out), what works in the screen's
    other parts, and what works everywhere."""
    app = screen.app
    active = screen.active_bindings  # key -> (node, binding, enabled, tooltip)
    here: dict[tuple[int, str], list[str]] = {}
    everywhere: dict[tuple[int, str], list[str]] = {}
    texts: dict[tuple[int, str], str] = {}
    for key, ab in active.items():
        own = _own(ab.node)
        if not any(b.action == ab.binding.action and b.description == ab.binding.description
                   for b in own):
            continue
        slot = (id(ab.node), ab.binding.action)
        texts[slot] = _describe(ab.binding)
        (everywhere if ab.node is app else here).setdefault(slot, []).append(_key_name(key))
    sections = [("Keys here (where the cursor is)",
                 [(", ".join(keys), texts[slot]) for slot, keys in here.items()])]
    chain = {id(n) for n, _ in screen._binding_chain}  # noqa: SLF001 - the focused chain
    for node in screen.query("*"):
        if id(node) in chain or not node.display:
            continue
        rows = [(", ".join(_key_name(k) for k in b.key.split(",")), _describe(b))
                for b in _own(node)]
        if rows:
            sections.append((f"In the {_part_name(node)}", rows))
    rows, screens, screen_keys = [], [], []
    for slot, keys in everywhere.items():
        if slot[1].startswith("goto("):  # 1-6: one row
            screen_keys += keys
            screens.append(texts[slot].removeprefix("the ").removesuffix(" screen"))
        else:
            rows.append((", ".join(keys), texts[slot]))
    if screen_keys:
        rows.insert(0, (", ".join(screen_keys), "switch screens: " + ", ".join(screens)))
    sections.append(("Keys everywhere", rows + EXTRA_KEYS))
    return sections


class HelpScreen(Guarded, ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close")]

    def __init__(self, under: Screen) -> None:
        super().__init__(classes="dialog")
        self.under = under

    def compose(self) -> ComposeResult:
        title = getattr(self.under, "TITLE", None) or type(self.under).__name__
        lines = [f"# Help: {title}", "", (getattr(self.under, "HELP", "") or "").strip(), ""]
        for title_, rows in key_sections(self.under):
            if not rows:
                continue
            lines += [f"## {title_}", "", "| Key | Does |", "|---|---|"]
            lines += [f"| {k} | {d} |" for k, d in rows]
            lines.append("")
        lines += ["", "## What chatsynth does", "", ABOUT]
        with VerticalScroll(classes="dialog-box help-box"):
            yield Markdown("\n".join(lines))

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)
