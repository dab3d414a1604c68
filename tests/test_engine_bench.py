"""The engine benchmark runs end to end in its quick mode and prints its figures."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO


def test_bench_engine_quick():
    r = subprocess.run([sys.executable, str(REPO / "bench" / "bench_engine.py"), "--quick",
                        "--json"], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert "engine conv/s" in r.stdout
    data = json.loads(r.stdout.strip().splitlines()[-1])
    (res,) = data["results"]
    assert res["bare_conv_per_s"] > 0 and res["engine_conv_per_s"] > 0
    # a loose floor only (a busy CI box is noisy); bench/RESULTS.md holds the real figures
    assert res["ratio"] > 0.4
    # the non-streaming sides and the client CPU of each side are measured too
    for side in ("bare", "bare_whole", "engine", "engine_whole"):
        assert res[f"{side}_conv_per_s"] > 0 and res[f"{side}_cpu_ms_per_conv"] > 0
    assert res["whole_vs_bare_whole"] > 0 and res["stream_vs_bare_whole"] > 0
    assert "curator_conv_per_s" not in res and "left out" in data["curator_note"]
