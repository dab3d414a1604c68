"""Export (each example validated before it is written) at scale, against raw tiktoken batch
encoding of the same texts, and the export's peak memory.

    python bench/bench_export.py            # 100,000 conversations, chat format
    python bench/bench_export.py --quick    # 2,000, for the test suite
    python bench/bench_export.py --format all

Stores N varied conversations in a real run (not timed), then times:
- export, in a process of its own (forked from a fresh interpreter: see ``export_child``),
  whose peak RSS is its own ``resource.getrusage`` ru_maxrss plus its token counting process's
  own peak: read and filter every conversation one at a time (near-duplicates across the run
  included), its turns' tokens counted a batch at a time (8,000 texts) by that process while
  the filters go on (see synth/dataset/turn_counts.py), split by topic, read the chosen ones
  again, build, validate (every check, every token counted once), write train/validation and
  the report;
- validate: `validate_file` on each written file (parse, check, count tokens) - what a user's
  `chatsynth validate` of the files costs, reported beside the ratio, not in it;
- raw: `encode_ordinary_batch` of every text those files hold (system prompts and turns), with
  the same encoding and thread count - the floor that any exact token count has to pay.
Prints one JSON object; the ratio is export / raw (target <= 1.2), peak RSS target < 600 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(ROOT.parent / "shared" / "tiktoken-cache"))

from synth.dataset.export import FORMATS, ExportOptions, export_run  # noqa: E402
from synth.models import (Conversation, FilterRules, Persona, RunSpec, Topic, TopicSource, Turn,  # noqa: E402
                          Usage, conversation_id)
from synth.dataset.store import Store  # noqa: E402
from synth.tokens import counter_for  # noqa: E402
from synth.dataset.validate import validate_file  # noqa: E402

PER_TOPIC = 5


def _vocab(rng: random.Random, n: int = 4000) -> list[str]:
    letters = "etaoinshrdlucmfwypvbgkjqxz"
    common = ("I you the a to and of is it that what how can we my your feel about this "
              "would could maybe week plan try step small today tomorrow").split()
    made = {"".join(rng.choices(letters, k=rng.randint(2, 9))) for _ in range(n)}
    return common * 20 + sorted(made)


def _text(rng: random.Random, vocab: list[str], lo: int, hi: int) -> str:
    words = rng.choices(vocab, k=rng.randint(lo, hi))
    out, i = [], 0
    while i < len(words):  # sentences of 5-14 words
        j = i + rng.randint(5, 14)
        s = " ".join(words[i:j])
        out.append(s[:1].upper() + s[1:] + rng.choice(".?.!"))
        i = j
    return " ".join(out)


def make_store(root: Path, n: int, seed: int = 0) -> tuple[Store, str, list[str]]:
    """A stored run of n varied conversations; returns the texts an export will hold."""
    rng = random.Random(seed)
    vocab = _vocab(rng)
    persona = Persona(id="eve", name="Eve", persona_label="EVE", user_label="USER",
                      system_prompt="You are Eve, a digital life coach who listens with compassion "
                      "and always ends with a question or a concrete suggestion.",
                      synthesis_prompt="Topic: {topic}\n\n{user_label}:",
                      rules=FilterRules(max_turns=40))
    n_topics = max(1, n // PER_TOPIC)
    src = TopicSource(id="bench", kind="text", topics=[Topic(f"bench topic {i}") for i in range(n_topics)])
    spec = RunSpec.for_persona(persona, src, per_topic=PER_TOPIC, endpoint="openai", model="gpt-4o-mini")
    store = Store(root, fsync_interval=3600)
    run_id = store.open_run(spec)
    texts: list[str] = []
    with store.writer(run_id) as w:
        for idx in range(n):
            t, k = src.topics[idx % n_topics], idx // n_topics
            n_turns = rng.choice((6, 8, 10))
            turns = [Turn("user" if j % 2 == 0 else "assistant", _text(rng, vocab, 12, 60),
                          "USER" if j % 2 == 0 else "EVE") for j in range(n_turns)]
            turns[-1].text += " What do you think?"
            conv = Conversation(
                id=conversation_id(run_id, t.id, k), run_id=run_id, persona_id="eve", topic_id=t.id,
                topic=t.text, k=k, endpoint="openai", model="gpt-4o-mini", params={},
                prompt="", raw_text="", turns=turns, usage=Usage(60, 400), cost=0.0003)
            w.append(conv)
            texts.append(persona.system_prompt)
            texts += [x.text for x in turns]
    return store, run_id, texts


def run(n: int, fmt: str = "chat", model: str = "gpt-4o-mini") -> dict:
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        store, run_id, texts = make_store(Path(d) / "runs", n)
        setup_s = time.perf_counter() - t0
        child = subprocess.run([sys.executable, __file__, "--export-child", str(Path(d) / "runs"),
                                run_id, str(Path(d) / "out"), fmt, model],
                               capture_output=True, text=True, check=True)
        done = json.loads(child.stdout.strip().splitlines()[-1])
        export_s, files = done["export_s"], [Path(p) for p in done["files"]]
        t0 = time.perf_counter()
        reps = [validate_file(p, model=model) for p in files]
        validate_s = time.perf_counter() - t0
        errors = sum(len(r.errors) for r in reps)
        examples = sum(r.examples for r in reps)
        counter = counter_for(model)
        t0, c0 = time.perf_counter(), time.process_time()
        raw_tokens = 0
        for i in range(0, len(texts), 20_000):
            raw_tokens += sum(map(len, counter.enc.encode_ordinary_batch(texts[i:i + 20_000],
                                                                       num_threads=counter.threads)))
        raw_s, raw_cpu = time.perf_counter() - t0, time.process_time() - c0
        size = sum(p.stat().st_size for p in files)
    return {
        "conversations": n,
        "format": fmt,
        "examples_written": examples,
        "validation_errors": errors,
        "file_mb": round(size / 1e6, 1),
        "setup_store_s": round(setup_s, 2),
        "export_s": round(export_s, 2),
        "validate_s": round(validate_s, 2),
        "export_peak_rss_mb": done["peak_rss_mb"],
        # what the exporting process's getrusage said of itself (the same count), and what the
        # interpreter that forked it reports: its parents' peak, carried over exec
        "export_self_maxrss_mb": done["self_maxrss_mb"],
        "export_worker_maxrss_mb": done["worker_maxrss_mb"],
        "export_parent_inherited_maxrss_mb": done["inherited_maxrss_mb"],
        "raw_tiktoken_batch_s": round(raw_s, 2),
        "raw_tokens": raw_tokens,
        "ratio_to_raw_tiktoken": round(export_s / raw_s, 2) if raw_s else None,
        # CPU seconds (every thread): steadier than wall time on a shared, loaded machine
        "export_cpu_s": done["cpu_s"],
        "raw_tiktoken_cpu_s": round(raw_cpu, 2),
        "cpu_ratio_to_raw_tiktoken": round(done["cpu_s"] / raw_cpu, 2) if raw_cpu else None,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "validate_ratio_to_raw_tiktoken": round(validate_s / raw_s, 2) if raw_s else None,
        "threads": counter.threads,
        "cpus": os.cpu_count(),
    }


def export_child(runs: str, run_id: str, out: str, fmt: str, model: str) -> None:
    """The timed export, alone in a process of its own: prints its seconds, files and peak RSS.

    The peak is ``resource.getrusage``'s ru_maxrss, read so that it is the export's own: Linux
    keeps a process's ru_maxrss across fork and exec, so this interpreter (started by the bench,
    which holds the whole run it built, under run_all) already reports its parents' peak.  A
    process forked from it starts a fresh count (from this small interpreter's pages), so the
    export runs in a fork and reads its own ru_maxrss (RUSAGE_SELF).  Its token counting process
    (synth/dataset/token_worker.py) is started by the export when it has grown, so its ru_maxrss
    (and RUSAGE_CHILDREN) carries the export's memory too: its own high-water mark (VmHWM) is
    read while it runs (``ChildPeaks``).  The peak reported is the sum of the two."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the export
        os.close(read_fd)
        code = 1
        try:
            watch = ChildPeaks()
            store = Store(Path(runs), fsync_interval=3600)
            formats = FORMATS if fmt == "all" else (fmt,)
            t0, c0 = time.perf_counter(), time.process_time()
            res = export_run(store, run_id, Path(out), ExportOptions(formats=formats, model=model))
            export_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
            own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
            worker = watch.stop()
            with os.fdopen(write_fd, "w") as f:
                json.dump({"export_s": round(export_s, 2), "files": [str(p) for p in res.files.values()],
                           "self_maxrss_mb": round(own, 1), "worker_maxrss_mb": round(worker, 1),
                           "cpu_s": round(cpu_s, 2)}, f)
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd) as f:
        text = f.read()
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0 or not text:
        raise SystemExit(f"the export process failed (status {status})")
    done = json.loads(text)
    # the export's peak and its token counting process's, as if they came at once (they overlap
    # for most of the first pass): an upper bound of the two processes' memory
    done["peak_rss_mb"] = round(done["self_maxrss_mb"] + done["worker_maxrss_mb"], 1)
    done["inherited_maxrss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(done))


class ChildPeaks:
    """Reads the high-water mark (VmHWM, which only grows) of this process's children every
    tenth of a second while they run; ``stop`` gives the highest, in MB."""

    def __init__(self) -> None:
        import threading

        self.peaks: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        me = os.getpid()
        while not self._stop.wait(0.1):
            try:
                with open(f"/proc/{me}/task/{me}/children", encoding="ascii") as f:
                    pids = [int(x) for x in f.read().split()]
            except OSError:
                return
            for pid in pids:
                try:
                    with open(f"/proc/{pid}/status", encoding="ascii") as f:
                        for line in f:
                            if line.startswith("VmHWM:"):
                                self.peaks[pid] = max(self.peaks.get(pid, 0.0), int(line.split()[1]) / 1024)
                except OSError:
                    pass

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return max(self.peaks.values(), default=0.0)


def main(argv: list[str] | None = None) -> dict:
    if argv is None and sys.argv[1:2] == ["--export-child"]:
        export_child(*sys.argv[2:7])
        return {}
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2,000 conversations (the test suite's run)")
    ap.add_argument("-n", type=int, default=100_000, help="conversations (default 100,000)")
    ap.add_argument("--format", default="chat", choices=[*FORMATS, "all"])
    ap.add_argument("--model", default="gpt-4o-mini")
    args = ap.parse_args(argv)
    out = run(2_000 if args.quick else args.n, args.format, args.model)
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
