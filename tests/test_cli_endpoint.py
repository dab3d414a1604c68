"""`chatsynth endpoint`: the Settings screen, headless (a real subprocess, a real loopback server)."""

from __future__ import annotations

from faultserver import FaultServer
from synth.library.workspace import Workspace


def test_add_edit_default_list_and_test_an_endpoint(workspace, cli):
    cfg = workspace.config_path
    before = cfg.read_text()
    with FaultServer() as fs:
        r = cli("endpoint", "add", "loop", "--base-url", fs.url, "--model", "fake-model",
                "--style", "completion")
        assert r.returncode == 0, r.stderr
        r = cli("endpoint", "test", "loop")  # the server's own model list, with a warning
        assert r.returncode == 0 and "loop: connected, 1 model, e.g. fault-model" in r.stdout, r.stderr
        assert "default model 'fake-model' is not in its list" in r.stdout
    r = cli("endpoint", "edit", "loop", "--rename", "mine", "--max-stop", "4", "--default")
    assert r.returncode == 0 and "now the default" in r.stdout, r.stderr
    ws = Workspace(workspace.root)
    ep = ws.config.endpoint("mine")
    assert ws.config.default_endpoint == "mine"
    assert (ep.style, ep.default_model, ep.max_stop) == ("completion", "fake-model", 4)
    # the user's comments in chatsynth.yaml are kept
    comments = [ln for ln in before.splitlines() if ln.strip().startswith("#")]
    assert comments and all(c in cfg.read_text() for c in comments)
    r = cli("endpoint", "list")
    assert r.returncode == 0 and any(ln.startswith("* mine") for ln in r.stdout.splitlines())
    r = cli("endpoint", "default", "local")
    assert r.returncode == 0 and Workspace(workspace.root).config.default_endpoint == "local"


def test_endpoint_mistakes_are_clear_and_change_nothing(workspace, cli):
    cfg = workspace.config_path
    before = cfg.read_bytes()
    cases = [
        (("endpoint", "add", "openai", "--base-url", "http://127.0.0.1:9/v1"), "already exists"),
        (("endpoint", "add", "two words", "--base-url", "http://127.0.0.1:9/v1"), "a name is one word"),
        (("endpoint", "edit", "nope", "--model", "m"), "no endpoint named 'nope'"),
        (("endpoint", "default", "nope"), "no endpoint named 'nope'"),
        (("endpoint", "test", "nope"), "no endpoint named 'nope'"),
    ]
    for args, needle in cases:
        r = cli(*args)
        assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
    assert cfg.read_bytes() == before


def test_an_unreachable_endpoint_is_exit_3(workspace, cli):
    with FaultServer() as fs:
        url = fs.url
    assert cli("endpoint", "add", "gone", "--base-url", url).returncode == 0  # server now stopped
    r = cli("endpoint", "test", "gone")
    assert r.returncode == 3 and "can't reach" in r.stderr and "Traceback" not in r.stderr


def test_an_endpoint_takes_batch_jobs_with_batch_true(workspace, cli):
    r = cli("endpoint", "add", "bat", "--base-url", "http://127.0.0.1:9/v1", "--batch")
    assert r.returncode == 0, r.stderr
    assert Workspace(workspace.root).config.endpoint("bat").batch is True
    assert "batch: true" in workspace.config_path.read_text()
    assert "(batch jobs)" in cli("endpoint", "list").stdout
    assert cli("endpoint", "edit", "bat", "--no-batch").returncode == 0
    assert Workspace(workspace.root).config.endpoint("bat").batch is False
    assert "batch:" not in workspace.config_path.read_text()  # false is the default: not written
    assert Workspace(workspace.root).config.endpoint("openai").batch is False


def test_a_bad_batch_setting_names_the_line(workspace, cli):
    cfg = workspace.config_path
    text = cfg.read_text()
    for bad, needle in (("batch: yes please", "must be true or false"),
                        ("batch: true", "the embedded model takes no batch jobs")):
        cfg.write_text(text.replace("    kind: embedded\n", f"    kind: embedded\n    {bad}\n"))
        line = cfg.read_text().splitlines().index(f"    {bad}") + 1
        r = cli("endpoint", "list")
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert f"chatsynth.yaml:{line}: endpoints[0].batch" in r.stderr and needle in r.stderr
    cfg.write_text(text)
