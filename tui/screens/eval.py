"""Evaluate an export on its held-out topics (Ctrl+P "Evaluate an export", or F6 on Export after
a write): pick an export (newest first), contestants A and B (endpoint, optional model, mode
prompted or finetuned), the user turns K per validation conversation and the judge; F5 starts.
While answers come in the count per contestant shows (Esc cancels, nothing written); then the
table (each rule's pass share with its 95% interval, every rule, the judge, answers and failures,
tokens, cost: the figures of eval.json) and for the opening under the cursor both answers side by
side with their verdicts, and where eval.md was written.  The work is ``tui/eval_job.py``
(``synth.dataset.evaluate``) through the services, in a worker thread."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Input, Label, Select, Static

from synth.errors import ChatsynthError
from synth.models import Turn
from tui.guard import Guarded
from tui.screens.base import no_blink
from tui.widgets.chat_view import ChatView
from tui.widgets.footer import AppFooter
from tui.widgets.mark_checkbox import MarkCheckbox
from tui.widgets.table_columns import add_sized_columns

MODES = [("prompted", "prompted"), ("finetuned", "finetuned")]
OPENING_COLUMNS = ("#", "topic", "A", "B")


class EvalScreen(Guarded, Screen):
    BINDINGS = [
        Binding("f5", "start", "Evaluate"),
        Binding("escape", "close", "Cancel/close"),
    ]

    DEFAULT_CSS = """
    EvalScreen .ev-row { height: 1; }
    EvalScreen .ev-row Label { padding: 0 1; width: auto; }
    EvalScreen .ev-row Select { width: 2fr; }
    EvalScreen .ev-row Input { width: 1fr; }
    EvalScreen .ev-row .ev-mode { width: 16; }
    EvalScreen #ev-turns { width: 6; }
    EvalScreen #ev-note { color: $text-muted; padding: 0 1; height: auto; max-height: 4; }
    EvalScreen #ev-left { width: 2fr; }
    EvalScreen #ev-summary { height: auto; max-height: 60%; }
    EvalScreen #ev-openings { height: 1fr; }
    EvalScreen .ev-chat { width: 1fr; border-left: solid $primary-background; }
    """

    def __init__(self, folder: str | Path | None = None) -> None:
        super().__init__()
        self._want = str(folder) if folder else None
        self.job = None  # the running EvalJob
        self.report: dict | None = None
        self.md_path: Path | None = None
        self.total = 0
        self.done: dict[str, int] = {}

    def compose(self) -> ComposeResult:
        services = self.app.services  # type: ignore[attr-defined]
        names = services.endpoint_names()
        default = services.ws.config.endpoint(None).name
        with Horizontal(classes="ev-row"):
            yield Label("Export")
            yield Select([], prompt="no exports yet", compact=True, id="ev-export")
        for key in ("a", "b"):
            with Horizontal(classes="ev-row"):
                yield Label(key.upper())
                yield Select(names, value=default, prompt="none", compact=True,
                             allow_blank=key == "b", id=f"ev-{key}-endpoint")
                yield Input("", placeholder="model (optional)", compact=True, id=f"ev-{key}-model")
                yield Select(MODES, value="prompted" if key == "a" else "finetuned",
                             allow_blank=False, compact=True, id=f"ev-{key}-mode",
                             classes="ev-mode")
        with Horizontal(classes="ev-row"):
            yield Label("User turns")
            yield Input("1", type="integer", compact=True, id="ev-turns")
            yield MarkCheckbox("judge each answer", id="ev-judge")
        yield Static("", id="ev-note")
        with Horizontal():
            with Vertical(id="ev-left"):
                yield DataTable(id="ev-summary", cursor_type="none", zebra_stripes=True)
                yield DataTable(id="ev-openings", cursor_type="row")
            yield ChatView(id="ev-chat-a", classes="ev-chat")
            yield ChatView(id="ev-chat-b", classes="ev-chat")
        yield AppFooter()

    def on_mount(self) -> None:
        no_blink(self)
        self.query_one("#ev-openings", DataTable).add_columns(*OPENING_COLUMNS)
        exports = self.refresh_exports()
        self._note("F5 evaluates: each contestant answers the opening user turns of the export's "
                   "validation conversations (topics no training example saw)." if exports else
                   "✗ No exports yet: write one on Export (5) with a validation share above 0.")
        self.query_one("#ev-export", Select).focus()
        if exports:
            self._check_export()

    def refresh_exports(self) -> list[Path]:
        job = self.app.services.eval_job()  # type: ignore[attr-defined]
        try:
            found = job.exports()
        except OSError as err:
            self._note(f"✗ {err}")
            found = []
        sel = self.query_one("#ev-export", Select)
        opts = [(p.name, str(p)) for p in found]
        if self._want and self._want not in {v for _, v in opts}:
            opts.insert(0, (Path(self._want).name, self._want))
        with self.prevent(Select.Changed):
            sel.set_options(opts)
            if opts:
                sel.value = self._want or opts[0][1]
        return found

    def _note(self, text: str) -> None:
        self.query_one("#ev-note", Static).update(Text(text))

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.select.id == "ev-export" and self.job is None:
            self._check_export()

    def _check_export(self) -> None:
        sel = self.query_one("#ev-export", Select)
        if not sel.is_blank():
            self._load(Path(str(sel.value)))

    @work(thread=True, exclusive=True, group="eval-load")
    def _load(self, folder: Path) -> None:
        try:
            es = self.app.services.eval_job().load(folder, 1)  # type: ignore[attr-defined]
        except ChatsynthError as err:
            self.app.call_from_thread(self._note, f"✗ {err}")
            return
        self.app.call_from_thread(
            self._note, f"{es.persona.name}: {es.conversations} validation conversations on "
            f"{len(es.topics)} topics no training example saw. F5 evaluates.")

    # -- the evaluation ---------------------------------------------------------------------
    def specs(self) -> list[str]:
        """The contestants as ``chatsynth eval`` takes them: ENDPOINT[:MODEL]:MODE."""
        out = []
        for key in ("a", "b"):
            ep = self.query_one(f"#ev-{key}-endpoint", Select)
            if ep.is_blank():
                continue
            model = self.query_one(f"#ev-{key}-model", Input).value.strip()
            mode = self.query_one(f"#ev-{key}-mode", Select).value
            out.append(":".join(x for x in (str(ep.value), model, str(mode)) if x))
        return out

    def action_start(self) -> None:
        if self.job is not None:
            return
        sel = self.query_one("#ev-export", Select)
        if sel.is_blank():
            self._note("✗ Pick an export first (Export (5) writes one).")
            return
        raw = self.query_one("#ev-turns", Input).value.strip()
        if not raw.isdigit() or int(raw) < 1:
            self._note(f"✗ User turns: {raw!r} is not a whole number of at least 1.")
            return
        specs = self.specs()
        if not specs:
            self._note("✗ Pick contestant A's endpoint.")
            return
        self.report, self.md_path, self.done, self.total = None, None, {}, 0
        self._clear()
        self.job = self.app.services.eval_job()  # type: ignore[attr-defined]
        self._note("opening the endpoints… (Esc cancels)")
        self._run(self.job, Path(str(sel.value)), specs, int(raw),
                  self.query_one("#ev-judge", MarkCheckbox).value)

    @work(thread=True, exclusive=True, group="eval")
    def _run(self, job, folder: Path, specs: list[str], turns: int, judge: bool) -> None:
        from synth.dataset.evaluate import Cancelled

        call = self.app.call_from_thread
        try:
            rep, md = job.run(folder, specs, turns=turns, judge=judge,
                              on_start=lambda es: call(self._started, es, len(specs)),
                              on_answer=lambda row: call(self._answered, row["contestant"]))
        except Cancelled:
            call(self._finished, None, None, "Cancelled: nothing written.")
            return
        except ChatsynthError as err:
            call(self._finished, None, None, f"✗ {err}")
            return
        except Exception as exc:  # noqa: BLE001 - shown, never a traceback
            call(self._finished, None, None, f"✗ {type(exc).__name__}: {exc}")
            return
        call(self._finished, rep, md, "")

    def _started(self, es, n: int) -> None:
        self.total = len(es.openings)
        self.done = {k: 0 for k in "ab"[:n]}
        self._progress()

    def _answered(self, key: str) -> None:
        self.done[key] = self.done.get(key, 0) + 1
        self._progress()

    def _progress(self) -> None:
        if self.job is not None:
            parts = " · ".join(f"{k.upper()}: {n}/{self.total} answers" for k, n in self.done.items())
            self._note(f"answering… {parts} (Esc cancels)")

    def _finished(self, rep, md, problem: str) -> None:
        self.job = None
        if rep is None:
            self._note(problem)
            return
        self.report, self.md_path = rep, md
        self._show(rep)

    def _clear(self) -> None:
        self.query_one("#ev-summary", DataTable).clear(columns=True)
        self.query_one("#ev-openings", DataTable).clear()
        for key in ("a", "b"):
            self.query_one(f"#ev-chat-{key}", ChatView).clear()

    def _show(self, rep: dict) -> None:
        from synth.dataset.evaluate import table_rows

        rows = table_rows(rep)
        summary = self.query_one("#ev-summary", DataTable)
        summary.clear(columns=True)
        add_sized_columns(summary, rows[0], rows[1:])
        summary.add_rows([tuple(map(Text, r)) for r in rows[1:]])
        failed = [f"{c['key'].upper()}: {c['failed']} of {c['answers']} answers failed"
                  + (f" ({c['error']})" if c["error"] else "") for c in rep["contestants"] if c["failed"]]
        self._note("\n".join([f"Report: {self.md_path} (and eval.json)", *failed]))
        by = {(a["opening"], a["contestant"]): a for a in rep["answers"]}
        table = self.query_one("#ev-openings", DataTable)
        table.clear(columns=True)
        rows = []
        for o in rep["openings"]:
            marks = [_mark(by.get((o["index"], c["key"]))) for c in rep["contestants"]]
            rows.append((str(o["index"] + 1), o["topic"], *marks, *[""] * (2 - len(marks))))
        add_sized_columns(table, OPENING_COLUMNS, rows)
        for o, row in zip(rep["openings"], rows):
            table.add_row(*map(Text, row), key=str(o["index"]))
        if rep["openings"]:
            table.move_cursor(row=0)
            table.focus()
            self._show_opening(0)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "ev-openings" and event.row_key is not None and event.row_key.value:
            self._show_opening(int(event.row_key.value))

    def _show_opening(self, i: int) -> None:
        rep = self.report
        if rep is None or not (0 <= i < len(rep["openings"])):
            return
        o = rep["openings"][i]
        p = rep["persona"]
        turns = [Turn(t["role"], t["text"], t.get("label") or "") for t in o["turns"]]
        by = {(a["opening"], a["contestant"]): a for a in rep["answers"]}
        for c in rep["contestants"]:
            a = by.get((i, c["key"]))
            if a is None:
                continue
            head = f"{c['key'].upper()} · {c['spec']} · {_verdict(a)}"
            shown = turns if a["failed"] else [*turns, Turn("assistant", a["text"], p["persona_label"])]
            self.query_one(f"#ev-chat-{c['key']}", ChatView).show(
                shown, p["persona_label"], p["user_label"], header=head)

    def action_close(self) -> None:
        if self.job is not None:
            self.job.cancel.set()
            self._note("cancelling…")
            return
        self.dismiss()


def _mark(a) -> str:
    if a is None:
        return ""
    if a["failed"]:
        return "failed"
    return "✓" if a["ok"] else "✗ " + ", ".join(r["rule"] for r in a["reasons"])


def _verdict(a) -> str:
    if a["failed"]:
        return f"failed: {a['failed']}"
    out = "passes" if a["ok"] else "flagged: " + "; ".join(r["message"] for r in a["reasons"])
    if a["judge"]:
        j = a["judge"]
        out += f" · judge {j['score'] if j['score'] is not None else 'failed'}"
    return out
