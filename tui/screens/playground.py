"""The Playground (Ctrl+P "Playground: talk to a persona", or p on a persona in the Library):
talk to a persona through any endpoint, prompted (its synthesis prompt and the conversation) or
finetuned (only its exported system prompt), one answer at a time, streamed in.

Enter sends the line; Esc stops an answer (what came is kept), else leaves; Ctrl+R writes the
last answer again; Ctrl+L puts your last turn back in the input (Enter answers it again); Ctrl+S
saves the exchange into the persona's playground run (Review shows it); Ctrl+N starts a new one.
The endpoint, the ChatSession and the save come from ``tui.services``; every answer is written
in a worker thread (``synth.generate.chat``), never on the screen's thread.  An endpoint error
is shown and the conversation so far is kept, so Ctrl+R asks again.
"""

from __future__ import annotations

import asyncio
import time

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Input, Select, Static

from synth.errors import ChatsynthError
from synth.models import Turn
from tui.guard import Guarded
from tui.screens.base import no_blink
from tui.widgets.chat_view import ChatView
from tui.widgets.footer import AppFooter
from tui.widgets.run_form import chosen

MODES = [("prompted", "prompted"), ("finetuned", "finetuned")]
PAINT_EVERY = 0.05  # seconds between repaints of a streaming answer


class PlaygroundScreen(Guarded, Screen):
    BINDINGS = [
        Binding("escape", "escape", "Stop/close"),
        Binding("ctrl+r", "regenerate", "Regenerate"),
        Binding("ctrl+l", "edit_last", "Edit last"),
        Binding("ctrl+s", "save", "Save"),
        Binding("ctrl+n", "new", "New chat"),
    ]

    DEFAULT_CSS = """
    PlaygroundScreen #pg-pickers { height: 1; margin: 1 1 0 1; }
    PlaygroundScreen #pg-pickers Select { width: 1fr; margin-right: 1; }
    PlaygroundScreen #pg-topic { width: 2fr; height: 1; border: none; padding: 0 1; }
    PlaygroundScreen #pg-chat { height: 1fr; margin: 1 1 0 1; }
    PlaygroundScreen #pg-chat .turn { margin-bottom: 1; }
    PlaygroundScreen #pg-chat .turn.persona { color: $text; }
    PlaygroundScreen #pg-chat .turn.user { color: $text-primary; }
    PlaygroundScreen #pg-note { height: auto; max-height: 3; padding: 0 1; }
    PlaygroundScreen #pg-status { height: auto; padding: 0 1; color: $text-muted; }
    PlaygroundScreen #pg-input { margin: 0 1; }
    """

    def __init__(self, persona: str | None = None) -> None:
        super().__init__()
        self._want_persona = persona
        self.personas: dict = {}
        self.chat = None  # the ChatSession (made in a worker, on the first answer)
        self._close = None  # closes its endpoint session
        self._key: tuple | None = None  # (persona, mode, endpoint) the chat was made for
        self.streaming = False
        self.editing = False  # the input holds your last turn, to be answered again
        self.dirty = False  # answers on screen that were not saved
        self._after_save = None  # what runs once a save asked for by Ctrl+Q is done
        self._live = ""  # the answer as it streams
        self._picked: tuple = (None, None, None)
        self.ended = 0  # answers ended so far (written, stopped or failed)

    # -- layout ---------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Horizontal(id="pg-pickers"):
            yield Select([], id="pg-persona", allow_blank=True, compact=True, prompt="persona")
            yield Select(MODES, id="pg-mode", allow_blank=False, compact=True, value="prompted")
            yield Select([], id="pg-endpoint", allow_blank=True, compact=True, prompt="endpoint")
            yield Input(placeholder="topic (optional)", id="pg-topic")
        yield ChatView(id="pg-chat")
        yield Static("", id="pg-note")
        yield Static("", id="pg-status")
        yield Input(placeholder="say something to the persona, Enter sends", id="pg-input")
        yield AppFooter()

    def on_mount(self) -> None:
        no_blink(self)
        services = self.app.services  # type: ignore[attr-defined]
        personas, _errors = services.personas()
        self.personas = {p.id: p for p in personas}
        cfg = self.app.ws.config  # type: ignore[attr-defined]
        want = self._want_persona or str((cfg.defaults or {}).get("persona", ""))
        if want not in self.personas:
            want = next(iter(self.personas), None)
        with self.prevent(Select.Changed):
            ps = self.query_one("#pg-persona", Select)
            ps.set_options([(pid, pid) for pid in self.personas])
            if want:
                ps.value = want
            es = self.query_one("#pg-endpoint", Select)
            names = services.endpoint_names()
            es.set_options([(label, name) for label, name in names])
            default = cfg.default_endpoint if any(n == cfg.default_endpoint for _, n in names) \
                else (names[0][1] if names else None)
            if default:
                es.value = default
        self._picked = self._picks()
        self._paint()
        self._status()
        self.query_one("#pg-input", Input).focus()

    def _picks(self) -> tuple:
        return (chosen(self.query_one("#pg-persona", Select)),
                chosen(self.query_one("#pg-mode", Select)),
                chosen(self.query_one("#pg-endpoint", Select)))

    def _labels(self) -> tuple[str, str]:
        p = self.chat.persona if self.chat is not None else self.personas.get(self._picked[0])
        return (p.persona_label, p.user_label) if p is not None else ("PERSONA", "USER")

    def _turns(self) -> list[Turn]:
        return list(self.chat.turns) if self.chat is not None else []

    # -- painting ---------------------------------------------------------------------------
    def _paint(self, extra: list[Turn] | None = None) -> None:
        view = self.query_one("#pg-chat", ChatView)
        turns = self._turns() + (extra or [])
        persona, mode, endpoint = self._picked
        if self.streaming and self._live:
            turns.append(Turn(role="assistant", text=self._live))
        if not turns and not self.streaming:
            view.clear(f"Talk to {persona or 'a persona'} ({mode}) through {endpoint or '?'}: "
                       "type below, Enter sends.")
            return
        pl, ul = self._labels()
        view.show(turns, pl, ul, header=f"{persona} · {mode} · {endpoint}",
                  writing=self.streaming)

    def _note(self, text: str, problem: bool = False) -> None:
        self.query_one("#pg-note", Static).update(Text(("✗ " if problem else "") + text,
                                                       style="bold red" if problem else ""))

    def _status(self) -> None:
        from synth.pricing import format_usd

        c = self.chat
        if c is None or not c.exchanges:
            self.query_one("#pg-status", Static).update("no answers yet")
            return
        e = c.exchanges[-1]
        est = " (estimated)" if e.usage.source == "estimate" else ""
        cost = "cost unknown" if e.cost is None else format_usd(e.cost)
        p, k, total = c.totals()
        n = len(c.exchanges)
        self.query_one("#pg-status", Static).update(
            f"last answer: {e.usage.prompt_tokens} + {e.usage.completion_tokens} tokens{est}, "
            f"{cost} · total ({n} answer{'s' if n != 1 else ''}): {p} + {k} tokens, "
            + ("cost unknown" if total is None else format_usd(total)))

    def _set_streaming(self, on: bool) -> None:
        self.streaming = on
        for sel in ("#pg-persona", "#pg-mode", "#pg-endpoint"):
            self.query_one(sel).disabled = on
        self.refresh_bindings()

    # -- sending ----------------------------------------------------------------------------
    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "pg-topic":
            event.stop()
            self._topic_changed()
            self.query_one("#pg-input", Input).focus()
            return
        if event.input.id != "pg-input":
            return
        event.stop()
        text = event.value.strip()
        if self.streaming:
            self._note("An answer is being written: Esc stops it.")
            return
        if not text:
            self._note("Type a message first, then Enter.")
            return
        event.input.value = ""
        how = "edit" if self.editing else "say"
        self.editing = False
        self._start(how, text)

    def _start(self, how: str, text: str = "") -> None:
        persona, mode, endpoint = self._picked
        if persona is None or endpoint is None:
            self._note("Pick a persona and an endpoint first.", problem=True)
            return
        self._live = ""
        self._set_streaming(True)
        self._note("")
        extra = [Turn(role="user", text=text)] if how == "say" else []
        self._paint(extra)
        topic = self.query_one("#pg-topic", Input).value.strip()
        self._answer(how, text, (persona, mode, endpoint), topic)

    def _from_thread(self, fn, *args) -> None:
        try:
            self.app.call_from_thread(fn, *args)
        except RuntimeError:  # the app has closed
            pass

    @work(thread=True, exclusive=True, group="playground")
    def _answer(self, how: str, text: str, key: tuple, topic: str) -> None:
        try:
            chat = self.chat
            if chat is None or self._key != key:
                persona, mode, endpoint = key
                self._from_thread(self._note, f"opening {endpoint}…")
                chat, self._close = self.app.services.playground_chat(  # type: ignore[attr-defined]
                    persona, mode, endpoint, topic,
                    note=lambda t: self._from_thread(self._note, t))
                self.chat, self._key = chat, key
            chat.topic = topic or None
            pieces = {"say": lambda: chat.say(text), "edit": lambda: chat.edit(text),
                      "retry": chat.retry}[how]()
        except ChatsynthError as err:
            self._from_thread(self._ended, str(err), True)
            return
        self._from_thread(self._note, "")
        try:
            asyncio.run(self._consume(chat, pieces))
        except ChatsynthError as err:
            self._from_thread(self._ended, f"{err.message}; the conversation so far is kept: "
                              "Ctrl+R asks again, Ctrl+S saves it", True)
            return
        stopped = bool(chat.exchanges) and chat.exchanges[-1].partial
        self._from_thread(self._ended, "Stopped: what came is kept (Ctrl+R writes it again)."
                          if stopped else "", False)

    async def _consume(self, chat, pieces) -> None:
        last = 0.0
        try:
            async for piece in pieces:
                self._live += piece
                now = time.monotonic()
                if now - last >= PAINT_EVERY:
                    last = now
                    self._from_thread(self._paint)
        finally:
            await chat.endpoint.aclose()

    def _ended(self, message: str, problem: bool) -> None:
        self.ended += 1
        self._live = ""
        self._set_streaming(False)
        if self.chat is not None and self.chat.exchanges:
            self.dirty = True
        self._paint()
        self._status()
        self._note(message, problem=problem)

    # -- keys -------------------------------------------------------------------------------
    def action_escape(self) -> None:
        if self.streaming:
            if self.chat is not None:
                self.chat.stop()
            return
        if self.editing:
            self.editing = False
            self.query_one("#pg-input", Input).value = ""
            self._note("Edit cancelled.")
            return
        if self.dirty:
            from tui.screens.dialogs import ConfirmDialog

            self.app.push_screen(ConfirmDialog(
                "Leave the playground? The conversation on screen is not saved (Ctrl+S saves it).",
                yes="Leave"), lambda leave: self.dismiss() if leave else None)
            return
        self.dismiss()

    def _idle(self) -> bool:
        if self.streaming:
            self._note("An answer is being written: Esc stops it first.")
            return False
        return True

    def action_regenerate(self) -> None:
        if not self._idle():
            return
        if self.chat is None or not any(t.role == "user" for t in self.chat.turns):
            self._note("Nothing to answer again: say something first.")
            return
        self._start("retry")

    def action_edit_last(self) -> None:
        if not self._idle():
            return
        users = [t for t in self._turns() if t.role == "user"]
        if not users:
            self._note("No turn of yours to edit yet.")
            return
        box = self.query_one("#pg-input", Input)
        box.value = users[-1].text
        box.cursor_position = len(box.value)
        box.focus()
        self.editing = True
        self._note("Editing your last turn: Enter answers it again (the answer after it is "
                   "replaced); Esc cancels.")

    def action_save(self) -> None:
        if not self._idle():
            return
        if self.chat is None or not self.chat.answered_turns():
            self._note("Nothing to save yet: no answer so far.")
            return
        self._save(self.chat)

    @work(thread=True, exclusive=True, group="playground-save")
    def _save(self, chat) -> None:
        try:
            run_id, cid = self.app.services.playground_save(chat)  # type: ignore[attr-defined]
        except ChatsynthError as err:
            self._from_thread(self._note, str(err), True)
            return
        self._from_thread(self._saved, run_id, cid, len(chat.answered_turns()))

    def _saved(self, run_id: str, cid: str, n: int) -> None:
        self.dirty = False
        self.app.open_run(run_id, cid)  # type: ignore[attr-defined]
        self._note(f"Saved {n} turns as conversation {cid} in run {run_id}: Review (4) shows it.")
        then, self._after_save = self._after_save, None
        if then is not None:
            self.call_later(then)

    def unsaved_changes(self) -> str | None:
        """What Ctrl+Q would lose (the app asks before quitting), or None."""
        if self.dirty or self.streaming:
            return "The playground conversation on screen is not saved."
        return None

    def ask_unsaved(self, question: str, then) -> None:
        """Save / Discard / Cancel; ``then()`` runs once the save is done, or after a discard."""
        from tui.screens.dialogs import UnsavedDialog

        async def answer(choice: str | None) -> None:
            if choice == "discard":
                await then()
            elif choice == "save":
                if self.streaming and self.chat is not None:
                    self.chat.stop()  # keep what came, then save it
                    await self._wait_idle()
                self._after_save = then
                self.action_save()
                if self.chat is None or not self.chat.answered_turns():
                    self._after_save = None
                    await then()  # nothing to save after all

        self.app.push_screen(UnsavedDialog(question), answer)

    async def _wait_idle(self, most: float = 5.0) -> None:
        import asyncio

        for _ in range(int(most / 0.05)):
            if not self.streaming:
                return
            await asyncio.sleep(0.05)

    def action_new(self) -> None:
        if not self._idle():
            return
        if self.dirty:
            from tui.screens.dialogs import ConfirmDialog

            self.app.push_screen(ConfirmDialog(
                "Start a new conversation? The one on screen is not saved (Ctrl+S saves it).",
                yes="New conversation"), lambda yes: self._new("New conversation.") if yes else None)
            return
        self._new("New conversation.")

    def _new(self, message: str) -> None:
        if self.chat is not None:
            self.chat.turns.clear()
            self.chat.exchanges.clear()
        self.dirty = False
        self.editing = False
        self._paint()
        self._status()
        self._note(message)

    # -- pickers ----------------------------------------------------------------------------
    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        new = self._picks()
        if new == self._picked or None in (new[0], new[2]):
            return
        if self.dirty:
            from tui.screens.dialogs import ConfirmDialog

            old = self._picked
            self.app.push_screen(ConfirmDialog(
                f"Talk to {new[0]} ({new[1]}) through {new[2]}? That starts a new conversation; "
                "the one on screen is not saved (Ctrl+S saves it).", yes="New conversation"),
                lambda yes: self._switch(new) if yes else self._revert(old))
            return
        self._switch(new)

    def _switch(self, new: tuple) -> None:
        had = bool(self._turns())
        self._picked = new
        self._drop_chat()
        self._new(f"New conversation with {new[0]} ({new[1]}) through {new[2]}." if had
                  else "")

    def _revert(self, old: tuple) -> None:
        with self.prevent(Select.Changed):
            for sel, value in zip(("#pg-persona", "#pg-mode", "#pg-endpoint"), old):
                self.query_one(sel, Select).value = value
        self._note("Kept the conversation on screen.")

    def _topic_changed(self) -> None:
        topic = self.query_one("#pg-topic", Input).value.strip()
        if self.chat is not None:
            self.chat.topic = topic or None
        self._note(f"Topic: {topic}" if topic else "No topic: a neutral one is used.")

    def _drop_chat(self) -> None:
        close, self._close = self._close, None
        self.chat, self._key = None, None
        if close is not None:
            close()

    def on_unmount(self) -> None:
        if self.chat is not None:
            self.chat.stop()
        self._drop_chat()

    def palette_commands(self):
        return [
            ("Regenerate the last answer", "Write the persona's last answer again",
             self.action_regenerate),
            ("Edit your last turn", "Put your last turn back in the input", self.action_edit_last),
            ("Save the exchange", "Store it in the persona's playground run (Review shows it)",
             self.action_save),
            ("New conversation", "Clear the conversation on screen", self.action_new),
        ]
