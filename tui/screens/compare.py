"""Compare two runs (Ctrl+P "Compare two runs"): pick run A and run B; the figures on the
topics both wrote (pass rate and what each rule flagged, judge scores, turns, tokens, cost per
passing conversation, distinct-2), what differs in their persona and settings, and for the
topic under the cursor the two conversations side by side.  Esc closes it; s swaps A and B.
The comparison is computed by ``synth.dataset.compare`` through the services, in a worker."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Label, Select, Static

from synth.errors import ChatsynthError
from tui.guard import Guarded
from tui.screens.base import no_blink
from tui.widgets.chat_view import ChatView
from tui.widgets.footer import AppFooter
from tui.widgets.run_picker import RunPicker


# the summary's longer row names, shortened so the figures fit beside them at 80 columns
SHORT = {"pass every filter": "passing", "cost per passing conversation": "cost a passing one",
         "distinct-2 of the persona's turns": "distinct-2 (persona)"}


class CompareScreen(Guarded, Screen):
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("s", "swap", "Swap A/B"),
    ]

    DEFAULT_CSS = """
    CompareScreen #cmp-pickers { height: auto; }
    CompareScreen #cmp-pickers Label { padding: 0 1; }
    CompareScreen #cmp-pickers RunPicker { width: 1fr; }
    CompareScreen #cmp-left { width: 3fr; }
    CompareScreen #cmp-summary { height: auto; max-height: 50%; }
    CompareScreen #cmp-diff-box { height: auto; max-height: 8; }
    CompareScreen #cmp-topics { height: 1fr; }
    CompareScreen .cmp-chat { width: 2fr; border-left: solid $primary-background; }
    CompareScreen #cmp-note { color: $text-muted; padding: 0 1; }
    """

    def __init__(self, run_a: str | None = None, run_b: str | None = None) -> None:
        super().__init__()
        self._want = (run_a, run_b)
        self.comparison = None
        self._asked: tuple[str, str] | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="cmp-pickers"):
            yield Label("A")
            yield RunPicker(id="cmp-a")
            yield Label("B")
            yield RunPicker(id="cmp-b")
        yield Static("", id="cmp-note")
        with Horizontal():
            with Vertical(id="cmp-left"):
                yield DataTable(id="cmp-summary", cursor_type="none", zebra_stripes=True, show_header=False)
                with VerticalScroll(id="cmp-diff-box"):
                    yield Static("", id="cmp-diff")
                yield DataTable(id="cmp-topics", cursor_type="row")
            yield ChatView(id="cmp-chat-a", classes="cmp-chat")
            yield ChatView(id="cmp-chat-b", classes="cmp-chat")
        yield AppFooter()

    def on_mount(self) -> None:
        no_blink(self)
        self.query_one("#cmp-summary", DataTable).add_columns("", "A", "B")
        self.query_one("#cmp-topics", DataTable).add_columns("topic", "A", "B")
        a, b = self._want
        if b is None or a is None:
            a, b = self._default_pair(a, b)
        self.query_one("#cmp-a", RunPicker).refresh_runs(self.app.services, a)  # type: ignore[attr-defined]
        self.query_one("#cmp-b", RunPicker).refresh_runs(self.app.services, b)  # type: ignore[attr-defined]
        self.query_one("#cmp-topics").focus()
        self._update()

    def _default_pair(self, a: str | None, b: str | None) -> tuple[str | None, str | None]:
        """B: the given run, else the app's current one, else the newest; A: the run of the
        same persona before B (a persona's previous version), else the newest other run."""
        try:
            runs = self.app.services.store.list_runs()  # type: ignore[attr-defined]
        except ChatsynthError as err:
            self.app.report_error(err)  # type: ignore[attr-defined]
            return a, b
        ids = [r.run_id for r in runs]
        b = b or getattr(self.app, "current_run_id", None) or (ids[-1] if ids else None)
        if a is None and b in ids:
            persona = runs[ids.index(b)].persona
            before = [r.run_id for r in runs[:ids.index(b)] if r.persona == persona]
            others = [i for i in ids if i != b]
            a = before[-1] if before else (others[-1] if others else None)
        return a, b

    def _picked(self) -> tuple[str | None, str | None]:
        out = []
        for sel in ("#cmp-a", "#cmp-b"):
            p = self.query_one(sel, RunPicker)
            out.append(None if p.is_blank() else p.value)
        return out[0], out[1]

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self._update()

    def _update(self) -> None:
        a, b = self._picked()
        if a is None or b is None:
            self._show_problem("Pick two runs: A and B (one run needs another to compare with).")
            return
        if (a, b) == self._asked:
            return
        self._asked = (a, b)
        self.query_one("#cmp-note", Static).update("comparing…")
        self._compute(a, b)

    @work(thread=True, exclusive=True, group="compare")
    def _compute(self, a: str, b: str) -> None:
        try:
            c = self.app.services.compare_runs(a, b)  # type: ignore[attr-defined]
        except ChatsynthError as err:
            self.app.call_from_thread(self._show_problem, str(err))
            return
        self.app.call_from_thread(self._show, c)

    def _show_problem(self, message: str) -> None:
        self.comparison = None
        self.query_one("#cmp-note", Static).update(Text("✗ " + message))
        self.query_one("#cmp-summary", DataTable).clear()
        self.query_one("#cmp-topics", DataTable).clear()
        self.query_one("#cmp-diff", Static).update("")
        for sel in ("#cmp-chat-a", "#cmp-chat-b"):
            self.query_one(sel, ChatView).clear()

    def _show(self, c) -> None:
        from synth.dataset.compare import table_rows

        self.comparison = c
        left_out = f" ({c.only_a} only in A, {c.only_b} only in B, left out)" if c.only_a or c.only_b else ""
        self.query_one("#cmp-note", Static).update(f"On the {len(c.topics)} topics both runs wrote{left_out}.")
        summary = self.query_one("#cmp-summary", DataTable)
        summary.clear()
        for what, x, y in table_rows(c)[2:]:  # the runs themselves are in the pickers
            summary.add_row(SHORT.get(what, what), x, y)
        self.query_one("#cmp-diff", Static).update(_differences(c))
        topics = self.query_one("#cmp-topics", DataTable)
        topics.clear()
        for i, p in enumerate(c.pairs):
            topics.add_row(p.topic, _mark(p.a), _mark(p.b), key=str(i))
        if c.pairs:
            topics.move_cursor(row=0)
            self._show_pair(0)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "cmp-topics" and event.row_key is not None and event.row_key.value:
            self._show_pair(int(event.row_key.value))

    def _show_pair(self, i: int) -> None:
        c = self.comparison
        if c is None or not (0 <= i < len(c.pairs)):
            return
        p = c.pairs[i]
        for sel, it, side, name in (("#cmp-chat-a", p.a, c.a, "A"), ("#cmp-chat-b", p.b, c.b, "B")):
            head = f"{name} · {it.id} · " + ("passes" if it.verdict.ok else "flagged: " + ", ".join(it.verdict.rules))
            if it.judgement is not None:
                head += f" · judge {it.judgement.short()}"
            self.query_one(sel, ChatView).show(it.turns, side.labels[0], side.labels[1], header=head)

    def action_swap(self) -> None:
        a, b = self._picked()
        if a is None or b is None:
            return
        self._asked = None
        with self.prevent(Select.Changed):
            self.query_one("#cmp-a", RunPicker).value = b
            self.query_one("#cmp-b", RunPicker).value = a
        self._update()

    def action_close(self) -> None:
        self.dismiss()


def _mark(it) -> str:
    return "✓" if it.verdict.ok else "✗ " + ", ".join(it.verdict.rules)


def _differences(c) -> Text:
    t = Text()
    if c.settings:
        t.append("Settings: ", style="bold")
        t.append("; ".join(f"{k} {x!r} → {y!r}" for k, x, y in c.settings) + "\n")
    if c.persona_diff:
        t.append("Persona:\n", style="bold")
        for line in c.persona_diff[2:]:
            style = "green" if line.startswith("+") else "red" if line.startswith("-") else "dim"
            t.append(line + "\n", style=style)
    if not c.settings and not c.persona_diff:
        t.append("Same persona and settings: the runs differ only by chance.", style="dim")
    return t
