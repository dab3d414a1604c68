"""The chatsynth terminal app: six screens (as Textual modes) over one workspace.

Library · Synthesize · Trim · Review · Export · Settings.  Keys 1-6 switch screens from
anywhere a text field does not have focus; F1 opens help; Ctrl+P the command palette (with
the current screen's own actions); Ctrl+T toggles light and dark (kept in the per-user settings,
``tui.prefs``); Ctrl+Q quits, asking first where a screen has unsaved changes or a run is
still writing.

The app never talks to an endpoint or writes a run file itself: it goes through synth's
engine, store and export APIs (composed in ``tui.services``).
"""

from __future__ import annotations

import os
import traceback
from pathlib import Path
from typing import Iterable

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from synth.errors import ChatsynthError
from synth.library.workspace import Workspace
from tui import startup_gc
from tui.guard import Guarded
from tui.prefs import Prefs
from tui.services import Services
from tui.stylesheet import KeptStylesheet

SCREENS_ORDER = ("library", "synthesize", "trim", "review", "export", "settings")
SCREEN_TITLES = {
    "library": "Library",
    "synthesize": "Synthesize",
    "trim": "Trim",
    "review": "Review",
    "export": "Export",
    "settings": "Settings",
}


def _library():
    from tui.screens.library import LibraryScreen

    return LibraryScreen()


def _synthesize():
    from tui.screens.synthesize import SynthesizeScreen

    return SynthesizeScreen()


def _trim():
    from tui.screens.trim import TrimScreen

    return TrimScreen()


def _review():
    from tui.screens.review import ReviewScreen

    return ReviewScreen()


def _export():
    from tui.screens.export import ExportScreen

    return ExportScreen()


def _settings():
    from tui.screens.settings import SettingsScreen

    return SettingsScreen()


class ChatsynthApp(Guarded, App[int]):
    """The app.  ``ws`` is the workspace; ``services`` composes synth's APIs for the screens."""

    CSS_PATH = "app.tcss"
    TITLE = "chatsynth"
    MODES = {
        "library": _library,
        "synthesize": _synthesize,
        "trim": _trim,
        "review": _review,
        "export": _export,
        "settings": _settings,
    }
    # Classes every screen gets from the terminal's size (app.tcss lays out small sizes).
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-medium"), (120, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]
    BINDINGS = [
        Binding("1", "goto('library')", "Library", show=False),
        Binding("2", "goto('synthesize')", "Synth", show=False),
        Binding("3", "goto('trim')", "Trim", show=False),
        Binding("4", "goto('review')", "Review", show=False),
        Binding("5", "goto('export')", "Export", show=False),
        Binding("6", "goto('settings')", "Settings", show=False),
        Binding("f1", "help", "Help"),
        Binding("ctrl+t", "toggle_theme", "Theme", show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(self, ws: Workspace, *, start: str | None = None, services: Services | None = None,
                 blink: bool = True, first_run: bool | None = None) -> None:
        startup_gc.pause()  # until the first screen is drawn (on_mount)
        try:
            self._init_state(ws, start, services, blink, first_run)
        except BaseException:
            startup_gc.release()
            raise

    def _init_state(self, ws: Workspace, start: str | None, services: Services | None,
                    blink: bool, first_run: bool | None) -> None:
        services = services or Services(ws)
        first_run = services.is_first_run() if first_run is None else first_run
        mode = start or "library"
        if first_run and mode == "library":
            mode = "synthesize"  # a newcomer sees a conversation being written at once
        # Start in that mode's screen: no default screen is built, shown and replaced first.
        self.DEFAULT_MODE = mode
        super().__init__()
        self.stylesheet = KeptStylesheet.replacing(self.stylesheet)  # each CSS parsed once
        self.ws = ws
        self.services = services
        self.blink = blink  # snapshot tests turn cursor blink off
        self.unexpected_errors: list[BaseException] = []
        self.current_run_id: str | None = None
        self.current_conversation_id: str | None = None
        self.preselect: dict[str, str | None] = {}
        self.live = None  # the LiveRun of the latest start (tui.live)
        self.first_run = first_run
        self.prefs = Prefs()
        self.theme = self.prefs.theme

    # -- lifecycle ------------------------------------------------------------------------
    def on_mount(self) -> None:
        self.call_after_refresh(startup_gc.resume)  # the first screen is on the terminal
        if self.prefs.problem:
            self.notify(f"{self.prefs.problem}; using the default theme", title="Settings",
                        severity="warning", markup=False, timeout=10)

    def on_unmount(self) -> None:
        startup_gc.release()
        self.services.shutdown()

    # -- navigation -----------------------------------------------------------------------
    def action_goto(self, mode: str) -> None:
        if mode in self.MODES and mode != self.current_mode:
            self.switch_mode(mode)

    def action_help(self) -> None:
        from tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def action_compare(self, run_a: str | None = None, run_b: str | None = None) -> None:
        from tui.screens.compare import CompareScreen

        if not isinstance(self.screen, CompareScreen):
            self.push_screen(CompareScreen(run_a, run_b))

    def action_playground(self, persona: str | None = None) -> None:
        from tui.screens.playground import PlaygroundScreen

        if not isinstance(self.screen, PlaygroundScreen):
            self.push_screen(PlaygroundScreen(persona))
    def action_evaluate(self, folder: str | None = None) -> None:
        from tui.screens.eval import EvalScreen

        if not isinstance(self.screen, EvalScreen):
            self.push_screen(EvalScreen(folder))

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"
        problem = self.prefs.set("theme", self.theme)
        if problem:
            self.notify(problem, title="Theme not kept", severity="warning", markup=False)

    async def action_quit(self) -> None:
        """Quit; a screen with unsaved changes (``unsaved_changes()``) is shown first with a
        Save / Discard / Cancel question."""
        from tui.screens.dialogs import UnsavedDialog

        if isinstance(self.screen, UnsavedDialog):
            return  # already asking
        for mode in SCREENS_ORDER:  # each tab's screen and what was pushed over it (Playground)
            for screen in reversed(self._screen_stacks.get(mode) or []):
                question = getattr(screen, "unsaved_changes", lambda: None)()
                if question:
                    if mode != self.current_mode:
                        await self.switch_mode(mode)
                    screen.ask_unsaved(f"{question} Save before quitting?", self._exit_now)
                    return
        if self.services.run_in_progress():
            from tui.screens.dialogs import ConfirmDialog

            if isinstance(self.screen, ConfirmDialog) and getattr(self.screen, "about_quitting", False):
                return  # already asking
            ask = ConfirmDialog("A run is still writing conversations. Quit anyway? The finished ones "
                                "are kept; starting the same run again writes the rest.", yes="Quit")
            ask.about_quitting = True
            self.push_screen(ask, lambda quit_now: self.exit() if quit_now else None)
            return
        self.exit()

    async def _exit_now(self) -> None:
        self.exit()

    def open_run(self, run_id: str | None, conversation_id: str | None = None,
                 mode: str | None = None) -> None:
        """Make a run (and a conversation) the current one, optionally showing a screen."""
        self.current_run_id = run_id
        if conversation_id is not None:
            self.current_conversation_id = conversation_id
        if mode:
            self.action_goto(mode)

    # -- the command palette: the current screen's actions first ---------------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        commands = getattr(screen, "palette_commands", None)
        if callable(commands):
            for title, help_text, callback in commands():
                yield SystemCommand(title, help_text, callback)
        for mode in SCREENS_ORDER:
            yield SystemCommand(f"Go to {SCREEN_TITLES[mode]}", f"Open the {SCREEN_TITLES[mode]} screen",
                                lambda m=mode: self.action_goto(m))
        yield SystemCommand("Compare two runs", "Two runs side by side on the topics both wrote: "
                            "figures, what differs, conversations", self.action_compare)
        yield SystemCommand("Playground: talk to a persona", "Chat with a persona through any "
                            "endpoint, prompted or as fine-tuned; save the exchange",
                            self.action_playground)
        yield SystemCommand("Evaluate an export on its held-out topics", "Two models or modes answer "
                            "the validation conversations' openings: rule adherence, judge, cost",
                            self.action_evaluate)
        yield SystemCommand("Help", "Keys and what each screen does", self.action_help)
        yield SystemCommand("Toggle light/dark theme", "Switch between the light and the dark theme",
                            self.action_toggle_theme)
        yield from super().get_system_commands(screen)

    # -- errors: a notification, never a traceback on screen ---------------------------------
    def report_error(self, err: BaseException, title: str = "") -> None:
        if isinstance(err, ChatsynthError):
            self.notify(str(err), title=title or "Problem", severity="error", markup=False,
                        timeout=8)
            return
        self.unexpected_errors.append(err)
        text = "".join(traceback.format_exception(type(err), err, err.__traceback__))
        self.log.error(text)  # textual devtools only, never the terminal
        _append_crash_log(self.ws, text)
        self.notify(f"{type(err).__name__}: {err}"[:300] + "\n(details in runs/tui-errors.log)",
                    title=title or "Unexpected error", severity="error", markup=False, timeout=10)

    def _handle_exception(self, error: Exception) -> None:  # noqa: D401 - Textual hook
        """Show errors as notifications and keep running (Textual would exit with a traceback)."""
        if not self.is_running or isinstance(error, (KeyboardInterrupt, SystemExit)):
            super()._handle_exception(error)
            return
        try:
            self.report_error(error)
        except Exception:  # noqa: BLE001 - last resort: let Textual handle it
            super()._handle_exception(error)


def _append_crash_log(ws: Workspace, text: str) -> None:
    try:
        path = Path(ws.runs_dir) / "tui-errors.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text + "\n")
    except OSError:
        pass


def run_app(ws: Workspace) -> int:
    """Entry point for ``chatsynth`` with no command."""
    app = ChatsynthApp(ws, blink=os.environ.get("CHATSYNTH_NO_BLINK") is None)
    result = app.run()
    return int(result or app.return_code or 0)
