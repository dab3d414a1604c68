"""Small modal dialogs: confirm, ask for one line of text, save or discard unsaved changes.

Every dialog gives the focus back when it closes (``Dialog``): to the widget that had it, or,
where that one is gone or was a button, to the screen's main list, so its keys work at once.
A ``TextPrompt`` with an ``act`` runs it on the answer and stays open, with the typed text and
the error in place, until the answer is accepted.
"""

from __future__ import annotations

import inspect
from typing import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from synth.errors import ChatsynthError
from tui.guard import Guarded
from tui.screens.base import no_blink, restore_focus
from tui.widgets.button import AppButton


class Dialog(Guarded, ModalScreen):
    """A modal that returns the focus to the screen under it when it closes."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self._under = None
        self._return_to = None

    def on_mount(self) -> None:
        stack = self.app.screen_stack
        if len(stack) > 1 and stack[-1] is self:
            self._under = stack[-2]
            self._return_to = self._under.focused

    def on_unmount(self) -> None:
        under, back = self._under, self._return_to
        if under is not None and under.is_attached:
            under.call_after_refresh(restore_focus, under, back)


class ConfirmDialog(Dialog):
    """Yes / no.  Enter or y confirms, Escape or n cancels."""

    BINDINGS = [
        Binding("escape,n", "answer(False)", "Cancel"),
        Binding("y", "answer(True)", "Yes"),
    ]

    def __init__(self, question: str, yes: str = "Yes", danger: bool = True) -> None:
        super().__init__(classes="dialog")
        self.question = question
        self.yes = yes
        self.danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(self.question, classes="dialog-question")
            with Horizontal(classes="dialog-buttons"):
                yield AppButton(self.yes, variant="error" if self.danger else "primary", id="yes")
                yield AppButton("Cancel", id="no")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


class TextPrompt(Dialog):
    """One line of text; Enter accepts, Escape cancels (returns None).

    ``act``: called with the stripped answer before the dialog closes; a ChatsynthError or
    OSError it raises is shown in the dialog, which stays open with what was typed.  An empty
    answer is refused in place with ``empty`` (when ``act`` is given)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, value: str = "", placeholder: str = "",
                 password: bool = False, act: Callable[[str], object] | None = None,
                 empty: str = "type a name first") -> None:
        super().__init__(classes="dialog")
        self.question = question
        self.value = value
        self.placeholder = placeholder
        self.password = password
        self.act = act
        self.empty = empty
        self._busy = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(self.question, classes="dialog-question")
            yield Input(self.value, placeholder=self.placeholder, password=self.password,
                        id="prompt-input")
            yield Static("", id="prompt-error", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield AppButton("OK", variant="primary", id="ok")
                yield AppButton("Cancel", id="cancel")

    def on_mount(self) -> None:
        super().on_mount()
        no_blink(self)
        self.query_one("#prompt-error", Static).display = False
        self.query_one(Input).focus()

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        await self.accept(event.value)

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "ok":
            await self.accept(self.query_one(Input).value)
        else:
            self.dismiss(None)

    def show_error(self, message: str) -> None:
        err = self.query_one("#prompt-error", Static)
        err.update(Text("✗ " + message))
        err.display = True
        self.query_one(Input).focus()

    async def accept(self, value: str) -> None:
        if self.act is None:
            self.dismiss(value)
            return
        if self._busy:
            return
        answer = value.strip()
        if not answer:
            self.show_error(self.empty)
            return
        self._busy = True
        try:
            result = self.act(answer)
            if inspect.isawaitable(result):
                await result
        except (ChatsynthError, OSError) as err:
            self.show_error(str(err))
            return
        finally:
            self._busy = False
        self.dismiss(answer)

    def action_cancel(self) -> None:
        self.dismiss(None)


class UnsavedDialog(Dialog):
    """Unsaved changes: returns "save", "discard" or "cancel".  s saves, d discards, Escape or
    c cancels; the focus starts on Save."""

    BINDINGS = [
        Binding("escape,c", "answer('cancel')", "Cancel"),
        Binding("s", "answer('save')", "Save"),
        Binding("d", "answer('discard')", "Discard"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__(classes="dialog")
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(self.question, classes="dialog-question")
            with Horizontal(classes="dialog-buttons"):
                yield AppButton("Save", variant="primary", id="save")
                yield AppButton("Discard", variant="error", id="discard")
                yield AppButton("Cancel", id="cancel")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#save", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id or "cancel")

    def action_answer(self, value: str) -> None:
        self.dismiss(value)
