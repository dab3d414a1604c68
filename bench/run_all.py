"""Run every benchmark and write bench/RESULTS.md (and the README's short table).

    python bench/run_all.py                  # full: rewrites bench/RESULTS.md and README's table
    python bench/run_all.py --quick          # quick mode of each; writes nothing ...
    python bench/run_all.py --quick --write  # ... unless asked
    python bench/run_all.py --only store,engine

Each figure is a ratio against a baseline measured in the same run, on the same machine:
  engine      conversations/s and client CPU through the full engine, streamed and not, vs bare
              AsyncOpenAI loops (streamed and not) and Curator
  store       ms per stored conversation for the last 1,000 of 100,000 vs the first 1,000
  export      export (validated as it writes) vs raw tiktoken batch encoding; peak RSS
  local       embedded model tokens/s through chatsynth vs llama-cpp-python called directly
  quality     embedded model, Eve with and without its example and sampling values: right shape, passing
  tui         key latency p50/p95 while 64 conversations stream, and time to first screen;
              Review, Trim and Export on a run of 100,000 vs a bare DataTable of the same rows
  judge       conversations judged/s at 16 in flight through chatsynth's judge vs a bare
              AsyncOpenAI loop sending the same requests (json.loads of each answer)

Every benchmark is a module ``bench/bench_<name>.py`` with ``main(argv)``; its figures are
taken from the dict it returns (or, when it returns something else, from the last JSON object
it prints).  A benchmark that is missing or fails is recorded as such; the others still run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import importlib.util
import io
import json
import math
import os
import platform
import re
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "RESULTS.md"
README = ROOT / "README.md"
MARK_OPEN, MARK_CLOSE = "<!-- bench-table -->", "<!-- /bench-table -->"


@dataclass
class Figure:
    key: str  # stable name, e.g. "engine.ratio"
    what: str  # what was measured
    value: str  # the measurement, with its unit
    baseline: str  # the same-run baseline, with its unit
    ratio: float | None
    reading: str  # how to read the ratio (which way is good, the target)


@dataclass
class Outcome:
    name: str
    ok: bool
    seconds: float
    raw: Any = None
    figures: list[Figure] = field(default_factory=list)
    error: str = ""


# -- machine -----------------------------------------------------------------------------------

def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        m = re.search(r"MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text())
        if m:
            mem = f"{int(m.group(1)) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    osname = f"{platform.system()} {platform.release()}"
    try:
        m = re.search(r'^PRETTY_NAME="?([^"\n]+)', Path("/etc/os-release").read_text(), re.M)
        if m:
            osname = f"{m.group(1)} (kernel {platform.release()})"
    except OSError:
        pass
    return {"cpu": cpu, "cores": str(os.cpu_count()), "memory": mem, "os": osname,
            "python": platform.python_version()}


def git_commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (sha or "unknown") + (" (with uncommitted changes)" if dirty else "")


def short_machine(m: dict[str, str]) -> str:
    cpu = re.sub(r"\((R|TM)\)|CPU|Processor", "", m["cpu"])
    cpu = re.sub(r"\s+", " ", cpu).strip()
    return f"{cpu}, {m['cores']} cores, {m['memory']}"


# -- running one benchmark -----------------------------------------------------------------------

class _Tee(io.TextIOBase):
    def __init__(self, *outs: Any) -> None:
        self.outs = outs

    def write(self, s: str) -> int:
        for o in self.outs:
            o.write(s)
        return len(s)

    def flush(self) -> None:
        for o in self.outs:
            o.flush()


def _last_json(text: str) -> Any:
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    # a pretty-printed object at the end
    i = text.rfind("\n{")
    if i >= 0 or text.lstrip().startswith("{"):
        try:
            return json.loads(text[i + 1:] if i >= 0 else text)
        except ValueError:
            pass
    return None


def run_bench(name: str, argv: list[str], echo: bool = True) -> tuple[Any, float]:
    """Import bench/bench_<name>.py and call its main(argv).  Returns (result, seconds)."""
    path = BENCH / f"bench_{name}.py"
    if not path.is_file():
        raise FileNotFoundError(f"{path.relative_to(ROOT)} does not exist (yet)")
    for p in (str(ROOT), str(BENCH)):
        if p not in sys.path:
            sys.path.insert(0, p)
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    if not hasattr(module, "main"):
        raise AttributeError(f"{path.relative_to(ROOT)} has no main(argv)")
    buf = io.StringIO()
    out = _Tee(buf, sys.stdout) if echo else buf
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out):
        try:
            result = module.main(argv)
        except SystemExit as exc:  # argparse or an explicit exit
            if exc.code not in (0, None):
                raise RuntimeError(f"bench_{name} exited with {exc.code}") from None
            result = None
    dt = time.perf_counter() - t0
    if not isinstance(result, dict):
        parsed = _last_json(buf.getvalue())
        if isinstance(parsed, dict):
            result = parsed
    if not isinstance(result, dict):
        raise ValueError(f"bench_{name}.main returned {type(result).__name__} and printed no "
                         "JSON object with its figures")
    return result, dt


# -- figures per benchmark ---------------------------------------------------------------------

def _num(d: dict[str, Any], *keys: str) -> float | None:
    for k in keys:
        v = d.get(k)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
    return None


def figures_store(r: dict[str, Any]) -> list[Figure]:
    n = int(r.get("conversations", 0))
    first, last = _num(r, "first_1000_ms_per_conv"), _num(r, "last_1000_ms_per_conv")
    ratio = _num(r, "ratio_last_over_first")
    if ratio is None and first and last:
        ratio = last / first
    return [Figure("store.ratio", f"Store: median ms per appended conversation, last 1,000 of {n:,}",
                   f"{last:.4f} ms" if last is not None else "?",
                   f"first 1,000: {first:.4f} ms" if first is not None else "?", ratio,
                   "~1 = O(1) per conversation")]


def figures_batch(r: dict[str, Any]) -> list[Figure]:
    small = r.get("small") if isinstance(r.get("small"), dict) else {}
    large = r.get("large") if isinstance(r.get("large"), dict) else {}
    s_ms, l_ms = _num(small, "ms_per_1000"), _num(large, "ms_per_1000")
    n = int(large.get("items", 0))
    coll, bare = _num(large, "collect_s"), _num(large, "bare_json_s")
    return [
        Figure("batch.ratio", f"Batch prepare + collect: ms per 1,000 items at {n:,}",
               f"{l_ms:.0f} ms" if l_ms is not None else "?",
               f"at 1,000: {s_ms:.0f} ms" if s_ms is not None else "?",
               _num(r, "ratio_large_over_small"), "~1 = O(1) per item"),
        Figure("batch.collect", f"Batch collect of {n:,} answers from disk",
               f"{coll:.2f} s" if coll is not None else "?",
               f"json.loads of each line: {bare:.2f} s" if bare is not None else "?",
               _num(r, "collect_over_bare_json"),
               "lower is better: trimming, turn parsing and the store append per line"),
    ]


def figures_engine(r: dict[str, Any]) -> list[Figure]:
    rows = r.get("results") if isinstance(r.get("results"), list) else [r]
    out = []
    for row in rows:
        if not isinstance(row, dict):
            continue
        pace = row.get("chunk_delay_s")
        pacing = "unpaced" if not pace else f"{pace * 1000:g} ms/chunk"
        e, b = _num(row, "engine_conv_per_s"), _num(row, "bare_conv_per_s")
        ratio = _num(row, "ratio")
        if ratio is None and e and b:
            ratio = e / b
        out.append(Figure(
            f"engine.ratio.{pacing}",
            f"Engine: conversations/s through the full engine ({pacing} stream, "
            f"{row.get('concurrency', '?')} in flight, {row.get('conversations', '?')} a round)",
            f"{e:.1f} conv/s" if e is not None else "?",
            f"bare AsyncOpenAI loop: {b:.1f} conv/s" if b is not None else "?", ratio,
            "higher is better; target >= 0.9"))
        out.extend(_engine_peers(row, pacing))
    rp = r.get("roleplay")
    if isinstance(rp, dict) and _num(rp, "ratio") is not None:
        out.append(Figure(
            "engine.roleplay", f"Engine: role-play turns/s (a streamed request per turn, unpaced, "
            f"{rp.get('concurrency', '?')} conversations in flight)",
            f"{rp['engine_turns_per_s']:.1f} turns/s",
            f"bare AsyncOpenAI turn-by-turn loop: {rp['bare_turns_per_s']:.1f} turns/s",
            _num(rp, "ratio"), "higher is better"))
    return out


def _engine_peers(row: dict[str, Any], pacing: str) -> list[Figure]:
    """Issue 15's comparisons: the engine streamed and not against the bare NON-streaming
    loop and Curator, and the client CPU a streamed conversation costs."""
    out = []
    conc, n = row.get("concurrency", "?"), row.get("conversations", "?")
    bw = _num(row, "bare_whole_conv_per_s")
    cases = [("engine_conv_per_s", "stream_vs_bare_whole", "streaming", ">= 0.6 unpaced"),
             ("engine_whole_conv_per_s", "whole_vs_bare_whole", "not streaming", ">= 0.9")]
    for key, rkey, how, target in cases:
        v, r = _num(row, key), _num(row, rkey)
        if v is None or bw is None:
            continue
        out.append(Figure(f"engine.{rkey}.{pacing}",
                          f"Engine {how} ({pacing}, {conc} in flight, {n} a round)",
                          f"{v:.1f} conv/s", f"bare AsyncOpenAI loop, no stream: {bw:.1f} conv/s",
                          r, f"higher is better; target {target}"))
    c, r = _num(row, "curator_conv_per_s"), _num(row, "whole_vs_curator")
    v = _num(row, "engine_whole_conv_per_s")
    if c is not None and v is not None:
        out.append(Figure(f"engine.whole_vs_curator.{pacing}",
                          f"Engine not streaming ({pacing}, {conc} in flight, {n} a round)",
                          f"{v:.1f} conv/s", f"Curator, no stream: {c:.1f} conv/s", r,
                          "higher is better; target >= 1.0"))
    cpu, bcpu = _num(row, "engine_cpu_ms_per_conv"), _num(row, "bare_cpu_ms_per_conv")
    if cpu is not None and bcpu:
        out.append(Figure(f"engine.cpu.{pacing}",
                          f"Engine: client CPU per streamed conversation ({pacing})",
                          f"{cpu:.2f} ms", f"bare AsyncOpenAI streaming loop: {bcpu:.2f} ms",
                          cpu / bcpu, "lower is better; target <= 5 ms"))
    return out


def figures_judge(r: dict[str, Any]) -> list[Figure]:
    c, b = _num(r, "chatsynth_conv_per_s"), _num(r, "bare_conv_per_s")
    ratio = _num(r, "ratio")
    if ratio is None and c and b:
        ratio = c / b
    return [Figure("judge.ratio", f"Judge: conversations judged/s through chatsynth's judge "
                   f"({r.get('concurrency', '?')} in flight, {r.get('conversations', '?')} a round, "
                   f"{r.get('criteria', '?')} criteria)", f"{c:.1f} conv/s" if c is not None else "?",
                   f"bare AsyncOpenAI loop + json.loads: {b:.1f} conv/s" if b is not None else "?",
                   ratio, "higher is better; target ~1")]


def figures_export(r: dict[str, Any]) -> list[Figure]:
    n = int(r.get("conversations", 0))
    ex, raw = _num(r, "export_s"), _num(r, "raw_tiktoken_batch_s")
    ratio = _num(r, "ratio_to_raw_tiktoken")
    if ratio is None and ex and raw:
        ratio = ex / raw
    out = [Figure("export.ratio",
                  f"Export, every example validated, {n:,} conversations ({r.get('format', 'chat')} "
                  f"JSONL, {r.get('examples_written', '?')} examples)",
                  f"{ex:.2f} s" if ex is not None else "?",
                  f"raw tiktoken batch encoding: {raw:.2f} s" if raw is not None else "?", ratio,
                  "time ratio: lower is better; target <= 1.2")]
    rss = _num(r, "export_peak_rss_mb")
    if rss is not None:
        out.append(Figure("export.rss", f"Export of {n:,} conversations: peak RSS (getrusage of its process + its token worker's own)",
                          f"{rss:,.0f} MB", "target: 600 MB", rss / 600,
                          "lower is better; target < 1 (under 600 MB)"))
    return out


def figures_local(r: dict[str, Any]) -> list[Figure]:
    cs, dr = _num(r, "chatsynth_tok_per_s"), _num(r, "direct_tok_per_s")
    ratio = _num(r, "ratio")
    if ratio is None and cs and dr:
        ratio = cs / dr
    return [Figure("local.ratio",
                   f"Embedded model (Gemma 3 270M): tokens/s through chatsynth, "
                   f"{r.get('prompts', '?')} prompts x <= {r.get('max_tokens', '?')} tokens",
                   f"{cs:.2f} tok/s" if cs is not None else "?",
                   f"llama-cpp-python directly: {dr:.2f} tok/s" if dr is not None else "?", ratio,
                   "higher is better; ~1 = no overhead")]


def figures_quality(r: dict[str, Any]) -> list[Figure]:
    """Shares of conversations with the right speaker labels and turn order, and passing every
    filter: the shipped Eve (example + sampling values) over the plain one.  Where the plain one
    has none, there is no ratio (shown as n/a) and the counts say so."""
    a, b = r.get("plain") or {}, r.get("shipped") or {}
    n = r.get("topics", "?")
    out = []
    for key, what in (("right_shape", "have the right speaker labels and turn order"),
                      ("pass", "pass every filter")):
        ca, cb = _num(a, key), _num(b, key)
        na, nb = _num(a, "conversations") or 0, _num(b, "conversations") or 0
        out.append(Figure(
            f"quality.{key}", f"Embedded model, Eve, {n} topics, same seed: conversations that "
            f"{what}, with its example + sampling values",
            f"{cb:.0f}/{nb:.0f}" if cb is not None else "?",
            f"Eve without them: {ca:.0f}/{na:.0f}" if ca is not None else "?",
            (cb / nb) / (ca / na) if ca and cb is not None and na and nb else None,
            "share ratio: higher is better (n/a: none without them)"))
    return out


def figures_tui(r: dict[str, Any]) -> list[Figure]:
    """bench_tui's dict plus our same-run baseline (``r["baseline"]``, see tui_baseline)."""
    base = r.get("baseline") or {}
    n = r.get("streams_target", "?")
    out = []
    for pct in ("p50", "p95"):
        busy = _num(r, f"key_latency_{pct}_ms")
        idle = _num(base, f"idle_key_latency_{pct}_ms")
        if busy is None:
            continue
        out.append(Figure(
            f"tui.key_{pct}", f"TUI: key press to effect, {pct}, while {n} conversations stream "
            f"(min {r.get('streams_writing_min', '?')} writing; {r.get('key_presses', '?')} presses)",
            f"{busy:.1f} ms",
            f"same keys, nothing streaming: {idle:.1f} ms" if idle is not None else
            f"no baseline ({r.get('baseline_error', 'not measured')})",
            busy / idle if idle else None, "latency ratio: lower is better; target p95 < 100 ms"))
    first = _num(r, "first_screen_from_launch_ms_median")
    if first is not None:
        bare = _num(r, "bare_textual_first_screen_ms_median")
        out.append(Figure(
            "tui.first_screen", "TUI: launch to first screen (fresh interpreter, imports included, "
            f"bytecode cached, median; {_num(r, 'first_screen_in_process_ms') or 0:.0f} ms of it in process)",
            f"{first:.0f} ms",
            f"bare Textual app: {bare:.0f} ms" if bare is not None else
            f"no baseline ({r.get('baseline_error', 'not measured')})",
            first / bare if bare else None, "time ratio: lower is better; target < 1000 ms"))
    return out + _figures_big_run(r.get("big_run") or {})


def _figures_big_run(b: dict[str, Any]) -> list[Figure]:
    """Review, Trim and Export opened on a big run (bench_bigrun.py, run by bench_tui): first
    paint against a bare DataTable's first paint of the same rows, and key press to effect
    (scrolling; Review's filter) against the bare DataTable's scroll, all from the same run."""
    bare = b.get("bare_datatable") or {}
    n = b.get("conversations")
    if not n or not bare:
        return []
    run = f"a run of {int(n):,} conversations"
    paint, scroll = _num(bare, "first_paint_ms"), _num(bare, "scroll_p95_ms")
    out = []
    for screen, what in (("review", "Review's first paint (its rows on screen)"),
                         ("trim", "Trim's first paint (its rows on screen)"),
                         ("export", "Export's first paint (the run picked, with its count)")):
        v = _num(b.get(screen) or {}, "first_paint_ms")
        if v is not None:
            out.append(Figure(
                f"tui.big_first_paint_{screen}", f"TUI, {run}: {what}", f"{v:.0f} ms",
                f"bare DataTable, first paint of the same rows: {paint:.0f} ms"
                if paint is not None else "?",
                v / paint if paint else None, "time ratio: lower is better; target < 1500 ms"))
    for screen, key, what in (
            ("review", "scroll_p95_ms", "Review: key press to effect, down/page down, p95"),
            ("trim", "scroll_p95_ms", "Trim: key press to effect, down/page down, p95"),
            ("review", "filter_p95_ms", "Review: verdict filter changed to its rows shown, p95")):
        f = b.get(screen) or {}
        v = _num(f, key)
        if v is not None:
            when = ("after the full load" if key == "filter_p95_ms" else
                    "while the full load runs" if f.get("scroll_while_loading") else "loaded")
            out.append(Figure(
                f"tui.big_{key.split('_')[0]}_{screen}",
                f"TUI, {run}: {what} ({when})", f"{v:.1f} ms",
                f"bare DataTable, down/page down p95: {scroll:.1f} ms" if scroll is not None else "?",
                v / scroll if scroll else None, "latency ratio: lower is better; target p95 < 100 ms"))
    return out


@dataclass
class Bench:
    name: str
    args: list[str]
    figures: Callable[[dict[str, Any]], list[Figure]]
    baseline: Callable[[bool], dict[str, Any]] | None = None  # extra same-run baseline, ours


# -- TUI baselines (bench_tui.py measures chatsynth; these are the same-run floors) -------------


def tui_baseline(quick: bool) -> dict[str, Any]:
    """Same run, same machine: key latency in chatsynth's Synthesize table with the same key
    presses and the same effect (cursor on the next conversation and the chat view showing
    it) once every conversation has finished: the same work with nothing streaming.  (The
    launch baseline, a bare Textual app, is launched by bench_tui in turn with chatsynth.)"""
    import asyncio
    import tempfile

    mod = sys.modules.get("bench_tui")
    if mod is None:
        raise RuntimeError("bench_tui is not loaded")
    out: dict[str, Any] = {}  # the bare Textual launches are bench_tui's, interleaved with ours
    from synth.library.workspace import init_workspace
    from tui.testing import use_endpoint

    n, presses = 64, (30 if quick else 200)
    proc, url = mod.start_server(0.0, turns=12, words=25)
    try:
        with tempfile.TemporaryDirectory(prefix="chatsynth-bench-tui-idle-") as tmp:
            ws, _ = init_workspace(Path(tmp) / "ws")
            use_endpoint(ws, url)
            lat = asyncio.run(_idle_key_latency(ws, n, presses))
    finally:
        proc.kill()
        proc.wait()
    out.update({"idle_rows": n, "idle_key_presses": len(lat),
                "idle_key_latency_p50_ms": mod.pct(lat, 0.50),
                "idle_key_latency_p95_ms": mod.pct(lat, 0.95)})
    return out


async def _idle_key_latency(ws: Any, n: int, presses: int) -> list[float]:
    import asyncio

    from textual import events

    from tui.app import ChatsynthApp
    from tui.testing import wait_for

    app = ChatsynthApp(ws, blink=False, first_run=False, start="synthesize")
    lat: list[float] = []
    async with app.run_test(size=(160, 48)) as pilot:
        scr = app.screen
        scr.query_one("#rf-limit").value = str(n)
        scr.query_one("#rf-concurrency").value = "16"
        await pilot.press("f5")
        await wait_for(pilot, lambda: scr.live is not None and scr.live.state == "finished", 120)
        await pilot.pause(0.3)
        table = scr.query_one("#conv-table")
        table.focus()
        scr.follow = False
        await pilot.pause()
        chat = scr.query_one("#live-chat")
        for i in range(presses):
            key = "down" if (i // 10) % 2 == 0 else "up"
            want_row = table.cursor_row + (1 if key == "down" else -1)
            if want_row < 0 or want_row >= table.row_count:
                continue
            want_id = table.coordinate_to_cell_key((want_row, 0)).row_key.value
            want_topic = scr.live.convs[want_id].topic
            ev = events.Key(key, None)
            ev.set_sender(app)
            t = time.perf_counter()
            app._driver.send_message(ev)
            while not (table.cursor_row == want_row and chat._header.startswith(want_topic)):
                await asyncio.sleep(0.0005)
                if time.perf_counter() - t > 5:
                    raise RuntimeError(f"idle key {key} had no effect in 5 s")
            lat.append((time.perf_counter() - t) * 1000)
            await asyncio.sleep(0.02)
    return lat


BENCHES = [
    Bench("store", [], figures_store),
    Bench("engine", ["--json"], figures_engine),
    Bench("export", [], figures_export),
    Bench("local", [], figures_local),
    Bench("quality", [], figures_quality),
    Bench("tui", ["--json"], figures_tui, tui_baseline),
    Bench("batch", [], figures_batch),
    Bench("judge", [], figures_judge),
]


def run_all(quick: bool, only: set[str] | None = None, echo: bool = True) -> list[Outcome]:
    outcomes = []
    for b in BENCHES:
        if only and b.name not in only:
            continue
        argv = list(b.args) + (["--quick"] if quick else [])
        print(f"== bench_{b.name} {' '.join(argv)}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        try:
            raw, dt = run_bench(b.name, argv, echo=echo)
            if b.baseline is not None:
                try:
                    raw = {**raw, "baseline": b.baseline(quick)}
                except Exception as exc:  # noqa: BLE001 - the figure stays, without its ratio
                    raw = {**raw, "baseline_error": f"{type(exc).__name__}: {exc}"}
                dt = time.perf_counter() - t0
            figs = b.figures(raw)
            if not figs:
                raise ValueError(f"no figures found in bench_{b.name}'s result: {sorted(raw)}")
            outcomes.append(Outcome(b.name, True, dt, raw, figs))
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - recorded, the others still run
            tb = traceback.format_exc(limit=6)
            outcomes.append(Outcome(b.name, False, time.perf_counter() - t0,
                                    error=f"{type(exc).__name__}: {exc}", raw=tb))
        o = outcomes[-1]
        status = "ok" if o.ok else f"FAILED: {o.error}"
        print(f"== bench_{b.name}: {status} ({o.seconds:.1f}s)", file=sys.stderr, flush=True)
    return outcomes


# -- writing -----------------------------------------------------------------------------------

def _ratio(r: float | None) -> str:
    if r is None or not math.isfinite(r):
        return "n/a"
    return f"{r:.3g}"


def _cell(s: str) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def render_results(outcomes: list[Outcome], info: dict[str, Any]) -> str:
    m = info["machine"]
    lines = [
        "# Benchmark results",
        "",
        f"Written by `{info['command']}` on {info['date']} (commit {info['commit']}); "
        f"{'quick mode' if info['quick'] else 'full run'}, {info['elapsed']:.0f} s in all. "
        "Every ratio compares two things measured in this same run on this machine.",
        "",
        "| Machine | |",
        "|---|---|",
        f"| CPU | {m['cpu']} |",
        f"| Cores | {m['cores']} |",
        f"| Memory | {m['memory']} |",
        f"| OS | {m['os']} |",
        f"| Python | {m['python']} |",
        f"| Load average (1 min) at start / end | {info['load_start']:.2f} / {info['load_end']:.2f} |",
        "",
        "## Figures",
        "",
        "| What was measured | Measured | Baseline (same run) | Ratio | How to read it |",
        "|---|---|---|---|---|",
    ]
    for o in outcomes:
        for f in o.figures:
            lines.append(f"| {_cell(f.what)} | {_cell(f.value)} | {_cell(f.baseline)} | "
                         f"**{_ratio(f.ratio)}** | {_cell(f.reading)} |")
        if not o.ok:
            lines.append(f"| bench_{o.name} | **failed** | | n/a | {_cell(o.error)[:200]} |")
    lines += ["", "## Each benchmark", ""]
    for o in outcomes:
        lines.append(f"### bench_{o.name} ({'ok' if o.ok else 'FAILED'}, {o.seconds:.1f} s)")
        lines.append("")
        if o.ok:
            lines += ["```json", json.dumps(o.raw, indent=1, default=str), "```", ""]
        else:
            lines += [f"Failed: {o.error}", "", "```", str(o.raw).rstrip(), "```", ""]
    lines += [
        "## How they are measured",
        "",
        "- **engine** (`bench/bench_engine.py`): the fault server's well-behaved fast stream in "
        "its own process; the same number of conversations at the same concurrency through a bare "
        "`AsyncOpenAI` streaming loop and through the full engine (prompt rendering, stop search, "
        "events, trimming, turn parsing, filters, an fsync'd store append); best round of several. "
        "The same again without streams (a whole answer comes after the time its stream would "
        "have taken), and Curator (bespokelabs-curator, in a venv of its own, skipped with a note "
        "when it can't be installed) on the same server; client CPU is `time.process_time()` "
        "per conversation in the client's process, the median round's.",
        "- **judge** (`bench/bench_judge.py`): the fault server (its own process) answers "
        "chatsynth's judge requests with valid JSON verdicts; the shipped Eve's rubric, distinct "
        "8-turn conversations (no cache hits), 16 in flight, through `synth.curate.judging.Judge` "
        "and through a bare `AsyncOpenAI` loop sending the same requests (made beforehand) and "
        "reading each with `json.loads`; the sides take turns, best round of each.",
        "- **store** (`bench/bench_store.py`): per-conversation append time (median of each "
        "window; the means are in the JSON) of the first and the last 1,000 conversations of one "
        "run's log.",
        "- **export** (`bench/bench_export.py`): export (every example built, checked, counted "
        "once and written as it goes) in a process of its own, against raw `tiktoken` batch "
        "encoding of the same texts; its peak RSS is `resource.getrusage`'s ru_maxrss of that "
        "process, forked from a fresh interpreter (Linux keeps ru_maxrss across fork and exec, "
        "so an interpreter the bench starts reports the bench's own peak; a fork starts afresh), "
        "plus the high-water mark (VmHWM) of the token counting process it starts. "
        "`validate` of the "
        "written files is timed too and shown in the JSON (`validate_ratio_to_raw_tiktoken`).",
        "- **local** (`bench/bench_local.py`): the embedded Gemma 3 270M through chatsynth's "
        "engine and its llama.cpp server vs `llama_cpp.Llama.create_completion(stream=True)` in "
        "process: same GGUF file, prompts, temperature 0, seed, max_tokens, stop sequences and "
        "sampler defaults; tokens counted with the model's tokenizer on both sides; the sides "
        "take turns, each prompt 5 rounds a side (who goes first alternating by round and by "
        "prompt), each side's best round per prompt kept.",
        "- **tui** (`bench/bench_tui.py`): key press to effect (table cursor on the next "
        "conversation and the chat view showing it) while 64 conversations stream, and launch "
        "to first screen from a fresh interpreter (after one untimed launch that writes the "
        "bytecode cache, as any launch after a user's first finds it), median of 15 a side, "
        "the two taking turns, who goes first turning round each round. Baselines: "
        "the same key presses in the same table once every conversation has finished (nothing "
        "streaming; run_all.py, same run), and a bare Textual app (header, table, footer) "
        "launched the same way, taking turns with chatsynth's launches.",
        "",
        "On a shared machine, the load average above says how much else was running; the "
        "ratios are more stable than the absolute figures because both sides of each ran "
        "under the same conditions.",
        "",
    ]
    return "\n".join(lines)


def render_readme_table(outcomes: list[Outcome], info: dict[str, Any]) -> str:
    rows = ["| Measured | Ratio | vs |", "|---|---|---|"]
    for o in outcomes:
        for f in o.figures:
            rows.append(f"| {_cell(f.what)}: {_cell(f.value)} | **{_ratio(f.ratio)}** | "
                        f"{_cell(f.baseline)} |")
        if not o.ok:
            rows.append(f"| bench_{o.name} | failed | see bench/RESULTS.md |")
    when = info["date"].split(" ")[0]
    rows += ["", f"Measured on {short_machine(info['machine'])}, Python {info['machine']['python']}, "
             f"{when}, commit {info['commit'].split(' ')[0]}. Details and how each is measured: "
             "[bench/RESULTS.md](bench/RESULTS.md)."]
    return "\n".join(rows)


def replace_marked(text: str, body: str) -> str | None:
    i, j = text.find(MARK_OPEN), text.find(MARK_CLOSE)
    if i < 0 or j < 0 or j < i:
        return None
    return text[: i + len(MARK_OPEN)] + "\n" + body + "\n" + text[j:]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--quick", action="store_true", help="each benchmark's quick mode")
    ap.add_argument("--write", action="store_true",
                    help="with --quick: write RESULTS.md and README's table anyway")
    ap.add_argument("--only", help="comma-separated benchmark names (store,engine,export,local,tui)")
    ap.add_argument("--results", type=Path, default=RESULTS, help="where to write the results")
    ap.add_argument("--readme", type=Path, default=README, help="README whose table to rewrite")
    ap.add_argument("--json", type=Path, help="also write every figure as JSON here")
    a = ap.parse_args(argv)
    only = {s.strip() for s in a.only.split(",")} if a.only else None
    t0 = time.perf_counter()
    load_start = os.getloadavg()[0]
    commit = git_commit()  # what the run measured: the tree as it was when it started
    outcomes = run_all(a.quick, only)
    info = {
        "machine": machine(), "commit": commit, "quick": a.quick,
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "elapsed": time.perf_counter() - t0, "load_start": load_start,
        "load_end": os.getloadavg()[0],
        "command": "python bench/run_all.py" + (" --quick" if a.quick else "")
        + (f" --only {a.only}" if a.only else ""),
    }
    print("\n" + render_readme_table(outcomes, info))
    if a.json:
        a.json.write_text(json.dumps({
            "info": info, "benches": [{"name": o.name, "ok": o.ok, "seconds": o.seconds,
                                       "error": o.error, "raw": o.raw if o.ok else None,
                                       "figures": [f.__dict__ for f in o.figures]}
                                      for o in outcomes]}, indent=1, default=str))
    if not a.quick or a.write:
        a.results.write_text(render_results(outcomes, info), encoding="utf-8")
        print(f"wrote {a.results}", file=sys.stderr)
        try:
            text = a.readme.read_text(encoding="utf-8")
        except OSError as exc:
            print(f"README not updated: {exc}", file=sys.stderr)
        else:
            new = replace_marked(text, render_readme_table(outcomes, info))
            if new is None:
                print(f"README not updated: no {MARK_OPEN} ... {MARK_CLOSE} markers in {a.readme}",
                      file=sys.stderr)
            elif new != text:
                a.readme.write_text(new, encoding="utf-8")
                print(f"rewrote the table in {a.readme}", file=sys.stderr)
    else:
        print("quick mode: bench/RESULTS.md left as it is (add --write to write it)", file=sys.stderr)
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
