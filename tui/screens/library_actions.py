"""What the Library's file buttons and keys do: new, duplicate, rename and delete a persona;
new and delete a topic list.  Each asks first (a name, or yes/no) and then goes through
``tui.services`` (``synth.library.files``); the Library screen mixes this in."""

from __future__ import annotations

from synth.errors import ChatsynthError
from tui.screens.dialogs import ConfirmDialog, TextPrompt
from tui.widgets.topic_editor import TopicEditor


class LibraryFileActions:
    """Mixed into LibraryScreen: uses its ``current``, ``reload``, ``open_editor`` and ``error``."""

    def _ask(self, question: str, value: str, then) -> None:
        """Ask for a name and run ``then`` on it inside the dialog: an empty or refused name is
        shown there, with what was typed kept, until it is accepted or cancelled."""
        self.app.push_screen(TextPrompt(question, value=value, act=then,
                                        empty="type a file name first"))

    def action_new_persona(self) -> None:
        async def make(name: str) -> None:
            p = self.services.new_persona(name)
            self.app.notify(f"Created {p.id}.yaml", markup=False)
            self.current = None
            self.reload(persona_id=p.id)
            await self.open_editor()

        self._ask("New persona: file name (letters, digits, - or _)", "", make)

    def action_duplicate_persona(self) -> None:
        if self.current is None:
            return
        src = self.current

        def make(name: str) -> None:
            p = self.services.duplicate_persona(src, name)
            self.app.notify(f"Copied {src.id} to {p.id}.yaml", markup=False)
            self.current = None
            self.reload(persona_id=p.id)

        self._ask(f"Duplicate {src.id} as:", f"{src.id}-copy", make)

    def action_rename_persona(self) -> None:
        if self.current is None:
            return
        src = self.current

        def make(name: str) -> None:
            p = self.services.rename_persona(src, name)
            self.app.notify(f"Renamed {src.id} to {p.id}", markup=False)
            self.current = None
            self.reload(persona_id=p.id)

        self._ask(f"Rename {src.id} to:", src.id, make)

    def action_delete_persona(self) -> None:
        if self.current is None:
            return
        src = self.current

        def answer(yes: bool | None) -> None:
            if not yes:
                return
            try:
                self.services.delete_persona(src)
            except (ChatsynthError, OSError) as err:
                self.error(err)
                return
            self.app.notify(f"Deleted {src.id}.yaml", markup=False)
            self.current = None
            self.reload()

        self.app.push_screen(ConfirmDialog(f"Delete persona {src.name} ({src.id}.yaml)? "
                                           "This removes the file.", yes="Delete"), answer)

    def action_new_source(self) -> None:
        def make(name: str) -> None:
            s = self.services.new_topic_source(name)
            self.app.notify(f"Created topics/{s.id}.yaml", markup=False)
            self.reload(source_id=s.id)
            self.query_one("#topic-table").focus()

        self._ask("New topic list: file name", "", make)

    def action_delete_source(self) -> None:
        src = self.query_one(TopicEditor).source
        if src is None:
            return

        def answer(yes: bool | None) -> None:
            if not yes:
                return
            try:
                self.services.delete_topic_source(src)
            except (ChatsynthError, OSError) as err:
                self.error(err)
                return
            self.app.notify(f"Deleted topic source {src.id}", markup=False)
            self.query_one(TopicEditor).source = None
            self.reload()

        self.app.push_screen(ConfirmDialog(f"Delete topic source {src.id}? This removes the file.",
                                           yes="Delete"), answer)
