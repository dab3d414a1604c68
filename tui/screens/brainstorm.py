"""The topic editor's brainstorm dialog: how many topics (and what about), the estimate before
the request, then the model's new, distinct topics as a checklist to accept one by one or all.
Everything goes through tui/services.py (the request, the de-duplication, the save)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, SelectionList, Static

from synth.errors import ChatsynthError
from synth.models import TopicSource
from tui.screens.dialogs import Dialog
from tui.widgets.button import AppButton


class BrainstormDialog(Dialog):
    """Dismisses with the saved TopicSource, or None when nothing was added."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, source: TopicSource, parent: str | None = None, n: int = 10) -> None:
        super().__init__(classes="dialog")
        self.source = source
        self.topic_parent = parent
        self.n = n
        self.ideas = None

    def compose(self) -> ComposeResult:
        what = f"Narrower subtopics of “{self.topic_parent}”" if self.topic_parent else \
            f"New topics for {self.source.id}"
        with Vertical(classes="dialog-box", id="bs-box"):
            yield Label(what, classes="dialog-question", markup=False)
            with Horizontal(id="bs-ask", classes="dialog-buttons"):
                yield Label("How many:")
                yield Input(str(self.n), id="bs-n", type="integer", compact=True)
            yield Input(placeholder="about… (optional)", id="bs-about", compact=True)
            yield Static("", id="bs-estimate")
            yield SelectionList[int](id="bs-list")
            yield Static("", id="bs-error", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield AppButton("Ask", variant="primary", id="bs-go")
                yield AppButton("Add selected", variant="primary", id="bs-add")
                yield AppButton("Add all", id="bs-all")
                yield AppButton("Cancel", id="bs-cancel")

    def on_mount(self) -> None:
        super().on_mount()
        for wid in ("#bs-list", "#bs-add", "#bs-all", "#bs-error"):
            self.query_one(wid).display = False
        self._estimate()
        self.query_one("#bs-n", Input).focus()

    def _count(self) -> int:
        try:
            return int(self.query_one("#bs-n", Input).value or 0)
        except ValueError:
            return 0

    def _estimate(self) -> None:
        try:
            line = self.app.services.brainstorm_estimate(  # type: ignore[attr-defined]
                self.source, self._count(), self.query_one("#bs-about", Input).value,
                self.topic_parent)
        except ChatsynthError as err:
            line = str(err)
        self.query_one("#bs-estimate", Static).update(line)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if self.ideas is None:
            self._estimate()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._ask()

    def _error(self, text: str) -> None:
        err = self.query_one("#bs-error", Static)
        err.update(text)
        err.display = bool(text)

    def _ask(self) -> None:
        go = self.query_one("#bs-go", Button)
        if go.disabled or self.ideas is not None:
            return
        n, about = self._count(), self.query_one("#bs-about", Input).value
        go.disabled = True
        self._error("")
        self.query_one("#bs-estimate", Static).update(
            str(self.query_one("#bs-estimate", Static).render()) + "\nasking the model…")

        def work() -> None:
            try:
                ideas = self.app.services.brainstorm(  # type: ignore[attr-defined]
                    self.source, n, about, self.topic_parent)
            except ChatsynthError as err:
                self.app.call_from_thread(self._failed, str(err))
            except Exception as exc:  # noqa: BLE001 - an endpoint's error, shown in place
                self.app.call_from_thread(self._failed, getattr(exc, "message", None)
                                          or f"{type(exc).__name__}: {exc}")
            else:
                self.app.call_from_thread(self._show, ideas)

        self.run_worker(work, thread=True, exit_on_error=False)

    def _failed(self, message: str) -> None:
        self.query_one("#bs-go", Button).disabled = False
        self._estimate()
        self._error(message + " — the topic list is unchanged.")

    def _show(self, ideas) -> None:
        self.ideas = ideas
        for wid in ("#bs-ask", "#bs-about", "#bs-go"):
            self.query_one(wid).display = False
        sel = self.query_one("#bs-list", SelectionList)
        sel.add_options([(t, i, True) for i, t in enumerate(ideas.topics)])
        sel.display = True
        self.query_one("#bs-add").display = self.query_one("#bs-all").display = True
        self.query_one("#bs-estimate", Static).update(
            ideas.summary() + ". Space ticks or unticks one; Add selected saves them.")
        sel.focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        bid = event.button.id
        if bid == "bs-go":
            self._ask()
        elif bid == "bs-cancel":
            self.dismiss(None)
        elif bid in ("bs-add", "bs-all") and self.ideas is not None:
            sel = self.query_one("#bs-list", SelectionList)
            picked = range(len(self.ideas.topics)) if bid == "bs-all" else sorted(sel.selected)
            self._add([self.ideas.topics[i] for i in picked])

    def _add(self, texts: list[str]) -> None:
        if not texts:
            self._error("Nothing ticked; tick some, or Cancel.")
            return
        try:
            saved = self.app.services.add_topics(  # type: ignore[attr-defined]
                self.source, texts, self.ideas.parent)
        except ChatsynthError as err:
            self._error(str(err))
            return
        self.dismiss(saved)

    def action_cancel(self) -> None:
        self.dismiss(None)
