"""The filters' first pass over a big run, in a process of its own: reading 100,000 stored
conversations and judging them is seconds of CPU, which in the app's process would take the
interpreter from the screen's thread (keys wait).  The child (``python -m synth.dataset.prefill
RUNS_DIR RUN_ID``) loads the run as Review does with the verdict cache on, so it leaves the
run's ``verdicts.cache`` full; the app's own load then only reads it.  On its stdout, one JSON
line per slice: ``{"done": i, "total": n}`` and ``{"verdicts": {id: null (ok) | verdict}}``,
which ``check_in_child`` hands to the caller's ``progress`` and ``on_verdicts`` as they come.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

from synth.curate.filters import Verdict
from synth.curate.verdict_cache import CACHE_NAME

CHILD_FROM = 5000  # conversations from which a first pass runs in a child process


def stale(store: Any, run_id: str) -> bool:
    """The run's verdict cache is missing or older than its log (conversations were written
    since it was saved): the next load judges most of the run."""
    cache = store.run_dir(run_id) / CACHE_NAME
    log = store.conversations_path(run_id)
    try:
        return not cache.is_file() or cache.stat().st_mtime_ns < log.stat().st_mtime_ns
    except OSError:
        return True


def check_in_child(store: Any, run_id: str, progress: Callable[[int, int], None] | None = None,
                   on_verdicts: Callable[[dict], None] | None = None,
                   cancelled: Callable[[], bool] = lambda: False) -> bool:
    """Run the filters' pass over the run in a child process (it writes the verdict cache).
    Returns whether it ended well; the caller's own load judges whatever it did not."""
    root = str(Path(__file__).resolve().parents[2])  # where the synth package is
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (root, os.environ.get("PYTHONPATH", "")) if p))
    try:
        proc = subprocess.Popen([sys.executable, "-m", "synth.dataset.prefill",
                                 str(store.runs_dir), run_id], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=env)
    except OSError:
        return False
    try:
        for line in proc.stdout:  # type: ignore[union-attr]
            if cancelled():
                proc.kill()
                break
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if "done" in msg and progress is not None:
                progress(msg["done"], msg["total"])
            elif "verdicts" in msg and on_verdicts is not None:
                on_verdicts({cid: Verdict(ok=True) if v is None else Verdict.from_dict(v)
                             for cid, v in msg["verdicts"].items()})
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    return proc.returncode == 0


def main(argv: list[str] | None = None) -> int:
    """``python -m synth.dataset.prefill RUNS_DIR RUN_ID``."""
    from synth.curate.review import Review
    from synth.dataset.store import Store

    runs_dir, run_id = (argv if argv is not None else sys.argv[1:])[:2]
    out = sys.stdout

    def progress(done: int, total: int) -> None:
        out.write(json.dumps({"done": done, "total": total}) + "\n")
        out.flush()

    def verdicts(got: dict) -> None:
        out.write(json.dumps({"verdicts": {cid: None if v.ok else v.to_dict()
                                           for cid, v in got.items()}}) + "\n")
        out.flush()

    import gc

    gc.disable()  # a short-lived process: no collection walks what the load builds
    Review(Store(Path(runs_dir)), run_id).load(cache=True, progress=progress, on_verdicts=verdicts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
