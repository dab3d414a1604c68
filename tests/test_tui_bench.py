"""The TUI benchmark runs (quick mode) and reports its figures; generous bounds here, the
targets (p95 < 100 ms, first screen < 1 s) are checked by reading bench/RESULTS.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_bench_tui_quick():
    res = subprocess.run([sys.executable, str(REPO / "bench" / "bench_tui.py"), "--quick", "--json"],
                         cwd=REPO, capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stderr[-3000:]
    fig = json.loads(res.stdout[res.stdout.index("{"):])
    assert fig["unexpected_errors"] == 0
    assert fig["key_presses"] >= 20
    # conversations really were streaming during the presses (64 start; on a loaded box the
    # presses come slower and more of them have finished, CI once saw a median of 16)
    assert fig["streams_writing_median"] >= 8
    assert fig["engine_events_per_s"] > 0
    # bounds that hold on a busy 2-core CI box; the real figures go to bench/RESULTS.md
    assert fig["key_latency_p95_ms"] < 500, fig
    assert fig["first_screen_from_launch_ms_median"] < 10_000, fig
