"""Library: personas and topic sources side by side.

Left: the personas and the topic sources.  Middle: the selected persona, as a card to read
until the user starts editing, then as a form validated as you type (built on first use: it
is the heaviest part of the screen).  Right: the selected topic source's topics (or a folder's
documents); while the form is open, the live preview instead (``library_preview``): the prompt
the form renders, and F5 writes one sample.
"""

from __future__ import annotations

import inspect
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, OptionList, Static
from textual.widgets.option_list import Option

from synth.errors import ChatsynthError
from synth.models import Persona, TopicSource
from tui.screens.base import BaseScreen, no_blink
from tui.screens.dialogs import UnsavedDialog
from tui.screens.library_actions import LibraryFileActions
from tui.screens.library_preview import LibraryPreview
from tui.widgets.button import AppButton
from tui.widgets.persona_card import PersonaCard
from tui.widgets.topic_editor import TopicEditor


# How long the first frame waits for the library's files (read meanwhile in a thread) before it
# is drawn without them: a short wait costs less than drawing the screen twice.
FIRST_FRAME_WAIT_S = 1.0


def _read_in_thread(services) -> Future:
    """Read the personas and topic sources in a thread; the future holds both, or the error."""
    future: Future = Future()

    def read() -> None:
        try:
            future.set_result((services.personas(), services.topic_sources()))
        except BaseException as exc:  # noqa: BLE001 - handed to the screen, which shows it
            future.set_exception(exc)

    threading.Thread(target=read, name="library-preload", daemon=True).start()
    return future


class PersonaList(OptionList):
    BINDINGS = [
        Binding("n", "screen.new_persona", "New"),
        Binding("d", "screen.duplicate_persona", "Duplicate"),
        Binding("r", "screen.rename_persona", "Rename"),
        Binding("delete,x", "screen.delete_persona", "Delete"),
        Binding("p", "screen.playground", "Playground", show=False),
    ]


class SourceList(OptionList):
    BINDINGS = [
        Binding("n", "screen.new_source", "New list"),
        Binding("delete,x", "screen.delete_source", "Delete"),
    ]


class LibraryScreen(LibraryPreview, LibraryFileActions, BaseScreen):
    MODE = "library"
    TITLE = "Library"
    HOME = "#persona-list"
    HELP = """\
Personas and topic sources side by side. Pick a persona on the left to read it in the middle;
Enter (or e, or the Edit button) edits it in a form where every field is checked as you type,
with the same messages as `chatsynth check`; Ctrl+S saves to its YAML file (your comments are
kept), Esc leaves the form (asking first if there are unsaved changes). In the persona list: n new, d duplicate, r rename, Delete removes (after asking).
Topic lists on the right: a add, e edit, Delete removes, Shift+↑/↓ reorder, i imports a text
file, / filters. A folder source shows its documents.
While editing, the preview on the right shows the synthesis prompt the form renders for a topic
(pick it above the prompt) with its token count, as you type. F5 (also from the list: it opens
the editor) writes one sample conversation from the form as it is (saved or not), streamed in, with the filters' verdict; editing the form
cancels it. Samples are kept apart from runs (never in Review or an export), listed per persona
version; k on one keeps it as a few-shot example of the (saved) persona."""

    BINDINGS = [
        Binding("ctrl+s", "save", "Save persona"),
        Binding("ctrl+e", "edit_persona", "Edit persona"),
        Binding("ctrl+r", "reload", "Reload", show=False),
        Binding("ctrl+g", "try_persona", "Try it"),
        Binding("f5", "preview_sample", "Sample"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.personas: list[Persona] = []
        self.sources: list[TopicSource] = []
        self.current: Persona | None = None
        self.form = None  # the PersonaForm, once the user has started editing
        # The files are read in a thread while Textual builds the screen; when they are read by
        # the time it is mounted (or soon after) the first frame shows them, with no second
        # layout.  A slow library (big folders of documents) is shown when it is read.
        self._preload = _read_in_thread(self.app.services)

    def compose(self) -> ComposeResult:
        yield self.nav()
        with Horizontal(id="library"):
            with Vertical(id="library-side"):
                yield Static("Personas", classes="pane-title")
                yield PersonaList(id="persona-list")
                with Horizontal(classes="button-row"):
                    yield AppButton("New", id="persona-new", compact=True)
                    yield AppButton("Copy", id="persona-duplicate", compact=True)
                    yield AppButton("Rename", id="persona-rename", compact=True)
                    yield AppButton("Del", id="persona-delete", compact=True)
                yield Static("Topic sources", classes="pane-title")
                yield SourceList(id="source-list")
                with Horizontal(classes="button-row"):
                    yield AppButton("New list", id="source-new", compact=True)
                    yield AppButton("Del", id="source-delete", compact=True)
                yield Static("", id="library-problems", classes="problems")
            with Vertical(id="persona-pane"):
                with Horizontal(classes="pane-head"):
                    yield Static("Persona", classes="pane-title", id="persona-title")
                    yield AppButton("Edit", id="persona-edit", compact=True)
                    yield AppButton("Save", id="persona-save", variant="primary", compact=True)
                yield PersonaCard(id="persona-card")
            yield TopicEditor(id="topic-editor")
        yield self.footer()

    def on_mount(self) -> None:
        super().on_mount()
        try:
            data = self._preload.result(timeout=FIRST_FRAME_WAIT_S)
        except FutureTimeout:
            self._first_load()  # the screen is drawn at once; the files are shown when read
            return
        except Exception as exc:  # noqa: BLE001 - shown, never a traceback
            self.error(exc)
            return
        self.show_library(data)

    # -- loading ---------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="library-load", exit_on_error=False)
    def _first_load(self) -> None:
        try:
            data = self._preload.result()
        except Exception as exc:  # noqa: BLE001 - shown, never a traceback
            self.app.call_from_thread(self.error, exc)
            return
        self.app.call_from_thread(self.show_library, data)

    def reload(self, persona_id: str | None = None, source_id: str | None = None) -> None:
        self.show_library((self.services.personas(), self.services.topic_sources()),
                          persona_id, source_id)

    def show_library(self, data, persona_id: str | None = None, source_id: str | None = None) -> None:
        (personas, perrs), (sources, serrs) = data
        self.personas, self.sources = personas, sources
        plist = self.query_one(PersonaList)
        plist.clear_options()
        plist.add_options([Option(Text.assemble(p.name, ("  " + p.id, "dim")), id=p.id) for p in personas])
        slist = self.query_one(SourceList)
        slist.clear_options()
        slist.add_options([Option(_source_prompt(s), id=s.id) for s in sources])
        problems = [str(e) for e in (*perrs, *serrs)]
        box = self.query_one("#library-problems", Static)
        box.update("\n".join(f"✗ {p}" for p in problems))
        box.display = bool(problems)
        want = persona_id or (self.current.id if self.current else None)
        defaults = self.ws.config.defaults if self._config_ok() else {}
        want = want or defaults.get("persona")
        idx = next((i for i, p in enumerate(personas) if p.id == want), 0 if personas else None)
        if idx is not None:
            plist.highlighted = idx
            self.show_persona(personas[idx])
        else:
            self.show_persona(None)
        swant = source_id or (self.query_one(TopicEditor).source.id if self.query_one(TopicEditor).source else None)
        swant = swant or (self.current.id if self.current else None) or defaults.get("topics")
        sidx = next((i for i, s in enumerate(sources) if s.id == swant), 0 if sources else None)
        if sidx is not None:
            slist.highlighted = sidx
            self.query_one(TopicEditor).load(sources[sidx])
        else:
            self.query_one(TopicEditor).load(None)

    def _config_ok(self) -> bool:
        try:
            self.ws.config
            return True
        except ChatsynthError:
            return False

    def show_persona(self, persona: Persona | None) -> None:
        self.current = persona
        self.query_one("#persona-title", Static).update(
            f"Persona: {persona.name} ({persona.id}.yaml)" if persona else "Persona")
        if self.form is not None:
            self.form.load(persona)
            self.preview_topics()
            self.refresh_preview()
            self.list_preview_samples()
        else:
            self.query_one(PersonaCard).show(persona)

    async def open_editor(self, focus: bool = True) -> None:
        """Swap the card for the form (built the first time) and focus the name field."""
        if self.form is None:
            from tui.widgets.persona_form import PersonaForm

            from tui.widgets.preview_pane import PreviewPane

            form = PersonaForm(id="persona-form")
            await self.query_one("#persona-pane").mount(form)
            pane = PreviewPane(id="preview-pane")
            await self.query_one("#library").mount(pane)
            no_blink(form)  # built after the screen's mount: its fields blink unless told
            no_blink(pane)
            self.add_class("-editing")
            self.query_one(PersonaCard).display = False
            self.form = form
            form.load(self.current)
            self.preview_topics()
            self.refresh_preview()
            self.list_preview_samples()
            self.query_one("#persona-edit").display = False
            self.query_one("#persona-save").display = True
            self.refresh_bindings()  # the footer now offers Save instead of Edit
        if focus:
            self.query_one("#pf-name").focus()

    async def close_editor(self) -> None:
        """Back to the read-only card of the (saved) persona; the list gets the focus."""
        form, self.form = self.form, None
        if self.job is not None and self.job is not True:
            self.job.cancel("the editor was closed")
        self.job = None
        if form is not None:
            await form.remove()
        if self.pane is not None:
            await self.pane.remove()
        self.remove_class("-editing", "-preview")
        card = self.query_one(PersonaCard)
        card.display = True
        card.show(self.current)
        self.query_one("#persona-edit").display = True
        self.query_one("#persona-save").display = False
        self.refresh_bindings()
        self.query_one(PersonaList).focus()

    def unsaved_changes(self) -> str | None:
        """What would be lost (for the app's quit question), or None."""
        if self.form is not None and self.form.dirty and self.form.original is not None:
            return f"Persona {self.form.original.name} ({self.form.original.id}.yaml) has unsaved changes."
        return None

    def ask_unsaved(self, question: str, then) -> None:
        """Save / Discard / Cancel; ``then()`` runs after a save that worked or a discard."""
        async def answer(choice: str | None) -> None:
            if choice == "save" and self.action_save():
                await then()
            elif choice == "discard":
                await then()

        self.app.push_screen(UnsavedDialog(question), answer)

    async def action_leave_field(self) -> None:
        """Esc in the persona form leaves the editor (asking first if there are unsaved
        changes); anywhere else it leaves the text field as on every screen."""
        focused = self.focused
        if self.form is None or focused is None or self.form not in focused.ancestors_with_self:
            super().action_leave_field()
            return
        if self.form.dirty:
            self.ask_unsaved(f"{self.unsaved_changes()} Save them?", self.close_editor)
        else:
            await self.close_editor()

    def on_descendant_focus(self, event) -> None:
        """At narrow widths the right side shows the persona or the topics: the side the
        focus is on (the -topics class, app.tcss)."""
        widget = event.widget
        ids = {w.id for w in widget.ancestors_with_self}
        if "preview-pane" in ids:
            self.add_class("-preview")
        elif "persona-pane" in ids:
            self.remove_class("-preview")
        if ids & {"source-list", "source-new", "source-delete", "topic-editor"}:
            self.add_class("-topics")
        elif ids & {"persona-list", "persona-pane", "persona-new", "persona-duplicate",
                    "persona-rename", "persona-delete"}:
            self.remove_class("-topics")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "edit_persona":
            return self.form is None
        if action == "save":
            return self.form is not None
        if action == "preview_sample":
            return self.current is not None
        return True

    async def action_edit_persona(self) -> None:
        if self.current is not None:
            await self.open_editor()

    async def on_persona_card_edit_requested(self, event: PersonaCard.EditRequested) -> None:
        event.stop()
        await self.action_edit_persona()

    # -- selection -------------------------------------------------------------------------
    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_list.id == "persona-list":
            persona = next((p for p in self.personas if p.id == event.option.id), None)
            if persona is None or (self.current and persona.id == self.current.id):
                return
            if self.form is not None and self.form.dirty:
                self._confirm_switch(persona)
            else:
                self.show_persona(persona)
        elif event.option_list.id == "source-list":
            source = next((s for s in self.sources if s.id == event.option.id), None)
            editor = self.query_one(TopicEditor)
            if source is not None and (editor.source is None or editor.source.id != source.id):
                editor.load(source)
        elif event.option_list.id == "preview-list":
            self.preview_highlighted()

    async def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option_list.id == "persona-list":
            await self.action_edit_persona()
        elif event.option_list.id == "source-list":
            self.query_one("#topic-table").focus()

    def _confirm_switch(self, persona: Persona) -> None:
        def answer(choice: str | None) -> None:
            if choice == "save" and self.action_save():
                return  # saved: the reload keeps the saved persona selected
            if choice == "discard":
                self.show_persona(persona)
            elif self.current is not None:
                plist = self.query_one(PersonaList)
                idx = next((i for i, p in enumerate(self.personas) if p.id == self.current.id), None)
                plist.highlighted = idx

        self.app.push_screen(UnsavedDialog(f"Unsaved changes to {self.current.name}. Save them?"),
                             answer)

    def on_topic_editor_saved(self, event: TopicEditor.Saved) -> None:
        self.sources = [event.source if s.id == event.source.id else s for s in self.sources]
        slist = self.query_one(SourceList)
        for i, s in enumerate(self.sources):
            if s.id == event.source.id:
                slist.replace_option_prompt_at_index(i, _source_prompt(s))

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        bid = event.button.id or ""
        actions = {
            "persona-new": self.action_new_persona, "persona-duplicate": self.action_duplicate_persona,
            "persona-rename": self.action_rename_persona, "persona-delete": self.action_delete_persona,
            "persona-save": self.action_save, "persona-edit": self.action_edit_persona,
            "source-new": self.action_new_source,
            "source-delete": self.action_delete_source,
        }
        if bid in actions:
            event.stop()
            result = actions[bid]()
            if inspect.isawaitable(result):
                await result

    # -- actions ---------------------------------------------------------------------------
    def action_save(self) -> bool:
        """Write the form to the persona's file; False (with a notification) if it cannot."""
        form = self.form
        if self.current is None or form is None:
            return False  # nothing is being edited
        if form.error or form.valid is None:
            self.app.notify(f"Not saved: {form.error}", severity="error", markup=False)
            return False
        try:
            self.services.save_persona(form.valid)
        except ChatsynthError as err:
            self.error(err, "Not saved")
            return False
        self.app.notify(f"Saved {form.valid.id}.yaml", markup=False)
        self.current = None
        self.reload(persona_id=form.valid.id)
        return True

    def action_reload(self) -> None:
        self.reload()

    def action_try_persona(self) -> None:
        """Open Synthesize with this persona and a topic list preselected: the persona's own
        list, else the one shown on the right, else the first."""
        if self.current is None:
            return
        from tui.widgets.run_form import own_topic_source

        shown = self.query_one(TopicEditor).source
        topics = (own_topic_source(self.current.id, self.sources) or (shown.id if shown else None)
                  or (self.sources[0].id if self.sources else None))
        self.app.preselect = {"persona": self.current.id, "topics": topics}  # type: ignore[attr-defined]
        self.app.action_goto("synthesize")  # type: ignore[attr-defined]

    def action_playground(self) -> None:
        """Talk to the selected persona in the Playground."""
        self.app.action_playground(self.current.id if self.current is not None else None)  # type: ignore[attr-defined]

    def palette_commands(self):
        return [
            ("Save persona", "Write the persona form to its YAML file", self.action_save)
            if self.form is not None else
            ("Edit persona", "Edit the selected persona in a form", self.action_edit_persona),
            ("New persona", "Create a persona from a template", self.action_new_persona),
            ("Duplicate persona", "Copy the selected persona to a new file", self.action_duplicate_persona),
            ("Rename persona", "Rename the selected persona's file", self.action_rename_persona),
            ("Delete persona", "Delete the selected persona (asks first)", self.action_delete_persona),
            ("New topic list", "Create a YAML topic list", self.action_new_source),
            ("Delete topic source", "Delete the selected topic list (asks first)", self.action_delete_source),
            ("Try this persona", "Open Synthesize with this persona", self.action_try_persona),
            ("Talk to this persona", "Open the Playground with this persona", self.action_playground),
            ("Preview a sample", "Write one sample conversation from the persona form",
             self.action_preview_sample),
            ("Reload library", "Read personas and topics from disk again", self.action_reload),
        ]


def _source_prompt(s: TopicSource) -> Text:
    icon = "▸" if s.kind == "folder" else "≡"
    return Text.assemble(f"{icon} {s.id}", (f"  {len(s.topics)}", "dim"))
