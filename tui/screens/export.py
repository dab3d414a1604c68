"""Export: formats and split; the validation result and the dataset report *before* writing;
then write and show the paths.

The check runs ``synth.dataset.export`` for real into a scratch folder (so what is shown is exactly
what would be written) and throws the files away; Write runs it again into exports/.
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.markup import escape
from textual.widgets import Button, Input, Label, Markdown, Select, Static

from synth.errors import ChatsynthError
from tui.screens.base import BaseScreen
from tui.screens.dialogs import ConfirmDialog
from tui.widgets.button import AppButton
from tui.widgets.mark_checkbox import MarkCheckbox
from tui.widgets.run_picker import DATASET, RunPicker


class ExportScreen(BaseScreen):
    MODE = "export"
    TITLE = "Export"
    HELP = """\
Pick a run, or a dataset (several runs exported as one set: near-copies across its runs left
out, a topic never in both parts; make one in Review with D). Choose the formats (chat JSONL
for OpenAI / Together / TRL / Axolotl / Unsloth, ShareGPT for LLaMA-Factory, prompt/completion
in the seed style), the split (by topic: validation topics never appear in train; or by
conversation), the validation share and the seed, and the model you will fine-tune (its token
limit and training price). F5 checks: every file is built and
validated and the dataset report is shown, nothing is written yet. Ctrl+W writes the files
into exports/ and shows where they are; a file with errors (say, fewer than 10 examples) is
written only after a dialog that names its errors."""

    BINDINGS = [
        Binding("f5", "check", "Check"),
        Binding("ctrl+w", "write", "Write files"),
        Binding("f6", "evaluate", "Evaluate", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.run_id: str | None = None
        self.checked_key: tuple | None = None
        self.written: str | None = None  # the folder of the latest write (F6 evaluates it)

    def compose(self) -> ComposeResult:
        yield self.nav()
        with Horizontal(classes="picker-row"):
            yield Label("Run or dataset ", classes="field-label")
            yield RunPicker(id="export-run", datasets=True)
        with Horizontal(id="export"):
            with VerticalScroll(id="export-side"):
                yield Label("Formats", classes="field-label")
                with Vertical(id="ex-formats"):
                    yield MarkCheckbox("chat JSONL (messages)", True, id="ex-fmt-chat")
                    yield MarkCheckbox("ShareGPT JSONL", id="ex-fmt-sharegpt")
                    yield MarkCheckbox("prompt/completion JSONL", id="ex-fmt-completion")
                yield Label("Split by", classes="field-label")
                yield Select([("topic (held-out topics)", "topic"), ("conversation", "conversation")],
                             value="topic", allow_blank=False, id="ex-split", compact=True)
                with Horizontal(classes="field-row"):
                    with Vertical(classes="field-cell"):
                        yield Label("Validation share", classes="field-label")
                        yield Input("0.2", id="ex-fraction", type="number", compact=True)
                    with Vertical(classes="field-cell"):
                        yield Label("Seed", classes="field-label")
                        yield Input("0", id="ex-seed", type="integer", compact=True)
                yield Label("Take", classes="field-label")
                yield Select([("accepted + passing, not rejected", "default"),
                              ("accepted only", "accepted")],
                             value="default", allow_blank=False, id="ex-policy", compact=True)
                yield MarkCheckbox("include partial conversations", id="ex-partial")
                yield Label("Model to fine-tune", classes="field-label")
                yield Input("gpt-4o-mini", id="ex-model", compact=True)
                with Horizontal(classes="button-row"):
                    yield AppButton("Check F5", id="ex-check", variant="primary", compact=True)
                    yield AppButton("Write ^W", id="ex-write", variant="success", compact=True)
            with Vertical(id="export-main"):
                yield Static("Check (F5) shows the validation result and the report before anything "
                             "is written.", id="export-status", classes="status-line muted")
                with VerticalScroll(id="export-report-box"):
                    yield Markdown("", id="export-report")
        yield self.footer()

    def on_screen_resume(self) -> None:
        current = getattr(self.app, "current_run_id", None)
        keep = self.run_id if (self.run_id or "").startswith(DATASET) else None  # a dataset stays
        self.run_id = self.query_one(RunPicker).refresh_runs(self.services,
                                                             keep or current or self.run_id)
        self._say_target()

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "export-run" and isinstance(event.value, str):
            self.run_id = event.value
            if not event.value.startswith(DATASET):  # the run picked here is the app's current one
                self.app.current_run_id = event.value  # type: ignore[attr-defined]
            self._say_target()

    def _say_target(self) -> None:
        if self.run_id is None:
            self.set_status("No runs yet: write some in Synthesize (2).", "muted")
        elif self.run_id.startswith(DATASET):
            self.set_status(f"Dataset {self.run_id[len(DATASET):]}: its runs export as one set "
                            "(F5 checks). Make or extend one in Review (D).", "muted")

    # -- options -----------------------------------------------------------------------------
    def options(self):
        from synth.dataset.export import FORMATS, ExportOptions

        formats = [f for f in FORMATS if self.query_one(f"#ex-fmt-{f}", MarkCheckbox).value]
        if not formats:
            raise ChatsynthError("pick at least one format", field="formats")
        try:
            fraction = float(self.query_one("#ex-fraction", Input).value or "0.2")
            seed = int(self.query_one("#ex-seed", Input).value or "0")
        except ValueError:
            raise ChatsynthError("validation share and seed must be numbers", field="split") from None
        opts = ExportOptions(
            formats=formats, split_by=self.query_one("#ex-split", Select).value,  # type: ignore[arg-type]
            validation_fraction=fraction, seed=seed,
            policy=self.query_one("#ex-policy", Select).value,  # type: ignore[arg-type]
            include_partial=self.query_one("#ex-partial", MarkCheckbox).value,
            model=self.query_one("#ex-model", Input).value.strip() or "gpt-4o-mini")
        opts.check()
        return opts

    def set_status(self, text: str, kind: str = "") -> None:
        st = self.query_one("#export-status", Static)
        st.update(Text(text))
        st.set_classes(f"status-line {kind}".strip())

    # -- check and write ---------------------------------------------------------------------
    def action_check(self) -> None:
        self._start(write=False)

    def action_write(self) -> None:
        self._start(write=True)

    def _start(self, write: bool) -> None:
        if not self.run_id:
            self.app.notify("No run to export yet.", severity="warning")
            return
        try:
            opts = self.options()
        except ChatsynthError as err:
            self.error(err)
            return
        self.set_status("writing files…" if write else "building and validating…", "muted")
        self._export(self.run_id, opts, write)

    @work(thread=True, exclusive=True, group="export", exit_on_error=False)
    def _export(self, run_id: str, opts, write: bool) -> None:
        try:
            if write and not opts.allow_invalid:  # a file with errors is written only when confirmed
                checked = self.services.export(run_id, opts, write=False)
                if checked[0].withheld:
                    self.app.call_from_thread(self._confirm_invalid, run_id, opts, checked)
                    return
            out = self.services.export(run_id, opts, write=write)
        except ChatsynthError as err:
            self.app.call_from_thread(self._failed, err)
            return
        except Exception as exc:  # noqa: BLE001 - shown, never a traceback
            self.app.call_from_thread(self._failed, exc)
            return
        self.app.call_from_thread(self._done, out, write)

    def _failed(self, err: BaseException) -> None:
        self.set_status(f"✗ {err}", "bad")
        self.error(err, "Export")

    def _confirm_invalid(self, run_id: str, opts, checked) -> None:
        """Name the errors and ask before writing files a trainer would reject."""
        import dataclasses

        result, markdown = checked
        self.query_one("#export-report", Markdown).update(markdown)
        errors = result.error_lines()
        shown = "\n".join(errors[:6]) + (f"\n… {len(errors) - 6} more" if len(errors) > 6 else "")
        parts = ", ".join(f"{key}.jsonl" for key in result.withheld)
        self.set_status(f"✗ Not written yet: {parts} has {len(errors)} error(s):\n{shown}", "warn")

        def answer(yes: bool | None) -> None:
            if not yes:
                self.set_status(f"Nothing written: {parts} has {len(errors)} error(s):\n{shown}", "warn")
                return
            self.set_status("writing files…", "muted")
            self._export(run_id, dataclasses.replace(opts, allow_invalid=True), True)

        self.app.push_screen(ConfirmDialog(escape(  # a finding ends with "[code]": not markup
            f"{parts} would fail validation (a trainer rejects it):\n{shown}\n\nWrite anyway?"),
            yes="Write anyway"), answer)

    def _done(self, out, write: bool) -> None:
        result, markdown = out
        errors = len(result.error_lines())
        warnings = sum(len(r.warnings) for r in [*result.reports.values(), *result.withheld.values()])
        files = ", ".join(f"{k}: {n}" for k, n in result.examples.items())
        verdict = "✓ valid" if not errors else f"✗ {errors} errors"
        refused = f" · {len(result.refused)} examples refused (listed in the report)" if result.refused else ""
        held = (f" · not written unless you confirm: {', '.join(k + '.jsonl' for k in result.withheld)}"
                if result.withheld else "")
        findings = [f.format(f"{key}.jsonl") for key, rep in [*result.withheld.items(), *result.reports.items()]
                    for f in [*rep.errors, *rep.warnings]]
        detail = ("\n" + "\n".join(findings[:6]) + (f"\n… {len(findings) - 6} more in the report"
                                                     if len(findings) > 6 else "")) if findings else ""
        if write:
            paths = "\n".join(str(p) for p in [*result.files.values(), *result.report_paths])
            head = "Written" if not errors else "Written WITH ERRORS, as you confirmed"
            self.written = str(result.out_dir)
            detail += "\nF6 evaluates it on its held-out topics."
            self.set_status(f"{head} ({verdict}, {warnings} warnings{refused}):\n{paths}{detail}",
                            "good" if not errors else "warn")
            self.app.notify(f"Exported to {result.out_dir}", markup=False, timeout=8,
                            severity="information" if not errors else "warning")
        else:
            self.set_status(f"Checked, nothing written yet: {verdict}, {warnings} warnings · "
                            f"examples {files or 'none'}{refused}{held}. Ctrl+W writes.{detail}",
                            "good" if not errors else "warn")
        self.query_one("#export-report", Markdown).update(markdown)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id in ("ex-check", "ex-write"):
            event.stop()
            self._start(write=event.button.id == "ex-write")

    def palette_commands(self):
        return [("Check the export", "F5: validate and report, write nothing", self.action_check),
                ("Write the export", "Ctrl+W: write files into exports/", self.action_write),
                ("Evaluate the written export", "F6: models or modes on its held-out topics",
                 self.action_evaluate)]

    def action_evaluate(self) -> None:
        self.app.action_evaluate(self.written)  # type: ignore[attr-defined]

