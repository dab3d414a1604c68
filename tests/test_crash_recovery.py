"""Crash recovery: SIGKILL `chatsynth run` and `chatsynth export` at 20 random moments.

Real subprocesses of the real CLI against the fault server (its own process) through
``--base-url``.  The moments vary: mid-stream (slow streaming), amid store writes (fast
streaming, killed the instant the log grows), while a request waits out a Retry-After, and
during an export.  After each kill: the store reads back, the finished count only grows,
nothing is stored twice, an export never leaves a torn file and never touches the run; the
last start reaches the target and its export validates.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from rel_faultproc import FaultProc
from rel_helpers import REPO, chatsynth_cmd, cli_env, duplicate_complete_ids, make_workspace
from synth.dataset.store import Store

TARGET = 160
KILLS = 20
MOMENTS = ["stream"] * 7 + ["write"] * 6 + ["retry"] * 3 + ["export"] * 4
# CI runs a fixed set of seeds: one starting with each kind of run moment, each with an export
# right after it (a test below checks that they still do). Elsewhere one random seed per run,
# printed so that CHATSYNTH_CRASH_SEED repeats it.
CI_SEEDS = (4, 8, 9)
if os.environ.get("CHATSYNTH_CRASH_SEED"):
    SEEDS: tuple[int, ...] = (int(os.environ["CHATSYNTH_CRASH_SEED"]),)
elif os.environ.get("CI"):
    SEEDS = CI_SEEDS
else:
    # under pytest-xdist every worker collects the tests: they draw from the run's shared id,
    # so all of them collect the same seed
    run_uid = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    SEEDS = ((random.Random(run_uid) if run_uid else random).randrange(1, 10**6),)

pytestmark = pytest.mark.timeout(240)


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest() if p.exists() else ""


def _wait_for(pred, timeout: float, step: float = 0.005):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return None


def _kill(proc: subprocess.Popen) -> bool:
    """SIGKILL; True when the process was still running (so the kill landed mid-work)."""
    alive = proc.poll() is None
    if alive:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    return alive


def schedule(rng: random.Random) -> list[str]:
    """The kill moments in a shuffled order whose first moment starts a run: an export needs a
    run that exists, and only a run moment creates one."""
    moments = list(MOMENTS)
    rng.shuffle(moments)
    first = next(i for i, m in enumerate(moments) if m != "export")
    moments.insert(0, moments.pop(first))
    return moments


def test_every_schedule_starts_with_a_run_and_ci_seeds_cover_each_first_moment():
    for seed in range(1, 2001):
        m = schedule(random.Random(seed))
        assert m[0] != "export" and sorted(m) == sorted(MOMENTS), seed
    starts = [schedule(random.Random(s))[:2] for s in CI_SEEDS]
    assert {a for a, _ in starts} == {"stream", "write", "retry"}, starts
    assert all(b == "export" for _, b in starts), starts


@pytest.mark.parametrize("seed", SEEDS)
def test_sigkill_at_20_random_moments_then_the_run_completes(tmp_path, seed):
    rng = random.Random(seed)
    print(f"\ncrash seed {seed} (CHATSYNTH_CRASH_SEED={seed} repeats it)")
    ws, _, _ = make_workspace(tmp_path / "ws", TARGET, name="crash")
    env = cli_env(ws.root)
    store = Store(ws.runs_dir)
    moments = schedule(rng)
    finished_counts: list[int] = []
    landed: dict[str, int] = {}
    notes: list[str] = []
    run_id: str | None = None
    t_start = time.monotonic()

    with FaultProc(turns=6, words_per_turn=8) as fp:
        run_cmd = chatsynth_cmd() + ["run", "--topics", "crash", "--base-url", fp.url, "--model",
                                     "fault-model", "--concurrency", "4", "-q"]

        def conv_path() -> Path | None:
            nonlocal run_id
            if run_id is None:
                found = list(ws.runs_dir.glob("*/conversations.jsonl"))
                if not found:
                    return None
                run_id = found[0].parent.name
            return store.conversations_path(run_id)

        def log_size() -> int:
            p = conv_path()
            return p.stat().st_size if p and p.exists() else 0

        for i, moment in enumerate(moments):
            before_sha = _sha(conv_path()) if conv_path() else ""
            if moment == "export":
                out = ws.exports_dir / f"killed-{i}"
                proc = subprocess.Popen(chatsynth_cmd() + ["export", run_id, "--format", "all",
                                                           "--out", str(out)],
                                        cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True)
                # the export says what it is doing on stderr ("... loading run", then "...
                # building, validating and writing" for each file as it goes): kill it right
                # after one of the first two steps began, which every export reaches before
                # it writes anything (later steps may not come: a part with nothing in it)
                want, seen = rng.randrange(1, 3), 0
                assert proc.stderr is not None
                for line in proc.stderr:
                    seen += line.startswith("... ")
                    if seen >= want:
                        time.sleep(rng.uniform(0, 0.01))
                        break
            else:
                fp.reset()
                fp.set_delay({"stream": 0.01, "write": 0.0, "retry": 0.003}[moment])
                if moment == "retry":
                    fp.script(["ok"] * 3 + ["429:5", "503", "429:5"] + ["ok"] * 3)
                size0 = log_size()
                proc = subprocess.Popen(run_cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True)
                # let it reach the server first: a kill during interpreter start proves little
                _wait_for(lambda: proc.poll() is not None or fp.log(), 20, step=0.05)
                if moment == "stream":
                    time.sleep(rng.uniform(0.05, 1.2))
                elif moment == "write":
                    # the instant the log grows, the writer is mid-stream of appends
                    at = size0 + rng.randrange(0, 4000)
                    grown = _wait_for(lambda: proc.poll() is not None or log_size() > at, 20,
                                      step=0.001)
                    assert grown, "the run never wrote"
                else:  # retry: wait until a Retry-After is being waited out
                    _wait_for(lambda: proc.poll() is not None or any(
                        r["action"].startswith("429") for r in fp.log()), 20, step=0.02)
                    time.sleep(rng.uniform(0.05, 0.8))
            alive = _kill(proc)
            landed[moment] = landed.get(moment, 0) + int(alive)
            if not alive:
                err = proc.stderr.read()[-600:] if proc.stderr else ""
                notes.append(f"kill {i} ({moment}): the process had already exited "
                             f"({proc.returncode}) {err}")
            if proc.stderr:
                proc.stderr.close()

            # -- after each kill ------------------------------------------------------------
            assert conv_path() is not None, f"no run was created: {notes}"
            res = store.load(run_id)  # reads back, a torn tail set aside
            bad = [p for p in res.problems if "half-written last line" not in p]
            assert bad == [], bad
            complete = {c.id for c in res.conversations if c.status == "complete"}
            if finished_counts:
                assert len(complete) >= finished_counts[-1], "the finished count went down"
            finished_counts.append(len(complete))
            assert duplicate_complete_ids(store.conversations_path(run_id)) == {}
            assert store.list_runs()[0].run_id == run_id  # the catalog reads back
            if moment == "export":
                assert _sha(conv_path()) == before_sha, "an export changed the run's log"
                for f in out.rglob("*") if out.exists() else []:
                    if f.is_file() and f.suffix in (".jsonl", ".json") and not f.name.startswith("."):
                        text = f.read_text(encoding="utf-8")
                        if f.suffix == ".jsonl":
                            for n, line in enumerate(text.splitlines(), 1):
                                json.loads(line)  # a torn line would raise here
                        else:
                            json.loads(text)
            assert time.monotonic() - t_start < 150, f"too slow: {i + 1} kills so far"

        # -- the last start reaches the target -------------------------------------------------
        fp.reset()
        fp.set_delay(0.0)
        r = subprocess.run(run_cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr[-2000:]
        asked = {x["topic"] for x in fp.log()}

    res = store.load(run_id)
    complete = [c for c in res.conversations if c.status == "complete"]
    assert len(complete) == TARGET and len({c.id for c in complete}) == TARGET
    assert duplicate_complete_ids(store.conversations_path(run_id)) == {}
    # the last start asked only for what was missing (plus what died in flight)
    assert len(asked) <= TARGET - finished_counts[-1] + 4
    assert finished_counts == sorted(finished_counts) and finished_counts[-1] < TARGET

    out = ws.exports_dir / "final"
    r = subprocess.run(chatsynth_cmd() + ["export", run_id, "--format", "chat", "--out", str(out),
                                          "--allow-invalid"],  # a small split is written all the same
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode in (0, 1), r.stderr[-2000:]  # 1: some examples refused by the filters
    files = sorted(out.glob("*.jsonl"))
    assert files, r.stdout
    for f in files:
        v = subprocess.run(chatsynth_cmd() + ["validate", "--json", str(f)], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=60)
        assert "Traceback" not in v.stderr
        rep = json.loads(v.stdout)
        # the fault server's transcripts are near-duplicates, so the filters hold most back and
        # a split may be small: that is the only error allowed
        codes = {x["code"] for x in rep["findings"] if x["severity"] == "error"}
        assert codes <= {"too_few_examples"}, rep["findings"][:5]
    print(f"kills that landed mid-work: {landed}; finished after each: {finished_counts}; "
          f"{time.monotonic() - t_start:.1f}s")
    for n in notes:
        print(n)
    # most kills must land while the process was working, or this test proves little
    assert sum(landed.values()) >= KILLS - 3, landed
    assert landed.get("export", 0) >= 2 and landed.get("write", 0) >= 4


RP_TARGET = 40
RP_KILLS = 6


def test_sigkill_mid_roleplay_then_resume_stores_each_conversation_once(tmp_path):
    """Role-play (a request per turn): kill -9 while turns stream, start again, six times.  A
    conversation is stored whole at its end, so one cut off mid-turn is written again from its
    first turn; none is lost and none is stored twice."""
    rng = random.Random(SEEDS[0])
    ws, _, _ = make_workspace(tmp_path / "ws", RP_TARGET, name="rp")
    env = cli_env(ws.root)
    store = Store(ws.runs_dir)
    counts: list[int] = []
    landed = 0
    with FaultProc(turns=6, words_per_turn=8) as fp:
        cmd = chatsynth_cmd() + ["run", "--topics", "rp", "--base-url", fp.url, "--model",
                                 "fault-model", "--style", "completion", "--method", "roleplay",
                                 "--concurrency", "4", "-q"]
        for _ in range(RP_KILLS):
            fp.reset()
            fp.set_delay(0.02)  # slow enough that no start can finish all 40 before its kill
            proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            _wait_for(lambda: proc.poll() is not None or fp.log(), 20, step=0.05)
            time.sleep(rng.uniform(0.1, 0.8))
            landed += _kill(proc)
            (path,) = ws.runs_dir.glob("*/conversations.jsonl")
            run_id = path.parent.name
            res = store.load(run_id)
            assert [p for p in res.problems if "half-written last line" not in p] == []
            assert all(c.status == "complete" for c in res.conversations)  # a kill keeps no partial
            assert duplicate_complete_ids(path) == {}
            counts.append(len(res.conversations))
            assert counts == sorted(counts), "the finished count went down"
        fp.reset()
        fp.set_delay(0.0)
        r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr[-2000:]
    convs = store.load(run_id).conversations
    assert len(convs) == RP_TARGET and len({c.id for c in convs}) == RP_TARGET
    assert duplicate_complete_ids(path) == {}
    for c in convs:
        roles = [t.role for t in c.turns]
        assert c.params["method"] == "roleplay" and roles[0] == "user" and roles[-1] == "assistant"
        assert all(a != b for a, b in zip(roles, roles[1:]))
    assert landed >= RP_KILLS - 1 and counts[-1] < RP_TARGET, (landed, counts)
