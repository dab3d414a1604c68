"""Run files and exports are owner-only (0700 folders, 0600 files): conversations can hold
private documents.  A workspace written by an older version is tightened when a run is next
written.  Real CLI subprocesses against the loopback fault server."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.faultserver import FaultServer


@pytest.fixture
def fs():
    with FaultServer() as server:
        yield server


def mode(p: Path) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def modes_under(root: Path) -> dict[str, str]:
    """Every folder and file under ``root`` (and root itself) that group or others can reach."""
    out = {}
    for p in [root, *root.rglob("*")]:
        if mode(p) & 0o077:
            out[str(p.relative_to(root.parent))] = oct(mode(p))
    return out


def _run(cli, fs, *extra):
    r = cli("run", "--persona", "eve", "--topics", "short", "--base-url", fs.url, "-q", *extra)
    assert r.returncode == 0, r.stderr
    return r


def test_a_run_and_its_export_are_owner_only(cli, workspace, fs):
    os.umask(0o022)  # the usual umask: without care, files would be 0644 and folders 0755
    (workspace.topics_dir / "short.txt").write_text("sleep before exams\nfeeling stuck at work\n")
    assert mode(workspace.runs_dir) == 0o700 and mode(workspace.exports_dir) == 0o700  # init
    _run(cli, fs)
    run_dir = next(d for d in workspace.runs_dir.iterdir() if d.is_dir())
    assert mode(run_dir) == 0o700
    assert mode(run_dir / "spec.json") == 0o600
    assert mode(run_dir / "conversations.jsonl") == 0o600
    assert modes_under(workspace.runs_dir) == {}
    r = cli("export", "latest", "--format", "all")
    assert r.returncode in (0, 1), r.stderr
    written = list(workspace.exports_dir.rglob("*.jsonl"))
    assert written and any(workspace.exports_dir.rglob("report.md"))
    assert modes_under(workspace.exports_dir) == {}
    # --out: a folder it makes is owner-only, and so is every file
    out = workspace.root / "elsewhere" / "exp"
    r = cli("export", "latest", "--format", "chat", "--out", str(out))
    assert r.returncode in (0, 1), r.stderr
    assert mode(out) == 0o700 and all(mode(p) == 0o600 for p in out.iterdir()), \
        {p.name: oct(mode(p)) for p in out.iterdir()}


def test_an_older_workspace_is_tightened_when_a_run_is_next_written(cli, workspace, fs):
    os.umask(0o022)
    (workspace.topics_dir / "short.txt").write_text(
        "\n".join(f"short topic {i}" for i in range(4)) + "\n")
    _run(cli, fs, "--limit", "2")
    run_dir = next(d for d in workspace.runs_dir.iterdir() if d.is_dir())
    log = run_dir / "conversations.jsonl"
    # as an older chatsynth left it: 0755 folders, 0644 files, and a half-written last line
    with open(log, "ab") as fh:
        fh.write(b'{"half": "a line cut short')
    for p in [workspace.runs_dir, *workspace.runs_dir.rglob("*")]:
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    _run(cli, fs)  # resumes the same run
    quarantine = run_dir / "quarantine"
    assert mode(quarantine) == 0o700 and [mode(p) for p in quarantine.iterdir()] == [0o600]
    assert mode(log) == 0o600 and mode(run_dir / "spec.json") == 0o600
    assert mode(run_dir) == 0o700 and mode(workspace.runs_dir) == 0o700
    assert modes_under(workspace.runs_dir) == {}
    # the exports folder of an older workspace is tightened when an export is next written
    os.chmod(workspace.exports_dir, 0o755)
    r = cli("export", "latest", "--format", "chat")
    assert r.returncode in (0, 1), r.stderr
    assert modes_under(workspace.exports_dir) == {}
