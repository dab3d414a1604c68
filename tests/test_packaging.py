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
    for enc in ("o200k_base", "cl100k_base"):  # offline token counts need no download
        assert f"synth/_tiktoken/{enc}.tiktoken" in names
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "chatsynth = synth.cli.main:main" in (tmp_path / "site" / entry).read_text()
    # run init from the unpacked wheel (first on the path), far from the repository
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "site"))
    ws = tmp_path / "ws"
    r = subprocess.run([sys.executable, "-m", "synth.cli.main", "init", str(ws)], cwd=tmp_path, env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (ws / "personas" / "eve.yaml").read_bytes() == (REPO / "personas" / "eve.yaml").read_bytes()
    r = subprocess.run([sys.executable, "-c", "import synth.library.workspace as w; print(w.examples_dir())"],
                       cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.stdout.strip().endswith("synth/_examples"), "the installed copy reads its own examples"
    # the installed copy counts tokens with no network and no TIKTOKEN_CACHE_DIR
    (tmp_path / "tmp").mkdir()
    closed = "http://127.0.0.1:9"
    off = {k: v for k, v in env.items() if k not in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR")}
    off.update(TMPDIR=str(tmp_path / "tmp"), HTTPS_PROXY=closed, https_proxy=closed,
               HTTP_PROXY=closed, http_proxy=closed, CHATSYNTH_WORKSPACE=str(ws))
    r = subprocess.run([sys.executable, "-m", "synth.cli.main", "estimate", "--persona", "eve",
                        "--topics", "eve", "--model", "gpt-4o-mini"], cwd=tmp_path, env=off,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([sys.executable, "-c", "import synth.tokens as t; e = t.load_encoding("
                        "'cl100k_base'); print(len(e.encode('hello world')))"],
                       cwd=tmp_path, env=off, capture_output=True, text=True)
    assert (r.returncode, r.stdout.strip()) == (0, "2"), r.stderr


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
