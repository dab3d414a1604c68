"""Settings screen: endpoints in chatsynth.yaml, connection test, API keys in a real keyring."""

from __future__ import annotations

import uuid

import pytest

from faultserver import FaultServer
from synth.library import secrets
from synth.library.workspace import Workspace
from tui.app import ChatsynthApp
from tui.screens.dialogs import ConfirmDialog
from tests.conftest import require_secret_service
from tui.testing import notified, wait_for

SIZE = (120, 40)


def app_for(ws):
    return ChatsynthApp(ws, blink=False, first_run=False, start="settings")


async def test_add_endpoint_make_default_and_test(workspace):
    with FaultServer() as fs:
        app = app_for(workspace)
        async with app.run_test(size=SIZE) as pilot:
            scr = app.screen
            await wait_for(pilot, lambda: scr.editing is not None)
            scr.query_one("#ep-table").focus()
            await pilot.press("n")
            await pilot.pause()
            assert scr.editing is None
            scr.query_one("#ep-name").value = "loopy"
            scr.query_one("#ep-base_url").value = fs.url
            scr.query_one("#ep-default_model").value = "fault-model"
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: scr.editing == "loopy")
            text = workspace.config_path.read_text()
            assert "name: loopy" in text and fs.url in text
            assert "# Secrets never go in this file" in text  # comments kept
            scr.query_one("#ep-table").focus()
            await pilot.press("d")
            await wait_for(pilot, lambda: Workspace(workspace.root).config.default_endpoint == "loopy")
            await pilot.press("t")
            result = scr.query_one("#ep-test-result")
            await wait_for(pilot, lambda: "connected" in str(result.render()))
            assert "fault-model" in str(result.render())
            # a bad URL is refused with the config's own message, nothing written
            before = workspace.config_path.read_text()
            scr.query_one("#ep-base_url").value = ""
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert workspace.config_path.read_text() == before
            await notified(pilot, "base_url")
            assert app.unexpected_errors == []


async def test_connection_failure_is_shown(workspace):
    app = app_for(workspace)
    async with app.run_test(size=SIZE) as pilot:
        scr = app.screen
        await wait_for(pilot, lambda: scr.editing is not None)
        scr.query_one("#ep-table").focus()
        await pilot.press("n")
        scr.query_one("#ep-name").value = "dead"
        scr.query_one("#ep-base_url").value = "http://127.0.0.1:9/v1"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: scr.editing == "dead")
        scr.query_one("#ep-table").focus()
        await pilot.press("t")
        result = scr.query_one("#ep-test-result")
        await wait_for(pilot, lambda: "✗" in str(result.render()))
        assert "can't reach" in str(result.render())


@pytest.mark.keyring_service
async def test_store_key_in_keyring_masked(workspace):
    require_secret_service()
    name = f"CHATSYNTH_TUI_{uuid.uuid4().hex[:8].upper()}"
    key = "sk-test-" + uuid.uuid4().hex
    app = app_for(workspace)
    try:
        async with app.run_test(size=SIZE) as pilot:
            scr = app.screen
            await wait_for(pilot, lambda: scr.editing is not None)
            scr.query_one("#ep-key_name").value = name
            await pilot.pause()
            box = scr.query_one("#key-value")
            assert box.password
            box.focus()
            box.value = key
            await pilot.press("enter")
            status = scr.query_one("#key-status")
            await wait_for(pilot, lambda: "system keyring" in str(status.render()))
            assert box.value == ""
            assert f"****{key[-4:]}" in str(status.render())
            screen_text = app.export_screenshot()
            assert key not in screen_text and key[:-4] not in screen_text
        assert secrets.get_key(name).value == key
        assert key not in workspace.config_path.read_text()
        for p in workspace.root.rglob("*"):
            if p.is_file():
                assert key not in p.read_text(errors="ignore"), p
    finally:
        try:
            secrets.delete_key(name)
        except secrets.SecretsError:
            pass


async def test_no_keyring_says_use_the_environment(workspace, monkeypatch):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    import keyring
    import keyring.core

    monkeypatch.setattr(keyring.core, "_keyring_backend", None)
    app = app_for(workspace)
    try:
        async with app.run_test(size=SIZE) as pilot:
            scr = app.screen
            await wait_for(pilot, lambda: scr.editing is not None)
            note = str(scr.query_one("#keyring-note").render())
            assert "No keyring here" in note and "environment variable" in note
            scr.query_one("#ep-key_name").value = "SOME_API_KEY"
            await pilot.pause()
            scr.query_one("#key-value").value = "sk-should-not-be-stored-123456"
            scr.query_one("#key-value").focus()
            await pilot.press("enter")
            await pilot.pause()
            await notified(pilot, "environment variable")
            assert scr.query_one("#key-value").value == ""
            assert app.unexpected_errors == []
    finally:
        keyring.core._keyring_backend = None


async def test_renaming_local_keeps_its_kind_and_style(workspace):
    app = app_for(workspace)
    async with app.run_test(size=SIZE) as pilot:
        scr = app.screen
        await wait_for(pilot, lambda: scr.editing is not None)
        table = scr.query_one("#ep-table")
        table.focus()
        names = [r.value for r in table.rows]
        table.move_cursor(row=names.index("local"))
        await wait_for(pilot, lambda: scr.editing == "local")
        assert scr.query_one("#ep-base_url").disabled  # nothing to set for the embedded model
        scr.query_one("#ep-name").value = "demo"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: scr.editing == "demo")
    cfg = Workspace(workspace.root).config
    ep = cfg.endpoint("demo")
    assert ep.is_embedded and ep.style == "completion"
    assert cfg.default_endpoint == "demo"  # the default followed the rename


async def test_bad_name_or_url_is_refused_and_nothing_written(workspace):
    """Issue 9: the screen saved an endpoint named with a URL whose base_url was a model name."""
    app = app_for(workspace)
    before = workspace.config_path.read_text()
    async with app.run_test(size=SIZE) as pilot:
        scr = app.screen
        await wait_for(pilot, lambda: scr.editing is not None)
        scr.query_one("#ep-table").focus()
        await pilot.press("n")
        scr.query_one("#ep-name").value = "https://api.example.com/v1"
        scr.query_one("#ep-base_url").value = "some-model"
        await pilot.press("ctrl+s")
        await notified(pilot, "a name is one word")
        scr.query_one("#ep-name").value = "example"
        await pilot.press("ctrl+s")
        await notified(pilot, "must start with http:// or https://")
        scr.query_one("#ep-base_url").value = "http://127.0.0.1:8000/v1"
        scr.query_one("#ep-max_stop").value = "-3"
        await pilot.press("ctrl+s")
        await notified(pilot, "max stop sequences: must be between 0 and 100")
        assert workspace.config_path.read_text() == before
        assert scr.editing is None
        assert app.unexpected_errors == []


async def test_delete_asks_first_and_refuses_the_default(workspace):
    app = app_for(workspace)
    async with app.run_test(size=SIZE) as pilot:
        scr = app.screen
        await wait_for(pilot, lambda: scr.editing is not None)
        table = scr.query_one("#ep-table")
        table.focus()
        # the default (local) is not deleted: another must become the default first
        await pilot.press("delete")
        await notified(pilot, "local is the default endpoint")
        names = [r.value for r in table.rows]
        table.move_cursor(row=names.index("openai"))
        await wait_for(pilot, lambda: scr.editing == "openai")
        await pilot.press("delete")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("n")  # cancelled: still there
        await wait_for(pilot, lambda: app.screen is scr)
        assert "openai" in [e.name for e in Workspace(workspace.root).config.endpoints]
        table.focus()
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await notified(pilot, "Deleted endpoint openai")
        assert [r.value for r in table.rows] == ["local"]
        assert "openai" not in [e.name for e in Workspace(workspace.root).config.endpoints]
        assert "# Secrets never go in this file" in workspace.config_path.read_text()
        assert app.unexpected_errors == []


async def test_batch_switch_is_saved_and_shown(workspace):
    app = app_for(workspace)
    async with app.run_test(size=SIZE) as pilot:
        scr = app.screen
        await wait_for(pilot, lambda: scr.editing is not None)
        scr.query_one("#ep-table").focus()
        await pilot.press("n")
        await pilot.pause()
        scr.query_one("#ep-name").value = "bat"
        scr.query_one("#ep-base_url").value = "http://127.0.0.1:9/v1"
        assert scr.query_one("#ep-batch").value is False
        scr.query_one("#ep-batch").value = True
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: scr.editing == "bat")
        assert Workspace(workspace.root).config.endpoint("bat").batch is True
        scr.load_form("local")  # the embedded model takes no batch jobs: the switch is off
        assert scr.query_one("#ep-batch").disabled and not scr.query_one("#ep-batch").value
        scr.load_form("bat")
        assert scr.query_one("#ep-batch").value is True and not scr.query_one("#ep-batch").disabled
        assert app.unexpected_errors == []
