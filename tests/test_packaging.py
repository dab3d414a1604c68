"""The wheel carries the example library, so `chatsynth init` works from an installed package."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_wheel_ships_examples_and_init_works_from_it(tmp_path):
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                        str(REPO), "-w", str(tmp_path / "dist")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    wheel = next((tmp_path / "dist").glob("chatsynth-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        zf.extractall(tmp_path / "site")
    assert "synth/_examples/personas/eve.yaml" in names
    assert "synth/_examples/topics/eve.txt" in names
    assert any(n.startswith("tui/") for n in names)
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "chatsynth = synth.cli:main" in (tmp_path / "site" / entry).read_text()
    # run init from the unpacked wheel (first on the path), far from the repository
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "site"))
    ws = tmp_path / "ws"
    r = subprocess.run([sys.executable, "-m", "synth.cli", "init", str(ws)], cwd=tmp_path, env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (ws / "personas" / "eve.yaml").read_bytes() == (REPO / "personas" / "eve.yaml").read_bytes()
    r = subprocess.run([sys.executable, "-c", "import synth.workspace as w; print(w.examples_dir())"],
                       cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.stdout.strip().endswith("synth/_examples"), "the installed copy reads its own examples"


def test_pyflakes_is_clean_and_make_test_runs_it_first():
    import tomllib

    r = subprocess.run([sys.executable, "-m", "pyflakes", "synth", "tui", "tests", "bench"],
                       cwd=REPO, capture_output=True, text=True)
    assert (r.returncode, r.stdout + r.stderr) == (0, "")
    dev = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
    assert any(d.split(">")[0].split("=")[0].strip() == "pyflakes" for d in dev)
    # what `make test` (the README's test command, run by .ci/run) would do, in order
    r = subprocess.run(["make", "-n", "test"], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    flakes = next(i for i, ln in enumerate(lines) if "-m pyflakes synth tui tests bench" in ln)
    pytest = next(i for i, ln in enumerate(lines) if "-m pytest" in ln)
    assert flakes < pytest
