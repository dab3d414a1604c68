"""API keys: explicit > keyring > environment; a real Secret Service where one runs; never shown."""

from __future__ import annotations

import uuid

import pytest

from synth.library import secrets
from tests.conftest import require_secret_service
from tests.faultserver import FaultServer

FAIL_BACKEND = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}


@pytest.fixture
def service():
    require_secret_service()
    name = f"CHATSYNTH_TEST_{uuid.uuid4().hex[:8].upper()}"
    yield name
    try:
        secrets.delete_key(name)
    except secrets.SecretsError:
        pass


@pytest.mark.keyring_service
def test_keyring_round_trip_and_lookup_order(service, monkeypatch):
    name = service
    monkeypatch.setenv(name, "env-value-0000000000")
    assert secrets.get_key(name).source == "env"
    secrets.set_key(name, "  keyring-value-1234567890\n")
    look = secrets.get_key(name)
    assert (look.source, look.value) == ("keyring", "keyring-value-1234567890")
    assert "keyring-value" not in repr(look)
    assert secrets.get_key(name, explicit="explicit-value").source == "explicit"
    assert name in secrets.stored_names()
    assert secrets.delete_key(name) is True
    assert secrets.delete_key(name) is False
    assert secrets.get_key(name).source == "env"
    assert name not in secrets.stored_names()


@pytest.mark.keyring_service
def test_key_commands_never_print_the_key(service, cli, workspace):
    name = service
    value = "sk-test-" + uuid.uuid4().hex
    r = cli("key", "set", name, input=value + "\n")
    assert r.returncode == 0, r.stderr
    assert value not in r.stdout + r.stderr and value[-4:] in r.stdout
    r = cli("key", "list", env={name: ""})
    assert r.returncode == 0 and name in r.stdout and "keyring" in r.stdout
    assert value not in r.stdout
    assert secrets.get_key(name).value == value
    r = cli("key", "delete", name)
    assert r.returncode == 0 and secrets.get_key(name).source in ("missing", "env")


@pytest.mark.keyring_service
def test_run_uses_the_keyring_key_and_never_writes_it(service, cli, workspace):
    name = service
    value = "sk-ring-" + uuid.uuid4().hex
    secrets.set_key(name, value)
    (workspace.topics_dir / "two.txt").write_text("first topic\nsecond topic\n")
    with FaultServer() as fs:
        r = cli("run", "--topics", "two", "--base-url", fs.url, "--key-name", name, "-q")
        assert r.returncode == 0, r.stderr
        assert {q.headers.get("authorization") for q in fs.requests} == {f"Bearer {value}"}
    assert value not in r.stdout + r.stderr
    for path in workspace.root.rglob("*"):
        if path.is_file():
            assert value.encode() not in path.read_bytes(), path


def test_without_any_keyring_the_env_var_works_and_messages_say_how(cli, workspace):
    env = {**FAIL_BACKEND, "MY_TEST_KEY": "sk-env-abcdefghijklmnop"}
    r = cli("key", "set", "MY_TEST_KEY", input="whatever\n", env=env)
    assert r.returncode == 2
    assert "Set the environment variable MY_TEST_KEY" in r.stderr and "Traceback" not in r.stderr
    r = cli("key", "list", env=env)
    assert r.returncode == 0 and "no keyring" in r.stdout
    (workspace.topics_dir / "two.txt").write_text("first topic\nsecond topic\n")
    with FaultServer() as fs:
        r = cli("run", "--topics", "two", "--base-url", fs.url, "--key-name", "MY_TEST_KEY", "-q",
                env=env)
        assert r.returncode == 0, r.stderr
        assert fs.requests[0].headers["authorization"] == "Bearer sk-env-abcdefghijklmnop"
    assert "sk-env-abcdefghijklmnop" not in r.stdout + r.stderr
    env["MY_TEST_KEY"] = ""
    r = cli("run", "--topics", "two", "--base-url", "http://127.0.0.1:9/v1", "--key-name",
            "MY_TEST_KEY", env=env)
    assert r.returncode == 2
    assert "set the environment variable MY_TEST_KEY" in r.stderr


def test_a_local_url_needs_no_key_and_other_keys_do_not_leak_to_it(cli, workspace):
    (workspace.topics_dir / "two.txt").write_text("first topic\nsecond topic\n")
    with FaultServer() as fs:
        r = cli("run", "--topics", "two", "--base-url", fs.url, "-q",
                env={"OPENAI_API_KEY": "sk-should-not-be-sent-000000"})
        assert r.returncode == 0, r.stderr
        assert all("sk-should-not" not in q.headers.get("authorization", "") for q in fs.requests)


def test_mask():
    assert secrets.mask(None) == "(none)"
    assert secrets.mask("short") == "****"
    assert secrets.mask("sk-abcdefghijklmnop") == "****mnop"
