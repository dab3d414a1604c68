"""The engine never imports textual: only tui/ does (checked in a fresh interpreter)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import synth

REPO = Path(__file__).resolve().parent.parent


def test_synth_imports_no_textual():
    root = Path(synth.__file__).parent
    names = sorted(".".join(("synth",) + p.relative_to(root).with_suffix("").parts)
                   for p in root.rglob("*.py") if p.name != "__init__.py")
    assert "synth.cli.main" in names and "synth.dataset.store" in names
    code = (
        "import importlib, sys\n"
        f"names = {names!r}\n"
        "for n in names:\n"
        "    try:\n"
        "        importlib.import_module(n)\n"
        "    except ModuleNotFoundError as e:\n"
        "        if e.name and e.name.split('.')[0] in ('textual',):\n"
        "            raise\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print('IMPORTED', len(names))\n"
        "assert not bad, bad[:5]\n"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"IMPORTED {len(names)}" in res.stdout


def test_cli_help_does_not_load_the_tui():
    code = ("import sys\nfrom synth.cli.main import build_parser\nbuild_parser()\n"
            "assert 'textual' not in sys.modules and 'tui.app' not in sys.modules\n")
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]


def test_run_worker_side_imports_no_textual():
    """The run worker process (and what it shares with the app) stays free of textual, so it
    starts fast and can never draw on the terminal."""
    code = ("import sys\nimport tui.run_worker, tui.runner, tui.services, tui.live, synth.library.settings\n"
            "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
            "assert not bad, bad[:5]\n")
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
