"""Engine overhead: conversations/s and client CPU per conversation through the full engine,
streamed and not, against bare AsyncOpenAI loops (streamed and not) and Curator.

Every side asks the fault server (run as a separate process, so it does not share this
process's interpreter lock) for the same well-behaved transcripts at the same concurrency.  The
engine side does everything a real run does: prompt rendering, client-side stop search, event
stream (chunks merged for a screen when streaming, progress coalesced), trimming, turn parsing,
and an fsync'd append to the store per conversation.  A non-streamed answer comes after the
time its stream would have taken, so paced figures compare like with like.  Curator
(bespokelabs-curator, chat completions, no stream) runs in a venv of its own that this script
makes on first use; when it can't be installed it is skipped with a note.

Role-play (``bench/roleplay_side.py``): turns per second through the engine writing role-play
conversations (a streamed request per turn) against a bare AsyncOpenAI loop making the same
turn-by-turn requests.

Targets (issue 15): unpaced, the engine streaming >= 0.6x the bare NON-streaming loop with at
most 5 ms of client CPU per conversation; the engine not streaming >= 0.9x the bare
non-streaming loop and >= 1.0x Curator.

    python bench/bench_engine.py            # full: 2 pacings, 300 conversations a round, best round
    python bench/bench_engine.py --quick    # a few seconds, for a test (no Curator)
    python bench/bench_engine.py --json     # one JSON object on stdout as well
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import openai  # noqa: E402

from synth.generate.endpoints import Endpoint  # noqa: E402
from synth.generate.engine import Engine, EngineOptions  # noqa: E402
from synth.generate.events import ConversationFinished, RunFinished  # noqa: E402
from synth.generate.prompts import render  # noqa: E402
from synth.dataset.store import Store  # noqa: E402
from tests.faultserver import make_spec  # noqa: E402


def start_server(chunk_delay: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "faultserver.py"), "--port", "0",
                             "--chunk-delay", str(chunk_delay), "--no-record"],
                            stdout=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        proc.kill()
        raise SystemExit(f"fault server did not start: {url!r}")
    return proc, url


async def bare(url: str, n: int, conc: int, tag: str, stream: bool = True) -> float:
    """The floor: n completions at `conc` in flight through a bare AsyncOpenAI loop, keeping
    the text and nothing else; streamed (the SDK's chunk objects) or whole answers."""
    spec = make_spec(n, tag=tag)
    prompts = [render(spec.persona, t).text for t in spec.topics.topics]
    client = openai.AsyncOpenAI(api_key="x", base_url=url, max_retries=0)
    sem = asyncio.Semaphore(conc)
    texts: list[str] = []

    async def one(prompt: str) -> None:
        async with sem:
            if not stream:
                r = await client.completions.create(
                    model="fault-model", prompt=prompt, max_tokens=spec.max_tokens,
                    temperature=spec.temperature, stop=spec.stop)
                texts.append(r.choices[0].text)
                return
            stream_ = await client.completions.create(
                model="fault-model", prompt=prompt, max_tokens=spec.max_tokens, stream=True,
                temperature=spec.temperature, stop=spec.stop,
                stream_options={"include_usage": True})
            parts = []
            async for chunk in stream_:
                if chunk.choices and chunk.choices[0].text:
                    parts.append(chunk.choices[0].text)
            texts.append("".join(parts))

    t0 = time.perf_counter()
    await asyncio.gather(*(one(p) for p in prompts))
    dt = time.perf_counter() - t0
    await client.close()
    assert len(texts) == n and all(texts)
    return n / dt


async def engine(url: str, n: int, conc: int, tag: str, runs_dir: Path,
                 stream: bool = True) -> float:
    spec = make_spec(n, tag=tag, concurrency=conc)
    ep = Endpoint(name="fault", base_url=url, model="fault-model", style="completion",
                  timeout=30)
    # as the app runs it when streaming (chunks for the screen), as `run --no-stream` does not
    eng = Engine(Store(runs_dir), ep, options=EngineOptions(stream=stream, emit_chunks=stream))
    done = 0
    chunks = 0
    t0 = time.perf_counter()
    async for ev in eng.run(spec):
        if isinstance(ev, ConversationFinished):
            done += 1
        elif isinstance(ev, RunFinished):
            fin = ev
        else:
            chunks += 1
    dt = time.perf_counter() - t0
    await ep.aclose()
    assert done == n and fin.done == n, (done, fin)
    return n / dt


def server_cpu(pid: int) -> float:
    """Seconds of CPU the fault server's process has used (0 where /proc can't tell)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def timed(fn, pid: int) -> tuple[float, float, float]:
    """(conversations/s, client CPU ms per conversation, server CPU ms per conversation) of
    one side: the client's in this process (every thread: the store's included), the
    fault server's in its own (what a stream costs the server shows here)."""
    c0, s0 = time.process_time(), server_cpu(pid)
    rate, n = fn()
    return rate, (time.process_time() - c0) * 1000 / n, (server_cpu(pid) - s0) * 1000 / n


SIDES = ("bare", "bare_whole", "engine", "engine_whole")

# -- Curator (bespokelabs-curator), an optional peer in a venv of its own ----------------------
CURATOR_PKG = "bespokelabs-curator"
CURATOR_SCRIPT = ROOT / "bench" / "curator_side.py"


def curator_venv() -> tuple[Path | None, str]:
    """The Python of a venv holding Curator (made and filled on first use), or None and why.
    Kept out of chatsynth's venv (Curator pulls in litellm, datasets and more); the folder is
    $CHATSYNTH_BENCH_CACHE/curator, by default ~/.cache/chatsynth-bench/curator."""
    base = Path(os.environ.get("CHATSYNTH_BENCH_CACHE")
                or Path.home() / ".cache" / "chatsynth-bench") / "curator"
    py = base / "bin" / "python"
    ok = subprocess.run([str(py), "-c", "import bespokelabs.curator"], capture_output=True) \
        if py.exists() else None
    if ok is not None and ok.returncode == 0:
        return py, ""
    print(f"installing {CURATOR_PKG} into {base} (once)...", file=sys.stderr, flush=True)
    try:
        if not py.exists():
            subprocess.run([sys.executable, "-m", "venv", str(base)], check=True,
                           capture_output=True, timeout=300)
        r = subprocess.run([str(py), "-m", "pip", "install", "-q", CURATOR_PKG],
                           capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"skipped: could not make its venv ({type(exc).__name__})"
    if r.returncode != 0:
        tail = (r.stderr.strip().splitlines() or ["?"])[-1][:200]
        return None, f"skipped: {CURATOR_PKG} could not be installed ({tail})"
    return py, ""


def curator_run(py: Path, url: str, n: int, conc: int, tag: str
                ) -> tuple[tuple[float, float] | None, str]:
    """((conv/s, CPU ms per conversation), "") measured inside Curator's process, or (None,
    why).  The same prompts, max_tokens, temperature and stops as the other sides."""
    spec = make_spec(n, tag=tag)
    job = {"url": url, "concurrency": conc, "max_tokens": spec.max_tokens,
           "temperature": spec.temperature, "stop": spec.stop,
           "prompts": [render(spec.persona, t).text for t in spec.topics.topics]}
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "CURATOR_CACHE_DIR": tmp, "CURATOR_DISABLE_CACHE": "true",
               "TELEMETRY_ENABLED": "false", "CURATOR_DISABLE_RICH_DISPLAY": "1",
               "OPENAI_API_KEY": "x"}
        env.pop("PYTHONPATH", None)
        try:
            r = subprocess.run([str(py), str(CURATOR_SCRIPT)], input=json.dumps(job),
                               capture_output=True, text=True, timeout=600, env=env, cwd=tmp)
        except subprocess.TimeoutExpired:
            return None, "skipped: Curator did not finish in 600 s"
    try:
        out = json.loads(r.stdout.strip().splitlines()[-1])
        return (out["conv_per_s"], out["cpu_ms_per_conv"]), ""
    except (IndexError, ValueError, KeyError):
        tail = (r.stderr.strip().splitlines() or ["?"])[-1][:200]
        return None, f"skipped: Curator failed ({tail})"


def measure(chunk_delay: float, n: int, conc: int, rounds: int,
            curator: Path | None = None) -> dict:
    proc, url = start_server(chunk_delay)
    got: dict[str, list[tuple[float, float]]] = {k: [] for k in SIDES + ("curator",)}
    note = ""
    try:
        with tempfile.TemporaryDirectory() as tmp:
            # warm-up (imports, first connections, the store's catalog), not measured
            asyncio.run(bare(url, 10, conc, f"wb{chunk_delay}"))
            asyncio.run(bare(url, 10, conc, f"wbw{chunk_delay}", stream=False))
            asyncio.run(engine(url, 10, conc, f"we{chunk_delay}", Path(tmp) / "warm"))
            asyncio.run(engine(url, 10, conc, f"wew{chunk_delay}", Path(tmp) / "warmw", False))
            if curator is not None:
                note = curator_run(curator, url, 10, conc, f"wc{chunk_delay}")[1]
                if note:
                    curator = None
            for r in range(rounds):  # each round in another order, so drift hits all alike
                t = f"{chunk_delay}-{r}"
                sides = {
                    "bare": lambda: (asyncio.run(bare(url, n, conc, f"b{t}")), n),
                    "bare_whole": lambda: (asyncio.run(bare(url, n, conc, f"bw{t}", False)), n),
                    "engine": lambda: (asyncio.run(engine(url, n, conc, f"e{t}",
                                                          Path(tmp) / f"e{r}")), n),
                    "engine_whole": lambda: (asyncio.run(engine(url, n, conc, f"ew{t}",
                                                                Path(tmp) / f"ew{r}", False)), n),
                }
                order = list(sides)
                order = order[r % len(order):] + order[:r % len(order)]
                if r % 2:
                    order.reverse()
                for k in order:
                    got[k].append(timed(sides[k], proc.pid))
                if curator is not None:
                    s0 = server_cpu(proc.pid)  # Curator's own start is spent client-side
                    res, why = curator_run(curator, url, n, conc, f"c{t}")
                    if res is None:
                        note, curator = why, None
                    else:
                        got["curator"].append((*res, (server_cpu(proc.pid) - s0) * 1000 / n))
    finally:
        proc.kill()
        proc.wait()
    # best of the rounds: on a shared machine the best round is the one least disturbed; the
    # CPU figure is the median round's
    out: dict = {"chunk_delay_s": chunk_delay, "conversations": n, "concurrency": conc,
                 "rounds": rounds}
    for k, vals in got.items():
        if not vals:
            continue
        out[f"{k}_conv_per_s"] = round(max(v[0] for v in vals), 2)
        out[f"{k}_median"] = round(statistics.median(v[0] for v in vals), 2)
        out[f"{k}_cpu_ms_per_conv"] = round(statistics.median(v[1] for v in vals), 2)
        if len(vals[0]) > 2:
            out[f"{k}_server_cpu_ms_per_conv"] = round(statistics.median(v[2] for v in vals), 2)
    e, b, bw = out["engine_conv_per_s"], out["bare_conv_per_s"], out["bare_whole_conv_per_s"]
    out["ratio"] = round(e / b, 3)  # streamed engine / streamed bare loop, as before
    out["stream_vs_bare_whole"] = round(e / bw, 3)  # target >= 0.6 unpaced
    out["whole_vs_bare_whole"] = round(out["engine_whole_conv_per_s"] / bw, 3)  # >= 0.9
    if "curator_conv_per_s" in out:
        out["whole_vs_curator"] = round(out["engine_whole_conv_per_s"]
                                        / out["curator_conv_per_s"], 3)  # >= 1.0
    elif note:
        out["curator_note"] = note
    return out


def measure_rp(n: int, conc: int, rounds: int) -> dict:
    """The role-play line (bench/roleplay_side.py), unpaced, on a fault server of its own."""
    from roleplay_side import measure_roleplay

    proc, url = start_server(0.0)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            return measure_roleplay(url, n, conc, rounds, Path(tmp))
    finally:
        proc.kill()
        proc.wait()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--quick", action="store_true", help="small and fast (for tests)")
    ap.add_argument("--json", action="store_true", help="also print one JSON object")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--no-curator", action="store_true", help="leave Curator out")
    a = ap.parse_args(argv)
    if a.quick:
        cases = [(0.0, 40, 8, 1)]
    else:
        cases = [(0.0, 300, a.concurrency, 5), (0.005, 300, a.concurrency, 3)]
    curator, note = (None, "left out (--quick or --no-curator)") if a.quick or a.no_curator \
        else curator_venv()
    results = [measure(*c, curator=curator) for c in cases]
    roleplay = measure_rp(*((20, 8, 1) if a.quick else (100, a.concurrency, 3)))
    print(f"engine overhead (fault server fast mode, {os.cpu_count()} CPUs, "
          f"python {sys.version.split()[0]})")
    print(f"{'pacing':>14} {'n':>5} {'conc':>5} {'rounds':>6}  {'client':<22} {'conv/s':>8} "
          f"{'median':>8} {'CPU ms/conv':>12} {'server CPU':>11}")
    names = {"bare": "bare loop, stream", "bare_whole": "bare loop, no stream",
             "engine": "engine, stream", "engine_whole": "engine, no stream",
             "curator": "Curator, no stream"}
    for r in results:
        pacing = "none" if not r["chunk_delay_s"] else f"{r['chunk_delay_s'] * 1000:.0f} ms/chunk"
        for k, name in names.items():
            if f"{k}_conv_per_s" not in r:
                continue
            print(f"{pacing:>14} {r['conversations']:>5} {r['concurrency']:>5} {r['rounds']:>6}  "
                  f"{name:<22} {r[f'{k}_conv_per_s']:>8.1f} {r[f'{k}_median']:>8.1f} "
                  f"{r[f'{k}_cpu_ms_per_conv']:>12.2f} "
                  f"{r.get(f'{k}_server_cpu_ms_per_conv', float('nan')):>11.2f}")
        print(f"{'':>14} engine conv/s: {r['engine_conv_per_s']:.1f} streamed, "
              f"{r['engine_whole_conv_per_s']:.1f} not")
        line = (f"{'':>14} ratios: engine/bare streamed {r['ratio']:.2f}; engine streamed / bare "
                f"no stream {r['stream_vs_bare_whole']:.2f}; engine / bare, no stream "
                f"{r['whole_vs_bare_whole']:.2f}")
        if "whole_vs_curator" in r:
            line += f"; engine / Curator, no stream {r['whole_vs_curator']:.2f}"
        print(line)
        if r.get("curator_note") or (note and not a.quick and "curator_conv_per_s" not in r):
            print(f"{'':>14} Curator: {r.get('curator_note') or note}")
    print(f"{'role-play':>14} {roleplay['conversations']:>5} {roleplay['concurrency']:>5} "
          f"{roleplay['rounds']:>6}  turns/s: engine {roleplay['engine_turns_per_s']:.1f}, bare "
          f"loop {roleplay['bare_turns_per_s']:.1f}; ratio {roleplay['ratio']:.2f}")
    if a.json:
        print(json.dumps({"bench": "engine", "results": results, "roleplay": roleplay,
                          **({"curator_note": note} if note else {})}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
