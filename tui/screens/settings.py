"""Settings: endpoints (add, edit, delete, test the connection, make default) and API keys.

A key is typed into a password field, stored with ``synth.library.secrets`` (the system keyring), and
only ever shown masked; it is never written to chatsynth.yaml or a log.
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, DataTable, Input, Label, Select, Static, Switch

from synth import checks
from synth.library import settings as ws_settings
from synth.generate.connection import test_connection
from synth.errors import ChatsynthError
from tui.screens.base import BaseScreen
from tui.screens.dialogs import ConfirmDialog
from tui.widgets.button import AppButton


class EndpointTable(DataTable):
    BINDINGS = [
        Binding("n", "screen.new_endpoint", "New"),
        Binding("t", "screen.test", "Test connection"),
        Binding("d", "screen.make_default", "Make default"),
        Binding("delete,x", "screen.delete_endpoint", "Delete"),
    ]


class SettingsScreen(BaseScreen):
    MODE = "settings"
    HOME = "#ep-table"
    TITLE = "Settings"
    HELP = """\
Endpoints are OpenAI-compatible servers (OpenAI, vLLM, Ollama, llama.cpp, OpenRouter, ...)
kept in chatsynth.yaml; `local` is the embedded small offline demo model. In the list: n adds
one, t tests the connection (lists the server's models), d makes it the default, Delete (or
x) removes it after asking (the default only once another is the default). The form on
the right edits the selected endpoint; Ctrl+S saves it. "Takes batch jobs" (batch: true) makes
Synthesize offer "as a batch job" with this endpoint (about half the price; answers in hours). API keys go into the password field
and are stored in your system keyring under the endpoint's key name; they are only ever shown
masked and never written to chatsynth.yaml. Without a keyring, use the environment variable."""

    BINDINGS = [Binding("ctrl+s", "save", "Save endpoint")]

    def __init__(self) -> None:
        super().__init__()
        self.editing: str | None = None  # the endpoint's name as saved; None: a new one

    def compose(self) -> ComposeResult:
        yield self.nav()
        with Horizontal(id="settings"):
            with Vertical(id="settings-side"):
                yield Static("Endpoints", classes="pane-title")
                yield EndpointTable(id="ep-table", cursor_type="row", zebra_stripes=True)
                with Horizontal(classes="button-row"):
                    yield AppButton("New n", id="ep-new", compact=True)
                    yield AppButton("Test t", id="ep-test", compact=True)
                    yield AppButton("Make default d", id="ep-default", compact=True)
                    yield AppButton("Delete", id="ep-delete", compact=True)
                yield Static("", id="ep-test-result", classes="status-line")
            with VerticalScroll(id="settings-main"):
                yield Static("Endpoint", classes="pane-title", id="ep-form-title")
                yield Label("Name", classes="field-label")
                yield Input(id="ep-name", compact=True)
                yield Label("Base URL (OpenAI-compatible, ends in /v1)", classes="field-label")
                yield Input(id="ep-base_url", placeholder="http://127.0.0.1:8000/v1", compact=True)
                with Horizontal(classes="field-row"):
                    with Vertical(classes="field-cell"):
                        yield Label("Default model", classes="field-label")
                        yield Input(id="ep-default_model", compact=True)
                    with Vertical(classes="field-cell"):
                        yield Label("API style", classes="field-label")
                        yield Select([("chat", "chat"), ("completion", "completion")], value="chat",
                                     allow_blank=False, id="ep-style", compact=True)
                with Horizontal(classes="field-row"):
                    with Vertical(classes="field-cell"):
                        yield Label("Key name (keyring entry / env var)", classes="field-label")
                        yield Input(id="ep-key_name", placeholder="OPENAI_API_KEY", compact=True)
                    with Vertical(classes="field-cell"):
                        yield Label("Max stop sequences", classes="field-label")
                        yield Input(id="ep-max_stop", type="integer", compact=True)
                with Horizontal(classes="field-row", id="ep-batch-row"):
                    yield Switch(id="ep-batch", animate=False)
                    yield Label("Takes batch jobs (half price)", classes="field-label")
                with Horizontal(classes="button-row"):
                    yield AppButton("Save ^S", id="ep-save", variant="primary", compact=True)
                yield Static("API key", classes="pane-title")
                yield Static("", id="key-status", classes="status-line")
                yield Input(id="key-value", password=True, placeholder="paste the key; it is stored masked",
                            compact=True)
                with Horizontal(classes="button-row"):
                    yield AppButton("Store key", id="key-store", variant="primary", compact=True)
                    yield AppButton("Delete key", id="key-delete", variant="error", compact=True)
                yield Static("", id="keyring-note", classes="hint")
        yield self.footer()

    def on_mount(self) -> None:
        t = self.query_one(EndpointTable)
        t.add_column("", key="default", width=1)
        t.add_column("Name", key="name", width=10)
        t.add_column("Model", key="model", width=16)
        t.add_column("Style", key="style", width=10)
        t.add_column("URL", key="url", width=16)
        super().on_mount()
        self.reload()
        self.query_one("#keyring-note", Static).update(ws_settings.keyring_note())

    def on_screen_resume(self) -> None:
        self.query_one(EndpointTable).focus()

    def reload(self, select: str | None = None) -> None:
        try:
            cfg = self.ws.config
        except ChatsynthError as err:
            self.error(err)
            return
        table = self.query_one(EndpointTable)
        table.clear()
        names = []
        for label, name in self.services.endpoint_names():
            ep = cfg.endpoint(name)
            url = "embedded (this machine)" if ep.is_embedded else (ep.base_url or "")
            model = "gemma-3-270m (demo)" if ep.is_embedded else (ep.default_model or "server default")
            table.add_row("★" if name == cfg.default_endpoint else "", name, model, ep.style, url, key=name)
            names.append(name)
        want = select or self.editing or cfg.default_endpoint
        if want in names:
            table.move_cursor(row=names.index(want), animate=False)
            self.load_form(want)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value != self.editing:
            self.load_form(event.row_key.value)

    def load_form(self, name: str | None) -> None:
        ep = self.ws.config.endpoint(name) if name else None
        self.editing = name
        embedded = ep is not None and ep.is_embedded
        self.query_one("#ep-form-title", Static).update(
            f"Endpoint: {name}" if name else "New endpoint")
        values = {"name": name or "", "base_url": (ep.base_url if ep else "") or "",
                  "default_model": (ep.default_model if ep else "") or "",
                  "key_name": (ep.key_name if ep else "") or "",
                  "max_stop": str(ep.max_stop) if ep and ep.max_stop is not None else ""}
        for key, val in values.items():
            w = self.query_one(f"#ep-{key}", Input)
            w.value = val
            w.disabled = embedded and key != "name"
        self.query_one("#ep-style", Select).value = ep.style if ep else "chat"
        self.query_one("#ep-style", Select).disabled = embedded
        self.query_one("#ep-batch", Switch).value = bool(ep and ep.batch)
        self.query_one("#ep-batch", Switch).disabled = embedded
        self.query_one("#ep-test-result", Static).update("")
        self.show_key_status()

    def form_values(self) -> dict:
        vals = {k: self.query_one(f"#ep-{k}", Input).value for k in
                ("name", "base_url", "default_model", "key_name", "max_stop")}
        vals["max_stop"] = checks.number_text("max_stop", vals["max_stop"], field="max stop sequences")
        vals["style"] = self.query_one("#ep-style", Select).value
        vals["batch"] = self.query_one("#ep-batch", Switch).value
        return vals

    def key_name(self) -> str:
        return self.query_one("#ep-key_name", Input).value.strip()

    def show_key_status(self) -> None:
        name = self.key_name()
        try:
            text = ws_settings.key_status(name or None)
        except ChatsynthError as err:
            text = str(err)
        self.query_one("#key-status", Static).update(Text(text))
        for bid in ("#key-store", "#key-delete", "#key-value"):
            self.query_one(bid).disabled = not name

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "ep-key_name":
            self.show_key_status()

    # -- actions -----------------------------------------------------------------------------
    def action_new_endpoint(self) -> None:
        self.load_form(None)
        self.query_one("#ep-name", Input).focus()

    def action_save(self) -> None:
        try:
            vals = self.form_values()
            ep = self.ws.config.endpoint(self.editing) if self.editing else None
            if ep is not None and ep.is_embedded:
                vals = {"name": vals["name"]}
            ws_settings.save_endpoint(self.ws, self.editing, vals)
        except ChatsynthError as err:
            self.error(err, "Not saved")
            return
        self.app.notify(f"Saved endpoint {vals['name']} in chatsynth.yaml", markup=False)
        self.editing = vals["name"]
        self.reload(select=vals["name"])

    def action_make_default(self) -> None:
        if not self.editing:
            return
        try:
            ws_settings.set_default_endpoint(self.ws, self.editing)
        except ChatsynthError as err:
            self.error(err)
            return
        self.app.notify(f"{self.editing} is now the default endpoint", markup=False)
        self.reload(select=self.editing)

    def action_delete_endpoint(self) -> None:
        name = self.editing
        if not name:
            return
        if name == self.ws.config.default_endpoint:
            self.app.notify(f"{name} is the default endpoint: make another one the default (d) "
                            "first, then delete it", title="Not deleted", severity="error",
                            markup=False)
            return

        def answer(yes: bool | None) -> None:
            if not yes:
                return
            try:
                ws_settings.remove_endpoint(self.ws, name)
            except ChatsynthError as err:
                self.error(err, "Not deleted")
                return
            self.app.notify(f"Deleted endpoint {name} from chatsynth.yaml", markup=False)
            self.editing = None
            self.reload()

        self.app.push_screen(ConfirmDialog(f"Delete endpoint {name} from chatsynth.yaml? Its "
                                           "stored API key stays in the keyring.", yes="Delete"),
                             answer)

    def action_test(self) -> None:
        if not self.editing:
            return
        self.query_one("#ep-test-result", Static).update("testing…")
        self._test(self.editing)

    @work(thread=True, exclusive=True, group="ep-test", exit_on_error=False)
    def _test(self, name: str) -> None:
        try:
            text, kind = "✓ " + test_connection(self.ws, name), "good"
        except ChatsynthError as err:
            text, kind = f"✗ {err}", "bad"
        except Exception as exc:  # noqa: BLE001
            text, kind = f"✗ {type(exc).__name__}: {exc}", "bad"
        self.app.call_from_thread(self._tested, text, kind)

    def _tested(self, text: str, kind: str) -> None:
        st = self.query_one("#ep-test-result", Static)
        st.update(Text(text))
        st.set_classes(f"status-line {kind}")

    def store_key(self) -> None:
        from synth.library import secrets
        box = self.query_one("#key-value", Input)
        value, name = box.value, self.key_name()
        box.value = ""  # the key leaves the screen at once, stored or not
        try:
            secrets.set_key(name, value)
        except ChatsynthError as err:
            self.error(err, "Key not stored")
            return
        self.app.notify(f"Stored the key for {name} in the system keyring", markup=False)
        self.show_key_status()

    def delete_key(self) -> None:
        from synth.library import secrets
        name = self.key_name()
        try:
            existed = secrets.delete_key(name)
        except ChatsynthError as err:
            self.error(err)
            return
        self.app.notify(f"Deleted the stored key for {name}" if existed else f"No stored key for {name}",
                        markup=False)
        self.show_key_status()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "key-value":
            event.stop()
            self.store_key()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        actions = {"ep-new": self.action_new_endpoint, "ep-test": self.action_test,
                   "ep-default": self.action_make_default, "ep-save": self.action_save,
                   "ep-delete": self.action_delete_endpoint,
                   "key-store": self.store_key, "key-delete": self.delete_key}
        if event.button.id in actions:
            event.stop()
            actions[event.button.id]()

    def palette_commands(self):
        return [("New endpoint", "n", self.action_new_endpoint),
                ("Test connection", "t: list the server's models", self.action_test),
                ("Make default endpoint", "d", self.action_make_default),
                ("Delete endpoint", "Delete or x, after asking", self.action_delete_endpoint),
                ("Save endpoint", "Ctrl+S", self.action_save),
                ("Store API key", "from the password field into the keyring", self.store_key)]
