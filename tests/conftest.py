"""Shared fixtures.  Every test runs with its own workspace and never touches the user's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
_CACHE = REPO.parent / "shared" / "tiktoken-cache"
if "TIKTOKEN_CACHE_DIR" not in os.environ and _CACHE.is_dir():
    os.environ["TIKTOKEN_CACHE_DIR"] = str(_CACHE)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """No test reads or writes the real per-user workspace, settings or keyring data dir."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))  # the app's per-user settings
    monkeypatch.setenv("XDG_CACHE_HOME", os.environ.get("XDG_CACHE_HOME", str(home / "cache")))
    monkeypatch.delenv("CHATSYNTH_WORKSPACE", raising=False)


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A fresh workspace with the example library, selected through CHATSYNTH_WORKSPACE."""
    from synth.library.workspace import init_workspace

    ws, _ = init_workspace(tmp_path / "ws")
    monkeypatch.setenv("CHATSYNTH_WORKSPACE", str(ws.root))
    return ws


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, input: str | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `chatsynth` in a real subprocess (to see exit codes and that no traceback escapes)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "synth.cli.main", *args], cwd=cwd, env=full_env,
                          input=input, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def cli():
    return run_cli


def require_secret_service() -> None:
    """Go on only where a real Secret Service answers (a set and a delete of a probe entry).
    In CI it must: the run fails there; elsewhere the test is skipped with how to run it."""
    import uuid

    from synth.library import secrets
    ok, why = secrets.keyring_available()
    if ok:
        import keyring

        probe = f"probe-{uuid.uuid4().hex}"
        try:
            keyring.set_password(secrets.SERVICE, probe, "x")
            keyring.delete_password(secrets.SERVICE, probe)
            return
        except Exception as exc:  # noqa: BLE001
            why = f"the keyring did not answer ({type(exc).__name__})"
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the keyring tests under a Secret Service "
                    f"(tests/with-secret-service): {why}")
    pytest.skip(f"no Secret Service reachable ({why}); run under tests/with-secret-service")


@pytest.fixture
def fs():
    """A loopback fault server (tests/faultserver.py) for CLI and engine tests."""
    from tests.faultserver import FaultServer

    with FaultServer() as server:
        yield server


@pytest.fixture
def ws(workspace):
    """The test workspace with a short topic list ``short`` (8 topics)."""
    (workspace.topics_dir / "short.txt").write_text(
        "\n".join(f"short topic {i}" for i in range(8)) + "\n")
    return workspace


@pytest.fixture
def server():
    """A loopback fault server streaming with 10 ms between chunks (the TUI tests' endpoint)."""
    from tests.faultserver import FaultServer

    with FaultServer(chunk_delay=0.01) as fs:
        yield fs


@pytest.fixture
def loop_ws(workspace, server):
    """The test workspace with its default endpoint pointed at ``server``."""
    from tui.testing import use_endpoint

    use_endpoint(workspace, server.url)
    return workspace
