"""A topic source's topics in a (virtualized) table: add, edit, delete, reorder, import, filter.

A list (YAML or text file) is saved after every change through ``synth.library.personas``; a folder of
documents shows its files (each is one context) and is read-only here.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, DataTable, Input, Static

from synth.errors import ChatsynthError
from synth.library.files import new_topics
from synth.models import TopicSource
from tui.guard import Guarded
from tui.widgets.button import AppButton
from tui.widgets.table_columns import add_sized_columns


class TopicTable(DataTable):
    BINDINGS = [
        Binding("a", "editor('add')", "Add"),
        Binding("e,enter", "editor('edit')", "Edit"),
        Binding("delete,x", "editor('delete')", "Delete"),
        Binding("shift+up,K", "editor('up')", "Move up"),
        Binding("shift+down,J", "editor('down')", "Move down"),
        Binding("i", "editor('import')", "Import"),
        Binding("slash", "editor('filter')", "Filter"),
        Binding("b", "editor('brainstorm')", "Brainstorm"),
        Binding("B", "editor('expand')", "Subtopics"),
    ]

    def action_editor(self, what: str) -> None:
        editor = next((a for a in self.ancestors if isinstance(a, TopicEditor)), None)
        if editor is not None:
            editor.run_action_named(what)


class TopicEditor(Guarded, Vertical):
    class Saved(Message):
        def __init__(self, source: TopicSource) -> None:
            super().__init__()
            self.source = source

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.source: TopicSource | None = None
        self.texts: list[str] = []
        self.shown: list[int] = []  # indices into texts, in table order

    def compose(self) -> ComposeResult:
        yield Static("", id="topics-title", classes="pane-title")
        yield Input(placeholder="filter topics… (/)", id="topic-filter", compact=True)
        yield TopicTable(id="topic-table", cursor_type="row", zebra_stripes=True)
        with Horizontal(classes="button-row", id="topic-buttons"):
            yield AppButton("Add", id="topic-add", compact=True)
            yield AppButton("Edit", id="topic-edit", compact=True)
            yield AppButton("Delete", id="topic-delete", compact=True)
            yield AppButton("↑", id="topic-up", compact=True)
            yield AppButton("↓", id="topic-down", compact=True)
            yield AppButton("Import…", id="topic-import", compact=True)

    @property
    def table(self) -> TopicTable:
        return self.query_one(TopicTable)

    @property
    def read_only(self) -> bool:
        return self.source is None or self.source.kind == "folder"

    def load(self, source: TopicSource | None, keep_cursor: int | None = None) -> None:
        self.source = source
        self.texts = [t.text for t in source.topics] if source else []
        title = "No topic source selected"
        if source is not None:
            where = Path(source.path).name if source.path else source.id
            n = len(source.topics)
            kind = {"folder": "folder of documents", "text": "text list", "yaml": "YAML list"}[source.kind]
            title = f"{source.id} — {kind}, {n} {'documents' if source.kind == 'folder' else 'topics'} ({where})"
        self.query_one("#topics-title", Static).update(title)
        self.query_one("#topic-buttons").display = not self.read_only
        self.query_one("#topic-filter", Input).disabled = source is None
        self.refresh_rows(keep_cursor)

    def refresh_rows(self, cursor_index: int | None = None) -> None:
        table = self.table
        table.clear(columns=True)
        needle = self.query_one("#topic-filter", Input).value.strip().casefold()
        if self.source is not None and self.source.kind == "folder":
            self.shown = [i for i, t in enumerate(self.source.topics)
                          if not needle or needle in t.text.casefold()]
            rows = [(self.source.topics[i].text, str(len(self.source.topics[i].context or "")),
                     " ".join((self.source.topics[i].context or "").split())[:60]) for i in self.shown]
            add_sized_columns(table, ("Document", "Chars", "Opening"), rows)
            for i, row in zip(self.shown, rows):
                table.add_row(*map(Text, row), key=str(i))
        else:
            self.shown = [i for i, t in enumerate(self.texts) if not needle or needle in t.casefold()]
            rows = [(str(i + 1), self.texts[i]) for i in self.shown]
            add_sized_columns(table, ("#", "Topic"), rows)
            table.add_rows([tuple(map(Text, row)) for row in rows])  # text as written, not markup
        if cursor_index is not None and cursor_index in self.shown:
            table.move_cursor(row=self.shown.index(cursor_index), animate=False)

    def selected_index(self) -> int | None:
        row = self.table.cursor_row
        if not self.shown or row is None or row < 0 or row >= len(self.shown):
            return None
        return self.shown[row]

    # -- actions -----------------------------------------------------------------------------
    def run_action_named(self, what: str) -> None:
        if what == "filter":
            self.query_one("#topic-filter", Input).focus()
            return
        if self.source is None:
            self.app.notify("Pick a topic source first.", severity="warning")
            return
        if self.read_only:
            self.app.notify("A folder of documents is edited as files; each file is one context.",
                            severity="warning")
            return
        getattr(self, f"do_{what}")()

    def _save(self, texts: list[str], cursor: int | None) -> bool:
        assert self.source is not None
        try:
            saved = self.app.services.save_topics(self.source, texts)  # type: ignore[attr-defined]
        except ChatsynthError as err:
            self.app.report_error(err, "Topics not saved")  # type: ignore[attr-defined]
            return False
        self.load(saved, keep_cursor=cursor)
        self.post_message(self.Saved(saved))
        return True

    def _store(self, texts: list[str], cursor: int | None) -> None:
        """Save from a dialog: an error raises, so the dialog shows it and keeps what was typed."""
        assert self.source is not None
        saved = self.app.services.save_topics(self.source, texts)  # type: ignore[attr-defined]
        self.load(saved, keep_cursor=cursor)
        self.post_message(self.Saved(saved))

    def do_add(self) -> None:
        from tui.screens.dialogs import TextPrompt

        def add(value: str) -> None:
            at = self.selected_index()
            at = len(self.texts) if at is None else at + 1
            texts = list(self.texts)
            texts.insert(at, value)
            self._store(texts, at)

        self.app.push_screen(TextPrompt("New topic (one line):", placeholder="e.g. Feeling stuck at work",
                                        act=add, empty="type a topic first (Esc cancels)"))

    def do_edit(self) -> None:
        from tui.screens.dialogs import TextPrompt

        i = self.selected_index()
        if i is None:
            return

        def edit(value: str) -> None:
            if value != self.texts[i]:
                texts = list(self.texts)
                texts[i] = value
                self._store(texts, i)

        self.app.push_screen(TextPrompt("Edit topic:", value=self.texts[i], act=edit,
                                        empty="a topic can't be empty (d deletes it, Esc cancels)"))

    def do_delete(self) -> None:
        i = self.selected_index()
        if i is None:
            return
        if len(self.texts) == 1:
            self.app.notify("A topic source needs at least one topic.", severity="warning")
            return
        texts = list(self.texts)
        gone = texts.pop(i)
        if self._save(texts, min(i, len(texts) - 1)):
            self.app.notify(f"Deleted topic: {gone}", markup=False)

    def _move(self, delta: int) -> None:
        if self.query_one("#topic-filter", Input).value.strip():
            self.app.notify("Clear the filter to reorder topics.", severity="warning")
            return
        i = self.selected_index()
        if i is None or not (0 <= i + delta < len(self.texts)):
            return
        texts = list(self.texts)
        texts[i], texts[i + delta] = texts[i + delta], texts[i]
        self._save(texts, i + delta)

    def do_up(self) -> None:
        self._move(-1)

    def do_down(self) -> None:
        self._move(1)

    def do_import(self) -> None:
        from tui.screens.dialogs import TextPrompt

        def import_from(value: str) -> None:
            lines = self.app.services.read_topic_lines(Path(value))  # type: ignore[attr-defined]
            new = new_topics(self.texts, lines)
            self._store(self.texts + new, len(self.texts))
            skipped = len(lines) - len(new)
            self.app.notify(f"Imported {len(new)} topics" + (f" ({skipped} already there)" if skipped else ""))

        self.app.push_screen(TextPrompt("Import topics from a text file (one a line):",
                                        placeholder="/path/to/topics.txt", act=import_from,
                                        empty="type the path of a text file first (Esc cancels)"))

    def do_brainstorm(self, parent: str | None = None) -> None:
        """Ask the model for new topics (``parent``: subtopics of it) and add the ticked ones."""
        from tui.screens.brainstorm import BrainstormDialog

        def done(saved: TopicSource | None) -> None:
            if saved is not None:
                added = len(saved.topics) - len(self.texts)
                self.load(saved, keep_cursor=len(saved.topics) - 1)
                self.post_message(self.Saved(saved))
                self.app.notify(f"Added {added} topic{'' if added == 1 else 's'}")

        self.app.push_screen(BrainstormDialog(self.source, parent=parent), done)

    def do_expand(self) -> None:
        i = self.selected_index()
        if i is not None:
            self.do_brainstorm(parent=self.texts[i])

    # -- events ------------------------------------------------------------------------------
    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "topic-filter":
            event.stop()
            self.refresh_rows()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "topic-filter":
            event.stop()
            self.table.focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        bid = event.button.id or ""
        if bid.startswith("topic-"):
            event.stop()
            self.run_action_named(bid.removeprefix("topic-"))

