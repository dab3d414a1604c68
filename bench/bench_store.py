"""Store cost at scale: per-conversation append time for the first and the last 1,000 of N.

    python bench/bench_store.py            # 100,000 conversations
    python bench/bench_store.py --quick    # 3,000, for the test suite

The ratio last/first (of the median append time in each window) should be near 1: storing a
conversation costs O(1), whatever is stored.  The first 1,000 are those of a new run appended
in turn with the big run's last 1,000 (one each, alternately), so both windows see the same
moments of this machine's load; the big run's own first 1,000, measured a minute earlier, are
reported beside them (``first_1000_sequential_ms``).  The means include the writer's saves of
the run's index (one in ~2,000 appends), which the medians do not see.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from store_writer import make_conversation  # noqa: E402

from synth.dataset.store import Store  # noqa: E402

RUN = "benchrun00001"
FRESH = "benchfresh001"  # the new run whose first 1,000 are the baseline


def run(n: int, window: int = 1000, fsync_interval: float = 0.5) -> dict:
    with tempfile.TemporaryDirectory() as d:
        store = Store(Path(d), fsync_interval=fsync_interval)
        convs = [make_conversation(RUN, i) for i in range(window)]
        # warm-up, not measured: the interpreter, the allocator and the file system's first
        # extents, on a run of its own (so the measured log still starts empty)
        warm = "benchwarm0001"
        with store.writer(warm) as w:
            for i in range(2 * window):
                w.append(make_conversation(warm, i))
        times: list[float] = []
        fresh_times: list[float] = []
        fresh_convs = [make_conversation(FRESH, i) for i in range(window)]
        with store.writer(RUN) as w, store.writer(FRESH) as fresh:
            for i in range(n):
                if i >= n - window:  # a new run's first 1,000, in turn with the last 1,000
                    c = fresh_convs[i - (n - window)]
                    t0 = time.perf_counter()
                    fresh.append(c)
                    fresh_times.append(time.perf_counter() - t0)
                c = convs[i % window]
                c.id = f"conv-{i:07d}"
                t0 = time.perf_counter()
                w.append(c)
                times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        loaded = len(store.load(RUN).conversations)
        load_s = time.perf_counter() - t0
        size = store.conversations_path(RUN).stat().st_size
    # The headline compares medians: a window of 1,000 appends lasts ~0.1 s, so whether one of
    # the time-based fsyncs (every fsync_interval s) lands in it swings the mean either way; the
    # median is the typical append.  The means are reported beside it.
    first = statistics.median(fresh_times)
    last = statistics.median(times[-window:])
    first_mean = sum(fresh_times) / window
    last_mean = sum(times[-window:]) / window
    seq = statistics.median(times[:window])
    return {
        "conversations": n,
        "fsync_interval_s": fsync_interval,
        "first_1000_ms_per_conv": round(first * 1000, 4),
        "last_1000_ms_per_conv": round(last * 1000, 4),
        "ratio_last_over_first": round(last / first, 3),
        "first_1000_mean_ms": round(first_mean * 1000, 4),
        "last_1000_mean_ms": round(last_mean * 1000, 4),
        "ratio_of_means": round(last_mean / first_mean, 3),
        "first_1000_sequential_ms": round(seq * 1000, 4),
        "ratio_last_over_sequential_first": round(last / seq, 3),
        "first_1000_sequential_mean_ms": round(sum(times[:window]) / window * 1000, 4),
        "total_s": round(sum(times), 2),
        "load_all_s": round(load_s, 2),
        "loaded": loaded,
        "file_mb": round(size / 1e6, 1),
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("-n", type=int, default=None)
    ap.add_argument("--fsync-interval", type=float, default=0.5)
    args = ap.parse_args(argv)
    n = args.n or (3000 if args.quick else 100_000)
    result = run(n, fsync_interval=args.fsync_interval)
    print(json.dumps({"bench": "store", **result}))
    return result


if __name__ == "__main__":
    main()
