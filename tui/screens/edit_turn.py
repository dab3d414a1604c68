"""Edit one turn of a conversation (Review).  Empty text removes the turn."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Select, TextArea

from synth.models import Turn
from tui.guard import Guarded
from tui.screens.base import no_blink
from tui.widgets.button import AppButton


class EditTurnDialog(Guarded, ModalScreen[list[Turn] | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "save", "Save edit")]

    def __init__(self, turns: list[Turn], index: int, persona_label: str, user_label: str) -> None:
        super().__init__(classes="dialog")
        self.turns = [Turn(t.role, t.text, t.label) for t in turns]
        self.index = max(0, min(index, len(turns) - 1))
        self.labels = {"assistant": persona_label, "user": user_label}

    def compose(self) -> ComposeResult:
        opts = [(f"#{i + 1} {self.labels[t.role]}: {' '.join(t.text.split())[:50]}", i)
                for i, t in enumerate(self.turns)]
        with Vertical(classes="dialog-box edit-box"):
            yield Label("Edit a turn (empty text removes it). Ctrl+S saves, Esc cancels.",
                        classes="dialog-question")
            yield Select(opts, value=self.index, allow_blank=False, id="edit-which", compact=True)
            yield TextArea(self.turns[self.index].text, id="edit-text")
            with Horizontal(classes="dialog-buttons"):
                yield AppButton("Save", variant="primary", id="save")
                yield AppButton("Cancel", id="cancel")

    def on_mount(self) -> None:
        no_blink(self)
        self.query_one(TextArea).focus()

    def on_select_changed(self, event: Select.Changed) -> None:
        self._keep()
        self.index = int(event.value)  # type: ignore[arg-type]
        self.query_one(TextArea).load_text(self.turns[self.index].text)

    def _keep(self) -> None:
        self.turns[self.index].text = self.query_one(TextArea).text.strip()

    def action_save(self) -> None:
        self._keep()
        self.dismiss([t for t in self.turns if t.text.strip()])

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "save":
            self.action_save()
        else:
            self.action_cancel()
