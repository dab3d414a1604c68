"""Batch jobs at scale: prepare + collect of N work items (collect reading an output file in the
OpenAI batch format from disk), per 1,000 items at 1,000 and at N; and the collect rate against
the bare cost of reading the same file with ``json.loads`` line by line.

    python bench/bench_batch.py            # 100,000 items
    python bench/bench_batch.py --quick    # 5,000, for the test suite
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from faultserver import make_spec  # noqa: E402

from synth.dataset.store import Store  # noqa: E402
from synth.generate.batch import prepare  # noqa: E402
from synth.generate.batch_collect import ingest  # noqa: E402
from synth.generate.endpoints import Endpoint  # noqa: E402

ANSWER = (" I keep putting it off.\nEVE: What would a first small step look like?\nUSER: "
          "Maybe ten minutes tonight.\nEVE: That sounds doable. What might get in the way?\n"
          "USER: Probably my phone.\nEVE: Could it stay in another room for those ten minutes?\n"
          "END OF CONVERSATION\nTopic: more")


def output_file(path: Path, ids: list[str]) -> None:
    with open(path, "w") as fh:
        for n, cid in enumerate(ids):
            body = {"id": f"cmpl-{n}", "object": "text_completion", "model": "fault-model",
                    "choices": [{"index": 0, "text": ANSWER, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 60, "completion_tokens": 70, "total_tokens": 130}}
            fh.write(json.dumps({"id": f"req-{n}", "custom_id": cid, "response": {
                "status_code": 200, "request_id": f"r{n}", "body": body}, "error": None}) + "\n")


def one(n: int, tag: str) -> dict:
    spec = make_spec(n, tag=tag)
    ep = Endpoint(name="fault", base_url="http://127.0.0.1:9/v1", model="fault-model",
                  style="completion")
    with tempfile.TemporaryDirectory() as d:
        store = Store(Path(d) / "runs")
        t0 = time.perf_counter()
        prep = prepare(store, spec, ep)
        t_prep = time.perf_counter() - t0
        ids = [cid for p in prep.parts for cid in p.ids]
        out = Path(d) / "out.jsonl"
        output_file(out, ids)
        t0 = time.perf_counter()
        with open(out, "rb") as fh:
            bare = sum(1 for line in fh if json.loads(line))
        t_bare = time.perf_counter() - t0
        t0 = time.perf_counter()
        res = ingest(store, spec, prep.run_id, [out], model="fault-model", request_stop=[],
                     price=lambda p, c: None)
        t_coll = time.perf_counter() - t0
        assert res.stored == n == bare and not res.problems, (res.stored, res.problems[:3])
    return {"items": n, "prepare_s": round(t_prep, 3), "collect_s": round(t_coll, 3),
            "bare_json_s": round(t_bare, 3),
            "ms_per_1000": round((t_prep + t_coll) / n * 1e6, 2)}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("-n", type=int, default=None)
    a = ap.parse_args(argv)
    n = a.n or (5_000 if a.quick else 100_000)
    small = one(1_000, "small")
    large = one(n, "large")
    result = {"bench": "batch", "small": small, "large": large,
              "ratio_large_over_small": round(large["ms_per_1000"] / small["ms_per_1000"], 3),
              "collect_over_bare_json": round(large["collect_s"] / large["bare_json_s"], 2)}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
