"""A conversation as a chat: the user's and the persona's turns visibly distinct.

``show`` reconciles the turn widgets with the new turns (only changed ones are updated), so it
can be called at 10-20 Hz while a conversation streams: a turn whose text grows without
growing taller is redrawn without laying the screen out again (``quiet_update``), and turn
widgets left over from a longer conversation are hidden and used again, not removed and
mounted anew (a mount styles the widget and lays out the screen: tens of milliseconds, which
a key press waited for).  It follows the end only while the reader is already at the bottom.
"""

from __future__ import annotations

from typing import Sequence

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from synth.models import Turn


def quiet_update(widget: Static, content) -> None:
    """``widget.update(content)``, laying the screen out again only where its height changes
    (Textual lays out the whole screen on every update of a Static)."""
    size = widget.size
    if not size.width or not widget.display or not widget.is_attached:
        widget.update(content)
        return
    before = widget.get_content_height(size, size, size.width)  # kept from the last layout
    widget.update(content, layout=False)
    if widget.get_content_height(size, size, size.width) != before:
        widget.refresh(layout=True)


def turn_text(turn: Turn, persona_label: str, user_label: str, index: int | None = None,
              marks: Sequence[str] = ()) -> Text:
    label = persona_label if turn.role == "assistant" else user_label
    head = Text(label, style="bold")
    if index is not None:
        head.append(f"  #{index + 1}", style="dim")
    for m in marks:
        head.append(f"  ⚑ {m}", style="bold red")
    body = turn.text if turn.text.strip() else "(empty)"
    return Text.assemble(head, "\n", body)


class ChatView(VerticalScroll):
    """Shows turns; optional header (the topic) and trimmed tail."""

    DEFAULT_CSS = """
    ChatView { height: 1fr; }
    """

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self._shown: list[tuple[str, str]] = []  # (classes, plain text) per turn widget
        self._widgets: list[Static] = []  # every turn widget, the first len(self._shown) on view
        self._header = ""
        self._tail = ""

    def compose(self):
        yield Static("", classes="chat-header")
        yield Static("", classes="chat-tail")

    def show(self, turns: Sequence[Turn], persona_label: str, user_label: str, *,
             header: str = "", tail: str = "", tail_note: str = "", writing: bool = False,
             marks: dict[int, list[str]] | None = None, numbered: bool = False) -> None:
        at_bottom = self.scroll_y >= self.max_scroll_y - 1
        head_w = self.query_one(".chat-header", Static)
        if header != self._header:
            head_w.display = bool(header)
            quiet_update(head_w, Text(header, style="italic"))
            self._header = header
        widgets = self._widgets
        marks = marks or {}
        wanted: list[tuple[str, Text]] = []
        for i, t in enumerate(turns):
            cls = "turn persona" if t.role == "assistant" else "turn user"
            if marks.get(i):
                cls += " marked"
            wanted.append((cls, turn_text(t, persona_label, user_label, i if numbered else None,
                                          marks.get(i, ()))))
        if writing:
            if wanted:
                cls, text = wanted[-1]
                text.append(" ▍", style="blink bold")
                wanted[-1] = (cls + " writing", text)
            else:
                wanted.append(("turn writing", Text("writing…", style="dim italic")))
        new: list[Static] = []
        for i, (cls, text) in enumerate(wanted):
            key = (cls, text.plain)
            if i < len(widgets):
                w = widgets[i]
                if i >= len(self._shown) or self._shown[i] != key:
                    if w.classes != frozenset(cls.split()):
                        w.set_classes(cls)  # (restyles the widget even when nothing changed)
                    w.display = True
                    quiet_update(w, text)
            else:
                w = Static(text, classes=cls)
                new.append(w)
        for w in widgets[len(wanted):]:
            w.display = False  # kept for the next conversation with more turns
        self._widgets = widgets + new
        if new:
            self.mount_all(new, before=self.query_one(".chat-tail"))
        self._shown = [(c, t.plain) for c, t in wanted]
        tail_w = self.query_one(".chat-tail", Static)
        tail_key = tail_note + "\0" + tail
        if tail_key != self._tail:
            self._tail = tail_key
            if tail or tail_note:
                t = Text(tail_note, style="bold")
                if tail:
                    t.append("\n" + tail, style="dim strike")
                tail_w.update(t)
                tail_w.display = True
            else:
                tail_w.display = False
        if at_bottom and writing:
            self.call_after_refresh(self.scroll_end, animate=False)

    def clear(self, message: str = "") -> None:
        self.show([], "", "", header=message)
