"""Issue 9: values are checked in one place (synth.checks) and refused with file:line: field,
by a real `chatsynth` subprocess: sampling flags, endpoints, `check` reporting every problem."""

from __future__ import annotations

import re

import pytest

from synth.library.workspace import Workspace


def line_of(path, needle: str) -> int:
    return next(i for i, ln in enumerate(path.read_text().splitlines(), 1) if needle in ln)


@pytest.mark.parametrize("flag, value, needle", [
    ("--temperature", "3", "--temperature: must be between 0 and 2, not 3"),
    ("--temperature", "-1", "--temperature: must be between 0 and 2, not -1"),
    ("--temperature", "nan", "--temperature: must be a finite number, not nan"),
    ("--max-tokens", "0", "--max-tokens: must be between 1 and 200000, not 0"),
    ("--budget", "-1", "--budget: must be 0 or more"),
    ("--rpm", "0", "--rpm: must be 1 or more"),
    ("--per-topic", "0", "--per-topic: must be between 1"),
    ("--limit", "-2", "--limit: must be 0 or more"),
])
def test_run_refuses_an_out_of_range_flag_before_starting(workspace, cli, flag, value, needle):
    r = cli("run", "--topics", "eve", "--endpoint", "openai", flag, value)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert needle in r.stderr and "run " not in r.stdout
    assert not any(workspace.runs_dir.glob("*/spec.json"))


def test_estimate_uses_the_same_checks(workspace, cli):
    r = cli("estimate", "--max-tokens", "0")
    assert r.returncode == 2 and "--max-tokens: must be between 1 and 200000, not 0" in r.stderr


def test_a_nan_temperature_in_a_persona_is_refused_with_its_line(workspace, cli):
    eve = workspace.personas_dir / "eve.yaml"
    eve.write_text(re.sub(r"(?m)^temperature:.*$", "temperature: .nan", eve.read_text()))
    r = cli("check")
    assert r.returncode == 2
    assert f"eve.yaml:{line_of(eve, 'temperature:')}: temperature: must be a finite number" in r.stderr


def test_check_reports_every_problem_of_every_file(workspace, cli):
    eve = workspace.personas_dir / "eve.yaml"
    text = eve.read_text()
    text = re.sub(r"(?m)^temperature:.*$", "temperature: 3", text)
    text = re.sub(r"(?m)^max_tokens:.*$", "max_tokens: 0", text)
    text = re.sub(r"(?m)^style:.*$", "style: poem", text)
    eve.write_text(text + "colour: blue\n")
    (workspace.topics_dir / "dups.txt").write_text("a\nb\na\nb\n")
    r = cli("check")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    for field in ("temperature", "max_tokens", "style", "colour"):
        assert f"eve.yaml:{line_of(eve, field + ':')}: {field}: " in r.stderr, field
    assert "dups.txt:3: topics: duplicate topic 'a' (first on line 1)" in r.stderr
    assert "dups.txt:4: topics: duplicate topic 'b' (first on line 2)" in r.stderr
    assert r.stdout.strip().endswith(", 6 problems")


def test_check_says_one_problem_not_one_problems(workspace, cli):
    (workspace.topics_dir / "dups.txt").write_text("a\na\n")
    r = cli("check")
    assert r.stdout.strip() == "4 personas, 4 topic sources, 1 problem"  # the bad one is not counted
    (workspace.topics_dir / "dups.txt").unlink()
    assert cli("check").stdout.strip() == "4 personas, 4 topic sources, 0 problems"


def test_check_reports_each_bad_endpoint_with_its_line(workspace, cli):
    cfg = workspace.config_path
    cfg.write_text(cfg.read_text().replace("    max_stop: 4\n", (
        "    max_stop: 4\n"
        "  - name: https://api.example.com/v1\n"
        "    base_url: some-model\n"
        "  - name: bad2\n"
        "    base_url: notaurl\n"
        "    rpm: 0\n"), 1).replace("  concurrency: 4", "  concurrency: 0"))
    r = cli("check")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    n = line_of(cfg, "name: https://")
    assert f"chatsynth.yaml:{n}: endpoints[2].name: a name is one word" in r.stderr
    assert f"chatsynth.yaml:{n + 1}: endpoints[2].base_url: must start with http://" in r.stderr
    assert f"chatsynth.yaml:{n + 3}: endpoints[3].base_url: must start with http://" in r.stderr
    assert f"chatsynth.yaml:{n + 4}: endpoints[3].rpm: must be 1 or more, not 0" in r.stderr
    n = line_of(cfg, "concurrency: 0")
    assert f"chatsynth.yaml:{n}: defaults.concurrency: must be between 1 and 1000" in r.stderr
    assert r.stdout.strip().endswith(", 5 problems")


@pytest.mark.parametrize("url, needle", [
    ("notaurl", "must start with http:// or https://"),
    ("ftp://host/v1", "must start with http:// or https://"),
    ("http:///v1", "has no host"),
    ("http://host:port/v1", "has a bad port"),
])
def test_endpoint_add_refuses_what_is_not_a_url(workspace, cli, url, needle):
    before = workspace.config_path.read_bytes()
    r = cli("endpoint", "add", "bad2", "--base-url", url)
    assert r.returncode == 2 and f"base_url: {needle}" in r.stderr and "Traceback" not in r.stderr
    assert workspace.config_path.read_bytes() == before


def test_endpoint_remove_needs_yes_and_keeps_a_default(workspace, cli):
    cfg = workspace.config_path
    before = cfg.read_bytes()
    r = cli("endpoint", "remove", "openai")
    assert r.returncode == 2 and "add --yes to confirm" in r.stderr
    r = cli("endpoint", "remove", "nope", "--yes")
    assert r.returncode == 2 and "no endpoint named 'nope'" in r.stderr
    assert cli("endpoint", "default", "openai").returncode == 0
    before = cfg.read_bytes()
    r = cli("endpoint", "remove", "openai", "--yes")
    assert r.returncode == 2 and "openai is the default endpoint" in r.stderr
    r = cli("endpoint", "remove", "openai", "--yes", "--default", "openai")
    assert r.returncode == 2 and "another endpoint" in r.stderr
    assert cfg.read_bytes() == before
    r = cli("endpoint", "remove", "openai", "--yes", "--default", "local")
    assert r.returncode == 0, r.stderr
    assert "the default is now local" in r.stdout
    ws = Workspace(workspace.root)
    assert ws.config.default_endpoint == "local"
    assert [e.name for e in ws.config.endpoints] == ["local"]
    assert "# Secrets never go in this file" in cfg.read_text()  # comments kept


def test_personas_with_the_same_name_are_told_apart_by_id(workspace, cli):
    cli("personas", "eve", "--copy-to", "eve2")
    r = cli("personas")
    assert r.returncode == 0
    rows = {ln.split()[0]: ln for ln in r.stdout.splitlines()[1:]}
    assert "(same name as eve2: choose it as eve)" in rows["eve"]
    assert "(same name as eve: choose it as eve2)" in rows["eve2"]
    assert "same name" not in rows["bank-support"]
    r = cli("estimate", "--persona", "Eve", "--topics", "eve")  # the display name is ambiguous
    assert r.returncode == 2
    assert "2 personas are named 'Eve': pick one by its file name (eve, eve2)" in r.stderr
    assert cli("estimate", "--persona", "eve2", "--topics", "eve").returncode == 0
