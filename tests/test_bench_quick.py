"""Every benchmark in its quick mode, so none can silently rot; and run_all's report itself.

Each benchmark runs through ``bench/run_all.py``'s own loader (import, ``main([... "--quick"])``)
and its figures must be there, positive and finite.  A few figures also have a floor or a
ceiling that only a broken build misses (the store must stay O(1); an export must validate;
the embedded model must write the same text through chatsynth as directly).
"""

from __future__ import annotations

import importlib.util
import math
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

import run_all  # noqa: E402

HAVE_LLAMA = importlib.util.find_spec("llama_cpp") is not None


def _bench_param(name: str):
    marks = []
    if name in ("local", "quality") and not HAVE_LLAMA and not os.environ.get("CI"):
        marks.append(pytest.mark.skip(reason="llama-cpp-python is not installed (make test installs it)"))
    return pytest.param(name, marks=marks, id=name)


BENCHES = {b.name: b for b in run_all.BENCHES}


@pytest.mark.timeout(240)
@pytest.mark.parametrize("name", [_bench_param(b.name) for b in run_all.BENCHES])
def test_quick_bench_gives_sane_figures(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a benchmark must not need or litter the current directory
    bench = BENCHES[name]
    raw, seconds = run_all.run_bench(name, bench.args + ["--quick"], echo=False)
    if bench.baseline is not None:  # run_all's own same-run baseline for this benchmark
        raw = {**raw, "baseline": bench.baseline(True)}
    figures = bench.figures(raw)
    assert figures, f"no figures from bench_{name}: {raw}"
    for f in figures:
        if name == "quality" and f.ratio is None:  # 48 tokens of a tiny model: none may pass
            assert "n/a" in f.reading and f.baseline.endswith("0/2"), f
            continue
        assert f.ratio is not None and math.isfinite(f.ratio) and f.ratio > 0, (f, raw)
        assert f.value and "?" not in f.value and f.baseline and "?" not in f.baseline, f
    check = CHECKS.get(name)
    if check:
        check(raw, figures)
    assert seconds < 120, f"bench_{name} --quick took {seconds:.0f}s"
    if name == "tui":
        assert raw["unexpected_errors"] == 0


def _store(raw, figures):
    assert raw["loaded"] == raw["conversations"]
    assert figures[0].ratio < 5, "storing a conversation got slower as the log grew"


def _engine(raw, figures):
    for row in raw["results"]:
        assert row["engine_conv_per_s"] > 0 and row["bare_conv_per_s"] > 0
    rp = raw["roleplay"]  # both sides made the same turn-by-turn requests
    assert rp["engine_turns_per_s"] > 0 and rp["bare_turns_per_s"] > 0
    assert len({turns for _, turns in rp["turns"]}) == 1, rp["turns"]
    assert any(f.key == "engine.roleplay" for f in figures)


def _export(raw, figures):
    assert raw["validation_errors"] == 0
    assert raw["examples_written"] > 0 and raw["raw_tokens"] > 0


def _local(raw, figures):
    n = raw["prompts"]
    # temperature 0, same seed, sampler and stops: the same text both ways, or the two sides
    # are not measuring the same work
    assert raw["same_text"] == f"{n}/{n}", raw
    assert raw["chatsynth_tokens"] > 0 and raw["direct_tokens"] > 0


def _tui(raw, figures):
    keys = {f.key for f in figures}
    assert any(k.startswith("tui.key_p50") for k in keys), keys
    assert any(k.startswith("tui.key_p95") for k in keys), keys
    assert "tui.first_screen" in keys, keys
    for screen in ("review", "trim", "export"):  # the big run's rows (300 conversations quick)
        assert f"tui.big_first_paint_{screen}" in keys, keys
    assert {"tui.big_scroll_review", "tui.big_scroll_trim", "tui.big_filter_review"} <= keys, keys


def _quality(raw, figures):
    for side in ("plain", "shipped"):
        r = raw[side]
        assert r["conversations"] == raw["topics"] == 2, raw
        assert 0 <= r["pass"] <= r["right_shape"] <= r["conversations"], raw
    assert raw["shipped"]["examples"] == 1 and raw["plain"]["examples"] == 0
    assert raw["shipped"]["sampling"] and not raw["plain"]["sampling"]


def _judge(raw, figures):
    # every judgement came back usable on both sides (the fault server's verdicts pass)
    assert raw["chatsynth_passed"] == raw["bare_passed"] == raw["conversations"], raw
    assert raw["concurrency"] == 16 and raw["criteria"] >= 1, raw


CHECKS = {"store": _store, "engine": _engine, "export": _export, "local": _local, "tui": _tui,
          "quality": _quality, "judge": _judge}


def test_run_all_writes_results_and_only_the_readme_table(tmp_path):
    readme = tmp_path / "README.md"
    before, after = "# chatsynth\n\nintro\n\n", "\n\n## More\nuntouched text\n"
    readme.write_text(before + "<!-- bench-table -->\nold table\n<!-- /bench-table -->" + after)
    results = tmp_path / "RESULTS.md"
    fig_json = tmp_path / "figures.json"
    # quick mode writes nothing unless asked
    code = run_all.main(["--quick", "--only", "store,nosuch", "--results", str(results),
                         "--readme", str(readme), "--json", str(fig_json)])
    assert code == 0 and not results.exists()
    assert "old table" in readme.read_text()
    code = run_all.main(["--quick", "--write", "--only", "store", "--results", str(results),
                         "--readme", str(readme)])
    assert code == 0
    text = results.read_text()
    m = run_all.machine()
    for needle in (m["cpu"], f"| Cores | {m['cores']} |", m["python"], "commit ",
                   "Store: median ms per appended conversation", "first 1,000"):
        assert needle in text, needle
    new = readme.read_text()
    assert new.startswith(before + "<!-- bench-table -->\n") and new.endswith(
        "<!-- /bench-table -->" + after)
    assert "old table" not in new and "bench/RESULTS.md" in new and "| **" in new


def test_run_all_records_a_failing_benchmark_and_goes_on(tmp_path, monkeypatch):
    """A benchmark that is missing or raises is a row saying so, never a crash of the rest."""
    broken = run_all.Bench("store", ["--no-such-flag"], run_all.figures_store)
    missing = run_all.Bench("nosuch", [], run_all.figures_store)
    monkeypatch.setattr(run_all, "BENCHES", [missing, broken])
    results = tmp_path / "RESULTS.md"
    readme = tmp_path / "README.md"
    readme.write_text("x\n")
    code = run_all.main(["--quick", "--write", "--results", str(results), "--readme", str(readme)])
    assert code == 1
    text = results.read_text()
    assert "bench_nosuch | **failed**" in text and "does not exist" in text
    assert "bench_store | **failed**" in text and "exited with 2" in text
    assert readme.read_text() == "x\n"  # no markers: left alone
